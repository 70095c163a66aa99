/* bench_gemm.c — kiln's generated GEMM against OpenBLAS cblas_sgemm on every BERT-base and
 * MiniLM contraction (batch 1x128, 1x512, 8x128), plus one-row (GEMV) products, next to the
 * machine's FMA peak measured in the same run. Timings are medians of interleaved repeats.
 *
 *   bench_gemm [--threads N] [--reps R] [--only SUBSTR] [--isa avx512|avx2]
 *              [--mr M --nr N --dmr M --dnr N --kc K --mc M] [--asm FILE] [--window-ms T] [--shape MxNxK]
 *              [--blas 0|1] [--cold-mb X] [--settle-ms T]
 * A sample is the mean time of the calls in a window of T ms (default 10); --window-ms 0 times
 * single calls, whose fastest ("best") filters out other processes on a busy machine.
 * --settle-ms T sleeps after each OpenBLAS sample (its idle threads spin before they sleep);
 * --blas 0 runs kiln alone. --cold-mb X: kiln's weight products rotate over copies of the packed
 * weight that add up to at least X MB, so that each call reads its weight from memory as a
 * model's layers do (the default, 0, reuses one copy, which then stays in cache).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "codegen/llvm/gemm.h"
#include "runtime/pool.h"
#include "tests/gemm/gemm_jit.h"
#include "bench/fma_peak.h"
#include "bench/mem_bw.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- shapes ---- */

typedef enum { K_WEIGHT, K_QK, K_PV } kind;

typedef struct shape {
    const char *model, *batch_name, *what;
    kind kind;
    int64_t M, N, K, batch;   // weight: tokens x out x in; attention: per head, batch = heads x batch
} shape;

static int make_shapes(shape *out) {
    static const struct {
        const char *name;
        int64_t hidden, ffn, heads;
    } models[2] = {{"bert-base", 768, 3072, 12}, {"minilm", 384, 1536, 12}};
    static const struct {
        const char *name;
        int64_t batch, seq;
    } runs[3] = {{"1x128", 1, 128}, {"1x512", 1, 512}, {"8x128", 8, 128}};
    int n = 0;
    for (int mi = 0; mi < 2; mi++)
        for (int ri = 0; ri < 3; ri++) {
            int64_t H = models[mi].hidden, F = models[mi].ffn, heads = models[mi].heads, d = H / heads;
            int64_t T = runs[ri].batch * runs[ri].seq, S = runs[ri].seq, bh = runs[ri].batch * heads;
            const char *m = models[mi].name, *b = runs[ri].name;
            out[n++] = (shape){m, b, "qkv/out", K_WEIGHT, T, H, H, 1};
            out[n++] = (shape){m, b, "ffn-up", K_WEIGHT, T, F, H, 1};
            out[n++] = (shape){m, b, "ffn-down", K_WEIGHT, T, H, F, 1};
            out[n++] = (shape){m, b, "q.kT", K_QK, S, S, d, bh};
            out[n++] = (shape){m, b, "p.v", K_PV, S, d, S, bh};
        }
    // One-row products (decode): memory-bound, reported in GB/s of weights read.
    static const int64_t gemv[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {384, 384}, {1536, 384}, {384, 1536}, {50257, 768}};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(gemv); i++) out[n++] = (shape){"gemv", "1", "", K_WEIGHT, 1, gemv[i][0], gemv[i][1], 1};
    return n;
}

static void fill(float *p, size_t n, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) abort();
    return p;
}

typedef struct runner {
    const shape *s;
    gj_packed_fn packed;
    gj_dynamic_fn qk, pv;
    const cg_gemm_config *cfg;
    rt_pool *pool;
    float *A, *W, *Wp, *C, *bias;
    float **Wcold;     // --cold-mb: n_cold packed copies, used in turn
    int n_cold;
} runner;

static int cold_next;

static void run_kiln(const runner *r) {
    const shape *s = r->s;
    if (s->kind == K_WEIGHT) {
        const float *Wp = r->n_cold ? r->Wcold[cold_next++ % r->n_cold] : r->Wp;
        r->packed(s->M, s->N, s->K, r->A, s->K, Wp, r->C, s->N, r->bias, r->pool);
    } else if (s->kind == K_QK) {   // Q [bh, S, d] . K [bh, S, d]^T
        r->qk(1, s->batch, s->M, s->N, s->K, r->A, s->K, 0, s->M * s->K, r->W, s->K, 0, s->N * s->K, r->C, s->N, 0, s->M * s->N, NULL,
              r->pool);
    } else {   // P [bh, S, S] . V [bh, S, d]
        r->pv(1, s->batch, s->M, s->N, s->K, r->A, s->K, 0, s->M * s->K, r->W, s->N, 0, s->K * s->N, r->C, s->N, 0, s->M * s->N, NULL,
              r->pool);
    }
}

static void run_blas(const runner *r) {
    const shape *s = r->s;
    if (s->kind == K_WEIGHT) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, r->A, (int)s->K, r->W, (int)s->K, 0.0f,
                    r->C, (int)s->N);
        return;
    }
    for (int64_t b = 0; b < s->batch; b++) {
        const float *A = r->A + b * s->M * s->K;
        float *C = r->C + b * s->M * s->N;
        if (s->kind == K_QK)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)s->K,
                        r->W + b * s->N * s->K, (int)s->K, 0.0f, C, (int)s->N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)s->K,
                        r->W + b * s->K * s->N, (int)s->N, 0.0f, C, (int)s->N);
    }
}

// Seconds per call: calls repeated for at least `min_s`, the average over them.
static double time_calls(void (*fn)(const runner *), const runner *r, double min_s) {
    fn(r);
    int calls = 0;
    double t0 = now(), t;
    do {
        fn(r);
        calls++;
        t = now();
    } while (t - t0 < min_s);
    return (t - t0) / calls;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 15;
    double window_ms = 10;   // one sample: the mean time of the calls that fit this window
    bool blas = true;        // --blas 0: kiln alone
    double cold_mb = 0;      // --cold-mb X: rotate weight copies of X MB in all
    double settle_ms = 0;    // --settle-ms T: sleep after each OpenBLAS sample (its idle threads
                             // spin a while before they sleep, and take a core from kiln's pool)
    const char *only = NULL, *asm_path = NULL, *isa = NULL;
    int mr = 0, nr = 0, dmr = 0, dnr = 0, kc = 0, mc = 0;
    long long xm = 0, xn = 0, xk = 0;   // --shape MxNxK: one extra weight product (experiments)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: %s [--threads N] [--reps R] [--only S] [--isa avx512|avx2] [--mr/--nr/--dmr/--dnr/--kc/--mc V] [--window-ms T] [--shape MxNxK] [--asm FILE] [--blas 0|1] [--cold-mb X] [--settle-ms T]\n", argv[0]);
            return 2;
        }
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--only")) only = v;
        else if (!strcmp(a, "--asm")) asm_path = v;
        else if (!strcmp(a, "--window-ms")) window_ms = atof(v);
        else if (!strcmp(a, "--blas")) blas = atoi(v) != 0;
        else if (!strcmp(a, "--cold-mb")) cold_mb = atof(v);
        else if (!strcmp(a, "--settle-ms")) settle_ms = atof(v);
        else if (!strcmp(a, "--isa")) isa = v;
        else if (!strcmp(a, "--mr")) mr = atoi(v);
        else if (!strcmp(a, "--dmr")) dmr = atoi(v);
        else if (!strcmp(a, "--dnr")) dnr = atoi(v);
        else if (!strcmp(a, "--nr")) nr = atoi(v);
        else if (!strcmp(a, "--kc")) kc = atoi(v);
        else if (!strcmp(a, "--mc")) mc = atoi(v);
        else if (!strcmp(a, "--shape")) {
            if (sscanf(v, "%lldx%lldx%lld", &xm, &xn, &xk) != 3) return 2;
        }
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (reps < 1 || reps > 1001) reps = 7;
    gj_init();
    char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
    const char *cpu = host_cpu, *features = host_features;
    if (isa && !strcmp(isa, "avx2")) {
        cpu = "haswell";
        features = "";
    }
    cg_gemm_config cfg;
    if (cg_gemm_config_for(cpu, features, &cfg) != KILN_OK) {
        fprintf(stderr, "no GEMM config for this cpu: %s\n", kiln_last_error());
        return 1;
    }
    if (mr) cfg.mr = mr;
    if (dmr) cfg.dyn_mr = dmr;
    if (dnr) cfg.dyn_nr = dnr;
    if (nr) cfg.nr = nr;
    if (kc) cfg.kc = kc;
    if (mc) cfg.mc = mc;
    bool avx512 = cfg.isa == CG_GEMM_ISA_AVX512;

    gj_module m;
    gj_module_begin(&m, cpu, features);
    if (cg_gemm_emit_packed(m.mod, m.tm, &cfg, CG_GEMM_ACT_NONE, "gemm_w") || cg_gemm_emit_dynamic(m.mod, m.tm, &cfg, true, CG_GEMM_ACT_NONE, "gemm_qk") ||
        cg_gemm_emit_dynamic(m.mod, m.tm, &cfg, false, CG_GEMM_ACT_NONE, "gemm_pv")) {
        fprintf(stderr, "emit: %s\n", kiln_last_error());
        return 1;
    }
    double tc = now();
    LLVMOrcLLJITRef jit = gj_jit(&m, asm_path);
    if (!jit) return 1;
    runner r = {.cfg = &cfg};
    r.packed = (gj_packed_fn)gj_lookup(jit, "gemm_w");
    r.qk = (gj_dynamic_fn)gj_lookup(jit, "gemm_qk");
    r.pv = (gj_dynamic_fn)gj_lookup(jit, "gemm_pv");
    if (!r.packed || !r.qk || !r.pv) return 1;
    tc = now() - tc;
    r.pool = rt_pool_create(threads);
    openblas_set_num_threads(threads);

    const char *coretype = getenv("OPENBLAS_CORETYPE");
    double peak1 = fma_peak(avx512, 1), peakn = fma_peak(avx512, threads);
    printf("# kiln GEMM bench: cpu %s, isa %s, tiles %dx%d (weights) %dx%d + %dx%d (dynamic), kc %d, mc %d, %d threads, O3+JIT %.0f ms\n", cpu,
           avx512 ? "avx512" : "avx2", cfg.mr, cfg.nr, cfg.dyn_mr, cfg.dyn_nr, cfg.dyn_mr_wide, cfg.dyn_nr_wide, cfg.kc, cfg.mc, threads, tc * 1e3);
    printf("# OpenBLAS %s (OPENBLAS_CORETYPE=%s); medians of %d interleaved samples of %.0f ms; best = fastest sample\n",
           openblas_get_config(), coretype ? coretype : "(unset)", reps, window_ms);
    double mem_bw = mem_read_bw(threads, (size_t)2048 << 20, 5);   // 2 GiB: past any L3 (480 MiB on the development VM)
    printf("# FMA peak (%s): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", avx512 ? "avx512" : "avx2", peak1, threads, peakn);
    printf("# memory read bandwidth: %.1f GB/s on %d threads (2 GiB, best of 5; with --cold-mb, GEMV rows quote their share)\n\n", mem_bw,
           threads);
    printf("| model | batch | gemm | M x N x K (x batch) | kiln GFLOP/s | OpenBLAS GFLOP/s | kiln/BLAS | kiln %% of peak | kiln best | best %% of peak |\n");
    printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");

    shape shapes[64];
    int n_shapes = make_shapes(shapes);
    if (xm > 0) {
        shapes[0] = (shape){"custom", "-", "weight", K_WEIGHT, xm, xn, xk, 1};
        n_shapes = 1;
    }
    unsigned seed = 12345;
    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        char label[128];
        snprintf(label, sizeof(label), "%s %s %s %lldx%lldx%lld", s->model, s->batch_name, s->what, (long long)s->M, (long long)s->N, (long long)s->K);
        if (only && !strstr(label, only)) continue;
        r.s = s;
        size_t a_n = (size_t)(s->batch * s->M * s->K), w_n = (size_t)(s->batch * s->N * s->K), c_n = (size_t)(s->batch * s->M * s->N);
        r.A = xalloc(a_n * 4);
        r.W = xalloc(w_n * 4);
        r.C = xalloc(c_n * 4);
        r.bias = NULL;
        r.Wp = NULL;
        fill(r.A, a_n, &seed);
        fill(r.W, w_n, &seed);
        if (s->kind == K_WEIGHT) {
            r.Wp = xalloc(cg_gemm_packed_bytes(&cfg, s->N, s->K));
            cg_gemm_pack_weight(&cfg, r.W, s->N, s->K, r.Wp);
            size_t wb = cg_gemm_packed_bytes(&cfg, s->N, s->K);
            r.n_cold = cold_mb > 0 ? (int)KILN_MIN(4096.0, ceil(cold_mb * 1e6 / (double)wb)) : 0;
            if (r.n_cold) {
                r.Wcold = malloc(sizeof(float *) * (size_t)r.n_cold);
                if (!r.Wcold) abort();
                for (int i = 0; i < r.n_cold; i++) {
                    r.Wcold[i] = xalloc(wb);
                    memcpy(r.Wcold[i], r.Wp, wb);
                }
            }
        }
        double flops = cg_gemm_flops(s->M, s->N, s->K) * (double)s->batch;
        double tk[1001], tb[1001];
        for (int rep = 0; rep < reps; rep++) {   // interleaved: kiln, OpenBLAS, kiln, ...
            tk[rep] = time_calls(run_kiln, &r, window_ms * 1e-3);
            tb[rep] = blas ? time_calls(run_blas, &r, window_ms * 1e-3) : 1e30;
            if (blas && settle_ms > 0) {
                struct timespec ts = {.tv_sec = (time_t)(settle_ms / 1000), .tv_nsec = (long)(fmod(settle_ms, 1000.0) * 1e6)};
                nanosleep(&ts, NULL);
            }
        }
        double k_s = median(tk, reps), b_s = median(tb, reps), k_best = tk[0];   // median() sorted them
        double kg = flops / k_s * 1e-9, bg = flops / b_s * 1e-9, kbest = flops / k_best * 1e-9;
        char dims[64];
        if (s->batch > 1)
            snprintf(dims, sizeof(dims), "%lld x %lld x %lld (x %lld)", (long long)s->M, (long long)s->N, (long long)s->K, (long long)s->batch);
        else
            snprintf(dims, sizeof(dims), "%lld x %lld x %lld", (long long)s->M, (long long)s->N, (long long)s->K);
        // Without OpenBLAS (--blas 0) its columns say "-".
        char blas_col[64] = "-", ratio_col[16] = "-";
        if (s->M == 1) {
            double bytes = (double)s->N * (double)s->K * 4.0;
            if (blas) snprintf(blas_col, sizeof(blas_col), "%.1f (%.1f GB/s)", bg, bytes / b_s * 1e-9);
            if (blas) snprintf(ratio_col, sizeof(ratio_col), "%.2f", b_s / k_s);
            // Weights rotated through more memory than the caches hold come from memory: the share of
            // its read bandwidth. (Without --cold-mb even the 154 MB LM head stays in a large L3.)
            char share[48] = "";
            if (r.n_cold > 1 && mem_bw > 0) snprintf(share, sizeof(share), ", %.0f %% of memory", 100.0 * bytes / k_s * 1e-9 / mem_bw);
            printf("| %s | %s | gemv | %s | %.1f (%.1f GB/s%s) | %s | %s | %.1f %% | %.1f (%.1f GB/s) | %.1f %% |\n", s->model, s->batch_name,
                   dims, kg, bytes / k_s * 1e-9, share, blas_col, ratio_col, 100.0 * kg / peakn, kbest, bytes / k_best * 1e-9,
                   100.0 * kbest / peakn);
        } else {
            if (blas) snprintf(blas_col, sizeof(blas_col), "%.1f", bg);
            if (blas) snprintf(ratio_col, sizeof(ratio_col), "%.2f", b_s / k_s);
            printf("| %s | %s | %s | %s | %.1f | %s | %s | %.1f %% | %.1f | %.1f %% |\n", s->model, s->batch_name, s->what, dims, kg, blas_col,
                   ratio_col, 100.0 * kg / peakn, kbest, 100.0 * kbest / peakn);
        }
        fflush(stdout);
        free(r.A);
        free(r.W);
        free(r.C);
        free(r.Wp);
        for (int i = 0; i < r.n_cold; i++) free(r.Wcold[i]);
        free(r.Wcold);
        r.Wcold = NULL;
        r.n_cold = 0;
    }
    rt_pool_free(r.pool);
    LLVMOrcDisposeLLJIT(jit);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);
    return 0;
}
