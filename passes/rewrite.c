/* rewrite.c — what every pass needs to edit a graph in place: who reads each node, redirecting
 * uses, building a fused region from a set of nodes, and pass_commit, which drops dead nodes and
 * re-orders the rest topologically. Editing in place and committing once keeps each pass to its
 * pattern: it appends new nodes at the end and points readers at them; the commit puts them where
 * their operands allow (old nodes keep their order, so the schedule the model builder chose, and
 * with it the memory plan, only changes where a pass changed it).
 */
#include "passes/passes.h"

/* ---- users ---- */

kiln_status pass_users_build(const ir_graph *g, pass_users *u) {
    memset(u, 0, sizeof(*u));
    int32_t n = g->n_nodes;
    u->n = n;
    u->count = calloc((size_t)n + 1, sizeof(*u->count));
    u->start = calloc((size_t)n + 2, sizeof(*u->start));
    u->is_output = calloc((size_t)n + 1, sizeof(*u->is_output));
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)g->nodes[i]->n_inputs;
    u->list = calloc(total + 1, sizeof(*u->list));
    if (!u->count || !u->start || !u->is_output || !u->list) {
        pass_users_free(u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "passes: out of memory");
    }
    // count distinct readers, then fill
    for (int i = 0; i < n; i++) {
        const ir_node *x = g->nodes[i];
        for (int k = 0; k < x->n_inputs; k++) {
            bool dup = false;
            for (int j = 0; j < k && !dup; j++) dup = x->inputs[j] == x->inputs[k];
            if (!dup) u->count[x->inputs[k]->id]++;
        }
    }
    for (int i = 0; i < n; i++) u->start[i + 1] = u->start[i] + u->count[i];
    int32_t *fill = calloc((size_t)n + 1, sizeof(*fill));
    if (!fill) {
        pass_users_free(u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "passes: out of memory");
    }
    for (int i = 0; i < n; i++) {
        ir_node *x = g->nodes[i];
        for (int k = 0; k < x->n_inputs; k++) {
            bool dup = false;
            for (int j = 0; j < k && !dup; j++) dup = x->inputs[j] == x->inputs[k];
            if (dup) continue;
            int32_t t = x->inputs[k]->id;
            u->list[u->start[t] + fill[t]++] = x;
        }
    }
    free(fill);
    for (int o = 0; o < g->n_outputs; o++) u->is_output[g->outputs[o].node->id] = true;
    return KILN_OK;
}

void pass_users_free(pass_users *u) {
    free(u->count);
    free(u->start);
    free(u->list);
    free(u->is_output);
    memset(u, 0, sizeof(*u));
}

ir_node *pass_only_user(const pass_users *u, const ir_node *n) {
    if (n->id < 0 || n->id >= u->n || u->is_output[n->id] || u->count[n->id] != 1) return NULL;
    return u->list[u->start[n->id]];
}

void pass_replace_uses(ir_graph *g, ir_node *old, ir_node *repl) {
    if (old == repl) return;
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *x = g->nodes[i];
        if (x == repl) continue;   // the replacement may read the old value (a region's output)
        for (int k = 0; k < x->n_inputs; k++)
            if (x->inputs[k] == old) x->inputs[k] = repl;
    }
    for (int o = 0; o < g->n_outputs; o++) {
        if (g->outputs[o].node != old) continue;
        g->outputs[o].node = repl;
        repl->flags |= IR_NODE_OUTPUT;
    }
    bool still = false;
    for (int o = 0; o < g->n_outputs; o++) still |= g->outputs[o].node == old;
    if (!still) old->flags &= ~(uint32_t)IR_NODE_OUTPUT;
}

/* ---- small facts ---- */

bool pass_scalar_value(const ir_node *n, double *v) {
    if (n->op != IR_OP_CONST || !n->p.data) return false;
    for (int d = 0; d < n->rank; d++) {
        int64_t len;
        if (!ir_dim_is_const(n->shape[d], &len) || len != 1) return false;
    }
    switch (n->dtype) {
    case KILN_F32: *v = ((const float *)n->p.data)[0]; return true;
    case KILN_I32: *v = ((const int32_t *)n->p.data)[0]; return true;
    case KILN_I64: *v = (double)((const int64_t *)n->p.data)[0]; return true;
    case KILN_BOOL: *v = ((const uint8_t *)n->p.data)[0]; return true;
    default: return false;
    }
}

bool pass_same_shape(const ir_node *a, const ir_node *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!ir_dim_eq(a->shape[d], b->shape[d])) return false;
    return true;
}

/* ---- commit: liveness, then a topological order by priority ---- */

typedef struct heap_item {
    double key;
    int32_t id;
} heap_item;

typedef struct heap {
    heap_item *items;
    int32_t n;
} heap;

static bool item_less(heap_item a, heap_item b) { return a.key < b.key || (a.key == b.key && a.id < b.id); }

static void heap_push(heap *h, heap_item it) {
    int32_t i = h->n++;
    h->items[i] = it;
    while (i > 0 && item_less(h->items[i], h->items[(i - 1) / 2])) {
        heap_item t = h->items[i];
        h->items[i] = h->items[(i - 1) / 2];
        h->items[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static heap_item heap_pop(heap *h) {
    heap_item top = h->items[0];
    h->items[0] = h->items[--h->n];
    for (int32_t i = 0;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && item_less(h->items[l], h->items[m])) m = l;
        if (r < h->n && item_less(h->items[r], h->items[m])) m = r;
        if (m == i) break;
        heap_item t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
    return top;
}

static bool is_leaf(const ir_node *n) { return (ir_op_flags(n->op) & IR_OPF_LEAF) != 0; }

// Does `n` write a state tensor (a SCATTER whose destination chain starts at a STATE)?
static bool writes_state(const ir_node *n) {
    while (n && (ir_op_flags(n->op) & IR_OPF_INPLACE)) n = n->inputs[0];
    return n && n->op == IR_OP_STATE;
}

typedef struct committer {
    ir_graph *g;
    ir_node **order;
    int32_t n_order;
    bool *emitted;
} committer;

static void emit_leaf(committer *c, ir_node *n) {
    if (c->emitted[n->id]) return;
    for (int k = 0; k < n->n_inputs; k++) emit_leaf(c, n->inputs[k]);   // PACK_WEIGHTS' weights
    c->emitted[n->id] = true;
    c->order[c->n_order++] = n;
}

kiln_status pass_commit(ir_graph *g, int32_t n_before) {
    int32_t n = g->n_nodes;
    bool *live = calloc((size_t)n + 1, 1), *emitted = calloc((size_t)n + 1, 1);
    ir_node **stack = calloc((size_t)n + 1, sizeof(*stack));
    ir_node **order = kiln_arena_alloc(g->arena, ((size_t)n + 1) * sizeof(*order));
    double *key = calloc((size_t)n + 1, sizeof(*key));
    int32_t *pending = calloc((size_t)n + 1, sizeof(*pending));
    heap h = {calloc((size_t)n + 1, sizeof(heap_item)), 0};
    pass_users u = {0};
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    if (!live || !emitted || !stack || !order || !key || !pending || !h.items) goto oom;
    for (int i = 0; i < n; i++) KILN_ASSERT(g->nodes[i]->id == i);

    // Liveness: from the outputs, every INPUT (the program's interface) and state writes.
    int32_t sp = 0;
    for (int o = 0; o < g->n_outputs; o++) stack[sp++] = g->outputs[o].node;
    for (int i = 0; i < n; i++)
        if (g->nodes[i]->op == IR_OP_INPUT || (g->nodes[i]->op == IR_OP_SCATTER && writes_state(g->nodes[i])))
            stack[sp++] = g->nodes[i];
    while (sp > 0) {
        ir_node *x = stack[--sp];
        if (live[x->id]) continue;
        live[x->id] = true;
        for (int k = 0; k < x->n_inputs; k++)
            if (!live[x->inputs[k]->id]) stack[sp++] = x->inputs[k];
    }

    // Priorities: old nodes keep their place; a new node comes right after its latest operand.
    for (int i = 0; i < n; i++) {
        ir_node *x = g->nodes[i];
        if (i < n_before) {
            key[i] = i;
            continue;
        }
        double k = -1;
        for (int j = 0; j < x->n_inputs; j++)
            if (!is_leaf(x->inputs[j]) && key[x->inputs[j]->id] > k) k = key[x->inputs[j]->id];
        key[i] = k + 1e-6 * (double)(i - n_before + 1);
    }

    if ((st = pass_users_build(g, &u))) goto error;
    committer c = {g, order, 0, emitted};
    for (int i = 0; i < n; i++)   // inputs first, in their order: the program's interface
        if (live[i] && g->nodes[i]->op == IR_OP_INPUT) emit_leaf(&c, g->nodes[i]);
    for (int i = 0; i < n; i++) {
        ir_node *x = g->nodes[i];
        if (!live[i] || is_leaf(x)) continue;
        for (int k = 0; k < x->n_inputs; k++) {
            bool dup = false;
            for (int j = 0; j < k && !dup; j++) dup = x->inputs[j] == x->inputs[k];
            if (!dup && !is_leaf(x->inputs[k])) pending[i]++;
        }
        if (pending[i] == 0) heap_push(&h, (heap_item){key[i], i});
    }
    while (h.n > 0) {
        ir_node *x = g->nodes[heap_pop(&h).id];
        for (int k = 0; k < x->n_inputs; k++)
            if (is_leaf(x->inputs[k])) emit_leaf(&c, x->inputs[k]);
        emitted[x->id] = true;
        order[c.n_order++] = x;
        for (int32_t j = u.start[x->id]; j < u.start[x->id + 1]; j++) {
            ir_node *y = u.list[j];
            if (live[y->id] && !is_leaf(y) && --pending[y->id] == 0) heap_push(&h, (heap_item){key[y->id], y->id});
        }
    }
    for (int i = 0; i < n; i++)   // live leaves nobody computed from (an output that is a leaf)
        if (live[i] && is_leaf(g->nodes[i])) emit_leaf(&c, g->nodes[i]);
    int32_t n_live = 0;
    for (int i = 0; i < n; i++) n_live += live[i];
    if (c.n_order != n_live) {
        st = kiln_error(KILN_ERR_INTERNAL, "passes: the graph has a cycle (%d of %d live nodes ordered)", c.n_order, n_live);
        goto error;
    }
    for (int i = 0; i < c.n_order; i++) order[i]->id = i;
    g->nodes = order;
    g->n_nodes = g->cap_nodes = c.n_order;
    st = KILN_OK;
    goto done;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "passes: out of memory");
error:
done:
    pass_users_free(&u);
    free(live);
    free(emitted);
    free(stack);
    free(key);
    free(pending);
    free(h.items);
    return st;
}

/* ---- regions ---- */

static int by_id(const void *a, const void *b) {
    const ir_node *x = *(ir_node *const *)a, *y = *(ir_node *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

// Scalar constants go into a region's body (an epilogue's scale); bigger ones stay inputs, so a
// kernel reads them like any other operand.
static bool small_const(const ir_node *n) {
    if (n->op != IR_OP_CONST) return false;
    ir_dim numel;
    int64_t count;
    return ir_node_numel(n, &numel) && ir_dim_is_const(numel, &count) && count == 1;
}

ir_node *pass_make_region(ir_graph *g, ir_node *const *nodes_in, int n, ir_node *out, ir_fused_kind kind,
                          ir_node *const *fixed, int n_fixed) {
    if (g->status) return NULL;
    ir_node **nodes = malloc((size_t)n * sizeof(*nodes));
    ir_node **ext = malloc(((size_t)n * IR_MAX_INPUTS + (size_t)n_fixed + 1) * sizeof(*ext));
    ir_node **map_from = malloc(((size_t)n * (IR_MAX_INPUTS + 1) + (size_t)n_fixed + 1) * sizeof(*map_from));
    ir_node **map_to = malloc(((size_t)n * (IR_MAX_INPUTS + 1) + (size_t)n_fixed + 1) * sizeof(*map_to));
    ir_node *result = NULL;
    if (!nodes || !ext || !map_from || !map_to) {
        g->status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "passes: out of memory");
        goto done;
    }
    memcpy(nodes, nodes_in, (size_t)n * sizeof(*nodes));
    qsort(nodes, (size_t)n, sizeof(*nodes), by_id);
    int n_ext = 0, n_map = 0;
    for (int i = 0; i < n_fixed; i++) ext[n_ext++] = fixed[i];
    ir_graph *body = ir_graph_create_body(g);
    if (!body) {
        g->status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "passes: out of memory");
        goto done;
    }
    // Operands from outside the region, in order of first use (after the fixed ones).
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < nodes[i]->n_inputs; k++) {
            ir_node *x = nodes[i]->inputs[k];
            bool inside = false, known = small_const(x);
            for (int j = 0; j < n && !inside; j++) inside = nodes[j] == x;
            for (int j = 0; j < n_ext && !known; j++) known = ext[j] == x;
            if (!inside && !known) {
                if (n_ext == IR_MAX_INPUTS) {
                    g->status = kiln_error(KILN_ERR_UNSUPPORTED, "passes: a region needs more than %d inputs", IR_MAX_INPUTS);
                    goto done;
                }
                ext[n_ext++] = x;
            }
        }
    }
    for (int k = 0; k < n_ext; k++) {
        char name[16];
        snprintf(name, sizeof(name), "in%d", k);
        ir_node *bi = ir_input(body, name, ext[k]->dtype, ext[k]->rank, ext[k]->shape);
        if (!bi) {
            g->status = body->status;
            goto done;
        }
        map_from[n_map] = ext[k];
        map_to[n_map++] = bi;
    }
    for (int i = 0; i < n; i++) {
        ir_node proto = *nodes[i];
        proto.flags &= ~(uint32_t)IR_NODE_OUTPUT;
        for (int k = 0; k < proto.n_inputs; k++) {
            ir_node *x = proto.inputs[k], *to = NULL;
            for (int j = 0; j < n_map && !to; j++)
                if (map_from[j] == x) to = map_to[j];
            if (!to && small_const(x)) {   // copied into the body
                ir_node c = *x;
                c.flags = 0;
                if (!(to = ir_node_append(body, &c))) {
                    g->status = body->status;
                    goto done;
                }
                map_from[n_map] = x;
                map_to[n_map++] = to;
            }
            KILN_ASSERT(to);
            proto.inputs[k] = to;
        }
        ir_node *copy = ir_node_append(body, &proto);
        if (!copy) {
            g->status = body->status;
            goto done;
        }
        map_from[n_map] = nodes[i];
        map_to[n_map++] = copy;
    }
    ir_node *body_out = NULL;
    for (int j = 0; j < n_map && !body_out; j++)
        if (map_from[j] == out) body_out = map_to[j];
    KILN_ASSERT(body_out);
    if (ir_graph_add_output(body, "out", body_out)) {
        g->status = body->status;
        goto done;
    }
    const char *saved = g->cur_path;
    g->cur_path = out->path;
    result = ir_fused(g, body, n_ext, ext);
    g->cur_path = saved;
    if (!result) goto done;
    result->p.fused_kind = kind;
    pass_replace_uses(g, out, result);
done:
    free(nodes);
    free(ext);
    free(map_from);
    free(map_to);
    return result;
}
