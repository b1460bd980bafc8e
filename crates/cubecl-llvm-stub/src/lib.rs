//! genpt's stand-in for `cubecl-llvm` 0.11.3, put in place by `[patch.crates-io]` in the root
//! `Cargo.toml`.
//!
//! `cubecl-cuda` always links `cubecl-llvm`, whichever of its two compilers is selected, and the
//! real crate's build script downloads an LLVM 23 bundle, so `--features cuda` cannot build
//! offline with it. genpt compiles CUDA kernels through cubecl's C++ route instead (cubecl-cuda's
//! `cpp` feature, turned on by genpt's `cuda` feature), which NVRTC compiles at run time. That
//! route never reaches LLVM, so this crate only reproduces the names cubecl-cuda refers to:
//!
//! - [`nvptx::ptx_version::PtxVersion`], with the real `for_driver`, because cubecl-cuda fills
//!   its compilation options (and the LLVM cache key) from it whichever compiler runs;
//! - [`shared::lowered_features::restrict_features`], called only when LLVM is the default
//!   compiler, here a no-op;
//! - [`PlironCompiler`] and its types, whose `compile` returns an error saying the LLVM compiler
//!   was left out of this build.
//!
//! Nothing else of the real crate is here: cubecl-cpu and cubecl-hip, which use more of it, do
//! not build against this stub.

#[cfg(not(feature = "nvptx"))]
compile_error!(
    "genpt's cubecl-llvm stub (crates/cubecl-llvm-stub) only provides what cubecl-cuda uses, \
     with the `nvptx` feature: cubecl-cpu and cubecl-hip need the real crate"
);

use core::fmt;

use cubecl_core::environment::backtrace::BackTrace;
use cubecl_core::ir::amd::GfxArch;
use cubecl_core::ir::attributes::BufferIOAttr;
use cubecl_core::ir::nvidia::SmArch;
use cubecl_core::prelude::KernelDefinition;
use cubecl_core::{CompilationError, Compiler};

use nvptx::ptx_version::PtxVersion;

pub mod nvptx {
    //! NVPTX target.

    pub mod ptx_version {
        //! The PTX ISA version a CUDA driver loads.

        use core::fmt;

        /// A PTX ISA version, written as LLVM's NVPTX target feature writes it: 8.7 is `87`,
        /// displayed as `ptx87`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct PtxVersion(u32);

        impl PtxVersion {
            /// The newest PTX version a driver of CUDA `driver` loads, `driver` being what
            /// `cuDriverGetVersion` reports (12.8 is `12080`); `None` before CUDA 10.0.
            ///
            /// Each CUDA release reads the PTX version it introduced and every older one. The
            /// answer stops at 9.3, the newest the real crate's LLVM writes, which newer drivers
            /// still load.
            pub fn for_driver(driver: i32) -> Option<Self> {
                let driver = u32::try_from(driver).ok()?;
                let (major, minor) = (driver / 1000, driver % 1000 / 10);
                let ptx = match (major, minor) {
                    (14.., _) | (13, 3..) => 93,
                    // CUDA 13.0 to 13.2: PTX 9.0 to 9.2.
                    (13, minor) => 90 + minor,
                    (12, 9..) => 88,
                    (12, 8) => 87,
                    // 12.6 and 12.7 brought no new PTX version.
                    (12, 5..=7) => 85,
                    // CUDA 12.0 to 12.4: PTX 8.0 to 8.4.
                    (12, minor) => 80 + minor,
                    (11, 8..) => 78,
                    // CUDA 11.0 to 11.7: PTX 7.0 to 7.7.
                    (11, minor) => 70 + minor,
                    (10, 2..) => 65,
                    // CUDA 10.0 and 10.1: PTX 6.3 and 6.4.
                    (10, minor) => 63 + minor,
                    _ => return None,
                };
                Some(Self(ptx))
            }
        }

        impl fmt::Display for PtxVersion {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "ptx{}", self.0)
            }
        }

        #[cfg(test)]
        mod tests {
            use super::PtxVersion;

            #[test]
            fn each_driver_gets_the_newest_ptx_it_loads() {
                let ptx = |driver| PtxVersion::for_driver(driver).map(|v| v.to_string());
                assert_eq!(ptx(12080).as_deref(), Some("ptx87"));
                assert_eq!(ptx(12060).as_deref(), Some("ptx85"));
                assert_eq!(ptx(12040).as_deref(), Some("ptx84"));
                assert_eq!(ptx(11080).as_deref(), Some("ptx78"));
                assert_eq!(ptx(10010).as_deref(), Some("ptx64"));
                assert_eq!(ptx(13020).as_deref(), Some("ptx92"));
                assert_eq!(ptx(13050).as_deref(), Some("ptx93"));
                assert_eq!(ptx(9020), None);
            }
        }
    }
}

pub mod shared {
    //! Code shared by the GPU targets.

    pub mod lowered_features {
        //! What a device advertises, narrowed to what the LLVM compiler lowers.

        use cubecl_core::ir::DeviceProperties;

        /// The GPU target whose features are narrowed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum GpuTarget {
            Nvptx,
        }

        /// Leaves `props` as they are. cubecl-cuda calls this only when the LLVM compiler is its
        /// default, which genpt's `cpp` feature rules out; with the C++ compiler, everything the
        /// device advertises is what that compiler handles.
        pub fn restrict_features(_props: &mut DeviceProperties, _target: GpuTarget) {}
    }
}

/// The LLVM compilation targets; only NVPTX is named by cubecl-cuda.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlvmTarget {
    Nvptx,
}

/// The LLVM compiler, with no LLVM behind it: [`Compiler::compile`] always fails.
#[derive(Clone, Debug)]
pub struct PlironCompiler {
    pub target: LlvmTarget,
}

/// The LLVM compiler's options: the fields cubecl-cuda sets (it fills in the rest with
/// `..Default::default()`).
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    /// AMDGPU architecture; `None` for NVPTX.
    pub arch: Option<GfxArch>,
    /// NVPTX architecture.
    pub sm_arch: Option<SmArch>,
    /// PTX version to emit.
    pub ptx_version: Option<PtxVersion>,
    /// Whether scalars and metadata are passed in the kernel parameter block.
    pub grid_constants: bool,
}

/// A compiled PTX module. Never built here, since compiling fails, but cubecl-cuda reads these
/// fields.
#[derive(Clone, Debug)]
pub struct NvptxModule {
    /// NUL-terminated PTX assembly.
    pub ptx: Vec<core::ffi::c_char>,
    /// The module's IR, for logging.
    pub ir: String,
    /// Shared memory each launch reserves, in bytes.
    pub shared_memory_size: usize,
    /// How the kernel uses each buffer, in binding order.
    pub io: Vec<BufferIOAttr>,
}

/// What the LLVM compiler produces. `non_exhaustive` as the real one has more variants, so the
/// catch-all arm cubecl-cuda matches it with stays meaningful.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PlironArtifact {
    NvptxCode(NvptxModule),
}

impl fmt::Display for PlironArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlironArtifact::NvptxCode(module) => f.write_str(&module.ir),
        }
    }
}

impl Compiler for PlironCompiler {
    type Representation = PlironArtifact;
    type CompilationOptions = PlironOptions;

    fn compile(
        &mut self,
        kernel: KernelDefinition,
        _options: &PlironOptions,
    ) -> Result<PlironArtifact, CompilationError> {
        Err(CompilationError::Generic {
            reason: format!(
                "kernel `{}`: cubecl's LLVM compiler is not part of this build (genpt replaces \
                 cubecl-llvm with the stub in crates/cubecl-llvm-stub); CUDA kernels compile \
                 through cubecl-cuda's C++ route and NVRTC, which its `cpp` feature selects",
                kernel.settings.kernel_name
            ),
            backtrace: BackTrace::capture(),
        })
    }

    fn extension(&self) -> &'static str {
        "ll"
    }

    fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}
