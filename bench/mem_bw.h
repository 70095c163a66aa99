/* mem_bw.h — the machine's memory read bandwidth, the limit a one-row product (decode) streams its
 * weight against: T threads each sum their slice of a buffer far larger than any cache, and the
 * best of several passes is kept. bench_gemm quotes its GEMV rows as a share of it when their
 * weights come from memory (--cold-mb). Header-only, like fma_peak.h.
 */
#ifndef KILN_BENCH_MEM_BW_H
#define KILN_BENCH_MEM_BW_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float mem_bw_v16 __attribute__((vector_size(64)));
typedef float mem_bw_v8 __attribute__((vector_size(32)));

typedef struct mem_bw_slice {
    const float *p;
    size_t n;      // floats, a multiple of 128
    float sink;
} mem_bw_slice;

// Eight chains of full-width loads, so that the memory, not the adds or the load ports, is the
// limit (with 16-byte loads this VM read 20 GB/s where AVX-512 loads read 27).
#define MEM_BW_BODY(V, W)                                                     \
    mem_bw_slice *s = arg;                                                   \
    const V *p = (const V *)s->p;                                            \
    V a[8] = {{0}};                                                          \
    for (size_t i = 0; i + 8 <= s->n / (W); i += 8)                          \
        for (int j = 0; j < 8; j++) a[j] += p[i + j];                        \
    for (int j = 1; j < 8; j++) a[0] += a[j];                                \
    s->sink = a[0][0];                                                       \
    return NULL;

__attribute__((target("avx512f"))) static void *mem_bw_read512(void *arg) { MEM_BW_BODY(mem_bw_v16, 16) }
__attribute__((target("avx2"))) static void *mem_bw_read256(void *arg) { MEM_BW_BODY(mem_bw_v8, 8) }

// Read bandwidth in GB/s on `threads` threads over `bytes` (best of `passes`); 0 if out of memory.
static inline double mem_read_bw(int threads, size_t bytes, int passes) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    void *(*read)(void *) = __builtin_cpu_supports("avx512f") ? mem_bw_read512 : mem_bw_read256;
    float *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes);   // every page present before the first pass
    size_t per = bytes / sizeof(float) / (size_t)threads / 128 * 128;
    double best = 0;
    for (int r = 0; r < passes; r++) {
        mem_bw_slice s[64];
        pthread_t th[64];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < threads; i++) {
            s[i] = (mem_bw_slice){buf + (size_t)i * per, per, 0};
            if (i > 0) pthread_create(&th[i], NULL, read, &s[i]);
        }
        read(&s[0]);
        for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gbs = (double)(per * (size_t)threads * sizeof(float)) / sec * 1e-9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return best;
}

#endif  // KILN_BENCH_MEM_BW_H
