/* normalizer_replace.c — HF's Replace normalizer: every match of a string or a regex in the
 * normalized text becomes the replacement. The replacement's characters take the alignment of the
 * last character of the match (of the character before an empty match), as HF's replace() does.
 */
#include "frontend/tokenizer/internal.h"

kiln_status fe_tok_normalize_replace(const fe_tok_normalizer *nz, fe_tok_work *w, fe_tok_normalized *s,
                                     int64_t shift) {
    if (s->n == 0) return KILN_OK;
    if (!fe_tok_work_utf8(w, s, 0, s->n))
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory normalizing text");
    w->ranges.n = 0;
    kiln_status st = fe_tok_regex_find_all(nz->pattern, &w->match_data, w->utf8.data, w->utf8.len, &w->ranges);
    if (st != KILN_OK || w->ranges.n == 0) return st;
    fe_tok_normalized *out = &w->tmp;
    out->n = 0;
    int32_t done = 0;   // characters of s already copied or replaced
    for (int32_t m = 0; m < w->ranges.n; m++) {
        int32_t c0 = w->char_at[w->ranges.v[m][0]], c1 = w->char_at[w->ranges.v[m][1]];
        for (; done < c0; done++)
            if (!fe_tok_normalized_push(out, s->cps[done], s->start[done], s->end[done])) goto oom;
        int64_t start = c1 > 0 ? s->start[c1 - 1] : shift, end = c1 > 0 ? s->end[c1 - 1] : shift;
        for (int32_t k = 0; k < nz->n_content; k++)
            if (!fe_tok_normalized_push(out, nz->content[k], start, end)) goto oom;
        done = c1;
    }
    for (; done < s->n; done++)
        if (!fe_tok_normalized_push(out, s->cps[done], s->start[done], s->end[done])) goto oom;
    fe_tok_normalized_swap(s, out);
    return KILN_OK;
oom:
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory normalizing text");
}
