/* test_aot_text.c — an AOT executable of the real all-MiniLM-L6-v2 ($KILN_MODEL_DIR) takes text:
 * it tokenizes with the checkpoint's tokenizer (the program carries where it is), pads a batch of
 * two sentences, and prints last_hidden_state equal to the JIT program's on the same token ids.
 */
#include "aot/aot_util.h"
#include "models/fixture.h"

int main(void) {
    const char *dir = getenv("KILN_MODEL_DIR");
    CHECK_MSG(dir && *dir, "KILN_MODEL_DIR is not set: run `make model` (make test does) to fetch all-MiniLM-L6-v2");
    if (!dir || !*dir) return test_summary();
    char scratch[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof(scratch), "%s/kiln-aot-text-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(scratch) != NULL);
    static const char *texts[2] = {"A man is eating food.", "The girl is carrying a baby on her back."};
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_context *ctx = NULL;
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    CHECK_OK(kiln_tokenizer_open(dir, &tok));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = KILN_TARGET_CPU;
    co.max_batch = 2;
    co.max_seq = 32;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    if (!p || !tok) goto done;
    char exe[600];
    snprintf(exe, sizeof(exe), "%s/minilm", scratch);
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    CHECK_OK(kiln_program_save(p, exe, &so));
    // The JIT on the same ids, padded as the executable pads them (pad id, attention_mask 0).
    int64_t ids[2 * 32] = {0};
    size_t len[2], longest = 0;
    for (int i = 0; i < 2; i++) {
        kiln_encoding e;
        CHECK_OK(kiln_tokenizer_encode(tok, texts[i], NULL, &e));
        len[i] = e.n;
        if (e.n > longest) longest = e.n;
        for (size_t s = 0; s < e.n && s < 32; s++) ids[i * 32 + s] = e.input_ids[s];
        kiln_encoding_free(&e);
    }
    int64_t ids2[2 * 32], mask2[2 * 32];
    for (int i = 0; i < 2; i++)
        for (size_t s = 0; s < longest; s++) {
            ids2[i * longest + s] = s < len[i] ? ids[i * 32 + s] : kiln_tokenizer_pad_id(tok);
            mask2[i * longest + s] = s < len[i];
        }
    CHECK_OK(kiln_context_create(p, NULL, &ctx));
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {2, (int64_t)longest}, .data = ids2},
                         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {2, (int64_t)longest}, .data = mask2}};
    kiln_tensor out = {.name = "last_hidden_state"};
    if (ctx) CHECK_OK(kiln_run(ctx, in, 2, &out, 1));
    char *argv[] = {exe, "--threads", "2", (char *)texts[0], (char *)texts[1], NULL};
    au_run r = au_exec(scratch, argv);
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    int64_t n = 0;
    float *got = au_parse(r.out, "last_hidden_state", &n);
    CHECK_MSG(got && out.data && n == fx_numel(&out), "no last_hidden_state of %lld values in the output", (long long)fx_numel(&out));
    if (got && out.data && n == fx_numel(&out)) {
        double d = au_max_diff(got, out.data, n);
        CHECK_MSG(d <= 1e-5, "the executable's last_hidden_state differs from the JIT's by %g", d);
        printf("text -> tokenizer -> AOT executable: max |aot - jit| = %.3g over %lld values\n", d, (long long)n);
    }
    free(got);
    au_run_free(&r);
done:
    kiln_context_free(ctx);
    kiln_program_free(p);
    kiln_tokenizer_free(tok);
    kiln_model_free(m);
    if (!test_n_fail) au_rmtree(scratch);
    return test_summary();
}
