/* test_llvm_minilm.c — the real sentence-transformers/all-MiniLM-L6-v2 ($KILN_MODEL_DIR, fetched
 * by `make model`) compiled by the CPU backend: last_hidden_state within 1e-4 of Transformers on
 * the five reference sentences (tests/fixtures/minilm), on two threads. No cache is a failure.
 */
#include "models/fixture.h"

int main(void) {
    const char *dir = fx_minilm_dir();
    if (!dir) return test_summary();
    char path[600];
    fx_tensors ref;
    snprintf(path, sizeof(path), "%s/minilm/reference.safetensors", KILN_FIXTURES);
    CHECK_OK(fx_load(path, &ref));
    const kiln_tensor *ids = fx_find(&ref, "input_ids"), *mask = fx_find(&ref, "attention_mask");
    const kiln_tensor *want = fx_find(&ref, "last_hidden_state");
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    CHECK(ids && mask && want);
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = KILN_TARGET_CPU;
    co.max_batch = 8;
    co.max_seq = 128;
    if (m) CHECK_OK(kiln_compile(m, &co, &prog));
    kiln_context_options two = {.n_threads = 2};
    if (prog) CHECK_OK(kiln_context_create(prog, &two, &ctx));
    if (ctx && ids && mask && want) {
        kiln_tensor in[2] = {*ids, *mask};
        kiln_tensor out = {.name = "last_hidden_state"};
        CHECK_OK(kiln_run(ctx, in, 2, &out, 1));
        double d = fx_max_diff(&out, want, mask);
        CHECK_MSG(d >= 0 && d <= 1e-4, "last_hidden_state differs from Transformers by %g", d);
        printf("cpu backend: last_hidden_state max |kiln - transformers| = %.3g over unpadded tokens\n", d);
        kiln_program_info info;
        CHECK_OK(kiln_program_get_info(prog, &info));
        printf("%zu launches, %zu kernels, compiled in %.3f s\n", info.n_launches, info.n_kernels, info.time_total);
    }
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_model_free(m);
    fx_free(&ref);
    return test_summary();
}
