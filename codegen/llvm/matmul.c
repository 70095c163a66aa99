/* matmul.c — contractions: batched matmul with broadcast batch dims and transposed operands,
 * and FUSED GEMM regions (a matmul and its element-wise epilogue: bias, scale, activation).
 * Products go to kiln's own GEMM (codegen/llvm/gemm.h: LLVM-generated packed microkernels):
 * a weight operand (nn.Linear's W, rank 2, in weight space) was packed at compile time and takes
 * the packed entry, a bias [N] rides in the GEMM's epilogue; activation × activation products
 * (attention) take the dynamic entry, with two batch levels and strides. The rest of a region's
 * epilogue runs as one in-place element-wise pass over the product. What the GEMM does not
 * cover (a transposed A, a target without AVX2+FMA) calls OpenBLAS's cblas_sgemm from generated
 * code, as the interpreter does. A block-quantized B (a GGUF weight, [N, K] transposed) is never
 * widened: the kernel calls libkiln_rt's rt_quant_matmul (runtime/quant_matmul.h), which dequantizes
 * W rows into L1 for decoding and W panels into f32 tiles for kiln's dynamic GEMM in prefill.
 */
#include "codegen/llvm/llvm.h"

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

// The fallback: C[M, N] = op(A) op(B), row-major, leading dims lda, ldb, ldc (i64 values).
static void emit_cblas(cg_kb *k, bool ta, bool tb, LLVMValueRef M, LLVMValueRef N, LLVMValueRef K, LLVMValueRef A, LLVMValueRef lda,
                       LLVMValueRef B, LLVMValueRef ldb, LLVMValueRef C, LLVMValueRef ldc) {
    cg_llvm_module *m = k->m;
    LLVMTypeRef i32 = m->t_i32;
#define I32(v) LLVMBuildTrunc(k->b, (v), i32, "")
    LLVMTypeRef params[14] = {i32, i32, i32, i32, i32, i32, m->t_f32, m->t_ptr, i32, m->t_ptr, i32, m->t_f32, m->t_ptr, i32};
    LLVMValueRef args[14] = {cg_kb_i32(k, CBLAS_ROW_MAJOR), cg_kb_i32(k, ta ? CBLAS_TRANS : CBLAS_NO_TRANS),
                             cg_kb_i32(k, tb ? CBLAS_TRANS : CBLAS_NO_TRANS), I32(M), I32(N), I32(K), cg_kb_f32(k, 1.0f), A,
                             I32(lda), B, I32(ldb), cg_kb_f32(k, 0.0f), C, I32(ldc)};
#undef I32
    cg_kb_call_ext(k, "cblas_sgemm", m->t_void, params, 14, false, args, 14);
}

LLVMValueRef cg_llvm_gemm_fn(cg_kb *k, bool dynamic, bool trans_b, LLVMTypeRef *type_out) {
    const char *name = !dynamic ? "kiln_gemm_packed" : trans_b ? "kiln_gemm_nt" : "kiln_gemm_nn";
    cg_llvm_module *m = k->m;
    LLVMTypeRef i64 = m->t_i64, p = m->t_ptr;
    LLVMTypeRef packed[11] = {i64, i64, i64, p, i64, p, p, i64, p, p, m->t_i32};   // the activation last
    LLVMTypeRef dyn[19] = {i64, i64, i64, i64, i64, p, i64, i64, i64, p, i64, i64, i64, p, i64, i64, i64, p, p};
    *type_out = LLVMFunctionType(m->t_void, dynamic ? dyn : packed, dynamic ? 19 : 11, false);
    LLVMValueRef fn = LLVMGetNamedFunction(m->mod, name);
    return fn ? fn : LLVMAddFunction(m->mod, name, *type_out);
}

/* ---- which dynamic tiles a graph needs ----
 * N of each activation x activation product: attention's p.v has N = head_dim, q.kT N = seq_k;
 * an unfused MATMUL of two activations its output's last dim. A static N that the wide tile pads
 * no wider than the narrow one counts for the wide tile (64, 128, 100), one it pads wider (32, 96)
 * for the narrow one; a symbolic N for neither. BERT-base (head dim 64) then compiles only the
 * 6 x 64 tile, MiniLM (32) only the 8 x 32: the second set costs about 0.15 s of machine code. */

static int input_index(const ir_node *in);

static void count_n(const cg_gemm_config *cfg, ir_dim d, int *wide, int *narrow) {
    int64_t n;
    if (!ir_dim_is_const(d, &n) || n < 1) return;
    if (cg_gemm_dynamic_wide(cfg, n)) (*wide)++;
    else (*narrow)++;
}

// Computed from weights and constants alone (pack_weights of Q, K and V, say): a packed product.
static bool from_weights(const ir_node *n, int depth) {
    if (n->op == IR_OP_WEIGHT || n->op == IR_OP_CONST) return true;
    if (n->op == IR_OP_INPUT || n->n_inputs == 0 || depth == 0) return false;
    for (int i = 0; i < n->n_inputs; i++)
        if (!from_weights(n->inputs[i], depth - 1)) return false;
    return true;
}

// `outer`: the inputs of the region whose body g is (NULL at the top), to see through "inK".
static void count_dynamic(const ir_graph *g, const ir_node *const *outer, int n_outer, const cg_gemm_config *cfg, int *wide, int *narrow) {
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (n->op == IR_OP_FUSED && n->p.fused_kind == IR_FUSED_ATTENTION && n->p.heads > 0) {
            ir_dim d = n->shape[n->rank - 1];
            int64_t c;
            if (n->rank == 3 && ir_dim_is_const(d, &c)) d = ir_dim_const(c / n->p.heads);
            count_n(cfg, d, wide, narrow);                                       // p.v
            const ir_node *kk = n->inputs[1];
            count_n(cfg, kk->shape[kk->rank == 4 ? 2 : 1], wide, narrow);        // q.kT
        } else if (n->op == IR_OP_FUSED && n->p.body) {
            count_dynamic(n->p.body, (const ir_node *const *)n->inputs, n->n_inputs, cfg, wide, narrow);
        } else if (n->op == IR_OP_MATMUL && n->n_inputs == 2) {
            const ir_node *b = n->inputs[1];
            int k = input_index(b);
            if (outer && k >= 0 && k < n_outer) b = outer[k];
            if (!from_weights(b, 8)) count_n(cfg, n->shape[n->rank - 1], wide, narrow);
        }
    }
}

void cg_llvm_fit_dynamic_tiles(const ir_graph *g, cg_gemm_config *cfg) {
    if (!cfg->dyn_nr_wide) return;
    int wide = 0, narrow = 0;
    count_dynamic(g, NULL, 0, cfg, &wide, &narrow);
    if (wide > 0 && narrow == 0) {
        cfg->dyn_mr = cfg->dyn_mr_wide;
        cfg->dyn_nr = cfg->dyn_nr_wide;
    }
    if (wide == 0 || narrow == 0) cfg->dyn_mr_wide = cfg->dyn_nr_wide = 0;
}

static bool is_one(ir_dim d) {
    int64_t v;
    return ir_dim_is_const(d, &v) && v == 1;
}

/* ---- FUSED GEMM regions ---- */

static int input_index(const ir_node *in) {
    int k = -1;
    if (in->op != IR_OP_INPUT || !in->name || sscanf(in->name, "in%d", &k) != 1) return -1;
    return k;
}

bool cg_llvm_gemm_region(const ir_node *n, cg_gemm_region *r) {
    memset(r, 0, sizeof(*r));
    r->bias_input = -1;
    if (n->op != IR_OP_FUSED || n->p.fused_kind != IR_FUSED_GEMM || !n->p.body) return false;
    const ir_graph *body = n->p.body;
    for (int i = 0; i < body->n_nodes; i++) {
        if (body->nodes[i]->op != IR_OP_MATMUL) continue;
        if (r->mm) return false;   // one product only
        r->mm = body->nodes[i];
    }
    const ir_node *mm = r->mm;
    if (!mm || input_index(mm->inputs[0]) != 0 || input_index(mm->inputs[1]) != 1 || mm->dtype != KILN_F32 ||
        mm->inputs[0]->dtype != KILN_F32 || mm->inputs[1]->dtype != KILN_F32 || mm->rank != n->rank)
        return false;
    // A bias [N] added to the product first rides in the GEMM's epilogue.
    r->root = mm;
    int users = 0;
    const ir_node *user = NULL;
    for (int i = 0; i < body->n_nodes; i++)
        for (int k = 0; k < body->nodes[i]->n_inputs; k++)
            if (body->nodes[i]->inputs[k] == mm) users++, user = body->nodes[i];
    if (users == 1 && user->op == IR_OP_ADD) {
        const ir_node *other = user->inputs[0] == mm ? user->inputs[1] : user->inputs[0];
        int k = input_index(other);
        if (k >= 2 && other->rank == 1 && other->dtype == KILN_F32 && ir_dim_eq(other->shape[0], mm->shape[mm->rank - 1]) &&
            ir_dim_eq(user->shape[user->rank - 1], mm->shape[mm->rank - 1]) && user->rank == mm->rank) {
            r->bias_input = k;
            r->root = user;
        }
    }
    // An activation of root alone (its only user) can ride in the GEMM's epilogue too.
    users = 0;
    for (int i = 0; i < body->n_nodes; i++)
        for (int k = 0; k < body->nodes[i]->n_inputs; k++)
            if (body->nodes[i]->inputs[k] == r->root) users++, user = body->nodes[i];
    if (users == 1 && user->n_inputs == 1 && user->dtype == KILN_F32 && user->rank == r->root->rank) {
        int act = user->op == IR_OP_RELU ? CG_GEMM_ACT_RELU : user->op == IR_OP_GELU ? CG_GEMM_ACT_GELU_ERF
                : user->op == IR_OP_GELU_TANH ? CG_GEMM_ACT_GELU_TANH : CG_GEMM_ACT_NONE;
        if (act != CG_GEMM_ACT_NONE && cg_llvm_ew_part_ok(n, user, NULL)) {
            r->act = act;
            r->act_node = user;
        }
    }
    return cg_llvm_ew_part_ok(n, r->root, NULL);
}

/* ---- lowering ---- */

// C [rows, N] = A [rows, K] · dequant(B)ᵀ through rt_quant_matmul; rows fold every batch dim.
static kiln_status emit_quant_matmul(cg_kb *k, const ir_node *mm) {
    const ir_node *a = mm->inputs[0], *b = mm->inputs[1];
    if (a->dtype != KILN_F32 || mm->p.trans_a || !mm->p.trans_b || b->rank != 2)
        return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: matmul with a %s operand must be f32 x [N, K]^T", kiln_dtype_get_info(b->dtype)->name);
    int od = a->rank + b->rank, ro = mm->rank;
    LLVMValueRef rows = cg_kb_i64(k, 1);
    for (int d = 0; d < ro - 1; d++) rows = cg_kb_mul(k, rows, cg_kb_dim(k, od + d));
    LLVMValueRef N = cg_kb_dim(k, od + ro - 1), K = cg_kb_dim(k, a->rank - 1);
    cg_llvm_module *m = k->m;
    LLVMValueRef gemm = LLVMConstNull(m->t_ptr);
    if (m->have_gemm) {   // prefill tiles go to kiln's own GEMM
        LLVMTypeRef ft;
        gemm = cg_llvm_gemm_fn(k, true, true, &ft);
    }
    LLVMTypeRef i64 = m->t_i64, p = m->t_ptr;
    LLVMTypeRef params[11] = {i64, i64, i64, p, i64, m->t_i32, p, p, i64, p, p};
    LLVMValueRef args[11] = {rows, N, K, cg_kb_arg(k, 0), K, cg_kb_i32(k, (int32_t)b->dtype), cg_kb_arg(k, 1), cg_kb_arg(k, 2), N,
                             cg_kb_pool(k), gemm};
    LLVMBuildRet(k->b, cg_kb_call_ext(k, "rt_quant_matmul", m->t_i32, params, 11, false, args, 11));
    // cg_kb_finish appends its own return: give it a (dead) block to put it in.
    LLVMPositionBuilderAtEnd(k->b, LLVMAppendBasicBlockInContext(m->ctx, k->fn, "done"));
    return KILN_OK;
}

kiln_status cg_llvm_emit_matmul(cg_kb *k, const ir_node *n, const cg_node_plan *plan) {
    cg_gemm_region region;
    const ir_node *mm = n;
    bool fused = n->op == IR_OP_FUSED;
    if (fused) {
        if (!cg_llvm_gemm_region(n, &region)) return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d is not a GEMM region", n->id);
        mm = region.mm;
    }
    if (!fused && kiln_dtype_get_info(mm->inputs[1]->dtype)->is_quantized) return emit_quant_matmul(k, mm);
    const ir_node *a = mm->inputs[0], *b = mm->inputs[1];
    bool ta = mm->p.trans_a, tb = mm->p.trans_b;
    int ra = a->rank, rb = b->rank, ro = mm->rank, br = ro - 2;
    if (a->dtype != KILN_F32 || b->dtype != KILN_F32) return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: matmul on non-f32 operands");
    int od = 0;   // the output's dims start after every input's
    for (int i = 0; i < n->n_inputs; i++) od += n->inputs[i]->rank;
    LLVMValueRef M = cg_kb_dim(k, od + ro - 2), N = cg_kb_dim(k, od + ro - 1), K = cg_kb_dim(k, ta ? ra - 2 : ra - 1);
    LLVMValueRef batch = cg_kb_i64(k, 1);
    for (int d = 0; d < br; d++) batch = cg_kb_mul(k, batch, cg_kb_dim(k, od + d));
    LLVMValueRef A = cg_kb_arg(k, 0), B = cg_kb_arg(k, 1), C = cg_kb_arg(k, n->n_inputs);
    LLVMValueRef zero = cg_kb_i64(k, 0), null = LLVMConstNull(k->m->t_ptr);
    // The GEMM (not the OpenBLAS fallback) adds a region's bias in its epilogue.
    bool use_gemm = (plan && plan->packed_b) || (k->m->have_gemm && !ta);
    bool gemm_bias = fused && region.bias_input >= 0 && use_gemm;
    // The packed GEMM also applies the region's activation, when it follows the product and
    // bias directly (and the GEMM adds the bias, or there is none).
    bool gemm_act = fused && plan && plan->packed_b && region.act && (gemm_bias || region.bias_input < 0);
    LLVMValueRef bias = gemm_bias ? cg_kb_arg(k, region.bias_input) : null;
    LLVMValueRef MN = cg_kb_mul(k, M, N);
    LLVMTypeRef f32 = k->m->t_f32;

    cg_if f;
    cg_if_begin(k, &f, LLVMBuildICmp(k->b, LLVMIntEQ, cg_kb_mul(k, MN, batch), zero, ""), "empty");
    LLVMBuildRet(k->b, cg_kb_i32(k, KILN_OK));
    cg_if_end(k, &f);
    // K = 0: the product is zero (plus the bias).
    LLVMBasicBlockRef k0 = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "k0");
    LLVMBasicBlockRef work = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "gemm");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "epilogue");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntEQ, K, zero, ""), k0, work);
    LLVMPositionBuilderAtEnd(k->b, k0);
    LLVMBuildMemSet(k->b, C, LLVMConstInt(k->m->t_i8, 0, false), cg_kb_mul(k, cg_kb_mul(k, MN, batch), cg_kb_i64(k, 4)), 64);
    if (gemm_bias) {
        cg_loop r, c;
        cg_loop_begin(k, &r, zero, cg_kb_mul(k, batch, M), "row");
        cg_loop_begin(k, &c, zero, N, "col");
        cg_store_elem(k, KILN_F32, C, cg_kb_add(k, cg_kb_mul(k, r.iv, N), c.iv), cg_load_elem(k, KILN_F32, bias, c.iv));
        cg_loop_end(k, &c);
        cg_loop_end(k, &r);
    }
    if (gemm_act) {   // the activation the GEMM would have applied
        kiln_status st = cg_llvm_emit_ew_part(k, n, region.root, region.act_node);
        if (st) return st;
    }
    LLVMBuildBr(k->b, after);
    LLVMPositionBuilderAtEnd(k->b, work);

    LLVMValueRef lda = ta ? M : K, ldb = tb ? K : N;
    LLVMTypeRef ft;
    if (plan && plan->packed_b) {   // x · Wᵀ with W packed at compile time: all batches are rows of one product
        LLVMValueRef fn = cg_llvm_gemm_fn(k, false, false, &ft);
        LLVMValueRef args[11] = {cg_kb_mul(k, batch, M), N, K, A, K, B, C, N, bias, cg_kb_pool(k),
                                 cg_kb_i32(k, gemm_act ? region.act : CG_GEMM_ACT_NONE)};
        LLVMBuildCall2(k->b, ft, fn, args, 11, "");
    } else if (rb == 2 && !ta) {
        if (k->m->have_gemm) {
            LLVMValueRef fn = cg_llvm_gemm_fn(k, true, tb, &ft);
            LLVMValueRef one = cg_kb_i64(k, 1);
            LLVMValueRef args[19] = {one, one, cg_kb_mul(k, batch, M), N, K, A, K, zero, zero, B, ldb, zero, zero, C, N, zero, zero,
                                     bias, cg_kb_pool(k)};
            LLVMBuildCall2(k->b, ft, fn, args, 19, "");
        } else {
            emit_cblas(k, ta, tb, cg_kb_mul(k, batch, M), N, K, A, lda, B, ldb, C, N);
        }
    } else {
        // Strides (in matrices) of each batch dim of the output, per operand; 0 where it broadcasts.
        LLVMValueRef sa_run = cg_kb_i64(k, 1), sb_run = cg_kb_i64(k, 1), sc_run = cg_kb_i64(k, 1);
        LLVMValueRef sa[IR_MAX_RANK], sb[IR_MAX_RANK], sc[IR_MAX_RANK];
        for (int d = br - 1; d >= 0; d--) {
            int da = ra - 2 - br + d, db = rb - 2 - br + d;
            bool bca = da < 0 || (is_one(a->shape[da]) && !is_one(mm->shape[d]));
            bool bcb = db < 0 || (is_one(b->shape[db]) && !is_one(mm->shape[d]));
            sa[d] = bca ? zero : sa_run;
            sb[d] = bcb ? zero : sb_run;
            sc[d] = sc_run;
            if (da >= 0) sa_run = cg_kb_mul(k, sa_run, cg_kb_dim(k, da));
            if (db >= 0) sb_run = cg_kb_mul(k, sb_run, cg_kb_dim(k, ra + db));
            sc_run = cg_kb_mul(k, sc_run, cg_kb_dim(k, od + d));
        }
        LLVMValueRef MK = cg_kb_mul(k, M, K), KN = cg_kb_mul(k, K, N);
        LLVMValueRef fn = k->m->have_gemm && !ta ? cg_llvm_gemm_fn(k, true, tb, &ft) : NULL;
        // The last two batch dims go to the GEMM's two batch levels; any before them loop here.
        int inner = fn ? KILN_MIN(br, 2) : 0;
        LLVMValueRef outer = cg_kb_i64(k, 1);
        for (int d = 0; d < br - inner; d++) outer = cg_kb_mul(k, outer, cg_kb_dim(k, od + d));
        cg_loop l;
        cg_loop_begin(k, &l, zero, outer, "batch");
        LLVMValueRef rem = l.iv, oa = zero, ob = zero, oc = zero;
        for (int d = br - inner - 1; d >= 0; d--) {
            LLVMValueRef ext = cg_kb_dim(k, od + d);
            LLVMValueRef idx = d > 0 ? LLVMBuildSRem(k->b, rem, ext, "") : rem;
            if (d > 0) rem = LLVMBuildSDiv(k->b, rem, ext, "");
            oa = cg_kb_add(k, oa, cg_kb_mul(k, idx, sa[d]));
            ob = cg_kb_add(k, ob, cg_kb_mul(k, idx, sb[d]));
            oc = cg_kb_add(k, oc, cg_kb_mul(k, idx, sc[d]));
        }
        LLVMValueRef Ap = cg_kb_gep(k, f32, A, cg_kb_mul(k, oa, MK)), Bp = cg_kb_gep(k, f32, B, cg_kb_mul(k, ob, KN));
        LLVMValueRef Cp = cg_kb_gep(k, f32, C, cg_kb_mul(k, oc, MN));
        if (fn) {
            LLVMValueRef one = cg_kb_i64(k, 1);
            int d0 = br - inner, d1 = br - 1;   // the GEMM's batch0 and batch1 dims (batch0 = 1 when br == 1)
            LLVMValueRef b0 = inner == 2 ? cg_kb_dim(k, od + d0) : one, b1 = inner >= 1 ? cg_kb_dim(k, od + d1) : one;
            LLVMValueRef sa0 = inner == 2 ? cg_kb_mul(k, sa[d0], MK) : zero, sb0 = inner == 2 ? cg_kb_mul(k, sb[d0], KN) : zero;
            LLVMValueRef sc0 = inner == 2 ? cg_kb_mul(k, sc[d0], MN) : zero;
            LLVMValueRef sa1 = inner >= 1 ? cg_kb_mul(k, sa[d1], MK) : zero, sb1 = inner >= 1 ? cg_kb_mul(k, sb[d1], KN) : zero;
            LLVMValueRef sc1 = inner >= 1 ? cg_kb_mul(k, sc[d1], MN) : zero;
            LLVMValueRef args[19] = {b0, b1, M, N, K, Ap, K, sa0, sa1, Bp, ldb, sb0, sb1, Cp, N, sc0, sc1, bias, cg_kb_pool(k)};
            LLVMBuildCall2(k->b, ft, fn, args, 19, "");
        } else {
            emit_cblas(k, ta, tb, M, N, K, Ap, lda, Bp, ldb, Cp, N);
        }
        cg_loop_end(k, &l);
    }
    LLVMBuildBr(k->b, after);
    LLVMPositionBuilderAtEnd(k->b, after);
    if (!fused) return KILN_OK;
    // The epilogue: what follows the product (and its bias, when the GEMM added it) in place.
    return cg_llvm_emit_ew_part(k, n, gemm_act ? region.act_node : gemm_bias || region.bias_input < 0 ? region.root : region.mm, NULL);
}
