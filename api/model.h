/* model.h — what a kiln_model holds (config, mapped weights, family and head), shared by the
 * public entry points in api/ that join the rooms of DESIGN.md together.
 */
#ifndef KILN_API_MODEL_H
#define KILN_API_MODEL_H

#include <stdatomic.h>

#include "codegen/codegen.h"
#include "frontend/generation_config.h"
#include "frontend/st_pooling.h"
#include "models/models.h"

struct kiln_model {
    char *dir;
    fe_config *cfg;
    fe_weights *weights;
    const md_family *family;
    md_head head;
    char architecture[128];
    fe_pooling pooling;         // sentence-transformers' modules, if the checkpoint has them
    kiln_open_options opts;
    fe_generation_config generation;   // decoders: generation_config.json, chat template
    atomic_size_t n_programs;   // kiln_compile calls that made a program
    fe_gguf *gguf;              // a GGUF checkpoint (dir and weights NULL): weights come from it
};

// Builds the model's graph for the given maxima (0: the family's defaults). *g_out to ir_graph_free.
kiln_status api_model_graph(const kiln_model *m, int64_t max_batch, int64_t max_seq, ir_graph **g_out);
// The same with every build option (decoders: max_ctx, logits_last); zero maxima take defaults.
kiln_status api_model_build(const kiln_model *m, const md_build_options *opts, ir_graph **g_out);

// Compiles graph `g` (the model's own, or one parsed from text) with the model's weights and
// head metadata for `target`. Does not keep `g`.
kiln_status api_compile_graph(const kiln_model *m, const ir_graph *g, kiln_target target, kiln_program **program_out);

// GGUF checkpoints (api/model_gguf.c). kiln_model_open hands a GGUF file to api_gguf_open.
kiln_status api_gguf_open(const char *path, const kiln_open_options *opts, kiln_model **model_out);
// Weight source for one compile: api_gguf_weight hands back weight `w` as its node's dtype says —
// a block-quantized weight as the file's blocks (in the mapping, or a row-permuted copy), an f32
// one read and dequantized into a buffer — copies kept by `owner` (api_gguf_buffers_new);
// api_gguf_buffers_free releases them all (with the program).
void *api_gguf_buffers_new(void);
void api_gguf_buffers_free(void *owner);
kiln_status api_gguf_weight(const kiln_model *m, void *owner, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes);
// `data` (from api_gguf_weight) is read no more: a copy is freed, a tensor's pages of the mapping
// are dropped from memory (they fault back in if read again).
void api_gguf_done(const kiln_model *m, void *owner, const void *data);

#endif  // KILN_API_MODEL_H
