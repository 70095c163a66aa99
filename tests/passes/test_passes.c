/* test_passes.c — the pass framework and the simplifying passes: the pass table and selections,
 * the verifier after every pass on every fixture model (and print → parse → print of the result),
 * each simplification rule on a small graph, and the simplifying passes leaving every fixture's
 * outputs bit-identical.
 */
#include "passes_test.h"

static void test_table_and_specs(void) {
    CHECK(PASS_COUNT == 10);
    for (int i = 0; i < PASS_COUNT; i++) {
        CHECK(pass_find(pass_name(i)) == i);
        CHECK(pass_summary(i) && *pass_summary(i));
    }
    CHECK(pass_find("no_such_pass") == -1 && pass_name(PASS_COUNT) == NULL);
    bool on[PASS_COUNT];
    CHECK_OK(pass_parse_spec(NULL, on));
    for (int i = 0; i < PASS_COUNT; i++) CHECK(on[i]);
    CHECK_OK(pass_parse_spec("none", on));
    for (int i = 0; i < PASS_COUNT; i++) CHECK(!on[i]);
    CHECK_OK(pass_parse_spec("-fuse_attention,-chunk_ffn", on));
    for (int i = 0; i < PASS_COUNT; i++) CHECK(on[i] == (i != PASS_fuse_attention && i != PASS_chunk_ffn));
    CHECK_OK(pass_parse_spec("cse,dce", on));
    for (int i = 0; i < PASS_COUNT; i++) CHECK(on[i] == (i == PASS_cse || i == PASS_dce));
    CHECK_FAILS(pass_parse_spec("cse,bogus", on), KILN_ERR_INVALID_ARG, "unknown pass 'bogus'");
    CHECK_FAILS(pass_parse_spec("cse,-dce", on), KILN_ERR_INVALID_ARG, "not both");
}

// Every pass's result verifies on every fixture, and the whole pipeline's prints and parses back.
static void test_verify_every_step(const char *name) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    for (int stop = 0; stop < PASS_COUNT; stop++) {
        ir_graph *g = NULL;
        CHECK_OK(api_model_graph(m, 3, 64, &g));
        if (!g) break;
        kiln_pass_ctx ctx = pass_ctx_default();
        ctx.verify = true;
        ctx.ff_chunk = 4;
        ctx.stop_after = stop;
        kiln_status st = pass_run_pipeline(g, &ctx);
        CHECK_MSG(st == KILN_OK, "%s after %s: %s", name, pass_name(stop), kiln_last_error());
        if (st == KILN_OK && stop == PASS_COUNT - 1) {
            kiln_strbuf t1 = {0}, t2 = {0};
            ir_graph *parsed = NULL;
            CHECK_OK(ir_print(g, &t1));
            CHECK_OK(ir_parse(t1.data, &parsed));
            if (parsed) CHECK_OK(ir_print(parsed, &t2));
            CHECK_MSG(t1.data && t2.data && strcmp(t1.data, t2.data) == 0, "%s: the fused graph's print -> parse -> print differs", name);
            kiln_strbuf_free(&t1);
            kiln_strbuf_free(&t2);
            ir_graph_free(parsed);
        }
        ir_graph_free(g);
    }
    kiln_model_free(m);
}

static int count_op(const ir_graph *g, ir_op op) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i]->op == op;
    return n;
}

static kiln_status run_one(ir_graph *g, int pass) {
    kiln_pass_ctx ctx = pass_ctx_default();
    for (int i = 0; i < PASS_COUNT; i++) ctx.enabled[i] = i == pass;
    ctx.verify = true;
    return pass_run_pipeline(g, &ctx);
}

static void test_simplify_rules(void) {
    ir_graph *g = ir_graph_create();
    int b = ir_graph_symbol(g, "batch"), s = ir_graph_symbol(g, "seq");
    g->symbols[b].max = 2;
    g->symbols[s].max = 8;
    ir_dim B = ir_dim_sym(b), S = ir_dim_sym(s), C4 = ir_dim_const(4), C2 = ir_dim_const(2);
    ir_node *x = ir_input(g, "x", KILN_F32, 3, (ir_dim[]){B, S, C4});
    ir_node *r = ir_reshape(g, ir_reshape(g, x, 4, (ir_dim[]){B, S, C2, C2}), 3, (ir_dim[]){B, S, C4});   // -> x
    ir_node *p = ir_permute(g, ir_permute(g, r, (int[]){0, 2, 1}), (int[]){0, 2, 1});                  // -> x
    ir_node *c = ir_cast(g, p, KILN_F32);                                                              // -> x
    ir_node *m1 = ir_binary(g, IR_OP_MUL, c, ir_scalar_f32(g, 1.0f));                                  // -> x
    ir_node *a0 = ir_binary(g, IR_OP_ADD, ir_scalar_f32(g, 0.0f), m1);                                 // -> x
    ir_node *nn = ir_unary(g, IR_OP_NEG, ir_unary(g, IR_OP_NEG, a0));                                  // -> x
    ir_node *sl = ir_slice(g, nn, 2, ir_dim_const(0), C4);                                            // -> x
    ir_node *keep = ir_binary(g, IR_OP_MUL, sl, ir_scalar_f32(g, 3.0f));                               // stays
    // two permutes that compose to one non-identity permute
    ir_node *pp = ir_permute(g, ir_permute(g, x, (int[]){1, 0, 2}), (int[]){0, 2, 1});
    ir_graph_add_output(g, "y", keep);
    ir_graph_add_output(g, "z", pp);
    CHECK_OK(g->status);
    CHECK_OK(run_one(g, PASS_simplify));
    ir_node *y = ir_graph_find_output(g, "y"), *z = ir_graph_find_output(g, "z");
    CHECK(y && y->op == IR_OP_MUL && y->inputs[0] == ir_graph_find_input(g, "x"));
    CHECK(z && z->op == IR_OP_PERMUTE && z->inputs[0]->op == IR_OP_INPUT && z->p.perm[0] == 1 && z->p.perm[1] == 2 && z->p.perm[2] == 0);
    CHECK(count_op(g, IR_OP_RESHAPE) == 0 && count_op(g, IR_OP_NEG) == 0 && count_op(g, IR_OP_CAST) == 0 && count_op(g, IR_OP_SLICE) == 0);
    ir_graph_free(g);
}

static void test_fold_cse_dce(void) {
    ir_graph *g = ir_graph_create();
    int s = ir_graph_symbol(g, "seq");
    g->symbols[s].max = 8;
    float vals[3] = {1.0f, 2.0f, 3.0f};
    ir_node *k = ir_const(g, KILN_F32, 1, (int64_t[]){3}, vals);
    ir_node *e = ir_unary(g, IR_OP_EXP, ir_binary(g, IR_OP_MUL, k, ir_scalar_f32(g, 2.0f)));
    ir_node *x = ir_input(g, "x", KILN_F32, 2, (ir_dim[]){ir_dim_sym(s), ir_dim_const(3)});
    ir_input(g, "unused", KILN_F32, 1, (ir_dim[]){ir_dim_const(1)});
    ir_node *m1 = ir_binary(g, IR_OP_MUL, x, ir_scalar_f32(g, 0.5f));
    ir_node *m2 = ir_binary(g, IR_OP_MUL, ir_scalar_f32(g, 0.5f), x);   // the same value, operands swapped
    ir_unary(g, IR_OP_TANH, x);                                           // dead
    ir_node *y = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_ADD, m1, m2), e);
    ir_graph_add_output(g, "y", y);
    CHECK_OK(g->status);
    CHECK_OK(run_one(g, PASS_fold_constants));
    const ir_node *folded = ir_graph_find_output(g, "y")->inputs[1];
    CHECK(folded->op == IR_OP_CONST);
    if (folded->op == IR_OP_CONST)
        for (int i = 0; i < 3; i++) {
            float want = expf(vals[i] * 2.0f);
            CHECK(memcmp(&((const float *)folded->p.data)[i], &want, 4) == 0);
        }
    CHECK_OK(run_one(g, PASS_cse));
    const ir_node *sum = ir_graph_find_output(g, "y")->inputs[0];
    CHECK(sum->inputs[0] == sum->inputs[1]);   // m1 and m2 merged
    CHECK(count_op(g, IR_OP_TANH) == 0);       // commits drop dead nodes
    CHECK(ir_graph_find_input(g, "unused") != NULL);   // inputs are the program's interface: kept
    CHECK_OK(run_one(g, PASS_dce));
    CHECK(count_op(g, IR_OP_MUL) == 1);
    ir_graph_free(g);
}

// The simplifying passes change no bit of any fixture's outputs.
static void test_simplify_is_exact(const char *name) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    kiln_program *p1 = NULL, *p2 = NULL;
    fx_tensors in = {0};
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 3;
    co.max_seq = 64;
    co.passes = "none";
    if (m) CHECK_OK(kiln_compile(m, &co, &p1));
    co.passes = "fold_constants,simplify,cse,dce";
    if (m) CHECK_OK(kiln_compile(m, &co, &p2));
    snprintf(path, sizeof(path), "%s/inputs_batch3.safetensors", dir);
    CHECK_OK(fx_load(path, &in));
    if (p1 && p2) {
        double d = pt_compare_programs(p1, p2, in.t, in.n);
        CHECK_MSG(d == 0, "%s: simplified outputs differ by %g", name, d);
    }
    fx_free(&in);
    kiln_program_free(p1);
    kiln_program_free(p2);
    kiln_model_free(m);
}

int main(void) {
    test_table_and_specs();
    test_simplify_rules();
    test_fold_cse_dce();
    const cJSON *list = NULL, *fx;
    cJSON *manifest = pt_manifest(&list);
    cJSON_ArrayForEach(fx, list) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name"));
        test_verify_every_step(name);
        test_simplify_is_exact(name);
    }
    cJSON_Delete(manifest);
    return test_summary();
}
