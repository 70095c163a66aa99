/* gemm_emit.c — emits kiln's GEMM as LLVM IR (gemm.h): MR x NR register-tile microkernels
 * (broadcast A, vector loads of B, llvm.fma on <vec x float>), the dynamic variant's B packers,
 * the work-item loop that rt_parallel_for runs, and the entry that splits (batch, M, N) over the
 * pool's threads.
 *
 * The tile is small in rows (8) and wide in columns (3 vectors): each broadcast of A feeds NR/vec
 * FMAs. B is always read from a panel: kc rows of nr contiguous floats (packed weights, or a block
 * the dynamic variant packs on the stack). A is read two ways:
 *   weights, more rows than one block (128 with AVX-512): each work item copies its rows' K block of A into a stack buffer, tile by tile
 *     in groups of 16 k (tile t, group g, row r: 16 contiguous floats), so that a microkernel reads
 *     its A as one stream with constant offsets (BERT-base 8 x 128 and MiniLM 1 x 512 end to end:
 *     5-8 % faster than 8 row pointers at stride lda) — a plain copy of 64-byte rows, no transpose;
 *   dynamic (attention) products and at most one block of rows: in place (row stride lda), where
 *     a copy would cost more than it saves (few columns per row of A, or too little reuse).
 * One work item (rows [m0, m1), panels [p0, p1)):
 *   for each K block:  [pack A's block | dynamic: pack the item's panels]  for each panel:  for each MR-row tile: ukernel
 * so the kc x nr slice of B stays in L1 while A's block (at most 64 KiB) streams past from L2.
 */
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "codegen/llvm/gemm.h"

enum { UK_ACC = 1, UK_LAST = 2 };   // ukernel mode bits: add into C; last K block (activation)
enum { UK_ACT_SHIFT = 2 };          // CG_GEMM_ACT_RUNTIME: the activation, in mode's bits 2 and up
enum { U_UNROLL = 2 };              // K steps per iteration of the ukernel's main loop (a power of 2;
                                    // 4 measured no faster and takes twice the O3 time)
enum { UK_ARGS = 11 };
enum { B_BUF = 16384 };             // floats of the dynamic variant's B block buffer (64 KiB)
enum { A_BUF = 16384 };             // floats of the weights variant's packed A block (64 KiB)
enum { A_GROUP = 16 };              // k per group of the packed A layout (one 64-byte row segment)

// Work-item context slots (one i64-sized slot each), filled by the entry, read by the task.
enum {
    X_M, X_N, X_K, X_A, X_LDA, X_B, X_LDB, X_C, X_LDC, X_BIAS,
    X_NMB, X_MC, X_PPN, X_KC, X_NKB, X_PER_BATCH, X_BATCH1,
    X_SA0, X_SA1, X_SB0, X_SB1, X_SC0, X_SC1, X_ACT, X_APACK, X_COUNT
};

typedef struct gen {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef t_void, t_i32, t_i64, t_f32, t_ptr, t_vf;
    const cg_gemm_config *cfg;
    int vec, nv, mr, nr;
    cg_gemm_act act;
    const char *cpu, *features;
    char base[256];         // the entry's name, prefix of the helpers
    LLVMValueRef fn;        // function being built
    LLVMValueRef uk[64];    // ukernels by row count (1..mr)
    LLVMValueRef ukp[64];   // the same reading packed A (weights)
    LLVMValueRef packa;     // weights: the A block packer
    LLVMValueRef pack;      // dynamic: the B packer
} gen;

/* ---- small builders ---- */

static LLVMValueRef c64(gen *g, int64_t v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, true); }
static LLVMValueRef c32(gen *g, int32_t v) { return LLVMConstInt(g->t_i32, (unsigned long long)(int64_t)v, true); }
static LLVMValueRef add(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(g->b, a, b, ""); }
static LLVMValueRef sub(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(g->b, a, b, ""); }
static LLVMValueRef mul(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(g->b, a, b, ""); }
static LLVMValueRef lt(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""); }
static LLVMValueRef smin(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(g->b, lt(g, a, b), a, b, ""); }
static LLVMValueRef smax(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(g->b, lt(g, a, b), b, a, ""); }
// ceil(a / b) for a >= 0, b > 0
static LLVMValueRef cdiv(gen *g, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSDiv(g->b, add(g, a, sub(g, b, c64(g, 1))), b, "");
}
static LLVMValueRef gepf(gen *g, LLVMValueRef p, LLVMValueRef idx) { return LLVMBuildInBoundsGEP2(g->b, g->t_f32, p, &idx, 1, ""); }
static LLVMValueRef gepf_c(gen *g, LLVMValueRef p, int64_t idx) { return gepf(g, p, c64(g, idx)); }
static LLVMValueRef load(gen *g, LLVMTypeRef t, LLVMValueRef p, unsigned align) {
    LLVMValueRef v = LLVMBuildLoad2(g->b, t, p, "");
    LLVMSetAlignment(v, align);
    return v;
}
static void store(gen *g, LLVMValueRef v, LLVMValueRef p, unsigned align) { LLVMSetAlignment(LLVMBuildStore(g->b, v, p), align); }
static LLVMBasicBlockRef block(gen *g, const char *name) { return LLVMAppendBasicBlockInContext(g->ctx, g->fn, name); }
static void at(gen *g, LLVMBasicBlockRef bb) { LLVMPositionBuilderAtEnd(g->b, bb); }
static LLVMValueRef call(gen *g, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
    LLVMValueRef r = LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
    LLVMSetInstructionCallConv(r, LLVMGetFunctionCallConv(fn));
    return r;
}
static LLVMValueRef intrinsic(gen *g, const char *name, LLVMTypeRef *types, size_t n_types) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    KILN_ASSERT(id != 0);
    return LLVMGetIntrinsicDeclaration(g->mod, id, types, n_types);
}
static LLVMValueRef call_intr(gen *g, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
}
static LLVMValueRef splat(gen *g, LLVMValueRef s) {
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetPoison(g->t_vf), s, c32(g, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(g->t_vf), LLVMConstNull(LLVMVectorType(g->t_i32, (unsigned)g->vec)), "");
}
// Lanes [0, vec) of column block `v` that lie below `n_valid`: iota + v*vec < n_valid.
static LLVMValueRef lane_mask(gen *g, LLVMValueRef n_valid, int v) {
    LLVMValueRef lanes[64];
    for (int i = 0; i < g->vec; i++) lanes[i] = LLVMConstInt(g->t_i64, (unsigned long long)(v * g->vec + i), false);
    LLVMValueRef nv = LLVMBuildInsertElement(g->b, LLVMGetPoison(LLVMVectorType(g->t_i64, (unsigned)g->vec)), n_valid, c32(g, 0), "");
    nv = LLVMBuildShuffleVector(g->b, nv, LLVMGetPoison(LLVMTypeOf(nv)), LLVMConstNull(LLVMVectorType(g->t_i32, (unsigned)g->vec)), "");
    return LLVMBuildICmp(g->b, LLVMIntSLT, LLVMConstVector(lanes, (unsigned)g->vec), nv, "");
}
static LLVMValueRef masked_load(gen *g, LLVMValueRef p, LLVMValueRef mask) {
    LLVMTypeRef ty[2] = {g->t_vf, g->t_ptr};
    LLVMValueRef args[4] = {p, c32(g, 4), mask, LLVMConstNull(g->t_vf)};
    return call_intr(g, intrinsic(g, "llvm.masked.load", ty, 2), args, 4);
}
static void masked_store(gen *g, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask) {
    LLVMTypeRef ty[2] = {g->t_vf, g->t_ptr};
    LLVMValueRef args[4] = {v, p, c32(g, 4), mask};
    call_intr(g, intrinsic(g, "llvm.masked.store", ty, 2), args, 4);
}
static LLVMValueRef fma_v(gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return call_intr(g, intrinsic(g, "llvm.fma", &g->t_vf, 1), args, 3);
}

// A counted loop `for (iv = start; iv < end; iv += step)`; the body is built between open and close.
typedef struct loop {
    LLVMValueRef iv;
    LLVMBasicBlockRef head, exit;
} loop;

static void loop_open(gen *g, loop *l, LLVMValueRef start, LLVMValueRef end, const char *name) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    l->head = block(g, name);
    LLVMBasicBlockRef body = block(g, "body");
    l->exit = block(g, "exit");
    LLVMBuildBr(g->b, l->head);
    at(g, l->head);
    l->iv = LLVMBuildPhi(g->b, g->t_i64, name);
    LLVMAddIncoming(l->iv, &start, &pre, 1);
    LLVMBuildCondBr(g->b, lt(g, l->iv, end), body, l->exit);
    at(g, body);
}

static void loop_close(gen *g, loop *l, LLVMValueRef step) {
    LLVMValueRef next = add(g, l->iv, step);
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, l->head);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    at(g, l->exit);
}

static void add_attr_str(gen *g, LLVMValueRef fn, const char *k, const char *v) {
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(g->ctx, k, (unsigned)strlen(k), v, (unsigned)strlen(v)));
}
static void add_attr_enum(gen *g, LLVMValueRef fn, unsigned idx, const char *k) {
    unsigned kind = LLVMGetEnumAttributeKindForName(k, strlen(k));
    LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(g->ctx, kind, 0));
}

// A new function in the module with the target's attributes; internal unless `external`.
static LLVMValueRef new_function(gen *g, const char *name, LLVMTypeRef ty, bool external) {
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    if (!fn) fn = LLVMAddFunction(g->mod, name, ty);
    if (!external) LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr_str(g, fn, "target-cpu", g->cpu);
    add_attr_str(g, fn, "target-features", g->features);   // even "": else the JIT's own features apply
    if (g->cfg->isa == CG_GEMM_ISA_AVX512) {
        // Without these, CPUs tuned "prefer 256-bit" split <16 x float> into two ymm halves.
        add_attr_str(g, fn, "prefer-vector-width", "512");
        add_attr_str(g, fn, "min-legal-vector-width", "512");
    }
    add_attr_enum(g, fn, LLVMAttributeFunctionIndex, "nounwind");
    g->fn = fn;
    at(g, block(g, "entry"));
    return fn;
}

static LLVMValueRef runtime_fn(gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n) {
    LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
    if (!fn) fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(ret, params, n, false));
    return fn;
}

/* ---- activations ---- */

static LLVMValueRef vconst(gen *g, double v) { return splat(g, LLVMConstReal(g->t_f32, v)); }
static LLVMValueRef vmax(gen *g, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return call_intr(g, intrinsic(g, "llvm.maxnum", &g->t_vf, 1), args, 2);
}
static LLVMValueRef vmin(gen *g, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return call_intr(g, intrinsic(g, "llvm.minnum", &g->t_vf, 1), args, 2);
}

// x * P(x^2) / Q(x^2) with x clamped to [-clamp, clamp]: odd rational approximations (Eigen's
// generic_fast_erf_float and generic_fast_tanh_float; 7 numerator, n_q denominator terms).
static LLVMValueRef odd_rational(gen *g, LLVMValueRef x, double clamp, const double *p, const double *q, int n_q) {
    x = vmax(g, vmin(g, x, vconst(g, clamp)), vconst(g, -clamp));
    LLVMValueRef x2 = LLVMBuildFMul(g->b, x, x, "");
    LLVMValueRef num = vconst(g, p[6]);
    for (int i = 5; i >= 0; i--) num = fma_v(g, num, x2, vconst(g, p[i]));
    LLVMValueRef den = vconst(g, q[n_q - 1]);
    for (int i = n_q - 2; i >= 0; i--) den = fma_v(g, den, x2, vconst(g, q[i]));
    return LLVMBuildFDiv(g->b, LLVMBuildFMul(g->b, x, num, ""), den, "");
}

static LLVMValueRef emit_act(gen *g, LLVMValueRef x) {
    static const double erf_p[7] = {-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04, -5.69250639462346e-05,
                                    -2.10102402082508e-06, 2.77068142495902e-08,  -2.72614225801306e-10};
    static const double erf_q[5] = {-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03, -2.13374055278905e-04,
                                    -1.45660718464996e-05};
    static const double tanh_p[7] = {4.89352455891786e-03,  6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
                                     -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16};
    static const double tanh_q[4] = {4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06};
    LLVMValueRef half_x = LLVMBuildFMul(g->b, x, vconst(g, 0.5), ""), t;
    switch (g->act) {
    case CG_GEMM_ACT_RELU:
        return vmax(g, x, LLVMConstNull(g->t_vf));
    case CG_GEMM_ACT_GELU_ERF:
        t = odd_rational(g, LLVMBuildFMul(g->b, x, vconst(g, 0.70710678118654752), ""), 4.0, erf_p, erf_q, 5);
        return fma_v(g, half_x, t, half_x);   // 0.5x + 0.5x * erf(x / sqrt 2)
    case CG_GEMM_ACT_GELU_TANH: {
        LLVMValueRef x3 = LLVMBuildFMul(g->b, LLVMBuildFMul(g->b, x, x, ""), x, "");
        LLVMValueRef u = LLVMBuildFMul(g->b, fma_v(g, x3, vconst(g, 0.044715), x), vconst(g, 0.79788456080286536), "");
        t = odd_rational(g, u, 7.90531110763549805, tanh_p, tanh_q, 4);
        return fma_v(g, half_x, t, half_x);
    }
    default:
        return x;
    }
}

/* ---- the microkernel ----
 * void uk_m(i64 kc, ptr a, i64 lda, ptr b, ptr c, i64 ldc, i64 n_valid, i32 mode, ptr bias, ptr pf, i64 pf_step)
 *   acc[m x nr] = sum_k a[r*lda + k] * b[k*nr + j]         (b: kc rows of nr floats)
 *   acc += (mode & ACC) ? c[r*ldc + j] : (bias ? bias[j] : 0)
 *   if (mode & LAST) acc = act(acc)
 *   c[r*ldc + j] = acc   for j < n_valid
 *   and, every U_UNROLL steps of k, the line at pf + k * pf_step floats into L2
 * Few-row tiles split each accumulator over S independent chains (summed at the end) so that
 * the FMA latency is hidden even for m = 1 (the GEMV path). */
static LLVMValueRef emit_ukernel(gen *g, int m, bool packed) {
    // Named by what they compute, so every GEMM of a module with this tile and epilogue shares them.
    char name[300];
    static const char *const act_names[CG_GEMM_ACT_COUNT] = {"none", "relu", "gelu", "gelu_tanh"};
    snprintf(name, sizeof(name), "kiln.gemm.%s.%dx%d.%s.uk%d%s", g->cfg->isa == CG_GEMM_ISA_AVX512 ? "avx512" : "avx2", g->mr, g->nr,
             g->act == CG_GEMM_ACT_RUNTIME ? "any" : act_names[g->act], m, packed ? ".pa" : "");
    LLVMValueRef have = LLVMGetNamedFunction(g->mod, name);
    if (have && LLVMCountBasicBlocks(have) > 0) return have;
    LLVMTypeRef params[UK_ARGS] = {g->t_i64, g->t_ptr, g->t_i64, g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i32, g->t_ptr, g->t_ptr, g->t_i64};
    LLVMValueRef fn = new_function(g, name, LLVMFunctionType(g->t_void, params, UK_ARGS, false), false);
    LLVMSetFunctionCallConv(fn, LLVMFastCallConv);
    add_attr_enum(g, fn, LLVMAttributeFunctionIndex, "noinline");
    add_attr_enum(g, fn, 2, "noalias");   // a, b, c (attribute index = param + 1)
    add_attr_enum(g, fn, 4, "noalias");
    add_attr_enum(g, fn, 5, "noalias");
    LLVMValueRef kc = LLVMGetParam(fn, 0), a = LLVMGetParam(fn, 1), lda = LLVMGetParam(fn, 2), bp = LLVMGetParam(fn, 3);
    LLVMValueRef c = LLVMGetParam(fn, 4), ldc = LLVMGetParam(fn, 5), n_valid = LLVMGetParam(fn, 6);
    LLVMValueRef mode = LLVMGetParam(fn, 7), bias = LLVMGetParam(fn, 8), pf_lines = LLVMGetParam(fn, 9), pf_step = LLVMGetParam(fn, 10);
    LLVMValueRef prefetch = intrinsic(g, "llvm.prefetch", &g->t_ptr, 1);
    LLVMValueRef arow[64];
    for (int r = 0; r < m; r++) arow[r] = r == 0 ? a : gepf(g, a, mul(g, lda, c64(g, r)));
    int nv = g->nv, nr = g->nr, n_acc = m * nv;
    int S = 1;   // independent accumulator sets
    while (n_acc * S < 8 && S < U_UNROLL) S *= 2;
    int total = n_acc * S;
    LLVMValueRef zero = LLVMConstNull(g->t_vf);
    {   // Prefetch the C tile for writing, so that its lines arrive while the K loop runs.
        LLVMValueRef pf = intrinsic(g, "llvm.prefetch", &g->t_ptr, 1);
        for (int r = 0; r < m; r++) {
            LLVMValueRef row = r == 0 ? c : gepf(g, c, mul(g, ldc, c64(g, r)));
            for (int l = 0; l < g->nr; l += 16) {
                LLVMValueRef args[4] = {gepf_c(g, row, l), c32(g, 1), c32(g, 3), c32(g, 1)};
                call_intr(g, pf, args, 4);
            }
        }
    }
    LLVMValueRef acc[64 * 4 * 4];
    for (int i = 0; i < total; i++) acc[i] = zero;

    // Main loop: U_UNROLL steps of k per iteration, then a loop for the rest.
    // Packed A: one group of A_GROUP k per main-loop iteration, element (r, k) of the group at
    // r * A_GROUP + k; groups of a tile are g->mr * A_GROUP floats apart.
    int unroll = packed ? A_GROUP : U_UNROLL;
    LLVMValueRef kmain = unroll == 1 ? c64(g, 0) : LLVMBuildAnd(g->b, kc, c64(g, ~(int64_t)(unroll - 1)), "");
    for (int pass = 0; pass < 2; pass++) {
        int steps = pass == 0 ? unroll : 1;
        if (pass == 0 && unroll == 1) continue;
        LLVMValueRef start = pass == 0 ? c64(g, 0) : kmain, end = pass == 0 ? kmain : kc;
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
        LLVMBasicBlockRef head = block(g, pass == 0 ? "k4" : "k1"), body = block(g, "kbody"), exit = block(g, "kexit");
        LLVMBuildBr(g->b, head);
        at(g, head);
        LLVMValueRef k = LLVMBuildPhi(g->b, g->t_i64, "k");
        LLVMAddIncoming(k, &start, &pre, 1);
        LLVMValueRef phis[64 * 4 * 4];
        for (int i = 0; i < total; i++) {
            phis[i] = LLVMBuildPhi(g->b, g->t_vf, "acc");
            LLVMAddIncoming(phis[i], &acc[i], &pre, 1);
        }
        LLVMBuildCondBr(g->b, lt(g, k, end), body, exit);
        at(g, body);
        LLVMValueRef cur[64 * 4 * 4];
        memcpy(cur, phis, sizeof(LLVMValueRef) * (size_t)total);
        LLVMValueRef brow = gepf(g, bp, mul(g, k, c64(g, nr)));
        if (pass == 0) {   // into L2: one line per U_UNROLL steps of k, at pf + k * pf_step floats
            for (int l = 0; l < unroll / U_UNROLL; l++) {
                LLVMValueRef kl = l == 0 ? k : add(g, k, c64(g, (int64_t)l * U_UNROLL));
                LLVMValueRef args[4] = {gepf(g, pf_lines, mul(g, kl, pf_step)), c32(g, 0), c32(g, 2), c32(g, 1)};
                call_intr(g, prefetch, args, 4);
            }
        }
        // Packed A: this iteration's group (main loop), or k's group and offset (the rest).
        LLVMValueRef agroup = NULL, aoff = NULL;
        if (packed) {
            LLVMValueRef kg = pass == 0 ? k : LLVMBuildAnd(g->b, k, c64(g, ~(int64_t)(A_GROUP - 1)), "");
            agroup = gepf(g, a, mul(g, kg, c64(g, g->mr)));
            aoff = pass == 0 ? c64(g, 0) : LLVMBuildAnd(g->b, k, c64(g, A_GROUP - 1), "");
        }
        for (int u = 0; u < steps; u++) {
            int set = u % S;
            LLVMValueRef bv[8];
            for (int v = 0; v < nv; v++) bv[v] = load(g, g->t_vf, gepf_c(g, brow, (int64_t)u * nr + (int64_t)v * g->vec), 4);
            LLVMValueRef ku = u == 0 ? k : add(g, k, c64(g, u));
            for (int r = 0; r < m; r++) {
                LLVMValueRef ap = packed ? gepf(g, gepf_c(g, agroup, (int64_t)r * A_GROUP + u), aoff) : gepf(g, arow[r], ku);
                LLVMValueRef s = splat(g, load(g, g->t_f32, ap, 4));
                for (int v = 0; v < nv; v++) {
                    int i = (set * m + r) * nv + v;
                    cur[i] = fma_v(g, s, bv[v], cur[i]);
                }
            }
        }
        LLVMValueRef knext = add(g, k, c64(g, steps));
        LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, head);
        LLVMAddIncoming(k, &knext, &latch, 1);
        for (int i = 0; i < total; i++) LLVMAddIncoming(phis[i], &cur[i], &latch, 1);
        at(g, exit);
        memcpy(acc, phis, sizeof(LLVMValueRef) * (size_t)total);
    }
    for (int s = 1; s < S; s++)
        for (int i = 0; i < n_acc; i++) acc[i] = LLVMBuildFAdd(g->b, acc[i], acc[s * n_acc + i], "");

    // Epilogue: add C (later K blocks) or the bias (the first), then the activation. Branches,
    // not masks: a masked-off load from a NULL bias still costs a fault-suppression assist.
    LLVMValueRef mask[8];
    for (int v = 0; v < nv; v++) mask[v] = lane_mask(g, n_valid, v);
    LLVMValueRef crow[64];
    for (int r = 0; r < m; r++) crow[r] = r == 0 ? c : gepf(g, c, mul(g, ldc, c64(g, r)));
    {
        LLVMValueRef is_acc = LLVMBuildICmp(g->b, LLVMIntNE, LLVMBuildAnd(g->b, mode, c32(g, UK_ACC), ""), c32(g, 0), "");
        LLVMBasicBlockRef acc_bb = block(g, "add_c"), first_bb = block(g, "first");
        LLVMBasicBlockRef bias_bb = block(g, "add_bias"), join = block(g, "added");
        LLVMBuildCondBr(g->b, is_acc, acc_bb, first_bb);
        at(g, acc_bb);
        LLVMValueRef with_c[256];
        for (int r = 0; r < m; r++)
            for (int v = 0; v < nv; v++)
                with_c[r * nv + v] = LLVMBuildFAdd(g->b, acc[r * nv + v], masked_load(g, gepf_c(g, crow[r], (int64_t)v * g->vec), mask[v]), "");
        LLVMBuildBr(g->b, join);
        at(g, first_bb);
        LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, bias, ""), join, bias_bb);
        at(g, bias_bb);
        LLVMValueRef with_bias[256];
        for (int v = 0; v < nv; v++) {
            LLVMValueRef bvec = masked_load(g, gepf_c(g, bias, (int64_t)v * g->vec), mask[v]);
            for (int r = 0; r < m; r++) with_bias[r * nv + v] = LLVMBuildFAdd(g->b, acc[r * nv + v], bvec, "");
        }
        LLVMBuildBr(g->b, join);
        at(g, join);
        for (int i = 0; i < n_acc; i++) {
            LLVMValueRef phi = LLVMBuildPhi(g->b, g->t_vf, "");
            LLVMValueRef vals[3] = {with_c[i], acc[i], with_bias[i]};
            LLVMBasicBlockRef bbs[3] = {acc_bb, first_bb, bias_bb};
            LLVMAddIncoming(phi, vals, bbs, 3);
            acc[i] = phi;
        }
    }
    if (g->act != CG_GEMM_ACT_NONE) {
        // The activation on the last K block: the fixed one, or (CG_GEMM_ACT_RUNTIME) the one in
        // mode's upper bits, through a switch over every activation.
        bool runtime = g->act == CG_GEMM_ACT_RUNTIME;
        LLVMValueRef is_last = LLVMBuildICmp(g->b, LLVMIntNE, LLVMBuildAnd(g->b, mode, c32(g, UK_LAST), ""), c32(g, 0), "");
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b), dispatch = block(g, "act"), join = block(g, "join");
        LLVMBuildCondBr(g->b, is_last, dispatch, join);
        at(g, dispatch);
        LLVMValueRef sw = runtime ? LLVMBuildSwitch(g->b, LLVMBuildLShr(g->b, mode, c32(g, UK_ACT_SHIFT), ""), join, CG_GEMM_ACT_COUNT) : NULL;
        LLVMValueRef vals[CG_GEMM_ACT_COUNT + 1][64 * 4];
        LLVMBasicBlockRef bbs[CG_GEMM_ACT_COUNT + 1];
        int n_in = 0;
        memcpy(vals[n_in], acc, sizeof(LLVMValueRef) * (size_t)n_acc);
        bbs[n_in++] = pre;
        if (runtime) {
            memcpy(vals[n_in], acc, sizeof(LLVMValueRef) * (size_t)n_acc);   // an activation it does not know: none
            bbs[n_in++] = dispatch;
        }
        for (int act = CG_GEMM_ACT_NONE + 1; act < CG_GEMM_ACT_COUNT; act++) {
            if (!runtime && act != (int)g->act) continue;
            cg_gemm_act keep = g->act;
            LLVMBasicBlockRef bb = dispatch;
            if (runtime) {
                bb = block(g, "act_case");
                LLVMAddCase(sw, c32(g, act), bb);
                at(g, bb);
            }
            g->act = (cg_gemm_act)act;
            for (int i = 0; i < n_acc; i++) vals[n_in][i] = emit_act(g, acc[i]);
            g->act = keep;
            bbs[n_in++] = LLVMGetInsertBlock(g->b);
            LLVMBuildBr(g->b, join);
        }
        at(g, join);
        for (int i = 0; i < n_acc; i++) {
            LLVMValueRef phi = LLVMBuildPhi(g->b, g->t_vf, "");
            for (int j = 0; j < n_in; j++) LLVMAddIncoming(phi, &vals[j][i], &bbs[j], 1);
            acc[i] = phi;
        }
    }
    for (int r = 0; r < m; r++)
        for (int v = 0; v < nv; v++) masked_store(g, acc[r * nv + v], gepf_c(g, crow[r], (int64_t)v * g->vec), mask[v]);
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* ---- dynamic B packing into the stack panel ----
 * void pack(i64 kc, ptr src, i64 ldb, i64 n_valid, ptr dst)  dst: kc rows of nr floats
 *   trans_b false: src = B + k0*ldb + col0,  dst[k][j] = src[k*ldb + j]
 *   trans_b true:  src = B + col0*ldb + k0,  dst[k][j] = src[j*ldb + k]
 * columns j >= n_valid are zero. */

// In-register transpose of vec x vec floats: one butterfly per bit, swapping that bit of the
// row and column index (log2(vec) stages of two-source shuffles).
static void transpose(gen *g, LLVMValueRef *rows) {
    int n = g->vec;
    for (int h = n / 2; h >= 1; h /= 2) {
        LLVMValueRef lo_mask[64], hi_mask[64];
        for (int e = 0; e < n; e++) {
            lo_mask[e] = c32(g, (e & h) ? n + e - h : e);
            hi_mask[e] = c32(g, (e & h) ? n + e : e + h);
        }
        LLVMValueRef ml = LLVMConstVector(lo_mask, (unsigned)n), mh = LLVMConstVector(hi_mask, (unsigned)n);
        for (int i = 0; i < n; i++) {
            if (i & h) continue;
            LLVMValueRef x = rows[i], y = rows[i + h];
            rows[i] = LLVMBuildShuffleVector(g->b, x, y, ml, "");
            rows[i + h] = LLVMBuildShuffleVector(g->b, x, y, mh, "");
        }
    }
}

static LLVMValueRef emit_pack(gen *g, bool trans_b) {
    char name[300];
    snprintf(name, sizeof(name), "kiln.gemm.%s.pack%s%d", g->cfg->isa == CG_GEMM_ISA_AVX512 ? "avx512" : "avx2", trans_b ? "t" : "n", g->nr);
    LLVMValueRef have = LLVMGetNamedFunction(g->mod, name);
    if (have && LLVMCountBasicBlocks(have) > 0) return have;
    LLVMTypeRef params[5] = {g->t_i64, g->t_ptr, g->t_i64, g->t_i64, g->t_ptr};
    LLVMValueRef fn = new_function(g, name, LLVMFunctionType(g->t_void, params, 5, false), false);
    LLVMSetFunctionCallConv(fn, LLVMFastCallConv);
    add_attr_enum(g, fn, LLVMAttributeFunctionIndex, "noinline");
    LLVMValueRef kc = LLVMGetParam(fn, 0), src = LLVMGetParam(fn, 1), ldb = LLVMGetParam(fn, 2);
    LLVMValueRef n_valid = LLVMGetParam(fn, 3), dst = LLVMGetParam(fn, 4);
    int vec = g->vec, nr = g->nr;
    unsigned valign = (unsigned)vec * 4;
    if (!trans_b) {
        LLVMValueRef mask[8];
        for (int v = 0; v < g->nv; v++) mask[v] = lane_mask(g, n_valid, v);
        loop k;
        loop_open(g, &k, c64(g, 0), kc, "k");
        LLVMValueRef s = gepf(g, src, mul(g, k.iv, ldb)), d = gepf(g, dst, mul(g, k.iv, c64(g, nr)));
        for (int v = 0; v < g->nv; v++) store(g, masked_load(g, gepf_c(g, s, (int64_t)v * vec), mask[v]), gepf_c(g, d, (int64_t)v * vec), valign);
        loop_close(g, &k, c64(g, 1));
        LLVMBuildRetVoid(g->b);
        return fn;
    }
    LLVMValueRef kfull = LLVMBuildAnd(g->b, kc, c64(g, ~(int64_t)(vec - 1)), "");
    // A loop over the panel's column blocks, not an unrolled one: one vec x vec transpose in the
    // function keeps its machine-code time small (unrolled, 64-column panels cost the JIT 0.2 s).
    loop jbl;
    loop_open(g, &jbl, c64(g, 0), c64(g, g->nv), "jb");
    {
        // Columns [jb*vec, jb*vec + vec) of the panel: rows of src.
        LLVMValueRef col = mul(g, jbl.iv, c64(g, vec));
        LLVMValueRef jv = sub(g, n_valid, col);   // valid columns in this block
        LLVMValueRef sblk = gepf(g, src, mul(g, col, ldb));
        LLVMValueRef dblk = gepf(g, dst, col);
        LLVMBasicBlockRef full = block(g, "full"), part = block(g, "part"), next = block(g, "next");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, jv, c64(g, vec), ""), full, part);

        at(g, full);
        {
            loop k;
            loop_open(g, &k, c64(g, 0), kfull, "kb");
            LLVMValueRef rows[64];
            for (int t = 0; t < vec; t++) rows[t] = load(g, g->t_vf, gepf(g, gepf(g, sblk, mul(g, ldb, c64(g, t))), k.iv), 4);
            transpose(g, rows);
            LLVMValueRef d = gepf(g, dblk, mul(g, k.iv, c64(g, nr)));
            for (int s = 0; s < vec; s++) store(g, rows[s], gepf_c(g, d, (int64_t)s * nr), valign);
            loop_close(g, &k, c64(g, vec));
            loop kr;
            loop_open(g, &kr, kfull, kc, "kr");
            LLVMValueRef v = LLVMGetPoison(g->t_vf);
            for (int t = 0; t < vec; t++) {
                LLVMValueRef x = load(g, g->t_f32, gepf(g, gepf(g, sblk, mul(g, ldb, c64(g, t))), kr.iv), 4);
                v = LLVMBuildInsertElement(g->b, v, x, c32(g, t), "");
            }
            store(g, v, gepf(g, dblk, mul(g, kr.iv, c64(g, nr))), valign);
            loop_close(g, &kr, c64(g, 1));
            LLVMBuildBr(g->b, next);
        }

        at(g, part);
        {
            LLVMValueRef jn = smin(g, smax(g, jv, c64(g, 0)), c64(g, vec));
            loop j;
            loop_open(g, &j, c64(g, 0), jn, "j");
            LLVMValueRef srow = gepf(g, sblk, mul(g, j.iv, ldb));
            loop k;
            loop_open(g, &k, c64(g, 0), kc, "k");
            store(g, load(g, g->t_f32, gepf(g, srow, k.iv), 4), gepf(g, dblk, add(g, mul(g, k.iv, c64(g, nr)), j.iv)), 4);
            loop_close(g, &k, c64(g, 1));
            loop_close(g, &j, c64(g, 1));
            loop z;
            loop_open(g, &z, jn, c64(g, vec), "z");
            loop kz;
            loop_open(g, &kz, c64(g, 0), kc, "k");
            store(g, LLVMConstReal(g->t_f32, 0.0), gepf(g, dblk, add(g, mul(g, kz.iv, c64(g, nr)), z.iv)), 4);
            loop_close(g, &kz, c64(g, 1));
            loop_close(g, &z, c64(g, 1));
            LLVMBuildBr(g->b, next);
        }
        at(g, next);
    }
    loop_close(g, &jbl, c64(g, 1));
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* ---- packing A's block (weights) ----
 * void packa(i64 rows, i64 kc, ptr src, i64 lda, ptr dst)   src = A + m0*lda + k0
 *   row r, k:  dst[t*G*mr*16 + (k/16)*mr*16 + (r%mr)*16 + k%16] = src[r*lda + k],   t = r/mr, G = ceil(kc/16)
 * A copy of 16-float row segments (the last one of a row masked), no transpose. */
static LLVMValueRef emit_packa(gen *g) {
    char name[300];
    snprintf(name, sizeof(name), "kiln.gemm.%s.packa%d", g->cfg->isa == CG_GEMM_ISA_AVX512 ? "avx512" : "avx2", g->mr);
    LLVMValueRef have = LLVMGetNamedFunction(g->mod, name);
    if (have && LLVMCountBasicBlocks(have) > 0) return have;
    LLVMTypeRef params[5] = {g->t_i64, g->t_i64, g->t_ptr, g->t_i64, g->t_ptr};
    LLVMValueRef fn = new_function(g, name, LLVMFunctionType(g->t_void, params, 5, false), false);
    add_attr_enum(g, fn, LLVMAttributeFunctionIndex, "noinline");
    LLVMValueRef rows = LLVMGetParam(fn, 0), kc = LLVMGetParam(fn, 1), src = LLVMGetParam(fn, 2), lda = LLVMGetParam(fn, 3);
    LLVMValueRef dst = LLVMGetParam(fn, 4);
    LLVMValueRef mr = c64(g, g->mr), groups = cdiv(g, kc, c64(g, A_GROUP));
    LLVMValueRef tile_stride = mul(g, groups, c64(g, (int64_t)g->mr * A_GROUP)), full = LLVMBuildSDiv(g->b, kc, c64(g, A_GROUP), "");
    loop r;
    loop_open(g, &r, c64(g, 0), rows, "row");
    LLVMValueRef srow = gepf(g, src, mul(g, r.iv, lda));
    LLVMValueRef drow = gepf(g, gepf(g, dst, mul(g, LLVMBuildSDiv(g->b, r.iv, mr, ""), tile_stride)),
                             mul(g, LLVMBuildSRem(g->b, r.iv, mr, ""), c64(g, A_GROUP)));
    loop gr;
    loop_open(g, &gr, c64(g, 0), full, "group");
    LLVMValueRef sp = gepf(g, srow, mul(g, gr.iv, c64(g, A_GROUP))), dp = gepf(g, drow, mul(g, gr.iv, c64(g, (int64_t)g->mr * A_GROUP)));
    for (int v = 0; v < A_GROUP; v += g->vec) store(g, load(g, g->t_vf, gepf_c(g, sp, v), 4), gepf_c(g, dp, v), 4);
    loop_close(g, &gr, c64(g, 1));
    // The last, partial group (kc % 16 of its k), masked.
    LLVMValueRef tail = sub(g, kc, mul(g, full, c64(g, A_GROUP)));
    LLVMBasicBlockRef part = block(g, "tail"), done = block(g, "row_done");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, tail, c64(g, 0), ""), part, done);
    at(g, part);
    {
        LLVMValueRef sp2 = gepf(g, srow, mul(g, full, c64(g, A_GROUP))), dp2 = gepf(g, drow, mul(g, full, c64(g, (int64_t)g->mr * A_GROUP)));
        for (int v = 0; v < A_GROUP; v += g->vec) {
            LLVMValueRef mask = lane_mask(g, tail, v / g->vec);
            masked_store(g, masked_load(g, gepf_c(g, sp2, v), mask), gepf_c(g, dp2, v), mask);
        }
        LLVMBuildBr(g->b, done);
    }
    at(g, done);
    loop_close(g, &r, c64(g, 1));
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* ---- the work-item task: void task(ptr ctx, i64 begin, i64 end) ---- */

static LLVMValueRef slot(gen *g, LLVMValueRef ctx, int i) {
    LLVMValueRef idx = c64(g, i);
    return LLVMBuildInBoundsGEP2(g->b, g->t_i64, ctx, &idx, 1, "");
}

// Row counts that have a ukernel: mr and the powers of two below it. A remainder of r < mr rows
// runs as its binary digits (7 = 4 + 2 + 1): fewer kernels to compile, edges barely slower.
static bool has_uk(const gen *g, int m) { return m == g->mr || (m < g->mr && (m & (m - 1)) == 0); }

// The remainder tile: `rows` (run time, < mr) rows from a and c.
// Packed A (`packed`): the rows of a sub-tile are A_GROUP floats apart (pass lda = A_GROUP).
static void call_uk_rows(gen *g, LLVMValueRef rows, LLVMValueRef a, LLVMValueRef lda, LLVMValueRef c, LLVMValueRef ldc, LLVMValueRef *args,
                         bool packed) {
    LLVMValueRef off = c64(g, 0);
    int top = 1;
    while (top * 2 < g->mr) top *= 2;
    for (int bit = top; bit >= 1; bit /= 2) {
        LLVMBasicBlockRef run = block(g, "uk_rows"), next = block(g, "uk_next");
        LLVMValueRef set = LLVMBuildICmp(g->b, LLVMIntNE, LLVMBuildAnd(g->b, rows, c64(g, bit), ""), c64(g, 0), "");
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
        LLVMBuildCondBr(g->b, set, run, next);
        at(g, run);
        args[1] = gepf(g, a, mul(g, off, lda));
        args[4] = gepf(g, c, mul(g, off, ldc));
        call(g, packed ? g->ukp[bit] : g->uk[bit], args, UK_ARGS);
        LLVMValueRef off_run = add(g, off, c64(g, bit));
        LLVMBuildBr(g->b, next);
        at(g, next);
        LLVMValueRef phi = LLVMBuildPhi(g->b, g->t_i64, "off");
        LLVMValueRef vals[2] = {off, off_run};
        LLVMBasicBlockRef bbs[2] = {pre, run};
        LLVMAddIncoming(phi, vals, bbs, 2);
        off = phi;
    }
}

typedef struct item_ctx {
    LLVMValueRef x[X_COUNT];
    LLVMValueRef A, B, C;         // this batch entry's operands
    LLVMValueRef m0, p0, p1;      // rows from m0; panels [p0, p1)
    LLVMValueRef k0, kc, mode;    // this K block
    LLVMValueRef bbuf;
    LLVMValueRef abuf;            // weights: A's block, packed (emit_packa's layout)
} item_ctx;

// One K block of one panel for all the item's rows: full MR-row tiles, then the remainder.
static void emit_panel(gen *g, item_ctx *ic, LLVMValueRef p, LLVMValueRef n_full, LLVMValueRef rem_row, LLVMValueRef rem, bool dynamic,
                       bool packed) {
    LLVMValueRef *x = ic->x;
    LLVMValueRef col0 = mul(g, p, c64(g, g->nr));
    LLVMValueRef n_valid = smin(g, c64(g, g->nr), sub(g, x[X_N], col0));
    LLVMValueRef bpanel = dynamic ? gepf(g, ic->bbuf, mul(g, sub(g, p, ic->p0), mul(g, ic->kc, c64(g, g->nr))))
                                  : gepf(g, ic->B, mul(g, c64(g, g->nr), add(g, mul(g, p, x[X_K]), ic->k0)));
    LLVMValueRef bias_p = LLVMBuildSelect(g->b, LLVMBuildIsNull(g->b, x[X_BIAS], ""), LLVMConstPointerNull(g->t_ptr),
                                          LLVMBuildGEP2(g->b, g->t_f32, x[X_BIAS], &col0, 1, ""), "");
    LLVMValueRef a_k = gepf(g, ic->A, ic->k0), c_col = gepf(g, ic->C, col0);
    // Weights stream from memory (a model's layers do not stay in cache), and the first tile of
    // each kc x nr slice would wait for its lines. So the tiles prefetch into L2 the slice this
    // item runs next: the next panel's at this K block, or after the item's last panel the first
    // panel's next K block (with one panel per item: the next K block, then the next panel).
    // Each tile takes an equal part of it (pf_step = nr / tiles floats per k, at most one line per
    // ukernel iteration), so that the misses to memory are spread over the whole slice's time: few
    // in flight at once, the fill buffers free for the tiles' own loads. Measured with the weights
    // in memory (bench_gemm --cold-mb, one thread), BERT-base 1 x 128: a whole line per iteration
    // (the first 6 of 16 tiles covering the next slice) ran at 72-77 % of the peak, spread out at
    // 79-83 %; end to end (kiln profile, interleaved) 1 x 128 and 1 x 512 2-3 % faster. Taking the
    // next panel rather than the next K block when items hold several panels (their loop runs
    // panels inside K blocks): BERT-base 1 x 512 5.6 % and 8 x 128 3.1 % faster end to end.
    // The dynamic variant's B is on the stack: its tiles prefetch their own lines, an L1 hit.
    LLVMValueRef tiles = add(g, n_full, LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, rem, c64(g, 0), ""), g->t_i64, ""));
    LLVMValueRef pf_step = dynamic ? c64(g, 16 / U_UNROLL) : smin(g, c64(g, 16 / U_UNROLL), cdiv(g, c64(g, g->nr), smax(g, tiles, c64(g, 1))));
    LLVMValueRef per_tile = mul(g, ic->kc, pf_step);   // floats of the next slice a tile covers
    LLVMValueRef next = bpanel;
    if (!dynamic) {
        LLVMValueRef more = LLVMBuildICmp(g->b, LLVMIntSLT, add(g, p, c64(g, 1)), ic->p1, "");
        LLVMValueRef next_kb = gepf(g, ic->B, mul(g, c64(g, g->nr), add(g, mul(g, ic->p0, x[X_K]), add(g, ic->k0, ic->kc))));
        next = LLVMBuildSelect(g->b, more, gepf(g, bpanel, mul(g, x[X_K], c64(g, g->nr))), next_kb, "");
    }
    // Packed A: tile t at abuf + t * tile_stride (emit_packa's layout), rows A_GROUP apart.
    LLVMValueRef tile_stride = packed ? mul(g, cdiv(g, ic->kc, c64(g, A_GROUP)), c64(g, (int64_t)g->mr * A_GROUP)) : NULL;
    LLVMValueRef lda = packed ? c64(g, A_GROUP) : x[X_LDA];
    loop t;
    loop_open(g, &t, c64(g, 0), n_full, "tile");
    LLVMValueRef row = add(g, ic->m0, mul(g, t.iv, c64(g, g->mr)));
    LLVMValueRef pf = dynamic ? bpanel : gepf(g, next, mul(g, t.iv, per_tile));
    LLVMValueRef a_tile = packed ? gepf(g, ic->abuf, mul(g, t.iv, tile_stride)) : gepf(g, a_k, mul(g, row, x[X_LDA]));
    LLVMValueRef args[UK_ARGS] = {ic->kc, a_tile, lda, bpanel, gepf(g, c_col, mul(g, row, x[X_LDC])), x[X_LDC], n_valid, ic->mode, bias_p, pf, pf_step};
    call(g, packed ? g->ukp[g->mr] : g->uk[g->mr], args, UK_ARGS);
    loop_close(g, &t, c64(g, 1));
    LLVMValueRef pf_rem = dynamic ? bpanel : gepf(g, next, mul(g, n_full, per_tile));
    LLVMValueRef rargs[UK_ARGS] = {ic->kc, NULL, lda, bpanel, NULL, x[X_LDC], n_valid, ic->mode, bias_p, pf_rem, pf_step};
    LLVMValueRef a_rem = packed ? gepf(g, ic->abuf, mul(g, n_full, tile_stride)) : gepf(g, a_k, mul(g, rem_row, x[X_LDA]));
    call_uk_rows(g, rem, a_rem, lda, gepf(g, c_col, mul(g, rem_row, x[X_LDC])), x[X_LDC], rargs, packed);
}

// The item's panels [p0, p1), one K block each.
static void emit_panels(gen *g, item_ctx *ic, LLVMValueRef n_full, LLVMValueRef rem_row, LLVMValueRef rem, bool dynamic, bool packed) {
    loop p;
    loop_open(g, &p, ic->p0, ic->p1, "panel");
    emit_panel(g, ic, p.iv, n_full, rem_row, rem, dynamic, packed);
    loop_close(g, &p, c64(g, 1));
}

static LLVMValueRef emit_task(gen *g, bool dynamic, bool trans_b) {
    char name[300];
    snprintf(name, sizeof(name), "%s.task", g->base);
    LLVMTypeRef params[3] = {g->t_ptr, g->t_i64, g->t_i64};
    LLVMValueRef fn = new_function(g, name, LLVMFunctionType(g->t_void, params, 3, false), false);
    LLVMValueRef ctx = LLVMGetParam(fn, 0), begin = LLVMGetParam(fn, 1), end = LLVMGetParam(fn, 2);
    item_ctx ic = {0};
    LLVMValueRef *x = ic.x;
    if (dynamic) {
        ic.bbuf = LLVMBuildAlloca(g->b, LLVMArrayType2(g->t_f32, B_BUF), "bblock");
        LLVMSetAlignment(ic.bbuf, 64);
    } else {
        ic.abuf = LLVMBuildAlloca(g->b, LLVMArrayType2(g->t_f32, A_BUF), "ablock");
        LLVMSetAlignment(ic.abuf, 64);
    }
    for (int i = 0; i < X_COUNT; i++) {
        bool is_ptr = i == X_A || i == X_B || i == X_C || i == X_BIAS;
        x[i] = load(g, is_ptr ? g->t_ptr : g->t_i64, slot(g, ctx, i), 8);
    }
    LLVMValueRef n_panels = cdiv(g, x[X_N], c64(g, g->nr));
    loop it;
    loop_open(g, &it, begin, end, "item");
    ic.A = x[X_A];
    ic.B = x[X_B];
    ic.C = x[X_C];
    LLVMValueRef r = it.iv;
    if (dynamic) {
        LLVMValueRef bidx = LLVMBuildSDiv(g->b, it.iv, x[X_PER_BATCH], "");
        r = LLVMBuildSRem(g->b, it.iv, x[X_PER_BATCH], "");
        LLVMValueRef i0 = LLVMBuildSDiv(g->b, bidx, x[X_BATCH1], ""), i1 = LLVMBuildSRem(g->b, bidx, x[X_BATCH1], "");
        LLVMValueRef oa = add(g, mul(g, i0, x[X_SA0]), mul(g, i1, x[X_SA1]));
        LLVMValueRef ob = add(g, mul(g, i0, x[X_SB0]), mul(g, i1, x[X_SB1]));
        LLVMValueRef oc = add(g, mul(g, i0, x[X_SC0]), mul(g, i1, x[X_SC1]));
        ic.A = LLVMBuildGEP2(g->b, g->t_f32, ic.A, &oa, 1, "");
        ic.B = LLVMBuildGEP2(g->b, g->t_f32, ic.B, &ob, 1, "");
        ic.C = LLVMBuildGEP2(g->b, g->t_f32, ic.C, &oc, 1, "");
    }
    LLVMValueRef nb = LLVMBuildSDiv(g->b, r, x[X_NMB], ""), mb = LLVMBuildSRem(g->b, r, x[X_NMB], "");
    ic.m0 = mul(g, mb, x[X_MC]);
    LLVMValueRef m1 = smin(g, x[X_M], add(g, ic.m0, x[X_MC]));
    ic.p0 = mul(g, nb, x[X_PPN]);
    ic.p1 = smin(g, n_panels, add(g, ic.p0, x[X_PPN]));
    LLVMValueRef n_full = LLVMBuildSDiv(g->b, sub(g, m1, ic.m0), c64(g, g->mr), "");
    LLVMValueRef rem_row = add(g, ic.m0, mul(g, n_full, c64(g, g->mr)));
    LLVMValueRef rem = sub(g, m1, rem_row);

    loop kb;
    loop_open(g, &kb, c64(g, 0), x[X_NKB], "kb");
    ic.k0 = mul(g, kb.iv, x[X_KC]);
    ic.kc = smin(g, x[X_KC], sub(g, x[X_K], ic.k0));
    ic.mode = LLVMBuildOr(g->b, LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, kb.iv, c64(g, 0), ""), g->t_i32, ""),
                          LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, kb.iv, sub(g, x[X_NKB], c64(g, 1)), ""),
                                          c32(g, UK_LAST), c32(g, 0), ""), "");
    if (g->act == CG_GEMM_ACT_RUNTIME)
        ic.mode = LLVMBuildOr(g->b, ic.mode, LLVMBuildShl(g->b, LLVMBuildTrunc(g->b, x[X_ACT], g->t_i32, ""), c32(g, UK_ACT_SHIFT), ""), "");
    if (dynamic) {   // this K block of the item's panels, packed once, used by every row tile
        loop p;
        loop_open(g, &p, ic.p0, ic.p1, "pack");
        LLVMValueRef col0 = mul(g, p.iv, c64(g, g->nr));
        LLVMValueRef n_valid = smin(g, c64(g, g->nr), sub(g, x[X_N], col0));
        LLVMValueRef src = trans_b ? gepf(g, gepf(g, ic.B, mul(g, col0, x[X_LDB])), ic.k0)
                                   : gepf(g, gepf(g, ic.B, mul(g, ic.k0, x[X_LDB])), col0);
        LLVMValueRef dst = gepf(g, ic.bbuf, mul(g, sub(g, p.iv, ic.p0), mul(g, ic.kc, c64(g, g->nr))));
        LLVMValueRef args[5] = {ic.kc, src, x[X_LDB], n_valid, dst};
        call(g, g->pack, args, 5);
        loop_close(g, &p, c64(g, 1));
    }
    if (dynamic) {
        emit_panels(g, &ic, n_full, rem_row, rem, true, false);
    } else {   // weights: A's block packed once per K block (X_APACK), used by every panel, or read in place
        LLVMBasicBlockRef pk = block(g, "packed"), inplace = block(g, "in_place"), joined = block(g, "k_done");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, x[X_APACK], c64(g, 0), ""), pk, inplace);
        at(g, pk);
        {
            LLVMValueRef args[5] = {sub(g, m1, ic.m0), ic.kc, gepf(g, gepf(g, ic.A, mul(g, ic.m0, x[X_LDA])), ic.k0), x[X_LDA], ic.abuf};
            call(g, g->packa, args, 5);
            emit_panels(g, &ic, n_full, rem_row, rem, false, true);
            LLVMBuildBr(g->b, joined);
        }
        at(g, inplace);
        emit_panels(g, &ic, n_full, rem_row, rem, false, false);
        LLVMBuildBr(g->b, joined);
        at(g, joined);
    }
    loop_close(g, &kb, c64(g, 1));
    loop_close(g, &it, c64(g, 1));
    LLVMBuildRetVoid(g->b);
    return fn;
}

/* ---- the entry: partition and parallel_for ---- */

static void emit_entry(gen *g, LLVMValueRef fn, LLVMValueRef task, bool dynamic) {
    // Parameters in the order of gemm.h.
    LLVMValueRef b0, b1, M, N, K, A, lda, sa0 = NULL, sa1 = NULL, B, ldb, sb0 = NULL, sb1 = NULL, C, ldc, sc0 = NULL, sc1 = NULL, bias, pool;
    int i = 0;
    if (dynamic) {
        b0 = LLVMGetParam(fn, i++);
        b1 = LLVMGetParam(fn, i++);
    } else {
        b0 = b1 = c64(g, 1);
    }
    M = LLVMGetParam(fn, i++);
    N = LLVMGetParam(fn, i++);
    K = LLVMGetParam(fn, i++);
    A = LLVMGetParam(fn, i++);
    lda = LLVMGetParam(fn, i++);
    if (dynamic) {
        sa0 = LLVMGetParam(fn, i++);
        sa1 = LLVMGetParam(fn, i++);
    }
    B = LLVMGetParam(fn, i++);
    if (dynamic) {
        ldb = LLVMGetParam(fn, i++);
        sb0 = LLVMGetParam(fn, i++);
        sb1 = LLVMGetParam(fn, i++);
    } else {
        ldb = c64(g, g->nr);
    }
    C = LLVMGetParam(fn, i++);
    ldc = LLVMGetParam(fn, i++);
    if (dynamic) {
        sc0 = LLVMGetParam(fn, i++);
        sc1 = LLVMGetParam(fn, i++);
    }
    bias = LLVMGetParam(fn, i++);
    pool = LLVMGetParam(fn, i++);
    // CG_GEMM_ACT_RUNTIME: the activation argument; one the ukernels do not know applies none.
    LLVMValueRef act = g->act == CG_GEMM_ACT_RUNTIME ? LLVMBuildZExt(g->b, LLVMGetParam(fn, i++), g->t_i64, "") : c64(g, 0);

    LLVMBasicBlockRef work = block(g, "work"), out = block(g, "out");
    LLVMValueRef batch = mul(g, b0, b1);
    LLVMValueRef empty = LLVMBuildOr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, M, c64(g, 0), ""),
                                     LLVMBuildOr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, N, c64(g, 0), ""),
                                                 LLVMBuildICmp(g->b, LLVMIntSLE, batch, c64(g, 0), ""), ""), "");
    LLVMBuildCondBr(g->b, empty, out, work);
    at(g, out);
    LLVMBuildRetVoid(g->b);
    at(g, work);

    LLVMTypeRef tp[1] = {g->t_ptr};
    LLVMValueRef threads_fn = runtime_fn(g, "rt_pool_threads", g->t_i32, tp, 1);
    LLVMValueRef T = LLVMBuildSExt(g->b, call(g, threads_fn, &pool, 1), g->t_i64, "");
    // Small products run inline: waking a worker costs more than they take.
    LLVMValueRef work_macs = mul(g, mul(g, batch, M), mul(g, N, smax(g, K, c64(g, 1))));
    LLVMValueRef small = LLVMBuildICmp(g->b, LLVMIntSLT, work_macs, c64(g, 1 << 18), "");
    LLVMValueRef target = LLVMBuildSelect(g->b, LLVMBuildOr(g->b, small, LLVMBuildICmp(g->b, LLVMIntSLE, T, c64(g, 1), ""), ""),
                                          c64(g, 1), mul(g, T, c64(g, 4)), "");
    LLVMValueRef need = smax(g, c64(g, 1), cdiv(g, target, batch));   // work items per batch entry
    LLVMValueRef n_panels = cdiv(g, N, c64(g, g->nr)), m_tiles = cdiv(g, M, c64(g, g->mr));

    // K blocks: equal blocks of at most kc; one block for one row, which then streams each
    // panel once, front to back (the GEMV path).
    LLVMValueRef kc_cap = c64(g, g->cfg->kc);
    if (!dynamic)
        kc_cap = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, M, c64(g, 1), ""), smax(g, K, c64(g, 1)), kc_cap, "");
    LLVMValueRef nkb = smax(g, c64(g, 1), cdiv(g, K, kc_cap));
    LLVMValueRef kc = smax(g, c64(g, 1), cdiv(g, K, nkb));

    // Work items: row blocks of at most mc rows x groups of ppn panels. Weights with more rows than
    // one block holds pack A's block (at most A_BUF floats: mc_pack rows of kc) once per K block and item, so
    // their items take several panels: about two per thread and row block, enough for the pool's
    // dynamic chunks to balance, few enough that the packing stays near 1 % of the work. Fewer rows
    // (or a K block too long for the buffer) read A in place, one panel per item: items are then
    // many and equal, and nothing is repeated per item. The dynamic variant packs B per item, so
    // it takes as many panels as its stack buffer holds and splits rows only when there is too
    // little else.
    LLVMValueRef mc_max = c64(g, KILN_MAX(1, g->cfg->mc / g->mr) * g->mr);
    LLVMValueRef apack = c64(g, 0);
    if (!dynamic) {
        LLVMValueRef mc_pack = mul(g, LLVMBuildSDiv(g->b, LLVMBuildSDiv(g->b, c64(g, A_BUF), mul(g, cdiv(g, kc, c64(g, A_GROUP)), c64(g, A_GROUP)), ""),
                                                    c64(g, g->mr), ""), c64(g, g->mr));
        // Measured in BERT-base and MiniLM (kiln profile, 2 threads): packing gains 3-8 % from 256
        // rows up and loses about 1 % at 128 (one row block, whose items then split fewer ways).
        // Except where A's rows lie a multiple of 4 KiB apart (lda % 1024 floats: BERT-base's
        // feed-forward down, K = 3072): then a tile's 8 rows map to the same L1 sets and, with the B
        // slice's lines there too, overflow their ways. Packing them from 32 rows up: BERT-base
        // 1 x 128's feed-forward down plus attention output 28.6 -> 27.6 ms (means of 12 interleaved
        // runs, 11 faster), though bench_gemm, which reruns one product on warm caches, shows that
        // product 2-4 points slower packed.
        LLVMValueRef same_sets = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildAnd(g->b, lda, c64(g, 1023), ""), c64(g, 0), ""),
                                              LLVMBuildICmp(g->b, LLVMIntSGE, M, c64(g, 4 * g->mr), ""), "");
        LLVMValueRef big = LLVMBuildOr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, M, mc_pack, ""), same_sets, "");
        LLVMValueRef use = LLVMBuildAnd(g->b, big,
                                        LLVMBuildICmp(g->b, LLVMIntSGE, mc_pack, c64(g, g->mr), ""), "");
        apack = LLVMBuildZExt(g->b, use, g->t_i64, "");
        mc_max = LLVMBuildSelect(g->b, use, smin(g, mc_max, mc_pack), mc_max, "");
    }
    LLVMValueRef n_mb = cdiv(g, M, mc_max), ppn, n_nb;
    if (dynamic) {
        LLVMValueRef ppn_cap = smax(g, c64(g, 1), LLVMBuildSDiv(g->b, c64(g, B_BUF), mul(g, kc, c64(g, g->nr)), ""));
        ppn = smin(g, n_panels, ppn_cap);
        n_nb = cdiv(g, n_panels, ppn);
        // Too few items: narrower panel groups first (no repeated packing), then row blocks.
        LLVMValueRef want_nb = smin(g, n_panels, smax(g, n_nb, cdiv(g, need, n_mb)));
        ppn = cdiv(g, n_panels, want_nb);
        n_nb = cdiv(g, n_panels, ppn);
    } else {
        LLVMValueRef want_nb = smin(g, smax(g, c64(g, 1), LLVMBuildSDiv(g->b, n_panels, c64(g, 4), "")),   // at least 4 panels per item
                                    smax(g, c64(g, 1), cdiv(g, cdiv(g, need, c64(g, 2)), n_mb)));
        ppn = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntNE, apack, c64(g, 0), ""), cdiv(g, n_panels, want_nb), c64(g, 1), "");
        n_nb = cdiv(g, n_panels, ppn);
    }
    n_mb = smax(g, n_mb, smin(g, m_tiles, cdiv(g, need, n_nb)));
    if (!dynamic) {
        // Items that read A in place and are heavy (a long K: the feed-forward down products at 128
        // rows, 9-19 M multiply-adds per panel) split their rows in two. Consecutive items then share a
        // panel, so the two threads read its B slices together, each keeps half of A in L2, and the
        // last items end closer together. Measured (kiln profile, 2 threads, interleaved): BERT-base
        // 1 x 128 feed-forward down 24.7 -> 22.9 ms, MiniLM's 2.91 -> 2.79 ms; splitting the 4.7 M
        // products too changed nothing.
        LLVMValueRef item_macs = mul(g, mul(g, cdiv(g, M, n_mb), mul(g, ppn, c64(g, g->nr))), K);
        LLVMValueRef heavy = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, item_macs, c64(g, 8 << 20), ""),
                                          LLVMBuildICmp(g->b, LLVMIntEQ, apack, c64(g, 0), ""), "");
        n_mb = LLVMBuildSelect(g->b, heavy, smin(g, m_tiles, mul(g, n_mb, c64(g, 2))), n_mb, "");
    }
    LLVMValueRef mc = mul(g, cdiv(g, m_tiles, n_mb), c64(g, g->mr));
    n_mb = cdiv(g, M, mc);
    LLVMValueRef per_batch = mul(g, n_mb, n_nb);

    LLVMValueRef ctx = LLVMBuildAlloca(g->b, LLVMArrayType2(g->t_i64, X_COUNT), "ctx");
    LLVMValueRef vals[X_COUNT] = {
        [X_M] = M,         [X_N] = N,     [X_K] = K,     [X_A] = A,     [X_LDA] = lda,   [X_B] = B,
        [X_LDB] = ldb,     [X_C] = C,     [X_LDC] = ldc, [X_BIAS] = bias, [X_NMB] = n_mb, [X_MC] = mc,
        [X_PPN] = ppn, [X_KC] = kc,   [X_NKB] = nkb, [X_PER_BATCH] = per_batch,
        [X_BATCH1] = b1,   [X_SA0] = dynamic ? sa0 : c64(g, 0), [X_SA1] = dynamic ? sa1 : c64(g, 0),
        [X_SB0] = dynamic ? sb0 : c64(g, 0), [X_SB1] = dynamic ? sb1 : c64(g, 0),
        [X_SC0] = dynamic ? sc0 : c64(g, 0), [X_SC1] = dynamic ? sc1 : c64(g, 0), [X_ACT] = act, [X_APACK] = apack,
    };
    for (int s = 0; s < X_COUNT; s++) store(g, vals[s], slot(g, ctx, s), 8);
    LLVMTypeRef pf[5] = {g->t_ptr, g->t_i64, g->t_i64, g->t_ptr, g->t_ptr};
    LLVMValueRef pfor = runtime_fn(g, "rt_parallel_for", g->t_void, pf, 5);
    // One target item: everything inline (a grain of all items), since rt_parallel_for waits for
    // every worker to check in even when the caller did all the work.
    LLVMValueRef n_items = mul(g, batch, per_batch);
    LLVMValueRef grain = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, target, c64(g, 1), ""), n_items, c64(g, 1), "");
    if (!dynamic) {
        // Many one-panel items over a weight larger than the caches hold (4 MiB and up: BERT-base's
        // QKV and feed-forward up at 128 rows) go out in contiguous chunks, two per thread, so that
        // the panel an item prefetches at its end (the next one) is the one its thread runs next.
        // BERT-base 1 x 128 (kiln profile, 8 interleaved runs): QKV plus attention 20.4 -> 19.2 ms,
        // every run faster, feed-forward up 22.2 -> 21.6 ms. MiniLM's (1-2 MiB weights, half the
        // item) ran 2 % slower that way: its items are too short for chunks to balance.
        LLVMValueRef in_place = LLVMBuildICmp(g->b, LLVMIntEQ, apack, c64(g, 0), "");
        LLVMValueRef pooled = LLVMBuildICmp(g->b, LLVMIntSGT, target, c64(g, 1), "");
        LLVMValueRef many = LLVMBuildICmp(g->b, LLVMIntSGE, n_items, mul(g, T, c64(g, 12)), "");
        LLVMValueRef big_w = LLVMBuildICmp(g->b, LLVMIntSGE, mul(g, N, K), c64(g, 1 << 20), "");
        LLVMValueRef chunked = LLVMBuildAnd(g->b, LLVMBuildAnd(g->b, in_place, pooled, ""), LLVMBuildAnd(g->b, many, big_w, ""), "");
        grain = LLVMBuildSelect(g->b, chunked, cdiv(g, n_items, mul(g, T, c64(g, 2))), grain, "");
    }
    LLVMValueRef args[5] = {pool, n_items, grain, task, ctx};
    call(g, pfor, args, 5);
    LLVMBuildRetVoid(g->b);
}

static bool config_ok(const cg_gemm_config *cfg, int mr, int nr, bool dynamic) {
    if (cfg->isa != CG_GEMM_ISA_AVX2 && cfg->isa != CG_GEMM_ISA_AVX512) return false;
    if (cfg->vec != (cfg->isa == CG_GEMM_ISA_AVX512 ? 16 : 8)) return false;
    if (mr < 1 || mr > 32 || nr < cfg->vec || nr % cfg->vec != 0 || nr / cfg->vec > 8 || mr * (nr / cfg->vec) > 64) return false;
    if (cfg->kc < 1 || cfg->kc > 4096 || cfg->mc < mr) return false;
    return !dynamic || (int64_t)cfg->kc * nr <= B_BUF;   // a kc x nr panel must fit the stack buffer
}

// One GEMM with an mr x nr tile: its ukernels (shared by name within the module), packers, task
// and the entry `name` (external or internal).
static LLVMValueRef emit_gemm(gen *g, const char *name, LLVMTypeRef fty, int mr, int nr, bool dynamic, bool trans_b, bool external) {
    g->mr = mr;
    g->nr = nr;
    g->nv = nr / g->vec;
    snprintf(g->base, sizeof(g->base), "%s", name);
    memset(g->uk, 0, sizeof(g->uk));
    memset(g->ukp, 0, sizeof(g->ukp));
    g->packa = g->pack = NULL;
    for (int m = 1; m <= g->mr; m++)
        if (has_uk(g, m)) {
            g->uk[m] = emit_ukernel(g, m, false);
            if (!dynamic) g->ukp[m] = emit_ukernel(g, m, true);
        }
    if (!dynamic) g->packa = emit_packa(g);
    if (dynamic) g->pack = emit_pack(g, trans_b);
    LLVMValueRef task = emit_task(g, dynamic, trans_b);
    LLVMValueRef fn = new_function(g, name, fty, external);
    emit_entry(g, fn, task, dynamic);
    return fn;
}

static kiln_status emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, const cg_gemm_config *cfg, bool dynamic, bool trans_b,
                        cg_gemm_act act, const char *name) {
    if (!mod || !tm || !cfg || !name || !name[0]) return kiln_error(KILN_ERR_INVALID_ARG, "gemm: emit needs a module, target machine, config and name");
    bool wide = cfg->dyn_mr_wide != 0 || cfg->dyn_nr_wide != 0;
    if (!config_ok(cfg, cfg->mr, cfg->nr, false) || !config_ok(cfg, cfg->dyn_mr, cfg->dyn_nr, true) ||
        (wide && !config_ok(cfg, cfg->dyn_mr_wide, cfg->dyn_nr_wide, true)))
        return kiln_error(KILN_ERR_INVALID_ARG, "gemm '%s': bad config (isa %d, vec %d, %d x %d, dynamic %d x %d and %d x %d, kc %d, mc %d)", name,
                          (int)cfg->isa, cfg->vec, cfg->mr, cfg->nr, cfg->dyn_mr, cfg->dyn_nr, cfg->dyn_mr_wide, cfg->dyn_nr_wide, cfg->kc,
                          cfg->mc);
    if ((unsigned)act >= CG_GEMM_ACT_COUNT && !(act == CG_GEMM_ACT_RUNTIME && !dynamic))
        return kiln_error(KILN_ERR_INVALID_ARG, "gemm '%s': unknown activation %d", name, (int)act);
    if (strlen(name) > 200) return kiln_error(KILN_ERR_INVALID_ARG, "gemm: function name longer than 200 bytes");
    LLVMValueRef existing = LLVMGetNamedFunction(mod, name);
    if (existing && LLVMCountBasicBlocks(existing) > 0) return kiln_error(KILN_ERR_INVALID_ARG, "gemm: function '%s' is already defined", name);

    gen g = {0};
    g.mod = mod;
    g.ctx = LLVMGetModuleContext(mod);
    g.b = LLVMCreateBuilderInContext(g.ctx);
    g.cfg = cfg;
    g.vec = cfg->vec;
    g.act = act;
    char *cpu = LLVMGetTargetMachineCPU(tm), *features = LLVMGetTargetMachineFeatureString(tm);
    g.cpu = cpu;
    g.features = features;
    g.t_void = LLVMVoidTypeInContext(g.ctx);
    g.t_i32 = LLVMInt32TypeInContext(g.ctx);
    g.t_i64 = LLVMInt64TypeInContext(g.ctx);
    g.t_f32 = LLVMFloatTypeInContext(g.ctx);
    g.t_ptr = LLVMPointerTypeInContext(g.ctx, 0);
    g.t_vf = LLVMVectorType(g.t_f32, (unsigned)g.vec);

    LLVMTypeRef params[19];
    unsigned n = 0;
    if (dynamic) {
        LLVMTypeRef p[19] = {g.t_i64, g.t_i64, g.t_i64, g.t_i64, g.t_i64, g.t_ptr, g.t_i64, g.t_i64, g.t_i64, g.t_ptr,
                             g.t_i64, g.t_i64, g.t_i64, g.t_ptr, g.t_i64, g.t_i64, g.t_i64, g.t_ptr, g.t_ptr};
        memcpy(params, p, sizeof(p));
        n = 19;
    } else {
        LLVMTypeRef p[11] = {g.t_i64, g.t_i64, g.t_i64, g.t_ptr, g.t_i64, g.t_ptr, g.t_ptr, g.t_i64, g.t_ptr, g.t_ptr, g.t_i32};
        memcpy(params, p, sizeof(p));
        n = act == CG_GEMM_ACT_RUNTIME ? 11 : 10;
    }
    LLVMTypeRef fty = LLVMFunctionType(g.t_void, params, n, false);
    kiln_status st = KILN_OK;
    if (existing && LLVMGlobalGetValueType(existing) != fty) {
        st = kiln_error(KILN_ERR_INVALID_ARG, "gemm: '%s' is declared with another signature", name);
    } else if (!dynamic || !wide) {
        emit_gemm(&g, name, fty, dynamic ? cfg->dyn_mr : cfg->mr, dynamic ? cfg->dyn_nr : cfg->nr, dynamic, trans_b, true);
    } else {
        // Two dynamic GEMMs, one per tile, and the entry picks by N: the wide tile where N padded
        // to its width is no wider than padded to the narrow one's (cg_gemm_dynamic_wide).
        char sub[2][256];
        snprintf(sub[0], sizeof(sub[0]), "%s.nr%d", name, cfg->dyn_nr);
        snprintf(sub[1], sizeof(sub[1]), "%s.nr%d", name, cfg->dyn_nr_wide);
        LLVMValueRef fns[2] = {emit_gemm(&g, sub[0], fty, cfg->dyn_mr, cfg->dyn_nr, true, trans_b, false),
                               emit_gemm(&g, sub[1], fty, cfg->dyn_mr_wide, cfg->dyn_nr_wide, true, trans_b, false)};
        LLVMValueRef fn = new_function(&g, name, fty, true);
        LLVMValueRef N = LLVMGetParam(fn, 3), args[19];
        for (unsigned i = 0; i < n; i++) args[i] = LLVMGetParam(fn, i);
        LLVMValueRef pad_n = mul(&g, cdiv(&g, N, c64(&g, cfg->dyn_nr)), c64(&g, cfg->dyn_nr));
        LLVMValueRef pad_w = mul(&g, cdiv(&g, N, c64(&g, cfg->dyn_nr_wide)), c64(&g, cfg->dyn_nr_wide));
        LLVMBasicBlockRef bb[2] = {block(&g, "narrow"), block(&g, "wide")};
        LLVMBuildCondBr(g.b, LLVMBuildICmp(g.b, LLVMIntSLE, pad_w, pad_n, ""), bb[1], bb[0]);
        for (int i = 0; i < 2; i++) {
            at(&g, bb[i]);
            LLVMBuildCall2(g.b, fty, fns[i], args, n, "");
            LLVMBuildRetVoid(g.b);
        }
    }
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    LLVMDisposeBuilder(g.b);
    return st;
}

kiln_status cg_gemm_emit_packed(LLVMModuleRef mod, LLVMTargetMachineRef tm, const cg_gemm_config *cfg, cg_gemm_act act, const char *name) {
    return emit(mod, tm, cfg, false, false, act, name);
}

kiln_status cg_gemm_emit_dynamic(LLVMModuleRef mod, LLVMTargetMachineRef tm, const cg_gemm_config *cfg, bool trans_b, cg_gemm_act act,
                                 const char *name) {
    return emit(mod, tm, cfg, true, trans_b, act, name);
}
