/* bench_ukernel.c — the ceiling of kiln's AVX-512 GEMM tile on this machine: the same 8 x 48
 * register tile as kiln's generated microkernel (per k: 8 broadcasts of A, 3 vector loads of B,
 * 24 FMAs into 24 accumulators; C read, added and written once per call), written here with
 * intrinsics and run on operands that stay in L1, next to the FMA peak of a loop of independent
 * FMAs with no loads at all. Nothing of kiln's loop nest (panels, K blocks, work items, threads)
 * is in it, so it tells how much of the peak the tile shape itself can reach: the most that
 * bench_gemm's "% of peak" can approach. One thread; samples are best-of (like the peak).
 *
 *   bench_ukernel [--samples N]
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/fma_peak.h"

/* One tile: C[8 x 48] += A[8 x kc] · B[kc x 48]. A_AT(r, k) says where A's element (r, k) is: 8 rows
 * at stride lda (kiln reads A in place), or kc steps of 8 contiguous floats (one stream). B: kc rows
 * of 48 floats. Written out row by row so that the accumulators stay in registers at any -O. */
#define ROW(r)                                                     \
    do {                                                           \
        __m512 s = _mm512_set1_ps(A_AT(r, k));                     \
        c##r##0 = _mm512_fmadd_ps(s, b0, c##r##0);                 \
        c##r##1 = _mm512_fmadd_ps(s, b1, c##r##1);                 \
        c##r##2 = _mm512_fmadd_ps(s, b2, c##r##2);                 \
    } while (0)
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(), c##r##2 = _mm512_setzero_ps()
#define STORE(r)                                                                          \
    do {                                                                                  \
        _mm512_storeu_ps(c + r * 48, _mm512_add_ps(c##r##0, _mm512_loadu_ps(c + r * 48)));           \
        _mm512_storeu_ps(c + r * 48 + 16, _mm512_add_ps(c##r##1, _mm512_loadu_ps(c + r * 48 + 16))); \
        _mm512_storeu_ps(c + r * 48 + 32, _mm512_add_ps(c##r##2, _mm512_loadu_ps(c + r * 48 + 32))); \
    } while (0)
#define TILE_BODY                                                                                                       \
    DECL(0); DECL(1); DECL(2); DECL(3); DECL(4); DECL(5); DECL(6); DECL(7);                                            \
    for (long k = 0; k < kc; k++) {                                                                                     \
        __m512 b0 = _mm512_loadu_ps(b + k * 48), b1 = _mm512_loadu_ps(b + k * 48 + 16), b2 = _mm512_loadu_ps(b + k * 48 + 32); \
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7);                                                 \
    }                                                                                                                   \
    STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5); STORE(6); STORE(7);

__attribute__((target("avx512f"), noinline)) static void tile_rows(const float *a, long lda, const float *b, float *c, long kc) {
#define A_AT(r, k) a[(r) * lda + (k)]
    TILE_BODY
#undef A_AT
}

__attribute__((target("avx512f"), noinline)) static void tile_packed(const float *a, long lda, const float *b, float *c, long kc) {
    (void)lda;
#define A_AT(r, k) a[(k) * 8 + (r)]
    TILE_BODY
#undef A_AT
}

int main(int argc, char **argv) {
    int samples = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) samples = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--samples N]\n", argv[0]);
            return 2;
        }
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("bench_ukernel: this CPU has no AVX-512F; nothing to measure\n");
        return 0;
    }
    double peak = fma_peak(true, 1);
    printf("# FMA peak, 1 thread: %.1f GFLOP/s (bench/fma_peak.h)\n\n", peak);
    printf("| 8 x 48 tile, kc | A | GFLOP/s (best) | %% of peak |\n|---:|---|---:|---:|\n");
    static const long kcs[] = {64, 128, 256, 512};
    const long lda = 768;
    float *a = aligned_alloc(64, sizeof(float) * 8 * 768), *b = aligned_alloc(64, sizeof(float) * 512 * 48);
    float *c = aligned_alloc(64, sizeof(float) * 8 * 48);
    if (!a || !b || !c) return 1;
    for (long i = 0; i < 8 * 768; i++) a[i] = 1e-3f * (float)(i % 7);
    for (long i = 0; i < 512 * 48; i++) b[i] = 1e-3f * (float)(i % 5);
    memset(c, 0, sizeof(float) * 8 * 48);
    for (size_t i = 0; i < sizeof(kcs) / sizeof(kcs[0]); i++) {
        for (int packed = 0; packed < 2; packed++) {
            long kc = kcs[i];
            double best = 0;
            for (int s = 0; s < samples; s++) {
                long calls = 200000 / kc;
                double t = fma_peak_now();
                for (long n = 0; n < calls; n++) (packed ? tile_packed : tile_rows)(a, lda, b, c, kc);
                t = fma_peak_now() - t;
                double g = 2.0 * 8 * 48 * (double)kc * (double)calls / t * 1e-9;
                if (g > best) best = g;
            }
            printf("| %ld | %s | %.1f | %.1f %% |\n", kc, packed ? "packed (one stream)" : "8 rows in place", best, 100.0 * best / peak);
        }
    }
    printf("\n(checksum %g)\n", (double)c[0] + (double)c[383]);
    free(a);
    free(b);
    free(c);
    return 0;
}
