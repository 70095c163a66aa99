/* interp.c — the reference backend: flattens fused regions, builds the shared program skeleton,
 * and emits one launch per computing node, all pointing at cg_interp_kernel.
 */
#include "codegen/interp/interp.h"

int64_t interp_numel(const interp_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

kiln_status cg_interp_kernel(const rt_kernel_call *call) {
    const cg_interp_params *p = call->params;
    interp_call c;
    memset(&c, 0, sizeof(c));
    c.p = p;
    c.call = call;
    const int64_t *d = call->dims;
    for (int i = 0; i <= p->n_in; i++) {
        interp_tensor *t = i < p->n_in ? &c.in[i] : &c.out;
        t->data = call->args[i];
        t->dtype = p->dtype[i];
        t->rank = p->rank[i];
        for (int k = 0; k < t->rank; k++) t->shape[k] = *d++;
    }
    c.extra = d;
    uint32_t f = ir_op_flags(p->op);
    if (p->op == IR_OP_FUSED) return interp_fused_run(&c);
    if (p->op == IR_OP_EXPAND || (f & IR_OPF_ELEMENTWISE)) return interp_elementwise(&c);
    if (f & IR_OPF_NORMALIZATION) return interp_normalization(&c);
    if (f & IR_OPF_CONTRACTION) return interp_matmul(&c);
    if (f & IR_OPF_MOVEMENT) return interp_movement(&c);
    return kiln_error(KILN_ERR_INTERNAL, "interp: no kernel for op '%s'", ir_op_name(p->op));
}

static bool interp_supports(const ir_node *n) {
    if (n->op == IR_OP_FUSED || (ir_op_flags(n->op) & IR_OPF_LEAF)) return true;
    // Computation is in f32 (and integers for ids, positions and masks); wider types come later.
    if (kiln_dtype_get_info(n->dtype)->is_quantized && n->op != IR_OP_GATHER) return false;
    if ((n->dtype == KILN_F16 || n->dtype == KILN_BF16) && n->op != IR_OP_CAST) return false;
    for (int k = 0; k < n->n_inputs; k++) {
        kiln_dtype t = n->inputs[k]->dtype;
        // Block-quantized weights: MATMUL's B (transposed, rows of whole blocks) and GATHER's table.
        bool quant_ok = (n->op == IR_OP_MATMUL && k == 1) || (n->op == IR_OP_GATHER && k == 0);
        if (kiln_dtype_get_info(t)->is_quantized && !quant_ok) return false;
        if ((t == KILN_F16 || t == KILN_BF16) && n->op != IR_OP_CAST && n->op != IR_OP_GATHER) return false;
    }
    return true;
}

static size_t interp_alignment(void) { return 64; }

// In-place reuse: element-wise ops, softmax and the norms (each reads a row before writing it),
// and fused element-wise and norm regions.
static bool interp_can_alias(const ir_node *n, int k) {
    if (cg_alias_elementwise(n, k)) return true;
    if (n->op == IR_OP_FUSED) return interp_fused_can_alias(n, k);
    const ir_node *x = n->inputs[k];
    bool same = x->rank == n->rank && x->dtype == n->dtype;
    for (int d = 0; same && d < n->rank; d++) same = ir_dim_eq(x->shape[d], n->shape[d]);
    return same && k == 0 && (n->op == IR_OP_SOFTMAX || n->op == IR_OP_LAYER_NORM || n->op == IR_OP_RMS_NORM);
}

static kiln_status interp_compile(const ir_graph *src, const cg_weight_source *ws, const rt_head *head, kiln_program **out) {
    *out = NULL;
    ir_graph *g = NULL;
    kiln_program *p = NULL;
    rt_arg *where = NULL;
    kiln_status st = cg_flatten_keep(src, interp_fused_lowerable, &g);
    if (st) return st;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!interp_supports(g->nodes[i])) {
            const ir_node *n = g->nodes[i];
            st = kiln_error(KILN_ERR_UNSUPPORTED, "interp: op '%s' on %s at %s is not supported", ir_op_name(n->op),
                            kiln_dtype_get_info(n->dtype)->name, n->path ? n->path : "?");
            goto error;
        }
    }
    cg_build_options bo = {.alignment = interp_alignment(), .can_alias = interp_can_alias, .symbolic = true};
    if ((st = cg_program_build_ex(g, ws, head, &bo, &p, &where))) goto error;
    p->backend = "interp";
    int32_t n_launch = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!(ir_op_flags(g->nodes[i]->op) & (IR_OPF_LEAF | IR_OPF_VIEW))) n_launch++;
    p->launches = calloc((size_t)n_launch + 1, sizeof(rt_launch));
    if (!p->launches) goto oom;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (ir_op_flags(n->op) & (IR_OPF_LEAF | IR_OPF_VIEW)) continue;
        rt_launch *L = &p->launches[p->n_launches++];
        cg_interp_params *prm = kiln_arena_alloc(p->arena, sizeof(*prm));
        char kname[48], opname[40];
        if (n->op == IR_OP_FUSED) snprintf(opname, sizeof(opname), "fused.%s", ir_fused_kind_name(n->p.fused_kind));
        else snprintf(opname, sizeof(opname), "%s", ir_op_name(n->op));
        snprintf(kname, sizeof(kname), "interp.%s", opname);
        L->kernel = kiln_arena_strdup(p->arena, kname);
        L->op = n->op == IR_OP_FUSED ? kiln_arena_strdup(p->arena, opname) : ir_op_name(n->op);
        L->path = kiln_arena_strdup(p->arena, n->path);
        L->fn = cg_interp_kernel;
        L->op_class = cg_node_class(n);
        L->step = i;
        L->flops = cg_flops(n);
        L->bytes = cg_bytes(n);
        if (!prm || !L->kernel) goto oom;
        prm->op = n->op;
        prm->n_in = n->n_inputs;
        prm->axis = n->p.axis;
        prm->keepdim = n->p.keepdim;
        prm->trans_a = n->p.trans_a;
        prm->trans_b = n->p.trans_b;
        prm->eps = n->p.eps;
        memcpy(prm->perm, n->p.perm, sizeof(prm->perm));
        if (n->op == IR_OP_FUSED) {
            size_t scratch = 0;
            if ((st = interp_fused_lower(p, n, prm, &scratch))) goto error;
            if (scratch > p->workspace_bytes) p->workspace_bytes = scratch;
        }
        int32_t n_dims = n->rank + (n->op == IR_OP_SLICE ? 2 : n->op == IR_OP_IOTA ? 1 : 0);
        for (int k = 0; k < n->n_inputs; k++) n_dims += n->inputs[k]->rank;
        L->dims = calloc((size_t)n_dims + 1, sizeof(rt_expr));
        if (!L->dims) goto oom;
        for (int k = 0; k <= n->n_inputs; k++) {
            const ir_node *t = k < n->n_inputs ? n->inputs[k] : n;
            prm->rank[k] = t->rank;
            prm->dtype[k] = t->dtype;
            for (int d = 0; d < t->rank; d++) L->dims[L->n_dims++] = cg_expr(t->shape[d]);
            L->args[L->n_args++] = where[t->id];
        }
        if (n->op == IR_OP_SLICE) {
            L->dims[L->n_dims++] = cg_expr(n->p.start);
            L->dims[L->n_dims++] = cg_expr(n->p.end);
        } else if (n->op == IR_OP_IOTA) {
            L->dims[L->n_dims++] = cg_expr(n->p.start);
        }
        L->params = prm;
        L->params_size = sizeof(*prm);
    }
    // The plan's tensors as rt_program_arena_bytes reads them: offset + bytes(symbols).
    p->arena_tensors = calloc((size_t)p->n_buffers + 1, sizeof(rt_arena_tensor));
    if (!p->arena_tensors) goto oom;
    for (int i = 0; i < p->n_buffers; i++)
        p->arena_tensors[p->n_arena_tensors++] = (rt_arena_tensor){p->buffers[i].offset, p->buffers[i].size};
    free(where);
    ir_graph_free(g);
    *out = p;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory");
error:
    if (p) p->weights_release = NULL;
    rt_program_free(p);
    free(where);
    ir_graph_free(g);
    return st;
}

const kiln_backend cg_interp_backend = {
    .name = "interp",
    .supports = interp_supports,
    .alignment = interp_alignment,
    .compile = interp_compile,
};
