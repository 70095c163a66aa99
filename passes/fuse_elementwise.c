/* fuse_elementwise.c — chains of element-wise ops as one kernel (IR_FUSED_ELEMENTWISE): a group
 * grows from an op whose result leaves the chain (several readers, a graph output, or a reader
 * that is not element-wise) back through operands read only inside the group. Broadcasting is
 * kept: each op of the body is evaluated at the output element it maps to, so the attention
 * mask's cast, 1 - m and scaling become one pass.
 */
#include "passes/passes.h"

#define EW_MAX_GROUP 32

static bool is_ew(const ir_node *n) { return (ir_op_flags(n->op) & IR_OPF_ELEMENTWISE) != 0; }

typedef struct group {
    ir_node *nodes[EW_MAX_GROUP];
    int n;
} group;

static void grow(const pass_users *u, group *gr, ir_node *x, const ir_node *reader, const bool *taken, int32_t n0) {
    if (gr->n == EW_MAX_GROUP || pass_taken(taken, n0, x) || !is_ew(x) || pass_only_user(u, x) != reader) return;
    for (int i = 0; i < gr->n; i++)
        if (gr->nodes[i] == x) return;
    gr->nodes[gr->n++] = x;
    for (int k = 0; k < x->n_inputs; k++) grow(u, gr, x->inputs[k], x, taken, n0);
}

kiln_status pass_fuse_elementwise(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool *taken = calloc((size_t)n0 + 1, 1), changed = false;
    if (!taken) {
        pass_users_free(&u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "fuse_elementwise: out of memory");
    }
    for (int i = n0 - 1; i >= 0 && !g->status; i--) {
        ir_node *root = g->nodes[i];
        if (taken[i] || !is_ew(root)) continue;
        ir_node *reader = pass_only_user(&u, root);
        if (reader && is_ew(reader)) continue;   // the chain goes on: its end is the root
        group gr = {.nodes = {root}, .n = 1};
        taken[i] = true;
        for (int k = 0; k < root->n_inputs; k++) grow(&u, &gr, root->inputs[k], root, taken, n0);
        if (gr.n < 2) continue;
        if (!pass_make_region(g, gr.nodes, gr.n, root, IR_FUSED_ELEMENTWISE, NULL, 0)) break;
        for (int k = 0; k < gr.n; k++) pass_take(taken, n0, gr.nodes[k]);
        changed = true;
    }
    free(taken);
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
