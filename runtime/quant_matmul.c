/* quant_matmul.c — y = x · dequant(W)ᵀ on block-quantized weights, without ever holding W in f32:
 * decoding dequantizes one W row at a time into L1 and dots it with the few activation rows;
 * prefill dequantizes a panel of W rows into an f32 tile for a GEMM. The AVX2+FMA paths are
 * chosen at run time (CPUID), so libkiln_rt itself stays built for any x86-64.
 */
#include "runtime/quant_matmul.h"

#include <cblas.h>

#include "common/half.h"
#include "common/quant.h"

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
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached == 1;
#else
    return false;
#endif
}

static dequant_fn pick_dequant(void) {
#ifdef QM_X86
    if (have_avx2()) return dequant_avx2;
#endif
    return dequant_plain;
}

static dot_fn pick_dot(void) {
#ifdef QM_X86
    if (have_avx2()) return dot_avx2;
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
    bool failed;       // a task's buffer could not be allocated
} qm_job;

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
