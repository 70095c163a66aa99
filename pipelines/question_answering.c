/* question_answering.c — pipeline("question-answering") as Transformers' QuestionAnsweringPipeline
 * (4.57, the last release that has it; Transformers 5 removed the task). Each (question, context)
 * is tokenized as a pair truncated "only_second" to max_seq_len (default min(model_max_length,
 * 384)) with doc_stride overlap (default min(max_seq_len / 2, 128)): one window, or several for a
 * long context. Per window: start and end logits of tokens outside the context (the [CLS] token
 * excepted) are set to -10000, each softmaxed; the score of a span (s, e) with s <= e < s +
 * max_answer_len is start[s] * end[e], [CLS] excluded; the best top_k * 2 + 10 spans (top_k with
 * align_to_words off) become character spans of the context — widened to whole words when
 * align_to_words (default on) — and spans with the same text, compared case-insensitively, add
 * their scores, across windows too. handle_impossible_answer adds {"answer": "", "start": 0,
 * "end": 0} scored by the smallest [CLS] start * end product over the windows. Results are sorted
 * by score, the first top_k kept (a lone answer is a dict, as in Transformers).
 *
 * One deliberate difference: Transformers ranks spans of probability exactly 0 (masked tokens)
 * in an order numpy leaves unspecified and can return them when a context has fewer candidate
 * spans than it asks for; kiln leaves them out.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

#include <math.h>
#include <utf8proc.h>

typedef struct qa_answer {
    double score;
    int64_t start, end;   // bytes into the context
    char *lower;          // the answer, lower-cased (get_answer's comparison)
} qa_answer;

typedef struct qa_span {
    double score;
    int32_t s, e;
} qa_span;

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "question-answering: out of memory"); }

// Python's str.lower() code point by code point (utf8proc's simple mapping), malloc'd.
static char *lower_utf8(const char *s, size_t n) {
    char *out = malloc(4 * n + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (len <= 0) {   // not reached for validated text; copy the byte
            out[k++] = s[i++];
            continue;
        }
        k += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + k);
        i += (size_t)len;
    }
    out[k] = 0;
    return out;
}

// Masks undesired tokens to -10000 and softmaxes, in place.
static void normalize(float *v, const uint8_t *desired, int32_t n) {
    double mx = -INFINITY, sum = 0;
    for (int32_t t = 0; t < n; t++) {
        if (!desired[t]) v[t] = -10000.0f;
        mx = fmax(mx, v[t]);
    }
    for (int32_t t = 0; t < n; t++) sum += exp((double)v[t] - mx);
    for (int32_t t = 0; t < n; t++) v[t] = (float)(exp((double)v[t] - mx) / sum);
}

static int cmp_span(const void *a, const void *b) {
    const qa_span *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

// get_indices: token span [s, e] of window w as a byte span of the context, widened to whole words
// (the words' tokens within this window) when align_to_words; token offsets where a token has no word.
static void span_bytes(const kiln_encoding *w, int32_t s, int32_t e, int64_t ctx_seq, bool align, int64_t *b0, int64_t *b1) {
    *b0 = w->offsets[s][0];
    *b1 = w->offsets[e][1];
    if (!align || w->word_ids[s] < 0 || w->word_ids[e] < 0) return;
    int64_t first = -1, last = -1;
    for (size_t t = 0; t < w->n; t++) {
        if (w->sequence_ids[t] != ctx_seq) continue;
        if (w->word_ids[t] == w->word_ids[s] && first < 0) first = (int64_t)t;
        if (w->word_ids[t] == w->word_ids[e]) last = (int64_t)t;
    }
    if (first < 0 || last < 0) return;   // word_to_chars raised: Transformers keeps the offsets
    *b0 = w->offsets[first][0];
    *b1 = w->offsets[last][1];
}

kiln_status pl_question_answering_row(const kiln_pipeline *p, const char *context, const pl_qa_window *win, size_t n_win,
                                      pl_json *j) {
    const kiln_pipeline_options *o = &p->o;
    int64_t top_k = o->top_k > 0 ? o->top_k : 1, max_len = o->max_answer_len > 0 ? o->max_answer_len : 15;
    int64_t pre_topk = o->align_to_words ? top_k * 2 + 10 : top_k;
    bool question_first = !kiln_tokenizer_padding_left(p->tok);
    int64_t cls = kiln_tokenizer_special_id(p->tok, KILN_TOKEN_CLS), ctx_seq = question_first ? 1 : 0;
    double min_null = 1000000;
    qa_answer *ans = NULL;
    size_t n_ans = 0, cap_ans = 0;
    qa_span *spans = NULL;
    uint8_t *desired = NULL;
    float *start = NULL, *end = NULL;
    kiln_status st = KILN_OK;
    for (size_t wi = 0; wi < n_win && st == KILN_OK; wi++) {
        const kiln_encoding *w = win[wi].encoding;
        int32_t n = (int32_t)w->n;
        free(desired);
        free(start);
        free(end);
        free(spans);
        desired = malloc((size_t)n + 1);
        start = malloc(sizeof(float) * ((size_t)n + 1));
        end = malloc(sizeof(float) * ((size_t)n + 1));
        spans = malloc(sizeof(qa_span) * ((size_t)n * (size_t)KILN_MIN(max_len, n) + 1));
        if (!desired || !start || !end || !spans) {
            st = oom();
            break;
        }
        // p_mask: 1 outside the context when the question comes first (nothing masked otherwise), [CLS] kept
        for (int32_t t = 0; t < n; t++) {
            bool p_mask = question_first ? w->sequence_ids[t] != 1 : false;
            if (w->input_ids[t] == cls) p_mask = false;
            desired[t] = !p_mask && w->attention_mask[t];
        }
        memcpy(start, win[wi].start_logits, sizeof(float) * (size_t)n);
        memcpy(end, win[wi].end_logits, sizeof(float) * (size_t)n);
        normalize(start, desired, n);
        normalize(end, desired, n);
        if (o->handle_impossible_answer) min_null = fmin(min_null, (double)start[0] * (double)end[0]);
        start[0] = end[0] = 0;
        size_t n_spans = 0;
        for (int32_t s = 0; s < n; s++) {
            if (!desired[s] || start[s] == 0) continue;
            for (int32_t e = s; e < n && e < s + max_len; e++) {
                double score = (double)start[s] * (double)end[e];
                if (desired[e] && score > 0) spans[n_spans++] = (qa_span){score, s, e};
            }
        }
        qsort(spans, n_spans, sizeof(qa_span), cmp_span);
        if ((int64_t)n_spans > pre_topk) n_spans = (size_t)pre_topk;
        for (size_t k = 0; k < n_spans; k++) {
            int64_t b0, b1;
            span_bytes(w, spans[k].s, spans[k].e, ctx_seq, o->align_to_words, &b0, &b1);
            if (b1 < b0) b1 = b0;
            char *lower = lower_utf8(context + b0, (size_t)(b1 - b0));
            if (!lower) {
                st = oom();
                break;
            }
            size_t a = 0;
            while (a < n_ans && strcmp(ans[a].lower, lower) != 0) a++;
            if (a < n_ans) {   // get_answer: the same text again adds its score
                ans[a].score += spans[k].score;
                free(lower);
                continue;
            }
            if (n_ans == cap_ans) {
                size_t cap = cap_ans ? 2 * cap_ans : 16;
                qa_answer *g = realloc(ans, cap * sizeof(qa_answer));
                if (!g) {
                    free(lower);
                    st = oom();
                    break;
                }
                ans = g;
                cap_ans = cap;
            }
            ans[n_ans++] = (qa_answer){spans[k].score, b0, b1, lower};
        }
    }
    if (st == KILN_OK && o->handle_impossible_answer) {
        if (n_ans == cap_ans) {
            qa_answer *g = realloc(ans, (cap_ans + 1) * sizeof(qa_answer));
            if (!g) st = oom();
            else ans = g;
        }
        if (st == KILN_OK) ans[n_ans++] = (qa_answer){min_null, 0, 0, NULL};
    }
    if (st == KILN_OK) {
        // sorted(..., reverse=True) is stable: insertion sort keeps equal scores in order
        for (size_t a = 1; a < n_ans; a++) {
            qa_answer x = ans[a];
            size_t b = a;
            for (; b > 0 && ans[b - 1].score < x.score; b--) ans[b] = ans[b - 1];
            ans[b] = x;
        }
        size_t keep = KILN_MIN(n_ans, (size_t)top_k);
        if (keep != 1) pl_json_raw(j, "[");
        for (size_t a = 0; a < keep; a++) {
            char buf[96];
            if (a) pl_json_raw(j, ", ");
            pl_json_raw(j, "{\"score\": ");
            pl_json_num(j, ans[a].score);
            snprintf(buf, sizeof(buf), ", \"start\": %lld, \"end\": %lld, \"answer\": ", (long long)pl_char_index(context, ans[a].start),
                     (long long)pl_char_index(context, ans[a].end));
            pl_json_raw(j, buf);
            size_t len = (size_t)(ans[a].end - ans[a].start);
            char *text = malloc(len + 1);
            if (!text) {
                st = oom();
                break;
            }
            memcpy(text, context + ans[a].start, len);
            text[len] = 0;
            pl_json_str(j, text);
            free(text);
            pl_json_raw(j, "}");
        }
        if (keep != 1) pl_json_raw(j, "]");
    }
    for (size_t a = 0; a < n_ans; a++) free(ans[a].lower);
    free(ans);
    free(spans);
    free(desired);
    free(start);
    free(end);
    return st;
}
