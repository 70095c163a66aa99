/* vocab.c — the token string -> id map that WordPiece looks words up in and that added tokens
 * use: open addressing with linear probing over FNV-1a hashes, keys copied into the tokenizer's
 * arena. Lookups take a length, so a piece of a larger buffer needs no copy or terminator.
 */
#include "frontend/tokenizer/internal.h"

uint32_t fe_tok_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static fe_tok_vocab_slot *find_slot(fe_tok_vocab_slot *slots, uint32_t cap, const char *s, size_t len,
                                    uint32_t hash) {
    for (uint32_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        fe_tok_vocab_slot *slot = &slots[i];
        if (!slot->key || (slot->hash == hash && slot->len == len && memcmp(slot->key, s, len) == 0))
            return slot;
    }
}

static kiln_status grow(fe_tok_vocab *v) {
    uint32_t cap = v->cap ? v->cap * 2 : 1024;
    fe_tok_vocab_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for the vocabulary");
    for (uint32_t i = 0; i < v->cap; i++) {
        fe_tok_vocab_slot *old = &v->slots[i];
        if (old->key) *find_slot(slots, cap, old->key, old->len, old->hash) = *old;
    }
    free(v->slots);
    v->slots = slots;
    v->cap = cap;
    return KILN_OK;
}

kiln_status fe_tok_vocab_set(fe_tok_vocab *v, kiln_arena *arena, const char *s, size_t len, int32_t id,
                             const char **key_out) {
    if (len > UINT32_MAX) return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: token of %zu bytes", len);
    if ((v->n + 1) * 2 > v->cap) {
        kiln_status st = grow(v);
        if (st != KILN_OK) return st;
    }
    uint32_t hash = fe_tok_hash(s, len);
    fe_tok_vocab_slot *slot = find_slot(v->slots, v->cap, s, len, hash);
    if (!slot->key) {
        char *key = kiln_arena_strndup(arena, s, len);
        if (!key) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for the vocabulary");
        *slot = (fe_tok_vocab_slot){.key = key, .len = (uint32_t)len, .hash = hash};
        v->n++;
    }
    slot->id = id;
    if (key_out) *key_out = slot->key;
    return KILN_OK;
}

int32_t fe_tok_vocab_get(const fe_tok_vocab *v, const char *s, size_t len) {
    if (!v->cap) return -1;
    const fe_tok_vocab_slot *slot = find_slot(v->slots, v->cap, s, len, fe_tok_hash(s, len));
    return slot->key ? slot->id : -1;
}

void fe_tok_vocab_free(fe_tok_vocab *v) {
    free(v->slots);
    memset(v, 0, sizeof(*v));
}
