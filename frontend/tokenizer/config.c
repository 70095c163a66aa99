/* config.c — reads what kiln needs from transformers' tokenizer_config.json: BERT's normalizer
 * switches (do_lower_case, strip_accents, tokenize_chinese_chars), the special token names, and
 * added_tokens_decoder. Everything else in the file (model_max_length, tokenizer_class, ...) is
 * left to others.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status opt_bool(const char *path, const cJSON *root, const char *name, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = -1;
    if (!item || cJSON_IsNull(item)) return KILN_OK;
    if (!cJSON_IsBool(item))
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected true, false or null", path, name);
    *out = cJSON_IsTrue(item);
    return KILN_OK;
}

// A special token is named by a string or, in older files, by an AddedToken object {"content": ...}.
static kiln_status token_name(fe_tokenizer *t, const char *path, const cJSON *root, const char *name,
                              char **out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!item || cJSON_IsNull(item)) return KILN_OK;
    if (cJSON_IsObject(item)) item = cJSON_GetObjectItemCaseSensitive(item, "content");
    if (!cJSON_IsString(item))
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected a token string", path, name);
    *out = kiln_arena_strdup(t->arena, item->valuestring);
    return *out ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
}

// added_tokens_decoder: {"100": {"content": "[UNK]", "special": true, "normalized": false, ...}, ...}
static kiln_status added_tokens(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_config *cfg) {
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    if (!cJSON_IsObject(obj))
        return kiln_error(KILN_ERR_FORMAT, "%s: added_tokens_decoder: expected an object", path);
    cfg->added = kiln_arena_alloc(t->arena, (size_t)cJSON_GetArraySize(obj) * sizeof(*cfg->added) + 1);
    if (!cfg->added) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        char where[64], *end = NULL;
        snprintf(where, sizeof(where), "added_tokens_decoder[\"%.32s\"]", item->string);
        long id = strtol(item->string, &end, 10);
        if (end == item->string || *end || id < 0 || id >= INT32_MAX)
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: the key is not a token id", path, where);
        if (!cJSON_IsObject(item))
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected an object", path, where);
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

kiln_status fe_tok_read_config(fe_tokenizer *t, const char *path, const char *text, fe_tok_config *cfg) {
    *cfg = (fe_tok_config){.do_lower_case = -1, .strip_accents = -1, .tokenize_chinese_chars = -1};
    static const char *const fields[FE_TOK_SPECIAL_COUNT] = {
        [FE_TOK_UNK] = "unk_token", [FE_TOK_CLS] = "cls_token", [FE_TOK_SEP] = "sep_token",
        [FE_TOK_PAD] = "pad_token", [FE_TOK_MASK] = "mask_token",
    };
    kiln_status st = KILN_OK;
    cJSON *root = fe_tok_json_parse(path, text, &st);
    if (!root) return st;
    if (!cJSON_IsObject(root))
        st = kiln_error(KILN_ERR_FORMAT, "%s: expected a JSON object at the top level", path);
    if (!st) st = opt_bool(path, root, "do_lower_case", &cfg->do_lower_case);
    if (!st) st = opt_bool(path, root, "strip_accents", &cfg->strip_accents);
    if (!st) st = opt_bool(path, root, "tokenize_chinese_chars", &cfg->tokenize_chinese_chars);
    for (int i = 0; !st && i < FE_TOK_SPECIAL_COUNT; i++)
        st = token_name(t, path, root, fields[i], &cfg->names.names[i]);
    if (!st) st = added_tokens(t, path, cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder"), cfg);
    cJSON_Delete(root);
    return st;
}
