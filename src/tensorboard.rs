//! TensorBoard event files, so that `tensorboard --logdir runs/` shows every run's curves side by
//! side. An event file is a sequence of records, each `length: u64 LE`, `masked CRC32C of the
//! length: u32 LE`, `data`, `masked CRC32C of the data: u32 LE`; each record's data is a
//! protobuf `Event` (tensorflow/core/util/event.proto): the first names the format
//! (`file_version`), the others carry a `Summary` of scalars or of one text.
//!
//! The messages below declare only the fields genpt writes, with the field numbers of
//! TensorFlow's .proto files, so that any reader of the format reads them.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

#[derive(Clone, PartialEq, Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
}

#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginData>,
}

#[derive(Clone, PartialEq, Message)]
struct PluginData {
    #[prost(string, tag = "1")]
    plugin_name: String,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    /// `DataType`: 7 is DT_STRING.
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<TensorShapeProto>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    string_val: Vec<Vec<u8>>,
}

/// A scalar shape: no dimensions.
#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {}

const DT_STRING: i32 = 7;

/// CRC32C, masked as the record format wants (so that a CRC of data holding CRCs stays
/// well-distributed).
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One record of the file format around `data`.
fn record(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The events of the file at `path`, up to its end or its first torn or corrupt record (a
/// crash while writing), as TensorBoard reads it.
fn read_events(path: &Path) -> std::io::Result<Vec<Event>> {
    let bytes = std::fs::read(path)?;
    let mut events = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let length_bytes = &bytes[at..at + 8];
        let length = u64::from_le_bytes(length_bytes.try_into().expect("8 bytes")) as usize;
        let crc = |from: usize| u32::from_le_bytes(bytes[from..from + 4].try_into().expect("4"));
        if crc(at + 8) != masked_crc(length_bytes) {
            break;
        }
        let data = at + 12;
        let Some(end) = data.checked_add(length).filter(|&e| e + 4 <= bytes.len()) else {
            break;
        };
        if crc(end) != masked_crc(&bytes[data..end]) {
            break;
        }
        match Event::decode(&bytes[data..end]) {
            Ok(event) => events.push(event),
            Err(_) => break,
        }
        at = end + 4;
    }
    Ok(events)
}

/// Whether `name` is an event file genpt wrote.
fn is_genpt_event_file(name: &str) -> bool {
    name.starts_with("events.out.tfevents.") && name.ends_with(".genpt")
}

/// An event file being written.
pub struct EventWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl EventWriter {
    /// An empty event file in `dir` (created), named as TensorBoard expects
    /// (`events.out.tfevents.SECONDS.HOST.PID.genpt`); genpt's event files already there are
    /// replaced by it ([`Self::rewrite`] keeping nothing).
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        Self::rewrite(dir, None)
    }

    /// The event file of `dir`, holding of the events already there those of updates up to
    /// `keep_through` (scalars at or before it, texts before it: the new segment writes its
    /// own) bit for bit, and nothing with `None`: a resumed run drops the updates it will
    /// repeat. The file keeps its name and is replaced whole ([`crate::files::write_atomic`]),
    /// so that a crash leaves the old events or the new ones, never both or neither.
    pub fn rewrite(dir: &Path, keep_through: Option<u64>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut old: Vec<PathBuf> = std::fs::read_dir(dir)?
            .flatten()
            .filter(|e| is_genpt_event_file(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        old.sort();
        let keep = |event: &Event| {
            let is_text = event
                .summary
                .as_ref()
                .is_some_and(|s| s.value.iter().any(|v| v.tensor.is_some()));
            let step = event.step.max(0) as u64;
            event.file_version.is_none()
                && keep_through.is_some_and(|last| step < last || (step == last && !is_text))
        };
        let mut bytes = record(
            &Event {
                wall_time: now(),
                step: 0,
                file_version: Some("brain.Event:2".into()),
                summary: None,
            }
            .encode_to_vec(),
        );
        for path in &old {
            for event in read_events(path)?.into_iter().filter(keep) {
                bytes.extend(record(&event.encode_to_vec()));
            }
        }
        let path = match old.first() {
            Some(first) => first.clone(),
            None => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "localhost".into());
                let name = format!(
                    "events.out.tfevents.{}.{host}.{}.genpt",
                    now() as u64,
                    std::process::id()
                );
                dir.join(name)
            }
        };
        crate::files::write_atomic(&path, &bytes).map_err(|e| e.source)?;
        for other in old.iter().skip(1) {
            std::fs::remove_file(other)?;
        }
        let file = std::fs::OpenOptions::new().append(true).open(&path)?;
        Ok(Self { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, event: &Event) -> std::io::Result<()> {
        self.file.write_all(&record(&event.encode_to_vec()))?;
        self.file.flush()
    }

    /// Scalars `(tag, value)` at `step`, in one event.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> std::io::Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let value = values
            .iter()
            .map(|(tag, v)| SummaryValue {
                tag: tag.clone(),
                simple_value: Some(*v as f32),
                tensor: None,
                metadata: None,
            })
            .collect();
        self.write(&Event {
            wall_time: now(),
            step: step as i64,
            file_version: None,
            summary: Some(Summary { value }),
        })
    }

    /// `text` under `tag` at `step`, for TensorBoard's text dashboard (Markdown).
    pub fn text(&mut self, step: u64, tag: &str, text: &str) -> std::io::Result<()> {
        self.write(&Event {
            wall_time: now(),
            step: step as i64,
            file_version: None,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: tag.into(),
                    simple_value: None,
                    tensor: Some(TensorProto {
                        dtype: DT_STRING,
                        tensor_shape: Some(TensorShapeProto {}),
                        string_val: vec![text.as_bytes().to_vec()],
                    }),
                    metadata: Some(SummaryMetadata {
                        plugin_data: Some(PluginData {
                            plugin_name: "text".into(),
                        }),
                    }),
                }],
            }),
        })
    }
}

/// The scalars of a `metrics.jsonl` record: every number in it but its `step`, nested objects
/// flattened with `/` (`zeroshot/sst2`, `dev/accuracy`).
pub fn record_scalars(record: &serde_json::Value) -> Vec<(String, f64)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, f64)>) {
        match value {
            serde_json::Value::Number(n) if prefix != "step" => {
                if let Some(v) = n.as_f64() {
                    out.push((prefix.to_string(), v));
                }
            }
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let tag = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}/{key}"),
                    };
                    walk(&tag, v, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", record, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_framing_follows_the_format() {
        // CRC32C of "123456789" is 0xE3069283 (the check value of the Castagnoli polynomial);
        // masked, 0xC78AB0E5: what TensorBoard's own writer gives
        // (`tensorboard.summary.writer.record_writer.masked_crc32c(b"123456789")`, 2.21).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
        let r = record(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(&r[12..15], b"abc");
    }

    #[test]
    fn a_record_flattens_to_tagged_scalars() {
        let record = serde_json::json!({
            "step": 3, "loss": 2.5, "note": "x",
            "zeroshot": {"sst2": 0.5}, "dev": {"accuracy": 0.75}
        });
        let mut got = record_scalars(&record);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("dev/accuracy".to_string(), 0.75),
                ("loss".to_string(), 2.5),
                ("zeroshot/sst2".to_string(), 0.5)
            ]
        );
    }
}
