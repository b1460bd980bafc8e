//! The environment settings genpt reads, read once, at first use, into one struct: the bottom
//! layer, so that kernels and training read them the same way. (The data directory of the tests,
//! `GENPT_SHARED`, and the server's `GENPT_API_KEY` are command-line defaults, read where the
//! command starts.)

use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `GENPT_FUSED=0` turns the fused CPU kernels off, for the composed tensor operations they
    /// are tested against (`crate::kernels`).
    pub fused: bool,
    /// `GENPT_LCE_CHUNK`: rows per chunk of the fused LM-head loss, instead of the size chosen
    /// from the vocabulary (for tuning; `crate::kernels::linear_cross_entropy`).
    pub lce_chunk: Option<usize>,
    /// `GENPT_FAILPOINT`, only in builds with the `failpoints` feature (the crash-safety tests):
    /// where a checkpoint write aborts or meets a full disk (`crate::pretrain::checkpoint`).
    #[cfg(feature = "failpoints")]
    pub failpoint: Option<String>,
}

impl Settings {
    /// The settings in `var`'s environment.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            fused: var("GENPT_FUSED").is_none_or(|v| v != "0"),
            lce_chunk: var("GENPT_LCE_CHUNK")
                .and_then(|v| v.parse::<usize>().ok())
                .map(|rows| rows.max(1)),
            #[cfg(feature = "failpoints")]
            failpoint: var("GENPT_FAILPOINT"),
        }
    }
}

/// This process's settings, read from its environment the first time they are asked for.
pub fn get() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings::from_env(|name| std::env::var(name).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let none = Settings::from_env(|_| None);
        assert!(none.fused);
        assert_eq!(none.lce_chunk, None);
        let set = Settings::from_env(|name| match name {
            "GENPT_FUSED" => Some("0".into()),
            "GENPT_LCE_CHUNK" => Some("0".into()),
            _ => None,
        });
        assert!(!set.fused);
        assert_eq!(set.lce_chunk, Some(1), "a chunk of at least one row");
    }
}
