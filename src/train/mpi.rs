//! Data parallelism across processes and machines through MPI (the `mpi` feature): the
//! [`GradientSync`] of a process that `mpirun`, `srun` or another MPI launcher started.
//!
//! Each collective is one `MPI_Allreduce` (sum) over one flat buffer, so an update costs one
//! gradient exchange whatever the number of parameters. OpenMPI's runtime ends the whole job
//! when a rank dies (its launcher notices the exit and kills the others), so a dead rank never
//! leaves the rest waiting in a collective; a rank that fails with an error calls
//! [`MpiSync::abort`] for the same reason, instead of finalizing alone.

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};

use super::GradientSync;

/// Environment variables an MPI launcher sets in the processes it starts: OpenMPI's mpirun,
/// PMIx (OpenMPI 5, `srun --mpi=pmix`), PMI (MPICH's hydra, `srun --mpi=pmi2`).
const LAUNCHER_VARIABLES: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"];

/// This process' membership in an MPI job's world communicator. MPI is finalized when it is
/// dropped.
pub struct MpiSync {
    world: SimpleCommunicator,
    // Declared after `world`, so dropped last: MPI_Finalize after the communicator is gone.
    _universe: Universe,
}

impl MpiSync {
    /// Joins the MPI job this process was launched into, or `None` when no MPI launcher
    /// started it (a plain `genpt pretrain` stays a single process and never initializes MPI).
    pub fn from_launcher() -> anyhow::Result<Option<Self>> {
        if !LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return Ok(None);
        }
        let universe = mpi::initialize()
            .ok_or_else(|| anyhow::anyhow!("MPI was already initialized in this process"))?;
        let world = universe.world();
        Ok(Some(Self {
            world,
            _universe: universe,
        }))
    }

    /// Ends every process of the job with `code` (MPI_Abort): what a rank does on an error, so
    /// that the others do not wait forever in their next collective.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl GradientSync for MpiSync {
    fn world_size(&self) -> usize {
        self.world.size() as usize
    }

    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn all_reduce_sum(&mut self, values: &mut [f32]) -> anyhow::Result<()> {
        // MPI_IN_PLACE is not exposed by rsmpi's safe API: one copy of the send buffer.
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> anyhow::Result<()> {
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }
}
