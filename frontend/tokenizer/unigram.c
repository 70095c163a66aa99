/* unigram.c — the Unigram model (T5, ALBERT, XLNet, SentencePiece unigram): Viterbi over the byte
 * lattice of a word, scoring pieces found by a trie; a character no piece covers becomes unk
 * (min score - 10). Consecutive unk are fused into one string, which is looked up again and
 * otherwise becomes byte_fallback's <0xXX> tokens or unk, all with the fused string's offsets —
 * HF's encode_optimized and tokenize, ties included (the first candidate found stays).
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory in Unigram"); }

kiln_status fe_tok_unigram_finish(fe_tokenizer *t, const char *path) {
    fe_tok_model *m = &t->model;
    int32_t *values = malloc(((size_t)m->n_vocab + 1) * sizeof(*values));
    if (!values) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    m->unigram.min_score = 1e300;
    for (int32_t i = 0; i < m->n_vocab; i++) {
        values[i] = i;
        if (m->unigram.scores[i] < m->unigram.min_score) m->unigram.min_score = m->unigram.scores[i];
    }
    kiln_status st = fe_tok_trie_build(&m->unigram.trie, m->unigram.pieces, m->unigram.lens, values, m->n_vocab);
    free(values);
    if (st != KILN_OK) return kiln_error_prefix(st, "%s", path);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        m->unigram.byte_ids[b] = fe_tok_vocab_get(&m->vocab, name, 6);
    }
    return KILN_OK;
}

typedef struct best_node {
    double score;
    int32_t starts_at;   // -1: not reached
    int32_t id;
} best_node;

kiln_status fe_tok_unigram_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s,
                                    int32_t start, int32_t end, fe_tok_tokens *out) {
    if (end <= start) return KILN_OK;
    if (!fe_tok_work_utf8(w, s, start, end)) return oom();
    const unsigned char *text = (const unsigned char *)w->utf8.data;
    int32_t size = (int32_t)w->utf8.len;
    size_t need = ((size_t)size + 1) * sizeof(best_node);
    if (w->cap_sym < need) {
        void *p = realloc(w->sym, need);
        if (!p) return oom();
        w->sym = p, w->cap_sym = need;
    }
    best_node *best = w->sym;
    for (int32_t i = 0; i <= size; i++) best[i] = (best_node){0.0, -1, 0};
    const double unk_score = m->unigram.min_score - 10.0;
    const fe_tok_trie *trie = &m->unigram.trie;
    for (int32_t at = 0; at < size;) {
        double here = best[at].score;
        int32_t mblen = (int32_t)(w->utf8_at[w->char_at[at] + 1] - at);
        bool single = false;
        int32_t node = 0;
        for (int32_t k = at; k < size; k++) {   // common-prefix search
            node = fe_tok_trie_step(trie, node, text[k]);
            if (node < 0) break;
            int32_t id = trie->nodes[node].value;
            if (id < 0) continue;
            int32_t key_pos = k + 1;
            double cand = m->unigram.scores[id] + here;
            best_node *tgt = &best[key_pos];
            if (tgt->starts_at < 0 || cand > tgt->score) *tgt = (best_node){cand, at, id};
            if (key_pos - at == mblen) single = true;
        }
        if (!single) {
            if (m->unk_id < 0)
                return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: Unigram has no unk_id for a character it cannot cover");
            best_node *tgt = &best[at + mblen];
            double cand = unk_score + here;
            if (tgt->starts_at < 0 || cand > tgt->score) *tgt = (best_node){cand, at, m->unk_id};
        }
        at += mblen;
    }
    // Walk back; unk nodes next to each other are fused into one string.
    int32_t first = out->n;
    for (int32_t at = size; at > 0;) {
        const best_node *nd = &best[at];
        int32_t from = nd->starts_at;
        if (nd->id == m->unk_id) {
            while (from > 0 && best[from].id == m->unk_id) from = best[from].starts_at;
        }
        // Tokens are pushed backwards as (id or -1 for "look up", byte range) and fixed below.
        if (!fe_tok_tokens_push(out, nd->id == m->unk_id ? -1 : nd->id, from, at)) return oom();
        at = from;
    }
    // Reverse into text order, then resolve fused unk strings and offsets.
    for (int32_t i = first, j = out->n - 1; i < j; i++, j--) {
        fe_tok_token tmp = out->v[i];
        out->v[i] = out->v[j];
        out->v[j] = tmp;
    }
    int32_t n = out->n - first;
    for (int32_t i = 0; i < n; i++) {
        fe_tok_token tk = out->v[first + i];
        int32_t bs = (int32_t)tk.start, be = (int32_t)tk.end;
        int64_t os = s->start[start + w->char_at[bs]], oe = s->end[start + w->char_at[be - 1]];
        if (tk.id >= 0) {
            out->v[first + i] = (fe_tok_token){tk.id, os, oe, -1, 0, 0, 0, -1};
            continue;
        }
        int32_t id = fe_tok_vocab_get(&m->vocab, (const char *)text + bs, (size_t)(be - bs));
        if (id >= 0) {
            out->v[first + i] = (fe_tok_token){id, os, oe, -1, 0, 0, 0, -1};
            continue;
        }
        bool bytes = m->unigram.byte_fallback;
        for (int32_t k = bs; k < be && bytes; k++) bytes = m->unigram.byte_ids[text[k]] >= 0;
        if (!bytes) {
            out->v[first + i] = (fe_tok_token){m->unk_id, os, oe, -1, 0, 0, 0, -1};
            continue;
        }
        // One token per byte, every one with the fused string's offsets: shift the rest right.
        int32_t extra = be - bs - 1;
        for (int32_t k = 0; k < extra; k++)
            if (!fe_tok_tokens_push(out, 0, 0, 0)) return oom();
        memmove(out->v + first + i + 1 + extra, out->v + first + i + 1, (size_t)(n - i - 1) * sizeof(fe_tok_token));
        for (int32_t k = bs; k < be; k++)
            out->v[first + i + (k - bs)] = (fe_tok_token){m->unigram.byte_ids[text[k]], os, oe, -1, 0, 0, 0, -1};
        i += extra, n += extra;
    }
    return KILN_OK;
}
