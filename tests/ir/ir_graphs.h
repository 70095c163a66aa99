/* ir_graphs.h — graphs the IR tests share: one that uses every op of ops.def (CONST data of every
 * dtype, STATE + SCATTER, IOTA, nested FUSED bodies, odd names), a BERT-like attention block built
 * the way models/bert.c builds one, and a deep structural comparison of two graphs.
 */
#ifndef KILN_TESTS_IR_GRAPHS_H
#define KILN_TESTS_IR_GRAPHS_H

#include <math.h>

#include "ir/ir.h"
#include "test.h"

static inline ir_dim D(int64_t v) { return ir_dim_const(v); }

static inline ir_dim dim_add(ir_dim a, ir_dim b) {
    ir_dim r;
    KILN_ASSERT(ir_dim_add(a, b, &r));
    return r;
}

static inline ir_dim dim_mul(ir_dim a, ir_dim b) {
    ir_dim r;
    KILN_ASSERT(ir_dim_mul(a, b, &r));
    return r;
}

// A graph with every op; symbols batch, seq, past and one that is not a plain word.
static inline ir_graph *build_every_op(void) {
    ir_graph *g = ir_graph_create();
    int sb = ir_graph_symbol(g, "batch"), ss = ir_graph_symbol(g, "seq"), sp = ir_graph_symbol(g, "past");
    int sodd = ir_graph_symbol(g, "dim param.0");
    g->symbols[sb].max = 8;
    g->symbols[ss].max = 512;
    ir_dim B = ir_dim_sym(sb), S = ir_dim_sym(ss), P = ir_dim_sym(sp), PS = dim_add(P, S);

    ir_graph_set_path(g, "embeddings");
    ir_node *ids = ir_input(g, "input_ids", KILN_I64, 2, (ir_dim[]){B, S});
    ir_node *mask = ir_input(g, "attention_mask", KILN_I64, 2, (ir_dim[]){B, S});
    ir_node *odd = ir_input(g, "odd \"name\"\\\n\t", KILN_F32, 2, (ir_dim[]){ir_dim_sym(sodd), D(3)});
    ir_node *table = ir_weight(g, "embeddings.word_embeddings.weight", KILN_F16, 2, (ir_dim[]){D(100), D(8)});
    ir_node *x = ir_gather(g, table, ids);   // f32 [B, S, 8]

    // CONST data of every dtype, special floats included
    ir_graph_set_path(g, NULL);
    float f32v[8] = {0.1f, -2.5f, 1e-12f, INFINITY, -INFINITY, -0.0f, 1.4e-45f, NAN};
    uint16_t f16v[4] = {0x3c00, 0x8001, 0x7bff, 0x3555}, bf16v[4] = {0x3f80, 0xc2f7, 0x0001, 0x7f7f};
    int32_t i32v[3] = {INT32_MIN, 0, INT32_MAX};
    int64_t i64v[3] = {INT64_MIN, -1, INT64_MAX};
    uint8_t boolv[4] = {1, 0, 0, 1};
    ir_node *c32 = ir_const(g, KILN_F32, 1, (int64_t[]){8}, f32v);
    ir_const(g, KILN_F16, 2, (int64_t[]){2, 2}, f16v);
    ir_const(g, KILN_BF16, 1, (int64_t[]){4}, bf16v);
    ir_const(g, KILN_I32, 1, (int64_t[]){3}, i32v);
    ir_const(g, KILN_I64, 1, (int64_t[]){3}, i64v);
    ir_const(g, KILN_BOOL, 2, (int64_t[]){2, 2}, boolv);
    ir_const(g, KILN_I64, 1, (int64_t[]){0}, i64v);   // empty
    for (int t = KILN_Q8_0; t <= KILN_Q6_K; t++) {
        const kiln_dtype_info *info = kiln_dtype_get_info((kiln_dtype)t);
        unsigned char bytes[2 * 256];
        for (int i = 0; i < 2 * info->block_bytes; i++) bytes[i] = (unsigned char)(i * 37 + t);
        ir_const(g, (kiln_dtype)t, 2, (int64_t[]){2, info->block_size}, bytes);
    }

    // element-wise
    ir_graph_set_path(g, "odd path {x}");
    ir_node *u = x;
    const ir_op unary[] = {IR_OP_NEG, IR_OP_EXP, IR_OP_LOG, IR_OP_SQRT, IR_OP_RSQRT, IR_OP_TANH, IR_OP_ERF,
                           IR_OP_RELU, IR_OP_GELU, IR_OP_GELU_TANH, IR_OP_QUICK_GELU, IR_OP_SILU, IR_OP_SIGMOID};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(unary); i++) u = ir_unary(g, unary[i], u);
    ir_graph_set_path(g, "encoder.layer.0");
    ir_node *bias = ir_weight(g, "bias", KILN_F32, 1, (ir_dim[]){D(8)});
    const ir_op binary[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_DIV, IR_OP_MAX, IR_OP_MIN, IR_OP_POW};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(binary); i++) u = ir_binary(g, binary[i], u, bias);
    ir_node *zero = ir_scalar_i64(g, 0);
    ir_node *eq = ir_binary(g, IR_OP_EQ, mask, zero), *ne = ir_binary(g, IR_OP_NE, mask, zero);
    ir_node *lt = ir_binary(g, IR_OP_LT, ids, mask), *le = ir_binary(g, IR_OP_LE, ids, mask);
    ir_node *both = ir_binary(g, IR_OP_AND, eq, ne);
    ir_node *neither = ir_unary(g, IR_OP_NOT, ir_binary(g, IR_OP_AND, lt, le));
    ir_node *cond = ir_binary(g, IR_OP_OR, both, neither);
    ir_node *fmask = ir_cast(g, mask, KILN_F32);
    ir_node *w = ir_where(g, cond, fmask, ir_scalar_f32(g, -3.4028234663852886e38f));   // [B, S]

    // normalizations and reductions
    ir_node *sm = ir_softmax(g, u, -1);
    ir_node *gamma = ir_weight(g, "ln.weight", KILN_F32, 1, (ir_dim[]){D(8)});
    ir_node *beta = ir_weight(g, "ln.bias", KILN_F32, 1, (ir_dim[]){D(8)});
    ir_node *ln = ir_layer_norm(g, sm, gamma, beta, 1e-12f);
    ir_node *rms = ir_rms_norm(g, ln, gamma, 1e-6f);
    ir_reduce(g, IR_OP_REDUCE_SUM, rms, 1, true);
    ir_reduce(g, IR_OP_REDUCE_MEAN, rms, -1, false);
    ir_reduce(g, IR_OP_REDUCE_MAX, w, 0, false);
    ir_node *pos = ir_cumsum(g, mask, 1);

    // contraction and movement
    ir_node *wq = ir_weight(g, "q.weight", KILN_F32, 2, (ir_dim[]){D(16), D(8)});
    ir_node *q = ir_matmul(g, rms, wq, false, true);                               // [B, S, 16]
    ir_node *wt = ir_weight(g, "t.weight", KILN_F32, 2, (ir_dim[]){D(16), D(4)});
    ir_node *qt = ir_matmul(g, ir_permute(g, q, (int[]){0, 2, 1}), wt, true, false);  // [B, S, 4]
    ir_node *q4 = ir_reshape(g, q, 4, (ir_dim[]){B, S, D(2), D(8)});
    ir_node *qh = ir_permute(g, q4, (int[]){0, 2, 1, 3});                          // [B, 2, S, 8]
    ir_node *cat = ir_concat(g, 3, (ir_node *[]){q4, q4, q4}, 1);                  // [B, 3*S, 2, 8]
    ir_node *flat = ir_reshape(g, q, 2, (ir_dim[]){dim_mul(B, S), D(16)});
    ir_node *ex = ir_expand(g, ir_reshape(g, c32, 2, (ir_dim[]){D(1), D(8)}), 3, (ir_dim[]){B, S, D(8)});
    // weights joined at compile time (the passes' Q, K, V packing)
    ir_node *wk = ir_weight(g, "k.weight", KILN_F32, 2, (ir_dim[]){D(16), D(8)});
    ir_node *qk = ir_matmul(g, rms, ir_pack_weights(g, 2, (ir_node *[]){wq, wk}, 0), false, true);   // [B, S, 32]

    // KV cache: positions past..past+seq, scattered into the state, read back as [0, past + seq)
    ir_graph_set_path(g, "encoder.layer.0.attention.self");
    ir_node *cache = ir_state(g, "past_key", KILN_F32, 4, (ir_dim[]){B, D(64), D(2), D(8)});
    ir_node *where_to = ir_iota(g, KILN_I64, 2, (ir_dim[]){B, S}, 1, P);
    ir_node *upd = ir_scatter(g, cache, where_to, q4);
    ir_node *keys = ir_slice(g, upd, 1, D(0), PS);                                 // [B, past + seq, 2, 8]
    ir_node *tail = ir_slice(g, cat, 1, S, dim_add(dim_mul(D(2), S), D(1)));       // [B, seq + 1, 2, 8]
    ir_iota(g, KILN_F32, 1, (ir_dim[]){D(5)}, 0, dim_add(dim_mul(D(-2), S), D(3)));

    // a fused region with a fused region inside
    ir_graph *body = ir_graph_create_body(g);
    ir_graph_set_path(body, "encoder.layer.0.output.dense");
    ir_node *in0 = ir_input(body, "in0", KILN_F32, 3, (ir_dim[]){B, S, D(16)});
    ir_node *in1 = ir_input(body, "in1", KILN_F32, 1, (ir_dim[]){D(16)});
    ir_node *sum = ir_binary(body, IR_OP_ADD, in0, in1);
    ir_graph *inner = ir_graph_create_body(body);
    ir_graph_set_path(inner, "encoder.layer.0.intermediate.intermediate_act_fn");
    ir_node *inner_in = ir_input(inner, "in0", KILN_F32, 3, (ir_dim[]){B, S, D(16)});
    ir_graph_add_output(inner, "out", ir_unary(inner, IR_OP_GELU, inner_in));
    ir_graph_set_path(body, "encoder.layer.0.intermediate");
    ir_node *act = ir_fused(body, inner, 1, &sum);
    ir_graph_add_output(body, "out", act);
    ir_graph_set_path(g, "encoder.layer.0.intermediate");
    ir_node *b16 = ir_weight(g, "dense.bias", KILN_F32, 1, (ir_dim[]){D(16)});
    ir_node *fused = ir_fused(g, body, 2, (ir_node *[]){q, b16});
    if (fused) {
        fused->name = "gelu_bias";
        fused->p.fused_kind = IR_FUSED_CHUNKED;   // the passes' region parameters print and parse
        fused->p.chunk = 4;
    }

    ir_graph_add_output(g, "last_hidden_state", fused);
    ir_graph_add_output(g, "keys", keys);
    ir_graph_add_output(g, "tail", tail);
    ir_graph_add_output(g, "heads", qh);
    ir_graph_add_output(g, "flat", flat);
    ir_graph_add_output(g, "qt", qt);
    ir_graph_add_output(g, "expanded", ex);
    ir_graph_add_output(g, "positions", pos);
    ir_graph_add_output(g, "odd", odd);
    ir_graph_add_output(g, "qk", qk);
    return g;
}

// One BERT layer's attention block as models/bert.c builds it: hidden 32, 4 heads of 8.
static inline ir_graph *build_bert_block(void) {
    enum { H = 32, NH = 4, HD = 8 };
    ir_graph *g = ir_graph_create();
    int sb = ir_graph_symbol(g, "batch"), ss = ir_graph_symbol(g, "seq");
    g->symbols[sb].max = 8;
    g->symbols[ss].max = 512;
    ir_dim B = ir_dim_sym(sb), S = ir_dim_sym(ss);
    ir_node *ids = ir_input(g, "input_ids", KILN_I64, 2, (ir_dim[]){B, S});
    ir_node *mask = ir_input(g, "attention_mask", KILN_I64, 2, (ir_dim[]){B, S});

    ir_graph_set_path(g, "embeddings");
    ir_node *word = ir_weight(g, "embeddings.word_embeddings.weight", KILN_F32, 2, (ir_dim[]){D(1000), D(H)});
    ir_node *post = ir_weight(g, "embeddings.position_embeddings.weight", KILN_F32, 2, (ir_dim[]){D(512), D(H)});
    ir_node *x = ir_gather(g, word, ids);
    x = ir_binary(g, IR_OP_ADD, x, ir_gather(g, post, ir_iota(g, KILN_I64, 1, (ir_dim[]){S}, 0, D(0))));
    ir_node *lg = ir_weight(g, "embeddings.LayerNorm.weight", KILN_F32, 1, (ir_dim[]){D(H)});
    ir_node *lb = ir_weight(g, "embeddings.LayerNorm.bias", KILN_F32, 1, (ir_dim[]){D(H)});
    x = ir_layer_norm(g, x, lg, lb, 1e-12f);

    ir_graph_set_path(g, "get_extended_attention_mask");
    ir_node *one = ir_scalar_f32(g, 1.0f);
    ir_node *m = ir_binary(g, IR_OP_SUB, one, ir_cast(g, mask, KILN_F32));
    m = ir_binary(g, IR_OP_MUL, m, ir_scalar_f32(g, -3.4028234663852886e38f));
    m = ir_reshape(g, m, 4, (ir_dim[]){B, D(1), D(1), S});

    const char *names[3] = {"query", "key", "value"};
    ir_node *qkv[3];
    for (int i = 0; i < 3; i++) {
        ir_graph_set_path(g, "encoder.layer.0.attention.self.%s", names[i]);
        char wn[96], bn[96];
        snprintf(wn, sizeof(wn), "encoder.layer.0.attention.self.%s.weight", names[i]);
        snprintf(bn, sizeof(bn), "encoder.layer.0.attention.self.%s.bias", names[i]);
        ir_node *y = ir_matmul(g, x, ir_weight(g, wn, KILN_F32, 2, (ir_dim[]){D(H), D(H)}), false, true);
        y = ir_binary(g, IR_OP_ADD, y, ir_weight(g, bn, KILN_F32, 1, (ir_dim[]){D(H)}));
        y = ir_reshape(g, y, 4, (ir_dim[]){B, S, D(NH), D(HD)});
        qkv[i] = ir_permute(g, y, (int[]){0, 2, 1, 3});
    }
    ir_graph_set_path(g, "encoder.layer.0.attention.self");
    ir_node *s = ir_matmul(g, qkv[0], qkv[1], false, true);
    s = ir_binary(g, IR_OP_MUL, s, ir_scalar_f32(g, 0.35355339f));
    s = ir_softmax(g, ir_binary(g, IR_OP_ADD, s, m), -1);
    ir_node *ctx = ir_permute(g, ir_matmul(g, s, qkv[2], false, false), (int[]){0, 2, 1, 3});
    ctx = ir_reshape(g, ctx, 3, (ir_dim[]){B, S, D(H)});

    ir_graph_set_path(g, "encoder.layer.0.attention.output.dense");
    ir_node *ow = ir_weight(g, "encoder.layer.0.attention.output.dense.weight", KILN_F32, 2, (ir_dim[]){D(H), D(H)});
    ir_node *o = ir_matmul(g, ctx, ow, false, true);
    o = ir_binary(g, IR_OP_ADD, o, ir_weight(g, "encoder.layer.0.attention.output.dense.bias", KILN_F32, 1, (ir_dim[]){D(H)}));
    ir_graph_set_path(g, "encoder.layer.0.attention.output.LayerNorm");
    o = ir_binary(g, IR_OP_ADD, o, x);
    ir_node *og = ir_weight(g, "encoder.layer.0.attention.output.LayerNorm.weight", KILN_F32, 1, (ir_dim[]){D(H)});
    ir_node *ob = ir_weight(g, "encoder.layer.0.attention.output.LayerNorm.bias", KILN_F32, 1, (ir_dim[]){D(H)});
    o = ir_layer_norm(g, o, og, ob, 1e-12f);
    ir_graph_add_output(g, "last_hidden_state", o);
    return g;
}

/* ---- structural comparison ---- */

static inline bool str_same(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static inline bool dims_same(const ir_node *a, const ir_node *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!ir_dim_eq(a->shape[i], b->shape[i])) return false;
    return true;
}

static inline size_t const_bytes(const ir_node *n) {
    int64_t numel = 1, v;
    for (int i = 0; i < n->rank; i++) {
        ir_dim_is_const(n->shape[i], &v);
        numel *= v;
    }
    return kiln_dtype_bytes(n->dtype, numel);
}

// Every field the textual IR carries; reports the first difference on stderr.
static inline bool graphs_same(const ir_graph *a, const ir_graph *b) {
#define SAME(cond)                                                                              \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "graphs differ at node %d: %s\n", i, #cond);                        \
            return false;                                                                       \
        }                                                                                       \
    } while (0)
    int i = -1;
    SAME(a->n_symbols == b->n_symbols && a->n_nodes == b->n_nodes && a->n_outputs == b->n_outputs);
    for (int s = 0; s < a->n_symbols; s++) SAME(str_same(a->symbols[s].name, b->symbols[s].name) && a->symbols[s].max == b->symbols[s].max);
    for (i = 0; i < a->n_nodes; i++) {
        const ir_node *x = a->nodes[i], *y = b->nodes[i];
        SAME(x->id == y->id && x->op == y->op && x->dtype == y->dtype && dims_same(x, y));
        SAME(x->n_inputs == y->n_inputs && x->flags == y->flags);
        for (int k = 0; k < x->n_inputs; k++) SAME(x->inputs[k]->id == y->inputs[k]->id);
        SAME(str_same(x->name, y->name) && str_same(x->path, y->path));
        const ir_params *p = &x->p, *q = &y->p;
        SAME(p->axis == q->axis && p->keepdim == q->keepdim && p->trans_a == q->trans_a && p->trans_b == q->trans_b);
        SAME(memcmp(&p->eps, &q->eps, sizeof(float)) == 0);
        SAME(memcmp(p->perm, q->perm, sizeof(p->perm)) == 0);
        SAME(ir_dim_eq(p->start, q->start) && ir_dim_eq(p->end, q->end));
        if (x->op == IR_OP_CONST) {
            size_t n = const_bytes(x);
            bool same = n == 0 || memcmp(p->data, q->data, n) == 0;
            if (!same && x->dtype == KILN_F32) {   // NaN keeps its sign, not its payload
                same = true;
                for (size_t e = 0; e < n / 4; e++) {
                    float fa, fb;
                    memcpy(&fa, (const char *)p->data + 4 * e, 4);
                    memcpy(&fb, (const char *)q->data + 4 * e, 4);
                    same = same && (memcmp(&fa, &fb, 4) == 0 || (isnan(fa) && isnan(fb) && !signbit(fa) == !signbit(fb)));
                }
            }
            SAME(same);
        }
        if (x->op == IR_OP_FUSED) {
            SAME(p->fused_kind == q->fused_kind && p->heads == q->heads && p->chunk == q->chunk);
            SAME(memcmp(&p->scale, &q->scale, sizeof(float)) == 0 && memcmp(p->offsets, q->offsets, sizeof(p->offsets)) == 0);
            SAME(x->n_absorbed == y->n_absorbed);
            for (int k = 0; k < x->n_absorbed; k++) SAME(str_same(x->absorbed[k], y->absorbed[k]));
            SAME(graphs_same(p->body, q->body));
        }
    }
    for (int o = 0; o < a->n_outputs; o++)
        SAME(str_same(a->outputs[o].name, b->outputs[o].name) && a->outputs[o].node->id == b->outputs[o].node->id);
    return true;
#undef SAME
}

// ir_print into a malloc'd string (NULL on failure).
static inline char *print_graph(const ir_graph *g) {
    kiln_strbuf sb = {0};
    if (ir_print(g, &sb) != KILN_OK) {
        kiln_strbuf_free(&sb);
        return NULL;
    }
    return sb.data ? sb.data : calloc(1, 1);
}

#endif  // KILN_TESTS_IR_GRAPHS_H
