/* test_gemm.c — kiln's generated GEMM (codegen/llvm/gemm.h) against a double-precision reference:
 * weight (packed) and activation (dynamic, trans_b both ways, two batch levels with strides)
 * products on odd and even shapes, with and without bias and ReLU, inline and on 2 threads, for
 * every ISA the host runs (AVX-512, AVX2) and for a deliberately small blocking (many K blocks,
 * many row tiles, partial panels). f32 within 1e-5 + 1e-5 * sum|a_k * b_k|.
 */
#include <math.h>

#include "codegen/llvm/gemm.h"
#include "gemm_jit.h"
#include "runtime/pool.h"
#include "test.h"

static unsigned rng = 2024;
static unsigned next_u(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}
static float next_f(void) { return (float)(next_u() & 0xffff) / 32768.0f - 1.0f; }
static void fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = next_f();
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) abort();
    return p;
}

#define SENTINEL 12345.0f

typedef struct kernels {
    const char *label;
    cg_gemm_config cfg;
    gj_packed_fn packed[CG_GEMM_ACT_COUNT];   // by activation
    gj_packed_act_fn any;                     // CG_GEMM_ACT_RUNTIME (the backend's kiln_gemm_packed)
    gj_dynamic_fn dyn_n, dyn_t, dyn_t_relu;
    LLVMOrcLLJITRef jit;
} kernels;

// Checks C [M x N] (row stride ldc; the pad columns must still hold SENTINEL) against
// act(A·op(B) + bias) in double; A [M,K] at lda; B element (k, n) at b[k*bk + n*bn].
static double act_ref(cg_gemm_act act, double x) {
    switch (act) {
    case CG_GEMM_ACT_RELU: return x < 0 ? 0 : x;
    case CG_GEMM_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case CG_GEMM_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    default: return x;
    }
}

static bool check_c(const char *what, const float *C, int64_t ldc, const float *A, int64_t lda, const float *B, int64_t bk, int64_t bn,
                    const float *bias, cg_gemm_act act, int64_t M, int64_t N, int64_t K) {
    double worst = 0;
    int64_t wm = -1, wn = -1;
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0, scale = bias ? fabs(bias[n]) : 0.0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)A[m * lda + k] * (double)B[k * bk + n * bn];
                s += p;
                scale += fabs(p);
            }
            s = act_ref(act, s);
            double err = fabs((double)C[m * ldc + n] - s) / (1e-5 + 1e-5 * scale);
            if (!(err <= worst)) {   // catches NaN too
                worst = isnan(err) ? INFINITY : err;
                wm = m;
                wn = n;
            }
        }
        for (int64_t n = N; n < ldc; n++)
            if (C[m * ldc + n] != SENTINEL) {
                fprintf(stderr, "%s: wrote pad column C[%lld][%lld]\n", what, (long long)m, (long long)n);
                return false;
            }
    }
    if (worst > 1.0) {
        fprintf(stderr, "%s: C[%lld][%lld] off by %.2f x tolerance\n", what, (long long)wm, (long long)wn, worst);
        return false;
    }
    return true;
}

static const char *const act_names[CG_GEMM_ACT_COUNT] = {"", "+relu", "+gelu", "+gelu_tanh"};

static void test_packed(const kernels *k, rt_pool *pool, int64_t M, int64_t N, int64_t K, bool with_bias, cg_gemm_act act) {
    int64_t lda = K + (M % 3), ldc = N + (N % 2) + 1;
    float *A = xalloc((size_t)(M * lda + 1) * 4), *W = xalloc((size_t)(N * K + 1) * 4), *bias = xalloc((size_t)(N + 1) * 4);
    float *C = xalloc((size_t)(M * ldc + 1) * 4);
    float *P = xalloc(cg_gemm_packed_bytes(&k->cfg, N, K));
    fill(A, (size_t)(M * lda));
    fill(W, (size_t)(N * K));
    fill(bias, (size_t)N);
    for (int64_t i = 0; i < M * ldc; i++) C[i] = SENTINEL;
    cg_gemm_pack_weight(&k->cfg, W, N, K, P);
    k->packed[act](M, N, K, A, lda, P, C, ldc, with_bias ? bias : NULL, pool);
    char what[160];
    snprintf(what, sizeof(what), "%s packed%s %lldx%lldx%lld%s, %d threads", k->label, act_names[act], (long long)M, (long long)N,
             (long long)K, with_bias ? " +bias" : "", rt_pool_threads(pool));
    // B = Wᵀ: element (k, n) is W[n*K + k]
    CHECK_MSG(check_c(what, C, ldc, A, lda, W, 1, K, with_bias ? bias : NULL, act, M, N, K), "%s", what);
    // The same through the entry that takes the activation as an argument; one it does not know
    // (CG_GEMM_ACT_COUNT) applies none.
    for (int pass = 0; pass < 2; pass++) {
        cg_gemm_act a = pass == 0 ? act : CG_GEMM_ACT_NONE;
        for (int64_t i = 0; i < M * ldc; i++) C[i] = SENTINEL;
        k->any(M, N, K, A, lda, P, C, ldc, with_bias ? bias : NULL, pool, pass == 0 ? (int32_t)act : (int32_t)CG_GEMM_ACT_COUNT);
        snprintf(what, sizeof(what), "%s packed (act argument %d) %lldx%lldx%lld%s, %d threads", k->label,
                 pass == 0 ? (int)act : (int)CG_GEMM_ACT_COUNT, (long long)M, (long long)N, (long long)K, with_bias ? " +bias" : "",
                 rt_pool_threads(pool));
        CHECK_MSG(check_c(what, C, ldc, A, lda, W, 1, K, with_bias ? bias : NULL, a, M, N, K), "%s", what);
    }
    free(A);
    free(W);
    free(bias);
    free(C);
    free(P);
}

static void test_dynamic(const kernels *k, rt_pool *pool, int64_t M, int64_t N, int64_t K, bool trans_b, bool with_bias, bool relu) {
    const int64_t b0 = 2, b1 = 3;
    int64_t lda = K + 1, ldb = (trans_b ? K : N) + 2, ldc = N + 1;
    int64_t b_rows = trans_b ? N : K;
    // A and C are [b0, b1, rows, ld] contiguous; B is broadcast over batch0 (stride 0).
    int64_t sa1 = M * lda, sa0 = b1 * sa1, sb1 = b_rows * ldb, sb0 = 0, sc1 = M * ldc, sc0 = b1 * sc1;
    float *A = xalloc((size_t)(b0 * sa0 + 1) * 4), *B = xalloc((size_t)(b1 * sb1 + 1) * 4), *bias = xalloc((size_t)(N + 1) * 4);
    float *C = xalloc((size_t)(b0 * sc0 + 1) * 4);
    fill(A, (size_t)(b0 * sa0));
    fill(B, (size_t)(b1 * sb1));
    fill(bias, (size_t)N);
    for (int64_t i = 0; i < b0 * sc0; i++) C[i] = SENTINEL;
    gj_dynamic_fn fn = trans_b ? (relu ? k->dyn_t_relu : k->dyn_t) : k->dyn_n;
    fn(b0, b1, M, N, K, A, lda, sa0, sa1, B, ldb, sb0, sb1, C, ldc, sc0, sc1, with_bias ? bias : NULL, pool);
    char what[160];
    snprintf(what, sizeof(what), "%s dynamic trans_b=%d%s %lldx%lldx%lld%s, %d threads", k->label, trans_b, relu ? "+relu" : "",
             (long long)M, (long long)N, (long long)K, with_bias ? " +bias" : "", rt_pool_threads(pool));
    bool ok = true;
    for (int64_t i = 0; i < b0 && ok; i++)
        for (int64_t j = 0; j < b1 && ok; j++) {
            const float *Bij = B + i * sb0 + j * sb1;
            ok = check_c(what, C + i * sc0 + j * sc1, ldc, A + i * sa0 + j * sa1, lda, Bij, trans_b ? 1 : ldb, trans_b ? ldb : 1,
                         with_bias ? bias : NULL, relu ? CG_GEMM_ACT_RELU : CG_GEMM_ACT_NONE, M, N, K);
        }
    CHECK_MSG(ok, "%s", what);
    free(A);
    free(B);
    free(bias);
    free(C);
}

static bool build(kernels *k, const char *label, const char *cpu, const char *features, const cg_gemm_config *cfg) {
    k->label = label;
    k->cfg = *cfg;
    gj_module m;
    gj_module_begin(&m, cpu, features);
    static const char *const names[CG_GEMM_ACT_COUNT] = {"w", "w_relu", "w_gelu", "w_gelu_tanh"};
    for (int a = 0; a < CG_GEMM_ACT_COUNT; a++) CHECK_OK(cg_gemm_emit_packed(m.mod, m.tm, cfg, (cg_gemm_act)a, names[a]));
    CHECK_OK(cg_gemm_emit_packed(m.mod, m.tm, cfg, CG_GEMM_ACT_RUNTIME, "w_any"));
    // The dynamic entries take a fixed activation only.
    CHECK_FAILS(cg_gemm_emit_dynamic(m.mod, m.tm, cfg, true, CG_GEMM_ACT_RUNTIME, "d_any"), KILN_ERR_INVALID_ARG, "activation");
    CHECK_OK(cg_gemm_emit_dynamic(m.mod, m.tm, cfg, false, CG_GEMM_ACT_NONE, "d_n"));
    CHECK_OK(cg_gemm_emit_dynamic(m.mod, m.tm, cfg, true, CG_GEMM_ACT_NONE, "d_t"));
    CHECK_OK(cg_gemm_emit_dynamic(m.mod, m.tm, cfg, true, CG_GEMM_ACT_RELU, "d_t_relu"));
    // A second definition of a name is refused, not silently renamed.
    CHECK_FAILS(cg_gemm_emit_packed(m.mod, m.tm, cfg, CG_GEMM_ACT_NONE, "w"), KILN_ERR_INVALID_ARG, "already defined");
    k->jit = gj_jit(&m, NULL);
    CHECK(k->jit != NULL);
    if (!k->jit) return false;
    bool all = true;
    for (int a = 0; a < CG_GEMM_ACT_COUNT; a++) all = all && (k->packed[a] = (gj_packed_fn)gj_lookup(k->jit, names[a])) != NULL;
    k->dyn_n = (gj_dynamic_fn)gj_lookup(k->jit, "d_n");
    k->dyn_t = (gj_dynamic_fn)gj_lookup(k->jit, "d_t");
    k->dyn_t_relu = (gj_dynamic_fn)gj_lookup(k->jit, "d_t_relu");
    k->any = (gj_packed_act_fn)gj_lookup(k->jit, "w_any");
    all = all && k->dyn_n && k->dyn_t && k->dyn_t_relu && k->any;
    CHECK(all);
    return all;
}

static void run_suite(const kernels *k, rt_pool *pool2, bool small_blocking) {
    static const int64_t dims[] = {1, 3, 17, 64, 127, 128, 384, 768, 1536, 3072};
    // Shapes everyone must get right: one row (GEMV path), K = 0 (C = bias), one column,
    // several K blocks, partial panels and partial row tiles.
    // Over one block of rows (more than 128 with AVX-512), A is packed per K block: partial
    // groups of 16 k (K = 300 in blocks of 100, K = 17, K = 1) and partial row tiles. Heavy items
    // reading A in place split their rows in two (125 x 400 x 1500, two threads: 64 + 61 rows).
    // Rows of A a multiple of 4 KiB apart are packed from 32 rows up (lda = K + M % 3: 99 x 200 x
    // 2048 on one thread, 48 x 100 x 1024 on two).
    static const int64_t fixed[][3] = {{1, 768, 768}, {1, 3072, 768}, {1, 3, 17},     {1, 1, 1},      {3, 1, 5},
                                       {17, 127, 3},  {5, 7, 0},      {127, 64, 300}, {64, 17, 1536}, {2, 3072, 3},
                                       {128, 384, 384}, {259, 100, 300}, {300, 48, 17}, {133, 7, 1},  {1031, 96, 64},
                                       {125, 400, 1500}, {99, 200, 2048}, {48, 100, 1024}};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(fixed); i++) {
        rt_pool *pool = i % 2 ? pool2 : NULL;
        test_packed(k, pool, fixed[i][0], fixed[i][1], fixed[i][2], i % 3 != 0, (cg_gemm_act)(i % CG_GEMM_ACT_COUNT));
    }
    // Random shapes from the dims of the brief, bounded so the reference stays fast.
    int n_random = small_blocking ? 10 : 24;
    for (int i = 0; i < n_random;) {
        int64_t M = dims[next_u() % KILN_ARRAY_SIZE(dims)], N = dims[next_u() % KILN_ARRAY_SIZE(dims)];
        int64_t K = dims[next_u() % KILN_ARRAY_SIZE(dims)];
        if ((double)M * (double)N * (double)K > 6e6) continue;
        test_packed(k, i % 2 ? pool2 : NULL, M, N, K, i % 3 != 1, (cg_gemm_act)(i % CG_GEMM_ACT_COUNT));
        i++;
    }
    if (!small_blocking) {
        test_packed(k, pool2, 128, 768, 768, true, CG_GEMM_ACT_GELU_ERF);   // BERT-base's FFN-up epilogue, 2 threads
        // Over a weight of 4 MiB and more, one-panel items go out in contiguous chunks (32 items).
        test_packed(k, pool2, 65, 1536, 768, true, CG_GEMM_ACT_NONE);
    }

    // Activation products: attention-like and odd shapes, both B layouts; with two dynamic
    // tiles (8 x 32 and 6 x 64 with AVX-512), N = 128, 33, 64 take the wide one, 32, 3, 1, 17, 7
    // the narrow one.
    static const int64_t dyn[][3] = {{128, 128, 64}, {64, 32, 128}, {17, 33, 5}, {1, 3, 17}, {3, 1, 1},
                                     {127, 64, 127}, {33, 17, 300}, {5, 7, 0},  {1, 64, 64}};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(dyn); i++) {
        rt_pool *pool = i % 2 ? NULL : pool2;
        test_dynamic(k, pool, dyn[i][0], dyn[i][1], dyn[i][2], false, i % 3 == 1, false);
        test_dynamic(k, pool, dyn[i][0], dyn[i][1], dyn[i][2], true, i % 3 == 2, i % 4 == 1);
    }
}

static void test_config(void) {
    cg_gemm_config c;
    CHECK_OK(cg_gemm_config_for("x86-64-v4", "", &c));
    CHECK(c.isa == CG_GEMM_ISA_AVX512 && c.vec == 16);
    CHECK_OK(cg_gemm_config_for("x86-64-v3", NULL, &c));
    CHECK(c.isa == CG_GEMM_ISA_AVX2 && c.vec == 8);
    CHECK_OK(cg_gemm_config_for("sapphirerapids", "+avx2,-avx512f,+fma", &c));
    CHECK(c.isa == CG_GEMM_ISA_AVX2);
    CHECK_OK(cg_gemm_config_for("x86-64", "+avx,+avx2,+fma", &c));
    CHECK(c.isa == CG_GEMM_ISA_AVX2);
    CHECK_OK(cg_gemm_config_for("x86-64", "+avx2,+fma,+avx512f", &c));
    CHECK(c.isa == CG_GEMM_ISA_AVX512);
    // "+avx512fp16" is not "+avx512f"; no AVX2 either: nothing to generate for.
    CHECK_FAILS(cg_gemm_config_for("x86-64", "+avx512fp16", &c), KILN_ERR_UNSUPPORTED, "neither AVX-512F nor AVX2");
    CHECK_FAILS(cg_gemm_config_for("pentium4", "", &c), KILN_ERR_UNSUPPORTED, "pentium4");
    CHECK_FAILS(cg_gemm_config_for(NULL, "", &c), KILN_ERR_INVALID_ARG, "cpu");

    // Packed layout: panels of nr columns, zero beyond N.
    cg_gemm_config_for("x86-64-v3", "", &c);
    int panels = (17 + c.nr - 1) / c.nr, last = panels - 1, n0 = last * c.nr;
    CHECK(cg_gemm_packed_bytes(&c, 17, 3) == (size_t)panels * 3 * (size_t)c.nr * 4);
    float w[17 * 3], p[17 * 3 * 8];
    for (int i = 0; i < 17 * 3; i++) w[i] = (float)i;
    cg_gemm_pack_weight(&c, w, 17, 3, p);
    CHECK(p[0] == w[0] && p[1] == w[3] && p[c.nr] == w[1]);   // panel 0: row k=0, then k=1
    CHECK(p[last * 3 * c.nr + 2 * c.nr] == w[n0 * 3 + 2]);   // last panel, k=2, its first column
    CHECK(p[last * 3 * c.nr + (17 - n0)] == 0.0f);           // columns past N are zero
}

static void test_rejects(const char *cpu, const char *features, const cg_gemm_config *good) {
    gj_module m;
    gj_module_begin(&m, cpu, features);
    cg_gemm_config bad = *good;
    bad.nr = bad.vec + 1;
    CHECK_FAILS(cg_gemm_emit_packed(m.mod, m.tm, &bad, CG_GEMM_ACT_NONE, "x"), KILN_ERR_INVALID_ARG, "bad config");
    bad = *good;
    bad.dyn_mr = 0;
    CHECK_FAILS(cg_gemm_emit_dynamic(m.mod, m.tm, &bad, true, CG_GEMM_ACT_NONE, "x"), KILN_ERR_INVALID_ARG, "bad config");
    CHECK_FAILS(cg_gemm_emit_packed(m.mod, m.tm, good, (cg_gemm_act)99, "x"), KILN_ERR_INVALID_ARG, "activation");
    CHECK_FAILS(cg_gemm_emit_packed(NULL, m.tm, good, CG_GEMM_ACT_NONE, "x"), KILN_ERR_INVALID_ARG, "module");
    CHECK_FAILS(cg_gemm_emit_packed(m.mod, m.tm, good, CG_GEMM_ACT_NONE, ""), KILN_ERR_INVALID_ARG, "name");
    // A declaration with the right type is completed; one with another type is refused.
    LLVMContextRef ctx = LLVMGetModuleContext(m.mod);
    LLVMAddFunction(m.mod, "declared_wrong", LLVMFunctionType(LLVMVoidTypeInContext(ctx), NULL, 0, false));
    CHECK_FAILS(cg_gemm_emit_packed(m.mod, m.tm, good, CG_GEMM_ACT_NONE, "declared_wrong"), KILN_ERR_INVALID_ARG, "signature");
    LLVMDisposeModule(m.mod);
    LLVMOrcDisposeThreadSafeContext(m.tsctx);
    LLVMDisposeTargetMachine(m.tm);
}

// The AVX2 kernels carry their own target attributes: compiled by a JIT whose machine has
// AVX-512 (the host's), they still hold no EVEX-only register or mask, so they run on AVX2 CPUs.
static void avx2_code_has_no_avx512_under_an_avx512_target_machine(void) {
    gj_module m;
    gj_module_begin(&m, "haswell", "");
    cg_gemm_config cfg;
    CHECK_OK(cg_gemm_config_for("haswell", "", &cfg));
    CHECK_OK(cg_gemm_emit_packed(m.mod, m.tm, &cfg, CG_GEMM_ACT_GELU_ERF, "w"));
    CHECK_OK(cg_gemm_emit_dynamic(m.mod, m.tm, &cfg, true, CG_GEMM_ACT_NONE, "t"));
    LLVMTargetMachineRef host = gj_target_machine("x86-64-v4", "+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx2,+fma");
    LLVMMemoryBufferRef buf = NULL;
    char *err = NULL;
    CHECK(host && LLVMTargetMachineEmitToMemoryBuffer(host, m.mod, LLVMAssemblyFile, &err, &buf) == 0);
    if (buf) {
        size_t n = LLVMGetBufferSize(buf);
        char *text = malloc(n + 1);
        memcpy(text, LLVMGetBufferStart(buf), n);
        text[n] = 0;
        bool evex = strstr(text, "zmm") || strstr(text, "{%k") || strstr(text, "{1to") || strstr(text, "mm16") || strstr(text, "mm31");
        CHECK_MSG(strstr(text, "vfmadd") && !evex, "AVX2 GEMM code uses AVX-512 registers or masks");
        free(text);
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeMessage(err);
    LLVMDisposeTargetMachine(host);
    LLVMDisposeModule(m.mod);
    LLVMOrcDisposeThreadSafeContext(m.tsctx);
    LLVMDisposeTargetMachine(m.tm);
}

int main(void) {
    gj_init();
    test_config();
    avx2_code_has_no_avx512_under_an_avx512_target_machine();
    char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
    rt_pool *pool2 = rt_pool_create(2);
    CHECK(pool2 != NULL);
    struct {
        const char *label, *cpu, *features;
    } isas[2] = {{"avx512", host_cpu, host_features}, {"avx2", "haswell", ""}};
    int ran = 0;
    for (int i = 0; i < 2; i++) {
        cg_gemm_config cfg;
        if (cg_gemm_config_for(isas[i].cpu, isas[i].features, &cfg) != KILN_OK) continue;
        if ((i == 0) != (cfg.isa == CG_GEMM_ISA_AVX512)) continue;   // host without AVX-512
        if (i == 1 && !strstr(host_features, "+avx2")) continue;
        ran++;
        test_rejects(isas[i].cpu, isas[i].features, &cfg);
        kernels k;
        if (build(&k, isas[i].label, isas[i].cpu, isas[i].features, &cfg)) {
            run_suite(&k, pool2, false);
            LLVMOrcDisposeLLJIT(k.jit);
        }
        // Tiny blocking: kc 5 and mc 2 tiles make every product many K blocks, many work items
        // and partial tiles, so the block edges are exercised on small, fast shapes.
        cg_gemm_config small = cfg;
        small.mr = 3;
        small.nr = 2 * cfg.vec;
        small.dyn_mr = 2;
        small.dyn_nr = cfg.vec;
        small.dyn_mr_wide = 3;   // and a wide dynamic tile on both ISAs (AVX2's default has none)
        small.dyn_nr_wide = 2 * cfg.vec;
        small.kc = 5;
        small.mc = 6;
        char label[32];
        snprintf(label, sizeof(label), "%s-small", isas[i].label);
        if (build(&k, label, isas[i].cpu, isas[i].features, &small)) {
            run_suite(&k, pool2, true);
            LLVMOrcDisposeLLJIT(k.jit);
        }
    }
    printf("ISAs run: %d\n", ran);
    CHECK(ran > 0 || !strstr(host_features, "+avx2"));
    rt_pool_free(pool2);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);
    return test_summary();
}
