/* test_minilm.c — the real sentence-transformers/all-MiniLM-L6-v2 (fetched by `make model` into
 * the cache named by $KILN_MODEL_DIR): kiln tokenizes the 5 reference sentences to exactly
 * Transformers' token ids, and its last_hidden_state, sentence embeddings and cosine
 * similarities match Transformers' within 1e-4 (tests/reference/make_minilm_reference.py).
 * No cache is a failure, never a skip: CI must fetch the model.
 */
#include <cjson/cJSON.h>

#include "fixture.h"
#include "pipelines/pooling.h"
#include "runtime/program.h"

int main(void) {
    const char *dir = fx_minilm_dir();
    if (!dir) return test_summary();
    char path[600];
    fx_tensors ref;
    snprintf(path, sizeof(path), "%s/minilm/reference.safetensors", KILN_FIXTURES);
    CHECK_OK(fx_load(path, &ref));
    snprintf(path, sizeof(path), "%s/minilm/sentences.json", KILN_FIXTURES);
    FILE *f = fopen(path, "rb");
    char text[8192] = {0};
    CHECK(f && fread(text, 1, sizeof(text) - 1, f) > 0);
    if (f) fclose(f);
    cJSON *js = cJSON_Parse(text);
    const cJSON *arr = cJSON_IsArray(js) ? js : cJSON_GetObjectItem(js, "sentences");
    int n = cJSON_GetArraySize(arr);
    CHECK(n == 5);

    kiln_model *m = NULL;
    kiln_tokenizer *tok = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_model_open(dir, NULL, &m));
    CHECK_OK(kiln_tokenizer_open(dir, &tok));
    const kiln_tensor *ref_ids = fx_find(&ref, "input_ids"), *ref_mask = fx_find(&ref, "attention_mask");
    CHECK(ref_ids && ref_mask);
    if (!m || !tok || !ref_ids || !ref_mask || n != 5) goto done;
    int64_t S = ref_ids->shape[1];
    int64_t ids[5 * 64] = {0}, mask[5 * 64] = {0};
    CHECK(S <= 64);
    for (int i = 0; i < n && S <= 64; i++) {
        kiln_encoding e;
        CHECK_OK(kiln_tokenizer_encode(tok, cJSON_GetStringValue(cJSON_GetArrayItem(arr, i)), NULL, &e));
        for (int64_t s = 0; s < S; s++) {
            ids[i * S + s] = (size_t)s < e.n ? e.input_ids[s] : 0;
            mask[i * S + s] = (size_t)s < e.n;
        }
        kiln_encoding_free(&e);
    }
    CHECK_MSG(memcmp(ids, ref_ids->data, sizeof(int64_t) * (size_t)(n * S)) == 0, "token ids differ from Transformers'");
    CHECK(memcmp(mask, ref_mask->data, sizeof(int64_t) * (size_t)(n * S)) == 0);

    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 8;
    co.max_seq = 128;
    CHECK_OK(kiln_compile(m, &co, &prog));
    if (prog) CHECK_OK(kiln_context_create(prog, NULL, &ctx));
    if (!ctx) goto done;
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {n, S}, .data = ids},
                         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {n, S}, .data = mask}};
    kiln_tensor out = {.name = "last_hidden_state"};
    CHECK_OK(kiln_run(ctx, in, 2, &out, 1));
    double d = fx_max_diff(&out, fx_find(&ref, "last_hidden_state"), ref_mask);
    CHECK_MSG(d >= 0 && d <= 1e-4, "last_hidden_state differs from Transformers by %g", d);
    printf("last_hidden_state: max |kiln - transformers| = %.3g over unpadded tokens\n", d);

    // Sentence embeddings as the checkpoint's modules.json says (mean pooling, normalized).
    CHECK(prog->head.pooling == RT_POOLING_MEAN && prog->head.pooling_normalize);
    float emb[5 * 384];
    CHECK(out.shape[2] == 384);
    CHECK_OK(pl_pool(out.data, mask, n, S, 384, prog->head.pooling, prog->head.pooling_normalize, emb));
    kiln_tensor got_emb = {.dtype = KILN_F32, .rank = 2, .shape = {n, 384}, .data = emb};
    d = fx_max_diff(&got_emb, fx_find(&ref, "sentence_embedding"), NULL);
    CHECK_MSG(d >= 0 && d <= 1e-4, "sentence_embedding differs by %g", d);
    const kiln_tensor *cos = fx_find(&ref, "cosine");
    for (int i = 0; cos && i < n; i++)
        for (int j = 0; j < n; j++) {
            double c = pl_cosine(emb + i * 384, emb + j * 384, 384), want = ((const float *)cos->data)[i * n + j];
            CHECK_MSG(fabs(c - want) <= 1e-4, "cosine[%d][%d] = %.6f, Transformers %.6f", i, j, c, want);
        }
done:
    kiln_context_free(ctx);
    kiln_program_free(prog);
    kiln_tokenizer_free(tok);
    kiln_model_free(m);
    cJSON_Delete(js);
    fx_free(&ref);
    return test_summary();
}
