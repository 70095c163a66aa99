/* quant.h — the block-quantized weight formats GGUF files carry (ggml's Q8_0, Q4_0, Q4_1, Q4_K,
 * Q6_K), in plain C: dequantize a row, quantize activations to 8 bits, dot a quantized row with a
 * vector. This is the reference that every faster kernel (interpreter, LLVM, CUDA) is checked against.
 *
 * How activations meet quantized weights — kiln's decision:
 *   kiln keeps activations in f32. A quantized weight means exactly the f32 values its blocks
 *   dequantize to (kiln_quant_dequantize_row, bit-identical to PyPI gguf's numpy
 *   gguf.quants.dequantize and to ggml's dequantize_row_*), and a matmul with it is the f32 matmul
 *   with those values: y = x . dequant(W)^T. The interpreter computes that, block by block, and the
 *   tests compare against Transformers (or numpy) run on the dequantized weights.
 *   Why not llama.cpp's way (quantize each activation row to Q8_0, or Q8_K for K-quants, and take
 *   integer dot products)? That adds a second rounding, of the activations, that no Hugging Face
 *   reference has, so a quantized model would have no exact oracle; with f32 activations a Q4_1 model
 *   is an ordinary f32 model with different weights, checked to 1e-4 like any other. The cost is
 *   small where it matters: decoding reads each weight once and is bound by memory (the blocks stay
 *   quantized in memory — a GGUF program's weights are the file's blocks, models/gguf.c — and each
 *   row is decoded in vector registers as its dot products consume it), and prefill dequantizes a panel of
 *   weight rows into an f32 tile once for many rows (runtime/quant_matmul.h, which the interpreter
 *   and the CPU backend share).
 *   The llama.cpp path is here too (kiln_quant_quantize_row_q8 and kiln_quant_vec_dot_q8), as a
 *   tested reference for a backend that opts into integer dot products (int8 VNNI/dp4a) and for
 *   comparing numerics with llama.cpp. It is not the interpreter's semantics; results differ from it
 *   by the activations' quantization error.
 *
 * Block layouts (little-endian, packed; f16 is IEEE binary16; the structs' sizes equal the bytes
 * of a block, so an array of them is a row as stored in GGUF). Element e of a block is:
 *   Q8_0  (32 elements, 34 bytes)   d * qs[e]
 *   Q4_0  (32 elements, 18 bytes)   d * (q - 8),  q = e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4
 *   Q4_1  (32 elements, 20 bytes)   d * q + m,    q as for Q4_0
 *   Q4_K  (256 elements, 144 bytes) 8 sub-blocks of 32, j = e / 32, l = e % 32:
 *                                   (d * sc[j]) * q - (dmin * mn[j]),
 *                                   q = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF,
 *                                   sc[j], mn[j] 6-bit, packed in scales[12]: for j < 4,
 *                                   sc = scales[j] & 63, mn = scales[j + 4] & 63; for j >= 4,
 *                                   sc = (scales[j + 4] & 0xF) | (scales[j - 4] >> 6) << 4,
 *                                   mn = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4
 *   Q6_K  (256 elements, 210 bytes) 16 groups of 16, h = e / 128, r = e % 128:
 *                                   (d * scales[e / 16]) * (q - 32), q 6-bit =
 *                                   ((ql[64 * h + r % 64] >> (4 * (r / 64))) & 0xF)
 *                                   | ((qh[32 * h + r % 32] >> (2 * (r / 32))) & 3) << 4
 *   Q8_K  (256 elements, 292 bytes) activations only (never in files): d (f32) * qs[e], and
 *                                   bsums[g] = sum of qs[16g .. 16g + 15]
 * Why f32 results equal numpy's bit for bit in any evaluation order: f16 scales have 11 significant
 * bits and the integer factors at most 8, so every product but the last is exact in f32, and each
 * value is its exact expression rounded once (FMA contraction or reassociation cannot change it).
 */
#ifndef KILN_QUANT_H
#define KILN_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define KILN_QK 32     // elements per block of Q8_0, Q4_0, Q4_1
#define KILN_QK_K 256  // elements per super-block of the K-quants

typedef struct kiln_block_q8_0 {
    uint16_t d;          // f16 scale
    int8_t qs[32];       // (32) quantized values
} kiln_block_q8_0;

typedef struct kiln_block_q4_0 {
    uint16_t d;          // f16 scale
    uint8_t qs[16];      // (16) element j in the low nibble of qs[j], element j + 16 in the high one
} kiln_block_q4_0;

typedef struct kiln_block_q4_1 {
    uint16_t d;          // f16 scale
    uint16_t m;          // f16 minimum (offset)
    uint8_t qs[16];      // (16) as Q4_0, values 0..15 unbiased
} kiln_block_q4_1;

typedef struct kiln_block_q4_K {
    uint16_t d;          // f16 super-block scale of the sub-block scales
    uint16_t dmin;       // f16 super-block scale of the sub-block minimums
    uint8_t scales[12];  // (8 scales + 8 minimums) x 6 bits, packed as described above
    uint8_t qs[128];     // (256) 4-bit values: 32 bytes per pair of sub-blocks, low nibbles first
} kiln_block_q4_K;

typedef struct kiln_block_q6_K {
    uint8_t ql[128];     // (256) low 4 bits
    uint8_t qh[64];      // (256) high 2 bits
    int8_t scales[16];   // (16) 8-bit scale of each group of 16
    uint16_t d;          // f16 super-block scale
} kiln_block_q6_K;

typedef struct kiln_block_q8_K {
    float d;             // f32 scale
    int8_t qs[256];      // (256) quantized values
    int16_t bsums[16];   // (16) sum of each group of 16 qs
} kiln_block_q8_K;

// Rows passed as `const void *` need no alignment: blocks are copied out one at a time, so a row
// may sit at any byte of a mapping. n is always a number of elements and must be a multiple of the
// type's block size; anything else is a caller's bug (KILN_ASSERT).

// True for the dtypes every function below accepts as `type`: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q4_K, Q6_K.
bool kiln_quant_supported(kiln_dtype type);

// Dequantizes n elements of `type` at src into dst (f32). Bit-identical to gguf.quants.dequantize.
// src and dst must not overlap.
void kiln_quant_dequantize_row(kiln_dtype type, const void *src, float *dst, int64_t n);

// Quantizes n f32 values to Q8_0 blocks (n / 32 of them) at dst, as ggml's quantize_row_q8_0_ref
// and gguf.quants.quantize(..., Q8_0) do, bit for bit: d = max|x| / 127, q = round(x / d) half away
// from zero (through 1/d), d stored as f16.
void kiln_quant_quantize_row_q8_0(const float *src, kiln_block_q8_0 *dst, int64_t n);

// Quantizes n f32 values to Q8_K blocks as ggml's quantize_row_q8_K_ref: per 256 values, the one of
// largest magnitude maps to -127, d = 1 / scale in f32, and bsums are filled.
void kiln_quant_quantize_row_q8_K(const float *src, kiln_block_q8_K *dst, int64_t n);
void kiln_quant_dequantize_row_q8_K(const kiln_block_q8_K *src, float *dst, int64_t n);

// sum_i dequant(row)[i] * x[i] over n elements: the interpreter's semantics. Products and the sum
// are taken in double and rounded once, so the result is within one f32 rounding of the exact
// value for the dequantized weights.
float kiln_quant_vec_dot_f32(kiln_dtype type, int64_t n, const void *row, const float *x);

/* ---- llama.cpp's way: 8-bit activations (not the interpreter's semantics; see above) ---------- */

// The activations kiln_quant_vec_dot_q8 pairs with `type` are Q8_0 blocks for Q8_0, Q4_0 and Q4_1
// weights and Q8_K blocks for Q4_K and Q6_K (as in llama.cpp). Bytes of n activations in that format:
size_t kiln_quant_q8_row_bytes(kiln_dtype type, int64_t n);
// Quantizes n activations into the format above (Q8_0 or Q8_K blocks) at dst.
void kiln_quant_quantize_row_q8(kiln_dtype type, const float *x, void *dst, int64_t n);
// Dot product of a quantized row with quantized activations, as ggml's ggml_vec_dot_<type>_q8_*:
// integer products and sums within a block (exact), scaled and summed in f32 over blocks. Q4_1 uses
// Q8_0 activations and the block's exact sum of q8 (llama.cpp uses Q8_1, whose precomputed sum is
// rounded to f16).
float kiln_quant_vec_dot_q8(kiln_dtype type, int64_t n, const void *row, const void *x_q8);

#endif  // KILN_QUANT_H
