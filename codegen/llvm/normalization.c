/* normalization.c — the statistical kernels: softmax, LayerNorm, RMSNorm, reductions and
 * cumulative sums along one axis. Rows are split over the pool. Along the last axis a row is
 * contiguous and its loops vectorize (sums accumulate in double, as the interpreter does, with
 * reassociation allowed so that they vectorize); along another axis the loops are strided.
 * LayerNorm and RMSNorm rows accumulate in float, as PyTorch does for float tensors: in double
 * the loops ran 8 lanes wide instead of 16 (BERT-base 1 x 128: norms 1.42 -> 1.32 ms).
 */
#include "codegen/llvm/llvm.h"

#include <math.h>

typedef struct norm_emit {
    const ir_node *n;
    ir_op op;
    int rank, axis;
    kiln_dtype dtype;
    float eps;
    int x_arg, gamma_arg, beta_arg;   // LAYER_NORM / RMS_NORM operands (beta -1 for RMS)
    int out_arg;          // index of the output among the args
    int dims_at;          // where the input's dims start in the launch's dims
    const ir_node *prologue, *prologue_x;   // a NORM region's flat prologue, computed in the row task
    kiln_status status;
} norm_emit;

static bool is_last(const norm_emit *w) { return w->axis == w->rank - 1; }

// outer, len, inner of the input (dims 0..rank-1) around the axis.
static void split(cg_kb *k, const norm_emit *w, LLVMValueRef *outer, LLVMValueRef *len, LLVMValueRef *inner) {
    *outer = cg_kb_i64(k, 1);
    *inner = cg_kb_i64(k, 1);
    for (int d = 0; d < w->axis; d++) *outer = cg_kb_mul(k, *outer, cg_kb_dim(k, w->dims_at + d));
    *len = cg_kb_dim(k, w->dims_at + w->axis);
    for (int d = w->axis + 1; d < w->rank; d++) *inner = cg_kb_mul(k, *inner, cg_kb_dim(k, w->dims_at + d));
}

// Base element and stride of row `r` (rows = outer * inner; along the last axis inner = 1).
static void row_base(cg_kb *k, const norm_emit *w, LLVMValueRef r, LLVMValueRef len, LLVMValueRef inner, LLVMValueRef *base,
                     LLVMValueRef *stride) {
    if (is_last(w)) {
        *base = cg_kb_mul(k, r, len);
        *stride = cg_kb_i64(k, 1);
        return;
    }
    LLVMValueRef o = LLVMBuildSDiv(k->b, r, inner, ""), i = LLVMBuildSRem(k->b, r, inner, "");
    *base = cg_kb_add(k, cg_kb_mul(k, cg_kb_mul(k, o, len), inner), i);
    *stride = inner;
}

static LLVMValueRef at(cg_kb *k, LLVMValueRef base, LLVMValueRef stride, LLVMValueRef i) {
    return cg_kb_add(k, base, cg_kb_mul(k, i, stride));
}

static LLVMValueRef load_f(cg_kb *k, LLVMValueRef p, LLVMValueRef idx) { return cg_load_elem(k, KILN_F32, p, idx); }

static LLVMValueRef fmax_nn(cg_kb *k, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    LLVMValueRef r = cg_kb_intrinsic(k, "llvm.maxnum", LLVMTypeOf(a), args, 2);
    LLVMSetFastMathFlags(r, LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
    return r;
}

static void softmax_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    norm_emit *w = ud;
    cg_llvm_module *m = k->m;
    LLVMValueRef x = cg_kb_arg(k, 0), y = cg_kb_arg(k, 1), outer, len, inner;
    split(k, w, &outer, &len, &inner);
    LLVMValueRef vmax = cg_kb_var(k, m->t_f32, "max"), vsum = cg_kb_var(k, m->t_f64, "sum");
    cg_loop rl;
    cg_loop_begin(k, &rl, begin, end, "row");
    LLVMValueRef base, stride;
    row_base(k, w, rl.iv, len, inner, &base, &stride);
    LLVMBuildStore(k->b, cg_kb_f32(k, -INFINITY), vmax);
    cg_loop l;
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), len, "k");
    LLVMBuildStore(k->b, fmax_nn(k, LLVMBuildLoad2(k->b, m->t_f32, vmax, ""), load_f(k, x, at(k, base, stride, l.iv))), vmax);
    cg_loop_end(k, &l);
    LLVMValueRef mx = LLVMBuildLoad2(k->b, m->t_f32, vmax, "m");
    LLVMBuildStore(k->b, cg_kb_f64(k, 0), vsum);
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), len, "k");
    LLVMValueRef idx = at(k, base, stride, l.iv);
    LLVMValueRef e = cg_math_exp_nonpos(k, LLVMBuildFSub(k->b, load_f(k, x, idx), mx, ""));
    cg_store_elem(k, KILN_F32, y, idx, e);
    LLVMValueRef s = cg_kb_reassoc(LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, m->t_f64, vsum, ""), LLVMBuildFPExt(k->b, e, m->t_f64, ""), ""));
    LLVMBuildStore(k->b, s, vsum);
    cg_loop_end(k, &l);
    LLVMValueRef inv = LLVMBuildFPTrunc(k->b, LLVMBuildFDiv(k->b, cg_kb_f64(k, 1.0), LLVMBuildLoad2(k->b, m->t_f64, vsum, ""), ""),
                                        m->t_f32, "inv");
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), len, "k");
    idx = at(k, base, stride, l.iv);
    cg_store_elem(k, KILN_F32, y, idx, LLVMBuildFMul(k->b, load_f(k, y, idx), inv, ""));
    cg_loop_end(k, &l);
    cg_loop_end(k, &rl);
}

static void norm_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    norm_emit *w = ud;
    cg_llvm_module *m = k->m;
    bool rms = w->op == IR_OP_RMS_NORM;
    // In place (a fused prologue left x in the output): one pointer, so the loops need no overlap check.
    LLVMValueRef y = cg_kb_arg(k, w->out_arg), x = w->x_arg == w->out_arg ? y : cg_kb_arg(k, w->x_arg);
    LLVMValueRef gamma = cg_kb_arg(k, w->gamma_arg), beta = rms ? NULL : cg_kb_arg(k, w->beta_arg);
    LLVMValueRef d = cg_kb_dim(k, w->dims_at + w->rank - 1);
    LLVMValueRef dd = LLVMBuildSIToFP(k->b, d, m->t_f32, "");
    LLVMValueRef vsum = cg_kb_var(k, m->t_f32, "sum");
    // x of these rows first, into the output (still in cache when the loops below read it)
    if (w->prologue) w->status = cg_llvm_emit_ew_part_rows(k, w->prologue, NULL, w->prologue_x, begin, end, d);
    cg_loop rl, l;
    cg_loop_begin(k, &rl, begin, end, "row");
    LLVMValueRef base = cg_kb_mul(k, rl.iv, d);
    LLVMValueRef mean = cg_kb_f32(k, 0);
    if (!rms) {
        LLVMBuildStore(k->b, cg_kb_f32(k, 0), vsum);
        cg_loop_begin(k, &l, cg_kb_i64(k, 0), d, "k");
        LLVMValueRef v = load_f(k, x, cg_kb_add(k, base, l.iv));
        LLVMBuildStore(k->b, cg_kb_reassoc(LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, m->t_f32, vsum, ""), v, "")), vsum);
        cg_loop_end(k, &l);
        mean = LLVMBuildFDiv(k->b, LLVMBuildLoad2(k->b, m->t_f32, vsum, ""), dd, "mean");
    }
    LLVMBuildStore(k->b, cg_kb_f32(k, 0), vsum);
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), d, "k");
    LLVMValueRef c = LLVMBuildFSub(k->b, load_f(k, x, cg_kb_add(k, base, l.iv)), mean, "");
    LLVMValueRef sq = LLVMBuildFMul(k->b, c, c, "");
    LLVMBuildStore(k->b, cg_kb_reassoc(LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, m->t_f32, vsum, ""), sq, "")), vsum);
    cg_loop_end(k, &l);
    LLVMValueRef var = LLVMBuildFDiv(k->b, LLVMBuildLoad2(k->b, m->t_f32, vsum, ""), dd, "var");
    LLVMValueRef ve = LLVMBuildFAdd(k->b, var, cg_kb_f32(k, w->eps), "");
    LLVMValueRef invf = LLVMBuildFDiv(k->b, cg_kb_f32(k, 1.0f), cg_kb_intrinsic(k, "llvm.sqrt", m->t_f32, &ve, 1), ""), meanf = mean;
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), d, "k");
    LLVMValueRef idx = cg_kb_add(k, base, l.iv);
    LLVMValueRef v = LLVMBuildFMul(k->b, LLVMBuildFSub(k->b, load_f(k, x, idx), meanf, ""), invf, "");
    v = LLVMBuildFMul(k->b, v, load_f(k, gamma, l.iv), "");
    if (beta) v = LLVMBuildFAdd(k->b, v, load_f(k, beta, l.iv), "");
    cg_store_elem(k, KILN_F32, y, idx, v);
    cg_loop_end(k, &l);
    cg_loop_end(k, &rl);
}

static bool is_f(kiln_dtype t) { return t == KILN_F32; }

static void reduce_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    norm_emit *w = ud;
    cg_llvm_module *m = k->m;
    bool fl = is_f(w->dtype), mx = w->op == IR_OP_REDUCE_MAX;
    LLVMTypeRef acc_t = fl ? (mx ? m->t_f32 : m->t_f64) : m->t_i64;
    LLVMValueRef x = cg_kb_arg(k, 0), y = cg_kb_arg(k, 1), outer, len, inner;
    split(k, w, &outer, &len, &inner);
    LLVMValueRef vacc = cg_kb_var(k, acc_t, "acc");
    LLVMValueRef init = fl ? (mx ? cg_kb_f32(k, -INFINITY) : cg_kb_f64(k, 0)) : cg_kb_i64(k, mx ? INT64_MIN : 0);
    cg_loop rl, l;
    cg_loop_begin(k, &rl, begin, end, "row");
    LLVMValueRef base, stride;
    row_base(k, w, rl.iv, len, inner, &base, &stride);
    LLVMBuildStore(k->b, init, vacc);
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), len, "k");
    LLVMValueRef v = cg_load_elem(k, w->dtype, x, at(k, base, stride, l.iv));
    LLVMValueRef a = LLVMBuildLoad2(k->b, acc_t, vacc, ""), r;
    if (fl && mx) r = fmax_nn(k, a, v);
    else if (fl) r = cg_kb_reassoc(LLVMBuildFAdd(k->b, a, LLVMBuildFPExt(k->b, v, m->t_f64, ""), ""));
    else if (mx) r = LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, v, a, ""), v, a, "");
    else r = LLVMBuildAdd(k->b, a, v, "");
    LLVMBuildStore(k->b, r, vacc);
    cg_loop_end(k, &l);
    LLVMValueRef res = LLVMBuildLoad2(k->b, acc_t, vacc, "");
    if (w->op == IR_OP_REDUCE_MEAN) res = LLVMBuildFDiv(k->b, res, LLVMBuildSIToFP(k->b, len, m->t_f64, ""), "");
    if (fl && !mx) res = LLVMBuildFPTrunc(k->b, res, m->t_f32, "");
    cg_store_elem(k, w->dtype, y, rl.iv, res);
    cg_loop_end(k, &rl);
}

static void cumsum_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    norm_emit *w = ud;
    cg_llvm_module *m = k->m;
    bool fl = is_f(w->dtype);
    LLVMTypeRef acc_t = fl ? m->t_f64 : m->t_i64;
    LLVMValueRef x = cg_kb_arg(k, 0), y = cg_kb_arg(k, 1), outer, len, inner;
    split(k, w, &outer, &len, &inner);
    LLVMValueRef vacc = cg_kb_var(k, acc_t, "acc");
    cg_loop rl, l;
    cg_loop_begin(k, &rl, begin, end, "row");
    LLVMValueRef base, stride;
    row_base(k, w, rl.iv, len, inner, &base, &stride);
    LLVMBuildStore(k->b, fl ? cg_kb_f64(k, 0) : cg_kb_i64(k, 0), vacc);
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), len, "k");
    LLVMValueRef idx = at(k, base, stride, l.iv);
    LLVMValueRef v = cg_load_elem(k, w->dtype, x, idx), a = LLVMBuildLoad2(k->b, acc_t, vacc, "");
    a = fl ? LLVMBuildFAdd(k->b, a, LLVMBuildFPExt(k->b, v, m->t_f64, ""), "") : LLVMBuildAdd(k->b, a, v, "");
    LLVMBuildStore(k->b, a, vacc);
    cg_store_elem(k, w->dtype, y, idx, fl ? LLVMBuildFPTrunc(k->b, a, m->t_f32, "") : a);
    cg_loop_end(k, &l);
    cg_loop_end(k, &rl);
}

static int input_index(const ir_node *in) {
    int k = -1;
    if (in->op != IR_OP_INPUT || !in->name || sscanf(in->name, "in%d", &k) != 1) return -1;
    return k;
}

bool cg_llvm_norm_region(const ir_node *n, const ir_node **norm_out) {
    if (n->op != IR_OP_FUSED || n->p.fused_kind != IR_FUSED_NORM || !n->p.body || n->p.body->n_outputs != 1) return false;
    const ir_node *nm = n->p.body->outputs[0].node;
    if ((nm->op != IR_OP_LAYER_NORM && nm->op != IR_OP_RMS_NORM) || nm->dtype != KILN_F32 || nm->rank != n->rank || nm->rank < 1)
        return false;
    for (int k = 1; k < nm->n_inputs; k++)
        if (input_index(nm->inputs[k]) < 0) return false;
    const ir_node *x = nm->inputs[0];
    if (input_index(x) < 0 && !cg_llvm_ew_part_ok(n, NULL, x)) return false;
    *norm_out = nm;
    return true;
}

// A NORM region: the prologue computes x into the output, then the norm runs over it in place; or
// the norm reads its input directly when there is no prologue. A flat prologue (the residual add
// of every post-norm encoder) runs in the norm's row task, a block of rows at a time, so the rows
// are normalized while in cache and the kernel makes one pass over the pool instead of two.
static kiln_status emit_norm_region(cg_kb *k, const ir_node *n) {
    const ir_node *nm;
    if (!cg_llvm_norm_region(n, &nm)) return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d is not a norm region", n->id);
    norm_emit w = {.n = n, .op = nm->op, .rank = n->rank, .axis = n->rank - 1, .dtype = KILN_F32, .eps = nm->p.eps};
    w.out_arg = n->n_inputs;
    for (int i = 0; i < n->n_inputs; i++) w.dims_at += n->inputs[i]->rank;   // the output's dims (x's shape)
    w.gamma_arg = input_index(nm->inputs[1]);
    w.beta_arg = nm->op == IR_OP_LAYER_NORM ? input_index(nm->inputs[2]) : -1;
    w.x_arg = input_index(nm->inputs[0]);
    if (w.x_arg < 0) {   // a prologue: row by row in the norm's own pass when it can be, else a pass before
        if (cg_llvm_ew_part_flat(n, NULL, nm->inputs[0])) {
            w.prologue = n;
            w.prologue_x = nm->inputs[0];
        } else {
            kiln_status st = cg_llvm_emit_ew_part(k, n, NULL, nm->inputs[0]);
            if (st) return st;
        }
        w.x_arg = w.out_arg;
    }
    LLVMValueRef outer, len, inner;
    split(k, &w, &outer, &len, &inner);
    cg_kb_parallel(k, outer, cg_kb_grain(k, len, 1 << 14), norm_rows, &w);
    return w.status;
}

kiln_status cg_llvm_emit_normalization(cg_kb *k, const ir_node *n) {
    if (n->op == IR_OP_FUSED) return emit_norm_region(k, n);
    norm_emit w = {.n = n, .op = n->op, .rank = n->inputs[0]->rank, .axis = n->p.axis, .dtype = n->inputs[0]->dtype, .eps = n->p.eps};
    w.out_arg = n->n_inputs;
    w.x_arg = 0;
    w.gamma_arg = 1;
    w.beta_arg = 2;
    if (n->op == IR_OP_LAYER_NORM || n->op == IR_OP_RMS_NORM) w.axis = w.rank - 1;
    if (w.rank == 0) {   // a scalar: one row of one element along a virtual axis
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: %s of a rank-0 tensor", ir_op_name(n->op));
    }
    LLVMValueRef outer, len, inner;
    split(k, &w, &outer, &len, &inner);
    if (n->op == IR_OP_REDUCE_MAX || n->op == IR_OP_REDUCE_MEAN) {
        char msg[96];
        snprintf(msg, sizeof(msg), "cpu: %s over an empty axis", ir_op_name(n->op));
        cg_kb_fail_if(k, LLVMBuildICmp(k->b, LLVMIntEQ, len, cg_kb_i64(k, 0), ""), KILN_ERR_INVALID_ARG, msg, NULL, NULL, NULL);
    }
    LLVMValueRef rows = cg_kb_mul(k, outer, inner);
    LLVMValueRef grain = cg_kb_grain(k, len, is_last(&w) ? 1 << 14 : 1 << 12);
    cg_rows_fn fn = NULL;
    switch (n->op) {
    case IR_OP_SOFTMAX: fn = softmax_rows; break;
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
        fn = norm_rows;
        rows = outer;
        break;
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MEAN:
    case IR_OP_REDUCE_MAX: fn = reduce_rows; break;
    case IR_OP_CUMSUM: fn = cumsum_rows; break;
    default: return kiln_error(KILN_ERR_INTERNAL, "cpu: '%s' is not a normalization", ir_op_name(n->op));
    }
    cg_kb_parallel(k, rows, grain, fn, &w);
    return KILN_OK;
}
