/* config.c — reads config.json into fe_config. Each family is one row: the config.json keys it
 * uses for the common fields and Transformers' defaults for them. Values are type-checked as
 * strictly as Transformers' @strict config dataclasses do, so a bad file fails here, named, and
 * not later as a strange shape.
 */
#include "frontend/config.h"

#include <inttypes.h>

#include "common/common.h"

#define CFG_MAX_EXACT_INT 9007199254740992.0   // 2^53: past it a JSON number (a double) skips integers
#define CFG_MAX_LABELS (1 << 20)               // num_labels past this is a broken file, not a classifier

typedef enum field_kind {
    FIELD_SIZE,     // int64_t: a non-negative integer
    FIELD_OPT_SIZE, // int64_t: a non-negative integer, or null (keeps the default)
    FIELD_TOKEN,    // int64_t: an integer, or null (stored as -1, as is a negative id)
    FIELD_TOKENS,   // eos_token_id: an integer, a list of integers, or null; fills both eos members
    FIELD_EPS,      // double: a non-negative number
    FIELD_STRING,   // const char *: a string; null keeps the default
    FIELD_BOOL,     // bool
} field_kind;

typedef struct field {
    const char *key;
    field_kind kind;
    size_t offset;   // of the member in fe_config
} field;

#define FIELD(key, kind, member) {key, kind, offsetof(fe_config, member)}

// Keys every family spells the same way (PreTrainedConfig's own fields, and vocab_size).
// "dtype" comes after "torch_dtype" so that it wins when both are set, as in Transformers 5.
static const field common_fields[] = {
    FIELD("vocab_size", FIELD_SIZE, vocab_size),
    FIELD("pad_token_id", FIELD_TOKEN, pad_token_id),
    FIELD("bos_token_id", FIELD_TOKEN, bos_token_id),
    FIELD("eos_token_id", FIELD_TOKENS, eos_token_id),
    FIELD("problem_type", FIELD_STRING, problem_type),
    FIELD("torch_dtype", FIELD_STRING, dtype),
    FIELD("dtype", FIELD_STRING, dtype),
    FIELD("chunk_size_feed_forward", FIELD_SIZE, chunk_size_feed_forward),
    FIELD("tie_word_embeddings", FIELD_BOOL, tie_word_embeddings),
};

static const field bert_fields[] = {
    FIELD("hidden_size", FIELD_SIZE, hidden_size),
    FIELD("num_hidden_layers", FIELD_SIZE, num_hidden_layers),
    FIELD("num_attention_heads", FIELD_SIZE, num_attention_heads),
    FIELD("intermediate_size", FIELD_SIZE, intermediate_size),
    FIELD("hidden_act", FIELD_STRING, hidden_act),
    FIELD("max_position_embeddings", FIELD_SIZE, max_position_embeddings),
    FIELD("type_vocab_size", FIELD_SIZE, type_vocab_size),
    FIELD("layer_norm_eps", FIELD_EPS, layer_norm_eps),
    // Transformers 4 read it (default "absolute"); 5 dropped it and always builds absolute
    // positions, so a "relative_key" checkpoint would silently compute something else there.
    FIELD("position_embedding_type", FIELD_STRING, position_embedding_type),
};

// DistilBertConfig's attribute_map aliases come first, so its own key wins when a file has both.
// It has no layer_norm_eps, type_vocab_size or position_embedding_type key: the modeling code
// fixes eps at 1e-12 and has neither token types nor relative positions.
static const field distilbert_fields[] = {
    FIELD("hidden_size", FIELD_SIZE, hidden_size),
    FIELD("num_hidden_layers", FIELD_SIZE, num_hidden_layers),
    FIELD("num_attention_heads", FIELD_SIZE, num_attention_heads),
    FIELD("dim", FIELD_SIZE, hidden_size),
    FIELD("n_layers", FIELD_SIZE, num_hidden_layers),
    FIELD("n_heads", FIELD_SIZE, num_attention_heads),
    FIELD("hidden_dim", FIELD_SIZE, intermediate_size),
    FIELD("activation", FIELD_STRING, hidden_act),
    FIELD("max_position_embeddings", FIELD_SIZE, max_position_embeddings),
    FIELD("sinusoidal_pos_embds", FIELD_BOOL, sinusoidal_pos_embds),
};

// GPT2Config's attribute_map aliases first, so that its own keys win when a file has both.
// reorder_and_upcast_attn changes only the precision of f16 runs; kiln computes in f32.
static const field gpt2_fields[] = {
    FIELD("hidden_size", FIELD_SIZE, hidden_size),
    FIELD("num_hidden_layers", FIELD_SIZE, num_hidden_layers),
    FIELD("num_attention_heads", FIELD_SIZE, num_attention_heads),
    FIELD("max_position_embeddings", FIELD_SIZE, max_position_embeddings),
    FIELD("n_embd", FIELD_SIZE, hidden_size),
    FIELD("n_layer", FIELD_SIZE, num_hidden_layers),
    FIELD("n_head", FIELD_SIZE, num_attention_heads),
    FIELD("n_positions", FIELD_SIZE, max_position_embeddings),
    FIELD("n_inner", FIELD_OPT_SIZE, intermediate_size),
    FIELD("activation_function", FIELD_STRING, hidden_act),
    FIELD("layer_norm_epsilon", FIELD_EPS, layer_norm_eps),
    FIELD("scale_attn_weights", FIELD_BOOL, scale_attn_weights),
    FIELD("scale_attn_by_inverse_layer_idx", FIELD_BOOL, scale_attn_by_inverse_layer_idx),
};

// LlamaConfig and Qwen2Config (Qwen2's q/k/v biases are fixed by its modeling code, not a key).
static const field llama_fields[] = {
    FIELD("hidden_size", FIELD_SIZE, hidden_size),
    FIELD("intermediate_size", FIELD_SIZE, intermediate_size),
    FIELD("num_hidden_layers", FIELD_SIZE, num_hidden_layers),
    FIELD("num_attention_heads", FIELD_SIZE, num_attention_heads),
    FIELD("num_key_value_heads", FIELD_OPT_SIZE, num_key_value_heads),
    FIELD("head_dim", FIELD_OPT_SIZE, head_dim),
    FIELD("hidden_act", FIELD_STRING, hidden_act),
    FIELD("max_position_embeddings", FIELD_SIZE, max_position_embeddings),
    FIELD("rms_norm_eps", FIELD_EPS, layer_norm_eps),
    FIELD("attention_bias", FIELD_BOOL, attention_bias),
    FIELD("mlp_bias", FIELD_BOOL, mlp_bias),
    FIELD("use_sliding_window", FIELD_BOOL, use_sliding_window),
};

typedef struct family {
    const char *model_type;
    const field *fields;
    size_t n_fields;
    fe_config defaults;   // model_type, json, path, architectures and labels are filled in later
    bool has_rope;        // reads rope_theta and rope_scaling / rope_parameters
} family;

static const int64_t gpt2_eos[] = {50256}, llama_eos[] = {2};

static const int64_t roberta_eos[] = {2};

// Defaults are the class attributes of transformers 5.x models/<family>/configuration_<family>.py
// (BertConfig, RobertaConfig, DistilBertConfig) and PreTrainedConfig (chunk_size_feed_forward 0,
// dtype None, problem_type None); tie_word_embeddings is True in all three.
static const family families[] = {
    {"bert", bert_fields, KILN_ARRAY_SIZE(bert_fields),
     {.vocab_size = 30522, .hidden_size = 768, .num_hidden_layers = 12, .num_attention_heads = 12,
      .intermediate_size = 3072, .hidden_act = "gelu", .max_position_embeddings = 512, .type_vocab_size = 2,
      .layer_norm_eps = 1e-12, .position_embedding_type = "absolute", .pad_token_id = 0, .bos_token_id = -1,
      .eos_token_id = -1, .tie_word_embeddings = true},
     .has_rope = false},
    {"roberta", bert_fields, KILN_ARRAY_SIZE(bert_fields),
     {.vocab_size = 50265, .hidden_size = 768, .num_hidden_layers = 12, .num_attention_heads = 12,
      .intermediate_size = 3072, .hidden_act = "gelu", .max_position_embeddings = 512, .type_vocab_size = 2,
      .layer_norm_eps = 1e-12, .position_embedding_type = "absolute", .pad_token_id = 1, .bos_token_id = 0,
      .eos_token_id = 2, .eos_token_ids = roberta_eos, .n_eos_token_ids = 1, .tie_word_embeddings = true},
     .has_rope = false},
    {"distilbert", distilbert_fields, KILN_ARRAY_SIZE(distilbert_fields),
     {.vocab_size = 30522, .hidden_size = 768, .num_hidden_layers = 6, .num_attention_heads = 12,
      .intermediate_size = 4 * 768, .hidden_act = "gelu", .max_position_embeddings = 512, .type_vocab_size = 0,
      .layer_norm_eps = 1e-12, .position_embedding_type = "absolute", .sinusoidal_pos_embds = false,
      .pad_token_id = 0, .bos_token_id = -1, .eos_token_id = -1, .tie_word_embeddings = true},
     .has_rope = false},
    // GPT2Config, LlamaConfig, Qwen2Config (transformers 5.x). n_inner None means 4 x n_embd.
    {"gpt2", gpt2_fields, KILN_ARRAY_SIZE(gpt2_fields),
     {.vocab_size = 50257, .hidden_size = 768, .num_hidden_layers = 12, .num_attention_heads = 12,
      .intermediate_size = 0, .hidden_act = "gelu_new", .max_position_embeddings = 1024, .layer_norm_eps = 1e-5,
      .pad_token_id = -1, .bos_token_id = 50256, .eos_token_id = 50256, .eos_token_ids = gpt2_eos, .n_eos_token_ids = 1,
      .tie_word_embeddings = true, .scale_attn_weights = true},
     .has_rope = false},
    {"llama", llama_fields, KILN_ARRAY_SIZE(llama_fields),
     {.vocab_size = 32000, .hidden_size = 4096, .num_hidden_layers = 32, .num_attention_heads = 32,
      .intermediate_size = 11008, .hidden_act = "silu", .max_position_embeddings = 2048, .layer_norm_eps = 1e-6,
      .pad_token_id = -1, .bos_token_id = 1, .eos_token_id = 2, .eos_token_ids = llama_eos, .n_eos_token_ids = 1,
      .tie_word_embeddings = false},
     .has_rope = true},
    {"qwen2", llama_fields, KILN_ARRAY_SIZE(llama_fields),
     {.vocab_size = 151936, .hidden_size = 4096, .num_hidden_layers = 32, .num_attention_heads = 32,
      .num_key_value_heads = 32, .intermediate_size = 22016, .hidden_act = "silu", .max_position_embeddings = 32768,
      .layer_norm_eps = 1e-6, .pad_token_id = -1, .bos_token_id = -1, .eos_token_id = -1, .tie_word_embeddings = false},
     .has_rope = true},
};

// fe_config first, so that the pointer handed out is also the whole.
typedef struct config_impl {
    fe_config pub;
    cJSON *root;
    kiln_arena *arena;   // architectures, labels, eos list, path
} config_impl;

/* ---- values ---------------------------------------------------------------------------------- */

// What a JSON value is, for messages: 768.5, "768", true, null, an array, an object.
static const char *describe(const cJSON *v, char *buf, size_t buf_bytes) {
    if (cJSON_IsNumber(v)) snprintf(buf, buf_bytes, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v)) snprintf(buf, buf_bytes, "the string \"%.40s\"", v->valuestring);
    else if (cJSON_IsBool(v)) snprintf(buf, buf_bytes, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v)) snprintf(buf, buf_bytes, "null");
    else if (cJSON_IsArray(v)) snprintf(buf, buf_bytes, "an array");
    else snprintf(buf, buf_bytes, "an object");
    return buf;
}

// A JSON number that is a whole number of magnitude at most 2^53.
static bool json_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= -CFG_MAX_EXACT_INT && d <= CFG_MAX_EXACT_INT) || (double)(int64_t)d != d) return false;
    *out = (int64_t)d;
    return true;
}

static kiln_status bad_value(const config_impl *c, const char *key, const cJSON *v, const char *want) {
    char got[96];
    return kiln_error(KILN_ERR_FORMAT, "%s: \"%s\" must be %s, got %s", c->pub.path, key, want,
                      describe(v, got, sizeof(got)));
}

static kiln_status bad_entry(const config_impl *c, const char *key, size_t i, const cJSON *v, const char *want) {
    char got[96];
    return kiln_error(KILN_ERR_FORMAT, "%s: \"%s\"[%zu] must be %s, got %s", c->pub.path, key, i, want,
                      describe(v, got, sizeof(got)));
}

static kiln_status read_eos(config_impl *c, const char *key, const cJSON *v) {
    fe_config *p = &c->pub;
    int64_t id = -1;
    p->eos_token_id = -1;
    p->eos_token_ids = NULL;
    p->n_eos_token_ids = 0;
    if (cJSON_IsNull(v)) return KILN_OK;
    if (json_int(v, &id)) {
        if (id < 0) return KILN_OK;
        v = NULL;   // one id: stored below as a list of one
    } else if (!cJSON_IsArray(v)) {
        return bad_value(c, key, v, "an integer, a list of integers or null");
    }
    size_t n = v ? (size_t)cJSON_GetArraySize(v) : 1;
    int64_t *ids = kiln_arena_alloc(c->arena, (n ? n : 1) * sizeof(int64_t));
    if (!ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", p->path);
    if (!v) ids[0] = id;
    size_t i = 0;
    for (const cJSON *e = v ? v->child : NULL; e; e = e->next, i++)
        if (!json_int(e, &ids[i]) || ids[i] < 0)
            return bad_entry(c, key, i, e, "a non-negative integer");
    p->eos_token_ids = ids;
    p->n_eos_token_ids = n;
    p->eos_token_id = n ? ids[0] : -1;
    return KILN_OK;
}

static kiln_status read_field(config_impl *c, const field *f) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, f->key);
    if (!v) return KILN_OK;
    char *member = (char *)&c->pub + f->offset;
    int64_t i;
    switch (f->kind) {
    case FIELD_SIZE:
        if (!json_int(v, &i) || i < 0) return bad_value(c, f->key, v, "a non-negative integer");
        memcpy(member, &i, sizeof(i));
        return KILN_OK;
    case FIELD_OPT_SIZE:
        if (cJSON_IsNull(v)) return KILN_OK;
        if (!json_int(v, &i) || i < 0) return bad_value(c, f->key, v, "a non-negative integer or null");
        memcpy(member, &i, sizeof(i));
        return KILN_OK;
    case FIELD_TOKEN:
        if (cJSON_IsNull(v)) i = -1;
        else if (!json_int(v, &i)) return bad_value(c, f->key, v, "an integer or null");
        if (i < 0) i = -1;
        memcpy(member, &i, sizeof(i));
        return KILN_OK;
    case FIELD_TOKENS: return read_eos(c, f->key, v);
    case FIELD_EPS: {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) return bad_value(c, f->key, v, "a non-negative number");
        double d = v->valuedouble;
        memcpy(member, &d, sizeof(d));
        return KILN_OK;
    }
    case FIELD_STRING:
        if (cJSON_IsNull(v)) return KILN_OK;
        if (!cJSON_IsString(v)) return bad_value(c, f->key, v, "a string");
        memcpy(member, &v->valuestring, sizeof(const char *));
        return KILN_OK;
    case FIELD_BOOL: {
        if (!cJSON_IsBool(v)) return bad_value(c, f->key, v, "true or false");
        bool b = cJSON_IsTrue(v);
        memcpy(member, &b, sizeof(b));
        return KILN_OK;
    }
    }
    return kiln_error(KILN_ERR_INTERNAL, "config.c: field '%s' has no kind", f->key);
}

static kiln_status read_architectures(config_impl *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, "architectures");
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    if (!cJSON_IsArray(v)) return bad_value(c, "architectures", v, "a list of strings");
    size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
    const char **names = kiln_arena_alloc(c->arena, (n ? n : 1) * sizeof(*names));
    if (!names) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", c->pub.path);
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e)) return bad_entry(c, "architectures", i, e, "a string");
        names[i] = e->valuestring;
    }
    c->pub.architectures = names;
    c->pub.n_architectures = n;
    return KILN_OK;
}

// Python's int(key) for the keys Transformers writes: decimal digits, below n.
static bool parse_label_id(const char *s, int64_t n, int64_t *out) {
    int64_t id = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        id = id * 10 + (*s - '0');
        if (id >= n) return false;
    }
    *out = id;
    return true;
}

// id2label decides num_labels when present (Transformers warns and ignores a disagreeing
// num_labels); otherwise num_labels, or 2, with "LABEL_<i>" names.
static kiln_status read_labels(config_impl *c) {
    const char *path = c->pub.path;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(c->root, "id2label");
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(c->root, "num_labels");
    int64_t n = 2;
    if (map && !cJSON_IsNull(map)) {
        if (!cJSON_IsObject(map)) return bad_value(c, "id2label", map, "an object");
        n = cJSON_GetArraySize(map);
    } else if (num && !cJSON_IsNull(num)) {
        if (!json_int(num, &n) || n < 0) return bad_value(c, "num_labels", num, "a non-negative integer");
    }
    if (n > CFG_MAX_LABELS)
        return kiln_error(KILN_ERR_FORMAT, "%s: %" PRId64 " labels is more than kiln accepts (%d)", path, n,
                          CFG_MAX_LABELS);
    const char **labels = kiln_arena_alloc(c->arena, (size_t)(n ? n : 1) * sizeof(*labels));
    if (!labels) goto oom;
    if (map && !cJSON_IsNull(map)) {
        for (const cJSON *kv = map->child; kv; kv = kv->next) {
            int64_t id;
            if (!parse_label_id(kv->string, n, &id))
                return kiln_error(KILN_ERR_FORMAT, "%s: \"id2label\": key '%s' is not a class id in 0..%" PRId64, path,
                                  kv->string, n - 1);
            if (labels[id])
                return kiln_error(KILN_ERR_FORMAT, "%s: \"id2label\": class id %" PRId64 " given twice", path, id);
            if (!cJSON_IsString(kv)) {
                char got[96];
                return kiln_error(KILN_ERR_FORMAT, "%s: \"id2label\": label of '%s' must be a string, got %s", path,
                                  kv->string, describe(kv, got, sizeof(got)));
            }
            labels[id] = kv->valuestring;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof(name), "LABEL_%" PRId64, i);
            if (!(labels[i] = kiln_arena_strdup(c->arena, name))) goto oom;
        }
    }
    c->pub.id2label = labels;
    c->pub.num_labels = n;
    return KILN_OK;
oom:
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
}

// A number in a RoPE object ("rope_parameters.factor"); absent or null leaves *out alone.
static kiln_status rope_number(config_impl *c, const cJSON *obj, const char *obj_key, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return KILN_OK;
    if (!cJSON_IsNumber(v)) {
        char got[96], name[96];
        snprintf(name, sizeof(name), "%s%s%s", obj_key ? obj_key : "", obj_key ? "." : "", key);
        return kiln_error(KILN_ERR_FORMAT, "%s: \"%s\" must be a number, got %s", c->pub.path, name, describe(v, got, sizeof(got)));
    }
    *out = v->valuedouble;
    return KILN_OK;
}

// rope_theta and the "rope_parameters" (Transformers 5) or "rope_scaling" object, with the
// object's keys winning as in Transformers' convert_rope_params_to_dict.
static kiln_status read_rope(config_impl *c) {
    fe_rope *r = &c->pub.rope;
    r->type = "default";
    r->theta = 10000.0;
    r->truncate = true;
    r->partial_rotary_factor = 1.0;
    kiln_status st = rope_number(c, c->root, NULL, "rope_theta", &r->theta);
    if (st) return st;
    const char *key = "rope_parameters";
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (!obj || cJSON_IsNull(obj) || (cJSON_IsObject(obj) && !obj->child)) {
        key = "rope_scaling";
        obj = cJSON_GetObjectItemCaseSensitive(c->root, key);
    }
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    if (!cJSON_IsObject(obj)) return bad_value(c, key, obj, "an object or null");
    static const char *const type_keys[] = {"rope_type", "type"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(type_keys); i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, type_keys[i]);
        if (!t || cJSON_IsNull(t)) continue;
        if (!cJSON_IsString(t)) {
            char got[96];
            return kiln_error(KILN_ERR_FORMAT, "%s: \"%s.%s\" must be a string, got %s", c->pub.path, key, type_keys[i],
                              describe(t, got, sizeof(got)));
        }
        r->type = t->valuestring;
        break;
    }
    double orig = 0;
    const struct {
        const char *name;
        double *out;
    } numbers[] = {
        {"rope_theta", &r->theta},
        {"factor", &r->factor},
        {"low_freq_factor", &r->low_freq_factor},
        {"high_freq_factor", &r->high_freq_factor},
        {"original_max_position_embeddings", &orig},
        {"attention_factor", &r->attention_factor},
        {"beta_fast", &r->beta_fast},
        {"beta_slow", &r->beta_slow},
        {"mscale", &r->mscale},
        {"mscale_all_dim", &r->mscale_all_dim},
        {"partial_rotary_factor", &r->partial_rotary_factor},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(numbers); i++)
        if ((st = rope_number(c, obj, key, numbers[i].name, numbers[i].out))) return st;
    if (orig < 0 || orig != (double)(int64_t)orig)
        return kiln_error(KILN_ERR_FORMAT, "%s: \"%s.original_max_position_embeddings\" must be a non-negative integer, got %.17g",
                          c->pub.path, key, orig);
    r->original_max_position_embeddings = (int64_t)orig;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(obj, "truncate");
    if (tr && !cJSON_IsNull(tr)) {
        if (!cJSON_IsBool(tr)) return bad_value(c, "truncate", tr, "true or false");
        r->truncate = cJSON_IsTrue(tr);
    }
    return KILN_OK;
}

/* ---- loading --------------------------------------------------------------------------------- */

static kiln_status unknown_family(const config_impl *c, const char *model_type) {
    char known[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(families) && len < sizeof(known); i++)
        len += (size_t)snprintf(known + len, sizeof(known) - len, i ? ", %s" : "%s", families[i].model_type);
    return kiln_error(KILN_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (kiln knows %s)", c->pub.path,
                      model_type, known);
}

kiln_status fe_config_load(const char *dir, fe_config **out) {
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_config_load: NULL argument");
    char *path = kiln_path_join(dir, "config.json"), *text = NULL;
    size_t text_bytes = 0;
    if (!path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    kiln_status status = kiln_read_file(path, &text, &text_bytes);
    if (status == KILN_OK) status = fe_config_parse(text, text_bytes, path, out);
    free(text);
    free(path);
    return status;
}

kiln_status fe_config_parse(const char *text, size_t text_bytes, const char *path, fe_config **out) {
    if (!text || !path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_config_parse: NULL argument");
    kiln_status status;
    config_impl *c = calloc(1, sizeof(*c));
    if (c) c->arena = kiln_arena_create(4096);
    if (!c || !c->arena || !(c->pub.path = kiln_arena_strdup(c->arena, path))) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto error;
    }
    status = KILN_ERR_FORMAT;
    const char *parse_end = text;
    // Length + 1 takes in read_file's NUL, which cJSON needs to refuse bytes after the value.
    c->root = cJSON_ParseWithLengthOpts(text, text_bytes + 1, &parse_end, 1);
    if (!c->root) {
        size_t at = (size_t)(parse_end - text), line = 1, column = 1;
        for (size_t i = 0; i < at && i < text_bytes; i++) {
            column++;
            if (text[i] == '\n') line++, column = 1;
        }
        kiln_error(status, "%s: malformed JSON at byte %zu (line %zu, column %zu)", path, at, line, column);
        goto error;
    }
    if (!cJSON_IsObject(c->root)) {
        kiln_error(status, "%s: not a JSON object", path);
        goto error;
    }
    const cJSON *jtype = cJSON_GetObjectItemCaseSensitive(c->root, "model_type");
    if (!jtype) {
        kiln_error(status, "%s: missing \"model_type\"", path);
        goto error;
    }
    if (!cJSON_IsString(jtype)) {
        status = bad_value(c, "model_type", jtype, "a string");
        goto error;
    }
    const family *fam = NULL;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(families) && !fam; i++)
        if (strcmp(families[i].model_type, jtype->valuestring) == 0) fam = &families[i];
    if (!fam) {
        status = unknown_family(c, jtype->valuestring);
        goto error;
    }

    const char *kept_path = c->pub.path;
    c->pub = fam->defaults;
    c->pub.path = kept_path;
    c->pub.json = c->root;
    c->pub.model_type = jtype->valuestring;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(common_fields); i++)
        if ((status = read_field(c, &common_fields[i])) != KILN_OK) goto error;
    for (size_t i = 0; i < fam->n_fields; i++)
        if ((status = read_field(c, &fam->fields[i])) != KILN_OK) goto error;
    if (fam->has_rope && (status = read_rope(c)) != KILN_OK) goto error;
    if ((status = read_architectures(c)) != KILN_OK) goto error;
    if ((status = read_labels(c)) != KILN_OK) goto error;

    *out = &c->pub;
    return KILN_OK;

error:
    fe_config_free(c ? &c->pub : NULL);
    return status;
}

void fe_config_free(fe_config *config) {
    if (!config) return;
    config_impl *c = (config_impl *)config;
    cJSON_Delete(c->root);
    kiln_arena_free(c->arena);
    free(c);
}
