/* api.c — the public face of the tokenizer (kiln_tokenizer_* in kiln.h): fe_tokenizer with
 * transformers' resolution of padding / truncation / max_length, batch padding as the `tokenizers`
 * backend does it, and int64 arrays that plug straight into a model's inputs.
 */
#include "common/common.h"
#include "frontend/tokenizer/internal.h"
#include "runtime/program.h"

struct kiln_tokenizer {
    fe_tokenizer *tok;
};

kiln_status kiln_tokenizer_open(const char *path, kiln_tokenizer **out) {
    if (!path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_open: NULL argument");
    *out = NULL;
    kiln_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_tokenizer_open: out of memory");
    kiln_status st = fe_tokenizer_open(path, &t->tok);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return KILN_OK;
}

void kiln_tokenizer_free(kiln_tokenizer *t) {
    if (!t) return;
    fe_tokenizer_free(t->tok);
    free(t);
}

void kiln_encoding_free(kiln_encoding *e) {
    if (!e) return;
    free(e->input_ids);   // one allocation holds every array
    memset(e, 0, sizeof(*e));
}

// Copies row e into *out, padded to `length` on the left or right.
static kiln_status to_public(const fe_encoding *e, size_t length, bool left, int64_t pad_id, int64_t pad_type,
                             kiln_encoding *out) {
    size_t n = (size_t)e->n, total = KILN_MAX(n, length), pad = total - n;
    int64_t *all = malloc((total * 8 + 1) * sizeof(int64_t));
    if (!all) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %zu tokens", total);
    out->n = total;
    out->input_ids = all;
    out->attention_mask = all + total;
    out->token_type_ids = all + 2 * total;
    out->special_tokens_mask = all + 3 * total;
    out->offsets = (int64_t(*)[2])(all + 4 * total);
    out->sequence_ids = all + 6 * total;
    out->word_ids = all + 7 * total;
    size_t at = left ? pad : 0, pad_at = left ? 0 : n;
    for (size_t i = 0; i < n; i++) {
        out->input_ids[at + i] = e->ids[i];
        out->attention_mask[at + i] = e->attention_mask[i];
        out->token_type_ids[at + i] = e->type_ids[i];
        out->special_tokens_mask[at + i] = e->special_mask[i];
        out->offsets[at + i][0] = e->offsets[i][0];
        out->offsets[at + i][1] = e->offsets[i][1];
        out->sequence_ids[at + i] = e->sequence_ids[i];
        out->word_ids[at + i] = e->word_ids[i];
    }
    for (size_t i = 0; i < pad; i++) {
        out->input_ids[pad_at + i] = pad_id;
        out->attention_mask[pad_at + i] = 0;
        out->token_type_ids[pad_at + i] = pad_type;
        out->special_tokens_mask[pad_at + i] = 1;
        out->offsets[pad_at + i][0] = out->offsets[pad_at + i][1] = 0;
        out->sequence_ids[pad_at + i] = -1;
        out->word_ids[pad_at + i] = -1;
    }
    return KILN_OK;
}

kiln_status kiln_tokenizer_encode(const kiln_tokenizer *t, const char *text, const char *pair, kiln_encoding *out) {
    if (!t || !text || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode: NULL argument");
    memset(out, 0, sizeof(*out));
    fe_encoding e;
    kiln_status st = fe_tokenizer_encode(t->tok, text, pair, true, &e);
    if (st) return st;
    st = to_public(&e, 0, false, 0, 0, out);
    fe_encoding_free(&e);
    return st;
}

int64_t kiln_tokenizer_pad_id(const kiln_tokenizer *t) { return t ? fe_tokenizer_special_id(t->tok, FE_TOK_PAD) : -1; }

kiln_encode_options kiln_encode_options_default(void) {
    return (kiln_encode_options){.add_special_tokens = true, .max_length = -1};
}

kiln_decode_options kiln_decode_options_default(void) {
    return (kiln_decode_options){.clean_up_tokenization_spaces = -1};
}

void kiln_batch_encoding_free(kiln_batch_encoding *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_rows && b->rows; i++) kiln_encoding_free(&b->rows[i]);
    free(b->rows);
    free(b->overflow_to_sample_mapping);
    memset(b, 0, sizeof(*b));
}

// transformers' _get_padding_truncation_strategies and set_truncation_and_padding.
typedef struct resolved {
    bool pad, pad_fixed;   // pad at all; to max_length (else to the longest)
    fe_tok_truncation trunc;
    int64_t max_length;    // -1: none
} resolved;

static kiln_status resolve(const fe_tokenizer *t, const kiln_encode_options *o, resolved *r) {
    *r = (resolved){0};
    int64_t max_length = o->max_length < 0 ? -1 : o->max_length;
    kiln_padding padding = o->padding;
    kiln_truncation truncation = o->truncation;
    if ((unsigned)padding > KILN_PADDING_MAX_LENGTH || (unsigned)truncation > KILN_TRUNCATION_ONLY_SECOND ||
        (unsigned)o->padding_side > KILN_SIDE_LEFT || (unsigned)o->truncation_side > KILN_SIDE_LEFT)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode_batch: an option is out of its enum's range");
    if (o->stride < 0 || o->pad_to_multiple_of < 0)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode_batch: stride and pad_to_multiple_of must be >= 0");
    // "If you only set max_length, it activates truncation for max_length."
    if (max_length >= 0 && padding == KILN_PADDING_NONE && truncation == KILN_TRUNCATION_DEFAULT)
        truncation = KILN_TRUNCATION_LONGEST_FIRST;
    bool pad = padding == KILN_PADDING_LONGEST || padding == KILN_PADDING_MAX_LENGTH;
    bool fixed = padding == KILN_PADDING_MAX_LENGTH;
    fe_tok_trunc_strategy strategy = truncation == KILN_TRUNCATION_LONGEST_FIRST ? FE_TOK_TRUNC_LONGEST_FIRST
                                     : truncation == KILN_TRUNCATION_ONLY_FIRST  ? FE_TOK_TRUNC_ONLY_FIRST
                                     : truncation == KILN_TRUNCATION_ONLY_SECOND ? FE_TOK_TRUNC_ONLY_SECOND
                                                                                 : FE_TOK_TRUNC_NONE;
    int64_t model_max = fe_tokenizer_model_max_length(t);
    if (max_length < 0) {
        if (fixed) {
            if (model_max < 0) pad = fixed = false;
            else max_length = model_max;
        }
        if (strategy != FE_TOK_TRUNC_NONE) {
            if (model_max < 0) strategy = FE_TOK_TRUNC_NONE;
            else max_length = model_max;
        }
    }
    if (pad && fe_tokenizer_special_id(t, FE_TOK_PAD) < 0)
        return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: asked to pad, but the tokenizer has no padding token "
                                                "(tokenizer_config.json names no pad_token that the vocabulary has)");
    if (strategy != FE_TOK_TRUNC_NONE && pad && o->pad_to_multiple_of && max_length >= 0 &&
        max_length % o->pad_to_multiple_of != 0)
        return kiln_error(KILN_ERR_INVALID_ARG,
                          "tokenizer: truncation and padding are both on, but the truncation length (%lld) is not a "
                          "multiple of pad_to_multiple_of (%lld)",
                          (long long)max_length, (long long)o->pad_to_multiple_of);
    if (strategy != FE_TOK_TRUNC_NONE) {
        // tokenizers checks the stride against the length left to one text (unsigned, as it does).
        int64_t added = fe_tokenizer_num_special_tokens_to_add(t, false);
        if (max_length >= added && max_length - added < o->stride)
            return kiln_error(KILN_ERR_INVALID_ARG,
                              "tokenizer: stride %lld is not below the length left to a text, %lld (max_length %lld "
                              "less %lld special tokens)",
                              (long long)o->stride, (long long)(max_length - added), (long long)max_length,
                              (long long)added);
    }
    bool trunc_left = o->truncation_side == KILN_SIDE_DEFAULT ? fe_tokenizer_truncation_left(t)
                                                              : o->truncation_side == KILN_SIDE_LEFT;
    r->pad = pad;
    r->pad_fixed = fixed;
    r->trunc = (fe_tok_truncation){strategy, max_length, o->stride, trunc_left};
    r->max_length = max_length;
    return KILN_OK;
}

kiln_status kiln_tokenizer_encode_batch(const kiln_tokenizer *tk, const char *const *texts, const char *const *pairs,
                                        size_t n, const kiln_encode_options *opts, kiln_batch_encoding *out) {
    if (out) memset(out, 0, sizeof(*out));
    if (!tk || !out || (n && !texts)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode_batch: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode_batch: texts[%zu] is NULL", i);
    kiln_encode_options o = opts ? *opts : kiln_encode_options_default();
    const fe_tokenizer *t = tk->tok;
    resolved r;
    kiln_status st = resolve(t, &o, &r);
    if (st != KILN_OK) return st;

    fe_tok_work *w = fe_tok_work_new();
    fe_encoding **rows = calloc(n + 1, sizeof(*rows));
    int32_t *n_rows = calloc(n + 1, sizeof(*n_rows));
    if (!w || !rows || !n_rows) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        goto done;
    }
    size_t total = 0, longest = 0;
    for (size_t i = 0; i < n && st == KILN_OK; i++) {
        const char *pair = pairs ? pairs[i] : NULL;
        st = fe_tokenizer_encode_rows(t, w, texts[i], pair, o.add_special_tokens,
                                      r.trunc.strategy != FE_TOK_TRUNC_NONE ? &r.trunc : NULL, &rows[i], &n_rows[i]);
        if (st != KILN_OK) {
            kiln_error_prefix(st, "texts[%zu]", i);
            break;
        }
        total += o.return_overflowing_tokens ? (size_t)n_rows[i] : 1;
        longest = KILN_MAX(longest, (size_t)rows[i][0].n);   // the batch pads to its longest kept window
    }
    if (st != KILN_OK) goto done;
    size_t length = 0;
    if (r.pad) {
        length = r.pad_fixed ? (size_t)r.max_length : longest;
        if (o.pad_to_multiple_of > 0 && length % (size_t)o.pad_to_multiple_of)
            length += (size_t)o.pad_to_multiple_of - length % (size_t)o.pad_to_multiple_of;
    }
    bool left = o.padding_side == KILN_SIDE_DEFAULT ? fe_tokenizer_padding_left(t) : o.padding_side == KILN_SIDE_LEFT;
    int64_t pad_id = fe_tokenizer_special_id(t, FE_TOK_PAD), pad_type = fe_tokenizer_pad_type_id(t);
    out->rows = calloc(total + 1, sizeof(*out->rows));
    out->overflow_to_sample_mapping = calloc(total + 1, sizeof(int64_t));
    if (!out->rows || !out->overflow_to_sample_mapping) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && st == KILN_OK; i++) {
        int32_t keep = o.return_overflowing_tokens ? n_rows[i] : 1;
        for (int32_t k = 0; k < keep && st == KILN_OK; k++) {
            st = to_public(&rows[i][k], r.pad ? length : 0, left, pad_id, pad_type, &out->rows[out->n_rows]);
            if (st == KILN_OK) out->overflow_to_sample_mapping[out->n_rows++] = (int64_t)i;
        }
    }
done:
    for (size_t i = 0; rows && i < n; i++) fe_encodings_free(rows[i], n_rows[i]);
    free(rows);
    free(n_rows);
    fe_tok_work_free(w);
    if (st != KILN_OK) kiln_batch_encoding_free(out);
    return st;
}

kiln_status kiln_tokenizer_decode(const kiln_tokenizer *tk, const int64_t *ids, size_t n, const kiln_decode_options *opts,
                                  char **text_out) {
    if (text_out) *text_out = NULL;
    if (!tk || !text_out || (n && !ids)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_decode: NULL argument");
    if (n > INT32_MAX) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_decode: %zu ids is too many", n);
    kiln_decode_options o = opts ? *opts : kiln_decode_options_default();
    int32_t *ids32 = malloc((n + 1) * sizeof(*ids32));
    if (!ids32) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_tokenizer_decode: out of memory");
    for (size_t i = 0; i < n; i++) ids32[i] = ids[i] < 0 || ids[i] > INT32_MAX ? -1 : (int32_t)ids[i];
    bool clean = o.clean_up_tokenization_spaces < 0 ? fe_tokenizer_clean_up_spaces(tk->tok)
                                                     : o.clean_up_tokenization_spaces != 0;
    kiln_status st = fe_tokenizer_decode(tk->tok, ids32, (int32_t)n, o.skip_special_tokens, clean, text_out);
    free(ids32);
    return st;
}

int64_t kiln_tokenizer_model_max_length(const kiln_tokenizer *t) { return t ? fe_tokenizer_model_max_length(t->tok) : -1; }
int64_t kiln_tokenizer_vocab_size(const kiln_tokenizer *t) { return t ? fe_tokenizer_vocab_size(t->tok) : 0; }

int64_t kiln_tokenizer_token_to_id(const kiln_tokenizer *t, const char *token) {
    return t ? fe_tokenizer_token_to_id(t->tok, token) : -1;
}

const char *kiln_tokenizer_id_to_token(const kiln_tokenizer *t, int64_t id) {
    return t && id >= 0 && id <= INT32_MAX ? fe_tokenizer_id_to_token(t->tok, (int32_t)id) : NULL;
}

int64_t kiln_tokenizer_special_id(const kiln_tokenizer *t, kiln_special_token which) {
    static const fe_tok_special map[] = {FE_TOK_UNK, FE_TOK_CLS, FE_TOK_SEP, FE_TOK_PAD, FE_TOK_MASK, FE_TOK_BOS, FE_TOK_EOS};
    if (!t || (int)which < 0 || (size_t)which >= sizeof(map) / sizeof(map[0])) return -1;
    return fe_tokenizer_special_id(t->tok, map[which]);
}

bool kiln_tokenizer_padding_left(const kiln_tokenizer *t) { return t && fe_tokenizer_padding_left(t->tok); }

const char *kiln_tokenizer_subword_prefix(const kiln_tokenizer *t) { return t ? fe_tokenizer_subword_prefix(t->tok) : NULL; }

kiln_status kiln_tokenizer_tokens_to_string(const kiln_tokenizer *t, const char *const *tokens, size_t n, char **text_out) {
    if (text_out) *text_out = NULL;
    if (!t || !text_out || (n && !tokens)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_tokens_to_string: NULL argument");
    if (n > INT32_MAX) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_tokens_to_string: %zu tokens is too many", n);
    return fe_tokenizer_tokens_to_string(t->tok, tokens, (int32_t)n, text_out);
}

kiln_status fe_tokenizer_open_program(const kiln_program *p, fe_tokenizer **out) {
    *out = NULL;
    if (!p->n_tokenizer_files && !p->tokenizer_dir)
        return kiln_error(KILN_ERR_INVALID_ARG, "the program has no tokenizer (its checkpoint had none)");
    if (!p->n_tokenizer_files) return fe_tokenizer_open(p->tokenizer_dir, out);
    fe_tok_file files[16];
    int32_t n = KILN_MIN(p->n_tokenizer_files, 16);
    for (int32_t i = 0; i < n; i++)
        files[i] = (fe_tok_file){p->tokenizer_files[i].name, p->tokenizer_files[i].data, p->tokenizer_files[i].size};
    fe_tok_src src = {files, n};
    // Messages name the directory the files came from, as when they were read there.
    return fe_tokenizer_open_src(&src, p->tokenizer_dir ? p->tokenizer_dir : "(program)", out);
}

kiln_status kiln_program_tokenizer(const kiln_program *p, kiln_tokenizer **out) {
    if (out) *out = NULL;
    if (!p || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_tokenizer: NULL argument");
    kiln_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_program_tokenizer: out of memory");
    kiln_status st = fe_tokenizer_open_program(p, &t->tok);
    if (st) {
        free(t);
        return kiln_error_prefix(st, "kiln_program_tokenizer");
    }
    *out = t;
    return KILN_OK;
}
