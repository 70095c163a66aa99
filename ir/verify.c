/* verify.c — the IR verifier, run after the parser and after every pass in debug builds.
 * Structure is checked here (ops, arities, inputs that are earlier nodes of the same graph, names,
 * outputs, canonical dims, fused bodies); dtypes and shapes are re-derived by calling the very
 * constructor that builds each op (graph.c) on a scratch graph with the node's inputs and
 * parameters, so the builder and the verifier share one shape rule per op and cannot drift.
 */
#include "ir/ir.h"

#define VERIFY_MAX_DEPTH 16                  // fused bodies nested deeper than this are refused
#define VERIFY_DIM_LIMIT ((uint64_t)1 << 58)  // bound on |coefficients| of a shape's element count,
                                             // so dim arithmetic (concat sums 16 dims) cannot overflow
#define VERIFY_SCRATCH_REUSE 4096            // builder calls before the scratch arena is renewed

typedef struct verifier {
    ir_graph *scratch;      // the builder re-runs each node here
    int n_built;
    const ir_node *bad;     // the node at fault, for ir_verify_locate
    char where[512];        // "node %20 (fused) @p: body: " while inside a body
} verifier;

/* ---- a pointer → index map, so an input is looked up without dereferencing it ---- */

typedef struct node_map {
    const ir_node **keys;
    int32_t *index;
    size_t mask;
} node_map;

static size_t map_slot(const node_map *m, const ir_node *key) {
    size_t h = (size_t)((uintptr_t)key >> 4) * (size_t)0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 29)) & m->mask;
}

static bool map_init(node_map *m, int32_t n) {
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    m->keys = calloc(cap, sizeof(*m->keys));
    m->index = calloc(cap, sizeof(*m->index));
    m->mask = cap - 1;
    return m->keys && m->index;
}

static void map_free(node_map *m) {
    free(m->keys);
    free(m->index);
}

// false when `key` is already present
static bool map_put(node_map *m, const ir_node *key, int32_t index) {
    size_t s = map_slot(m, key);
    for (; m->keys[s]; s = (s + 1) & m->mask)
        if (m->keys[s] == key) return false;
    m->keys[s] = key;
    m->index[s] = index;
    return true;
}

static int32_t map_get(const node_map *m, const ir_node *key) {
    for (size_t s = map_slot(m, key); m->keys[s]; s = (s + 1) & m->mask)
        if (m->keys[s] == key) return m->index[s];
    return -1;
}

/* ---- messages ---- */

static kiln_status node_fail(verifier *v, const ir_node *n, int i, const char *fmt, ...) KILN_PRINTF(4, 5);
static kiln_status node_fail(verifier *v, const ir_node *n, int i, const char *fmt, ...) {
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    v->bad = n;
    return kiln_error(KILN_ERR_FORMAT, "ir: %snode %%%d (%s)%s%s: %s", v->where, i, n ? ir_op_name(n->op) : "null",
                      n && n->path ? " @" : "", n && n->path ? n->path : "", msg);
}

static kiln_status graph_fail(verifier *v, const ir_node *bad, const char *fmt, ...) KILN_PRINTF(3, 4);
static kiln_status graph_fail(verifier *v, const ir_node *bad, const char *fmt, ...) {
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    v->bad = bad;
    return kiln_error(KILN_ERR_FORMAT, "ir: %s%s", v->where, msg);
}

static const char *dtype_str(kiln_dtype t) {
    const kiln_dtype_info *info = kiln_dtype_get_info(t);
    return info ? info->name : "?";
}

static void shape_str(const ir_graph *g, const ir_node *n, char *buf, size_t size) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n->rank && k < size; i++) {
        if (i) k += (size_t)snprintf(buf + k, size - k, ", ");
        if (k < size) k += (size_t)ir_dim_print(n->shape[i], g, buf + k, size - k);
    }
    if (k < size) snprintf(buf + k, size - k, "]");
}

/* ---- dims ---- */

static int term_cmp(const ir_term *a, const ir_term *b) {
    if (a->n_factors != b->n_factors) return a->n_factors < b->n_factors ? -1 : 1;
    for (int i = 0; i < a->n_factors; i++)
        if (a->factors[i] != b->factors[i]) return a->factors[i] < b->factors[i] ? -1 : 1;
    return 0;
}

// NULL when `d` is canonical, names only g's symbols and is not a negative constant; else why.
// *mag_out gets the sum of |coefficients| (saturating), which bounds what arithmetic on d can make.
static const char *dim_problem(const ir_graph *g, ir_dim d, uint64_t *mag_out) {
    if (d.n_terms > IR_DIM_MAX_TERMS) return "has too many terms";
    uint64_t mag = 0;
    for (int t = 0; t < d.n_terms; t++) {
        const ir_term *term = &d.terms[t];
        if (term->n_factors > IR_DIM_MAX_FACTORS) return "has a term with too many factors";
        if (term->coeff == 0) return "is not canonical (a zero term)";
        for (int f = 0; f < term->n_factors; f++) {
            if (term->factors[f] >= g->n_symbols) return "names a symbol the graph does not have";
            if (f && term->factors[f] < term->factors[f - 1]) return "is not canonical (factors out of order)";
        }
        if (t && term_cmp(&d.terms[t - 1], term) >= 0) return "is not canonical (terms out of order)";
        uint64_t c = term->coeff < 0 ? (uint64_t)0 - (uint64_t)term->coeff : (uint64_t)term->coeff;
        mag = mag + c < mag ? UINT64_MAX : mag + c;
    }
    int64_t v;
    if (ir_dim_is_const(d, &v) && v < 0) return "is negative";
    *mag_out = mag;
    return NULL;
}

static kiln_status check_dims(verifier *v, const ir_graph *g, const ir_node *n, int i) {
    uint64_t numel_mag = 1, mag;
    for (int a = 0; a < n->rank; a++) {
        const char *why = dim_problem(g, n->shape[a], &mag);
        if (why) return node_fail(v, n, i, "dim %d %s", a, why);
        if (mag > 1) numel_mag = numel_mag > VERIFY_DIM_LIMIT / mag ? VERIFY_DIM_LIMIT + 1 : numel_mag * mag;
    }
    if (numel_mag > VERIFY_DIM_LIMIT) return node_fail(v, n, i, "shape too large: its element count could overflow");
    if (n->op == IR_OP_SLICE || n->op == IR_OP_IOTA) {
        const ir_dim *ds[2] = {&n->p.start, &n->p.end};
        for (int k = 0; k < (n->op == IR_OP_SLICE ? 2 : 1); k++) {
            const char *why = dim_problem(g, *ds[k], &mag);
            if (!why && mag > VERIFY_DIM_LIMIT) why = "is too large";
            if (why) return node_fail(v, n, i, "%s %s", k ? "end" : "start", why);
        }
    }
    return KILN_OK;
}

/* ---- re-deriving dtype and shape with the builder ---- */

static bool op_has_axis(ir_op op) {
    switch (op) {
    case IR_OP_SOFTMAX: case IR_OP_LAYER_NORM: case IR_OP_RMS_NORM: case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX: case IR_OP_CUMSUM: case IR_OP_CONCAT:
    case IR_OP_SLICE: case IR_OP_IOTA: case IR_OP_PACK_WEIGHTS:
        return true;
    default:
        return false;
    }
}

// Runs op's constructor on the scratch graph with n's inputs and parameters. NULL on a builder
// error (message in kiln_last_error) or when the scratch graph cannot be made.
static ir_node *rebuild(verifier *v, const ir_graph *g, const ir_node *n, kiln_status *st) {
    if (v->scratch && ++v->n_built % VERIFY_SCRATCH_REUSE == 0) {
        ir_graph_free(v->scratch);   // the arena only grows: renew it now and then
        v->scratch = NULL;
    }
    if (!v->scratch && !(v->scratch = ir_graph_create())) {
        *st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "ir: verifier out of memory");
        return NULL;
    }
    ir_graph *s = v->scratch;
    s->status = KILN_OK;
    s->n_nodes = 0;
    s->n_symbols = g->n_symbols;   // for the builder's messages
    memcpy(s->symbols, g->symbols, sizeof(s->symbols));
    ir_node *const *in = n->inputs;
    const ir_params *p = &n->p;
    *st = KILN_ERR_FORMAT;
    switch (n->op) {
    case IR_OP_CAST: return ir_cast(s, in[0], n->dtype);
    case IR_OP_WHERE: return ir_where(s, in[0], in[1], in[2]);
    case IR_OP_SOFTMAX: return ir_softmax(s, in[0], p->axis);
    case IR_OP_LAYER_NORM: return ir_layer_norm(s, in[0], in[1], in[2], p->eps);
    case IR_OP_RMS_NORM: return ir_rms_norm(s, in[0], in[1], p->eps);
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX:
        return ir_reduce(s, n->op, in[0], p->axis, p->keepdim);
    case IR_OP_CUMSUM: return ir_cumsum(s, in[0], p->axis);
    case IR_OP_MATMUL: return ir_matmul(s, in[0], in[1], p->trans_a, p->trans_b);
    case IR_OP_RESHAPE: return ir_reshape(s, in[0], n->rank, n->shape);
    case IR_OP_PERMUTE: {
        int perm[IR_MAX_RANK];
        for (int a = 0; a < IR_MAX_RANK; a++) perm[a] = p->perm[a];
        return ir_permute(s, in[0], perm);
    }
    case IR_OP_SLICE: return ir_slice(s, in[0], p->axis, p->start, p->end);
    case IR_OP_CONCAT: return ir_concat(s, n->n_inputs, in, p->axis);
    case IR_OP_EXPAND: return ir_expand(s, in[0], n->rank, n->shape);
    case IR_OP_GATHER: return ir_gather(s, in[0], in[1]);
    case IR_OP_SCATTER: return ir_scatter(s, in[0], in[1], in[2]);
    case IR_OP_IOTA: return ir_iota(s, n->dtype, n->rank, n->shape, p->axis, p->start);
    case IR_OP_FUSED: return ir_fused(s, p->body, n->n_inputs, in);
    case IR_OP_PACK_WEIGHTS: return ir_pack_weights(s, n->n_inputs, in, p->axis);
    default:
        if (ir_op_arity(n->op) == 1) return ir_unary(s, n->op, in[0]);
        if (ir_op_arity(n->op) == 2) return ir_binary(s, n->op, in[0], in[1]);
        *st = kiln_error(KILN_ERR_INTERNAL, "ir verifier: no rule for op '%s'", ir_op_name(n->op));
        return NULL;
    }
}

static kiln_status check_inferred(verifier *v, const ir_graph *g, const ir_node *n, int i) {
    kiln_status st;
    const ir_node *r = rebuild(v, g, n, &st);
    if (!r) {
        if (st != KILN_ERR_FORMAT) return st;
        // "ir builder: matmul: inner dims differ ..." → "inner dims differ ..."
        const char *msg = kiln_last_error();
        if (strncmp(msg, "ir builder: ", 12) == 0) msg += 12;
        size_t op_len = strlen(ir_op_name(n->op));
        if (strncmp(msg, ir_op_name(n->op), op_len) == 0 && msg[op_len] == ':' && msg[op_len + 1] == ' ') msg += op_len + 2;
        char copy[640];
        snprintf(copy, sizeof(copy), "%s", msg);
        return node_fail(v, n, i, "%s", copy);
    }
    if (r->dtype != n->dtype)
        return node_fail(v, n, i, "dtype %s, but its operands give %s", dtype_str(n->dtype), dtype_str(r->dtype));
    bool same = r->rank == n->rank;
    for (int a = 0; same && a < n->rank; a++) same = ir_dim_eq(r->shape[a], n->shape[a]);
    if (!same) {
        char have[256], want[256];
        shape_str(g, n, have, sizeof(have));
        shape_str(g, r, want, sizeof(want));
        return node_fail(v, n, i, "shape %s, but its operands give %s", have, want);
    }
    if (op_has_axis(n->op) && r->p.axis != n->p.axis)
        return node_fail(v, n, i, "axis %d, want %d", (int)n->p.axis, (int)r->p.axis);
    return KILN_OK;
}

/* ---- leaves and fused regions ---- */

static kiln_status check_leaf(verifier *v, const ir_graph *g, const ir_node *n, int i) {
    if (n->op != IR_OP_CONST) {
        if (!n->name) return node_fail(v, n, i, "has no name");
        return KILN_OK;
    }
    if (!n->p.data) return node_fail(v, n, i, "has no data");
    int64_t numel = 1, d;
    for (int a = 0; a < n->rank; a++) {
        if (!ir_dim_is_const(n->shape[a], &d)) return node_fail(v, n, i, "const shape must be constant (dim %d)", a);
        numel *= d;   // cannot overflow: check_dims bounded the element count
    }
    if (n->dtype == KILN_BOOL) {
        const unsigned char *b = n->p.data;
        for (int64_t k = 0; k < numel; k++)
            if (b[k] > 1) return node_fail(v, n, i, "bool value %d at %lld is not 0 or 1", b[k], (long long)k);
    }
    return KILN_OK;
}

static kiln_status verify_graph(verifier *v, const ir_graph *g, int depth);

// k for a body input named "ink" (k in plain decimal), else INT32_MAX.
static int32_t body_input_index(const char *name) {
    if (strncmp(name, "in", 2) != 0 || !name[2] || (name[2] == '0' && name[3])) return INT32_MAX;
    int32_t k = 0;
    for (const char *c = name + 2; *c; c++) {
        if (*c < '0' || *c > '9' || k > IR_MAX_INPUTS) return INT32_MAX;
        k = k * 10 + (*c - '0');
    }
    return k;
}

static kiln_status check_fused(verifier *v, const ir_graph *g, const ir_node *n, int i, int depth) {
    const ir_graph *body = n->p.body;
    if (!body) return node_fail(v, n, i, "has no body");
    if (n->n_absorbed < 0 || (n->n_absorbed > 0 && !n->absorbed)) return node_fail(v, n, i, "bad absorbed path list");
    for (int k = 0; k < n->n_absorbed; k++)
        if (!n->absorbed[k]) return node_fail(v, n, i, "absorbed path %d is NULL", k);
    if (depth + 1 > VERIFY_MAX_DEPTH) return node_fail(v, n, i, "fused bodies nested deeper than %d", VERIFY_MAX_DEPTH);
    const ir_params *p = &n->p;
    if (p->fused_kind < 0 || p->fused_kind >= IR_FUSED_KIND_COUNT) return node_fail(v, n, i, "fused kind %d is not a kind", (int)p->fused_kind);
    if (p->chunk < 0) return node_fail(v, n, i, "chunk %lld is negative", (long long)p->chunk);
    if (p->fused_kind == IR_FUSED_CHUNKED && p->chunk < 1) return node_fail(v, n, i, "a chunked region needs chunk >= 1");
    if (p->fused_kind == IR_FUSED_ATTENTION) {
        if (n->n_inputs < 3 || n->n_inputs > 4) return node_fail(v, n, i, "attention takes q, k, v and an optional mask, has %d inputs", (int)n->n_inputs);
        if (p->heads < 1) return node_fail(v, n, i, "attention needs heads >= 1");
        for (int k = 0; k < 3; k++)
            if (p->offsets[k] < 0) return node_fail(v, n, i, "attention offset %d is negative", k);
    }
    if (body->n_symbols > g->n_symbols) return node_fail(v, n, i, "body has symbols its graph lacks");
    for (int s = 0; s < body->n_symbols; s++)
        if (!body->symbols[s].name || strcmp(body->symbols[s].name, g->symbols[s].name) != 0)
            return node_fail(v, n, i, "body symbol %d differs from its graph's", s);

    char saved[sizeof(v->where)];
    memcpy(saved, v->where, sizeof(saved));
    size_t len = strlen(v->where);
    snprintf(v->where + len, sizeof(v->where) - len, "node %%%d (fused)%s%s body: ", i, n->path ? " @" : "",
             n->path ? n->path : "");
    kiln_status st = verify_graph(v, body, depth + 1);
    memcpy(v->where, saved, sizeof(saved));
    if (st) return st;

    if (body->n_outputs != 1) return node_fail(v, n, i, "body has %d outputs, want 1", body->n_outputs);
    for (int k = 0; k < body->n_nodes; k++) {
        const ir_node *b = body->nodes[k];
        if (b->op == IR_OP_INPUT && body_input_index(b->name) >= n->n_inputs)
            return node_fail(v, n, i, "body input '%s' is not one of in0..in%d", b->name, n->n_inputs - 1);
    }
    return check_inferred(v, g, n, i);
}

/* ---- nodes and graphs ---- */

static kiln_status verify_node(verifier *v, const ir_graph *g, const node_map *map, int i, int depth) {
    const ir_node *n = g->nodes[i];
    if ((unsigned)n->op >= IR_OP_COUNT) return node_fail(v, n, i, "op %d is not an op", (int)n->op);
    if (!kiln_dtype_get_info(n->dtype)) return node_fail(v, n, i, "dtype %d is not a dtype", (int)n->dtype);
    if (n->rank < 0 || n->rank > IR_MAX_RANK) return node_fail(v, n, i, "rank %d is outside 0..%d", (int)n->rank, IR_MAX_RANK);
    kiln_status st = check_dims(v, g, n, i);
    if (st) return st;

    int arity = ir_op_arity(n->op);
    if (arity >= 0 && n->n_inputs != arity)
        return node_fail(v, n, i, "takes %d input%s, has %d", arity, arity == 1 ? "" : "s", (int)n->n_inputs);
    int min_in = n->op == IR_OP_FUSED ? 0 : 1;
    if (arity < 0 && (n->n_inputs < min_in || n->n_inputs > IR_MAX_INPUTS))
        return node_fail(v, n, i, "takes %d..%d inputs, has %d", min_in, IR_MAX_INPUTS, (int)n->n_inputs);
    for (int k = 0; k < n->n_inputs; k++) {
        const ir_node *in = n->inputs[k];
        if (!in) return node_fail(v, n, i, "input %d is NULL", k);
        int32_t j = map_get(map, in);
        if (j < 0) return node_fail(v, n, i, "input %d is not a node of this graph (dangling)", k);
        if (j >= i)
            return node_fail(v, n, i, "input %d is %%%d, which does not come before it (a cycle or out of order)", k, (int)j);
    }

    if (n->op == IR_OP_PACK_WEIGHTS) return check_inferred(v, g, n, i);
    if (ir_op_flags(n->op) & IR_OPF_LEAF) return check_leaf(v, g, n, i);
    if (n->op == IR_OP_FUSED) return check_fused(v, g, n, i, depth);
    return check_inferred(v, g, n, i);
}

static kiln_status check_outputs(verifier *v, const ir_graph *g, const node_map *map) {
    if (g->n_outputs < 0 || g->n_outputs > IR_MAX_OUTPUTS) return graph_fail(v, NULL, "%d outputs", (int)g->n_outputs);
    for (int o = 0; o < g->n_outputs; o++) {
        const ir_output *out = &g->outputs[o];
        if (!out->name) return graph_fail(v, NULL, "output %d has no name", o);
        if (!out->node || map_get(map, out->node) < 0)
            return graph_fail(v, NULL, "output '%s' is not a node of this graph", out->name);
        if (!(out->node->flags & IR_NODE_OUTPUT))
            return graph_fail(v, out->node, "output '%s' (%%%d) lacks the output flag", out->name, (int)out->node->id);
        for (int p = 0; p < o; p++)
            if (strcmp(g->outputs[p].name, out->name) == 0)
                return graph_fail(v, out->node, "duplicate output name '%s'", out->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!(n->flags & IR_NODE_OUTPUT)) continue;
        bool listed = false;
        for (int o = 0; o < g->n_outputs && !listed; o++) listed = g->outputs[o].node == n;
        if (!listed) return node_fail(v, n, i, "is flagged as an output, but no output names it");
    }
    return KILN_OK;
}

// Inputs and state tensors are bound by name, so two of one kind may not share a name.
static kiln_status check_leaf_names(verifier *v, const ir_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op != IR_OP_INPUT && n->op != IR_OP_STATE) continue;
        for (int j = 0; j < i; j++) {
            const ir_node *m = g->nodes[j];
            if (m->op == n->op && strcmp(m->name, n->name) == 0)
                return node_fail(v, n, i, "duplicate %s name '%s' (also %%%d)", ir_op_name(n->op), n->name, j);
        }
    }
    return KILN_OK;
}

static kiln_status verify_graph(verifier *v, const ir_graph *g, int depth) {
    if (g->n_nodes < 0 || (g->n_nodes > 0 && !g->nodes)) return graph_fail(v, NULL, "bad node list");
    if (g->n_symbols < 0 || g->n_symbols > IR_MAX_SYMBOLS) return graph_fail(v, NULL, "%d symbols", (int)g->n_symbols);
    for (int s = 0; s < g->n_symbols; s++) {
        if (!g->symbols[s].name) return graph_fail(v, NULL, "symbol %d has no name", s);
        if (g->symbols[s].max < 0) return graph_fail(v, NULL, "symbol '%s' has max %lld", g->symbols[s].name, (long long)g->symbols[s].max);
        for (int t = 0; t < s; t++)
            if (strcmp(g->symbols[t].name, g->symbols[s].name) == 0)
                return graph_fail(v, NULL, "symbol '%s' is declared twice", g->symbols[s].name);
    }
    node_map map;
    if (!map_init(&map, g->n_nodes)) {
        map_free(&map);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "ir: verifier out of memory");
    }
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const ir_node *n = g->nodes[i];
        if (!n) st = graph_fail(v, NULL, "node %d is NULL", i);
        else if (n->id != i) st = node_fail(v, n, i, "has id %d at index %d", (int)n->id, i);
        else if (!map_put(&map, n, i)) st = node_fail(v, n, i, "is listed twice in the graph");
    }
    for (int i = 0; i < g->n_nodes && !st; i++) st = verify_node(v, g, &map, i, depth);
    if (!st) st = check_leaf_names(v, g);
    if (!st) st = check_outputs(v, g, &map);
    map_free(&map);
    return st;
}

kiln_status ir_verify_locate(const ir_graph *g, const ir_node **bad_out) {
    if (bad_out) *bad_out = NULL;
    if (!g) return kiln_error(KILN_ERR_INVALID_ARG, "ir_verify: NULL graph");
    verifier v = {0};
    kiln_status st = verify_graph(&v, g, 0);
    ir_graph_free(v.scratch);
    if (bad_out) *bad_out = v.bad;
    return st;
}

kiln_status ir_verify(const ir_graph *g) { return ir_verify_locate(g, NULL); }
