//! Model files: arbitrary bytes cut into two files of one of three layouts, loaded as genpt
//! loads a model directory. Errors (naming the file) are fine; panics, aborts and unbounded
//! allocations are not.
//!
//! Input layout: byte 0 = the layout (0: Hugging Face `config.json` + `model.safetensors`;
//! 1: the release's `params_shapes.json` + `params_0.npy`; 2: a lone `.npy`), bytes 1–2 =
//! length of the first file (little-endian, clamped), then the first file, then the second.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use genpt::weights::{hf, npy, openai};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("genpt-fuzz-weights-{}", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let rest = &data[3..];
    let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(rest.len());
    let (first, second) = rest.split_at(split);
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let device = genpt::device::device("flex").unwrap();
    match data[0] % 3 {
        0 => {
            std::fs::write(dir.join("config.json"), first).unwrap();
            std::fs::write(dir.join("model.safetensors"), second).unwrap();
            let _ = hf::read_config(dir);
            let _ = hf::read_safetensors(&dir.join("model.safetensors"));
            let _ = hf::load(dir, &device);
            let _ = genpt::weights::load_model(dir, &Default::default(), &device);
        }
        1 => {
            std::fs::write(dir.join("params_shapes.json"), first).unwrap();
            std::fs::write(dir.join("params_0.npy"), second).unwrap();
            let _ = openai::load(dir, 12, &device);
            let _ = genpt::weights::load_model(dir, &Default::default(), &device);
        }
        _ => {
            std::fs::write(dir.join("t.npy"), rest).unwrap();
            if let Ok(t) = npy::read(&dir.join("t.npy")) {
                assert_eq!(t.shape.iter().product::<usize>(), t.values.len());
            }
        }
    }
});
