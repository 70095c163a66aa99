/* postprocess.c — from the tokens of a text (and pair) to encodings, as HF's post_process does:
 * truncation into windows (the first kept, the others overflowing, with stride), ByteLevel's
 * offset trimming, then the template (TemplateProcessing; BertProcessing, RobertaProcessing and
 * none are fixed templates), merging windows the way Encoding::merge_with combines overflows.
 */
#include "frontend/tokenizer/internal.h"

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory post-processing"); }

bool fe_tok_post_bert(fe_tok_postprocessor *pp, kiln_arena *arena, int32_t cls_id, int32_t sep_id, bool roberta) {
    int32_t *ids = kiln_arena_alloc(arena, 2 * sizeof(int32_t));
    fe_tok_piece *pieces = kiln_arena_alloc(arena, 9 * sizeof(fe_tok_piece));
    if (!ids || !pieces) return false;
    ids[0] = cls_id, ids[1] = sep_id;
    int32_t *cls = &ids[0], *sep = &ids[1];
    if (roberta) {   // "<s> $A </s>" and "<s> $A </s> </s> $B </s>", every type id 0
        const fe_tok_piece layout[9] = {
            {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep},
            {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep}, {-1, 0, 1, sep}, {1, 0, 0, NULL}, {-1, 0, 1, sep},
        };
        memcpy(pieces, layout, sizeof(layout));
        pp->single = (fe_tok_template){3, pieces};
        pp->pair = (fe_tok_template){6, pieces + 3};
        return true;
    }
    const fe_tok_piece layout[8] = {
        {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep},                                     // single
        {-1, 0, 1, cls}, {0, 0, 0, NULL}, {-1, 0, 1, sep}, {1, 1, 0, NULL}, {-1, 1, 1, sep},   // pair
    };
    memcpy(pieces, layout, sizeof(layout));
    pp->single = (fe_tok_template){3, pieces};
    pp->pair = (fe_tok_template){5, pieces + 3};
    return true;
}

bool fe_tok_post_default(fe_tok_postprocessor *pp, kiln_arena *arena) {
    fe_tok_piece *pieces = kiln_arena_alloc(arena, 3 * sizeof(fe_tok_piece));
    if (!pieces) return false;
    pieces[0] = (fe_tok_piece){0, 0, 0, NULL};
    pieces[1] = (fe_tok_piece){0, 0, 0, NULL};
    pieces[2] = (fe_tok_piece){1, 1, 0, NULL};
    pp->single = (fe_tok_template){1, pieces};
    pp->pair = (fe_tok_template){2, pieces + 1};
    return true;
}

int32_t fe_tok_post_added(const fe_tok_postprocessor *pp, bool is_pair) {
    const fe_tok_template *tpl = is_pair ? &pp->pair : &pp->single;
    int32_t n = 0;
    for (int32_t i = 0; i < tpl->n; i++)
        if (tpl->pieces[i].sequence < 0) n += tpl->pieces[i].n_ids;
    return n;
}

/* ---- truncation: windows over one sequence -------------------------------------------------------- */

typedef struct window {
    int32_t start, stop;
    fe_tok_token *own;   // a trimmed copy of the window's tokens (windows overlap by the stride), or NULL
} window;

typedef struct windows {
    int32_t n;
    window *v;       // v[0]: kept; v[1..]: overflowing; `one` when there is no overflow
    window one[1];
} windows;

// HF's Encoding::truncate(max_len, stride, direction) on a sequence of n tokens.
static kiln_status truncate_windows(int32_t n, int64_t max_len, int64_t stride, bool left, windows *out) {
    out->n = 0;
    out->v = NULL;
    if (max_len >= n) {   // the common case: no malloc
        out->v = out->one;
        out->v[out->n++] = (window){0, n, NULL};
        return KILN_OK;
    }
    if (max_len == 0) {   // everything overflows
        out->v = malloc(2 * sizeof(window));
        if (!out->v) return oom();
        out->v[out->n++] = (window){0, 0, NULL};
        out->v[out->n++] = (window){0, n, NULL};
        return KILN_OK;
    }
    if (stride >= max_len)
        return kiln_error(KILN_ERR_INVALID_ARG,
                          "tokenizer: stride %lld must be below the length a text may keep, %lld (max_length less "
                          "the special tokens the template adds)",
                          (long long)stride, (long long)max_len);
    int64_t step = max_len - stride;
    out->v = malloc(((size_t)(n / step) + 2) * sizeof(window));
    if (!out->v) return oom();
    if (!left) {
        for (int64_t start = 0; start < n; start += step) {
            int64_t stop = KILN_MIN(start + max_len, (int64_t)n);
            out->v[out->n++] = (window){(int32_t)start, (int32_t)stop, NULL};
            if (stop == n) break;
        }
    } else {
        for (int64_t s = n - 1; s >= 0; s -= step) {
            int64_t stop = s + 1, start = stop < max_len ? 0 : stop - max_len;
            out->v[out->n++] = (window){(int32_t)start, (int32_t)stop, NULL};
            if (start == 0) break;
        }
    }
    return KILN_OK;
}

// HF's truncate_encodings: the maximum length of each sequence, or an error.
static kiln_status truncation_lengths(const fe_tok_truncation *tr, int64_t max_length, int32_t n1, int32_t n2,
                                      bool has_pair, int64_t *len1, int64_t *len2) {
    *len1 = n1, *len2 = n2;
    if (max_length == 0) {
        *len1 = *len2 = 0;
        return KILN_OK;
    }
    int64_t total = (int64_t)n1 + (has_pair ? n2 : 0);
    if (total <= max_length) return KILN_OK;
    int64_t to_remove = total - max_length;
    switch (tr->strategy) {
    case FE_TOK_TRUNC_LONGEST_FIRST:
        if (has_pair) {
            int64_t a = n1, b = n2;
            bool swap = a > b;
            if (swap) a = n2, b = n1;
            b = a > max_length ? a : KILN_MAX(a, max_length - a);
            if (a + b > max_length) {
                a = max_length / 2;
                b = a + max_length % 2;
            }
            if (swap) *len1 = b, *len2 = a;
            else *len1 = a, *len2 = b;
        } else {
            *len1 = total - to_remove;
        }
        return KILN_OK;
    case FE_TOK_TRUNC_ONLY_FIRST:
    case FE_TOK_TRUNC_ONLY_SECOND: {
        bool second = tr->strategy == FE_TOK_TRUNC_ONLY_SECOND;
        if (second && !has_pair)
            return kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: truncation only_second needs a text pair");
        int64_t target = second ? n2 : n1;
        if (target <= to_remove)
            return kiln_error(KILN_ERR_INVALID_ARG,
                              "tokenizer: truncation %s: the %s sequence (%lld tokens) is too short to remove %lld",
                              second ? "only_second" : "only_first", second ? "second" : "first", (long long)target,
                              (long long)to_remove);
        if (second) *len2 = target - to_remove;
        else *len1 = target - to_remove;
        return KILN_OK;
    }
    case FE_TOK_TRUNC_NONE:
        break;
    }
    return KILN_OK;
}

/* ---- offsets trimming (ByteLevel, RobertaProcessing) ---------------------------------------------- */

static bool trim_space(uint32_t cp) { return cp == 0x120 || fe_tok_is_whitespace(cp); }   // 'Ġ' or whitespace

// Counts the characters HF trims at one end of a vocabulary string, and their original bytes
// (a 'Ġ' stands for one space byte).
static void trim_count(const char *s, size_t len, bool from_end, int64_t *n, int64_t *bytes) {
    *n = *bytes = 0;
    size_t k = from_end ? len : 0;
    while (from_end ? k > 0 : k < len) {
        size_t b = k, e;
        if (from_end) {
            b = k - 1;
            while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
            e = k;
        } else {
            e = k + 1;
            while (e < len && ((unsigned char)s[e] & 0xC0) == 0x80) e++;
        }
        uint32_t cp;
        if (!fe_tok_utf8_decode((const unsigned char *)s + b, e - b, &cp) || !trim_space(cp)) break;
        (*n)++;
        *bytes += cp == 0x120 ? 1 : fe_tok_utf8_len(cp);
        k = from_end ? b : e;
    }
}

kiln_status fe_tok_post_finish(fe_tokenizer *t) {
    fe_tok_postprocessor *pp = &t->post;
    if (!pp->trim_offsets) return KILN_OK;
    pp->trim = kiln_arena_alloc(t->arena, ((size_t)t->n_ids + 1) * sizeof(*pp->trim));
    if (!pp->trim) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (int32_t id = 0; id < t->n_ids; id++) {
        const char *s = fe_tok_token_string(t, id);
        size_t len = strlen(s);
        int64_t lead, trail, bytes;
        trim_count(s, len, false, &lead, &bytes);
        trim_count(s, len, true, &trail, &bytes);
        pp->trim[id][0] = (uint8_t)KILN_MIN(lead, 255);
        pp->trim[id][1] = (uint8_t)KILN_MIN(trail, 255);
    }
    return KILN_OK;
}

// The character index of byte offset b in a sequence (off: character -> byte, n + 1 entries).
static int64_t char_of(const int64_t *off, int32_t n, int64_t b) {
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (off[mid] < b) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

// HF's process_offsets on one window of a sequence. HF works on character offsets (what Python
// sees), so kiln converts to characters and back.
static void trim_offsets(const fe_tokenizer *t, fe_tok_token *tok, int32_t n, bool add_prefix_space, const int64_t *off,
                         int32_t n_chars) {
    for (int32_t i = 0; i < n; i++) {
        int64_t lead_n, trail_n;
        if (tok[i].lead_n >= 0) {
            lead_n = tok[i].lead_n, trail_n = tok[i].trail_n;
        } else if (tok[i].id >= 0 && tok[i].id < t->n_ids) {
            lead_n = t->post.trim[tok[i].id][0], trail_n = t->post.trim[tok[i].id][1];
        } else {
            continue;
        }
        if (lead_n == 0 && trail_n == 0) continue;
        int64_t start = char_of(off, n_chars, tok[i].start), end = char_of(off, n_chars, tok[i].end);
        if (lead_n > 0) {
            bool first = i == 0 || start == 0;
            if (first && add_prefix_space && lead_n == 1) lead_n = 0;
            start = KILN_MIN(start + lead_n, end);
        }
        if (trail_n > 0 && end >= trail_n) end = KILN_MAX(end - trail_n, start);
        tok[i].start = off[start];
        tok[i].end = off[end];
    }
}

/* ---- the template and the merge of windows --------------------------------------------------------- */

typedef struct part {
    int32_t piece;    // index into the template
    int32_t window;   // for a sequence piece
} part;

typedef struct row_parts {
    int32_t n;
    part *v;
} row_parts;

typedef struct row_list {
    int32_t n, cap;
    row_parts *v;
} row_list;

static bool rows_push(row_list *r, const row_parts *base, part extra, bool with_extra) {
    if (r->n == r->cap) {
        int32_t cap = r->cap ? 2 * r->cap : 8;
        row_parts *v = realloc(r->v, (size_t)cap * sizeof(*v));
        if (!v) return false;
        r->v = v, r->cap = cap;
    }
    row_parts *p = &r->v[r->n];
    p->n = base->n + with_extra;
    p->v = malloc(((size_t)p->n + 1) * sizeof(part));
    if (!p->v) return false;
    memcpy(p->v, base->v, (size_t)base->n * sizeof(part));
    if (with_extra) p->v[base->n] = extra;
    r->n++;
    return true;
}

static void rows_free(row_list *r) {
    for (int32_t i = 0; i < r->n; i++) free(r->v[i].v);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

kiln_status fe_tok_post_process(const fe_tokenizer *t, fe_tok_work *w, fe_tok_tokens seqs[2], bool has_pair,
                                bool add_special_tokens, const fe_tok_truncation *trunc, fe_encoding **rows_out,
                                int32_t *n_rows_out) {
    *rows_out = NULL;
    *n_rows_out = 0;
    const fe_tok_postprocessor *pp = &t->post;
    const fe_tok_template *tpl = has_pair ? &pp->pair : &pp->single;
    kiln_status st = KILN_OK;
    windows win[2] = {{0}};
    row_list ov = {0};
    row_parts main = {0};
    fe_encoding *rows = NULL;
    int32_t n_rows = 0;

    // 1. Truncation, with max_length less the special tokens (which HF computes in unsigned
    //    arithmetic: a max_length below them wraps around and truncates nothing).
    int64_t len[2] = {seqs[0].n, has_pair ? seqs[1].n : 0};
    if (trunc && trunc->strategy != FE_TOK_TRUNC_NONE) {
        int64_t added = add_special_tokens ? fe_tok_post_added(pp, has_pair) : 0;
        if (trunc->max_length >= added) {
            st = truncation_lengths(trunc, trunc->max_length - added, seqs[0].n, seqs[1].n, has_pair, &len[0], &len[1]);
        }
    }
    for (int s = 0; st == KILN_OK && s < 1 + has_pair; s++)
        st = truncate_windows(seqs[s].n, len[s], trunc ? trunc->stride : 0, trunc && trunc->left, &win[s]);
    if (st != KILN_OK) goto done;

    // 2. Trimming works window by window (the first token of each is "first"), each on its own copy.
    if (pp->trim_offsets)
        for (int s = 0; s < 1 + has_pair; s++)
            for (int32_t k = 0; k < win[s].n; k++) {
                window *wd = &win[s].v[k];
                int32_t n_tok = wd->stop - wd->start;
                if (win[s].n > 1) {
                    wd->own = malloc(((size_t)n_tok + 1) * sizeof(fe_tok_token));
                    if (!wd->own) {
                        st = oom();
                        goto done;
                    }
                    memcpy(wd->own, seqs[s].v + wd->start, (size_t)n_tok * sizeof(fe_tok_token));
                }
                trim_offsets(t, wd->own ? wd->own : seqs[s].v + wd->start, n_tok, pp->trim_add_prefix_space,
                             w->seq_offsets[s], w->n_seq_cps[s]);
            }

    // 3. Merge piece by piece: a special piece joins every row; a sequence piece's first window
    //    joins the main row and each overflowing row, and its other windows make new rows
    //    (Encoding::merge_with's order).
    part main_parts[16];
    main.v = tpl->n < 16 ? main_parts : malloc(((size_t)tpl->n + 1) * sizeof(part));
    if (!main.v) {
        st = oom();
        goto done;
    }
    for (int32_t p = 0; p < tpl->n; p++) {
        const fe_tok_piece *piece = &tpl->pieces[p];
        if (piece->sequence < 0) {
            if (!add_special_tokens) continue;
            part pt = {p, 0};
            main.v[main.n++] = pt;
            for (int32_t r = 0; r < ov.n; r++) ov.v[r].v[ov.v[r].n++] = pt;
            continue;
        }
        const windows *ws = &win[piece->sequence];
        row_list next = {0};
        bool ok = true;
        for (int32_t r = 0; r < ov.n && ok; r++) {
            ok = rows_push(&next, &ov.v[r], (part){p, 0}, true);
            for (int32_t k = 1; k < ws->n && ok; k++) ok = rows_push(&next, &ov.v[r], (part){p, k}, true);
        }
        for (int32_t k = 1; k < ws->n && ok; k++) ok = rows_push(&next, &main, (part){p, k}, true);
        main.v[main.n++] = (part){p, 0};
        // every row can grow by the pieces still to come
        for (int32_t r = 0; r < next.n && ok; r++) {
            part *grown = realloc(next.v[r].v, ((size_t)next.v[r].n + (size_t)tpl->n + 1) * sizeof(part));
            if (!grown) ok = false;
            else next.v[r].v = grown;
        }
        rows_free(&ov);
        ov = next;
        if (!ok) {
            st = oom();
            goto done;
        }
    }

    // 4. Lay each row out as one fe_encoding.
    n_rows = 1 + ov.n;
    rows = calloc((size_t)n_rows, sizeof(*rows));
    if (!rows) {
        st = oom();
        goto done;
    }
    for (int32_t r = 0; r < n_rows; r++) {
        const row_parts *rp = r == 0 ? &main : &ov.v[r - 1];
        int64_t n = 0;
        for (int32_t i = 0; i < rp->n; i++) {
            const fe_tok_piece *piece = &tpl->pieces[rp->v[i].piece];
            if (piece->sequence < 0) n += piece->n_ids;
            else n += win[piece->sequence].v[rp->v[i].window].stop - win[piece->sequence].v[rp->v[i].window].start;
        }
        if (n > INT32_MAX / 64) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "tokenizer: text too long (%lld tokens)", (long long)n);
            goto done;
        }
        size_t cap = n ? (size_t)n : 1;   // at least one element so that no array is NULL
        void *block = malloc(cap * (sizeof(int64_t[2]) + 6 * sizeof(int32_t)));
        if (!block) {
            st = oom();
            goto done;
        }
        fe_encoding *e = &rows[r];
        *e = (fe_encoding){.n = (int32_t)n, .offsets = block};   // offsets first: the int64s stay aligned
        e->ids = (int32_t *)(e->offsets + cap);
        e->type_ids = e->ids + cap;
        e->special_mask = e->type_ids + cap;
        e->attention_mask = e->special_mask + cap;
        e->sequence_ids = e->attention_mask + cap;
        e->word_ids = e->sequence_ids + cap;
        int32_t k = 0;
        for (int32_t i = 0; i < rp->n; i++) {
            const fe_tok_piece *piece = &tpl->pieces[rp->v[i].piece];
            if (piece->sequence < 0) {
                for (int32_t j = 0; j < piece->n_ids; j++, k++) {
                    e->ids[k] = piece->ids[j];
                    e->type_ids[k] = piece->type_id;
                    e->special_mask[k] = 1;
                    e->attention_mask[k] = 1;
                    e->sequence_ids[k] = -1;
                    e->word_ids[k] = -1;
                    e->offsets[k][0] = e->offsets[k][1] = 0;
                }
                continue;
            }
            window wd = win[piece->sequence].v[rp->v[i].window];
            const fe_tok_token *tok = wd.own ? wd.own : seqs[piece->sequence].v + wd.start;
            for (int32_t j = 0; j < wd.stop - wd.start; j++, k++) {
                e->ids[k] = tok[j].id;
                e->type_ids[k] = piece->type_id;
                e->special_mask[k] = 0;
                e->attention_mask[k] = 1;
                e->sequence_ids[k] = piece->sequence;
                e->word_ids[k] = tok[j].word;
                e->offsets[k][0] = tok[j].start;
                e->offsets[k][1] = tok[j].end;
            }
        }
        KILN_ASSERT(k == n);
    }
    *rows_out = rows;
    *n_rows_out = n_rows;
    rows = NULL;
done:
    if (rows) fe_encodings_free(rows, n_rows);
    if (main.v != main_parts) free(main.v);
    rows_free(&ov);
    for (int s = 0; s < 2; s++) {
        for (int32_t k = 0; k < win[s].n; k++) free(win[s].v[k].own);
        if (win[s].v != win[s].one) free(win[s].v);
    }
    return st;
}
