/* pretokenize.c — the pre-tokenizer stage: HF's PreTokenizedString::split and the five delimiter
 * behaviors, and the pre-tokenizers that only split (Whitespace, WhitespaceSplit, Punctuation,
 * Digits, CharDelimiterSplit, Split, Sequence; BertPreTokenizer's rule is in pretok_bert.c).
 * ByteLevel and Metaspace rewrite text too and live in pretok_bytelevel.c / pretok_metaspace.c.
 *
 * A splitting step writes the new splits to the scratch pre-tokenized string and swaps the split
 * lists; the characters stay where they are. A slice starts, in the original, where its first
 * character came from (HF's original_shift after slice()).
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_pretok_bytelevel(const fe_tokenizer *t, const fe_tok_pretokenizer *p, fe_tok_work *w);
kiln_status fe_tok_pretok_metaspace(const fe_tok_pretokenizer *p, fe_tok_work *w);
kiln_status fe_tok_pretok_emit_behavior(fe_tok_work *w, const fe_tok_normalized *text, const fe_tok_split *sp,
                                        const fe_tok_matches *m, fe_tok_behavior behavior, fe_tok_pretokenized *dst);

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory pre-tokenizing text");
}

// Pushes the slice [start, end) of the split (indices into text) as a new split of dst.
static bool push_slice(fe_tok_pretokenized *dst, const fe_tok_normalized *text, int32_t start, int32_t end) {
    if (start >= end) return true;   // HF drops empty splits
    return fe_tok_pretok_push(dst, (fe_tok_split){start, end, text->start[start], 0, -1, 0, 0, 0, 0});
}

kiln_status fe_tok_pretok_emit_behavior(fe_tok_work *w, const fe_tok_normalized *text, const fe_tok_split *sp,
                                        const fe_tok_matches *m, fe_tok_behavior behavior, fe_tok_pretokenized *dst) {
    (void)w;
    const int32_t base = sp->start;
    switch (behavior) {
    case FE_TOK_ISOLATED:
    case FE_TOK_REMOVED:
        for (int32_t i = 0; i < m->n; i++) {
            if (behavior == FE_TOK_REMOVED && m->v[i].is_match) continue;
            if (!push_slice(dst, text, base + m->v[i].start, base + m->v[i].end)) return oom();
        }
        return KILN_OK;
    case FE_TOK_CONTIGUOUS:
    case FE_TOK_MERGED_WITH_PREVIOUS: {
        int32_t cur_start = -1, cur_end = -1;
        bool prev = false;
        for (int32_t i = 0; i < m->n; i++) {
            bool is = m->v[i].is_match;
            bool extend = behavior == FE_TOK_CONTIGUOUS ? is == prev : (is && !prev);
            if (extend && cur_start >= 0) {
                cur_end = m->v[i].end;
            } else {
                if (cur_start >= 0 && !push_slice(dst, text, base + cur_start, base + cur_end)) return oom();
                cur_start = m->v[i].start, cur_end = m->v[i].end;
            }
            prev = is;
        }
        if (cur_start >= 0 && !push_slice(dst, text, base + cur_start, base + cur_end)) return oom();
        return KILN_OK;
    }
    case FE_TOK_MERGED_WITH_NEXT: {
        // HF folds from the end: a match not followed by another match joins the piece after it.
        int32_t first = dst->n;
        int32_t cur_start = -1, cur_end = -1;
        bool prev = false;
        for (int32_t i = m->n - 1; i >= 0; i--) {
            bool is = m->v[i].is_match;
            if (is && !prev && cur_start >= 0) {
                cur_start = m->v[i].start;
            } else {
                if (cur_start >= 0 && !push_slice(dst, text, base + cur_start, base + cur_end)) return oom();
                cur_start = m->v[i].start, cur_end = m->v[i].end;
            }
            prev = is;
        }
        if (cur_start >= 0 && !push_slice(dst, text, base + cur_start, base + cur_end)) return oom();
        for (int32_t i = first, j = dst->n - 1; i < j; i++, j--) {   // back to text order
            fe_tok_split tmp = dst->v[i];
            dst->v[i] = dst->v[j];
            dst->v[j] = tmp;
        }
        return KILN_OK;
    }
    }
    return KILN_OK;
}

typedef enum char_class { CC_WHITESPACE, CC_PUNCT, CC_NUMERIC, CC_DELIM } char_class;

static bool in_class(char_class c, uint32_t cp, uint32_t delim) {
    switch (c) {
    case CC_WHITESPACE: return fe_tok_is_whitespace(cp);
    case CC_PUNCT: return fe_tok_is_punctuation(cp);
    case CC_NUMERIC: return fe_tok_is_numeric(cp);
    case CC_DELIM: return cp == delim;
    }
    return false;
}

// HF's Pattern for a char predicate: each matching character alone, the runs between as non-matches.
static kiln_status char_matches(const fe_tok_normalized *text, const fe_tok_split *sp, char_class c, uint32_t delim,
                                fe_tok_matches *m) {
    m->n = 0;
    int32_t last = 0, n = sp->end - sp->start;
    for (int32_t i = 0; i < n; i++) {
        if (!in_class(c, text->cps[sp->start + i], delim)) continue;
        if ((last < i && !fe_tok_matches_push(m, last, i, false)) || !fe_tok_matches_push(m, i, i + 1, true))
            return oom();
        last = i + 1;
    }
    if (last < n && !fe_tok_matches_push(m, last, n, false)) return oom();
    return KILN_OK;
}

// HF's Pattern for a regex, on the split's UTF-8; invert flips every flag.
static kiln_status regex_matches(fe_tok_work *w, const fe_tok_normalized *text, const fe_tok_split *sp,
                                 const fe_tok_regex *re, bool invert, fe_tok_matches *m) {
    m->n = 0;
    if (!fe_tok_work_utf8(w, text, sp->start, sp->end)) return oom();
    w->ranges.n = 0;
    kiln_status st = fe_tok_regex_find_all(re, &w->match_data, w->utf8.data, w->utf8.len, &w->ranges);
    if (st != KILN_OK) return st;
    int32_t last = 0, n = sp->end - sp->start;
    for (int32_t k = 0; k < w->ranges.n; k++) {
        int32_t a = w->char_at[w->ranges.v[k][0]], b = w->char_at[w->ranges.v[k][1]];
        if ((last < a && !fe_tok_matches_push(m, last, a, invert)) || !fe_tok_matches_push(m, a, b, !invert))
            return oom();
        last = b;
    }
    if (last < n && !fe_tok_matches_push(m, last, n, invert)) return oom();
    return KILN_OK;
}

// Whitespace: the words of \w+|[^\w\s]+ (Rust regex classes), everything else dropped.
static kiln_status whitespace_words(const fe_tok_normalized *text, const fe_tok_split *sp, fe_tok_pretokenized *dst) {
    int32_t i = sp->start;
    while (i < sp->end) {
        uint32_t cp = text->cps[i];
        if (fe_tok_is_whitespace(cp) && !fe_tok_is_word_char(cp)) {
            i++;
            continue;
        }
        bool word = fe_tok_is_word_char(cp);
        int32_t j = i + 1;
        while (j < sp->end) {
            uint32_t c = text->cps[j];
            bool w2 = fe_tok_is_word_char(c);
            if (word ? !w2 : (w2 || fe_tok_is_whitespace(c))) break;
            j++;
        }
        if (!push_slice(dst, text, i, j)) return oom();
        i = j;
    }
    return KILN_OK;
}

kiln_status fe_tok_pretokenize_bert(const fe_tok_normalized *s, int32_t start, int32_t end, fe_tok_spans *out);

// One splitting step over every text split of the current pre-tokenized string.
static kiln_status split_step(const fe_tok_pretokenizer *p, fe_tok_work *w) {
    fe_tok_pretokenized *cur = &w->pt[w->cur], *dst = &w->pt[!w->cur];
    const fe_tok_normalized *text = &cur->text;
    dst->n = 0;
    kiln_status st = KILN_OK;
    for (int32_t i = 0; i < cur->n && st == KILN_OK; i++) {
        const fe_tok_split *sp = &cur->v[i];
        if (sp->id >= 0) {
            if (!fe_tok_pretok_push(dst, *sp)) return oom();
            continue;
        }
        switch (p->kind) {
        case FE_TOK_PRETOK_BERT:
            w->spans.n = 0;
            st = fe_tok_pretokenize_bert(text, sp->start, sp->end, &w->spans);
            for (int32_t k = 0; st == KILN_OK && k < w->spans.n; k++)
                if (!push_slice(dst, text, w->spans.v[k].start, w->spans.v[k].end)) st = oom();
            break;
        case FE_TOK_PRETOK_WHITESPACE:
            st = whitespace_words(text, sp, dst);
            break;
        case FE_TOK_PRETOK_WHITESPACE_SPLIT:
            st = char_matches(text, sp, CC_WHITESPACE, 0, &w->matches);
            if (st == KILN_OK) st = fe_tok_pretok_emit_behavior(w, text, sp, &w->matches, FE_TOK_REMOVED, dst);
            break;
        case FE_TOK_PRETOK_PUNCTUATION:
            st = char_matches(text, sp, CC_PUNCT, 0, &w->matches);
            if (st == KILN_OK) st = fe_tok_pretok_emit_behavior(w, text, sp, &w->matches, p->behavior, dst);
            break;
        case FE_TOK_PRETOK_DIGITS:
            st = char_matches(text, sp, CC_NUMERIC, 0, &w->matches);
            if (st == KILN_OK)
                st = fe_tok_pretok_emit_behavior(w, text, sp, &w->matches,
                                                 p->individual_digits ? FE_TOK_ISOLATED : FE_TOK_CONTIGUOUS, dst);
            break;
        case FE_TOK_PRETOK_CHAR_DELIMITER:
            st = char_matches(text, sp, CC_DELIM, p->delimiter, &w->matches);
            if (st == KILN_OK) st = fe_tok_pretok_emit_behavior(w, text, sp, &w->matches, FE_TOK_REMOVED, dst);
            break;
        case FE_TOK_PRETOK_SPLIT:
            st = regex_matches(w, text, sp, p->pattern, p->invert, &w->matches);
            if (st == KILN_OK) st = fe_tok_pretok_emit_behavior(w, text, sp, &w->matches, p->behavior, dst);
            break;
        default:
            KILN_ASSERT(!"not a splitting pre-tokenizer");
        }
    }
    if (st != KILN_OK) return st;
    // The new splits index the same characters: swap the lists, keep the text.
    fe_tok_split *v = cur->v;
    int32_t cap = cur->cap;
    cur->v = dst->v, cur->n = dst->n, cur->cap = dst->cap;
    dst->v = v, dst->cap = cap, dst->n = 0;
    return KILN_OK;
}

kiln_status fe_tok_pretokenize(const fe_tokenizer *t, const fe_tok_pretokenizer *p, fe_tok_work *w) {
    switch (p->kind) {
    case FE_TOK_PRETOK_NONE:
        return KILN_OK;
    case FE_TOK_PRETOK_BYTE_LEVEL:
        return fe_tok_pretok_bytelevel(t, p, w);
    case FE_TOK_PRETOK_METASPACE:
        return fe_tok_pretok_metaspace(p, w);
    case FE_TOK_PRETOK_SEQUENCE:
        for (int32_t i = 0; i < p->n_seq; i++) {
            kiln_status st = fe_tok_pretokenize(t, &p->seq[i], w);
            if (st != KILN_OK) return st;
        }
        return KILN_OK;
    default:
        return split_step(p, w);
    }
}
