/* model.h — what a kiln_model holds (config, mapped weights, family and head), shared by the
 * public entry points in api/ that join the rooms of DESIGN.md together.
 */
#ifndef KILN_API_MODEL_H
#define KILN_API_MODEL_H

#include "codegen/codegen.h"
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
};

// Builds the model's graph for the given maxima (0: the family's defaults). *g_out to ir_graph_free.
kiln_status api_model_graph(const kiln_model *m, int64_t max_batch, int64_t max_seq, ir_graph **g_out);

// Compiles graph `g` (the model's own, or one parsed from text) with the model's weights and
// head metadata for `target`. Does not keep `g`.
kiln_status api_compile_graph(const kiln_model *m, const ir_graph *g, kiln_target target, kiln_program **program_out);

#endif  // KILN_API_MODEL_H
