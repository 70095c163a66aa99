/* movement.c — the interpreter's data movement: permute, slice, concat, gather (embedding
 * lookup, ids range-checked), scatter (in-place rows into a state tensor), iota (positions).
 */
#include "codegen/interp/interp.h"

#include "common/half.h"
#include "common/quant.h"

static size_t elem_bytes(kiln_dtype t) { return (size_t)kiln_dtype_get_info(t)->block_bytes; }

static kiln_status permute(const interp_call *c) {
    const interp_tensor *x = &c->in[0];
    const interp_tensor *out = &c->out;
    size_t es = elem_bytes(x->dtype);
    int64_t in_strides[IR_MAX_RANK], s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        in_strides[d] = s;
        s *= x->shape[d];
    }
    int64_t n = interp_numel(out);
    const char *src = x->data;
    char *dst = out->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int d = out->rank - 1; d >= 0; d--) {
            off += (rem % out->shape[d]) * in_strides[c->p->perm[d]];
            rem /= out->shape[d];
        }
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
    }
    return KILN_OK;
}

static void split_axis(const interp_tensor *t, int axis, int64_t *outer, int64_t *inner) {
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= t->shape[i];
    for (int i = axis + 1; i < t->rank; i++) *inner *= t->shape[i];
}

static kiln_status slice(const interp_call *c) {
    const interp_tensor *x = &c->in[0];
    int axis = c->p->axis;
    int64_t start = c->extra[0], end = c->extra[1];
    if (start < 0 || end < start || end > x->shape[axis])
        return kiln_error(KILN_ERR_INVALID_ARG, "slice [%lld, %lld) outside axis %d of length %lld", (long long)start,
                          (long long)end, axis, (long long)x->shape[axis]);
    int64_t outer, inner;
    split_axis(x, axis, &outer, &inner);
    size_t es = elem_bytes(x->dtype), row = (size_t)((end - start) * inner) * es;
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)c->out.data + (size_t)o * row, (const char *)x->data + ((size_t)(o * x->shape[axis] + start) * (size_t)inner) * es,
               row);
    return KILN_OK;
}

static kiln_status concat(const interp_call *c) {
    int axis = c->p->axis;
    int64_t outer, inner;
    split_axis(&c->out, axis, &outer, &inner);
    size_t es = elem_bytes(c->out.dtype), out_row = (size_t)(c->out.shape[axis] * inner) * es;
    size_t at = 0;
    for (int k = 0; k < c->p->n_in; k++) {
        size_t row = (size_t)(c->in[k].shape[axis] * inner) * es;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)c->out.data + (size_t)o * out_row + at, (const char *)c->in[k].data + (size_t)o * row, row);
        at += row;
    }
    return KILN_OK;
}

static int64_t index_at(const interp_tensor *t, int64_t i) {
    return t->dtype == KILN_I32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

static kiln_status gather(const interp_call *c) {
    const interp_tensor *table = &c->in[0], *idx = &c->in[1];
    int64_t rows = table->shape[0], n = interp_numel(idx), width = 1;
    for (int d = 1; d < table->rank; d++) width *= table->shape[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = index_at(idx, i);
        if (r < 0 || r >= rows)
            return kiln_error(KILN_ERR_INVALID_ARG, "gather: index %lld at position %lld is out of range [0, %lld)", (long long)r,
                              (long long)i, (long long)rows);
        if (table->dtype == c->out.dtype) {
            size_t es = elem_bytes(table->dtype);
            memcpy((char *)c->out.data + (size_t)(i * width) * es, (const char *)table->data + (size_t)(r * width) * es,
                   (size_t)width * es);
        } else if (table->dtype == KILN_F16 || table->dtype == KILN_BF16) {
            kiln_convert_to_f32(table->dtype, (const uint16_t *)table->data + r * width, (float *)c->out.data + i * width, (size_t)width);
        } else if (kiln_dtype_get_info(table->dtype)->is_quantized && c->out.dtype == KILN_F32) {   // rows of whole blocks
            kiln_quant_dequantize_row(table->dtype, (const char *)table->data + (size_t)r * kiln_dtype_bytes(table->dtype, width),
                                      (float *)c->out.data + i * width, width);
        } else {
            return kiln_error(KILN_ERR_UNSUPPORTED, "gather: table dtype %s", kiln_dtype_get_info(table->dtype)->name);
        }
    }
    return KILN_OK;
}

// dst [B, T, rest...] <- values [B, S, rest...] at rows idx [B, S]; the output is dst itself.
static kiln_status scatter(const interp_call *c) {
    const interp_tensor *dst = &c->in[0], *idx = &c->in[1], *val = &c->in[2];
    int64_t B = idx->shape[0], S = idx->shape[1], T = dst->shape[1], width = 1;
    for (int d = 2; d < dst->rank; d++) width *= dst->shape[d];
    size_t es = elem_bytes(dst->dtype), row = (size_t)width * es;
    char *out = c->out.data;
    if (out != dst->data) memcpy(out, dst->data, (size_t)(interp_numel(dst)) * es);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t s = 0; s < S; s++) {
            int64_t t = index_at(idx, b * S + s);
            if (t < 0 || t >= T)
                return kiln_error(KILN_ERR_INVALID_ARG, "scatter: row %lld for batch %lld is out of range [0, %lld)", (long long)t,
                                  (long long)b, (long long)T);
            memcpy(out + (size_t)(b * T + t) * row, (const char *)val->data + (size_t)(b * S + s) * row, row);
        }
    }
    return KILN_OK;
}

static kiln_status iota(const interp_call *c) {
    const interp_tensor *out = &c->out;
    int64_t outer, inner, len = out->shape[c->p->axis], start = c->extra[0];
    split_axis(out, c->p->axis, &outer, &inner);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t k = 0; k < len; k++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (o * len + k) * inner + i, v = start + k;
                if (out->dtype == KILN_I64) ((int64_t *)out->data)[at] = v;
                else if (out->dtype == KILN_I32) ((int32_t *)out->data)[at] = (int32_t)v;
                else ((float *)out->data)[at] = (float)v;
            }
        }
    }
    return KILN_OK;
}

kiln_status interp_movement(const interp_call *c) {
    switch (c->p->op) {
    case IR_OP_PERMUTE: return permute(c);
    case IR_OP_SLICE: return slice(c);
    case IR_OP_CONCAT: return concat(c);
    case IR_OP_GATHER: return gather(c);
    case IR_OP_SCATTER: return scatter(c);
    case IR_OP_IOTA: return iota(c);
    case IR_OP_RESHAPE: {   // a view: only runs if a backend chose to copy
        size_t bytes = kiln_dtype_bytes(c->out.dtype, interp_numel(&c->out));
        if (c->out.data != c->in[0].data) memmove(c->out.data, c->in[0].data, bytes);
        return KILN_OK;
    }
    default: return kiln_error(KILN_ERR_INTERNAL, "interp: '%s' is not a movement op", ir_op_name(c->p->op));
    }
}
