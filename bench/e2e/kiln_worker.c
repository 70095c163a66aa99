/* kiln_worker.c — the kiln side of bench/e2e/run.py: compiles a checkpoint with the CPU backend
 * (JIT) or loads an AOT shared library (kiln_program_load), makes a context, then answers the
 * driver on stdin: "run N" runs N times and prints the N latencies in ms; "info" prints the FLOPs
 * of one run, the peak RSS and the compile (or load) time. One process per engine and shape, so
 * that engines never share threads, caches or allocators.
 *
 *   kiln_worker jit MODEL_DIR BATCH SEQ THREADS
 *   kiln_worker aot LIBRARY.so BATCH SEQ THREADS
 *
 * Built twice: against libkiln (the JIT), and with -DKILN_WORKER_AOT_ONLY against libkiln_rt
 * alone, as a service that ships an AOT library links it; the "aot" rows use that one, so their
 * resident set holds no compiler.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kiln.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

// VmHWM: this process's own peak. ru_maxrss would keep the high-water mark of the Python driver
// that forked this worker (on Linux it survives exec).
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    if (kb > 0) return kb / 1024.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int fail(const char *what) {
    fprintf(stderr, "kiln_worker: %s: %s\n", what, kiln_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: kiln_worker jit|aot PATH BATCH SEQ THREADS\n");
        return 2;
    }
    int64_t batch = atoll(argv[3]), seq = atoll(argv[4]);
#ifndef KILN_WORKER_AOT_ONLY
    kiln_model *m = NULL;
#endif
    kiln_program *p = NULL;
    kiln_context *ctx = NULL;
    double t0 = now_ms();
    if (strcmp(argv[1], "jit") == 0) {
#ifdef KILN_WORKER_AOT_ONLY
        fprintf(stderr, "kiln_worker: this build runs AOT libraries only\n");
        return 2;
#else
        kiln_compile_options co = kiln_compile_options_default();
        co.target = KILN_TARGET_CPU;
        co.max_batch = batch;
        co.max_seq = seq;
        if (kiln_model_open(argv[2], NULL, &m) || kiln_compile(m, &co, &p)) return fail(argv[2]);
#endif
    } else if (kiln_program_load(argv[2], &p)) {
        return fail(argv[2]);
    }
    double t_prepare = now_ms() - t0;
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = atoi(argv[5]);
    if (kiln_context_create(p, &xo, &ctx)) return fail("context");
    int64_t n = batch * seq, *ids = malloc(sizeof(int64_t) * (size_t)n), *mask = malloc(sizeof(int64_t) * (size_t)n);
    uint32_t s = 7;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = 1000 + (int64_t)(s >> 8) % 20000;   // inside every BERT vocabulary
        mask[i] = 1;
    }
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = ids},
                         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = mask}};
    kiln_tensor out[2] = {{.name = "last_hidden_state"}, {.name = "pooler_output"}};
    size_t n_out = kiln_program_n_outputs(p) >= 2 ? 2 : 1;
    if (kiln_run(ctx, in, 2, out, n_out)) return fail("run");
    printf("ready\n");
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "run ", 4) == 0) {
            int k = atoi(line + 4);
            for (int i = 0; i < k; i++) {
                double a = now_ms();
                if (kiln_run(ctx, in, 2, out, n_out)) return fail("run");
                printf("%s%.4f", i ? " " : "", now_ms() - a);
            }
            printf("\n");
        } else if (strncmp(line, "info", 4) == 0) {
            printf("{\"flops\": %.0f, \"peak_rss_mb\": %.1f, \"prepare_ms\": %.1f}\n", kiln_context_last_flops(ctx), peak_rss_mb(),
                   t_prepare);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
        fflush(stdout);
    }
    free(ids);
    free(mask);
    kiln_context_free(ctx);
    kiln_program_free(p);
#ifndef KILN_WORKER_AOT_ONLY
    kiln_model_free(m);
#endif
    return 0;
}
