/* compile.c — kiln_compile: the model's graph at the requested maxima, handed to a backend with
 * the checkpoint as its weight source and the head metadata pipelines need.
 */
#include "api/model.h"

kiln_compile_options kiln_compile_options_default(void) {
    kiln_compile_options o = {.target = KILN_TARGET_INTERP, .max_batch = 8, .max_seq = 0};
    return o;
}

static kiln_status lookup_weight(void *ctx, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes) {
    const kiln_model *m = ctx;
    const fe_tensor *t = md_find_weight(m->weights, m->family, w->name);
    if (!t) return kiln_error(KILN_ERR_FORMAT, "checkpoint: missing tensor '%s'", w->name);
    *data = t->data;
    *dtype = t->dtype;
    *bytes = t->size_bytes;
    return KILN_OK;
}

kiln_status api_compile_graph(const kiln_model *m, const ir_graph *g, kiln_target target, kiln_program **program_out) {
    const kiln_backend *backend = NULL;
    switch (target) {
    case KILN_TARGET_INTERP: backend = &cg_interp_backend; break;
    default: return kiln_error(KILN_ERR_UNSUPPORTED, "kiln_compile: target %d is not available", (int)target);
    }
    rt_head head = {
        .model_type = m->cfg->model_type,
        .architecture = m->architecture,
        .problem_type = m->cfg->problem_type,
        .n_labels = (int32_t)m->cfg->num_labels,
        .labels = (const char **)m->cfg->id2label,
        .pooling = m->pooling.mode == FE_POOLING_MEAN  ? RT_POOLING_MEAN
                   : m->pooling.mode == FE_POOLING_CLS ? RT_POOLING_CLS
                   : m->pooling.mode == FE_POOLING_MAX ? RT_POOLING_MAX
                                                       : RT_POOLING_NONE,
        .pooling_normalize = m->pooling.normalize,
    };
    // Transformers' default when problem_type is unset: one label is a regression.
    if (!head.problem_type && m->head == MD_HEAD_SEQUENCE_CLASSIFICATION)
        head.problem_type = m->cfg->num_labels == 1 ? "regression" : "single_label_classification";
    cg_weight_source ws = {.ctx = (void *)m, .lookup = lookup_weight};
    return backend->compile(g, &ws, &head, program_out);
}

kiln_status kiln_compile(const kiln_model *m, const kiln_compile_options *opts, kiln_program **program_out) {
    if (!m || !program_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: NULL argument");
    *program_out = NULL;
    kiln_compile_options o = opts ? *opts : kiln_compile_options_default();
    int64_t seq_limit = m->family->max_seq(m->cfg);
    if (o.max_seq <= 0) o.max_seq = seq_limit;
    if (o.max_batch <= 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: max_batch %lld must be positive", (long long)o.max_batch);
    if (o.max_seq > seq_limit)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: max_seq %lld exceeds what %s allows (%lld, from max_position_embeddings)",
                          (long long)o.max_seq, m->cfg->path, (long long)seq_limit);
    ir_graph *g = NULL;
    kiln_status st = api_model_graph(m, o.max_batch, o.max_seq, &g);
    if (st) return st;
    st = api_compile_graph(m, g, o.target, program_out);
    ir_graph_free(g);
    return st;
}
