/* cmd_bench.c — `kiln bench PATH --batch B --seq S`: compiles once (or loads a saved program or
 * AOT library), runs repeatedly on random token ids, and prints latency median/min/max, the
 * achieved GFLOP/s (the launches' FLOP counts over the median) and the process's peak RSS —
 * what a user runs to see what kiln does on their machine. --json prints one object instead.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "runtime/program.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln bench PATH [--batch B] [--seq S] [--target cpu|interp] [--threads N] [--runs N] [--warmup N]\n"
            "                  [--cpu NAME] [--features STR] [--arch ARCH] [--json]\n"
            "  PATH      a checkpoint directory (compiled here), or a saved program / AOT library (loaded)\n"
            "  --threads N   kernel threads (default $KILN_NUM_THREADS, else one per core)\n"
            "  --runs N      timed runs (default 20), after --warmup N (default 3)\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cli_cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    int64_t batch = 1, seq = 128, runs = 20, warmup = 3;
    bool json = false;
    kiln_open_options oo = kiln_open_options_default();
    kiln_compile_options co = kiln_compile_options_default();
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = cli_default_threads();
    co.target = KILN_TARGET_CPU;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch"))) {
            batch = cli_parse_int("--batch", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--seq"))) {
            seq = cli_parse_int("--seq", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--runs"))) {
            runs = cli_parse_int("--runs", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--warmup"))) {
            warmup = cli_parse_int("--warmup", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            xo.n_threads = (int)cli_parse_int("--threads", v);
            if (xo.n_threads == 0) xo.n_threads = cli_cores();   // printed as the count it is
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            if (strcmp(v, "cpu") == 0) co.target = KILN_TARGET_CPU;
            else if (strcmp(v, "interp") == 0) co.target = KILN_TARGET_INTERP;
            else {
                fprintf(stderr, "kiln bench: --target %s: use cpu or interp\n", v);
                return 2;
            }
        } else if ((v = cli_flag_value(argc, argv, &i, "--cpu"))) {
            co.cpu = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--features"))) {
            co.features = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln bench: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path || batch < 1 || seq < 1 || runs < 1) {
        usage(stderr);
        return 2;
    }
    int rc = 1;
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    int64_t *ids = NULL, *mask = NULL;
    double *times = calloc((size_t)runs, sizeof(double));
    struct stat sb;
    double t0 = now_s();
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        co.max_batch = batch;
        co.max_seq = seq;
        if (kiln_model_open(path, &oo, &m) || kiln_compile(m, &co, &prog)) {
            cli_fail(path);
            goto done;
        }
    } else if (kiln_program_load(path, &prog)) {   // a saved program or an AOT library (the message names it)
        cli_fail("bench");
        goto done;
    }
    double t_compile = now_s() - t0;
    if (kiln_context_create(prog, &xo, &ctx)) {
        cli_fail("context");
        goto done;
    }
    // Random ids below the vocabulary's size (the input's range check says what it is).
    ids = malloc(sizeof(int64_t) * (size_t)(batch * seq));
    mask = malloc(sizeof(int64_t) * (size_t)(batch * seq));
    if (!ids || !mask || !times) goto done;
    int64_t vocab = 1000;
    for (int i = 0; i < prog->n_inputs; i++)
        if (strcmp(prog->inputs[i].name, "input_ids") == 0 && prog->inputs[i].index_limit > 0) vocab = prog->inputs[i].index_limit;
    uint32_t s = 1;
    for (int64_t i = 0; i < batch * seq; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int64_t)(s >> 8) % vocab;
        mask[i] = 1;
    }
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = ids},
                         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = mask}};
    size_t n_in = 0;
    for (size_t i = 0; i < kiln_program_n_inputs(prog); i++) {
        kiln_tensor d;
        kiln_program_input(prog, i, &d);
        if (strcmp(d.name, "attention_mask") == 0) n_in = 2;
    }
    if (!n_in) n_in = 1;
    kiln_tensor out[16];
    size_t n_out = KILN_MIN(kiln_program_n_outputs(prog), 16);
    for (size_t i = 0; i < n_out; i++) {
        kiln_tensor d;
        kiln_program_output(prog, i, &d);
        out[i] = (kiln_tensor){.name = d.name};
    }
    for (int64_t r = 0; r < warmup + runs; r++) {
        double a = now_s();
        if (kiln_run(ctx, in, n_in, out, n_out)) {
            cli_fail("run");
            goto done;
        }
        if (r >= warmup) times[r - warmup] = now_s() - a;
    }
    double flops = kiln_context_last_flops(ctx);
    qsort(times, (size_t)runs, sizeof(double), by_value);
    double med = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
    double rss_mb = cli_peak_rss_bytes() / (1024.0 * 1024.0);
    kiln_program_info info;
    kiln_program_get_info(prog, &info);
    if (json) {
        printf("{\"path\": \"%s\", \"backend\": \"%s\", \"batch\": %lld, \"seq\": %lld, \"threads\": %d, \"runs\": %lld, "
               "\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"gflops\": %.3f, \"flops\": %.0f, \"peak_rss_mb\": %.1f, "
               "\"compile_s\": %.3f, \"launches\": %zu, \"kernels\": %zu}\n",
               path, info.backend, (long long)batch, (long long)seq, xo.n_threads, (long long)runs, med * 1e3, times[0] * 1e3,
               times[runs - 1] * 1e3, flops / med * 1e-9, flops, rss_mb, t_compile, info.n_launches,
               info.n_kernels);
    } else {
        printf("%s: %s backend%s%s, batch %lld x seq %lld, %d thread%s, %lld runs\n", path, info.backend, info.cpu ? " for " : "",
               info.cpu ? info.cpu : "", (long long)batch, (long long)seq, xo.n_threads, xo.n_threads == 1 ? "" : "s", (long long)runs);
        printf("  latency   median %.3f ms   min %.3f ms   max %.3f ms\n", med * 1e3, times[0] * 1e3, times[runs - 1] * 1e3);
        printf("  compute   %.2f GFLOP per run, %.1f GFLOP/s at the median\n", flops * 1e-9, flops / med * 1e-9);
        printf("  memory    peak RSS %.1f MB (arena %.1f MB)\n", rss_mb, (double)info.arena_bytes / 1e6);
        printf("  program   %zu launches, %zu kernels; %s in %.3f s\n", info.n_launches, info.n_kernels, m ? "compiled" : "loaded",
               t_compile);
    }
    rc = 0;
done:
    free(times);
    free(ids);
    free(mask);
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_model_free(m);
    return rc;
}
