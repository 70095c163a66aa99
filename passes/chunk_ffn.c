/* chunk_ffn.c — feed-forward chunking (Transformers' apply_chunking_to_forward): the block
 * x → matmul W1 (+ b1) → activation (or a gated pair) → matmul W2 (+ b2) becomes one region
 * (IR_FUSED_CHUNKED) that a backend runs ctx->ff_chunk rows (tokens) at a time, so that
 * [chunk x intermediate] is live instead of [rows x intermediate]. Every op of the block is
 * row-wise, so any chunk gives the same rows (up to the GEMM's summation order).
 * Only blocks whose intermediate is wider than their output are chunked (that is where memory
 * goes); runs only when ff_chunk > 0 (chunk_size_feed_forward, --ff-chunk, a memory budget).
 */
#include "passes/passes.h"

#define FFN_MAX_NODES 16

static bool weight_like(const ir_node *n) {
    return n->op == IR_OP_WEIGHT || n->op == IR_OP_PACK_WEIGHTS || n->op == IR_OP_CONST;
}

// A linear layer's matmul: rows of x times a constant [N, K] (or [K, N]) f32 weight. Block-quantized
// weights are left out: the backends' chunked-region lowerings take f32 products only.
static bool is_linear(const ir_node *m) {
    return m->op == IR_OP_MATMUL && !m->p.trans_a && weight_like(m->inputs[1]) && m->inputs[1]->rank == 2 && m->rank >= 2 &&
           m->dtype == KILN_F32 && m->inputs[1]->dtype == KILN_F32;
}

// Leading dims (all but the last) equal: the same rows.
static bool same_rows(const ir_node *a, const ir_node *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank - 1; d++)
        if (!ir_dim_eq(a->shape[d], b->shape[d])) return false;
    return true;
}

// An element-wise node whose operands are rows of the block or broadcast vectors (biases).
static bool rowwise_elementwise(const ir_node *x, const ir_node *out) {
    if (!(ir_op_flags(x->op) & IR_OPF_ELEMENTWISE) || x->dtype != KILN_F32 || !same_rows(x, out)) return false;
    for (int k = 0; k < x->n_inputs; k++) {
        const ir_node *a = x->inputs[k];
        if (!pass_same_shape(a, x) && !(weight_like(a) && a->rank < x->rank)) return false;
    }
    return true;
}

typedef struct block {
    ir_node *nodes[FFN_MAX_NODES];
    int n, n_linear;
} block;

static bool in_block(const block *b, const ir_node *x) {
    for (int i = 0; i < b->n; i++)
        if (b->nodes[i] == x) return true;
    return false;
}

// Walks up from `x` through single-reader row-wise nodes; stops at the block's input(s).
static bool collect(const pass_users *u, block *b, ir_node *x, const ir_node *reader, const ir_node *out, const bool *taken, int32_t n0) {
    if (in_block(b, x) || weight_like(x)) return true;
    bool linear = is_linear(x) && same_rows(x, out);
    if (pass_taken(taken, n0, x) || pass_only_user(u, x) != reader || !(linear || rowwise_elementwise(x, out))) return true;   // an input
    if (b->n == FFN_MAX_NODES) return false;
    b->nodes[b->n++] = x;
    b->n_linear += linear;
    if (linear) return collect(u, b, x->inputs[0], x, out, taken, n0);
    for (int k = 0; k < x->n_inputs; k++)
        if (!collect(u, b, x->inputs[k], x, out, taken, n0)) return false;
    return true;
}

kiln_status pass_chunk_ffn(ir_graph *g, const kiln_pass_ctx *ctx) {
    if (ctx->ff_chunk <= 0) return KILN_OK;
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool *taken = calloc((size_t)n0 + 1, 1), changed = false;
    if (!taken) {
        pass_users_free(&u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "chunk_ffn: out of memory");
    }
    // From the last node back: the down projection (a linear layer whose input comes from an
    // activation of another linear layer), plus its bias.
    for (int i = n0 - 1; i >= 0 && !g->status; i--) {
        ir_node *down = g->nodes[i];
        if (taken[i] || !is_linear(down)) continue;
        ir_node *act = down->inputs[0];
        if (!(ir_op_flags(act->op) & IR_OPF_ELEMENTWISE) || pass_only_user(&u, act) != down) continue;
        ir_node *out = down, *add = pass_only_user(&u, down);
        if (add && add->op == IR_OP_ADD && pass_same_shape(add, down)) {
            ir_node *b = add->inputs[0] == down ? add->inputs[1] : add->inputs[0];
            if (weight_like(b) && b->rank == 1) out = add;
        }
        block b = {.n = 0};
        if (out != down) b.nodes[b.n++] = out;
        b.nodes[b.n++] = down;
        b.n_linear = 1;
        if (!collect(&u, &b, act, down, out, taken, n0) || b.n_linear < 2) continue;
        // Only a block that widens (the intermediate wider than what it returns) gains from
        // chunking: a pooler's dense -> tanh -> classifier does not.
        int64_t inner, outer, width = 0;
        if (!ir_dim_is_const(act->shape[act->rank - 1], &inner) || !ir_dim_is_const(out->shape[out->rank - 1], &outer) || inner <= outer)
            continue;
        for (int k = 0; k < b.n; k++) {   // the block's row input: what its up projections read
            const ir_node *x = b.nodes[k];
            int64_t w;
            if (x != down && is_linear(x) && !in_block(&b, x->inputs[0]) && ir_dim_is_const(x->inputs[0]->shape[x->rank - 1], &w))
                width = KILN_MAX(width, w);
        }
        if (inner <= width) continue;
        bool clash = false;
        for (int k = 0; k < b.n; k++) clash |= pass_taken(taken, n0, b.nodes[k]);
        if (clash) continue;
        ir_node *f = pass_make_region(g, b.nodes, b.n, out, IR_FUSED_CHUNKED, NULL, 0);
        if (!f) break;
        f->p.chunk = ctx->ff_chunk;
        for (int k = 0; k < b.n; k++) pass_take(taken, n0, b.nodes[k]);
        changed = true;
    }
    free(taken);
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
