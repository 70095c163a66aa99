/* models.h — config → IR for each architecture family, and the registry keyed by model_type
 * and architectures (kiln's AutoModel). A builder declares weights by their Transformers names
 * without the base-model prefix ("encoder.layer.0.attention.self.query.weight"); md_weights
 * finds them in a checkpoint, with or without the prefix, through legacy aliases and ties.
 */
#ifndef KILN_MODELS_H
#define KILN_MODELS_H

#include "frontend/config.h"
#include "frontend/gguf.h"
#include "frontend/safetensors.h"
#include "ir/ir.h"

typedef enum md_head {
    MD_HEAD_BASE = 0,          // XModel: last_hidden_state (+ pooler_output)
    MD_HEAD_SEQUENCE_CLASSIFICATION,
    MD_HEAD_TOKEN_CLASSIFICATION,
    MD_HEAD_QUESTION_ANSWERING,
    MD_HEAD_MASKED_LM,
    MD_HEAD_CAUSAL_LM,         // XForCausalLM, GPT2LMHeadModel: logits over the vocabulary, with a KV cache
} md_head;

typedef struct md_build_options {
    md_head head;
    kiln_dtype compute_dtype;  // dtype of weights and activations in the graph (f32)
    int64_t max_batch, max_seq;
    // Decoders: KV cache rows per sequence (positions run in [0, max_ctx); 0: max_seq), and
    // whether logits are computed only at each sequence's last token ([batch, 1, vocab]).
    int64_t max_ctx;
    bool logits_last;
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

// The decoder families (models/gpt2.c, models/llama.c; shared parts in models/decoder.c).
extern const md_family md_gpt2_family, md_llama_family, md_qwen2_family;

// True for families whose graphs carry a KV cache (inputs input_ids and position_ids, symbol past).
bool md_family_is_decoder(const md_family *f);

/* GGUF checkpoints (models/gguf.c): the same builders, llama.cpp's names and layouts. */

// A graph weight in a GGUF file: the tensor, and how to turn it into the Hugging Face layout.
typedef struct md_gguf_weight {
    const fe_gguf_tensor *tensor;
    int permute_heads;   // > 0: LLaMA q/k rows interleaved per head (this many heads) by convert_hf_to_gguf.py
    bool transpose;      // GPT-2 Conv1D weights, stored [out, in]
} md_gguf_weight;

// config.json synthesized from general.architecture (llama, qwen2, gpt2) and its hyperparameters,
// then parsed as fe_config_parse does. KILN_ERR_UNSUPPORTED for another architecture or RoPE kind.
kiln_status md_gguf_config(const fe_gguf *g, fe_config **out);
// The tensor for graph weight `name`; false if the file has none.
bool md_gguf_find(const fe_gguf *g, const md_family *f, const fe_config *cfg, const char *name, md_gguf_weight *out);
// The weight's shape as the graph sees it (transposed where it is stored transposed).
void md_gguf_shape(const md_gguf_weight *w, int *rank, int64_t *shape);
// The weight's values as f32 in the graph's layout: dequantized (common/quant.h), un-permuted,
// un-transposed, into dst (its element count). KILN_OK, KILN_ERR_UNSUPPORTED or OOM.
kiln_status md_gguf_read(const md_gguf_weight *w, float *dst);
// Block-quantized weights stay quantized: the dtype weight `w` keeps in the graph, given how the
// graph reads it (`quantizable`: every reader is a MATMUL taking it as B transposed, or a GATHER
// taking it as its table). The tensor's own dtype when it is block-quantized, 2-D, stored in the
// graph's layout (not transposed) with whole blocks per row and quantizable; otherwise F32.
kiln_dtype md_gguf_weight_dtype(const md_gguf_weight *w, bool quantizable);
// Retypes the graph's WEIGHT nodes (built as f32) to md_gguf_weight_dtype. Run before ir_verify.
void md_gguf_set_weight_dtypes(ir_graph *g, const fe_gguf *gg, const md_family *f, const fe_config *cfg);
// The weight's bytes as stored, in the graph's row order: whole rows of blocks copied with
// LLaMA's q/k rows un-permuted (rows are independent, so blocks move with their row). Only for a
// weight whose md_gguf_weight_dtype is its tensor's dtype; dst holds tensor->size_bytes.
void md_gguf_read_rows(const md_gguf_weight *w, void *dst);
// md_check_weights for a GGUF file: every weight present with the shape the metadata implies.
kiln_status md_gguf_check_weights(const ir_graph *g, const fe_gguf *gg, const md_family *f, const fe_config *cfg);

// Maps an activation name from config.json to an op; false if kiln has none.
bool md_activation_op(const char *name, ir_op *op_out);

#endif  // KILN_MODELS_H
