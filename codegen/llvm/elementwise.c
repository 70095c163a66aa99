/* elementwise.c — element-wise kernels: unary math, binary arithmetic and comparisons with numpy
 * broadcasting, casts, where, expand, and FUSED regions whose bodies are element-wise only (one
 * pass over memory for the whole region). Semantics follow codegen/interp/elementwise.c op for
 * op: integers compute in int64, casts between floats and integers go through double.
 *
 * The loop nest: output axes whose broadcast pattern (which operands repeat along them) is the
 * same are merged at compile time, so `[batch, seq, 768] + [768]` becomes rows × 768. Rows are
 * split over the pool; the innermost loop reads each operand with a static stride 0 or 1, which
 * the loop vectorizer turns into straight vector code.
 */
#include "codegen/llvm/llvm.h"

#define EW_MAX_TERMS 64

typedef struct ew_term {
    ir_op op;
    kiln_dtype dtype;      // result
    kiln_dtype in_dtype;   // operand 0's (casts, comparisons: which arithmetic)
    int n_in;
    int in[3];             // >= 0: an earlier term; < 0: operand -(in + 1) of the kernel
    double cval;           // CONST: the scalar
} ew_term;

typedef struct ew_expr {
    int n_inputs;
    kiln_dtype in_dtype[IR_MAX_INPUTS + 1];   // + 1: a region's output read back as an operand
    int in_rank[IR_MAX_INPUTS + 1];
    bool bcast[IR_MAX_INPUTS + 1][IR_MAX_RANK];   // operand repeats along output axis d
    bool used[IR_MAX_INPUTS + 1];             // operands some term reads (a region's others are skipped)
    int out_rank;
    kiln_dtype out_dtype;
    int out_arg;           // the output's argument index (the node's input count)
    int n_terms;
    ew_term terms[EW_MAX_TERMS];
} ew_expr;

static bool is_floatish(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

static bool is_ew_op(ir_op op) { return op == IR_OP_EXPAND || (ir_op_flags(op) & IR_OPF_ELEMENTWISE); }

static void set_bcast(ew_expr *e, int k, const ir_node *in, const ir_node *out) {
    e->in_dtype[k] = in->dtype;
    e->in_rank[k] = in->rank;
    for (int d = 0; d < out->rank; d++) {
        int di = in->rank - out->rank + d;
        int64_t v, vo;
        bool one = di >= 0 && ir_dim_is_const(in->shape[di], &v) && v == 1;
        bool out_one = ir_dim_is_const(out->shape[d], &vo) && vo == 1;
        e->bcast[k][d] = di < 0 || (one && !out_one);
    }
}

static void mark_used(ew_expr *e) {
    for (int i = 0; i < e->n_terms; i++)
        for (int a = 0; a < e->terms[i].n_in; a++)
            if (e->terms[i].in[a] < 0) e->used[-e->terms[i].in[a] - 1] = true;
}

static double scalar_of(const ir_node *c) {
    switch (c->dtype) {
    case KILN_F32: return *(const float *)c->p.data;
    case KILN_I32: return *(const int32_t *)c->p.data;
    case KILN_I64: return (double)*(const int64_t *)c->p.data;
    case KILN_BOOL: return *(const uint8_t *)c->p.data;
    default: return 0;
    }
}

static bool is_scalar_const(const ir_node *n) {
    if (n->op != IR_OP_CONST) return false;
    for (int d = 0; d < n->rank; d++) {
        int64_t v;
        if (!ir_dim_is_const(n->shape[d], &v) || v != 1) return false;
    }
    return n->dtype == KILN_F32 || n->dtype == KILN_I32 || n->dtype == KILN_BOOL ||
           (n->dtype == KILN_I64 && llabs(*(const int64_t *)n->p.data) < (1ll << 53));
}

// Builds the expression of node `n` (an element-wise op, or a FUSED region) evaluated at each
// output element. In a region, `result` (NULL: the body's output) is the body node whose value is
// computed, and `root` (NULL: none) a body node whose value is already in the output buffer: it is
// read from there as operand n->n_inputs (the output's argument index), and what it depends on
// is not evaluated. false when the nodes to evaluate are not all element-wise.
static bool build_expr_ex(const ir_node *n, const ir_node *root, const ir_node *result, ew_expr *e) {
    memset(e, 0, sizeof(*e));
    e->out_rank = n->rank;
    e->out_dtype = n->dtype;
    e->out_arg = n->n_inputs;
    if (n->op != IR_OP_FUSED) {
        if (!is_ew_op(n->op)) return false;
        e->n_inputs = n->n_inputs;
        for (int k = 0; k < n->n_inputs; k++) set_bcast(e, k, n->inputs[k], n);
        ew_term *t = &e->terms[e->n_terms++];
        t->op = n->op;
        t->dtype = n->dtype;
        t->in_dtype = n->n_inputs ? n->inputs[0]->dtype : n->dtype;
        t->n_in = n->n_inputs;
        for (int k = 0; k < n->n_inputs; k++) t->in[k] = -(k + 1);
        mark_used(e);
        return true;
    }
    const ir_graph *body = n->p.body;
    if (!body || body->n_outputs != 1 || body->n_nodes > 256) return false;
    if (!result) result = body->outputs[0].node;
    e->n_inputs = n->n_inputs + (root ? 1 : 0);
    for (int k = 0; k < n->n_inputs; k++) set_bcast(e, k, n->inputs[k], n);
    if (root) {   // the output buffer, read element for element
        e->in_dtype[n->n_inputs] = root->dtype;
        e->in_rank[n->n_inputs] = n->rank;
    }
    // Terms for the nodes the result depends on, in body order.
    bool live[256] = {false};
    int term_of[256] = {0};
    live[result->id] = true;
    for (int i = body->n_nodes - 1; i >= 0; i--)
        if (live[i] && body->nodes[i] != root)
            for (int k = 0; k < body->nodes[i]->n_inputs; k++) live[body->nodes[i]->inputs[k]->id] = true;
    for (int i = 0; i < body->n_nodes; i++) {
        const ir_node *b = body->nodes[i];
        if (!live[i]) continue;
        if (b == root) {
            term_of[i] = -(n->n_inputs + 1);
            continue;
        }
        if (b->op == IR_OP_INPUT) {
            int k = -1;
            if (!b->name || sscanf(b->name, "in%d", &k) != 1 || k < 0 || k >= n->n_inputs) return false;
            term_of[i] = -(k + 1);
            continue;
        }
        if (e->n_terms >= EW_MAX_TERMS) return false;
        ew_term *t = &e->terms[e->n_terms];
        if (b->op == IR_OP_CONST) {
            if (!is_scalar_const(b)) return false;
            t->op = IR_OP_CONST;
            t->dtype = t->in_dtype = b->dtype;
            t->cval = scalar_of(b);
        } else if (is_ew_op(b->op) && b->op != IR_OP_EXPAND) {
            t->op = b->op;
            t->dtype = b->dtype;
            t->in_dtype = b->n_inputs ? b->inputs[0]->dtype : b->dtype;
            t->n_in = b->n_inputs;
            for (int k = 0; k < b->n_inputs; k++) t->in[k] = term_of[b->inputs[k]->id];
        } else if (b->op == IR_OP_EXPAND || b->op == IR_OP_RESHAPE) {
            // A broadcast or reshape inside the body only means something for indexing that
            // the loop nest does not model: leave the region to op-by-op lowering.
            return false;
        } else {
            return false;
        }
        term_of[i] = e->n_terms++;
    }
    int out = term_of[result->id];
    if (out < 0 && result == root) return true;   // nothing left to evaluate (n_terms 0)
    if (out < 0) {   // the body passes an input through: a copy
        ew_term *t = &e->terms[e->n_terms++];
        t->op = IR_OP_EXPAND;
        t->dtype = t->in_dtype = n->dtype;
        t->n_in = 1;
        t->in[0] = out;
    }
    mark_used(e);
    // Element-wise ops keep shapes or broadcast; the operands read must fit the region's output.
    for (int k = 0; k < n->n_inputs; k++)
        if (e->used[k] && n->inputs[k]->rank > n->rank) return false;
    return true;
}

bool cg_llvm_elementwise_fusable(const ir_node *fused) { return cg_llvm_ew_part_ok(fused, NULL, NULL); }

bool cg_llvm_ew_part_ok(const ir_node *n, const ir_node *root, const ir_node *result) {
    ew_expr *x = malloc(sizeof(*x));
    if (!x) return false;
    bool ok = build_expr_ex(n, root, result, x);
    free(x);
    return ok;
}

kiln_status cg_llvm_ew_signature(const ir_node *n, kiln_strbuf *sb) { return cg_llvm_ew_part_signature(n, NULL, NULL, sb); }

kiln_status cg_llvm_ew_part_signature(const ir_node *n, const ir_node *root, const ir_node *result, kiln_strbuf *sb) {
    ew_expr *e = malloc(sizeof(*e));
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    if (!build_expr_ex(n, root, result, e)) {
        free(e);
        return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d is not element-wise", n->id);
    }
    kiln_strbuf_printf(sb, "ew r%d %s", e->out_rank, kiln_dtype_get_info(e->out_dtype)->name);
    for (int k = 0; k < e->n_inputs; k++) {
        if (!e->used[k]) continue;
        kiln_strbuf_printf(sb, " i%d:%s:", k, kiln_dtype_get_info(e->in_dtype[k])->name);
        for (int d = 0; d < e->out_rank; d++) kiln_strbuf_printf(sb, "%c", e->bcast[k][d] ? 'b' : 'f');
    }
    for (int i = 0; i < e->n_terms; i++) {
        const ew_term *t = &e->terms[i];
        kiln_strbuf_printf(sb, " t%d:%s:%s:%s", i, ir_op_name(t->op), kiln_dtype_get_info(t->dtype)->name,
                           kiln_dtype_get_info(t->in_dtype)->name);
        for (int k = 0; k < t->n_in; k++) kiln_strbuf_printf(sb, ",%d", t->in[k]);
        if (t->op == IR_OP_CONST) kiln_strbuf_printf(sb, "=%a", t->cval);
    }
    free(e);
    return KILN_OK;
}

/* ---- emission ---- */

typedef struct ew_emit {
    const ew_expr *e;
    LLVMValueRef scope_in, scope_out;   // alias scopes: the output never overlaps an operand except
                                        // exactly (in place), which element-wise order tolerates
    int n_groups;
    int group_first[IR_MAX_RANK], group_last[IR_MAX_RANK];   // output axes of each merged group
    bool gbcast[IR_MAX_INPUTS + 1][IR_MAX_RANK];                 // operand repeats along group g
    int out_dims;                                            // index of the output's first dim
    LLVMValueRef div0;                                       // task-local flag: integer division by zero
    LLVMValueRef row_len;                                    // flat parts inside another kernel's rows: elements per row
} ew_emit;

static void plan_groups(ew_emit *w) {
    const ew_expr *e = w->e;
    w->n_groups = 0;
    for (int d = 0; d < e->out_rank; d++) {
        bool same = w->n_groups > 0;
        for (int k = 0; same && k < e->n_inputs; k++)
            if (e->used[k] && e->bcast[k][d] != w->gbcast[k][w->n_groups - 1]) same = false;
        if (same) {
            w->group_last[w->n_groups - 1] = d;
            continue;
        }
        w->group_first[w->n_groups] = w->group_last[w->n_groups] = d;
        for (int k = 0; k < e->n_inputs; k++) w->gbcast[k][w->n_groups] = e->bcast[k][d];
        w->n_groups++;
    }
    w->out_dims = 0;
    for (int k = 0; k < e->out_arg; k++) w->out_dims += e->in_rank[k];   // the extra operand (the output) has no dims
}

// Scoped-noalias metadata, so that the vectorizer needs no overlap check: the planner may write
// an element-wise output over an operand of the same shape (cg_alias_elementwise), and then
// every element is read before it is written, vectorized or not.
static void make_scopes(cg_kb *k, ew_emit *w) {
    LLVMContextRef c = k->m->ctx;
    LLVMMetadataRef dom_name = LLVMMDStringInContext2(c, "kiln.ew", 7);
    LLVMMetadataRef domain = LLVMMDNodeInContext2(c, &dom_name, 1);
    LLVMMetadataRef in[2] = {LLVMMDStringInContext2(c, "kiln.ew.in", 10), domain};
    LLVMMetadataRef out[2] = {LLVMMDStringInContext2(c, "kiln.ew.out", 11), domain};
    LLVMMetadataRef s_in = LLVMMDNodeInContext2(c, in, 2), s_out = LLVMMDNodeInContext2(c, out, 2);
    w->scope_in = LLVMMetadataAsValue(c, LLVMMDNodeInContext2(c, &s_in, 1));
    w->scope_out = LLVMMetadataAsValue(c, LLVMMDNodeInContext2(c, &s_out, 1));
}

static void mark(cg_kb *k, LLVMValueRef inst, LLVMValueRef scope, LLVMValueRef noalias) {
    LLVMSetMetadata(inst, LLVMGetMDKindIDInContext(k->m->ctx, "alias.scope", 11), scope);
    LLVMSetMetadata(inst, LLVMGetMDKindIDInContext(k->m->ctx, "noalias", 7), noalias);
}

static LLVMValueRef group_extent(cg_kb *k, const ew_emit *w, int g) {
    LLVMValueRef ext = cg_kb_i64(k, 1);
    for (int d = w->group_first[g]; d <= w->group_last[g]; d++) ext = cg_kb_mul(k, ext, cg_kb_dim(k, w->out_dims + d));
    return ext;
}

static LLVMValueRef fcmp_sel(cg_kb *k, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f) {
    return LLVMBuildSelect(k->b, LLVMBuildFCmp(k->b, p, a, b, ""), t, f, "");
}

static LLVMValueRef sigmoid_times(cg_kb *k, LLVMValueRef num, LLVMValueRef x, float scale) {
    // num / (1 + exp(-scale x))
    LLVMValueRef e = cg_math_exp(k, LLVMBuildFMul(k->b, x, cg_kb_f32(k, -scale), ""));
    return LLVMBuildFDiv(k->b, num, LLVMBuildFAdd(k->b, cg_kb_f32(k, 1.0f), e, ""), "");
}

static LLVMValueRef unary_f32(cg_kb *k, ir_op op, LLVMValueRef x) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef one = cg_kb_f32(k, 1.0f), half = cg_kb_f32(k, 0.5f);
    switch (op) {
    case IR_OP_NEG: return LLVMBuildFNeg(b, x, "");
    case IR_OP_EXP: return cg_math_exp(k, x);
    case IR_OP_LOG: return cg_kb_intrinsic(k, "llvm.log", k->m->t_f32, &x, 1);
    case IR_OP_SQRT: return cg_kb_intrinsic(k, "llvm.sqrt", k->m->t_f32, &x, 1);
    case IR_OP_RSQRT: return LLVMBuildFDiv(b, one, cg_kb_intrinsic(k, "llvm.sqrt", k->m->t_f32, &x, 1), "");
    case IR_OP_TANH: return cg_math_tanh(k, x);
    case IR_OP_ERF: return cg_math_erf(k, x);
    case IR_OP_RELU: return fcmp_sel(k, LLVMRealOGT, x, cg_kb_f32(k, 0), x, cg_kb_f32(k, 0));
    case IR_OP_GELU: {
        LLVMValueRef erf = cg_math_erf(k, LLVMBuildFMul(b, x, cg_kb_f32(k, 0.70710678118654752f), ""));
        return LLVMBuildFMul(b, LLVMBuildFMul(b, half, x, ""), LLVMBuildFAdd(b, one, erf, ""), "");
    }
    case IR_OP_GELU_TANH: {
        LLVMValueRef x3 = LLVMBuildFMul(b, LLVMBuildFMul(b, cg_kb_f32(k, 0.044715f), x, ""), LLVMBuildFMul(b, x, x, ""), "");
        LLVMValueRef in = LLVMBuildFMul(b, cg_kb_f32(k, 0.79788456080286536f), LLVMBuildFAdd(b, x, x3, ""), "");
        return LLVMBuildFMul(b, LLVMBuildFMul(b, half, x, ""), LLVMBuildFAdd(b, one, cg_math_tanh(k, in), ""), "");
    }
    case IR_OP_QUICK_GELU: return sigmoid_times(k, x, x, 1.702f);
    case IR_OP_SILU: return sigmoid_times(k, x, x, 1.0f);
    case IR_OP_SIGMOID: return sigmoid_times(k, one, x, 1.0f);
    default: return NULL;
    }
}

static LLVMValueRef binary_f32(cg_kb *k, ir_op op, LLVMValueRef a, LLVMValueRef c) {
    LLVMBuilderRef b = k->b;
    switch (op) {
    case IR_OP_ADD: return LLVMBuildFAdd(b, a, c, "");
    case IR_OP_SUB: return LLVMBuildFSub(b, a, c, "");
    case IR_OP_MUL: return LLVMBuildFMul(b, a, c, "");
    case IR_OP_DIV: return LLVMBuildFDiv(b, a, c, "");
    case IR_OP_MAX: return fcmp_sel(k, LLVMRealOGT, a, c, a, c);
    case IR_OP_MIN: return fcmp_sel(k, LLVMRealOLT, a, c, a, c);
    case IR_OP_POW: return cg_kb_intrinsic(k, "llvm.pow", k->m->t_f32, (LLVMValueRef[]){a, c}, 2);
    case IR_OP_EQ: return LLVMBuildFCmp(b, LLVMRealOEQ, a, c, "");
    case IR_OP_NE: return LLVMBuildFCmp(b, LLVMRealUNE, a, c, "");
    case IR_OP_LT: return LLVMBuildFCmp(b, LLVMRealOLT, a, c, "");
    case IR_OP_LE: return LLVMBuildFCmp(b, LLVMRealOLE, a, c, "");
    default: return NULL;
    }
}

static LLVMValueRef int_pow(cg_kb *k, LLVMValueRef a, LLVMValueRef e) {
    LLVMValueRef acc = cg_kb_var(k, k->m->t_i64, "pow");
    LLVMBuildStore(k->b, cg_kb_i64(k, 1), acc);
    cg_loop l;
    cg_loop_begin(k, &l, cg_kb_i64(k, 0), e, "pow");
    LLVMBuildStore(k->b, LLVMBuildMul(k->b, LLVMBuildLoad2(k->b, k->m->t_i64, acc, ""), a, ""), acc);
    cg_loop_end(k, &l);
    return LLVMBuildLoad2(k->b, k->m->t_i64, acc, "");
}

static LLVMValueRef binary_int(cg_kb *k, ew_emit *w, ir_op op, LLVMValueRef a, LLVMValueRef c) {
    LLVMBuilderRef b = k->b;
    switch (op) {
    case IR_OP_ADD: return LLVMBuildAdd(b, a, c, "");
    case IR_OP_SUB: return LLVMBuildSub(b, a, c, "");
    case IR_OP_MUL: return LLVMBuildMul(b, a, c, "");
    case IR_OP_DIV: {
        // 0 and -1 divisors never reach sdiv (x86 traps on both /0 and INT64_MIN / -1).
        LLVMValueRef zero = cg_kb_i64(k, 0), m1 = cg_kb_i64(k, -1);
        LLVMValueRef is0 = LLVMBuildICmp(b, LLVMIntEQ, c, zero, ""), ism1 = LLVMBuildICmp(b, LLVMIntEQ, c, m1, "");
        LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildOr(b, is0, ism1, ""), cg_kb_i64(k, 1), c, "");
        LLVMValueRef q = LLVMBuildSelect(b, ism1, LLVMBuildSub(b, zero, a, ""), LLVMBuildSDiv(b, a, safe, ""), "");
        LLVMValueRef old = LLVMBuildLoad2(b, k->m->t_i8, w->div0, "");
        LLVMBuildStore(b, LLVMBuildOr(b, old, LLVMBuildZExt(b, is0, k->m->t_i8, ""), ""), w->div0);
        return LLVMBuildSelect(b, is0, zero, q, "");
    }
    case IR_OP_MAX: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, a, c, ""), a, c, "");
    case IR_OP_MIN: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, a, c, ""), a, c, "");
    case IR_OP_POW: return int_pow(k, a, c);
    case IR_OP_EQ: return LLVMBuildICmp(b, LLVMIntEQ, a, c, "");
    case IR_OP_NE: return LLVMBuildICmp(b, LLVMIntNE, a, c, "");
    case IR_OP_LT: return LLVMBuildICmp(b, LLVMIntSLT, a, c, "");
    case IR_OP_LE: return LLVMBuildICmp(b, LLVMIntSLE, a, c, "");
    case IR_OP_AND: return LLVMBuildAnd(b, a, c, "");
    case IR_OP_OR: return LLVMBuildOr(b, a, c, "");
    default: return NULL;
    }
}

// A value of dtype `to` from one of dtype `from`, as the interpreter's load/store pair converts:
// integer to integer directly, anything involving a float through double.
static LLVMValueRef convert(cg_kb *k, LLVMValueRef v, kiln_dtype from, kiln_dtype to) {
    cg_llvm_module *m = k->m;
    LLVMBuilderRef b = k->b;
    if (from == to) return v;
    if (!is_floatish(from) && !is_floatish(to)) {
        LLVMValueRef i = from == KILN_BOOL ? LLVMBuildZExt(b, v, m->t_i64, "") : v;
        if (to == KILN_BOOL) return LLVMBuildICmp(b, LLVMIntNE, i, cg_kb_i64(k, 0), "");
        if (to == KILN_I32) return LLVMBuildSExt(b, LLVMBuildTrunc(b, i, m->t_i32, ""), m->t_i64, "");
        return i;
    }
    LLVMValueRef d = is_floatish(from) ? LLVMBuildFPExt(b, v, m->t_f64, "")
                     : from == KILN_BOOL ? LLVMBuildUIToFP(b, v, m->t_f64, "")
                                         : LLVMBuildSIToFP(b, v, m->t_f64, "");
    switch (to) {
    case KILN_F32: return LLVMBuildFPTrunc(b, d, m->t_f32, "");
    case KILN_F16: return LLVMBuildFPExt(b, LLVMBuildFPTrunc(b, LLVMBuildFPTrunc(b, d, m->t_f32, ""), m->t_f16, ""), m->t_f32, "");
    case KILN_BF16: {   // round through bf16 storage, so a fused consumer sees the stored value
        LLVMValueRef tmp = cg_kb_var(k, m->t_i16, "bf16");
        cg_store_elem(k, KILN_BF16, tmp, cg_kb_i64(k, 0), LLVMBuildFPTrunc(b, d, m->t_f32, ""));
        return cg_load_elem(k, KILN_BF16, tmp, cg_kb_i64(k, 0));
    }
    case KILN_I32: {
        LLVMTypeRef ov[2] = {m->t_i32, m->t_f64};
        LLVMValueRef i = cg_kb_intrinsic2(k, "llvm.fptosi.sat", ov, 2, &d, 1);
        return LLVMBuildSExt(b, i, m->t_i64, "");
    }
    case KILN_I64: {
        LLVMTypeRef ov[2] = {m->t_i64, m->t_f64};
        return cg_kb_intrinsic2(k, "llvm.fptosi.sat", ov, 2, &d, 1);
    }
    case KILN_BOOL: return LLVMBuildFCmp(b, LLVMRealUNE, d, cg_kb_f64(k, 0), "");
    default: return NULL;
    }
}

static LLVMValueRef const_value(cg_kb *k, const ew_term *t) {
    switch (t->dtype) {
    case KILN_F32: return cg_kb_f32(k, (float)t->cval);
    case KILN_BOOL: return LLVMConstInt(k->m->t_i1, t->cval != 0, false);
    default: return cg_kb_i64(k, (int64_t)t->cval);
    }
}

// Evaluates every term at one element; `in` holds the operands' values there.
static LLVMValueRef eval_terms(cg_kb *k, ew_emit *w, LLVMValueRef *in) {
    const ew_expr *e = w->e;
    LLVMValueRef val[EW_MAX_TERMS];
    for (int i = 0; i < e->n_terms; i++) {
        const ew_term *t = &e->terms[i];
        LLVMValueRef x[3] = {NULL, NULL, NULL};
        for (int a = 0; a < t->n_in; a++) x[a] = t->in[a] < 0 ? in[-t->in[a] - 1] : val[t->in[a]];
        LLVMValueRef r = NULL;
        if (t->op == IR_OP_CONST) r = const_value(k, t);
        else if (t->op == IR_OP_EXPAND) r = x[0];
        else if (t->op == IR_OP_CAST) r = convert(k, x[0], t->in_dtype, t->dtype);
        else if (t->op == IR_OP_NOT) r = LLVMBuildNot(k->b, x[0], "");
        else if (t->op == IR_OP_WHERE) r = LLVMBuildSelect(k->b, x[0], x[1], x[2], "");
        else if (t->n_in == 1) r = unary_f32(k, t->op, x[0]);
        else if (t->in_dtype == KILN_F32) r = binary_f32(k, t->op, x[0], x[1]);
        else r = binary_int(k, w, t->op, x[0], x[1]);
        KILN_ASSERT(r != NULL);
        val[i] = r;
    }
    return val[e->n_terms - 1];
}

static void ew_rows(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    ew_emit *w = ud;
    const ew_expr *e = w->e;
    int G = w->n_groups;
    LLVMValueRef ext[IR_MAX_RANK], ptr[IR_MAX_INPUTS + 1], out;
    LLVMValueRef stride[IR_MAX_INPUTS + 1][IR_MAX_RANK];
    for (int g = 0; g < G; g++) ext[g] = group_extent(k, w, g);
    for (int a = 0; a < e->n_inputs; a++) {
        if (!e->used[a]) continue;
        ptr[a] = cg_kb_arg(k, a);
        LLVMValueRef s = cg_kb_i64(k, 1);
        for (int g = G - 1; g >= 0; g--) {
            stride[a][g] = w->gbcast[a][g] ? cg_kb_i64(k, 0) : s;
            if (!w->gbcast[a][g]) s = cg_kb_mul(k, s, ext[g]);
        }
    }
    out = cg_kb_arg(k, e->out_arg);
    LLVMValueRef inner = w->row_len ? w->row_len : G ? ext[G - 1] : cg_kb_i64(k, 1);
    make_scopes(k, w);
    w->div0 = cg_kb_var(k, k->m->t_i8, "div0");
    LLVMBuildStore(k->b, LLVMConstInt(k->m->t_i8, 0, false), w->div0);

    cg_loop rl;
    cg_loop_begin(k, &rl, begin, end, "row");
    // Operand offsets of this row: decompose the row index over the outer groups.
    LLVMValueRef off[IR_MAX_INPUTS + 1];
    for (int a = 0; a < e->n_inputs; a++) off[a] = w->row_len ? cg_kb_mul(k, rl.iv, w->row_len) : cg_kb_i64(k, 0);   // flat: rows of every operand
    LLVMValueRef rem = rl.iv;
    for (int g = G - 2; g >= 0; g--) {
        LLVMValueRef idx = g > 0 ? LLVMBuildSRem(k->b, rem, ext[g], "") : rem;
        if (g > 0) rem = LLVMBuildSDiv(k->b, rem, ext[g], "");
        for (int a = 0; a < e->n_inputs; a++)
            if (e->used[a] && !w->gbcast[a][g]) off[a] = cg_kb_add(k, off[a], cg_kb_mul(k, idx, stride[a][g]));
    }
    LLVMValueRef out_off = cg_kb_mul(k, rl.iv, inner);
    cg_loop il;
    cg_loop_begin(k, &il, cg_kb_i64(k, 0), inner, "i");
    LLVMValueRef vals[IR_MAX_INPUTS + 1] = {NULL};
    for (int a = 0; a < e->n_inputs; a++) {
        if (!e->used[a]) continue;
        bool rep = G == 0 || w->gbcast[a][G - 1];
        LLVMValueRef at = rep ? off[a] : cg_kb_add(k, off[a], il.iv);
        LLVMBasicBlockRef bb = LLVMGetInsertBlock(k->b);
        LLVMValueRef before = LLVMGetLastInstruction(bb);
        vals[a] = cg_load_elem(k, e->in_dtype[a], ptr[a], at);
        for (LLVMValueRef i = before ? LLVMGetNextInstruction(before) : LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
            if (LLVMIsALoadInst(i)) mark(k, i, w->scope_in, w->scope_out);
    }
    LLVMValueRef r = eval_terms(k, w, vals);
    LLVMBasicBlockRef bb = LLVMGetInsertBlock(k->b);
    LLVMValueRef before = LLVMGetLastInstruction(bb);
    cg_store_elem(k, e->out_dtype, out, cg_kb_add(k, out_off, il.iv), r);
    for (LLVMValueRef i = before ? LLVMGetNextInstruction(before) : LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
        if (LLVMIsAStoreInst(i)) mark(k, i, w->scope_out, w->scope_in);
    cg_loop_end(k, &il);
    cg_loop_end(k, &rl);

    cg_if f;
    LLVMValueRef flagged = LLVMBuildICmp(k->b, LLVMIntNE, LLVMBuildLoad2(k->b, k->m->t_i8, w->div0, ""),
                                         LLVMConstInt(k->m->t_i8, 0, false), "");
    cg_if_begin(k, &f, flagged, "div0");
    cg_kb_task_flag(k, NULL, NULL);
    cg_if_end(k, &f);
}

kiln_status cg_llvm_emit_elementwise(cg_kb *k, const ir_node *n) { return cg_llvm_emit_ew_part(k, n, NULL, NULL); }

// Flat: one group, no operand broadcast (element i of the output reads element i of each operand),
// and no integer division (whose flag only a kernel's own pass reports).
static bool plan_flat(const ew_emit *w) {
    const ew_expr *e = w->e;
    if (w->n_groups != 1) return false;
    for (int a = 0; a < e->n_inputs; a++)
        if (e->used[a] && w->gbcast[a][0]) return false;
    for (int i = 0; i < e->n_terms; i++)
        if (e->terms[i].op == IR_OP_DIV && e->terms[i].in_dtype != KILN_F32) return false;
    return true;
}

bool cg_llvm_ew_part_flat(const ir_node *n, const ir_node *root, const ir_node *result) {
    ew_expr *e = malloc(sizeof(*e));
    bool ok = e && build_expr_ex(n, root, result, e);
    if (ok) {
        ew_emit w = {.e = e};
        plan_groups(&w);
        ok = plan_flat(&w);
    }
    free(e);
    return ok;
}

kiln_status cg_llvm_emit_ew_part_rows(cg_kb *task, const ir_node *n, const ir_node *root, const ir_node *result, LLVMValueRef begin,
                                      LLVMValueRef end, LLVMValueRef row_len) {
    ew_expr *e = malloc(sizeof(*e));
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    ew_emit w = {.e = e, .row_len = row_len};
    if (!build_expr_ex(n, root, result, e) || (plan_groups(&w), !plan_flat(&w))) {
        free(e);
        return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d has no flat element-wise part", n->id);
    }
    if (e->n_terms > 0) ew_rows(task, begin, end, &w);
    free(e);
    return KILN_OK;
}

kiln_status cg_llvm_emit_ew_part(cg_kb *k, const ir_node *n, const ir_node *root, const ir_node *result) {
    ew_expr *e = malloc(sizeof(*e));
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    if (!build_expr_ex(n, root, result, e)) {
        free(e);
        return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d is not element-wise", n->id);
    }
    if (e->n_terms == 0) {   // everything is in the output already
        free(e);
        return KILN_OK;
    }
    ew_emit w = {.e = e};
    plan_groups(&w);
    int G = w.n_groups;
    LLVMValueRef rows = cg_kb_i64(k, 1), inner = cg_kb_i64(k, 1);
    for (int g = 0; g < G; g++) {
        LLVMValueRef x = group_extent(k, &w, g);
        if (g == G - 1) inner = x;
        else rows = cg_kb_mul(k, rows, x);
    }
    // Nothing to do for an empty tensor (and no division by a zero extent).
    cg_if f;
    cg_if_begin(k, &f, LLVMBuildICmp(k->b, LLVMIntEQ, cg_kb_mul(k, rows, inner), cg_kb_i64(k, 0), ""), "empty");
    LLVMBuildRet(k->b, cg_kb_i32(k, KILN_OK));
    cg_if_end(k, &f);
    cg_kb_parallel(k, rows, cg_kb_grain(k, inner, 1 << 14), ew_rows, &w);
    bool has_int_div = false;
    for (int i = 0; i < e->n_terms; i++)
        if (e->terms[i].op == IR_OP_DIV && e->terms[i].in_dtype != KILN_F32) has_int_div = true;
    if (has_int_div)
        cg_kb_fail_if(k, cg_kb_task_flagged(k, NULL, NULL), KILN_ERR_INVALID_ARG, "cpu: integer division by zero", NULL, NULL,
                      NULL);
    free(e);
    return KILN_OK;
}
