/* test_gguf_read.c — the GGUF reader against what PyPI gguf wrote and read back
 * (tests/fixtures/gguf/MANIFEST.json, from tests/reference/make_gguf_fixtures.py): for every file,
 * the version, alignment, every key/value with its type and value (nested arrays included), every
 * tensor's name, type, shape, offset and size, and the checksum of every tensor's dequantized
 * values (bit-exact with gguf.quants.dequantize); then the typed getters, hparams and tokenizer.
 */
#include "tests/gguf/gguf_test_util.h"

static const char *type_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                   "u64", "i64", "f64"};

// Element i of a numeric/bool array as the matching scalar value.
static fe_gguf_value array_element(const fe_gguf_value *a, size_t i) {
    fe_gguf_value v = {.type = a->array.type};
    const void *p = a->array.data;
    switch (a->array.type) {
    case FE_GGUF_U8: v.u = ((const uint8_t *)p)[i]; break;
    case FE_GGUF_BOOL: v.u = ((const uint8_t *)p)[i]; break;
    case FE_GGUF_I8: v.i = ((const int8_t *)p)[i]; break;
    case FE_GGUF_U16: v.u = ((const uint16_t *)p)[i]; break;
    case FE_GGUF_I16: v.i = ((const int16_t *)p)[i]; break;
    case FE_GGUF_U32: v.u = ((const uint32_t *)p)[i]; break;
    case FE_GGUF_I32: v.i = ((const int32_t *)p)[i]; break;
    case FE_GGUF_U64: v.u = ((const uint64_t *)p)[i]; break;
    case FE_GGUF_I64: v.i = ((const int64_t *)p)[i]; break;
    case FE_GGUF_F32: v.f = ((const float *)p)[i]; break;
    case FE_GGUF_F64: v.f = ((const double *)p)[i]; break;
    case FE_GGUF_STRING: v.str = ((const fe_gguf_string *)p)[i]; break;
    case FE_GGUF_ARRAY: v = ((const fe_gguf_value *)p)[i]; break;
    default: break;
    }
    return v;
}

// v has JSON type name `type` and value `jv` (for arrays: {"type", "n", "values"}).
static void check_value(const char *key, const fe_gguf_value *v, const char *type, const cJSON *jv) {
    CHECK_MSG((unsigned)v->type < FE_GGUF_TYPE_COUNT && strcmp(type_names[v->type], type) == 0,
              "key '%s': type %s, want %s", key, fe_gguf_type_name(v->type), type);
    if (strcmp(type_names[v->type], type) != 0) return;
    switch (v->type) {
    case FE_GGUF_U8: case FE_GGUF_U16: case FE_GGUF_U32: case FE_GGUF_U64:
        CHECK_MSG(v->u == gguf_json_u64(jv), "key '%s': %" PRIu64, key, v->u);
        break;
    case FE_GGUF_I8: case FE_GGUF_I16: case FE_GGUF_I32: case FE_GGUF_I64:
        CHECK_MSG(v->i == gguf_json_i64(jv), "key '%s': %" PRId64, key, v->i);
        break;
    case FE_GGUF_F32: CHECK_MSG((float)v->f == (float)jv->valuedouble, "key '%s': %.9g", key, v->f); break;
    case FE_GGUF_F64: CHECK_MSG(v->f == jv->valuedouble, "key '%s': %.17g", key, v->f); break;
    case FE_GGUF_BOOL: CHECK_MSG(v->u == (uint64_t)cJSON_IsTrue(jv), "key '%s': %" PRIu64, key, v->u); break;
    case FE_GGUF_STRING:
        CHECK_MSG(v->str.len == strlen(jv->valuestring) && memcmp(v->str.data, jv->valuestring, v->str.len) == 0 &&
                      v->str.data[v->str.len] == '\0',
                  "key '%s': \"%s\"", key, v->str.data);
        break;
    case FE_GGUF_ARRAY: {
        const char *elem = cJSON_GetObjectItem(jv, "type")->valuestring;
        const cJSON *values = cJSON_GetObjectItem(jv, "values");
        CHECK_MSG(v->array.n == (size_t)cJSON_GetObjectItem(jv, "n")->valuedouble, "key '%s': %zu elements", key,
                  v->array.n);
        CHECK_MSG((uintptr_t)v->array.data % 16 == 0, "key '%s': array data not aligned", key);
        size_t n = KILN_MIN(v->array.n, (size_t)cJSON_GetArraySize(values));
        for (size_t i = 0; i < n; i++) {
            fe_gguf_value e = array_element(v, i);
            check_value(key, &e, elem, cJSON_GetArrayItem(values, (int)i));
        }
        break;
    }
    default: CHECK(0);
    }
}

static void check_file(const char *name, const cJSON *jf) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/gguf/%s", KILN_FIXTURES, name);
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(path, &g));
    if (!g) return;
    CHECK(fe_gguf_version(g) == (uint32_t)cJSON_GetObjectItem(jf, "version")->valuedouble);
    CHECK(fe_gguf_alignment(g) == (size_t)cJSON_GetObjectItem(jf, "alignment")->valuedouble);

    const cJSON *kvs = cJSON_GetObjectItem(jf, "kv");
    CHECK_MSG(fe_gguf_n_kv(g) == (size_t)cJSON_GetArraySize(kvs), "%s: %zu key/values", name, fe_gguf_n_kv(g));
    size_t i = 0;
    for (const cJSON *jkv = kvs->child; jkv; jkv = jkv->next, i++) {
        const char *key = cJSON_GetObjectItem(jkv, "key")->valuestring;
        const fe_gguf_kv *kv = fe_gguf_kv_at(g, i);
        CHECK_MSG(kv && strcmp(kv->key, key) == 0, "%s: key %zu is '%s', want '%s'", name, i, kv ? kv->key : "-", key);
        if (!kv) continue;
        CHECK(fe_gguf_find(g, key) == &kv->value);
        check_value(key, &kv->value, cJSON_GetObjectItem(jkv, "type")->valuestring, cJSON_GetObjectItem(jkv, "value"));
    }
    CHECK(fe_gguf_kv_at(g, i) == NULL);
    CHECK(fe_gguf_find(g, "no.such.key") == NULL);

    const cJSON *tensors = cJSON_GetObjectItem(jf, "tensors");
    CHECK_MSG(fe_gguf_n_tensors(g) == (size_t)cJSON_GetArraySize(tensors), "%s: %zu tensors", name,
              fe_gguf_n_tensors(g));
    i = 0;
    for (const cJSON *jt = tensors->child; jt; jt = jt->next, i++) {
        const fe_gguf_tensor *t = fe_gguf_tensor_at(g, i);   // file order
        CHECK(t && strcmp(t->name, cJSON_GetObjectItem(jt, "name")->valuestring) == 0);
        gguf_check_tensor(g, jt);
    }
    CHECK(fe_gguf_tensor_at(g, i) == NULL);
    CHECK(fe_gguf_find_tensor(g, "no.such.tensor") == NULL);
    fe_gguf_free(g);
}

// The tiny LLaMA's hyperparameters and tokenizer through the convenience accessors.
static void check_tiny_llama(const cJSON *model) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/gguf/tiny-llama-q4_k.gguf", KILN_FIXTURES);
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(path, &g));
    if (!g) return;
    fe_gguf_hparams h;
    CHECK_OK(fe_gguf_get_hparams(g, &h));
    CHECK(strcmp(h.architecture, "llama") == 0 && h.architecture == fe_gguf_architecture(g));
    CHECK(h.vocab_size == (uint32_t)cJSON_GetObjectItem(model, "vocab")->valuedouble);
    CHECK(h.embedding_length == (uint32_t)cJSON_GetObjectItem(model, "hidden")->valuedouble);
    CHECK(h.feed_forward_length == (uint32_t)cJSON_GetObjectItem(model, "intermediate")->valuedouble);
    CHECK(h.block_count == (uint32_t)cJSON_GetObjectItem(model, "layers")->valuedouble);
    CHECK(h.head_count == (uint32_t)cJSON_GetObjectItem(model, "heads")->valuedouble);
    CHECK(h.head_count_kv == (uint32_t)cJSON_GetObjectItem(model, "kv_heads")->valuedouble);
    CHECK(h.context_length == (uint32_t)cJSON_GetObjectItem(model, "context")->valuedouble);
    CHECK(h.rope_freq_base == (float)cJSON_GetObjectItem(model, "rope_theta")->valuedouble);
    CHECK(h.layer_norm_rms_epsilon == (float)cJSON_GetObjectItem(model, "rms_eps")->valuedouble);
    CHECK(h.layer_norm_epsilon == 0.0f);
    CHECK(h.rope_dimension_count == h.embedding_length / h.head_count);

    fe_gguf_tokenizer tok;
    CHECK_OK(fe_gguf_get_tokenizer(g, &tok));
    CHECK(strcmp(tok.model, "gpt2") == 0 && tok.pre && strcmp(tok.pre, "smollm") == 0);
    CHECK(tok.n_tokens == h.vocab_size && strcmp(tok.tokens[0].data, "<|endoftext|>") == 0);
    CHECK(strcmp(tok.tokens[3].data, "\xc4\xa0") == 0);   // "Ġ", GPT-2's spelling of a space
    CHECK(tok.scores == NULL && tok.token_type && tok.token_type[0] == 3 && tok.token_type[3] == 1);
    CHECK(tok.n_merges == 32 && strcmp(tok.merges[0].data, "\xc4\xa0 t") == 0);
    CHECK(tok.bos_id == 1 && tok.eos_id == 2 && tok.unk_id == 0 && tok.pad_id == 2);
    CHECK(tok.add_bos_token == 0 && tok.add_eos_token == -1 && tok.add_space_prefix == -1);
    CHECK(tok.chat_template && strstr(tok.chat_template, "<|im_start|>"));

    // Shapes are PyTorch's: the K projection is (kv_heads * head_dim, hidden), the embedding (vocab, hidden).
    const fe_gguf_tensor *k = fe_gguf_find_tensor(g, "blk.0.attn_k.weight");
    CHECK(k && k->rank == 2 && k->shape[0] == 16 && k->shape[1] == 32 && k->dtype == KILN_Q8_0);
    const fe_gguf_tensor *down = fe_gguf_find_tensor(g, "blk.1.ffn_down.weight");
    CHECK(down && down->shape[0] == 32 && down->shape[1] == 256 && down->dtype == KILN_Q4_K);
    const fe_gguf_tensor *norm = fe_gguf_find_tensor(g, "output_norm.weight");
    CHECK(norm && norm->rank == 1 && norm->shape[0] == 32 && norm->dtype == KILN_F32);
    fe_gguf_free(g);
}

// Typed getters: conversions they allow, and the message when they refuse.
static void getters_convert_and_refuse(void) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/gguf/blocks.gguf", KILN_FIXTURES);
    fe_gguf *g = NULL;
    CHECK_OK(fe_gguf_open(path, &g));
    if (!g) return;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    bool b;
    fe_gguf_string s;
    CHECK_OK(fe_gguf_get_u32(g, "kiln.test.u8", &u32));
    CHECK(u32 == 200);
    CHECK_OK(fe_gguf_get_u32(g, "kiln.test.u32", &u32));
    CHECK(u32 == 4000000000u);
    CHECK_FAILS(fe_gguf_get_u32(g, "kiln.test.i8", &u32), KILN_ERR_FORMAT, "key 'kiln.test.i8': -100 is out of range");
    CHECK_FAILS(fe_gguf_get_u32(g, "kiln.test.u64", &u32), KILN_ERR_FORMAT, "18000000000000000000 is out of range");
    CHECK_OK(fe_gguf_get_u64(g, "kiln.test.u64", &u64));
    CHECK(u64 == 18000000000000000000u);
    CHECK_OK(fe_gguf_get_i64(g, "kiln.test.i64", &i64));
    CHECK(i64 == -9000000000000000000);
    CHECK_OK(fe_gguf_get_i64(g, "kiln.test.i16", &i64));
    CHECK(i64 == -32000);
    CHECK_FAILS(fe_gguf_get_i64(g, "kiln.test.u64", &i64), KILN_ERR_FORMAT, "out of range");
    CHECK_FAILS(fe_gguf_get_i64(g, "kiln.test.f32", &i64), KILN_ERR_FORMAT, "'kiln.test.f32': is f32, expected an integer");
    CHECK_OK(fe_gguf_get_f32(g, "kiln.test.f32", &f));
    CHECK(f == 0.1f);
    CHECK_OK(fe_gguf_get_f32(g, "kiln.test.f64", &f));
    CHECK(f == (float)2.5e-300);
    CHECK_FAILS(fe_gguf_get_f32(g, "kiln.test.u32", &f), KILN_ERR_FORMAT, "is u32, expected f32");
    CHECK_OK(fe_gguf_get_bool(g, "kiln.test.bool", &b));
    CHECK(b);
    CHECK_FAILS(fe_gguf_get_bool(g, "kiln.test.u8", &b), KILN_ERR_FORMAT, "expected bool");
    CHECK_OK(fe_gguf_get_string(g, "kiln.test.string", &s));
    CHECK(strcmp(s.data, "h\xc3\xa9llo, w\xc3\xb6rld") == 0 && s.len == 14);
    CHECK_OK(fe_gguf_get_string(g, "kiln.test.empty_string", &s));
    CHECK(s.len == 0 && s.data[0] == '\0');
    CHECK_FAILS(fe_gguf_get_string(g, "kiln.test.array_string", &s), KILN_ERR_FORMAT,
                "is an array of string, expected string");
    CHECK_FAILS(fe_gguf_get_string(g, "kiln.test.nope", &s), KILN_ERR_FORMAT, "blocks.gguf: missing key 'kiln.test.nope'");

    const fe_gguf_string *strs;
    const float *fs;
    const int32_t *is;
    size_t n;
    CHECK_OK(fe_gguf_get_string_array(g, "kiln.test.array_string", &strs, &n));
    CHECK(n == 4 && strcmp(strs[2].data, "\xc3\xbc" "n\xc3\xaf" "code") == 0 && strs[1].len == 0);
    CHECK_OK(fe_gguf_get_f32_array(g, "kiln.test.array_f32", &fs, &n));
    CHECK(n == 3 && fs[0] == 0.5f && fs[1] == -1.25f && fs[2] == 3.0e38f);
    CHECK_FAILS(fe_gguf_get_f32_array(g, "kiln.test.array_f64", &fs, &n), KILN_ERR_FORMAT,
                "is an array of f64, expected an array of f32");
    CHECK_OK(fe_gguf_get_i32_array(g, "kiln.test.array_i32", &is, &n));
    CHECK(n == 4 && is[0] == -1 && is[3] == 2147483647);
    CHECK_OK(fe_gguf_get_i32_array(g, "kiln.test.array_u32", &is, &n));
    CHECK(n == 3 && is[2] == 9);
    CHECK_FAILS(fe_gguf_get_i32_array(g, "kiln.test.array_i16", &is, &n), KILN_ERR_FORMAT, "expected an array of i32");
    CHECK_FAILS(fe_gguf_get_i32_array(g, "kiln.test.u32", &is, &n), KILN_ERR_FORMAT, "is u32, expected an array");

    // Nested: [[1, 2], [3], [4, 5, 6]]
    const fe_gguf_value *nested = fe_gguf_find(g, "kiln.test.array_nested");
    CHECK(nested && nested->type == FE_GGUF_ARRAY && nested->array.type == FE_GGUF_ARRAY && nested->array.n == 3);
    if (nested) {
        const fe_gguf_value *rows = nested->array.data;
        CHECK(rows[2].type == FE_GGUF_ARRAY && rows[2].array.type == FE_GGUF_I32 && rows[2].array.n == 3 &&
              ((const int32_t *)rows[2].array.data)[2] == 6);
    }
    // blocks.gguf is not a model: no hyperparameters, no tokenizer.
    fe_gguf_hparams h;
    fe_gguf_tokenizer tok;
    CHECK_FAILS(fe_gguf_get_hparams(g, &h), KILN_ERR_FORMAT, "missing key 'kiln-test.embedding_length'");
    CHECK_FAILS(fe_gguf_get_tokenizer(g, &tok), KILN_ERR_FORMAT, "missing key 'tokenizer.ggml.model'");
    fe_gguf_free(g);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/gguf/MANIFEST.json", KILN_FIXTURES);
    cJSON *manifest = gguf_load_json(path);
    CHECK(manifest);
    if (!manifest) return test_summary();
    const cJSON *files = cJSON_GetObjectItem(manifest, "files");
    int n_files = 0;
    for (const cJSON *f = files ? files->child : NULL; f; f = f->next, n_files++) check_file(f->string, f);
    CHECK(n_files == 8);
    check_tiny_llama(cJSON_GetObjectItem(manifest, "model"));
    getters_convert_and_refuse();
    cJSON_Delete(manifest);
    return test_summary();
}
