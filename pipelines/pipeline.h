/* pipeline.h — the encoder task pipelines behind kiln_pipeline_* (include/kiln.h): one shared
 * driver (tokenize, group by length, pad, run, reorder) and one postprocess per task file
 * (text_classification.c, feature_extraction.c), each writing its input's JSON.
 */
#ifndef KILN_PL_PIPELINE_H
#define KILN_PL_PIPELINE_H

#include "runtime/program.h"

typedef enum pl_task {
    PL_TASK_TEXT_CLASSIFICATION = 0,
    PL_TASK_FEATURE_EXTRACTION,
    PL_TASK_FILL_MASK,
    PL_TASK_TOKEN_CLASSIFICATION,
    PL_TASK_QUESTION_ANSWERING,
} pl_task;

// text-classification's score function (Transformers' ClassificationFunction)
typedef enum pl_function { PL_FN_NONE = 0, PL_FN_SIGMOID, PL_FN_SOFTMAX } pl_function;

// A growing JSON text.
typedef struct pl_json {
    char *s;
    size_t n, cap;
    bool oom;
} pl_json;
void pl_json_raw(pl_json *j, const char *text);
void pl_json_str(pl_json *j, const char *text);   // quoted and escaped
void pl_json_num(pl_json *j, double v);           // %.9g (null for non-finite)

// Characters (code points) in text[0..byte): Transformers' offsets index a Python str.
int64_t pl_char_index(const char *text, int64_t byte);

struct kiln_pipeline {
    pl_task task;
    kiln_pipeline_options o;
    const kiln_program *prog;
    void (*release)(void *);     // kiln_pipeline_open's: frees its program and model
    void *release_arg;
    kiln_tokenizer *tok;
    kiln_context *ctx;
    bool has_token_types;
    int64_t max_batch, max_seq;
    pl_function fn;              // text-classification
    int64_t mask_id;             // fill-mask: the mask token
    int64_t *target_ids;         // fill-mask: targets' ids, deduplicated (n_target_ids; NULL: none)
    size_t n_target_ids;
    char **ignore_labels;        // token-classification: a copy of opts' (NULL: the default ["O"])
};

// kiln_pipeline_open (libkiln) hands the model and program it made to the pipeline: release(arg)
// runs after the pipeline's context is gone. libkiln_rt itself never frees a model.
void pl_pipeline_adopt(kiln_pipeline *p, void (*release)(void *), void *arg);

// text-classification: checks the head, resolves function_to_apply.
kiln_status pl_text_classification_init(kiln_pipeline *p);
// One input's result from its logits [n_labels].
void pl_text_classification_row(const kiln_pipeline *p, const float *logits, pl_json *j);

// feature-extraction: one input's result from its hidden states [n_tokens, dim] (pooled: [dim]).
void pl_feature_extraction_row(const kiln_pipeline *p, const float *hidden, int64_t n_tokens, int64_t dim, pl_json *j);

// fill-mask: finds the mask token (tokenizer_config.json's mask_token) and the targets' ids.
kiln_status pl_fill_mask_init(kiln_pipeline *p, const char *const *targets, size_t n_targets);
// One input's result from its logits [tokens, vocab] and its encoding.
kiln_status pl_fill_mask_row(const kiln_pipeline *p, const float *logits, int64_t vocab, const kiln_encoding *e, pl_json *j);

// token-classification (aggregation none): one input's entities from its logits [tokens, labels].
kiln_status pl_token_classification_row(const kiln_pipeline *p, const float *logits, const char *text, const kiln_encoding *e,
                                        pl_json *j);

// question-answering: one window of a (question, context) pair and its logits [encoding->n].
typedef struct pl_qa_window {
    const kiln_encoding *encoding;
    const float *start_logits, *end_logits;
} pl_qa_window;
// One input's answers from all its windows (in order), as a dict or a list of dicts.
kiln_status pl_question_answering_row(const kiln_pipeline *p, const char *context, const pl_qa_window *win, size_t n_win,
                                      pl_json *j);

#endif  // KILN_PL_PIPELINE_H
