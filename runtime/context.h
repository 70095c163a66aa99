/* context.h — the per-run state of one program (kiln_context), shared by the runtime's parts. */
#ifndef KILN_RT_CONTEXT_H
#define KILN_RT_CONTEXT_H

#include <unistd.h>

#include "runtime/pool.h"
#include "runtime/program.h"

struct kiln_context {
    const kiln_program *prog;
    void *arena;                         // (prog->arena_bytes)
    void **states;                       // (prog->n_states), kept across runs
    void **staging;                      // (prog->n_inputs) converted or defaulted inputs
    const void **input_ptrs;             // (prog->n_inputs) this run's input data
    int64_t explicit_dims[RT_MAX_SYMBOLS];   // from kiln_context_set_dim; -1 unset
    int64_t symbols[RT_MAX_SYMBOLS];     // the last run's dims
    int64_t *dims;                       // every launch's evaluated dims
    int32_t *dim_offsets;                // (prog->n_launches) start of each launch's dims
    rt_pool *pool;
    uint64_t *launch_ns;                 // (prog->n_launches) time spent, summed over runs
    uint64_t n_runs;
};

// The address of an argument in this context.
void *rt_context_resolve(const kiln_context *ctx, const rt_arg *a);

#endif  // KILN_RT_CONTEXT_H
