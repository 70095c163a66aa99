/* fuse_norm.c — residual add + LayerNorm: a LAYER_NORM or RMS_NORM and the element-wise ops that
 * feed it (the residual add, the embeddings' sums), each read only there, become one region
 * (IR_FUSED_NORM) that builds each row and normalizes it in one pass: the sum never goes to
 * memory.
 */
#include "passes/passes.h"

#define NORM_MAX_PROLOGUE 8

typedef struct prologue {
    ir_node *nodes[NORM_MAX_PROLOGUE + 1];
    int n;
} prologue;

// Takes in `x` when it is an element-wise op of the norm's shape read only by `reader`.
static void grow(const pass_users *u, prologue *p, ir_node *x, const ir_node *reader, const ir_node *norm, const bool *taken, int32_t n0) {
    if (p->n > NORM_MAX_PROLOGUE || pass_taken(taken, n0, x) || !(ir_op_flags(x->op) & IR_OPF_ELEMENTWISE) || !pass_same_shape(x, norm) ||
        x->dtype != norm->dtype || pass_only_user(u, x) != reader)
        return;
    p->nodes[p->n++] = x;
    for (int k = 0; k < x->n_inputs; k++) grow(u, p, x->inputs[k], x, norm, taken, n0);
}

kiln_status pass_fuse_norm(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool *taken = calloc((size_t)n0 + 1, 1), changed = false;
    if (!taken) {
        pass_users_free(&u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "fuse_norm: out of memory");
    }
    for (int i = 0; i < n0 && !g->status; i++) {
        ir_node *ln = g->nodes[i];
        if (ln->op != IR_OP_LAYER_NORM && ln->op != IR_OP_RMS_NORM) continue;
        prologue p = {.nodes = {ln}, .n = 1};
        grow(&u, &p, ln->inputs[0], ln, ln, taken, n0);
        if (p.n == 1 || p.n > NORM_MAX_PROLOGUE) continue;
        if (!pass_make_region(g, p.nodes, p.n, ln, IR_FUSED_NORM, NULL, 0)) break;
        for (int k = 0; k < p.n; k++) pass_take(taken, n0, p.nodes[k]);
        changed = true;
    }
    free(taken);
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
