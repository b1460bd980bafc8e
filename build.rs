//! Records which source genpt is built from, as `GENPT_COMMIT`: the git commit, with `-dirty`
//! after it when the sources it compiles differ from that commit, or `unknown` outside a git
//! checkout. `genpt --version` prints it, and run directories record it
//! (`crate::BUILD_COMMIT`), so that a result can be traced to the code that made it.

use std::process::Command;

/// What the build compiles: `-dirty` means one of these differs from the commit (a changed
/// test or document does not count).
const SOURCES: [&str; 5] = ["build.rs", "Cargo.toml", "Cargo.lock", "src", "crates"];

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "HEAD"]) {
        Some(sha) => {
            // `--no-optional-locks`: without it `status` may rewrite the index it is watched by
            // (and hold index.lock while a user commits).
            let mut status = vec![
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
            ];
            status.extend(SOURCES);
            let dirty = git(&status).is_some_and(|changes| !changes.is_empty());
            if dirty {
                format!("{sha}-dirty")
            } else {
                sha
            }
        }
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=GENPT_COMMIT={commit}");

    // Run again when the commit moves (HEAD's reflog grows with every commit, checkout and
    // reset, whether the refs are loose or packed; HEAD and the branch's ref where reflogs are
    // off), when the index changes (`git add`), or when a source file changes (dirty or not).
    // Only files that exist: Cargo reruns a script on every build while a watched file is
    // missing.
    let mut watched = vec!["logs/HEAD".to_string(), "HEAD".into(), "index".into()];
    if let Some(reference) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
        watched.push(reference);
    }
    for name in watched {
        // `--git-path` finds each file in worktrees too.
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    for path in SOURCES {
        println!("cargo:rerun-if-changed={path}");
    }
}
