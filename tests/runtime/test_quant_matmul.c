/* test_quant_matmul.c — rt_quant_matmul and rt_quant_dequantize_row on every path this CPU has
 * (scalar, AVX2, AVX-512, forced with rt_quant_matmul_force_isa) against common/quant.h's
 * reference: each of Q8_0, Q4_0, Q4_1, Q4_K, Q6_K; M = 1..4 (the in-register decode kernels) and
 * 5, 6 (dequantized panels + GEMM); odd N and N = 1, 2; K one block, several blocks, a multiple of
 * 256, more than 64 blocks; strided A and C; 1 and 2 threads. Dequantized rows must match bit for bit; products to
 * f32 rounding of the reference's double sum.
 */
#include "common/half.h"
#include "common/quant.h"
#include "runtime/cpu_features.h"
#include "runtime/quant_matmul.h"
#include "test.h"

static uint32_t rng = 12345;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(next_u32() >> 8) / 16777216.0f; }

static void put_f16(uint8_t *p, float v) {
    uint16_t h = kiln_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

// n rows of K weights of `type`: random bytes, with sane f16 scales where they sit.
static uint8_t *random_rows(kiln_dtype type, int64_t n, int64_t K, size_t *row_bytes) {
    const kiln_dtype_info *info = kiln_dtype_get_info(type);
    size_t rb = kiln_dtype_bytes(type, K), bb = kiln_dtype_bytes(type, info->block_size);
    uint8_t *w = malloc(rb * (size_t)n + 1);
    for (size_t i = 0; i < rb * (size_t)n + 1; i++) w[i] = (uint8_t)next_u32();
    uint8_t *base = w + 1;   // rows at an odd address: the kernels must not assume alignment
    for (size_t off = 0; off < rb * (size_t)n; off += bb) {
        uint8_t *b = base + off;
        float s = uniform(0.001f, 0.05f) * (next_u32() & 1 ? 1.0f : -1.0f);
        switch (type) {
        case KILN_Q8_0: case KILN_Q4_0: put_f16(b, s); break;
        case KILN_Q4_1: case KILN_Q4_K: put_f16(b, s), put_f16(b + 2, uniform(-0.05f, 0.05f)); break;
        case KILN_Q6_K: put_f16(b + 208, s); break;
        default: break;
        }
    }
    *row_bytes = rb;
    return w;
}

static void check_product(kiln_dtype type, int64_t M, int64_t N, int64_t K, rt_pool *pool, int isa) {
    size_t rb;
    uint8_t *wmem = random_rows(type, N, K, &rb), *W = wmem + 1;
    int64_t lda = K + 3, ldc = N + 5;
    float *A = malloc(sizeof(float) * (size_t)(M * lda)), *C = malloc(sizeof(float) * (size_t)(M * ldc));
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t i = 0; i < M * lda; i++) A[i] = uniform(-1, 1);
    for (int64_t i = 0; i < M * ldc; i++) C[i] = 12345.0f;
    CHECK_OK(rt_quant_matmul(M, N, K, A, lda, type, W, C, ldc, pool, NULL));
    int bad = 0;
    for (int64_t n = 0; n < N; n++) {
        kiln_quant_dequantize_row(type, W + (size_t)n * rb, row, K);
        for (int64_t m = 0; m < M; m++) {
            double ref = kiln_quant_vec_dot_f32(type, K, W + (size_t)n * rb, A + m * lda), mag = 0;
            for (int64_t k = 0; k < K; k++) mag += fabs((double)row[k] * A[m * lda + k]);
            double got = C[m * ldc + n];
            if (!(fabs(got - ref) <= 2e-6 * mag + 1e-30) && bad++ < 3)
                fprintf(stderr, "  %s isa %d M %lld N %lld K %lld threads %d: C[%lld, %lld] = %.9g, want %.9g\n",
                        kiln_dtype_get_info(type)->name, isa, (long long)M, (long long)N, (long long)K, rt_pool_threads(pool),
                        (long long)m, (long long)n, got, ref);
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t c = N; c < ldc && n == 0; c++) bad += C[m * ldc + c] != 12345.0f;   // padding untouched
    }
    CHECK_MSG(bad == 0, "%s isa %d M %lld N %lld K %lld: %d wrong", kiln_dtype_get_info(type)->name, isa, (long long)M, (long long)N,
              (long long)K, bad);
    free(wmem), free(A), free(C), free(row);
}

static void check_dequantize(kiln_dtype type, int64_t K, int isa) {
    size_t rb;
    uint8_t *wmem = random_rows(type, 1, K, &rb);
    float *a = malloc(sizeof(float) * (size_t)K), *b = malloc(sizeof(float) * (size_t)K);
    kiln_quant_dequantize_row(type, wmem + 1, a, K);
    rt_quant_dequantize_row(type, wmem + 1, b, K);
    CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)K) == 0, "%s isa %d: dequantized rows differ", kiln_dtype_get_info(type)->name, isa);
    free(wmem), free(a), free(b);
}

int main(void) {
    const kiln_dtype types[] = {KILN_Q8_0, KILN_Q4_0, KILN_Q4_1, KILN_Q4_K, KILN_Q6_K};
    int top = RT_QUANT_ISA_SCALAR;
    if (rt_cpu_has_feature("avx2") && rt_cpu_has_feature("fma") && rt_cpu_has_feature("f16c")) top = RT_QUANT_ISA_AVX2;
    if (top == RT_QUANT_ISA_AVX2 && rt_cpu_has_feature("avx512f") && rt_cpu_has_feature("avx512bw") && rt_cpu_has_feature("avx512vl"))
        top = RT_QUANT_ISA_AVX512;
    printf("paths up to isa %d\n", top);
    rt_pool *pools[2] = {NULL, rt_pool_create(2)};
    CHECK(pools[1] != NULL);
    for (int isa = RT_QUANT_ISA_SCALAR; isa <= top; isa++) {
        rt_quant_matmul_force_isa(isa);
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            kiln_dtype type = types[t];
            int64_t bs = kiln_dtype_get_info(type)->block_size;
            // K past 64 blocks too: the AVX-512 kernels convert scales 64 blocks at a time.
            const int64_t Ks[] = {bs, 3 * bs, 512, bs == 32 ? 65 * 32 : 9 * 256};
            const int64_t Ns[] = {1, 2, 37, 130};
            for (int p = 0; p < 2; p++)
                for (size_t ki = 0; ki < 4; ki++)
                    for (size_t ni = 0; ni < 4; ni++)
                        for (int64_t M = 1; M <= 6; M++) check_product(type, M, Ns[ni], Ks[ki], pools[p], isa);
            check_dequantize(type, 3 * bs, isa);
        }
    }
    rt_quant_matmul_force_isa(-1);
    rt_pool_free(pools[1]);
    return test_summary();
}
