//! The environment settings genpt reads, read once, at first use, into one struct: the bottom
//! layer, so that kernels and training read them the same way. (The data directory of the tests,
//! `GENPT_SHARED`, and the server's `GENPT_API_KEY` are command-line defaults, read where the
//! command starts.)

use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `GENPT_FUSED=0` turns the fused kernels off (genpt's on flex, burn's fused attention on a
    /// GPU), for the composed tensor operations they are tested against (`crate::kernels`).
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

/// Test hook, in builds with the `failpoints` feature only (the test command's): when
/// `GENPT_FAILPOINT` is `name` (first passage) or `name@n` (n-th passage), abort the process
/// there, to prove that a crash loses nothing; with `enospc:` in front (`enospc:name@n`),
/// return the error a write gets from a full disk ("No space left on device"), for the caller
/// to report as the write it was about to make.
#[cfg(feature = "failpoints")]
pub fn failpoint(name: &str) -> std::io::Result<()> {
    static PASSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(spec) = get().failpoint.clone() else {
        return Ok(());
    };
    let (disk_full, spec) = match spec.strip_prefix("enospc:") {
        Some(rest) => (true, rest),
        None => (false, spec.as_str()),
    };
    let (target, nth) = spec.split_once('@').unwrap_or((spec, "1"));
    if target == name {
        let passage = PASSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if nth.parse() == Ok(passage) {
            if disk_full {
                eprintln!("failpoint {name}: the disk is full");
                // ENOSPC, as write(2) reports it.
                return Err(std::io::Error::from_raw_os_error(28));
            }
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
    }
    Ok(())
}

/// Without the `failpoints` feature there is no hook: release binaries never read the variable.
#[cfg(not(feature = "failpoints"))]
pub fn failpoint(_name: &str) -> std::io::Result<()> {
    Ok(())
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
