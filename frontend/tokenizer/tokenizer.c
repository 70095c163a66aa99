/* tokenizer.c — opening and closing tokenizers and answering vocabulary questions. Picks the file
 * a checkpoint has (tokenizer.json before vocab.txt, as transformers does), hands it to the loader,
 * then builds what lookups need: the id -> token table and the special token ids.
 */
#include "frontend/tokenizer/internal.h"

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
    return t;
}

void fe_tokenizer_free(fe_tokenizer *t) {
    if (!t) return;
    fe_tok_vocab_free(&t->model.vocab);
    fe_tok_vocab_free(&t->added_vocab);
    free(t->added);
    kiln_arena_free(t->arena);
    free(t);
}

kiln_status fe_tok_finish(fe_tokenizer *t, const fe_tok_names *names) {
    // Ids may have gaps, but a file should not make kiln allocate gigabytes for a few tokens.
    int64_t n_tokens = (int64_t)t->model.vocab.n + t->n_added;
    if (t->n_ids > 4 * n_tokens + 65536)
        return kiln_error(KILN_ERR_FORMAT, "token ids reach %d for only %lld tokens", t->n_ids - 1,
                          (long long)n_tokens);
    int32_t n = t->n_ids ? t->n_ids : 1;
    t->id_to_token = kiln_arena_alloc(t->arena, (size_t)n * sizeof(*t->id_to_token));
    if (!t->id_to_token) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    const fe_tok_vocab *v = &t->model.vocab;
    for (uint32_t i = 0; i < v->cap; i++)
        if (v->slots[i].key) t->id_to_token[v->slots[i].id] = v->slots[i].key;
    for (int32_t i = 0; i < t->n_added; i++) t->id_to_token[t->added[i].id] = t->added[i].content;
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) {
        const char *name = names && names->names[i] ? names->names[i] : default_names[i];
        t->special_ids[i] = fe_tokenizer_token_to_id(t, name);
    }
    return KILN_OK;
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

// Opens tokenizer.json, with the special token names of tokenizer_config.json when config_path is set.
static kiln_status open_json(const char *path, const char *config_path, fe_tokenizer **out) {
    kiln_status status = KILN_ERR_OUT_OF_MEMORY;
    char *text = NULL;
    fe_tok_names names = {{0}};
    fe_tokenizer *t = fe_tok_new();
    if (!t) {
        kiln_error(status, "%s: out of memory", path);
        goto error;
    }
    if ((status = kiln_read_file(path, &text, NULL)) != KILN_OK) goto error;
    if ((status = fe_tok_load_json(t, path, text, &names)) != KILN_OK) goto error;
    if (config_path) {
        free(text);
        text = NULL;
        fe_tok_config cfg;
        if ((status = kiln_read_file(config_path, &text, NULL)) != KILN_OK) goto error;
        if ((status = fe_tok_read_config(t, config_path, text, &cfg)) != KILN_OK) goto error;
        for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++)
            if (cfg.names.names[i]) names.names[i] = cfg.names.names[i];
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
    if (!tokenizer_json_path || !out)
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open_file: NULL argument");
    return open_json(tokenizer_json_path, NULL, out);
}

kiln_status fe_tokenizer_open(const char *dir, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!dir || !out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open: NULL argument");
    char *json = kiln_path_join(dir, "tokenizer.json");
    char *vocab = kiln_path_join(dir, "vocab.txt");
    char *config = kiln_path_join(dir, "tokenizer_config.json");
    kiln_status st;
    if (!json || !vocab || !config) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    } else {
        const char *cfg = file_exists(config) ? config : NULL;
        if (file_exists(json)) st = open_json(json, cfg, out);
        else if (file_exists(vocab)) st = fe_tokenizer_open_vocab(vocab, cfg, out);
        else st = kiln_error(KILN_ERR_IO, "%s: no tokenizer.json and no vocab.txt", dir);
    }
    free(json);
    free(vocab);
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

int32_t fe_tokenizer_vocab_size(const fe_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t fe_tokenizer_special_id(const fe_tokenizer *t, fe_tok_special which) {
    return t && (int)which >= 0 && which < FE_TOK_SPECIAL_COUNT ? t->special_ids[which] : -1;
}
