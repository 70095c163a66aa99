/* test_plan.c — the memory planner: the lower bound on hand-made live ranges; the checker
 * rejecting a plan where two live tensors share bytes; every fixture model's plan checked (with
 * the pass pipeline and without); one plan for every length: a run at smaller dims stays inside
 * the formula's bytes (the rest of the arena is untouched) and the formula shrinks with the dims;
 * and the goal: arena <= 1.05x the lower bound for MiniLM and BERT-base at 1 x 128, 1 x 512 and
 * 8 x 128.
 */
#include "frontend/scratch_dir.h"
#include "passes_test.h"
#include "runtime/context.h"

static void test_lower_bound(void) {
    // a: steps 0..2 (100 B), b: 1..3 (50 B), c: 3..4 (200 B): most live is c + b = 250 at step 3
    cg_live t[3] = {{0, 2, 100, 0}, {1, 3, 50, 0}, {3, 4, 200, 0}};
    CHECK(cg_plan_lower_bound(t, 3) == 250);
    size_t arena = cg_plan_arena(t, 3, 1);
    CHECK_OK(cg_plan_check(t, 3, arena, 1));
    CHECK_MSG(arena == 250, "arena %zu for a lower bound of 250", arena);
    cg_live one[1] = {{5, 5, 64, 0}};
    CHECK(cg_plan_lower_bound(one, 1) == 64);
    CHECK(cg_plan_lower_bound(NULL, 0) == 0);
}

static void test_check_rejects_overlap(void) {
    cg_live t[2] = {{0, 2, 100, 0}, {2, 3, 100, 64}};   // both live at step 2, bytes [64, 100) shared
    CHECK_FAILS(cg_plan_check(t, 2, 256, 64), KILN_ERR_INTERNAL, "share bytes");
    t[1].offset = 128;
    CHECK_OK(cg_plan_check(t, 2, 256, 64));
    t[1].offset = 100;   // not aligned
    CHECK_FAILS(cg_plan_check(t, 2, 256, 64), KILN_ERR_INTERNAL, "aligned");
    t[1].offset = 192;   // past the end
    CHECK_FAILS(cg_plan_check(t, 2, 256, 64), KILN_ERR_INTERNAL, "past the arena");
}

static void check_fixture(const char *name) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, name);
    kiln_model *m = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    const char *specs[] = {NULL, "none"};
    for (int s = 0; s < 2; s++) {
        kiln_compile_options co = kiln_compile_options_default();
        co.max_batch = 3;
        co.max_seq = 64;
        co.passes = specs[s];
        kiln_program *p = NULL;
        CHECK_OK(kiln_compile(m, &co, &p));
        if (!p) continue;
        kiln_status st = cg_plan_check_program(p);
        CHECK_MSG(st == KILN_OK, "%s (passes %s): %s", name, specs[s] ? specs[s] : "all", kiln_last_error());
        CHECK(p->arena_lower_bound <= p->arena_bytes && p->arena_bytes <= p->arena_naive_bytes);
        CHECK(p->n_buffers > 0);
        // the arena formula: a run at the maxima touches at most the planned arena
        CHECK(rt_program_arena_bytes(p, p->symbol_max) <= p->arena_bytes);
        kiln_program_free(p);
    }
    kiln_model_free(m);
}

// A program compiled for 3 x 64 runs 1 x 1, 1 x 7, 1 x 64 and 3 x 7 inside the bytes its
// formula gives for each: the arena past them keeps a canary pattern.
static void test_every_length(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/models/bert-base", KILN_FIXTURES);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 3;
    co.max_seq = 64;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    if (p) CHECK_OK(kiln_context_create(p, NULL, &ctx));
    if (!ctx) goto done;
    CHECK(p->n_arena_offsets == p->n_buffers && p->n_buffers > 0);
    CHECK(rt_program_arena_bytes(p, p->symbol_max) == p->arena_bytes);
    const char *cases[] = {"seq1", "seq7", "seq64", "batch3"};
    size_t prev = 0;
    for (size_t c = 0; c < KILN_ARRAY_SIZE(cases); c++) {
        fx_tensors in;
        snprintf(path, sizeof(path), "%s/inputs_%s.safetensors", dir, cases[c]);
        CHECK_OK(fx_load(path, &in));
        memset(ctx->arena, 0x5a, p->arena_bytes);
        kiln_tensor out = {.name = "last_hidden_state"};
        CHECK_OK(kiln_run(ctx, in.t, in.n, &out, 1));
        size_t need = rt_program_arena_bytes(p, ctx->symbols), untouched = 0;
        for (size_t k = need; k < p->arena_bytes; k++) untouched += ((const unsigned char *)ctx->arena)[k] == 0x5a;
        printf("bert-base fixture compiled for 3 x 64, run at %lld x %lld: arena need %zu of %zu bytes\n", (long long)in.t[0].shape[0],
               (long long)in.t[0].shape[1], need, p->arena_bytes);
        CHECK_MSG(untouched == p->arena_bytes - need, "%s: the run wrote past the %zu bytes its formula gives", cases[c], need);
        if (c < 3) CHECK(need >= prev);   // seq 1, 7, 64 at batch 1: the need grows with seq
        if (c < 2) CHECK(need < p->arena_bytes / 4);
        prev = need;
        fx_free(&in);
    }
done:
    kiln_context_free(ctx);
    kiln_program_free(p);
    kiln_model_free(m);
}

static void check_goal(const char *what, const char *dir, int64_t batch, int64_t seq) {
    ir_graph *g = NULL;
    kiln_program *p = NULL;
    CHECK_OK(pt_graph(dir, batch, seq, &g));
    kiln_pass_ctx ctx = pass_ctx_default();
    ctx.verify = true;
    if (g) CHECK_OK(pass_run_pipeline(g, &ctx));
    if (g) CHECK_OK(pt_plan_only(g, &p));
    if (p) {
        CHECK_OK(cg_plan_check_program(p));
        double ratio = (double)p->arena_bytes / (double)p->arena_lower_bound;
        printf("%-10s %d x %-4d arena %10zu  lower bound %10zu  ratio %.4f  naive %11zu  temporaries %8zu\n", what, (int)batch,
               (int)seq, p->arena_bytes, p->arena_lower_bound, ratio, p->arena_naive_bytes, p->workspace_bytes);
        CHECK_MSG(ratio <= 1.05, "%s at %lld x %lld: arena %zu is %.3fx the lower bound %zu", what, (long long)batch, (long long)seq,
                  p->arena_bytes, ratio, p->arena_lower_bound);
    }
    kiln_program_free(p);
    ir_graph_free(g);
}

int main(void) {
    test_lower_bound();
    test_check_rejects_overlap();
    test_every_length();
    const cJSON *list = NULL, *fx;
    cJSON *manifest = pt_manifest(&list);
    int n = 0;
    cJSON_ArrayForEach(fx, list) {
        check_fixture(cJSON_GetStringValue(cJSON_GetObjectItem(fx, "name")));
        n++;
    }
    CHECK_MSG(n >= 20, "only %d fixtures", n);
    cJSON_Delete(manifest);

    scratch_init("plan");
    const char *bert = scratch_subdir("bert-base");
    scratch_write_text(scratch_path("bert-base/config.json"), BERT_BASE_CONFIG);
    const char *minilm = getenv("KILN_MODEL_DIR");
    CHECK_MSG(minilm && *minilm, "KILN_MODEL_DIR is not set (all-MiniLM-L6-v2)");
    const int64_t shapes[3][2] = {{1, 128}, {1, 512}, {8, 128}};
    for (int s = 0; s < 3; s++) {
        if (minilm && *minilm) check_goal("MiniLM", minilm, shapes[s][0], shapes[s][1]);
        check_goal("BERT-base", bert, shapes[s][0], shapes[s][1]);
    }
    scratch_cleanup();
    return test_summary();
}
