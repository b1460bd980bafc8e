//! Choosing where tensors live: the CPU backends (`flex`, the default, and `ndarray`, kept for
//! cross-checks), GPUs through wgpu (`wgpu`: WGSL kernels on any graphics API; `vulkan`: SPIR-V
//! kernels on Vulkan), and CUDA when built with the `cuda` feature (docs/gpu.md).
//!
//! Names: `flex`, `ndarray`, `cuda` / `cuda:N`, and for each of `wgpu` and `vulkan`: the bare
//! name (wgpu's pick: a high-power GPU first), `:N` (the N-th discrete GPU) and `:cpu` (a CPU
//! driver such as Mesa's lavapipe: how the GPU code path is exercised on a machine without a
//! GPU).

use burn::tensor::Device;

pub const BACKENDS: &[&str] = &["flex", "ndarray", "wgpu", "vulkan", "cuda"];

/// The device for a backend name; errors name what this build offers.
pub fn device(backend: &str) -> Result<Device, String> {
    let (name, index) = match backend.split_once(':') {
        Some((name, index)) => (name, Some(index)),
        None => (backend, None),
    };
    match (name, index) {
        #[cfg(feature = "flex")]
        ("flex", None) => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        // burn marks NdArray deprecated; it stays here as a second opinion
        ("ndarray", None) => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        ("wgpu", index) => wgpu_device(backend, index, burn::tensor::wgpu::WgpuBackend::Auto),
        #[cfg(feature = "vulkan")]
        ("vulkan", index) => wgpu_device(backend, index, burn::tensor::wgpu::WgpuBackend::Vulkan),
        #[cfg(feature = "cuda")]
        ("cuda", index) => {
            // cubecl loads the driver on first use and panics without it: asked here first, so
            // that a machine without CUDA gets an error.
            // SAFETY: only tries to open the library, calling nothing in it.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return Err(format!(
                    "backend {backend:?}: the CUDA driver (libcuda.so.1) is not on the library \
                     path (LD_LIBRARY_PATH); see docs/gpu.md"
                ));
            }
            // SAFETY: as above.
            if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                return Err(format!(
                    "backend {backend:?}: NVRTC (libnvrtc.so), which compiles genpt's CUDA \
                     kernels at run time, is not on the library path (LD_LIBRARY_PATH); see \
                     docs/gpu.md"
                ));
            }
            Ok(Device::cuda(match index {
                None => 0,
                Some(n) => parse_index(backend, n)?,
            }))
        }
        _ => Err(format!(
            "backend {backend:?} is not available in this build (built with: {})",
            compiled().join(", ")
        )),
    }
}

/// Which adapter a wgpu name picks: none given, wgpu's choice; `cpu`, a CPU driver; `N`, the N-th
/// discrete GPU.
#[cfg(any(feature = "wgpu", feature = "vulkan"))]
fn wgpu_kind(backend: &str, index: Option<&str>) -> Result<burn::tensor::DeviceKind, String> {
    use burn::tensor::DeviceKind;
    Ok(match index {
        None => DeviceKind::DefaultDevice,
        Some("cpu") => DeviceKind::Cpu,
        Some(n) => DeviceKind::DiscreteGpu(parse_index(backend, n)?),
    })
}

/// The wgpu device `backend` names, on graphics API `api`, brought up now, so that a missing
/// adapter is an error naming the adapters there are rather than a panic at the first tensor.
#[cfg(any(feature = "wgpu", feature = "vulkan"))]
fn wgpu_device(
    backend: &str,
    index: Option<&str>,
    api: burn::tensor::wgpu::WgpuBackend,
) -> Result<Device, String> {
    use burn::tensor::wgpu::WgpuInitError;
    static UP: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let kind = wgpu_kind(backend, index)?;
    let mut up = UP.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !up.iter().any(|b| b == backend) {
        match Device::wgpu_options()
            .device_kind(kind.clone())
            .graphics_api(api)
            .init()
        {
            // Registration fails when a tensor brought the device up first: it is there.
            Ok(_) | Err(WgpuInitError::Registration { .. }) => up.push(backend.to_string()),
            Err(e) => return Err(format!("backend {backend:?}: {e}")),
        }
    }
    Ok(match api {
        burn::tensor::wgpu::WgpuBackend::Auto => Device::wgpu(kind),
        #[cfg(feature = "vulkan")]
        burn::tensor::wgpu::WgpuBackend::Vulkan => Device::vulkan(kind),
        other => unreachable!("genpt names no wgpu API {other:?}"),
    })
}

#[allow(dead_code)] // used by the GPU backends only
fn parse_index(backend: &str, index: &str) -> Result<usize, String> {
    index
        .parse()
        .map_err(|_| format!("backend {backend:?}: expected a device number after ':'"))
}

/// The backends this binary was built with.
pub fn compiled() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .copied()
        .filter(|b| match *b {
            "flex" => cfg!(feature = "flex"),
            "ndarray" => cfg!(feature = "ndarray"),
            "wgpu" => cfg!(feature = "wgpu"),
            "vulkan" => cfg!(feature = "vulkan"),
            "cuda" => cfg!(feature = "cuda"),
            _ => false,
        })
        .collect()
}

/// Whether `backend` names a GPU backend (whose devices may be absent at run time, and whose
/// numbers are not the CPU backends' to the last bit).
pub fn is_gpu(backend: &str) -> bool {
    matches!(
        backend.split_once(':').map_or(backend, |(name, _)| name),
        "wgpu" | "vulkan" | "cuda"
    )
}

/// The CPU device this build computes on when no GPU is named (flex, or ndarray without it):
/// where a GPU run draws its random initial weights ([`crate::rng::seed`]).
pub fn host() -> Device {
    #[cfg(feature = "flex")]
    return Device::flex();
    #[cfg(all(not(feature = "flex"), feature = "ndarray"))]
    #[allow(deprecated)]
    return Device::ndarray();
    #[cfg(not(any(feature = "flex", feature = "ndarray")))]
    compile_error!("genpt needs a CPU backend: the `flex` or `ndarray` feature");
}

/// The value of a one-element tensor, read back from its device. A GPU reports here what failed
/// while computing it (a buffer beyond the device's largest, its memory exhausted): an error
/// naming that and what to change, where burn's `into_scalar` panics.
pub fn read_scalar(t: burn::tensor::Tensor<1>) -> anyhow::Result<f32> {
    t.try_into_scalar::<f32>().map_err(|e| {
        anyhow::anyhow!(
            "the device failed computing this update: {e:?}\n(a GPU has a largest buffer and a \
             memory size: fewer sequences per forward pass make the same update from smaller \
             tensors: pre-training's train.batch_size with a larger train.grad_accum, \
             fine-tuning's --micro-batch; docs/gpu.md)"
        )
    })
}

/// Whether `device` is one of the CPU backends' (flex, ndarray), whose tensors live in host
/// memory.
pub fn on_cpu(device: &Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.as_dispatch().clone().inner() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_errors() {
        assert!(device("flex").is_ok());
        let err = device("metal").unwrap_err();
        assert!(err.contains("\"metal\"") && err.contains("flex"), "{err}");
        // A CPU backend takes no device number.
        assert!(device("flex:1").is_err());
        assert!(is_gpu("vulkan:1") && is_gpu("wgpu:cpu") && is_gpu("cuda") && !is_gpu("flex"));
        #[cfg(feature = "wgpu")]
        assert!(device("wgpu:x").unwrap_err().contains("device number"));
        #[cfg(not(feature = "wgpu"))]
        assert!(device("wgpu").unwrap_err().contains("not available"));
        #[cfg(feature = "vulkan")]
        assert!(device("vulkan:x").unwrap_err().contains("device number"));
        #[cfg(not(feature = "vulkan"))]
        assert!(device("vulkan").unwrap_err().contains("not available"));
    }
}
