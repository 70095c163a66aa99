/* build.c — the program skeleton every backend shares: symbols, weights (widened to f32 where
 * the file stores f16/bf16), constants, state, inputs and outputs, and an arena plan from each
 * tensor's live range. The backend then adds its launch list.
 */
#include "codegen/codegen.h"

#include "common/half.h"

rt_expr cg_expr(ir_dim d) {
    rt_expr e;
    memset(&e, 0, sizeof(e));
    _Static_assert(IR_DIM_MAX_TERMS == RT_EXPR_MAX_TERMS && IR_DIM_MAX_FACTORS == RT_EXPR_MAX_FACTORS, "dim forms differ");
    e.n_terms = d.n_terms;
    for (int i = 0; i < d.n_terms; i++) {
        e.terms[i].coeff = d.terms[i].coeff;
        e.terms[i].n_factors = d.terms[i].n_factors;
        memcpy(e.terms[i].factors, d.terms[i].factors, sizeof(e.terms[i].factors));
    }
    return e;
}

bool cg_numel_expr(const ir_node *n, rt_expr *out) {
    ir_dim d;
    if (!ir_node_numel(n, &d)) return false;
    *out = cg_expr(d);
    return true;
}

static int64_t max_of(const kiln_program *p, ir_dim d) { return ir_dim_eval(d, p->symbol_max); }

static size_t node_bytes_at_max(const kiln_program *p, const ir_node *n) {
    int64_t count = 1;
    for (int i = 0; i < n->rank; i++) count *= max_of(p, n->shape[i]);
    return kiln_dtype_bytes(n->dtype, count);
}

static kiln_status bind_weight(kiln_program *p, const cg_weight_source *ws, const ir_node *n, rt_weight *w) {
    w->name = kiln_arena_strdup(p->arena, n->name);
    w->dtype = n->dtype;
    w->rank = n->rank;
    int64_t count = 1;
    for (int d = 0; d < n->rank; d++) {
        int64_t v;
        if (!ir_dim_is_const(n->shape[d], &v)) return kiln_error(KILN_ERR_FORMAT, "weight '%s': symbolic shape", n->name);
        w->shape[d] = v;
        count *= v;
    }
    w->size_bytes = kiln_dtype_bytes(n->dtype, count);
    const void *data = NULL;
    kiln_dtype stored = n->dtype;
    size_t bytes = 0;
    kiln_status st = ws->lookup(ws->ctx, n, &data, &stored, &bytes);
    if (st) return st;
    if (stored == n->dtype) {
        if (bytes != w->size_bytes)
            return kiln_error(KILN_ERR_FORMAT, "weight '%s': %zu bytes stored, %zu expected", n->name, bytes, w->size_bytes);
        if ((uintptr_t)data % 64 == 0) {
            w->data = data;
            return KILN_OK;
        }
        // safetensors promises no alignment: kernels read whole vectors, so copy to 64 bytes.
        w->owned = aligned_alloc(64, (w->size_bytes + 63) / 64 * 64 + 64);
        if (!w->owned) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "weight '%s': out of memory", n->name);
        memcpy(w->owned, data, bytes);
        w->data = w->owned;
        return KILN_OK;
    }
    // f16/bf16 checkpoints compute in f32: a widened copy, owned by the program.
    if (n->dtype == KILN_F32 && (stored == KILN_F16 || stored == KILN_BF16) && bytes == kiln_dtype_bytes(stored, count)) {
        w->owned = aligned_alloc(64, (w->size_bytes + 63) / 64 * 64 + 64);
        if (!w->owned) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "weight '%s': out of memory widening to f32", n->name);
        kiln_convert_to_f32(stored, data, w->owned, (size_t)count);
        w->data = w->owned;
        return KILN_OK;
    }
    return kiln_error(KILN_ERR_UNSUPPORTED, "weight '%s': stored as %s, the graph computes in %s", n->name,
                      kiln_dtype_get_info(stored)->name, kiln_dtype_get_info(n->dtype)->name);
}

static void fill_io(kiln_program *p, const ir_node *n, const char *name, rt_io *io) {
    io->name = kiln_arena_strdup(p->arena, name);
    io->dtype = n->dtype;
    io->rank = n->rank;
    for (int d = 0; d < n->rank; d++) io->shape[d] = cg_expr(n->shape[d]);
    io->default_fill = (n->flags & IR_NODE_DEFAULT_ONE) ? 1 : (n->flags & IR_NODE_DEFAULT_ZERO) ? 0 : -1;
}

kiln_status cg_program_build(const ir_graph *g, const cg_weight_source *ws, const rt_head *head, size_t alignment,
                             kiln_program **prog_out, rt_arg **where_out) {
    *prog_out = NULL;
    *where_out = NULL;
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    kiln_program *p = calloc(1, sizeof(*p));
    rt_arg *where = calloc((size_t)g->n_nodes + 1, sizeof(*where));
    int32_t *root = calloc((size_t)g->n_nodes + 1, sizeof(*root)), *last = calloc((size_t)g->n_nodes + 1, sizeof(*last));
    int32_t *live_of = calloc((size_t)g->n_nodes + 1, sizeof(*live_of));
    cg_live *live = calloc((size_t)g->n_nodes + 1, sizeof(*live));
    if (!p || !where || !root || !last || !live || !live_of || !(p->arena = kiln_arena_create(64 * 1024))) goto oom;
    p->format_version = RT_PROGRAM_FORMAT_VERSION;
    p->arena_alignment = alignment;
    if (ws) {
        p->weights_owner = ws->owner;
        p->weights_release = ws->release;
    }
    p->n_symbols = g->n_symbols;
    for (int s = 0; s < g->n_symbols; s++) {
        p->symbol_names[s] = kiln_arena_strdup(p->arena, g->symbols[s].name);
        p->symbol_max[s] = g->symbols[s].max;
    }

    // Count leaves, then place them.
    int32_t n_w = 0, n_in = 0, n_st = 0;
    size_t const_bytes = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op == IR_OP_WEIGHT) n_w++;
        if (n->op == IR_OP_INPUT) n_in++;
        if (n->op == IR_OP_STATE) n_st++;
        if (n->op == IR_OP_CONST) const_bytes += (node_bytes_at_max(p, n) + 15) & ~(size_t)15;
    }
    p->weights = calloc((size_t)n_w + 1, sizeof(rt_weight));
    p->inputs = calloc((size_t)n_in + 1, sizeof(rt_io));
    p->states = calloc((size_t)n_st + 1, sizeof(rt_state));
    p->outputs = calloc((size_t)g->n_outputs + 1, sizeof(rt_io));
    p->consts = calloc(1, const_bytes + 16);
    if (!p->weights || !p->inputs || !p->states || !p->outputs || !p->consts) goto oom;

    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        root[i] = i;
        switch (n->op) {
        case IR_OP_WEIGHT:
            if (!ws) {
                st = kiln_error(KILN_ERR_INVALID_ARG, "weight '%s': no weight source", n->name);
                goto error;
            }
            if ((st = bind_weight(p, ws, n, &p->weights[p->n_weights]))) goto error;
            where[i] = (rt_arg){RT_SPACE_WEIGHT, p->n_weights++, 0};
            break;
        case IR_OP_INPUT:
            fill_io(p, n, n->name, &p->inputs[p->n_inputs]);
            where[i] = (rt_arg){RT_SPACE_INPUT, p->n_inputs++, 0};
            break;
        case IR_OP_STATE: {
            rt_state *s = &p->states[p->n_states];
            s->name = kiln_arena_strdup(p->arena, n->name);
            s->dtype = n->dtype;
            s->rank = n->rank;
            for (int d = 0; d < n->rank; d++) s->shape[d] = max_of(p, n->shape[d]);
            s->size_bytes = node_bytes_at_max(p, n);
            where[i] = (rt_arg){RT_SPACE_STATE, p->n_states++, 0};
            break;
        }
        case IR_OP_CONST: {
            size_t bytes = node_bytes_at_max(p, n);
            memcpy((char *)p->consts + p->const_bytes, n->p.data, bytes);
            where[i] = (rt_arg){RT_SPACE_CONST, 0, (int64_t)p->const_bytes};
            p->const_bytes += (bytes + 15) & ~(size_t)15;
            break;
        }
        default:
            if (ir_op_flags(n->op) & (IR_OPF_VIEW | IR_OPF_INPLACE)) root[i] = root[n->inputs[0]->id];
            break;
        }
        for (int k = 0; k < n->n_inputs; k++) {
            int32_t r = root[n->inputs[k]->id];
            if (last[r] < i) last[r] = i;
        }
    }
    for (int o = 0; o < g->n_outputs; o++) last[root[g->outputs[o].node->id]] = g->n_nodes;

    // Inputs that index an embedding table directly get their ids checked on entry.
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        int64_t rows;
        if (n->op == IR_OP_GATHER && n->inputs[1]->op == IR_OP_INPUT && ir_dim_is_const(n->inputs[0]->shape[0], &rows))
            p->inputs[where[n->inputs[1]->id].index].index_limit = rows;
    }

    // Arena tensors: every computed value that is its own storage root.
    int32_t n_live = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if ((ir_op_flags(n->op) & IR_OPF_LEAF) || root[i] != i) continue;
        live[n_live] = (cg_live){.first = i, .last = KILN_MAX(last[i], i), .size = node_bytes_at_max(p, n)};
        live_of[i] = n_live++;
    }
    p->arena_bytes = cg_plan_arena(live, n_live, alignment);
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (ir_op_flags(n->op) & IR_OPF_LEAF) continue;
        if (root[i] == i) where[i] = (rt_arg){RT_SPACE_ARENA, 0, (int64_t)live[live_of[i]].offset};
        else where[i] = where[root[i]];
    }

    for (int o = 0; o < g->n_outputs; o++) {
        fill_io(p, g->outputs[o].node, g->outputs[o].name, &p->outputs[o]);
        p->outputs[o].where = where[g->outputs[o].node->id];
    }
    p->n_outputs = g->n_outputs;

    if (head) {
        p->head.model_type = kiln_arena_strdup(p->arena, head->model_type);
        p->head.architecture = kiln_arena_strdup(p->arena, head->architecture);
        p->head.problem_type = kiln_arena_strdup(p->arena, head->problem_type);
        p->head.n_labels = head->n_labels;
        p->head.pooling = head->pooling;
        p->head.pooling_normalize = head->pooling_normalize;
        p->head.labels = kiln_arena_alloc(p->arena, sizeof(char *) * (size_t)(head->n_labels + 1));
        if (!p->head.labels) goto oom;
        for (int i = 0; i < head->n_labels; i++) p->head.labels[i] = kiln_arena_strdup(p->arena, head->labels[i]);
    }
    free(root);
    free(last);
    free(live);
    free(live_of);
    *prog_out = p;
    *where_out = where;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "compile: out of memory");
error:
    if (p) p->weights_release = NULL;   // the caller still owns the weights on failure
    rt_program_free(p);
    free(where);
    free(root);
    free(last);
    free(live);
    free(live_of);
    return st;
}
