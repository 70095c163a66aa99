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
    if (!ws->lookup) return KILN_OK;   // a plan-only build: sizes without data
    kiln_status st = ws->lookup(ws->ctx, n, &data, &stored, &bytes);
    if (st) return st;
    if (stored == n->dtype) {
        if (bytes != w->size_bytes)
            return kiln_error(KILN_ERR_FORMAT, "weight '%s': %zu bytes stored, %zu expected", n->name, bytes, w->size_bytes);
        // Block-quantized kernels copy blocks out one at a time (common/quant.h): any address will do.
        if ((uintptr_t)data % 64 == 0 || kiln_dtype_get_info(n->dtype)->is_quantized) {
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

// A PACK_WEIGHTS node: its operands' data (each as the node's dtype) joined along p.axis into a
// copy the program owns (the Q, K and V weights as one).
static kiln_status bind_pack(kiln_program *p, const cg_weight_source *ws, const ir_node *n, rt_weight *w) {
    char name[64];
    snprintf(name, sizeof(name), "pack_weights.%d", n->id);
    w->name = kiln_arena_strdup(p->arena, n->path ? n->path : name);
    w->dtype = n->dtype;
    w->rank = n->rank;
    int64_t count = 1;
    for (int d = 0; d < n->rank; d++) {
        ir_dim_is_const(n->shape[d], &w->shape[d]);
        count *= w->shape[d];
    }
    w->size_bytes = kiln_dtype_bytes(n->dtype, count);
    if (!ws->lookup) return KILN_OK;
    const kiln_dtype_info *info = kiln_dtype_get_info(n->dtype);
    if (info->is_quantized && n->p.axis != 0)
        return kiln_error(KILN_ERR_UNSUPPORTED, "pack_weights at %s: quantized weights join along axis 0 only", n->path ? n->path : "?");
    w->owned = aligned_alloc(64, (w->size_bytes + 63) / 64 * 64 + 64);
    if (!w->owned) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "pack_weights: out of memory");
    w->data = w->owned;
    // Rows of the output: `outer` blocks, each the operands' slices along the axis in turn.
    int64_t outer = 1;
    for (int d = 0; d < n->p.axis; d++) outer *= w->shape[d];
    size_t out_row = outer ? w->size_bytes / (size_t)outer : 0, at = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const ir_node *x = n->inputs[k];
        rt_weight tmp;
        memset(&tmp, 0, sizeof(tmp));
        kiln_status st = KILN_OK;
        const void *data = NULL;
        if (x->op == IR_OP_WEIGHT) {
            st = bind_weight(p, ws, x, &tmp);
            data = tmp.data;
        } else if (x->op == IR_OP_CONST) {
            data = x->p.data;
            ir_dim numel;
            int64_t c = 0;
            ir_node_numel(x, &numel);
            ir_dim_is_const(numel, &c);
            tmp.size_bytes = kiln_dtype_bytes(x->dtype, c);
        } else {
            st = kiln_error(KILN_ERR_UNSUPPORTED, "pack_weights at %s: operand %d is a %s", n->path ? n->path : "?", k, ir_op_name(x->op));
        }
        if (st == KILN_OK && !data) st = kiln_error(KILN_ERR_FORMAT, "pack_weights at %s: operand %d has no data", n->path ? n->path : "?", k);
        if (st) {
            free(tmp.owned);
            return st;
        }
        size_t row = outer ? tmp.size_bytes / (size_t)outer : 0;
        for (int64_t o = 0; o < outer; o++) memcpy((char *)w->owned + (size_t)o * out_row + at, (const char *)data + (size_t)o * row, row);
        at += row;
        if (x->op == IR_OP_WEIGHT && !tmp.owned && ws->done) ws->done(ws->ctx, data);   // joined: the source's copy can go
        free(tmp.owned);
    }
    return KILN_OK;
}

static bool same_shape(const ir_node *a, const ir_node *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!ir_dim_eq(a->shape[d], b->shape[d])) return false;
    return true;
}

bool cg_alias_elementwise(const ir_node *n, int k) {
    const ir_node *x = n->inputs[k];
    return (ir_op_flags(n->op) & IR_OPF_ELEMENTWISE) && same_shape(n, x) &&
           kiln_dtype_get_info(n->dtype)->block_bytes == kiln_dtype_get_info(x->dtype)->block_bytes &&
           !kiln_dtype_get_info(n->dtype)->is_quantized;
}

static bool is_arena(const ir_node *n) { return !(ir_op_flags(n->op) & IR_OPF_LEAF); }

// Bytes of node `x` as an expression (its size at the maxima when it has no plain form).
static ir_dim bytes_dim(const kiln_program *p, const ir_node *x) {
    ir_dim numel, bytes;
    const kiln_dtype_info *info = kiln_dtype_get_info(x->dtype);
    if (info->block_size == 1 && ir_node_numel(x, &numel) && ir_dim_mul(numel, ir_dim_const(info->block_bytes), &bytes)) return bytes;
    return ir_dim_const((int64_t)node_bytes_at_max(p, x));
}

// One plan for every length: offsets as expressions of the symbols (cg_plan_symbolic), checked
// at several points; live[].offset gets each offset at the maxima. When scaling costs more than
// 5 % (and 256 kB) at the maxima (tensors of different monomials that cannot share a region, as [seq x seq]
// scores beside [seq x hidden] activations do in an unfused graph), the constant plan is kept.
static kiln_status plan_symbolic(const ir_graph *g, kiln_program *p, cg_live *live, int32_t n_live) {
    cg_live *flat = malloc(((size_t)n_live + 1) * sizeof(*flat));
    if (!flat) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "compile: out of memory");
    memcpy(flat, live, (size_t)n_live * sizeof(*flat));
    size_t flat_bytes = cg_plan_arena(flat, n_live, p->arena_alignment);
    cg_sym_item *t = calloc((size_t)n_live + 1, sizeof(*t));
    p->arena_offsets = kiln_arena_alloc(p->arena, ((size_t)n_live + 1) * sizeof(rt_expr));
    if (!t || !p->arena_offsets) {
        free(t);
        free(flat);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "compile: out of memory");
    }
    for (int32_t k = 0; k < n_live; k++)
        t[k] = (cg_sym_item){.first = live[k].first, .last = live[k].last, .size = bytes_dim(p, g->nodes[live[k].first]), .size_max = live[k].size};
    ir_dim arena;
    size_t arena_max = 0;
    kiln_status st = cg_plan_symbolic(t, n_live, p->arena_alignment, p->symbol_max, p->n_symbols, &arena, &arena_max);
    if (!st) st = cg_plan_check_symbolic(t, n_live, arena, p->arena_alignment, p->symbol_max, p->n_symbols);
    if (!st && (double)arena_max > 1.05 * (double)flat_bytes && arena_max - flat_bytes > 256 * 1024) {
        memcpy(live, flat, (size_t)n_live * sizeof(*flat));
        p->arena_bytes = flat_bytes;
    } else if (!st) {
        for (int32_t k = 0; k < n_live; k++) {
            live[k].offset = t[k].offset_max;
            p->arena_offsets[k] = cg_expr(t[k].offset);
        }
        p->n_arena_offsets = n_live;
        p->arena_bytes_expr = cg_expr(arena);
        p->arena_bytes = arena_max;
    }
    free(t);
    free(flat);
    return st;
}

// The arena plan: storage roots (views share their operand's; in-place ops the input that dies
// there), live ranges over the schedule (node order), offsets, the buffer table for profiles.
static kiln_status plan_arena(const ir_graph *g, kiln_program *p, const cg_build_options *o, rt_arg *where) {
    int32_t n = g->n_nodes;
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    int32_t *root = malloc(((size_t)n + 1) * sizeof(*root)), *ext = malloc(((size_t)n + 1) * sizeof(*ext));
    int32_t *buf_last = malloc(((size_t)n + 1) * sizeof(*buf_last)), *live_of = malloc(((size_t)n + 1) * sizeof(*live_of));
    cg_live *live = calloc((size_t)n + 1, sizeof(*live));
    if (!root || !ext || !buf_last || !live_of || !live) goto done;

    // ext[i]: the last step that reads node i's storage through i itself or a view of it.
    for (int i = 0; i < n; i++) ext[i] = i;
    for (int oi = 0; oi < g->n_outputs; oi++) ext[g->outputs[oi].node->id] = n;
    for (int i = n - 1; i >= 0; i--) {
        const ir_node *x = g->nodes[i];
        bool view = (ir_op_flags(x->op) & (IR_OPF_VIEW | IR_OPF_INPLACE)) != 0;
        for (int k = 0; k < x->n_inputs; k++) {
            int32_t j = x->inputs[k]->id;
            int32_t until = view && k == 0 ? ext[i] : i;
            if (ext[j] < until) ext[j] = until;
        }
    }
    // Roots, in schedule order; an in-place op takes over an operand whose storage dies here.
    for (int i = 0; i < n; i++) {
        const ir_node *x = g->nodes[i];
        root[i] = i;
        buf_last[i] = ext[i];
        if (!is_arena(x)) continue;
        if (ir_op_flags(x->op) & (IR_OPF_VIEW | IR_OPF_INPLACE)) {
            int32_t r = root[x->inputs[0]->id];
            root[i] = r;
            if (buf_last[r] < ext[i]) buf_last[r] = ext[i];
            continue;
        }
        if (o->no_alias) continue;
        for (int k = 0; k < x->n_inputs; k++) {
            int32_t r = root[x->inputs[k]->id];
            if (!is_arena(g->nodes[r]) || buf_last[r] != i) continue;
            if (!(o->can_alias ? o->can_alias(x, k) : cg_alias_elementwise(x, k))) continue;
            root[i] = r;
            buf_last[r] = ext[i];
            break;
        }
    }
    int32_t n_live = 0;
    size_t naive = 0;
    for (int i = 0; i < n; i++) {
        const ir_node *x = g->nodes[i];
        if (!is_arena(x) || (ir_op_flags(x->op) & (IR_OPF_VIEW | IR_OPF_INPLACE))) continue;
        naive += (node_bytes_at_max(p, x) + p->arena_alignment - 1) / p->arena_alignment * p->arena_alignment;
        if (root[i] != i) continue;
        live[n_live] = (cg_live){.first = i, .last = KILN_MAX(buf_last[i], i), .size = node_bytes_at_max(p, x)};
        live_of[i] = n_live++;
    }
    if (o->symbolic) {
        if ((st = plan_symbolic(g, p, live, n_live))) goto done;
    } else {
        p->arena_bytes = cg_plan_arena(live, n_live, p->arena_alignment);
    }
    p->arena_lower_bound = cg_plan_lower_bound(live, n_live);
    p->arena_naive_bytes = naive;
    if ((st = cg_plan_check(live, n_live, p->arena_bytes, p->arena_alignment))) goto done;
    p->buffers = kiln_arena_alloc(p->arena, ((size_t)n_live + 1) * sizeof(rt_buffer));
    if (!p->buffers) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "compile: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const ir_node *x = g->nodes[i];
        if (!is_arena(x)) continue;
        int32_t r = root[i];
        if (!is_arena(g->nodes[r])) {   // a view or in-place update of a leaf (state)
            where[i] = where[r];
            continue;
        }
        const cg_live *l = &live[live_of[r]];
        where[i] = (rt_arg){RT_SPACE_ARENA, p->n_arena_offsets ? live_of[r] + 1 : 0, (int64_t)l->offset};
        if (r != i) continue;
        rt_buffer *b = &p->buffers[p->n_buffers++];
        char op[48];
        if (x->op == IR_OP_FUSED && x->p.fused_kind) snprintf(op, sizeof(op), "fused.%s", ir_fused_kind_name(x->p.fused_kind));
        else snprintf(op, sizeof(op), "%s", ir_op_name(x->op));
        b->op = kiln_arena_strdup(p->arena, op);
        b->path = kiln_arena_strdup(p->arena, x->path);
        b->first = l->first;
        b->last = l->last;
        b->offset = (int64_t)l->offset;
        b->size_max = l->size;
        ir_dim numel, bytes;
        int bb = kiln_dtype_get_info(x->dtype)->block_bytes, bs = kiln_dtype_get_info(x->dtype)->block_size;
        if (bs == 1 && ir_node_numel(x, &numel) && ir_dim_mul(numel, ir_dim_const(bb), &bytes)) b->size = cg_expr(bytes);
        else b->size = rt_expr_const((int64_t)l->size);
    }
    st = KILN_OK;
done:
    if (st == KILN_ERR_OUT_OF_MEMORY && !*kiln_last_error()) kiln_error(st, "compile: out of memory");
    free(root);
    free(ext);
    free(buf_last);
    free(live_of);
    free(live);
    return st;
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
    cg_build_options o = {.alignment = alignment};
    return cg_program_build_ex(g, ws, head, &o, prog_out, where_out);
}

kiln_status cg_program_build_ex(const ir_graph *g, const cg_weight_source *ws, const rt_head *head, const cg_build_options *opts,
                                kiln_program **prog_out, rt_arg **where_out) {
    *prog_out = NULL;
    *where_out = NULL;
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    kiln_program *p = calloc(1, sizeof(*p));
    rt_arg *where = calloc((size_t)g->n_nodes + 1, sizeof(*where));
    bool *needed = calloc((size_t)g->n_nodes + 1, sizeof(*needed));
    if (!p || !where || !needed || !(p->arena = kiln_arena_create(64 * 1024))) goto oom;
    p->format_version = RT_PROGRAM_FORMAT_VERSION;
    p->arena_alignment = opts->alignment ? opts->alignment : 1;
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
        if (n->op == IR_OP_WEIGHT || n->op == IR_OP_PACK_WEIGHTS) n_w++;
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
    // A weight only packed into a PACK_WEIGHTS (Q, K, V) is not bound on its own.
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->op != IR_OP_PACK_WEIGHTS) needed[g->nodes[i]->inputs[k]->id] = true;
    for (int o = 0; o < g->n_outputs; o++) needed[g->outputs[o].node->id] = true;

    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        switch (n->op) {
        case IR_OP_PACK_WEIGHTS:
            if (!ws) {
                st = kiln_error(KILN_ERR_INVALID_ARG, "pack_weights: no weight source");
                goto error;
            }
            if ((st = bind_pack(p, ws, n, &p->weights[p->n_weights]))) goto error;
            where[i] = (rt_arg){RT_SPACE_WEIGHT, p->n_weights++, 0};
            break;
        case IR_OP_WEIGHT:
            if (!needed[i]) break;
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
            break;
        }
    }

    // Inputs that index an embedding table directly get their ids checked on entry.
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        int64_t rows;
        if (n->op == IR_OP_GATHER && n->inputs[1]->op == IR_OP_INPUT && ir_dim_is_const(n->inputs[0]->shape[0], &rows))
            p->inputs[where[n->inputs[1]->id].index].index_limit = rows;
    }

    if ((st = plan_arena(g, p, opts, where))) goto error;

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
        rt_generation *gen = &p->head.gen;
        *gen = head->gen;
        gen->chat_template = kiln_arena_strdup(p->arena, head->gen.chat_template);
        gen->bos_token = kiln_arena_strdup(p->arena, head->gen.bos_token);
        gen->eos_token = kiln_arena_strdup(p->arena, head->gen.eos_token);
        int64_t *eos = kiln_arena_alloc(p->arena, sizeof(int64_t) * (size_t)(head->gen.n_eos + 1));
        if (!eos) goto oom;
        if (head->gen.n_eos) memcpy(eos, head->gen.eos_token_ids, sizeof(int64_t) * (size_t)head->gen.n_eos);
        gen->eos_token_ids = eos;
    }
    free(needed);
    *prog_out = p;
    *where_out = where;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "compile: out of memory");
error:
    if (p) p->weights_release = NULL;   // the caller still owns the weights on failure
    rt_program_free(p);
    free(where);
    free(needed);
    return st;
}
