/* model.c — kiln_model_open: config.json → family (registry) → head → graph, with every weight
 * checked against the checkpoint before the model is handed out.
 */
#include "api/model.h"

#include <sys/stat.h>

kiln_open_options kiln_open_options_default(void) {
    kiln_open_options o = {.compute_dtype = KILN_F32, .architecture = NULL};
    return o;
}

void kiln_model_free(kiln_model *m) {
    if (!m) return;
    fe_weights_free(m->weights);
    fe_gguf_free(m->gguf);
    fe_generation_config_free(&m->generation);
    fe_config_free(m->cfg);
    free(m->dir);
    free(m);
}

const char *kiln_model_type(const kiln_model *m) { return m ? m->cfg->model_type : NULL; }
const char *kiln_model_architecture(const kiln_model *m) { return m ? m->architecture : NULL; }
size_t kiln_model_n_programs(const kiln_model *m) { return m ? atomic_load(&m->n_programs) : 0; }

kiln_status api_model_graph(const kiln_model *m, int64_t max_batch, int64_t max_seq, ir_graph **g_out) {
    md_build_options bo = {.max_batch = max_batch, .max_seq = max_seq};
    return api_model_build(m, &bo, g_out);
}

kiln_status api_model_build(const kiln_model *m, const md_build_options *opts, ir_graph **g_out) {
    *g_out = NULL;
    ir_graph *g = ir_graph_create();
    if (!g) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory building the graph");
    md_build_options bo = *opts;
    bo.head = m->head;
    bo.compute_dtype = m->opts.compute_dtype;
    if (bo.max_batch <= 0) bo.max_batch = 8;
    if (bo.max_seq <= 0) bo.max_seq = bo.max_ctx > 0 ? bo.max_ctx : m->family->max_seq(m->cfg);
    kiln_status st = m->family->build(m->cfg, &bo, g);
    if (st == KILN_OK && m->gguf) md_gguf_set_weight_dtypes(g, m->gguf, m->family, m->cfg);   // quantized weights stay so
    if (st == KILN_OK) st = ir_verify(g);
    if (st) {
        ir_graph_free(g);
        return st;
    }
    *g_out = g;
    return KILN_OK;
}

kiln_status kiln_model_open(const char *path, const kiln_open_options *opts, kiln_model **model_out) {
    if (!path || !model_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_model_open: NULL argument");
    *model_out = NULL;
    kiln_status st;
    struct stat sb;
    if (stat(path, &sb) != 0) return kiln_error(KILN_ERR_IO, "%s: no such file or directory", path);
    if (S_ISREG(sb.st_mode) && strlen(path) > 5 && strcmp(path + strlen(path) - 5, ".gguf") == 0)
        return api_gguf_open(path, opts, model_out);
    if (!S_ISDIR(sb.st_mode))
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: not a checkpoint directory or a .gguf file (ONNX files are not supported yet)", path);
    kiln_model *m = calloc(1, sizeof(*m));
    if (!m || !(m->dir = strdup(path))) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_model_open: out of memory");
        goto error;
    }
    m->opts = opts ? *opts : kiln_open_options_default();
    if (m->opts.compute_dtype != KILN_F32) {
        st = kiln_error(KILN_ERR_UNSUPPORTED, "compute dtype %s: kiln computes in f32 for now",
                        kiln_dtype_get_info(m->opts.compute_dtype) ? kiln_dtype_get_info(m->opts.compute_dtype)->name : "?");
        goto error;
    }
    m->opts.architecture = NULL;   // not kept: the caller's string
    if ((st = fe_config_load(path, &m->cfg))) goto error;
    if (!(m->family = md_find_family(m->cfg->model_type, m->cfg->path))) {
        st = KILN_ERR_UNSUPPORTED;
        goto error;
    }
    if ((st = md_choose_head(m->family, m->cfg, opts ? opts->architecture : NULL, &m->head, m->architecture,
                             sizeof(m->architecture))))
        goto error;
    if ((st = fe_pooling_load(path, &m->pooling))) goto error;
    if (md_family_is_decoder(m->family) && (st = fe_generation_config_load(path, &m->generation))) goto error;
    if ((st = fe_weights_open_dir(path, &m->weights))) goto error;
    ir_graph *g = NULL;
    if ((st = api_model_graph(m, 1, 1, &g))) goto error;
    st = md_check_weights(g, m->weights, m->family, m->cfg);
    ir_graph_free(g);
    if (st) goto error;
    *model_out = m;
    return KILN_OK;
error:
    kiln_model_free(m);
    return st;
}

kiln_status kiln_model_print_ir(const kiln_model *m, char **text_out) {
    if (!m || !text_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_model_print_ir: NULL argument");
    ir_graph *g = NULL;
    kiln_status st = api_model_graph(m, 0, 0, &g);
    if (st) return st;
    kiln_strbuf sb = {0};
    st = ir_print(g, &sb);
    ir_graph_free(g);
    if (st == KILN_OK && sb.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory printing the graph");
    if (st) {
        kiln_strbuf_free(&sb);
        return st;
    }
    *text_out = sb.data;
    return KILN_OK;
}
