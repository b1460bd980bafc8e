//! The `genpt` command line. Each subcommand lives in `genpt::cli`.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    genpt::retain_freed_memory();
    let cli = genpt::cli::Cli::parse();
    if let Err(error) = genpt::cli::run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
