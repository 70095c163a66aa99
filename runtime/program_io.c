/* program_io.c — programs as bytes: the blob that program files and AOT artifacts carry, its
 * reader (every read bounds-checked: a truncated or foreign file is a KILN_ERR_FORMAT, never a
 * crash), the registry of kernels that live outside programs, and program files.
 *
 * Blob layout (little-endian): "KILNPGM\0", u32 format version, then the fields of
 * kiln_program in declaration order; strings as u32 length (0xffffffff for NULL) + bytes, dim
 * expressions as u8 term count + (i64 coeff, u8 factor count, u8[4] factors) per term.
 */
#include "runtime/program_io.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char blob_magic[8] = "KILNPGM";
static const char file_magic[8] = "KILNPRG";

/* ---- writing ---- */

void rt_blob_free(rt_blob *b) {
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void put(rt_blob *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u8(rt_blob *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(rt_blob *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(rt_blob *b, int32_t v) { put(b, &v, 4); }
static void put_u64(rt_blob *b, uint64_t v) { put(b, &v, 8); }
static void put_i64(rt_blob *b, int64_t v) { put(b, &v, 8); }
static void put_f32(rt_blob *b, float v) { put(b, &v, 4); }

static void put_str(rt_blob *b, const char *s) {
    if (!s) {
        put_u32(b, 0xffffffffu);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_expr(rt_blob *b, const rt_expr *e) {
    put_u8(b, e->n_terms);
    for (int i = 0; i < e->n_terms; i++) {
        put_i64(b, e->terms[i].coeff);
        put_u8(b, e->terms[i].n_factors);
        put(b, e->terms[i].factors, RT_EXPR_MAX_FACTORS);
    }
}

static void put_arg(rt_blob *b, const rt_arg *a) {
    put_u32(b, (uint32_t)a->space);
    put_i32(b, a->index);
    put_i64(b, a->offset);
}

static void put_io(rt_blob *b, const rt_io *io) {
    put_str(b, io->name);
    put_u32(b, (uint32_t)io->dtype);
    put_i32(b, io->rank);
    for (int d = 0; d < io->rank; d++) put_expr(b, &io->shape[d]);
    put_arg(b, &io->where);
    put_i32(b, io->default_fill);
    put_i64(b, io->index_limit);
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

kiln_status rt_program_serialize(const kiln_program *p, rt_blob *b, uint64_t *weights_bytes_out) {
    memset(b, 0, sizeof(*b));
    put(b, blob_magic, 8);
    put_u32(b, p->format_version);
    put_str(b, p->backend);
    put_i32(b, p->n_symbols);
    for (int s = 0; s < p->n_symbols; s++) {
        put_str(b, p->symbol_names[s]);
        put_i64(b, p->symbol_max[s]);
    }
    uint64_t at = 0;
    put_i32(b, p->n_weights);
    for (int i = 0; i < p->n_weights; i++) {
        const rt_weight *w = &p->weights[i];
        put_str(b, w->name);
        put_u32(b, (uint32_t)w->dtype);
        put_i32(b, w->rank);
        for (int d = 0; d < w->rank; d++) put_i64(b, w->shape[d]);
        put_u64(b, w->size_bytes);
        put_u64(b, at);
        at = align_up(at + w->size_bytes, RT_WEIGHT_ALIGN);
    }
    *weights_bytes_out = at;
    put_i32(b, p->n_inputs);
    for (int i = 0; i < p->n_inputs; i++) put_io(b, &p->inputs[i]);
    put_i32(b, p->n_outputs);
    for (int i = 0; i < p->n_outputs; i++) put_io(b, &p->outputs[i]);
    put_i32(b, p->n_states);
    for (int i = 0; i < p->n_states; i++) {
        const rt_state *s = &p->states[i];
        put_str(b, s->name);
        put_u32(b, (uint32_t)s->dtype);
        put_i32(b, s->rank);
        for (int d = 0; d < s->rank; d++) put_i64(b, s->shape[d]);
        put_u64(b, s->size_bytes);
    }
    put_i32(b, p->n_launches);
    for (int l = 0; l < p->n_launches; l++) {
        const rt_launch *L = &p->launches[l];
        put_str(b, L->kernel);
        put_i32(b, L->n_args);
        for (int a = 0; a < L->n_args; a++) put_arg(b, &L->args[a]);
        put_i32(b, L->n_dims);
        for (int d = 0; d < L->n_dims; d++) put_expr(b, &L->dims[d]);
        put_u64(b, L->params ? L->params_size : 0);
        if (L->params) put(b, L->params, L->params_size);
        put_str(b, L->op);
        put_str(b, L->path);
        put_u32(b, (uint32_t)L->op_class);
        put_expr(b, &L->flops);
        put_expr(b, &L->bytes);
        put_i32(b, L->step);
    }
    put_u64(b, p->arena_bytes);
    put_u64(b, p->arena_alignment);
    put_u64(b, p->const_bytes);
    put(b, p->consts, p->const_bytes);
    const rt_head *h = &p->head;
    put_str(b, h->model_type);
    put_str(b, h->architecture);
    put_str(b, h->problem_type);
    put_i32(b, h->n_labels);
    for (int i = 0; i < h->n_labels; i++) put_str(b, h->labels[i]);
    put_u32(b, (uint32_t)h->pooling);
    put_u8(b, h->pooling_normalize);
    const rt_generation *g = &h->gen;
    put_u8(b, g->causal_lm);
    put_u8(b, g->logits_last);
    put_i64(b, g->max_context);
    put_i64(b, g->vocab_size);
    put_i64(b, g->bos_token_id);
    put_i64(b, g->pad_token_id);
    put_i32(b, g->n_eos);
    for (int i = 0; i < g->n_eos; i++) put_i64(b, g->eos_token_ids[i]);
    put_u8(b, g->do_sample);
    put_f32(b, g->temperature);
    put_f32(b, g->top_p);
    put_f32(b, g->min_p);
    put_f32(b, g->repetition_penalty);
    put_i32(b, g->top_k);
    put_i64(b, g->max_new_tokens);
    put_i64(b, g->max_length);
    put_str(b, g->chat_template);
    put_str(b, g->bos_token);
    put_str(b, g->eos_token);
    put_i32(b, p->n_kernels);
    put_str(b, p->target_cpu);
    put_str(b, p->target_features);
    put_str(b, p->required_features);
    put_str(b, p->tokenizer_dir);
    put_i32(b, p->n_tokenizer_files);
    for (int i = 0; i < p->n_tokenizer_files; i++) {
        put_str(b, p->tokenizer_files[i].name);
        put_u64(b, p->tokenizer_files[i].size);
        put(b, p->tokenizer_files[i].data, p->tokenizer_files[i].size);
    }
    put_i32(b, p->n_arena_tensors);
    for (int i = 0; i < p->n_arena_tensors; i++) {
        put_i64(b, p->arena_tensors[i].offset);
        put_expr(b, &p->arena_tensors[i].bytes);
    }
    put_i32(b, p->n_buffers);
    for (int i = 0; i < p->n_buffers; i++) {
        const rt_buffer *x = &p->buffers[i];
        put_str(b, x->op);
        put_str(b, x->path);
        put_i32(b, x->first);
        put_i32(b, x->last);
        put_expr(b, &x->size);
        put_i64(b, x->offset);
        put_u64(b, x->size_max);
    }
    put_u64(b, p->arena_lower_bound);
    put_u64(b, p->arena_naive_bytes);
    put_u64(b, p->workspace_bytes);
    put_i32(b, p->n_arena_offsets);
    for (int i = 0; i < p->n_arena_offsets; i++) put_expr(b, &p->arena_offsets[i]);
    put_expr(b, &p->arena_bytes_expr);
    put(b, blob_magic, 8);   // an end mark: a blob cut short anywhere is caught
    if (b->failed) {
        rt_blob_free(b);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "program: out of memory serializing");
    }
    return KILN_OK;
}

void rt_program_copy_weights(const kiln_program *p, uint8_t *dst, uint64_t weights_bytes) {
    memset(dst, 0, weights_bytes);
    uint64_t at = 0;
    for (int i = 0; i < p->n_weights; i++) {
        if (p->weights[i].size_bytes) memcpy(dst + at, p->weights[i].data, p->weights[i].size_bytes);
        at = align_up(at + p->weights[i].size_bytes, RT_WEIGHT_ALIGN);
    }
}

kiln_status rt_program_write_weights(const kiln_program *p, FILE *f, const char *path) {
    static const uint8_t zeros[RT_WEIGHT_ALIGN] = {0};
    for (int i = 0; i < p->n_weights; i++) {
        size_t n = p->weights[i].size_bytes, pad = (size_t)(align_up(n, RT_WEIGHT_ALIGN) - n);
        if ((n && fwrite(p->weights[i].data, 1, n, f) != n) || fwrite(zeros, 1, pad, f) != pad)
            return kiln_error(KILN_ERR_IO, "%s: cannot write weights", path);
    }
    return KILN_OK;
}

/* ---- reading ---- */

typedef struct reader {
    const uint8_t *p, *end;
    bool bad;
    kiln_arena *arena;
} reader;

static bool get(reader *r, void *dst, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        if (dst) memset(dst, 0, n);
        return false;
    }
    if (dst) memcpy(dst, r->p, n);
    r->p += n;
    return true;
}

static uint8_t get_u8(reader *r) {
    uint8_t v;
    get(r, &v, 1);
    return v;
}
static uint32_t get_u32(reader *r) {
    uint32_t v;
    get(r, &v, 4);
    return v;
}
static int32_t get_i32(reader *r) {
    int32_t v;
    get(r, &v, 4);
    return v;
}
static uint64_t get_u64(reader *r) {
    uint64_t v;
    get(r, &v, 8);
    return v;
}
static int64_t get_i64(reader *r) {
    int64_t v;
    get(r, &v, 8);
    return v;
}
static float get_f32(reader *r) {
    float v;
    get(r, &v, 4);
    return v;
}

static const char *get_str(reader *r) {
    uint32_t n = get_u32(r);
    if (n == 0xffffffffu || r->bad) return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    char *s = kiln_arena_strndup(r->arena, (const char *)r->p, n);
    if (!s) r->bad = true;
    r->p += n;
    return s;
}

static int32_t get_count(reader *r, int32_t limit) {
    int32_t n = get_i32(r);
    if (n < 0 || n > limit) r->bad = true;
    return r->bad ? 0 : n;
}

static rt_expr get_expr(reader *r) {
    rt_expr e;
    memset(&e, 0, sizeof(e));
    e.n_terms = get_u8(r);
    if (e.n_terms > RT_EXPR_MAX_TERMS) {
        r->bad = true;
        e.n_terms = 0;
        return e;
    }
    for (int i = 0; i < e.n_terms; i++) {
        e.terms[i].coeff = get_i64(r);
        e.terms[i].n_factors = get_u8(r);
        get(r, e.terms[i].factors, RT_EXPR_MAX_FACTORS);
        if (e.terms[i].n_factors > RT_EXPR_MAX_FACTORS) r->bad = true;
        for (int f = 0; f < RT_EXPR_MAX_FACTORS; f++)
            if (e.terms[i].factors[f] >= RT_MAX_SYMBOLS) r->bad = true;
    }
    return e;
}

static rt_arg get_arg(reader *r) {
    rt_arg a;
    a.space = (rt_space)get_u32(r);
    a.index = get_i32(r);
    a.offset = get_i64(r);
    if ((unsigned)a.space > RT_SPACE_CONST || a.index < 0 || a.offset < 0) r->bad = true;
    return a;
}

static bool dtype_ok(uint32_t t) { return t < KILN_DTYPE_COUNT; }

static void get_io(reader *r, rt_io *io) {
    io->name = get_str(r);
    uint32_t t = get_u32(r);
    io->dtype = (kiln_dtype)t;
    io->rank = get_i32(r);
    if (!dtype_ok(t) || io->rank < 0 || io->rank > KILN_MAX_RANK || !io->name) {
        r->bad = true;
        return;
    }
    for (int d = 0; d < io->rank; d++) io->shape[d] = get_expr(r);
    io->where = get_arg(r);
    io->default_fill = get_i32(r);
    io->index_limit = get_i64(r);
}

static void *get_array(reader *r, int32_t n, size_t elem) {
    void *a = calloc((size_t)n + 1, elem);
    if (!a) r->bad = true;
    return a;
}

// Checks what the runtime will dereference: argument spaces and indices, const offsets.
static bool consistent(const kiln_program *p) {
    for (int l = 0; l < p->n_launches; l++) {
        const rt_launch *L = &p->launches[l];
        if (L->n_args < 0 || L->n_args > RT_MAX_ARGS) return false;
        for (int a = 0; a < L->n_args; a++) {
            const rt_arg *x = &L->args[a];
            if ((x->space == RT_SPACE_WEIGHT && x->index >= p->n_weights) || (x->space == RT_SPACE_STATE && x->index >= p->n_states) ||
                (x->space == RT_SPACE_INPUT && x->index >= p->n_inputs) || (x->space == RT_SPACE_CONST && (size_t)x->offset > p->const_bytes) ||
                (x->space == RT_SPACE_ARENA && ((size_t)x->offset > p->arena_bytes || x->index > p->n_arena_offsets)))
                return false;
        }
    }
    for (int i = 0; i < p->n_outputs; i++) {
        const rt_arg *x = &p->outputs[i].where;
        if ((x->space == RT_SPACE_WEIGHT && x->index >= p->n_weights) || (x->space == RT_SPACE_STATE && x->index >= p->n_states) ||
            (x->space == RT_SPACE_INPUT && x->index >= p->n_inputs))
            return false;
    }
    return true;
}

kiln_status rt_program_deserialize(const uint8_t *blob, size_t size, const uint8_t *weights, uint64_t weights_bytes,
                                   rt_kernel_resolver resolve, void *resolve_ctx, const char *what, kiln_program **out) {
    *out = NULL;
    if (size < 12 || memcmp(blob, blob_magic, 8) != 0) return kiln_error(KILN_ERR_FORMAT, "%s: not a kiln program", what);
    uint32_t version;
    memcpy(&version, blob + 8, 4);
    if (version != RT_PROGRAM_FORMAT_VERSION)
        return kiln_error(KILN_ERR_FORMAT, "%s: program format version %u is not supported (this kiln reads version %u)", what, version,
                          (unsigned)RT_PROGRAM_FORMAT_VERSION);
    kiln_program *p = calloc(1, sizeof(*p));
    if (!p || !(p->arena = kiln_arena_create(64 * 1024))) {
        free(p);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    reader r = {.p = blob + 12, .end = blob + size, .arena = p->arena};
    kiln_status st = KILN_OK;
    p->format_version = version;
    p->backend = get_str(&r);
    p->n_symbols = get_count(&r, RT_MAX_SYMBOLS);
    for (int s = 0; s < p->n_symbols; s++) {
        p->symbol_names[s] = get_str(&r);
        p->symbol_max[s] = get_i64(&r);
    }
    int32_t n = get_count(&r, 1 << 20);
    p->weights = get_array(&r, n, sizeof(rt_weight));
    for (int i = 0; !r.bad && i < n; i++) {
        rt_weight *w = &p->weights[i];
        w->name = get_str(&r);
        uint32_t t = get_u32(&r);
        w->dtype = (kiln_dtype)t;
        w->rank = get_i32(&r);
        if (!dtype_ok(t) || w->rank < 0 || w->rank > KILN_MAX_RANK) r.bad = true;
        for (int d = 0; !r.bad && d < w->rank; d++) w->shape[d] = get_i64(&r);
        w->size_bytes = get_u64(&r);
        uint64_t off = get_u64(&r);
        if (r.bad) break;
        if (!weights || off > weights_bytes || w->size_bytes > weights_bytes - off) {
            st = kiln_error(KILN_ERR_FORMAT, "%s: weight '%s' [%llu, +%zu) lies outside the weights (%llu bytes)", what,
                            w->name ? w->name : "?", (unsigned long long)off, w->size_bytes, (unsigned long long)weights_bytes);
            goto error;
        }
        w->data = weights + off;
        p->n_weights++;
    }
    n = get_count(&r, 1 << 16);
    p->inputs = get_array(&r, n, sizeof(rt_io));
    for (int i = 0; !r.bad && i < n; i++, p->n_inputs++) get_io(&r, &p->inputs[i]);
    n = get_count(&r, 1 << 16);
    p->outputs = get_array(&r, n, sizeof(rt_io));
    for (int i = 0; !r.bad && i < n; i++, p->n_outputs++) get_io(&r, &p->outputs[i]);
    n = get_count(&r, 1 << 16);
    p->states = get_array(&r, n, sizeof(rt_state));
    for (int i = 0; !r.bad && i < n; i++, p->n_states++) {
        rt_state *s = &p->states[i];
        s->name = get_str(&r);
        uint32_t t = get_u32(&r);
        s->dtype = (kiln_dtype)t;
        s->rank = get_i32(&r);
        if (!dtype_ok(t) || s->rank < 0 || s->rank > KILN_MAX_RANK) r.bad = true;
        for (int d = 0; !r.bad && d < s->rank; d++) s->shape[d] = get_i64(&r);
        s->size_bytes = get_u64(&r);
    }
    n = get_count(&r, 1 << 24);
    p->launches = get_array(&r, n, sizeof(rt_launch));
    for (int l = 0; !r.bad && l < n; l++) {
        rt_launch *L = &p->launches[l];
        L->kernel = get_str(&r);
        L->n_args = get_count(&r, RT_MAX_ARGS);
        for (int a = 0; a < L->n_args; a++) L->args[a] = get_arg(&r);
        L->n_dims = get_count(&r, 1 << 12);
        L->dims = get_array(&r, L->n_dims, sizeof(rt_expr));
        p->n_launches++;   // counted now: rt_program_free releases its dims
        for (int d = 0; !r.bad && d < L->n_dims; d++) L->dims[d] = get_expr(&r);
        uint64_t ps = get_u64(&r);
        if (ps > (uint64_t)(r.end - r.p)) r.bad = true;
        if (ps && !r.bad) {
            void *prm = kiln_arena_alloc(p->arena, (size_t)ps);
            if (!prm) r.bad = true;
            else get(&r, prm, (size_t)ps);
            L->params = prm;
            L->params_size = (size_t)ps;
        }
        L->op = get_str(&r);
        L->path = get_str(&r);
        L->op_class = (rt_class)get_u32(&r);
        L->flops = get_expr(&r);
        L->bytes = get_expr(&r);
        L->step = get_i32(&r);
        if (r.bad) break;
        if (!L->kernel || !(L->fn = resolve ? resolve(resolve_ctx, L->kernel) : NULL)) {
            st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: kernel '%s' is not available%s", what, L->kernel ? L->kernel : "?",
                            L->kernel && strncmp(L->kernel, "interp.", 7) == 0 ? " (interpreter programs need libkiln)" : "");
            goto error;
        }
    }
    p->arena_bytes = (size_t)get_u64(&r);
    p->arena_alignment = (size_t)get_u64(&r);
    p->const_bytes = (size_t)get_u64(&r);
    if (p->const_bytes > (size_t)(r.end - r.p)) r.bad = true;
    if (!r.bad) {
        p->consts = calloc(1, p->const_bytes + 16);
        if (!p->consts) r.bad = true;
        else get(&r, p->consts, p->const_bytes);
    }
    rt_head *h = &p->head;
    h->model_type = get_str(&r);
    h->architecture = get_str(&r);
    h->problem_type = get_str(&r);
    h->n_labels = get_count(&r, 1 << 20);
    h->labels = kiln_arena_alloc(p->arena, sizeof(char *) * (size_t)(h->n_labels + 1));
    if (!h->labels) r.bad = true;
    for (int i = 0; !r.bad && i < h->n_labels; i++) h->labels[i] = get_str(&r);
    h->pooling = (rt_pooling)get_u32(&r);
    h->pooling_normalize = get_u8(&r);
    rt_generation *g = &h->gen;
    g->causal_lm = get_u8(&r);
    g->logits_last = get_u8(&r);
    g->max_context = get_i64(&r);
    g->vocab_size = get_i64(&r);
    g->bos_token_id = get_i64(&r);
    g->pad_token_id = get_i64(&r);
    g->n_eos = get_count(&r, 1 << 16);
    int64_t *eos = kiln_arena_alloc(p->arena, sizeof(int64_t) * (size_t)(g->n_eos + 1));
    if (!eos) r.bad = true;
    for (int i = 0; !r.bad && i < g->n_eos; i++) eos[i] = get_i64(&r);
    g->eos_token_ids = eos;
    g->do_sample = get_u8(&r);
    g->temperature = get_f32(&r);
    g->top_p = get_f32(&r);
    g->min_p = get_f32(&r);
    g->repetition_penalty = get_f32(&r);
    g->top_k = get_i32(&r);
    g->max_new_tokens = get_i64(&r);
    g->max_length = get_i64(&r);
    g->chat_template = get_str(&r);
    g->bos_token = get_str(&r);
    g->eos_token = get_str(&r);
    p->n_kernels = get_i32(&r);
    p->target_cpu = get_str(&r);
    p->target_features = get_str(&r);
    p->required_features = get_str(&r);
    p->tokenizer_dir = get_str(&r);
    n = get_count(&r, 64);
    p->tokenizer_files = n ? kiln_arena_alloc(p->arena, sizeof(rt_file) * (size_t)n) : NULL;
    if (n && !p->tokenizer_files) r.bad = true;
    for (int i = 0; !r.bad && i < n; i++, p->n_tokenizer_files++) {
        rt_file *f = &p->tokenizer_files[i];
        f->name = get_str(&r);
        f->size = (size_t)get_u64(&r);
        if (r.bad || !f->name || (size_t)(r.end - r.p) < f->size) {
            r.bad = true;
            break;
        }
        void *data = kiln_arena_alloc(p->arena, f->size + 1);
        if (!data) {
            r.bad = true;
            break;
        }
        memcpy(data, r.p, f->size);
        f->data = data;
        r.p += f->size;
    }
    n = get_count(&r, 1 << 24);
    p->arena_tensors = get_array(&r, n, sizeof(rt_arena_tensor));
    for (int i = 0; !r.bad && i < n; i++, p->n_arena_tensors++) {
        p->arena_tensors[i].offset = get_i64(&r);
        p->arena_tensors[i].bytes = get_expr(&r);
    }
    n = get_count(&r, 1 << 24);
    p->buffers = n ? kiln_arena_alloc(p->arena, sizeof(rt_buffer) * (size_t)n) : NULL;
    if (n && !p->buffers) r.bad = true;
    for (int i = 0; !r.bad && i < n; i++, p->n_buffers++) {
        rt_buffer *x = &p->buffers[i];
        x->op = get_str(&r);
        x->path = get_str(&r);
        x->first = get_i32(&r);
        x->last = get_i32(&r);
        x->size = get_expr(&r);
        x->offset = get_i64(&r);
        x->size_max = (size_t)get_u64(&r);
    }
    p->arena_lower_bound = (size_t)get_u64(&r);
    p->arena_naive_bytes = (size_t)get_u64(&r);
    p->workspace_bytes = (size_t)get_u64(&r);
    n = get_count(&r, 1 << 24);
    p->arena_offsets = n ? kiln_arena_alloc(p->arena, sizeof(rt_expr) * (size_t)n) : NULL;
    if (n && !p->arena_offsets) r.bad = true;
    for (int i = 0; !r.bad && i < n; i++, p->n_arena_offsets++) p->arena_offsets[i] = get_expr(&r);
    p->arena_bytes_expr = get_expr(&r);
    char end[8];
    get(&r, end, 8);
    if (r.bad || memcmp(end, blob_magic, 8) != 0 || !p->backend || !consistent(p)) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: the program description is truncated or inconsistent", what);
        goto error;
    }
    if (!p->arena_alignment) p->arena_alignment = 64;
    *out = p;
    return KILN_OK;
error:
    rt_program_free(p);
    return st;
}

/* ---- the registry of kernels that live outside programs ---- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char prefix[32];
    rt_kernel_fn fn;
} registry[16];
static int n_registry;

void rt_kernel_register(const char *prefix, rt_kernel_fn fn) {
    pthread_mutex_lock(&registry_mu);
    bool have = false;
    for (int i = 0; i < n_registry; i++)
        if (strcmp(registry[i].prefix, prefix) == 0) have = true;
    if (!have && n_registry < (int)KILN_ARRAY_SIZE(registry)) {
        snprintf(registry[n_registry].prefix, sizeof(registry[0].prefix), "%s", prefix);
        registry[n_registry++].fn = fn;
    }
    pthread_mutex_unlock(&registry_mu);
}

rt_kernel_fn rt_kernel_lookup(const char *name) {
    rt_kernel_fn fn = NULL;
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < n_registry && !fn; i++)
        if (strncmp(name, registry[i].prefix, strlen(registry[i].prefix)) == 0) fn = registry[i].fn;
    pthread_mutex_unlock(&registry_mu);
    return fn;
}

static rt_kernel_fn resolve_registry(void *ctx, const char *name) {
    (void)ctx;
    return rt_kernel_lookup(name);
}

/* ---- program files: header, blob, weights (page-aligned, mmap'd) ---- */

typedef struct file_header {
    char magic[8];
    uint32_t version;
    uint32_t reserved;
    uint64_t blob_offset, blob_bytes, weights_offset, weights_bytes;
} file_header;

kiln_status rt_program_write_file(const kiln_program *p, const char *path) {
    rt_blob b;
    uint64_t wbytes = 0;
    kiln_status st = rt_program_serialize(p, &b, &wbytes);
    if (st) return st;
    file_header h = {.version = RT_PROGRAM_FORMAT_VERSION};
    memcpy(h.magic, file_magic, 8);
    h.blob_offset = sizeof(h);
    h.blob_bytes = b.len;
    h.weights_offset = align_up(h.blob_offset + h.blob_bytes, 4096);
    h.weights_bytes = wbytes;
    FILE *f = fopen(path, "wb");
    if (!f) {
        rt_blob_free(&b);
        return kiln_error(KILN_ERR_IO, "%s: cannot open for writing", path);
    }
    static const uint8_t zeros[4096] = {0};
    size_t pad = (size_t)(h.weights_offset - h.blob_offset - h.blob_bytes);
    bool ok = fwrite(&h, sizeof(h), 1, f) == 1 && fwrite(b.data, 1, b.len, f) == b.len && fwrite(zeros, 1, pad, f) == pad;
    rt_blob_free(&b);
    if (ok) st = rt_program_write_weights(p, f, path);
    if (fclose(f) != 0) ok = false;
    if (!ok && !st) st = kiln_error(KILN_ERR_IO, "%s: write failed", path);
    if (st) remove(path);
    return st;
}

typedef struct file_map {
    void *addr;
    size_t size;
} file_map;

static void unmap(void *owner) {
    file_map *m = owner;
    if (!m) return;
    munmap(m->addr, m->size);
    free(m);
}

// Loads an AOT shared library (runtime/aot.c).
kiln_status rt_aot_load_library(const char *path, kiln_program **out);

kiln_status kiln_program_load(const char *path, kiln_program **out) {
    if (!path || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_load: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kiln_error(KILN_ERR_IO, "%s: cannot open", path);
    struct stat sb;
    uint8_t head[8] = {0};
    if (fstat(fd, &sb) != 0 || read(fd, head, 8) != 8) {
        close(fd);
        return kiln_error(KILN_ERR_FORMAT, "%s: too short to be a kiln program", path);
    }
    if (memcmp(head, "\x7f" "ELF", 4) == 0) {
        close(fd);
        return rt_aot_load_library(path, out);
    }
    if (memcmp(head, file_magic, 8) != 0 || (size_t)sb.st_size < sizeof(file_header)) {
        close(fd);
        return kiln_error(KILN_ERR_FORMAT, "%s: not a kiln program file or library", path);
    }
    file_map *m = calloc(1, sizeof(*m));
    void *addr = m ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (addr == MAP_FAILED) {
        free(m);
        return kiln_error(KILN_ERR_IO, "%s: cannot map", path);
    }
    m->addr = addr;
    m->size = (size_t)sb.st_size;
    file_header h;
    memcpy(&h, addr, sizeof(h));
    kiln_status st;
    if (h.version != RT_PROGRAM_FORMAT_VERSION) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: program format version %u is not supported (this kiln reads version %u)", path, h.version,
                        (unsigned)RT_PROGRAM_FORMAT_VERSION);
    } else if (h.blob_offset > m->size || h.blob_bytes > m->size - h.blob_offset || h.weights_offset > m->size ||
               h.weights_bytes > m->size - h.weights_offset) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: truncated (%zu bytes)", path, m->size);
    } else {
        const uint8_t *base = addr;
        st = rt_program_deserialize(base + h.blob_offset, h.blob_bytes, base + h.weights_offset, h.weights_bytes, resolve_registry, NULL,
                                    path, out);
    }
    if (st) {
        unmap(m);
        return st;
    }
    (*out)->backend_owner = m;
    (*out)->backend_release = unmap;
    return KILN_OK;
}
