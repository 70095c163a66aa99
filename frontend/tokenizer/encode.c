/* encode.c — runs the pipeline over one text (or a pair), in HF's order: split off added tokens in
 * the original text, normalize each remaining piece, split off normalized added tokens, pre-tokenize,
 * run the model on each split, then truncate and post-process. All scratch memory is in a
 * fe_tok_work, so one tokenizer serves many threads.
 */
#include "frontend/tokenizer/internal.h"

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

// Decodes text into w->cps and w->seq_offsets[seq] (w->offsets).
static kiln_status decode_text(fe_tok_work *w, int seq, const char *what, const char *s, size_t n) {
    if (n >= INT32_MAX / 2) return kiln_error(KILN_ERR_INVALID_ARG, "%s: %zu bytes is too long to tokenize", what, n);
    if ((int64_t)n + 1 > w->cap_cps) {
        int32_t cap = (int32_t)n + 1;
        uint32_t *cps = realloc(w->cps, (size_t)cap * sizeof(*cps));
        if (!cps) return oom();
        w->cps = cps;
        w->cap_cps = cap;
    }
    if ((int64_t)n + 1 > w->cap_seq_offsets[seq]) {
        int32_t cap = (int32_t)n + 1;
        int64_t *off = realloc(w->seq_offsets[seq], (size_t)cap * sizeof(*off));
        if (!off) return oom();
        w->seq_offsets[seq] = off;
        w->cap_seq_offsets[seq] = cap;
    }
    w->offsets = w->seq_offsets[seq];
    int32_t k = 0;
    for (size_t i = 0; i < n; k++) {
        unsigned char c = (unsigned char)s[i];
        w->offsets[k] = (int64_t)i;
        if (c < 0x80) {
            w->cps[k] = c;
            i++;
            continue;
        }
        int len = fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &w->cps[k]);
        if (len == 0) return kiln_error(KILN_ERR_INVALID_ARG, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, i, c);
        i += (size_t)len;
    }
    w->offsets[k] = (int64_t)n;
    w->n_cps = k;
    w->n_seq_cps[seq] = k;
    return KILN_OK;
}

// Whitespace characters and their bytes at either end of s[0..n) (for trimming an added token).
static void count_ws(const char *s, size_t n, fe_tok_split *sp) {
    int16_t ln = 0, lb = 0, tn = 0, tb = 0;
    size_t i = 0;
    uint32_t cp;
    int l;
    while (i < n && (l = fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &cp)) && fe_tok_is_whitespace(cp)) {
        ln++, lb = (int16_t)(lb + l), i += (size_t)l;
    }
    if (i == n) {
        tn = ln, tb = lb;
    } else {
        size_t e = n;
        while (e > 0) {
            size_t b = e - 1;
            while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
            if (!fe_tok_utf8_decode((const unsigned char *)s + b, e - b, &cp) || !fe_tok_is_whitespace(cp)) break;
            tn++, tb = (int16_t)(tb + (int16_t)(e - b)), e = b;
        }
    }
    sp->lead_n = ln, sp->lead_b = lb, sp->trail_n = tn, sp->trail_b = tb;
}

// Normalizes the original characters [c0, c1) and appends their splits (text, and normalized
// added tokens) to the pre-tokenized string.
static kiln_status add_piece(const fe_tokenizer *t, fe_tok_work *w, int32_t c0, int32_t c1) {
    fe_tok_pretokenized *pt = &w->pt[w->cur];
    fe_tok_normalized *norm = &w->norm;
    int64_t shift = w->offsets[c0];
    norm->n = 0;
    if (!fe_tok_normalized_reserve(norm, c1 - c0)) return oom();
    for (int32_t i = c0; i < c1; i++) {
        norm->cps[i - c0] = w->cps[i];
        norm->start[i - c0] = w->offsets[i];
        norm->end[i - c0] = w->offsets[i + 1];
    }
    norm->n = c1 - c0;
    kiln_status st = fe_tok_normalize(&t->normalizer, w, norm, shift);
    if (st != KILN_OK || norm->n == 0) return st;

    // Append the normalized characters to the pre-tokenized text.
    fe_tok_normalized *text = &pt->text;
    int32_t base = text->n;
    if (!fe_tok_normalized_reserve(text, base + norm->n)) return oom();
    memcpy(text->cps + base, norm->cps, (size_t)norm->n * sizeof(uint32_t));
    memcpy(text->start + base, norm->start, (size_t)norm->n * sizeof(int64_t));
    memcpy(text->end + base, norm->end, (size_t)norm->n * sizeof(int64_t));
    text->n += norm->n;
    if (!t->has_added[true])
        return fe_tok_pretok_push(pt, (fe_tok_split){base, text->n, text->start[base], 0, -1, 0, 0, 0, 0}) ? KILN_OK : oom();

    if (!fe_tok_work_utf8(w, text, base, text->n)) return oom();
    w->norm_splits.n = 0;
    st = fe_tok_added_split(t, true, w->utf8.data, w->utf8.len, &w->norm_splits);
    for (int32_t i = 0; st == KILN_OK && i < w->norm_splits.n; i++) {
        const fe_tok_split_range *r = &w->norm_splits.v[i];
        int32_t k0 = base + w->char_at[r->start], k1 = base + w->char_at[r->end];
        fe_tok_split sp = {k0, k1, text->start[k0], text->end[k1 - 1], r->id, 0, 0, 0, 0};
        if (r->id >= 0) {
            count_ws(w->utf8.data + r->start, r->end - r->start, &sp);
            sp.start = sp.end = 0;
        }
        if (!fe_tok_pretok_push(pt, sp)) st = oom();
    }
    return st;
}

// Tokenizes one sequence into *out (model tokens and added tokens, original offsets).
static kiln_status encode_sequence(const fe_tokenizer *t, fe_tok_work *w, int seq, const char *text,
                                   fe_tok_tokens *out) {
    size_t n = strlen(text);
    out->n = 0;
    kiln_status st = decode_text(w, seq, seq ? "pair" : "text", text, n);
    if (st != KILN_OK) return st;
    w->cur = 0;
    fe_tok_pretokenized *pt = &w->pt[0];
    pt->n = 0;
    pt->text.n = 0;
    w->splits.n = 0;
    st = fe_tok_added_split(t, false, text, n, &w->splits);
    for (int32_t i = 0; st == KILN_OK && i < w->splits.n; i++) {
        const fe_tok_split_range *r = &w->splits.v[i];
        if (r->id >= 0) {
            fe_tok_split sp = {0, 0, (int64_t)r->start, (int64_t)r->end, r->id, 0, 0, 0, 0};
            count_ws(text + r->start, r->end - r->start, &sp);
            if (!fe_tok_pretok_push(pt, sp)) st = oom();
            continue;
        }
        st = add_piece(t, w, index_of(w->offsets, w->n_cps, (int64_t)r->start),
                       index_of(w->offsets, w->n_cps, (int64_t)r->end));
    }
    if (st == KILN_OK) st = fe_tok_pretokenize(t, &t->pretokenizer, w);
    pt = &w->pt[w->cur];
    // Word ids are split indices: HF numbers the pre-tokenized string's (non-empty) splits, added
    // tokens included, and every token a split yields carries its index.
    for (int32_t i = 0; st == KILN_OK && i < pt->n; i++) {
        const fe_tok_split *sp = &pt->v[i];
        int32_t first = out->n;
        if (sp->id >= 0) {
            if (!fe_tok_tokens_push(out, sp->id, sp->orig_start, sp->orig_end)) return oom();
            fe_tok_token *tk = &out->v[out->n - 1];
            tk->lead_n = sp->lead_n, tk->trail_n = sp->trail_n, tk->lead_b = sp->lead_b, tk->trail_b = sp->trail_b;
            tk->word = i;
            continue;
        }
        switch (t->model.kind) {
        case FE_TOK_MODEL_WORDPIECE:
            st = fe_tok_wordpiece_tokenize(&t->model, w, &pt->text, sp->start, sp->end, out);
            break;
        case FE_TOK_MODEL_BPE:
            st = fe_tok_bpe_tokenize(t, w, &pt->text, sp->start, sp->end, out);
            break;
        case FE_TOK_MODEL_UNIGRAM:
            st = fe_tok_unigram_tokenize(&t->model, w, &pt->text, sp->start, sp->end, out);
            break;
        case FE_TOK_MODEL_WORDLEVEL:
            st = fe_tok_wordlevel_tokenize(&t->model, w, &pt->text, sp->start, sp->end, out);
            break;
        case FE_TOK_MODEL_SPM:
            st = fe_tok_spm_tokenize(&t->model, w, &pt->text, sp->start, sp->end, out);
            break;
        }
        for (int32_t k = first; st == KILN_OK && k < out->n; k++) out->v[k].word = i;
    }
    return st;
}

kiln_status fe_tokenizer_encode_rows(const fe_tokenizer *t, fe_tok_work *w, const char *text, const char *pair,
                                     bool add_special_tokens, const fe_tok_truncation *trunc, fe_encoding **rows_out,
                                     int32_t *n_rows_out) {
    if (rows_out) *rows_out = NULL;
    if (n_rows_out) *n_rows_out = 0;
    if (!t || !w || !text || !rows_out || !n_rows_out)
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_encode: %s is NULL",
                          !t ? "tokenizer" : !text ? "text" : "an argument");
    kiln_status st = encode_sequence(t, w, 0, text, &w->seqs[0]);
    w->seqs[1].n = 0;
    if (st == KILN_OK && pair) st = encode_sequence(t, w, 1, pair, &w->seqs[1]);
    if (st == KILN_OK)
        st = fe_tok_post_process(t, w, w->seqs, pair != NULL, add_special_tokens, trunc, rows_out, n_rows_out);
    return st;
}

kiln_status fe_tokenizer_encode(const fe_tokenizer *t, const char *text, const char *pair,
                                bool add_special_tokens, fe_encoding *out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_encode: out is NULL");
    *out = (fe_encoding){0};
    fe_tok_work *w = fe_tok_work_new();
    if (!w) return oom();
    fe_encoding *rows = NULL;
    int32_t n_rows = 0;
    kiln_status st = fe_tokenizer_encode_rows(t, w, text, pair, add_special_tokens, NULL, &rows, &n_rows);
    fe_tok_work_free(w);
    if (st != KILN_OK) return st;
    *out = rows[0];
    rows[0] = (fe_encoding){0};
    fe_encodings_free(rows, n_rows);
    return KILN_OK;
}

void fe_encoding_free(fe_encoding *e) {
    if (!e) return;
    free(e->offsets);   // the one allocation behind every array
    *e = (fe_encoding){0};
}

void fe_encodings_free(fe_encoding *rows, int32_t n) {
    if (!rows) return;
    for (int32_t i = 0; i < n; i++) fe_encoding_free(&rows[i]);
    free(rows);
}
