/* load_json.c — reads HF's tokenizer.json into the pipeline's tagged stages. Each stage's "type"
 * picks its tag; a type kiln does not implement is KILN_ERR_UNSUPPORTED naming the file and the
 * type, never silently approximated. tokenizer.json's own "padding" and "truncation" are not
 * applied (transformers turns them off for a call that does not ask for them); only their pad token
 * and directions serve as defaults, as transformers takes them.
 */
#include "frontend/tokenizer/internal.h"

static const cJSON *field(const cJSON *obj, const char *name) { return cJSON_GetObjectItemCaseSensitive(obj, name); }

static kiln_status unsupported(const char *path, const char *stage, const char *type, const char *supported) {
    return kiln_error(KILN_ERR_UNSUPPORTED, "%s: %s type '%s' is not supported (kiln reads %s)", path, stage, type,
                      supported);
}

static kiln_status oom(const char *path) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path); }

// The "type" of a stage object; KILN_ERR_FORMAT when the stage is not an object with a string type.
static kiln_status stage_type(const char *path, const char *stage, const cJSON *obj, const char **type) {
    if (!cJSON_IsObject(obj)) return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected an object or null", path, stage);
    kiln_status st = fe_tok_json_string(path, stage, obj, "type", NULL, type);
    if (st == KILN_OK && !*type) st = kiln_error(KILN_ERR_FORMAT, "%s: %s.type: missing", path, stage);
    return st;
}

// A string as code points in the arena.
static kiln_status code_points(fe_tokenizer *t, const char *path, const char *where, const char *s,
                               const uint32_t **out, int32_t *n_out) {
    size_t len = strlen(s);
    uint32_t *cps = kiln_arena_alloc(t->arena, (len + 1) * sizeof(uint32_t));
    if (!cps) return oom(path);
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        int l = fe_tok_utf8_decode((const unsigned char *)s + i, len - i, &cps[n]);
        if (!l) return kiln_error(KILN_ERR_FORMAT, "%s: %s: not valid UTF-8", path, where);
        i += (size_t)l;
        n++;
    }
    *out = cps;
    *n_out = n;
    return KILN_OK;
}

// A one-character string (Metaspace's replacement, CharDelimiterSplit's delimiter).
static kiln_status one_char(const char *path, const char *where, const cJSON *obj, const char *name, uint32_t dflt,
                            uint32_t *out) {
    const char *s;
    kiln_status st = fe_tok_json_string(path, where, obj, name, NULL, &s);
    if (st != KILN_OK) return st;
    if (!s) {
        *out = dflt;
        return KILN_OK;
    }
    int l = *s ? fe_tok_utf8_decode((const unsigned char *)s, strlen(s), out) : 0;
    if (!l || s[l]) return kiln_error(KILN_ERR_FORMAT, "%s: %s.%s: expected one character", path, where, name);
    return KILN_OK;
}

// {"String": "..."} or {"Regex": "..."}, compiled and owned by t.
static kiln_status pattern(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj,
                           fe_tok_regex **out) {
    const cJSON *p = field(obj, "pattern");
    const cJSON *s = field(p, "String"), *r = field(p, "Regex");
    if (!cJSON_IsObject(p) || (!cJSON_IsString(s) && !cJSON_IsString(r)))
        return kiln_error(KILN_ERR_FORMAT, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", path, where);
    const char *text = cJSON_IsString(s) ? s->valuestring : r->valuestring;
    char what[600];
    snprintf(what, sizeof(what), "%s: %s.pattern", path, where);
    kiln_status st = fe_tok_regex_compile(what, text, strlen(text), cJSON_IsString(s), out);
    if (st != KILN_OK) return st;
    return fe_tok_own_regex(t, *out) ? KILN_OK : oom(path);
}

static kiln_status prepend_scheme(const char *path, const char *where, const cJSON *obj, fe_tok_prepend_scheme *out) {
    const char *s;
    kiln_status st = fe_tok_json_string(path, where, obj, "prepend_scheme", NULL, &s);
    if (st != KILN_OK) return st;
    if (!s) {   // older files: add_prefix_space
        bool add;
        st = fe_tok_json_bool(path, where, obj, "add_prefix_space", true, &add);
        *out = add ? FE_TOK_PREPEND_ALWAYS : FE_TOK_PREPEND_NEVER;
        return st;
    }
    if (strcmp(s, "always") == 0) *out = FE_TOK_PREPEND_ALWAYS;
    else if (strcmp(s, "first") == 0) *out = FE_TOK_PREPEND_FIRST;
    else if (strcmp(s, "never") == 0) *out = FE_TOK_PREPEND_NEVER;
    else return kiln_error(KILN_ERR_FORMAT, "%s: %s.prepend_scheme: '%s' is not always, first or never", path, where, s);
    return KILN_OK;
}

// An array member as stages allocated in the arena.
static kiln_status children(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj, const char *name,
                            size_t size, void **out, int32_t *n_out) {
    const cJSON *arr = field(obj, name);
    if (!cJSON_IsArray(arr)) return kiln_error(KILN_ERR_FORMAT, "%s: %s.%s: expected an array", path, where, name);
    *n_out = cJSON_GetArraySize(arr);
    *out = kiln_arena_alloc(t->arena, (size_t)*n_out * size + 1);
    return *out ? KILN_OK : oom(path);
}

/* ---- normalizers ---------------------------------------------------------------------------------- */

static kiln_status load_normalizer(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj,
                                   fe_tok_normalizer *nz) {
    memset(nz, 0, sizeof(*nz));
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, where, obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "BertNormalizer") == 0) {
        nz->kind = FE_TOK_NORMALIZER_BERT;
        bool strip_set = false;
        if ((st = fe_tok_json_bool(path, where, obj, "clean_text", true, &nz->bert.clean_text)) ||
            (st = fe_tok_json_bool(path, where, obj, "handle_chinese_chars", true, &nz->bert.handle_chinese_chars)) ||
            (st = fe_tok_json_bool(path, where, obj, "lowercase", true, &nz->bert.lowercase)) ||
            (st = fe_tok_json_bool(path, where, obj, "strip_accents", false, &strip_set)))
            return st;
        // strip_accents: null means "as lowercase", which is how BERT's uncased models strip accents.
        const cJSON *strip = field(obj, "strip_accents");
        nz->bert.strip_accents = !strip || cJSON_IsNull(strip) ? nz->bert.lowercase : strip_set;
        return KILN_OK;
    }
    static const struct {
        const char *name;
        fe_tok_normalizer_kind kind;
    } simple[] = {
        {"NFC", FE_TOK_NORMALIZER_NFC},           {"NFD", FE_TOK_NORMALIZER_NFD},
        {"NFKC", FE_TOK_NORMALIZER_NFKC},         {"NFKD", FE_TOK_NORMALIZER_NFKD},
        {"Lowercase", FE_TOK_NORMALIZER_LOWERCASE}, {"StripAccents", FE_TOK_NORMALIZER_STRIP_ACCENTS},
        {"Nmt", FE_TOK_NORMALIZER_NMT},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(simple); i++) {
        if (strcmp(type, simple[i].name) != 0) continue;
        nz->kind = simple[i].kind;
        return KILN_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        nz->kind = FE_TOK_NORMALIZER_STRIP;
        if ((st = fe_tok_json_bool(path, where, obj, "strip_left", true, &nz->strip_left)) ||
            (st = fe_tok_json_bool(path, where, obj, "strip_right", true, &nz->strip_right)))
            return st;
        return KILN_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        nz->kind = FE_TOK_NORMALIZER_REPLACE;
        const char *content;
        if ((st = pattern(t, path, where, obj, &nz->pattern)) ||
            (st = fe_tok_json_string(path, where, obj, "content", NULL, &content)))
            return st;
        if (!content) return kiln_error(KILN_ERR_FORMAT, "%s: %s.content: missing", path, where);
        return code_points(t, path, where, content, &nz->content, &nz->n_content);
    }
    if (strcmp(type, "Prepend") == 0) {
        nz->kind = FE_TOK_NORMALIZER_PREPEND;
        const char *prepend;
        if ((st = fe_tok_json_string(path, where, obj, "prepend", NULL, &prepend))) return st;
        if (!prepend) return kiln_error(KILN_ERR_FORMAT, "%s: %s.prepend: missing", path, where);
        return code_points(t, path, where, prepend, &nz->content, &nz->n_content);
    }
    if (strcmp(type, "Sequence") == 0) {
        nz->kind = FE_TOK_NORMALIZER_SEQUENCE;
        if ((st = children(t, path, where, obj, "normalizers", sizeof(fe_tok_normalizer), (void **)&nz->seq,
                           &nz->n_seq)))
            return st;
        int32_t i = 0;
        const cJSON *child;
        cJSON_ArrayForEach(child, field(obj, "normalizers")) {
            char w[96];
            snprintf(w, sizeof(w), "%.60s.normalizers[%d]", where, i);
            if ((st = load_normalizer(t, path, w, child, &nz->seq[i++]))) return st;
        }
        return KILN_OK;
    }
    return unsupported(path, "normalizer", type,
                       "BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Nmt, "
                       "Sequence");
}

/* ---- pre-tokenizers ------------------------------------------------------------------------------ */

static kiln_status behavior(const char *path, const char *where, const cJSON *obj, fe_tok_behavior dflt,
                            fe_tok_behavior *out) {
    const char *s;
    kiln_status st = fe_tok_json_string(path, where, obj, "behavior", NULL, &s);
    if (st != KILN_OK) return st;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    *out = dflt;
    if (!s) return KILN_OK;
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (fe_tok_behavior)i;
            return KILN_OK;
        }
    return kiln_error(KILN_ERR_FORMAT, "%s: %s.behavior: '%s' is not a split behavior", path, where, s);
}

static kiln_status load_pretokenizer(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj,
                                     fe_tok_pretokenizer *p) {
    memset(p, 0, sizeof(*p));
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, where, obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "BertPreTokenizer") == 0) {
        p->kind = FE_TOK_PRETOK_BERT;
    } else if (strcmp(type, "ByteLevel") == 0) {
        p->kind = FE_TOK_PRETOK_BYTE_LEVEL;
        if ((st = fe_tok_json_bool(path, where, obj, "add_prefix_space", true, &p->add_prefix_space)) ||
            (st = fe_tok_json_bool(path, where, obj, "use_regex", true, &p->use_regex)))
            return st;
    } else if (strcmp(type, "Whitespace") == 0) {
        p->kind = FE_TOK_PRETOK_WHITESPACE;
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        p->kind = FE_TOK_PRETOK_WHITESPACE_SPLIT;
    } else if (strcmp(type, "Metaspace") == 0) {
        p->kind = FE_TOK_PRETOK_METASPACE;
        if ((st = one_char(path, where, obj, "replacement", 0x2581, &p->replacement)) ||
            (st = prepend_scheme(path, where, obj, &p->prepend_scheme)) ||
            (st = fe_tok_json_bool(path, where, obj, "split", true, &p->split)))
            return st;
    } else if (strcmp(type, "Split") == 0) {
        p->kind = FE_TOK_PRETOK_SPLIT;
        if ((st = pattern(t, path, where, obj, &p->pattern)) ||
            (st = behavior(path, where, obj, FE_TOK_REMOVED, &p->behavior)) ||
            (st = fe_tok_json_bool(path, where, obj, "invert", false, &p->invert)))
            return st;
        if (!field(obj, "behavior")) return kiln_error(KILN_ERR_FORMAT, "%s: %s.behavior: missing", path, where);
    } else if (strcmp(type, "Punctuation") == 0) {
        p->kind = FE_TOK_PRETOK_PUNCTUATION;
        if ((st = behavior(path, where, obj, FE_TOK_ISOLATED, &p->behavior))) return st;
    } else if (strcmp(type, "Digits") == 0) {
        p->kind = FE_TOK_PRETOK_DIGITS;
        if ((st = fe_tok_json_bool(path, where, obj, "individual_digits", false, &p->individual_digits))) return st;
    } else if (strcmp(type, "CharDelimiterSplit") == 0) {
        p->kind = FE_TOK_PRETOK_CHAR_DELIMITER;
        if ((st = one_char(path, where, obj, "delimiter", 0, &p->delimiter))) return st;
        if (!field(obj, "delimiter")) return kiln_error(KILN_ERR_FORMAT, "%s: %s.delimiter: missing", path, where);
    } else if (strcmp(type, "Sequence") == 0) {
        p->kind = FE_TOK_PRETOK_SEQUENCE;
        if ((st = children(t, path, where, obj, "pretokenizers", sizeof(fe_tok_pretokenizer), (void **)&p->seq,
                           &p->n_seq)))
            return st;
        int32_t i = 0;
        const cJSON *child;
        cJSON_ArrayForEach(child, field(obj, "pretokenizers")) {
            char w[96];
            snprintf(w, sizeof(w), "%.60s.pretokenizers[%d]", where, i);
            if ((st = load_pretokenizer(t, path, w, child, &p->seq[i++]))) return st;
        }
    } else {
        return unsupported(path, "pre_tokenizer", type,
                           "BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Metaspace, Split, Punctuation, "
                           "Digits, CharDelimiterSplit, Sequence");
    }
    return KILN_OK;
}

/* ---- models ---------------------------------------------------------------------------------------- */

// model.vocab as {"token": id, ...}.
static kiln_status vocab_object(fe_tokenizer *t, const char *path, const cJSON *obj) {
    fe_tok_model *m = &t->model;
    const cJSON *vocab = field(obj, "vocab");
    if (!cJSON_IsObject(vocab)) return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab: expected an object", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        if (!fe_tok_json_is_int(item, 0, INT32_MAX - 1))
            return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an id in [0, %d]", path, item->string,
                              INT32_MAX - 1);
        int32_t id = (int32_t)item->valuedouble;
        kiln_status st = fe_tok_vocab_set(&m->vocab, t->arena, item->string, strlen(item->string), id, NULL);
        if (st != KILN_OK) return st;
        if (fe_tok_check_utf8("model.vocab", item->string, strlen(item->string)) != KILN_OK)
            return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab: a token is not valid UTF-8", path);
        if (id >= t->n_ids) t->n_ids = id + 1;
        m->n_vocab++;
    }
    return KILN_OK;
}

static kiln_status load_wordpiece(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_WORDPIECE;
    const char *unk, *prefix;
    int64_t max_chars;
    kiln_status st;
    if ((st = fe_tok_json_string(path, "model", obj, "unk_token", "[UNK]", &unk)) ||
        (st = fe_tok_json_string(path, "model", obj, "continuing_subword_prefix", "##", &prefix)) ||
        (st = fe_tok_json_int(path, "model", obj, "max_input_chars_per_word", 0, INT32_MAX, 100, &max_chars)) ||
        (st = vocab_object(t, path, obj)))
        return st;
    m->unk_id = fe_tok_vocab_get(&m->vocab, unk, strlen(unk));
    if (m->unk_id < 0) return kiln_error(KILN_ERR_FORMAT, "%s: model.unk_token: '%s' is not in model.vocab", path, unk);
    m->wordpiece.prefix = kiln_arena_strdup(t->arena, prefix);
    m->wordpiece.prefix_len = strlen(prefix);
    m->wordpiece.max_input_chars_per_word = (int32_t)max_chars;
    names->names[FE_TOK_UNK] = kiln_arena_strdup(t->arena, unk);
    if (!m->wordpiece.prefix || !names->names[FE_TOK_UNK]) return oom(path);
    return KILN_OK;
}

static kiln_status load_wordlevel(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_WORDLEVEL;
    const char *unk;
    kiln_status st;
    if ((st = fe_tok_json_string(path, "model", obj, "unk_token", NULL, &unk)) || (st = vocab_object(t, path, obj)))
        return st;
    m->unk_id = unk ? fe_tok_vocab_get(&m->vocab, unk, strlen(unk)) : -1;
    if (unk && !(names->names[FE_TOK_UNK] = kiln_arena_strdup(t->arena, unk))) return oom(path);
    return KILN_OK;
}

// An optional string field copied into the arena (NULL when absent or null).
static kiln_status arena_string(fe_tokenizer *t, const char *path, const cJSON *obj, const char *name, const char **out,
                                size_t *len) {
    const char *s;
    kiln_status st = fe_tok_json_string(path, "model", obj, name, NULL, &s);
    if (st != KILN_OK) return st;
    *out = NULL, *len = 0;
    if (!s || !*s) return KILN_OK;
    if (!(*out = kiln_arena_strdup(t->arena, s))) return oom(path);
    *len = strlen(s);
    return KILN_OK;
}

static kiln_status load_bpe(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_BPE;
    const char *unk;
    kiln_status st;
    if ((st = fe_tok_json_string(path, "model", obj, "unk_token", NULL, &unk)) ||
        (st = arena_string(t, path, obj, "continuing_subword_prefix", &m->bpe.prefix, &m->bpe.prefix_len)) ||
        (st = arena_string(t, path, obj, "end_of_word_suffix", &m->bpe.suffix, &m->bpe.suffix_len)) ||
        (st = fe_tok_json_bool(path, "model", obj, "fuse_unk", false, &m->bpe.fuse_unk)) ||
        (st = fe_tok_json_bool(path, "model", obj, "byte_fallback", false, &m->bpe.byte_fallback)) ||
        (st = fe_tok_json_bool(path, "model", obj, "ignore_merges", false, &m->bpe.ignore_merges)) ||
        (st = vocab_object(t, path, obj)))
        return st;
    const cJSON *dropout = field(obj, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !cJSON_IsNumber(dropout))
        return kiln_error(KILN_ERR_FORMAT, "%s: model.dropout: expected a number or null", path);
    m->unk_id = -1;
    if (unk) {
        // Missing from the vocabulary (-2): HF fails only when a character needs it, and so does kiln.
        m->unk_id = fe_tok_vocab_get(&m->vocab, unk, strlen(unk));
        if (m->unk_id < 0) m->unk_id = -2;
        if (!(names->names[FE_TOK_UNK] = kiln_arena_strdup(t->arena, unk))) return oom(path);
    }
    const cJSON *merges = field(obj, "merges");
    if (!cJSON_IsArray(merges)) return kiln_error(KILN_ERR_FORMAT, "%s: model.merges: expected an array", path);
    int32_t rank = 0;
    const cJSON *mg;
    cJSON_ArrayForEach(mg, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(mg)) {   // "a b"
            const char *s = mg->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return kiln_error(KILN_ERR_FORMAT, "%s: model.merges[%d]: '%s' is not two tokens", path, rank, s);
            a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(sp + 1);
        } else if (cJSON_IsArray(mg) && cJSON_GetArraySize(mg) == 2 && cJSON_IsString(cJSON_GetArrayItem(mg, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(mg, 1))) {   // ["a", "b"]
            a = cJSON_GetArrayItem(mg, 0)->valuestring, b = cJSON_GetArrayItem(mg, 1)->valuestring;
            al = strlen(a), bl = strlen(b);
        } else {
            return kiln_error(KILN_ERR_FORMAT, "%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", path, rank);
        }
        if ((st = fe_tok_bpe_add_merge(t, path, rank, a, al, b, bl))) return st;
        rank++;
    }
    return fe_tok_bpe_finish(t, path);
}

static kiln_status load_unigram(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    fe_tok_model *m = &t->model;
    m->kind = FE_TOK_MODEL_UNIGRAM;
    const cJSON *vocab = field(obj, "vocab");
    int64_t unk_id;
    kiln_status st;
    if (!cJSON_IsArray(vocab))
        return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab: expected an array of [piece, score]", path);
    if ((st = fe_tok_json_int(path, "model", obj, "unk_id", 0, INT32_MAX - 1, -1, &unk_id)) ||
        (st = fe_tok_json_bool(path, "model", obj, "byte_fallback", false, &m->unigram.byte_fallback)))
        return st;
    int32_t n = cJSON_GetArraySize(vocab);
    if (n == 0) return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab: empty (Unigram needs at least its unk piece)", path);
    if (unk_id >= n) return kiln_error(KILN_ERR_FORMAT, "%s: model.unk_id: %lld is past the vocabulary (%d)", path,
                                       (long long)unk_id, n);
    m->unigram.scores = kiln_arena_alloc(t->arena, (size_t)n * sizeof(double));
    m->unigram.pieces = kiln_arena_alloc(t->arena, (size_t)n * sizeof(char *));
    m->unigram.lens = kiln_arena_alloc(t->arena, (size_t)n * sizeof(uint32_t));
    if (!m->unigram.scores || !m->unigram.pieces || !m->unigram.lens) return oom(path);
    int32_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        const cJSON *piece = cJSON_GetArrayItem(item, 0), *score = cJSON_GetArrayItem(item, 1);
        if (!cJSON_IsArray(item) || !cJSON_IsString(piece) || !cJSON_IsNumber(score))
            return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab[%d]: expected [piece, score]", path, i);
        size_t len = strlen(piece->valuestring);
        if (fe_tok_check_utf8("piece", piece->valuestring, len) != KILN_OK)
            return kiln_error(KILN_ERR_FORMAT, "%s: model.vocab[%d]: not valid UTF-8", path, i);
        const char *key;
        if ((st = fe_tok_vocab_set(&m->vocab, t->arena, piece->valuestring, len, i, &key))) return st;
        m->unigram.pieces[i] = key;
        m->unigram.lens[i] = (uint32_t)len;
        m->unigram.scores[i] = score->valuedouble;
        i++;
    }
    m->n_vocab = n;
    t->n_ids = n;
    m->unk_id = (int32_t)unk_id;
    if (unk_id >= 0 && !(names->names[FE_TOK_UNK] = kiln_arena_strdup(t->arena, m->unigram.pieces[unk_id])))
        return oom(path);
    return fe_tok_unigram_finish(t, path);
}

static kiln_status load_model(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    if (!obj) return kiln_error(KILN_ERR_FORMAT, "%s: model: missing", path);
    const char *type = NULL;
    kiln_status st;
    if (cJSON_IsObject(obj) && !field(obj, "type")) {
        // Older files leave the model's type out; its fields tell.
        if (field(obj, "merges")) type = "BPE";
        else if (cJSON_IsArray(field(obj, "vocab"))) type = "Unigram";
        else if (field(obj, "max_input_chars_per_word")) type = "WordPiece";
        else type = "WordLevel";
    } else if ((st = stage_type(path, "model", obj, &type))) {
        return st;
    }
    if (strcmp(type, "WordPiece") == 0) return load_wordpiece(t, path, obj, names);
    if (strcmp(type, "BPE") == 0) return load_bpe(t, path, obj, names);
    if (strcmp(type, "Unigram") == 0) return load_unigram(t, path, obj, names);
    if (strcmp(type, "WordLevel") == 0) return load_wordlevel(t, path, obj, names);
    return unsupported(path, "model", type, "WordPiece, BPE, Unigram, WordLevel");
}

/* ---- added tokens ------------------------------------------------------------------------------------- */

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

/* ---- post-processors ----------------------------------------------------------------------------------- */

// Looks up the ids of the special token `name` in TemplateProcessing's "special_tokens" map.
static kiln_status template_special(fe_tokenizer *t, const char *path, const cJSON *specials, const char *name,
                                    fe_tok_piece *piece) {
    const cJSON *ids = field(field(specials, name), "ids");
    if (!cJSON_IsArray(ids))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.special_tokens[\"%s\"].ids: missing", path, name);
    piece->n_ids = cJSON_GetArraySize(ids);
    piece->ids = kiln_arena_alloc(t->arena, (size_t)piece->n_ids * sizeof(int32_t) + 1);
    if (!piece->ids) return oom(path);
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
    const cJSON *arr = field(pp, which);
    const cJSON *specials = field(pp, "special_tokens");
    if (!cJSON_IsArray(arr))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.%s: expected an array", path, which);
    tpl->n = cJSON_GetArraySize(arr);
    tpl->pieces = kiln_arena_alloc(t->arena, (size_t)tpl->n * sizeof(fe_tok_piece) + 1);
    if (!tpl->pieces) return oom(path);
    int32_t k = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        char where[64];
        snprintf(where, sizeof(where), "post_processor.%s[%d]", which, k);
        const cJSON *special = field(item, "SpecialToken");
        const cJSON *body = special ? special : field(item, "Sequence");
        fe_tok_piece *piece = &tpl->pieces[k++];
        const char *id;
        int64_t type_id;
        kiln_status st;
        if (!cJSON_IsObject(body))
            return kiln_error(KILN_ERR_FORMAT, "%s: %s: expected {\"SpecialToken\": ...} or {\"Sequence\": ...}", path,
                              where);
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
            return kiln_error(KILN_ERR_FORMAT, "%s: %s.id: '%s' is not a sequence of this template", path, where, id);
        }
    }
    return KILN_OK;
}

// BertProcessing's / RobertaProcessing's "cls" / "sep": ["[CLS]", 101].
static kiln_status bert_special(fe_tokenizer *t, const char *path, const cJSON *pp, const char *which, int32_t *id_out,
                                char **name_out) {
    const cJSON *pair = field(pp, which);
    const cJSON *name = cJSON_GetArrayItem(pair, 0), *id = cJSON_GetArrayItem(pair, 1);
    if (!cJSON_IsArray(pair) || !cJSON_IsString(name) || !fe_tok_json_is_int(id, 0, INT32_MAX - 1))
        return kiln_error(KILN_ERR_FORMAT, "%s: post_processor.%s: expected [\"token\", id]", path, which);
    *id_out = (int32_t)id->valuedouble;
    *name_out = kiln_arena_strdup(t->arena, name->valuestring);
    return *name_out ? KILN_OK : oom(path);
}

// Reads one post-processor into pp; *has_template tells whether it fixed the template.
static kiln_status load_post(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj,
                             fe_tok_names *names, bool *has_template) {
    fe_tok_postprocessor *pp = &t->post;
    const char *type;
    kiln_status st = stage_type(path, where, obj, &type);
    if (st != KILN_OK) return st;
    if (strcmp(type, "TemplateProcessing") == 0) {
        if (*has_template) return unsupported(path, where, "a second template", "one per tokenizer");
        *has_template = true;
        if ((st = load_template(t, path, obj, "single", &pp->single)) ||
            (st = load_template(t, path, obj, "pair", &pp->pair)))
            return st;
        return KILN_OK;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        bool roberta = type[0] == 'R';
        if (*has_template) return unsupported(path, where, "a second template", "one per tokenizer");
        *has_template = true;
        int32_t cls, sep;
        if ((st = bert_special(t, path, obj, "cls", &cls, &names->names[FE_TOK_CLS])) ||
            (st = bert_special(t, path, obj, "sep", &sep, &names->names[FE_TOK_SEP])))
            return st;
        if (!fe_tok_post_bert(pp, t->arena, cls, sep, roberta)) return oom(path);
        if (roberta) {
            if ((st = fe_tok_json_bool(path, where, obj, "trim_offsets", true, &pp->trim_offsets)) ||
                (st = fe_tok_json_bool(path, where, obj, "add_prefix_space", true, &pp->trim_add_prefix_space)))
                return st;
        }
        return KILN_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if ((st = fe_tok_json_bool(path, where, obj, "trim_offsets", true, &pp->trim_offsets)) ||
            (st = fe_tok_json_bool(path, where, obj, "add_prefix_space", true, &pp->trim_add_prefix_space)))
            return st;
        return KILN_OK;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *arr = field(obj, "processors");
        if (!cJSON_IsArray(arr)) return kiln_error(KILN_ERR_FORMAT, "%s: %s.processors: expected an array", path, where);
        int32_t i = 0;
        const cJSON *child;
        cJSON_ArrayForEach(child, arr) {
            char w[96];
            snprintf(w, sizeof(w), "%.60s.processors[%d]", where, i++);
            if ((st = load_post(t, path, w, child, names, has_template))) return st;
        }
        return KILN_OK;
    }
    return unsupported(path, "post_processor", type,
                       "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

static kiln_status load_post_processor(fe_tokenizer *t, const char *path, const cJSON *obj, fe_tok_names *names) {
    bool has_template = false;
    kiln_status st = KILN_OK;
    if (obj && !cJSON_IsNull(obj)) st = load_post(t, path, "post_processor", obj, names, &has_template);
    if (st == KILN_OK && !has_template && !fe_tok_post_default(&t->post, t->arena)) st = oom(path);
    return st;
}

/* ---- decoders ----------------------------------------------------------------------------------------- */

static kiln_status load_decoder(fe_tokenizer *t, const char *path, const char *where, const cJSON *obj,
                                fe_tok_decoder *d) {
    memset(d, 0, sizeof(*d));
    if (!obj || cJSON_IsNull(obj)) return KILN_OK;
    const char *type;
    kiln_status st = stage_type(path, where, obj, &type);
    if (st != KILN_OK) return st;
    const char *s;
    if (strcmp(type, "WordPiece") == 0) {
        d->kind = FE_TOK_DECODER_WORDPIECE;
        if ((st = fe_tok_json_string(path, where, obj, "prefix", "##", &s)) ||
            (st = fe_tok_json_bool(path, where, obj, "cleanup", true, &d->cleanup)))
            return st;
        if (!(d->prefix = kiln_arena_strdup(t->arena, s))) return oom(path);
    } else if (strcmp(type, "ByteLevel") == 0) {
        d->kind = FE_TOK_DECODER_BYTE_LEVEL;
    } else if (strcmp(type, "Metaspace") == 0) {
        d->kind = FE_TOK_DECODER_METASPACE;
        if ((st = one_char(path, where, obj, "replacement", 0x2581, &d->replacement)) ||
            (st = prepend_scheme(path, where, obj, &d->prepend_scheme)))
            return st;
    } else if (strcmp(type, "BPEDecoder") == 0) {
        d->kind = FE_TOK_DECODER_BPE;
        if ((st = fe_tok_json_string(path, where, obj, "suffix", "</w>", &s))) return st;
        if (!(d->suffix = kiln_arena_strdup(t->arena, s))) return oom(path);
    } else if (strcmp(type, "Replace") == 0) {
        d->kind = FE_TOK_DECODER_REPLACE;
        if ((st = pattern(t, path, where, obj, &d->pattern)) ||
            (st = fe_tok_json_string(path, where, obj, "content", NULL, &s)))
            return st;
        if (!s) return kiln_error(KILN_ERR_FORMAT, "%s: %s.content: missing", path, where);
        if (!(d->content = kiln_arena_strdup(t->arena, s))) return oom(path);
    } else if (strcmp(type, "ByteFallback") == 0) {
        d->kind = FE_TOK_DECODER_BYTE_FALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        d->kind = FE_TOK_DECODER_FUSE;
    } else if (strcmp(type, "Strip") == 0) {
        d->kind = FE_TOK_DECODER_STRIP;
        int64_t start, stop;
        if ((st = one_char(path, where, obj, "content", ' ', &d->strip_char)) ||
            (st = fe_tok_json_int(path, where, obj, "start", 0, INT32_MAX, 0, &start)) ||
            (st = fe_tok_json_int(path, where, obj, "stop", 0, INT32_MAX, 0, &stop)))
            return st;
        char u[5] = {0};
        fe_tok_utf8_encode(d->strip_char, u);
        if (!(d->content = kiln_arena_strdup(t->arena, u))) return oom(path);
        d->strip_start = (int32_t)start, d->strip_stop = (int32_t)stop;
    } else if (strcmp(type, "Sequence") == 0) {
        d->kind = FE_TOK_DECODER_SEQUENCE;
        if ((st = children(t, path, where, obj, "decoders", sizeof(fe_tok_decoder), (void **)&d->seq, &d->n_seq)))
            return st;
        int32_t i = 0;
        const cJSON *child;
        cJSON_ArrayForEach(child, field(obj, "decoders")) {
            char w[96];
            snprintf(w, sizeof(w), "%.60s.decoders[%d]", where, i);
            if ((st = load_decoder(t, path, w, child, &d->seq[i++]))) return st;
        }
    } else {
        return unsupported(path, "decoder", type,
                           "WordPiece, ByteLevel, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence");
    }
    return KILN_OK;
}

// tokenizer.json's "padding" and "truncation": not applied, but transformers takes its pad token,
// pad type id and sides from them when tokenizer_config.json does not say.
static kiln_status load_defaults(fe_tokenizer *t, const char *path, const cJSON *root, fe_tok_names *names) {
    const cJSON *pad = field(root, "padding"), *trunc = field(root, "truncation");
    kiln_status st;
    if (cJSON_IsObject(pad)) {
        const char *tok, *dir;
        int64_t type_id;
        if ((st = fe_tok_json_string(path, "padding", pad, "pad_token", NULL, &tok)) ||
            (st = fe_tok_json_string(path, "padding", pad, "direction", "Right", &dir)) ||
            (st = fe_tok_json_int(path, "padding", pad, "pad_type_id", 0, INT32_MAX, 0, &type_id)))
            return st;
        if (tok && !(names->names[FE_TOK_PAD] = names->json_pad = kiln_arena_strdup(t->arena, tok))) return oom(path);
        t->padding_left = strcmp(dir, "Left") == 0;
        t->pad_type_id = (int32_t)type_id;
    }
    if (cJSON_IsObject(trunc)) {
        const char *dir;
        if ((st = fe_tok_json_string(path, "truncation", trunc, "direction", "Right", &dir))) return st;
        t->truncation_left = strcmp(dir, "Left") == 0;
    }
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
        if (!st) st = load_normalizer(t, path, "normalizer", field(root, "normalizer"), &t->normalizer);
        if (!st) st = load_pretokenizer(t, path, "pre_tokenizer", field(root, "pre_tokenizer"), &t->pretokenizer);
        if (!st) st = load_model(t, path, field(root, "model"), names);
        if (!st) st = load_added_tokens(t, path, field(root, "added_tokens"));
        if (!st) st = load_post_processor(t, path, field(root, "post_processor"), names);
        if (!st) st = load_decoder(t, path, "decoder", field(root, "decoder"), &t->decoder);
        if (!st) st = load_defaults(t, path, root, names);
    }
    cJSON_Delete(root);
    return st;
}
