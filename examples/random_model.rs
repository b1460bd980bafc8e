//! Writes a randomly initialised model of a preset as a Hugging Face directory, for timing and
//! memory measurements that need a full-sized model but not trained weights:
//!
//!     cargo run --release --example random_model -- gpt1 /tmp/gpt1-random [SEED]

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(preset), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: random_model PRESET OUT_DIR [SEED]");
        std::process::exit(2);
    };
    let seed: u64 = args
        .next()
        .map_or(1, |s| s.parse().expect("a numeric seed"));
    let config = genpt::GptConfig::preset(&preset).unwrap_or_else(|| {
        eprintln!("unknown preset {preset}");
        std::process::exit(2)
    });
    let device = genpt::device::device("flex").unwrap();
    let model = genpt::rng::seeded(&device, seed, || genpt::Gpt::new(&config, &device));
    genpt::weights::hf::save(&model, std::path::Path::new(&out)).unwrap();
    eprintln!("{preset} with random weights (seed {seed}) in {out}");
}
