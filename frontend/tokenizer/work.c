/* work.c — the per-thread scratch of an encoding (fe_tok_work): decoded text, normalized pieces,
 * pre-tokenized splits, UTF-8 views, regex match data, BPE symbols and its word cache. A batch
 * reuses one, so its buffers are allocated once and the BPE cache stays warm.
 */
#include "frontend/tokenizer/internal.h"

void fe_tok_bpe_cache_free(fe_tok_bpe_cache *c);   // bpe.c

fe_tok_work *fe_tok_work_new(void) { return calloc(1, sizeof(fe_tok_work)); }

void fe_tok_work_free(fe_tok_work *w) {
    if (!w) return;
    free(w->cps);
    free(w->seq_offsets[0]);
    free(w->seq_offsets[1]);
    free(w->splits.v);
    free(w->norm_splits.v);
    fe_tok_normalized_free(&w->norm);
    fe_tok_normalized_free(&w->tmp);
    fe_tok_normalized_free(&w->tmp2);
    for (int i = 0; i < 2; i++) {
        fe_tok_normalized_free(&w->pt[i].text);
        free(w->pt[i].v);
        free(w->seqs[i].v);
    }
    kiln_strbuf_free(&w->utf8);
    free(w->char_at);
    free(w->utf8_at);
    free(w->ranges.v);
    free(w->matches.v);
    free(w->spans.v);
    free(w->changes);
    fe_tok_regex_match_data_free(w->match_data);
    free(w->sym);
    free(w->heap);
    fe_tok_bpe_cache_free(w->bpe_cache);
    free(w);
}

static bool grow(void **p, int32_t *cap, int32_t n, size_t size) {
    if (n <= *cap) return true;
    int32_t c = *cap ? *cap : 256;
    while (c < n) {
        if (c > INT32_MAX / 2) return false;
        c *= 2;
    }
    void *d = realloc(*p, (size_t)c * size);
    if (!d) return false;
    *p = d;
    *cap = c;
    return true;
}

bool fe_tok_work_changes(fe_tok_work *w, int32_t n) {
    return grow((void **)&w->changes, &w->cap_changes, n, sizeof(*w->changes));
}

bool fe_tok_work_utf8(fe_tok_work *w, const fe_tok_normalized *s, int32_t start, int32_t end) {
    int32_t n = end - start;
    if (n > INT32_MAX / 4 - 1) return false;
    if (!grow((void **)&w->char_at, &w->cap_char_at, 4 * n + 1, sizeof(*w->char_at)) ||
        !grow((void **)&w->utf8_at, &w->cap_utf8_at, n + 1, sizeof(*w->utf8_at)))
        return false;
    w->utf8.len = 0;
    if (w->utf8.cap < 4 * (size_t)n + 1) {
        kiln_strbuf_append(&w->utf8, "", 0);   // allocate
        size_t cap = 4 * (size_t)n + 1;
        char *d = realloc(w->utf8.data, cap);
        if (!d) return false;
        w->utf8.data = d;
        w->utf8.cap = cap;
    }
    char *out = w->utf8.data;
    size_t len = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t cp = s->cps[start + i];
        w->utf8_at[i] = (int64_t)len;
        int k = cp < 0x80 ? (out[len] = (char)cp, 1) : fe_tok_utf8_encode(cp, out + len);
        for (int j = 0; j < k; j++) w->char_at[len + (size_t)j] = i;
        len += (size_t)k;
    }
    w->utf8_at[n] = (int64_t)len;
    w->char_at[len] = n;
    out[len] = '\0';
    w->utf8.len = len;
    return true;
}
