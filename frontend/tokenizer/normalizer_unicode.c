/* normalizer_unicode.c — NFD, NFKD, NFC and NFKC as HF computes them, alignments included. HF runs
 * them through unicode-normalization-alignments, which tags every output character with a change
 * (0: from the next source character, 1: inserted, -k: swallows k more) and lets transform()
 * assign alignments positionally; this file produces the same tagged sequence: decompose (utf8proc,
 * limited to what HF's tables know), order combining marks stably by class, then compose with
 * HF's pairs (unicode_tables.c) and Hangul's arithmetic, a composed character taking the changes
 * of both parts minus one.
 */
#include "frontend/tokenizer/internal.h"

#include <utf8proc.h>

static kiln_status oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory normalizing text");
}

static int ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    return fe_tok_is_nfd_known(cp) ? utf8proc_get_property((utf8proc_int32_t)cp)->combining_class : 0;
}

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19, V_COUNT = 21, T_COUNT = 28,
       N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT };

// The primary composite of a + b, or 0.
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    int32_t lo = 0, hi = fe_tok_n_compositions - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        const fe_tok_composition *c = &fe_tok_compositions[mid];
        if (c->first < a || (c->first == a && c->second < b)) lo = mid + 1;
        else if (c->first > a || c->second > b) hi = mid - 1;
        else return c->composite;
    }
    return 0;
}

// Appends the decomposition of s (tagged) to w->changes[0..*n), with marks reordered.
static kiln_status decompose(const fe_tok_normalized *s, bool compat, fe_tok_work *w, int32_t *n_out) {
    int32_t n = 0;
    int32_t run = 0;   // start of the current run of non-starters
    for (int32_t i = 0; i < s->n; i++) {
        utf8proc_int32_t parts[32] = {(utf8proc_int32_t)s->cps[i]};
        utf8proc_ssize_t k = 1;
        uint32_t cp = s->cps[i];
        if (cp >= 0xA0 && (compat ? fe_tok_is_nfkd_known(cp) : fe_tok_is_nfd_known(cp))) {
            int boundclass = 0;
            k = utf8proc_decompose_char(parts[0], parts, 32,
                                        UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0), &boundclass);
            if (k < 1 || k > 32) parts[0] = (utf8proc_int32_t)cp, k = 1;   // cannot happen
        }
        if (!fe_tok_work_changes(w, n + (int32_t)k)) return oom();
        for (utf8proc_ssize_t j = 0; j < k; j++) {
            uint32_t p = (uint32_t)parts[j];
            int c = ccc(p);
            fe_tok_change ch = {p, j > 0};
            if (c == 0) {
                w->changes[n++] = ch;
                run = n;
                continue;
            }
            // Insertion into the pending run, stable by class: after every mark of class <= c.
            int32_t at = n;
            while (at > run && ccc(w->changes[at - 1].cp) > c) at--;
            memmove(w->changes + at + 1, w->changes + at, (size_t)(n - at) * sizeof(*w->changes));
            w->changes[at] = ch;
            n++;
        }
    }
    *n_out = n;
    return KILN_OK;
}

// Canonical composition of the tagged sequence in place, as the crate's Recompositions does.
static int32_t recompose(fe_tok_change *c, int32_t n, fe_tok_change *pending) {
    int32_t out = 0, n_pending = 0;
    bool have_composee = false;
    fe_tok_change composee = {0, 0};
    int last_ccc = -1;   // -1: nothing pending since the composee
    for (int32_t i = 0; i < n; i++) {
        fe_tok_change ch = c[i];
        int cls = ccc(ch.cp);
        if (!have_composee) {
            if (cls != 0) {
                c[out++] = ch;
                continue;
            }
            composee = ch;
            have_composee = true;
            continue;
        }
        if (last_ccc >= 0 && last_ccc >= cls) {   // blocked from the composee
            if (cls == 0) {
                c[out++] = composee;
                for (int32_t j = 0; j < n_pending; j++) c[out++] = pending[j];
                n_pending = 0;
                composee = ch;
                last_ccc = -1;
                continue;
            }
            pending[n_pending++] = ch;
            last_ccc = cls;
            continue;
        }
        uint32_t r = compose(composee.cp, ch.cp);
        if (r) {
            composee.cp = r;
            composee.change = composee.change + ch.change - 1;
            continue;
        }
        if (last_ccc < 0 && cls == 0) {
            c[out++] = composee;
            composee = ch;
            continue;
        }
        pending[n_pending++] = ch;
        last_ccc = cls;
    }
    if (have_composee) c[out++] = composee;
    for (int32_t j = 0; j < n_pending; j++) c[out++] = pending[j];
    return out;
}

kiln_status fe_tok_normalize_unicode(fe_tok_normalizer_kind kind, fe_tok_work *w, fe_tok_normalized *s,
                                     int64_t shift) {
    bool plain = true;   // ASCII (and Latin-1 below U+00A0) is the same in every form
    for (int32_t i = 0; i < s->n && plain; i++) plain = s->cps[i] < 0xA0;
    if (plain) return KILN_OK;
    bool compat = kind == FE_TOK_NORMALIZER_NFKD || kind == FE_TOK_NORMALIZER_NFKC;
    int32_t n = 0;
    kiln_status st = decompose(s, compat, w, &n);
    if (st != KILN_OK) return st;
    if (kind == FE_TOK_NORMALIZER_NFC || kind == FE_TOK_NORMALIZER_NFKC) {
        fe_tok_change *pending = malloc(((size_t)n + 1) * sizeof(*pending));
        if (!pending) return oom();
        n = recompose(w->changes, n, pending);
        free(pending);
    }
    return fe_tok_transform(s, w->changes, n, 0, &w->tmp, shift);
}
