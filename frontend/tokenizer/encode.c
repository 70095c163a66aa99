/* encode.c — runs the pipeline over one text (or a pair), in HF's order: split off added tokens
 * in the original text, normalize each remaining piece, split off normalized added tokens, split
 * into words, run the model on each word, and let the post-processor join the sequences. All
 * scratch memory is per call, so one tokenizer serves many threads.
 */
#include "frontend/tokenizer/internal.h"

typedef struct encode_work {
    uint32_t *cps;      // (n_cps) the sequence's code points
    int64_t *offsets;   // (n_cps + 1) their byte offsets
    int32_t n_cps;
    fe_tok_normalized norm, tmp;   // one piece, normalized
    fe_tok_splits splits;          // the sequence split around non-normalized added tokens
    fe_tok_splits norm_splits;     // a normalized piece split around normalized added tokens
    fe_tok_spans words;
    kiln_strbuf utf8;              // a normalized piece as UTF-8, to match normalized added tokens
    int64_t *utf8_at;              // (norm.n + 1) where each normalized character starts in utf8
} encode_work;

static void work_free(encode_work *w) {
    free(w->cps);
    free(w->offsets);
    fe_tok_normalized_free(&w->norm);
    fe_tok_normalized_free(&w->tmp);
    free(w->splits.v);
    free(w->norm_splits.v);
    free(w->words.v);
    kiln_strbuf_free(&w->utf8);
    free(w->utf8_at);
}

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding text");
}

// Index of the entry equal to `value` in the sorted at[0..n] (a split always falls on a boundary).
static int32_t index_of(const int64_t *at, int32_t n, int64_t value) {
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (at[mid] < value) lo = mid + 1;
        else hi = mid;
    }
    KILN_ASSERT(at[lo] == value);
    return lo;
}

kiln_status fe_tok_normalize(const fe_tok_normalizer *nz, const uint32_t *cps, const int64_t *offsets,
                             int32_t n, fe_tok_normalized *out, fe_tok_normalized *tmp) {
    switch (nz->kind) {
    case FE_TOK_NORMALIZER_BERT:
        return fe_tok_normalize_bert(nz, cps, offsets, n, out, tmp);
    case FE_TOK_NORMALIZER_NONE:
        break;
    }
    out->n = 0;
    for (int32_t i = 0; i < n; i++)
        if (!fe_tok_normalized_push(out, cps[i], offsets[i], offsets[i + 1])) return oom();
    return KILN_OK;
}

// Pre-tokenizes norm[start, end) and runs the model on each word.
static kiln_status encode_words(const fe_tokenizer *t, encode_work *w, int32_t start, int32_t end,
                                fe_tok_tokens *out) {
    w->words.n = 0;
    kiln_status st = KILN_OK;
    switch (t->pretokenizer.kind) {
    case FE_TOK_PRETOK_BERT:
        st = fe_tok_pretokenize_bert(&w->norm, start, end, &w->words);
        break;
    case FE_TOK_PRETOK_NONE:
        if (start < end && !fe_tok_spans_push(&w->words, start, end)) st = oom();
        break;
    }
    for (int32_t i = 0; st == KILN_OK && i < w->words.n; i++) {
        switch (t->model.kind) {
        case FE_TOK_MODEL_WORDPIECE:
            st = fe_tok_wordpiece_tokenize(&t->model, &w->norm, w->words.v[i].start, w->words.v[i].end, out);
            break;
        }
    }
    return st;
}

// Encodes the original characters [c0, c1): normalize, then split off normalized added tokens.
static kiln_status encode_piece(const fe_tokenizer *t, encode_work *w, int32_t c0, int32_t c1,
                                fe_tok_tokens *out) {
    kiln_status st = fe_tok_normalize(&t->normalizer, w->cps + c0, w->offsets + c0, c1 - c0, &w->norm, &w->tmp);
    if (st != KILN_OK) return st;
    if (!t->has_added[true]) return encode_words(t, w, 0, w->norm.n, out);

    free(w->utf8_at);
    w->utf8_at = malloc(((size_t)w->norm.n + 1) * sizeof(*w->utf8_at));
    if (!w->utf8_at) return oom();
    w->utf8.len = 0;
    for (int32_t i = 0; i < w->norm.n; i++) {
        char utf8[4];
        w->utf8_at[i] = (int64_t)w->utf8.len;
        kiln_strbuf_append(&w->utf8, utf8, (size_t)fe_tok_utf8_encode(w->norm.cps[i], utf8));
    }
    w->utf8_at[w->norm.n] = (int64_t)w->utf8.len;
    if (w->utf8.failed) return oom();
    w->norm_splits.n = 0;
    st = fe_tok_added_split(t, true, w->utf8.data, w->utf8.len, &w->norm_splits);
    for (int32_t i = 0; st == KILN_OK && i < w->norm_splits.n; i++) {
        const fe_tok_split *sp = &w->norm_splits.v[i];
        int32_t k0 = index_of(w->utf8_at, w->norm.n, (int64_t)sp->start);
        int32_t k1 = index_of(w->utf8_at, w->norm.n, (int64_t)sp->end);
        if (sp->id < 0) st = encode_words(t, w, k0, k1, out);
        else if (!fe_tok_tokens_push(out, sp->id, w->norm.start[k0], w->norm.end[k1 - 1])) st = oom();
    }
    return st;
}

static kiln_status encode_sequence(const fe_tokenizer *t, const char *what, const char *text, encode_work *w,
                                   fe_tok_tokens *out) {
    size_t n = strlen(text);
    free(w->cps);
    free(w->offsets);
    kiln_status st = fe_tok_decode_utf8(what, text, n, &w->cps, &w->offsets, &w->n_cps);
    if (st != KILN_OK) return st;
    w->splits.n = 0;
    st = fe_tok_added_split(t, false, text, n, &w->splits);
    for (int32_t i = 0; st == KILN_OK && i < w->splits.n; i++) {
        const fe_tok_split *sp = &w->splits.v[i];
        if (sp->id >= 0) {
            if (!fe_tok_tokens_push(out, sp->id, (int64_t)sp->start, (int64_t)sp->end)) st = oom();
            continue;
        }
        int32_t c0 = index_of(w->offsets, w->n_cps, (int64_t)sp->start);
        int32_t c1 = index_of(w->offsets, w->n_cps, (int64_t)sp->end);
        st = encode_piece(t, w, c0, c1, out);
    }
    return st;
}

kiln_status fe_tokenizer_encode(const fe_tokenizer *t, const char *text, const char *pair,
                                bool add_special_tokens, fe_encoding *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_encode: out is NULL");
    *out = (fe_encoding){0};
    if (!t || !text)
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_encode: %s is NULL", t ? "text" : "tokenizer");
    encode_work w = {0};
    fe_tok_tokens seqs[2] = {{0}};
    kiln_status st = encode_sequence(t, "text", text, &w, &seqs[0]);
    if (st == KILN_OK && pair) st = encode_sequence(t, "pair", pair, &w, &seqs[1]);
    if (st == KILN_OK) st = fe_tok_post_process(&t->post, seqs, pair != NULL, add_special_tokens, out);
    work_free(&w);
    free(seqs[0].v);
    free(seqs[1].v);
    return st;
}

void fe_encoding_free(fe_encoding *e) {
    if (!e) return;
    free(e->offsets);   // the one allocation behind every array
    *e = (fe_encoding){0};
}
