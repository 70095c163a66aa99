/* models.h — config → IR for each architecture family, and the registry keyed by model_type
 * and architectures (kiln's AutoModel). A builder declares weights by their Transformers names
 * without the base-model prefix ("encoder.layer.0.attention.self.query.weight"); md_weights
 * finds them in a checkpoint, with or without the prefix, through legacy aliases and ties.
 */
#ifndef KILN_MODELS_H
#define KILN_MODELS_H

#include "frontend/config.h"
#include "frontend/safetensors.h"
#include "ir/ir.h"

typedef enum md_head {
    MD_HEAD_BASE = 0,          // XModel: last_hidden_state (+ pooler_output)
    MD_HEAD_SEQUENCE_CLASSIFICATION,
    MD_HEAD_TOKEN_CLASSIFICATION,
    MD_HEAD_QUESTION_ANSWERING,
    MD_HEAD_MASKED_LM,
} md_head;

typedef struct md_build_options {
    md_head head;
    kiln_dtype compute_dtype;  // dtype of weights and activations in the graph (f32)
    int64_t max_batch, max_seq;
} md_build_options;

typedef struct md_family {
    const char *model_type;    // "bert"
    const char *prefix;        // the base model's prefix in head checkpoints: "bert."
    const char *class_prefix;  // "Bert": architectures are <class_prefix>Model, ...ForMaskedLM
    int64_t (*max_seq)(const fe_config *cfg);   // the longest sequence the positions allow
    kiln_status (*build)(const fe_config *cfg, const md_build_options *opts, ir_graph *g);
} md_family;

// The family for config->model_type; NULL (and KILN_ERR_UNSUPPORTED in kiln_last_error) if none.
const md_family *md_find_family(const char *model_type, const char *config_path);

// Chooses the head: `requested` ("base", an architecture name, or NULL for the config's first
// architecture). Unknown requested names are KILN_ERR_UNSUPPORTED; an architecture in the config
// that has no head in kiln builds the bare encoder (documented in the README).
kiln_status md_choose_head(const md_family *f, const fe_config *cfg, const char *requested, md_head *head_out,
                           char *arch_out, size_t arch_size);

// Finds the checkpoint tensor for graph weight `name` (exact, with or without the family's
// prefix, then legacy aliases: LayerNorm gamma/beta, MLM decoder biases). NULL if none.
const fe_tensor *md_find_weight(const fe_weights *w, const md_family *f, const char *name);

// Checks every WEIGHT node against the checkpoint: present, a float dtype, the shape the config
// implies. Errors name the file, the tensor and the config fields. KILN_OK or KILN_ERR_FORMAT.
kiln_status md_check_weights(const ir_graph *g, const fe_weights *w, const md_family *f, const fe_config *cfg);

// The BERT family builder (BERT, RoBERTa, DistilBERT): differences are parameters.
extern const md_family md_bert_family, md_roberta_family, md_distilbert_family;

// Maps an activation name from config.json to an op; false if kiln has none.
bool md_activation_op(const char *name, ir_op *op_out);

#endif  // KILN_MODELS_H
