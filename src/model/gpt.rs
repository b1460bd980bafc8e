//! GPT-1 as in the paper (section 3.1) and the official release's `model()`:
//! `h0 = U·We + Wp`, then n post-LayerNorm Transformer blocks, then `softmax(hn·Weᵀ)`.
//!
//! GPT-2 (Radford et al. 2019, section 2.3) is the same decoder with LayerNorm moved to the
//! input of each sub-block, a final LayerNorm `ln_f` after the last block, and residual
//! projections initialised smaller; [`GptConfig::arch`] switches between the two here, so both
//! share every layer and every fused kernel.
//!
//! Field names mirror Hugging Face's `OpenAIGPTModel` (`tokens_embed`, `positions_embed`,
//! `h.{i}.attn.c_attn`, ...), so the module path of every parameter is its checkpoint name
//! (GPT-2's `wte`/`wpe` are renamed in `weights::hf`; every other name is shared).

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use super::layers::{gelu, param, Conv1D, Init, LayerNorm};
use crate::config::{Arch, GptConfig};
use crate::kernels::bf16_gemm::PackedB;
use crate::kernels::decode_attention::HostKv;
use crate::kernels::residual_dropout;
use crate::rng::dropout::dropout;

/// Masked multi-head self-attention.
#[derive(Module, Debug)]
pub struct Attention {
    pub c_attn: Conv1D,
    pub c_proj: Conv1D,
    #[module(skip)]
    n_head: usize,
    #[module(skip)]
    attn_pdrop: f64,
    #[module(skip)]
    resid_pdrop: f64,
}

impl Attention {
    fn new(config: &GptConfig, device: &Device) -> Self {
        let d = config.n_embd;
        Self {
            c_attn: Conv1D::new(d, 3 * d, config.initializer_range, device),
            c_proj: Conv1D::new(d, d, config.residual_init_std(), device),
            n_head: config.n_head,
            attn_pdrop: config.attn_pdrop,
            resid_pdrop: config.resid_pdrop,
        }
    }

    /// `x`: [batch, time, width] (the new tokens). Each new token attends to itself and every
    /// token before it. With a cache, keys and values of earlier tokens come from it and those
    /// of the new tokens are appended to it.
    fn forward(&self, x: Tensor<3>, cache: Option<&mut LayerCache>, train: bool) -> Tensor<3> {
        let [batch, time, _] = x.dims();
        match cache {
            // One new token of one sequence on flex (each step of `generate`): attention over
            // the host-side cache, read once (`kernels::decode_attention`).
            Some(cache) if batch == 1 && time == 1 && decode_on_host(&x) => {
                self.forward_decode(x, &mut [cache])
            }
            cache => self.forward_composed(x, cache, train),
        }
    }

    /// The attention of [`Self::forward`] in tensor operations: every backend, every shape.
    fn forward_composed(
        &self,
        x: Tensor<3>,
        cache: Option<&mut LayerCache>,
        train: bool,
    ) -> Tensor<3> {
        let [batch, time, width] = x.dims();
        let head_dim = width / self.n_head;
        let heads = |t: Tensor<3>| {
            t.reshape([batch, time, self.n_head, head_dim])
                .swap_dims(1, 2)
        };
        let mut qkv = self.c_attn.forward(x).chunk(3, 2).into_iter();
        let (q, k, v) = (
            heads(qkv.next().unwrap()),
            heads(qkv.next().unwrap()),
            heads(qkv.next().unwrap()),
        );
        let (k, v) = match cache {
            None => (k, v),
            Some(cache) => cache.append(k, v),
        };
        // Scale by 1/√d, causal mask, softmax and attention dropout: fused on flex, and at
        // inference on a GPU (`kernels::reference_attention` spells it out).
        let past = k.dims()[2] - time;
        let dropout = if train { self.attn_pdrop } else { 0.0 };
        let context = crate::kernels::attention(q, k, v, past, dropout)
            .swap_dims(1, 2)
            .reshape([batch, time, width]);
        // Residual dropout is applied by the block, fused with the residual sum.
        self.c_proj.forward(context)
    }
}

/// The position-wise feed-forward network: width → 4·width → width with GELU between.
#[derive(Module, Debug)]
pub struct Mlp {
    pub c_fc: Conv1D,
    pub c_proj: Conv1D,
    #[module(skip)]
    resid_pdrop: f64,
}

impl Mlp {
    fn new(config: &GptConfig, device: &Device) -> Self {
        let (d, f) = (config.n_embd, config.ffn_width());
        Self {
            c_fc: Conv1D::new(d, f, config.initializer_range, device),
            c_proj: Conv1D::new(f, d, config.residual_init_std(), device),
            resid_pdrop: config.resid_pdrop,
        }
    }

    /// The FFN output before its residual dropout (which the block applies).
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.c_proj.forward(gelu(self.c_fc.forward(x)))
    }
}

/// One Transformer block. GPT-1 puts LayerNorm *after* each residual sum (post-LN):
/// `n = ln_1(x + attn(x))`, `h = ln_2(n + mlp(n))`. GPT-2 puts it at each sub-block's input
/// (pre-LN), leaving the residual stream itself un-normalised:
/// `n = x + attn(ln_1(x))`, `h = n + mlp(ln_2(n))`. The parameters are the same.
#[derive(Module, Debug)]
pub struct Block {
    pub attn: Attention,
    pub ln_1: LayerNorm,
    pub mlp: Mlp,
    pub ln_2: LayerNorm,
    #[module(skip)]
    arch: Arch,
}

impl Block {
    fn new(config: &GptConfig, device: &Device) -> Self {
        let eps = config.layer_norm_epsilon;
        Self {
            attn: Attention::new(config, device),
            ln_1: LayerNorm::new(config.n_embd, eps, device),
            mlp: Mlp::new(config, device),
            ln_2: LayerNorm::new(config.n_embd, eps, device),
            arch: config.arch,
        }
    }

    /// The block's body, the one place the two architectures differ: `attend` is the
    /// attention sub-layer applied to its input (over the whole sequence with an optional
    /// cache in [`Self::forward`], per sequence in [`Self::forward_each`]).
    fn body(
        &self,
        x: Tensor<3>,
        train: bool,
        attend: impl FnOnce(&Attention, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        // `x + dropout(sublayer(…))`, one fused pass on flex (`kernels::residual_dropout`).
        let p = |p: f64| if train { p } else { 0.0 };
        let (p_attn, p_mlp) = (p(self.attn.resid_pdrop), p(self.mlp.resid_pdrop));
        match self.arch {
            Arch::Gpt1 => {
                let a = attend(&self.attn, x.clone());
                let n = self.ln_1.forward(residual_dropout(x, a, p_attn));
                let m = self.mlp.forward(n.clone());
                self.ln_2.forward(residual_dropout(n, m, p_mlp))
            }
            Arch::Gpt2 => {
                let a = attend(&self.attn, self.ln_1.forward(x.clone()));
                let n = residual_dropout(x, a, p_attn);
                let m = self.mlp.forward(self.ln_2.forward(n.clone()));
                residual_dropout(n, m, p_mlp)
            }
        }
    }

    fn forward(&self, x: Tensor<3>, cache: Option<&mut LayerCache>, train: bool) -> Tensor<3> {
        self.body(x, train, |attn, h| attn.forward(h, cache, train))
    }
}

/// The decoder: token and position embeddings, `n_layer` blocks, (GPT-2) a final LayerNorm,
/// and an LM head tied to the token embedding.
#[derive(Module, Debug)]
pub struct Gpt {
    /// [vocab_size + n_special, n_embd]: real tokens first, special tokens appended.
    pub tokens_embed: Param<Tensor<2>>,
    /// [n_positions, n_embd].
    pub positions_embed: Param<Tensor<2>>,
    pub h: Vec<Block>,
    /// GPT-2's final LayerNorm: pre-LN blocks leave the stream un-normalised, so it is
    /// normalised once before the head. `None` for GPT-1, whose blocks end in a LayerNorm.
    /// Declared after `h`: the blocks' weights are drawn first, in the order a seeded GPT-1
    /// initialisation draws them (the seeded fixtures and runs depend on that order).
    pub ln_f: Option<LayerNorm>,
    #[module(skip)]
    config: GptConfig,
    /// The LM head's products in bf16 ([`Self::with_bf16_products`]); never stored.
    #[module(skip)]
    bf16_head: bool,
    /// The transposed output matrix [n_embd, vocab_size] rounded to bf16 and packed, for
    /// inference ([`Self::with_bf16_weights`]); never stored.
    #[module(skip)]
    packed_head: Option<std::sync::Arc<crate::kernels::bf16_gemm::PackedB>>,
}

/// A block's linear layers by their paths within it, in the order of
/// [`Block::linear_layers_mut`].
const LINEAR_LAYERS: [&str; 4] = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];

impl Block {
    /// The layers of [`LINEAR_LAYERS`], in its order.
    fn linear_layers_mut(&mut self) -> [&mut Conv1D; 4] {
        [
            &mut self.attn.c_attn,
            &mut self.attn.c_proj,
            &mut self.mlp.c_fc,
            &mut self.mlp.c_proj,
        ]
    }
}

/// Why a released linear weight cannot be read ([`Gpt::into_bf16_weights`]).
pub const RELEASED_FOR_BF16: &str = "this model was loaded for bf16 inference, which keeps only \
    the bf16 copy of the linear layers' weights: load it again (without --precision bf16) to \
    save or train it";

/// `t` (or its transpose) rounded to bf16 and packed for [`crate::kernels::bf16_gemm`]'s
/// products.
fn pack_bf16(t: Tensor<2>, transpose: bool) -> std::sync::Arc<PackedB> {
    use crate::host::HostValues;
    let [rows, cols] = t.dims();
    pack_host_bf16(&t.host_values(), rows, cols, transpose)
}

/// A [rows, cols] row-major matrix on the host (or its transpose) rounded to bf16 and packed.
pub fn pack_host_bf16(
    values: &[f32],
    rows: usize,
    cols: usize,
    transpose: bool,
) -> std::sync::Arc<PackedB> {
    use crate::kernels::bf16_gemm::{pack, Strided};
    assert_eq!(values.len(), rows * cols, "a {rows}×{cols} matrix");
    let view = Strided::row_major(values, rows, cols);
    std::sync::Arc::new(pack(if transpose { view.t() } else { view }))
}

/// Keys and values of one layer for the tokens seen so far: as tensors [batch, heads, past,
/// head_dim] after a prompt's forward pass (and on every backend but flex), or, once one-token
/// decoding starts on flex, one sequence's rows on the host ([`HostKv`]), appended in place.
#[derive(Debug, Default, Clone)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
    host: Option<HostKv>,
}

/// Whether one-token attention runs on the host-side cache: on flex with the fused kernels.
fn decode_on_host(x: &Tensor<3>) -> bool {
    crate::kernels::fused_on(&x.device())
}

impl LayerCache {
    /// The host-side cache of one sequence (made from the tensors of a prefill on first use).
    fn host(&mut self, heads: usize, head_dim: usize) -> &mut HostKv {
        use crate::host::HostValues;
        self.host.get_or_insert_with(|| match self.kv.take() {
            None => HostKv::from_rows(heads, head_dim, 0, &[], &[]),
            Some((k, v)) => {
                let [batch, _, len, _] = k.dims();
                assert_eq!(batch, 1, "a host cache holds one sequence");
                HostKv::from_rows(heads, head_dim, len, &k.host_values(), &v.host_values())
            }
        })
    }

    /// Appends the new tokens' keys and values; returns those of every token so far.
    fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        if let Some(host) = self.host.take() {
            // A multi-token step after host decoding: back to tensors (one copy).
            let [_, heads, _, head_dim] = k.dims();
            let (hk, hv) = host.rows();
            let shape = [1, heads, host.len(), head_dim];
            let tensor = |rows: Vec<f32>| {
                Tensor::<4>::from_data(burn::tensor::TensorData::new(rows, shape), &k.device())
            };
            self.kv = Some((tensor(hk), tensor(hv)));
        }
        let (k, v) = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// The key/value cache of a whole model for incremental decoding.
#[derive(Debug, Default, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    /// Tokens cached so far.
    pub len: usize,
}

impl KvCache {
    /// The cache of a right-padded batch, cut into one cache per sequence holding its first
    /// `lens[b]` tokens. Causal attention never lets a real token see the padding after it, so
    /// each sequence's cache is the one it would have had alone (batched prefill).
    pub fn split_rows(self, lens: &[usize]) -> Vec<KvCache> {
        lens.iter()
            .enumerate()
            .map(|(b, &len)| {
                assert!(len <= self.len, "a sequence longer than the cache");
                KvCache {
                    layers: self
                        .layers
                        .iter()
                        .map(|layer| LayerCache {
                            kv: layer.kv.as_ref().map(|(k, v)| {
                                (
                                    k.clone().narrow(0, b, 1).narrow(2, 0, len),
                                    v.clone().narrow(0, b, 1).narrow(2, 0, len),
                                )
                            }),
                            host: layer.host.as_ref().map(|host| {
                                assert_eq!(lens.len(), 1, "a host cache holds one sequence");
                                host.truncated(len)
                            }),
                        })
                        .collect(),
                    len,
                }
            })
            .collect()
    }
}

/// What one forward pass yields: the final hidden states, for the LM head and the fine-tuning
/// heads alike.
pub struct GptOutput {
    /// [batch, time, n_embd]: the last block's output (after `ln_f` for GPT-2).
    pub hidden: Tensor<3>,
}

impl Gpt {
    /// A freshly initialised model: N(0, initializer_range) weights and embeddings, zero biases,
    /// unit LayerNorm gains, as in the release (GPT-2: the residual projections `c_proj` with
    /// std [`GptConfig::residual_init_std`]). Seed the device first for a reproducible draw.
    pub fn new(config: &GptConfig, device: &Device) -> Self {
        super::layers::initialize_now(Self::new_lazy(config, device))
    }

    /// A model whose parameters are not allocated yet: the starting point for loading weights.
    pub fn new_lazy(config: &GptConfig, device: &Device) -> Self {
        let std = config.initializer_range;
        Self {
            tokens_embed: param(
                [config.embedding_rows(), config.n_embd],
                Init::Normal(std),
                device,
            ),
            positions_embed: param(
                [config.n_positions, config.n_embd],
                Init::Normal(std),
                device,
            ),
            h: (0..config.n_layer)
                .map(|_| Block::new(config, device))
                .collect(),
            ln_f: match config.arch {
                Arch::Gpt1 => None,
                Arch::Gpt2 => Some(LayerNorm::new(
                    config.n_embd,
                    config.layer_norm_epsilon,
                    device,
                )),
            },
            config: config.clone(),
            bf16_head: false,
            packed_head: None,
        }
    }

    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// The same model with every linear layer and the LM head's loss multiplying in bf16 (fp32 sums, fp32 parameters
    /// and activations), as bf16 autocast does; the parameters are shared, so gradients reach
    /// this model's.
    pub fn with_bf16_products(&self) -> Gpt {
        let mut model = self.clone();
        model.bf16_head = true;
        for layer in model.linear_layers_mut() {
            layer.bf16_products = true;
        }
        model
    }

    /// Every block's four linear layers.
    fn linear_layers_mut(&mut self) -> impl Iterator<Item = &mut Conv1D> {
        self.h.iter_mut().flat_map(Block::linear_layers_mut)
    }

    /// The same model for bf16 inference (`--precision bf16` on `score`, `generate`, `serve`,
    /// `lm-eval`, `zeroshot`): every linear layer's weight and the tied output matrix rounded
    /// to bf16 once and packed for [`crate::kernels::bf16_gemm`], so that every product reads
    /// bf16 weights (half the bytes of fp32, which is what bounds decoding) and sums in fp32.
    /// Embeddings, LayerNorms, attention and softmax stay fp32, as under bf16 autocast.
    /// Gradients do not flow through the packed weights: inference only. Needs a CPU with
    /// AVX512-BF16, or AVX2 and FMA (the caller checks [`crate::kernels::bf16_weights_on`]).
    pub fn with_bf16_weights(&self) -> Gpt {
        let mut model = self.clone();
        model.packed_head = Some(pack_bf16(self.output_weight(), true));
        for layer in model.linear_layers_mut() {
            layer.packed_bf16 = Some(pack_bf16(layer.weight.val(), false));
        }
        model
    }

    /// [`Self::with_bf16_weights`] for a model used only through its packed weights (what
    /// `--precision bf16` loads): the fp32 copies of the linear layers' weights, about two
    /// thirds of a GPT's parameters, are let go, each as soon as it is packed, so that the
    /// model holds about half the bytes of its fp32 self instead of one and a half times.
    /// Their values cannot be read afterwards: saving or training such a model panics, saying
    /// why. `with_head`: pack the output matrix too (a decoder that only feeds a classifier
    /// head never reads it).
    pub fn into_bf16_weights(mut self, with_head: bool) -> Gpt {
        if with_head {
            self.packed_head = Some(pack_bf16(self.output_weight(), true));
        }
        let device = self.device();
        for layer in self.linear_layers_mut() {
            layer.packed_bf16 = Some(pack_bf16(layer.weight.val(), false));
            layer.weight = super::layers::released(
                layer.weight.lazy_shape().dims(),
                RELEASED_FOR_BF16,
                &device,
            );
        }
        self
    }

    /// Whether `name` (a checkpoint name) is a linear layer's weight: what bf16 inference packs.
    pub fn is_linear_weight(name: &str) -> bool {
        name.strip_prefix("h.")
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(_, rest)| rest.strip_suffix(".weight"))
            .is_some_and(|layer| LINEAR_LAYERS.contains(&layer))
    }

    /// A model whose linear weights were released at import, given their packed copies by
    /// checkpoint name (`weights::hf::load_bf16`), with the output matrix packed too: the
    /// model [`Self::into_bf16_weights`] makes, without ever holding the fp32 weights.
    pub fn with_packed_weights(
        mut self,
        mut packed: std::collections::BTreeMap<String, std::sync::Arc<PackedB>>,
    ) -> Gpt {
        self.packed_head = Some(pack_bf16(self.output_weight(), true));
        for (i, block) in self.h.iter_mut().enumerate() {
            for (name, layer) in LINEAR_LAYERS.iter().zip(block.linear_layers_mut()) {
                let key = format!("h.{i}.{name}.weight");
                layer.packed_bf16 = Some(
                    packed
                        .remove(&key)
                        .unwrap_or_else(|| panic!("no packed weight for {key}")),
                );
            }
        }
        self
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.tokens_embed.val().device()
    }

    /// Final hidden states for `ids` [batch, time] (time ≤ n_positions). Dropout is active only
    /// when `train` is true.
    pub fn forward(&self, ids: Tensor<2, Int>, train: bool) -> GptOutput {
        self.forward_impl(ids, None, train)
    }

    /// The blocks alone, over input embeddings `x` [batch, time, n_embd] that the caller made
    /// (hook for `--fidelity release`: the release embeds with a dropped copy of its
    /// whole embedding matrix, see `crate::finetune::release`).
    /// GPT-2's `ln_f` is applied here too, as in every forward path ([`Self::output`]).
    pub fn forward_embedded(&self, x: Tensor<3>, train: bool) -> GptOutput {
        let mut x = x;
        for block in &self.h {
            x = block.forward(x, None, train);
        }
        self.output(x)
    }

    /// The last block's output as the model's hidden states: GPT-2 normalises it with `ln_f`
    /// (a path that forgets it gives a GPT-2 whose head reads unnormalised states, with no
    /// error); GPT-1's blocks already end in a LayerNorm. Every forward path ends here.
    fn output(&self, x: Tensor<3>) -> GptOutput {
        let hidden = match &self.ln_f {
            Some(ln_f) => ln_f.forward(x),
            None => x,
        };
        GptOutput { hidden }
    }

    /// Eval-mode forward over new tokens `ids` that continue the sequence held in `cache`
    /// (empty at first); their keys and values are added to it. Used for generation, where each
    /// step then costs one token's work instead of the whole prefix's.
    pub fn forward_cached(&self, ids: Tensor<2, Int>, cache: &mut KvCache) -> GptOutput {
        if cache.layers.is_empty() {
            cache.layers = (0..self.h.len()).map(|_| LayerCache::default()).collect();
        }
        self.forward_impl(ids, Some(cache), false)
    }

    fn forward_impl(
        &self,
        ids: Tensor<2, Int>,
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> GptOutput {
        let time = ids.dims()[1];
        let past = cache.as_ref().map_or(0, |c| c.len);
        assert!(
            past + time <= self.config.n_positions,
            "sequence of {} tokens exceeds the context of {} positions",
            past + time,
            self.config.n_positions
        );
        let tokens = burn::tensor::module::embedding(self.tokens_embed.val(), ids);
        let positions = self
            .positions_embed
            .val()
            .narrow(0, past, time)
            .unsqueeze::<3>();
        let mut x = dropout(tokens + positions, self.config.embd_pdrop, train);
        for (i, block) in self.h.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = block.forward(x, layer_cache, train);
        }
        if let Some(cache) = cache {
            cache.len += time;
        }
        self.output(x)
    }

    /// Next-token logits over the real tokens only, [batch, time, vocab_size]: the hidden states
    /// times the transposed token embedding (the tied output layer). Special rows are embedded
    /// but never predicted.
    pub fn lm_logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [batch, time, width] = hidden.dims();
        let vocab = self.config.vocab_size;
        let hidden = hidden.reshape([batch * time, width]);
        let logits = match &self.packed_head {
            Some(head) => crate::kernels::linear_packed_bf16(hidden, head, None),
            None => hidden.matmul(self.output_weight().transpose()),
        };
        logits.reshape([batch, time, vocab])
    }

    /// The tied output matrix: the token embedding's real-token rows, [vocab_size, n_embd].
    pub fn output_weight(&self) -> Tensor<2> {
        self.tokens_embed.val().narrow(0, 0, self.config.vocab_size)
    }

    /// The LM loss `Σ w·(−log p(target))` of `hidden` [batch, time, width] predicting `targets`
    /// [batch, time] (in 0..vocab_size), with constant `weights` [batch, time]: 1/(batch·time)
    /// everywhere for the mean loss L1, 0 where a position does not count. Fused on flex (one
    /// pass) and on the GPU backends (chunks of rows), never holding the [batch·time, vocab]
    /// logits ([`crate::kernels`]).
    pub fn lm_loss_weighted(
        &self,
        hidden: Tensor<3>,
        targets: Tensor<2, Int>,
        weights: Tensor<2>,
    ) -> Tensor<1> {
        let [batch, time, width] = hidden.dims();
        let loss = if self.bf16_head {
            crate::kernels::linear_cross_entropy_bf16
        } else {
            crate::kernels::linear_cross_entropy
        };
        loss(
            hidden.reshape([batch * time, width]),
            self.output_weight(),
            targets.reshape([batch * time]),
            weights.reshape([batch * time]),
        )
    }

    /// The mean next-token loss L1 of `hidden` [batch, time, width] predicting `targets`.
    pub fn lm_loss_mean(&self, hidden: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
        let [batch, time] = targets.dims();
        let weights = Tensor::full(
            [batch, time],
            1.0 / (batch * time) as f64,
            &targets.device(),
        );
        self.lm_loss_weighted(hidden, targets, weights)
    }

    /// The mean next-token loss of `ids` [batch, time] from their hidden states: position t
    /// predicts `ids[t+1]` (eq. 1 of the paper, averaged).
    pub fn next_token_loss(&self, hidden: Tensor<3>, ids: Tensor<2, Int>) -> Tensor<1> {
        let time = hidden.dims()[1];
        self.lm_loss_mean(hidden.narrow(1, 0, time - 1), ids.narrow(1, 1, time - 1))
    }

    /// `log p(targets)` at each position, [batch, time], without gradient (scoring).
    pub fn lm_target_logprobs(&self, hidden: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
        let [batch, time, width] = hidden.dims();
        let (hidden, targets) = (
            hidden.reshape([batch * time, width]),
            targets.reshape([batch * time]),
        );
        match &self.packed_head {
            Some(head) => crate::kernels::target_logprobs_packed_bf16(hidden, head, targets),
            None => crate::kernels::linear_target_logprobs(hidden, self.output_weight(), targets),
        }
        .reshape([batch, time])
    }

    /// Log-probability of each next token of `ids` [batch, time]: position t scores `ids[t+1]`
    /// from the hidden state at t; result [batch, time − 1].
    pub fn next_token_logprobs(&self, hidden: Tensor<3>, ids: Tensor<2, Int>) -> Tensor<2> {
        let time = hidden.dims()[1];
        self.lm_target_logprobs(hidden.narrow(1, 0, time - 1), ids.narrow(1, 1, time - 1))
    }
}

// Batched decoding for serving: one new token for each of several independent sequences, each
// with its own key/value cache (continuous batching in `crate::serve`). The dense layers (QKV,
// projections, MLP, and the LM head the caller applies) run once over all sequences as a
// [B, 1, width] batch, which is where batching pays: the weights are read once per step instead
// of once per sequence. Attention runs per sequence, since each attends to its own cache of its
// own length.

impl Attention {
    /// `x`: [B, 1, width], the new token of each sequence; `caches[b]` is sequence b's cache for
    /// this layer, which gets the new key and value appended.
    fn forward_each(&self, x: Tensor<3>, caches: &mut [&mut LayerCache]) -> Tensor<3> {
        let [batch, time, width] = x.dims();
        assert_eq!(time, 1, "one new token per sequence");
        assert_eq!(batch, caches.len(), "one cache per sequence");
        if decode_on_host(&x) {
            return self.forward_decode(x, caches);
        }
        let head_dim = width / self.n_head;
        let heads = |t: Tensor<3>| t.reshape([1, 1, self.n_head, head_dim]).swap_dims(1, 2);
        let qkv = self.c_attn.forward(x);
        let contexts: Vec<Tensor<3>> = caches
            .iter_mut()
            .enumerate()
            .map(|(b, cache)| {
                let mut parts = qkv.clone().narrow(0, b, 1).chunk(3, 2).into_iter();
                let (q, k, v) = (
                    heads(parts.next().unwrap()),
                    heads(parts.next().unwrap()),
                    heads(parts.next().unwrap()),
                );
                let (k, v) = cache.append(k, v);
                let past = k.dims()[2] - 1;
                crate::kernels::attention(q, k, v, past, 0.0)
                    .swap_dims(1, 2)
                    .reshape([1, 1, width])
            })
            .collect();
        self.c_proj.forward(Tensor::cat(contexts, 0))
    }
}

impl Attention {
    /// One new token for each of B sequences, `x` [B, 1, width], on flex: the QKV and output
    /// projections over the batch, attention per sequence over its host-side cache
    /// ([`HostKv::append_and_attend`], which appends the token's key and value).
    fn forward_decode(&self, x: Tensor<3>, caches: &mut [&mut LayerCache]) -> Tensor<3> {
        use crate::host::HostValues;
        let [batch, _, width] = x.dims();
        let device = x.device();
        let head_dim = width / self.n_head;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let qkv = self.c_attn.forward(x).host_values();
        let mut context = vec![0f32; batch * width];
        for ((row, out), cache) in qkv
            .chunks(3 * width)
            .zip(context.chunks_mut(width))
            .zip(caches.iter_mut())
        {
            let (q, kv) = row.split_at(width);
            let (k, v) = kv.split_at(width);
            cache
                .host(self.n_head, head_dim)
                .append_and_attend(q, k, v, scale, out);
        }
        let context = burn::tensor::TensorData::new(context, [batch, 1, width]);
        self.c_proj.forward(Tensor::from_data(context, &device))
    }
}

impl Block {
    /// [`Block::forward`] in eval mode for one new token per sequence, attention per sequence.
    fn forward_each(&self, x: Tensor<3>, caches: &mut [&mut LayerCache]) -> Tensor<3> {
        self.body(x, false, |attn, h| attn.forward_each(h, caches))
    }
}

impl Gpt {
    /// Eval-mode forward of one new token `ids[b]` for each of B independent sequences, sequence
    /// b continuing the tokens held in `caches[b]` (each cache of its own length, filled by
    /// [`Gpt::forward_cached`] for the prompt). Returns the hidden states [B, 1, n_embd]; each
    /// sequence gets what `forward_cached` would give it alone, up to the rounding of a
    /// different GEMM shape.
    pub fn forward_decode_each(&self, ids: &[u32], caches: &mut [&mut KvCache]) -> GptOutput {
        assert_eq!(ids.len(), caches.len(), "one cache per sequence");
        let batch = ids.len();
        for cache in caches.iter_mut() {
            assert!(
                cache.len < self.config.n_positions,
                "sequence of {} tokens exceeds the context of {} positions",
                cache.len + 1,
                self.config.n_positions
            );
            if cache.layers.is_empty() {
                cache.layers = (0..self.h.len()).map(|_| LayerCache::default()).collect();
            }
        }
        let device = self.tokens_embed.val().device();
        let column = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(burn::tensor::TensorData::new(values, [batch, 1]), &device)
        };
        let tokens = burn::tensor::module::embedding(
            self.tokens_embed.val(),
            column(ids.iter().map(|&t| t as i64).collect()),
        );
        // Each sequence's new token sits at its own position: the length of its cache.
        let positions = burn::tensor::module::embedding(
            self.positions_embed.val(),
            column(caches.iter().map(|c| c.len as i64).collect()),
        );
        let mut x = tokens + positions;
        for (i, block) in self.h.iter().enumerate() {
            let mut layer: Vec<&mut LayerCache> =
                caches.iter_mut().map(|c| &mut c.layers[i]).collect();
            x = block.forward_each(x, &mut layer);
        }
        for cache in caches.iter_mut() {
            cache.len += 1;
        }
        self.output(x)
    }
}
