/* graph.c — graphs and the builder: one short constructor per op that checks its operands,
 * infers the output's dtype and shape, and appends the node (ggml_add_impl style). Errors are
 * sticky in g->status so that a model builder chains calls and checks once.
 */
#include "ir/ir.h"

ir_graph *ir_graph_create(void) {
    ir_graph *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->arena = kiln_arena_create(256 * 1024);
    if (!g->arena) {
        free(g);
        return NULL;
    }
    g->owns_arena = true;
    return g;
}

ir_graph *ir_graph_create_body(ir_graph *parent) {
    ir_graph *b = kiln_arena_alloc(parent->arena, sizeof(*b));
    if (!b) return NULL;
    b->arena = parent->arena;
    b->owns_arena = false;
    b->n_symbols = parent->n_symbols;
    memcpy(b->symbols, parent->symbols, sizeof(b->symbols));
    return b;
}

void ir_graph_free(ir_graph *g) {
    if (!g || !g->owns_arena) return;
    kiln_arena_free(g->arena);
    free(g);
}

static void *fail(ir_graph *g, kiln_status st, const char *fmt, ...) KILN_PRINTF(3, 4);
static void *fail(ir_graph *g, kiln_status st, const char *fmt, ...) {
    if (g->status != KILN_OK) return NULL;   // the first error wins
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    g->status = kiln_error(st, "ir builder%s%s: %s", g->cur_path ? " at " : "", g->cur_path ? g->cur_path : "", msg);
    return NULL;
}

int ir_graph_find_symbol(const ir_graph *g, const char *name) {
    for (int i = 0; i < g->n_symbols; i++)
        if (strcmp(g->symbols[i].name, name) == 0) return i;
    return -1;
}

int ir_graph_symbol(ir_graph *g, const char *name) {
    int i = ir_graph_find_symbol(g, name);
    if (i >= 0) return i;
    if (g->n_symbols == IR_MAX_SYMBOLS) {
        fail(g, KILN_ERR_UNSUPPORTED, "more than %d symbolic dims (adding '%s')", IR_MAX_SYMBOLS, name);
        return -1;
    }
    g->symbols[g->n_symbols].name = kiln_arena_strdup(g->arena, name);
    return g->n_symbols++;
}

void ir_graph_set_path(ir_graph *g, const char *fmt, ...) {
    if (!fmt) {
        g->cur_path = NULL;
        return;
    }
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    g->cur_path = kiln_arena_strdup(g->arena, buf);
}

kiln_status ir_graph_add_output(ir_graph *g, const char *name, ir_node *node) {
    if (!node) return g->status ? g->status : (g->status = kiln_error(KILN_ERR_INTERNAL, "ir: output '%s' is NULL", name));
    if (g->n_outputs == IR_MAX_OUTPUTS) {
        fail(g, KILN_ERR_UNSUPPORTED, "more than %d outputs", IR_MAX_OUTPUTS);
        return g->status;
    }
    g->outputs[g->n_outputs].name = kiln_arena_strdup(g->arena, name);
    g->outputs[g->n_outputs].node = node;
    g->n_outputs++;
    node->flags |= IR_NODE_OUTPUT;
    return g->status;
}

ir_node *ir_graph_find_input(const ir_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == IR_OP_INPUT && strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

ir_node *ir_graph_find_output(const ir_graph *g, const char *name) {
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->outputs[i].name, name) == 0) return g->outputs[i].node;
    return NULL;
}

bool ir_node_numel(const ir_node *n, ir_dim *out) {
    ir_dim d = ir_dim_const(1);
    for (int i = 0; i < n->rank; i++)
        if (!ir_dim_mul(d, n->shape[i], &d)) return false;
    *out = d;
    return true;
}

ir_node *ir_node_append(ir_graph *g, const ir_node *proto) {
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        ir_node **nodes = kiln_arena_alloc(g->arena, (size_t)cap * sizeof(*nodes));
        if (!nodes) return fail(g, KILN_ERR_OUT_OF_MEMORY, "out of memory");
        if (g->n_nodes) memcpy(nodes, g->nodes, (size_t)g->n_nodes * sizeof(*nodes));
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    ir_node *n = kiln_arena_alloc(g->arena, sizeof(*n));
    if (!n) return fail(g, KILN_ERR_OUT_OF_MEMORY, "out of memory");
    *n = *proto;
    n->id = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    return n;
}

/* ---- constructors ---- */

static ir_node proto_of(ir_graph *g, ir_op op, kiln_dtype dtype, int rank, const ir_dim *shape) {
    ir_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.dtype = dtype;
    n.rank = rank;
    if (rank > 0 && shape) memcpy(n.shape, shape, (size_t)rank * sizeof(ir_dim));
    n.path = g->cur_path;
    return n;
}

static ir_node *append_with(ir_graph *g, ir_node *proto, int n_in, ir_node *const *in) {
    proto->n_inputs = n_in;
    for (int i = 0; i < n_in; i++) proto->inputs[i] = in[i];
    return ir_node_append(g, proto);
}

static const char *dtype_name(kiln_dtype t) {
    const kiln_dtype_info *info = kiln_dtype_get_info(t);
    return info ? info->name : "?";
}

static bool is_int(kiln_dtype t) { return t == KILN_I32 || t == KILN_I64; }
static bool is_plain_float(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

static ir_node *leaf(ir_graph *g, ir_op op, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape) {
    if (g->status) return NULL;
    if (!kiln_dtype_get_info(dtype)) return fail(g, KILN_ERR_INVALID_ARG, "%s '%s': bad dtype %d", ir_op_name(op), name, (int)dtype);
    if (rank < 0 || rank > IR_MAX_RANK) return fail(g, KILN_ERR_UNSUPPORTED, "%s '%s': rank %d > %d", ir_op_name(op), name, rank, IR_MAX_RANK);
    ir_node n = proto_of(g, op, dtype, rank, shape);
    n.name = kiln_arena_strdup(g->arena, name);
    return append_with(g, &n, 0, NULL);
}

ir_node *ir_input(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape) {
    return leaf(g, IR_OP_INPUT, name, dtype, rank, shape);
}
ir_node *ir_weight(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape) {
    return leaf(g, IR_OP_WEIGHT, name, dtype, rank, shape);
}
ir_node *ir_state(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape) {
    return leaf(g, IR_OP_STATE, name, dtype, rank, shape);
}

ir_node *ir_const(ir_graph *g, kiln_dtype dtype, int rank, const int64_t *shape, const void *data) {
    if (g->status) return NULL;
    if (rank < 0 || rank > IR_MAX_RANK) return fail(g, KILN_ERR_UNSUPPORTED, "const: rank %d", rank);
    ir_dim dims[IR_MAX_RANK];
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = ir_dim_const(shape[i]);
        numel *= shape[i];
    }
    size_t bytes = kiln_dtype_bytes(dtype, numel);
    ir_node n = proto_of(g, IR_OP_CONST, dtype, rank, dims);
    void *copy = kiln_arena_alloc(g->arena, bytes ? bytes : 1);
    if (!copy) return fail(g, KILN_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(copy, data, bytes);
    n.p.data = copy;
    return append_with(g, &n, 0, NULL);
}

ir_node *ir_scalar_f32(ir_graph *g, float value) { return ir_const(g, KILN_F32, 0, NULL, &value); }
ir_node *ir_scalar_i64(ir_graph *g, int64_t value) { return ir_const(g, KILN_I64, 0, NULL, &value); }

// Numpy broadcasting of two shapes, right-aligned; dims must be equal or the constant 1.
static bool broadcast(const ir_node *a, const ir_node *b, int *rank_out, ir_dim *shape_out) {
    int r = KILN_MAX(a->rank, b->rank);
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        ir_dim da = ia >= 0 ? a->shape[ia] : ir_dim_const(1);
        ir_dim db = ib >= 0 ? b->shape[ib] : ir_dim_const(1);
        int64_t v;
        if (ir_dim_eq(da, db)) shape_out[i] = da;
        else if (ir_dim_is_const(da, &v) && v == 1) shape_out[i] = db;
        else if (ir_dim_is_const(db, &v) && v == 1) shape_out[i] = da;
        else return false;
    }
    *rank_out = r;
    return true;
}

static void shape_str(const ir_graph *g, const ir_node *n, char *buf, size_t size) {
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n->rank && k < size; i++) {
        if (i) k += (size_t)snprintf(buf + k, size - k, ", ");
        if (k < size) k += (size_t)ir_dim_print(n->shape[i], g, buf + k, size - k);
    }
    if (k < size) snprintf(buf + k, size - k, "]");
}

ir_node *ir_unary(ir_graph *g, ir_op op, ir_node *x) {
    if (!x || g->status) return NULL;
    if (!(ir_op_flags(op) & IR_OPF_ELEMENTWISE) || ir_op_arity(op) != 1 || op == IR_OP_CAST)
        return fail(g, KILN_ERR_INTERNAL, "ir_unary: '%s' is not a unary element-wise op", ir_op_name(op));
    if (op == IR_OP_NOT ? x->dtype != KILN_BOOL : !is_plain_float(x->dtype))
        return fail(g, KILN_ERR_INVALID_ARG, "%s: operand dtype %s", ir_op_name(op), dtype_name(x->dtype));
    ir_node n = proto_of(g, op, x->dtype, x->rank, x->shape);
    return append_with(g, &n, 1, &x);
}

ir_node *ir_binary(ir_graph *g, ir_op op, ir_node *a, ir_node *b) {
    if (!a || !b || g->status) return NULL;
    uint32_t f = ir_op_flags(op);
    if (!(f & IR_OPF_ELEMENTWISE) || ir_op_arity(op) != 2)
        return fail(g, KILN_ERR_INTERNAL, "ir_binary: '%s' is not a binary element-wise op", ir_op_name(op));
    if (a->dtype != b->dtype)
        return fail(g, KILN_ERR_INVALID_ARG, "%s: dtypes differ (%s, %s)", ir_op_name(op), dtype_name(a->dtype), dtype_name(b->dtype));
    bool logic = op == IR_OP_AND || op == IR_OP_OR;
    if (logic ? a->dtype != KILN_BOOL : !(is_plain_float(a->dtype) || is_int(a->dtype)))
        return fail(g, KILN_ERR_INVALID_ARG, "%s: operand dtype %s", ir_op_name(op), dtype_name(a->dtype));
    ir_node n = proto_of(g, op, (f & IR_OPF_COMPARE) ? KILN_BOOL : a->dtype, 0, NULL);
    if (!broadcast(a, b, &n.rank, n.shape)) {
        char sa[256], sb[256];
        shape_str(g, a, sa, sizeof(sa));
        shape_str(g, b, sb, sizeof(sb));
        return fail(g, KILN_ERR_INVALID_ARG, "%s: shapes %s and %s do not broadcast", ir_op_name(op), sa, sb);
    }
    ir_node *in[2] = {a, b};
    return append_with(g, &n, 2, in);
}

ir_node *ir_cast(ir_graph *g, ir_node *x, kiln_dtype dtype) {
    if (!x || g->status) return NULL;
    const kiln_dtype_info *info = kiln_dtype_get_info(dtype);
    if (!info || info->is_quantized || kiln_dtype_get_info(x->dtype)->is_quantized)
        return fail(g, KILN_ERR_UNSUPPORTED, "cast %s -> %s", dtype_name(x->dtype), dtype_name(dtype));
    ir_node n = proto_of(g, IR_OP_CAST, dtype, x->rank, x->shape);
    return append_with(g, &n, 1, &x);
}

ir_node *ir_where(ir_graph *g, ir_node *cond, ir_node *a, ir_node *b) {
    if (!cond || !a || !b || g->status) return NULL;
    if (cond->dtype != KILN_BOOL) return fail(g, KILN_ERR_INVALID_ARG, "where: condition dtype %s, want bool", dtype_name(cond->dtype));
    if (a->dtype != b->dtype) return fail(g, KILN_ERR_INVALID_ARG, "where: dtypes differ (%s, %s)", dtype_name(a->dtype), dtype_name(b->dtype));
    ir_node ab = proto_of(g, IR_OP_WHERE, a->dtype, 0, NULL), n = ab;
    if (!broadcast(a, b, &ab.rank, ab.shape) || !broadcast(cond, &ab, &n.rank, n.shape))
        return fail(g, KILN_ERR_INVALID_ARG, "where: shapes do not broadcast");
    ir_node *in[3] = {cond, a, b};
    return append_with(g, &n, 3, in);
}

static bool norm_axis(int rank, int *axis) {
    if (*axis < 0) *axis += rank;
    return *axis >= 0 && *axis < rank;
}

ir_node *ir_softmax(ir_graph *g, ir_node *x, int axis) {
    if (!x || g->status) return NULL;
    if (!norm_axis(x->rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "softmax: axis out of range for rank %d", x->rank);
    if (!is_plain_float(x->dtype)) return fail(g, KILN_ERR_INVALID_ARG, "softmax: dtype %s", dtype_name(x->dtype));
    ir_node n = proto_of(g, IR_OP_SOFTMAX, x->dtype, x->rank, x->shape);
    n.p.axis = axis;
    return append_with(g, &n, 1, &x);
}

static bool is_vector_of(const ir_node *v, ir_dim len) { return v->rank == 1 && ir_dim_eq(v->shape[0], len); }

ir_node *ir_layer_norm(ir_graph *g, ir_node *x, ir_node *gamma, ir_node *beta, float eps) {
    if (!x || !gamma || !beta || g->status) return NULL;
    if (x->rank < 1 || !is_plain_float(x->dtype)) return fail(g, KILN_ERR_INVALID_ARG, "layer_norm: bad operand");
    ir_dim last = x->shape[x->rank - 1];
    if (!is_vector_of(gamma, last) || !is_vector_of(beta, last) || gamma->dtype != x->dtype || beta->dtype != x->dtype)
        return fail(g, KILN_ERR_INVALID_ARG, "layer_norm: gamma/beta must be [%s] vectors of dtype %s",
                    "last dim", dtype_name(x->dtype));
    ir_node n = proto_of(g, IR_OP_LAYER_NORM, x->dtype, x->rank, x->shape);
    n.p.eps = eps;
    n.p.axis = x->rank - 1;
    ir_node *in[3] = {x, gamma, beta};
    return append_with(g, &n, 3, in);
}

ir_node *ir_rms_norm(ir_graph *g, ir_node *x, ir_node *gamma, float eps) {
    if (!x || !gamma || g->status) return NULL;
    if (x->rank < 1 || !is_plain_float(x->dtype)) return fail(g, KILN_ERR_INVALID_ARG, "rms_norm: bad operand");
    if (!is_vector_of(gamma, x->shape[x->rank - 1]) || gamma->dtype != x->dtype)
        return fail(g, KILN_ERR_INVALID_ARG, "rms_norm: gamma must match the last dim");
    ir_node n = proto_of(g, IR_OP_RMS_NORM, x->dtype, x->rank, x->shape);
    n.p.eps = eps;
    n.p.axis = x->rank - 1;
    ir_node *in[2] = {x, gamma};
    return append_with(g, &n, 2, in);
}

ir_node *ir_reduce(ir_graph *g, ir_op op, ir_node *x, int axis, bool keepdim) {
    if (!x || g->status) return NULL;
    if (op != IR_OP_REDUCE_SUM && op != IR_OP_REDUCE_MEAN && op != IR_OP_REDUCE_MAX)
        return fail(g, KILN_ERR_INTERNAL, "ir_reduce: '%s' is not a reduction", ir_op_name(op));
    if (!norm_axis(x->rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "%s: axis out of range", ir_op_name(op));
    if (!(is_plain_float(x->dtype) || (is_int(x->dtype) && op != IR_OP_REDUCE_MEAN)))
        return fail(g, KILN_ERR_INVALID_ARG, "%s: dtype %s", ir_op_name(op), dtype_name(x->dtype));
    ir_node n = proto_of(g, op, x->dtype, 0, NULL);
    for (int i = 0; i < x->rank; i++) {
        if (i == axis && !keepdim) continue;
        n.shape[n.rank++] = i == axis ? ir_dim_const(1) : x->shape[i];
    }
    n.p.axis = axis;
    n.p.keepdim = keepdim;
    return append_with(g, &n, 1, &x);
}

ir_node *ir_cumsum(ir_graph *g, ir_node *x, int axis) {
    if (!x || g->status) return NULL;
    if (!norm_axis(x->rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "cumsum: axis out of range");
    if (!(is_plain_float(x->dtype) || is_int(x->dtype))) return fail(g, KILN_ERR_INVALID_ARG, "cumsum: dtype %s", dtype_name(x->dtype));
    ir_node n = proto_of(g, IR_OP_CUMSUM, x->dtype, x->rank, x->shape);
    n.p.axis = axis;
    return append_with(g, &n, 1, &x);
}

ir_node *ir_matmul(ir_graph *g, ir_node *a, ir_node *b, bool trans_a, bool trans_b) {
    if (!a || !b || g->status) return NULL;
    if (a->rank < 2 || b->rank < 2) return fail(g, KILN_ERR_INVALID_ARG, "matmul: operands need rank >= 2 (%d, %d)", a->rank, b->rank);
    if (!is_plain_float(a->dtype) || !kiln_dtype_get_info(b->dtype)->is_float)
        return fail(g, KILN_ERR_INVALID_ARG, "matmul: dtypes %s x %s", dtype_name(a->dtype), dtype_name(b->dtype));
    ir_dim m = a->shape[a->rank - (trans_a ? 1 : 2)], ka = a->shape[a->rank - (trans_a ? 2 : 1)];
    ir_dim kb = b->shape[b->rank - (trans_b ? 1 : 2)], nn = b->shape[b->rank - (trans_b ? 2 : 1)];
    const kiln_dtype_info *qb = kiln_dtype_get_info(b->dtype);
    if (qb->is_quantized) {   // a block-quantized weight: rows of K elements, whole blocks per row
        int64_t kv;
        if (trans_a || !trans_b || b->rank != 2 || !ir_dim_is_const(kb, &kv) || kv % qb->block_size != 0)
            return fail(g, KILN_ERR_INVALID_ARG, "matmul: a %s operand must be B [N, K] taken transposed (A not), K a constant multiple of %d",
                        qb->name, qb->block_size);
    }
    if (!ir_dim_eq(ka, kb)) {
        char sa[256], sb[256];
        shape_str(g, a, sa, sizeof(sa));
        shape_str(g, b, sb, sizeof(sb));
        return fail(g, KILN_ERR_INVALID_ARG, "matmul: inner dims differ: %s x %s%s", sa, sb, trans_b ? "^T" : "");
    }
    // broadcast the leading (batch) dims
    ir_node la = *a, lb = *b, n = proto_of(g, IR_OP_MATMUL, a->dtype, 0, NULL);
    la.rank -= 2;
    lb.rank -= 2;
    if (!broadcast(&la, &lb, &n.rank, n.shape)) return fail(g, KILN_ERR_INVALID_ARG, "matmul: batch dims do not broadcast");
    n.shape[n.rank++] = m;
    n.shape[n.rank++] = nn;
    n.p.trans_a = trans_a;
    n.p.trans_b = trans_b;
    ir_node *in[2] = {a, b};
    return append_with(g, &n, 2, in);
}

ir_node *ir_reshape(ir_graph *g, ir_node *x, int rank, const ir_dim *shape) {
    if (!x || g->status) return NULL;
    if (rank < 0 || rank > IR_MAX_RANK) return fail(g, KILN_ERR_UNSUPPORTED, "reshape: rank %d", rank);
    ir_node n = proto_of(g, IR_OP_RESHAPE, x->dtype, rank, shape);
    ir_dim ne_in, ne_out;
    if (!ir_node_numel(x, &ne_in) || !ir_node_numel(&n, &ne_out) || !ir_dim_eq(ne_in, ne_out))
        return fail(g, KILN_ERR_INVALID_ARG, "reshape: element counts differ");
    return append_with(g, &n, 1, &x);
}

ir_node *ir_permute(ir_graph *g, ir_node *x, const int *perm) {
    if (!x || g->status) return NULL;
    ir_node n = proto_of(g, IR_OP_PERMUTE, x->dtype, x->rank, NULL);
    unsigned seen = 0;
    for (int i = 0; i < x->rank; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank || (seen & (1u << perm[i])))
            return fail(g, KILN_ERR_INVALID_ARG, "permute: not a permutation of %d axes", x->rank);
        seen |= 1u << perm[i];
        n.shape[i] = x->shape[perm[i]];
        n.p.perm[i] = perm[i];
    }
    return append_with(g, &n, 1, &x);
}

ir_node *ir_slice(ir_graph *g, ir_node *x, int axis, ir_dim start, ir_dim end) {
    if (!x || g->status) return NULL;
    if (!norm_axis(x->rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "slice: axis out of range");
    ir_node n = proto_of(g, IR_OP_SLICE, x->dtype, x->rank, x->shape);
    if (!ir_dim_sub(end, start, &n.shape[axis])) return fail(g, KILN_ERR_UNSUPPORTED, "slice: dim expression too large");
    n.p.axis = axis;
    n.p.start = start;
    n.p.end = end;
    return append_with(g, &n, 1, &x);
}

ir_node *ir_concat(ir_graph *g, int count, ir_node *const *xs, int axis) {
    if (g->status) return NULL;
    if (count < 1 || count > IR_MAX_INPUTS) return fail(g, KILN_ERR_UNSUPPORTED, "concat: %d inputs", count);
    for (int i = 0; i < count; i++)
        if (!xs[i]) return NULL;
    if (!norm_axis(xs[0]->rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "concat: axis out of range");
    ir_node n = proto_of(g, IR_OP_CONCAT, xs[0]->dtype, xs[0]->rank, xs[0]->shape);
    for (int i = 1; i < count; i++) {
        if (xs[i]->rank != n.rank || xs[i]->dtype != n.dtype) return fail(g, KILN_ERR_INVALID_ARG, "concat: input %d rank/dtype differs", i);
        for (int d = 0; d < n.rank; d++) {
            if (d == axis) {
                if (!ir_dim_add(n.shape[d], xs[i]->shape[d], &n.shape[d])) return fail(g, KILN_ERR_UNSUPPORTED, "concat: dim too large");
            } else if (!ir_dim_eq(n.shape[d], xs[i]->shape[d])) {
                return fail(g, KILN_ERR_INVALID_ARG, "concat: input %d differs on axis %d", i, d);
            }
        }
    }
    n.p.axis = axis;
    return append_with(g, &n, count, xs);
}

ir_node *ir_pack_weights(ir_graph *g, int count, ir_node *const *xs, int axis) {
    if (g->status) return NULL;
    for (int i = 0; i < count && i < IR_MAX_INPUTS; i++) {
        if (!xs[i]) return NULL;
        ir_op op = xs[i]->op;
        if (op != IR_OP_WEIGHT && op != IR_OP_CONST && op != IR_OP_PACK_WEIGHTS)
            return fail(g, KILN_ERR_INVALID_ARG, "pack_weights: operand %d is a %s, not a weight", i, ir_op_name(op));
        for (int d = 0; d < xs[i]->rank; d++)
            if (!ir_dim_is_const(xs[i]->shape[d], NULL)) return fail(g, KILN_ERR_INVALID_ARG, "pack_weights: operand %d has a symbolic shape", i);
    }
    // The shape rule is concat's: build one on the side and take its type.
    ir_node *c = ir_concat(g, count, xs, axis);
    if (!c) return NULL;
    c->op = IR_OP_PACK_WEIGHTS;
    return c;
}

ir_node *ir_expand(ir_graph *g, ir_node *x, int rank, const ir_dim *shape) {
    if (!x || g->status) return NULL;
    ir_node n = proto_of(g, IR_OP_EXPAND, x->dtype, rank, shape), check;
    if (rank < x->rank || !broadcast(x, &n, &check.rank, check.shape))
        return fail(g, KILN_ERR_INVALID_ARG, "expand: shape does not broadcast");
    for (int i = 0; i < rank; i++)
        if (!ir_dim_eq(check.shape[i], shape[i])) return fail(g, KILN_ERR_INVALID_ARG, "expand: axis %d cannot grow", i);
    return append_with(g, &n, 1, &x);
}

ir_node *ir_gather(ir_graph *g, ir_node *table, ir_node *indices) {
    if (!table || !indices || g->status) return NULL;
    if (!is_int(indices->dtype)) return fail(g, KILN_ERR_INVALID_ARG, "gather: index dtype %s", dtype_name(indices->dtype));
    if (table->rank < 1 || indices->rank + table->rank - 1 > IR_MAX_RANK) return fail(g, KILN_ERR_INVALID_ARG, "gather: ranks");
    const kiln_dtype_info *qt = kiln_dtype_get_info(table->dtype);
    int64_t width;
    if (qt->is_quantized && (table->rank != 2 || !ir_dim_is_const(table->shape[1], &width) || width % qt->block_size != 0))
        return fail(g, KILN_ERR_INVALID_ARG, "gather: a %s table must be [rows, width], width a constant multiple of %d", qt->name,
                    qt->block_size);
    // Rows of f16/bf16/quantized tables come out as f32: kiln computes in f32.
    kiln_dtype out = kiln_dtype_get_info(table->dtype)->is_float ? KILN_F32 : table->dtype;
    ir_node n = proto_of(g, IR_OP_GATHER, out, 0, NULL);
    for (int i = 0; i < indices->rank; i++) n.shape[n.rank++] = indices->shape[i];
    for (int i = 1; i < table->rank; i++) n.shape[n.rank++] = table->shape[i];
    ir_node *in[2] = {table, indices};
    return append_with(g, &n, 2, in);
}

ir_node *ir_scatter(ir_graph *g, ir_node *dst, ir_node *indices, ir_node *values) {
    if (!dst || !indices || !values || g->status) return NULL;
    if (!is_int(indices->dtype) || indices->rank != 2) return fail(g, KILN_ERR_INVALID_ARG, "scatter: indices must be [batch, n] integers");
    if (dst->rank < 2 || values->rank != dst->rank || values->dtype != dst->dtype)
        return fail(g, KILN_ERR_INVALID_ARG, "scatter: values must match dst's rank and dtype");
    if (!ir_dim_eq(dst->shape[0], indices->shape[0]) || !ir_dim_eq(values->shape[0], indices->shape[0]) ||
        !ir_dim_eq(values->shape[1], indices->shape[1]))
        return fail(g, KILN_ERR_INVALID_ARG, "scatter: batch/row dims disagree");
    for (int i = 2; i < dst->rank; i++)
        if (!ir_dim_eq(dst->shape[i], values->shape[i])) return fail(g, KILN_ERR_INVALID_ARG, "scatter: row shape differs on axis %d", i);
    ir_node n = proto_of(g, IR_OP_SCATTER, dst->dtype, dst->rank, dst->shape);
    ir_node *in[3] = {dst, indices, values};
    return append_with(g, &n, 3, in);
}

ir_node *ir_iota(ir_graph *g, kiln_dtype dtype, int rank, const ir_dim *shape, int axis, ir_dim start) {
    if (g->status) return NULL;
    if (!is_int(dtype) && dtype != KILN_F32) return fail(g, KILN_ERR_INVALID_ARG, "iota: dtype %s", dtype_name(dtype));
    if (rank < 1 || rank > IR_MAX_RANK || !norm_axis(rank, &axis)) return fail(g, KILN_ERR_INVALID_ARG, "iota: rank/axis");
    ir_node n = proto_of(g, IR_OP_IOTA, dtype, rank, shape);
    n.p.axis = axis;
    n.p.start = start;
    return append_with(g, &n, 0, NULL);
}

ir_node *ir_fused(ir_graph *g, ir_graph *body, int count, ir_node *const *inputs) {
    if (g->status) return NULL;
    if (!body || body->n_outputs != 1) return fail(g, KILN_ERR_INVALID_ARG, "fused: body must have exactly one output");
    if (count < 0 || count > IR_MAX_INPUTS) return fail(g, KILN_ERR_UNSUPPORTED, "fused: %d inputs", count);
    for (int i = 0; i < count; i++) {
        if (!inputs[i]) return NULL;
        char name[16];
        snprintf(name, sizeof(name), "in%d", i);
        ir_node *bi = ir_graph_find_input(body, name);
        if (!bi || bi->dtype != inputs[i]->dtype || bi->rank != inputs[i]->rank)
            return fail(g, KILN_ERR_INVALID_ARG, "fused: body input '%s' missing or unlike operand %d", name, i);
        for (int d = 0; d < bi->rank; d++)
            if (!ir_dim_eq(bi->shape[d], inputs[i]->shape[d])) return fail(g, KILN_ERR_INVALID_ARG, "fused: body input '%s' shape differs", name);
    }
    const ir_node *out = body->outputs[0].node;
    ir_node n = proto_of(g, IR_OP_FUSED, out->dtype, out->rank, out->shape);
    n.p.body = body;
    // A region keeps the module paths of what it absorbed (distinct, in order).
    const char **paths = kiln_arena_alloc(g->arena, (size_t)(body->n_nodes + 1) * sizeof(char *));
    if (!paths) return fail(g, KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < body->n_nodes; i++) {
        const char *p = body->nodes[i]->path;
        bool dup = !p;
        for (int j = 0; j < n.n_absorbed && !dup; j++) dup = strcmp(paths[j], p) == 0;
        if (!dup) paths[n.n_absorbed++] = p;
    }
    n.absorbed = paths;
    return append_with(g, &n, count, inputs);
}
