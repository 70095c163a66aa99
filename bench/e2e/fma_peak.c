/* fma_peak.c — the machine's single-precision FMA peak for bench/e2e/run.py (bench/fma_peak.h):
 * independent FMA chains on T threads at once, the best of many short samples per thread,
 * summed over the threads.
 *
 *   fma_peak THREADS      prints {"isa": "avx512", "threads": T, "gflops": G}
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "../fma_peak.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || n > 64) n = 1;
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f");
    printf("{\"isa\": \"%s\", \"threads\": %d, \"gflops\": %.1f}\n", avx512 ? "avx512" : "avx2", n, fma_peak(avx512, n));
    return 0;
}
