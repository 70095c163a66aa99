/* normalize.c — the normalizer stage: dispatch over HF's normalizer types, HF's transform() (how a
 * rewritten string inherits alignments), and the small normalizers: Lowercase, Strip,
 * StripAccents, Prepend, Nmt and Sequence. BertNormalizer, the Unicode forms and Replace have files
 * of their own.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory normalizing text");
}

kiln_status fe_tok_transform(fe_tok_normalized *s, const fe_tok_change *ch, int32_t n, int32_t initial_offset,
                             fe_tok_normalized *tmp, int64_t shift) {
    if (!fe_tok_normalized_reserve(tmp, n)) return oom();
    int32_t at = initial_offset;   // the next source character
    for (int32_t i = 0; i < n; i++) {
        int64_t start, end;
        if (ch[i].change > 0) {
            // An inserted character takes the alignment of the source character before it.
            start = at >= 1 ? s->start[at - 1] : shift;
            end = at >= 1 ? s->end[at - 1] : shift;
        } else {
            KILN_ASSERT(at < s->n);
            start = s->start[at];
            end = s->end[at];
            at += 1 - ch[i].change;
        }
        tmp->cps[i] = ch[i].cp;
        tmp->start[i] = start;
        tmp->end[i] = end;
    }
    tmp->n = n;
    fe_tok_normalized_swap(s, tmp);
    return KILN_OK;
}

// Keeps the characters `keep` accepts, each with its own alignment (HF's filter()).
static void filter(fe_tok_normalized *s, bool (*keep)(uint32_t)) {
    int32_t k = 0;
    for (int32_t i = 0; i < s->n; i++) {
        if (!keep(s->cps[i])) continue;
        s->cps[k] = s->cps[i], s->start[k] = s->start[i], s->end[k] = s->end[i];
        k++;
    }
    s->n = k;
}

static kiln_status lowercase(fe_tok_normalized *s, fe_tok_normalized *tmp) {
    bool ascii = true;
    for (int32_t i = 0; i < s->n && ascii; i++) ascii = s->cps[i] < 0x80;
    if (ascii) {
        for (int32_t i = 0; i < s->n; i++)
            if (s->cps[i] >= 'A' && s->cps[i] <= 'Z') s->cps[i] += 32;
        return KILN_OK;
    }
    tmp->n = 0;
    for (int32_t i = 0; i < s->n; i++) {
        uint32_t low[2];
        int k = fe_tok_to_lower(s->cps[i], low);
        for (int j = 0; j < k; j++)   // a second character shares the first one's alignment
            if (!fe_tok_normalized_push(tmp, low[j], s->start[i], s->end[i])) return oom();
    }
    fe_tok_normalized_swap(s, tmp);
    return KILN_OK;
}

static void strip(fe_tok_normalized *s, bool left, bool right) {
    int32_t lo = 0, hi = s->n;
    if (left)
        while (lo < hi && fe_tok_is_whitespace(s->cps[lo])) lo++;
    if (right)
        while (hi > lo && fe_tok_is_whitespace(s->cps[hi - 1])) hi--;
    if (lo > 0) {
        memmove(s->cps, s->cps + lo, (size_t)(hi - lo) * sizeof(*s->cps));
        memmove(s->start, s->start + lo, (size_t)(hi - lo) * sizeof(*s->start));
        memmove(s->end, s->end + lo, (size_t)(hi - lo) * sizeof(*s->end));
    }
    s->n = hi - lo;
}

static bool not_combining_mark(uint32_t cp) { return !fe_tok_is_combining_mark(cp); }

static kiln_status prepend(const fe_tok_normalizer *nz, fe_tok_normalized *s, fe_tok_normalized *tmp) {
    if (s->n == 0) return KILN_OK;   // HF prepends nothing to an empty string
    if (!fe_tok_normalized_reserve(tmp, s->n + nz->n_content)) return oom();
    // Every prepended character takes the alignment of the first one.
    for (int32_t i = 0; i < nz->n_content; i++) {
        tmp->cps[i] = nz->content[i];
        tmp->start[i] = s->start[0];
        tmp->end[i] = s->end[0];
    }
    memcpy(tmp->cps + nz->n_content, s->cps, (size_t)s->n * sizeof(*s->cps));
    memcpy(tmp->start + nz->n_content, s->start, (size_t)s->n * sizeof(*s->start));
    memcpy(tmp->end + nz->n_content, s->end, (size_t)s->n * sizeof(*s->end));
    tmp->n = s->n + nz->n_content;
    fe_tok_normalized_swap(s, tmp);
    return KILN_OK;
}

// SentencePiece's NMT normalization: drop some controls, turn other spaces into ' '.
static bool nmt_keep(uint32_t cp) {
    return !((cp >= 0x1 && cp <= 0x8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) || cp == 0x7F || cp == 0x8F ||
             cp == 0x9F);
}

static uint32_t nmt_map(uint32_t cp) {
    switch (cp) {
    case 0x9: case 0xA: case 0xC: case 0xD: case 0x1680: case 0x200B: case 0x200C: case 0x200D: case 0x200E:
    case 0x200F: case 0x2028: case 0x2029: case 0x2581: case 0xFEFF: case 0xFFFD:
        return ' ';
    default:
        return cp;
    }
}

kiln_status fe_tok_normalize(const fe_tok_normalizer *nz, fe_tok_work *w, fe_tok_normalized *s, int64_t shift) {
    switch (nz->kind) {
    case FE_TOK_NORMALIZER_NONE:
        return KILN_OK;
    case FE_TOK_NORMALIZER_BERT: {
        kiln_status st = fe_tok_normalize_bert(nz, s, &w->tmp, &w->tmp2);
        if (st == KILN_OK) fe_tok_normalized_swap(s, &w->tmp);
        return st;
    }
    case FE_TOK_NORMALIZER_NFC:
    case FE_TOK_NORMALIZER_NFD:
    case FE_TOK_NORMALIZER_NFKC:
    case FE_TOK_NORMALIZER_NFKD:
        return fe_tok_normalize_unicode(nz->kind, w, s, shift);
    case FE_TOK_NORMALIZER_LOWERCASE:
        return lowercase(s, &w->tmp);
    case FE_TOK_NORMALIZER_STRIP:
        strip(s, nz->strip_left, nz->strip_right);
        return KILN_OK;
    case FE_TOK_NORMALIZER_STRIP_ACCENTS:
        filter(s, not_combining_mark);
        return KILN_OK;
    case FE_TOK_NORMALIZER_REPLACE:
        return fe_tok_normalize_replace(nz, w, s, shift);
    case FE_TOK_NORMALIZER_PREPEND:
        return prepend(nz, s, &w->tmp);
    case FE_TOK_NORMALIZER_NMT:
        filter(s, nmt_keep);
        for (int32_t i = 0; i < s->n; i++) s->cps[i] = nmt_map(s->cps[i]);
        return KILN_OK;
    case FE_TOK_NORMALIZER_SEQUENCE:
        for (int32_t i = 0; i < nz->n_seq; i++) {
            kiln_status st = fe_tok_normalize(&nz->seq[i], w, s, shift);
            if (st != KILN_OK) return st;
        }
        return KILN_OK;
    }
    return KILN_OK;
}
