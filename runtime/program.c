/* program.c — the program's own helpers: dim expressions, sizes, accessors and release. */
#include "runtime/program.h"

int64_t rt_expr_eval(const rt_expr *e, const int64_t *symbol_values) {
    int64_t sum = 0;
    for (int i = 0; i < e->n_terms; i++) {
        int64_t v = e->terms[i].coeff;
        for (int f = 0; f < e->terms[i].n_factors; f++) v *= symbol_values[e->terms[i].factors[f]];
        sum += v;
    }
    return sum;
}

rt_expr rt_expr_const(int64_t v) {
    rt_expr e;
    memset(&e, 0, sizeof(e));
    if (v) {
        e.n_terms = 1;
        e.terms[0].coeff = v;
    }
    return e;
}

int rt_expr_single_symbol(const rt_expr *e) {
    if (e->n_terms == 1 && e->terms[0].coeff == 1 && e->terms[0].n_factors == 1) return e->terms[0].factors[0];
    return -1;
}

size_t rt_tensor_bytes(kiln_dtype dtype, int rank, const rt_expr *shape, const int64_t *symbols) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= rt_expr_eval(&shape[i], symbols);
    return kiln_dtype_bytes(dtype, n);
}

void rt_program_free(kiln_program *p) {
    if (!p) return;
    for (int i = 0; i < p->n_weights; i++) free(p->weights[i].owned);
    free(p->weights);
    free(p->inputs);
    free(p->outputs);
    free(p->states);
    if (p->launches) {
        for (int i = 0; i < p->n_launches; i++) free(p->launches[i].dims);
    }
    free(p->launches);
    free(p->consts);
    free(p->arena_tensors);
    if (p->weights_release) p->weights_release(p->weights_owner);
    kiln_arena_free(p->arena);
    if (p->backend_release) p->backend_release(p->backend_owner);
    free(p);
}

// Plan expressions count every symbol as at least 1 (codegen/plan.c).
static int64_t eval_clamped(const kiln_program *p, const rt_expr *e, const int64_t *symbols) {
    int64_t s[RT_MAX_SYMBOLS];
    for (int i = 0; i < p->n_symbols && i < RT_MAX_SYMBOLS; i++) s[i] = symbols[i] > 1 ? symbols[i] : 1;
    return rt_expr_eval(e, s);
}

int64_t rt_program_arena_offset(const kiln_program *p, int32_t k, const int64_t *symbols) {
    return eval_clamped(p, &p->arena_offsets[k], symbols);
}

size_t rt_program_arena_bytes(const kiln_program *p, const int64_t *symbols) {
    if (p->n_arena_offsets) return (size_t)eval_clamped(p, &p->arena_bytes_expr, symbols);
    if (!p->n_arena_tensors) return p->arena_bytes;
    int64_t most = 0;
    for (int i = 0; i < p->n_arena_tensors; i++) {
        int64_t end = p->arena_tensors[i].offset + rt_expr_eval(&p->arena_tensors[i].bytes, symbols);
        if (end > most) most = end;
    }
    return (size_t)most;
}

void kiln_program_free(kiln_program *program) { rt_program_free(program); }

size_t kiln_program_n_inputs(const kiln_program *p) { return p ? (size_t)p->n_inputs : 0; }
size_t kiln_program_n_outputs(const kiln_program *p) { return p ? (size_t)p->n_outputs : 0; }

static kiln_status describe(const rt_io *io, kiln_tensor *out) {
    memset(out, 0, sizeof(*out));
    out->name = io->name;
    out->dtype = io->dtype;
    out->rank = io->rank;
    for (int d = 0; d < io->rank; d++) {
        int64_t v = -1;
        if (io->shape[d].n_terms == 0) v = 0;
        else if (io->shape[d].n_terms == 1 && io->shape[d].terms[0].n_factors == 0) v = io->shape[d].terms[0].coeff;
        out->shape[d] = v;
    }
    return KILN_OK;
}

kiln_status kiln_program_input(const kiln_program *p, size_t i, kiln_tensor *desc_out) {
    if (!p || !desc_out || i >= (size_t)p->n_inputs)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_input: index %zu out of range", i);
    return describe(&p->inputs[i], desc_out);
}

kiln_status kiln_program_output(const kiln_program *p, size_t i, kiln_tensor *desc_out) {
    if (!p || !desc_out || i >= (size_t)p->n_outputs)
        return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_output: index %zu out of range", i);
    return describe(&p->outputs[i], desc_out);
}

size_t kiln_program_n_labels(const kiln_program *p) { return p ? (size_t)p->head.n_labels : 0; }

const char *kiln_program_label(const kiln_program *p, size_t id) {
    return p && id < (size_t)p->head.n_labels ? p->head.labels[id] : NULL;
}
