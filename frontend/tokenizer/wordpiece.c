/* wordpiece.c — the WordPiece model (BERT): greedy longest-match-first over a word, pieces after
 * the first carrying the "##" prefix; a word that cannot be covered, or that is longer than
 * max_input_chars_per_word characters, becomes one unk token spanning the whole word (HF's rules).
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_wordpiece_tokenize(const fe_tok_model *m, const fe_tok_normalized *s, int32_t start,
                                      int32_t end, fe_tok_tokens *out) {
    int32_t n_chars = end - start, first = out->n;
    if (n_chars <= 0) return KILN_OK;
    if (n_chars > m->wordpiece.max_input_chars_per_word) goto unk;

    // One block: at[k] = where character k starts in `word` (its UTF-8), then `word`, then `key`,
    // where prefix + word[lo, hi) is assembled for pieces after the first.
    size_t plen = m->wordpiece.prefix_len, max_bytes = 4 * (size_t)n_chars;
    size_t *at = malloc(((size_t)n_chars + 1) * sizeof(*at) + 2 * max_bytes + plen);
    if (!at) goto oom;
    char *word = (char *)(at + n_chars + 1), *key = word + max_bytes;
    at[0] = 0;
    for (int32_t k = 0; k < n_chars; k++)
        at[k + 1] = at[k] + (size_t)fe_tok_utf8_encode(s->cps[start + k], word + at[k]);
    memcpy(key, m->wordpiece.prefix, plen);

    bool bad = false, ok = true;
    for (int32_t lo = 0; lo < n_chars && !bad && ok;) {
        int32_t hi = n_chars, id = -1;
        for (; hi > lo; hi--) {
            if (lo == 0) {
                id = fe_tok_vocab_get(&m->vocab, word, at[hi]);
            } else {
                memcpy(key + plen, word + at[lo], at[hi] - at[lo]);
                id = fe_tok_vocab_get(&m->vocab, key, plen + at[hi] - at[lo]);
            }
            if (id >= 0) break;
        }
        if (id < 0) bad = true;
        else ok = fe_tok_tokens_push(out, id, s->start[start + lo], s->end[start + hi - 1]);
        lo = hi;
    }
    free(at);
    if (!ok) goto oom;
    if (!bad) return KILN_OK;
unk:
    out->n = first;
    if (!fe_tok_tokens_push(out, m->wordpiece.unk_id, s->start[start], s->end[end - 1])) goto oom;
    return KILN_OK;
oom:
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory in WordPiece");
}
