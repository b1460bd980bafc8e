//! The NumPy `.npy` format, as far as float arrays go: version 1–3 headers, little- or
//! big-endian f4/f8, C order.

use std::path::Path;

use super::{HostTensor, WeightsError};

const MAGIC: &[u8] = b"\x93NUMPY";

pub fn read(path: &Path) -> Result<HostTensor, WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::io(path, e))?;
    parse(&bytes).map_err(|m| WeightsError::format(path, m))
}

fn parse(bytes: &[u8]) -> Result<HostTensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let descr = dict_value(header, "descr").ok_or("the .npy header has no descr")?;
    let fortran =
        dict_value(header, "fortran_order").ok_or("the .npy header has no fortran_order")?;
    let shape_text = dict_value(header, "shape").ok_or("the .npy header has no shape")?;
    if fortran.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let shape = parse_shape(shape_text)?;
    let data = &bytes[data_start..];
    // The byte order, then the type: '<f4', '>f8', '|f4' (or no order mark at all).
    let (big, kind) = match descr.as_bytes().first() {
        Some(b'>') => (true, &descr[1..]),
        Some(b'<' | b'|' | b'=') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let width = match kind {
        "f4" => 4,
        "f8" => 8,
        other => return Err(format!("dtype {other:?} is not f4 or f8")),
    };
    let needed = shape
        .iter()
        .try_fold(width, |bytes: usize, &d| bytes.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} is too large to hold"))?;
    if data.len() != needed {
        return Err(format!(
            "holds {} bytes of data, shape {shape:?} needs {needed} (truncated file?)",
            data.len(),
        ));
    }
    let values = match (width, big) {
        (4, false) => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        (4, true) => data
            .chunks_exact(4)
            .map(|b| f32::from_be_bytes(b.try_into().unwrap()))
            .collect(),
        (_, false) => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        (_, true) => data
            .chunks_exact(8)
            .map(|b| f64::from_be_bytes(b.try_into().unwrap()) as f32)
            .collect(),
    };
    Ok(HostTensor::new(shape, values))
}

/// The text of `key`'s value in the header's Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let at = quoted
        .iter()
        .find_map(|q| header.find(q.as_str()).map(|i| i + q.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        rest.find(')').map(|end| &rest[..=end])
    } else {
        Some(rest.split(',').next()?.trim())
    }
}

fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    text.trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {text}")))
        .collect()
}

/// Serialises a little-endian f4 C-order array, version 1.0, header padded to 64 bytes.
pub fn encode(tensor: &HostTensor) -> Vec<u8> {
    let shape = match tensor.shape.len() {
        1 => format!("({},)", tensor.shape[0]),
        _ => format!(
            "({})",
            tensor
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * tensor.values.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in &tensor.values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of `np.save(f, np.array([[1, 2, 3], [4, 5, 6]], dtype='<f4'))` with NumPy 2.x.
    const NUMPY_WRITTEN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \n\x00\x00\x80?\x00\x00\x00@\x00\x00@@\x00\x00\x80@\x00\x00\xa0@\x00\x00\xc0@";

    #[test]
    fn reads_what_numpy_writes() {
        let t = parse(NUMPY_WRITTEN).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn writes_what_numpy_writes() {
        let t = HostTensor::new(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(encode(&t), NUMPY_WRITTEN);
    }

    /// Found by the `weights` fuzz target: an empty dtype (`'descr': ''`) sliced past its end,
    /// and a shape whose product overflows.
    #[test]
    fn an_empty_dtype_or_an_overflowing_shape_is_an_error() {
        let npy = |header: &str| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(header.len() as u16).to_le_bytes());
            b.extend_from_slice(header.as_bytes());
            b
        };
        let empty = parse(&npy(
            "{'descr': '', 'fortran_order': False, 'shape': (1,), }",
        ));
        assert!(empty.unwrap_err().contains("is not f4 or f8"));
        let accented = parse(&npy(
            "{'descr': 'é4', 'fortran_order': False, 'shape': (1,), }",
        ));
        assert!(accented.unwrap_err().contains("is not f4 or f8"));
        let huge = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 3), }}",
            usize::MAX / 2
        );
        assert!(parse(&npy(&huge)).unwrap_err().contains("too large"));
    }

    #[test]
    fn truncated_data_is_an_error() {
        let err = parse(&NUMPY_WRITTEN[..NUMPY_WRITTEN.len() - 3]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(parse(b"hello").is_err());
    }
}
