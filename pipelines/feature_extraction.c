/* feature_extraction.c — pipeline("feature-extraction"): every token's last hidden state, nested
 * as Transformers returns it ([1][tokens][dim] per input), or the pooled sentence vector.
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

void pl_feature_extraction_row(const kiln_pipeline *p, const float *hidden, int64_t n_tokens, int64_t dim, pl_json *j) {
    if (p->o.pooled) {
        pl_json_raw(j, "[");
        for (int64_t d = 0; d < dim; d++) {
            if (d) pl_json_raw(j, ", ");
            pl_json_num(j, hidden[d]);
        }
        pl_json_raw(j, "]");
        return;
    }
    pl_json_raw(j, "[[");
    for (int64_t t = 0; t < n_tokens; t++) {
        pl_json_raw(j, t ? ", [" : "[");
        for (int64_t d = 0; d < dim; d++) {
            if (d) pl_json_raw(j, ", ");
            pl_json_num(j, hidden[t * dim + d]);
        }
        pl_json_raw(j, "]");
    }
    pl_json_raw(j, "]]");
}
