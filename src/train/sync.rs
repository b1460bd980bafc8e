//! Where data-parallel training joins the update: after each process has summed the
//! gradients of its own micro-batches, and before the global norm is clipped, every process
//! must hold the mean over all micro-batches of all processes (docs/multi-process.md).
//!
//! One process has nothing to exchange: [`average_over_processes`] with [`LocalSync`] is
//! [`NamedGrads::average`] and nothing else: no exchange, and no rounding a single process would
//! not do. A collective implementation (MPI, `super::mpi`) only has to sum a flat buffer of
//! `f32`s across processes.

use burn::tensor::{Device, Tensor, TensorData};

use super::grads::ParameterLayout;
use super::NamedGrads;
use crate::host::HostValues;

/// The processes of one data-parallel run, as the training loops see them.
pub trait GradientSync {
    /// Number of processes whose gradients are combined (1: single process).
    fn world_size(&self) -> usize;

    /// This process' rank in `0..world_size`; rank 0 writes checkpoints and logs.
    fn rank(&self) -> usize;

    /// Replaces `values` by their element-wise sum over all processes, the same on each. Every
    /// process must call it at the same point with a buffer of the same length.
    fn all_reduce_sum(&mut self, values: &mut [f32]) -> anyhow::Result<()>;

    /// [`Self::all_reduce_sum`] for `f64`s (losses and counts for the logs).
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> anyhow::Result<()>;

    /// What this process does besides training ([`Role`]).
    fn role(&self) -> Role {
        match self.rank() {
            0 => Role::Leader,
            _ => Role::Follower,
        }
    }

    /// Whether this process is the [`Role::Leader`].
    fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    /// Whether `flag` is set on any process (the non-finite check, agreed so that no process
    /// skips or stops alone while the others wait in the next collective).
    fn any(&mut self, flag: bool) -> anyhow::Result<bool> {
        if self.world_size() == 1 {
            return Ok(flag);
        }
        let mut v = [f64::from(u8::from(flag))];
        self.all_reduce_sum_f64(&mut v)?;
        Ok(v[0] > 0.0)
    }
}

/// What a process of a run does besides training. Every process trains and takes the same
/// updates; the leader (rank 0, or the only process) alone writes the run's files
/// (configuration, metrics, checkpoints, the best model, plots) and evaluates (validation,
/// zero-shot, the dev set), so that no two processes write one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

/// One process: nothing to combine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalSync;

impl GradientSync for LocalSync {
    fn world_size(&self) -> usize {
        1
    }

    fn rank(&self) -> usize {
        0
    }

    fn all_reduce_sum(&mut self, _values: &mut [f32]) -> anyhow::Result<()> {
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, _values: &mut [f64]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Runs `job` as this process' part of the data-parallel run an MPI launcher (`mpirun`, `srun`)
/// started it in, or as the only process when none did. With more than one process, an error
/// on any rank ends the whole job (MPI_Abort) instead of leaving the others waiting in their
/// next collective.
pub fn in_launched_world(
    job: impl FnOnce(&mut dyn GradientSync) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    #[cfg(feature = "mpi")]
    if let Some(mut sync) = super::mpi::MpiSync::from_launcher()? {
        if sync.world_size() > 1 {
            let (rank, world) = (sync.rank(), sync.world_size());
            if let Err(e) = job(&mut sync) {
                eprintln!("error: rank {rank} of {world}: {e:#}");
                sync.abort(1);
            }
            return Ok(());
        }
    }
    #[cfg(not(feature = "mpi"))]
    for variable in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
        if let Some(n) = std::env::var(variable)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            anyhow::ensure!(
                n <= 1,
                "started as one of {n} MPI processes ({variable}), but this genpt was built \
                 without the mpi feature: every process would train alone and write the same \
                 files; build with `cargo build --release --features mpi`"
            );
        }
    }
    job(&mut LocalSync)
}

/// Turns `grads`, the sum over this process' micro-batches, into the mean over every
/// micro-batch of every process: one all-reduce of one flat buffer holding, in `layout()`'s
/// order (the same on every rank), each parameter's gradient sum, then one presence flag per
/// parameter and the micro-batch count. A parameter no process has a gradient for stays absent
/// (the optimizer skips it, as in one process); a process with no micro-batch (the last,
/// partial batch of a fine-tuning epoch) contributes zeros and a count of 0.
pub fn average_over_processes(
    sync: &mut dyn GradientSync,
    grads: &mut NamedGrads,
    layout: impl FnOnce() -> ParameterLayout,
    device: &Device,
) -> anyhow::Result<()> {
    if sync.world_size() == 1 {
        grads.average();
        return Ok(());
    }
    // Asked for only here: one process never walks the model for it.
    let layout = layout();
    let total: usize = layout.iter().map(|(_, n)| n).sum();
    let mut flat = Vec::with_capacity(total + layout.len() + 1);
    for (name, n) in &layout {
        match grads.grads.get(name) {
            Some(g) => {
                let values = g.clone().host_values();
                anyhow::ensure!(
                    values.len() == *n,
                    "gradient of {name}: {} values, the model has {n}",
                    values.len()
                );
                flat.extend_from_slice(&values);
            }
            None => flat.resize(flat.len() + n, 0.0),
        }
    }
    flat.extend(
        layout
            .iter()
            .map(|(name, _)| f32::from(u8::from(grads.grads.contains_key(name)))),
    );
    flat.push(grads.count as f32);
    sync.all_reduce_sum(&mut flat)?;
    let count = flat[total + layout.len()];
    anyhow::ensure!(count > 0.0, "no process had a micro-batch in this update");
    let present: Vec<bool> = flat[total..total + layout.len()]
        .iter()
        .map(|&p| p > 0.0)
        .collect();
    grads.grads.clear();
    let mut offset = 0;
    for ((name, n), present) in layout.iter().zip(present) {
        let values = &flat[offset..offset + n];
        offset += n;
        if present {
            let mean: Vec<f32> = values.iter().map(|v| v / count).collect();
            grads.grads.insert(
                name.clone(),
                Tensor::from_data(TensorData::new(mean, [*n]), device),
            );
        }
    }
    grads.count = 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, Mutex};

    use super::*;

    fn device() -> Device {
        crate::device::device("flex").unwrap()
    }

    /// Gradients summed over `count` micro-batches: name → values.
    fn grads(entries: &[(&str, &[f32])], count: usize) -> NamedGrads {
        let mut g = NamedGrads::default();
        for (name, values) in entries {
            g.grads.insert(
                name.to_string(),
                Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), &device()),
            );
        }
        g.count = count;
        g
    }

    fn values(g: &NamedGrads, name: &str) -> Vec<f32> {
        g.grads[name].clone().host_values()
    }

    /// Values whose scaling by anything but exactly 1 would change a bit: a subnormal, the
    /// largest finite f32, one ulp above 1, a negative zero.
    const AWKWARD: [f32; 5] = [f32::MIN_POSITIVE / 3.0, f32::MAX, 1.000_000_1, -0.0, 0.1];

    #[test]
    fn one_process_leaves_every_bit() {
        let mut g = grads(&[("h.0.w", &AWKWARD)], 1);
        let layout = vec![("h.0.w".to_string(), AWKWARD.len())];
        let mut sync = LocalSync;
        average_over_processes(&mut sync, &mut g, || layout, &device()).unwrap();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values(&g, "h.0.w")), bits(&AWKWARD));
        assert_eq!((sync.world_size(), sync.rank(), g.count), (1, 0, 1));
    }

    /// An in-memory all-reduce between threads, standing in for MPI: each rank adds its buffer
    /// into a shared one, waits for all, reads the total back.
    struct Threads {
        rank: usize,
        world: usize,
        total: Arc<Mutex<Vec<f64>>>,
        barrier: Arc<Barrier>,
    }

    impl Threads {
        fn reduce(&mut self, values: &mut [f64]) {
            {
                let mut total = self.total.lock().unwrap();
                if total.len() != values.len() {
                    *total = vec![0.0; values.len()];
                }
                for (t, v) in total.iter_mut().zip(values.iter()) {
                    *t += v;
                }
            }
            self.barrier.wait();
            values.copy_from_slice(&self.total.lock().unwrap());
            self.barrier.wait();
            if self.rank == 0 {
                self.total.lock().unwrap().clear();
            }
            self.barrier.wait();
        }
    }

    impl GradientSync for Threads {
        fn world_size(&self) -> usize {
            self.world
        }
        fn rank(&self) -> usize {
            self.rank
        }
        fn all_reduce_sum(&mut self, values: &mut [f32]) -> anyhow::Result<()> {
            let mut wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            self.reduce(&mut wide);
            for (v, w) in values.iter_mut().zip(wide) {
                *v = w as f32;
            }
            Ok(())
        }
        fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> anyhow::Result<()> {
            self.reduce(values);
            Ok(())
        }
    }

    /// Runs `per_rank(sync)` on `world` threads joined by [`Threads`]; their results by rank.
    fn on_ranks<T: Send + 'static>(
        world: usize,
        per_rank: impl Fn(&mut dyn GradientSync) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let total = Arc::new(Mutex::new(Vec::new()));
        let barrier = Arc::new(Barrier::new(world));
        let per_rank = Arc::new(per_rank);
        let handles: Vec<_> = (0..world)
            .map(|rank| {
                let mut sync = Threads {
                    rank,
                    world,
                    total: total.clone(),
                    barrier: barrier.clone(),
                };
                let per_rank = per_rank.clone();
                std::thread::spawn(move || per_rank(&mut sync))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// Rank 0 summed micro-batches a and b, rank 1 c, d and e: every rank must end with
    /// (a+b+c+d+e)/5, the mean one process with all five would take (hand-computed below). A
    /// parameter only rank 1 has a gradient for is present everywhere; one nobody has, nowhere.
    #[test]
    fn the_mean_over_every_micro_batch_of_every_rank() {
        let layout: ParameterLayout = vec![
            ("a".into(), 2),
            ("only_rank_1".into(), 1),
            ("nobody".into(), 3),
        ];
        let results = on_ranks(2, move |sync| {
            let mut g = if sync.rank() == 0 {
                grads(&[("a", &[1.0 + 2.0, 10.0 + 20.0])], 2)
            } else {
                grads(
                    &[
                        ("a", &[3.0 + 4.0 + 5.0, 30.0 + 40.0 + 50.0]),
                        ("only_rank_1", &[5.0]),
                    ],
                    3,
                )
            };
            average_over_processes(sync, &mut g, || layout.clone(), &device()).unwrap();
            let names: Vec<String> = g.grads.keys().cloned().collect();
            (names, values(&g, "a"), values(&g, "only_rank_1"), g.count)
        });
        for (names, a, only, count) in results {
            assert_eq!(names, ["a", "only_rank_1"]);
            assert_eq!(a, [3.0, 30.0]);
            assert_eq!(only, [1.0]);
            assert_eq!(count, 1);
        }
    }

    /// A rank without a micro-batch (the last batch of a fine-tuning epoch, smaller than the
    /// world) adds nothing and still receives the mean; a flag set on one rank is seen on all.
    #[test]
    fn an_idle_rank_and_an_agreed_flag() {
        let layout: ParameterLayout = vec![("w".into(), 2)];
        let results = on_ranks(3, move |sync| {
            let mut g = match sync.rank() {
                0 => grads(&[("w", &[4.0, -8.0])], 1),
                _ => NamedGrads::default(),
            };
            average_over_processes(sync, &mut g, || layout.clone(), &device()).unwrap();
            let flag = sync.any(sync.rank() == 2).unwrap();
            let none = sync.any(false).unwrap();
            (values(&g, "w"), flag, none)
        });
        for (w, flag, none) in results {
            assert_eq!(w, [4.0, -8.0]);
            assert!(flag && !none);
        }
    }
}
