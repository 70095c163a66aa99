/* test_kv_cache.c — proof that the IR and program carry state and a growing `past`: a synthetic
 * single-head decoder attention layer with K/V caches as STATE tensors, updated in place by
 * SCATTER at per-sequence positions (a tensor), run by the interpreter as a prefill of 5 tokens
 * and then 4 one-token decode steps on one compiled program. Each step's output must equal a
 * plain-C causal attention recomputed over every token so far (double precision).
 */
#include <math.h>

#include "codegen/codegen.h"
#include "test.h"

enum { D = 8, MAX_CTX = 16, BATCH = 2, PREFILL = 5, STEPS = 4, TOTAL = PREFILL + STEPS };

static float wq[D * D], wk[D * D], wv[D * D];
static float xs[BATCH][TOTAL][D];

static void lcg_fill(float *a, int n, uint32_t *s) {
    for (int i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        a[i] = ((float)(*s >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
}

// The reference: out[t] = softmax_j<=t (q_t . k_j / sqrt(D)) v_j, everything recomputed.
static void reference(int b, int t, double *out) {
    double q[D], k[TOTAL][D], v[TOTAL][D], s[TOTAL], m = -INFINITY, sum = 0;
    for (int j = 0; j <= t; j++) {
        for (int o = 0; o < D; o++) {
            double aq = 0, ak = 0, av = 0;
            for (int i = 0; i < D; i++) {
                aq += (double)xs[b][t][i] * wq[o * D + i];
                ak += (double)xs[b][j][i] * wk[o * D + i];
                av += (double)xs[b][j][i] * wv[o * D + i];
            }
            if (j == t) q[o] = aq;
            k[j][o] = ak;
            v[j][o] = av;
        }
    }
    for (int j = 0; j <= t; j++) {
        s[j] = 0;
        for (int o = 0; o < D; o++) s[j] += q[o] * k[j][o];
        s[j] /= sqrt((double)D);
        m = fmax(m, s[j]);
    }
    for (int j = 0; j <= t; j++) sum += exp(s[j] - m);
    for (int o = 0; o < D; o++) {
        out[o] = 0;
        for (int j = 0; j <= t; j++) out[o] += exp(s[j] - m) / sum * v[j][o];
    }
}

static ir_graph *build(void) {
    ir_graph *g = ir_graph_create();
    int batch = ir_graph_symbol(g, "batch"), seq = ir_graph_symbol(g, "seq"), past = ir_graph_symbol(g, "past");
    g->symbols[batch].max = BATCH;
    g->symbols[seq].max = MAX_CTX;
    g->symbols[past].max = MAX_CTX;
    ir_dim B = ir_dim_sym(batch), S = ir_dim_sym(seq), P = ir_dim_sym(past), PS;
    KILN_ASSERT(ir_dim_add(P, S, &PS));
    ir_graph_set_path(g, "layers.0.self_attn");
    ir_node *x = ir_input(g, "hidden_states", KILN_F32, 3, (ir_dim[]){B, S, ir_dim_const(D)});
    ir_node *pos = ir_input(g, "position_ids", KILN_I64, 2, (ir_dim[]){B, S});
    ir_node *kc = ir_state(g, "past_key", KILN_F32, 3, (ir_dim[]){B, ir_dim_const(MAX_CTX), ir_dim_const(D)});
    ir_node *vc = ir_state(g, "past_value", KILN_F32, 3, (ir_dim[]){B, ir_dim_const(MAX_CTX), ir_dim_const(D)});
    ir_node *Wq = ir_const(g, KILN_F32, 2, (int64_t[]){D, D}, wq);
    ir_node *Wk = ir_const(g, KILN_F32, 2, (int64_t[]){D, D}, wk);
    ir_node *Wv = ir_const(g, KILN_F32, 2, (int64_t[]){D, D}, wv);
    ir_node *q = ir_matmul(g, x, Wq, false, true);
    ir_node *k = ir_matmul(g, x, Wk, false, true), *v = ir_matmul(g, x, Wv, false, true);
    kc = ir_scatter(g, kc, pos, k);   // the cache, written in place at each token's position
    vc = ir_scatter(g, vc, pos, v);
    ir_node *keys = ir_slice(g, kc, 1, ir_dim_const(0), PS), *vals = ir_slice(g, vc, 1, ir_dim_const(0), PS);
    ir_node *s = ir_matmul(g, q, keys, false, true);   // [B, S, past + seq]
    s = ir_binary(g, IR_OP_MUL, s, ir_scalar_f32(g, (float)(1.0 / sqrt((double)D))));
    // causal mask: key j is visible to the query at position p when j <= p
    ir_node *kidx = ir_iota(g, KILN_I64, 3, (ir_dim[]){ir_dim_const(1), ir_dim_const(1), PS}, 2, ir_dim_const(0));
    ir_node *qpos = ir_reshape(g, pos, 3, (ir_dim[]){B, S, ir_dim_const(1)});
    ir_node *visible = ir_binary(g, IR_OP_LE, kidx, qpos);
    s = ir_where(g, visible, s, ir_scalar_f32(g, -INFINITY));
    ir_node *out = ir_matmul(g, ir_softmax(g, s, -1), vals, false, false);
    ir_graph_add_output(g, "attn_output", out);
    return g;
}

int main(void) {
    uint32_t seed = 42;
    lcg_fill(wq, D * D, &seed);
    lcg_fill(wk, D * D, &seed);
    lcg_fill(wv, D * D, &seed);
    lcg_fill(&xs[0][0][0], BATCH * TOTAL * D, &seed);
    ir_graph *g = build();
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(cg_interp_backend.compile(g, NULL, NULL, &prog));
    ir_graph_free(g);
    if (!prog) return test_summary();
    CHECK(prog->n_states == 2);
    CHECK_OK(kiln_context_create(prog, NULL, &ctx));
    int launches = prog->n_launches;
    int past = 0;
    float hs[BATCH * PREFILL * D], out[BATCH * PREFILL * D];
    int64_t ids[BATCH * PREFILL];
    for (int step = 0; step <= STEPS; step++) {
        int n = step == 0 ? PREFILL : 1;
        for (int b = 0; b < BATCH; b++)
            for (int s = 0; s < n; s++) {
                memcpy(&hs[(b * n + s) * D], xs[b][past + s], sizeof(float) * D);
                ids[b * n + s] = past + s;
            }
        kiln_tensor in[2] = {
            {.name = "hidden_states", .dtype = KILN_F32, .rank = 3, .shape = {BATCH, n, D}, .data = hs},
            {.name = "position_ids", .dtype = KILN_I64, .rank = 2, .shape = {BATCH, n}, .data = ids},
        };
        kiln_tensor o = {.name = "attn_output", .data = out, .size_bytes = sizeof(out)};
        CHECK_OK(kiln_context_set_dim(ctx, "past", past));
        CHECK_OK(kiln_run(ctx, in, 2, &o, 1));
        CHECK(o.shape[0] == BATCH && o.shape[1] == n && o.shape[2] == D);
        double worst = 0;
        for (int b = 0; b < BATCH; b++)
            for (int s = 0; s < n; s++) {
                double ref[D];
                reference(b, past + s, ref);
                for (int i = 0; i < D; i++) worst = fmax(worst, fabs(ref[i] - out[(b * n + s) * D + i]));
            }
        CHECK_MSG(worst < 1e-5, "step %d (past %d): max difference %g from the plain-C reference", step, past, worst);
        past += n;
    }
    CHECK(prog->n_launches == launches);   // one program served every step
    // past beyond the compiled maximum is refused with a message
    CHECK_FAILS(kiln_context_set_dim(ctx, "past", MAX_CTX + 1), KILN_ERR_INVALID_ARG, "compiled maximum");
    CHECK_FAILS(kiln_context_set_dim(ctx, "nope", 1), KILN_ERR_INVALID_ARG, "no dim named 'nope'");
    kiln_context_free(ctx);
    kiln_program_free(prog);
    return test_summary();
}
