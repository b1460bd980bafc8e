//! A run's own files: the pre-training TOML with `--set` overrides, and a checkpoint's
//! `state.json`. Errors are fine; panics, aborts and unbounded allocations are not; a
//! configuration that parses must print as TOML that parses to itself.
//!
//! Input layout: byte 0 = which (even: TOML, the text after the first `\n--\n` being
//! `--set` overrides, one per line; odd: state.json), then the file.

#![no_main]

use genpt::pretrain::checkpoint::TrainState;
use genpt::pretrain::RunConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if which % 2 == 0 {
        let (file, sets) = text.split_once("\n--\n").unwrap_or((text, ""));
        let overrides: Vec<String> = sets.lines().map(str::to_string).collect();
        if let Ok(config) = RunConfig::parse(file, &overrides) {
            let again = RunConfig::parse(&config.to_toml(), &[]).expect("printed TOML parses");
            assert_eq!(again, config, "TOML round trip");
        }
    } else if let Ok(state) = serde_json::from_str::<TrainState>(text) {
        let again: TrainState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(again, state);
    }
});
