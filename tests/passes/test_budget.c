/* test_budget.c — the memory budget: a budget too small for any plan fails with a message that
 * names the smallest budget that fits; that budget then compiles and one byte less does not; a
 * budget between that and the unchunked need makes the compiler pick chunk sizes that fit, on the
 * interpreter and on the cpu backend.
 */
#include "passes_test.h"

static size_t smallest_from(const char *msg) {
    const char *at = strstr(msg, "the smallest plan needs ");
    return at ? (size_t)strtoull(at + strlen("the smallest plan needs "), NULL, 10) : 0;
}

static void test_model(const char *dir, int64_t batch, int64_t seq, bool ffn_peak) {
    kiln_model *m = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    if (!m) return;
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = batch;
    co.max_seq = seq;
    kiln_program *p = NULL;
    CHECK_OK(kiln_compile(m, &co, &p));
    size_t unchunked = p ? api_context_bytes(p) : 0;
    kiln_program_free(p);
    p = NULL;

    co.memory_budget = 1000;
    CHECK_FAILS(kiln_compile(m, &co, &p), KILN_ERR_OUT_OF_MEMORY, "memory budget 1000 bytes is too small");
    CHECK(p == NULL);
    size_t smallest = smallest_from(kiln_last_error());
    printf("%s at %lld x %lld: unchunked %zu bytes; %s\n", dir, (long long)batch, (long long)seq, unchunked, kiln_last_error());
    CHECK(smallest > 0 && smallest < unchunked);
    co.memory_budget = smallest;
    CHECK_OK(kiln_compile(m, &co, &p));
    if (p) CHECK(api_context_bytes(p) <= smallest);
    kiln_program_free(p);
    p = NULL;
    co.memory_budget = smallest - 1;
    CHECK_FAILS(kiln_compile(m, &co, &p), KILN_ERR_OUT_OF_MEMORY, "the smallest plan needs");

    // Between the two: chunk sizes are picked to fit (where the feed-forward block is the peak, as
    // in MiniLM at 512 tokens, only a feed-forward chunk gets there).
    co.memory_budget = (smallest + unchunked) / 2;
    CHECK_OK(kiln_compile(m, &co, &p));
    if (p) {
        int chunked = 0;
        for (int i = 0; i < p->n_launches; i++) chunked += strcmp(p->launches[i].op, "fused.chunked") == 0;
        CHECK(api_context_bytes(p) <= co.memory_budget);
        CHECK(!ffn_peak || chunked > 0);
    }
    kiln_program_free(p);
    p = NULL;
    // The cpu backend runs the chosen chunks as chunk kernels: its program fits the budget too.
    co.target = KILN_TARGET_CPU;
    CHECK_OK(kiln_compile(m, &co, &p));
    if (p) {
        int chunked = 0;
        for (int i = 0; i < p->n_launches; i++) chunked += strcmp(p->launches[i].op, "fused.chunked") == 0;
        printf("%s, cpu, budget %zu: arena %zu + temporaries %zu, %d chunked launches\n", dir, co.memory_budget, p->arena_bytes,
               p->workspace_bytes, chunked);
        CHECK(api_context_bytes(p) <= co.memory_budget);
        CHECK(!ffn_peak || chunked > 0);
    }
    kiln_program_free(p);
    kiln_model_free(m);
}

int main(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/bert-base", KILN_FIXTURES);
    test_model(dir, 3, 64, false);
    const char *minilm = getenv("KILN_MODEL_DIR");
    CHECK_MSG(minilm && *minilm, "KILN_MODEL_DIR is not set (all-MiniLM-L6-v2)");
    if (minilm && *minilm) test_model(minilm, 1, 512, true);
    return test_summary();
}
