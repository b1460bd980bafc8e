//! Which code made a result: the commit genpt was built from, as git itself reports it.

use std::process::Command;

#[test]
fn the_build_commit_is_gits_head_and_version_prints_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let head = match Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root)
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        _ => {
            eprintln!("skipped: not a git checkout (the commit is `unknown` there)");
            return;
        }
    };
    let head = head.trim();
    assert_eq!(head.len(), 40, "{head}");
    assert!(
        genpt::BUILD_COMMIT == head || genpt::BUILD_COMMIT == format!("{head}-dirty"),
        "built as {}, git's HEAD is {head}",
        genpt::BUILD_COMMIT
    );
    // `-dirty` exactly when git sees changes to the sources the build compiles.
    let status = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no", "--"])
        .args(["build.rs", "Cargo.toml", "Cargo.lock", "src", "crates"])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(
        genpt::BUILD_COMMIT.ends_with("-dirty"),
        !status.stdout.is_empty()
    );
    let version = Command::new(env!("CARGO_BIN_EXE_genpt"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(
        version.contains(&format!("(commit {})", genpt::BUILD_COMMIT)),
        "{version}"
    );
}
