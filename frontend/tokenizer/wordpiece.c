/* wordpiece.c — the WordPiece model (BERT): greedy longest-match-first over a word, pieces after
 * the first carrying the "##" prefix; a word that cannot be covered, or that is longer than
 * max_input_chars_per_word characters, becomes one unk token spanning the whole word (HF's rules).
 * Also WordLevel, the whole word looked up or unk.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory in WordPiece"); }

kiln_status fe_tok_wordpiece_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                      int32_t start, int32_t end, fe_tok_tokens *out) {
    int32_t n_chars = end - start, first = out->n;
    if (n_chars <= 0) return KILN_OK;
    if (n_chars > m->wordpiece.max_input_chars_per_word) goto unk;
    if (!fe_tok_work_utf8(w, s, start, end)) return oom();
    const char *word = w->utf8.data;
    const int64_t *at = w->utf8_at;
    size_t plen = m->wordpiece.prefix_len, need = w->utf8.len + plen + 1;
    if (w->cap_sym < need) {
        void *p = realloc(w->sym, need);
        if (!p) return oom();
        w->sym = p, w->cap_sym = need;
    }
    char *key = w->sym;   // prefix + word[lo, hi) for pieces after the first
    memcpy(key, m->wordpiece.prefix, plen);

    for (int32_t lo = 0; lo < n_chars;) {
        int32_t hi = n_chars, id = -1;
        for (; hi > lo; hi--) {
            if (lo == 0) {
                id = fe_tok_vocab_get(&m->vocab, word, (size_t)at[hi]);
            } else {
                memcpy(key + plen, word + at[lo], (size_t)(at[hi] - at[lo]));
                id = fe_tok_vocab_get(&m->vocab, key, plen + (size_t)(at[hi] - at[lo]));
            }
            if (id >= 0) break;
        }
        if (id < 0) goto unk;
        if (!fe_tok_tokens_push(out, id, s->start[start + lo], s->end[start + hi - 1])) return oom();
        lo = hi;
    }
    return KILN_OK;
unk:
    out->n = first;
    if (!fe_tok_tokens_push(out, m->unk_id, s->start[start], s->end[end - 1])) return oom();
    return KILN_OK;
}

kiln_status fe_tok_wordlevel_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                      int32_t start, int32_t end, fe_tok_tokens *out) {
    if (end <= start) return KILN_OK;
    if (!fe_tok_work_utf8(w, s, start, end)) return oom();
    int32_t id = fe_tok_vocab_get(&m->vocab, w->utf8.data, w->utf8.len);
    if (id < 0) id = m->unk_id;
    if (id < 0) return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: WordLevel has no unk_token for an unknown word");
    if (!fe_tok_tokens_push(out, id, s->start[start], s->end[end - 1])) return oom();
    return KILN_OK;
}
