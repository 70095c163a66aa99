/* quant.c — reference code for ggml's block formats: one block at a time, written to read like the
 * layouts in quant.h, with the operations in the order of gguf's numpy code (quant.h says why the
 * results are bit-identical to it). The 8-bit-activation dot products follow ggml's reference
 * ggml_vec_dot_*_q8_* (integer sums within a block, f32 across blocks).
 */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "half.h"

_Static_assert(sizeof(kiln_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(kiln_block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(kiln_block_q4_1) == 20, "Q4_1 block is 20 bytes");
_Static_assert(sizeof(kiln_block_q4_K) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(kiln_block_q6_K) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(kiln_block_q8_K) == 292, "Q8_K block is 292 bytes");

bool kiln_quant_supported(kiln_dtype type) {
    switch (type) {
    case KILN_F32: case KILN_F16: case KILN_BF16:
    case KILN_Q8_0: case KILN_Q4_0: case KILN_Q4_1: case KILN_Q4_K: case KILN_Q6_K: return true;
    default: return false;
    }
}

// Caller's bugs, not file errors: the type and the length were checked when the tensor was read.
static int64_t n_blocks(kiln_dtype type, int64_t n) {
    KILN_ASSERT(kiln_quant_supported(type) && n >= 0);
    int64_t block = kiln_dtype_get_info(type)->block_size;
    KILN_ASSERT(n % block == 0);
    return n / block;
}

// Any one block. Blocks are copied out of rows before use, so rows may sit at any byte address (a
// GGUF file may set general.alignment to 1) without unaligned accesses.
typedef union any_block {
    kiln_block_q8_0 q8_0;
    kiln_block_q4_0 q4_0;
    kiln_block_q4_1 q4_1;
    kiln_block_q4_K q4_K;
    kiln_block_q6_K q6_K;
    kiln_block_q8_K q8_K;
} any_block;

static const any_block *block_at(any_block *copy, const void *row, int64_t i, size_t block_bytes) {
    memcpy(copy, (const unsigned char *)row + (size_t)i * block_bytes, block_bytes);
    return copy;
}

/* ---- one block each --------------------------------------------------------------------------- */

static void dequant_q8_0(const kiln_block_q8_0 *b, float *y) {
    float d = kiln_f16_to_f32(b->d);
    for (int e = 0; e < 32; e++) y[e] = (float)b->qs[e] * d;
}

static void dequant_q4_0(const kiln_block_q4_0 *b, float *y) {
    float d = kiln_f16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b->qs[j] & 0xF) - 8);
        y[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
    }
}

static void dequant_q4_1(const kiln_block_q4_1 *b, float *y) {
    float d = kiln_f16_to_f32(b->d), m = kiln_f16_to_f32(b->m);
    for (int j = 0; j < 16; j++) {
        float lo = d * (float)(b->qs[j] & 0xF);
        float hi = d * (float)(b->qs[j] >> 4);
        y[j] = lo + m;
        y[j + 16] = hi + m;
    }
}

// Sub-block j's 6-bit scale and minimum from the packed scales[12] (ggml's get_scale_min_k4).
static void q4_K_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void dequant_q4_K(const kiln_block_q4_K *b, float *y) {
    float d = kiln_f16_to_f32(b->d), dmin = kiln_f16_to_f32(b->dmin);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        q4_K_scale_min(b->scales, j, &sc, &mn);
        float d1 = d * (float)sc;
        float m1 = dmin * (float)mn;
        const uint8_t *q = b->qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            float p = d1 * (float)((q[l] >> shift) & 0xF);
            y[32 * j + l] = p - m1;
        }
    }
}

// The 6-bit value (0..63) of element e of a Q6_K block.
static int q6_K_value(const kiln_block_q6_K *b, int e) {
    int h = e / 128, r = e % 128;
    int lo = (b->ql[64 * h + r % 64] >> (4 * (r / 64))) & 0xF;
    int hi = (b->qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
    return lo | hi << 4;
}

static void dequant_q6_K(const kiln_block_q6_K *b, float *y) {
    float d = kiln_f16_to_f32(b->d);
    for (int g = 0; g < 16; g++) {
        float dg = d * (float)b->scales[g];
        for (int l = 0; l < 16; l++) y[16 * g + l] = dg * (float)(q6_K_value(b, 16 * g + l) - 32);
    }
}

/* ---- rows ------------------------------------------------------------------------------------ */

void kiln_quant_dequantize_row(kiln_dtype type, const void *src, float *dst, int64_t n) {
    int64_t nb = n_blocks(type, n);
    switch (type) {
    case KILN_F32: case KILN_F16: case KILN_BF16: kiln_convert_to_f32(type, src, dst, (size_t)n); return;
    default: break;
    }
    size_t bytes = (size_t)kiln_dtype_get_info(type)->block_bytes;
    any_block copy;
    for (int64_t i = 0; i < nb; i++) {
        const any_block *blk = block_at(&copy, src, i, bytes);
        switch (type) {
        case KILN_Q8_0: dequant_q8_0(&blk->q8_0, dst + 32 * i); break;
        case KILN_Q4_0: dequant_q4_0(&blk->q4_0, dst + 32 * i); break;
        case KILN_Q4_1: dequant_q4_1(&blk->q4_1, dst + 32 * i); break;
        case KILN_Q4_K: dequant_q4_K(&blk->q4_K, dst + 256 * i); break;
        case KILN_Q6_K: dequant_q6_K(&blk->q6_K, dst + 256 * i); break;
        default: KILN_ASSERT(0);
        }
    }
}

void kiln_quant_quantize_row_q8_0(const float *src, kiln_block_q8_0 *dst, int64_t n) {
    KILN_ASSERT(n >= 0 && n % 32 == 0);
    for (int64_t i = 0; i < n / 32; i++) {
        const float *x = src + 32 * i;
        float amax = 0.0f;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(x[e]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        dst[i].d = kiln_f32_to_f16(d);
        for (int e = 0; e < 32; e++) {
            float v = x[e] * id;
            dst[i].qs[e] = (int8_t)roundf(v);   // half away from zero, as ggml and gguf's np_roundf
        }
    }
}

// ggml's nearest_int: round to nearest, ties to even, for |f| < 2^22.
static int nearest_int(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

void kiln_quant_quantize_row_q8_K(const float *src, kiln_block_q8_K *dst, int64_t n) {
    KILN_ASSERT(n >= 0 && n % 256 == 0);
    for (int64_t i = 0; i < n / 256; i++) {
        const float *x = src + 256 * i;
        kiln_block_q8_K *b = &dst[i];
        float amax = 0.0f, max = 0.0f;
        for (int e = 0; e < 256; e++) {
            float ax = fabsf(x[e]);
            if (ax > amax) {
                amax = ax;
                max = x[e];
            }
        }
        memset(b, 0, sizeof(*b));
        if (amax == 0.0f) continue;
        float iscale = -127.0f / max;
        for (int e = 0; e < 256; e++) {
            int v = nearest_int(iscale * x[e]);
            b->qs[e] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)sum;
        }
        b->d = 1.0f / iscale;
    }
}

void kiln_quant_dequantize_row_q8_K(const kiln_block_q8_K *src, float *dst, int64_t n) {
    KILN_ASSERT(n >= 0 && n % 256 == 0);
    for (int64_t i = 0; i < n / 256; i++)
        for (int e = 0; e < 256; e++) dst[256 * i + e] = src[i].d * (float)src[i].qs[e];
}

float kiln_quant_vec_dot_f32(kiln_dtype type, int64_t n, const void *row, const float *x) {
    (void)n_blocks(type, n);
    const kiln_dtype_info *info = kiln_dtype_get_info(type);
    // 256 values at a time: every block size divides it, so each piece is whole blocks.
    const unsigned char *src = row;
    float w[256];
    double sum = 0.0;
    for (int64_t done = 0; done < n; done += 256) {
        int64_t len = KILN_MIN(256, n - done);
        kiln_quant_dequantize_row(type, src + (size_t)(done / info->block_size) * (size_t)info->block_bytes, w, len);
        for (int64_t e = 0; e < len; e++) sum += (double)w[e] * (double)x[done + e];
    }
    return (float)sum;
}

/* ---- 8-bit activations ----------------------------------------------------------------------- */

static bool uses_q8_K(kiln_dtype type) { return type == KILN_Q4_K || type == KILN_Q6_K; }

size_t kiln_quant_q8_row_bytes(kiln_dtype type, int64_t n) {
    KILN_ASSERT(type == KILN_Q8_0 || type == KILN_Q4_0 || type == KILN_Q4_1 || uses_q8_K(type));
    KILN_ASSERT(n >= 0 && n % (uses_q8_K(type) ? 256 : 32) == 0);
    return uses_q8_K(type) ? (size_t)(n / 256) * sizeof(kiln_block_q8_K) : (size_t)(n / 32) * sizeof(kiln_block_q8_0);
}

void kiln_quant_quantize_row_q8(kiln_dtype type, const float *x, void *dst, int64_t n) {
    (void)kiln_quant_q8_row_bytes(type, n);   // checks type and n
    if (uses_q8_K(type)) kiln_quant_quantize_row_q8_K(x, dst, n);
    else kiln_quant_quantize_row_q8_0(x, dst, n);
}

// sum over 16 bytes of 4-bit values (unbiased 0..15) of one Q4 block times its Q8_0 partner.
static int dot_q4_q8(const uint8_t *qs, const int8_t *q8, int bias) {
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        sum += ((qs[j] & 0xF) - bias) * q8[j];
        sum += ((qs[j] >> 4) - bias) * q8[j + 16];
    }
    return sum;
}

float kiln_quant_vec_dot_q8(kiln_dtype type, int64_t n, const void *row, const void *x_q8) {
    (void)kiln_quant_q8_row_bytes(type, n);
    size_t bytes = (size_t)kiln_dtype_get_info(type)->block_bytes;
    any_block wcopy, xcopy;
    float sum = 0.0f;
    if (!uses_q8_K(type)) {
        for (int64_t i = 0; i < n / 32; i++) {
            const any_block *w = block_at(&wcopy, row, i, bytes);
            const kiln_block_q8_0 *y = &block_at(&xcopy, x_q8, i, sizeof(kiln_block_q8_0))->q8_0;
            float dy = kiln_f16_to_f32(y->d);
            if (type == KILN_Q8_0) {
                int s = 0;
                for (int e = 0; e < 32; e++) s += w->q8_0.qs[e] * y->qs[e];
                sum += (float)s * (kiln_f16_to_f32(w->q8_0.d) * dy);
            } else if (type == KILN_Q4_0) {
                sum += (float)dot_q4_q8(w->q4_0.qs, y->qs, 8) * (kiln_f16_to_f32(w->q4_0.d) * dy);
            } else {   // Q4_1: (d * q + m) . (dy * q8) = d dy (q . q8) + m dy (sum of q8)
                int s8 = 0;
                for (int e = 0; e < 32; e++) s8 += y->qs[e];
                float a = (float)dot_q4_q8(w->q4_1.qs, y->qs, 0) * (kiln_f16_to_f32(w->q4_1.d) * dy);
                float c = (float)s8 * (kiln_f16_to_f32(w->q4_1.m) * dy);
                sum += a + c;
            }
        }
        return sum;
    }
    for (int64_t i = 0; i < n / 256; i++) {
        const any_block *w = block_at(&wcopy, row, i, bytes);
        const kiln_block_q8_K *y = &block_at(&xcopy, x_q8, i, sizeof(kiln_block_q8_K))->q8_K;
        if (type == KILN_Q4_K) {
            const kiln_block_q4_K *b = &w->q4_K;
            int s_sc = 0, s_mn = 0;   // sum_j sc[j] * (q4 . q8 of sub-block j); sum_j mn[j] * (sum of its q8)
            for (int j = 0; j < 8; j++) {
                int sc, mn, s = 0;
                q4_K_scale_min(b->scales, j, &sc, &mn);
                const uint8_t *q = b->qs + 32 * (j / 2);
                for (int l = 0; l < 32; l++) s += ((q[l] >> (4 * (j % 2))) & 0xF) * y->qs[32 * j + l];
                s_sc += sc * s;
                s_mn += mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
            }
            float a = (kiln_f16_to_f32(b->d) * y->d) * (float)s_sc;
            float c = (kiln_f16_to_f32(b->dmin) * y->d) * (float)s_mn;
            sum += a - c;
        } else {
            const kiln_block_q6_K *b = &w->q6_K;
            int s6 = 0;
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += (q6_K_value(b, 16 * g + l) - 32) * y->qs[16 * g + l];
                s6 += b->scales[g] * s;
            }
            sum += (kiln_f16_to_f32(b->d) * y->d) * (float)s6;
        }
    }
    return sum;
}
