/* regex.c — the regular expressions of HF's Split pre-tokenizer, Replace normalizer and decoder,
 * and ByteLevel's GPT-2 pattern, through PCRE2 (UTF, UCP, JIT). HF compiles them with Oniguruma,
 * whose Unicode tables are of another version than PCRE2's (and whose \s has U+0085 and \h means
 * a hex digit), so the classes a pattern names (\p{L}, \p{N}, ..., \s, \d, \w and their
 * negations) are spelled out from tables measured from HF (unicode_tables.c) before PCRE2 sees it.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "frontend/tokenizer/internal.h"

struct fe_tok_regex {
    pcre2_code *code;
    bool jit;
};

static const fe_tok_uclass *find_class(const char *name, size_t len) {
    for (int32_t i = 0; i < fe_tok_n_onig_classes; i++)
        if (strlen(fe_tok_onig_classes[i].name) == len && memcmp(fe_tok_onig_classes[i].name, name, len) == 0)
            return &fe_tok_onig_classes[i];
    return NULL;
}

// Writes the class's ranges as PCRE2 class items (\x{a}-\x{b} ...).
static void emit_ranges(kiln_strbuf *sb, const fe_tok_uclass *c) {
    for (int32_t k = 0; k < c->n; k++) {
        uint32_t a = c->ranges[2 * k], b = c->ranges[2 * k + 1];
        if (a == b) kiln_strbuf_printf(sb, "\\x{%x}", a);
        else kiln_strbuf_printf(sb, "\\x{%x}-\\x{%x}", a, b);
    }
}

// Rewrites Oniguruma's class escapes of pattern p[0..n) as explicit PCRE2 classes.
static char *translate(const char *p, size_t n, size_t *out_len) {
    kiln_strbuf sb = {0};
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            const fe_tok_uclass *cls = NULL;
            bool negate = false;
            size_t skip = 2;
            if (e == 's' || e == 'd' || e == 'w' || e == 'S' || e == 'D' || e == 'W') {
                char lower = (char)(e | 0x20);
                cls = find_class(&lower, 1);
                negate = e != lower;
            } else if (e == 'p' || e == 'P') {
                negate = e == 'P';
                if (i + 2 < n && p[i + 2] == '{') {
                    const char *close = memchr(p + i + 3, '}', n - i - 3);
                    if (close) {
                        const char *name = p + i + 3;
                        if (*name == '^') negate = !negate, name++;
                        cls = find_class(name, (size_t)(close - name));
                        skip = (size_t)(close - (p + i)) + 1;
                    }
                } else if (i + 2 < n) {
                    cls = find_class(p + i + 2, 1);
                    skip = 3;
                }
            } else if (e == 'h' || e == 'H') {   // Oniguruma: a hex digit
                if (in_class && e == 'h') kiln_strbuf_append(&sb, "0-9a-fA-F", 9);
                else if (!in_class) kiln_strbuf_append(&sb, e == 'h' ? "[0-9a-fA-F]" : "[^0-9a-fA-F]", e == 'h' ? 11 : 12);
                else kiln_strbuf_append(&sb, p + i, 2);
                i++;
                continue;
            }
            if (cls && !(in_class && negate)) {
                if (!in_class) kiln_strbuf_append(&sb, negate ? "[^" : "[", negate ? 2 : 1);
                emit_ranges(&sb, cls);
                if (!in_class) kiln_strbuf_append(&sb, "]", 1);
                i += skip - 1;
                continue;
            }
            kiln_strbuf_append(&sb, p + i, 2);   // anything else, escaped as it was
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            kiln_strbuf_append(&sb, p + i, 1);
            // a ']' right after '[' or '[^' is a literal
            if (i + 1 < n && p[i + 1] == '^') kiln_strbuf_append(&sb, p + ++i, 1);
            if (i + 1 < n && p[i + 1] == ']') kiln_strbuf_append(&sb, p + ++i, 1);
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        kiln_strbuf_append(&sb, &c, 1);
    }
    if (sb.failed) {
        kiln_strbuf_free(&sb);
        return NULL;
    }
    *out_len = sb.len;
    return sb.data ? sb.data : calloc(1, 1);
}

kiln_status fe_tok_regex_compile(const char *what, const char *pattern, size_t len, bool literal, fe_tok_regex **out) {
    *out = NULL;
    fe_tok_regex *re = calloc(1, sizeof(*re));
    size_t wide_len = len;
    char *wide = literal ? NULL : translate(pattern, len, &wide_len);
    if (!re || (!literal && !wide)) {
        free(re);
        free(wide);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory compiling a regex", what);
    }
    int err = 0;
    PCRE2_SIZE at = 0;
    uint32_t flags = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    re->code = pcre2_compile((PCRE2_SPTR)(literal ? pattern : wide), literal ? len : wide_len, flags, &err, &at, NULL);
    free(wide);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        free(re);
        return kiln_error(KILN_ERR_FORMAT, "%s: the regex /%.*s/ does not compile: %s (at %zu)", what, (int)KILN_MIN(len, 200),
                          pattern, (const char *)msg, (size_t)at);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    *out = re;
    return KILN_OK;
}

void fe_tok_regex_free(fe_tok_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

void fe_tok_regex_match_data_free(void *match_data) { pcre2_match_data_free(match_data); }

kiln_status fe_tok_regex_find_all(const fe_tok_regex *re, void **match_data, const char *s, size_t n,
                                  fe_tok_ranges *out) {
    if (!*match_data) {
        *match_data = pcre2_match_data_create(8, NULL);   // any pattern's groups fit: only group 0 is read
        if (!*match_data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory matching a regex");
    }
    pcre2_match_data *md = *match_data;
    size_t at = 0;
    while (at <= n) {
        int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, at, 0, md, NULL)
                         : pcre2_match(re->code, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)   // the interpreter has no such limit
            rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: regex match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me > ms && !fe_tok_ranges_push(out, (int64_t)ms, (int64_t)me))
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory matching a regex");
        if (me > ms) {
            at = me;
        } else {   // an empty match: step over one character
            if (ms >= n) break;
            at = ms + 1;
            while (at < n && ((unsigned char)s[at] & 0xC0) == 0x80) at++;
        }
    }
    return KILN_OK;
}
