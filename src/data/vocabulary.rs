//! Training a new BPE vocabulary (`genpt tokenizer train`, the demo): genpt_tokenizer's
//! trainer with a progress bar when stderr is a terminal.

/// BPE training with a progress bar on a terminal.
pub fn train_vocabulary(
    counts: &std::collections::HashMap<String, u64>,
    merges: usize,
) -> (
    std::collections::HashMap<String, u32>,
    Vec<(String, String)>,
) {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(merges as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let result = genpt_tokenizer::train_bpe(counts, merges, &|done| bar.set_position(done as u64));
    bar.finish_and_clear();
    result
}
