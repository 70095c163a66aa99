/* gemm.h — kiln's own f32 GEMM for the CPU backend: microkernels generated through the LLVM C
 * API (AVX-512 or AVX2+FMA vector types, an mr x nr register tile, broadcast-FMA inner loop,
 * K blocking) reading B from nr-wide panels, a GEMV path for one-row products, and a fused
 * bias + activation epilogue. The emitted functions are self-contained: they call only
 * rt_parallel_for and rt_pool_threads (runtime/pool.h, libkiln_rt), so they serve the JIT and
 * AOT artifacts alike, and they are reentrant (many contexts may call them at once).
 *
 * Two kinds of product:
 *   weights   (nn.Linear: x · Wᵀ, W [N, K] row-major): W is packed once at compile time with
 *             cg_gemm_pack_weight; the packed copy replaces the original. cg_gemm_emit_packed.
 *   dynamic   (activation x activation: attention Q·Kᵀ, P·V), batched over two levels with
 *             strides; B is packed on the fly into panels on the stack, with one of two
 *             tiles picked by N at run time (dyn_* of the config). cg_gemm_emit_dynamic.
 * A is read in place, or (weights, many rows or rows 4 KiB apart) copied block by block into a
 * stack buffer that the microkernel reads as one stream. Functions emitted into one module share their microkernels
 * (internal functions named "kiln.gemm.*"), so emit all GEMMs of a target into one module.
 */
#ifndef KILN_CG_LLVM_GEMM_H
#define KILN_CG_LLVM_GEMM_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "common/common.h"

typedef enum cg_gemm_isa {
    CG_GEMM_ISA_AVX2 = 1,     // 16 ymm registers, <8 x float>, FMA3
    CG_GEMM_ISA_AVX512 = 2,   // 32 zmm registers, <16 x float>, AVX-512F
} cg_gemm_isa;

// The epilogue applied to each C element once its sum is complete (after the bias):
// C = act(A·B + bias). The GELUs use rational approximations of erf and tanh (Eigen's), within
// 3e-7 of the exact functions. A new entry is a case in gemm_emit.c's emit_act.
typedef enum cg_gemm_act {
    CG_GEMM_ACT_NONE = 0,
    CG_GEMM_ACT_RELU,
    CG_GEMM_ACT_GELU_ERF,    // 0.5 x (1 + erf(x / sqrt 2)): HF "gelu" (BERT)
    CG_GEMM_ACT_GELU_TANH,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): HF "gelu_new"
    CG_GEMM_ACT_COUNT,
    // Not an activation: the entry takes one more argument, `int32_t act` (a cg_gemm_act below
    // CG_GEMM_ACT_COUNT), after `pool`, and applies that one. One function then serves every
    // region (the backend's kiln_gemm_packed), at the price of all epilogues in its microkernels.
    CG_GEMM_ACT_RUNTIME = 64
} cg_gemm_act;

// How the microkernels are shaped. Filled by cg_gemm_config_for; plain data, copy freely.
typedef struct cg_gemm_config {
    cg_gemm_isa isa;
    int32_t vec;      // floats per vector register: 16 (AVX-512) or 8 (AVX2)
    int32_t mr, nr;   // weights: register tile of mr rows (broadcast from A) x nr columns (nr/vec
                      // vectors of B); nr is also the packed panel width, so packed weights
                      // depend on it (and only on it)
    int32_t dyn_mr, dyn_nr;   // the same for activation x activation products (narrower: head
                              // dims of 32 and 64 fill whole panels)
    int32_t dyn_mr_wide, dyn_nr_wide;   // a second, wider tile for those products, taken where
                                        // N padded to it is no wider than padded to dyn_nr
                                        // (N = 64, 128, 100: yes; 32, 96: no); 0 x 0: none
    int32_t kc;       // K block: a kc x nr slice of a B panel stays in L1 while A's rows pass
    int32_t mc;       // most rows of A one work item covers (A's mc x kc block stays in L2)
} cg_gemm_config;

// Picks the ISA and tiles for an LLVM target CPU name and feature string (as given to
// LLVMCreateTargetMachine: "sapphirerapids", "+avx512f,+avx2,..."; features may be NULL or "").
// "+avx512f" (and no "-avx512f") selects AVX-512; "+avx2"+"+fma" or an AVX2-class CPU name
// (x86-64-v3, haswell, znver1..3, ...) selects AVX2; x86-64-v4 and AVX-512 CPU names select
// AVX-512 unless the features say "-avx512f".
// Returns KILN_OK, KILN_ERR_INVALID_ARG (out or cpu NULL), or KILN_ERR_UNSUPPORTED (neither
// AVX-512F nor AVX2+FMA: the backend must use another path).
kiln_status cg_gemm_config_for(const char *cpu, const char *features, cg_gemm_config *out);

// True when an activation product with N columns runs on the wide dynamic tile: N padded to
// dyn_nr_wide is no wider than padded to dyn_nr. The dynamic entry makes the same choice at run time.
bool cg_gemm_dynamic_wide(const cg_gemm_config *cfg, int64_t n);

/* ---- weights packed at compile time ----
 * Layout: W [N, K] (row-major, nn.Linear's weight; B = Wᵀ) becomes ceil(N/nr) panels; panel p
 * holds columns [p*nr, p*nr + nr) of B as K rows of nr contiguous floats (row k at
 * p*K*nr + k*nr), columns past N zero. One panel is read front to back, which is also what the
 * one-row (GEMV) path streams at memory bandwidth. Align the packed buffer to 64 bytes. */
size_t cg_gemm_packed_bytes(const cg_gemm_config *cfg, int64_t N, int64_t K);
// Writes cg_gemm_packed_bytes(cfg, N, K) bytes to `packed`. Does not keep either pointer.
void cg_gemm_pack_weight(const cg_gemm_config *cfg, const float *w_nk, int64_t N, int64_t K, float *packed);

// Emits into `mod` an externally visible function `name` with the C signature
//   void name(int64_t M, int64_t N, int64_t K,
//             const float *A, int64_t lda,       // A [M, K] row-major, row stride lda >= K
//             const float *B_packed,             // from cg_gemm_pack_weight(cfg, W, N, K)
//             float *C, int64_t ldc,             // C [M, N] row-major, row stride ldc >= N
//             const float *bias,                 // [N] or NULL
//             void *pool);                       // rt_pool * or NULL (runs on the caller)
// (with act CG_GEMM_ACT_RUNTIME, one more argument: int32_t act)
// computing C = act(A · B + bias) (C is overwritten, never read), split over the pool's threads
// with rt_parallel_for. M = 1 takes a GEMV path that streams the panels once. Any M, N, K >= 0.
// Helpers are internal functions named "<name>.*" and "kiln.gemm.*". Code is generated for
// `tm`'s CPU and features (set as function attributes), which must include cfg->isa; run the
// module's optimization pipeline (LLVMRunPasses "default<O3>") afterwards as for any other
// kernel. The module gets declarations of rt_parallel_for and rt_pool_threads. A declaration of
// `name` already in the module (a caller's) is completed if its type is the signature above.
// Stack: a few hundred bytes per thread. Does not keep any pointer to cfg or name.
// Returns KILN_OK, or KILN_ERR_INVALID_ARG (NULL argument, empty or over-long name, bad config,
// unknown activation, `name` already defined or declared with another type).
kiln_status cg_gemm_emit_packed(LLVMModuleRef mod, LLVMTargetMachineRef tm, const cg_gemm_config *cfg,
                                cg_gemm_act act, const char *name);

/* ---- activation x activation products ----
 * Emits `name` with the C signature
 *   void name(int64_t batch0, int64_t batch1, int64_t M, int64_t N, int64_t K,
 *             const float *A, int64_t lda, int64_t stride_a0, int64_t stride_a1,
 *             const float *B, int64_t ldb, int64_t stride_b0, int64_t stride_b1,
 *             float *C, int64_t ldc, int64_t stride_c0, int64_t stride_c1,
 *             const float *bias, void *pool);
 * computing for every (i, j) in [0, batch0) x [0, batch1), with X_ij = X + i*stride_x0 + j*stride_x1
 * (strides in floats; 0 broadcasts an operand):
 *   C_ij [M, N] = act(A_ij [M, K] · op(B_ij) + bias),  op(B) = B [K, N] (trans_b false) or
 *                                                     Bᵀ with B [N, K] (trans_b true),
 * rows of A, B and C at strides lda, ldb, ldc. Attention on [batch, heads, seq, d] is
 * batch0 = batch, batch1 = heads; on [batch, seq, heads, d] it is the same with lda = heads*d and
 * stride_1 = d. Work is split over (batch, M block, N block). Each thread packs the B columns of
 * its work item, one K block at a time, into 64 KiB of its stack. Same returns and conventions
 * as cg_gemm_emit_packed, except that act must be a fixed activation (not CG_GEMM_ACT_RUNTIME). */
kiln_status cg_gemm_emit_dynamic(LLVMModuleRef mod, LLVMTargetMachineRef tm, const cg_gemm_config *cfg, bool trans_b,
                                 cg_gemm_act act, const char *name);

// FLOPs of one product (2*M*N*K), for launch records and benchmarks.
static inline double cg_gemm_flops(int64_t M, int64_t N, int64_t K) { return 2.0 * (double)M * (double)N * (double)K; }

#endif  // KILN_CG_LLVM_GEMM_H
