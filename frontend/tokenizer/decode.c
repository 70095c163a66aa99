/* decode.c — ids back to text, as HF's Tokenizer::decode: each id's token (added tokens first;
 * special ones left out when asked), the decoder chain over the list of token strings
 * (WordPiece, ByteLevel, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence),
 * the pieces joined; then transformers' clean_up_tokenization when asked (never for BPE models,
 * as transformers skips it there).
 */
#include "frontend/tokenizer/internal.h"

int fe_tok_char_byte(uint32_t cp);   // pretok_bytelevel.c: the byte a ByteLevel character stands for, or -1

// A list of strings in one buffer: string i is buf[at[i], at[i + 1]).
typedef struct strlist {
    kiln_strbuf buf;
    size_t *at;   // (n + 1)
    int32_t n, cap;
} strlist;

static bool sl_reset(strlist *l) {
    l->buf.len = 0;
    l->n = 0;
    if (!l->cap) {
        l->at = malloc(16 * sizeof(*l->at));
        if (!l->at) return false;
        l->cap = 15;
    }
    l->at[0] = 0;
    return true;
}

static bool sl_end(strlist *l) {   // closes the string being appended
    if (l->n == l->cap) {
        int32_t cap = l->cap * 2 + 1;
        size_t *at = realloc(l->at, ((size_t)cap + 1) * sizeof(*at));
        if (!at) return false;
        l->at = at, l->cap = cap;
    }
    l->at[++l->n] = l->buf.len;
    return !l->buf.failed;
}

static void sl_add(strlist *l, const char *s, size_t n) {
    if (n) kiln_strbuf_append(&l->buf, s, n);
}

static const char *sl_str(const strlist *l, int32_t i, size_t *len) {
    *len = l->at[i + 1] - l->at[i];
    return l->buf.data ? l->buf.data + l->at[i] : "";
}

static void sl_free(strlist *l) {
    kiln_strbuf_free(&l->buf);
    free(l->at);
}

// Appends b with invalid UTF-8 replaced by U+FFFD, one per maximal invalid prefix (Rust's
// String::from_utf8_lossy).
static void append_lossy(strlist *l, const unsigned char *b, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        unsigned char c = b[i++];
        if (c < 0x80) {
            sl_add(l, (const char *)b + start, 1);
            continue;
        }
        bool ok = false;
        if (c >= 0xC2 && c <= 0xDF) {
            if (i < n && (b[i] & 0xC0) == 0x80) i++, ok = true;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i < n && ((c == 0xE0 && b[i] >= 0xA0 && b[i] <= 0xBF) || (c >= 0xE1 && c <= 0xEC && (b[i] & 0xC0) == 0x80) ||
                          (c == 0xED && b[i] >= 0x80 && b[i] <= 0x9F) || (c >= 0xEE && (b[i] & 0xC0) == 0x80))) {
                i++;
                if (i < n && (b[i] & 0xC0) == 0x80) i++, ok = true;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i < n && ((c == 0xF0 && b[i] >= 0x90 && b[i] <= 0xBF) || (c >= 0xF1 && c <= 0xF3 && (b[i] & 0xC0) == 0x80) ||
                          (c == 0xF4 && b[i] >= 0x80 && b[i] <= 0x8F))) {
                i++;
                if (i < n && (b[i] & 0xC0) == 0x80) {
                    i++;
                    if (i < n && (b[i] & 0xC0) == 0x80) i++, ok = true;
                }
            }
        }
        if (ok) sl_add(l, (const char *)b + start, i - start);
        else sl_add(l, "\xEF\xBF\xBD", 3);
    }
}

// Replaces every occurrence of `from` in s with `to` into l (the string being appended).
static void replace_all(strlist *l, const char *s, size_t n, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    for (size_t i = 0; i < n;) {
        if (fl && i + fl <= n && memcmp(s + i, from, fl) == 0) {
            sl_add(l, to, tl);
            i += fl;
        } else {
            sl_add(l, s + i, 1);
            i++;
        }
    }
}

static const char *const cleanup_pairs[][2] = {
    {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"},
    {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};

// Applies the replacements one after the other (each over the whole string, as str.replace).
static bool cleanup(kiln_strbuf *text, bool wordpiece) {
    for (size_t k = 0; k < KILN_ARRAY_SIZE(cleanup_pairs); k++) {
        if (!wordpiece && strcmp(cleanup_pairs[k][0], " do not") == 0) continue;   // transformers' list lacks it
        const char *from = cleanup_pairs[k][0], *to = cleanup_pairs[k][1];
        if (!text->data || !strstr(text->data, from)) continue;
        strlist tmp = {0};
        if (!sl_reset(&tmp)) return false;
        replace_all(&tmp, text->data, text->len, from, to);
        bool ok = !tmp.buf.failed;
        kiln_strbuf_free(text);
        *text = tmp.buf;
        free(tmp.at);
        if (!ok) return false;
        if (!text->data) kiln_strbuf_append(text, "", 0);
    }
    return true;
}

static kiln_status decode_step(const fe_tok_decoder *d, fe_tok_work *w, strlist *in, strlist *out);

static kiln_status decode_chain(const fe_tok_decoder *d, fe_tok_work *w, strlist *a, strlist *b) {
    // Runs d over *a; the result ends in *a (b is scratch).
    if (d->kind == FE_TOK_DECODER_SEQUENCE) {
        for (int32_t i = 0; i < d->n_seq; i++) {
            kiln_status st = decode_chain(&d->seq[i], w, a, b);
            if (st != KILN_OK) return st;
        }
        return KILN_OK;
    }
    kiln_status st = decode_step(d, w, a, b);
    if (st != KILN_OK) return st;
    strlist t = *a;
    *a = *b;
    *b = t;
    return KILN_OK;
}

static kiln_status decode_step(const fe_tok_decoder *d, fe_tok_work *w, strlist *in, strlist *out) {
    if (!sl_reset(out)) goto oom;
    size_t len;
    switch (d->kind) {
    case FE_TOK_DECODER_NONE:
    case FE_TOK_DECODER_SEQUENCE:
        break;
    case FE_TOK_DECODER_WORDPIECE: {
        size_t pl = strlen(d->prefix);
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            strlist tok = {0};
            if (!sl_reset(&tok)) goto oom;
            if (i != 0) {
                if (len >= pl && memcmp(s, d->prefix, pl) == 0) {
                    // replacen(prefix, "", 1): the first occurrence, which is at the start
                    sl_add(&tok, s + pl, len - pl);
                } else {
                    sl_add(&tok, " ", 1);
                    sl_add(&tok, s, len);
                }
            } else {
                sl_add(&tok, s, len);
            }
            if (d->cleanup && tok.buf.data && !cleanup(&tok.buf, true)) {
                sl_free(&tok);
                goto oom;
            }
            sl_add(out, tok.buf.data ? tok.buf.data : "", tok.buf.len);
            sl_free(&tok);
            if (!sl_end(out)) goto oom;
        }
        break;
    }
    case FE_TOK_DECODER_BYTE_LEVEL: {
        // Every token back to bytes (a token with a character outside the 256 stays as its UTF-8),
        // all joined, then read as UTF-8 with replacement characters.
        kiln_strbuf bytes = {0};
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            size_t mark = bytes.len;
            bool all = true;
            for (size_t k = 0; k < len && all;) {
                uint32_t cp;
                int l = fe_tok_utf8_decode((const unsigned char *)s + k, len - k, &cp);
                if (!l) l = 1;
                k += (size_t)l;
                int byte = fe_tok_char_byte(cp);
                if (byte < 0) all = false;
                else {
                    char c = (char)byte;
                    kiln_strbuf_append(&bytes, &c, 1);
                }
            }
            if (!all) {
                bytes.len = mark;
                kiln_strbuf_append(&bytes, s, len);
            }
        }
        if (bytes.failed) {
            kiln_strbuf_free(&bytes);
            goto oom;
        }
        append_lossy(out, (const unsigned char *)(bytes.data ? bytes.data : ""), bytes.len);
        kiln_strbuf_free(&bytes);
        if (!sl_end(out)) goto oom;
        break;
    }
    case FE_TOK_DECODER_METASPACE:
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            for (size_t k = 0; k < len;) {
                uint32_t cp;
                int l = fe_tok_utf8_decode((const unsigned char *)s + k, len - k, &cp);
                if (!l) l = 1, cp = (unsigned char)s[k];
                if (cp == d->replacement) {
                    if (!(i == 0 && d->prepend_scheme != FE_TOK_PREPEND_NEVER)) sl_add(out, " ", 1);
                } else {
                    sl_add(out, s + k, (size_t)l);
                }
                k += (size_t)l;
            }
            if (!sl_end(out)) goto oom;
        }
        break;
    case FE_TOK_DECODER_BPE:
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            replace_all(out, s, len, d->suffix, i == in->n - 1 ? "" : " ");
            if (!sl_end(out)) goto oom;
        }
        break;
    case FE_TOK_DECODER_REPLACE:
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            w->ranges.n = 0;
            kiln_status st = fe_tok_regex_find_all(d->pattern, &w->match_data, s, len, &w->ranges);
            if (st != KILN_OK) return st;
            size_t done = 0;
            for (int32_t m = 0; m < w->ranges.n; m++) {
                sl_add(out, s + done, (size_t)w->ranges.v[m][0] - done);
                sl_add(out, d->content, strlen(d->content));
                done = (size_t)w->ranges.v[m][1];
            }
            sl_add(out, s + done, len - done);
            if (!sl_end(out)) goto oom;
        }
        break;
    case FE_TOK_DECODER_BYTE_FALLBACK: {
        kiln_strbuf pending = {0};
        for (int32_t i = 0; i <= in->n; i++) {
            const char *s = i < in->n ? sl_str(in, i, &len) : (len = 0, "");
            int byte = -1;
            if (i < in->n && len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
                char hex[3] = {s[3], s[4], 0}, *end;
                long v = strtol(hex, &end, 16);
                bool digits = true;
                for (int k = 3; k < 5; k++) digits = digits && ((s[k] >= '0' && s[k] <= '9') || ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'f'));
                if (digits && *end == 0) byte = (int)v;
            }
            if (byte >= 0) {
                char c = (char)byte;
                kiln_strbuf_append(&pending, &c, 1);
                continue;
            }
            if (pending.len) {
                if (fe_tok_check_utf8("decode", pending.data, pending.len) == KILN_OK) {
                    sl_add(out, pending.data, pending.len);
                    if (!sl_end(out)) goto oom_pending;
                } else {
                    for (size_t k = 0; k < pending.len; k++) {
                        sl_add(out, "\xEF\xBF\xBD", 3);
                        if (!sl_end(out)) goto oom_pending;
                    }
                }
                pending.len = 0;
            }
            if (i < in->n) {
                sl_add(out, s, len);
                if (!sl_end(out)) goto oom_pending;
            }
            continue;
        oom_pending:
            kiln_strbuf_free(&pending);
            goto oom;
        }
        kiln_strbuf_free(&pending);
        kiln_error_clear();
        break;
    }
    case FE_TOK_DECODER_FUSE:
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            sl_add(out, s, len);
        }
        if (!sl_end(out)) goto oom;
        break;
    case FE_TOK_DECODER_STRIP:
        for (int32_t i = 0; i < in->n; i++) {
            const char *s = sl_str(in, i, &len);
            // Up to strip_start leading and strip_stop trailing copies of the character.
            size_t cl = strlen(d->content), b = 0, e = len;
            for (int32_t k = 0; k < d->strip_start && b + cl <= e && memcmp(s + b, d->content, cl) == 0; k++) b += cl;
            for (int32_t k = 0; k < d->strip_stop && e >= b + cl && memcmp(s + e - cl, d->content, cl) == 0; k++) e -= cl;
            sl_add(out, s + b, e - b);
            if (!sl_end(out)) goto oom;
        }
        break;
    }
    return KILN_OK;
oom:
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding");
}

// The decoder chain over token strings (transformers' convert_tokens_to_string, then the
// tokenization-space cleanup when asked): what decode and convert_tokens_to_string share.
static kiln_status decode_strings(const fe_tokenizer *t, fe_tok_work *w, strlist *a, bool clean_up, char **text_out) {
    kiln_status st = KILN_OK;
    strlist b = {0};
    if (!sl_reset(&b)) {
        sl_free(&b);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding");
    }
    kiln_strbuf text = {0};
    if (t->decoder.kind == FE_TOK_DECODER_NONE) {
        for (int32_t i = 0; i < a->n; i++) {
            size_t len;
            const char *s = sl_str(a, i, &len);
            if (i) kiln_strbuf_append(&text, " ", 1);
            kiln_strbuf_append(&text, s, len);
        }
    } else {
        st = decode_chain(&t->decoder, w, a, &b);
        for (int32_t i = 0; st == KILN_OK && i < a->n; i++) {
            size_t len;
            const char *s = sl_str(a, i, &len);
            kiln_strbuf_append(&text, s, len);
        }
    }
    kiln_strbuf_append(&text, "", 0);
    if (st == KILN_OK && clean_up && t->model.kind != FE_TOK_MODEL_BPE && !cleanup(&text, false)) text.failed = true;
    if (st == KILN_OK && text.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding");
    if (st == KILN_OK) *text_out = text.data;
    else kiln_strbuf_free(&text);
    sl_free(&b);
    return st;
}

kiln_status fe_tokenizer_decode(const fe_tokenizer *t, const int32_t *ids, int32_t n, bool skip_special_tokens,
                                bool clean_up, char **text_out) {
    if (text_out) *text_out = NULL;
    if (!t || !text_out || (n > 0 && !ids))
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_decode: NULL argument");
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    strlist a = {0};
    fe_tok_work *w = fe_tok_work_new();
    bool ok = w && sl_reset(&a);
    for (int32_t i = 0; ok && i < n; i++) {
        int32_t id = ids[i];
        const char *tok = fe_tokenizer_id_to_token(t, id);
        if (!tok || (skip_special_tokens && t->id_is_special[id])) continue;
        sl_add(&a, tok, strlen(tok));
        ok = sl_end(&a);
    }
    st = ok ? decode_strings(t, w, &a, clean_up, text_out) : kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding");
    sl_free(&a);
    fe_tok_work_free(w);
    return st;
}

kiln_status fe_tokenizer_tokens_to_string(const fe_tokenizer *t, const char *const *tokens, int32_t n, char **text_out) {
    if (text_out) *text_out = NULL;
    if (!t || !text_out || (n > 0 && !tokens))
        return kiln_error(KILN_ERR_INVALID_ARG, "fe_tokenizer_tokens_to_string: NULL argument");
    kiln_status st;
    strlist a = {0};
    fe_tok_work *w = fe_tok_work_new();
    bool ok = w && sl_reset(&a);
    for (int32_t i = 0; ok && i < n; i++) {
        sl_add(&a, tokens[i] ? tokens[i] : "", tokens[i] ? strlen(tokens[i]) : 0);
        ok = sl_end(&a);
    }
    st = ok ? decode_strings(t, w, &a, false, text_out) : kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding");
    sl_free(&a);
    fe_tok_work_free(w);
    return st;
}
