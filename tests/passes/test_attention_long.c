/* test_attention_long.c — the fused attention region alone at seq 8192: its plan holds the output
 * (O(seq · head_dim)) and its temporaries are a few tiles, where the unfused graph's plan needs
 * [heads x seq x seq] scores; and it computes the right thing: rows checked against attention in
 * double precision, with padded keys masked.
 */
#include "passes_test.h"

enum { SEQ = 8192, HEADS = 2, HEAD_DIM = 32, WIDTH = HEADS * HEAD_DIM };

// q, k, v [1, seq, heads * d] (inputs) → split heads → softmax(q kᵀ / sqrt(d) + mask) v → merge.
static ir_graph *attention_graph(void) {
    ir_graph *g = ir_graph_create();
    int sb = ir_graph_symbol(g, "batch"), ss = ir_graph_symbol(g, "seq");
    g->symbols[sb].max = 1;
    g->symbols[ss].max = SEQ;
    ir_dim B = ir_dim_sym(sb), S = ir_dim_sym(ss), W = ir_dim_const(WIDTH);
    ir_graph_set_path(g, "attention");
    ir_node *heads[3];
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        ir_node *x = ir_input(g, names[i], KILN_F32, 3, (ir_dim[]){B, S, W});
        x = ir_reshape(g, x, 4, (ir_dim[]){B, S, ir_dim_const(HEADS), ir_dim_const(HEAD_DIM)});
        heads[i] = ir_permute(g, x, (int[]){0, 2, 1, 3});
    }
    ir_node *mask = ir_input(g, "mask", KILN_F32, 4, (ir_dim[]){B, ir_dim_const(1), ir_dim_const(1), S});
    ir_node *s = ir_binary(g, IR_OP_MUL, ir_matmul(g, heads[0], heads[1], false, true), ir_scalar_f32(g, 1.0f / sqrtf((float)HEAD_DIM)));
    s = ir_binary(g, IR_OP_ADD, s, mask);
    ir_node *o = ir_matmul(g, ir_softmax(g, s, -1), heads[2], false, false);
    o = ir_reshape(g, ir_permute(g, o, (int[]){0, 2, 1, 3}), 3, (ir_dim[]){B, S, W});
    ir_graph_add_output(g, "out", o);
    return g;
}

static kiln_program *compile(const char *spec) {
    ir_graph *g = attention_graph();
    kiln_pass_ctx ctx = pass_ctx_default();
    ctx.verify = true;
    kiln_program *p = NULL;
    CHECK_OK(pass_parse_spec(spec, ctx.enabled));
    CHECK_OK(pass_run_pipeline(g, &ctx));
    CHECK_OK(pt_plan_only(g, &p));
    ir_graph_free(g);
    return p;
}

int main(void) {
    kiln_program *fused = compile("fuse_attention"), *unfused = compile("none");
    if (!fused || !unfused) return test_summary();
    size_t out_bytes = (size_t)SEQ * WIDTH * sizeof(float), scores = (size_t)HEADS * SEQ * SEQ * sizeof(float);
    printf("seq %d, %d heads of %d: fused arena %zu + temporaries %zu bytes; unfused arena %zu bytes ([heads x seq x seq] = %zu)\n",
           SEQ, HEADS, HEAD_DIM, fused->arena_bytes, fused->workspace_bytes, unfused->arena_bytes, scores);
    CHECK(fused->n_launches == 1 && strcmp(fused->launches[0].op, "fused.attention") == 0);
    CHECK_MSG(fused->arena_bytes <= out_bytes + 64, "fused arena %zu, want the output alone (%zu)", fused->arena_bytes, out_bytes);
    CHECK_MSG(fused->workspace_bytes <= (size_t)SEQ * HEAD_DIM * sizeof(float), "temporaries %zu are not O(seq * head_dim)",
              fused->workspace_bytes);
    CHECK(unfused->arena_bytes >= scores);
    kiln_program_free(unfused);
    kiln_program_free(fused);

    // Run it: the plan-only program has no data, so compile again (no weights to bind anyway).
    fused = compile("fuse_attention");
    float *q = malloc(sizeof(float) * SEQ * WIDTH), *k = malloc(sizeof(float) * SEQ * WIDTH), *v = malloc(sizeof(float) * SEQ * WIDTH);
    float *mask = malloc(sizeof(float) * SEQ);
    uint32_t r = 99;
    for (int i = 0; i < SEQ * WIDTH; i++) {
        r = r * 1664525u + 1013904223u;
        q[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 2.0f;
        r = r * 1664525u + 1013904223u;
        k[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 2.0f;
        r = r * 1664525u + 1013904223u;
        v[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
    for (int t = 0; t < SEQ; t++) mask[t] = t < SEQ - 100 ? 0.0f : -3.4028234663852886e38f;   // the last 100 keys are padding
    kiln_tensor in[4] = {{.name = "q", .dtype = KILN_F32, .rank = 3, .shape = {1, SEQ, WIDTH}, .data = q},
                         {.name = "k", .dtype = KILN_F32, .rank = 3, .shape = {1, SEQ, WIDTH}, .data = k},
                         {.name = "v", .dtype = KILN_F32, .rank = 3, .shape = {1, SEQ, WIDTH}, .data = v},
                         {.name = "mask", .dtype = KILN_F32, .rank = 4, .shape = {1, 1, 1, SEQ}, .data = mask}};
    kiln_context *ctx = NULL;
    kiln_tensor out = {.name = "out"};
    if (fused) CHECK_OK(kiln_context_create(fused, NULL, &ctx));
    if (ctx) CHECK_OK(kiln_run(ctx, in, 4, &out, 1));
    const int rows[] = {0, 1, 777, 4095, SEQ - 101, SEQ - 1};
    double worst = 0;
    double *p = malloc(sizeof(double) * SEQ);
    for (size_t i = 0; out.data && i < KILN_ARRAY_SIZE(rows); i++) {
        for (int h = 0; h < HEADS; h++) {
            int s = rows[i];
            double m = -INFINITY, sum = 0;
            for (int t = 0; t < SEQ; t++) {
                double dot = 0;
                for (int d = 0; d < HEAD_DIM; d++) dot += (double)q[s * WIDTH + h * HEAD_DIM + d] * k[t * WIDTH + h * HEAD_DIM + d];
                p[t] = dot / sqrt((double)HEAD_DIM) + mask[t];
                m = fmax(m, p[t]);
            }
            for (int t = 0; t < SEQ; t++) sum += (p[t] = exp(p[t] - m));
            for (int d = 0; d < HEAD_DIM; d++) {
                double want = 0;
                for (int t = 0; t < SEQ; t++) want += p[t] / sum * v[t * WIDTH + h * HEAD_DIM + d];
                double got = ((const float *)out.data)[s * WIDTH + h * HEAD_DIM + d];
                worst = fmax(worst, fabs(got - want));
            }
        }
    }
    printf("seq %d: largest |fused - double-precision reference| = %.3g\n", SEQ, worst);
    CHECK_MSG(out.data && worst <= 1e-5, "fused attention at seq %d is off by %g", SEQ, worst);
    free(p);
    free(q);
    free(k);
    free(v);
    free(mask);
    kiln_context_free(ctx);
    kiln_program_free(fused);
    return test_summary();
}
