/* fuse_gemm.c — the GEMM epilogue: a matmul and the element-wise ops after it whose other
 * operands are constants or weights (the bias, a scale) or that take nothing else (the
 * activation) become one region (IR_FUSED_GEMM), so the product is finished while it is still in
 * registers: x · Wᵀ + b → GELU is one kernel. An op that adds another activation (the residual)
 * ends the epilogue: that add belongs to the LayerNorm after it (fuse_norm).
 */
#include "passes/passes.h"

#define GEMM_MAX_EPILOGUE 8

static bool leaf(const ir_node *n) { return (ir_op_flags(n->op) & IR_OPF_LEAF) != 0; }

// Can `e` (the only reader of `prev`) finish the product in the epilogue?
static bool epilogue_op(const ir_node *e, const ir_node *prev, const ir_node *mm) {
    if (!(ir_op_flags(e->op) & IR_OPF_ELEMENTWISE) || !pass_same_shape(e, mm) || e->dtype != mm->dtype) return false;
    for (int k = 0; k < e->n_inputs; k++)
        if (e->inputs[k] != prev && !leaf(e->inputs[k])) return false;
    return true;
}

kiln_status pass_fuse_gemm(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool changed = false;
    for (int i = 0; i < n0 && !g->status; i++) {
        ir_node *mm = g->nodes[i];
        if (mm->op != IR_OP_MATMUL || mm->inputs[0] == mm->inputs[1]) continue;
        // A block-quantized B runs through rt_quant_matmul, whose product has no epilogue: leave it.
        if (kiln_dtype_get_info(mm->inputs[1]->dtype)->is_quantized) continue;
        ir_node *region[GEMM_MAX_EPILOGUE + 1] = {mm}, *e = mm;
        int n = 1;
        for (ir_node *next; n <= GEMM_MAX_EPILOGUE && (next = pass_only_user(&u, e)) && epilogue_op(next, e, mm);) region[n++] = e = next;
        if (n == 1) continue;
        if (!pass_make_region(g, region, n, e, IR_FUSED_GEMM, (ir_node *[]){mm->inputs[0], mm->inputs[1]}, 2)) break;
        changed = true;
    }
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
