/* test_fusion.c — each fusion, fused against unfused on the interpreter and on the cpu backend:
 *  - on every fixture model, end to end: element-wise chains, bias + activation in the GEMM
 *    epilogue and residual add + LayerNorm run the unfused ops' arithmetic and must give the same
 *    bits; QKV packing and attention sum in another order, and the two LayerNorms per layer after
 *    them magnify that, so the outputs must agree within 1e-5 (scaled: max(1, |value|));
 *  - on attention blocks alone (odd heads and head sizes, masks, BERT's and DistilBERT's scaling,
 *    packed QKV, several query and key tiles): the region's output within 1e-6 of unfused;
 *  - every fused graph also runs flattened (its bodies op by op: what a backend without the
 *    region's kernel does) and must agree with its kernels;
 *  - the launch list shows the fusion: the kernels of one encoder layer, before and after.
 */
#include "passes_test.h"

extern const kiln_backend cg_llvm_backend;

#define BASE "fold_constants,simplify,cse,dce"

typedef struct fusion {
    const char *passes;     // BASE + these
    int kind;               // the FUSED kind it makes
    bool exact;             // bit-identical to unfused (on the interpreter)
    int64_t ff_chunk;       // chunk_ffn's rows (0: the default, off)
} fusion;

static const fusion fusions[] = {
    {"fuse_elementwise", IR_FUSED_ELEMENTWISE, true, 0},
    {"fuse_gemm", IR_FUSED_GEMM, true, 0},
    {"fuse_norm", IR_FUSED_NORM, true, 0},
    {"pack_qkv", -1, false, 0},
    {"fuse_attention", IR_FUSED_ATTENTION, false, 0},
    {"pack_qkv,fuse_attention,fuse_gemm,fuse_norm,fuse_elementwise", IR_FUSED_ATTENTION, false, 0},
    {"chunk_ffn", IR_FUSED_CHUNKED, false, 5},
    {"pack_qkv,fuse_attention,chunk_ffn,fuse_gemm,fuse_norm,fuse_elementwise", IR_FUSED_CHUNKED, false, 16},
};

static int count_kind(const ir_graph *g, int kind) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *x = g->nodes[i];
        if (kind < 0 ? x->op == IR_OP_PACK_WEIGHTS : (x->op == IR_OP_FUSED && x->p.fused_kind == kind)) n++;
    }
    return n;
}

// The model's graph through BASE + `extra`.
static ir_graph *passed_graph(const kiln_model *m, const char *extra, int64_t ff_chunk) {
    char spec[256];
    snprintf(spec, sizeof(spec), "%s%s%s", BASE, extra ? "," : "", extra ? extra : "");
    ir_graph *g = NULL;
    kiln_pass_ctx ctx = pass_ctx_default();
    ctx.verify = true;
    ctx.ff_chunk = ff_chunk;
    if (api_model_graph(m, 3, 64, &g) || pass_parse_spec(spec, ctx.enabled) || pass_run_pipeline(g, &ctx)) {
        fprintf(stderr, "%s: %s\n", spec, kiln_last_error());
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static void check_fixture(const char *name, int n_layers, kiln_target target) {
    const char *tname = target == KILN_TARGET_CPU ? "cpu" : "interp";
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    fx_tensors in[2] = {{0}};
    snprintf(path, sizeof(path), "%s/inputs_batch3.safetensors", dir);
    CHECK_OK(fx_load(path, &in[0]));
    snprintf(path, sizeof(path), "%s/inputs_seq64.safetensors", dir);
    CHECK_OK(fx_load(path, &in[1]));
    ir_graph *g0 = passed_graph(m, NULL, 0);
    kiln_program *p0 = NULL;
    if (g0) CHECK_OK(api_compile_graph(m, g0, target, &p0));
    for (size_t f = 0; p0 && f < KILN_ARRAY_SIZE(fusions); f++) {
        const fusion *fu = &fusions[f];
        ir_graph *g = passed_graph(m, fu->passes, fu->ff_chunk), *flat = NULL;
        kiln_program *p = NULL, *pf = NULL;
        CHECK(g != NULL);
        if (!g) continue;
        int n = count_kind(g, fu->kind);
        bool per_layer = fu->kind == IR_FUSED_ATTENTION || fu->kind == IR_FUSED_CHUNKED;
        int want = per_layer ? n_layers : fu->kind < 0 ? 2 * n_layers : 1;
        CHECK_MSG(per_layer || fu->kind < 0 ? n == want : n >= want, "%s, %s: %d regions, want %s%d", name, fu->passes, n,
                  per_layer || fu->kind < 0 ? "" : ">= ", want);
        CHECK_OK(api_compile_graph(m, g, target, &p));
        CHECK_OK(cg_flatten(g, &flat));
        if (flat) CHECK_OK(api_compile_graph(m, flat, target, &pf));
        if (p && fu->kind > 0) {   // the backend runs the region as one launch of its kind
            char op[32];
            snprintf(op, sizeof(op), "fused.%s", ir_fused_kind_name(fu->kind));
            int launches = 0;
            for (int l = 0; l < p->n_launches; l++) launches += strcmp(p->launches[l].op, op) == 0;
            CHECK_MSG(launches >= want, "%s, %s, %s: %d %s launches, want %d", name, tname, fu->passes, launches, op, want);
        }
        for (int c = 0; c < 2 && p && pf; c++) {
            double d = pt_compare_programs(p0, p, in[c].t, in[c].n), df = pt_compare_programs(p, pf, in[c].t, in[c].n);
            // The cpu backend's fused GEMM adds the bias inside its sums' epilogue and its fused
            // kernels vectorize differently: fusions agree to rounding there.
            if (fu->exact && target == KILN_TARGET_INTERP)
                CHECK_MSG(d == 0, "%s, %s, %s, case %d: fused differs from unfused by %g (want bit-identical)", name, tname, fu->passes, c, d);
            else CHECK_MSG(d <= 1e-5, "%s, %s, %s, case %d: fused differs from unfused by %g", name, tname, fu->passes, c, d);
            CHECK_MSG(df <= 1e-5, "%s, %s, %s, case %d: the region's kernel differs from its body by %g", name, tname, fu->passes, c, df);
        }
        kiln_program_free(p);
        kiln_program_free(pf);
        ir_graph_free(flat);
        ir_graph_free(g);
    }
    kiln_program_free(p0);
    ir_graph_free(g0);
    fx_free(&in[0]);
    fx_free(&in[1]);
    kiln_model_free(m);
}

// Launches whose module path is under `prefix` (one encoder layer).
static int launches_under(const kiln_program *p, const char *prefix) {
    int n = 0;
    for (int i = 0; i < p->n_launches; i++) n += p->launches[i].path && strncmp(p->launches[i].path, prefix, strlen(prefix)) == 0;
    return n;
}

static void test_kernels_per_layer(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/bert-base", KILN_FIXTURES);
    kiln_model *m = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_program *before = NULL, *after = NULL;
    kiln_compile_options co = kiln_compile_options_default();
    co.passes = "none";
    if (m) CHECK_OK(kiln_compile(m, &co, &before));
    co.passes = NULL;
    if (m) CHECK_OK(kiln_compile(m, &co, &after));
    if (before && after) {
        int nb = launches_under(before, "encoder.layer.0."), na = launches_under(after, "encoder.layer.0.");
        printf("BERT encoder layer: %d kernels unfused, %d fused (whole program: %d -> %d launches)\n", nb, na, before->n_launches,
               after->n_launches);
        CHECK_MSG(na == 7, "%d kernels per fused layer, want 7 (QKV GEMM, attention, GEMM, add+LN, GEMM+GELU, GEMM, add+LN)", na);
        CHECK(nb > 3 * na);
    }
    kiln_program_free(before);
    kiln_program_free(after);
    kiln_model_free(m);
}

/* ---- attention blocks alone ---- */

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((float)(rng >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

typedef struct block_cfg {
    int64_t batch, seq, heads, head_dim;
    bool mask, prescale, tile;   // tile: small query tiles (16) so several run per head
} block_cfg;

// x [batch, seq, h*d] → q, k, v projections (CONST weights) → BERT attention (or DistilBERT's,
// with q scaled first) → merged heads: the output "ctx".
static ir_graph *attention_block(const block_cfg *c, const float *w) {
    ir_graph *g = ir_graph_create();
    int sb = ir_graph_symbol(g, "batch"), ss = ir_graph_symbol(g, "seq");
    g->symbols[sb].max = c->batch;
    g->symbols[ss].max = c->seq;
    int64_t hid = c->heads * c->head_dim;
    ir_dim B = ir_dim_sym(sb), S = ir_dim_sym(ss), Hd = ir_dim_const(hid);
    ir_graph_set_path(g, "encoder.layer.0.attention.self");
    ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){B, S, Hd});
    ir_node *mask = c->mask ? ir_input(g, "mask", KILN_F32, 4, (ir_dim[]){B, ir_dim_const(1), ir_dim_const(1), S}) : NULL;
    ir_node *qkv[3];
    for (int i = 0; i < 3; i++) {
        ir_node *W = ir_const(g, KILN_F32, 2, (int64_t[]){hid, hid}, w + i * hid * hid);
        ir_node *y = ir_binary(g, IR_OP_ADD, ir_matmul(g, x, W, false, true), ir_const(g, KILN_F32, 1, (int64_t[]){hid}, w + 3 * hid * hid + i * hid));
        y = ir_reshape(g, y, 4, (ir_dim[]){B, S, ir_dim_const(c->heads), ir_dim_const(c->head_dim)});
        qkv[i] = ir_permute(g, y, (int[]){0, 2, 1, 3});
    }
    ir_node *scale = ir_scalar_f32(g, 1.0f / sqrtf((float)c->head_dim)), *s;
    if (c->prescale) s = ir_matmul(g, ir_binary(g, IR_OP_MUL, qkv[0], scale), qkv[1], false, true);
    else s = ir_binary(g, IR_OP_MUL, ir_matmul(g, qkv[0], qkv[1], false, true), scale);
    if (mask) s = ir_binary(g, IR_OP_ADD, s, mask);
    ir_node *o = ir_matmul(g, ir_softmax(g, s, -1), qkv[2], false, false);
    o = ir_reshape(g, ir_permute(g, o, (int[]){0, 2, 1, 3}), 3, (ir_dim[]){B, S, Hd});
    ir_graph_add_output(g, "ctx", o);
    return g;
}

static const kiln_backend *block_backend = &cg_interp_backend;   // the backend the blocks run on

static kiln_program *compile_block(ir_graph *g, const char *spec, int64_t tile, bool flatten) {
    kiln_pass_ctx ctx = pass_ctx_default();
    ctx.verify = true;
    ctx.attn_tile = tile;
    kiln_program *p = NULL;
    ir_graph *flat = NULL;
    if (pass_parse_spec(spec, ctx.enabled) || pass_run_pipeline(g, &ctx)) {
        fprintf(stderr, "passes: %s\n", kiln_last_error());
        return NULL;
    }
    if (flatten && cg_flatten(g, &flat)) return NULL;
    cg_weight_source none = {0};   // CONST weights: nothing to look up
    kiln_status st = block_backend->compile(flat ? flat : g, &none, NULL, &p);
    if (st) fprintf(stderr, "compile: %s\n", kiln_last_error());
    ir_graph_free(flat);
    return p;
}

static void test_attention_block(const block_cfg *c) {
    int64_t hid = c->heads * c->head_dim;
    float *w = malloc(sizeof(float) * (size_t)(3 * hid * hid + 3 * hid));
    float *x = malloc(sizeof(float) * (size_t)(c->batch * c->seq * hid)), *mask = malloc(sizeof(float) * (size_t)(c->batch * c->seq));
    for (int64_t i = 0; i < 3 * hid * hid + 3 * hid; i++) w[i] = frand() * 0.5f;
    for (int64_t i = 0; i < c->batch * c->seq * hid; i++) x[i] = frand();
    for (int64_t b = 0; b < c->batch; b++)   // sequence b keeps its first seq - 2b tokens
        for (int64_t t = 0; t < c->seq; t++) mask[b * c->seq + t] = t < c->seq - 2 * b ? 0.0f : -3.4028234663852886e38f;
    const char *specs[] = {"none", "fuse_attention", "pack_qkv,fuse_attention"};
    kiln_program *p[3] = {NULL}, *flat = NULL;
    for (int k = 0; k < 3; k++) {
        ir_graph *g = attention_block(c, w);
        p[k] = compile_block(g, specs[k], c->tile ? 16 : 0, false);
        if (k == 1) {
            int n = 0;
            for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i]->op == IR_OP_FUSED && g->nodes[i]->p.fused_kind == IR_FUSED_ATTENTION;
            CHECK_MSG(n == 1, "attention block (heads %lld, d %lld): %d attention regions", (long long)c->heads, (long long)c->head_dim, n);
        }
        ir_graph_free(g);
    }
    ir_graph *g = attention_block(c, w);
    flat = compile_block(g, "pack_qkv,fuse_attention", 0, true);
    ir_graph_free(g);
    kiln_tensor in[2] = {{.name = "x", .dtype = KILN_F32, .rank = 3, .shape = {c->batch, c->seq, hid}, .data = x},
                         {.name = "mask", .dtype = KILN_F32, .rank = 4, .shape = {c->batch, 1, 1, c->seq}, .data = mask}};
    for (int k = 1; k < 3 && p[0] && p[k]; k++) {
        double d = pt_compare_programs(p[0], p[k], in, c->mask ? 2 : 1);
        CHECK_MSG(d <= 1e-6, "%s: attention block %lldx%lld heads %lld d %lld%s%s (%s): fused differs by %g", block_backend->name,
                  (long long)c->batch,
                  (long long)c->seq, (long long)c->heads, (long long)c->head_dim, c->mask ? " masked" : "", c->prescale ? " prescaled" : "",
                  specs[k], d);
    }
    if (p[0] && flat) CHECK(pt_compare_programs(p[0], flat, in, c->mask ? 2 : 1) <= 1e-6);
    for (int k = 0; k < 3; k++) kiln_program_free(p[k]);
    kiln_program_free(flat);
    free(w);
    free(x);
    free(mask);
}

// A region whose body a kernel cannot take (here a constant vector inside an element-wise body,
// as a hand-written graph may have) is flattened by the interpreter, not refused.
static void test_region_fallback(void) {
    ir_graph *g = ir_graph_create();
    int s = ir_graph_symbol(g, "seq");
    g->symbols[s].max = 5;
    ir_node *x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){ir_dim_sym(s), ir_dim_const(3)});
    ir_graph *body = ir_graph_create_body(g);
    ir_node *in0 = ir_input(body, "in0", KILN_F32, 2, (ir_dim[]){ir_dim_sym(s), ir_dim_const(3)});
    ir_node *v = ir_const(body, KILN_F32, 1, (int64_t[]){3}, (float[]){1.5f, -2.0f, 0.25f});
    ir_graph_add_output(body, "out", ir_unary(body, IR_OP_TANH, ir_binary(body, IR_OP_MUL, in0, v)));
    ir_node *f = ir_fused(g, body, 1, &x);
    if (f) f->p.fused_kind = IR_FUSED_ELEMENTWISE;
    ir_graph_add_output(g, "y", f);
    CHECK_OK(g->status);
    kiln_program *p = NULL;
    cg_weight_source none = {0};
    CHECK_OK(cg_interp_backend.compile(g, &none, NULL, &p));
    kiln_context *ctx = NULL;
    if (p) CHECK_OK(kiln_context_create(p, NULL, &ctx));
    float xs[6] = {1, 2, 3, -1, -2, -3};
    kiln_tensor in = {.name = "x", .dtype = KILN_F32, .rank = 2, .shape = {2, 3}, .data = xs}, out = {.name = "y"};
    if (ctx) CHECK_OK(kiln_run(ctx, &in, 1, &out, 1));
    const float scale[3] = {1.5f, -2.0f, 0.25f};
    for (int i = 0; out.data && i < 6; i++) CHECK(((float *)out.data)[i] == tanhf(xs[i] * scale[i % 3]));
    kiln_context_free(ctx);
    kiln_program_free(p);
    ir_graph_free(g);
}

int main(void) {
    test_region_fallback();
    const block_cfg blocks[] = {
        {3, 7, 4, 8, true, false, false},   {2, 33, 3, 5, true, true, false},  {1, 1, 2, 4, true, false, false},
        {2, 200, 2, 16, true, false, true}, {1, 130, 1, 7, false, false, true}, {4, 9, 6, 3, false, true, false},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(blocks); i++) test_attention_block(&blocks[i]);
    block_backend = &cg_llvm_backend;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(blocks); i++) test_attention_block(&blocks[i]);
    block_backend = &cg_interp_backend;
    test_kernels_per_layer();
    const cJSON *list = NULL, *fx;
    cJSON *manifest = pt_manifest(&list);
    cJSON_ArrayForEach(fx, list) {
        check_fixture(cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name")), 2, KILN_TARGET_INTERP);
        if (pt_cpu_fixture(cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name"))))
            check_fixture(cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name")), 2, KILN_TARGET_CPU);
    }
    cJSON_Delete(manifest);
    return test_summary();
}
