/* bpe.c — the BPE model (GPT-2, RoBERTa, LLaMA, SentencePiece BPE): a word starts as one symbol per
 * character (continuing_subword_prefix on all but the first, end_of_word_suffix on the last;
 * byte_fallback's <0xXX> tokens, or unk, fused or not, for characters outside the vocabulary),
 * then the pair with the lowest merge rank, leftmost first, is merged until none is left, with a
 * priority queue as HF's word.rs does. ignore_merges takes a word found whole in the vocabulary.
 * Each thread's fe_tok_work keeps a cache of words already seen.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory in BPE"); }

/* ---- merges: (left id, right id) -> (rank, new id) ---------------------------------------------- */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static const fe_tok_merge_slot *find_merge(const fe_tok_model *m, int32_t a, int32_t b) {
    if (!m->bpe.merge_cap) return NULL;
    uint64_t key = pair_key(a, b);
    for (uint32_t i = (uint32_t)mix(key) & (m->bpe.merge_cap - 1);; i = (i + 1) & (m->bpe.merge_cap - 1)) {
        const fe_tok_merge_slot *s = &m->bpe.merges[i];
        if (s->key == key) return s;
        if (!s->key) return NULL;
    }
}

static bool grow_merges(fe_tok_model *m) {
    uint32_t cap = m->bpe.merge_cap ? m->bpe.merge_cap * 2 : 1024;
    fe_tok_merge_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) return false;
    for (uint32_t i = 0; i < m->bpe.merge_cap; i++) {
        fe_tok_merge_slot *old = &m->bpe.merges[i];
        if (!old->key) continue;
        uint32_t j = (uint32_t)mix(old->key) & (cap - 1);
        while (slots[j].key) j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    free(m->bpe.merges);
    m->bpe.merges = slots;
    m->bpe.merge_cap = cap;
    return true;
}

kiln_status fe_tok_bpe_add_merge(fe_tokenizer *t, const char *path, int32_t rank, const char *a, size_t a_len,
                                 const char *b, size_t b_len) {
    fe_tok_model *m = &t->model;
    int32_t ia = fe_tok_vocab_get(&m->vocab, a, a_len), ib = fe_tok_vocab_get(&m->vocab, b, b_len);
    if (ia < 0 || ib < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: merge %d: '%.*s' is not in the vocabulary", path, rank,
                          ia < 0 ? (int)KILN_MIN(a_len, 100) : (int)KILN_MIN(b_len, 100), ia < 0 ? a : b);
    // The merged token is a + b without b's continuing_subword_prefix.
    size_t skip = KILN_MIN(m->bpe.prefix_len, b_len);
    char small[256], *joined = a_len + b_len - skip <= sizeof(small) ? small : malloc(a_len + b_len - skip);
    if (!joined) return oom();
    memcpy(joined, a, a_len);
    memcpy(joined + a_len, b + skip, b_len - skip);
    int32_t id = fe_tok_vocab_get(&m->vocab, joined, a_len + b_len - skip);
    if (joined != small) free(joined);
    if (id < 0)
        return kiln_error(KILN_ERR_FORMAT, "%s: merge %d: '%.*s%.*s' (the merged token) is not in the vocabulary", path,
                          rank, (int)KILN_MIN(a_len, 100), a, (int)KILN_MIN(b_len - skip, 100), b + skip);
    if ((m->bpe.n_merges + 1) * 2 > m->bpe.merge_cap && !grow_merges(m)) return oom();
    uint64_t key = pair_key(ia, ib);
    uint32_t i = (uint32_t)mix(key) & (m->bpe.merge_cap - 1);
    while (m->bpe.merges[i].key && m->bpe.merges[i].key != key) i = (i + 1) & (m->bpe.merge_cap - 1);
    if (!m->bpe.merges[i].key) m->bpe.n_merges++;
    m->bpe.merges[i] = (fe_tok_merge_slot){key, rank, id};   // a repeated pair: the later merge wins, as in HF
    return KILN_OK;
}

kiln_status fe_tok_bpe_finish(fe_tokenizer *t, const char *path) {
    fe_tok_model *m = &t->model;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        m->bpe.byte_ids[b] = fe_tok_vocab_get(&m->vocab, name, 6);
    }
    m->bpe.char_ids = kiln_arena_alloc(t->arena, 512 * sizeof(int32_t));
    if (!m->bpe.char_ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (uint32_t cp = 0; cp < 512; cp++) {
        char u[4];
        int k = fe_tok_utf8_encode(cp, u);
        m->bpe.char_ids[cp] = fe_tok_vocab_get(&m->vocab, u, (size_t)k);
    }
    return KILN_OK;
}

/* ---- the word cache ------------------------------------------------------------------------------ */

// Grows with use (a single short text costs little), up to MAX_SLOTS words; then starts over.
enum { CACHE_MAX_SLOTS = 1 << 15, CACHE_MAX_WORD = 256, CACHE_MAX_POOL = 1 << 22 };

typedef struct cache_slot {
    uint32_t hash, key_at, key_len, tok_at, n_tok;   // n_tok 0: empty
} cache_slot;

struct fe_tok_bpe_cache {
    cache_slot *slots;   // (cap) open addressing
    uint32_t cap, n;
    char *keys;          // word bytes
    uint32_t keys_len, keys_cap;
    int32_t *toks;       // per token: id, byte length
    uint32_t toks_len, toks_cap;
};

void fe_tok_bpe_cache_free(fe_tok_bpe_cache *c);
void fe_tok_bpe_cache_free(fe_tok_bpe_cache *c) {
    if (!c) return;
    free(c->slots);
    free(c->keys);
    free(c->toks);
    free(c);
}

static fe_tok_bpe_cache *cache_get(fe_tok_work *w) {
    if (!w->bpe_cache) {
        fe_tok_bpe_cache *c = calloc(1, sizeof(*c));
        if (!c) return NULL;
        c->cap = 256;
        c->slots = calloc(c->cap, sizeof(*c->slots));
        if (!c->slots) {
            free(c);
            return NULL;
        }
        w->bpe_cache = c;
    }
    return w->bpe_cache;
}

static const cache_slot *cache_find(const fe_tok_bpe_cache *c, const char *s, uint32_t len, uint32_t hash) {
    for (uint32_t i = hash & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        const cache_slot *sl = &c->slots[i];
        if (!sl->n_tok) return sl;
        if (sl->hash == hash && sl->key_len == len && memcmp(c->keys + sl->key_at, s, len) == 0) return sl;
    }
}

static void cache_clear(fe_tok_bpe_cache *c) {
    memset(c->slots, 0, c->cap * sizeof(*c->slots));
    c->n = c->keys_len = c->toks_len = 0;
}

// Makes *buf hold `need` elements of `size` (at most `max`); false when it cannot.
static bool pool_room(void **buf, uint32_t *cap, uint32_t need, size_t size, uint32_t max) {
    if (need <= *cap) return true;
    if (need > max) return false;
    uint32_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    if (c > max) c = max;
    void *p = realloc(*buf, (size_t)c * size);
    if (!p) return false;
    *buf = p, *cap = c;
    return true;
}

static void cache_put(fe_tok_bpe_cache *c, const char *s, uint32_t len, uint32_t hash, const int32_t *toks,
                      uint32_t n_tok) {
    if ((c->n + 1) * 2 > c->cap) {
        if (c->cap < CACHE_MAX_SLOTS) {   // rehash into twice the slots
            cache_slot *old = c->slots;
            uint32_t old_cap = c->cap;
            cache_slot *slots = calloc((size_t)old_cap * 2, sizeof(*slots));
            if (!slots) return;
            c->slots = slots, c->cap = old_cap * 2;
            for (uint32_t i = 0; i < old_cap; i++) {
                if (!old[i].n_tok) continue;
                uint32_t j = old[i].hash & (c->cap - 1);
                while (c->slots[j].n_tok) j = (j + 1) & (c->cap - 1);
                c->slots[j] = old[i];
            }
            free(old);
        } else {
            cache_clear(c);
        }
    }
    if (!pool_room((void **)&c->keys, &c->keys_cap, c->keys_len + len, 1, CACHE_MAX_POOL) ||
        !pool_room((void **)&c->toks, &c->toks_cap, c->toks_len + 2 * n_tok, sizeof(int32_t), CACHE_MAX_POOL)) {
        cache_clear(c);
        if (!pool_room((void **)&c->keys, &c->keys_cap, len, 1, CACHE_MAX_POOL) ||
            !pool_room((void **)&c->toks, &c->toks_cap, 2 * n_tok, sizeof(int32_t), CACHE_MAX_POOL))
            return;
    }
    cache_slot *sl = (cache_slot *)cache_find(c, s, len, hash);
    if (sl->n_tok) return;
    *sl = (cache_slot){hash, c->keys_len, len, c->toks_len, n_tok};
    memcpy(c->keys + c->keys_len, s, len);
    c->keys_len += len;
    memcpy(c->toks + c->toks_len, toks, 2 * n_tok * sizeof(int32_t));
    c->toks_len += 2 * n_tok;
    c->n++;
}

/* ---- merging ------------------------------------------------------------------------------------- */

typedef struct symbol {
    int32_t id, prev, next, len;   // len: bytes of the word; 0 once merged into its left neighbour
} symbol;

typedef fe_tok_merge_item merge_item;

static inline bool before(merge_item a, merge_item b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

void fe_tok_merge_push(merge_item *h, int32_t *n, merge_item it) {
    int32_t i = (*n)++;
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (!before(it, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

merge_item fe_tok_merge_pop(merge_item *h, int32_t *n) {
    merge_item top = h[0], last = h[--*n];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(h[c + 1], h[c])) c++;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static bool add_symbol(symbol *sym, int32_t *n, int32_t id, int32_t len) {
    sym[*n] = (symbol){id, *n - 1, -1, len};
    if (*n > 0) sym[*n - 1].next = *n;
    (*n)++;
    return true;
}

// HF's merge_all: a queue of (rank, position) for every adjacent pair that has a merge.
static void merge_all(const fe_tok_model *m, symbol *sym, int32_t n, merge_item *heap) {
    int32_t nh = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        const fe_tok_merge_slot *ms = find_merge(m, sym[i].id, sym[i + 1].id);
        if (ms) fe_tok_merge_push(heap, &nh, (merge_item){ms->rank, i, ms->new_id});
    }
    while (nh > 0) {
        merge_item top = fe_tok_merge_pop(heap, &nh);
        symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next == -1) continue;
        symbol *right = &sym[cur->next];
        const fe_tok_merge_slot *ms = find_merge(m, cur->id, right->id);
        if (!ms || ms->new_id != top.new_id) continue;   // stale entry
        cur->id = top.new_id;
        cur->len += right->len;
        cur->next = right->next;
        right->len = 0;
        if (cur->next >= 0) sym[cur->next].prev = top.pos;
        if (cur->prev >= 0) {
            ms = find_merge(m, sym[cur->prev].id, cur->id);
            if (ms) fe_tok_merge_push(heap, &nh, (merge_item){ms->rank, cur->prev, ms->new_id});
        }
        if (cur->next >= 0) {
            ms = find_merge(m, cur->id, sym[cur->next].id);
            if (ms) fe_tok_merge_push(heap, &nh, (merge_item){ms->rank, top.pos, ms->new_id});
        }
    }
}

// The id of character i of the word (with prefix and suffix as HF adds them), or -1.
static int32_t char_id(const fe_tok_model *m, const char *word, const int64_t *at, int32_t i, int32_t n,
                       uint32_t cp, char *key) {
    bool prefix = i > 0 && m->bpe.prefix_len, suffix = i == n - 1 && m->bpe.suffix_len;
    if (!prefix && !suffix && cp < 512) return m->bpe.char_ids[cp];
    size_t len = 0, clen = (size_t)(at[i + 1] - at[i]);
    if (prefix) memcpy(key, m->bpe.prefix, m->bpe.prefix_len), len = m->bpe.prefix_len;
    memcpy(key + len, word + at[i], clen);
    len += clen;
    if (suffix) memcpy(key + len, m->bpe.suffix, m->bpe.suffix_len), len += m->bpe.suffix_len;
    return fe_tok_vocab_get(&m->vocab, key, len);
}

// Fills w->sym with the merged symbols of the word in w->utf8; returns how many (-1: OOM, -2: the
// word needs an unk_token that the vocabulary lacks).
static int32_t merge_word(const fe_tok_model *m, fe_tok_work *w, const fe_tok_normalized *s, int32_t start,
                          int32_t n_chars) {
    size_t extra = m->bpe.prefix_len + m->bpe.suffix_len;
    size_t max_sym = w->utf8.len + extra + 1;   // byte fallback gives one symbol per byte
    size_t need = max_sym * sizeof(symbol) + w->utf8.len + extra + 8;
    if (w->cap_sym < need) {
        void *p = realloc(w->sym, need);
        if (!p) return -1;
        w->sym = p, w->cap_sym = need;
    }
    if (w->cap_heap < 2 * max_sym * sizeof(merge_item)) {
        void *p = realloc(w->heap, 2 * max_sym * sizeof(merge_item));
        if (!p) return -1;
        w->heap = p, w->cap_heap = 2 * max_sym * sizeof(merge_item);
    }
    symbol *sym = w->sym;
    char *key = (char *)(sym + max_sym);
    const char *word = w->utf8.data;
    const int64_t *at = w->utf8_at;
    int32_t n = 0, unk_len = 0;
    bool have_unk = false;
    for (int32_t i = 0; i < n_chars; i++) {
        int32_t len = (int32_t)(at[i + 1] - at[i]);
        int32_t id = char_id(m, word, at, i, n_chars, s->cps[start + i], key);
        if (id >= 0) {
            if (have_unk) add_symbol(sym, &n, m->unk_id, unk_len), have_unk = false;
            add_symbol(sym, &n, id, len);
            continue;
        }
        if (m->bpe.byte_fallback) {
            // HF falls back on the bytes of the string it looked up, prefix and suffix included.
            size_t klen = 0;
            bool prefix = i > 0 && m->bpe.prefix_len, suffix = i == n_chars - 1 && m->bpe.suffix_len;
            if (prefix) memcpy(key, m->bpe.prefix, m->bpe.prefix_len), klen = m->bpe.prefix_len;
            memcpy(key + klen, word + at[i], (size_t)len);
            klen += (size_t)len;
            if (suffix) memcpy(key + klen, m->bpe.suffix, m->bpe.suffix_len), klen += m->bpe.suffix_len;
            bool all = true;
            for (size_t k = 0; k < klen && all; k++) all = m->bpe.byte_ids[(uint8_t)key[k]] >= 0;
            if (all) {
                // (flushing a pending unk first is not what HF does: its unk waits for the next known character)
                for (size_t k = 0; k < klen; k++) add_symbol(sym, &n, m->bpe.byte_ids[(uint8_t)key[k]], 1);
                continue;
            }
        }
        if (m->unk_id == -2) return -2;   // an unk_token that is not in the vocabulary: HF fails here
        if (m->unk_id < 0) continue;      // no unk token: HF drops the character
        if (have_unk && m->bpe.fuse_unk) {
            unk_len += len;
        } else {
            if (have_unk) add_symbol(sym, &n, m->unk_id, unk_len);
            have_unk = true, unk_len = len;
        }
    }
    if (have_unk) add_symbol(sym, &n, m->unk_id, unk_len);
    merge_all(m, sym, n, w->heap);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (sym[i].len) sym[k++] = sym[i];
    return k;
}

kiln_status fe_tok_bpe_tokenize(const fe_tokenizer *t, fe_tok_work *w, const fe_tok_normalized *s, int32_t start,
                                int32_t end, fe_tok_tokens *out) {
    const fe_tok_model *m = &t->model;
    int32_t n_chars = end - start;
    if (n_chars <= 0) return KILN_OK;
    if (!fe_tok_work_utf8(w, s, start, end)) return oom();
    const char *word = w->utf8.data;
    uint32_t len = (uint32_t)w->utf8.len;
    if (m->bpe.ignore_merges) {
        int32_t id = fe_tok_vocab_get(&m->vocab, word, len);
        if (id >= 0) return fe_tok_tokens_push(out, id, s->start[start], s->end[end - 1]) ? KILN_OK : oom();
    }
    fe_tok_bpe_cache *cache = len < CACHE_MAX_WORD ? cache_get(w) : NULL;
    uint32_t hash = cache ? fe_tok_hash(word, len) : 0;
    const int32_t *toks;
    uint32_t n_tok;
    const cache_slot *hit = cache ? cache_find(cache, word, len, hash) : NULL;
    if (hit && hit->n_tok) {
        toks = cache->toks + hit->tok_at;
        n_tok = hit->n_tok;
    } else {
        int32_t n = merge_word(m, w, s, start, n_chars);
        if (n == -2)
            return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: BPE needs its unk_token for a character outside the "
                                                    "vocabulary, and the unk_token is not in the vocabulary");
        if (n < 0) return oom();
        // Repack (id, len) pairs in place: a symbol is 4 ints, a pair 2.
        int32_t *pairs = (int32_t *)w->sym;
        const symbol *sym = w->sym;
        for (int32_t i = 0; i < n; i++) {
            int32_t id = sym[i].id, l = sym[i].len;
            pairs[2 * i] = id, pairs[2 * i + 1] = l;
        }
        toks = pairs;
        n_tok = (uint32_t)n;
        if (cache && n_tok) cache_put(cache, word, len, hash, toks, n_tok);
    }
    if (!fe_tok_tokens_reserve(out, out->n + (int64_t)n_tok)) return oom();
    int64_t b = 0;
    for (uint32_t i = 0; i < n_tok; i++) {
        int64_t e = KILN_MIN(b + toks[2 * i + 1], (int64_t)len);   // byte fallback on a prefix overshoots
        int64_t bs = KILN_MIN(b, (int64_t)len - 1);
        int32_t c0 = w->char_at[bs], c1 = w->char_at[KILN_MAX(e - 1, bs)];
        out->v[out->n++] = (fe_tok_token){toks[2 * i], s->start[start + c0], s->end[start + c1], -1, 0, 0, 0, -1};
        b += toks[2 * i + 1];
    }
    return KILN_OK;
}
