/* elementwise.c — the interpreter's element-wise kernels with numpy broadcasting: unary math,
 * binary arithmetic and comparisons on f32/i32/i64/bool, casts, where, expand. Written for
 * clarity: the oracle's job is to be obviously right.
 */
#include "codegen/interp/interp.h"

#include <math.h>

#include "common/half.h"

// Strides (in elements) of `t` read as broadcast to `out`: 0 on axes that broadcast.
static void bcast_strides(const interp_tensor *t, const interp_tensor *out, int64_t *strides) {
    int64_t s = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int ti = t->rank - out->rank + i;
        if (ti < 0 || t->shape[ti] == 1) {
            strides[i] = 0;
        } else {
            strides[i] = s;
        }
        if (ti >= 0) s *= t->shape[ti];
    }
}

static double load(const interp_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KILN_F32: return ((const float *)t->data)[i];
    case KILN_I32: return ((const int32_t *)t->data)[i];
    case KILN_I64: return (double)((const int64_t *)t->data)[i];
    case KILN_BOOL: return ((const uint8_t *)t->data)[i];
    case KILN_F16: return kiln_f16_to_f32(((const uint16_t *)t->data)[i]);
    case KILN_BF16: return kiln_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

static int64_t load_int(const interp_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KILN_I32: return ((const int32_t *)t->data)[i];
    case KILN_I64: return ((const int64_t *)t->data)[i];
    case KILN_BOOL: return ((const uint8_t *)t->data)[i];
    default: return (int64_t)load(t, i);
    }
}

static void store(interp_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case KILN_F32: ((float *)t->data)[i] = (float)v; break;
    case KILN_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case KILN_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case KILN_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case KILN_F16: ((uint16_t *)t->data)[i] = kiln_f32_to_f16((float)v); break;
    case KILN_BF16: ((uint16_t *)t->data)[i] = kiln_f32_to_bf16((float)v); break;
    default: break;
    }
}

static void store_int(interp_tensor *t, int64_t i, int64_t v) {
    switch (t->dtype) {
    case KILN_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case KILN_I64: ((int64_t *)t->data)[i] = v; break;
    case KILN_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: store(t, i, (double)v); break;
    }
}

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

static double binary_float(ir_op op, float a, float b) {
    switch (op) {
    case IR_OP_ADD: return a + b;
    case IR_OP_SUB: return a - b;
    case IR_OP_MUL: return a * b;
    case IR_OP_DIV: return a / b;
    case IR_OP_MAX: return a > b ? a : b;
    case IR_OP_MIN: return a < b ? a : b;
    case IR_OP_POW: return powf(a, b);
    case IR_OP_EQ: return a == b;
    case IR_OP_NE: return a != b;
    case IR_OP_LT: return a < b;
    case IR_OP_LE: return a <= b;
    default: return NAN;
    }
}

static int64_t binary_int(ir_op op, int64_t a, int64_t b, bool *div0) {
    switch (op) {
    case IR_OP_ADD: return a + b;
    case IR_OP_SUB: return a - b;
    case IR_OP_MUL: return a * b;
    case IR_OP_DIV:
        if (b == 0) {
            *div0 = true;
            return 0;
        }
        return a / b;
    case IR_OP_MAX: return a > b ? a : b;
    case IR_OP_MIN: return a < b ? a : b;
    case IR_OP_POW: {
        int64_t r = 1;
        for (int64_t k = 0; k < b; k++) r *= a;
        return r;
    }
    case IR_OP_EQ: return a == b;
    case IR_OP_NE: return a != b;
    case IR_OP_LT: return a < b;
    case IR_OP_LE: return a <= b;
    case IR_OP_AND: return a && b;
    case IR_OP_OR: return a || b;
    default: return 0;
    }
}

// Visits every output element with the matching element offsets of up to three broadcast inputs.
typedef struct bcast_iter {
    int rank;
    int64_t shape[IR_MAX_RANK], strides[3][IR_MAX_RANK];
} bcast_iter;

static void offsets_of(const bcast_iter *it, int n_in, int64_t flat, int64_t *offs) {
    for (int k = 0; k < n_in; k++) offs[k] = 0;
    for (int d = it->rank - 1; d >= 0; d--) {
        int64_t idx = flat % it->shape[d];
        flat /= it->shape[d];
        for (int k = 0; k < n_in; k++) offs[k] += idx * it->strides[k][d];
    }
}

kiln_status interp_elementwise(const interp_call *c) {
    const cg_interp_params *p = c->p;
    interp_tensor out = c->out;
    int64_t n = interp_numel(&out);
    bcast_iter it;
    it.rank = out.rank;
    memcpy(it.shape, out.shape, sizeof(it.shape));
    for (int k = 0; k < p->n_in && k < 3; k++) bcast_strides(&c->in[k], &out, it.strides[k]);
    int64_t offs[3];

    if (p->op == IR_OP_CAST || p->op == IR_OP_EXPAND) {
        const interp_tensor *x = &c->in[0];
        bool ints = x->dtype != KILN_F32 && x->dtype != KILN_F16 && x->dtype != KILN_BF16 &&
                    out.dtype != KILN_F32 && out.dtype != KILN_F16 && out.dtype != KILN_BF16;
        for (int64_t i = 0; i < n; i++) {
            offsets_of(&it, 1, i, offs);
            if (ints) store_int(&out, i, load_int(x, offs[0]));
            else store(&out, i, load(x, offs[0]));
        }
        return KILN_OK;
    }
    if (p->n_in == 1) {
        const interp_tensor *x = &c->in[0];
        if (p->op == IR_OP_NOT) {
            for (int64_t i = 0; i < n; i++) ((uint8_t *)out.data)[i] = !((const uint8_t *)x->data)[i];
            return KILN_OK;
        }
        if (x->dtype != KILN_F32) return kiln_error(KILN_ERR_UNSUPPORTED, "interp: %s on non-f32", ir_op_name(p->op));
        const float *xs = x->data;
        float *ys = out.data;
        for (int64_t i = 0; i < n; i++) ys[i] = unary_f32(p->op, xs[i]);
        return KILN_OK;
    }
    if (p->op == IR_OP_WHERE) {
        for (int64_t i = 0; i < n; i++) {
            offsets_of(&it, 3, i, offs);
            const interp_tensor *src = ((const uint8_t *)c->in[0].data)[offs[0]] ? &c->in[1] : &c->in[2];
            int64_t o = src == &c->in[1] ? offs[1] : offs[2];
            if (out.dtype == KILN_F32) ((float *)out.data)[i] = ((const float *)src->data)[o];
            else store_int(&out, i, load_int(src, o));
        }
        return KILN_OK;
    }
    const interp_tensor *a = &c->in[0], *b = &c->in[1];
    if (a->dtype == KILN_F32) {
        const float *as = a->data, *bs = b->data;
        bool same = interp_numel(a) == n && interp_numel(b) == n;
        for (int64_t i = 0; i < n; i++) {
            if (same) offs[0] = offs[1] = i;
            else offsets_of(&it, 2, i, offs);
            double v = binary_float(p->op, as[offs[0]], bs[offs[1]]);
            if (out.dtype == KILN_F32) ((float *)out.data)[i] = (float)v;
            else ((uint8_t *)out.data)[i] = v != 0;
        }
        return KILN_OK;
    }
    bool div0 = false;
    for (int64_t i = 0; i < n; i++) {
        offsets_of(&it, 2, i, offs);
        store_int(&out, i, binary_int(p->op, load_int(a, offs[0]), load_int(b, offs[1]), &div0));
    }
    if (div0) return kiln_error(KILN_ERR_INVALID_ARG, "interp: integer division by zero");
    return KILN_OK;
}

/* ---- the scalar formulas, for fused kernels that evaluate a body one element at a time ---- */

float interp_unary_f32(ir_op op, float x) { return unary_f32(op, x); }
double interp_binary_f32(ir_op op, float a, float b) { return binary_float(op, a, b); }
int64_t interp_binary_i64(ir_op op, int64_t a, int64_t b, bool *div0) { return binary_int(op, a, b, div0); }
