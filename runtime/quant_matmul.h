/* quant_matmul.h — products with block-quantized weights (common/quant.h's formats and
 * semantics: y = x · dequant(W)ᵀ in f32), as the interpreter and the CPU backend's generated
 * kernels call them. In libkiln_rt, so compiled artifacts run them without libkiln.
 */
#ifndef KILN_RT_QUANT_MATMUL_H
#define KILN_RT_QUANT_MATMUL_H

#include "common/common.h"
#include "runtime/pool.h"

// kiln's dynamic GEMM entry (codegen/llvm/gemm.h, cg_gemm_emit_dynamic with trans_b), which the
// CPU backend passes in so that prefill products run on its microkernels.
typedef void (*rt_gemm_nt_fn)(int64_t batch0, int64_t batch1, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                              int64_t stride_a0, int64_t stride_a1, const float *B, int64_t ldb, int64_t stride_b0, int64_t stride_b1,
                              float *C, int64_t ldc, int64_t stride_c0, int64_t stride_c1, const float *bias, void *pool);

// C [M, N] (row stride ldc) = A [M, K] (row stride lda) · dequant(W)ᵀ, W [N, K] of `type` (Q8_0,
// Q4_0, Q4_1, Q4_K, Q6_K as kiln_dtype; K a multiple of its block size; rows of K / block_size
// blocks, back to back, at any byte address). C is overwritten, never read.
// M <= RT_QUANT_ROWS_DIRECT: each W row's blocks are decoded into vector registers (AVX-512 or
// AVX2+FMA, by CPUID) to exactly their dequantized values and multiplied into every A row's sums
// at once, rows of W split over the pool: one pass over the blocks, nothing stored (without AVX2:
// each row is dequantized into an L1 buffer and dotted). More rows: panels of W rows are
// dequantized (in parallel) into an f32 tile and multiplied by `gemm` (NULL: cblas_sgemm). Sums run in f32 in any order (within the f32 tolerance of
// the reference, kiln_quant_vec_dot_f32). pool may be NULL (the caller's thread only).
// Returns KILN_OK, or KILN_ERR_OUT_OF_MEMORY (a buffer for a long row, A reordered, or a tile).
#define RT_QUANT_ROWS_DIRECT 4
kiln_status rt_quant_matmul(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, int32_t type, const void *W, float *C,
                            int64_t ldc, rt_pool *pool, rt_gemm_nt_fn gemm);

// Instruction sets rt_quant_matmul and rt_quant_dequantize_row choose from (the best the CPU
// has). rt_quant_matmul_force_isa caps the choice at `isa` (-1: no cap) and returns the previous
// cap; for tests, which compare every path on one machine. Not thread-safe: set it while no
// product runs.
enum { RT_QUANT_ISA_SCALAR = 0, RT_QUANT_ISA_AVX2 = 1, RT_QUANT_ISA_AVX512 = 2 };
int rt_quant_matmul_force_isa(int isa);

// kiln_quant_dequantize_row with vector code for all five types where the CPU has AVX2:
// bit-identical to it (each value is its exact expression rounded once).
void rt_quant_dequantize_row(int32_t type, const void *src, float *dst, int64_t n);

#endif  // KILN_RT_QUANT_MATMUL_H
