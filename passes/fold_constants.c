/* fold_constants.c — element-wise ops, casts, reshapes and expands whose operands are all
 * constants become constants. The arithmetic is the interpreter's, op for op (f32 math rounded
 * at each step, integers in int64), so a folded graph gives the bits the unfolded one gives.
 * Results over FOLD_MAX_ELEMENTS stay ops: a constant that large costs more memory than time.
 */
#include <math.h>

#include "passes/passes.h"

#define FOLD_MAX_ELEMENTS 65536

static bool is_float(kiln_dtype t) { return t == KILN_F32; }
static bool supported(kiln_dtype t) { return t == KILN_F32 || t == KILN_I32 || t == KILN_I64 || t == KILN_BOOL; }

static bool const_count(const ir_node *n, int64_t *count) {
    ir_dim numel;
    return ir_node_numel(n, &numel) && ir_dim_is_const(numel, count);
}

static double load(const ir_node *t, int64_t i) {
    switch (t->dtype) {
    case KILN_F32: return ((const float *)t->p.data)[i];
    case KILN_I32: return ((const int32_t *)t->p.data)[i];
    case KILN_I64: return (double)((const int64_t *)t->p.data)[i];
    default: return ((const uint8_t *)t->p.data)[i];
    }
}

static int64_t load_int(const ir_node *t, int64_t i) {
    switch (t->dtype) {
    case KILN_I32: return ((const int32_t *)t->p.data)[i];
    case KILN_I64: return ((const int64_t *)t->p.data)[i];
    case KILN_BOOL: return ((const uint8_t *)t->p.data)[i];
    default: return (int64_t)load(t, i);
    }
}

static void store(kiln_dtype t, void *data, int64_t i, double v) {
    switch (t) {
    case KILN_F32: ((float *)data)[i] = (float)v; break;
    case KILN_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case KILN_I64: ((int64_t *)data)[i] = (int64_t)v; break;
    default: ((uint8_t *)data)[i] = v != 0; break;
    }
}

static void store_int(kiln_dtype t, void *data, int64_t i, int64_t v) {
    switch (t) {
    case KILN_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case KILN_I64: ((int64_t *)data)[i] = v; break;
    case KILN_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    default: store(t, data, i, (double)v); break;
    }
}

// The interpreter's formulas (codegen/interp/elementwise.c), which passes may not include.
static float unary_f32(ir_op op, float x) {
    switch (op) {
    case IR_OP_NEG: return -x;
    case IR_OP_EXP: return expf(x);
    case IR_OP_LOG: return logf(x);
    case IR_OP_SQRT: return sqrtf(x);
    case IR_OP_RSQRT: return 1.0f / sqrtf(x);
    case IR_OP_TANH: return tanhf(x);
    case IR_OP_ERF: return erff(x);
    case IR_OP_RELU: return x > 0 ? x : 0.0f;
    case IR_OP_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case IR_OP_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case IR_OP_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
    case IR_OP_SILU: return x / (1.0f + expf(-x));
    case IR_OP_SIGMOID: return 1.0f / (1.0f + expf(-x));
    default: return NAN;
    }
}

static bool binary_float(ir_op op, float a, float b, double *out) {
    switch (op) {
    case IR_OP_ADD: *out = a + b; return true;
    case IR_OP_SUB: *out = a - b; return true;
    case IR_OP_MUL: *out = a * b; return true;
    case IR_OP_DIV: *out = a / b; return true;
    case IR_OP_MAX: *out = a > b ? a : b; return true;
    case IR_OP_MIN: *out = a < b ? a : b; return true;
    case IR_OP_POW: *out = powf(a, b); return true;
    case IR_OP_EQ: *out = a == b; return true;
    case IR_OP_NE: *out = a != b; return true;
    case IR_OP_LT: *out = a < b; return true;
    case IR_OP_LE: *out = a <= b; return true;
    default: return false;
    }
}

static bool binary_int(ir_op op, int64_t a, int64_t b, int64_t *out) {
    switch (op) {
    case IR_OP_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return true;
    case IR_OP_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return true;
    case IR_OP_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return true;
    case IR_OP_DIV:
        if (b == 0 || (a == INT64_MIN && b == -1)) return false;   // left for run time to report
        *out = a / b;
        return true;
    case IR_OP_MAX: *out = a > b ? a : b; return true;
    case IR_OP_MIN: *out = a < b ? a : b; return true;
    case IR_OP_EQ: *out = a == b; return true;
    case IR_OP_NE: *out = a != b; return true;
    case IR_OP_LT: *out = a < b; return true;
    case IR_OP_LE: *out = a <= b; return true;
    case IR_OP_AND: *out = a && b; return true;
    case IR_OP_OR: *out = a || b; return true;
    default: return false;   // POW on integers: rare, left to run time
    }
}

// Element offsets of input `t` read broadcast to `n`'s shape, for output element `flat`.
static int64_t bcast_offset(const ir_node *t, const ir_node *n, int64_t flat) {
    int64_t off = 0, stride = 1;
    for (int d = n->rank - 1; d >= 0; d--) {
        int64_t len, tlen = 1;
        ir_dim_is_const(n->shape[d], &len);
        int64_t idx = flat % len;
        flat /= len;
        int td = t->rank - n->rank + d;
        if (td >= 0) ir_dim_is_const(t->shape[td], &tlen);
        if (td >= 0 && tlen != 1) off += idx * stride;
        if (td >= 0) stride *= tlen;
    }
    return off;
}

// Computes n's value into `out` (count elements of n's dtype); false when it cannot be folded.
static bool evaluate(const ir_node *n, int64_t count, void *out) {
    const ir_node *a = n->inputs[0], *b = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (n->op == IR_OP_RESHAPE) {
        memcpy(out, a->p.data, kiln_dtype_bytes(n->dtype, count));
        return true;
    }
    for (int64_t i = 0; i < count; i++) {
        if (n->op == IR_OP_CAST || n->op == IR_OP_EXPAND) {
            int64_t o = bcast_offset(a, n, i);
            if (!is_float(a->dtype) && !is_float(n->dtype)) store_int(n->dtype, out, i, load_int(a, o));
            else store(n->dtype, out, i, load(a, o));
        } else if (n->op == IR_OP_NOT) {
            ((uint8_t *)out)[i] = !((const uint8_t *)a->p.data)[i];
        } else if (n->n_inputs == 1) {
            if (!is_float(a->dtype)) return false;
            ((float *)out)[i] = unary_f32(n->op, ((const float *)a->p.data)[i]);
        } else if (n->op == IR_OP_WHERE) {
            const ir_node *c = n->inputs[0], *x = n->inputs[1], *y = n->inputs[2];
            bool pick = ((const uint8_t *)c->p.data)[bcast_offset(c, n, i)] != 0;
            const ir_node *src = pick ? x : y;
            int64_t o = bcast_offset(src, n, i);
            if (is_float(n->dtype)) ((float *)out)[i] = ((const float *)src->p.data)[o];
            else store_int(n->dtype, out, i, load_int(src, o));
        } else if (is_float(a->dtype)) {
            double v;
            if (!binary_float(n->op, ((const float *)a->p.data)[bcast_offset(a, n, i)], ((const float *)b->p.data)[bcast_offset(b, n, i)], &v))
                return false;
            store(n->dtype, out, i, v);
        } else {
            int64_t v;
            if (!binary_int(n->op, load_int(a, bcast_offset(a, n, i)), load_int(b, bcast_offset(b, n, i)), &v)) return false;
            store_int(n->dtype, out, i, v);
        }
    }
    return true;
}

static bool foldable(const ir_node *n, int64_t *count) {
    uint32_t f = ir_op_flags(n->op);
    if (!(f & IR_OPF_ELEMENTWISE) && n->op != IR_OP_RESHAPE && n->op != IR_OP_EXPAND) return false;
    if (n->n_inputs == 0 || !supported(n->dtype)) return false;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k]->op != IR_OP_CONST || !n->inputs[k]->p.data || !supported(n->inputs[k]->dtype)) return false;
    return const_count(n, count) && *count <= FOLD_MAX_ELEMENTS;
}

kiln_status pass_fold_constants(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    bool changed = false;
    for (int i = 0; i < n0; i++) {   // in order, so a chain of constants folds in one sweep
        ir_node *n = g->nodes[i];
        int64_t count;
        if (!foldable(n, &count)) continue;
        void *data = calloc((size_t)KILN_MAX(count, 1), 8);
        if (!data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "fold_constants: out of memory");
        int64_t shape[IR_MAX_RANK];
        for (int d = 0; d < n->rank; d++) ir_dim_is_const(n->shape[d], &shape[d]);
        ir_node *c = NULL;
        if (evaluate(n, count, data)) {
            const char *saved = g->cur_path;
            g->cur_path = n->path;
            c = ir_const(g, n->dtype, n->rank, shape, data);
            g->cur_path = saved;
        }
        free(data);
        if (g->status) return g->status;
        if (!c) continue;
        pass_replace_uses(g, n, c);
        // later nodes reading n now read c: keep folding through them
        changed = true;
    }
    return changed ? pass_commit(g, n0) : KILN_OK;
}
