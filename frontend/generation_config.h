/* generation_config.h — what a checkpoint says about generating text, beside config.json:
 * generation_config.json (sampling defaults, stop ids), and the chat template with the special
 * tokens' text from tokenizer_config.json or chat_template.jinja. Every file is optional; what is
 * missing keeps Transformers' GenerationConfig defaults.
 */
#ifndef KILN_FE_GENERATION_CONFIG_H
#define KILN_FE_GENERATION_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

typedef struct fe_generation_config {
    bool has_file;                // generation_config.json was there
    bool do_sample;               // false
    double temperature;           // 1.0
    int64_t top_k;                // 50
    double top_p;                 // 1.0
    double min_p;                 // 0 (off)
    double repetition_penalty;    // 1.0
    int64_t max_new_tokens;       // 0: unset
    int64_t max_length;           // 0: unset (Transformers then stops at 20 tokens in all)
    int64_t bos_token_id, pad_token_id;   // -1: unset
    int64_t *eos_token_ids;       // (n_eos_token_ids); NULL when the file has no eos_token_id
    size_t n_eos_token_ids;
    char *chat_template;          // NULL if the checkpoint has none
    char *bos_token, *eos_token;  // text of the special tokens (tokenizer_config.json), or NULL
} fe_generation_config;

// Reads dir/generation_config.json, dir/tokenizer_config.json and dir/chat_template.jinja when
// they exist. A "chat_template" given as a list of {"name", "template"} picks "default" (else the
// first). Does not keep a pointer to `dir`. On success *out owns its strings and arrays
// (fe_generation_config_free); on failure *out is all defaults and needs no free.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_FORMAT (malformed JSON, or a
// field of the wrong type, naming the file and the field); KILN_ERR_IO; KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_generation_config_load(const char *dir, fe_generation_config *out);
void fe_generation_config_free(fe_generation_config *gc);   // NULL fine; leaves defaults

// Transformers' defaults: greedy, temperature 1, top_k 50, top_p 1, no min_p, no penalty.
fe_generation_config fe_generation_config_default(void);

#endif  // KILN_FE_GENERATION_CONFIG_H
