/* kb.c — the kernel builder: the module's types, kernel and task functions, loops, branches,
 * element loads and stores per dtype, error returns, and the split of rows over the context's
 * thread pool (rt_parallel_for with a generated task function). Loops are emitted plainly, the
 * way a C compiler front end would; O3 vectorizes them.
 */
#include "codegen/llvm/llvm.h"

#include <math.h>

kiln_status cg_llvm_module_init(cg_llvm_module *m, const char *name, bool avx512) {
    memset(m, 0, sizeof(*m));
    m->ctx = LLVMContextCreate();
    m->mod = LLVMModuleCreateWithNameInContext(name, m->ctx);
    if (!m->ctx || !m->mod) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: cannot create an LLVM module");
    // The file name LLVM records in the object: fixed, so that artifacts are reproducible.
    LLVMSetSourceFileName(m->mod, name, strlen(name));
    m->b = LLVMCreateBuilderInContext(m->ctx);
    m->t_void = LLVMVoidTypeInContext(m->ctx);
    m->t_i1 = LLVMInt1TypeInContext(m->ctx);
    m->t_i8 = LLVMInt8TypeInContext(m->ctx);
    m->t_i16 = LLVMInt16TypeInContext(m->ctx);
    m->t_i32 = LLVMInt32TypeInContext(m->ctx);
    m->t_i64 = LLVMInt64TypeInContext(m->ctx);
    m->t_f16 = LLVMHalfTypeInContext(m->ctx);
    m->t_f32 = LLVMFloatTypeInContext(m->ctx);
    m->t_f64 = LLVMDoubleTypeInContext(m->ctx);
    m->t_ptr = LLVMPointerTypeInContext(m->ctx, 0);
    // rt_kernel_call: args, n_args, dims, n_dims, params, pool, path (natural C layout).
    LLVMTypeRef call_fields[] = {m->t_ptr, m->t_i32, m->t_ptr, m->t_i32, m->t_ptr, m->t_ptr, m->t_ptr};
    m->t_call = LLVMStructTypeInContext(m->ctx, call_fields, 7, false);
    LLVMTypeRef closure_fields[] = {m->t_ptr, m->t_i32, m->t_i64, m->t_i64};
    m->t_closure = LLVMStructTypeInContext(m->ctx, closure_fields, 4, false);
    LLVMTypeRef kparams[] = {m->t_ptr};
    m->t_kernel = LLVMFunctionType(m->t_i32, kparams, 1, false);
    LLVMTypeRef tparams[] = {m->t_ptr, m->t_i64, m->t_i64};
    m->t_task = LLVMFunctionType(m->t_void, tparams, 3, false);
    m->avx512 = avx512;
    m->prefix = "kiln_k";
    return KILN_OK;
}

void cg_llvm_module_dispose(cg_llvm_module *m) {
    if (m->b) LLVMDisposeBuilder(m->b);
    if (m->mod) LLVMDisposeModule(m->mod);
    if (m->ctx) LLVMContextDispose(m->ctx);
    memset(m, 0, sizeof(*m));
}

static void add_fn_attr(cg_llvm_module *m, LLVMValueRef fn, const char *key, const char *value) {
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(m->ctx, key, (unsigned)strlen(key), value, (unsigned)strlen(value)));
}

static void add_enum_attr(cg_llvm_module *m, LLVMValueRef fn, unsigned index, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(m->ctx, kind, 0));
}

static void setup_fn(cg_llvm_module *m, LLVMValueRef fn) {
    add_enum_attr(m, fn, LLVMAttributeFunctionIndex, "nounwind");
    // Several x86 CPUs tune for 256-bit vectors by default; kernels are long loops that gain from zmm.
    if (m->avx512) {
        add_fn_attr(m, fn, "prefer-vector-width", "512");
        add_fn_attr(m, fn, "min-legal-vector-width", "512");
    }
}

static void begin_fn(cg_llvm_module *m, cg_kb *k, LLVMValueRef fn) {
    memset(k, 0, sizeof(*k));
    k->m = m;
    k->fn = fn;
    k->b = LLVMCreateBuilderInContext(m->ctx);
    k->entry = LLVMAppendBasicBlockInContext(m->ctx, fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(m->ctx, fn, "body");
    LLVMPositionBuilderAtEnd(k->b, k->entry);
    LLVMBuildBr(k->b, body);
    LLVMPositionBuilderAtEnd(k->b, body);
}

void cg_kb_begin_kernel(cg_llvm_module *m, cg_kb *k, const char *name) {
    LLVMValueRef fn = LLVMAddFunction(m->mod, name, m->t_kernel);
    setup_fn(m, fn);
    begin_fn(m, k, fn);
    k->call = LLVMGetParam(fn, 0);
    LLVMSetValueName2(k->call, "call", 4);
}

void cg_kb_finish(cg_kb *k) {
    LLVMBuildRet(k->b, cg_kb_i32(k, KILN_OK));
    LLVMDisposeBuilder(k->b);
    k->b = NULL;
}

LLVMValueRef cg_kb_i64(cg_kb *k, int64_t v) { return LLVMConstInt(k->m->t_i64, (unsigned long long)v, true); }
LLVMValueRef cg_kb_i32(cg_kb *k, int32_t v) { return LLVMConstInt(k->m->t_i32, (unsigned long long)(int64_t)v, true); }
LLVMValueRef cg_kb_f32(cg_kb *k, float v) { return LLVMConstReal(k->m->t_f32, v); }
LLVMValueRef cg_kb_f64(cg_kb *k, double v) { return LLVMConstReal(k->m->t_f64, v); }

static LLVMValueRef call_field(cg_kb *k, int field, LLVMTypeRef t, const char *name) {
    LLVMValueRef p = LLVMBuildStructGEP2(k->b, k->m->t_call, k->call, (unsigned)field, "");
    LLVMValueRef v = LLVMBuildLoad2(k->b, t, p, name);
    LLVMSetMetadata(v, LLVMGetMDKindIDInContext(k->m->ctx, "invariant.load", 14),
                    LLVMMetadataAsValue(k->m->ctx, LLVMMDNodeInContext2(k->m->ctx, NULL, 0)));
    return v;
}

LLVMValueRef cg_kb_arg(cg_kb *k, int i) {
    LLVMValueRef args = call_field(k, 0, k->m->t_ptr, "args");
    LLVMValueRef p = LLVMBuildGEP2(k->b, k->m->t_ptr, args, (LLVMValueRef[]){cg_kb_i64(k, i)}, 1, "");
    char name[16];
    snprintf(name, sizeof(name), "a%d", i);
    return LLVMBuildLoad2(k->b, k->m->t_ptr, p, name);
}

LLVMValueRef cg_kb_dim(cg_kb *k, int j) {
    LLVMValueRef dims = call_field(k, 2, k->m->t_ptr, "dims");
    LLVMValueRef p = LLVMBuildGEP2(k->b, k->m->t_i64, dims, (LLVMValueRef[]){cg_kb_i64(k, j)}, 1, "");
    char name[16];
    snprintf(name, sizeof(name), "d%d", j);
    return LLVMBuildLoad2(k->b, k->m->t_i64, p, name);
}

LLVMValueRef cg_kb_pool(cg_kb *k) { return call_field(k, 5, k->m->t_ptr, "pool"); }

LLVMValueRef cg_kb_var(cg_kb *k, LLVMTypeRef t, const char *name) {
    LLVMBuilderRef tmp = LLVMCreateBuilderInContext(k->m->ctx);
    LLVMPositionBuilderBefore(tmp, LLVMGetBasicBlockTerminator(k->entry));
    LLVMValueRef v = LLVMBuildAlloca(tmp, t, name);
    LLVMDisposeBuilder(tmp);
    return v;
}

LLVMValueRef cg_kb_gep(cg_kb *k, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef index) {
    return LLVMBuildInBoundsGEP2(k->b, elem, base, &index, 1, "");
}

LLVMValueRef cg_kb_mul(cg_kb *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(k->b, a, b, ""); }
LLVMValueRef cg_kb_add(cg_kb *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(k->b, a, b, ""); }

LLVMValueRef cg_kb_intrinsic2(cg_kb *k, const char *name, LLVMTypeRef *overloads, int n_overloads, LLVMValueRef *args, int n) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    KILN_ASSERT(id != 0);
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(k->m->mod, id, overloads, (size_t)n_overloads);
    LLVMTypeRef ft = LLVMIntrinsicGetType(k->m->ctx, id, overloads, (size_t)n_overloads);
    return LLVMBuildCall2(k->b, ft, fn, args, (unsigned)n, "");
}

LLVMValueRef cg_kb_intrinsic(cg_kb *k, const char *name, LLVMTypeRef overload, LLVMValueRef *args, int n) {
    return cg_kb_intrinsic2(k, name, &overload, overload ? 1 : 0, args, n);
}

LLVMValueRef cg_kb_call_ext(cg_kb *k, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n_params, bool vararg,
                            LLVMValueRef *args, int n_args) {
    LLVMTypeRef ft = LLVMFunctionType(ret, params, (unsigned)n_params, vararg);
    LLVMValueRef fn = LLVMGetNamedFunction(k->m->mod, name);
    if (!fn) {
        fn = LLVMAddFunction(k->m->mod, name, ft);
        add_enum_attr(k->m, fn, LLVMAttributeFunctionIndex, "nounwind");
    }
    return LLVMBuildCall2(k->b, ft, fn, args, (unsigned)n_args, "");
}

LLVMValueRef cg_kb_str(cg_kb *k, const char *s) {
    LLVMValueRef init = LLVMConstStringInContext(k->m->ctx, s, (unsigned)strlen(s), false);
    LLVMValueRef g = LLVMAddGlobal(k->m->mod, LLVMTypeOf(init), ".str");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

void cg_kb_memcpy(cg_kb *k, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef bytes) {
    LLVMBuildMemCpy(k->b, dst, 1, src, 1, bytes);
}

LLVMValueRef cg_kb_reassoc(LLVMValueRef inst) {
    LLVMSetFastMathFlags(inst, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
    return inst;
}

/* ---- control flow ---- */

void cg_loop_begin(cg_kb *k, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
    l->pre = LLVMGetInsertBlock(k->b);
    l->header = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, name);
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "done");
    LLVMBuildBr(k->b, l->header);
    LLVMPositionBuilderAtEnd(k->b, l->header);
    l->iv = LLVMBuildPhi(k->b, k->m->t_i64, name);
    LLVMAddIncoming(l->iv, &lo, &l->pre, 1);
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, l->iv, hi, ""), body, l->exit);
    LLVMPositionBuilderAtEnd(k->b, body);
}

void cg_loop_end(cg_kb *k, cg_loop *l) {
    LLVMValueRef next = LLVMBuildNSWAdd(k->b, l->iv, cg_kb_i64(k, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(k->b);
    LLVMBuildBr(k->b, l->header);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(k->b, l->exit);
}

void cg_if_begin(cg_kb *k, cg_if *f, LLVMValueRef cond, const char *name) {
    f->then_bb = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, name);
    f->join = LLVMAppendBasicBlockInContext(k->m->ctx, k->fn, "join");
    LLVMBuildCondBr(k->b, cond, f->then_bb, f->join);
    LLVMPositionBuilderAtEnd(k->b, f->then_bb);
}

void cg_if_end(cg_kb *k, cg_if *f) {
    if (!LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(k->b))) LLVMBuildBr(k->b, f->join);
    LLVMPositionBuilderAtEnd(k->b, f->join);
}

void cg_kb_fail_if(cg_kb *k, LLVMValueRef cond, kiln_status status, const char *fmt, LLVMValueRef a0, LLVMValueRef a1,
                   LLVMValueRef a2) {
    cg_if f;
    cg_if_begin(k, &f, cond, "fail");
    LLVMValueRef args[5] = {cg_kb_i32(k, (int32_t)status), cg_kb_str(k, fmt)};
    int n = 2;
    if (a0) args[n++] = a0;
    if (a1) args[n++] = a1;
    if (a2) args[n++] = a2;
    LLVMTypeRef params[2] = {k->m->t_i32, k->m->t_ptr};
    LLVMValueRef st = cg_kb_call_ext(k, "kiln_error", k->m->t_i32, params, 2, true, args, n);
    LLVMBuildRet(k->b, st);
    cg_if_end(k, &f);
}

/* ---- threads ---- */

static LLVMValueRef closure_of(cg_kb *k) {
    if (k->closure) return k->closure;
    k->closure = cg_kb_var(k, k->m->t_closure, "closure");
    LLVMBuilderRef tmp = LLVMCreateBuilderInContext(k->m->ctx);
    LLVMPositionBuilderBefore(tmp, LLVMGetBasicBlockTerminator(k->entry));
    LLVMBuildStore(tmp, k->call, LLVMBuildStructGEP2(tmp, k->m->t_closure, k->closure, 0, ""));
    LLVMBuildStore(tmp, LLVMConstInt(k->m->t_i32, 0, false), LLVMBuildStructGEP2(tmp, k->m->t_closure, k->closure, 1, ""));
    LLVMDisposeBuilder(tmp);
    return k->closure;
}

void cg_kb_parallel(cg_kb *k, LLVMValueRef rows, LLVMValueRef grain, cg_rows_fn body, void *ud) {
    cg_llvm_module *m = k->m;
    LLVMValueRef closure = closure_of(k);
    char name[160];
    size_t len;
    const char *kname = LLVMGetValueName2(k->fn, &len);
    snprintf(name, sizeof(name), "%.*s.task%d", (int)len, kname, k->n_tasks++);
    LLVMValueRef task = LLVMAddFunction(m->mod, name, m->t_task);
    LLVMSetLinkage(task, LLVMInternalLinkage);
    setup_fn(m, task);
    cg_kb t;
    begin_fn(m, &t, task);
    t.closure = LLVMGetParam(task, 0);
    t.call = LLVMBuildLoad2(t.b, m->t_ptr, LLVMBuildStructGEP2(t.b, m->t_closure, t.closure, 0, ""), "call");
    body(&t, LLVMGetParam(task, 1), LLVMGetParam(task, 2), ud);
    LLVMBuildRetVoid(t.b);
    LLVMDisposeBuilder(t.b);

    LLVMTypeRef params[5] = {m->t_ptr, m->t_i64, m->t_i64, m->t_ptr, m->t_ptr};
    LLVMValueRef args[5] = {cg_kb_pool(k), rows, grain, task, closure};
    cg_kb_call_ext(k, "rt_parallel_for", m->t_void, params, 5, false, args, 5);
}

void cg_kb_task_flag(cg_kb *t, LLVMValueRef info0, LLVMValueRef info1) {
    cg_llvm_module *m = t->m;
    LLVMValueRef errp = LLVMBuildStructGEP2(t->b, m->t_closure, t->closure, 1, "");
    LLVMValueRef pair = LLVMBuildAtomicCmpXchg(t->b, errp, LLVMConstInt(m->t_i32, 0, false), LLVMConstInt(m->t_i32, 1, false),
                                               LLVMAtomicOrderingMonotonic, LLVMAtomicOrderingMonotonic, false);
    cg_if f;
    cg_if_begin(t, &f, LLVMBuildExtractValue(t->b, pair, 1, ""), "first");
    LLVMBuildStore(t->b, info0 ? info0 : cg_kb_i64(t, 0), LLVMBuildStructGEP2(t->b, m->t_closure, t->closure, 2, ""));
    LLVMBuildStore(t->b, info1 ? info1 : cg_kb_i64(t, 0), LLVMBuildStructGEP2(t->b, m->t_closure, t->closure, 3, ""));
    cg_if_end(t, &f);
}

LLVMValueRef cg_kb_task_flagged(cg_kb *k, LLVMValueRef *info0, LLVMValueRef *info1) {
    cg_llvm_module *m = k->m;
    LLVMValueRef c = closure_of(k);
    LLVMValueRef err = LLVMBuildLoad2(k->b, m->t_i32, LLVMBuildStructGEP2(k->b, m->t_closure, c, 1, ""), "err");
    if (info0) *info0 = LLVMBuildLoad2(k->b, m->t_i64, LLVMBuildStructGEP2(k->b, m->t_closure, c, 2, ""), "");
    if (info1) *info1 = LLVMBuildLoad2(k->b, m->t_i64, LLVMBuildStructGEP2(k->b, m->t_closure, c, 3, ""), "");
    return LLVMBuildICmp(k->b, LLVMIntNE, err, LLVMConstInt(m->t_i32, 0, false), "");
}

LLVMValueRef cg_kb_grain(cg_kb *k, LLVMValueRef per_row, int64_t work) {
    LLVMValueRef one = cg_kb_i64(k, 1);
    LLVMValueRef pr = LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, per_row, one, ""), one, per_row, "");
    LLVMValueRef g = LLVMBuildSDiv(k->b, cg_kb_i64(k, work), pr, "");
    return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, g, one, ""), one, g, "grain");
}

/* ---- element types ---- */

size_t cg_dtype_size(kiln_dtype t) { return (size_t)kiln_dtype_get_info(t)->block_bytes; }

LLVMTypeRef cg_value_type(cg_llvm_module *m, kiln_dtype t) {
    switch (t) {
    case KILN_F32:
    case KILN_F16:
    case KILN_BF16: return m->t_f32;
    case KILN_I32:
    case KILN_I64: return m->t_i64;
    case KILN_BOOL: return m->t_i1;
    default: return NULL;
    }
}

LLVMTypeRef cg_storage_type(cg_llvm_module *m, kiln_dtype t) {
    switch (t) {
    case KILN_F32: return m->t_f32;
    case KILN_F16: return m->t_f16;
    case KILN_BF16: return m->t_i16;
    case KILN_I32: return m->t_i32;
    case KILN_I64: return m->t_i64;
    case KILN_BOOL: return m->t_i8;
    default: return NULL;
    }
}

LLVMValueRef cg_load_elem(cg_kb *k, kiln_dtype t, LLVMValueRef base, LLVMValueRef index) {
    cg_llvm_module *m = k->m;
    LLVMTypeRef st = cg_storage_type(m, t);
    LLVMValueRef v = LLVMBuildLoad2(k->b, st, cg_kb_gep(k, st, base, index), "");
    switch (t) {
    case KILN_F16: return LLVMBuildFPExt(k->b, v, m->t_f32, "");
    case KILN_BF16:
        return LLVMBuildBitCast(k->b, LLVMBuildShl(k->b, LLVMBuildZExt(k->b, v, m->t_i32, ""), LLVMConstInt(m->t_i32, 16, false), ""),
                                m->t_f32, "");
    case KILN_I32: return LLVMBuildSExt(k->b, v, m->t_i64, "");
    case KILN_BOOL: return LLVMBuildICmp(k->b, LLVMIntNE, v, LLVMConstInt(m->t_i8, 0, false), "");
    default: return v;
    }
}

// kiln_f32_to_bf16 (common/half.c): round to nearest even; NaN stays a quiet NaN.
static LLVMValueRef f32_to_bf16(cg_kb *k, LLVMValueRef f) {
    cg_llvm_module *m = k->m;
    LLVMValueRef x = LLVMBuildBitCast(k->b, f, m->t_i32, "");
    LLVMValueRef c16 = LLVMConstInt(m->t_i32, 16, false);
    LLVMValueRef is_nan = LLVMBuildICmp(k->b, LLVMIntUGT, LLVMBuildAnd(k->b, x, LLVMConstInt(m->t_i32, 0x7fffffff, false), ""),
                                        LLVMConstInt(m->t_i32, 0x7f800000, false), "");
    LLVMValueRef nan = LLVMBuildOr(k->b, LLVMBuildLShr(k->b, x, c16, ""), LLVMConstInt(m->t_i32, 0x40, false), "");
    LLVMValueRef lsb = LLVMBuildAnd(k->b, LLVMBuildLShr(k->b, x, c16, ""), LLVMConstInt(m->t_i32, 1, false), "");
    LLVMValueRef r = LLVMBuildAdd(k->b, x, LLVMBuildAdd(k->b, LLVMConstInt(m->t_i32, 0x7fff, false), lsb, ""), "");
    r = LLVMBuildLShr(k->b, r, c16, "");
    return LLVMBuildTrunc(k->b, LLVMBuildSelect(k->b, is_nan, nan, r, ""), m->t_i16, "");
}

void cg_store_elem(cg_kb *k, kiln_dtype t, LLVMValueRef base, LLVMValueRef index, LLVMValueRef v) {
    cg_llvm_module *m = k->m;
    LLVMTypeRef st = cg_storage_type(m, t);
    switch (t) {
    case KILN_F16: v = LLVMBuildFPTrunc(k->b, v, m->t_f16, ""); break;
    case KILN_BF16: v = f32_to_bf16(k, v); break;
    case KILN_I32: v = LLVMBuildTrunc(k->b, v, m->t_i32, ""); break;
    case KILN_BOOL: v = LLVMBuildZExt(k->b, v, m->t_i8, ""); break;
    default: break;
    }
    LLVMBuildStore(k->b, v, cg_kb_gep(k, st, base, index));
}

/* ---- math: polynomial approximations that vectorize (libm calls would not) ----
 * exp: Cephes' expf (range reduction by ln 2 split in two, degree-6 polynomial), < 1.2e-7
 * relative to expf; tanh and erf: Eigen's rational approximations, < 3.6e-7 absolute, saturated
 * to ±1 where tanhf and erff themselves round to ±1 (|x| >= 9.0109 and 3.832), so that GELU's
 * 1 + tanh / 1 + erf cancel exactly as the interpreter's do. Checked in tests/llvm. */

static LLVMValueRef fma3(cg_kb *k, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return cg_kb_intrinsic(k, "llvm.fmuladd", k->m->t_f32, args, 3);
}

static LLVMValueRef fsel(cg_kb *k, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f) {
    return LLVMBuildSelect(k->b, LLVMBuildFCmp(k->b, p, a, b, ""), t, f, "");
}

static LLVMValueRef pow2i(cg_kb *k, LLVMValueRef n) {   // 2^n for i32 n in [-126, 127]
    cg_llvm_module *m = k->m;
    LLVMValueRef bits = LLVMBuildShl(k->b, LLVMBuildAdd(k->b, n, LLVMConstInt(m->t_i32, 127, false), ""),
                                     LLVMConstInt(m->t_i32, 23, false), "");
    return LLVMBuildBitCast(k->b, bits, m->t_f32, "");
}

// exp(r) for the reduced argument, and n: x = n ln 2 + r, |r| <= ln 2 / 2.
static LLVMValueRef exp_reduced(cg_kb *k, LLVMValueRef x, LLVMValueRef *n_out) {
    cg_llvm_module *m = k->m;
    LLVMValueRef t = LLVMBuildFMul(k->b, x, cg_kb_f32(k, 1.44269504088896341f), "");
    LLVMValueRef n = cg_kb_intrinsic(k, "llvm.rint", m->t_f32, &t, 1);
    LLVMValueRef r = fma3(k, n, cg_kb_f32(k, -0.693359375f), x);
    r = fma3(k, n, cg_kb_f32(k, 2.12194440e-4f), r);
    LLVMValueRef z = LLVMBuildFMul(k->b, r, r, "");
    static const float c[] = {1.3981999507E-3f, 8.3334519073E-3f, 4.1665795894E-2f, 1.6666665459E-1f, 5.0000001201E-1f};
    LLVMValueRef y = cg_kb_f32(k, 1.9875691500E-4f);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(c); i++) y = fma3(k, y, r, cg_kb_f32(k, c[i]));
    *n_out = n;
    return LLVMBuildFAdd(k->b, fma3(k, y, z, r), cg_kb_f32(k, 1.0f), "");
}

// For x <= 0 n is at most 0, so one 2^n (n >= -126 above the flush edge) scales it. NaN stays
// NaN (through the polynomial); below the edge, where n would leave 2^n's range, the result is
// 0, as cg_math_exp gives. About 19 vector operations against cg_math_exp's 27: it is the inner
// loop of every softmax (attention's included).
LLVMValueRef cg_math_exp_nonpos(cg_kb *k, LLVMValueRef x) {
    LLVMValueRef n, y = exp_reduced(k, x, &n), x_lo = cg_kb_f32(k, -87.33654022216797f);
    n = fsel(k, LLVMRealOGE, x, x_lo, n, cg_kb_f32(k, 0));   // NaN, -inf: no fptosi of them (poison)
    y = LLVMBuildFMul(k->b, y, pow2i(k, LLVMBuildFPToSI(k->b, n, k->m->t_i32, "")), "");
    return fsel(k, LLVMRealOLT, x, x_lo, cg_kb_f32(k, 0), y);
}

LLVMValueRef cg_math_exp(cg_kb *k, LLVMValueRef x) {
    cg_llvm_module *m = k->m;
    LLVMValueRef n, y = exp_reduced(k, x, &n);
    // n may be 128 (x near the overflow edge): scale in two halves.
    LLVMValueRef x_lo = cg_kb_f32(k, -87.33654022216797f), x_hi = cg_kb_f32(k, 88.72283935546875f);
    LLVMValueRef nc = fsel(k, LLVMRealOLT, x, x_lo, cg_kb_f32(k, 0), n);   // keep the shift in range
    nc = fsel(k, LLVMRealOGT, x, x_hi, cg_kb_f32(k, 0), nc);
    nc = fsel(k, LLVMRealUNO, x, x, cg_kb_f32(k, 0), nc);
    LLVMValueRef ni = LLVMBuildFPToSI(k->b, nc, m->t_i32, "");
    LLVMValueRef n1 = LLVMBuildSDiv(k->b, ni, LLVMConstInt(m->t_i32, 2, false), "");
    LLVMValueRef n2 = LLVMBuildSub(k->b, ni, n1, "");
    y = LLVMBuildFMul(k->b, LLVMBuildFMul(k->b, y, pow2i(k, n1), ""), pow2i(k, n2), "");
    y = fsel(k, LLVMRealOLT, x, x_lo, cg_kb_f32(k, 0), y);
    return fsel(k, LLVMRealOGT, x, x_hi, cg_kb_f32(k, INFINITY), y);
}

static LLVMValueRef clampf(cg_kb *k, LLVMValueRef x, float lo, float hi) {
    x = fsel(k, LLVMRealOLT, x, cg_kb_f32(k, lo), cg_kb_f32(k, lo), x);
    return fsel(k, LLVMRealOGT, x, cg_kb_f32(k, hi), cg_kb_f32(k, hi), x);
}

static LLVMValueRef fabs1(cg_kb *k, LLVMValueRef x) { return cg_kb_intrinsic(k, "llvm.fabs", k->m->t_f32, &x, 1); }

LLVMValueRef cg_math_tanh(cg_kb *k, LLVMValueRef x0) {
    LLVMValueRef x = clampf(k, x0, -7.90531110763549805f, 7.90531110763549805f);
    LLVMValueRef x2 = LLVMBuildFMul(k->b, x, x, "");
    static const float a[] = {2.00018790482477e-13f, -8.60467152213735e-11f, 5.12229709037114e-08f, 1.48572235717979e-05f,
                              6.37261928875436e-04f, 4.89352455891786e-03f};
    static const float bq[] = {1.18534705686654e-04f, 2.26843463243900e-03f, 4.89352518554385e-03f};
    LLVMValueRef p = cg_kb_f32(k, -2.76076847742355e-16f);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(a); i++) p = fma3(k, x2, p, cg_kb_f32(k, a[i]));
    p = LLVMBuildFMul(k->b, x, p, "");
    LLVMValueRef q = cg_kb_f32(k, 1.19825839466702e-06f);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(bq); i++) q = fma3(k, x2, q, cg_kb_f32(k, bq[i]));
    LLVMValueRef r = LLVMBuildFDiv(k->b, p, q, "");
    // Where tanhf rounds to ±1 (|x| >= 9.0109), so must we: 1 + tanh(x) is then exactly 0.
    LLVMValueRef args[2] = {cg_kb_f32(k, 1.0f), x0};
    r = fsel(k, LLVMRealOGE, fabs1(k, x0), cg_kb_f32(k, 9.0109f), cg_kb_intrinsic(k, "llvm.copysign", k->m->t_f32, args, 2), r);
    return fsel(k, LLVMRealOLT, fabs1(k, x0), cg_kb_f32(k, 0.0004f), x0, r);
}

LLVMValueRef cg_math_erf(cg_kb *k, LLVMValueRef x0) {
    LLVMValueRef x = clampf(k, x0, -4.0f, 4.0f);
    LLVMValueRef x2 = LLVMBuildFMul(k->b, x, x, "");
    static const float a[] = {2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f, -7.34990630326855e-04f,
                              -2.95459980854025e-03f, -1.60960333262415e-02f};
    static const float bq[] = {-2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f, -1.42647390514189e-02f};
    LLVMValueRef p = cg_kb_f32(k, -2.72614225801306e-10f);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(a); i++) p = fma3(k, x2, p, cg_kb_f32(k, a[i]));
    p = LLVMBuildFMul(k->b, x, p, "");
    LLVMValueRef q = cg_kb_f32(k, -1.45660718464996e-05f);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(bq); i++) q = fma3(k, x2, q, cg_kb_f32(k, bq[i]));
    LLVMValueRef r = LLVMBuildFDiv(k->b, p, q, "");
    LLVMValueRef args[2] = {cg_kb_f32(k, 1.0f), x0};
    LLVMValueRef one = cg_kb_intrinsic(k, "llvm.copysign", k->m->t_f32, args, 2);
    return fsel(k, LLVMRealOGE, fabs1(k, x0), cg_kb_f32(k, 3.832f), one, r);
}
