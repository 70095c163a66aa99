/* codegen.h — the one backend interface (ggml_backend_i, with Glow's isOpSupported) and the
 * shared steps every backend takes from a graph to a program: flattening fused regions where a
 * backend lowers them op by op, giving every tensor a place (weights, inputs, constants, state,
 * arena), and planning the arena from live ranges.
 */
#ifndef KILN_CODEGEN_H
#define KILN_CODEGEN_H

#include "ir/ir.h"
#include "runtime/program.h"

// Where weight data comes from: the model answers for each WEIGHT node of the graph.
typedef struct cg_weight_source {
    void *ctx;
    // Sets the stored bytes of weight `w` (dtype and byte count as stored; data stays valid
    // until `release(owner)`). Returns KILN_OK or a status with a message naming the tensor.
    kiln_status (*lookup)(void *ctx, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes);
    void *owner;                  // handed to the program, released with it (may be NULL)
    void (*release)(void *owner);
} cg_weight_source;

typedef struct kiln_backend {
    const char *name;
    bool (*supports)(const ir_node *node);
    size_t (*alignment)(void);    // the planner asks; it does not guess
    // Compiles `g` (its symbols' `max` set) into a program. Does not keep `g`.
    kiln_status (*compile)(const ir_graph *g, const cg_weight_source *weights, const rt_head *head, kiln_program **out);
} kiln_backend;

extern const kiln_backend cg_interp_backend;

// A copy of `g` with every FUSED node replaced by its body's nodes. Returns KILN_OK or OOM.
kiln_status cg_flatten(const ir_graph *g, ir_graph **out);

// The program skeleton every backend shares: symbols, weights (converted to the node's dtype
// when the file stores another float type), constants, states, inputs, outputs and the arena
// plan. where_out[node id] says where each node's value lives (malloc'd, caller frees).
kiln_status cg_program_build(const ir_graph *g, const cg_weight_source *weights, const rt_head *head,
                             size_t alignment, kiln_program **prog_out, rt_arg **where_out);

// Converts an IR dim to the program's expression form.
rt_expr cg_expr(ir_dim d);
// Element count and byte count of a node as expressions (false on term overflow).
bool cg_numel_expr(const ir_node *n, rt_expr *out);

/* ---- the first memory planner (live ranges -> offsets in one arena) ---- */

typedef struct cg_live {
    int32_t first, last;    // steps: produced at `first`, last read at `last` (inclusive)
    size_t size;            // bytes at the symbols' maxima
    size_t offset;          // out: offset in the arena
} cg_live;

// Assigns offsets so that no two tensors whose live ranges overlap share a byte; returns the
// arena size. Greedy by size, lowest fitting offset (XNNPACK/tinygrad style).
size_t cg_plan_arena(cg_live *tensors, int32_t n, size_t alignment);
// The most bytes live at any one step: a lower bound for any plan.
size_t cg_plan_lower_bound(const cg_live *tensors, int32_t n);

#endif  // KILN_CODEGEN_H
