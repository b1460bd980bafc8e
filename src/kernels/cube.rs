//! Fused kernels for the GPU backends (every cubecl runtime: wgpu, Vulkan, CUDA), as a burn
//! backend extension like [`super::FusedOps`] is for flex.
//!
//! burn 0.22 reaches its flash-attention kernel (burn-cubecl `kernel::attention`) only through
//! autotune: without burn's `autotune` feature `module::attention` runs the composed fallback,
//! and with it the choice is a benchmark's. Here the flash kernel with unit inner matmuls (it
//! needs no tensor cores, so it runs on every cubecl runtime, lavapipe included) is called
//! directly, so that it is the kernel that runs and the kernel that is tested.

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend};
use burn::tensor::ops::AttentionModuleOptions;

/// The operations with a fused GPU kernel.
#[backend_extension(Cube: cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda")))]
pub trait GpuOps: Backend {
    /// `softmax(q·kᵀ/√d [causal mask])·v` for q [batch, heads, queries, d] and k, v [batch,
    /// heads, keys, d], without the scores in memory. Forward only (inference).
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        causal: bool,
    ) -> FloatTensor<Self>;
}

impl GpuOps for burn::backend::Cube {
    fn flash_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        causal: bool,
    ) -> FloatTensor<Self> {
        use burn_cubecl::kernel::attention::{attention, AttentionStrategy};
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: causal,
        };
        // A shape the flash kernel's tiling cannot launch falls back to burn's composed
        // attention inside `attention`; any other failure is a bug worth stopping on.
        attention(q, k, v, None, None, options, AttentionStrategy::FlashUnit)
            .unwrap_or_else(|e| panic!("flash attention: {e:?}"))
    }
}
