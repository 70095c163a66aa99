/* pipeline.c — kiln_pipeline_*: the driver every encoder task shares. Tokenizes each input (no
 * padding, no truncation, as Transformers' pipelines do by default), sorts inputs by token count
 * and runs them batch_size at a time, each batch right-padded to its longest, then writes each
 * input's result in input order through its task's postprocess.
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

/* pipelines */

kiln_pipeline_options kiln_pipeline_options_default(void) {
    return (kiln_pipeline_options){.target = KILN_TARGET_INTERP, .n_threads = 1, .batch_size = 8};
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
    if (!o.tokenizer_path || !*o.tokenizer_path)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: %s needs a tokenizer (tokenizer_path)", task);
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
    const char *need = t == PL_TASK_FEATURE_EXTRACTION ? "last_hidden_state" : "logits";
    bool found = false;
    for (size_t i = 0; kiln_program_output(program, i, &desc) == KILN_OK; i++) found |= strcmp(desc.name, need) == 0;
    if (!found) {
        st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_create: %s needs a program with output '%s'; %s has none%s", task, need,
                        program->head.architecture ? program->head.architecture : "this program",
                        t == PL_TASK_TEXT_CLASSIFICATION ? " (no classification head)" : "");
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
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = o.n_threads;
    if ((st = kiln_tokenizer_open(o.tokenizer_path, &p->tok)) || (st = kiln_context_create(program, &xo, &p->ctx))) goto fail;
    if (t == PL_TASK_FILL_MASK && (st = pl_fill_mask_init(p, o.tokenizer_path, o.targets, o.n_targets))) goto fail;
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

kiln_status kiln_pipeline_run(kiln_pipeline *p, const char *const *texts, const char *const *pairs, size_t n, char **json_out) {
    if (!p || (!texts && n) || !json_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: NULL argument");
    *json_out = NULL;
    kiln_status st = KILN_OK;
    kiln_encoding *enc = calloc(n ? n : 1, sizeof(*enc));
    by_len *order = calloc(n ? n : 1, sizeof(*order));
    char **rows = calloc(n ? n : 1, sizeof(*rows));
    int64_t B = p->o.batch_size;
    int64_t *ids = NULL, *mask = NULL, *types = NULL;
    float *pooled = NULL;
    pl_json all = {0};
    if (!enc || !order || !rows) goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i]) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: text %zu is NULL", i);
            goto done;
        }
        if ((st = kiln_tokenizer_encode(p->tok, texts[i], pairs ? pairs[i] : NULL, &enc[i]))) goto done;
        if (p->max_seq > 0 && (int64_t)enc[i].n > p->max_seq) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: input %zu has %zu tokens, more than the program's max_seq %lld",
                            i, enc[i].n, (long long)p->max_seq);
            goto done;
        }
        bool has_mask = false;
        for (size_t s = 0; s < enc[i].n && p->task == PL_TASK_FILL_MASK; s++) has_mask |= enc[i].input_ids[s] == p->mask_id;
        if (p->task == PL_TASK_FILL_MASK && !has_mask) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_run: fill-mask: input %zu has no mask token", i);
            goto done;
        }
        order[i] = (by_len){i, enc[i].n};
    }
    qsort(order, n, sizeof(*order), cmp_len);
    int64_t pad = kiln_tokenizer_pad_id(p->tok);
    if (pad < 0) pad = 0;
    for (size_t b0 = 0; b0 < n; b0 += (size_t)B) {
        int64_t nb = (int64_t)(n - b0 < (size_t)B ? n - b0 : (size_t)B);
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
            const kiln_encoding *e = &enc[order[b0 + (size_t)r].index];
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
        kiln_tensor out = {.name = p->task == PL_TASK_FEATURE_EXTRACTION ? "last_hidden_state" : "logits"};
        if ((st = kiln_run(p->ctx, in, p->has_token_types ? 3 : 2, &out, 1))) goto done;
        const float *y = out.data;
        if (p->task == PL_TASK_FEATURE_EXTRACTION && p->o.pooled) {
            int64_t dim = out.shape[2];
            const rt_head *h = &p->prog->head;
            free(pooled);
            pooled = malloc((size_t)(nb * dim) * sizeof(float));
            if (!pooled) goto oom;
            if ((st = pl_pool(y, mask, nb, S, dim, h->pooling != RT_POOLING_NONE ? h->pooling : RT_POOLING_MEAN,
                              h->pooling != RT_POOLING_NONE && h->pooling_normalize, pooled)))
                goto done;
        }
        for (int64_t r = 0; r < nb; r++) {
            size_t idx = order[b0 + (size_t)r].index;
            pl_json j = {0};
            if (p->task == PL_TASK_TEXT_CLASSIFICATION) {
                pl_text_classification_row(p, y + r * out.shape[1], &j);
            } else if (p->task == PL_TASK_TOKEN_CLASSIFICATION) {
                if ((st = pl_token_classification_row(p, y + r * S * out.shape[2], texts[idx], &enc[idx], &j))) {
                    free(j.s);
                    goto done;
                }
            } else if (p->task == PL_TASK_FILL_MASK) {
                if ((st = pl_fill_mask_row(p, y + r * S * out.shape[2], out.shape[2], &enc[idx], &j))) {
                    free(j.s);
                    goto done;
                }
            } else if (p->o.pooled) {
                pl_feature_extraction_row(p, pooled + r * out.shape[2], 1, out.shape[2], &j);
            } else {
                pl_feature_extraction_row(p, y + r * S * out.shape[2], (int64_t)enc[idx].n, out.shape[2], &j);
            }
            if (j.oom) {
                free(j.s);
                goto oom;
            }
            rows[idx] = j.s;
        }
    }
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
    for (size_t i = 0; i < n && enc; i++) kiln_encoding_free(&enc[i]);
    for (size_t i = 0; i < n && rows; i++) free(rows[i]);
    free(enc);
    free(order);
    free(rows);
    free(ids);
    free(mask);
    free(types);
    free(pooled);
    free(all.s);
    return st;
}
