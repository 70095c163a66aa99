/* load_json.c — reads HF's tokenizer.json into the pipeline's tagged stages. Each stage's "type"
 * picks its tag; a type kiln does not implement is KILN_ERR_UNSUPPORTED naming the file and the
 * type, never silently approximated. truncation, padding and decoder are not read (encoding here
 * neither truncates nor pads, and decoding is not implemented).
 */
#include "frontend/tokenizer/internal.h"

static const cJSON *field(const cJSON *obj, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static kiln_status unsupported(const char *path, const char *stage, const char *type, const char *supported) {
    return kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s type '%s' is not supported (kiln reads %s)", path, stage,
                      type, supported);
}

// The "type" of a stage object; KILN_ERR_FORMAT when the stage is not an object with a string type.
static kiln_status stage_type(const char *path, const char *stage, const cJSON *obj, const char **type) {
    if (!cJSON_IsObject(obj))
        return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected an object or null", path, stage);
    kiln_status st = fe_tok_json_string(path, stage, obj, "type", NULL, type);
    if (st == KILN_OK && !*type) st = kiln_error(KILN_ERR_FORMAT, "%s: %s.type: missing", path, stage);
    return st;
}

static kiln_status load_normalizer(fe_tokenizer *t, const char *path, const cJSON *obj) {
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, "normalizer", obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "BertNormalizer") != 0) return unsupported(path, "normalizer", type, "BertNormalizer");
    fe_tok_normalizer *nz = &t->normalizer;
    nz->kind = FE_TOK_NORMALIZER_BERT;
    bool strip_set = false;
    const char *where = "normalizer";
    if ((st = fe_tok_json_bool(path, where, obj, "clean_text", true, &nz->bert.clean_text)) ||
        (st = fe_tok_json_bool(path, where, obj, "handle_chinese_chars", true, &nz->bert.handle_chinese_chars)) ||
        (st = fe_tok_json_bool(path, where, obj, "lowercase", true, &nz->bert.lowercase)) ||
        (st = fe_tok_json_bool(path, where, obj, "strip_accents", false, &strip_set)))
        return st;
    // strip_accents: null means "as lowercase", which is how BERT's uncased models strip accents.
    const cJSON *strip = cJSON_GetObjectItemCaseSensitive(obj, "strip_accents");
    nz->bert.strip_accents = !strip || cJSON_IsNull(strip) ? nz->bert.lowercase : strip_set;
    return KILN_OK;
}

static kiln_status load_pretokenizer(fe_tokenizer *t, const char *path, const cJSON *obj) {
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, "pre_tokenizer", obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "BertPreTokenizer") != 0)
        return unsupported(path, "pre_tokenizer", type, "BertPreTokenizer");
    t->pretokenizer.kind = FE_TOK_PRETOK_BERT;
    return KILN_OK;
}

static kiln_status load_model(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    if (!obj) return kiln_error(KILN_ERR_FORMAT, "%s: model: missing", path);
    const char *type;
    kiln_status st = stage_type(path, "model", obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "WordPiece") != 0) return unsupported(path, "model", type, "WordPiece");
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_WORDPIECE;
    const char *unk, *prefix;
    int64_t max_chars;
    if ((st = fe_tok_json_string(path, "model", obj, "unk_token", "[UNK]", &unk)) ||
        (st = fe_tok_json_string(path, "model", obj, "continuing_subword_prefix", "##", &prefix)) ||
        (st = fe_tok_json_int(path, "model", obj, "max_input_chars_per_word", 0, INT32_MAX, 100, &max_chars)))
        return st;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(obj, "vocab");
    if (!cJSON_IsObject(vocab)) return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab: expected an object", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        if (!fe_tok_json_is_int(item, 0, INT32_MAX - 1))
            return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an id in [0, %d]", path,
                              item->string, INT32_MAX - 1);
        int32_t id = (int32_t)item->valuedouble;
        st = fe_tok_vocab_set(&m->vocab, t->arena, item->string, strlen(item->string), id, NULL);
        if (st != KILN_OK) return st;
        if (id >= t->n_ids) t->n_ids = id + 1;
    }
    m->wordpiece.unk_id = fe_tok_vocab_get(&m->vocab, unk, strlen(unk));
    if (m->wordpiece.unk_id < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: model.unk_token: '%s' is not in model.vocab", path, unk);
    m->wordpiece.prefix = kiln_arena_strdup(t->arena, prefix);
    m->wordpiece.prefix_len = strlen(prefix);
    m->wordpiece.max_input_chars_per_word = (int32_t)max_chars;
    names->names[FE_TOK_UNK] = kiln_arena_strdup(t->arena, unk);
    if (!m->wordpiece.prefix || !names->names[FE_TOK_UNK])
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return KILN_OK;
}

static kiln_status load_added_tokens(fe_tokenizer *t, const char *path, const cJSON *arr) {
    if (!arr || cJSON_IsNull(arr)) return KILN_OK;
    if (!cJSON_IsArray(arr)) return kiln_error(KILN_ERR_FORMAT, "%s: added_tokens: expected an array", path);
    int i = 0;
    const cJSON *obj;
    cJSON_ArrayForEach(obj, arr) {
        char where[48];
        snprintf(where, sizeof(where), "added_tokens[%d]", i++);
        if (!cJSON_IsObject(obj)) return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected an object", path, where);
        fe_tok_added_token a = {0};
        int64_t id;
        kiln_status st;
        if ((st = fe_tok_json_int(path, where, obj, "id", 0, INT32_MAX - 1, -1, &id)) ||
            (st = fe_tok_json_string(path, where, obj, "content", NULL, &a.content)) ||
            (st = fe_tok_json_bool(path, where, obj, "special", false, &a.special)) ||
            (st = fe_tok_json_bool(path, where, obj, "single_word", false, &a.single_word)) ||
            (st = fe_tok_json_bool(path, where, obj, "lstrip", false, &a.lstrip)) ||
            (st = fe_tok_json_bool(path, where, obj, "rstrip", false, &a.rstrip)) ||
            (st = fe_tok_json_bool(path, where, obj, "normalized", !a.special, &a.normalized)))
            return st;
        if (id < 0 || !a.content)
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: needs an \"id\" and a \"content\"", path, where);
        a.id = (int32_t)id;
        if ((st = fe_tok_add_token(t, &a))) return kiln_error_prefix(st, "%s: %s", path, where);
    }
    return KILN_OK;
}

// Looks up the ids of the special token `name` in TemplateProcessing's "special_tokens" map.
static kiln_status template_special(fe_tokenizer *t, const char *path, const cJSON *specials, const char *name,
                                    fe_tok_piece *piece) {
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(entry, "ids");
    if (!cJSON_IsArray(ids))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.special_tokens[\"%s\"].ids: missing", path,
                          name);
    piece->n_ids = cJSON_GetArraySize(ids);
    piece->ids = kiln_arena_alloc(t->arena, (size_t)piece->n_ids * sizeof(int32_t) + 1);
    if (!piece->ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int32_t k = 0;
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) {
        if (!fe_tok_json_is_int(id, 0, INT32_MAX - 1))
            return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.special_tokens[\"%s\"].ids: expected ids", path,
                              name);
        piece->ids[k++] = (int32_t)id->valuedouble;
    }
    return KILN_OK;
}

// One of TemplateProcessing's "single" / "pair" lists: {"SpecialToken": {"id": "[CLS]", "type_id": 0}}
// or {"Sequence": {"id": "A", "type_id": 0}} pieces.
static kiln_status load_template(fe_tokenizer *t, const char *path, const cJSON *pp, const char *which,
                                 fe_tok_template *tpl) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(pp, which);
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    if (!cJSON_IsArray(arr))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.%s: expected an array", path, which);
    tpl->n = cJSON_GetArraySize(arr);
    tpl->pieces = kiln_arena_alloc(t->arena, (size_t)tpl->n * sizeof(fe_tok_piece) + 1);
    if (!tpl->pieces) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int32_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        char where[64];
        snprintf(where, sizeof(where), "post_processor.%s[%d]", which, k);
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
        const cJSON *body = special ? special : cJSON_GetObjectItemCaseSensitive(item, "Sequence");
        fe_tok_piece *piece = &tpl->pieces[k++];
        const char *id;
        int64_t type_id;
        kiln_status st;
        if (!cJSON_IsObject(body))
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected {\"SpecialToken\": ...} or {\"Sequence\": ...}",
                              path, where);
        if ((st = fe_tok_json_string(path, where, body, "id", NULL, &id)) ||
            (st = fe_tok_json_int(path, where, body, "type_id", 0, INT32_MAX, 0, &type_id)))
            return st;
        if (!id) return kiln_error(KILN_ERR_FORMAT, "%s: %s.id: missing", path, where);
        piece->type_id = (int32_t)type_id;
        if (special) {
            piece->sequence = -1;
            if ((st = template_special(t, path, specials, id, piece))) return st;
        } else if (strcmp(id, "A") == 0 || (strcmp(id, "B") == 0 && strcmp(which, "pair") == 0)) {
            piece->sequence = id[0] == 'B';
        } else {
            return kiln_error(KILN_ERR_FORMAT, "%s: %s.id: '%s' is not a sequence of this template", path,
                              where, id);
        }
    }
    return KILN_OK;
}

// BertProcessing's "cls" / "sep": ["[CLS]", 101].
static kiln_status bert_special(fe_tokenizer *t, const char *path, const cJSON *pp, const char *which,
                                int32_t *id_out, char **name_out) {
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(pp, which);
    const cJSON *name = cJSON_GetArrayItem(pair, 0), *id = cJSON_GetArrayItem(pair, 1);
    if (!cJSON_IsArray(pair) || !cJSON_IsString(name) || !fe_tok_json_is_int(id, 0, INT32_MAX - 1))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.%s: expected [\"token\", id]", path, which);
    *id_out = (int32_t)id->valuedouble;
    *name_out = kiln_arena_strdup(t->arena, name->valuestring);
    return *name_out ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
}

static kiln_status load_post_processor(fe_tokenizer *t, const char *path, const cJSON *obj,
                                       fe_tok_names *names) {
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, "post_processor", obj, &type);
    if (st != KILN_OK) return st;
    fe_tok_postprocessor *pp = &t->post;
    if (strcmp(type, "TemplateProcessing") == 0) {
        pp->kind = FE_TOK_POST_TEMPLATE;
        if ((st = load_template(t, path, obj, "single", &pp->single)) ||
            (st = load_template(t, path, obj, "pair", &pp->pair)))
            return st;
        return KILN_OK;
    }
    if (strcmp(type, "BertProcessing") != 0)
        return unsupported(path, "post_processor", type, "TemplateProcessing, BertProcessing");
    int32_t cls, sep;
    if ((st = bert_special(t, path, obj, "cls", &cls, &names->names[FE_TOK_CLS])) ||
        (st = bert_special(t, path, obj, "sep", &sep, &names->names[FE_TOK_SEP])))
        return st;
    if (!fe_tok_post_bert(pp, t->arena, cls, sep))
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return KILN_OK;
}

kiln_status fe_tok_load_json(fe_tokenizer *t, const char *path, const char *text, fe_tok_names *names) {
    kiln_status st = KILN_OK;
    cJSON *root = fe_tok_json_parse(path, text, &st);
    if (!root) return st;
    if (!cJSON_IsObject(root)) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: expected a JSON object at the top level", path);
    } else {
        // The normalizer comes before added tokens: normalized ones are matched in normalized form.
        if (!st) st = load_normalizer(t, path, field(root, "normalizer"));
        if (!st) st = load_pretokenizer(t, path, field(root, "pre_tokenizer"));
        if (!st) st = load_model(t, path, field(root, "model"), names);
        if (!st) st = load_added_tokens(t, path, field(root, "added_tokens"));
        if (!st) st = load_post_processor(t, path, field(root, "post_processor"), names);
    }
    cJSON_Delete(root);
    return st;
}
