/* buffers.c — the growable arrays that carry text between the pipeline's stages (aligned code
 * points, word spans, tokens, splits, regex matches). Each push doubles on demand and reports OOM
 * by returning false; the caller owns and frees the array.
 */
#include "frontend/tokenizer/internal.h"

// Makes room for one more element of `size` bytes in *data, which holds n of *cap.
static bool reserve(void **data, int32_t n, int32_t *cap, size_t size) {
    if (n < *cap) return true;
    if (*cap > INT32_MAX / 2) return false;
    int32_t new_cap = *cap ? *cap * 2 : 64;
    void *d = realloc(*data, (size_t)new_cap * size);
    if (!d) return false;
    *data = d;
    *cap = new_cap;
    return true;
}

bool fe_tok_normalized_reserve(fe_tok_normalized *s, int32_t n) {
    if (n <= s->cap) return true;
    int32_t cap = s->cap ? s->cap : 64;
    while (cap < n) {
        if (cap > INT32_MAX / 2) return false;
        cap *= 2;
    }
    uint32_t *cps = realloc(s->cps, (size_t)cap * sizeof(*cps));
    if (!cps) return false;
    s->cps = cps;
    int64_t *start = realloc(s->start, (size_t)cap * sizeof(*start));
    if (!start) return false;
    s->start = start;
    int64_t *end = realloc(s->end, (size_t)cap * sizeof(*end));
    if (!end) return false;
    s->end = end;
    s->cap = cap;
    return true;
}

bool fe_tok_normalized_push(fe_tok_normalized *s, uint32_t cp, int64_t start, int64_t end) {
    if (s->n == s->cap && (s->n == INT32_MAX || !fe_tok_normalized_reserve(s, s->n + 1))) return false;
    s->cps[s->n] = cp;
    s->start[s->n] = start;
    s->end[s->n] = end;
    s->n++;
    return true;
}

void fe_tok_normalized_free(fe_tok_normalized *s) {
    free(s->cps);
    free(s->start);
    free(s->end);
    memset(s, 0, sizeof(*s));
}

void fe_tok_normalized_swap(fe_tok_normalized *a, fe_tok_normalized *b) {
    fe_tok_normalized t = *a;
    *a = *b;
    *b = t;
}

bool fe_tok_spans_push(fe_tok_spans *s, int32_t start, int32_t end) {
    if (!reserve((void **)&s->v, s->n, &s->cap, sizeof(*s->v))) return false;
    s->v[s->n++] = (fe_tok_span){start, end};
    return true;
}

bool fe_tok_tokens_reserve(fe_tok_tokens *t, int64_t n) {
    if (n <= t->cap) return true;
    if (n > INT32_MAX / 2) return false;
    int32_t cap = t->cap ? t->cap : 64;
    while (cap < n) cap *= 2;
    fe_tok_token *v = realloc(t->v, (size_t)cap * sizeof(*v));
    if (!v) return false;
    t->v = v, t->cap = cap;
    return true;
}

bool fe_tok_tokens_push(fe_tok_tokens *t, int32_t id, int64_t start, int64_t end) {
    if (!reserve((void **)&t->v, t->n, &t->cap, sizeof(*t->v))) return false;
    t->v[t->n++] = (fe_tok_token){id, start, end, -1, 0, 0, 0, -1};
    return true;
}

bool fe_tok_splits_push(fe_tok_splits *s, size_t start, size_t end, int32_t id) {
    if (!reserve((void **)&s->v, s->n, &s->cap, sizeof(*s->v))) return false;
    s->v[s->n++] = (fe_tok_split_range){start, end, id};
    return true;
}

bool fe_tok_pretok_push(fe_tok_pretokenized *p, fe_tok_split split) {
    if (!reserve((void **)&p->v, p->n, &p->cap, sizeof(*p->v))) return false;
    p->v[p->n++] = split;
    return true;
}

bool fe_tok_ranges_push(fe_tok_ranges *r, int64_t start, int64_t end) {
    if (!reserve((void **)&r->v, r->n, &r->cap, sizeof(*r->v))) return false;
    r->v[r->n][0] = start;
    r->v[r->n][1] = end;
    r->n++;
    return true;
}

bool fe_tok_matches_push(fe_tok_matches *m, int32_t start, int32_t end, bool is_match) {
    if (!reserve((void **)&m->v, m->n, &m->cap, sizeof(*m->v))) return false;
    m->v[m->n++] = (fe_tok_match){start, end, is_match};
    return true;
}
