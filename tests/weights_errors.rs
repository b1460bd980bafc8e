//! Bad weight files get errors that name the file and the tensor, never a panic.

use std::path::{Path, PathBuf};

use genpt::weights::{self, LoadOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn load(dir: &Path) -> Result<genpt::Gpt, weights::WeightsError> {
    let device = genpt::device::device("flex").unwrap();
    weights::load_model(dir, &LoadOptions { n_head: 4 }, &device)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "genpt-weights-errors-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn truncated_safetensors_names_the_file() {
    let dir = scratch("truncated");
    copy_dir(&fixture("ctx16"), &dir);
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let message = load(&dir).unwrap_err().to_string();
    assert!(message.contains("model.safetensors"), "{message}");
}

#[test]
fn config_that_disagrees_with_the_weights_names_tensor_and_shapes() {
    let dir = scratch("shape");
    copy_dir(&fixture("ctx16"), &dir);
    let path = dir.join("config.json");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"vocab_size\": 97", "\"vocab_size\": 98");
    std::fs::write(&path, config).unwrap();
    let message = load(&dir).unwrap_err().to_string();
    assert!(
        message.contains("tokens_embed")
            && message.contains("[98, 32]")
            && message.contains("[97, 32]"),
        "{message}"
    );
}

#[test]
fn missing_npy_part_is_reported() {
    let dir = scratch("npy");
    copy_dir(&fixture("ctx16-openai"), &dir);
    std::fs::remove_file(dir.join("params_9.npy")).unwrap();
    let message = load(&dir).unwrap_err().to_string();
    assert!(message.contains("params_0..8.npy hold"), "{message}");
}

#[test]
fn a_directory_without_weights_says_what_it_expected() {
    let dir = scratch("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let message = load(&dir).unwrap_err().to_string();
    assert!(message.contains("not a model directory"), "{message}");
}

/// A copy of the ctx16 fixture in `name` whose weights `edit` changed, given the file's name of
/// the tensor ending in `suffix`.
fn edited_fixture(
    name: &str,
    suffix: &str,
    edit: impl FnOnce(&mut weights::NamedTensors, String),
) -> PathBuf {
    let dir = scratch(name);
    copy_dir(&fixture("ctx16"), &dir);
    let path = dir.join("model.safetensors");
    let mut tensors = weights::hf::read_safetensors(&path).unwrap();
    let full = tensors
        .keys()
        .find(|n| n.ends_with(suffix))
        .unwrap_or_else(|| panic!("no tensor ending in {suffix}"))
        .clone();
    edit(&mut tensors, full);
    weights::hf::save_safetensors(&tensors, &path, str::to_string).unwrap();
    dir
}

/// The bf16 loader, which packs each linear weight as it reads it, checks those weights as the
/// fp32 loader checks every tensor: a NaN is named with its file and tensor.
#[test]
fn a_bad_linear_weight_is_named_by_the_bf16_loader_too() {
    let dir = edited_fixture("bf16-nan", "h.0.attn.c_attn.weight", |tensors, name| {
        tensors.get_mut(&name).unwrap().values[5] = f32::NAN;
    });
    let device = genpt::device::device("flex").unwrap();
    let message = weights::hf::load_bf16(&dir, &device)
        .expect_err("a NaN weight is refused")
        .to_string();
    assert!(
        message.contains("model.safetensors")
            && message.contains("h.0.attn.c_attn.weight")
            && message.contains("not finite"),
        "{message}"
    );
    // In the words of the fp32 loader.
    assert_eq!(message, load(&dir).unwrap_err().to_string());
}

/// A linear weight stored twice, with and without the `transformer.` prefix, is refused by both
/// loaders (which copy would win is not defined).
#[test]
fn a_linear_weight_stored_twice_is_refused_by_both_loaders() {
    let dir = edited_fixture("bf16-twice", "h.1.mlp.c_fc.weight", |tensors, name| {
        let other = match name.strip_prefix("transformer.") {
            Some(bare) => bare.to_string(),
            None => format!("transformer.{name}"),
        };
        let copy = tensors[&name].clone();
        tensors.insert(other, copy);
    });
    let device = genpt::device::device("flex").unwrap();
    for message in [
        weights::hf::load_bf16(&dir, &device)
            .expect_err("bf16")
            .to_string(),
        load(&dir).unwrap_err().to_string(),
    ] {
        assert!(
            message.contains("h.1.mlp.c_fc.weight") && message.contains("appears both"),
            "{message}"
        );
    }
}
