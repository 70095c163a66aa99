/* config.h — a checkpoint's config.json, read into one struct of the fields the model builders
 * share, with each family's spelling (DistilBERT's "dim", "n_layers", ...) mapped onto common names
 * and Transformers' defaults filled in where the file leaves a field out. The parsed JSON stays
 * attached so a builder can read a field this struct does not carry.
 * Families: bert, roberta, distilbert, gpt2, llama, qwen2. Adding one is a row in config.c's family
 * table (its keys and defaults) plus, for a field no family had before, a member here.
 */
#ifndef KILN_FE_CONFIG_H
#define KILN_FE_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

// Rotary position embeddings (LLaMA family): Transformers 5's "rope_parameters", or the older
// top-level "rope_theta" with a "rope_scaling" object; keys inside the object win, as in
// Transformers' standardize_rope_params. Numbers are 0 where the file leaves them out.
typedef struct fe_rope {
    const char *type;                    // rope_type (or "type"): "default", "linear", "dynamic", "llama3", "yarn", ...
    double theta;                        // rope_theta (default 10000)
    double factor;                       // linear, dynamic, llama3, yarn
    double low_freq_factor, high_freq_factor;     // llama3
    int64_t original_max_position_embeddings;     // llama3, yarn (0: max_position_embeddings)
    double attention_factor;             // yarn (0: derived from factor and mscale)
    double beta_fast, beta_slow;         // yarn (0: 32 and 1)
    double mscale, mscale_all_dim;       // yarn
    bool truncate;                       // yarn (default true)
    double partial_rotary_factor;        // fraction of head_dim that rotates (default 1)
} fe_rope;

// Every pointer below lives until fe_config_free. Token ids are -1 where the config has none.
typedef struct fe_config {
    const cJSON *json;                   // the whole config.json (an object), for fields not below
    const char *path;                    // ".../config.json", for messages

    const char *model_type;              // "bert", "roberta", "distilbert"
    const char *const *architectures;    // (n_architectures): "BertForMaskedLM", ...
    size_t n_architectures;

    int64_t vocab_size;
    int64_t hidden_size;                 // DistilBERT: dim
    int64_t num_hidden_layers;           // DistilBERT: n_layers
    int64_t num_attention_heads;         // DistilBERT: n_heads
    int64_t intermediate_size;           // the FFN's inner width; DistilBERT: hidden_dim
    const char *hidden_act;              // "gelu", "relu", "gelu_new", ...; DistilBERT: activation
    int64_t max_position_embeddings;
    int64_t type_vocab_size;             // 0: no token type embeddings (DistilBERT)
    double layer_norm_eps;               // DistilBERT: fixed at 1e-12 by its modeling code
    const char *position_embedding_type; // "absolute"; builders refuse "relative_key" and the like
    bool sinusoidal_pos_embds;           // DistilBERT: fixed sin/cos position table instead of learned

    int64_t pad_token_id, bos_token_id;
    int64_t eos_token_id;                // the first of eos_token_ids
    const int64_t *eos_token_ids;        // (n_eos_token_ids): config.json may give a list
    size_t n_eos_token_ids;

    int64_t num_labels;                  // size of id2label if given, else "num_labels", else 2
    const char *const *id2label;         // (num_labels): label of each class id; "LABEL_<i>" by default
    const char *problem_type;            // "single_label_classification", "regression", ... or NULL

    const char *dtype;                   // "dtype" (Transformers 5) or "torch_dtype": "float32", ...; NULL if absent
    int64_t chunk_size_feed_forward;     // 0: the FFN runs on all rows at once
    bool tie_word_embeddings;

    // Decoders. GPT-2 spells the common fields n_embd, n_layer, n_head, n_inner (intermediate_size,
    // 0 for null: 4 x n_embd), n_positions, activation_function and layer_norm_epsilon; LLaMA and
    // Qwen2 keep their epsilon in rms_norm_eps (read into layer_norm_eps).
    int64_t num_key_value_heads;         // grouped-query attention; 0 (absent or null): num_attention_heads
    int64_t head_dim;                    // 0 (absent or null): hidden_size / num_attention_heads
    bool attention_bias;                 // LLaMA: q/k/v/o projections carry biases
    bool mlp_bias;                       // LLaMA: gate/up/down projections carry biases
    bool scale_attn_weights;             // GPT-2: scores / sqrt(head_dim)
    bool scale_attn_by_inverse_layer_idx;   // GPT-2: scores / (layer index + 1) as well
    bool use_sliding_window;             // Qwen2
    fe_rope rope;                        // llama, qwen2
} fe_config;

// Reads dir/config.json. Does not keep a pointer to `dir`.
// Numbers meant as sizes must be non-negative integers; token ids may be integers or null (a
// negative id also means none); every field must have its JSON type. For a family it knows,
// fields the file leaves out get the defaults of Transformers' <Family>Config.
// Returns KILN_OK (*out to free with fe_config_free); KILN_ERR_INVALID_ARG (NULL argument);
// KILN_ERR_IO ("<dir>/config.json: cannot open"); KILN_ERR_FORMAT (malformed JSON with its byte,
// line and column; a field of the wrong type or value, named; missing "model_type"; id2label keys
// that are not 0..n-1); KILN_ERR_UNSUPPORTED (a model_type with no family row);
// KILN_ERR_OUT_OF_MEMORY. On failure *out is left untouched.
kiln_status fe_config_load(const char *dir, fe_config **out);

// The same from config.json's text (text[text_bytes] must be its terminating NUL), with `path`
// naming it in messages — for checkpoints whose config comes from elsewhere (GGUF metadata).
// Does not keep a pointer to `text` or `path`. Statuses as fe_config_load, less KILN_ERR_IO.
kiln_status fe_config_parse(const char *text, size_t text_bytes, const char *path, fe_config **out);

// Frees the config and its JSON. NULL is fine.
void fe_config_free(fe_config *config);

#endif  // KILN_FE_CONFIG_H
