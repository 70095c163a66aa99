/* bench_passes.c — what the passes buy, measured side by side (see bench/README.md):
 *   1. graph nodes and kernel launches per encoder layer, before and after fusion;
 *   2. fused (the full pipeline) against unfused (--passes none) latency, per backend;
 *   3. feed-forward chunking (chunk 64) against unchunked at seq 512, per backend: latency, arena,
 *      temporaries and the feed-forward intermediate's bytes.
 * Variants run interleaved (one run of each per round, the order alternating), repeated; medians
 * are quoted. Models: MiniLM (all-MiniLM-L6-v2) and BERT-base shapes with random weights, which
 * --make-bert-base DIR writes (about 440 MB; no Python needed).
 *
 *   bench_passes MINILM_DIR BERT_BASE_DIR [--rounds N] [--threads T] [--target interp|cpu|both] [--only chunking]
 *   bench_passes --make-bert-base DIR
 */
#include <math.h>
#include <sys/stat.h>
#include <time.h>

#include "api/passes.h"
#include "frontend/safetensors.h"
#include "runtime/context.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- a BERT-base checkpoint with random weights ---- */

static uint32_t rng = 1;
static float urand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f - 0.5f;
}

static int make_bert_base(const char *dir) {
    enum { H = 768, I = 3072, L = 12, V = 30522, P = 512 };
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f, "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], \"hidden_size\": %d, \"num_hidden_layers\": %d, "
               "\"num_attention_heads\": 12, \"intermediate_size\": %d, \"hidden_act\": \"gelu\", \"max_position_embeddings\": %d, "
               "\"type_vocab_size\": 2, \"vocab_size\": %d, \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}\n", H, L, I, P, V);
    fclose(f);
    kiln_tensor t[8 + 16 * L];
    char names[8 + 16 * L][96];
    size_t n = 0;
#define TENSOR(r, d0, d1, fill, ...)                                                                    \
    do {                                                                                                \
        snprintf(names[n], sizeof(names[n]), __VA_ARGS__);                                              \
        int64_t c = (int64_t)(d0) * ((r) == 2 ? (int64_t)(d1) : 1);                                     \
        float *x = malloc(sizeof(float) * (size_t)c);                                                   \
        for (int64_t e_ = 0; e_ < c; e_++) x[e_] = (fill) == 0 ? 0.04f * urand() : (fill) == 1 ? 1.0f : 0.0f; \
        t[n] = (kiln_tensor){.name = names[n], .dtype = KILN_F32, .rank = (r), .shape = {(d0), (d1)}, .data = x};  \
        n++;                                                                                            \
    } while (0)
    TENSOR(2, V, H, 0, "embeddings.word_embeddings.weight");
    TENSOR(2, P, H, 0, "embeddings.position_embeddings.weight");
    TENSOR(2, 2, H, 0, "embeddings.token_type_embeddings.weight");
    TENSOR(1, H, 0, 1, "embeddings.LayerNorm.weight");
    TENSOR(1, H, 0, 2, "embeddings.LayerNorm.bias");
    for (int l = 0; l < L; l++) {
        const char *qkv[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            TENSOR(2, H, H, 0, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            TENSOR(1, H, 0, 0, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
        }
        TENSOR(2, H, H, 0, "encoder.layer.%d.attention.output.dense.weight", l);
        TENSOR(1, H, 0, 0, "encoder.layer.%d.attention.output.dense.bias", l);
        TENSOR(1, H, 0, 1, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        TENSOR(1, H, 0, 2, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        TENSOR(2, I, H, 0, "encoder.layer.%d.intermediate.dense.weight", l);
        TENSOR(1, I, 0, 0, "encoder.layer.%d.intermediate.dense.bias", l);
        TENSOR(2, H, I, 0, "encoder.layer.%d.output.dense.weight", l);
        TENSOR(1, H, 0, 0, "encoder.layer.%d.output.dense.bias", l);
        TENSOR(1, H, 0, 1, "encoder.layer.%d.output.LayerNorm.weight", l);
        TENSOR(1, H, 0, 2, "encoder.layer.%d.output.LayerNorm.bias", l);
    }
    TENSOR(2, H, H, 0, "pooler.dense.weight");
    TENSOR(1, H, 0, 0, "pooler.dense.bias");
#undef TENSOR
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    kiln_status st = fe_safetensors_write(path, t, n);
    for (size_t i = 0; i < n; i++) free(t[i].data);
    if (st) return fprintf(stderr, "%s: %s\n", path, kiln_last_error()), 1;
    printf("%s: BERT-base shapes, random weights (%zu tensors)\n", dir, n);
    return 0;
}

/* ---- programs and runs ---- */

typedef struct variant {
    const char *label;
    kiln_program *p;
    kiln_context *ctx;
    double *times;
} variant;

static int64_t ids_buf[8 * 512], mask_buf[8 * 512];

static kiln_status compile(const kiln_model *m, kiln_target target, const char *passes, int64_t ff_chunk, int64_t batch, int64_t seq,
                           int threads, variant *v) {
    kiln_compile_options co = kiln_compile_options_default();
    co.target = target;
    co.max_batch = batch;
    co.max_seq = seq;
    co.passes = passes;
    co.ff_chunk = ff_chunk;
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = threads;
    kiln_status st = kiln_compile(m, &co, &v->p);
    if (!st) st = kiln_context_create(v->p, &xo, &v->ctx);
    return st;
}

static kiln_status run_once(const variant *v, int64_t batch, int64_t seq, double *seconds) {
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = ids_buf},
                         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {batch, seq}, .data = mask_buf}};
    kiln_tensor out = {.name = "last_hidden_state"};
    double t0 = now_s();
    kiln_status st = kiln_run(v->ctx, in, 2, &out, 1);
    *seconds = now_s() - t0;
    return st;
}

// Interleaved: one warm-up each, then `rounds` rounds of one run each, the order alternating.
static kiln_status race(variant *v, int n, int rounds, int64_t batch, int64_t seq) {
    double t;
    kiln_status st = KILN_OK;
    for (int i = 0; i < n && !st; i++) st = run_once(&v[i], batch, seq, &t);
    for (int r = 0; r < rounds && !st; r++)
        for (int j = 0; j < n && !st; j++) {
            int i = r % 2 ? n - 1 - j : j;
            st = run_once(&v[i], batch, seq, &v[i].times[r]);
        }
    return st;
}

static void release(variant *v) {
    kiln_context_free(v->ctx);
    kiln_program_free(v->p);
    v->ctx = NULL;
    v->p = NULL;
}

static int launches_under(const kiln_program *p, const char *prefix) {
    int n = 0;
    for (int i = 0; i < p->n_launches; i++) n += p->launches[i].path && strncmp(p->launches[i].path, prefix, strlen(prefix)) == 0;
    return n;
}

static int compute_nodes(const ir_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !(ir_op_flags(g->nodes[i]->op) & (IR_OPF_LEAF | IR_OPF_VIEW));
    return n;
}

// The feed-forward intermediate: the biggest arena buffer written under ".intermediate".
static size_t ffn_intermediate(const kiln_program *p) {
    size_t most = 0;
    for (int i = 0; i < p->n_buffers; i++)
        if (p->buffers[i].path && strstr(p->buffers[i].path, ".intermediate") && p->buffers[i].size_max > most) most = p->buffers[i].size_max;
    return most;
}

static const char *target_name(kiln_target t) { return t == KILN_TARGET_CPU ? "cpu" : "interp"; }

static int bench_model(const char *name, const char *dir, int rounds, int threads, const kiln_target *targets, int n_targets,
                       bool chunk_only) {
    kiln_model *m = NULL;
    if (kiln_model_open(dir, NULL, &m)) return fprintf(stderr, "%s: %s\n", dir, kiln_last_error()), 1;
    for (int i = 0; i < 8 * 512; i++) {
        rng = rng * 1664525u + 1013904223u;
        ids_buf[i] = 1000 + (int64_t)(rng >> 8) % 20000;
        mask_buf[i] = 1;
    }
    int rc = 1;
    double *times = calloc((size_t)rounds * 4, sizeof(double));
    variant v[2] = {{0}};
    v[0].times = times;
    v[1].times = times + rounds;

    // 1. nodes and launches
    ir_graph *g = NULL;
    if (chunk_only) {
        printf("\n### %s\n", name);
        goto chunking;
    }
    if (api_model_graph(m, 1, 128, &g)) goto fail;
    int before = compute_nodes(g);
    kiln_pass_ctx pc = pass_ctx_default();
    if (pass_run_pipeline(g, &pc)) goto fail;
    int after = compute_nodes(g);
    ir_graph_free(g);
    g = NULL;
    if (compile(m, KILN_TARGET_INTERP, "none", -1, 1, 128, threads, &v[0]) || compile(m, KILN_TARGET_INTERP, NULL, -1, 1, 128, threads, &v[1]))
        goto fail;
    printf("\n### %s\n\n", name);
    printf("graph: %d compute nodes before the passes, %d after; launches per encoder layer (interp): %d unfused, %d fused; "
           "whole program %d -> %d launches\n\n",
           before, after, launches_under(v[0].p, "encoder.layer.0."), launches_under(v[1].p, "encoder.layer.0."), v[0].p->n_launches,
           v[1].p->n_launches);
    release(&v[0]);
    release(&v[1]);

    // 2. fused against unfused
    printf("| backend | shape | unfused ms | fused ms | fused / unfused | arena unfused | arena fused |\n|---|---|---|---|---|---|---|\n");
    const int64_t shapes[3][2] = {{1, 128}, {1, 512}, {8, 128}};
    for (int t = 0; t < n_targets; t++) {
        for (int s = 0; s < 3; s++) {
            int64_t B = shapes[s][0], S = shapes[s][1];
            if (compile(m, targets[t], "none", -1, B, S, threads, &v[0]) || compile(m, targets[t], NULL, -1, B, S, threads, &v[1]) ||
                race(v, 2, rounds, B, S))
                goto fail;
            double a = median(v[0].times, rounds), b = median(v[1].times, rounds);
            printf("| %s | %lld x %lld | %.2f | %.2f | %.3f | %.2f MB | %.2f MB |\n", target_name(targets[t]), (long long)B, (long long)S,
                   a * 1e3, b * 1e3, b / a, v[0].p->arena_bytes / 1e6, v[1].p->arena_bytes / 1e6);
            fflush(stdout);
            release(&v[0]);
            release(&v[1]);
        }
    }

chunking:
    // 3. feed-forward chunking at seq 512, per backend: both run a chunked region chunk by chunk,
    // its [chunk x intermediate] scratch counted as temporaries
    for (int t = 0; t < n_targets; t++) {
        if (compile(m, targets[t], NULL, -1, 1, 512, threads, &v[0]) || compile(m, targets[t], NULL, 64, 1, 512, threads, &v[1]) ||
            race(v, 2, rounds, 1, 512))
            goto fail;
        double a = median(v[0].times, rounds), b = median(v[1].times, rounds);
        size_t inter_whole = ffn_intermediate(v[0].p), inter_chunk = v[1].p->workspace_bytes;
        printf("\nfeed-forward chunking, %s, 1 x 512: unchunked %.2f ms, chunk 64 %.2f ms (x%.3f); arena %.2f -> %.2f MB, "
               "temporaries %.2f -> %.2f MB; feed-forward intermediate %.2f MB -> %.2f MB of chunk scratch (%.1fx less)\n",
               target_name(targets[t]), a * 1e3, b * 1e3, b / a, v[0].p->arena_bytes / 1e6, v[1].p->arena_bytes / 1e6,
               v[0].p->workspace_bytes / 1e6, v[1].p->workspace_bytes / 1e6, inter_whole / 1e6, inter_chunk / 1e6,
               inter_chunk ? (double)inter_whole / (double)inter_chunk : 0);
        fflush(stdout);
        release(&v[0]);
        release(&v[1]);
    }
    rc = 0;
fail:
    if (rc) fprintf(stderr, "%s: %s\n", name, kiln_last_error());
    release(&v[0]);
    release(&v[1]);
    ir_graph_free(g);
    free(times);
    kiln_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--make-bert-base") == 0) return make_bert_base(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_passes MINILM_DIR BERT_BASE_DIR [--rounds N] [--threads T] [--target interp|cpu|both] [--only chunking]\n"
                        "       bench_passes --make-bert-base DIR\n");
        return 2;
    }
    int rounds = 5, threads = 1;
    kiln_target targets[2] = {KILN_TARGET_INTERP, KILN_TARGET_CPU};
    int n_targets = 2;
    bool chunk_only = false;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--only") == 0) chunk_only = strcmp(argv[i + 1], "chunking") == 0;
        else if (strcmp(argv[i], "--target") == 0) {
            if (strcmp(argv[i + 1], "interp") == 0) n_targets = 1;
            else if (strcmp(argv[i + 1], "cpu") == 0) targets[0] = KILN_TARGET_CPU, n_targets = 1;
        }
    }
    if (rounds < 1) rounds = 1;
    printf("bench_passes: %d rounds (variants interleaved, medians), %d thread%s; OPENBLAS_CORETYPE=%s\n", rounds, threads,
           threads == 1 ? "" : "s", getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
    int rc = bench_model("MiniLM (all-MiniLM-L6-v2)", argv[1], rounds, threads, targets, n_targets, chunk_only);
    rc |= bench_model("BERT-base (random weights)", argv[2], rounds, threads, targets, n_targets, chunk_only);
    return rc;
}
