//! Token shards: the tokenized corpus on disk, read through a memory map.
//!
//! A shard is a 48-byte little-endian header followed by the token ids:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `GENPTTOK` |
//! | 8..12 | format version (1) |
//! | 12..16 | bytes per token: 2 (u16) when the vocabulary fits, else 4 (u32) |
//! | 16..20 | vocabulary size (every id is below it) |
//! | 20..24 | CRC-32 of the body (version 2; 0 in version 1, which is still read) |
//! | 24..32 | fingerprint of the tokenizer that made it |
//! | 32..40 | token count |
//! | 40..48 | document count |
//!
//! Readers check every field, so that a shard from another tokenizer, a truncated copy or a
//! file of another kind is refused with its path named instead of silently training on noise.
//! [`Shard::verify`] also reads the body: every id below the vocabulary (the first one that is
//! not is named with its byte offset) and, for version 2, the checksum, so bit rot or a bad copy
//! is an error before training rather than a backend panic or silent garbage.

use std::io::Write;
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"GENPTTOK";
pub const VERSION: u32 = 2;
/// The oldest format still read (no checksum).
pub const OLDEST_VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn invalid(path: &Path, message: impl Into<String>) -> ShardError {
    ShardError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// What a shard's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardHeader {
    pub version: u32,
    pub token_bytes: u32,
    pub vocab_size: u32,
    pub fingerprint: u64,
    pub tokens: u64,
    pub documents: u64,
    /// CRC-32 of the body (version 2).
    pub checksum: u32,
}

impl ShardHeader {
    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&self.token_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.vocab_size.to_le_bytes());
        out[20..24].copy_from_slice(&self.checksum.to_le_bytes());
        out[24..32].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[32..40].copy_from_slice(&self.tokens.to_le_bytes());
        out[40..48].copy_from_slice(&self.documents.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Self, ShardError> {
        if bytes.len() < HEADER_BYTES || &bytes[0..8] != MAGIC {
            return Err(invalid(path, "not a genpt token shard (bad magic)"));
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let version = u32_at(8);
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(invalid(
                path,
                format!(
                    "shard format version {version}; this genpt reads {OLDEST_VERSION} to {VERSION}"
                ),
            ));
        }
        let header = Self {
            version,
            checksum: u32_at(20),
            token_bytes: u32_at(12),
            vocab_size: u32_at(16),
            fingerprint: u64_at(24),
            tokens: u64_at(32),
            documents: u64_at(40),
        };
        if header.token_bytes != 2 && header.token_bytes != 4 {
            return Err(invalid(
                path,
                format!("{} bytes per token (expected 2 or 4)", header.token_bytes),
            ));
        }
        Ok(header)
    }
}

/// The narrowest token width that holds every id below `vocab_size`.
pub fn token_bytes_for(vocab_size: usize) -> u32 {
    if vocab_size <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Writes one shard: tokens go to a temporary file; `finish` writes the final header, syncs and
/// renames, so a shard that exists is complete. A writer dropped unfinished (an error such as a
/// full disk, or a panic) removes its temporary file.
pub struct ShardWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    header: ShardHeader,
    crc: crc32fast::Hasher,
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl ShardWriter {
    pub fn create(path: &Path, vocab_size: usize, fingerprint: u64) -> Result<Self, ShardError> {
        let io = |e| ShardError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let tmp = path.with_extension("tok.partial");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let header = ShardHeader {
            version: VERSION,
            checksum: 0,
            token_bytes: token_bytes_for(vocab_size),
            vocab_size: vocab_size as u32,
            fingerprint,
            tokens: 0,
            documents: 0,
        };
        file.write_all(&header.encode()).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            header,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Appends one document's tokens.
    pub fn push_document(&mut self, ids: &[u32]) -> Result<(), ShardError> {
        let io = |e| ShardError::Io {
            path: self.tmp.clone(),
            source: e,
        };
        let mut bytes = Vec::with_capacity(ids.len() * self.header.token_bytes as usize);
        for &id in ids {
            if id >= self.header.vocab_size {
                return Err(invalid(
                    &self.path,
                    format!(
                        "token id {id} is outside the vocabulary of {}",
                        self.header.vocab_size
                    ),
                ));
            }
            match self.header.token_bytes {
                2 => bytes.extend_from_slice(&(id as u16).to_le_bytes()),
                _ => bytes.extend_from_slice(&id.to_le_bytes()),
            }
        }
        let file = self
            .file
            .as_mut()
            .expect("an unfinished writer has its file");
        file.write_all(&bytes).map_err(io)?;
        self.crc.update(&bytes);
        self.header.tokens += ids.len() as u64;
        self.header.documents += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<ShardHeader, ShardError> {
        use std::io::Seek;
        self.header.checksum = self.crc.clone().finalize();
        let io = |e| ShardError::Io {
            path: self.path.clone(),
            source: e,
        };
        let buffered = self.file.take().expect("an unfinished writer has its file");
        let written = (|| {
            let mut file = buffered.into_inner().map_err(|e| e.into_error())?;
            file.seek(std::io::SeekFrom::Start(0))?;
            file.write_all(&self.header.encode())?;
            file.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(io(e));
        }
        Ok(self.header)
    }
}

/// A memory-mapped shard whose header has been checked.
pub struct Shard {
    pub path: PathBuf,
    pub header: ShardHeader,
    map: memmap2::Mmap,
}

impl Shard {
    /// Opens `path`, checking that it is complete and was made by the tokenizer with
    /// `fingerprint` (when given).
    pub fn open(path: &Path, fingerprint: Option<u64>) -> Result<Self, ShardError> {
        let io = |e| ShardError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: shards are written once (renamed into place) and never modified afterwards.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let header = ShardHeader::decode(&map, path)?;
        let expected = header
            .tokens
            .checked_mul(u64::from(header.token_bytes))
            .and_then(|body| body.checked_add(HEADER_BYTES as u64));
        if expected != Some(map.len() as u64) {
            return Err(invalid(
                path,
                format!(
                    "{} bytes, but its header promises {} tokens of {} bytes: truncated or corrupt",
                    map.len(),
                    header.tokens,
                    header.token_bytes
                ),
            ));
        }
        if let Some(want) = fingerprint {
            if header.fingerprint != want {
                return Err(invalid(
                    path,
                    format!(
                        "made by another tokenizer (fingerprint {:016x}, expected {want:016x}): run `genpt prepare` again with this tokenizer",
                        header.fingerprint
                    ),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            map,
        })
    }

    pub fn len(&self) -> usize {
        self.header.tokens as usize
    }

    /// Reads the whole body once: every id must be below the header's vocabulary (the first one
    /// that is not is named, with its token index and byte offset in the file), and a version-2
    /// shard's CRC-32 must match.
    pub fn verify(&self) -> Result<(), ShardError> {
        let data = &self.map[HEADER_BYTES..];
        let width = self.header.token_bytes as usize;
        let vocab = self.header.vocab_size;
        let bad = data.chunks_exact(width).position(|b| {
            let id = match width {
                2 => u16::from_le_bytes([b[0], b[1]]) as u32,
                _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            };
            id >= vocab
        });
        if let Some(i) = bad {
            let at = HEADER_BYTES + i * width;
            let b = &data[i * width..(i + 1) * width];
            let id = match width {
                2 => u16::from_le_bytes([b[0], b[1]]) as u32,
                _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            };
            return Err(invalid(
                &self.path,
                format!(
                    "damaged: token {i} (byte offset {at}) is id {id}, outside the vocabulary \
                     of {vocab}; run `genpt prepare` again"
                ),
            ));
        }
        if self.header.version >= 2 {
            let crc = crc32fast::hash(data);
            if crc != self.header.checksum {
                return Err(invalid(
                    &self.path,
                    format!(
                        "damaged: the body's CRC-32 is {crc:08x}, the header says {:08x}; \
                         run `genpt prepare` again (or set data.verify = false to skip the check)",
                        self.header.checksum
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies tokens `start..start+out.len()` into `out` as i64 (the model's index type).
    pub fn read(&self, start: usize, out: &mut [i64]) {
        let data = &self.map[HEADER_BYTES..];
        match self.header.token_bytes {
            2 => {
                for (i, slot) in out.iter_mut().enumerate() {
                    let at = 2 * (start + i);
                    *slot = u16::from_le_bytes([data[at], data[at + 1]]) as i64;
                }
            }
            _ => {
                for (i, slot) in out.iter_mut().enumerate() {
                    let at = 4 * (start + i);
                    *slot = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as i64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("genpt-shard-{}-{name}.tok", std::process::id()))
    }

    /// Found by the `corpus` fuzz target: a header promising 2⁶³ tokens overflowed the size
    /// check (a panic in debug builds, a wrong size in release ones).
    #[test]
    fn a_header_promising_too_many_tokens_is_an_error() {
        let path = temp("overflow");
        let mut w = ShardWriter::create(&path, 100, 0).unwrap();
        w.push_document(&[1, 2]).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[32..40].copy_from_slice(&(1u64 << 63).to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = Shard::open(&path, None).err().unwrap().to_string();
        assert!(
            err.contains("truncated or corrupt") && err.contains(path.to_str().unwrap()),
            "{err}"
        );
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn round_trip_and_header_checks() {
        let path = temp("rt");
        let mut w = ShardWriter::create(&path, 40_478, 0xfeed).unwrap();
        w.push_document(&[1, 2, 40_477]).unwrap();
        w.push_document(&[7]).unwrap();
        let header = w.finish().unwrap();
        assert_eq!(
            (header.tokens, header.documents, header.token_bytes),
            (4, 2, 2)
        );
        let shard = Shard::open(&path, Some(0xfeed)).unwrap();
        let mut out = [0i64; 3];
        shard.read(1, &mut out);
        assert_eq!(out, [2, 40_477, 7]);

        let err = Shard::open(&path, Some(0xbeef)).err().unwrap().to_string();
        assert!(
            err.contains("another tokenizer") && err.contains(path.to_str().unwrap()),
            "{err}"
        );

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = Shard::open(&path, None).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");

        std::fs::write(
            &path,
            b"hello world, this is not a shard at all, not at all!",
        )
        .unwrap();
        assert!(Shard::open(&path, None)
            .err()
            .unwrap()
            .to_string()
            .contains("bad magic"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_damaged_body_is_named_with_its_first_bad_offset() {
        let path = temp("damaged");
        let mut w = ShardWriter::create(&path, 381, 9).unwrap();
        w.push_document(&[1, 2, 3, 380, 5, 6]).unwrap();
        w.finish().unwrap();
        let shard = Shard::open(&path, Some(9)).unwrap();
        shard.verify().unwrap();
        // The CRC-32 written is that of the body (crc32fast's, the zlib polynomial).
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
            crc32fast::hash(&bytes[HEADER_BYTES..])
        );
        // An id past the vocabulary at token 4 (as in the bug report: 65535 in a 381-id shard).
        let mut damaged = bytes.clone();
        damaged[HEADER_BYTES + 8..HEADER_BYTES + 10].copy_from_slice(&65535u16.to_le_bytes());
        std::fs::write(&path, &damaged).unwrap();
        let err = Shard::open(&path, Some(9))
            .unwrap()
            .verify()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(path.to_str().unwrap())
                && err.contains("token 4 (byte offset 56)")
                && err.contains("id 65535"),
            "{err}"
        );
        // A flipped bit that leaves the id in range: the checksum finds it.
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 2] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        let err = Shard::open(&path, Some(9))
            .unwrap()
            .verify()
            .unwrap_err()
            .to_string();
        assert!(err.contains("CRC-32"), "{err}");
        // A version-1 shard (no checksum) is still read, its ids still checked.
        let mut old = bytes.clone();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        old[20..24].copy_from_slice(&[0; 4]);
        std::fs::write(&path, &old).unwrap();
        Shard::open(&path, Some(9)).unwrap().verify().unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_unfinished_writer_leaves_nothing_behind() {
        let path = temp("unfinished");
        let mut w = ShardWriter::create(&path, 381, 9).unwrap();
        w.push_document(&[1, 2, 3]).unwrap();
        let tmp = path.with_extension("tok.partial");
        assert!(tmp.exists());
        // An error part-way (here an id past the vocabulary), then the writer is dropped.
        assert!(w.push_document(&[500]).is_err());
        drop(w);
        assert!(!tmp.exists() && !path.exists());
    }

    #[test]
    fn wide_vocabularies_use_four_bytes() {
        assert_eq!(token_bytes_for(65_536), 2);
        assert_eq!(token_bytes_for(65_537), 4);
        let path = temp("wide");
        let mut w = ShardWriter::create(&path, 100_000, 1).unwrap();
        w.push_document(&[99_999]).unwrap();
        w.finish().unwrap();
        let mut out = [0i64; 1];
        Shard::open(&path, None).unwrap().read(0, &mut out);
        assert_eq!(out, [99_999]);
        std::fs::remove_file(&path).unwrap();
    }
}
