/* cost.c — what each launch costs, as expressions of the symbolic dims: its class of work, its
 * FLOPs and the bytes it reads and writes. Every backend fills its launch list from these, so
 * profiles of the interpreter and of the CPU backend count the same way.
 */
#include "codegen/codegen.h"

rt_class cg_op_class(ir_op op) {
    uint32_t f = ir_op_flags(op);
    if (f & IR_OPF_CONTRACTION) return RT_CLASS_CONTRACTION;
    if (f & IR_OPF_NORMALIZATION) return RT_CLASS_NORMALIZATION;
    if (f & IR_OPF_MOVEMENT) return RT_CLASS_MOVEMENT;
    if (f & IR_OPF_FUSED) return RT_CLASS_FUSED;
    return RT_CLASS_ELEMENTWISE;
}

rt_class cg_node_class(const ir_node *n) {
    if (n->op != IR_OP_FUSED) return cg_op_class(n->op);
    switch (n->p.fused_kind) {   // a fused region's class is its heaviest part's: a matmul makes it a contraction
    case IR_FUSED_GEMM: case IR_FUSED_ATTENTION: case IR_FUSED_CHUNKED: return RT_CLASS_CONTRACTION;
    case IR_FUSED_NORM: return RT_CLASS_NORMALIZATION;
    case IR_FUSED_ELEMENTWISE: return RT_CLASS_ELEMENTWISE;
    default: return RT_CLASS_FUSED;
    }
}

static ir_dim dim_of_expr(rt_expr e) {
    ir_dim d;
    memset(&d, 0, sizeof(d));
    d.n_terms = e.n_terms;
    for (int t = 0; t < e.n_terms; t++) {
        d.terms[t].coeff = e.terms[t].coeff;
        d.terms[t].n_factors = e.terms[t].n_factors;
        memcpy(d.terms[t].factors, e.terms[t].factors, sizeof(d.terms[t].factors));
    }
    return d;
}

rt_expr cg_flops(const ir_node *n) {
    ir_dim numel, r = ir_dim_const(0);
    if (n->op == IR_OP_FUSED) {   // what its body computes (an attention region: its products too)
        ir_dim acc = ir_dim_const(0);
        for (int i = 0; i < n->p.body->n_nodes; i++) {
            const ir_node *b = n->p.body->nodes[i];
            if (ir_op_flags(b->op) & (IR_OPF_LEAF | IR_OPF_VIEW)) continue;
            if (!ir_dim_add(acc, dim_of_expr(cg_flops(b)), &acc)) break;
        }
        return cg_expr(acc);
    }
    if (!ir_node_numel(n, &numel)) return rt_expr_const(0);
    uint32_t f = ir_op_flags(n->op);
    if (n->op == IR_OP_MATMUL) {
        const ir_node *a = n->inputs[0];
        ir_dim k = a->shape[a->rank - (n->p.trans_a ? 2 : 1)];
        if (!ir_dim_mul(numel, k, &r) || !ir_dim_mul(r, ir_dim_const(2), &r)) r = ir_dim_const(0);
    } else if (f & IR_OPF_NORMALIZATION) {
        if (!ir_node_numel(n->inputs[0], &numel) || !ir_dim_mul(numel, ir_dim_const(n->op == IR_OP_LAYER_NORM ? 8 : 5), &r))
            r = ir_dim_const(0);
    } else if (f & IR_OPF_ELEMENTWISE) {
        r = numel;
    }
    return cg_expr(r);
}

bool cg_tensor_bytes(const ir_node *t, ir_dim *out) {
    const kiln_dtype_info *info = kiln_dtype_get_info(t->dtype);
    ir_dim numel;
    int64_t count;
    if (!ir_node_numel(t, &numel)) return false;
    if (info->is_quantized && ir_dim_is_const(numel, &count)) {
        *out = ir_dim_const((int64_t)kiln_dtype_bytes(t->dtype, count));
        return true;
    }
    return ir_dim_mul(numel, ir_dim_const(info->block_bytes / info->block_size), out);
}

rt_expr cg_bytes(const ir_node *n) {
    ir_dim total = ir_dim_const(0), b;
    for (int k = 0; k <= n->n_inputs; k++) {
        const ir_node *t = k < n->n_inputs ? n->inputs[k] : n;
        if (!cg_tensor_bytes(t, &b) || !ir_dim_add(total, b, &total)) return rt_expr_const(0);
    }
    return cg_expr(total);
}
