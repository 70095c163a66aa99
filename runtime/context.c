/* context.c — what one run needs (arena, state, staging for inputs, thread pool, counters) and
 * kiln_run: bind inputs by name, infer the symbolic dims from their shapes, check them against
 * the compiled maxima, then execute the launch list.
 */
#include "runtime/context.h"

#include <time.h>

#include "common/half.h"

kiln_context_options kiln_context_options_default(void) {
    kiln_context_options o = {.n_threads = 1};
    return o;
}

static void *alloc_aligned(size_t bytes, size_t align) {
    if (align < 64) align = 64;
    size_t n = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, n ? n : align);
    if (p) memset(p, 0, n ? n : align);
    return p;
}

void kiln_context_free(kiln_context *ctx) {
    if (!ctx) return;
    free(ctx->arena);
    if (ctx->states)
        for (int i = 0; i < ctx->prog->n_states; i++) free(ctx->states[i]);
    free(ctx->states);
    if (ctx->staging)
        for (int i = 0; i < ctx->prog->n_inputs; i++) free(ctx->staging[i]);
    free(ctx->staging);
    free(ctx->input_ptrs);
    free(ctx->dims);
    free(ctx->dim_offsets);
    free(ctx->launch_ns);
    rt_pool_free(ctx->pool);
    free(ctx);
}

kiln_status kiln_context_create(const kiln_program *prog, const kiln_context_options *opts, kiln_context **ctx_out) {
    if (!prog || !ctx_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_context_create: NULL argument");
    *ctx_out = NULL;
    kiln_context_options o = opts ? *opts : kiln_context_options_default();
    if (o.n_threads < 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_context_create: n_threads %d < 0", o.n_threads);
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = n > 0 ? (int)n : 1;
    }
    kiln_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) goto oom;
    ctx->prog = prog;
    ctx->arena = alloc_aligned(prog->arena_bytes, prog->arena_alignment);
    ctx->states = calloc((size_t)prog->n_states + 1, sizeof(void *));
    ctx->staging = calloc((size_t)prog->n_inputs + 1, sizeof(void *));
    ctx->input_ptrs = calloc((size_t)prog->n_inputs + 1, sizeof(void *));
    ctx->launch_ns = calloc((size_t)prog->n_launches + 1, sizeof(uint64_t));
    ctx->dim_offsets = calloc((size_t)prog->n_launches + 1, sizeof(int32_t));
    if (!ctx->arena || !ctx->states || !ctx->staging || !ctx->input_ptrs || !ctx->launch_ns || !ctx->dim_offsets) goto oom;
    for (int i = 0; i < prog->n_states; i++) {
        ctx->states[i] = alloc_aligned(prog->states[i].size_bytes, prog->arena_alignment);
        if (!ctx->states[i]) goto oom;
    }
    // Staging holds inputs that need converting (i32 ids for an i64 input) or filling (omitted).
    for (int i = 0; i < prog->n_inputs; i++) {
        ctx->staging[i] = alloc_aligned(rt_tensor_bytes(prog->inputs[i].dtype, prog->inputs[i].rank,
                                                        prog->inputs[i].shape, prog->symbol_max),
                                        64);
        if (!ctx->staging[i]) goto oom;
    }
    int32_t total = 0;
    for (int i = 0; i < prog->n_launches; i++) {
        ctx->dim_offsets[i] = total;
        total += prog->launches[i].n_dims;
    }
    ctx->dims = calloc((size_t)total + 1, sizeof(int64_t));
    if (!ctx->dims) goto oom;
    ctx->pool = rt_pool_create(o.n_threads);
    if (!ctx->pool) goto oom;
    for (int s = 0; s < prog->n_symbols; s++) ctx->explicit_dims[s] = -1;
    *ctx_out = ctx;
    return KILN_OK;
oom:
    kiln_context_free(ctx);
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_context_create: out of memory (arena %zu bytes)", prog->arena_bytes);
}

kiln_status kiln_context_set_dim(kiln_context *ctx, const char *symbol, int64_t value) {
    if (!ctx || !symbol) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_context_set_dim: NULL argument");
    const kiln_program *p = ctx->prog;
    for (int s = 0; s < p->n_symbols; s++) {
        if (strcmp(p->symbol_names[s], symbol) != 0) continue;
        if (value < 0 || value > p->symbol_max[s])
            return kiln_error(KILN_ERR_INVALID_ARG, "dim '%s' = %lld is outside [0, %lld] (compiled maximum)", symbol,
                              (long long)value, (long long)p->symbol_max[s]);
        ctx->explicit_dims[s] = value;
        return KILN_OK;
    }
    return kiln_error(KILN_ERR_INVALID_ARG, "the program has no dim named '%s'", symbol);
}

void kiln_context_reset_state(kiln_context *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->prog->n_states; i++) memset(ctx->states[i], 0, ctx->prog->states[i].size_bytes);
}

void *rt_context_resolve(const kiln_context *ctx, const rt_arg *a) {
    const kiln_program *p = ctx->prog;
    char *base = NULL;
    switch (a->space) {
    case RT_SPACE_ARENA:
        base = ctx->arena;
        if (a->index > 0 && a->index <= p->n_arena_offsets)   // a plan that scales with the dims
            return base + rt_program_arena_offset(p, a->index - 1, ctx->symbols);
        break;
    case RT_SPACE_WEIGHT: base = (char *)p->weights[a->index].data; break;
    case RT_SPACE_STATE: base = ctx->states[a->index]; break;
    case RT_SPACE_INPUT: base = (char *)ctx->input_ptrs[a->index]; break;
    case RT_SPACE_CONST: base = p->consts; break;
    }
    return base + a->offset;
}

static bool is_int_dtype(kiln_dtype t) { return t == KILN_I32 || t == KILN_I64; }

// Binds one input: checks its rank and dims (inferring symbols), points or converts its data.
static kiln_status bind_input(kiln_context *ctx, int i, const kiln_tensor *t, int64_t *sym, bool *known) {
    const rt_io *io = &ctx->prog->inputs[i];
    if (t->rank != io->rank)
        return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': rank %d, the program wants %d", io->name, t->rank, io->rank);
    if (t->dtype != io->dtype && !(is_int_dtype(t->dtype) && is_int_dtype(io->dtype)))
        return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': dtype %s, the program wants %s", io->name,
                          kiln_dtype_get_info(t->dtype) ? kiln_dtype_get_info(t->dtype)->name : "?",
                          kiln_dtype_get_info(io->dtype)->name);
    for (int d = 0; d < io->rank; d++) {
        if (t->shape[d] < 0) return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': negative dim %d", io->name, d);
        int s = rt_expr_single_symbol(&io->shape[d]);
        if (s >= 0 && !known[s]) {
            if (t->shape[d] > ctx->prog->symbol_max[s])
                return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': dim %d (%s) = %lld exceeds the compiled maximum %lld",
                                  io->name, d, ctx->prog->symbol_names[s], (long long)t->shape[d],
                                  (long long)ctx->prog->symbol_max[s]);
            sym[s] = t->shape[d];
            known[s] = true;
        }
    }
    return KILN_OK;
}

static kiln_status check_shape(const kiln_context *ctx, const rt_io *io, const int64_t *shape, const int64_t *sym) {
    for (int d = 0; d < io->rank; d++) {
        int64_t want = rt_expr_eval(&io->shape[d], sym);
        if (shape[d] != want)
            return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': dim %d is %lld, expected %lld from the other inputs",
                              io->name, d, (long long)shape[d], (long long)want);
    }
    return KILN_OK;
}

static kiln_status stage_input(kiln_context *ctx, int i, const kiln_tensor *t, const int64_t *sym) {
    const rt_io *io = &ctx->prog->inputs[i];
    int64_t n = 1;
    for (int d = 0; d < io->rank; d++) n *= rt_expr_eval(&io->shape[d], sym);
    if (!t) {   // omitted: fill with the input's default
        void *dst = ctx->staging[i];
        for (int64_t k = 0; k < n; k++) {
            if (io->dtype == KILN_I64) ((int64_t *)dst)[k] = io->default_fill;
            else if (io->dtype == KILN_I32) ((int32_t *)dst)[k] = io->default_fill;
            else if (io->dtype == KILN_F32) ((float *)dst)[k] = (float)io->default_fill;
            else ((uint8_t *)dst)[k] = (uint8_t)io->default_fill;
        }
        ctx->input_ptrs[i] = dst;
        return KILN_OK;
    }
    if (n > 0 && !t->data) return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': data is NULL", io->name);
    if (t->dtype == io->dtype) {
        ctx->input_ptrs[i] = t->data;
    } else {   // integer widths differ
        for (int64_t k = 0; k < n; k++) {
            int64_t v = t->dtype == KILN_I32 ? ((const int32_t *)t->data)[k] : ((const int64_t *)t->data)[k];
            if (io->dtype == KILN_I32) {
                if (v != (int32_t)v) return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': value %lld does not fit i32", io->name, (long long)v);
                ((int32_t *)ctx->staging[i])[k] = (int32_t)v;
            } else {
                ((int64_t *)ctx->staging[i])[k] = v;
            }
        }
        ctx->input_ptrs[i] = ctx->staging[i];
    }
    if (io->index_limit > 0) {
        const void *d = ctx->input_ptrs[i];
        for (int64_t k = 0; k < n; k++) {
            int64_t v = io->dtype == KILN_I32 ? ((const int32_t *)d)[k] : ((const int64_t *)d)[k];
            if (v < 0 || v >= io->index_limit)
                return kiln_error(KILN_ERR_INVALID_ARG, "input '%s': element %lld is %lld, out of range [0, %lld)", io->name,
                                  (long long)k, (long long)v, (long long)io->index_limit);
        }
    }
    return KILN_OK;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

kiln_status kiln_run(kiln_context *ctx, const kiln_tensor *inputs, size_t n_inputs, kiln_tensor *outputs, size_t n_outputs) {
    if (!ctx || (n_inputs && !inputs) || (n_outputs && !outputs)) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: NULL argument");
    const kiln_program *p = ctx->prog;
    int64_t sym[RT_MAX_SYMBOLS] = {0};
    bool known[RT_MAX_SYMBOLS] = {false};
    const kiln_tensor *bound[64] = {NULL};
    if (p->n_inputs > 64) return kiln_error(KILN_ERR_UNSUPPORTED, "kiln_run: more than 64 inputs");
    kiln_status st;

    // Match inputs by name; unknown names are errors (a typo must not be silently ignored).
    for (size_t k = 0; k < n_inputs; k++) {
        if (!inputs[k].name) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: input %zu has no name", k);
        int i = 0;
        while (i < p->n_inputs && strcmp(p->inputs[i].name, inputs[k].name) != 0) i++;
        if (i == p->n_inputs) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: the program has no input named '%s'", inputs[k].name);
        if (bound[i]) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: input '%s' given twice", inputs[k].name);
        bound[i] = &inputs[k];
    }
    for (int i = 0; i < p->n_inputs; i++) {
        if (!bound[i]) {
            if (p->inputs[i].default_fill < 0) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: missing input '%s'", p->inputs[i].name);
            continue;
        }
        if ((st = bind_input(ctx, i, bound[i], sym, known))) return st;
    }
    for (int s = 0; s < p->n_symbols; s++) {
        if (known[s]) continue;
        if (ctx->explicit_dims[s] < 0)
            return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: no input sets dim '%s'; set it with kiln_context_set_dim", p->symbol_names[s]);
        sym[s] = ctx->explicit_dims[s];
    }
    for (int i = 0; i < p->n_inputs; i++) {
        if (bound[i] && (st = check_shape(ctx, &p->inputs[i], bound[i]->shape, sym))) return st;
        if ((st = stage_input(ctx, i, bound[i], sym))) return st;
    }
    memcpy(ctx->symbols, sym, sizeof(sym));

    // Execute the launch list.
    void *args[RT_MAX_ARGS];
    for (int l = 0; l < p->n_launches; l++) {
        const rt_launch *L = &p->launches[l];
        int64_t *dims = ctx->dims + ctx->dim_offsets[l];
        for (int d = 0; d < L->n_dims; d++) dims[d] = rt_expr_eval(&L->dims[d], sym);
        for (int a = 0; a < L->n_args; a++) args[a] = rt_context_resolve(ctx, &L->args[a]);
        rt_kernel_call call = {args, L->n_args, dims, L->n_dims, L->params, ctx->pool, L->path};
        uint64_t t0 = now_ns();
        st = L->fn(&call);
        ctx->launch_ns[l] += now_ns() - t0;
        if (st) return kiln_error_prefix(st, "%s (%s)", L->path ? L->path : "?", L->op);
    }
    ctx->n_runs++;

    // Hand outputs back.
    for (size_t k = 0; k < n_outputs; k++) {
        kiln_tensor *t = &outputs[k];
        int i = 0;
        while (i < p->n_outputs && (!t->name || strcmp(p->outputs[i].name, t->name) != 0)) i++;
        if (i == p->n_outputs) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: the program has no output named '%s'", t->name ? t->name : "(null)");
        const rt_io *io = &p->outputs[i];
        t->dtype = io->dtype;
        t->rank = io->rank;
        for (int d = 0; d < io->rank; d++) t->shape[d] = rt_expr_eval(&io->shape[d], sym);
        size_t bytes = rt_tensor_bytes(io->dtype, io->rank, io->shape, sym);
        void *src = rt_context_resolve(ctx, &io->where);
        if (!t->data) {
            t->data = src;
            t->size_bytes = bytes;
        } else {
            if (t->size_bytes < bytes)
                return kiln_error(KILN_ERR_INVALID_ARG, "kiln_run: output '%s' needs %zu bytes, buffer has %zu", t->name, bytes, t->size_bytes);
            memcpy(t->data, src, bytes);
        }
    }
    return KILN_OK;
}
