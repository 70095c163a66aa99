/* compile.c — kiln_compile: the model's graph at the requested maxima, handed to a backend with
 * the checkpoint as its weight source and the head metadata pipelines need.
 */
#include "api/model.h"
#include "api/passes.h"

#include <time.h>

#include "codegen/interp/interp.h"
#include "codegen/llvm/llvm.h"
#include "frontend/tokenizer/tokenizer.h"
#include "runtime/program_io.h"

kiln_compile_options kiln_compile_options_default(void) {
    kiln_compile_options o = {.target = KILN_TARGET_INTERP, .max_batch = 8, .max_seq = 0, .max_context = 0, .logits = KILN_LOGITS_ALL,
                             .cpu = NULL, .features = NULL};
    return o;
}

// A decoder's generation metadata: eos ids and sampling defaults from generation_config.json
// (config.json's ids where it is silent), the chat template, and the program's shape.
static void decoder_head(const kiln_model *m, const ir_graph *g, rt_generation *gen) {
    const fe_generation_config *gc = &m->generation;
    const fe_config *c = m->cfg;
    gen->causal_lm = m->head == MD_HEAD_CAUSAL_LM;
    int past = ir_graph_find_symbol(g, "past");
    gen->max_context = past >= 0 ? g->symbols[past].max : 0;
    const ir_node *logits = ir_graph_find_output(g, "logits");
    int64_t rows = 0;
    gen->logits_last = logits && logits->rank == 3 && ir_dim_is_const(logits->shape[1], &rows) && rows == 1;
    gen->vocab_size = c->vocab_size;
    gen->bos_token_id = gc->bos_token_id >= 0 ? gc->bos_token_id : c->bos_token_id;
    gen->pad_token_id = gc->pad_token_id >= 0 ? gc->pad_token_id : c->pad_token_id;
    gen->n_eos = (int32_t)(gc->eos_token_ids ? gc->n_eos_token_ids : c->n_eos_token_ids);
    gen->eos_token_ids = gc->eos_token_ids ? gc->eos_token_ids : c->eos_token_ids;
    gen->do_sample = gc->do_sample;
    gen->temperature = (float)gc->temperature;
    gen->top_k = (int32_t)KILN_MIN(gc->top_k, INT32_MAX);
    gen->top_p = (float)gc->top_p;
    gen->min_p = (float)gc->min_p;
    gen->repetition_penalty = (float)gc->repetition_penalty;
    gen->max_new_tokens = gc->max_new_tokens;
    gen->max_length = gc->max_length;
    gen->chat_template = gc->chat_template;
    gen->bos_token = gc->bos_token;
    gen->eos_token = gc->eos_token;
}

// A compile's weight source: the model, and for GGUF files the copies this program owns.
typedef struct weight_ctx {
    const kiln_model *m;
    void *gguf_buffers;
} weight_ctx;

static kiln_status lookup_weight(void *ctx, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes) {
    const weight_ctx *wc = ctx;
    const kiln_model *m = wc->m;
    if (m->gguf) return api_gguf_weight(m, wc->gguf_buffers, w, data, dtype, bytes);
    const fe_tensor *t = md_find_weight(m->weights, m->family, w->name);
    if (!t) return kiln_error(KILN_ERR_FORMAT, "checkpoint: missing tensor '%s'", w->name);
    *data = t->data;
    *dtype = t->dtype;
    *bytes = t->size_bytes;
    return KILN_OK;
}

static void weight_done(void *ctx, const void *data) {
    const weight_ctx *wc = ctx;
    api_gguf_done(wc->m, wc->gguf_buffers, data);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Checkpoint directories that carry tokenizer files travel with their programs (saved programs
// take text in on their own).
static bool has_tokenizer(const char *dir) {
    static const char *names[] = {"tokenizer.json", "vocab.txt", "vocab.json"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
        char *p = kiln_path_join(dir, names[i]);
        FILE *f = p ? fopen(p, "rb") : NULL;
        free(p);
        if (f) {
            fclose(f);
            return true;
        }
    }
    return false;
}

// Copies the checkpoint's tokenizer files into the program, so that it takes text in on its own
// (kiln_program_tokenizer) wherever it is saved and copied.
static kiln_status embed_tokenizer(kiln_program *p, const char *dir) {
    int32_t n = 0;
    while (fe_tok_file_names[n]) n++;
    p->tokenizer_files = kiln_arena_alloc(p->arena, sizeof(rt_file) * (size_t)n);
    if (!p->tokenizer_files) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_compile: out of memory");
    for (int32_t i = 0; i < n; i++) {
        char *path = kiln_path_join(dir, fe_tok_file_names[i]), *text = NULL;
        size_t size = 0;
        if (!path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_compile: out of memory");
        FILE *f = fopen(path, "rb");
        kiln_status st = KILN_OK;
        if (f) {
            fclose(f);
            st = kiln_read_file(path, &text, &size);
        }
        free(path);
        if (st) return st;
        if (!text) continue;
        rt_file *out = &p->tokenizer_files[p->n_tokenizer_files];
        void *data = kiln_arena_alloc(p->arena, size + 1);
        out->name = fe_tok_file_names[i];
        if (data) memcpy(data, text, size);
        free(text);
        if (!data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_compile: out of memory");
        out->data = data;
        out->size = size;
        p->n_tokenizer_files++;
    }
    return KILN_OK;
}

static kiln_status compile_graph(const kiln_model *m, const ir_graph *g, const kiln_compile_options *o, kiln_program **program_out) {
    const kiln_backend *backend = NULL;
    switch (o->target) {
    case KILN_TARGET_INTERP: backend = &cg_interp_backend; break;
    case KILN_TARGET_CPU: backend = &cg_llvm_backend; break;
    default: return kiln_error(KILN_ERR_UNSUPPORTED, "kiln_compile: target %d is not available", (int)o->target);
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
    if (md_family_is_decoder(m->family)) decoder_head(m, g, &head.gen);
    weight_ctx wc = {.m = m, .gguf_buffers = m->gguf ? api_gguf_buffers_new() : NULL};
    if (m->gguf && !wc.gguf_buffers) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_compile: out of memory");
    cg_weight_source ws = {.ctx = &wc, .lookup = lookup_weight, .done = m->gguf ? weight_done : NULL, .owner = wc.gguf_buffers,
                           .release = m->gguf ? api_gguf_buffers_free : NULL};
    kiln_status st;
    if (o->target == KILN_TARGET_CPU) {   // the CPU backend also takes the target CPU and features
        cg_llvm_options lo = {.cpu = o->cpu, .features = o->features, .jit = true};
        st = cg_llvm_compile(g, &ws, &head, &lo, program_out);
    } else {
        st = backend->compile(g, &ws, &head, program_out);
    }
    if (st != KILN_OK) api_gguf_buffers_free(wc.gguf_buffers);   // a failed compile hands the weights back
    // The tokenizer travels as a path: the checkpoint directory, or the GGUF file whose metadata has one.
    const char *tok_path = m->dir && has_tokenizer(m->dir)                        ? m->dir
                           : m->gguf && fe_gguf_find(m->gguf, "tokenizer.ggml.model") ? fe_gguf_path(m->gguf)
                                                                                      : NULL;
    if (st == KILN_OK && tok_path) {
        (*program_out)->tokenizer_dir = kiln_arena_strdup((*program_out)->arena, tok_path);
        kiln_status est = !(*program_out)->tokenizer_dir ? kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_compile: out of memory")
                          : tok_path == m->dir                ? embed_tokenizer(*program_out, m->dir)
                                                              : KILN_OK;
        if (est) {
            kiln_program_free(*program_out);
            *program_out = NULL;
            return est;
        }
    }
    if (st == KILN_OK) atomic_fetch_add(&((kiln_model *)m)->n_programs, 1);
    return st;
}

kiln_status api_compile_graph(const kiln_model *m, const ir_graph *g, kiln_target target, kiln_program **program_out) {
    kiln_compile_options o = kiln_compile_options_default();
    o.target = target;
    return compile_graph(m, g, &o, program_out);
}

kiln_status kiln_compile(const kiln_model *m, const kiln_compile_options *opts, kiln_program **program_out) {
    if (!m || !program_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: NULL argument");
    *program_out = NULL;
    kiln_compile_options o = opts ? *opts : kiln_compile_options_default();
    int64_t seq_limit = m->family->max_seq(m->cfg);
    md_build_options bo = {.logits_last = o.logits == KILN_LOGITS_LAST};
    if (md_family_is_decoder(m->family)) {
        // A decoder's positions must fit the context; a run takes up to max_seq tokens of it.
        bo.max_ctx = o.max_context > 0 ? o.max_context : o.max_seq > 0 ? o.max_seq : seq_limit;
        if (bo.max_ctx > seq_limit)
            return kiln_error(KILN_ERR_INVALID_ARG,
                              "kiln_compile: max_context %lld exceeds what %s allows (%lld positions)",
                              (long long)bo.max_ctx, m->cfg->path, (long long)seq_limit);
        if (o.max_seq <= 0) o.max_seq = bo.max_ctx;
        if (o.max_seq > bo.max_ctx)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: max_seq %lld exceeds max_context %lld", (long long)o.max_seq,
                              (long long)bo.max_ctx);
    }
    if (o.max_seq <= 0) o.max_seq = seq_limit;
    if (o.max_batch <= 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: max_batch %lld must be positive", (long long)o.max_batch);
    if (o.max_seq > seq_limit)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: max_seq %lld exceeds what %s allows (%lld, from max_position_embeddings)",
                          (long long)o.max_seq, m->cfg->path, (long long)seq_limit);
    bo.max_batch = o.max_batch;
    bo.max_seq = o.max_seq;
    if (o.target != KILN_TARGET_CPU && (o.cpu || o.features))
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_compile: cpu and features apply to the cpu target only");
    kiln_pass_ctx pc;   // the pass pipeline: options, chunk_size_feed_forward, memory budget
    kiln_status st = api_passes_setup(m, &o, &bo, &pc);
    if (st) return st;
    double t0 = now_s();
    ir_graph *g = NULL;
    st = api_model_build(m, &bo, &g);
    if (st) return st;
    if ((st = pass_run_pipeline(g, &pc))) {
        ir_graph_free(g);
        return st;
    }
    double t1 = now_s();
    st = compile_graph(m, g, &o, program_out);
    ir_graph_free(g);
    if (st == KILN_OK && (st = api_check_budget(*program_out, &o))) {
        kiln_program_free(*program_out);
        *program_out = NULL;
        return st;
    }
    if (st == KILN_OK) {
        (*program_out)->times.graph = t1 - t0;
        (*program_out)->times.total = now_s() - t0;
    }
    return st;
}

/* ---- saving programs (loading is libkiln_rt's: runtime/program_io.c) ---- */

// Saved interpreter programs name their kernels ("interp.add"); libkiln makes them resolvable.
__attribute__((constructor)) static void register_kernels(void) { rt_kernel_register("interp.", cg_interp_kernel); }

kiln_save_options kiln_save_options_default(void) {
    kiln_save_options o = {.kind = KILN_ARTIFACT_AUTO, .embed_weights = false, .header_path = NULL, .name = NULL};
    return o;
}

kiln_status kiln_program_save(const kiln_program *p, const char *path, const kiln_save_options *opts) {
    if (!p || !path) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_save: NULL argument");
    kiln_save_options o = opts ? *opts : kiln_save_options_default();
    bool has_code = p->n_objects > 0;
    if (o.kind == KILN_ARTIFACT_AUTO) o.kind = has_code ? KILN_ARTIFACT_SHARED : KILN_ARTIFACT_PROGRAM;
    if (o.kind == KILN_ARTIFACT_PROGRAM) {
        if (has_code)
            return kiln_error(KILN_ERR_INVALID_ARG, "%s: a %s program saves as a shared library or an executable, not a program file",
                              path, p->backend);
        // The interpreter's fused regions keep their compiled form behind a pointer in the launch
        // parameters, which a file cannot carry.
        for (int l = 0; l < p->n_launches; l++)
            if (p->launches[l].op && strncmp(p->launches[l].op, "fused", 5) == 0)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "%s: an interpreter program with fused regions (%s at %s) cannot be saved: compile it with "
                                  "passes \"none\", or for the cpu target",
                                  path, p->launches[l].op, p->launches[l].path ? p->launches[l].path : "?");
        return rt_program_write_file(p, path);
    }
    if (o.kind != KILN_ARTIFACT_SHARED && o.kind != KILN_ARTIFACT_EXECUTABLE)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: unknown artifact kind %d", path, (int)o.kind);
    if (!has_code)
        return kiln_error(KILN_ERR_INVALID_ARG, "%s: an %s program has no machine code: save it as a program file, or compile for the cpu target",
                          path, p->backend);
    return cg_llvm_save(p, path, &o);
}

/* ---- task pipelines from a checkpoint (the driver is libkiln_rt's: pipelines/pipeline.c) ---- */

#include "pipelines/pipeline.h"

typedef struct pipeline_owned {
    kiln_model *model;
    kiln_program *program;
} pipeline_owned;

static void pipeline_release(void *arg) {
    pipeline_owned *o = arg;
    kiln_program_free(o->program);
    kiln_model_free(o->model);
    free(o);
}

kiln_status kiln_pipeline_open(const char *task, const char *path, const kiln_pipeline_options *opts, kiln_pipeline **out) {
    if (!task || !path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_open: NULL argument");
    *out = NULL;
    kiln_pipeline_options o = opts ? *opts : kiln_pipeline_options_default();
    if (!o.tokenizer_path) o.tokenizer_path = path;
    if (o.batch_size < 1) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_pipeline_open: batch_size %lld < 1", (long long)o.batch_size);
    pipeline_owned *own = calloc(1, sizeof(*own));
    if (!own) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_pipeline_open: out of memory");
    kiln_compile_options co = kiln_compile_options_default();
    co.target = o.target;
    co.max_batch = o.batch_size;
    kiln_status st;
    if ((st = kiln_model_open(path, NULL, &own->model)) || (st = kiln_compile(own->model, &co, &own->program)) ||
        (st = kiln_pipeline_create(task, own->program, &o, out))) {
        pipeline_release(own);
        return st;
    }
    pl_pipeline_adopt(*out, pipeline_release, own);
    return KILN_OK;
}
