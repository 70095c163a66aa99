/* pack_qkv.c — the Q, K and V projections as one GEMM: matmuls that read the same activation
 * with different weights (x · Wqᵀ, x · Wkᵀ, x · Wvᵀ) become one matmul with the weights joined
 * at compile time (PACK_WEIGHTS, [Nq + Nk + Nv, K]), their biases joined the same way, and each
 * original result a slice of the product's last axis. One pass over x instead of three; the
 * attention fusion then reads q, k and v straight out of the packed product by column offset.
 */
#include "passes/passes.h"

#define PACK_MAX 8

static bool weight_like(const ir_node *n) { return n->op == IR_OP_WEIGHT || n->op == IR_OP_PACK_WEIGHTS; }

// x · Wᵀ with W a [N, K] weight: the candidates for packing. W may be block-quantized: rows are
// independent, so weights of one quantized dtype join row-wise as well (the group's dtype must agree).
static bool is_projection(const ir_node *m, const ir_node *x) {
    if (m->op != IR_OP_MATMUL) return false;
    kiln_dtype w = m->inputs[1]->dtype;
    return m->inputs[0] == x && !m->p.trans_a && m->p.trans_b && weight_like(m->inputs[1]) && m->inputs[1]->rank == 2 &&
           (w == x->dtype || kiln_dtype_get_info(w)->is_quantized);
}

// The bias vector added to `m` as its only reader, or NULL.
static ir_node *bias_of(const pass_users *u, const ir_node *m, ir_node **add_out) {
    ir_node *add = pass_only_user(u, m);
    if (!add || add->op != IR_OP_ADD || !pass_same_shape(add, m)) return NULL;
    ir_node *b = add->inputs[0] == m ? add->inputs[1] : add->inputs[0];
    if (!weight_like(b) || b->rank != 1 || !ir_dim_eq(b->shape[0], m->inputs[1]->shape[0]) || b->dtype != m->dtype) return NULL;
    *add_out = add;
    return b;
}

kiln_status pass_pack_qkv(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool changed = false;
    for (int i = 0; i < n0 && !g->status; i++) {
        ir_node *x = g->nodes[i];
        ir_node *mm[PACK_MAX], *adds[PACK_MAX], *ws[PACK_MAX], *bs[PACK_MAX];
        int n = 0;
        for (int32_t j = u.start[i]; j < u.start[i + 1] && n < PACK_MAX; j++) {
            ir_node *m = u.list[j];
            if (!is_projection(m, x)) continue;
            if (n && (!ir_dim_eq(m->inputs[1]->shape[1], mm[0]->inputs[1]->shape[1]) || m->inputs[1]->dtype != mm[0]->inputs[1]->dtype))
                continue;
            mm[n++] = m;
        }
        if (n < 2) continue;
        int n_bias = 0;
        for (int k = 0; k < n; k++) {
            ws[k] = mm[k]->inputs[1];
            bs[k] = bias_of(&u, mm[k], &adds[k]);
            n_bias += bs[k] != NULL;
        }
        bool with_bias = n_bias == n;   // all or none: a missing bias would need a zero block
        const char *saved = g->cur_path;
        g->cur_path = mm[0]->path;
        ir_node *y = ir_matmul(g, x, ir_pack_weights(g, n, ws, 0), false, true);
        if (with_bias) y = ir_binary(g, IR_OP_ADD, y, ir_pack_weights(g, n, bs, 0));
        ir_dim at = ir_dim_const(0);
        for (int k = 0; k < n && y; k++) {
            ir_dim end;
            if (!ir_dim_add(at, ws[k]->shape[0], &end)) break;
            g->cur_path = mm[k]->path;
            ir_node *s = ir_slice(g, y, y->rank - 1, at, end);
            if (s) pass_replace_uses(g, with_bias ? adds[k] : mm[k], s);
            at = end;
        }
        g->cur_path = saved;
        changed = true;
    }
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
