/* spm.c — SentencePiece BPE as llama.cpp runs it for GGUF files (tokenizer.ggml.model "llama",
 * llm_tokenizer_spm in src/llama-vocab.cpp): a word starts as one symbol per character; the
 * adjacent pair whose concatenation is a vocabulary token of the highest score merges first (equal
 * scores: the leftmost pair), until no pair forms a token; a symbol that is no token becomes the
 * <0xXX> tokens of its bytes. There is no merge list — the scores rank the merges — which is why
 * this is not bpe.c, though both use the same queue (scores become ranks once, at load).
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory in SentencePiece BPE"); }

typedef struct scored_id {
    float score;
    int32_t id;
} scored_id;

static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored_id *)a)->score, y = ((const scored_id *)b)->score;
    return x > y ? -1 : x < y;
}

kiln_status fe_tok_spm_finish(fe_tokenizer *t, const char *path, const float *scores) {
    fe_tok_model *m = &t->model;
    int32_t n = m->n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (scores[i] != scores[i])
            return kiln_error(KILN_ERR_FORMAT, "%s: key 'tokenizer.ggml.scores': the score of token %d is NaN", path, i);
    m->spm.rank = kiln_arena_alloc(t->arena, ((size_t)n + 1) * sizeof(int32_t));
    scored_id *order = malloc(((size_t)n + 1) * sizeof(*order));
    if (!m->spm.rank || !order) {
        free(order);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (int32_t i = 0; i < n; i++) order[i] = (scored_id){scores[i], i};
    qsort(order, (size_t)n, sizeof(*order), by_score_desc);
    // Equal scores share a rank, so the queue's tie-break (the leftmost pair) is llama.cpp's.
    for (int32_t i = 0, rank = 0; i < n; i++) {
        if (i > 0 && order[i].score != order[i - 1].score) rank++;
        m->spm.rank[order[i].id] = rank;
    }
    free(order);
    // llama.cpp's byte_to_token: "<0xXX>", else the byte as a one-byte token (which it requires).
    for (int b = 0; b < 256; b++) {
        char name[8] = {(char)b};
        int32_t id = fe_tok_vocab_get(&m->vocab, name, 1);
        snprintf(name, sizeof(name), "<0x%02X>", b);
        int32_t hex = fe_tok_vocab_get(&m->vocab, name, 6);
        m->spm.byte_ids[b] = hex >= 0 ? hex : id >= 0 ? id : m->unk_id;
    }
    return KILN_OK;
}

typedef struct spm_symbol {
    int32_t start, len;   // bytes of w->utf8; len 0 once merged into its left neighbour
    int32_t prev, next;   // -1: none
} spm_symbol;

// Queues the pair (left, right) when their concatenation is a token (llama.cpp's try_add_bigram).
static void try_pair(const fe_tok_model *m, const char *text, const spm_symbol *sym, int32_t left, int32_t right,
                     fe_tok_merge_item *heap, int32_t *n_heap) {
    if (left < 0 || right < 0) return;
    int32_t id = fe_tok_vocab_get(&m->vocab, text + sym[left].start, (size_t)(sym[left].len + sym[right].len));
    if (id >= 0) fe_tok_merge_push(heap, n_heap, (fe_tok_merge_item){m->spm.rank[id], left, id});
}

kiln_status fe_tok_spm_tokenize(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s, int32_t start,
                                int32_t end, fe_tok_tokens *out) {
    if (end <= start) return KILN_OK;
    if (!fe_tok_work_utf8(w, s, start, end)) return oom();
    const char *text = w->utf8.data;
    int32_t n = end - start;
    // The heap holds the n - 1 first pairs plus at most one more per merge (each merge pops one, pushes two).
    size_t need_sym = (size_t)n * sizeof(spm_symbol), need_heap = 2 * (size_t)n * sizeof(fe_tok_merge_item);
    if (w->cap_sym < need_sym) {
        void *p = realloc(w->sym, need_sym);
        if (!p) return oom();
        w->sym = p, w->cap_sym = need_sym;
    }
    if (w->cap_heap < need_heap) {
        void *p = realloc(w->heap, need_heap);
        if (!p) return oom();
        w->heap = p, w->cap_heap = need_heap;
    }
    spm_symbol *sym = w->sym;
    fe_tok_merge_item *heap = w->heap;
    int32_t n_heap = 0;
    for (int32_t i = 0; i < n; i++)
        sym[i] = (spm_symbol){(int32_t)w->utf8_at[i], (int32_t)(w->utf8_at[i + 1] - w->utf8_at[i]), i - 1,
                              i + 1 < n ? i + 1 : -1};
    for (int32_t i = 1; i < n; i++) try_pair(m, text, sym, i - 1, i, heap, &n_heap);
    while (n_heap > 0) {
        fe_tok_merge_item top = fe_tok_merge_pop(heap, &n_heap);
        spm_symbol *left = &sym[top.pos];
        // Stale when either side has changed since: symbols only grow, so the lengths tell.
        if (left->len == 0 || left->next < 0) continue;
        spm_symbol *right = &sym[left->next];
        if ((uint32_t)(left->len + right->len) != m->spm.lens[top.new_id]) continue;
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (left->next >= 0) sym[left->next].prev = top.pos;
        try_pair(m, text, sym, left->prev, top.pos, heap, &n_heap);
        try_pair(m, text, sym, top.pos, left->next, heap, &n_heap);
    }
    // llama.cpp's resegment: a merged symbol is always a token (only tokens are queued), so a symbol
    // that is not one is a single character outside the vocabulary, and goes out byte by byte.
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        const spm_symbol *sy = &sym[i];
        int64_t os = s->start[start + w->char_at[sy->start]], oe = s->end[start + w->char_at[sy->start + sy->len - 1]];
        int32_t id = fe_tok_vocab_get(&m->vocab, text + sy->start, (size_t)sy->len);
        if (id >= 0) {
            if (!fe_tok_tokens_push(out, id, os, oe)) return oom();
            continue;
        }
        for (int32_t k = sy->start; k < sy->start + sy->len; k++) {
            int32_t b = m->spm.byte_ids[(unsigned char)text[k]];
            if (b < 0)
                return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: SentencePiece vocabulary has no token for byte 0x%02X "
                                                        "(no <0x%02X>, no unk)", (unsigned char)text[k], (unsigned char)text[k]);
            if (!fe_tok_tokens_push(out, b, os, oe)) return oom();
        }
    }
    return KILN_OK;
}
