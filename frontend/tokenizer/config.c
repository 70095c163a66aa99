/* config.c — reads what kiln needs from transformers' tokenizer_config.json (and the older
 * special_tokens_map.json): BERT's normalizer switches (do_lower_case, strip_accents,
 * tokenize_chinese_chars), the special token names, added_tokens_decoder, model_max_length,
 * padding_side, truncation_side, clean_up_tokenization_spaces, add_prefix_space and
 * tokenizer_class. Anything else in the files is left to others.
 */
#include "frontend/tokenizer/internal.h"

#include <unistd.h>

static const char *const special_fields[FE_TOK_SPECIAL_COUNT] = {
    [FE_TOK_UNK] = "unk_token", [FE_TOK_CLS] = "cls_token",   [FE_TOK_SEP] = "sep_token", [FE_TOK_PAD] = "pad_token",
    [FE_TOK_MASK] = "mask_token", [FE_TOK_BOS] = "bos_token", [FE_TOK_EOS] = "eos_token",
};

void fe_tok_config_init(fe_tok_config *cfg) {
    *cfg = (fe_tok_config){.do_lower_case = -1, .strip_accents = -1, .tokenize_chinese_chars = -1,
                           .add_prefix_space = -1, .clean_up_tokenization_spaces = -1, .padding_left = -1,
                           .truncation_left = -1, .model_max_length = -2};
}

static kiln_status opt_bool(const char *path, const cJSON *root, const char *name, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item || cJSON_IsNull(item)) return KILN_OK;
    if (!cJSON_IsBool(item)) return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected true, false or null", path, name);
    *out = cJSON_IsTrue(item);
    return KILN_OK;
}

static kiln_status opt_side(const char *path, const cJSON *root, const char *name, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item || cJSON_IsNull(item)) return KILN_OK;
    if (!cJSON_IsString(item) || (strcmp(item->valuestring, "left") != 0 && strcmp(item->valuestring, "right") != 0))
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected \"left\" or \"right\"", path, name);
    *out = strcmp(item->valuestring, "left") == 0;
    return KILN_OK;
}

// A special token is named by a string or, in older files, by an AddedToken object {"content": ...}.
static kiln_status token_name(fe_tokenizer *t, const char *path, const cJSON *root, const char *name, char **out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item) return KILN_OK;
    if (cJSON_IsNull(item)) {   // explicitly none
        *out = NULL;
        return KILN_OK;
    }
    if (cJSON_IsObject(item)) item = cJSON_GetObjectItemCaseSensitive(item, "content");
    if (!cJSON_IsString(item)) return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected a token string", path, name);
    *out = kiln_arena_strdup(t->arena, item->valuestring);
    return *out ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
}

// added_tokens_decoder: {"100": {"content": "[UNK]", "special": true, "normalized": false, ...}, ...}
static kiln_status added_tokens(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_config *cfg) {
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    if (!cJSON_IsObject(obj)) return kiln_error(KILN_ERR_FORMAT, "%s: added_tokens_decoder: expected an object", path);
    cfg->added = kiln_arena_alloc(t->arena, (size_t)cJSON_GetArraySize(obj) * sizeof(*cfg->added) + 1);
    cfg->n_added = 0;
    if (!cfg->added) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        char where[64], *end = NULL;
        snprintf(where, sizeof(where), "added_tokens_decoder[\"%.32s\"]", item->string);
        long id = strtol(item->string, &end, 10);
        if (end == item->string || *end || id < 0 || id >= INT32_MAX)
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: the key is not a token id", path, where);
        if (!cJSON_IsObject(item)) return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected an object", path, where);
        fe_tok_added_token a = {.id = (int32_t)id};
        kiln_status st;
        if ((st = fe_tok_json_string(path, where, item, "content", NULL, &a.content)) ||
            (st = fe_tok_json_bool(path, where, item, "special", false, &a.special)) ||
            (st = fe_tok_json_bool(path, where, item, "single_word", false, &a.single_word)) ||
            (st = fe_tok_json_bool(path, where, item, "lstrip", false, &a.lstrip)) ||
            (st = fe_tok_json_bool(path, where, item, "rstrip", false, &a.rstrip)) ||
            (st = fe_tok_json_bool(path, where, item, "normalized", !a.special, &a.normalized)))
            return st;
        if (!a.content) return kiln_error(KILN_ERR_FORMAT, "%s: %s.content: missing", path, where);
        if (!(a.content = kiln_arena_strdup(t->arena, a.content)))
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        cfg->added[cfg->n_added++] = a;
    }
    return KILN_OK;
}

// Model-specific "..._token" names, then extra_special_tokens (or the older
// additional_special_tokens), appended to cfg->extra in transformers' order.
static kiln_status extra_names(fe_tokenizer *t, const char *path, const cJSON *root, fe_tok_config *cfg) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "extra_special_tokens");
    if (!list || cJSON_IsNull(list)) list = cJSON_GetObjectItemCaseSensitive(root, "additional_special_tokens");
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : cJSON_IsObject(list) ? cJSON_GetArraySize(list) : 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) n++;
    const char **extra = kiln_arena_alloc(t->arena, ((size_t)n + (size_t)cfg->n_extra + 1) * sizeof(*extra));
    if (!extra) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (cfg->n_extra) memcpy(extra, cfg->extra, (size_t)cfg->n_extra * sizeof(*extra));
    cfg->extra = extra;
    cJSON_ArrayForEach(item, root) {
        size_t len = strlen(item->string);
        bool named = false;
        for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) named = named || strcmp(item->string, special_fields[i]) == 0;
        if (named || len < 6 || strcmp(item->string + len - 6, "_token") != 0 || !cJSON_IsString(item)) continue;
        if (!(cfg->extra[cfg->n_extra++] = kiln_arena_strdup(t->arena, item->valuestring)))
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list) && !cJSON_IsObject(list))
        return kiln_error(KILN_ERR_FORMAT, "%s: extra_special_tokens: expected a list", path);
    cJSON_ArrayForEach(item, list) {
        const cJSON *c = cJSON_IsObject(item) ? cJSON_GetObjectItemCaseSensitive(item, "content") : item;
        if (!cJSON_IsString(c)) return kiln_error(KILN_ERR_FORMAT, "%s: extra_special_tokens: expected token strings", path);
        if (!(cfg->extra[cfg->n_extra++] = kiln_arena_strdup(t->arena, c->valuestring)))
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    return KILN_OK;
}

kiln_status fe_tok_read_config(fe_tokenizer *t, const char *path, const char *text, fe_tok_config *cfg) {
    kiln_status st = KILN_OK;
    cJSON *root = fe_tok_json_parse(path, text, &st);
    if (!root) return st;
    if (!cJSON_IsObject(root)) st = kiln_error(KILN_ERR_FORMAT, "%s: expected a JSON object at the top level", path);
    if (!st) st = opt_bool(path, root, "do_lower_case", &cfg->do_lower_case);
    if (!st) st = opt_bool(path, root, "strip_accents", &cfg->strip_accents);
    if (!st) st = opt_bool(path, root, "tokenize_chinese_chars", &cfg->tokenize_chinese_chars);
    if (!st) st = opt_bool(path, root, "add_prefix_space", &cfg->add_prefix_space);
    if (!st) st = opt_bool(path, root, "clean_up_tokenization_spaces", &cfg->clean_up_tokenization_spaces);
    if (!st) st = opt_side(path, root, "padding_side", &cfg->padding_left);
    if (!st) st = opt_side(path, root, "truncation_side", &cfg->truncation_left);
    if (!st) {
        // transformers: values above LARGE_INTEGER (1e20) mean "no maximum".
        const cJSON *mml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
        if (mml && !cJSON_IsNull(mml)) {
            if (!cJSON_IsNumber(mml) || mml->valuedouble < 0)
                st = kiln_error(KILN_ERR_FORMAT, "%s: model_max_length: expected a non-negative number", path);
            else cfg->model_max_length = mml->valuedouble > 1e20 ? -1 : (int64_t)mml->valuedouble;
        }
    }
    if (!st) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "tokenizer_class");
        if (cJSON_IsString(cls) && !(cfg->tokenizer_class = kiln_arena_strdup(t->arena, cls->valuestring)))
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (int i = 0; !st && i < FE_TOK_SPECIAL_COUNT; i++) st = token_name(t, path, root, special_fields[i], &cfg->names.names[i]);
    if (!st) st = added_tokens(t, path, cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder"), cfg);
    if (!st) st = extra_names(t, path, root, cfg);
    cJSON_Delete(root);
    return st;
}

kiln_status fe_tok_read_config_dir(fe_tokenizer *t, const fe_tok_src *src, const char *dir, fe_tok_config *cfg) {
    static const char *const files[] = {"special_tokens_map.json", "tokenizer_config.json"};   // the later wins
    kiln_status st = KILN_OK;
    for (size_t i = 0; st == KILN_OK && i < KILN_ARRAY_SIZE(files); i++) {
        char *path = kiln_path_join(dir, files[i]);
        if (!path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        if (fe_tok_src_exists(src, path)) {
            char *text = NULL;
            st = fe_tok_src_read(src, path, &text, NULL);
            if (st == KILN_OK) st = fe_tok_read_config(t, path, text, cfg);
            free(text);
        }
        free(path);
    }
    return st;
}

void fe_tok_apply_config(fe_tokenizer *t, const fe_tok_config *cfg, fe_tok_names *names) {
    if (cfg->model_max_length != -2) t->model_max_length = cfg->model_max_length;
    if (cfg->padding_left >= 0) t->padding_left = cfg->padding_left;
    if (cfg->truncation_left >= 0) t->truncation_left = cfg->truncation_left;
    if (cfg->clean_up_tokenization_spaces >= 0) t->clean_up_tokenization_spaces = cfg->clean_up_tokenization_spaces;
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++)
        if (cfg->names.names[i]) names->names[i] = cfg->names.names[i];
}
