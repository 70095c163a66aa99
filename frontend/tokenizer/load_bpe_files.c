/* load_bpe_files.c — a byte-level BPE tokenizer from the older GPT-2 / RoBERTa layout: vocab.json
 * (token -> id) and merges.txt ("a b" per line, by rank, after a "#version" line) with
 * tokenizer_config.json. It builds what transformers' GPT2Tokenizer (or RobertaTokenizer, when
 * tokenizer_class says so) builds from them: BPE without unk, ByteLevel pre-tokenizer and decoder,
 * the special tokens as added tokens, and GPT-2's template (bos/eos as add_bos_token /
 * add_eos_token say) or RobertaProcessing.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status read_vocab_json(fe_tokenizer *t, const fe_tok_src *src, const char *path) {
    char *text = NULL;
    kiln_status st = fe_tok_src_read(src, path, &text, NULL);
    if (st != KILN_OK) return st;
    cJSON *root = fe_tok_json_parse(path, text, &st);
    free(text);
    if (!root) return st;
    fe_tok_model *m = &t->model;
    if (!cJSON_IsObject(root)) st = kiln_error(KILN_ERR_FORMAT, "%s: expected an object of token: id", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (st != KILN_OK) break;
        if (!fe_tok_json_is_int(item, 0, INT32_MAX - 1)) {
            st = kiln_error(KILN_ERR_FORMAT, "%s: \"%.100s\": expected an id in [0, %d]", path, item->string, INT32_MAX - 1);
            break;
        }
        int32_t id = (int32_t)item->valuedouble;
        st = fe_tok_vocab_set(&m->vocab, t->arena, item->string, strlen(item->string), id, NULL);
        if (id >= t->n_ids) t->n_ids = id + 1;
        m->n_vocab++;
    }
    cJSON_Delete(root);
    return st;
}

static kiln_status read_merges(fe_tokenizer *t, const fe_tok_src *src, const char *path) {
    char *text = NULL;
    size_t size = 0;
    kiln_status st = fe_tok_src_read(src, path, &text, &size);
    if (st != KILN_OK) return st;
    int32_t rank = 0, line = 0;
    for (size_t i = 0; st == KILN_OK && i < size;) {
        size_t j = i;
        while (j < size && text[j] != '\n') j++;
        size_t end = j > i && text[j - 1] == '\r' ? j - 1 : j;
        line++;
        if (!(end - i >= 8 && memcmp(text + i, "#version", 8) == 0)) {
            const char *sp = memchr(text + i, ' ', end - i);
            if (!sp || memchr(sp + 1, ' ', (size_t)(text + end - sp - 1)))
                st = kiln_error(KILN_ERR_FORMAT, "%s: line %d: expected two tokens separated by one space", path, line);
            else
                st = fe_tok_bpe_add_merge(t, path, rank++, text + i, (size_t)(sp - text - (ptrdiff_t)i), sp + 1,
                                          (size_t)(text + end - sp - 1));
        }
        i = j + 1;
    }
    free(text);
    return st;
}

kiln_status fe_tokenizer_open_bpe_files(const char *vocab_json_path, const char *merges_txt_path,
                                        const char *config_path, fe_tokenizer **out) {
    return fe_tok_open_bpe_files_src(NULL, vocab_json_path, merges_txt_path, config_path, out);
}

kiln_status fe_tok_open_bpe_files_src(const fe_tok_src *src, const char *vocab_json_path, const char *merges_txt_path,
                                      const char *config_path, fe_tokenizer **out) {
    if (out) *out = NULL;
    if (!vocab_json_path || !merges_txt_path || !out)
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_open_bpe_files: NULL argument");
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    char *text = NULL;
    fe_tok_config cfg;
    fe_tok_config_init(&cfg);
    fe_tok_names names = {.json_pad = NULL};
    fe_tokenizer *t = fe_tok_new();
    if (!t) {
        kiln_error(st, "%s: out of memory", vocab_json_path);
        goto error;
    }
    t->model.kind = FE_TOK_MODEL_BPE;
    t->model.unk_id = -1;
    if ((st = read_vocab_json(t, src, vocab_json_path)) != KILN_OK) goto error;
    if ((st = read_merges(t, src, merges_txt_path)) != KILN_OK) goto error;
    if ((st = fe_tok_bpe_finish(t, merges_txt_path)) != KILN_OK) goto error;
    if (config_path) {
        if ((st = fe_tok_src_read(src, config_path, &text, NULL)) != KILN_OK) goto error;
        if ((st = fe_tok_read_config(t, config_path, text, &cfg)) != KILN_OK) goto error;
    }
    const char *cls = cfg.tokenizer_class ? cfg.tokenizer_class : "GPT2Tokenizer";
    bool roberta = strncmp(cls, "RobertaTokenizer", 16) == 0;
    if (!roberta && strncmp(cls, "GPT2Tokenizer", 13) != 0) {
        st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: tokenizer_class '%s' with vocab.json + merges.txt is not supported "
                                              "(kiln reads GPT2Tokenizer and RobertaTokenizer)", config_path, cls);
        goto error;
    }
    static const char *const gpt2[FE_TOK_SPECIAL_COUNT] = {
        [FE_TOK_UNK] = "<|endoftext|>", [FE_TOK_BOS] = "<|endoftext|>", [FE_TOK_EOS] = "<|endoftext|>"};
    static const char *const rob[FE_TOK_SPECIAL_COUNT] = {
        [FE_TOK_UNK] = "<unk>", [FE_TOK_BOS] = "<s>", [FE_TOK_EOS] = "</s>", [FE_TOK_SEP] = "</s>",
        [FE_TOK_CLS] = "<s>", [FE_TOK_PAD] = "<pad>", [FE_TOK_MASK] = "<mask>"};
    for (int i = 0; i < FE_TOK_SPECIAL_COUNT; i++) names.names[i] = (char *)(roberta ? rob : gpt2)[i];
    fe_tok_apply_config(t, &cfg, &names);

    t->pretokenizer = (fe_tok_pretokenizer){.kind = FE_TOK_PRETOK_BYTE_LEVEL, .add_prefix_space = cfg.add_prefix_space > 0,
                                            .use_regex = true};
    t->decoder = (fe_tok_decoder){.kind = FE_TOK_DECODER_BYTE_LEVEL};
    // transformers adds the named special tokens in this order.
    static const fe_tok_special order[] = {FE_TOK_BOS, FE_TOK_EOS, FE_TOK_UNK, FE_TOK_SEP, FE_TOK_PAD, FE_TOK_CLS, FE_TOK_MASK};
    for (int32_t i = 0; i < cfg.n_added; i++)
        if ((st = fe_tok_add_token(t, &cfg.added[i])) != KILN_OK) goto error;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(order); i++) {
        const char *name = names.names[order[i]];
        if (!name || fe_tok_vocab_get(&t->added_vocab, name, strlen(name)) >= 0) continue;
        fe_tok_added_token a = {.content = name, .id = -1, .special = true};
        if ((st = fe_tok_add_token(t, &a)) != KILN_OK) goto error;
    }
    if (roberta) {
        if (!fe_tok_post_bert(&t->post, t->arena, fe_tokenizer_token_to_id(t, names.names[FE_TOK_CLS]),
                              fe_tokenizer_token_to_id(t, names.names[FE_TOK_SEP]), true))
            goto oom;
        t->post.trim_offsets = true;
        t->post.trim_add_prefix_space = cfg.add_prefix_space > 0;
    } else if (!fe_tok_post_default(&t->post, t->arena)) {
        goto oom;
    }
    if ((st = fe_tok_finish(t, &names)) != KILN_OK) {
        kiln_error_prefix(st, "%s", vocab_json_path);
        goto error;
    }
    free(text);
    *out = t;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", vocab_json_path);
error:
    free(text);
    fe_tokenizer_free(t);
    return st;
}
