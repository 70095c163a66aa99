/* test_model_limit.c — text longer than the model's maximum, with truncation off, as transformers
 * treats it: the tokenizer returns the whole long encoding (602 tokens for all-MiniLM-L6-v2, whose
 * model_max_length is 512), and running the model then fails clearly, naming the sequence dim and
 * the compiled maximum; truncation=longest_first cuts it to 512 and the run succeeds. Reads the
 * real model from $KILN_MODEL_DIR (a failure when unset, never a skip).
 */
#include "common/common.h"
#include "tests/test.h"

int main(void) {
    const char *dir = getenv("KILN_MODEL_DIR");
    CHECK_MSG(dir && *dir, "KILN_MODEL_DIR is not set: run `make model` to fetch all-MiniLM-L6-v2");
    if (!dir || !*dir) return test_summary();
    kiln_tokenizer *tok = NULL;
    kiln_model *model = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    kiln_batch_encoding b = {0};
    char *text = malloc(12 * 300 + 1);
    CHECK_OK(kiln_tokenizer_open(dir, &tok));
    CHECK_OK(kiln_model_open(dir, NULL, &model));
    if (!tok || !model || !text) goto done;
    text[0] = '\0';
    for (int i = 0; i < 300; i++) strcat(text, "hello world ");
    CHECK(kiln_tokenizer_model_max_length(tok) == 512);

    const char *texts[] = {text};
    CHECK_OK(kiln_tokenizer_encode_batch(tok, texts, NULL, 1, NULL, &b));   // transformers: 602, and a warning
    CHECK(b.n_rows == 1 && b.rows[0].n == 602);
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 1;   // max_seq: max_position_embeddings (512)
    CHECK_OK(kiln_compile(model, &co, &prog));
    CHECK_OK(kiln_context_create(prog, NULL, &ctx));
    if (!ctx || b.n_rows != 1) goto done;
    kiln_tensor in[2] = {
        {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, (int64_t)b.rows[0].n}, .data = b.rows[0].input_ids},
        {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {1, (int64_t)b.rows[0].n},
         .data = b.rows[0].attention_mask}};
    kiln_tensor out = {.name = "last_hidden_state"};
    CHECK_FAILS(kiln_run(ctx, in, 2, &out, 1), KILN_ERR_INVALID_ARG, "exceeds the compiled maximum 512");
    kiln_batch_encoding_free(&b);

    kiln_encode_options eo = kiln_encode_options_default();
    eo.truncation = KILN_TRUNCATION_LONGEST_FIRST;   // to model_max_length
    CHECK_OK(kiln_tokenizer_encode_batch(tok, texts, NULL, 1, &eo, &b));
    CHECK(b.n_rows == 1 && b.rows[0].n == 512);
    if (b.n_rows != 1) goto done;
    in[0].shape[1] = in[1].shape[1] = (int64_t)b.rows[0].n;
    in[0].data = b.rows[0].input_ids, in[1].data = b.rows[0].attention_mask;
    CHECK_OK(kiln_run(ctx, in, 2, &out, 1));
    CHECK(out.shape[1] == 512);
done:
    kiln_batch_encoding_free(&b);
    free(text);
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_model_free(model);
    kiln_tokenizer_free(tok);
    return test_summary();
}
