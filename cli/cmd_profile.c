/* cmd_profile.c — `kiln profile PATH --batch B --seq S`: where memory and time go.
 *   memory:  weights by dtype (mapped from the file, or copies the program owns), the activation
 *            arena as planned beside its lower bound and the naive sum, the temporaries of fused
 *            kernels, state (the KV cache), the runtime's own buffers; predicted peak RSS beside
 *            the measured one;
 *   compute: per kernel launch, FLOPs, bytes, arithmetic intensity, class, measured time and
 *            share, and the Transformers module path it came from;
 *   --json   all of it as one JSON object on stdout;
 *   --trace  a Chrome trace (kernels as complete events, live arena bytes as a counter), for
 *            Perfetto (ui.perfetto.dev) or chrome://tracing;
 *   --svg    a picture of the memory plan: each arena buffer a box at its offset and lifetime,
 *            weights in a bar aside, the peak marked.
 */
#include <math.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api/model.h"
#include "cli/cli.h"
#include "runtime/context.h"
#include "runtime/program.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln profile PATH [--batch B] [--seq S] [--runs N] [--threads N] [--target interp|cpu]\n"
            "                    [--passes LIST] [--ff-chunk N] [--memory-budget BYTES] [--arch ARCH]\n"
            "                    [--json] [--trace trace.json] [--svg memory.svg]\n"
            "  --batch B, --seq S   the shape compiled for and run (default 1 x 128)\n"
            "  --runs N             timed runs after one warm-up (default 5); times are means per run\n"
            "  --passes LIST        as kiln ir: \"none\", \"-fuse_attention\", ...; --ff-chunk N (0: never)\n"
            "  --json               everything as JSON on stdout\n"
            "  --trace FILE         Chrome trace event JSON: open in ui.perfetto.dev or chrome://tracing\n"
            "  --svg FILE           the memory plan as a picture\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Resident bytes of libLLVM's code (its executable mappings in /proc/self/smaps): a JIT compile
// drops them from the resident set when it is done (codegen/llvm/release.c).
static double llvm_code_rss_bytes(void) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 0;
    char line[1024];
    bool in_llvm = false;
    double kb = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) in_llvm = strstr(line, "libLLVM") != NULL && perms[2] == 'x';
        else if (in_llvm && strncmp(line, "Rss:", 4) == 0) kb += atof(line + 4);
    }
    fclose(f);
    return kb * 1024.0;
}

static const char *class_name(rt_class c) {
    switch (c) {
    case RT_CLASS_CONTRACTION: return "contraction";
    case RT_CLASS_NORMALIZATION: return "normalization";
    case RT_CLASS_ELEMENTWISE: return "element-wise";
    case RT_CLASS_MOVEMENT: return "movement";
    default: return "fused";
    }
}

static const char *mb(double bytes, char *buf, size_t size) {
    if (bytes >= 1e6) snprintf(buf, size, "%.2f MB", bytes / 1e6);
    else if (bytes >= 1e3) snprintf(buf, size, "%.1f kB", bytes / 1e3);
    else snprintf(buf, size, "%.0f B", bytes);
    return buf;
}

/* ---- the facts, gathered once ---- */

typedef struct kernel_stat {
    const rt_launch *L;
    double flops, bytes, seconds;   // per run
} kernel_stat;

typedef struct profile {
    const char *path;
    int64_t batch, seq;
    int runs, threads;
    const kiln_program *p;
    int64_t sym[RT_MAX_SYMBOLS];
    double weights_by_dtype[KILN_DTYPE_COUNT], weights_owned, weights_mapped, weights_packed, weights_total;
    double checkpoint;              // the checkpoint's tensors: mapped pages the program reads
    double arena, lower_bound, naive, arena_here, temporaries, state, overhead;
    double rss_before, rss_after, predicted;
    bool cpu;               // --target cpu: weights packed at compile time, their originals dropped
    double compiler_code;   // --target cpu: libLLVM's resident code, which kiln_compile hands back
    double run_seconds;
    kernel_stat *k;
    double *trace_ns;               // (n_launches) durations of the traced run
    int32_t *first_launch, *last_launch;   // (n_buffers) a buffer's lifetime in launches
    int64_t peak_launch;            // where the most arena bytes are live
    double peak_bytes;
} profile;

// First launch at or after `step`.
static int32_t launch_at(const kiln_program *p, int32_t step) {
    int32_t lo = 0, hi = p->n_launches;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (p->launches[mid].step < step) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static double live_at(const profile *pr, int32_t launch) {
    double live = 0;
    for (int32_t b = 0; b < pr->p->n_buffers; b++)
        if (pr->first_launch[b] <= launch && launch <= pr->last_launch[b]) live += (double)pr->p->buffers[b].size_max;
    return live;
}

static void gather_memory(profile *pr, const kiln_context *ctx) {
    const kiln_program *p = pr->p;
    for (int i = 0; i < p->n_weights; i++) {
        double b = (double)p->weights[i].size_bytes;
        pr->weights_by_dtype[p->weights[i].dtype] += b;
        pr->weights_total += b;
        if (p->weights[i].owned) pr->weights_owned += b;
        else if (p->weights[i].name && strstr(p->weights[i].name, "@packed")) pr->weights_packed += b;   // codegen/llvm/pack.c
        else pr->weights_mapped += b;
    }
    pr->arena = (double)p->arena_bytes;
    pr->lower_bound = (double)p->arena_lower_bound;
    pr->naive = (double)p->arena_naive_bytes;
    pr->arena_here = (double)rt_program_arena_bytes(p, pr->sym);
    pr->temporaries = (double)p->workspace_bytes;
    for (int i = 0; i < p->n_states; i++) pr->state += (double)p->states[i].size_bytes;
    // The context's own buffers: staged inputs, run-time dims, per-launch counters.
    int64_t dims = 0;
    for (int i = 0; i < p->n_launches; i++) dims += p->launches[i].n_dims;
    pr->overhead = (double)(dims * 8 + p->n_launches * (8 + 4));
    for (int i = 0; i < p->n_inputs; i++)
        pr->overhead += (double)rt_tensor_bytes(p->inputs[i].dtype, p->inputs[i].rank, p->inputs[i].shape, p->symbol_max);
    // Resident at the peak: the checkpoint's pages (read once, also for the weights the program
    // copies), the copies, the arena, temporaries, state and the runtime's buffers. The CPU
    // backend drops each original's pages once its packed copy is made: the program's weights.
    double weights = pr->cpu ? pr->weights_total : KILN_MAX(pr->checkpoint, pr->weights_mapped) + pr->weights_owned;
    pr->predicted = pr->rss_before - pr->compiler_code + weights + pr->arena + pr->temporaries + pr->state + pr->overhead;
    (void)ctx;
    // Lifetimes in launches, and the peak.
    for (int32_t b = 0; b < p->n_buffers; b++) {
        pr->first_launch[b] = launch_at(p, p->buffers[b].first);
        pr->last_launch[b] = KILN_MAX(launch_at(p, p->buffers[b].last + 1) - 1, pr->first_launch[b]);
    }
    for (int32_t l = 0; l < p->n_launches; l++) {
        double live = live_at(pr, l);
        if (live > pr->peak_bytes) {
            pr->peak_bytes = live;
            pr->peak_launch = l;
        }
    }
}

static void gather_compute(profile *pr, const kiln_context *ctx) {
    const kiln_program *p = pr->p;
    for (int i = 0; i < p->n_launches; i++) {
        kernel_stat *k = &pr->k[i];
        k->L = &p->launches[i];
        k->flops = (double)rt_expr_eval(&k->L->flops, pr->sym);
        k->bytes = (double)rt_expr_eval(&k->L->bytes, pr->sym);
        k->seconds = (double)ctx->launch_ns[i] * 1e-9 / pr->runs;
    }
}

/* ---- text ---- */

static int by_time_desc(const void *a, const void *b) {
    double x = ((const kernel_stat *)a)->seconds, y = ((const kernel_stat *)b)->seconds;
    return (x < y) - (x > y);
}

static void print_text(const profile *pr) {
    const kiln_program *p = pr->p;
    char a[32], b[32], c[32];
    printf("%s: %s backend, batch %lld x seq %lld, %d thread%s, %d runs: %.3f ms per run\n\n", pr->path, p->backend, (long long)pr->batch,
           (long long)pr->seq, pr->threads, pr->threads == 1 ? "" : "s", pr->runs, pr->run_seconds * 1e3);
    printf("memory\n");
    printf("  weights           %12s  (", mb(pr->weights_total, a, sizeof(a)));
    bool first = true;
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        if (pr->weights_by_dtype[t] == 0) continue;
        printf("%s%s %s", first ? "" : ", ", kiln_dtype_get_info((kiln_dtype)t)->name, mb(pr->weights_by_dtype[t], b, sizeof(b)));
        first = false;
    }
    printf("; %s mapped from the file, %s copies the program owns", mb(pr->weights_mapped, a, sizeof(a)), mb(pr->weights_owned, b, sizeof(b)));
    if (pr->weights_packed > 0) printf(", %s packed for the GEMM", mb(pr->weights_packed, a, sizeof(a)));
    printf(")\n");
    printf("  activations arena %12s  planned, %s lower bound (x%.3f), %s naive sum (x%.1f)\n", mb(pr->arena, a, sizeof(a)),
           mb(pr->lower_bound, b, sizeof(b)), pr->lower_bound > 0 ? pr->arena / pr->lower_bound : 0, mb(pr->naive, c, sizeof(c)),
           pr->arena > 0 ? pr->naive / pr->arena : 0);
    printf("                    %12s  touched at this shape (rt_program_arena_bytes)\n", mb(pr->arena_here, a, sizeof(a)));
    printf("  checkpoint        %12s  mapped tensors of the file (pages the program reads)\n", mb(pr->checkpoint, a, sizeof(a)));
    printf("  temporaries       %12s  fused kernels' scratch (attention tiles, feed-forward chunks)\n", mb(pr->temporaries, a, sizeof(a)));
    printf("  state             %12s  KV cache\n", mb(pr->state, a, sizeof(a)));
    printf("  runtime overhead  %12s  staged inputs, run-time dims, counters\n", mb(pr->overhead, a, sizeof(a)));
    if (pr->compiler_code > 0) {
        char d[32];
        printf("  peak RSS          %12s  predicted (%s before loading, less %s of LLVM's code that compiling hands back, + the above), "
               "%s measured\n",
               mb(pr->predicted, a, sizeof(a)), mb(pr->rss_before, b, sizeof(b)), mb(pr->compiler_code, d, sizeof(d)),
               mb(pr->rss_after, c, sizeof(c)));
    } else {
        printf("  peak RSS          %12s  predicted (%s before loading + the above), %s measured\n", mb(pr->predicted, a, sizeof(a)),
               mb(pr->rss_before, b, sizeof(b)), mb(pr->rss_after, c, sizeof(c)));
    }
    if (p->n_launches)
        printf("  arena peak        %12s  live at launch %lld (%s @%s)\n", mb(pr->peak_bytes, a, sizeof(a)), (long long)pr->peak_launch,
               p->launches[pr->peak_launch].op, p->launches[pr->peak_launch].path ? p->launches[pr->peak_launch].path : "-");

    double total = 0, by_class[8] = {0}, flops_class[8] = {0};
    for (int i = 0; i < p->n_launches; i++) {
        total += pr->k[i].seconds;
        by_class[pr->k[i].L->op_class & 7] += pr->k[i].seconds;
        flops_class[pr->k[i].L->op_class & 7] += pr->k[i].flops;
    }
    printf("\ncompute by class\n");
    for (int c2 = 0; c2 <= RT_CLASS_FUSED; c2++) {
        if (by_class[c2] == 0 && flops_class[c2] == 0) continue;
        printf("  %-14s %9.3f ms  %5.1f%%  %8.3f GFLOP\n", class_name((rt_class)c2), by_class[c2] * 1e3,
               total > 0 ? 100 * by_class[c2] / total : 0, flops_class[c2] * 1e-9);
    }
    kernel_stat *sorted = malloc(sizeof(kernel_stat) * (size_t)KILN_MAX(p->n_launches, 1));
    if (!sorted) return;
    memcpy(sorted, pr->k, sizeof(kernel_stat) * (size_t)p->n_launches);
    qsort(sorted, (size_t)p->n_launches, sizeof(kernel_stat), by_time_desc);
    int shown = KILN_MIN(p->n_launches, 20);
    printf("\nkernels (%d launches; the %d slowest)\n", p->n_launches, shown);
    printf("  %-20s %-13s %9s %7s %10s %10s %7s  %s\n", "op", "class", "ms", "share", "MFLOP", "MB", "FLOP/B", "module");
    for (int i = 0; i < shown; i++) {
        const kernel_stat *k = &sorted[i];
        printf("  %-20s %-13s %9.3f %6.1f%% %10.2f %10.3f %7.1f  %s\n", k->L->op, class_name(k->L->op_class), k->seconds * 1e3,
               total > 0 ? 100 * k->seconds / total : 0, k->flops * 1e-6, k->bytes * 1e-6, k->bytes > 0 ? k->flops / k->bytes : 0,
               k->L->path ? k->L->path : "-");
    }
    free(sorted);
}

/* ---- JSON ---- */

static cJSON *to_json(const profile *pr) {
    const kiln_program *p = pr->p;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", pr->path);
    cJSON_AddStringToObject(root, "backend", p->backend ? p->backend : "?");
    cJSON_AddNumberToObject(root, "batch", (double)pr->batch);
    cJSON_AddNumberToObject(root, "seq", (double)pr->seq);
    cJSON_AddNumberToObject(root, "threads", pr->threads);
    cJSON_AddNumberToObject(root, "runs", pr->runs);
    cJSON_AddNumberToObject(root, "run_ms", pr->run_seconds * 1e3);
    cJSON *mem = cJSON_AddObjectToObject(root, "memory");
    cJSON *w = cJSON_AddObjectToObject(mem, "weights");
    cJSON_AddNumberToObject(w, "total", pr->weights_total);
    cJSON_AddNumberToObject(w, "mapped", pr->weights_mapped);
    cJSON_AddNumberToObject(w, "owned", pr->weights_owned);
    cJSON_AddNumberToObject(w, "packed", pr->weights_packed);
    cJSON *bd = cJSON_AddObjectToObject(w, "by_dtype");
    for (int t = 0; t < KILN_DTYPE_COUNT; t++)
        if (pr->weights_by_dtype[t] > 0) cJSON_AddNumberToObject(bd, kiln_dtype_get_info((kiln_dtype)t)->name, pr->weights_by_dtype[t]);
    cJSON *ar = cJSON_AddObjectToObject(mem, "arena");
    cJSON_AddNumberToObject(ar, "planned", pr->arena);
    cJSON_AddNumberToObject(ar, "lower_bound", pr->lower_bound);
    cJSON_AddNumberToObject(ar, "naive", pr->naive);
    cJSON_AddNumberToObject(ar, "touched", pr->arena_here);
    cJSON_AddNumberToObject(ar, "alignment", (double)p->arena_alignment);
    cJSON_AddNumberToObject(ar, "peak_launch", (double)pr->peak_launch);
    cJSON_AddNumberToObject(ar, "buffers", p->n_buffers);
    cJSON_AddNumberToObject(mem, "checkpoint_mapped", pr->checkpoint);
    cJSON_AddNumberToObject(mem, "temporaries", pr->temporaries);
    cJSON_AddNumberToObject(mem, "state", pr->state);
    cJSON_AddNumberToObject(mem, "runtime_overhead", pr->overhead);
    cJSON_AddNumberToObject(mem, "rss_before", pr->rss_before);
    cJSON_AddNumberToObject(mem, "compiler_code_released", pr->compiler_code);
    cJSON_AddNumberToObject(mem, "predicted_peak_rss", pr->predicted);
    cJSON_AddNumberToObject(mem, "measured_peak_rss", pr->rss_after);
    cJSON *ks = cJSON_AddArrayToObject(root, "kernels");
    for (int i = 0; i < p->n_launches; i++) {
        const kernel_stat *k = &pr->k[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kernel", k->L->kernel ? k->L->kernel : "?");
        cJSON_AddStringToObject(o, "op", k->L->op ? k->L->op : "?");
        cJSON_AddStringToObject(o, "class", class_name(k->L->op_class));
        cJSON_AddStringToObject(o, "module", k->L->path ? k->L->path : "");
        cJSON_AddNumberToObject(o, "flops", k->flops);
        cJSON_AddNumberToObject(o, "bytes", k->bytes);
        cJSON_AddNumberToObject(o, "intensity", k->bytes > 0 ? k->flops / k->bytes : 0);
        cJSON_AddNumberToObject(o, "ms", k->seconds * 1e3);
        cJSON_AddNumberToObject(o, "share", pr->run_seconds > 0 ? k->seconds / pr->run_seconds : 0);
        cJSON_AddItemToArray(ks, o);
    }
    return root;
}

/* ---- Chrome trace ---- */

static int write_trace(const profile *pr, const char *file) {
    const kiln_program *p = pr->p;
    cJSON *root = cJSON_CreateObject();
    cJSON *ev = cJSON_AddArrayToObject(root, "traceEvents");
    cJSON_AddStringToObject(root, "displayTimeUnit", "ms");
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "name", "process_name");
    cJSON_AddStringToObject(meta, "ph", "M");
    cJSON_AddNumberToObject(meta, "pid", 1);
    cJSON_AddNumberToObject(meta, "tid", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "args"), "name", pr->path);
    cJSON_AddItemToArray(ev, meta);
    double t_us = 0;
    for (int i = 0; i < p->n_launches; i++) {
        const rt_launch *L = &p->launches[i];
        double dur = pr->trace_ns[i] * 1e-3;
        cJSON *c = cJSON_CreateObject();   // the arena bytes live while this kernel runs
        cJSON_AddStringToObject(c, "name", "arena");
        cJSON_AddStringToObject(c, "ph", "C");
        cJSON_AddNumberToObject(c, "ts", t_us);
        cJSON_AddNumberToObject(c, "pid", 1);
        cJSON_AddNumberToObject(c, "tid", 1);
        cJSON *ca = cJSON_AddObjectToObject(c, "args");
        cJSON_AddNumberToObject(ca, "live bytes", live_at(pr, i));
        cJSON_AddItemToArray(ev, c);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", L->op ? L->op : "?");
        cJSON_AddStringToObject(x, "cat", class_name(L->op_class));
        cJSON_AddStringToObject(x, "ph", "X");
        cJSON_AddNumberToObject(x, "ts", t_us);
        cJSON_AddNumberToObject(x, "dur", dur);
        cJSON_AddNumberToObject(x, "pid", 1);
        cJSON_AddNumberToObject(x, "tid", 1);
        cJSON *xa = cJSON_AddObjectToObject(x, "args");
        cJSON_AddStringToObject(xa, "module", L->path ? L->path : "");
        cJSON_AddStringToObject(xa, "kernel", L->kernel ? L->kernel : "");
        cJSON_AddNumberToObject(xa, "launch", i);
        cJSON_AddNumberToObject(xa, "flops", pr->k[i].flops);
        cJSON_AddNumberToObject(xa, "bytes", pr->k[i].bytes);
        cJSON_AddItemToArray(ev, x);
        t_us += dur;
    }
    cJSON *end = cJSON_CreateObject();   // the arena empties after the run
    cJSON_AddStringToObject(end, "name", "arena");
    cJSON_AddStringToObject(end, "ph", "C");
    cJSON_AddNumberToObject(end, "ts", t_us);
    cJSON_AddNumberToObject(end, "pid", 1);
    cJSON_AddNumberToObject(end, "tid", 1);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(end, "args"), "live bytes", 0);
    cJSON_AddItemToArray(ev, end);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    FILE *f = fopen(file, "wb");
    bool ok = text && f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    free(text);
    if (!ok) {
        fprintf(stderr, "kiln profile: cannot write %s\n", file);
        return 1;
    }
    return 0;
}

/* ---- SVG ---- */

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *class_color(const char *op, rt_class c) {
    if (strstr(op, "attention")) return "#8e6bbf";
    if (strstr(op, "chunked")) return "#c05a8a";
    switch (c) {
    case RT_CLASS_CONTRACTION: return "#4c78a8";
    case RT_CLASS_NORMALIZATION: return "#54a24b";
    case RT_CLASS_ELEMENTWISE: return "#f58518";
    case RT_CLASS_MOVEMENT: return "#9d9d9d";
    default: return "#b279a2";
    }
}

static int write_svg(const profile *pr, const char *file) {
    const kiln_program *p = pr->p;
    FILE *f = fopen(file, "wb");
    if (!f) {
        fprintf(stderr, "kiln profile: cannot write %s\n", file);
        return 1;
    }
    const double W = 1200, H = 720, left = 90, top = 70, plot_w = 880, plot_h = 560, bar_x = 1040, bar_w = 60;
    double arena = pr->arena > 0 ? pr->arena : 1, n = KILN_MAX(p->n_launches, 1);
    char a[32], b[32], c[32], d[32];
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", left);
    xml_text(f, pr->path);
    fprintf(f, " — memory plan, batch %lld x seq %lld (%s)</text>\n", (long long)pr->batch, (long long)pr->seq, p->backend);
    fprintf(f, "<text x=\"%.0f\" y=\"44\">arena %s planned · lower bound %s (x%.3f) · naive sum %s · %d buffers · temporaries %s</text>\n",
            left, mb(pr->arena, a, sizeof(a)), mb(pr->lower_bound, b, sizeof(b)), pr->lower_bound > 0 ? pr->arena / pr->lower_bound : 0,
            mb(pr->naive, c, sizeof(c)), p->n_buffers, mb(pr->temporaries, d, sizeof(d)));
    // axes
    fprintf(f, "<g id=\"axes\" stroke=\"#333\" stroke-width=\"1\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top, left, top + plot_h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top + plot_h, left + plot_w, top + plot_h);
    fprintf(f, "</g>\n");
    for (int t = 0; t <= 4; t++) {   // offset ticks
        double y = top + plot_h - plot_h * t / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n", left - 6, y + 4, mb(arena * t / 4.0, a, sizeof(a)));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left + 1, y, left + plot_w, y);
    }
    for (int t = 0; t <= 4; t++) {   // launch ticks
        double x = left + plot_w * t / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%.0f</text>\n", x, top + plot_h + 16, n * t / 4.0);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">kernel launches (time) →</text>\n", left + plot_w / 2, top + plot_h + 36);
    fprintf(f, "<text x=\"20\" y=\"%.1f\" transform=\"rotate(-90 20 %.1f)\" text-anchor=\"middle\">arena offset →</text>\n",
            top + plot_h / 2, top + plot_h / 2);
    // buffers
    fprintf(f, "<g id=\"buffers\">\n");
    for (int32_t i = 0; i < p->n_buffers; i++) {
        const rt_buffer *bf = &p->buffers[i];
        double x0 = left + plot_w * pr->first_launch[i] / n, x1 = left + plot_w * (pr->last_launch[i] + 1) / n;
        double y1 = top + plot_h - plot_h * (double)bf->offset / arena, y0 = top + plot_h - plot_h * (double)(bf->offset + (int64_t)bf->size_max) / arena;
        const rt_launch *L = pr->first_launch[i] < p->n_launches ? &p->launches[pr->first_launch[i]] : NULL;
        fprintf(f, "<rect class=\"buffer\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" fill-opacity=\"0.8\" "
                   "stroke=\"#222\" stroke-width=\"0.3\"><title>",
                x0, y0, fmax(x1 - x0, 0.5), fmax(y1 - y0, 0.5), class_color(bf->op, L ? L->op_class : RT_CLASS_FUSED));
        xml_text(f, bf->op);
        fputs(" @", f);
        xml_text(f, bf->path ? bf->path : "-");
        fprintf(f, ": %s at offset %lld, launches %d..%d</title></rect>\n", mb((double)bf->size_max, a, sizeof(a)), (long long)bf->offset,
                pr->first_launch[i], pr->last_launch[i]);
        // A label where it fits: the op and the last parts of its module path.
        const char *op = strncmp(bf->op, "fused.", 6) == 0 ? bf->op + 6 : bf->op, *where = bf->path ? bf->path : "";
        for (int dots = 0, k = (int)strlen(where) - 1; k >= 0; k--)
            if (where[k] == '.' && ++dots == 3) {
                where += k + 1;
                break;
            }
        double chars = (double)(strlen(op) + strlen(where) + 1), across = x1 - x0, down = y1 - y0;
        bool flat = across >= chars * 6.2 + 6 && down >= 14, upright = !flat && down >= chars * 6.2 + 6 && across >= 13;
        if (flat || upright) {   // across the box where it fits, else along a tall narrow one
            if (flat) fprintf(f, "<text class=\"label\" x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#fff\">", x0 + 3, y0 + 12);
            else
                fprintf(f, "<text class=\"label\" x=\"%.2f\" y=\"%.2f\" font-size=\"10\" fill=\"#fff\" transform=\"rotate(-90 %.2f %.2f)\">",
                        x0 + 10, y1 - 4, x0 + 10, y1 - 4);
            xml_text(f, op);
            fputc(' ', f);
            xml_text(f, where);
            fputs("</text>\n", f);
        }
    }
    fprintf(f, "</g>\n");
    // the peak, the arena's top and the lower bound
    double px = left + plot_w * (pr->peak_launch + 0.5) / n, lb_y = top + plot_h - plot_h * pr->lower_bound / arena;
    fprintf(f, "<g id=\"peak\">\n<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"1.5\" "
               "stroke-dasharray=\"5,3\"/>\n", px, top, px, top + plot_h);
    fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" fill=\"#d62728\" text-anchor=\"%s\">peak %s live at launch %lld (", px + (px > left + plot_w / 2 ? -4 : 4),
            top - 6, px > left + plot_w / 2 ? "end" : "start", mb(pr->peak_bytes, a, sizeof(a)), (long long)pr->peak_launch);
    if (p->n_launches) xml_text(f, p->launches[pr->peak_launch].path ? p->launches[pr->peak_launch].path : p->launches[pr->peak_launch].op);
    fprintf(f, ")</text>\n</g>\n");
    fprintf(f, "<line id=\"lower-bound\" x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" stroke=\"#000\" stroke-dasharray=\"2,3\"/>\n", left,
            lb_y, left + plot_w, lb_y);
    fprintf(f, "<text x=\"%.1f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"11\">lower bound</text>\n", left + plot_w - 2, lb_y - 3);
    // weights, aside, on their own scale
    fprintf(f, "<g id=\"weights\">\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">weights</text>\n",
            bar_x + bar_w / 2, top - 6);
    double wy = top + plot_h, wt = pr->weights_total > 0 ? pr->weights_total : 1;
    static const char *wcolors[] = {"#6b6ecf", "#9c9ede", "#cedb9c", "#e7ba52", "#e7969c", "#de9ed6"};
    int wc = 0;
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        if (pr->weights_by_dtype[t] <= 0) continue;
        double h = plot_h * pr->weights_by_dtype[t] / wt;
        fprintf(f, "<rect class=\"weights\" x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\" stroke=\"#222\" stroke-width=\"0.5\">"
                   "<title>%s weights: %s</title></rect>\n",
                bar_x, wy - h, bar_w, h, wcolors[wc++ % 6], kiln_dtype_get_info((kiln_dtype)t)->name, mb(pr->weights_by_dtype[t], a, sizeof(a)));
        fprintf(f, "<text x=\"%.1f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#fff\">%s</text>\n", bar_x + bar_w / 2, wy - h / 2 + 4,
                kiln_dtype_get_info((kiln_dtype)t)->name);
        wy -= h;
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", bar_x + bar_w / 2, top + plot_h + 16, mb(pr->weights_total, a, sizeof(a)));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\" font-size=\"11\">(%.0fx the arena)</text>\n</g>\n",
            bar_x + bar_w / 2, top + plot_h + 32, pr->weights_total / arena);
    // legend
    static const struct { const char *label, *color; } legend[] = {
        {"contraction (GEMM)", "#4c78a8"}, {"attention region", "#8e6bbf"}, {"feed-forward chunks", "#c05a8a"}, {"normalization", "#54a24b"},
        {"element-wise", "#f58518"},       {"movement", "#9d9d9d"},
    };
    fprintf(f, "<g id=\"legend\">\n");
    for (size_t i = 0; i < KILN_ARRAY_SIZE(legend); i++) {
        double x = left + 150.0 * (double)i;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x,
                H - 34, legend[i].color, x + 16, H - 24, legend[i].label);
    }
    fprintf(f, "</g>\n</svg>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "kiln profile: cannot write %s\n", file);
        return 1;
    }
    return 0;
}

/* ---- inputs ---- */

// Random token ids below each id input's range, masks of ones, zeros elsewhere, positions 0..S-1.
static kiln_status make_inputs(const kiln_program *p, const int64_t *sym, kiln_tensor *in, size_t *n_in) {
    *n_in = 0;
    uint32_t r = 1;
    for (int i = 0; i < p->n_inputs && i < 16; i++) {
        const rt_io *io = &p->inputs[i];
        kiln_tensor *t = &in[(*n_in)++];
        memset(t, 0, sizeof(*t));
        t->name = io->name;
        t->dtype = io->dtype;
        t->rank = io->rank;
        int64_t count = 1;
        for (int d = 0; d < io->rank; d++) count *= (t->shape[d] = rt_expr_eval(&io->shape[d], sym));
        size_t bytes = kiln_dtype_bytes(io->dtype, count);
        t->data = calloc(1, bytes + 8);
        if (!t->data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "profile: out of memory");
        for (int64_t k = 0; k < count; k++) {
            r = r * 1664525u + 1013904223u;
            int64_t v = 0;
            if (io->index_limit > 0) v = (int64_t)(r >> 8) % io->index_limit;
            else if (strstr(io->name, "mask")) v = 1;
            else if (strstr(io->name, "position")) v = io->rank ? k % t->shape[io->rank - 1] : 0;
            if (io->dtype == KILN_I64) ((int64_t *)t->data)[k] = v;
            else if (io->dtype == KILN_I32) ((int32_t *)t->data)[k] = (int32_t)v;
            else if (io->dtype == KILN_F32) ((float *)t->data)[k] = io->index_limit ? (float)v : ((float)(r >> 8) / 16777216.0f - 0.5f);
        }
    }
    return KILN_OK;
}

int cli_cmd_profile(int argc, char **argv) {
    profile pr;
    memset(&pr, 0, sizeof(pr));
    pr.batch = 1;
    pr.seq = 128;
    pr.runs = 5;
    pr.threads = cli_default_threads();
    const char *trace = NULL, *svg = NULL;
    bool json = false;
    int64_t ff_chunk = -2;
    kiln_open_options oo = kiln_open_options_default();
    kiln_compile_options co = kiln_compile_options_default();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch"))) {
            pr.batch = cli_parse_int("--batch", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--seq"))) {
            pr.seq = cli_parse_int("--seq", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--runs"))) {
            pr.runs = (int)cli_parse_int("--runs", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            pr.threads = (int)cli_parse_int("--threads", v);
            if (pr.threads == 0) pr.threads = cli_cores();   // printed as the count it is
        } else if ((v = cli_flag_value(argc, argv, &i, "--passes"))) {
            co.passes = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--ff-chunk"))) {
            ff_chunk = cli_parse_int("--ff-chunk", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--memory-budget"))) {
            co.memory_budget = (size_t)cli_parse_int("--memory-budget", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            if (strcmp(v, "interp") == 0) co.target = KILN_TARGET_INTERP;
            else if (strcmp(v, "cpu") == 0) co.target = KILN_TARGET_CPU;
            else {
                fprintf(stderr, "kiln profile: --target %s (want interp or cpu)\n", v);
                return 2;
            }
        } else if ((v = cli_flag_value(argc, argv, &i, "--trace"))) {
            trace = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--svg"))) {
            svg = v;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (!pr.path && argv[i][0] != '-') {
            pr.path = argv[i];
        } else {
            fprintf(stderr, "kiln profile: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!pr.path || pr.batch < 1 || pr.seq < 1 || pr.runs < 1) {
        usage(stderr);
        return 2;
    }
    if (ff_chunk != -2) co.ff_chunk = ff_chunk == 0 ? -1 : ff_chunk;
    co.max_batch = pr.batch;
    co.max_seq = pr.seq;
    pr.rss_before = cli_peak_rss_bytes();
    pr.cpu = co.target == KILN_TARGET_CPU;
    if (pr.cpu) pr.compiler_code = llvm_code_rss_bytes();
    int rc = 1;
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_context *ctx = NULL;
    kiln_tensor in[16], out[16];
    size_t n_in = 0, n_out = 0;
    memset(in, 0, sizeof(in));
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = pr.threads;
    if (kiln_model_open(pr.path, &oo, &m) || kiln_compile(m, &co, &p)) {
        cli_fail(pr.path);
        goto done;
    }
    pr.p = p;
    for (size_t i = 0; m->weights && i < fe_weights_count(m->weights); i++) pr.checkpoint += (double)fe_weights_at(m->weights, i)->size_bytes;
    if (kiln_context_create(p, &xo, &ctx)) {
        cli_fail("context");
        goto done;
    }
    for (int s = 0; s < p->n_symbols; s++) {   // the shape profiled: batch, seq; "past" 0 (a prefill)
        pr.sym[s] = strcmp(p->symbol_names[s], "batch") == 0 ? pr.batch : strcmp(p->symbol_names[s], "seq") == 0 ? pr.seq : 0;
        if (pr.sym[s] == 0) kiln_context_set_dim(ctx, p->symbol_names[s], 0);
    }
    if (make_inputs(p, pr.sym, in, &n_in)) {
        cli_fail("inputs");
        goto done;
    }
    n_out = KILN_MIN(kiln_program_n_outputs(p), 16);
    for (size_t i = 0; i < n_out; i++) {
        kiln_tensor d;
        kiln_program_output(p, i, &d);
        out[i] = (kiln_tensor){.name = d.name};
    }
    if (kiln_run(ctx, in, n_in, out, n_out)) {   // warm-up
        cli_fail("run");
        goto done;
    }
    memset(ctx->launch_ns, 0, sizeof(uint64_t) * (size_t)p->n_launches);
    double t0 = now_s();
    for (int r = 0; r < pr.runs; r++) {
        if (kiln_run(ctx, in, n_in, out, n_out)) {
            cli_fail("run");
            goto done;
        }
    }
    pr.run_seconds = (now_s() - t0) / pr.runs;
    pr.rss_after = cli_peak_rss_bytes();
    pr.k = calloc((size_t)p->n_launches + 1, sizeof(kernel_stat));
    pr.trace_ns = calloc((size_t)p->n_launches + 1, sizeof(double));
    pr.first_launch = calloc((size_t)p->n_buffers + 1, sizeof(int32_t));
    pr.last_launch = calloc((size_t)p->n_buffers + 1, sizeof(int32_t));
    if (!pr.k || !pr.trace_ns || !pr.first_launch || !pr.last_launch) goto done;
    gather_compute(&pr, ctx);
    gather_memory(&pr, ctx);
    // One more run for the trace: each kernel's own time, laid end to end.
    memset(ctx->launch_ns, 0, sizeof(uint64_t) * (size_t)p->n_launches);
    if (kiln_run(ctx, in, n_in, out, n_out)) {
        cli_fail("run");
        goto done;
    }
    for (int i = 0; i < p->n_launches; i++) pr.trace_ns[i] = (double)ctx->launch_ns[i];
    if (json) {
        cJSON *root = to_json(&pr);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        print_text(&pr);
    }
    rc = 0;
    if (trace && write_trace(&pr, trace)) rc = 1;
    if (svg && write_svg(&pr, svg)) rc = 1;
    if (!json && trace && !rc) printf("\ntrace: %s (open in ui.perfetto.dev or chrome://tracing)\n", trace);
    if (!json && svg && !rc) printf("memory plan: %s\n", svg);
done:
    for (size_t i = 0; i < n_in; i++) free(in[i].data);
    free(pr.k);
    free(pr.trace_ns);
    free(pr.first_launch);
    free(pr.last_launch);
    kiln_context_free(ctx);
    kiln_program_free(p);
    kiln_model_free(m);
    return rc;
}
