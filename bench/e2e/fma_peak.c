/* fma_peak.c — the machine's single-precision FMA peak, the physical limit bench/e2e/run.py
 * quotes shares of: on T threads at once, each runs independent FMA chains (24 zmm
 * accumulators with AVX-512, 12 ymm with AVX2) so that the FMA units, not latency, are the
 * limit; the best of many short samples per thread, summed over the threads.
 *
 *   fma_peak THREADS      prints {"isa": "avx512", "threads": T, "gflops": G}
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static void loop512(long iters) {
    __asm__ volatile("vxorps %%zmm30, %%zmm30, %%zmm30\n\tvxorps %%zmm31, %%zmm31, %%zmm31\n\t"
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

__attribute__((target("avx2,fma"))) static void loop256(long iters) {
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

static int avx512;
static pthread_barrier_t start;

static void *worker(void *arg) {
    double *best = arg;
    long iters = 20000;   // a sample of ~0.5 ms
    double flops = (double)iters * (avx512 ? 24 * 32 : 12 * 16);
    pthread_barrier_wait(&start);
    for (int s = 0; s < 400; s++) {
        double t = now();
        if (avx512) loop512(iters);
        else loop256(iters);
        double r = flops / (now() - t);
        if (r > *best) *best = r;
    }
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || n > 256) n = 1;
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f");
    pthread_t th[256];
    double best[256] = {0};
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, worker, &best[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        sum += best[i];
    }
    printf("{\"isa\": \"%s\", \"threads\": %d, \"gflops\": %.1f}\n", avx512 ? "avx512" : "avx2", n, sum * 1e-9);
    return 0;
}
