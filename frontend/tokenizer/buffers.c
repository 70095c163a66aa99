/* buffers.c — the growable arrays that carry text between the pipeline's stages (aligned code
 * points, word spans, tokens, added-token splits). Each push doubles on demand and reports OOM by
 * returning false; the caller owns and frees the array.
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

bool fe_tok_normalized_push(fe_tok_normalized *s, uint32_t cp, int64_t start, int64_t end) {
    if (s->n == s->cap) {
        int32_t cap = s->cap;   // three arrays grow together
        if (!reserve((void **)&s->cps, s->n, &cap, sizeof(*s->cps))) return false;
        cap = s->cap;
        if (!reserve((void **)&s->start, s->n, &cap, sizeof(*s->start))) return false;
        cap = s->cap;
        if (!reserve((void **)&s->end, s->n, &cap, sizeof(*s->end))) return false;
        s->cap = cap;
    }
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

bool fe_tok_spans_push(fe_tok_spans *s, int32_t start, int32_t end) {
    if (!reserve((void **)&s->v, s->n, &s->cap, sizeof(*s->v))) return false;
    s->v[s->n++] = (fe_tok_span){start, end};
    return true;
}

bool fe_tok_tokens_push(fe_tok_tokens *t, int32_t id, int64_t start, int64_t end) {
    if (!reserve((void **)&t->v, t->n, &t->cap, sizeof(*t->v))) return false;
    t->v[t->n++] = (fe_tok_token){id, start, end};
    return true;
}

bool fe_tok_splits_push(fe_tok_splits *s, size_t start, size_t end, int32_t id) {
    if (!reserve((void **)&s->v, s->n, &s->cap, sizeof(*s->v))) return false;
    s->v[s->n++] = (fe_tok_split){start, end, id};
    return true;
}
