/* test_sentence_embeddings.c — the feature-extraction pipeline with pooled = true on the real
 * all-MiniLM-L6-v2 ($KILN_MODEL_DIR, fetched by `make model`) against sentence-transformers'
 * encode() of 20 varied sentences (tests/fixtures/minilm/st_encode.safetensors, written by
 * tests/reference/make_minilm_reference.py): the cosine of kiln's vector and sentence-transformers'
 * is at least 0.99999 for every sentence, on the interpreter and on the CPU (LLVM) target, in
 * batches of 4 and of 20. No cache is a failure, never a skip.
 */
#include <cjson/cJSON.h>

#include "fixture.h"
#include "pipelines/pooling.h"

static void check_target(const char *dir, kiln_target target, int64_t batch, const char *const *texts, int n, const float *want) {
    kiln_pipeline_options po = kiln_pipeline_options_default();
    po.pooled = true;
    po.target = target;
    po.batch_size = batch;
    kiln_pipeline *p = NULL;
    char *json = NULL;
    CHECK_OK(kiln_pipeline_open("feature-extraction", dir, &po, &p));
    if (!p) return;
    CHECK_OK(kiln_pipeline_run(p, texts, NULL, (size_t)n, &json));
    cJSON *got = json ? cJSON_Parse(json) : NULL;
    CHECK(cJSON_GetArraySize(got) == n);
    double worst = 1;
    for (int i = 0; got && i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(got, i);
        CHECK(cJSON_GetArraySize(v) == 384);
        float e[384] = {0};
        for (int k = 0; k < 384 && k < cJSON_GetArraySize(v); k++) e[k] = (float)cJSON_GetArrayItem(v, k)->valuedouble;
        double c = pl_cosine(e, want + i * 384, 384);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.99999, "%s batch %lld: sentence %d \"%s\": cosine %.7f with sentence-transformers",
                  target == KILN_TARGET_CPU ? "cpu" : "interp", (long long)batch, i, texts[i], c);
    }
    printf("%-6s batch %2lld: smallest cosine with sentence-transformers encode() over %d sentences: %.7f\n",
           target == KILN_TARGET_CPU ? "cpu" : "interp", (long long)batch, n, worst);
    // kiln_pipeline_embed: the same vectors as floats
    CHECK(kiln_pipeline_embedding_dim(p) == 384);
    float *emb = malloc(sizeof(float) * 384 * (size_t)n);
    CHECK_OK(kiln_pipeline_embed(p, texts, (size_t)n, emb));
    for (int i = 0; emb && i < n; i++) {
        double c = pl_cosine(emb + i * 384, want + i * 384, 384);
        CHECK_MSG(c >= 0.99999, "kiln_pipeline_embed: sentence %d: cosine %.7f with sentence-transformers", i, c);
    }
    free(emb);
    cJSON_Delete(got);
    free(json);
    kiln_pipeline_free(p);
}

int main(void) {
    const char *dir = fx_minilm_dir();
    if (!dir) return test_summary();
    char path[600];
    fx_tensors ref;
    snprintf(path, sizeof(path), "%s/minilm/st_encode.safetensors", KILN_FIXTURES);
    CHECK_OK(fx_load(path, &ref));
    const kiln_tensor *want = fx_find(&ref, "embedding");
    snprintf(path, sizeof(path), "%s/minilm/st_sentences.json", KILN_FIXTURES);
    char *text = NULL;
    CHECK_OK(kiln_read_file(path, &text, NULL));
    cJSON *js = text ? cJSON_Parse(text) : NULL;
    int n = cJSON_GetArraySize(js);
    CHECK(n == 20 && want && want->shape[0] == n && want->shape[1] == 384);
    const char *texts[20];
    for (int i = 0; i < n && i < 20; i++) texts[i] = cJSON_GetArrayItem(js, i)->valuestring;
    if (n == 20 && want) {
        check_target(dir, KILN_TARGET_INTERP, 4, texts, n, want->data);
        check_target(dir, KILN_TARGET_INTERP, 20, texts, n, want->data);
        check_target(dir, KILN_TARGET_CPU, 4, texts, n, want->data);
    }
    cJSON_Delete(js);
    free(text);
    fx_free(&ref);
    return test_summary();
}
