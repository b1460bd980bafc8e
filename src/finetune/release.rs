//! The release's fine-tuning graph (`--fidelity release`; [`super::fidelity`] lists
//! how it differs from the default).
//!
//! The release keeps one embedding matrix `we` of `n_vocab + n_special + n_ctx` rows (tokens,
//! special tokens, positions) and writes `model()` as
//!
//! ```text
//! we = dropout(we, embd_pdrop, train)        # one mask over the whole matrix
//! h  = we[token] + we[n_vocab + n_special + t]
//! h  = blocks(h)
//! lm_logits = h[:, :-1] · weᵀ                 # every row of the dropped matrix
//! lm_losses = Σ_t nll_t · M[:, 1:] / Σ M[:, 1:]  # per sequence, then the mean
//! ```
//!
//! genpt stores `we` as two parameters, `tokens_embed` (token and special rows) and
//! `positions_embed` (sliced to the dataset's n_ctx, [`crate::surgery::slice_positions`]);
//! here they are concatenated into `we` each forward pass, so that one dropout mask covers both
//! and gradients reach both through the concatenation. The LM loss goes through the fused LM
//! head ([`crate::kernels::linear_cross_entropy`]) with the dropped `we` as its output matrix:
//! the kernel takes any matrix and returns its gradient to the autodiff graph.

use burn::tensor::{Int, Tensor};

use super::batch::Batch;
use super::classifier::Classifier;
use super::EncodedExample;
use crate::Gpt;

/// How the embedding dropout on `we` is drawn.
#[derive(Debug, Clone)]
pub enum WeDropout {
    /// A fresh mask from [`crate::rng::dropout`] at rate `embd_pdrop` (training).
    Draw,
    /// This mask, [rows of `we`, n_embd] of 0 and 1/(1-p) (tests, to match a reference).
    Mask(Box<Tensor<2>>),
}

/// What the release's `model()` computes for one batch.
pub struct ReleaseOutput {
    /// [batch, choices] (or [batch, classes]).
    pub logits: Tensor<2>,
    /// [batch·choices, time, width]: the last block's output.
    pub hidden: Tensor<3>,
    /// The (dropped, when training) embedding matrix [n_vocab + n_special + n_ctx, width] that
    /// embedded the input and is the LM head.
    pub we: Tensor<2>,
}

/// `we`: the token and special rows, then the position rows.
pub fn embedding_matrix(gpt: &Gpt) -> Tensor<2> {
    Tensor::cat(vec![gpt.tokens_embed.val(), gpt.positions_embed.val()], 0)
}

/// The release's `embed(X, we)` and blocks: hidden states of `ids` [batch, time] embedded with
/// `we` (already dropped). Positions are rows `n_vocab + n_special + t` of `we`.
pub fn hidden_states(gpt: &Gpt, we: Tensor<2>, ids: Tensor<2, Int>, train: bool) -> Tensor<3> {
    let time = ids.dims()[1];
    let first_position = gpt.config().embedding_rows();
    assert!(
        first_position + time <= we.dims()[0],
        "a sequence of {time} tokens is longer than the {} position rows of we",
        we.dims()[0] - first_position
    );
    let tokens = burn::tensor::module::embedding(we.clone(), ids);
    let positions = we.narrow(0, first_position, time).unsqueeze::<3>();
    gpt.forward_embedded(tokens + positions, train).hidden
}

/// The classifier's forward pass through the release's graph: `ids` [batch, choices, time],
/// `classify_at` [batch, choices]. The head (pooling, shared classifier dropout) is genpt's,
/// which already is the release's.
pub fn forward(
    model: &Classifier,
    ids: Tensor<3, Int>,
    classify_at: Tensor<2, Int>,
    train: bool,
    dropout: WeDropout,
) -> ReleaseOutput {
    let [batch, choices, time] = ids.dims();
    let gpt = &model.gpt;
    let we = match dropout {
        WeDropout::Mask(mask) => embedding_matrix(gpt) * *mask,
        WeDropout::Draw => {
            crate::rng::dropout::dropout(embedding_matrix(gpt), gpt.config().embd_pdrop, train)
        }
    };
    let hidden = hidden_states(gpt, we.clone(), ids.reshape([batch * choices, time]), train);
    let logits = model.head.forward(hidden.clone(), classify_at, train);
    ReleaseOutput { logits, hidden, we }
}

/// The release's training graph ([`super::Fidelity::Release`]) for one padded batch: the head's
/// outputs, and the release's L1 ([`aux_loss`]) when `with_lm`.
pub fn training_forward(
    model: &Classifier,
    batch: Batch,
    with_lm: bool,
) -> (Tensor<2>, Option<Tensor<1>>) {
    let out = forward(model, batch.ids, batch.classify_at, true, WeDropout::Draw);
    let lm = with_lm.then(|| aux_loss(out.hidden, out.we, batch.ids_flat, batch.mask));
    (out.logits, lm)
}

/// The release's per-dataset n_ctx: the longest encoded sequence (start, text, delimiters,
/// classify token) over every split, at most `cap` (the model's context). The release computes
/// it from the segment lengths, `len(x1) + max(len(x2), len(x3)) + 3`, which is the same
/// number for Story Cloze's encoding.
pub fn dataset_n_ctx(splits: &[&[EncodedExample]], cap: usize) -> usize {
    splits
        .iter()
        .flat_map(|split| split.iter())
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap_or(1)
        .min(cap)
}

/// LM logits over every row of `we`: [sequences, time, rows] (tokens, special tokens,
/// positions).
pub fn lm_logits(hidden: Tensor<3>, we: Tensor<2>) -> Tensor<3> {
    let [sequences, time, width] = hidden.dims();
    let rows = we.dims()[0];
    hidden
        .reshape([sequences * time, width])
        .matmul(we.transpose())
        .reshape([sequences, time, rows])
}

/// The weight of each prediction in the release's `mean(lm_losses)`: position t predicts token
/// t+1 and counts where `M[:, 1:]` is 1, i.e. every real token after the first (text,
/// delimiter and classify tokens alike); 1/(its sequence's count)/(sequences). [sequences,
/// time − 1].
fn target_weights(mask: Tensor<2>) -> Tensor<2> {
    let [sequences, time] = mask.dims();
    let counted = mask.narrow(1, 1, time - 1);
    let counts = counted.clone().sum_dim(1).clamp_min(1.0);
    (counted / counts).div_scalar(sequences as f64)
}

/// The release's `mean(lm_losses)` from the final `hidden` states [sequences, time, width] of
/// `ids` [sequences, time] with real-token `mask`, under the LM head `we`, through the fused
/// head (the [sequences·time, rows] logits are never formed on flex).
pub fn aux_loss(
    hidden: Tensor<3>,
    we: Tensor<2>,
    ids: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [sequences, time] = ids.dims();
    let width = hidden.dims()[2];
    let rows = sequences * (time - 1);
    crate::kernels::linear_cross_entropy(
        hidden.narrow(1, 0, time - 1).reshape([rows, width]),
        we,
        ids.narrow(1, 1, time - 1).reshape([rows]),
        target_weights(mask).reshape([rows]),
    )
}

/// The release's per-sequence `lm_losses` [sequences] from full logits (the composed
/// reference for [`aux_loss`], and what the tests compare sequence by sequence).
pub fn aux_losses_from_logits(
    logits: Tensor<3>,
    ids: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [sequences, time] = ids.dims();
    let targets = ids.narrow(1, 1, time - 1);
    let counted = mask.narrow(1, 1, time - 1);
    let nll = crate::loss::target_logprobs(logits.narrow(1, 0, time - 1), targets).neg()
        * counted.clone();
    (nll.sum_dim(1) / counted.sum_dim(1).clamp_min(1.0)).reshape([sequences])
}
