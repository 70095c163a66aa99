/* test_llvm_ops.c — every op the CPU backend lowers, against the interpreter (the oracle), on
 * random inputs with odd sizes (1, 3, 17, 127, 768, 3072), run by one compiled program at
 * several run-time lengths, on one thread and on two.
 *
 * Tolerances (f32):
 *   contractions      |cpu - interp| <= 1e-5 + 1e-5 · Σ|aᵢ·bᵢ|   (the scale of the sum)
 *   element-wise      |cpu - interp| <= 1e-6 · (1 + |interp|)     (exp, tanh, erf are polynomials
 *   normalizations    |cpu - interp| <= 1e-6 · (1 + |interp|)      within ~3e-7 of libm)
 *   integers, bool, movement, f16/bf16 casts: exact.
 * Errors the interpreter reports (gather / scatter / slice out of range, integer division by
 * zero, a reduction over an empty axis) are reported by the CPU kernels too, with a message.
 */
#include <math.h>

#include "codegen/codegen.h"
#include "codegen/llvm/llvm.h"
#include "runtime/context.h"
#include "common/half.h"
#include "common/quant.h"
#include "test.h"

extern const kiln_backend cg_llvm_backend;

enum { TOL_EXACT, TOL_EW, TOL_MATMUL };

static uint32_t seed = 12345;
static float frand(float lo, float hi) {
    seed = seed * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
}

typedef struct inputs {
    int n;
    kiln_tensor t[8];
} inputs;

static int64_t numel(const kiln_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

static kiln_tensor *add_input(inputs *in, const char *name, kiln_dtype dt, int rank, const int64_t *shape, double lo, double hi) {
    kiln_tensor *t = &in->t[in->n++];
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->dtype = dt;
    t->rank = rank;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)rank);
    int64_t n = numel(t);
    t->data = aligned_alloc(64, ((size_t)n * 8 + 63) / 64 * 64 + 64);
    for (int64_t i = 0; i < n; i++) {
        double v = frand((float)lo, (float)hi);
        switch (dt) {
        case KILN_F32: ((float *)t->data)[i] = (float)v; break;
        case KILN_F16: ((uint16_t *)t->data)[i] = kiln_f32_to_f16((float)v); break;
        case KILN_BF16: ((uint16_t *)t->data)[i] = kiln_f32_to_bf16((float)v); break;
        case KILN_I32: ((int32_t *)t->data)[i] = (int32_t)floor(v); break;
        case KILN_I64: ((int64_t *)t->data)[i] = (int64_t)floor(v); break;
        case KILN_BOOL: ((uint8_t *)t->data)[i] = v > 0; break;
        default: break;
        }
    }
    return t;
}

static void free_inputs(inputs *in) {
    for (int i = 0; i < in->n; i++) free(in->t[i].data);
    in->n = 0;
}

static ir_graph *new_graph(int *B, int *S, int64_t bmax, int64_t smax) {
    ir_graph *g = ir_graph_create();
    *B = ir_graph_symbol(g, "batch");
    *S = ir_graph_symbol(g, "seq");
    g->symbols[*B].max = bmax;
    g->symbols[*S].max = smax;
    return g;
}

static ir_dim C(int64_t v) { return ir_dim_const(v); }

// Σ|a·b| per output element of out = a·b (a [.., M, K], b [K, N] or [N, K] when tb; b rank 2 or
// with the same batch dims as a).
static double *matmul_scale(const kiln_tensor *a, const kiln_tensor *b, bool ta, bool tb, int64_t *count) {
    int64_t M = a->shape[a->rank - (ta ? 1 : 2)], K = a->shape[a->rank - (ta ? 2 : 1)];
    int64_t N = b->shape[b->rank - (tb ? 2 : 1)];
    int64_t batch = numel(a) / (M * K);
    double *s = calloc((size_t)(batch * M * N) + 1, sizeof(double));
    const float *A = a->data, *Bm = b->data;
    bool b2 = b->rank == 2;
    for (int64_t z = 0; z < batch; z++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    float av = ta ? A[z * M * K + k * M + i] : A[z * M * K + i * K + k];
                    const float *bb = b2 ? Bm : Bm + z * K * N;
                    float bv = tb ? bb[j * K + k] : bb[k * N + j];
                    acc += fabs((double)av * bv);
                }
                s[(z * M + i) * N + j] = acc;
            }
    *count = batch * M * N;
    return s;
}

static const char *cur_case = "";

static void compare_one(kiln_context *ci, kiln_context *cc, inputs *in, const char *out, int tol, const double *scale);

// Runs both programs and compares output `out`, or every output of the graph when it is NULL.
// `tol` applies to f32 outputs; every other dtype must match exactly.
static void compare_run(kiln_context *ci, kiln_context *cc, inputs *in, const char *out, int tol, const double *scale) {
    if (out) {
        compare_one(ci, cc, in, out, tol, scale);
        return;
    }
    const kiln_program *p = ci->prog;
    for (size_t i = 0; i < kiln_program_n_outputs(p); i++) {
        kiln_tensor d;
        kiln_program_output(p, i, &d);
        compare_one(ci, cc, in, d.name, tol, scale);
    }
}

static void compare_one(kiln_context *ci, kiln_context *cc, inputs *in, const char *out, int tol, const double *scale) {
    kiln_tensor oi = {.name = out}, oc = {.name = out};
    kiln_status si = kiln_run(ci, in->t, (size_t)in->n, &oi, 1);
    char msg_i[512];
    snprintf(msg_i, sizeof(msg_i), "%s", kiln_last_error());
    kiln_status sc = kiln_run(cc, in->t, (size_t)in->n, &oc, 1);
    CHECK_MSG(si == sc, "%s: interp %s (%s), cpu %s (%s)", cur_case, kiln_status_name(si), msg_i, kiln_status_name(sc), kiln_last_error());
    CHECK_MSG(si == KILN_OK, "%s: the run failed: %s", cur_case, msg_i);   // both failing alike is no comparison
    if (si || sc) return;
    CHECK_MSG(oi.rank == oc.rank && oi.dtype == oc.dtype, "%s: output descriptions differ", cur_case);
    for (int d = 0; d < oi.rank; d++) CHECK(oi.shape[d] == oc.shape[d]);
    int64_t n = numel(&oi);
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double a, b, lim = 0;
        switch (oi.dtype) {
        case KILN_F32: a = ((float *)oi.data)[i], b = ((float *)oc.data)[i]; break;
        case KILN_I32: a = ((int32_t *)oi.data)[i], b = ((int32_t *)oc.data)[i]; break;
        case KILN_I64: a = (double)((int64_t *)oi.data)[i], b = (double)((int64_t *)oc.data)[i]; break;
        case KILN_BOOL: a = ((uint8_t *)oi.data)[i], b = ((uint8_t *)oc.data)[i]; break;
        default: a = ((uint16_t *)oi.data)[i], b = ((uint16_t *)oc.data)[i]; break;
        }
        if (tol == TOL_EW && oi.dtype == KILN_F32) lim = 1e-6 * (1 + fabs(a));
        if (tol == TOL_MATMUL && oi.dtype == KILN_F32) lim = 1e-5 + 1e-5 * scale[i];
        double d = fabs(a - b);
        if (isnan(a) != isnan(b) || (!isnan(a) && !(d <= lim) && !(isinf(a) && a == b))) {
            if (at < 0 || d > worst) worst = d, at = i;
        }
    }
    CHECK_MSG(at < 0, "%s: %s element %lld differs by %g (interp %.9g, cpu %.9g)", cur_case, out, (long long)at, worst,
              at < 0 ? 0 : oi.dtype == KILN_F32 ? ((float *)oi.data)[at] : 0.0, at < 0 ? 0 : oc.dtype == KILN_F32 ? ((float *)oc.data)[at] : 0.0);
}

typedef struct progs {
    kiln_program *pi, *pc;
    kiln_context *ci, *cc1, *cc2;
} progs;

static bool compile_both(ir_graph *g, progs *p) {
    memset(p, 0, sizeof(*p));
    CHECK_MSG(g->status == KILN_OK, "%s: graph: %s", cur_case, kiln_last_error());
    if (g->status) return false;
    kiln_status st = cg_interp_backend.compile(g, NULL, NULL, &p->pi);
    CHECK_MSG(st == KILN_OK, "%s: interp compile: %s", cur_case, kiln_last_error());
    st = cg_llvm_backend.compile(g, NULL, NULL, &p->pc);
    CHECK_MSG(st == KILN_OK, "%s: cpu compile: %s", cur_case, kiln_last_error());
    if (!p->pi || !p->pc) return false;
    kiln_context_options two = {.n_threads = 2};
    CHECK_OK(kiln_context_create(p->pi, NULL, &p->ci));
    CHECK_OK(kiln_context_create(p->pc, NULL, &p->cc1));
    CHECK_OK(kiln_context_create(p->pc, &two, &p->cc2));
    return p->ci && p->cc1 && p->cc2;
}

static void free_progs(progs *p) {
    kiln_context_free(p->ci);
    kiln_context_free(p->cc1);
    kiln_context_free(p->cc2);
    kiln_program_free(p->pi);
    kiln_program_free(p->pc);
}

static int expect_launches;   // > 0: the CPU program must have exactly this many (regions lowered whole)

// One graph, one set of inputs, compared on one and two threads.
static void check_graph(ir_graph *g, inputs *in, const char *out, int tol, const double *scale) {
    progs p;
    if (compile_both(g, &p)) {
        CHECK_MSG(!expect_launches || p.pc->n_launches == expect_launches, "%s: %d launches, want %d", cur_case, p.pc->n_launches,
                  expect_launches);
        compare_run(p.ci, p.cc1, in, out, tol, scale);
        compare_run(p.ci, p.cc2, in, out, tol, scale);
    }
    free_progs(&p);
}

/* ---- element-wise ---- */

static void test_unary(void) {
    static const ir_op ops[] = {IR_OP_NEG, IR_OP_EXP, IR_OP_LOG, IR_OP_SQRT, IR_OP_RSQRT, IR_OP_TANH, IR_OP_ERF,
                                IR_OP_RELU, IR_OP_GELU, IR_OP_GELU_TANH, IR_OP_QUICK_GELU, IR_OP_SILU, IR_OP_SIGMOID};
    static const int64_t widths[] = {1, 17, 3072};
    for (size_t w = 0; w < KILN_ARRAY_SIZE(widths); w++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 3, 16);
        ir_dim sh[3] = {ir_dim_sym(B), ir_dim_sym(S), C(widths[w])};
        ir_node *x = ir_input(g, "x", KILN_F32, 3, sh), *xp = ir_input(g, "xp", KILN_F32, 3, sh);
        for (size_t o = 0; o < KILN_ARRAY_SIZE(ops); o++) {
            bool pos = ops[o] == IR_OP_LOG || ops[o] == IR_OP_SQRT || ops[o] == IR_OP_RSQRT;
            ir_graph_add_output(g, ir_op_name(ops[o]), ir_unary(g, ops[o], pos ? xp : x));
        }
        char name[96];
        snprintf(name, sizeof(name), "unary ops, width %lld", (long long)widths[w]);
        cur_case = name;
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 3, (int64_t[]){3, 5, widths[w]}, -12, 12);
        add_input(&in, "xp", KILN_F32, 3, (int64_t[]){3, 5, widths[w]}, 1e-3, 50);
        check_graph(g, &in, NULL, TOL_EW, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    // The polynomials over a dense sweep, including the saturation and overflow edges.
    static const ir_op math[] = {IR_OP_EXP, IR_OP_TANH, IR_OP_ERF, IR_OP_GELU, IR_OP_GELU_TANH, IR_OP_SIGMOID, IR_OP_SILU};
    ir_graph *g = ir_graph_create();   // no symbols: a dim no input sets would fail the run
    ir_node *x = ir_input(g, "x", KILN_F32, 1, (ir_dim[]){C(200001)});
    for (size_t o = 0; o < KILN_ARRAY_SIZE(math); o++) ir_graph_add_output(g, ir_op_name(math[o]), ir_unary(g, math[o], x));
    inputs in = {0};
    kiln_tensor *t = add_input(&in, "x", KILN_F32, 1, (int64_t[]){200001}, 0, 0);
    for (int i = 0; i <= 200000; i++) ((float *)t->data)[i] = -100.0f + (float)i * 1e-3f;
    cur_case = "math sweep [-100, 100]";
    check_graph(g, &in, NULL, TOL_EW, NULL);
    free_inputs(&in);
    ir_graph_free(g);
    // Softmax's exp (x - max <= 0: kb.c's cg_math_exp_nonpos) over the same sweep, its row max 0,
    // scaled by 1e34 so that the tolerance, absolute near 0, checks the probabilities relatively
    // (1e-6 of them down to exp(-71)) while exp's flush to 0 below -87.34, where expf goes
    // subnormal, stays under it; -inf and NaN rows must come out as the interpreter's.
    g = ir_graph_create();
    x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){C(3), C(100001)});
    ir_graph_add_output(g, "softmax_1e34", ir_binary(g, IR_OP_MUL, ir_softmax(g, x, -1), ir_scalar_f32(g, 1e34f)));
    in = (inputs){0};
    t = add_input(&in, "x", KILN_F32, 2, (int64_t[]){3, 100001}, 0, 0);
    float *v = t->data;
    for (int i = 0; i <= 100000; i++) v[i] = -100.0f + (float)i * 1e-3f;
    for (int i = 0; i <= 100000; i++) v[100001 + i] = i % 7 ? -INFINITY : (float)(i % 5);
    for (int i = 0; i <= 100000; i++) v[200002 + i] = i == 500 ? NAN : -(float)i * 1e-3f;
    cur_case = "softmax sweep [-100, 0], -inf, NaN";
    check_graph(g, &in, NULL, TOL_EW, NULL);
    free_inputs(&in);
    ir_graph_free(g);
}

static void test_binary(void) {
    static const ir_op fops[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_DIV, IR_OP_MAX, IR_OP_MIN, IR_OP_POW,
                                 IR_OP_EQ, IR_OP_NE, IR_OP_LT, IR_OP_LE};
    // broadcast patterns: full, bias row, per-row column, attention mask, scalar
    for (int pat = 0; pat < 5; pat++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 3, 17);
        ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
        ir_node *x = NULL, *y = NULL;
        inputs in = {0};
        switch (pat) {
        case 0:
            x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, C(127)});
            y = ir_input(g, "y", KILN_F32, 3, (ir_dim[]){b, s, C(127)});
            add_input(&in, "x", KILN_F32, 3, (int64_t[]){3, 17, 127}, -3, 3);
            add_input(&in, "y", KILN_F32, 3, (int64_t[]){3, 17, 127}, -3, 3);
            break;
        case 1:
            x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, C(768)});
            y = ir_input(g, "y", KILN_F32, 1, (ir_dim[]){C(768)});
            add_input(&in, "x", KILN_F32, 3, (int64_t[]){2, 3, 768}, -3, 3);
            add_input(&in, "y", KILN_F32, 1, (int64_t[]){768}, -3, 3);
            break;
        case 2:
            x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, C(1)});
            y = ir_input(g, "y", KILN_F32, 3, (ir_dim[]){b, s, C(17)});
            add_input(&in, "x", KILN_F32, 3, (int64_t[]){3, 1, 1}, -3, 3);
            add_input(&in, "y", KILN_F32, 3, (int64_t[]){3, 1, 17}, -3, 3);
            break;
        case 3:
            x = ir_input(g, "x", KILN_F32, 4, (ir_dim[]){b, C(3), s, s});
            y = ir_input(g, "y", KILN_F32, 4, (ir_dim[]){b, C(1), C(1), s});
            add_input(&in, "x", KILN_F32, 4, (int64_t[]){2, 3, 17, 17}, -3, 3);
            add_input(&in, "y", KILN_F32, 4, (int64_t[]){2, 1, 1, 17}, -3, 3);
            break;
        default:
            x = ir_scalar_f32(g, 1.5f);
            y = ir_input(g, "y", KILN_F32, 2, (ir_dim[]){b, s});
            add_input(&in, "y", KILN_F32, 2, (int64_t[]){3, 7}, 0.1, 3);
            break;
        }
        // pow of a negative base is NaN on both sides for most exponents: compared as NaN
        for (size_t o = 0; o < KILN_ARRAY_SIZE(fops); o++) ir_graph_add_output(g, ir_op_name(fops[o]), ir_binary(g, fops[o], x, y));
        char name[96];
        snprintf(name, sizeof(name), "f32 binary ops, broadcast pattern %d", pat);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EW, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    static const ir_op iops[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_DIV, IR_OP_MAX, IR_OP_MIN,
                                 IR_OP_POW, IR_OP_EQ, IR_OP_NE, IR_OP_LT, IR_OP_LE};
    static const kiln_dtype idt[] = {KILN_I32, KILN_I64};
    for (size_t t = 0; t < 2; t++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 3, 17);
        ir_node *x = ir_input(g, "x", idt[t], 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        ir_node *y = ir_input(g, "y", idt[t], 1, (ir_dim[]){ir_dim_sym(S)});   // in [1, 4]: divisors, exponents
        ir_node *yn = ir_input(g, "yn", idt[t], 1, (ir_dim[]){ir_dim_sym(S)}); // in [-9, -1]
        for (size_t o = 0; o < KILN_ARRAY_SIZE(iops); o++) ir_graph_add_output(g, ir_op_name(iops[o]), ir_binary(g, iops[o], x, y));
        ir_graph_add_output(g, "div_negative", ir_binary(g, IR_OP_DIV, x, yn));
        ir_graph_add_output(g, "sub_negative", ir_binary(g, IR_OP_SUB, yn, x));
        inputs in = {0};
        add_input(&in, "x", idt[t], 2, (int64_t[]){3, 17}, -100, 100);
        add_input(&in, "y", idt[t], 1, (int64_t[]){17}, 1, 5);
        add_input(&in, "yn", idt[t], 1, (int64_t[]){17}, -9, 0);
        char name[96];
        snprintf(name, sizeof(name), "%s binary ops", kiln_dtype_get_info(idt[t])->name);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EXACT, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    // integer division by zero: both report it
    {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 1, 4);
        ir_node *x = ir_input(g, "x", KILN_I64, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        ir_node *y = ir_input(g, "y", KILN_I64, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        ir_graph_add_output(g, "z", ir_binary(g, IR_OP_DIV, x, y));
        progs p;
        cur_case = "division by zero";
        if (compile_both(g, &p)) {
            int64_t xs[4] = {1, 2, 3, 4}, ys[4] = {1, 0, 1, 1};
            kiln_tensor in[2] = {{.name = "x", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = xs},
                                 {.name = "y", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = ys}};
            kiln_tensor out = {.name = "z"};
            CHECK_FAILS(kiln_run(p.ci, in, 2, &out, 1), KILN_ERR_INVALID_ARG, "division by zero");
            CHECK_FAILS(kiln_run(p.cc2, in, 2, &out, 1), KILN_ERR_INVALID_ARG, "division by zero");
        }
        free_progs(&p);
        ir_graph_free(g);
    }
    // logic
    {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 33);
        ir_dim sh[2] = {ir_dim_sym(B), ir_dim_sym(S)};
        ir_node *x = ir_input(g, "x", KILN_F32, 2, sh), *y = ir_input(g, "y", KILN_F32, 2, sh);
        ir_node *a = ir_binary(g, IR_OP_LT, x, y), *b = ir_binary(g, IR_OP_LE, y, ir_scalar_f32(g, 0.5f));
        ir_node *c = ir_binary(g, IR_OP_OR, ir_binary(g, IR_OP_AND, a, b), ir_unary(g, IR_OP_NOT, b));
        ir_graph_add_output(g, "z", ir_where(g, c, x, ir_binary(g, IR_OP_MUL, y, ir_scalar_f32(g, -2.0f))));
        ir_graph_add_output(g, "c", c);
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 2, (int64_t[]){2, 33}, -1, 1);
        add_input(&in, "y", KILN_F32, 2, (int64_t[]){2, 33}, -1, 1);
        cur_case = "and/or/not/where";
        check_graph(g, &in, NULL, TOL_EW, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
}

static void test_cast_expand(void) {
    static const kiln_dtype all[] = {KILN_F32, KILN_F16, KILN_BF16, KILN_I32, KILN_I64, KILN_BOOL};
    for (size_t a = 0; a < KILN_ARRAY_SIZE(all); a++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 31);
        ir_node *x = ir_input(g, "x", all[a], 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        for (size_t b = 0; b < KILN_ARRAY_SIZE(all); b++)
            if (a != b) ir_graph_add_output(g, kiln_dtype_get_info(all[b])->name, ir_cast(g, x, all[b]));
        inputs in = {0};
        add_input(&in, "x", all[a], 2, (int64_t[]){2, 31}, -300, 300);
        char name[64];
        snprintf(name, sizeof(name), "casts from %s", kiln_dtype_get_info(all[a])->name);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EW, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    int B, S;
    ir_graph *g = new_graph(&B, &S, 3, 17);
    ir_node *x = ir_input(g, "x", KILN_I64, 3, (ir_dim[]){C(1), ir_dim_sym(S), C(1)});
    ir_node *xf = ir_input(g, "xf", KILN_F32, 2, (ir_dim[]){ir_dim_sym(S), C(1)});
    ir_graph_add_output(g, "y", ir_expand(g, x, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(3)}));
    ir_graph_add_output(g, "yf", ir_expand(g, xf, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(768)}));
    inputs in = {0};
    add_input(&in, "x", KILN_I64, 3, (int64_t[]){1, 17, 1}, -9, 9);
    add_input(&in, "xf", KILN_F32, 2, (int64_t[]){17, 1}, -9, 9);
    ir_graph_add_output(g, "b", ir_input(g, "b", KILN_F32, 1, (ir_dim[]){ir_dim_sym(B)}));
    add_input(&in, "b", KILN_F32, 1, (int64_t[]){3}, -9, 9);
    cur_case = "expand";
    check_graph(g, &in, NULL, TOL_EXACT, NULL);
    free_inputs(&in);
    ir_graph_free(g);
}

/* ---- normalizations ---- */

static void test_normalization(void) {
    static const int64_t widths[] = {1, 3, 17, 768, 3072};
    for (size_t w = 0; w < KILN_ARRAY_SIZE(widths); w++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 9);
        ir_dim d = C(widths[w]);
        ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), d});
        ir_node *m = ir_input(g, "masked", KILN_F32, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), d});
        ir_node *gm = ir_input(g, "gamma", KILN_F32, 1, &d), *bt = ir_input(g, "beta", KILN_F32, 1, &d);
        ir_graph_add_output(g, "softmax", ir_softmax(g, m, -1));
        ir_graph_add_output(g, "layer_norm", ir_layer_norm(g, x, gm, bt, 1e-12f));
        ir_graph_add_output(g, "rms_norm", ir_rms_norm(g, x, gm, 1e-6f));
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 3, (int64_t[]){2, 9, widths[w]}, -8, 8);
        kiln_tensor *mt = add_input(&in, "masked", KILN_F32, 3, (int64_t[]){2, 9, widths[w]}, -8, 8);
        for (int64_t i = 0; i < numel(mt); i += 5) ((float *)mt->data)[i] = -3.4028235e38f;   // masked as BERT writes them
        add_input(&in, "gamma", KILN_F32, 1, &widths[w], 0.5, 1.5);
        add_input(&in, "beta", KILN_F32, 1, &widths[w], -1, 1);
        char name[64];
        snprintf(name, sizeof(name), "normalizations, width %lld", (long long)widths[w]);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EW, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    // softmax, reductions and cumsum along every axis, f32 and integers
    static const ir_op rops[] = {IR_OP_SOFTMAX, IR_OP_REDUCE_SUM, IR_OP_REDUCE_MEAN, IR_OP_REDUCE_MAX, IR_OP_CUMSUM};
    static const kiln_dtype rdt[] = {KILN_F32, KILN_I32, KILN_I64};
    for (size_t t = 0; t < KILN_ARRAY_SIZE(rdt); t++)
        for (size_t o = 0; o < KILN_ARRAY_SIZE(rops); o++) {
            if (rdt[t] != KILN_F32 && (rops[o] == IR_OP_SOFTMAX || rops[o] == IR_OP_REDUCE_MEAN)) continue;
            int B, S;
            ir_graph *g = new_graph(&B, &S, 3, 17);
            ir_node *x = ir_input(g, "x", rdt[t], 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(127)});
            for (int axis = 0; axis < 3; axis++)
                for (int keep = 0; keep < 2; keep++) {
                    if (keep && (rops[o] == IR_OP_SOFTMAX || rops[o] == IR_OP_CUMSUM)) continue;
                    ir_node *y = rops[o] == IR_OP_SOFTMAX  ? ir_softmax(g, x, axis)
                                 : rops[o] == IR_OP_CUMSUM ? ir_cumsum(g, x, axis)
                                                           : ir_reduce(g, rops[o], x, axis, keep);
                    char name[64];
                    snprintf(name, sizeof(name), "%s_axis%d%s", ir_op_name(rops[o]), axis, keep ? "_keepdim" : "");
                    ir_graph_add_output(g, kiln_arena_strdup(g->arena, name), y);
                }
            inputs in = {0};
            add_input(&in, "x", rdt[t], 3, (int64_t[]){3, 17, 127}, -50, 50);
            char name[96];
            snprintf(name, sizeof(name), "%s of %s", ir_op_name(rops[o]), kiln_dtype_get_info(rdt[t])->name);
            cur_case = name;
            check_graph(g, &in, NULL, TOL_EW, NULL);
            free_inputs(&in);
            ir_graph_free(g);
        }
    // a reduction over an empty axis is an error on both
    int B, S;
    ir_graph *g = new_graph(&B, &S, 2, 5);
    ir_node *x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
    ir_graph_add_output(g, "y", ir_reduce(g, IR_OP_REDUCE_MAX, x, 1, false));
    progs p;
    cur_case = "reduce over an empty axis";
    if (compile_both(g, &p)) {
        float xs[1];
        kiln_tensor in = {.name = "x", .dtype = KILN_F32, .rank = 2, .shape = {2, 0}, .data = xs};
        kiln_tensor out = {.name = "y"};
        CHECK_FAILS(kiln_run(p.ci, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "over an empty axis");
        CHECK_FAILS(kiln_run(p.cc1, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "over an empty axis");
    }
    free_progs(&p);
    ir_graph_free(g);
}

/* ---- contractions ---- */

static void test_matmul(void) {
    // x [batch, seq, K] · Wᵀ (W [N, K]): the linear layers; K, N over the odd sizes
    static const int64_t ks[] = {1, 3, 17, 127, 768}, ns[] = {1, 17, 768, 3072};
    for (size_t a = 0; a < KILN_ARRAY_SIZE(ks); a++)
        for (size_t b = 0; b < KILN_ARRAY_SIZE(ns); b++) {
            if (ks[a] * ns[b] > 768 * 768 && ks[a] != 768) continue;
            int B, S;
            ir_graph *g = new_graph(&B, &S, 2, 7);
            ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(ks[a])});
            ir_node *w = ir_input(g, "w", KILN_F32, 2, (ir_dim[]){C(ns[b]), C(ks[a])});
            ir_graph_add_output(g, "y", ir_matmul(g, x, w, false, true));
            inputs in = {0};
            kiln_tensor *xt = add_input(&in, "x", KILN_F32, 3, (int64_t[]){2, 7, ks[a]}, -1, 1);
            kiln_tensor *wt = add_input(&in, "w", KILN_F32, 2, (int64_t[]){ns[b], ks[a]}, -1, 1);
            int64_t count;
            kiln_tensor x2 = *xt;
            x2.rank = 2;
            x2.shape[0] = 14;
            x2.shape[1] = ks[a];
            double *scale = matmul_scale(&x2, wt, false, true, &count);
            char name[64];
            snprintf(name, sizeof(name), "matmul [14, %lld] x [%lld, %lld]^T", (long long)ks[a], (long long)ns[b], (long long)ks[a]);
            cur_case = name;
            check_graph(g, &in, "y", TOL_MATMUL, scale);
            free(scale);
            free_inputs(&in);
            ir_graph_free(g);
        }
    // attention-shaped batched products, transposes, broadcast batch dims
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int B, S;
            ir_graph *g = new_graph(&B, &S, 2, 17);
            ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
            ir_node *x = ir_input(g, "x", KILN_F32, 4, ta ? (ir_dim[]){b, C(3), C(64), s} : (ir_dim[]){b, C(3), s, C(64)});
            ir_node *y = ir_input(g, "y", KILN_F32, 4, tb ? (ir_dim[]){b, C(3), s, C(64)} : (ir_dim[]){b, C(3), C(64), s});
            ir_graph_add_output(g, "z", ir_matmul(g, x, y, ta, tb));
            inputs in = {0};
            kiln_tensor *xt = add_input(&in, "x", KILN_F32, 4, ta ? (int64_t[]){2, 3, 64, 17} : (int64_t[]){2, 3, 17, 64}, -1, 1);
            kiln_tensor *yt = add_input(&in, "y", KILN_F32, 4, tb ? (int64_t[]){2, 3, 17, 64} : (int64_t[]){2, 3, 64, 17}, -1, 1);
            int64_t count;
            double *scale = matmul_scale(xt, yt, ta, tb, &count);
            char name[64];
            snprintf(name, sizeof(name), "batched matmul ta=%d tb=%d", ta, tb);
            cur_case = name;
            check_graph(g, &in, "z", TOL_MATMUL, scale);
            free(scale);
            free_inputs(&in);
            ir_graph_free(g);
        }
    // broadcast: [batch, 3, seq, 17] x [1, 3, 17, 5] and x [3, 17, 5]
    for (int v = 0; v < 2; v++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 5);
        ir_node *x = ir_input(g, "x", KILN_F32, 4, (ir_dim[]){ir_dim_sym(B), C(3), ir_dim_sym(S), C(17)});
        ir_node *y = v ? ir_input(g, "y", KILN_F32, 3, (ir_dim[]){C(3), C(17), C(5)})
                       : ir_input(g, "y", KILN_F32, 4, (ir_dim[]){C(1), C(3), C(17), C(5)});
        ir_graph_add_output(g, "z", ir_matmul(g, x, y, false, false));
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 4, (int64_t[]){2, 3, 5, 17}, -1, 1);
        add_input(&in, "y", KILN_F32, v ? 3 : 4, v ? (int64_t[]){3, 17, 5} : (int64_t[]){1, 3, 17, 5}, -1, 1);
        cur_case = v ? "matmul broadcast rank 3" : "matmul broadcast dim 1";
        // |a·b| ≤ 17 per output: scale bound
        double *scale = malloc(sizeof(double) * 2 * 3 * 5 * 5);
        for (int i = 0; i < 150; i++) scale[i] = 17;
        check_graph(g, &in, "z", TOL_MATMUL, scale);
        free(scale);
        free_inputs(&in);
        ir_graph_free(g);
    }
}

/* ---- movement ---- */

static void test_movement(void) {
    static const int perms[][4] = {{0, 2, 1, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}, {1, 0, 2, 3}, {0, 1, 2, 3}, {2, 3, 0, 1}};
    static const kiln_dtype dts[] = {KILN_F32, KILN_I64, KILN_BOOL, KILN_I32};
    for (size_t t = 0; t < KILN_ARRAY_SIZE(dts); t++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 17);
        ir_node *x = ir_input(g, "x", dts[t], 4, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(3), C(64)});
        for (size_t p = 0; p < KILN_ARRAY_SIZE(perms); p++) {
            char name[32];
            snprintf(name, sizeof(name), "perm%d%d%d%d", perms[p][0], perms[p][1], perms[p][2], perms[p][3]);
            ir_graph_add_output(g, kiln_arena_strdup(g->arena, name), ir_permute(g, x, perms[p]));
        }
        inputs in = {0};
        add_input(&in, "x", dts[t], 4, (int64_t[]){2, 17, 3, 64}, -5, 5);
        char name[64];
        snprintf(name, sizeof(name), "permutes of %s", kiln_dtype_get_info(dts[t])->name);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EXACT, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    for (int axis = 0; axis < 3; axis++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 4, 17);
        ir_dim sh[3] = {ir_dim_sym(B), ir_dim_sym(S), C(33)};
        ir_node *x = ir_input(g, "x", KILN_F32, 3, sh);
        ir_dim start = axis == 1 ? C(2) : C(1), end = axis == 1 ? ir_dim_sym(S) : axis == 0 ? ir_dim_sym(B) : C(30);
        ir_node *s1 = ir_slice(g, x, axis, start, end);
        ir_node *y = ir_input(g, "y", KILN_F32, 3, sh);
        ir_graph_add_output(g, "s", s1);
        ir_graph_add_output(g, "c", ir_concat(g, 3, (ir_node *[]){x, y, x}, axis));
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 3, (int64_t[]){4, 17, 33}, -5, 5);
        add_input(&in, "y", KILN_F32, 3, (int64_t[]){4, 17, 33}, -5, 5);
        char name[64];
        snprintf(name, sizeof(name), "slice axis %d", axis);
        cur_case = name;
        check_graph(g, &in, "s", TOL_EXACT, NULL);
        snprintf(name, sizeof(name), "concat axis %d", axis);
        check_graph(g, &in, "c", TOL_EXACT, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
    // a slice whose end passes its axis at run time: both refuse
    {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 1, 8);
        ir_node *x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        ir_graph_add_output(g, "s", ir_slice(g, x, 1, C(0), C(5)));
        progs p;
        cur_case = "slice out of range";
        if (compile_both(g, &p)) {
            float xs[3] = {0};
            kiln_tensor in = {.name = "x", .dtype = KILN_F32, .rank = 2, .shape = {1, 3}, .data = xs};
            kiln_tensor out = {.name = "s"};
            CHECK_FAILS(kiln_run(p.ci, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "slice [0, 5) outside axis 1 of length 3");
            CHECK_FAILS(kiln_run(p.cc1, &in, 1, &out, 1), KILN_ERR_INVALID_ARG, "slice [0, 5) outside axis 1 of length 3");
        }
        free_progs(&p);
        ir_graph_free(g);
    }
    // gather: f32, f16 and bf16 tables (widened), i32 and i64 ids; out-of-range ids refused
    static const kiln_dtype tables[] = {KILN_F32, KILN_F16, KILN_BF16, KILN_I64};
    for (size_t t = 0; t < KILN_ARRAY_SIZE(tables); t++)
        for (int i32 = 0; i32 < 2; i32++) {
            int B, S;
            ir_graph *g = new_graph(&B, &S, 3, 17);
            ir_node *tab = ir_input(g, "table", tables[t], 2, (ir_dim[]){C(99), C(768)});
            ir_node *ids = ir_input(g, "ids", i32 ? KILN_I32 : KILN_I64, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
            ir_graph_add_output(g, "y", ir_gather(g, tab, ids));
            // ids computed in the graph (not checked on entry like an input's): the kernel checks them
            int64_t zero = 0;
            ir_node *ids2 = ir_binary(g, IR_OP_ADD, ids, ir_const(g, ids->dtype, 0, NULL, &zero));
            ir_graph_add_output(g, "y2", ir_gather(g, tab, ids2));
            inputs in = {0};
            add_input(&in, "table", tables[t], 2, (int64_t[]){99, 768}, -5, 5);
            kiln_tensor *it = add_input(&in, "ids", i32 ? KILN_I32 : KILN_I64, 2, (int64_t[]){3, 17}, 0, 99);
            char name[64];
            snprintf(name, sizeof(name), "gather %s table, %s ids", kiln_dtype_get_info(tables[t])->name, i32 ? "i32" : "i64");
            cur_case = name;
            check_graph(g, &in, "y", TOL_EXACT, NULL);
            if (i32) ((int32_t *)it->data)[20] = 99;
            else ((int64_t *)it->data)[20] = -1;
            progs p;
            if (compile_both(g, &p)) {
                kiln_tensor out = {.name = "y2"};
                // an input that indexes a table is checked on entry ...
                CHECK_FAILS(kiln_run(p.ci, in.t, 2, &out, 1), KILN_ERR_INVALID_ARG, "input 'ids': element 20 is");
                CHECK_FAILS(kiln_run(p.cc2, in.t, 2, &out, 1), KILN_ERR_INVALID_ARG, "input 'ids': element 20 is");
                // ... and a computed index by the gather kernel itself
                p.pi->inputs[1].index_limit = p.pc->inputs[1].index_limit = 0;
                CHECK_FAILS(kiln_run(p.ci, in.t, 2, &out, 1), KILN_ERR_INVALID_ARG, "at position 20 is out of range [0, 99)");
                CHECK_FAILS(kiln_run(p.cc2, in.t, 2, &out, 1), KILN_ERR_INVALID_ARG, "at position 20 is out of range [0, 99)");
            }
            free_progs(&p);
            free_inputs(&in);
            ir_graph_free(g);
        }
    // scatter into a computed tensor (rows of a KV cache), and rows out of range
    {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 4);
        ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
        ir_node *dst = ir_input(g, "dst", KILN_F32, 3, (ir_dim[]){b, C(9), C(17)});
        ir_node *idx = ir_input(g, "idx", KILN_I64, 2, (ir_dim[]){b, s});
        ir_node *val = ir_input(g, "val", KILN_F32, 3, (ir_dim[]){b, s, C(17)});
        ir_node *copy = ir_binary(g, IR_OP_MUL, dst, ir_scalar_f32(g, 1.0f));
        ir_graph_add_output(g, "y", ir_scatter(g, copy, idx, val));
        inputs in = {0};
        add_input(&in, "dst", KILN_F32, 3, (int64_t[]){2, 9, 17}, -5, 5);
        kiln_tensor *it = add_input(&in, "idx", KILN_I64, 2, (int64_t[]){2, 4}, 0, 9);
        add_input(&in, "val", KILN_F32, 3, (int64_t[]){2, 4, 17}, -5, 5);
        cur_case = "scatter";
        check_graph(g, &in, "y", TOL_EXACT, NULL);
        ((int64_t *)it->data)[5] = 9;
        progs p;
        if (compile_both(g, &p)) {
            kiln_tensor out = {.name = "y"};
            CHECK_FAILS(kiln_run(p.ci, in.t, 3, &out, 1), KILN_ERR_INVALID_ARG, "scatter: row 9 for batch 1 is out of range [0, 9)");
            CHECK_FAILS(kiln_run(p.cc1, in.t, 3, &out, 1), KILN_ERR_INVALID_ARG, "scatter: row 9 for batch 1 is out of range [0, 9)");
        }
        free_progs(&p);
        free_inputs(&in);
        ir_graph_free(g);
    }
    // iota along each axis, each dtype, with a start that is a dim expression
    static const kiln_dtype iot[] = {KILN_I64, KILN_I32, KILN_F32};
    for (size_t t = 0; t < KILN_ARRAY_SIZE(iot); t++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 3, 17);
        ir_node *x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
        ir_graph_add_output(g, "x", x);
        for (int axis = 0; axis < 3; axis++) {
            char name[16];
            snprintf(name, sizeof(name), "axis%d", axis);
            ir_graph_add_output(g, kiln_arena_strdup(g->arena, name),
                                ir_iota(g, iot[t], 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(5)}, axis, ir_dim_sym(S)));
        }
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 2, (int64_t[]){3, 17}, 0, 1);
        char name[64];
        snprintf(name, sizeof(name), "iota %s", kiln_dtype_get_info(iot[t])->name);
        cur_case = name;
        check_graph(g, &in, NULL, TOL_EXACT, NULL);
        free_inputs(&in);
        ir_graph_free(g);
    }
}

/* ---- fused regions, kernel sharing, run-time lengths ---- */

static void test_fused_and_sharing(void) {
    int B, S;
    ir_graph *g = new_graph(&B, &S, 3, 64);
    ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S), d = C(768);
    ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, d});
    ir_node *bias = ir_input(g, "bias", KILN_F32, 1, &d);
    // bias + GELU + scale as one element-wise region
    ir_graph *body = ir_graph_create_body(g);
    ir_node *i0 = ir_input(body, "in0", KILN_F32, 3, (ir_dim[]){b, s, d}), *i1 = ir_input(body, "in1", KILN_F32, 1, &d);
    ir_node *t = ir_unary(body, IR_OP_GELU, ir_binary(body, IR_OP_ADD, i0, i1));
    ir_graph_add_output(body, "out", ir_binary(body, IR_OP_MUL, t, ir_scalar_f32(body, 0.5f)));
    ir_node *f = ir_fused(g, body, 2, (ir_node *[]){x, bias});
    // a region with a softmax inside: lowered op by op
    ir_graph *body2 = ir_graph_create_body(g);
    ir_node *j0 = ir_input(body2, "in0", KILN_F32, 3, (ir_dim[]){b, s, d});
    ir_graph_add_output(body2, "out", ir_softmax(body2, ir_binary(body2, IR_OP_MUL, j0, ir_scalar_f32(body2, 2.0f)), -1));
    ir_node *f2 = ir_fused(g, body2, 1, &f);
    // twelve identical layers of element-wise + layer norm: one kernel each
    ir_node *h = f2;
    for (int l = 0; l < 12; l++) h = ir_layer_norm(g, ir_binary(g, IR_OP_ADD, h, x), bias, bias, 1e-12f);
    ir_graph_add_output(g, "y", h);
    inputs in = {0};
    add_input(&in, "x", KILN_F32, 3, (int64_t[]){3, 64, 768}, -3, 3);
    add_input(&in, "bias", KILN_F32, 1, (int64_t[]){768}, -1, 1);
    progs p;
    cur_case = "fused regions";
    if (compile_both(g, &p)) {
        compare_run(p.ci, p.cc1, &in, "y", TOL_EW, NULL);
        compare_run(p.ci, p.cc2, &in, "y", TOL_EW, NULL);
        kiln_program_info info;
        CHECK_OK(kiln_program_get_info(p.pc, &info));
        // fused(1) + mul + softmax (region 2 inlined) + 12 x (add + layer_norm)
        CHECK_MSG(info.n_launches == 27 && info.n_kernels == 5, "launches %zu, kernels %zu", info.n_launches, info.n_kernels);
        CHECK(strcmp(info.backend, "cpu") == 0);
        // one program serves every shorter length
        static const int64_t lens[] = {1, 7, 63};
        for (size_t k = 0; k < KILN_ARRAY_SIZE(lens); k++) {
            in.t[0].shape[0] = k == 0 ? 1 : 2;
            in.t[0].shape[1] = lens[k];
            compare_run(p.ci, p.cc2, &in, "y", TOL_EW, NULL);
        }
    }
    free_progs(&p);
    free_inputs(&in);
    ir_graph_free(g);
}

/* ---- the passes' fused regions, lowered whole ---- */

// A weight source over a table of named f32 arrays (tests have no checkpoint).
typedef struct test_weights {
    int n;
    const char *names[8];
    const float *data[8];
    size_t bytes[8];
} test_weights;

static kiln_status test_lookup(void *ctx, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes) {
    const test_weights *tw = ctx;
    for (int i = 0; i < tw->n; i++)
        if (strcmp(tw->names[i], w->name) == 0) {
            *data = tw->data[i];
            *dtype = KILN_F32;
            *bytes = tw->bytes[i];
            return KILN_OK;
        }
    return kiln_error(KILN_ERR_FORMAT, "no weight '%s'", w->name);
}

static bool compile_both_ws(ir_graph *g, const cg_weight_source *ws, progs *p) {
    memset(p, 0, sizeof(*p));
    CHECK_MSG(g->status == KILN_OK, "%s: graph: %s", cur_case, kiln_last_error());
    if (g->status) return false;
    CHECK_MSG(cg_interp_backend.compile(g, ws, NULL, &p->pi) == KILN_OK, "%s: interp compile: %s", cur_case, kiln_last_error());
    CHECK_MSG(cg_llvm_backend.compile(g, ws, NULL, &p->pc) == KILN_OK, "%s: cpu compile: %s", cur_case, kiln_last_error());
    if (!p->pi || !p->pc) return false;
    kiln_context_options two = {.n_threads = 2};
    CHECK_OK(kiln_context_create(p->pi, NULL, &p->ci));
    CHECK_OK(kiln_context_create(p->pc, NULL, &p->cc1));
    CHECK_OK(kiln_context_create(p->pc, &two, &p->cc2));
    return p->ci && p->cc1 && p->cc2;
}

static float *rand_array(size_t n, float lo, float hi) {
    float *a = aligned_alloc(64, (n * 4 + 63) / 64 * 64 + 64);
    for (size_t i = 0; i < n; i++) a[i] = frand(lo, hi);
    return a;
}

// x · Wᵀ + bias, then an epilogue: W a weight (packed) or an input (dynamic GEMM).
static void test_gemm_regions(void) {
    static const int64_t ks[] = {1, 17, 127, 768}, ns[] = {3, 17, 768};
    for (size_t a = 0; a < KILN_ARRAY_SIZE(ks); a++)
        for (size_t c = 0; c < KILN_ARRAY_SIZE(ns); c++)
            for (int weight = 0; weight < 2; weight++) {
                int64_t K = ks[a], N = ns[c];
                int B, S;
                ir_graph *g = new_graph(&B, &S, 2, 9);
                ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
                ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, C(K)});
                ir_node *w = weight ? ir_weight(g, "w", KILN_F32, 2, (ir_dim[]){C(N), C(K)}) : ir_input(g, "w", KILN_F32, 2, (ir_dim[]){C(N), C(K)});
                ir_node *bias = ir_weight(g, "bias", KILN_F32, 1, (ir_dim[]){C(N)});
                for (int kind = 0; kind < 3; kind++) {   // bias only; bias + gelu * 0.5; no bias, tanh
                    ir_graph *body = ir_graph_create_body(g);
                    ir_node *i0 = ir_input(body, "in0", KILN_F32, 3, (ir_dim[]){b, s, C(K)});
                    ir_node *i1 = ir_input(body, "in1", KILN_F32, 2, (ir_dim[]){C(N), C(K)});
                    ir_node *i2 = ir_input(body, "in2", KILN_F32, 1, (ir_dim[]){C(N)});
                    ir_node *y = ir_matmul(body, i0, i1, false, true);
                    if (kind < 2) y = ir_binary(body, IR_OP_ADD, y, i2);
                    if (kind == 1) y = ir_binary(body, IR_OP_MUL, ir_unary(body, IR_OP_GELU, y), ir_scalar_f32(body, 0.5f));
                    if (kind == 2) y = ir_binary(body, IR_OP_SUB, ir_unary(body, IR_OP_TANH, y), i2);
                    ir_graph_add_output(body, "out", y);
                    ir_node *f = ir_fused(g, body, 3, (ir_node *[]){x, w, bias});
                    if (f) f->p.fused_kind = IR_FUSED_GEMM;
                    char name[16];
                    snprintf(name, sizeof(name), "y%d", kind);
                    ir_graph_add_output(g, kiln_arena_strdup(g->arena, name), f);
                }
                float *wd = rand_array((size_t)(N * K), -1, 1), *bd = rand_array((size_t)N, -1, 1);
                test_weights tw = {.n = 2, .names = {"w", "bias"}, .data = {wd, bd}, .bytes = {(size_t)(N * K) * 4, (size_t)N * 4}};
                cg_weight_source ws = {.ctx = &tw, .lookup = test_lookup};
                inputs in = {0};
                kiln_tensor *xt = add_input(&in, "x", KILN_F32, 3, (int64_t[]){2, 9, K}, -1, 1);
                if (!weight) {
                    kiln_tensor *wt = add_input(&in, "w", KILN_F32, 2, (int64_t[]){N, K}, 0, 0);
                    memcpy(wt->data, wd, (size_t)(N * K) * 4);
                }
                int64_t count;
                kiln_tensor x2 = *xt, w2 = {.dtype = KILN_F32, .rank = 2, .shape = {N, K}, .data = wd};
                x2.rank = 2;
                x2.shape[0] = 18;
                x2.shape[1] = K;
                double *scale = matmul_scale(&x2, &w2, false, true, &count);
                for (int64_t i = 0; i < count; i++) scale[i] += 1;   // |bias| <= 1, epilogues near 1
                char name[96];
                snprintf(name, sizeof(name), "gemm region [18, %lld] x [%lld, %lld]^T, W %s", (long long)K, (long long)N, (long long)K,
                         weight ? "a weight (packed)" : "an input");
                cur_case = name;
                progs p;
                if (compile_both_ws(g, &ws, &p)) {
                    CHECK_MSG(p.pc->n_launches == 3, "%s: %d launches, want one per region", cur_case, p.pc->n_launches);
                    compare_run(p.ci, p.cc1, &in, NULL, TOL_MATMUL, scale);
                    compare_run(p.ci, p.cc2, &in, NULL, TOL_MATMUL, scale);
                    in.t[0].shape[1] = 1;   // a shorter run of the same program
                    compare_run(p.ci, p.cc2, &in, NULL, TOL_MATMUL, scale);
                }
                free_progs(&p);
                free(scale);
                free(wd);
                free(bd);
                free_inputs(&in);
                ir_graph_free(g);
            }
}

// Attention scores as a GEMM region: q · kᵀ (both activations, batched) times a scale.
static void test_batched_gemm_region(void) {
    for (int tb = 0; tb < 2; tb++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 3, 64);
        ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
        ir_dim qs[4] = {b, C(4), s, C(8)}, ks[4] = {b, C(4), tb ? s : C(8), tb ? C(8) : s};
        ir_node *q = ir_input(g, "q", KILN_F32, 4, qs), *kk = ir_input(g, "k", KILN_F32, 4, ks);
        ir_graph *body = ir_graph_create_body(g);
        ir_node *i0 = ir_input(body, "in0", KILN_F32, 4, qs), *i1 = ir_input(body, "in1", KILN_F32, 4, ks);
        ir_node *y = ir_binary(body, IR_OP_MUL, ir_matmul(body, i0, i1, false, tb), ir_scalar_f32(body, 0.35355338f));
        ir_graph_add_output(body, "out", y);
        ir_node *f = ir_fused(g, body, 2, (ir_node *[]){q, kk});
        if (f) f->p.fused_kind = IR_FUSED_GEMM;
        ir_graph_add_output(g, "y", f);
        inputs in = {0};
        kiln_tensor *qt = add_input(&in, "q", KILN_F32, 4, (int64_t[]){2, 4, 17, 8}, -1, 1);
        kiln_tensor *kt = add_input(&in, "k", KILN_F32, 4, tb ? (int64_t[]){2, 4, 17, 8} : (int64_t[]){2, 4, 8, 17}, -1, 1);
        int64_t count;
        double *scale = matmul_scale(qt, kt, false, tb, &count);
        cur_case = tb ? "batched gemm region q kT * scale" : "batched gemm region q k * scale";
        expect_launches = 1;
        check_graph(g, &in, NULL, TOL_MATMUL, scale);
        // a shorter run of the same program (seq 5 of 17): the batch strides change with it
        free_inputs(&in);
        qt = add_input(&in, "q", KILN_F32, 4, (int64_t[]){1, 4, 5, 8}, -1, 1);
        kt = add_input(&in, "k", KILN_F32, 4, tb ? (int64_t[]){1, 4, 5, 8} : (int64_t[]){1, 4, 8, 5}, -1, 1);
        free(scale);
        scale = matmul_scale(qt, kt, false, tb, &count);
        cur_case = tb ? "batched gemm region q kT * scale, seq 5" : "batched gemm region q k * scale, seq 5";
        check_graph(g, &in, NULL, TOL_MATMUL, scale);
        expect_launches = 0;
        free(scale);
        free_inputs(&in);
        ir_graph_free(g);
    }
}

// A residual add and LayerNorm / RMSNorm as one NORM region.
static void test_norm_regions(void) {
    static const int64_t widths[] = {1, 17, 768};
    for (size_t w = 0; w < KILN_ARRAY_SIZE(widths); w++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 2, 9);
        ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S), d = C(widths[w]);
        ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){b, s, d}), *r = ir_input(g, "r", KILN_F32, 3, (ir_dim[]){b, s, d});
        ir_node *gm = ir_input(g, "gamma", KILN_F32, 1, &d), *bt = ir_input(g, "beta", KILN_F32, 1, &d);
        for (int v = 0; v < 3; v++) {   // add + layer_norm; add + rms_norm; layer_norm alone
            ir_graph *body = ir_graph_create_body(g);
            ir_node *i0 = ir_input(body, "in0", KILN_F32, 3, (ir_dim[]){b, s, d}), *i1 = ir_input(body, "in1", KILN_F32, 3, (ir_dim[]){b, s, d});
            ir_node *i2 = ir_input(body, "in2", KILN_F32, 1, &d), *i3 = ir_input(body, "in3", KILN_F32, 1, &d);
            ir_node *xx = v == 2 ? i0 : ir_binary(body, IR_OP_ADD, i0, i1);
            ir_graph_add_output(body, "out", v == 1 ? ir_rms_norm(body, xx, i2, 1e-6f) : ir_layer_norm(body, xx, i2, i3, 1e-12f));
            ir_node *f = ir_fused(g, body, 4, (ir_node *[]){x, r, gm, bt});
            if (f) f->p.fused_kind = IR_FUSED_NORM;
            char name[16];
            snprintf(name, sizeof(name), "n%d", v);
            ir_graph_add_output(g, kiln_arena_strdup(g->arena, name), f);
        }
        inputs in = {0};
        add_input(&in, "x", KILN_F32, 3, (int64_t[]){2, 9, widths[w]}, -4, 4);
        add_input(&in, "r", KILN_F32, 3, (int64_t[]){2, 9, widths[w]}, -4, 4);
        add_input(&in, "gamma", KILN_F32, 1, &widths[w], 0.5, 1.5);
        add_input(&in, "beta", KILN_F32, 1, &widths[w], -1, 1);
        char name[64];
        snprintf(name, sizeof(name), "norm regions, width %lld", (long long)widths[w]);
        cur_case = name;
        expect_launches = 3;
        check_graph(g, &in, NULL, TOL_EW, NULL);
        expect_launches = 0;
        free_inputs(&in);
        ir_graph_free(g);
    }
}

// softmax(q kᵀ scale + mask) v as one ATTENTION region, on the packed QKV projection (rank 3,
// column offsets) and on [batch, heads, seq, head_dim] sources; seq 1, 3, 17, 127.
static void test_attention_regions(void) {
    static const int64_t seqs[] = {1, 3, 17, 127};
    for (int rank = 3; rank <= 4; rank++)
        for (size_t si = 0; si < KILN_ARRAY_SIZE(seqs); si++) {
            enum { H = 4, D = 8 };
            int B, S;
            ir_graph *g = new_graph(&B, &S, 2, 127);
            ir_dim b = ir_dim_sym(B), s = ir_dim_sym(S);
            ir_dim src3[3] = {b, s, C(3 * H * D)}, src4[4] = {b, C(H), s, C(D)}, msk[4] = {b, C(1), C(1), s};
            ir_node *ins[4];
            int n_src = rank == 3 ? 1 : 3;
            const char *names[3] = {"q", "k", "v"};
            for (int i = 0; i < n_src; i++) ins[i] = ir_input(g, names[i], KILN_F32, rank, rank == 3 ? src3 : src4);
            if (rank == 3) ins[1] = ins[2] = ins[0];
            ins[3] = ir_input(g, "mask", KILN_F32, 4, msk);
            ir_graph *body = ir_graph_create_body(g);
            ir_node *bi[4];
            for (int i = 0; i < 3; i++) {
                char nm[8];
                snprintf(nm, sizeof(nm), "in%d", i);
                bi[i] = ir_input(body, kiln_arena_strdup(g->arena, nm), KILN_F32, rank, rank == 3 ? src3 : src4);
            }
            bi[3] = ir_input(body, "in3", KILN_F32, 4, msk);
            ir_node *hq, *hk, *hv;
            if (rank == 3) {   // heads at columns offset + h * D of [batch, seq, 3 H D]
                ir_node *hs[3];
                for (int i = 0; i < 3; i++) {
                    ir_node *sl = ir_slice(body, bi[i], 2, C(i * H * D), C((i + 1) * H * D));
                    ir_node *rs = ir_reshape(body, sl, 4, (ir_dim[]){b, s, C(H), C(D)});
                    hs[i] = ir_permute(body, rs, (int[]){0, 2, 1, 3});
                }
                hq = hs[0], hk = hs[1], hv = hs[2];
            } else {
                hq = bi[0], hk = bi[1], hv = bi[2];
            }
            ir_node *sc = ir_binary(body, IR_OP_MUL, ir_matmul(body, hq, hk, false, true), ir_scalar_f32(body, 0.35355338f));
            ir_node *o = ir_matmul(body, ir_softmax(body, ir_binary(body, IR_OP_ADD, sc, bi[3]), 3), hv, false, false);
            if (rank == 3) o = ir_reshape(body, ir_permute(body, o, (int[]){0, 2, 1, 3}), 3, (ir_dim[]){b, s, C(H * D)});
            ir_graph_add_output(body, "out", o);
            ir_node *f = ir_fused(g, body, 4, ins);
            if (f) {
                f->p.fused_kind = IR_FUSED_ATTENTION;
                f->p.heads = H;
                f->p.scale = 0.35355338f;
                f->p.offsets[0] = 0, f->p.offsets[1] = H * D, f->p.offsets[2] = 2 * H * D;
            }
            ir_graph_add_output(g, "attn", f);
            inputs in = {0};
            int64_t S1 = seqs[si];
            for (int i = 0; i < n_src; i++)
                add_input(&in, names[i], KILN_F32, rank, rank == 3 ? (int64_t[]){2, S1, 3 * H * D} : (int64_t[]){2, H, S1, D}, -2, 2);
            kiln_tensor *mt = add_input(&in, "mask", KILN_F32, 4, (int64_t[]){2, 1, 1, S1}, 0, 0);
            for (int64_t i = 0; i < 2 * S1; i++) ((float *)mt->data)[i] = i % S1 >= S1 - S1 / 3 && i % S1 ? -3.4028235e38f : 0.0f;
            double *scale = malloc(sizeof(double) * (size_t)(2 * S1 * H * D));
            for (int64_t i = 0; i < 2 * S1 * H * D; i++) scale[i] = 2.0 * (double)D;   // |p · v| <= max |v|, scores bounded
            char name[64];
            snprintf(name, sizeof(name), "attention region, rank %d sources, seq %lld", rank, (long long)S1);
            cur_case = name;
            expect_launches = 1;
            check_graph(g, &in, NULL, TOL_MATMUL, scale);
            expect_launches = 0;
            free(scale);
            free_inputs(&in);
            ir_graph_free(g);
        }
}

// Random blocks of `type` for n elements, with finite, modest f16 scales (the rest random bytes).
static void *rand_blocks(kiln_dtype type, int64_t n) {
    const kiln_dtype_info *q = kiln_dtype_get_info(type);
    int64_t nb = n / q->block_size;
    uint8_t *b = aligned_alloc(64, ((size_t)(nb * q->block_bytes) + 63) / 64 * 64 + 64);
    for (int64_t i = 0; i < nb * q->block_bytes; i++) b[i] = (uint8_t)(frand(0, 256));
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *blk = b + i * q->block_bytes;
        uint16_t d = kiln_f32_to_f16(frand(0.001f, 0.05f)), m = kiln_f32_to_f16(frand(-0.05f, 0.05f));
        if (type == KILN_Q6_K) memcpy(blk + 208, &d, 2);
        else memcpy(blk, &d, 2);
        if (type == KILN_Q4_1 || type == KILN_Q4_K) memcpy(blk + 2, &m, 2);
    }
    return b;
}

// x · dequant(W)ᵀ and rows of dequant(W) with W block-quantized (GGUF weights): the interpreter
// against common/quant.h's reference (kiln_quant_vec_dot_f32, in double), and the cpu target
// against the interpreter, at 1 row (decoding), 3 and 9 rows (through f32 tiles and a GEMM).
static void test_quantized_weights(void) {
    static const kiln_dtype types[] = {KILN_Q8_0, KILN_Q4_0, KILN_Q4_1, KILN_Q4_K, KILN_Q6_K};
    static const int64_t ks[] = {256, 768}, ns[] = {3, 37};
    for (size_t t = 0; t < KILN_ARRAY_SIZE(types); t++)
        for (size_t a = 0; a < KILN_ARRAY_SIZE(ks); a++)
            for (size_t c = 0; c < KILN_ARRAY_SIZE(ns); c++) {
                kiln_dtype type = types[t];
                int64_t K = ks[a], N = ns[c];
                char name[96];
                snprintf(name, sizeof(name), "quantized %s K=%lld N=%lld", kiln_dtype_get_info(type)->name, (long long)K, (long long)N);
                cur_case = name;
                int B, S;
                ir_graph *g = new_graph(&B, &S, 1, 9);
                ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S), C(K)});
                ir_node *w = ir_input(g, "w", type, 2, (ir_dim[]){C(N), C(K)});
                ir_node *ids = ir_input(g, "ids", KILN_I64, 2, (ir_dim[]){ir_dim_sym(B), ir_dim_sym(S)});
                ir_graph_add_output(g, "y", ir_matmul(g, x, w, false, true));
                ir_graph_add_output(g, "rows", ir_gather(g, w, ids));
                progs p;
                void *wq = rand_blocks(type, N * K);
                float *wf = malloc((size_t)(N * K) * sizeof(float));
                for (int64_t r = 0; r < N; r++)
                    kiln_quant_dequantize_row(type, (uint8_t *)wq + r * kiln_dtype_bytes(type, K), wf + r * K, K);
                if (compile_both(g, &p)) {
                    for (int64_t rows = 1; rows <= 9; rows = rows * 3) {
                        inputs in = {0};
                        kiln_tensor *xt = add_input(&in, "x", KILN_F32, 3, (int64_t[]){1, rows, K}, -1, 1);
                        kiln_tensor *wt = &in.t[in.n++];
                        *wt = (kiln_tensor){.name = "w", .dtype = type, .rank = 2, .shape = {N, K}, .data = NULL};
                        kiln_tensor *it = add_input(&in, "ids", KILN_I64, 2, (int64_t[]){1, rows}, 0, (double)N - 0.01);
                        wt->data = malloc(kiln_dtype_bytes(type, N * K));
                        memcpy(wt->data, wq, kiln_dtype_bytes(type, N * K));
                        kiln_tensor wf_t = {.dtype = KILN_F32, .rank = 2, .shape = {N, K}, .data = wf};
                        int64_t count;
                        double *scale = matmul_scale(xt, &wf_t, false, true, &count);
                        kiln_tensor y = {.name = "y"}, r = {.name = "rows"};
                        CHECK_OK(kiln_run(p.ci, in.t, (size_t)in.n, &y, 1));
                        CHECK_OK(kiln_run(p.ci, in.t, (size_t)in.n, &r, 1));
                        double worst = 0;
                        for (int64_t i = 0; y.data && i < rows; i++)
                            for (int64_t j = 0; j < N; j++) {
                                double want = kiln_quant_vec_dot_f32(type, K, (uint8_t *)wq + j * kiln_dtype_bytes(type, K), (float *)xt->data + i * K);
                                double d = fabs(((float *)y.data)[i * N + j] - want) / (1e-5 + 1e-5 * scale[i * N + j]);
                                worst = fmax(worst, d);
                            }
                        CHECK_MSG(y.data && worst <= 1, "%s rows=%lld: interp off the reference by %g x the tolerance", name, (long long)rows, worst);
                        for (int64_t i = 0; r.data && i < rows; i++)
                            CHECK_MSG(memcmp((float *)r.data + i * K, wf + ((int64_t *)it->data)[i] * K, (size_t)K * 4) == 0,
                                      "%s: gathered row %lld differs from the dequantized row", name, (long long)i);
                        compare_run(p.ci, p.cc1, &in, "y", TOL_MATMUL, scale);
                        compare_run(p.ci, p.cc2, &in, "y", TOL_MATMUL, scale);
                        compare_run(p.ci, p.cc2, &in, "rows", TOL_EXACT, NULL);
                        free(scale);
                        free_inputs(&in);
                    }
                }
                free_progs(&p);
                free(wq);
                free(wf);
                ir_graph_free(g);
            }
}

// Which tiles for activation x activation products a module compiles (cg_llvm_fit_dynamic_tiles):
// products with N a multiple of 64 take the wide tile alone, N of 32 the narrow one alone, a mix
// both; products of weights do not count (packed GEMM), and symbolic N counts for neither.
static void test_dynamic_tiles(void) {
    cg_gemm_config base;
    CHECK_OK(cg_gemm_config_for("x86-64-v4", "", &base));
    CHECK(base.dyn_nr == 32 && base.dyn_nr_wide == 64);
    static const struct {
        int64_t n[2];      // N of up to two products (0: none)
        bool weight;       // the first product's B is a weight
        int want_nr, want_wide_nr;
    } cases[] = {
        {{64, 0}, false, 64, 0},   {{128, 100}, false, 64, 0}, {{32, 0}, false, 32, 0},   {{96, 0}, false, 32, 0},
        {{64, 32}, false, 32, 64}, {{64, 0}, true, 32, 0},     {{-1, 0}, false, 32, 0},
    };
    for (size_t c = 0; c < KILN_ARRAY_SIZE(cases); c++) {
        int B, S;
        ir_graph *g = new_graph(&B, &S, 1, 256);
        for (int i = 0; i < 2 && cases[c].n[i]; i++) {
            ir_dim nd = cases[c].n[i] < 0 ? ir_dim_sym(S) : C(cases[c].n[i]);
            char name[8];
            snprintf(name, sizeof(name), "a%d", i);
            ir_node *a = ir_input(g, name, KILN_F32, 2, (ir_dim[]){C(128), C(64)});
            name[0] = 'b';
            ir_node *b = i == 0 && cases[c].weight ? ir_weight(g, name, KILN_F32, 2, (ir_dim[]){C(64), nd})
                                                    : ir_input(g, name, KILN_F32, 2, (ir_dim[]){C(64), nd});
            name[0] = 'o';
            ir_graph_add_output(g, name, ir_matmul(g, a, b, false, false));
        }
        cg_gemm_config cfg = base;
        cg_llvm_fit_dynamic_tiles(g, &cfg);
        CHECK_MSG(cfg.dyn_nr == cases[c].want_nr && cfg.dyn_nr_wide == cases[c].want_wide_nr, "case %zu: tiles x%d + x%d, want x%d + x%d", c,
                  cfg.dyn_nr, cfg.dyn_nr_wide, cases[c].want_nr, cases[c].want_wide_nr);
        CHECK(cfg.dyn_mr == (cfg.dyn_nr == 64 ? 6 : 8));
        ir_graph_free(g);
    }
}

int main(void) {
    test_dynamic_tiles();
    test_unary();
    test_binary();
    test_cast_expand();
    test_normalization();
    test_matmul();
    test_movement();
    test_fused_and_sharing();
    test_gemm_regions();
    test_batched_gemm_region();
    test_norm_regions();
    test_attention_regions();
    test_quantized_weights();
    return test_summary();
}
