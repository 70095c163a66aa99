/* pipeline.c — kiln_pipeline_*: the driver every encoder task shares. Tokenizes each input as
 * Transformers' pipeline does (no padding; no truncation, but for token-classification's
 * model_max_length and question-answering's windows), sorts the encodings by token count and runs
 * them batch_size at a time, each batch right-padded to its longest, then writes each input's
 * result in input order through its task's postprocess.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"
#include "pipelines/pooling.h"

#include <math.h>
#include <stdarg.h>

/* JSON text */

static void json_grow(pl_json *j, size_t add) {
    if (j->oom || j->n + add + 1 <= j->cap) return;
    size_t cap = j->cap ? j->cap : 256;
    while (cap < j->n + add + 1) cap *= 2;
    char *s = realloc(j->s, cap);
    if (!s) {
        j->oom = true;
        return;
    }
    j->s = s;
    j->cap = cap;
}

void pl_json_raw(pl_json *j, const char *text) {
    size_t k = strlen(text);
    json_grow(j, k);
    if (j->oom) return;
    memcpy(j->s + j->n, text, k + 1);
    j->n += k;
}

void pl_json_str(pl_json *j, const char *text) {
    pl_json_raw(j, "\"");
    char buf[8];
    for (const unsigned char *c = (const unsigned char *)(text ? text : ""); *c; c++) {
        if (*c == '"' || *c == '\\') {
            buf[0] = '\\';
            buf[1] = (char)*c;
            buf[2] = 0;
        } else if (*c < 0x20) {
            snprintf(buf, sizeof(buf), "\\u%04x", *c);
        } else {
            buf[0] = (char)*c;
            buf[1] = 0;
        }
        pl_json_raw(j, buf);
    }
    pl_json_raw(j, "\"");
}

void pl_json_num(pl_json *j, double v) {
    char buf[40];
    if (!isfinite(v)) snprintf(buf, sizeof(buf), "null");
    else snprintf(buf, sizeof(buf), "%.9g", v);
    pl_json_raw(j, buf);
}

int64_t pl_char_index(const char *text, int64_t byte) {
    int64_t n = 0;
    for (int64_t i = 0; i < byte && text[i]; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

/* pipelines */

kiln_pipeline_options kiln_pipeline_options_default(void) {
    return (kiln_pipeline_options){.target = KILN_TARGET_INTERP,
                                   .n_threads = 1,
                                   .batch_size = 8,
                                   .max_answer_len = 15,
                                   .max_seq_len = -1,
                                   .doc_stride = -1,
                                   .align_to_words = true};
}

void pl_pipeline_adopt(kiln_pipeline *p, void (*release)(void *), void *arg) {
    p->release = release;
    p->release_arg = arg;
}

static kiln_status parse_task(const char *task, pl_task *out) {
    if (strcmp(task, "text-classification") == 0 || strcmp(task, "sentiment-analysis") == 0) *out = PL_TASK_TEXT_CLASSIFICATION;
    else if (strcmp(task, "feature-extraction") == 0) *out = PL_TASK_FEATURE_EXTRACTION;
    else if (strcmp(task, "fill-mask") == 0) *out = PL_TASK_FILL_MASK;
    else if (strcmp(task, "token-classification") == 0 || strcmp(task, "ner") == 0) *out = PL_TASK_TOKEN_CLASSIFICATION;
    else if (strcmp(task, "question-answering") == 0) *out = PL_TASK_QUESTION_ANSWERING;
    else return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline: unknown task '%s'", task);
    return KILN_OK;
}

kiln_status kiln_pipeline_create(const char *task, const kiln_program *program, const kiln_pipeline_options *opts,
                                 kiln_pipeline **out) {
    if (!task || !program || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: NULL argument");
    *out = NULL;
    pl_task t = PL_TASK_TEXT_CLASSIFICATION;
    kiln_status st = parse_task(task, &t);
    if (st) return st;
    kiln_pipeline_options o = opts ? *opts : kiln_pipeline_options_default();
    if ((!o.tokenizer_path || !*o.tokenizer_path) && !program->n_tokenizer_files && !program->tokenizer_dir)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: %s needs a tokenizer (tokenizer_path): the program has none", task);
    if (o.batch_size < 1) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: batch_size %lld < 1", (long long)o.batch_size);
    kiln_pipeline *p = calloc(1, sizeof(*p));
    if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_create: out of memory");
    p->task = t;
    p->o = o;
    p->o.tokenizer_path = NULL;   // keeps no pointer to opts
    p->o.function_to_apply = NULL;
    p->o.targets = NULL;
    p->o.n_targets = 0;
    if (o.ignore_labels) {
        p->ignore_labels = calloc(o.n_ignore_labels ? o.n_ignore_labels : 1, sizeof(char *));
        if (!p->ignore_labels) goto oom;
        for (size_t i = 0; i < o.n_ignore_labels; i++)
            if (o.ignore_labels[i] && !(p->ignore_labels[i] = strdup(o.ignore_labels[i]))) goto oom;
        p->o.ignore_labels = (const char *const *)p->ignore_labels;
    }
    p->prog = program;
    for (int32_t i = 0; i < program->n_symbols; i++) {
        if (strcmp(program->symbol_names[i], "batch") == 0) p->max_batch = program->symbol_max[i];
        if (strcmp(program->symbol_names[i], "seq") == 0) p->max_seq = program->symbol_max[i];
    }
    if (p->max_batch < 1) p->max_batch = 1;
    if (p->o.batch_size > p->max_batch) p->o.batch_size = p->max_batch;
    kiln_tensor desc;
    for (size_t i = 0; kiln_program_input(program, i, &desc) == KILN_OK; i++)
        p->has_token_types |= strcmp(desc.name, "token_type_ids") == 0;
    const char *need = t == PL_TASK_FEATURE_EXTRACTION ? "last_hidden_state" : t == PL_TASK_QUESTION_ANSWERING ? "start_logits" : "logits";
    bool found = false;
    for (size_t i = 0; kiln_program_output(program, i, &desc) == KILN_OK; i++) found |= strcmp(desc.name, need) == 0;
    if (!found) {
        st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: %s needs a program with output '%s'; %s has none%s", task, need,
                        program->head.architecture ? program->head.architecture : "this program",
                        t == PL_TASK_TEXT_CLASSIFICATION   ? " (no classification head)"
                        : t == PL_TASK_QUESTION_ANSWERING ? " (no question-answering head)"
                                                          : "");
        goto fail;
    }
    // aggregation_strategy: kept as one of these literals (NULL: "none"), no pointer to opts
    p->o.aggregation_strategy = NULL;
    if (o.aggregation_strategy && strcmp(o.aggregation_strategy, "none") != 0) {
        static const char *const strategies[] = {"simple", "first", "average", "max"};
        for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
            if (strcmp(o.aggregation_strategy, strategies[i]) == 0) p->o.aggregation_strategy = strategies[i];
        if (!p->o.aggregation_strategy) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "token-classification: aggregation_strategy '%s' (want none, simple, first, average or max)",
                            o.aggregation_strategy);
            goto fail;
        }
    }
    if (t == PL_TASK_TOKEN_CLASSIFICATION && (program->head.n_labels < 1 || !program->head.labels)) {
        st = kiln_error(KILN_ERR_INVALID_ARG, "token-classification: the program has no labels (id2label)");
        goto fail;
    }
    if (t == PL_TASK_TEXT_CLASSIFICATION) {
        kiln_pipeline_options tmp = p->o;
        p->o.function_to_apply = o.function_to_apply;
        st = pl_text_classification_init(p);
        p->o = tmp;
        if (st) goto fail;
    }
    if (t == PL_TASK_QUESTION_ANSWERING) {
        if (o.top_k < 0 || o.max_answer_len < 1 || o.max_seq_len == 0 || o.max_seq_len < -1 || o.doc_stride < -1) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "question-answering: top_k %d, max_answer_len %lld, max_seq_len %lld, doc_stride %lld "
                            "(want top_k >= 0, max_answer_len >= 1, max_seq_len >= 1 or -1, doc_stride >= 0 or -1)",
                            o.top_k, (long long)o.max_answer_len, (long long)o.max_seq_len, (long long)o.doc_stride);
            goto fail;
        }
    }
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = o.n_threads;
    st = o.tokenizer_path && *o.tokenizer_path ? kiln_tokenizer_open(o.tokenizer_path, &p->tok) : kiln_program_tokenizer(program, &p->tok);
    if (st || (st = kiln_context_create(program, &xo, &p->ctx))) goto fail;
    if (t == PL_TASK_FILL_MASK && (st = pl_fill_mask_init(p, o.targets, o.n_targets))) goto fail;
    *out = p;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_create: out of memory");
fail:
    kiln_pipeline_free(p);
    return st;
}

void kiln_pipeline_free(kiln_pipeline *p) {
    if (!p) return;
    kiln_context_free(p->ctx);
    kiln_tokenizer_free(p->tok);
    if (p->release) p->release(p->release_arg);
    free(p->target_ids);
    for (size_t i = 0; p->ignore_labels && i < p->o.n_ignore_labels; i++) free(p->ignore_labels[i]);
    free(p->ignore_labels);
    free(p);
}

typedef struct by_len {
    size_t index;
    size_t n;
} by_len;

static int cmp_len(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

// What the model runs on: one encoding per input, or per window of a question-answering input.
typedef struct features {
    size_t n;
    kiln_encoding *enc;        // (n)
    size_t *sample;            // (n) the input each comes from, in input order
    float **start, **end;      // question-answering: (n) each feature's logits, kept until its input is answered
} features;

static void features_free(features *f) {
    for (size_t i = 0; i < f->n; i++) {
        kiln_encoding_free(&f->enc[i]);
        if (f->start) free(f->start[i]);
        if (f->end) free(f->end[i]);
    }
    free(f->enc);
    free(f->sample);
    free(f->start);
    free(f->end);
    *f = (features){0};
}

// question-answering's windows, as Transformers' preprocess tokenizes (question, context).
static kiln_status qa_features(const kiln_pipeline *p, const char *const *texts, const char *const *pairs, size_t n, features *f) {
    int64_t model_max = kiln_tokenizer_model_max_length(p->tok);
    int64_t max_len = p->o.max_seq_len > 0 ? p->o.max_seq_len : model_max > 0 ? KILN_MIN(model_max, 384) : 384;
    int64_t stride = p->o.doc_stride >= 0 ? p->o.doc_stride : KILN_MIN(max_len / 2, 128);
    if (stride > max_len)
        return kiln_error(KILN_ERR_INVALID_ARG, "question-answering: doc_stride %lld is larger than max_seq_len %lld", (long long)stride,
                          (long long)max_len);
    if (p->max_seq > 0 && max_len > p->max_seq)
        return kiln_error(KILN_ERR_INVALID_ARG, "question-answering: max_seq_len %lld is longer than the program's max_seq %lld",
                          (long long)max_len, (long long)p->max_seq);
    bool question_first = !kiln_tokenizer_padding_left(p->tok);
    kiln_encode_options eo = kiln_encode_options_default();
    eo.padding = KILN_PADDING_DO_NOT_PAD;
    eo.truncation = question_first ? KILN_TRUNCATION_ONLY_SECOND : KILN_TRUNCATION_ONLY_FIRST;
    eo.max_length = max_len;
    eo.stride = stride;
    eo.return_overflowing_tokens = true;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pairs || !pairs[i] || !*pairs[i] || !*texts[i])
            return kiln_error(KILN_ERR_INVALID_ARG, "question-answering: input %zu needs a non-empty question and context", i);
        kiln_batch_encoding b;
        const char *q = question_first ? texts[i] : pairs[i], *c = question_first ? pairs[i] : texts[i];
        kiln_status st = kiln_tokenizer_encode_batch(p->tok, &q, &c, 1, &eo, &b);
        if (st) return st;
        if (f->n + b.n_rows > cap) {
            size_t nc = KILN_MAX(2 * cap, f->n + b.n_rows + 8);
            kiln_encoding *e = realloc(f->enc, nc * sizeof(*e));
            if (e) f->enc = e;
            size_t *sm = realloc(f->sample, nc * sizeof(*sm));
            if (sm) f->sample = sm;
            if (!e || !sm) {
                kiln_batch_encoding_free(&b);
                return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_run: out of memory");
            }
            cap = nc;
        }
        for (size_t r = 0; r < b.n_rows; r++) {
            f->enc[f->n] = b.rows[r];
            f->sample[f->n++] = i;
            memset(&b.rows[r], 0, sizeof(b.rows[r]));
        }
        kiln_batch_encoding_free(&b);
    }
    f->start = calloc(f->n + 1, sizeof(float *));
    f->end = calloc(f->n + 1, sizeof(float *));
    if (!f->start || !f->end) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_run: out of memory");
    return KILN_OK;
}

// One encoding per input (no padding, no truncation, as Transformers' pipelines by default).
static kiln_status plain_features(const kiln_pipeline *p, const char *const *texts, const char *const *pairs, size_t n, features *f) {
    f->enc = calloc(n + 1, sizeof(*f->enc));
    f->sample = calloc(n + 1, sizeof(*f->sample));
    if (!f->enc || !f->sample) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_run: out of memory");
    // token-classification truncates to model_max_length (Transformers' preprocess does); the
    // other tasks do not truncate by default
    bool truncate = p->task == PL_TASK_TOKEN_CLASSIFICATION && kiln_tokenizer_model_max_length(p->tok) > 0;
    kiln_encode_options eo = kiln_encode_options_default();
    eo.truncation = KILN_TRUNCATION_LONGEST_FIRST;
    for (size_t i = 0; i < n; i++) {
        kiln_status st;
        if (truncate) {
            kiln_batch_encoding b;
            const char *pair = pairs ? pairs[i] : NULL;
            if ((st = kiln_tokenizer_encode_batch(p->tok, &texts[i], pair ? &pair : NULL, 1, &eo, &b))) return st;
            f->enc[i] = b.rows[0];
            memset(&b.rows[0], 0, sizeof(b.rows[0]));
            kiln_batch_encoding_free(&b);
        } else if ((st = kiln_tokenizer_encode(p->tok, texts[i], pairs ? pairs[i] : NULL, &f->enc[i]))) {
            return st;
        }
        f->sample[i] = i;
        f->n = i + 1;
        bool has_mask = false;
        for (size_t s = 0; s < f->enc[i].n && p->task == PL_TASK_FILL_MASK; s++) has_mask |= f->enc[i].input_ids[s] == p->mask_id;
        if (p->task == PL_TASK_FILL_MASK && !has_mask)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: fill-mask: input %zu has no mask token", i);
    }
    return KILN_OK;
}

// The JSON of input i from its one feature's outputs (y: the row's [S, ...] block).
static kiln_status task_row(const kiln_pipeline *p, const char *text, const kiln_encoding *e, const float *y, int64_t dim, pl_json *j) {
    switch (p->task) {
    case PL_TASK_TEXT_CLASSIFICATION:
        pl_text_classification_row(p, y, j);
        return KILN_OK;
    case PL_TASK_TOKEN_CLASSIFICATION:
        return pl_token_classification_row(p, y, text, e, j);
    case PL_TASK_FILL_MASK:
        return pl_fill_mask_row(p, y, dim, e, j);
    case PL_TASK_FEATURE_EXTRACTION:
        pl_feature_extraction_row(p, y, p->o.pooled ? 1 : (int64_t)e->n, dim, j);
        return KILN_OK;
    case PL_TASK_QUESTION_ANSWERING:
        break;
    }
    return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: no single-feature row for this task");
}

// The driver: JSON for kiln_pipeline_run, or (emb_out, feature-extraction) pooled vectors as floats.
static kiln_status run(kiln_pipeline *p, const char *const *texts, const char *const *pairs, size_t n, char **json_out,
                       float *emb_out) {
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: text %zu is NULL", i);
    bool qa = p->task == PL_TASK_QUESTION_ANSWERING;
    features f = {0};
    kiln_status st = qa ? qa_features(p, texts, pairs, n, &f) : plain_features(p, texts, pairs, n, &f);
    by_len *order = calloc(f.n + 1, sizeof(*order));
    char **rows = calloc(n + 1, sizeof(*rows));
    int64_t B = p->o.batch_size;
    int64_t *ids = NULL, *mask = NULL, *types = NULL;
    float *pooled = NULL;
    pl_qa_window *win = NULL;
    pl_json all = {0};
    if (st) goto done;
    if (!order || !rows) goto oom;
    for (size_t i = 0; i < f.n; i++) {
        if (p->max_seq > 0 && (int64_t)f.enc[i].n > p->max_seq) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: input %zu has %zu tokens, more than the program's max_seq %lld",
                            f.sample[i], f.enc[i].n, (long long)p->max_seq);
            goto done;
        }
        order[i] = (by_len){i, f.enc[i].n};
    }
    // Grouped by length to cut padding; results go back in input order.
    qsort(order, f.n, sizeof(*order), cmp_len);
    int64_t pad = kiln_tokenizer_pad_id(p->tok);
    if (pad < 0) pad = 0;
    for (size_t b0 = 0; b0 < f.n; b0 += (size_t)B) {
        int64_t nb = (int64_t)(f.n - b0 < (size_t)B ? f.n - b0 : (size_t)B);
        int64_t S = 1;
        for (int64_t r = 0; r < nb; r++) S = KILN_MAX(S, (int64_t)order[b0 + (size_t)r].n);
        free(ids);
        free(mask);
        free(types);
        ids = calloc((size_t)(nb * S), sizeof(int64_t));
        mask = calloc((size_t)(nb * S), sizeof(int64_t));
        types = calloc((size_t)(nb * S), sizeof(int64_t));
        if (!ids || !mask || !types) goto oom;
        for (int64_t r = 0; r < nb; r++) {
            const kiln_encoding *e = &f.enc[order[b0 + (size_t)r].index];
            for (int64_t s = 0; s < S; s++) {
                bool real = (size_t)s < e->n;
                ids[r * S + s] = real ? e->input_ids[s] : pad;
                mask[r * S + s] = real;
                types[r * S + s] = real ? e->token_type_ids[s] : 0;
            }
        }
        kiln_tensor in[3] = {
            {.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {nb, S}, .data = ids},
            {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {nb, S}, .data = mask},
            {.name = "token_type_ids", .dtype = KILN_I64, .rank = 2, .shape = {nb, S}, .data = types},
        };
        kiln_tensor out[2] = {{.name = qa ? "start_logits" : p->task == PL_TASK_FEATURE_EXTRACTION ? "last_hidden_state" : "logits"},
                              {.name = "end_logits"}};
        if ((st = kiln_run(p->ctx, in, p->has_token_types ? 3 : 2, out, qa ? 2 : 1))) goto done;
        const float *y = out[0].data;
        int64_t dim = out[0].rank > 2 ? out[0].shape[2] : out[0].shape[1];
        if (p->task == PL_TASK_FEATURE_EXTRACTION && p->o.pooled) {
            const rt_head *h = &p->prog->head;
            free(pooled);
            pooled = malloc((size_t)(nb * dim) * sizeof(float));
            if (!pooled) goto oom;
            if ((st = pl_pool(y, mask, nb, S, dim, h->pooling != RT_POOLING_NONE ? h->pooling : RT_POOLING_MEAN,
                              h->pooling != RT_POOLING_NONE && h->pooling_normalize, pooled)))
                goto done;
        }
        for (int64_t r = 0; r < nb; r++) {
            size_t fi = order[b0 + (size_t)r].index, idx = f.sample[fi];
            if (qa) {   // kept until every window of the input has run
                size_t nt = f.enc[fi].n;
                f.start[fi] = malloc(sizeof(float) * (nt + 1));
                f.end[fi] = malloc(sizeof(float) * (nt + 1));
                if (!f.start[fi] || !f.end[fi]) goto oom;
                memcpy(f.start[fi], y + r * S, sizeof(float) * nt);
                memcpy(f.end[fi], (const float *)out[1].data + r * S, sizeof(float) * nt);
                continue;
            }
            if (emb_out) {
                memcpy(emb_out + idx * (size_t)dim, pooled + r * dim, sizeof(float) * (size_t)dim);
                continue;
            }
            pl_json j = {0};
            const float *row = p->task == PL_TASK_TEXT_CLASSIFICATION ? y + r * dim
                               : pooled                              ? pooled + r * dim
                                                                     : y + r * S * dim;
            if ((st = task_row(p, texts[idx], &f.enc[fi], row, dim, &j)) || j.oom) {
                free(j.s);
                if (st) goto done;
                goto oom;
            }
            rows[idx] = j.s;
        }
    }
    if (qa) {   // each input's windows, in the tokenizer's order
        win = calloc(f.n + 1, sizeof(*win));
        if (!win) goto oom;
        for (size_t i = 0, fi = 0; i < n; i++) {
            size_t nw = 0;
            for (; fi < f.n && f.sample[fi] == i; fi++) win[nw++] = (pl_qa_window){&f.enc[fi], f.start[fi], f.end[fi]};
            pl_json j = {0};
            if ((st = pl_question_answering_row(p, pairs[i], win, nw, &j)) || j.oom) {
                free(j.s);
                if (st) goto done;
                goto oom;
            }
            rows[i] = j.s;
        }
    }
    if (emb_out) goto done;
    pl_json_raw(&all, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) pl_json_raw(&all, ", ");
        pl_json_raw(&all, rows[i]);
    }
    pl_json_raw(&all, "]");
    if (all.oom) goto oom;
    *json_out = all.s;
    all.s = NULL;
    goto done;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_run: out of memory");
done:
    features_free(&f);
    for (size_t i = 0; i < n && rows; i++) free(rows[i]);
    free(order);
    free(rows);
    free(ids);
    free(mask);
    free(types);
    free(pooled);
    free(win);
    free(all.s);
    return st;
}

kiln_status kiln_pipeline_run(kiln_pipeline *p, const char *const *texts, const char *const *pairs, size_t n, char **json_out) {
    if (!p || (!texts && n) || !json_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: NULL argument");
    *json_out = NULL;
    return run(p, texts, pairs, n, json_out, NULL);
}

size_t kiln_pipeline_embedding_dim(const kiln_pipeline *p) {
    kiln_tensor desc;
    for (size_t i = 0; p && kiln_program_output(p->prog, i, &desc) == KILN_OK; i++)
        if (strcmp(desc.name, "last_hidden_state") == 0 && desc.rank == 3) return (size_t)desc.shape[2];
    return 0;
}

kiln_status kiln_pipeline_embed(kiln_pipeline *p, const char *const *texts, size_t n, float *out) {
    if (!p || (!texts && n) || (!out && n)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_embed: NULL argument");
    if (p->task != PL_TASK_FEATURE_EXTRACTION)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_embed: the pipeline is not feature-extraction");
    bool pooled = p->o.pooled;
    p->o.pooled = true;
    kiln_status st = run(p, texts, NULL, n, NULL, out);
    p->o.pooled = pooled;
    return st;
}
