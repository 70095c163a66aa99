/* api.c — the public face of the tokenizer (kiln_tokenizer_* in kiln.h): fe_tokenizer with
 * int64 arrays that plug straight into a model's inputs.
 */
#include "common/common.h"
#include "frontend/tokenizer/tokenizer.h"

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

kiln_status kiln_tokenizer_encode(const kiln_tokenizer *t, const char *text, const char *pair, kiln_encoding *out) {
    if (!t || !text || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_tokenizer_encode: NULL argument");
    memset(out, 0, sizeof(*out));
    fe_encoding e;
    kiln_status st = fe_tokenizer_encode(t->tok, text, pair, true, &e);
    if (st) return st;
    size_t n = (size_t)e.n;
    int64_t *all = malloc((n * 6 + 1) * sizeof(int64_t));
    if (!all) {
        fe_encoding_free(&e);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_tokenizer_encode: out of memory");
    }
    out->n = n;
    out->input_ids = all;
    out->attention_mask = all + n;
    out->token_type_ids = all + 2 * n;
    out->special_tokens_mask = all + 3 * n;
    out->offsets = (int64_t(*)[2])(all + 4 * n);
    for (size_t i = 0; i < n; i++) {
        out->input_ids[i] = e.ids[i];
        out->attention_mask[i] = e.attention_mask[i];
        out->token_type_ids[i] = e.type_ids[i];
        out->special_tokens_mask[i] = e.special_mask[i];
        out->offsets[i][0] = e.offsets[i][0];
        out->offsets[i][1] = e.offsets[i][1];
    }
    fe_encoding_free(&e);
    return KILN_OK;
}

int64_t kiln_tokenizer_pad_id(const kiln_tokenizer *t) { return t ? fe_tokenizer_special_id(t->tok, FE_TOK_PAD) : -1; }
