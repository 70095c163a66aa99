/* quant_matmul.c — y = x · dequant(W)ᵀ on block-quantized weights, without ever holding W in f32:
 * decoding (M <= 4) decodes each W row's blocks in vector registers and multiplies them into the
 * few activation rows' sums in the same pass; prefill dequantizes a panel of W rows into an f32
 * tile for a GEMM. The AVX-512 and AVX2+FMA paths are chosen at run time (CPUID), so libkiln_rt
 * itself stays built for any x86-64. Every path computes with exactly the reference's
 * dequantized values (common/quant.h); only the order of the f32 sums differs.
 */
#include "runtime/quant_matmul.h"

#include <cblas.h>

#include "common/half.h"
#include "common/quant.h"
#include "runtime/cpu_features.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QM_X86 1
#include <immintrin.h>
#define QM_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

/* ---- one row: dequantize ---- */

static void dequant_plain(int32_t type, const void *src, float *dst, int64_t n) { kiln_quant_dequantize_row((kiln_dtype)type, src, dst, n); }

#ifdef QM_X86
QM_AVX2 static inline float f16_at(const uint8_t *p) {   // F16C: exact, as kiln_f16_to_f32
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// 16 bytes of nibbles: elements 0..15 are the low nibbles, 16..31 the high ones (Q4_0, Q4_1).
QM_AVX2 static inline void nibbles(const uint8_t *qs, __m256 q[4]) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    q[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    q[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    q[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    q[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

// d * q (Q8_0, Q4_0 with q - 8) and d * q + m (Q4_1) are exact products plus at most one
// rounded add, so the FMA gives the reference's values bit for bit.
QM_AVX2 static void dequant_kquant_avx2(int32_t type, const void *src, float *dst, int64_t n);

QM_AVX2 static void dequant_avx2(int32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t nb = n / 32;
    switch (type) {
    case KILN_Q8_0:
        for (int64_t i = 0; i < nb; i++, p += 34, dst += 32) {
            __m256 d = _mm256_set1_ps(f16_at(p));
            for (int j = 0; j < 4; j++) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(p + 2 + 8 * j));
                _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
            }
        }
        return;
    case KILN_Q4_0:
        for (int64_t i = 0; i < nb; i++, p += 18, dst += 32) {
            __m256 d = _mm256_set1_ps(f16_at(p)), eight = _mm256_set1_ps(8.0f), q[4];
            nibbles(p + 2, q);
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(_mm256_sub_ps(q[j], eight), d));
        }
        return;
    case KILN_Q4_1:
        for (int64_t i = 0; i < nb; i++, p += 20, dst += 32) {
            __m256 d = _mm256_set1_ps(f16_at(p)), m = _mm256_set1_ps(f16_at(p + 2)), q[4];
            nibbles(p + 4, q);
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(dst + 8 * j, _mm256_fmadd_ps(q[j], d, m));
        }
        return;
    case KILN_Q4_K:
    case KILN_Q6_K: dequant_kquant_avx2(type, src, dst, n); return;
    default: dequant_plain(type, src, dst, n);
    }
}

// sum w[i] * x[i], four vector accumulators.
QM_AVX2 static float dot_avx2(const float *w, const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += w[i] * x[i];
    return r;
}
#endif

static float dot_plain(const float *w, const float *x, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += w[i + l] * x[i + l];
    float r = 0;
    for (; i < n; i++) r += w[i] * x[i];
    for (int l = 0; l < 8; l++) r += acc[l];
    return r;
}

typedef void (*dequant_fn)(int32_t, const void *, float *, int64_t);
typedef float (*dot_fn)(const float *, const float *, int64_t);

static bool have_avx2(void) {
#ifdef QM_X86
    static int cached = -1;   // benign race: every thread computes the same answer
    if (cached < 0)   // runtime/cpu_features.c: CPUID and the OS's XSAVE state (clang 14's builtin lacks "f16c")
        cached = rt_cpu_has_feature("avx2") && rt_cpu_has_feature("fma") && rt_cpu_has_feature("f16c");
    return cached == 1;
#else
    return false;
#endif
}

static bool have_avx512(void) {
#ifdef QM_X86
    static int cached = -1;
    if (cached < 0)
        cached = have_avx2() && rt_cpu_has_feature("avx512f") && rt_cpu_has_feature("avx512bw") && rt_cpu_has_feature("avx512vl");
    return cached == 1;
#else
    return false;
#endif
}

static int forced_isa = -1;   // rt_quant_matmul_force_isa (tests)

int rt_quant_matmul_force_isa(int isa) {
    int old = forced_isa;
    forced_isa = isa;
    return old;
}

// The best of RT_QUANT_ISA_* this CPU has, capped by a forced level.
static int quant_isa(void) {
    int isa = have_avx512() ? RT_QUANT_ISA_AVX512 : have_avx2() ? RT_QUANT_ISA_AVX2 : RT_QUANT_ISA_SCALAR;
    return forced_isa >= 0 && forced_isa < isa ? forced_isa : isa;
}

static dequant_fn pick_dequant(void) {
#ifdef QM_X86
    if (quant_isa() >= RT_QUANT_ISA_AVX2) return dequant_avx2;
#endif
    return dequant_plain;
}

static dot_fn pick_dot(void) {
#ifdef QM_X86
    if (quant_isa() >= RT_QUANT_ISA_AVX2) return dot_avx2;
#endif
    return dot_plain;
}

void rt_quant_dequantize_row(int32_t type, const void *src, float *dst, int64_t n) { pick_dequant()(type, src, dst, n); }

/* ---- products ---- */

typedef struct qm_job {
    int64_t M, N, K, lda, ldc, row_bytes;
    const float *A;
    const uint8_t *W;
    float *C;          // direct: the output; panel: the tile
    int32_t type;
    dequant_fn dequant;
    dot_fn dot;
    void (*fused)(const struct qm_job *, int64_t, int64_t);   // M <= 4 in registers, or NULL
    const float *Ap;   // A with each run of 32 in nibble lane order (AVX-512 Q4_0/Q4_1/Q4_K), row stride K
    bool failed;       // a task's buffer could not be allocated
} qm_job;

/* ---- decoding (M <= 4): dequantize in registers and dot, no buffer ----
 * For each W row, each run of 32 weights is decoded into vector registers — exactly the values
 * kiln_quant_dequantize_row gives (same expressions, each rounded once) — and multiplied into
 * per-row f32 accumulators with every A row's matching 32 values. One pass over the blocks, nothing
 * stored: the loop is bound by reading W. AVX-512 takes two W rows at a time (A's loads shared);
 * AVX2 one. The K-quants' per-sub-block scales are unpacked once per super-block (ks_prep). */

// A super-block's scales as f32: Q4_K a[j] = d * sc[j], b[j] = dmin * mn[j] (exact products);
// Q6_K a[g] = d * scales[g] (exact).
typedef struct qm_kscales {
    float a[16], b[8];
} qm_kscales;

#ifdef QM_X86
QM_AVX2 static inline void ks_prep(int32_t type, const uint8_t *p, qm_kscales *s) {
    if (type == KILN_Q4_K) {
        // sc[j], mn[j] for j < 4 are scales[j], scales[j + 4] (low 6 bits); for j >= 4 they take
        // their low 4 bits from scales[j + 4] and their high 2 from the top of scales[j - 4], scales[j].
        uint32_t w0, w1, w2;
        memcpy(&w0, p + 4, 4), memcpy(&w1, p + 8, 4), memcpy(&w2, p + 12, 4);
        uint32_t sc_lo = w0 & 0x3F3F3F3F, mn_lo = w1 & 0x3F3F3F3F;
        uint32_t sc_hi = (w2 & 0x0F0F0F0F) | ((w0 >> 2) & 0x30303030), mn_hi = ((w2 >> 4) & 0x0F0F0F0F) | ((w1 >> 2) & 0x30303030);
        __m256 d = _mm256_set1_ps(f16_at(p)), dmin = _mm256_set1_ps(f16_at(p + 2));
        __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo)));
        __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)mn_hi, (int)mn_lo)));
        _mm256_storeu_ps(s->a, _mm256_mul_ps(d, sc));
        _mm256_storeu_ps(s->b, _mm256_mul_ps(dmin, mn));
    } else if (type == KILN_Q6_K) {
        __m256 d = _mm256_set1_ps(f16_at(p + 208));
        __m128i sc = _mm_loadu_si128((const __m128i *)(p + 192));
        _mm256_storeu_ps(s->a, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))));
        _mm256_storeu_ps(s->a + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8)))));
    }
}
#endif

static inline int qm_block_elems(int32_t type) { return type == KILN_Q4_K || type == KILN_Q6_K ? 256 : 32; }
static inline int qm_block_bytes(int32_t type) {
    switch (type) {
    case KILN_Q8_0: return 34;
    case KILN_Q4_0: return 18;
    case KILN_Q4_1: return 20;
    case KILN_Q4_K: return 144;
    default: return 210;   // Q6_K
    }
}

#ifdef QM_X86
#define QM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define QM_INLINE inline __attribute__((always_inline))
#define QM_UNROLL _Pragma("GCC unroll 8")
// Prefetch distance in bytes along W's rows: the hardware's prefetchers alone leave the decode
// loops waiting on memory. On a shared Sapphire Rapids VM (2 threads, 96 MB of SmolLM2 weights
// per token) 4-8 KiB ahead decoded ~10% faster than 2 KiB, and 1-6 KiB 25-50% faster than none.
#ifndef QM_PREFETCH
#define QM_PREFETCH 4096
#endif

// Q6_K: the 32 six-bit values of sub-block t (0..7) minus 32, as bytes.
QM_AVX2 static QM_INLINE __m256i q6_bytes(const uint8_t *p, int t) {
    int h = t / 4, u = t % 4;
    __m256i ql = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32 * (u % 2)));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
    ql = _mm256_and_si256(_mm256_srl_epi16(ql, _mm_cvtsi32_si128(4 * (u / 2))), _mm256_set1_epi8(0x0F));
    qh = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * u)), _mm256_set1_epi8(3));
    __m256i q = _mm256_or_si256(ql, _mm256_slli_epi16(qh, 4));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(32));
}

// Q4_K: the 32 four-bit values of sub-block t (0..7), as bytes.
QM_AVX2 static QM_INLINE __m256i q4k_bytes(const uint8_t *p, int t) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * (t / 2)));
    return _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(4 * (t % 2))), _mm256_set1_epi8(0x0F));
}

// Four-bit weights decoded through a table: the 16 values a block's (or sub-block's) nibbles
// stand for are computed once, exactly as the reference does (d * (q - 8), d * q + m,
// (d * sc) * q - dmin * mn), and each weight is picked with one vpermps, which reads only the
// low 4 bits of its index lane, so no mask and no int-to-float conversion. The 16 bytes of
// nibbles are broadcast to the four 128-bit lanes and shifted per lane (no byte-to-dword
// shuffles): lane 4c + i of the first vector takes byte 4i + c (element 4i + c), of the second
// the same byte's next nibble. A's blocks are permuted to match once per product
// (permute_nibble_order). Three vector ops per 16 weights instead of five.
QM_AVX512 static QM_INLINE __m512 q4_iota(void) { return _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0); }

// 16 bytes of nibbles at qs: the low nibbles, shifted right by `extra` more bits (0 or 4), as
// table indices in nibble lane order; and the same bytes' nibbles `extra + 4` bits up.
QM_AVX512 static QM_INLINE void q4_lookup(const uint8_t *qs, int extra, __m512 table, __m512 w[2]) {
    const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs));
    const __m512i sh = _mm512_add_epi32(_mm512_set_epi32(24, 24, 24, 24, 16, 16, 16, 16, 8, 8, 8, 8, 0, 0, 0, 0), _mm512_set1_epi32(extra));
    const __m512i lo = _mm512_srlv_epi32(b, sh);
    w[0] = _mm512_permutexvar_ps(lo, table);
    w[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(lo, 4), table);
}

// Weights [32 t, 32 t + 32) of the block at p as two vectors of 16.
QM_AVX512 static QM_INLINE void dec512(int32_t type, const uint8_t *p, int t, const qm_kscales *ks, __m512 w[2]) {
    switch (type) {
    case KILN_Q8_0: {
        __m512 d = _mm512_set1_ps(f16_at(p));
        w[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))), d);
        w[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))), d);
        return;
    }
    case KILN_Q4_0:
    case KILN_Q4_1: {
        int off = type == KILN_Q4_0 ? 2 : 4;
        __m128i b = _mm_loadu_si128((const __m128i *)(p + off)), m = _mm_set1_epi8(0x0F);
        __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(b, m)));
        __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), m)));
        __m512 d = _mm512_set1_ps(f16_at(p));
        if (type == KILN_Q4_0) {
            __m512 eight = _mm512_set1_ps(8.0f);
            w[0] = _mm512_mul_ps(_mm512_sub_ps(q0, eight), d);
            w[1] = _mm512_mul_ps(_mm512_sub_ps(q1, eight), d);
        } else {
            __m512 mn = _mm512_set1_ps(f16_at(p + 2));
            w[0] = _mm512_fmadd_ps(q0, d, mn);
            w[1] = _mm512_fmadd_ps(q1, d, mn);
        }
        return;
    }
    case KILN_Q4_K: {   // A in nibble lane order: elements 0..15 from bytes 0..15, 16..31 from 16..31
        const uint8_t *qs = p + 16 + 32 * (t / 2);
        __m512 table = _mm512_fmsub_ps(q4_iota(), _mm512_set1_ps(ks->a[t]), _mm512_set1_ps(ks->b[t])), lo[2], hi[2];
        q4_lookup(qs, 4 * (t % 2), table, lo);
        q4_lookup(qs + 16, 4 * (t % 2), table, hi);
        w[0] = lo[0];
        w[1] = hi[0];
        return;
    }
    default: {   // Q6_K
        __m256i q = q6_bytes(p, t);
        w[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), _mm512_set1_ps(ks->a[2 * t]));
        w[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), _mm512_set1_ps(ks->a[2 * t + 1]));
        return;
    }
    }
}

// Weights [32 t, 32 t + 32) of the block at p as four vectors of 8.
QM_AVX2 static QM_INLINE void dec256(int32_t type, const uint8_t *p, int t, const qm_kscales *ks, __m256 w[4]) {
    switch (type) {
    case KILN_Q8_0: {
        __m256 d = _mm256_set1_ps(f16_at(p));
        for (int i = 0; i < 4; i++)
            w[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * i)))), d);
        return;
    }
    case KILN_Q4_0:
    case KILN_Q4_1: {
        __m256 q[4], d = _mm256_set1_ps(f16_at(p));
        nibbles(p + (type == KILN_Q4_0 ? 2 : 4), q);
        if (type == KILN_Q4_0) {
            __m256 eight = _mm256_set1_ps(8.0f);
            for (int i = 0; i < 4; i++) w[i] = _mm256_mul_ps(_mm256_sub_ps(q[i], eight), d);
        } else {
            __m256 mn = _mm256_set1_ps(f16_at(p + 2));
            for (int i = 0; i < 4; i++) w[i] = _mm256_fmadd_ps(q[i], d, mn);
        }
        return;
    }
    case KILN_Q4_K: {
        __m256i q = q4k_bytes(p, t);
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        __m256 a = _mm256_set1_ps(ks->a[t]), b = _mm256_set1_ps(ks->b[t]);
        w[0] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), a, b);
        w[1] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), a, b);
        w[2] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), a, b);
        w[3] = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), a, b);
        return;
    }
    default: {   // Q6_K
        __m256i q = q6_bytes(p, t);
        __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        __m256 a0 = _mm256_set1_ps(ks->a[2 * t]), a1 = _mm256_set1_ps(ks->a[2 * t + 1]);
        w[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), a0);
        w[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), a0);
        w[2] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), a1);
        w[3] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), a1);
        return;
    }
    }
}

static void permute_nibble_order(const float *x, float *y, int64_t K) {
    for (int64_t b = 0; b < K; b += 32)
        for (int c = 0; c < 4; c++)
            for (int i = 0; i < 4; i++) {
                y[b + 4 * c + i] = x[b + 4 * i + c];
                y[b + 16 + 4 * c + i] = x[b + 16 + 4 * i + c];
            }
}

// Q8_0, Q4_0, Q4_1: as fused_avx512 below, with the blocks' f16 scales converted 16 at a time
// (one gather) for a run of up to 64 blocks ahead of the dot products; the loop broadcasts them
// from memory, sparing the shuffle port.
// R (1, 2 or 4, a constant) rows from n.
QM_AVX512 static QM_INLINE void fused32_rows(const qm_job *j, int64_t n, const int R, const int M, const int32_t type) {
    const int bb = qm_block_bytes(type);
    const int64_t nb = j->K / 32;
    const bool nib = type != KILN_Q8_0;
    const float *A = nib ? j->Ap : j->A;
    const int64_t lda = nib ? j->K : j->lda;
    float sd[4][64], sm[4][64];
    const __m512i offs = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(bb));
    const uint8_t *row[4];
    QM_UNROLL
    for (int r = 0; r < 4; r++) row[r] = j->W + (n + (r < R ? r : R - 1)) * j->row_bytes;
    __m512 acc[4][4][2];
    QM_UNROLL
    for (int r = 0; r < 4; r++)
        QM_UNROLL
        for (int m = 0; m < 4; m++) acc[r][m][0] = acc[r][m][1] = _mm512_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += 64) {
        const int64_t bn = KILN_MIN(64, nb - b0);
        QM_UNROLL
        for (int r = 0; r < R; r++)
            for (int64_t b = 0; b < bn; b += 16) {   // 16 blocks' f16 (d, m) words in one gather
                __mmask16 k = bn - b >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (bn - b)) - 1);
                __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, offs, row[r] + (b0 + b) * bb, 1);
                _mm512_storeu_ps(sd[r] + b, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)));
                if (type == KILN_Q4_1) _mm512_storeu_ps(sm[r] + b, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16))));
            }
        for (int64_t b = 0; b < bn; b++) {
            __m512 w[4][2];
            QM_UNROLL
            for (int r = 0; r < R; r++) {
                const uint8_t *p = row[r] + (b0 + b) * bb;
                _mm_prefetch((const char *)p + QM_PREFETCH, _MM_HINT_T0);
                __m512 d = _mm512_set1_ps(sd[r][b]);
                if (type == KILN_Q8_0) {
                    w[r][0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))), d);
                    w[r][1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))), d);
                } else if (type == KILN_Q4_0) {
                    q4_lookup(p + 2, 0, _mm512_mul_ps(_mm512_sub_ps(q4_iota(), _mm512_set1_ps(8.0f)), d), w[r]);
                } else {
                    q4_lookup(p + 4, 0, _mm512_fmadd_ps(q4_iota(), d, _mm512_set1_ps(sm[r][b])), w[r]);
                }
            }
            const float *x = A + (b0 + b) * 32;
            QM_UNROLL
            for (int m = 0; m < M; m++, x += lda) {
                __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
                QM_UNROLL
                for (int r = 0; r < R; r++) {
                    acc[r][m][0] = _mm512_fmadd_ps(w[r][0], x0, acc[r][m][0]);
                    acc[r][m][1] = _mm512_fmadd_ps(w[r][1], x1, acc[r][m][1]);
                }
            }
        }
    }
    QM_UNROLL
    for (int r = 0; r < R; r++)
        QM_UNROLL
        for (int m = 0; m < M; m++) j->C[m * j->ldc + n + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][m][0], acc[r][m][1]));
}

QM_AVX512 static QM_INLINE void fused32_avx512(const qm_job *j, int64_t begin, int64_t end, const int M, const int32_t type) {
    int64_t n = begin;
    if (M <= 2)   // four rows' sums fit the registers
        for (; n + 4 <= end; n += 4) fused32_rows(j, n, 4, M, type);
    for (; n + 2 <= end; n += 2) fused32_rows(j, n, 2, M, type);
    if (n < end) fused32_rows(j, n, 1, M, type);
}

// Q4_K and Q6_K rows through dec256 (elements in natural order, bit-identical to the reference).
QM_AVX2 static void dequant_kquant_avx2(int32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    const int bb = type == KILN_Q4_K ? 144 : 210;
    for (int64_t i = 0; i < n / 256; i++, p += bb) {
        qm_kscales ks;
        ks_prep(type, p, &ks);
        for (int t = 0; t < 8; t++, dst += 32) {
            __m256 w[4];
            if (type == KILN_Q4_K) dec256(KILN_Q4_K, p, t, &ks, w);
            else dec256(KILN_Q6_K, p, t, &ks, w);
            for (int v = 0; v < 4; v++) _mm256_storeu_ps(dst + 8 * v, w[v]);
        }
    }
}

// C[m, n] for m < M, n in [begin, end): R = 2 W rows at a time while two are left, then one.
QM_AVX512 static QM_INLINE void fused_avx512(const qm_job *j, int64_t begin, int64_t end, const int M, const int32_t type) {
    const int be = qm_block_elems(type), bb = qm_block_bytes(type), subs = be / 32;
    const int64_t nb = j->K / be;
    const float *A = type == KILN_Q4_K ? j->Ap : j->A;   // Q4_K: in nibble lane order
    const int64_t lda = type == KILN_Q4_K ? j->K : j->lda;
    int64_t n = begin;
    for (; n + 2 <= end; n += 2) {
        const uint8_t *r0 = j->W + n * j->row_bytes, *r1 = r0 + j->row_bytes;
        __m512 acc[2][4][2];
        for (int r = 0; r < 2; r++)
            for (int m = 0; m < 4; m++) acc[r][m][0] = acc[r][m][1] = _mm512_setzero_ps();
        qm_kscales k0, k1;
        for (int64_t b = 0; b < nb; b++, r0 += bb, r1 += bb) {
            for (int o = 0; o < bb; o += 64) _mm_prefetch((const char *)r0 + QM_PREFETCH + o, _MM_HINT_T0);
            for (int o = 0; o < bb; o += 64) _mm_prefetch((const char *)r1 + QM_PREFETCH + o, _MM_HINT_T0);
            if (subs > 1) ks_prep(type, r0, &k0), ks_prep(type, r1, &k1);
            for (int t = 0; t < subs; t++) {
                __m512 w0[2], w1[2];
                dec512(type, r0, t, &k0, w0);
                dec512(type, r1, t, &k1, w1);
                const float *x = A + b * be + 32 * t;
                for (int m = 0; m < M; m++, x += lda) {
                    __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
                    acc[0][m][0] = _mm512_fmadd_ps(w0[0], x0, acc[0][m][0]);
                    acc[0][m][1] = _mm512_fmadd_ps(w0[1], x1, acc[0][m][1]);
                    acc[1][m][0] = _mm512_fmadd_ps(w1[0], x0, acc[1][m][0]);
                    acc[1][m][1] = _mm512_fmadd_ps(w1[1], x1, acc[1][m][1]);
                }
            }
        }
        for (int m = 0; m < M; m++) {
            j->C[m * j->ldc + n] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][m][0], acc[0][m][1]));
            j->C[m * j->ldc + n + 1] = _mm512_reduce_add_ps(_mm512_add_ps(acc[1][m][0], acc[1][m][1]));
        }
    }
    for (; n < end; n++) {
        const uint8_t *r0 = j->W + n * j->row_bytes;
        __m512 acc[4][2];
        for (int m = 0; m < 4; m++) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
        qm_kscales k0;
        for (int64_t b = 0; b < nb; b++, r0 += bb) {
            for (int o = 0; o < bb; o += 64) _mm_prefetch((const char *)r0 + QM_PREFETCH + o, _MM_HINT_T0);
            if (subs > 1) ks_prep(type, r0, &k0);
            for (int t = 0; t < subs; t++) {
                __m512 w0[2];
                dec512(type, r0, t, &k0, w0);
                const float *x = A + b * be + 32 * t;
                for (int m = 0; m < M; m++, x += lda) {
                    acc[m][0] = _mm512_fmadd_ps(w0[0], _mm512_loadu_ps(x), acc[m][0]);
                    acc[m][1] = _mm512_fmadd_ps(w0[1], _mm512_loadu_ps(x + 16), acc[m][1]);
                }
            }
        }
        for (int m = 0; m < M; m++) j->C[m * j->ldc + n] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]));
    }
}


QM_AVX2 static inline float hsum256(__m256 s) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// AVX2 Q4_0/Q4_1: the nibbles by one 16-byte broadcast and per-lane shifts, as on AVX-512 but in
// 8 lanes: vector v (0..3) of a block takes, in lane 4h + i, the nibble `4 * (v / 2)` bits up in
// byte 4i + 2 * (v % 2) + h (element 16 * (v / 2) + 4i + 2 * (v % 2) + h); A is permuted to
// match (permute_nibble_order_avx2). No byte-to-dword shuffles.
static void permute_nibble_order_avx2(const float *x, float *y, int64_t K) {
    for (int64_t b = 0; b < K; b += 32)
        for (int v = 0; v < 4; v++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 4; i++) y[b + 8 * v + 4 * h + i] = x[b + 16 * (v / 2) + 4 * i + 2 * (v % 2) + h];
}

QM_AVX2 static QM_INLINE void fused32_avx2(const qm_job *j, int64_t begin, int64_t end, const int M, const int32_t type) {
    const int bb = qm_block_bytes(type), off = type == KILN_Q4_0 ? 2 : 4;
    const int64_t nb = j->K / 32;
    const __m256i s0 = _mm256_set_epi32(8, 8, 8, 8, 0, 0, 0, 0), s1 = _mm256_add_epi32(s0, _mm256_set1_epi32(16)), mask = _mm256_set1_epi32(0xF);
    for (int64_t n = begin; n < end; n++) {
        const uint8_t *p = j->W + n * j->row_bytes;
        __m256 acc[4][2];
        QM_UNROLL
        for (int m = 0; m < 4; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++, p += bb) {
            _mm_prefetch((const char *)p + QM_PREFETCH, _MM_HINT_T0);
            const __m128 dm = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p));
            const __m256 d = _mm256_broadcastss_ps(dm);
            const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + off)));
            const __m256i a = _mm256_srlv_epi32(q, s0), c = _mm256_srlv_epi32(q, s1);
            __m256 w[4] = {_mm256_cvtepi32_ps(_mm256_and_si256(a, mask)), _mm256_cvtepi32_ps(_mm256_and_si256(c, mask)),
                           _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(a, 4), mask)),
                           _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(c, 4), mask))};
            if (type == KILN_Q4_0) {
                const __m256 eight = _mm256_set1_ps(8.0f);
                QM_UNROLL
                for (int v = 0; v < 4; v++) w[v] = _mm256_mul_ps(_mm256_sub_ps(w[v], eight), d);
            } else {
                const __m256 mn = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                QM_UNROLL
                for (int v = 0; v < 4; v++) w[v] = _mm256_fmadd_ps(w[v], d, mn);
            }
            const float *x = j->Ap + b * 32;
            QM_UNROLL
            for (int m = 0; m < M; m++, x += j->K) {
                acc[m][0] = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(x), acc[m][0]);
                acc[m][1] = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(x + 8), acc[m][1]);
                acc[m][0] = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(x + 16), acc[m][0]);
                acc[m][1] = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(x + 24), acc[m][1]);
            }
        }
        QM_UNROLL
        for (int m = 0; m < M; m++) j->C[m * j->ldc + n] = hsum256(_mm256_add_ps(acc[m][0], acc[m][1]));
    }
}

QM_AVX2 static QM_INLINE void fused_avx2(const qm_job *j, int64_t begin, int64_t end, const int M, const int32_t type) {
    const int be = qm_block_elems(type), bb = qm_block_bytes(type), subs = be / 32;
    const int64_t nb = j->K / be;
    for (int64_t n = begin; n < end; n++) {
        const uint8_t *r0 = j->W + n * j->row_bytes;
        __m256 acc[4][2];
        for (int m = 0; m < 4; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
        qm_kscales k0;
        for (int64_t b = 0; b < nb; b++, r0 += bb) {
            for (int o = 0; o < bb; o += 64) _mm_prefetch((const char *)r0 + QM_PREFETCH + o, _MM_HINT_T0);
            if (subs > 1) ks_prep(type, r0, &k0);
            for (int t = 0; t < subs; t++) {
                __m256 w[4];
                dec256(type, r0, t, &k0, w);
                const float *x = j->A + b * be + 32 * t;
                for (int m = 0; m < M; m++, x += j->lda) {
                    acc[m][0] = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(x), acc[m][0]);
                    acc[m][1] = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(x + 8), acc[m][1]);
                    acc[m][0] = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(x + 16), acc[m][0]);
                    acc[m][1] = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(x + 24), acc[m][1]);
                }
            }
        }
        for (int m = 0; m < M; m++) j->C[m * j->ldc + n] = hsum256(_mm256_add_ps(acc[m][0], acc[m][1]));
    }
}

typedef void (*fused_fn)(const qm_job *, int64_t, int64_t);
#define QM_FUSED_ONE(isa, T, M) \
    isa##_attr static void fused_##isa##_##T##_##M(const qm_job *j, int64_t b, int64_t e) { fused_##isa(j, b, e, M, KILN_##T); }
#define QM_FUSED32_ONE(T, M) \
    QM_AVX512 static void fused_avx512_##T##_##M(const qm_job *j, int64_t b, int64_t e) { fused32_avx512(j, b, e, M, KILN_##T); }
#define QM_FUSED32_TYPE(T) QM_FUSED32_ONE(T, 1) QM_FUSED32_ONE(T, 2) QM_FUSED32_ONE(T, 3) QM_FUSED32_ONE(T, 4)
#define QM_FUSED_TYPE(isa, T) QM_FUSED_ONE(isa, T, 1) QM_FUSED_ONE(isa, T, 2) QM_FUSED_ONE(isa, T, 3) QM_FUSED_ONE(isa, T, 4)
#define QM_FUSED_ALL(isa) \
    QM_FUSED_TYPE(isa, Q8_0) QM_FUSED_TYPE(isa, Q4_0) QM_FUSED_TYPE(isa, Q4_1) QM_FUSED_TYPE(isa, Q4_K) QM_FUSED_TYPE(isa, Q6_K)
#define QM_FUSED_ROW(isa, T) {fused_##isa##_##T##_1, fused_##isa##_##T##_2, fused_##isa##_##T##_3, fused_##isa##_##T##_4}
#define QM_FUSED_TABLE(isa) \
    {QM_FUSED_ROW(isa, Q8_0), QM_FUSED_ROW(isa, Q4_0), QM_FUSED_ROW(isa, Q4_1), QM_FUSED_ROW(isa, Q4_K), QM_FUSED_ROW(isa, Q6_K)}
#define avx512_attr QM_AVX512
#define avx2_attr QM_AVX2
QM_FUSED32_TYPE(Q8_0) QM_FUSED32_TYPE(Q4_0) QM_FUSED32_TYPE(Q4_1) QM_FUSED_TYPE(avx512, Q4_K) QM_FUSED_TYPE(avx512, Q6_K)
#define QM_FUSED32_AVX2_ONE(T, M) \
    QM_AVX2 static void fused_avx2_##T##_##M(const qm_job *j, int64_t b, int64_t e) { fused32_avx2(j, b, e, M, KILN_##T); }
#define QM_FUSED32_AVX2_TYPE(T) QM_FUSED32_AVX2_ONE(T, 1) QM_FUSED32_AVX2_ONE(T, 2) QM_FUSED32_AVX2_ONE(T, 3) QM_FUSED32_AVX2_ONE(T, 4)
QM_FUSED_TYPE(avx2, Q8_0) QM_FUSED32_AVX2_TYPE(Q4_0) QM_FUSED32_AVX2_TYPE(Q4_1) QM_FUSED_TYPE(avx2, Q4_K) QM_FUSED_TYPE(avx2, Q6_K)
static const fused_fn fused_avx512_table[5][4] = QM_FUSED_TABLE(avx512);
static const fused_fn fused_avx2_table[5][4] = QM_FUSED_TABLE(avx2);
#endif  // QM_X86

// W rows [begin, end): dequantize each into a buffer and dot it with the M rows of A.
static void direct_rows(void *ctx, int64_t begin, int64_t end) {
    qm_job *j = ctx;
    float stack[4096], *w = j->K <= 4096 ? stack : malloc((size_t)j->K * sizeof(float));
    if (!w) {
        j->failed = true;
        return;
    }
    for (int64_t n = begin; n < end; n++) {
        j->dequant(j->type, j->W + n * j->row_bytes, w, j->K);
        for (int64_t m = 0; m < j->M; m++) j->C[m * j->ldc + n] = j->dot(w, j->A + m * j->lda, j->K);
    }
    if (w != stack) free(w);
}

static void fused_rows(void *ctx, int64_t begin, int64_t end) {
    const qm_job *j = ctx;
    j->fused(j, begin, end);
}

static int type_index(int32_t type) {
    switch (type) {
    case KILN_Q8_0: return 0;
    case KILN_Q4_0: return 1;
    case KILN_Q4_1: return 2;
    case KILN_Q4_K: return 3;
    case KILN_Q6_K: return 4;
    default: return -1;
    }
}

// Tile rows [begin, end): W rows of the panel (j->W points at its first) as f32.
static void panel_rows(void *ctx, int64_t begin, int64_t end) {
    qm_job *j = ctx;
    for (int64_t n = begin; n < end; n++) j->dequant(j->type, j->W + n * j->row_bytes, j->C + n * j->K, j->K);
}

kiln_status rt_quant_matmul(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, int32_t type, const void *W, float *C,
                            int64_t ldc, rt_pool *pool, rt_gemm_nt_fn gemm) {
    const kiln_dtype_info *info = kiln_dtype_get_info((kiln_dtype)type);
    KILN_ASSERT(info->is_quantized && K % info->block_size == 0);
    if (M <= 0 || N <= 0) return KILN_OK;
    if (K == 0) {
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * sizeof(float));
        return KILN_OK;
    }
    qm_job j = {.M = M, .N = N, .K = K, .lda = lda, .ldc = ldc, .row_bytes = (int64_t)kiln_dtype_bytes((kiln_dtype)type, K), .A = A,
                .W = W, .C = C, .type = type, .dequant = pick_dequant(), .dot = pick_dot()};
    if (M <= RT_QUANT_ROWS_DIRECT) {
        int ti = type_index(type), isa = quant_isa();
#ifdef QM_X86
        if (ti >= 0 && isa == RT_QUANT_ISA_AVX512) j.fused = fused_avx512_table[ti][M - 1];
        else if (ti >= 0 && isa == RT_QUANT_ISA_AVX2) j.fused = fused_avx2_table[ti][M - 1];
#endif
        float stack_ap[4096], *ap = NULL;
#ifdef QM_X86
        bool avx512_order = isa == RT_QUANT_ISA_AVX512 && (type == KILN_Q4_0 || type == KILN_Q4_1 || type == KILN_Q4_K);
        bool avx2_order = isa == RT_QUANT_ISA_AVX2 && (type == KILN_Q4_0 || type == KILN_Q4_1);
        if (j.fused && (avx512_order || avx2_order)) {
            ap = M * K <= 4096 ? stack_ap : malloc((size_t)(M * K) * sizeof(float));
            if (!ap) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "quantized matmul: out of memory for %lld x %lld activations", (long long)M, (long long)K);
            for (int64_t m = 0; m < M; m++) (avx512_order ? permute_nibble_order : permute_nibble_order_avx2)(A + m * lda, ap + m * K, K);
            j.Ap = ap;
        }
#endif
        if (j.fused) {
            // Chunks of at least 8K weights and an even number of rows (AVX-512 takes two at a
            // time); rt_parallel_for makes about 4 per thread, taken dynamically, so a thread that
            // runs late (a shared machine) is covered by the others.
            int64_t grain = KILN_MAX(2, ((8 << 10) / K + 1) / 2 * 2);
            int threads = rt_pool_threads(pool);
            int64_t per = (N + 4 * threads - 1) / (4 * threads);
            grain = KILN_MAX(grain, (per + 1) / 2 * 2);
            rt_parallel_for(pool, N, grain, fused_rows, &j);
            if (ap != stack_ap) free(ap);
            return KILN_OK;
        }
        (void)ti;
        (void)isa;
        // Chunks of about 64K weights each: enough work per task, enough tasks per thread.
        rt_parallel_for(pool, N, KILN_MAX(1, (64 << 10) / K), direct_rows, &j);
        return j.failed ? kiln_error(KILN_ERR_OUT_OF_MEMORY, "quantized matmul: out of memory for a row of %lld", (long long)K) : KILN_OK;
    }
    // Panels of about 1 MiB of f32: dequantized once, then read by the GEMM from cache M/mr times.
    int64_t nb = KILN_MIN(N, KILN_MAX(16, ((1 << 20) / (4 * K)) / 16 * 16));
    float *tile = aligned_alloc(64, ((size_t)(nb * K) * sizeof(float) + 63) / 64 * 64);
    if (!tile) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "quantized matmul: out of memory for a %lld x %lld tile", (long long)nb, (long long)K);
    j.C = tile;
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
        int64_t rows = KILN_MIN(nb, N - n0);
        j.W = (const uint8_t *)W + n0 * j.row_bytes;
        rt_parallel_for(pool, rows, KILN_MAX(1, (16 << 10) / K), panel_rows, &j);
        if (gemm) gemm(1, 1, M, rows, K, A, lda, 0, 0, tile, K, 0, 0, C + n0, ldc, 0, 0, NULL, pool);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)rows, (int)K, 1.0f, A, (int)lda, tile, (int)K, 0.0f, C + n0, (int)ldc);
    }
    free(tile);
    return KILN_OK;
}
