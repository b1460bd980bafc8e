//! Choosing where tensors live: the CPU backends (`flex`, the default, and `ndarray`, kept for
//! cross-checks) and CUDA when built with the `cuda` feature.

use burn::tensor::Device;

pub const BACKENDS: &[&str] = &["flex", "ndarray", "cuda"];

/// The device for a backend name; errors name what this build offers.
pub fn device(backend: &str) -> Result<Device, String> {
    match backend {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        // burn marks NdArray deprecated; it stays here as a second opinion
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        other => Err(format!(
            "backend {other:?} is not available in this build (built with: {})",
            compiled().join(", ")
        )),
    }
}

/// The backends this binary was built with.
pub fn compiled() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .copied()
        .filter(|b| match *b {
            "flex" => cfg!(feature = "flex"),
            "ndarray" => cfg!(feature = "ndarray"),
            "cuda" => cfg!(feature = "cuda"),
            _ => false,
        })
        .collect()
}
