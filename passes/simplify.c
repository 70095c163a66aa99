/* simplify.c — algebraic identities and view folding, each a rule that replaces a node by an
 * existing one or by one simpler node:
 *   reshape(reshape(x)) → reshape(x);  reshape(x) to x's shape → x
 *   permute(permute(x)) → one permute (or x);  an identity permute → x
 *   cast to the same dtype, expand to the same shape, a slice over a whole axis → x
 *   x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 → x (when x already has the result's shape and dtype)
 *   -(-x) → x
 * All are exact but x + 0 on x = -0.0, which gives +0.0 unsimplified: equal as numbers.
 */
#include "passes/passes.h"

static bool scalar_is(const ir_node *n, double v) {
    double c;
    return pass_scalar_value(n, &c) && c == v;
}

// x when `n` merely passes its operand x through, else NULL.
static ir_node *identity_of(const ir_node *n) {
    ir_node *a = n->n_inputs > 0 ? n->inputs[0] : NULL, *b = n->n_inputs > 1 ? n->inputs[1] : NULL;
    switch (n->op) {
    case IR_OP_RESHAPE:
    case IR_OP_EXPAND:
        return pass_same_shape(n, a) ? a : NULL;
    case IR_OP_CAST:
        return a->dtype == n->dtype ? a : NULL;
    case IR_OP_PERMUTE:
        for (int d = 0; d < n->rank; d++)
            if (n->p.perm[d] != d) return NULL;
        return a;
    case IR_OP_SLICE: {
        int64_t start;
        return ir_dim_is_const(n->p.start, &start) && start == 0 && ir_dim_eq(n->p.end, a->shape[n->p.axis]) ? a : NULL;
    }
    case IR_OP_NEG:
        return a->op == IR_OP_NEG ? a->inputs[0] : NULL;
    case IR_OP_ADD:
        if (scalar_is(b, 0) && pass_same_shape(n, a) && a->dtype == n->dtype) return a;
        if (scalar_is(a, 0) && pass_same_shape(n, b) && b->dtype == n->dtype) return b;
        return NULL;
    case IR_OP_MUL:
        if (scalar_is(b, 1) && pass_same_shape(n, a) && a->dtype == n->dtype) return a;
        if (scalar_is(a, 1) && pass_same_shape(n, b) && b->dtype == n->dtype) return b;
        return NULL;
    case IR_OP_SUB:
        return scalar_is(b, 0) && pass_same_shape(n, a) && a->dtype == n->dtype ? a : NULL;
    case IR_OP_DIV:
        return scalar_is(b, 1) && pass_same_shape(n, a) && a->dtype == n->dtype ? a : NULL;
    default:
        return NULL;
    }
}

// One simpler node for two stacked views, or NULL.
static ir_node *merge_views(ir_graph *g, ir_node *n) {
    ir_node *a = n->n_inputs > 0 ? n->inputs[0] : NULL;
    if (n->op == IR_OP_RESHAPE && a->op == IR_OP_RESHAPE) {
        ir_node *inner = a->inputs[0];
        if (pass_same_shape(n, inner)) return inner;
        return ir_reshape(g, inner, n->rank, n->shape);
    }
    if (n->op == IR_OP_PERMUTE && a->op == IR_OP_PERMUTE) {
        int perm[IR_MAX_RANK];
        bool identity = true;
        for (int d = 0; d < n->rank; d++) {
            perm[d] = a->p.perm[n->p.perm[d]];
            identity &= perm[d] == d;
        }
        return identity ? a->inputs[0] : ir_permute(g, a->inputs[0], perm);
    }
    return NULL;
}

kiln_status pass_simplify(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {   // nodes appended here are visited too
        ir_node *n = g->nodes[i];
        if (ir_op_flags(n->op) & IR_OPF_LEAF) continue;
        ir_node *r = identity_of(n);
        if (!r) {
            const char *saved = g->cur_path;
            g->cur_path = n->path;
            r = merge_views(g, n);
            g->cur_path = saved;
            if (g->status) return g->status;
        }
        if (!r || r == n) continue;
        pass_replace_uses(g, n, r);
        changed = true;
    }
    return changed ? pass_commit(g, n0) : KILN_OK;
}
