/* added_tokens.c — added and special tokens ([CLS], <mask>, user tokens): registering them with
 * HF's id rules, and finding them in text before the model sees it, as HF's AddedVocabulary does.
 * Tokens with normalized=false are matched in the original text, the others in the normalized text
 * against their own normalized form. Matching walks a byte trie from each position: leftmost-longest,
 * like HF's Aho-Corasick, with special tokens before the others when two patterns are equal.
 */
#include "frontend/tokenizer/internal.h"

// Start of the UTF-8 character that ends just before s + i (i > 0).
static size_t prev_char(const char *s, size_t i) {
    do i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

// The character at s + i (i < n) and, in *len, its length in bytes. s is valid UTF-8.
static uint32_t char_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t cp = 0;
    size_t l = (size_t)fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
    if (len) *len = l ? l : 1;
    return cp;
}

// The longest pattern of the set that starts at s + i, or NULL.
static const fe_tok_added_token *longest_at(const fe_tokenizer *t, bool normalized, const char *s, size_t n,
                                            size_t i) {
    const fe_tok_trie *trie = &t->added_trie[normalized];
    int32_t node = 0, best = -1;
    for (size_t k = i; k < n; k++) {
        node = fe_tok_trie_step(trie, node, (unsigned char)s[k]);
        if (node < 0) break;
        if (trie->nodes[node].value >= 0) best = trie->nodes[node].value;
    }
    return best >= 0 ? &t->added[best] : NULL;
}

kiln_status fe_tok_added_split(const fe_tokenizer *t, bool normalized, const char *s, size_t n,
                               fe_tok_splits *out) {
    if (n == 0) return KILN_OK;
    size_t done = 0;   // s[0, done) is covered by splits already
    if (t->has_added[normalized]) {
        const bool *first = t->added_first_byte[normalized];
        for (size_t i = 0; i < n; i++) {
            if (!first[(unsigned char)s[i]]) continue;
            const fe_tok_added_token *a = longest_at(t, normalized, s, n, i);
            if (!a) continue;
            size_t start = i, stop = i + a->pattern_len;
            i = stop - 1;   // matches do not overlap: go on after this one, even if it is discarded
            if (a->single_word) {
                bool word_before = start > 0 && fe_tok_is_word_char(char_at(s, n, prev_char(s, start), NULL));
                bool word_after = stop < n && fe_tok_is_word_char(char_at(s, n, stop, NULL));
                if (word_before || word_after) continue;
            }
            if (a->lstrip) {
                while (start > done && fe_tok_is_whitespace(char_at(s, n, prev_char(s, start), NULL)))
                    start = prev_char(s, start);
            }
            if (a->rstrip) {
                // HF searches on from the match's own end; a pattern that begins with whitespace
                // could then overlap the stripped spaces, which kiln does not allow.
                size_t len;
                while (stop < n && fe_tok_is_whitespace(char_at(s, n, stop, &len))) stop += len;
                i = stop - 1;
            }
            if ((done < start && !fe_tok_splits_push(out, done, start, -1)) ||
                !fe_tok_splits_push(out, start, stop, a->id))
                return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory matching added tokens");
            done = stop;
        }
    }
    if (done < n && !fe_tok_splits_push(out, done, n, -1))
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory matching added tokens");
    return KILN_OK;
}

// The pattern a normalized=true token is matched with: its content through the normalizer.
static kiln_status normalized_pattern(fe_tokenizer *t, fe_tok_added_token *a) {
    uint32_t *cps;
    int64_t *offsets;
    int32_t n;
    kiln_status st = fe_tok_decode_utf8("added token", a->content, strlen(a->content), &cps, &offsets, &n);
    if (st != KILN_OK) return st;   // out of memory: the content was checked to be UTF-8
    fe_tok_work *w = fe_tok_work_new();
    fe_tok_normalized norm = {0};
    kiln_strbuf sb = {0};
    if (!w) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (int32_t i = 0; st == KILN_OK && i < n; i++)
        if (!fe_tok_normalized_push(&norm, cps[i], offsets[i], offsets[i + 1]))
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    if (st == KILN_OK) st = fe_tok_normalize(&t->normalizer, w, &norm, 0);
    for (int32_t i = 0; st == KILN_OK && i < norm.n; i++) {
        char utf8[4];
        kiln_strbuf_append(&sb, utf8, (size_t)fe_tok_utf8_encode(norm.cps[i], utf8));
    }
    if (st == KILN_OK) {
        a->pattern = kiln_arena_strndup(t->arena, sb.data ? sb.data : "", sb.len);
        a->pattern_len = sb.len;
        if (sb.failed || !a->pattern) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    free(cps);
    free(offsets);
    fe_tok_work_free(w);
    fe_tok_normalized_free(&norm);
    kiln_strbuf_free(&sb);
    return st;
}

kiln_status fe_tok_add_token(fe_tokenizer *t, const fe_tok_added_token *tok) {
    size_t len = strlen(tok->content);
    if (len == 0) return KILN_OK;   // HF ignores empty added tokens
    // Text is split where a token matches; a token that is not UTF-8 could split a character.
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = fe_tok_utf8_decode((const unsigned char *)tok->content + i, len - i, &cp);
        if (!n) return kiln_error(KILN_ERR_FORMAT, "added token: not valid UTF-8 at byte %zu", i);
        i += (size_t)n;
    }
    int32_t id = tok->id;
    if (id < 0) id = fe_tok_vocab_get(&t->added_vocab, tok->content, len);
    if (id < 0) id = fe_tok_vocab_get(&t->model.vocab, tok->content, len);
    if (id < 0) id = t->n_ids;
    fe_tok_added_token *a = NULL;
    bool seen = fe_tok_vocab_get(&t->added_vocab, tok->content, len) >= 0;
    for (int32_t k = 0; seen && k < t->n_added && !a; k++)
        if (strcmp(t->added[k].content, tok->content) == 0) a = &t->added[k];
    if (!a) {
        if (t->n_added == t->cap_added) {
            int32_t cap = t->cap_added ? t->cap_added * 2 : 16;
            fe_tok_added_token *added = realloc(t->added, (size_t)cap * sizeof(*added));
            if (!added) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for added tokens");
            t->added = added;
            t->cap_added = cap;
        }
        a = &t->added[t->n_added++];
    }
    *a = *tok;
    a->id = id;
    const char *key;
    kiln_status st = fe_tok_vocab_set(&t->added_vocab, t->arena, tok->content, len, id, &key);
    if (st != KILN_OK) return st;
    a->content = a->pattern = key;
    a->pattern_len = len;
    if (a->normalized && t->normalizer.kind != FE_TOK_NORMALIZER_NONE) {
        st = normalized_pattern(t, a);
        if (st != KILN_OK) return st;
    }
    if (id >= t->n_ids) t->n_ids = id + 1;
    return KILN_OK;
}

kiln_status fe_tok_added_finish(fe_tokenizer *t) {
    int32_t n = t->n_added;
    const char **keys = malloc(((size_t)n + 1) * sizeof(*keys));
    uint32_t *lens = malloc(((size_t)n + 1) * sizeof(*lens));
    int32_t *values = malloc(((size_t)n + 1) * sizeof(*values));
    kiln_status st = KILN_OK;
    if (!keys || !lens || !values) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memset(t->has_added, 0, sizeof(t->has_added));
    memset(t->added_first_byte, 0, sizeof(t->added_first_byte));
    for (int norm = 0; st == KILN_OK && norm < 2; norm++) {
        // Priority: special tokens, then the others, each in the file's order. The trie keeps the
        // last of equal keys, so they go in backwards.
        int32_t k = 0;
        for (int pass = 0; pass < 2; pass++) {
            bool special = pass == 1;
            for (int32_t i = n - 1; i >= 0; i--) {
                const fe_tok_added_token *a = &t->added[i];
                if (a->normalized != (bool)norm || a->special != special || a->pattern_len == 0) continue;
                keys[k] = a->pattern, lens[k] = (uint32_t)a->pattern_len, values[k] = i;
                k++;
                t->has_added[norm] = true;
                t->added_first_byte[norm][(unsigned char)a->pattern[0]] = true;
            }
        }
        st = fe_tok_trie_build(&t->added_trie[norm], keys, lens, values, k);
    }
    free(keys);
    free(lens);
    free(values);
    return st;
}
