/* normalizer_bert.c — HF's BertNormalizer: clean_text, handle_chinese_chars, strip_accents (NFD,
 * then drop nonspacing marks), lowercase, in that order. Each output code point gets the original
 * byte range HF's alignments give it: that of the character it came from, except where NFD
 * reorders combining marks (see decompose()).
 */
#include "frontend/tokenizer/internal.h"

#include <utf8proc.h>

// The CJK blocks BERT puts spaces around (tokenizers' is_chinese_char; kana and hangul are not in).
static bool is_chinese_char(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory normalizing text");
}

// Characters newer than HF's NFD tables neither decompose nor reorder there, so not here either.
static int combining_class(uint32_t cp) {
    return fe_tok_is_nfd_known(cp) ? utf8proc_get_property((utf8proc_int32_t)cp)->combining_class : 0;
}

// NFD of *src into *dst: canonical decomposition of each character, then canonical ordering (each
// run of combining marks stably sorted by combining class). Alignment follows HF's transform(),
// which is positional: the k-th output character that is the first of its decomposition gets the
// range of the k-th source character, and the others the range of the source character before the
// next such one. Without reordering that is each character's own source; after it, not always.
static kiln_status decompose(const fe_tok_normalized *src, fe_tok_normalized *dst) {
    dst->n = 0;
    bool *is_new = NULL;   // (dst->n) not the first character of its decomposition
    int32_t cap_new = 0;
    for (int32_t i = 0; i < src->n; i++) {
        utf8proc_int32_t parts[16] = {(utf8proc_int32_t)src->cps[i]};
        int boundclass = 0;
        utf8proc_ssize_t n = 1;
        if (fe_tok_is_nfd_known(src->cps[i])) {
            n = utf8proc_decompose_char(parts[0], parts, 16, UTF8PROC_DECOMPOSE, &boundclass);
            if (n < 1 || n > 16) parts[0] = (utf8proc_int32_t)src->cps[i], n = 1;   // cannot happen
        }
        for (utf8proc_ssize_t k = 0; k < n; k++) {
            if (dst->n == cap_new) {
                cap_new = cap_new ? 2 * cap_new : 64;
                bool *grown = realloc(is_new, (size_t)cap_new * sizeof(*is_new));
                if (!grown) goto oom;
                is_new = grown;
            }
            is_new[dst->n] = k > 0;
            if (!fe_tok_normalized_push(dst, (uint32_t)parts[k], 0, 0)) goto oom;
        }
    }
    for (int32_t i = 1; i < dst->n; i++) {   // insertion sort: runs of marks are short
        int cc = combining_class(dst->cps[i]);
        if (cc == 0) continue;
        uint32_t cp = dst->cps[i];
        bool fresh = is_new[i];
        int32_t j = i;
        for (; j > 0; j--) {
            int prev = combining_class(dst->cps[j - 1]);
            if (prev == 0 || prev <= cc) break;
            dst->cps[j] = dst->cps[j - 1], is_new[j] = is_new[j - 1];
        }
        dst->cps[j] = cp, is_new[j] = fresh;
    }
    // The first output character always starts a decomposition (decompositions are canonically
    // ordered already), so p > 0 whenever a new character is reached.
    for (int32_t i = 0, p = 0; i < dst->n; i++) {
        int32_t from = is_new[i] ? KILN_MAX(p - 1, 0) : p++;
        dst->start[i] = src->start[from];
        dst->end[i] = src->end[from];
    }
    free(is_new);
    return KILN_OK;
oom:
    free(is_new);
    return oom();
}

kiln_status fe_tok_normalize_bert(const fe_tok_normalizer *nz, const fe_tok_normalized *src, fe_tok_normalized *out,
                                  fe_tok_normalized *tmp) {
    out->n = 0;
    if (!fe_tok_normalized_reserve(out, src->n)) return oom();
    bool ascii = true;
    for (int32_t i = 0; i < src->n; i++) {
        uint32_t cp = src->cps[i];
        int64_t s = src->start[i], e = src->end[i];
        if (cp < 0x80) {   // the common case: no table lookups
            if (nz->bert.clean_text) {
                if (cp == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7F) continue;
                if (cp == '\t' || cp == '\n' || cp == '\r') cp = ' ';
            }
            if (out->n == out->cap && !fe_tok_normalized_reserve(out, out->n + 1)) return oom();
            out->cps[out->n] = cp, out->start[out->n] = s, out->end[out->n] = e;
            out->n++;
            continue;
        }
        ascii = false;
        if (nz->bert.clean_text) {
            if (fe_tok_is_dropped(cp)) continue;
            if (fe_tok_is_whitespace(cp)) cp = ' ';
        }
        bool ok;
        if (nz->bert.handle_chinese_chars && is_chinese_char(cp)) {
            ok = fe_tok_normalized_push(out, ' ', s, e) && fe_tok_normalized_push(out, cp, s, e) &&
                 fe_tok_normalized_push(out, ' ', s, e);
        } else {
            ok = fe_tok_normalized_push(out, cp, s, e);
        }
        if (!ok) return oom();
    }
    if (!nz->bert.strip_accents && !nz->bert.lowercase) return KILN_OK;
    if (ascii) {
        if (nz->bert.lowercase)
            for (int32_t i = 0; i < out->n; i++)
                if (out->cps[i] >= 'A' && out->cps[i] <= 'Z') out->cps[i] += 32;
        return KILN_OK;
    }

    const fe_tok_normalized *from = out;
    if (nz->bert.strip_accents) {
        kiln_status st = decompose(out, tmp);
        if (st != KILN_OK) return st;
        from = tmp;
    }
    fe_tok_normalized *dst = from == out ? tmp : out;
    dst->n = 0;
    for (int32_t i = 0; i < from->n; i++) {
        uint32_t lower[2] = {from->cps[i], 0};
        if (nz->bert.strip_accents && fe_tok_is_nonspacing_mark(lower[0])) continue;
        int k = nz->bert.lowercase ? fe_tok_to_lower(lower[0], lower) : 1;
        for (int j = 0; j < k; j++)
            if (!fe_tok_normalized_push(dst, lower[j], from->start[i], from->end[i])) return oom();
    }
    if (dst != out) fe_tok_normalized_swap(out, dst);
    return KILN_OK;
}
