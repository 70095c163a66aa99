/* fma_peak.h — the machine's single-precision FMA peak, the physical limit the benchmarks quote
 * shares of (bench_gemm, bench_ukernel, bench/e2e's fma_peak): on T threads at once, each runs
 * independent FMA chains (24 zmm accumulators with AVX-512, 12 ymm with AVX2) with no memory
 * operands, so that the FMA units, not latency, are the limit; each thread keeps its fastest of
 * many short samples (on a shared machine that filters out time slices lost to other
 * processes), and the rates of the threads are summed. Header-only: each benchmark is one file.
 */
#ifndef KILN_BENCH_FMA_PEAK_H
#define KILN_BENCH_FMA_PEAK_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#define FMA_PEAK_ITERS 20000L   // per sample: about 0.1-0.2 ms
#define FMA_PEAK_SAMPLES 400

static inline double fma_peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// In assembly so that no compiler keeps the accumulators in memory.
__attribute__((target("avx512f"), noinline)) static void fma_peak_loop512(long iters) {
    __asm__ volatile("vxorps %%xmm30, %%xmm30, %%xmm30\n\tvxorps %%xmm31, %%xmm31, %%xmm31\n\t"
                     "1:\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm0\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm1\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm2\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm3\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm4\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm5\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm6\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm7\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm8\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm9\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm10\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm11\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm12\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm13\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm14\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm15\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm16\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm17\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm18\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm19\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm20\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm21\n\t"
                     "vfmadd231ps %%zmm30, %%zmm31, %%zmm22\n\tvfmadd231ps %%zmm30, %%zmm31, %%zmm23\n\t"
                     "dec %0\n\tjnz 1b\n\t"
                     : "+r"(iters)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
                       "xmm23", "xmm30", "xmm31", "cc");
}

__attribute__((target("avx2,fma"), noinline)) static void fma_peak_loop256(long iters) {
    __asm__ volatile("vxorps %%ymm14, %%ymm14, %%ymm14\n\tvxorps %%ymm15, %%ymm15, %%ymm15\n\t"
                     "1:\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm8\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm9\n\t"
                     "vfmadd231ps %%ymm14, %%ymm15, %%ymm10\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm11\n\t"
                     "dec %0\n\tjnz 1b\n\t"
                     : "+r"(iters)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm14", "xmm15", "cc");
}

typedef struct fma_peak_job {
    bool avx512;
    pthread_barrier_t *start;
    double best;   // fastest sample's FLOP/s
} fma_peak_job;

static void *fma_peak_thread(void *arg) {
    fma_peak_job *j = arg;
    double flops = (double)FMA_PEAK_ITERS * (j->avx512 ? 24.0 * 32 : 12.0 * 16);
    pthread_barrier_wait(j->start);
    j->best = 0;
    for (int s = 0; s < FMA_PEAK_SAMPLES; s++) {
        double t = fma_peak_now();
        if (j->avx512) fma_peak_loop512(FMA_PEAK_ITERS);
        else fma_peak_loop256(FMA_PEAK_ITERS);
        double r = flops / (fma_peak_now() - t);
        if (r > j->best) j->best = r;
    }
    return NULL;
}

// GFLOP/s of the FMA loops on n_threads threads (1..64) running at once.
static inline double fma_peak(bool avx512, int n_threads) {
    fma_peak_job jobs[64];
    pthread_t th[64];
    pthread_barrier_t start;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    pthread_barrier_init(&start, NULL, (unsigned)n_threads);
    for (int i = 0; i < n_threads; i++) {
        jobs[i] = (fma_peak_job){.avx512 = avx512, .start = &start};
        pthread_create(&th[i], NULL, fma_peak_thread, &jobs[i]);
    }
    double total = 0;
    for (int i = 0; i < n_threads; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].best;
    }
    pthread_barrier_destroy(&start);
    return total * 1e-9;
}

#endif  // KILN_BENCH_FMA_PEAK_H
