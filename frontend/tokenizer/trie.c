/* trie.c — a byte trie in one array, each node's children contiguous and sorted by byte, for the
 * two jobs that walk keys from a position: finding added tokens in text (leftmost-longest, as HF's
 * Aho-Corasick) and Unigram's common-prefix search over its pieces. Built once from sorted keys.
 */
#include "frontend/tokenizer/internal.h"

typedef struct trie_key {
    const unsigned char *s;
    uint32_t len;
    int32_t value, order;
} trie_key;

static int cmp_keys(const void *pa, const void *pb) {
    const trie_key *a = pa, *b = pb;
    uint32_t n = KILN_MIN(a->len, b->len);
    int c = memcmp(a->s, b->s, n);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->order - b->order;   // a repeated key: the later one last, so it wins
}

typedef struct builder {
    fe_tok_trie *trie;
    uint32_t cap;
    const trie_key *keys;
} builder;

static bool grow(builder *b, uint32_t need) {
    if (need <= b->cap) return true;
    uint32_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > UINT32_MAX / 4) return false;
        cap *= 2;
    }
    fe_tok_trie_node *nodes = realloc(b->trie->nodes, (size_t)cap * sizeof(*nodes));
    if (!nodes) return false;
    b->trie->nodes = nodes;
    b->cap = cap;
    return true;
}

// Fills node `at` from keys[lo, hi), which share their first `depth` bytes: its value is the key
// of exactly `depth` bytes (the last of equal ones), its children one per distinct next byte.
static bool fill(builder *b, uint32_t at, int32_t lo, int32_t hi, uint32_t depth) {
    const trie_key *k = b->keys;
    int32_t value = -1;
    while (lo < hi && k[lo].len == depth) value = k[lo++].value;
    b->trie->nodes[at].value = value;
    uint32_t n = 0;
    for (int32_t i = lo; i < hi; i++)
        if (i == lo || k[i].s[depth] != k[i - 1].s[depth]) n++;
    uint32_t first = b->trie->n_nodes;
    if (!grow(b, first + n)) return false;
    b->trie->nodes[at].first = first;
    b->trie->nodes[at].n = n;
    b->trie->n_nodes += n;
    uint32_t c = first;
    for (int32_t i = lo; i < hi; c++) {
        int32_t j = i + 1;
        while (j < hi && k[j].s[depth] == k[i].s[depth]) j++;
        b->trie->nodes[c] = (fe_tok_trie_node){.byte = k[i].s[depth], .value = -1};
        if (!fill(b, c, i, j, depth + 1)) return false;
        i = j;
    }
    return true;
}

kiln_status fe_tok_trie_build(fe_tok_trie *trie, const char *const *keys, const uint32_t *lens, const int32_t *values,
                              int32_t n) {
    fe_tok_trie_free(trie);
    trie_key *k = malloc(((size_t)n + 1) * sizeof(*k));
    builder b = {trie, 0, k};
    if (!k || !grow(&b, 1)) goto oom;
    for (int32_t i = 0; i < n; i++) k[i] = (trie_key){(const unsigned char *)keys[i], lens[i], values[i], i};
    qsort(k, (size_t)n, sizeof(*k), cmp_keys);
    trie->n_nodes = 1;
    trie->nodes[0] = (fe_tok_trie_node){.value = -1};
    if (!fill(&b, 0, 0, n, 0)) goto oom;
    for (int i = 0; i < 256; i++) trie->root_child[i] = -1;
    for (uint32_t c = trie->nodes[0].first; c < trie->nodes[0].first + trie->nodes[0].n; c++)
        trie->root_child[trie->nodes[c].byte] = (int32_t)c;
    free(k);
    return KILN_OK;
oom:
    free(k);
    fe_tok_trie_free(trie);
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory building a trie");
}

void fe_tok_trie_free(fe_tok_trie *trie) {
    free(trie->nodes);
    memset(trie, 0, sizeof(*trie));
    for (int i = 0; i < 256; i++) trie->root_child[i] = -1;
}
