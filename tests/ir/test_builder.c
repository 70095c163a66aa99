/* test_builder.c — each constructor's dtype and shape inference, symbolic dims included, and its
 * errors: a bad call returns NULL, records g->status and a message, the first error wins, and
 * every later call (and every call given a NULL operand) returns NULL.
 */
#include "ir_graphs.h"

static int sb, ss, sp;
static ir_dim B, S, P;

static ir_graph *fresh(void) {
    ir_graph *g = ir_graph_create();
    sb = ir_graph_symbol(g, "batch");
    ss = ir_graph_symbol(g, "seq");
    sp = ir_graph_symbol(g, "past");
    B = ir_dim_sym(sb);
    S = ir_dim_sym(ss);
    P = ir_dim_sym(sp);
    return g;
}

static ir_node *f32(ir_graph *g, const char *name, int rank, const ir_dim *shape) {
    return ir_input(g, name, KILN_F32, rank, shape);
}

// shape printed as "[a, b]" to compare with one string
static const char *shape_of(const ir_graph *g, const ir_node *n) {
    static char buf[256];
    if (!n) return "(null)";
    size_t k = (size_t)snprintf(buf, sizeof(buf), "[");
    for (int i = 0; i < n->rank; i++) {
        if (i) k += (size_t)snprintf(buf + k, sizeof(buf) - k, ", ");
        k += (size_t)ir_dim_print(n->shape[i], g, buf + k, sizeof(buf) - k);
    }
    snprintf(buf + k, sizeof(buf) - k, "]");
    return buf;
}

#define CHECK_SHAPE(g, n, dt, text)                                                                    \
    do {                                                                                               \
        const ir_node *n_ = (n);                                                                       \
        CHECK_MSG(n_ && n_->dtype == (dt) && strcmp(shape_of(g, n_), (text)) == 0, "got %s %s, want %s", \
                  n_ ? kiln_dtype_get_info(n_->dtype)->name : "", shape_of(g, n_), (text));            \
    } while (0)

// The call must fail: NULL, g->status set, a message with `needle`, and later calls NULL too.
#define CHECK_BUILD_FAILS(g, call, want_status, needle)                                                \
    do {                                                                                               \
        ir_node *r_ = (call);                                                                          \
        CHECK_MSG(!r_ && (g)->status == (want_status) && strstr(kiln_last_error(), (needle)),          \
                  "%s: node %p, status %s, message \"%s\" (want \"%s\")", #call, (void *)r_,            \
                  kiln_status_name((g)->status), kiln_last_error(), (needle));                         \
    } while (0)

static void test_leaves_and_consts(void) {
    ir_graph *g = fresh();
    ir_node *x = ir_input(g, "x", KILN_I64, 2, (ir_dim[]){B, S});
    CHECK_SHAPE(g, x, KILN_I64, "[batch, seq]");
    CHECK(x && strcmp(x->name, "x") == 0 && x->n_inputs == 0 && x->id == 0);
    CHECK_SHAPE(g, ir_weight(g, "w", KILN_Q8_0, 2, (ir_dim[]){D(64), D(32)}), KILN_Q8_0, "[64, 32]");
    CHECK_SHAPE(g, ir_state(g, "k", KILN_F32, 3, (ir_dim[]){B, D(128), D(8)}), KILN_F32, "[batch, 128, 8]");
    float v[3] = {1, 2, 3};
    ir_node *c = ir_const(g, KILN_F32, 1, (int64_t[]){3}, v);
    v[0] = 99;   // the const holds a copy
    CHECK(c && ((const float *)c->p.data)[0] == 1 && ((const float *)c->p.data)[2] == 3);
    CHECK_SHAPE(g, ir_scalar_i64(g, 7), KILN_I64, "[]");
    CHECK_SHAPE(g, ir_scalar_f32(g, 0.5f), KILN_F32, "[]");
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    CHECK_BUILD_FAILS(g, ir_input(g, "deep", KILN_F32, 7, (ir_dim[7]){0}), KILN_ERR_UNSUPPORTED, "rank 7");
    ir_graph_free(g);
    g = fresh();
    CHECK_BUILD_FAILS(g, ir_input(g, "bad", (kiln_dtype)99, 1, (ir_dim[]){S}), KILN_ERR_INVALID_ARG, "bad dtype");
    ir_graph_free(g);
}

static void test_elementwise(void) {
    ir_graph *g = fresh();
    ir_node *x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    ir_node *row = f32(g, "row", 1, (ir_dim[]){D(8)});
    ir_node *col = f32(g, "col", 3, (ir_dim[]){B, S, D(1)});
    ir_node *sq = f32(g, "sq", 3, (ir_dim[]){B, D(1), S});
    CHECK_SHAPE(g, ir_unary(g, IR_OP_GELU, x), KILN_F32, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_binary(g, IR_OP_ADD, x, row), KILN_F32, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_binary(g, IR_OP_MUL, row, col), KILN_F32, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_binary(g, IR_OP_SUB, col, sq), KILN_F32, "[batch, seq, seq]");
    CHECK_SHAPE(g, ir_binary(g, IR_OP_LT, x, row), KILN_BOOL, "[batch, seq, 8]");   // compares give bool
    ir_node *m = ir_binary(g, IR_OP_EQ, x, row);
    CHECK_SHAPE(g, ir_unary(g, IR_OP_NOT, m), KILN_BOOL, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_binary(g, IR_OP_OR, m, m), KILN_BOOL, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_cast(g, m, KILN_F16), KILN_F16, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_where(g, m, x, ir_scalar_f32(g, 0)), KILN_F32, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_where(g, ir_binary(g, IR_OP_LT, col, col), row, x), KILN_F32, "[batch, seq, 8]");
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));

    // errors, each in a graph of its own (they are sticky)
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    ir_node *bad = f32(g, "bad", 1, (ir_dim[]){D(7)});
    CHECK_BUILD_FAILS(g, ir_binary(g, IR_OP_ADD, x, bad), KILN_ERR_INVALID_ARG, "add: shapes [batch, seq, 8] and [7] do not broadcast");
    char first[256];
    snprintf(first, sizeof(first), "%s", kiln_last_error());
    // sticky: later calls return NULL and keep the first message; NULL operands propagate
    CHECK(ir_unary(g, IR_OP_EXP, NULL) == NULL);
    CHECK(ir_unary(g, IR_OP_EXP, x) == NULL);
    CHECK(ir_input(g, "late", KILN_F32, 0, NULL) == NULL);
    CHECK(g->status == KILN_ERR_INVALID_ARG && strcmp(kiln_last_error(), first) == 0);
    ir_graph_free(g);

    g = fresh();
    x = f32(g, "x", 2, (ir_dim[]){B, S});
    CHECK_BUILD_FAILS(g, ir_binary(g, IR_OP_ADD, x, f32(g, "y", 2, (ir_dim[]){S, B})), KILN_ERR_INVALID_ARG, "do not broadcast");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_binary(g, IR_OP_ADD, x, ir_input(g, "i", KILN_I64, 1, (ir_dim[]){S})), KILN_ERR_INVALID_ARG, "dtypes differ");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_unary(g, IR_OP_NOT, x), KILN_ERR_INVALID_ARG, "not: operand dtype f32");
    ir_graph_free(g);
    g = fresh();
    x = ir_input(g, "i", KILN_I64, 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_unary(g, IR_OP_EXP, x), KILN_ERR_INVALID_ARG, "exp: operand dtype i64");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_binary(g, IR_OP_AND, x, x), KILN_ERR_INVALID_ARG, "and: operand dtype f32");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_where(g, x, x, x), KILN_ERR_INVALID_ARG, "condition dtype f32, want bool");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_cast(g, x, KILN_Q4_0), KILN_ERR_UNSUPPORTED, "cast f32 -> q4_0");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_binary(g, IR_OP_SOFTMAX, x, x), KILN_ERR_INTERNAL, "not a binary element-wise op");
    ir_graph_free(g);
}

static void test_normalizations(void) {
    ir_graph *g = fresh();
    ir_node *x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    ir_node *gamma = ir_weight(g, "g", KILN_F32, 1, (ir_dim[]){D(8)}), *beta = ir_weight(g, "b", KILN_F32, 1, (ir_dim[]){D(8)});
    ir_node *sm = ir_softmax(g, x, -1);
    CHECK_SHAPE(g, sm, KILN_F32, "[batch, seq, 8]");
    CHECK(sm && sm->p.axis == 2);   // negative axes are normalized
    ir_node *ln = ir_layer_norm(g, x, gamma, beta, 1e-12f);
    CHECK_SHAPE(g, ln, KILN_F32, "[batch, seq, 8]");
    CHECK(ln && ln->p.eps == 1e-12f && ln->p.axis == 2);
    CHECK_SHAPE(g, ir_rms_norm(g, x, gamma, 1e-6f), KILN_F32, "[batch, seq, 8]");
    ir_node *r = ir_reduce(g, IR_OP_REDUCE_SUM, x, 1, true);
    CHECK_SHAPE(g, r, KILN_F32, "[batch, 1, 8]");
    CHECK(r && r->p.keepdim && r->p.axis == 1);
    CHECK_SHAPE(g, ir_reduce(g, IR_OP_REDUCE_MEAN, x, -1, false), KILN_F32, "[batch, seq]");
    CHECK_SHAPE(g, ir_reduce(g, IR_OP_REDUCE_MAX, ir_input(g, "i", KILN_I64, 2, (ir_dim[]){B, S}), 0, false), KILN_I64, "[seq]");
    CHECK_SHAPE(g, ir_cumsum(g, ir_input(g, "m", KILN_I64, 2, (ir_dim[]){B, S}), 1), KILN_I64, "[batch, seq]");
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);

    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    CHECK_BUILD_FAILS(g, ir_softmax(g, x, 3), KILN_ERR_INVALID_ARG, "softmax: axis out of range for rank 3");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    gamma = ir_weight(g, "g", KILN_F32, 1, (ir_dim[]){D(7)});
    CHECK_BUILD_FAILS(g, ir_layer_norm(g, x, gamma, gamma, 1e-5f), KILN_ERR_INVALID_ARG, "layer_norm: gamma/beta");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    gamma = ir_weight(g, "g", KILN_F16, 1, (ir_dim[]){D(8)});
    CHECK_BUILD_FAILS(g, ir_rms_norm(g, x, gamma, 1e-5f), KILN_ERR_INVALID_ARG, "rms_norm: gamma");
    ir_graph_free(g);
    g = fresh();
    x = ir_input(g, "i", KILN_I64, 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_reduce(g, IR_OP_REDUCE_MEAN, x, 0, false), KILN_ERR_INVALID_ARG, "reduce_mean: dtype i64");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){S});
    CHECK_BUILD_FAILS(g, ir_cumsum(g, x, -2), KILN_ERR_INVALID_ARG, "cumsum: axis out of range");
    ir_graph_free(g);
}

static void test_matmul(void) {
    ir_graph *g = fresh();
    ir_node *x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    ir_node *w = ir_weight(g, "w", KILN_F32, 2, (ir_dim[]){D(8), D(16)});
    ir_node *wt = ir_weight(g, "wt", KILN_F32, 2, (ir_dim[]){D(16), D(8)});
    ir_node *wq = ir_weight(g, "wq", KILN_Q4_0, 2, (ir_dim[]){D(16), D(32)});
    ir_node *x32 = f32(g, "x32", 3, (ir_dim[]){B, S, D(32)});
    CHECK_SHAPE(g, ir_matmul(g, x, w, false, false), KILN_F32, "[batch, seq, 16]");
    ir_node *m = ir_matmul(g, x, wt, false, true);
    CHECK_SHAPE(g, m, KILN_F32, "[batch, seq, 16]");
    CHECK(m && m->p.trans_b && !m->p.trans_a);
    CHECK_SHAPE(g, ir_matmul(g, x32, wq, false, true), KILN_F32, "[batch, seq, 16]");   // quantized B
    ir_node *xt = f32(g, "xt", 3, (ir_dim[]){B, D(8), S});
    CHECK_SHAPE(g, ir_matmul(g, xt, w, true, false), KILN_F32, "[batch, seq, 16]");
    // batched attention scores with broadcast batch dims: [B, 4, S, 8] x [B, 4, past + seq, 8]^T
    ir_dim PS;
    CHECK(ir_dim_add(P, S, &PS));
    ir_node *q = f32(g, "q", 4, (ir_dim[]){B, D(4), S, D(8)});
    ir_node *k = f32(g, "k", 4, (ir_dim[]){B, D(4), PS, D(8)});
    CHECK_SHAPE(g, ir_matmul(g, q, k, false, true), KILN_F32, "[batch, 4, seq, seq + past]");
    ir_node *shared = f32(g, "shared", 2, (ir_dim[]){D(8), S});
    CHECK_SHAPE(g, ir_matmul(g, q, shared, false, false), KILN_F32, "[batch, 4, seq, seq]");
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);

    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    wt = ir_weight(g, "w", KILN_F32, 2, (ir_dim[]){D(16), D(7)});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, wt, false, true), KILN_ERR_INVALID_ARG, "matmul: inner dims differ: [batch, seq, 8] x [16, 7]^T");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 1, (ir_dim[]){D(8)});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, x, false, false), KILN_ERR_INVALID_ARG, "rank >= 2");
    ir_graph_free(g);
    g = fresh();
    x = ir_input(g, "i", KILN_I64, 2, (ir_dim[]){S, S});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, x, false, false), KILN_ERR_INVALID_ARG, "matmul: dtypes i64 x i64");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    ir_node *y = f32(g, "y", 3, (ir_dim[]){S, D(8), D(8)});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, y, false, false), KILN_ERR_INVALID_ARG, "batch dims do not broadcast");
    ir_graph_free(g);
    // Quantized weights are read as rows of whole blocks: B [N, K] transposed, K a multiple of the block.
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(32)});
    ir_node *wk = ir_weight(g, "w", KILN_Q8_0, 2, (ir_dim[]){D(32), D(16)});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, wk, false, false), KILN_ERR_INVALID_ARG, "matmul: a q8_0 operand must be B [N, K] taken transposed");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(48)});
    wk = ir_weight(g, "w", KILN_Q8_0, 2, (ir_dim[]){D(16), D(48)});
    CHECK_BUILD_FAILS(g, ir_matmul(g, x, wk, false, true), KILN_ERR_INVALID_ARG, "K a constant multiple of 32");
    ir_graph_free(g);
    g = fresh();
    wk = ir_weight(g, "table", KILN_Q4_K, 2, (ir_dim[]){D(16), D(128)});
    CHECK_BUILD_FAILS(g, ir_gather(g, wk, ir_input(g, "ids", KILN_I64, 1, (ir_dim[]){S})), KILN_ERR_INVALID_ARG,
                      "gather: a q4_k table must be [rows, width], width a constant multiple of 256");
    ir_graph_free(g);
}

static void test_movement(void) {
    ir_graph *g = fresh();
    ir_dim PS;
    CHECK(ir_dim_add(P, S, &PS));
    ir_node *x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    ir_node *r = ir_reshape(g, x, 4, (ir_dim[]){B, S, D(2), D(8)});
    CHECK_SHAPE(g, r, KILN_F32, "[batch, seq, 2, 8]");
    ir_dim BS;
    CHECK(ir_dim_mul(B, S, &BS));
    CHECK_SHAPE(g, ir_reshape(g, x, 2, (ir_dim[]){BS, D(16)}), KILN_F32, "[batch*seq, 16]");
    ir_node *pm = ir_permute(g, r, (int[]){0, 2, 1, 3});
    CHECK_SHAPE(g, pm, KILN_F32, "[batch, 2, seq, 8]");
    CHECK(pm && pm->p.perm[1] == 2 && pm->p.perm[2] == 1);
    // the KV cache pattern: past and new keys concatenate to past + seq; a slice takes seq back
    ir_node *past = f32(g, "past_k", 3, (ir_dim[]){B, P, D(16)});
    ir_node *cat = ir_concat(g, 2, (ir_node *[]){past, x}, 1);
    CHECK_SHAPE(g, cat, KILN_F32, "[batch, seq + past, 16]");
    ir_node *sl = ir_slice(g, cat, -2, P, PS);
    CHECK_SHAPE(g, sl, KILN_F32, "[batch, seq, 16]");
    CHECK(sl && sl->p.axis == 1 && ir_dim_eq(sl->p.start, P) && ir_dim_eq(sl->p.end, PS));
    CHECK_SHAPE(g, ir_slice(g, x, 2, D(4), D(12)), KILN_F32, "[batch, seq, 8]");
    CHECK_SHAPE(g, ir_concat(g, 3, (ir_node *[]){x, x, x}, 2), KILN_F32, "[batch, seq, 48]");
    ir_node *row = f32(g, "row", 2, (ir_dim[]){D(1), D(16)});
    CHECK_SHAPE(g, ir_expand(g, row, 3, (ir_dim[]){B, S, D(16)}), KILN_F32, "[batch, seq, 16]");
    ir_node *table = ir_weight(g, "emb", KILN_BF16, 2, (ir_dim[]){D(100), D(16)});
    ir_node *ids = ir_input(g, "ids", KILN_I64, 2, (ir_dim[]){B, S});
    CHECK_SHAPE(g, ir_gather(g, table, ids), KILN_F32, "[batch, seq, 16]");   // float tables come out f32
    ir_node *itab = ir_weight(g, "itab", KILN_I32, 1, (ir_dim[]){D(100)});
    CHECK_SHAPE(g, ir_gather(g, itab, ids), KILN_I32, "[batch, seq]");
    ir_node *cache = ir_state(g, "cache", KILN_F32, 4, (ir_dim[]){B, D(64), D(2), D(8)});
    ir_node *pos = ir_iota(g, KILN_I64, 2, (ir_dim[]){B, S}, -1, P);
    CHECK_SHAPE(g, pos, KILN_I64, "[batch, seq]");
    CHECK(pos && pos->p.axis == 1 && ir_dim_eq(pos->p.start, P));
    CHECK_SHAPE(g, ir_scatter(g, cache, pos, r), KILN_F32, "[batch, 64, 2, 8]");
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);

    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    CHECK_BUILD_FAILS(g, ir_reshape(g, x, 2, (ir_dim[]){B, D(16)}), KILN_ERR_INVALID_ARG, "reshape: element counts differ");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    CHECK_BUILD_FAILS(g, ir_permute(g, x, (int[]){0, 1, 1}), KILN_ERR_INVALID_ARG, "permute: not a permutation of 3 axes");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    CHECK_BUILD_FAILS(g, ir_permute(g, x, (int[]){0, 1, 3}), KILN_ERR_INVALID_ARG, "permute: not a permutation");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    CHECK_BUILD_FAILS(g, ir_slice(g, x, 3, D(0), D(1)), KILN_ERR_INVALID_ARG, "slice: axis out of range");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(16)});
    ir_node *y = f32(g, "y", 3, (ir_dim[]){B, S, D(8)});
    CHECK_BUILD_FAILS(g, ir_concat(g, 2, (ir_node *[]){x, y}, 1), KILN_ERR_INVALID_ARG, "concat: input 1 differs on axis 2");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 2, (ir_dim[]){D(2), D(16)});
    CHECK_BUILD_FAILS(g, ir_expand(g, x, 3, (ir_dim[]){B, S, D(16)}), KILN_ERR_INVALID_ARG, "expand: shape does not broadcast");
    ir_graph_free(g);
    g = fresh();
    x = ir_weight(g, "emb", KILN_F32, 2, (ir_dim[]){D(100), D(16)});
    CHECK_BUILD_FAILS(g, ir_gather(g, x, f32(g, "ids", 1, (ir_dim[]){S})), KILN_ERR_INVALID_ARG, "gather: index dtype f32");
    ir_graph_free(g);
    g = fresh();
    x = ir_state(g, "cache", KILN_F32, 3, (ir_dim[]){B, D(64), D(8)});
    CHECK_BUILD_FAILS(g, ir_scatter(g, x, ir_input(g, "pos", KILN_I64, 1, (ir_dim[]){S}), f32(g, "v", 3, (ir_dim[]){B, S, D(8)})),
                      KILN_ERR_INVALID_ARG, "scatter: indices must be [batch, n] integers");
    ir_graph_free(g);
    g = fresh();
    x = ir_state(g, "cache", KILN_F32, 3, (ir_dim[]){B, D(64), D(8)});
    CHECK_BUILD_FAILS(g, ir_scatter(g, x, ir_input(g, "pos", KILN_I64, 2, (ir_dim[]){B, S}), f32(g, "v", 3, (ir_dim[]){B, S, D(4)})),
                      KILN_ERR_INVALID_ARG, "scatter: row shape differs on axis 2");
    ir_graph_free(g);
    g = fresh();
    CHECK_BUILD_FAILS(g, ir_iota(g, KILN_BOOL, 1, (ir_dim[]){S}, 0, D(0)), KILN_ERR_INVALID_ARG, "iota: dtype bool");
    ir_graph_free(g);
    g = fresh();
    CHECK_BUILD_FAILS(g, ir_concat(g, 0, NULL, 0), KILN_ERR_UNSUPPORTED, "concat: 0 inputs");
    ir_graph_free(g);
}

static void test_fused(void) {
    ir_graph *g = fresh();
    ir_node *x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)}), *bias = ir_weight(g, "b", KILN_F32, 1, (ir_dim[]){D(8)});
    ir_graph *body = ir_graph_create_body(g);
    ir_graph_set_path(body, "layer.dense");
    ir_node *in0 = f32(body, "in0", 3, (ir_dim[]){B, S, D(8)}), *in1 = f32(body, "in1", 1, (ir_dim[]){D(8)});
    ir_node *y = ir_binary(body, IR_OP_ADD, in0, in1);
    ir_graph_set_path(body, "layer.act");
    ir_graph_add_output(body, "out", ir_unary(body, IR_OP_GELU, y));
    ir_node *f = ir_fused(g, body, 2, (ir_node *[]){x, bias});
    CHECK_SHAPE(g, f, KILN_F32, "[batch, seq, 8]");
    CHECK(f && f->p.body == body && f->n_absorbed == 2);
    CHECK(f && strcmp(f->absorbed[0], "layer.dense") == 0 && strcmp(f->absorbed[1], "layer.act") == 0);
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);

    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    body = ir_graph_create_body(g);
    ir_graph_add_output(body, "out", ir_unary(body, IR_OP_EXP, ir_input(body, "in0", KILN_F16, 3, (ir_dim[]){B, S, D(8)})));
    CHECK_BUILD_FAILS(g, ir_fused(g, body, 1, &x), KILN_ERR_INVALID_ARG, "fused: body input 'in0' missing or unlike operand 0");
    ir_graph_free(g);
    g = fresh();
    x = f32(g, "x", 3, (ir_dim[]){B, S, D(8)});
    body = ir_graph_create_body(g);
    ir_input(body, "in0", KILN_F32, 3, (ir_dim[]){B, S, D(8)});
    CHECK_BUILD_FAILS(g, ir_fused(g, body, 1, &x), KILN_ERR_INVALID_ARG, "fused: body must have exactly one output");
    ir_graph_free(g);
}

int main(void) {
    test_leaves_and_consts();
    test_elementwise();
    test_normalizations();
    test_matmul();
    test_movement();
    test_fused();
    return test_summary();
}
