//! `genpt serve` with the real clients (issue 24): scripts/serve_clients.py runs
//! lm-evaluation-harness's `local-completions` against the server and compares every choice's
//! log-likelihood with the harness's own `hf` backend on the same random GPT-2 (within 1e-3),
//! and drives the official `openai` SDK through every prompt form, echo, batching, streaming,
//! refused fields and the API key.
//!
//! It needs Python with `lm_eval openai tenacity aiohttp accelerate transformers torch`
//! (`GENPT_CLIENTS_PYTHON`, default `python3`) and ../shared; without them it skips, saying why.

use std::process::Command;

#[test]
fn lm_evaluation_harness_and_the_openai_sdk_agree_with_the_references() {
    let Some(shared) = genpt::shared_dir() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let python = std::env::var("GENPT_CLIENTS_PYTHON").unwrap_or_else(|_| "python3".into());
    let modules = "lm_eval, openai, tenacity, aiohttp, accelerate, transformers, torch";
    let found = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    match found {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!(
                "skipped: {python} cannot import {modules}; install them \
                 (pip install lm_eval openai tenacity aiohttp accelerate transformers) and set \
                 GENPT_CLIENTS_PYTHON"
            );
            return;
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/serve_clients.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_genpt"))
        .arg(shared.join("data"))
        .output()
        .expect("runs the client script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(out.status.success(), "{stdout}\n{tail}");
    assert!(stdout.contains("all client checks passed"), "{stdout}");
    eprintln!("{stdout}");
}
