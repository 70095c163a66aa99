/* tokenizer.c — opening and closing tokenizers and answering vocabulary questions. Picks the file
 * a checkpoint has (tokenizer.json before vocab.json + merges.txt before vocab.txt, as transformers
 * does; or a GGUF file's metadata), hands it to its loader, applies tokenizer_config.json, then builds what lookups need: the
 * id -> token table, the added-token tries and the special token ids.
 */
#include "frontend/tokenizer/internal.h"

#include <sys/stat.h>
#include <unistd.h>

static const char *const default_names[FE_TOK_SPECIAL_COUNT] = {
    [FE_TOK_UNK] = "[UNK]", [FE_TOK_CLS] = "[CLS]", [FE_TOK_SEP] = "[SEP]",
    [FE_TOK_PAD] = "[PAD]", [FE_TOK_MASK] = "[MASK]",
};

fe_tokenizer *fe_tok_new(void) {
    fe_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->arena = kiln_arena_create(0);
    if (!t->arena) {
        free(t);
        return NULL;
    }
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) t->special_ids[i] = -1;
    fe_tok_trie_free(&t->added_trie[0]);   // empty tries answer "no child"
    fe_tok_trie_free(&t->added_trie[1]);
    t->model.unk_id = -1;
    t->model_max_length = -1;
    extern const char fe_tok_gpt2_pattern[];
    if (fe_tok_regex_compile("ByteLevel", fe_tok_gpt2_pattern, strlen(fe_tok_gpt2_pattern), false, &t->gpt2_regex)) {
        kiln_arena_free(t->arena);
        free(t);
        return NULL;
    }
    return t;
}

bool fe_tok_own_regex(fe_tokenizer *t, fe_tok_regex *re) {
    if (t->n_regexes == t->cap_regexes) {
        int32_t cap = t->cap_regexes ? 2 * t->cap_regexes : 8;
        fe_tok_regex **v = realloc(t->regexes, (size_t)cap * sizeof(*v));
        if (!v) {
            fe_tok_regex_free(re);
            return false;
        }
        t->regexes = v, t->cap_regexes = cap;
    }
    t->regexes[t->n_regexes++] = re;
    return true;
}

void fe_tokenizer_free(fe_tokenizer *t) {
    if (!t) return;
    fe_tok_vocab_free(&t->model.vocab);
    fe_tok_vocab_free(&t->added_vocab);
    free(t->model.bpe.merges);
    fe_tok_trie_free(&t->model.unigram.trie);
    fe_tok_trie_free(&t->added_trie[0]);
    fe_tok_trie_free(&t->added_trie[1]);
    for (int32_t i = 0; i < t->n_regexes; i++) fe_tok_regex_free(t->regexes[i]);
    free(t->regexes);
    fe_tok_regex_free(t->gpt2_regex);
    free(t->added);
    kiln_arena_free(t->arena);
    free(t);
}

kiln_status fe_tok_finish(fe_tokenizer *t, const fe_tok_names *names) {
    // Ids may have gaps, but a file should not make kiln allocate gigabytes for a few tokens.
    int64_t n_tokens = (int64_t)t->model.vocab.n + t->n_added;
    if (t->n_ids > 4 * n_tokens + 65536)
        return kiln_error(KILN_ERR_FORMAT, "token ids reach %d for only %lld tokens", t->n_ids - 1, (long long)n_tokens);
    int32_t n = t->n_ids ? t->n_ids : 1;
    t->id_to_token = kiln_arena_alloc(t->arena, (size_t)n * sizeof(*t->id_to_token));
    t->id_is_special = kiln_arena_alloc(t->arena, (size_t)n);
    if (!t->id_to_token || !t->id_is_special) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    const fe_tok_vocab *v = &t->model.vocab;
    if (t->model.kind == FE_TOK_MODEL_UNIGRAM) {
        for (int32_t i = 0; i < t->model.n_vocab; i++) t->id_to_token[i] = t->model.unigram.pieces[i];
    } else {
        for (uint32_t i = 0; i < v->cap; i++)
            if (v->slots[i].key) t->id_to_token[v->slots[i].id] = v->slots[i].key;
    }
    for (int32_t i = 0; i < t->n_added; i++) t->id_to_token[t->added[i].id] = t->added[i].content;
    // Decoding skips a token whose string is a special added token's (HF's is_special_token).
    fe_tok_vocab specials = {0};
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < t->n_added; i++)
        if (t->added[i].special)
            st = fe_tok_vocab_set(&specials, t->arena, t->added[i].content, strlen(t->added[i].content), 1, NULL);
    for (int32_t id = 0; st == KILN_OK && id < t->n_ids && specials.n; id++) {
        const char *s = t->id_to_token[id];
        t->id_is_special[id] = s && fe_tok_vocab_get(&specials, s, strlen(s)) >= 0;
    }
    fe_tok_vocab_free(&specials);
    if (st != KILN_OK) return st;
    if ((st = fe_tok_added_finish(t)) != KILN_OK || (st = fe_tok_post_finish(t)) != KILN_OK) return st;
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) {
        const char *name = names && names->names[i] ? names->names[i] : default_names[i];
        t->special_ids[i] = name ? fe_tokenizer_token_to_id(t, name) : -1;
    }
    return KILN_OK;
}

// What transformers' TokenizersBackend does on top of tokenizer.json: the special tokens the
// configuration names (bos, eos, unk, sep, pad, cls, mask, model-specific "..._token" names, then
// extra_special_tokens) become special added tokens when they are not added tokens yet. (It leaves
// the post-processor alone, add_bos_token / add_eos_token in the file notwithstanding.)
static kiln_status add_named_tokens(fe_tokenizer *t, const fe_tok_config *cfg, const fe_tok_names *names) {
    static const fe_tok_special order[] = {FE_TOK_BOS, FE_TOK_EOS, FE_TOK_UNK, FE_TOK_SEP, FE_TOK_PAD, FE_TOK_CLS, FE_TOK_MASK};
    const int32_t n_named = (int32_t)KILN_ARRAY_SIZE(order);
    for (int32_t i = 0; i < n_named + cfg->n_extra; i++) {
        const char *name = i < n_named ? cfg->names.names[order[i]] : cfg->extra[i - n_named];
        if (!name && i < n_named && order[i] == FE_TOK_PAD) name = names->json_pad;
        if (!name || !*name || fe_tok_vocab_get(&t->added_vocab, name, strlen(name)) >= 0) continue;
        fe_tok_added_token a = {.content = name, .id = -1, .special = true};
        kiln_status st = fe_tok_add_token(t, &a);
        if (st != KILN_OK) return st;
    }
    return KILN_OK;
}

// Opens tokenizer.json, with tokenizer_config.json and special_tokens_map.json from `dir` (may be NULL).
static kiln_status open_json(const fe_tok_src *src, const char *path, const char *dir, fe_tokenizer **out) {
    kiln_status status = KILN_ERR_OUT_OF_MEMORY;
    char *text = NULL;
    fe_tok_names names = {.json_pad = NULL};
    fe_tok_config cfg;
    fe_tok_config_init(&cfg);
    fe_tokenizer *t = fe_tok_new();
    if (!t) {
        kiln_error(status, "%s: out of memory", path);
        goto error;
    }
    if ((status = fe_tok_src_read(src, path, &text, NULL)) != KILN_OK) goto error;
    if ((status = fe_tok_load_json(t, path, text, &names)) != KILN_OK) goto error;
    if (dir) {
        if ((status = fe_tok_read_config_dir(t, src, dir, &cfg)) != KILN_OK) goto error;
        fe_tok_apply_config(t, &cfg, &names);
        for (int32_t i = 0; i < cfg.n_added; i++) {   // tokens tokenizer.json does not have already
            const char *c = cfg.added[i].content;
            if (fe_tok_vocab_get(&t->added_vocab, c, strlen(c)) >= 0) continue;
            if ((status = fe_tok_add_token(t, &cfg.added[i])) != KILN_OK) {
                kiln_error_prefix(status, "%s/tokenizer_config.json: added_tokens_decoder", dir);
                goto error;
            }
        }
        if ((status = add_named_tokens(t, &cfg, &names)) != KILN_OK) goto error;
    }
    if ((status = fe_tok_finish(t, &names)) != KILN_OK) {
        kiln_error_prefix(status, "%s", path);
        goto error;
    }
    free(text);
    *out = t;
    return KILN_OK;
error:
    free(text);
    fe_tokenizer_free(t);
    return status;
}

kiln_status fe_tokenizer_open_file(const char *tokenizer_json_path, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!tokenizer_json_path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open_file: NULL argument");
    return open_json(NULL, tokenizer_json_path, NULL, out);
}

// A regular file that starts with GGUF's magic (a directory, or anything else, is not).
static bool is_gguf_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool yes = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f) fclose(f);
    return yes;
}

kiln_status fe_tokenizer_open(const char *dir, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open: NULL argument");
    if (is_gguf_file(dir)) return fe_tokenizer_open_gguf(dir, out);
    return fe_tokenizer_open_src(NULL, dir, out);
}

kiln_status fe_tokenizer_open_src(const fe_tok_src *src, const char *dir, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open: NULL argument");
    char *json = kiln_path_join(dir, "tokenizer.json");
    char *vocab = kiln_path_join(dir, "vocab.txt");
    char *vjson = kiln_path_join(dir, "vocab.json");
    char *merges = kiln_path_join(dir, "merges.txt");
    char *config = kiln_path_join(dir, "tokenizer_config.json");
    kiln_status st;
    if (!json || !vocab || !vjson || !merges || !config) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    } else if (fe_tok_src_exists(src, json)) {
        st = open_json(src, json, dir, out);
    } else if (fe_tok_src_exists(src, vjson) && fe_tok_src_exists(src, merges)) {
        st = fe_tok_open_bpe_files_src(src, vjson, merges, fe_tok_src_exists(src, config) ? config : NULL, out);
    } else if (fe_tok_src_exists(src, vocab)) {
        st = fe_tok_open_vocab_src(src, vocab, fe_tok_src_exists(src, config) ? config : NULL, out);
    } else if (!(src && src->files) && access(dir, F_OK) != 0) {
        st = kiln_error(KILN_ERR_IO, "%s: no such directory (looked for tokenizer.json, vocab.json + merges.txt, vocab.txt)",
                        dir);
    } else {
        st = kiln_error(KILN_ERR_IO,
                        "%s: no tokenizer files: looked for tokenizer.json, vocab.json + merges.txt (GPT-2, RoBERTa) "
                        "and vocab.txt (BERT)%s",
                        dir, fe_tok_src_exists(src, vjson) ? "; vocab.json is there but merges.txt is not" : "");
    }
    free(json);
    free(vocab);
    free(vjson);
    free(merges);
    free(config);
    return st;
}

int32_t fe_tokenizer_token_to_id(const fe_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    size_t len = strlen(token);
    int32_t id = fe_tok_vocab_get(&t->added_vocab, token, len);
    return id >= 0 ? id : fe_tok_vocab_get(&t->model.vocab, token, len);
}

const char *fe_tokenizer_id_to_token(const fe_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_ids ? t->id_to_token[id] : NULL;
}

const char *fe_tok_token_string(const fe_tokenizer *t, int32_t id) {
    const char *s = fe_tokenizer_id_to_token(t, id);
    return s ? s : "";
}

int32_t fe_tokenizer_vocab_size(const fe_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t fe_tokenizer_special_id(const fe_tokenizer *t, fe_tok_special which) {
    return t && (int)which >= 0 && which < FE_TOK_SPECIAL_COUNT ? t->special_ids[which] : -1;
}

int64_t fe_tokenizer_model_max_length(const fe_tokenizer *t) { return t ? t->model_max_length : -1; }
int32_t fe_tokenizer_num_special_tokens_to_add(const fe_tokenizer *t, bool pair) {
    return t ? fe_tok_post_added(&t->post, pair) : 0;
}
bool fe_tokenizer_padding_left(const fe_tokenizer *t) { return t && t->padding_left; }
bool fe_tokenizer_truncation_left(const fe_tokenizer *t) { return t && t->truncation_left; }
bool fe_tokenizer_clean_up_spaces(const fe_tokenizer *t) { return t && t->clean_up_tokenization_spaces; }
int32_t fe_tokenizer_pad_type_id(const fe_tokenizer *t) { return t ? t->pad_type_id : 0; }

const char *fe_tokenizer_subword_prefix(const fe_tokenizer *t) {
    if (!t) return NULL;
    const char *p = t->model.kind == FE_TOK_MODEL_WORDPIECE ? t->model.wordpiece.prefix
                    : t->model.kind == FE_TOK_MODEL_BPE     ? t->model.bpe.prefix
                                                            : NULL;
    return p && *p ? p : NULL;   // Python's truthiness: "" counts as none
}
