/* normalization.c — the interpreter's statistical kernels: softmax, LayerNorm, RMSNorm,
 * reductions and cumulative sums along one axis. Sums accumulate in double: the oracle should
 * be more accurate than what it checks.
 */
#include "codegen/interp/interp.h"

#include <math.h>

static void split_axis(const interp_tensor *t, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= t->shape[i];
    *len = t->shape[axis];
    for (int i = axis + 1; i < t->rank; i++) *inner *= t->shape[i];
}

static kiln_status softmax(const interp_call *c) {
    int64_t outer, len, inner;
    split_axis(&c->in[0], c->p->axis, &outer, &len, &inner);
    const float *x = c->in[0].data;
    float *y = c->out.data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * len * inner + i;
            float *ys = y + o * len * inner + i;
            float m = -INFINITY;
            for (int64_t k = 0; k < len; k++) m = fmaxf(m, xs[k * inner]);
            double sum = 0;
            for (int64_t k = 0; k < len; k++) sum += exp((double)xs[k * inner] - m);
            for (int64_t k = 0; k < len; k++) ys[k * inner] = (float)(exp((double)xs[k * inner] - m) / sum);
        }
    }
    return KILN_OK;
}

static kiln_status norm(const interp_call *c, bool rms) {
    const interp_tensor *x = &c->in[0];
    int64_t d = x->shape[x->rank - 1], rows = interp_numel(x) / (d ? d : 1);
    const float *xs = x->data, *gamma = c->in[1].data, *beta = rms ? NULL : c->in[2].data;
    float *ys = c->out.data;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xs + r * d;
        float *yr = ys + r * d;
        double mean = 0, var = 0;
        if (!rms) {
            for (int64_t k = 0; k < d; k++) mean += xr[k];
            mean /= (double)d;
        }
        for (int64_t k = 0; k < d; k++) var += (xr[k] - mean) * (xr[k] - mean);
        var /= (double)d;
        double inv = 1.0 / sqrt(var + c->p->eps);
        for (int64_t k = 0; k < d; k++) yr[k] = (float)((xr[k] - mean) * inv * gamma[k] + (beta ? beta[k] : 0.0f));
    }
    return KILN_OK;
}

static double get(const interp_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KILN_F32: return ((const float *)t->data)[i];
    case KILN_I32: return ((const int32_t *)t->data)[i];
    case KILN_I64: return (double)((const int64_t *)t->data)[i];
    default: return 0;
    }
}

static void put(interp_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case KILN_F32: ((float *)t->data)[i] = (float)v; break;
    case KILN_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case KILN_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    default: break;
    }
}

static kiln_status reduce(const interp_call *c) {
    interp_tensor out = c->out;
    int64_t outer, len, inner;
    split_axis(&c->in[0], c->p->axis, &outer, &len, &inner);
    if (len == 0 && c->p->op != IR_OP_REDUCE_SUM)
        return kiln_error(KILN_ERR_INVALID_ARG, "interp: %s over an empty axis", ir_op_name(c->p->op));
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double acc = c->p->op == IR_OP_REDUCE_MAX ? -INFINITY : 0;
            for (int64_t k = 0; k < len; k++) {
                double v = get(&c->in[0], (o * len + k) * inner + i);
                acc = c->p->op == IR_OP_REDUCE_MAX ? fmax(acc, v) : acc + v;
            }
            if (c->p->op == IR_OP_REDUCE_MEAN) acc /= (double)len;
            put(&out, o * inner + i, acc);
        }
    }
    return KILN_OK;
}

static kiln_status cumsum(const interp_call *c) {
    interp_tensor out = c->out;
    int64_t outer, len, inner;
    split_axis(&c->in[0], c->p->axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0;
            for (int64_t k = 0; k < len; k++) {
                int64_t at = (o * len + k) * inner + i;
                acc += get(&c->in[0], at);
                put(&out, at, acc);
            }
        }
    }
    return KILN_OK;
}

kiln_status interp_normalization(const interp_call *c) {
    switch (c->p->op) {
    case IR_OP_SOFTMAX: return softmax(c);
    case IR_OP_LAYER_NORM: return norm(c, false);
    case IR_OP_RMS_NORM: return norm(c, true);
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MEAN:
    case IR_OP_REDUCE_MAX: return reduce(c);
    case IR_OP_CUMSUM: return cumsum(c);
    default: return kiln_error(KILN_ERR_INTERNAL, "interp: '%s' is not a normalization", ir_op_name(c->p->op));
    }
}
