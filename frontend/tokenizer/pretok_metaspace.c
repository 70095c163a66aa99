/* pretok_metaspace.c — HF's Metaspace pre-tokenizer (SentencePiece): spaces become the replacement
 * (▁), which is prepended as prepend_scheme says (always; first: only to the split that starts the
 * text; never), then the split is cut before every ▁ (merged with next) unless split is false.
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_pretok_emit_behavior(fe_tok_work *w, const fe_tok_normalized *text, const fe_tok_split *sp,
                                        const fe_tok_matches *m, fe_tok_behavior behavior, fe_tok_pretokenized *dst);

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory pre-tokenizing text");
}

kiln_status fe_tok_pretok_metaspace(const fe_tok_pretokenizer *p, fe_tok_work *w) {
    fe_tok_pretokenized *cur = &w->pt[w->cur], *dst = &w->pt[!w->cur];
    dst->n = 0;
    dst->text.n = 0;
    fe_tok_normalized *out = &dst->text;
    for (int32_t i = 0; i < cur->n; i++) {
        const fe_tok_split *sp = &cur->v[i];
        if (sp->id >= 0) {
            if (!fe_tok_pretok_push(dst, *sp)) return oom();
            continue;
        }
        const fe_tok_normalized *src = &cur->text;
        int32_t first = out->n;
        if (!fe_tok_normalized_reserve(out, out->n + sp->end - sp->start + 1)) return oom();
        uint32_t c0 = src->cps[sp->start] == ' ' ? p->replacement : src->cps[sp->start];
        bool prepend = c0 != p->replacement &&
                       (p->prepend_scheme == FE_TOK_PREPEND_ALWAYS ||
                        (p->prepend_scheme == FE_TOK_PREPEND_FIRST && sp->orig_start == 0));
        if (prepend) {
            out->cps[out->n] = p->replacement, out->start[out->n] = src->start[sp->start];
            out->end[out->n] = src->end[sp->start];
            out->n++;
        }
        for (int32_t k = sp->start; k < sp->end; k++) {
            out->cps[out->n] = src->cps[k] == ' ' ? p->replacement : src->cps[k];
            out->start[out->n] = src->start[k], out->end[out->n] = src->end[k];
            out->n++;
        }
        fe_tok_split whole = {first, out->n, sp->orig_start, 0, -1, 0, 0, 0, 0};
        if (!p->split) {
            if (!fe_tok_pretok_push(dst, whole)) return oom();
            continue;
        }
        // Each ▁ a match, the text between non-matches: merged with next.
        w->matches.n = 0;
        int32_t last = 0, n = out->n - first;
        for (int32_t k = 0; k < n; k++) {
            if (out->cps[first + k] != p->replacement) continue;
            if ((last < k && !fe_tok_matches_push(&w->matches, last, k, false)) ||
                !fe_tok_matches_push(&w->matches, k, k + 1, true))
                return oom();
            last = k + 1;
        }
        if (last < n && !fe_tok_matches_push(&w->matches, last, n, false)) return oom();
        kiln_status st = fe_tok_pretok_emit_behavior(w, out, &whole, &w->matches, FE_TOK_MERGED_WITH_NEXT, dst);
        if (st != KILN_OK) return st;
    }
    w->cur = !w->cur;
    return KILN_OK;
}
