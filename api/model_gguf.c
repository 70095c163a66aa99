/* model_gguf.c — kiln_model_open on a GGUF file: the config from its metadata, the family's own
 * builder (models/gguf.c maps the names), the chat template and special ids for generation, and
 * weights bound when a program is compiled: block-quantized ones in place in the file's mapping
 * (a copy only where LLaMA's q/k rows are un-permuted), the rest read as f32 — each program owns
 * the copies it made.
 */
#define _DEFAULT_SOURCE   // madvise, MADV_DONTNEED
#include "api/model.h"

#include <sys/mman.h>

kiln_status api_gguf_open(const char *path, const kiln_open_options *opts, kiln_model **model_out) {
    kiln_status st;
    kiln_model *m = calloc(1, sizeof(*m));
    if (!m) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_model_open: out of memory");
    m->opts = opts ? *opts : kiln_open_options_default();
    m->opts.architecture = NULL;
    m->generation = fe_generation_config_default();
    if (m->opts.compute_dtype != KILN_F32) {
        st = kiln_error(KILN_ERR_UNSUPPORTED, "compute dtype: kiln computes in f32 for now");
        goto error;
    }
    if ((st = fe_gguf_open(path, &m->gguf)) || (st = md_gguf_config(m->gguf, &m->cfg))) goto error;
    if (!(m->family = md_find_family(m->cfg->model_type, m->cfg->path))) {
        st = KILN_ERR_UNSUPPORTED;
        goto error;
    }
    if ((st = md_choose_head(m->family, m->cfg, opts ? opts->architecture : NULL, &m->head, m->architecture, sizeof(m->architecture))))
        goto error;
    fe_gguf_tokenizer tk;
    if (fe_gguf_find(m->gguf, "tokenizer.ggml.model") && (st = fe_gguf_get_tokenizer(m->gguf, &tk)) == KILN_OK) {
        fe_gguf_tokenizer_defaults(&tk);
        if (tk.chat_template && !(m->generation.chat_template = strdup(tk.chat_template))) goto oom;
        // the special tokens' text, for templates that print {{ bos_token }} / {{ eos_token }}
        if (tk.bos_id >= 0 && (size_t)tk.bos_id < tk.n_tokens && !(m->generation.bos_token = strdup(tk.tokens[tk.bos_id].data))) goto oom;
        if (tk.eos_id >= 0 && (size_t)tk.eos_id < tk.n_tokens && !(m->generation.eos_token = strdup(tk.tokens[tk.eos_id].data))) goto oom;
    }
    if (st) goto error;
    ir_graph *g = NULL;
    if ((st = api_model_graph(m, 1, 1, &g))) goto error;
    st = md_gguf_check_weights(g, m->gguf, m->family, m->cfg);
    ir_graph_free(g);
    if (st) goto error;
    *model_out = m;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_model_open: out of memory");
error:
    kiln_model_free(m);
    return st;
}

// The f32 copies one program reads from a GGUF file; released with the program.
typedef struct gguf_buffers {
    size_t n, cap;
    void **bufs;
} gguf_buffers;

void api_gguf_buffers_free(void *owner) {
    gguf_buffers *b = owner;
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->bufs[i]);
    free(b->bufs);
    free(b);
}

void *api_gguf_buffers_new(void) { return calloc(1, sizeof(gguf_buffers)); }

kiln_status api_gguf_weight(const kiln_model *m, void *owner, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes) {
    gguf_buffers *b = owner;
    md_gguf_weight gw;
    if (!md_gguf_find(m->gguf, m->family, m->cfg, w->name, &gw))
        return kiln_error(KILN_ERR_FORMAT, "%s: no tensor for '%s'", fe_gguf_path(m->gguf), w->name);
    int rank;
    int64_t shape[KILN_MAX_RANK], count = 1;
    md_gguf_shape(&gw, &rank, shape);
    for (int d = 0; d < rank; d++) count *= shape[d];
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        void **grown = realloc(b->bufs, cap * sizeof(void *));
        if (!grown) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "gguf: out of memory");
        b->bufs = grown, b->cap = cap;
    }
    if (w->dtype != KILN_F32) {   // block-quantized (md_gguf_set_weight_dtypes): the file's bytes
        if (w->dtype != gw.tensor->dtype || md_gguf_weight_dtype(&gw, true) != w->dtype)
            return kiln_error(KILN_ERR_FORMAT, "%s: tensor '%s' is %s, the graph wants %s", fe_gguf_path(m->gguf), gw.tensor->name,
                              kiln_dtype_get_info(gw.tensor->dtype)->name, kiln_dtype_get_info(w->dtype)->name);
        *dtype = w->dtype;
        *bytes = gw.tensor->size_bytes;
        if (!gw.permute_heads) {
            *data = gw.tensor->data;
            return KILN_OK;
        }
        void *rows = malloc(gw.tensor->size_bytes);
        if (!rows) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "gguf: out of memory reading '%s'", gw.tensor->name);
        b->bufs[b->n++] = rows;
        md_gguf_read_rows(&gw, rows);
        *data = rows;
        return KILN_OK;
    }
    // 64-byte aligned, so that the program uses the copy in place.
    float *f = aligned_alloc(64, ((size_t)count * sizeof(float) + 63) / 64 * 64 + 64);
    if (!f) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "gguf: out of memory reading '%s'", gw.tensor->name);
    b->bufs[b->n++] = f;
    kiln_status st = md_gguf_read(&gw, f);
    if (st) return st;
    *data = f;
    *dtype = KILN_F32;
    *bytes = (size_t)count * sizeof(float);
    return KILN_OK;
}

void api_gguf_done(const kiln_model *m, void *owner, const void *data) {
    gguf_buffers *b = owner;
    for (size_t i = 0; b && i < b->n; i++)
        if (b->bufs[i] == data) {
            free(b->bufs[i]);
            b->bufs[i] = b->bufs[--b->n];
            return;
        }
    for (size_t i = 0; i < fe_gguf_n_tensors(m->gguf); i++) {
        const fe_gguf_tensor *t = fe_gguf_tensor_at(m->gguf, i);
        if (t->data != data) continue;
        // Whole pages inside the tensor only: its neighbours may still be read.
        uintptr_t page = 4096, a = ((uintptr_t)data + page - 1) & ~(page - 1), e = ((uintptr_t)data + t->size_bytes) & ~(page - 1);
        if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
        return;
    }
}
