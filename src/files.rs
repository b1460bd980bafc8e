//! Writing files so that a crash (a kill, a power cut, a full disk) never leaves half of one:
//! the new version is complete on disk before it takes the old one's name.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it was for.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, then fsync
/// of the directory, so that a crash leaves either the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = parent(path);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// Makes directory `dir` what `write` writes into an empty directory beside it
/// (`.partial-NAME`), replacing the old `dir` only once `write` has succeeded and every file in
/// the new one is on disk (fsynced here, whoever wrote it): a crash leaves the previous `dir`
/// whole, or, between the two renames, moved aside as `.old-NAME`, which [`recover_dir`]
/// (called here first, and by readers) puts back; a failed write (a full disk) removes its
/// partial copy, giving its space back, before reporting the error.
pub fn replace_dir(
    dir: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let parent = parent(dir);
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir");
    let partial = parent.join(format!(".partial-{name}"));
    let old = parent.join(format!(".old-{name}"));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    recover_dir(dir).with_context(|| format!("recovering {}", old.display()))?;
    for stale in [&partial, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    let written = std::fs::create_dir_all(&partial)
        .with_context(|| format!("creating {}", partial.display()))
        .and_then(|()| write(&partial))
        .and_then(|()| {
            sync_tree(&partial).with_context(|| format!("syncing {}", partial.display()))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    if dir.exists() {
        std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
    }
    std::fs::rename(&partial, dir).with_context(|| format!("renaming to {}", dir.display()))?;
    sync_dir(parent).with_context(|| format!("syncing {}", parent.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

/// Puts back `.old-NAME` as `dir` when a crash came between [`replace_dir`]'s two renames (the
/// old copy moved aside, the new one not yet in place): the previous version, whole.
pub fn recover_dir(dir: &Path) -> std::io::Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir");
    let old = parent(dir).join(format!(".old-{name}"));
    if !dir.exists() && old.is_dir() {
        match std::fs::rename(&old, dir) {
            // Another process of the run put it back first.
            Err(_) if dir.is_dir() => {}
            result => result?,
        }
        sync_dir(parent(dir))?;
    }
    Ok(())
}

/// fsync of every file below `dir`, then of the directories themselves.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// fsync of a directory: its entries (a rename into it) are on disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("genpt-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_failed_write_keeps_the_old_directory_and_leaves_nothing_beside_it() {
        let root = scratch("replace");
        let dir = root.join("best");
        replace_dir(&dir, |d| Ok(write_atomic(&d.join("a"), b"one")?)).unwrap();
        let failed = replace_dir(&dir, |d| {
            write_atomic(&d.join("a"), b"two")?;
            anyhow::bail!("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"one");
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["best"], "no partial copy left");
        replace_dir(&dir, |d| Ok(write_atomic(&d.join("b"), b"three")?)).unwrap();
        assert!(
            !dir.join("a").exists(),
            "the new directory replaces the old one whole"
        );
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"three");
    }

    #[test]
    fn a_crash_between_the_renames_gives_the_old_directory_back() {
        let root = scratch("between");
        let dir = root.join("resume");
        replace_dir(&dir, |d| Ok(write_atomic(&d.join("state.json"), b"old")?)).unwrap();
        // Killed after moving the old copy aside, before the new one took its name.
        std::fs::rename(&dir, root.join(".old-resume")).unwrap();
        recover_dir(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join("state.json")).unwrap(), b"old");
        assert!(!root.join(".old-resume").exists());
    }

    #[test]
    fn a_crash_mid_replace_is_cleaned_up_by_the_next_one() {
        let root = scratch("stale");
        let dir = root.join("resume");
        std::fs::create_dir_all(root.join(".partial-resume")).unwrap();
        std::fs::create_dir_all(root.join(".old-resume")).unwrap();
        replace_dir(&dir, |d| Ok(write_atomic(&d.join("state.json"), b"{}")?)).unwrap();
        assert!(!root.join(".partial-resume").exists() && !root.join(".old-resume").exists());
        assert!(dir.join("state.json").exists());
    }
}
