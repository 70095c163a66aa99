/* load_vocab.c — a BERT tokenizer from the older checkpoint layout: vocab.txt (token per line, id =
 * line number) plus tokenizer_config.json. It builds what transformers' BertTokenizer builds from
 * them: BertNormalizer, BertPreTokenizer, WordPiece with "##", special tokens as added tokens
 * matched in the raw text, and the [CLS] $A [SEP] template.
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_load_vocab_txt(fe_tokenizer *t, const char *path, const char *text, size_t size) {
    // Lines end as Python's universal newlines end them (\n, \r\n or \r); the ending is not part of
    // the token, anything else (spaces included) is, as transformers' load_vocab reads the file.
    int32_t id = 0;
    for (size_t i = 0; i < size; id++) {
        size_t j = i;
        while (j < size && text[j] != '\n' && text[j] != '\r') j++;
        for (size_t k = i; k < j;) {
            uint32_t cp;
            int len = fe_tok_utf8_decode((const unsigned char *)text + k, j - k, &cp);
            if (!len) return kiln_error(KILN_ERR_FORMAT, "%s: line %d: invalid UTF-8", path, id + 1);
            k += (size_t)len;
        }
        if (id == INT32_MAX - 1) return kiln_error(KILN_ERR_FORMAT, "%s: too many lines", path);
        kiln_status st = fe_tok_vocab_set(&t->model.vocab, t->arena, text + i, j - i, id, NULL);
        if (st != KILN_OK) return st;
        if (j + 1 < size && text[j] == '\r' && text[j + 1] == '\n') j++;
        i = j + 1;
    }
    t->n_ids = id;
    t->model.n_vocab = id;
    t->model.kind = FE_TOK_MODEL_WORDPIECE;
    t->model.wordpiece.prefix = "##";
    t->model.wordpiece.prefix_len = 2;
    t->model.wordpiece.max_input_chars_per_word = 100;
    return KILN_OK;
}

kiln_status fe_tokenizer_open_vocab(const char *vocab_txt_path, const char *config_path, fe_tokenizer **out) {
    return fe_tok_open_vocab_src(NULL, vocab_txt_path, config_path, out);
}

kiln_status fe_tok_open_vocab_src(const fe_tok_src *src, const char *vocab_txt_path, const char *config_path, fe_tokenizer **out) {
    static const char *const defaults[FE_TOK_SPECIAL_COUNT] = {
        [FE_TOK_UNK] = "[UNK]", [FE_TOK_CLS] = "[CLS]", [FE_TOK_SEP] = "[SEP]",
        [FE_TOK_PAD] = "[PAD]", [FE_TOK_MASK] = "[MASK]",
    };
    // transformers registers the special tokens in this order, which decides the ids of any that
    // vocab.txt lacks.
    static const fe_tok_special order[] = {FE_TOK_UNK, FE_TOK_SEP, FE_TOK_PAD, FE_TOK_CLS, FE_TOK_MASK};
    if (out) *out = NULL;
    if (!vocab_txt_path || !out)
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open_vocab: NULL argument");
    kiln_status status = KILN_ERR_OUT_OF_MEMORY;
    char *text = NULL;
    size_t size = 0;
    fe_tok_config cfg;
    fe_tok_config_init(&cfg);
    const char *names[FE_TOK_SPECIAL_COUNT] = {0};
    fe_tokenizer *t = fe_tok_new();
    if (!t) {
        kiln_error(status, "%s: out of memory", vocab_txt_path);
        goto error;
    }
    if ((status = fe_tok_src_read(src, vocab_txt_path, &text, &size)) != KILN_OK) goto error;
    if ((status = fe_tok_load_vocab_txt(t, vocab_txt_path, text, size)) != KILN_OK) goto error;
    if (config_path) {
        free(text);
        text = NULL;
        if ((status = fe_tok_src_read(src, config_path, &text, NULL)) != KILN_OK) goto error;
        if ((status = fe_tok_read_config(t, config_path, text, &cfg)) != KILN_OK) goto error;
    }
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++)
        names[i] = cfg.names.names[i] ? cfg.names.names[i] : defaults[i];

    t->normalizer.kind = FE_TOK_NORMALIZER_BERT;
    t->normalizer.bert.clean_text = true;
    t->normalizer.bert.handle_chinese_chars = cfg.tokenize_chinese_chars != 0;
    t->normalizer.bert.lowercase = cfg.do_lower_case != 0;
    t->normalizer.bert.strip_accents = cfg.strip_accents < 0 ? t->normalizer.bert.lowercase : cfg.strip_accents;
    t->pretokenizer.kind = FE_TOK_PRETOK_BERT;
    t->model.unk_id = fe_tok_vocab_get(&t->model.vocab, names[FE_TOK_UNK], strlen(names[FE_TOK_UNK]));
    if (t->model.unk_id < 0) {
        status = kiln_error(KILN_ERR_FORMAT, "%s: the unk token '%s' is not in the vocabulary", vocab_txt_path,
                            names[FE_TOK_UNK]);
        goto error;
    }
    for (int32_t i = 0; i < cfg.n_added; i++) {
        if ((status = fe_tok_add_token(t, &cfg.added[i])) != KILN_OK) {
            kiln_error_prefix(status, "%s: added_tokens_decoder", config_path);
            goto error;
        }
    }
    for (size_t i = 0; i < KILN_ARRAY_SIZE(order); i++) {
        const char *name = names[order[i]];
        if (fe_tok_vocab_get(&t->added_vocab, name, strlen(name)) >= 0) continue;
        fe_tok_added_token a = {.content = name, .id = -1, .special = true};
        if ((status = fe_tok_add_token(t, &a)) != KILN_OK) goto error;
    }
    t->decoder = (fe_tok_decoder){.kind = FE_TOK_DECODER_WORDPIECE, .prefix = "##", .cleanup = true};
    fe_tok_names all = cfg.names;
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) all.names[i] = (char *)names[i];
    fe_tok_apply_config(t, &cfg, &all);
    if (!fe_tok_post_bert(&t->post, t->arena, fe_tokenizer_token_to_id(t, names[FE_TOK_CLS]),
                          fe_tokenizer_token_to_id(t, names[FE_TOK_SEP]), false)) {
        status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", vocab_txt_path);
        goto error;
    }
    if ((status = fe_tok_finish(t, &all)) != KILN_OK) {
        kiln_error_prefix(status, "%s", vocab_txt_path);
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
