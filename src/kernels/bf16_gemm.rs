//! Matrix products with bf16 operands and fp32 accumulation on CPUs with AVX512-BF16
//! (`vdpbf16ps`): `C = A·B` where A and B are fp32 matrices rounded to bf16 (round to nearest
//! even) as they are packed, and every product is summed in fp32. This is the arithmetic of
//! bf16 autocast: fp32 master values, bf16 multiplications, fp32 sums.
//!
//! One `vdpbf16ps` multiplies 16 pairs of bf16 and adds both products of each pair into 16 fp32
//! lanes, twice the work of an fp32 FMA per instruction. The kernel packs A into blocks of
//! [`MR`] rows and B into panels of [`NR`] columns with the two rows of each k-pair interleaved
//! (the layout the instruction reads), then runs an `MR × NR` register tile over the whole k
//! for each (row block, panel). Rows are processed in groups of [`ROWS_PER_TASK`] so that one
//! panel of B is reused from cache by every row block of the group; groups run in parallel.
//!
//! Where the CPU also has AMX-BF16 (Sapphire Rapids and later), the product runs on its tile
//! unit instead: `tdpbf16ps` multiplies a 16 × 32 bf16 tile by a 32 × 16 one into a 16 × 16
//! fp32 tile, 16 times the work of one `vdpbf16ps`. Rust's AMX intrinsics are not stable yet,
//! so the five AMX instructions are written with `asm!`; Linux hands out the tile state only
//! after `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, asked once.
//!
//! CPUs with AVX2 and FMA but no AVX512-BF16 run the same packed layouts through an AVX2 tile
//! that widens each bf16 to fp32 (a shift) and multiplies with FMAs: no faster per operation
//! than fp32, but it reads half the bytes of weights, which is what bounds decoding. That path
//! serves inference with weights packed once ([`weights_available`], `--precision bf16` on
//! `generate`, `serve` and the other inference commands); training in bf16 needs the native
//! products ([`available`]).
//!
//! Strides let the same kernel compute `X·W`, `dY·Wᵀ` and `Xᵀ·dY` without copies in fp32.
//! Callers check [`available`] (or [`weights_available`]) first; other CPUs keep the fp32 path.

use rayon::prelude::*;

/// Rows of A per register tile.
pub const MR: usize = 8;
/// Columns of B per register tile (two zmm registers of 16 fp32 lanes).
pub const NR: usize = 32;
/// Rows per parallel task: 8 row blocks share each packed B panel while it is in cache.
pub const ROWS_PER_TASK: usize = 64;

/// Whether this CPU has AVX512-BF16 (with AVX-512F and BW) and `GENPT_CPU_ISA` allows AVX-512,
/// read once. `GENPT_AVX512BF16=0`
/// turns the path off, so that a machine that has it runs (and times) the products with bf16
/// weights as an AVX2-only CPU does; the other kernels (softmax, LayerNorm) keep their
/// AVX-512 code there.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var("GENPT_AVX512BF16").map_or(true, |v| v != "0")
                && super::simd::isa() == super::simd::Isa::Avx512
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether this CPU has AVX2 and FMA, what the widening path needs, and `GENPT_CPU_ISA` allows
/// them ([`super::simd::isa`]).
pub fn avx2_available() -> bool {
    static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            super::simd::isa() >= super::simd::Isa::Avx2
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether products with packed bf16 weights ([`pack`], [`gemm_packed`]) run here: natively
/// with AVX512-BF16, or widened to fp32 with AVX2.
pub fn weights_available() -> bool {
    available() || avx2_available()
}

/// Which path [`gemm_packed`] takes on this CPU, in words (for the log of a bf16 load).
pub fn path_name() -> &'static str {
    if amx_available() {
        "AMX-BF16 tiles"
    } else if available() {
        "AVX512-BF16"
    } else if avx2_available() {
        "AVX2, each bf16 widened to fp32"
    } else {
        "none on this CPU"
    }
}

/// Whether the AMX-BF16 tile unit can be used: the CPU has it (Linux lists `amx_bf16`) and the
/// kernel granted this process the tile state. `GENPT_AMX=0` turns it off (the AVX512-BF16
/// path then runs, which is how the two are compared).
pub fn amx_available() -> bool {
    static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AMX.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            if std::env::var("GENPT_AMX").is_ok_and(|v| v == "0") || !available() {
                return false;
            }
            let listed = std::fs::read_to_string("/proc/cpuinfo")
                .is_ok_and(|info| info.contains(" amx_bf16") && info.contains(" amx_tile"));
            extern "C" {
                fn syscall(number: i64, ...) -> i64;
            }
            // SYS_arch_prctl = 158, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18.
            listed && unsafe { syscall(158, 0x1023i64, 18i64) } == 0
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            false
        }
    })
}

/// `x` rounded to bf16 (to nearest, ties to even), as its 16 bits. NaN stays a quiet NaN.
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7fc0;
    }
    let bits = x.to_bits();
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// The fp32 value of bf16 bits.
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// A strided view of an fp32 matrix: element (i, j) at `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Strided<'a> {
    /// A row-major [rows, cols] matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "not a [{rows}, {cols}] matrix");
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, without moving anything.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// Two bf16 in one 32-bit lane, `lo` in the low half (the element `vdpbf16ps` takes first).
#[inline]
fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(to_bf16(lo)) | (u32::from(to_bf16(hi)) << 16)
}

/// A packed as [row block][k-pair][MR] pairs; rows and k past the end are 0.
fn pack_a(a: &Strided, k_pairs: usize) -> Vec<u32> {
    pack_rows(a, k_pairs, MR)
}

/// B packed as [panel][k-pair][NR] pairs; columns and k past the end are 0. B's columns are
/// the rows of Bᵀ, so this is A's packing of Bᵀ in groups of NR.
fn pack_b(b: &Strided, k_pairs: usize) -> Vec<u32> {
    pack_rows(&b.t(), k_pairs, NR)
}

/// The rows of `m` in groups of `width`, each group as [k-pair][width] pairs along m's
/// columns; rows and k past the end are 0. Groups are packed in parallel.
fn pack_rows(m: &Strided, k_pairs: usize, width: usize) -> Vec<u32> {
    let groups = m.rows.div_ceil(width);
    let mut out = vec![0u32; groups * k_pairs * width];
    out.par_chunks_mut(k_pairs * width)
        .enumerate()
        .for_each(|(group, dst)| {
            let lines = Lines {
                data: m.data,
                line_stride: m.row_stride,
                k_stride: m.col_stride,
                first: group * width,
                count: width.min(m.rows - group * width),
                k: m.cols,
            };
            lines.pack(k_pairs, width, dst);
        });
    out
}

/// `count` lines of a strided matrix (rows of A, or of Bᵀ), each `k` long: element
/// (line, kk) at `data[(first + line) * line_stride + kk * k_stride]`.
struct Lines<'a> {
    data: &'a [f32],
    line_stride: usize,
    k_stride: usize,
    first: usize,
    count: usize,
    k: usize,
}

impl Lines<'_> {
    fn at(&self, line: usize, kk: usize) -> f32 {
        if kk < self.k {
            self.data[(self.first + line) * self.line_stride + kk * self.k_stride]
        } else {
            0.0
        }
    }

    /// `dst[p * width + line] = pair(at(line, 2p), at(line, 2p + 1))` for every line and the
    /// first `k_pairs` pairs, walking the source along its contiguous axis: along k when it is
    /// contiguous there (`X` and `Wᵀ` as operands), across lines otherwise (`W`, `Xᵀ`), so
    /// that a transposed operand is never read one float per cache line. On AVX512-BF16 the
    /// rounding is `vcvtne2ps2bf16`'s (to nearest even, as [`to_bf16`]; it also reads denormal
    /// inputs as 0, which scaled activations and weights never are).
    fn pack(&self, k_pairs: usize, width: usize, dst: &mut [u32]) {
        let pairs = k_pairs.min(self.k.div_ceil(2));
        #[cfg(target_arch = "x86_64")]
        if available() {
            if self.k_stride == 1 {
                let mut run = vec![0u32; pairs];
                for line in 0..self.count {
                    let start = (self.first + line) * self.line_stride;
                    // SAFETY: AVX512-BF16 is available; `run` holds ⌈k/2⌉ pairs.
                    unsafe { simd::pairs_along(&self.data[start..start + self.k], &mut run) };
                    for (p, &v) in run.iter().enumerate() {
                        dst[p * width + line] = v;
                    }
                }
                return;
            }
            if self.line_stride == 1 {
                for p in 0..pairs {
                    let row = |kk: usize| {
                        let start = self.first + kk * self.k_stride;
                        (kk < self.k).then(|| &self.data[start..start + self.count])
                    };
                    let out = &mut dst[p * width..p * width + self.count];
                    // SAFETY: AVX512-BF16 is available; both rows and `out` hold `count`.
                    unsafe { simd::pairs_across(row(2 * p).unwrap(), row(2 * p + 1), out) };
                }
                return;
            }
        }
        for p in 0..pairs {
            for line in 0..self.count {
                dst[p * width + line] = pair(self.at(line, 2 * p), self.at(line, 2 * p + 1));
            }
        }
    }
}

/// Rounding fp32 to bf16 pairs 32 values at a time (`vcvtne2ps2bf16`).
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// `out[p] = pair(src[2p], src[2p + 1])` (0 past the end of `src`): consecutive values
    /// are already a pair, so this is a conversion in place order.
    ///
    /// # Safety
    /// The CPU has AVX512-BF16; `out.len() == src.len().div_ceil(2)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub unsafe fn pairs_along(src: &[f32], out: &mut [u32]) {
        debug_assert_eq!(out.len(), src.len().div_ceil(2));
        for (i, chunk) in src.chunks(32).enumerate() {
            let mask = |from: usize| -> __mmask16 {
                let left = chunk.len().saturating_sub(from).min(16);
                ((1u32 << left) - 1) as __mmask16
            };
            let lo = _mm512_maskz_loadu_ps(mask(0), chunk.as_ptr());
            let hi = _mm512_maskz_loadu_ps(mask(16), chunk.as_ptr().wrapping_add(16));
            // Elements 0–15 from the second operand, 16–31 from the first: source order.
            let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            let n = chunk.len().div_ceil(2);
            _mm512_mask_storeu_epi32(
                out.as_mut_ptr().add(16 * i) as *mut _,
                ((1u32 << n) - 1) as __mmask16,
                v,
            );
        }
    }

    /// `out[c] = pair(lo[c], hi[c])` (`hi` absent: 0), the two rows of a k-pair interleaved.
    ///
    /// # Safety
    /// The CPU has AVX512-BF16; `lo`, `hi` and `out` have one length.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub unsafe fn pairs_across(lo: &[f32], hi: Option<&[f32]>, out: &mut [u32]) {
        debug_assert_eq!(lo.len(), out.len());
        // Word 2c of the result takes lo[c] (word c of the conversion), word 2c + 1 hi[c]
        // (word 16 + c).
        let index: [i16; 32] = std::array::from_fn(|w| (w / 2 + 16 * (w % 2)) as i16);
        let index = _mm512_loadu_si512(index.as_ptr() as *const _);
        for start in (0..lo.len()).step_by(16) {
            let n = (lo.len() - start).min(16);
            let mask = ((1u32 << n) - 1) as __mmask16;
            let l = _mm512_maskz_loadu_ps(mask, lo.as_ptr().add(start));
            let h = match hi {
                Some(hi) => _mm512_maskz_loadu_ps(mask, hi.as_ptr().add(start)),
                None => _mm512_setzero_ps(),
            };
            let words: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(h, l));
            let v = _mm512_permutexvar_epi16(index, words);
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add(start) as *mut _, mask, v);
        }
    }
}

/// A right-hand operand packed once, for several products with it (the LM head's output matrix
/// against every chunk of rows; a layer's weights for every inference call): bf16 pairs in the
/// layout of the path that will use it.
pub struct PackedB {
    rows: usize,
    cols: usize,
    k_pairs: usize,
    amx: bool,
    data: Vec<u32>,
}

impl PackedB {
    /// Rows (the product's k) and columns of the matrix packed.
    pub fn dims(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }
}

impl std::fmt::Debug for PackedB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedB({} × {} bf16, amx {})",
            self.rows, self.cols, self.amx
        )
    }
}

/// `b` packed for this CPU's path ([`amx_available`], or the layout that AVX512-BF16 and the
/// AVX2 path share).
pub fn pack(b: Strided) -> PackedB {
    pack_for(b, amx_available())
}

fn pack_for(b: Strided, amx: bool) -> PackedB {
    // The tile path takes k in steps of 32 (16 pairs); the AVX-512 path in pairs.
    let k_pairs = if amx {
        b.rows.next_multiple_of(32) / 2
    } else {
        b.rows.div_ceil(2)
    };
    PackedB {
        rows: b.rows,
        cols: b.cols,
        k_pairs,
        amx,
        data: pack_b(&b, k_pairs),
    }
}

/// `c` [a.rows, b.cols] row-major `= a·b` (or `+=` with `accumulate`), operands rounded to
/// bf16, sums in fp32. Panics unless [`available`].
pub fn gemm(a: Strided, b: Strided, c: &mut [f32], accumulate: bool) {
    assert!(available(), "bf16 GEMM needs AVX512-BF16");
    gemm_packed(a, &pack(b), c, accumulate)
}

/// [`gemm`] with `b` packed beforehand: natively where [`available`], widened to fp32 with
/// AVX2 elsewhere (panics unless [`weights_available`]).
pub fn gemm_packed(a: Strided, b: &PackedB, c: &mut [f32], accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n) = (a.rows, b.cols);
    assert_eq!(c.len(), m * n, "the output is not [{m}, {n}]");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if b.amx {
        return amx::gemm(a, b, c, accumulate);
    }
    if available() {
        panel_gemm(a, b, c, accumulate, Kernel::Avx512Bf16);
    } else {
        assert!(
            avx2_available(),
            "bf16 products need AVX512-BF16, or AVX2 with FMA"
        );
        panel_gemm(a, b, c, accumulate, Kernel::Avx2);
    }
}

/// [`gemm_packed`] through the AVX2 path whatever this CPU also has: what a CPU without
/// AVX512-BF16 runs, public so that the two paths can be compared (and timed) on one machine.
/// Panics unless [`avx2_available`].
pub fn gemm_packed_avx2(a: Strided, b: &PackedB, c: &mut [f32], accumulate: bool) {
    assert!(avx2_available(), "the widening path needs AVX2 and FMA");
    assert!(!b.amx, "B was packed for the tile path");
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!(c.len(), a.rows * b.cols, "the output is not [m, n]");
    if a.rows > 0 && b.cols > 0 {
        panel_gemm(a, b, c, accumulate, Kernel::Avx2);
    }
}

/// Which register tile [`panel_gemm`] runs.
#[derive(Clone, Copy, PartialEq)]
enum Kernel {
    /// `vdpbf16ps`: both products of a pair in one instruction.
    Avx512Bf16,
    /// Each bf16 widened to fp32, two FMAs per pair (in the order `vdpbf16ps` adds them).
    Avx2,
}

/// The register-tile paths of [`gemm_packed`] (shapes checked there): A packed into row blocks,
/// each (row block, panel of B) one tile of `kernel`, scheduled for many rows or for few.
fn panel_gemm(a: Strided, b: &PackedB, c: &mut [f32], accumulate: bool, kernel: Kernel) {
    assert!(!b.amx, "B was packed for the tile path");
    let (m, n) = (a.rows, b.cols);
    let k_pairs = b.k_pairs;
    let ap = pack_a(&a, k_pairs);
    let bp = &b.data;
    let panels = n.div_ceil(NR);
    // One (row block, panel) register tile; `out` points at the tile's first element of C.
    let run_tile = |block: usize, panel: usize, out: *mut f32| {
        let a_block = &ap[block * k_pairs * MR..(block + 1) * k_pairs * MR];
        let b_panel = &bp[panel * k_pairs * NR..(panel + 1) * k_pairs * NR];
        let (rows, cols) = (MR.min(m - block * MR), NR.min(n - panel * NR));
        // SAFETY: the caller checked that the CPU has `kernel`'s features; the slices cover
        // k_pairs pairs, and `out` has `rows` rows of `ldc` with `cols` columns left in C
        // (callers' slicing).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match kernel {
                Kernel::Avx512Bf16 => {
                    tile_rows(a_block, b_panel, k_pairs, out, n, rows, cols, accumulate)
                }
                Kernel::Avx2 => {
                    avx2::tile_rows(a_block, b_panel, k_pairs, out, n, rows, cols, accumulate)
                }
            }
        };
    };
    let threads = rayon::current_num_threads();
    if m.div_ceil(ROWS_PER_TASK) >= threads {
        // Many rows: groups of rows in parallel, each group sweeping every panel of B.
        c.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(task, c_rows)| {
                let first_block = task * ROWS_PER_TASK / MR;
                let rows = c_rows.len() / n;
                for panel in 0..panels {
                    for local in 0..rows.div_ceil(MR) {
                        let out = c_rows[local * MR * n + panel * NR..].as_mut_ptr();
                        run_tile(first_block + local, panel, out);
                    }
                }
            });
    } else {
        // Few rows (decoding: one per sequence): the panels of B in parallel, so that every
        // core streams its share of the weights. Tasks write disjoint column ranges of C.
        struct Out(*mut f32);
        // SAFETY: each task writes only its own panels' columns, disjoint from every other's.
        unsafe impl Sync for Out {}
        let out = Out(c.as_mut_ptr());
        let per_task = panels.div_ceil(4 * threads).max(1);
        (0..panels.div_ceil(per_task))
            .into_par_iter()
            .for_each(|task| {
                let out = &out;
                for panel in task * per_task..((task + 1) * per_task).min(panels) {
                    for block in 0..m.div_ceil(MR) {
                        // SAFETY: inside C (block < m/MR, panel < n/NR); the tile writes columns
                        // panel*NR.., which no other task writes.
                        run_tile(block, panel, unsafe {
                            out.0.add(block * MR * n + panel * NR)
                        });
                    }
                }
            });
    }
}

/// [`tile`] for `rows` (1..=MR) rows: the row count is a compile-time constant in each
/// instance, so a tile of fewer rows (decoding's one row per sequence) does only its own work.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_rows(
    a: &[u32],
    b: &[u32],
    k_pairs: usize,
    out: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let f = match rows {
        1 => tile::<1>,
        2 => tile::<2>,
        3 => tile::<3>,
        4 => tile::<4>,
        5 => tile::<5>,
        6 => tile::<6>,
        7 => tile::<7>,
        _ => tile::<MR>,
    };
    f(a, b, k_pairs, out, ldc, cols, accumulate)
}

/// One R × NR tile (R ≤ MR rows of a packed row block) over all k: `out[r * ldc + j]` for
/// r < R, j < cols.
///
/// # Safety
/// The CPU has AVX512-BF16; `a` and `b` hold `k_pairs` pairs of the block and the panel; those
/// elements of `out` are writable and no other thread touches them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile<const R: usize>(
    a: &[u32],
    b: &[u32],
    k_pairs: usize,
    out: *mut f32,
    ldc: usize,
    cols: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (a, b) = (a.as_ptr(), b.as_ptr());
    for p in 0..k_pairs {
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * NR) as *const _));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * NR + 16) as *const _));
        for (r, acc) in acc.iter_mut().enumerate() {
            let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(p * MR + r) as i32));
            acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
        }
    }
    let mask = |from: usize| -> __mmask16 {
        let left = cols.saturating_sub(from).min(16);
        ((1u32 << left) - 1) as __mmask16
    };
    let (m0, m1) = (mask(0), mask(16));
    for (r, acc) in acc.iter().enumerate() {
        let row = out.add(r * ldc);
        for (half, m) in [(0, m0), (1, m1)] {
            if m == 0 {
                continue;
            }
            let dst = row.add(16 * half);
            let mut v = acc[half];
            if accumulate {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, dst));
            }
            _mm512_mask_storeu_ps(dst, m, v);
        }
    }
}

/// The AVX2 tile: bf16 pairs widened to fp32 and multiplied with FMAs.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// One [`MR`]-row block of C against a panel, two rows at a time: a tile of 2 rows × 32
    /// columns keeps 8 accumulators, the widened halves of B and the broadcast A values in
    /// AVX2's 16 registers.
    ///
    /// # Safety
    /// As [`tile`], on a CPU with AVX2 and FMA.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_rows(
        a: &[u32],
        b: &[u32],
        k_pairs: usize,
        out: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut r = 0;
        while r < rows {
            if rows - r >= 2 {
                tile::<2>(a, r, b, k_pairs, out.add(r * ldc), ldc, cols, accumulate);
                r += 2;
            } else {
                tile::<1>(a, r, b, k_pairs, out.add(r * ldc), ldc, cols, accumulate);
                r += 1;
            }
        }
    }

    /// Rows `first..first + R` of a packed row block against a panel, over all k. Per k-pair,
    /// each lane adds the product of the pair's second (high) elements and then the first's,
    /// the order in which `vdpbf16ps` adds them; products of two bf16 are exact in fp32, so
    /// the sums are rounded as on the native path.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `k_pairs` × [`MR`] pairs of the row block and `b`
    /// `k_pairs` × [`NR`] of the panel; `out[r * ldc + j]` for r < R, j < cols is writable and
    /// no other thread touches it.
    #[target_feature(enable = "avx2,fma")]
    // Indices say which register is which: row r, column group g.
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn tile<const R: usize>(
        a: &[u32],
        first: usize,
        b: &[u32],
        k_pairs: usize,
        out: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        let high = _mm256_set1_epi32(0xffff_0000_u32 as i32);
        let (a, b) = (a.as_ptr(), b.as_ptr());
        for p in 0..k_pairs {
            // This pair's A values, each row's two halves widened and broadcast.
            let mut a_lo = [_mm256_setzero_ps(); R];
            let mut a_hi = [_mm256_setzero_ps(); R];
            for r in 0..R {
                let word = *a.add(p * MR + first + r);
                a_lo[r] = _mm256_set1_ps(f32::from_bits(word << 16));
                a_hi[r] = _mm256_set1_ps(f32::from_bits(word & 0xffff_0000));
            }
            for g in 0..4 {
                let pairs = _mm256_loadu_si256(b.add(p * NR + 8 * g) as *const __m256i);
                let lo = _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
                let hi = _mm256_castsi256_ps(_mm256_and_si256(pairs, high));
                for r in 0..R {
                    acc[r][g] = _mm256_fmadd_ps(a_hi[r], hi, acc[r][g]);
                    acc[r][g] = _mm256_fmadd_ps(a_lo[r], lo, acc[r][g]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let row = out.add(r * ldc);
            for (g, &v) in acc.iter().enumerate() {
                let start = 8 * g;
                if start >= cols {
                    break;
                }
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                for (j, &x) in lanes.iter().enumerate().take(cols - start) {
                    let dst = row.add(start + j);
                    *dst = if accumulate { *dst + x } else { x };
                }
            }
        }
    }
}

/// The AMX-BF16 path: A packed row-major in bf16 with k padded to 32, B in the same panels as
/// the AVX-512 path (k padded to 32 as well); 32 × 32 blocks of C from four 16 × 16 tiles.
#[cfg(target_arch = "x86_64")]
mod amx {
    use std::arch::asm;

    use rayon::prelude::*;

    use super::{to_bf16, PackedB, Strided, NR};

    /// Rows per parallel task: 4 blocks of 32 rows share each B panel while it is in cache.
    const ROWS_PER_TASK: usize = 128;
    /// The k of one tile product: 32 bf16 (64 bytes) per row of A.
    const K_STEP: usize = 32;

    /// The tile configuration (`ldtilecfg`'s 64-byte layout, palette 1): tiles 0–3 hold C
    /// (16 rows of 16 fp32), 4–5 two row blocks of A (16 rows of 32 bf16), 6–7 two column
    /// halves of a B panel (16 k-pairs of 16 bf16 pairs). Every row is 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        bytes_per_row: [u16; 16],
        rows: [u8; 16],
    }

    const CONFIG: TileConfig = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    /// A as bf16, row-major [rows padded to 32, k padded to 32]; the padding is 0. Groups of
    /// 32 rows in parallel; within a group the source is walked along its contiguous axis, so
    /// that a transposed A (`Xᵀ` in `Xᵀ·dY`) is read 32 floats at a time, not one per row.
    fn pack_a(a: &Strided, k_pad: usize) -> Vec<u16> {
        let rows = a.rows.next_multiple_of(32);
        let mut out = vec![0u16; rows * k_pad];
        out.par_chunks_mut(32 * k_pad)
            .enumerate()
            .for_each(|(group, dst)| {
                let (first, n) = (group * 32, 32.min(a.rows.saturating_sub(group * 32)));
                if a.col_stride <= a.row_stride {
                    for r in 0..n {
                        for p in 0..a.cols {
                            dst[r * k_pad + p] = to_bf16(a.at(first + r, p));
                        }
                    }
                } else {
                    for p in 0..a.cols {
                        for r in 0..n {
                            dst[r * k_pad + p] = to_bf16(a.at(first + r, p));
                        }
                    }
                }
            });
        out
    }

    pub fn gemm(a: Strided, b: &PackedB, c: &mut [f32], accumulate: bool) {
        assert!(b.amx, "B was packed for the AVX-512 path");
        let n = b.cols;
        let k_pad = a.cols.next_multiple_of(K_STEP);
        let k_pairs = k_pad / 2;
        assert_eq!(k_pairs, b.k_pairs);
        let ap = pack_a(&a, k_pad);
        let bp = &b.data;
        c.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(task, c_rows)| {
                let rows = c_rows.len() / n;
                let first_row = task * ROWS_PER_TASK;
                let mut block = [0f32; 32 * 32];
                // SAFETY: amx_available() granted the tile state; every tile load reads 16
                // rows of 64 bytes inside the packed buffers, whose padding makes them whole.
                unsafe {
                    asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack));
                    for panel in 0..n.div_ceil(NR) {
                        let b_panel = bp[panel * k_pairs * NR..].as_ptr();
                        let cols = NR.min(n - panel * NR);
                        for local in (0..rows).step_by(32) {
                            let a_rows = ap[(first_row + local) * k_pad..].as_ptr();
                            tiles(a_rows, k_pad, b_panel, &mut block);
                            let out = &mut c_rows[local * n + panel * NR..];
                            for r in 0..32.min(rows - local) {
                                let src = &block[r * 32..r * 32 + cols];
                                let dst = &mut out[r * n..r * n + cols];
                                if accumulate {
                                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                                } else {
                                    dst.copy_from_slice(src);
                                }
                            }
                        }
                    }
                    asm!("tilerelease", options(nostack));
                }
            });
    }

    /// One 32 × 32 block of C over the whole k into `block` (row-major, 32 wide): rows of A from
    /// `a` (row stride `k_pad` bf16), columns from the B panel `b` ([k-pair][NR] pairs).
    ///
    /// # Safety
    /// The tile configuration is loaded, `a` holds 32 rows of `k_pad` bf16 and `b` `k_pad / 2`
    /// rows of NR pairs.
    unsafe fn tiles(a: *const u16, k_pad: usize, b: *const u32, block: &mut [f32; 1024]) {
        let a_stride = k_pad * 2;
        let b_stride = NR * 4;
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack)
        );
        for step in 0..k_pad / super::amx::K_STEP {
            let a0 = a.add(step * K_STEP);
            let a1 = a0.add(16 * k_pad);
            let b0 = b.add(step * 16 * NR);
            let b1 = b0.add(16);
            asm!(
                "tileloadd tmm4, [{a0} + {sa}*1]",
                "tileloadd tmm5, [{a1} + {sa}*1]",
                "tileloadd tmm6, [{b0} + {sb}*1]",
                "tileloadd tmm7, [{b1} + {sb}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a0, a1 = in(reg) a1, b0 = in(reg) b0, b1 = in(reg) b1,
                sa = in(reg) a_stride, sb = in(reg) b_stride,
                options(nostack, readonly),
            );
        }
        let out = block.as_mut_ptr();
        let stride: usize = 32 * 4;
        asm!(
            "tilestored [{c00} + {s}*1], tmm0",
            "tilestored [{c01} + {s}*1], tmm1",
            "tilestored [{c10} + {s}*1], tmm2",
            "tilestored [{c11} + {s}*1], tmm3",
            c00 = in(reg) out, c01 = in(reg) out.add(16),
            c10 = in(reg) out.add(16 * 32), c11 = in(reg) out.add(16 * 32 + 16),
            s = in(reg) stride,
            options(nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut draws = crate::rng::Draws::new(seed, 0);
        (0..n)
            .map(|_| (draws.below(2001) as f32 - 1000.0) / 317.0)
            .collect()
    }

    type Gemm = fn(Strided, Strided, &mut [f32], bool);

    /// The implementations this CPU can run, by name.
    fn implementations() -> Vec<(&'static str, Gemm)> {
        let mut out: Vec<(&'static str, Gemm)> = Vec::new();
        if available() {
            out.push(("avx512-bf16", |a, b, c, acc| {
                panel_gemm(a, &pack_for(b, false), c, acc, Kernel::Avx512Bf16)
            }));
        } else {
            eprintln!("avx512-bf16 not checked: this CPU has no AVX512-BF16");
        }
        if avx2_available() {
            out.push(("avx2", |a, b, c, acc| {
                gemm_packed_avx2(a, &pack_for(b, false), c, acc)
            }));
        }
        #[cfg(target_arch = "x86_64")]
        if amx_available() {
            out.push(("amx-bf16", |a, b, c, acc| {
                amx::gemm(a, &pack_for(b, true), c, acc)
            }));
        } else {
            eprintln!("amx-bf16 not checked: this CPU (or process) has no AMX tile state");
        }
        out
    }

    /// Largest |got − want| / (1 + |want|).
    fn worst_relative(got: &[f32], want: &[f64]) -> f64 {
        got.iter()
            .zip(want)
            .map(|(&g, &w)| (g as f64 - w).abs() / (1.0 + w.abs()))
            .fold(0.0, f64::max)
    }

    /// The exact product of the bf16-rounded operands, in f64.
    fn reference(a: &Strided, b: &Strided) -> Vec<f64> {
        let round = |x: f32| from_bf16(to_bf16(x)) as f64;
        let mut c = vec![0f64; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] = (0..a.cols)
                    .map(|p| round(a.at(i, p)) * round(b.at(p, j)))
                    .sum();
            }
        }
        c
    }

    #[test]
    fn rounding_to_bf16_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn products_match_the_rounded_operands_on_odd_shapes_and_strides() {
        // Shapes that are not multiples of MR, NR or 2 (odd k), and transposed operands.
        for (name, gemm) in implementations() {
            for (m, k, n) in [
                (1, 1, 1),
                (1, 64, 100),
                (3, 31, 200),
                (7, 5, 33),
                (70, 129, 65),
                (9, 64, 32),
                (130, 200, 97),
            ] {
                let a_data = values(m * k, 1);
                let bt_data = values(n * k, 2);
                let a = Strided::row_major(&a_data, m, k);
                let b = Strided::row_major(&bt_data, n, k).t();
                let want = reference(&a, &b);
                let mut got = vec![0f32; m * n];
                gemm(a, b, &mut got, false);
                let worst = worst_relative(&got, &want);
                assert!(
                    worst < 1e-5,
                    "{name} {m}×{k}×{n}: worst relative error {worst:e}"
                );
                // B row-major (`X·W`), packed across its rows.
                let b_data = values(k * n, 6);
                let b_rm = Strided::row_major(&b_data, k, n);
                let mut got_rm = vec![0f32; m * n];
                gemm(a, b_rm, &mut got_rm, false);
                let worst = worst_relative(&got_rm, &reference(&a, &b_rm));
                assert!(
                    worst < 1e-5,
                    "{name} {m}×{k}×{n}, B row-major: worst relative error {worst:e}"
                );
                // A transposed (`Xᵀ·dY`), packed along its other axis.
                let at_data = values(k * m, 5);
                let at = Strided::row_major(&at_data, k, m).t();
                let mut got_t = vec![0f32; m * n];
                gemm(at, b, &mut got_t, false);
                let worst = worst_relative(&got_t, &reference(&at, &b));
                assert!(
                    worst < 1e-5,
                    "{name} {m}×{k}×{n}, A transposed: worst relative error {worst:e}"
                );
                // Accumulating adds the product to what is there.
                let mut twice = got.clone();
                gemm(a, b, &mut twice, true);
                for (t, g) in twice.iter().zip(&got) {
                    assert!((t - 2.0 * g).abs() <= 1e-5 * (1.0 + g.abs()));
                }
                // Against the fp32 product the difference is bf16 rounding: small, but far above
                // the tolerance above (the negative control: the check sees rounding).
                if k >= 64 {
                    let mut exact = vec![0f64; m * n];
                    for i in 0..m {
                        for j in 0..n {
                            exact[i * n + j] =
                                (0..k).map(|p| a.at(i, p) as f64 * b.at(p, j) as f64).sum();
                        }
                    }
                    // Relative to the largest entry: single entries can cancel to near 0.
                    let scale = exact.iter().fold(0f64, |s, w| s.max(w.abs()));
                    let off = got
                        .iter()
                        .zip(&exact)
                        .map(|(&g, &w)| (g as f64 - w).abs())
                        .fold(0.0, f64::max)
                        / scale;
                    assert!(
                        off > 1e-4 && off < 2e-2,
                        "{name} {m}×{k}×{n}: off fp32 by {off:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_wrong_pair_order_is_caught() {
        // Negative control for the packing: B given untransposed where its transpose is meant
        // (a square problem, so the shapes still fit) gives a different product.
        let (m, k) = (9, 40);
        let a_data = values(m * k, 3);
        let b_data = values(k * k, 4);
        let a = Strided::row_major(&a_data, m, k);
        let b = Strided::row_major(&b_data, k, k);
        let want = reference(&a, &b.t());
        for (name, gemm) in implementations() {
            let mut got = vec![0f32; m * k];
            gemm(a, b, &mut got, false);
            let worst = worst_relative(&got, &want);
            assert!(
                worst > 1e-2,
                "{name}: the wrong operand went unnoticed ({worst:e})"
            );
        }
    }

    #[test]
    fn the_avx2_path_adds_as_the_native_instruction_does() {
        if !(available() && avx2_available()) {
            eprintln!("skipped: this CPU lacks AVX512-BF16 or AVX2, so there are not two paths");
            return;
        }
        // Products of two bf16 are exact in fp32, and the AVX2 tile adds each pair's two
        // products in the order the native instruction is specified to: the same packed
        // operands should give the same sums, for decoding's one row and for full blocks.
        let mut differing = 0;
        for (m, k, n) in [(1, 768, 2304), (8, 768, 96), (13, 129, 65), (64, 512, 64)] {
            let a_data = values(m * k, 7);
            let b_data = values(k * n, 8);
            let a = Strided::row_major(&a_data, m, k);
            let b = pack_for(Strided::row_major(&b_data, k, n), false);
            let (mut native, mut widened) = (vec![0f32; m * n], vec![0f32; m * n]);
            panel_gemm(a, &b, &mut native, false, Kernel::Avx512Bf16);
            gemm_packed_avx2(a, &b, &mut widened, false);
            differing += native
                .iter()
                .zip(&widened)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
        }
        assert_eq!(differing, 0, "sums that differ between the two paths");
    }
}
