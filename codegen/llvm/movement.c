/* movement.c — data movement kernels: permute (output axes that stay adjacent in the input
 * are merged at compile time, so [0, 2, 1, 3] copies contiguous rows), slice, concat, gather
 * (embedding rows; ids range-checked before any copy, as the interpreter's messages say),
 * scatter (rows into a state tensor, in place) and iota.
 */
#include "codegen/llvm/llvm.h"

static LLVMTypeRef elem_int(cg_llvm_module *m, size_t es) {
    return es == 1 ? m->t_i8 : es == 2 ? m->t_i16 : es == 4 ? m->t_i32 : m->t_i64;
}

static LLVMValueRef prod_dims(cg_kb *k, int first, int from, int to) {   // dims[first + from .. first + to)
    LLVMValueRef p = cg_kb_i64(k, 1);
    for (int d = from; d < to; d++) p = cg_kb_mul(k, p, cg_kb_dim(k, first + d));
    return p;
}

static LLVMValueRef byte_gep(cg_kb *k, LLVMValueRef p, LLVMValueRef bytes) { return cg_kb_gep(k, k->m->t_i8, p, bytes); }

static LLVMValueRef empty_return(cg_kb *k, LLVMValueRef count) {
    cg_if f;
    cg_if_begin(k, &f, LLVMBuildICmp(k->b, LLVMIntSLE, count, cg_kb_i64(k, 0), ""), "empty");
    LLVMBuildRet(k->b, cg_kb_i32(k, KILN_OK));
    cg_if_end(k, &f);
    return count;
}

/* ---- permute ---- */

typedef struct perm_emit {
    const ir_node *n;
    int rank, n_groups;
    int first[IR_MAX_RANK], last[IR_MAX_RANK];   // output axes per merged group
    size_t es;
} perm_emit;

static void perm_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    perm_emit *w = ud;
    const int *perm = w->n->p.perm;
    int r = w->rank, G = w->n_groups;
    LLVMTypeRef et = elem_int(k->m, w->es);
    LLVMValueRef in_stride[IR_MAX_RANK], ext[IR_MAX_RANK], gstride[IR_MAX_RANK];
    LLVMValueRef s = cg_kb_i64(k, 1);
    for (int d = r - 1; d >= 0; d--) {
        in_stride[d] = s;
        s = cg_kb_mul(k, s, cg_kb_dim(k, d));
    }
    for (int g = 0; g < G; g++) {
        ext[g] = prod_dims(k, r, w->first[g], w->last[g] + 1);
        gstride[g] = in_stride[perm[w->last[g]]];
    }
    bool unit = perm[w->last[G - 1]] == r - 1;
    LLVMValueRef x = cg_kb_arg(k, 0), y = cg_kb_arg(k, 1), inner = ext[G - 1];
    cg_loop rl, il;
    cg_loop_begin(k, &rl, begin, end, "row");
    LLVMValueRef rem = rl.iv, off = cg_kb_i64(k, 0);
    for (int g = G - 2; g >= 0; g--) {
        LLVMValueRef idx = g > 0 ? LLVMBuildSRem(k->b, rem, ext[g], "") : rem;
        if (g > 0) rem = LLVMBuildSDiv(k->b, rem, ext[g], "");
        off = cg_kb_add(k, off, cg_kb_mul(k, idx, gstride[g]));
    }
    LLVMValueRef out_off = cg_kb_mul(k, rl.iv, inner);
    cg_loop_begin(k, &il, cg_kb_i64(k, 0), inner, "i");
    LLVMValueRef src = cg_kb_add(k, off, unit ? il.iv : cg_kb_mul(k, il.iv, gstride[G - 1]));
    LLVMValueRef v = LLVMBuildLoad2(k->b, et, cg_kb_gep(k, et, x, src), "");
    LLVMBuildStore(k->b, v, cg_kb_gep(k, et, y, cg_kb_add(k, out_off, il.iv)));
    cg_loop_end(k, &il);
    cg_loop_end(k, &rl);
}

static kiln_status emit_permute(cg_kb *k, const ir_node *n) {
    perm_emit w = {.n = n, .rank = n->rank, .es = cg_dtype_size(n->dtype)};
    const int *perm = n->p.perm;
    if (w.rank == 0) return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: permute of a rank-0 tensor");
    for (int d = 0; d < w.rank; d++) {
        if (d > 0 && perm[d] == perm[d - 1] + 1) {
            w.last[w.n_groups - 1] = d;
            continue;
        }
        w.first[w.n_groups] = w.last[w.n_groups] = d;
        w.n_groups++;
    }
    int G = w.n_groups;
    LLVMValueRef rows = prod_dims(k, w.rank, 0, w.first[G - 1]), inner = prod_dims(k, w.rank, w.first[G - 1], w.rank);
    empty_return(k, cg_kb_mul(k, rows, inner));
    cg_kb_parallel(k, rows, cg_kb_grain(k, inner, 1 << 14), perm_rows, &w);
    return KILN_OK;
}

/* ---- slice, concat ---- */

typedef struct copy_emit {
    const ir_node *n;
    int rank, axis;
    size_t es;
} copy_emit;

static void slice_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    copy_emit *w = ud;
    int r = w->rank;
    LLVMValueRef start = cg_kb_dim(k, 2 * r), stop = cg_kb_dim(k, 2 * r + 1);
    LLVMValueRef inner_b = cg_kb_mul(k, prod_dims(k, 0, w->axis + 1, r), cg_kb_i64(k, (int64_t)w->es));
    LLVMValueRef len = cg_kb_dim(k, w->axis);
    LLVMValueRef row = cg_kb_mul(k, LLVMBuildSub(k->b, stop, start, ""), inner_b);
    LLVMValueRef x = cg_kb_arg(k, 0), y = cg_kb_arg(k, 1);
    cg_loop l;
    cg_loop_begin(k, &l, begin, end, "row");
    LLVMValueRef src = cg_kb_mul(k, cg_kb_add(k, cg_kb_mul(k, l.iv, len), start), inner_b);
    cg_kb_memcpy(k, byte_gep(k, y, cg_kb_mul(k, l.iv, row)), byte_gep(k, x, src), row);
    cg_loop_end(k, &l);
}

static kiln_status emit_slice(cg_kb *k, const ir_node *n) {
    copy_emit w = {.n = n, .rank = n->rank, .axis = n->p.axis, .es = cg_dtype_size(n->dtype)};
    int r = w.rank;
    LLVMValueRef start = cg_kb_dim(k, 2 * r), stop = cg_kb_dim(k, 2 * r + 1), len = cg_kb_dim(k, w.axis);
    LLVMValueRef bad = LLVMBuildOr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, start, cg_kb_i64(k, 0), ""),
                                   LLVMBuildOr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, stop, start, ""),
                                               LLVMBuildICmp(k->b, LLVMIntSGT, stop, len, ""), ""),
                                   "");
    // The axis goes into the message as a constant: the format has no int argument for it.
    char fmt[96];
    snprintf(fmt, sizeof(fmt), "slice [%%lld, %%lld) outside axis %d of length %%lld", w.axis);
    cg_kb_fail_if(k, bad, KILN_ERR_INVALID_ARG, fmt, start, stop, len);
    LLVMValueRef outer = prod_dims(k, 0, 0, w.axis);
    LLVMValueRef row = cg_kb_mul(k, LLVMBuildSub(k->b, stop, start, ""), prod_dims(k, 0, w.axis + 1, r));
    empty_return(k, cg_kb_mul(k, outer, row));
    cg_kb_parallel(k, outer, cg_kb_grain(k, row, 1 << 15), slice_rows, &w);
    return KILN_OK;
}

static void concat_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    copy_emit *w = ud;
    const ir_node *n = w->n;
    int r = w->rank, ni = n->n_inputs, od = ni * r;
    LLVMValueRef es = cg_kb_i64(k, (int64_t)w->es);
    LLVMValueRef inner_b = cg_kb_mul(k, prod_dims(k, od, w->axis + 1, r), es);
    LLVMValueRef out_row = cg_kb_mul(k, cg_kb_dim(k, od + w->axis), inner_b);
    LLVMValueRef y = cg_kb_arg(k, ni), rows[IR_MAX_INPUTS], xs[IR_MAX_INPUTS];
    for (int i = 0; i < ni; i++) {
        rows[i] = cg_kb_mul(k, cg_kb_dim(k, i * r + w->axis), inner_b);
        xs[i] = cg_kb_arg(k, i);
    }
    cg_loop l;
    cg_loop_begin(k, &l, begin, end, "row");
    LLVMValueRef at = cg_kb_mul(k, l.iv, out_row);
    for (int i = 0; i < ni; i++) {
        cg_kb_memcpy(k, byte_gep(k, y, at), byte_gep(k, xs[i], cg_kb_mul(k, l.iv, rows[i])), rows[i]);
        at = cg_kb_add(k, at, rows[i]);
    }
    cg_loop_end(k, &l);
}

static kiln_status emit_concat(cg_kb *k, const ir_node *n) {
    copy_emit w = {.n = n, .rank = n->rank, .axis = n->p.axis, .es = cg_dtype_size(n->dtype)};
    int od = n->n_inputs * w.rank;
    LLVMValueRef outer = prod_dims(k, od, 0, w.axis), row = prod_dims(k, od, w.axis, w.rank);
    empty_return(k, cg_kb_mul(k, outer, row));
    cg_kb_parallel(k, outer, cg_kb_grain(k, row, 1 << 15), concat_rows, &w);
    return KILN_OK;
}

/* ---- gather, scatter, iota ---- */

typedef struct gather_emit {
    const ir_node *n;
    int rt, ri;              // table rank, index rank
    kiln_dtype table, index, out;
} gather_emit;

static LLVMValueRef load_index(cg_kb *k, kiln_dtype t, LLVMValueRef p, LLVMValueRef i) { return cg_load_elem(k, t, p, i); }

static void gather_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    gather_emit *w = ud;
    LLVMValueRef table = cg_kb_arg(k, 0), idx = cg_kb_arg(k, 1), y = cg_kb_arg(k, 2);
    LLVMValueRef width = prod_dims(k, 0, 1, w->rt);
    cg_loop l;
    cg_loop_begin(k, &l, begin, end, "row");
    LLVMValueRef r = load_index(k, w->index, idx, l.iv);
    if (kiln_dtype_get_info(w->table)->is_quantized) {   // rows of whole blocks, dequantized by libkiln_rt
        const kiln_dtype_info *q = kiln_dtype_get_info(w->table);
        LLVMValueRef row_bytes = cg_kb_mul(k, LLVMBuildSDiv(k->b, width, cg_kb_i64(k, q->block_size), ""), cg_kb_i64(k, q->block_bytes));
        LLVMTypeRef params[4] = {k->m->t_i32, k->m->t_ptr, k->m->t_ptr, k->m->t_i64};
        LLVMValueRef args[4] = {cg_kb_i32(k, (int32_t)w->table), byte_gep(k, table, cg_kb_mul(k, r, row_bytes)),
                                cg_kb_gep(k, k->m->t_f32, y, cg_kb_mul(k, l.iv, width)), width};
        cg_kb_call_ext(k, "rt_quant_dequantize_row", k->m->t_void, params, 4, false, args, 4);
    } else if (w->table == w->out) {
        LLVMValueRef es = cg_kb_i64(k, (int64_t)cg_dtype_size(w->table)), bytes = cg_kb_mul(k, width, es);
        cg_kb_memcpy(k, byte_gep(k, y, cg_kb_mul(k, l.iv, bytes)), byte_gep(k, table, cg_kb_mul(k, r, bytes)), bytes);
    } else {   // f16 / bf16 rows widen to f32
        LLVMValueRef src = cg_kb_mul(k, r, width), dst = cg_kb_mul(k, l.iv, width);
        cg_loop c;
        cg_loop_begin(k, &c, cg_kb_i64(k, 0), width, "c");
        cg_store_elem(k, w->out, y, cg_kb_add(k, dst, c.iv), cg_load_elem(k, w->table, table, cg_kb_add(k, src, c.iv)));
        cg_loop_end(k, &c);
    }
    cg_loop_end(k, &l);
}

static kiln_status emit_gather(cg_kb *k, const ir_node *n) {
    gather_emit w = {.n = n, .rt = n->inputs[0]->rank, .ri = n->inputs[1]->rank, .table = n->inputs[0]->dtype,
                     .index = n->inputs[1]->dtype, .out = n->dtype};
    bool widen = (w.table == KILN_F16 || w.table == KILN_BF16 || kiln_dtype_get_info(w.table)->is_quantized) && w.out == KILN_F32;
    if (w.table != w.out && !widen)
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: gather from a %s table", kiln_dtype_get_info(w.table)->name);
    LLVMValueRef rows = cg_kb_dim(k, 0), count = prod_dims(k, w.rt, 0, w.ri), idx = cg_kb_arg(k, 1);
    // Every id is checked before any row moves, so a bad id leaves a clear message and no half-copy.
    cg_loop l;
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), count, "check");
    LLVMValueRef r = load_index(k, w.index, idx, l.iv);
    LLVMValueRef bad = LLVMBuildOr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, r, cg_kb_i64(k, 0), ""),
                                   LLVMBuildICmp(k->b, LLVMIntSGE, r, rows, ""), "");
    cg_kb_fail_if(k, bad, KILN_ERR_INVALID_ARG, "gather: index %lld at position %lld is out of range [0, %lld)", r, l.iv, rows);
    cg_loop_end(k, &l);
    empty_return(k, cg_kb_mul(k, count, prod_dims(k, 0, 1, w.rt)));
    cg_kb_parallel(k, count, cg_kb_grain(k, prod_dims(k, 0, 1, w.rt), 1 << 14), gather_rows, &w);
    return KILN_OK;
}

static kiln_status emit_scatter(cg_kb *k, const ir_node *n) {
    const ir_node *dst = n->inputs[0], *ix = n->inputs[1];
    int r = dst->rank;
    LLVMValueRef es = cg_kb_i64(k, (int64_t)cg_dtype_size(dst->dtype));
    LLVMValueRef d = cg_kb_arg(k, 0), idx = cg_kb_arg(k, 1), val = cg_kb_arg(k, 2), out = cg_kb_arg(k, 3);
    LLVMValueRef B = cg_kb_dim(k, r), S = cg_kb_dim(k, r + 1), T = cg_kb_dim(k, 1);
    LLVMValueRef row = cg_kb_mul(k, prod_dims(k, 0, 2, r), es);
    cg_if f;
    cg_if_begin(k, &f, LLVMBuildICmp(k->b, LLVMIntNE, out, d, ""), "copy");
    cg_kb_memcpy(k, out, d, cg_kb_mul(k, prod_dims(k, 0, 0, r), es));
    cg_if_end(k, &f);
    cg_loop lb, ls;
    cg_loop_begin(k, &lb, cg_kb_i64(k, 0), B, "b");
    cg_loop_begin(k, &ls, cg_kb_i64(k, 0), S, "s");
    LLVMValueRef bs = cg_kb_add(k, cg_kb_mul(k, lb.iv, S), ls.iv);
    LLVMValueRef t = cg_load_elem(k, ix->dtype, idx, bs);
    LLVMValueRef bad = LLVMBuildOr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, t, cg_kb_i64(k, 0), ""), LLVMBuildICmp(k->b, LLVMIntSGE, t, T, ""), "");
    cg_kb_fail_if(k, bad, KILN_ERR_INVALID_ARG, "scatter: row %lld for batch %lld is out of range [0, %lld)", t, lb.iv, T);
    LLVMValueRef to = cg_kb_mul(k, cg_kb_add(k, cg_kb_mul(k, lb.iv, T), t), row);
    cg_kb_memcpy(k, byte_gep(k, out, to), byte_gep(k, val, cg_kb_mul(k, bs, row)), row);
    cg_loop_end(k, &ls);
    cg_loop_end(k, &lb);
    return KILN_OK;
}

typedef struct iota_emit {
    int rank, axis;
    kiln_dtype dtype;
} iota_emit;

static void iota_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    iota_emit *w = ud;
    LLVMValueRef len = cg_kb_dim(k, w->axis), inner = prod_dims(k, 0, w->axis + 1, w->rank), start = cg_kb_dim(k, w->rank);
    LLVMValueRef y = cg_kb_arg(k, 0);
    cg_loop l, i;
    cg_loop_begin(k, &l, begin, end, "row");
    LLVMValueRef v = cg_kb_add(k, start, LLVMBuildSRem(k->b, l.iv, len, ""));
    // The interpreter stores start + k as float for f32 (exact below 2^24).
    LLVMValueRef val = w->dtype == KILN_F32 ? LLVMBuildSIToFP(k->b, v, k->m->t_f32, "") : v;
    LLVMValueRef base = cg_kb_mul(k, l.iv, inner);
    cg_loop_begin(k, &i, cg_kb_i64(k, 0), inner, "i");
    cg_store_elem(k, w->dtype, y, cg_kb_add(k, base, i.iv), val);
    cg_loop_end(k, &i);
    cg_loop_end(k, &l);
}

static kiln_status emit_iota(cg_kb *k, const ir_node *n) {
    iota_emit w = {.rank = n->rank, .axis = n->p.axis, .dtype = n->dtype};
    if (w.dtype != KILN_I64 && w.dtype != KILN_I32 && w.dtype != KILN_F32)
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: iota of %s", kiln_dtype_get_info(w.dtype)->name);
    LLVMValueRef rows = prod_dims(k, 0, 0, w.axis + 1), inner = prod_dims(k, 0, w.axis + 1, w.rank);
    empty_return(k, cg_kb_mul(k, rows, inner));
    cg_kb_parallel(k, rows, cg_kb_grain(k, inner, 1 << 14), iota_rows, &w);
    return KILN_OK;
}

kiln_status cg_llvm_emit_movement(cg_kb *k, const ir_node *n) {
    switch (n->op) {
    case IR_OP_PERMUTE: return emit_permute(k, n);
    case IR_OP_SLICE: return emit_slice(k, n);
    case IR_OP_CONCAT: return emit_concat(k, n);
    case IR_OP_GATHER: return emit_gather(k, n);
    case IR_OP_SCATTER: return emit_scatter(k, n);
    case IR_OP_IOTA: return emit_iota(k, n);
    default: return kiln_error(KILN_ERR_INTERNAL, "cpu: '%s' is not a movement op", ir_op_name(n->op));
    }
}
