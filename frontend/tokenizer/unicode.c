/* unicode.c — UTF-8 decoding and the character classes HF's normalizers and pre-tokenizers use.
 * The classes are looked up in tables measured from `tokenizers` itself (unicode_tables.c), not
 * in utf8proc: HF's classes come from tables of several Unicode versions, none of them utf8proc's.
 * utf8proc only decomposes, for the Unicode normalizers, the characters HF's tables know.
 */
#include "frontend/tokenizer/internal.h"

int fe_tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int fe_tok_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool in_ranges(const fe_tok_range *r, int32_t n, uint32_t cp) {
    int32_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) hi = mid - 1;
        else if (cp > r[mid].last) lo = mid + 1;
        else return true;
    }
    return false;
}

bool fe_tok_is_dropped(uint32_t cp) { return in_ranges(fe_tok_dropped, fe_tok_n_dropped, cp); }
bool fe_tok_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
    return in_ranges(fe_tok_whitespace, fe_tok_n_whitespace, cp);
}

bool fe_tok_is_punctuation(uint32_t cp) {
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
                          (cp >= 0x7B && cp <= 0x7E);
    return in_ranges(fe_tok_punctuation, fe_tok_n_punctuation, cp);
}

bool fe_tok_is_nonspacing_mark(uint32_t cp) {
    return in_ranges(fe_tok_nonspacing_marks, fe_tok_n_nonspacing_marks, cp);
}

bool fe_tok_is_nfd_known(uint32_t cp) { return in_ranges(fe_tok_nfd_known, fe_tok_n_nfd_known, cp); }

bool fe_tok_is_nfkd_known(uint32_t cp) { return in_ranges(fe_tok_nfkd_known, fe_tok_n_nfkd_known, cp); }

bool fe_tok_is_word_char(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    return in_ranges(fe_tok_word_chars, fe_tok_n_word_chars, cp);
}

bool fe_tok_is_combining_mark(uint32_t cp) {
    return cp >= 0x300 && in_ranges(fe_tok_combining_marks, fe_tok_n_combining_marks, cp);
}

bool fe_tok_is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(fe_tok_numeric, fe_tok_n_numeric, cp);
}

kiln_status fe_tok_check_utf8(const char *what, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int len = fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!len)
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, i,
                              (unsigned char)s[i]);
        i += (size_t)len;
    }
    return KILN_OK;
}

int fe_tok_to_lower(uint32_t cp, uint32_t out[2]) {
    if (cp == 0x130) {   // İ: the one code point whose lowercase is two ("i" + combining dot above)
        out[0] = 0x69, out[1] = 0x307;
        return 2;
    }
    out[0] = cp;
    int32_t lo = 0, hi = fe_tok_n_lower_runs - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        const fe_tok_case_run *r = &fe_tok_lower_runs[mid];
        if (cp < r->first) {
            hi = mid - 1;
        } else if (cp > r->last) {
            lo = mid + 1;
        } else {
            if ((cp - r->first) % (uint32_t)r->stride == 0) out[0] = (uint32_t)((int32_t)cp + r->delta);
            break;
        }
    }
    return 1;
}

kiln_status fe_tok_decode_utf8(const char *what, const char *s, size_t n, uint32_t **cps_out,
                               int64_t **offsets_out, int32_t *n_out) {
    *cps_out = NULL, *offsets_out = NULL, *n_out = 0;
    if (n >= INT32_MAX)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: %zu bytes is too long to tokenize", what, n);
    uint32_t *cps = malloc((n ? n : 1) * sizeof(*cps));
    int64_t *offsets = malloc((n + 1) * sizeof(*offsets));
    if (!cps || !offsets) {
        free(cps);
        free(offsets);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory decoding %zu bytes", what, n);
    }
    int32_t k = 0;
    for (size_t i = 0; i < n; k++) {
        int len = fe_tok_utf8_decode((const unsigned char *)s + i, n - i, &cps[k]);
        if (len == 0) {
            free(cps);
            free(offsets);
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, i,
                              (unsigned char)s[i]);
        }
        offsets[k] = (int64_t)i;
        i += (size_t)len;
    }
    offsets[k] = (int64_t)n;
    *cps_out = cps, *offsets_out = offsets, *n_out = k;
    return KILN_OK;
}
