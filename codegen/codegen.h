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
    // Optional (may be NULL): the caller reads `data` (a lookup's result) no more — it copied it
    // into a joined weight — so a copy can be freed and mapped pages dropped from memory.
    void (*done)(void *ctx, const void *data);
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
// The same, but FUSED nodes for which keep(node) is true stay whole: the copy shares their
// bodies with `g`, so `g` must outlive it.
kiln_status cg_flatten_keep(const ir_graph *g, bool (*keep)(const ir_node *fused), ir_graph **out);

// The program skeleton every backend shares: symbols, weights (converted to the node's dtype
// when the file stores another float type), constants, states, inputs, outputs and the arena
// plan. where_out[node id] says where each node's value lives (malloc'd, caller frees).
kiln_status cg_program_build(const ir_graph *g, const cg_weight_source *weights, const rt_head *head,
                             size_t alignment, kiln_program **prog_out, rt_arg **where_out);

// How cg_program_build_ex plans the arena.
typedef struct cg_build_options {
    size_t alignment;   // the backend's: every arena tensor starts at a multiple of it
    // May node `n` write its output over its input `k` when that input's storage is read for the
    // last time by `n`? NULL: cg_alias_elementwise. The backend's kernel must then tolerate
    // out == in (element-wise loops do: element i is read before it is written).
    bool (*can_alias)(const ir_node *n, int k);
    bool no_alias;      // no in-place reuse at all
    // One plan for every length (cg_plan_symbolic): arena arguments name their tensor (rt_arg
    // index k + 1, the runtime evaluates program->arena_offsets[k] at each run's dims) and the
    // program's arena need is a formula (arena_bytes_expr). Off: offsets are constants planned at
    // the maxima. A backend that bakes offsets into code must leave it off.
    bool symbolic;
} cg_build_options;

// cg_program_build with options. A weight source whose `lookup` is NULL makes a plan-only
// program: weights sized but not bound (data NULL), for memory budgets and plan tests.
// PACK_WEIGHTS nodes become weights the program owns (their operands' data joined); a WEIGHT
// read only by PACK_WEIGHTS is not bound on its own. Fills the program's plan (buffers, lower
// bound, naive sum) and checks it (cg_plan_check) before returning.
kiln_status cg_program_build_ex(const ir_graph *g, const cg_weight_source *weights, const rt_head *head,
                                const cg_build_options *opts, kiln_program **prog_out, rt_arg **where_out);
// Element-wise ops on an operand of the same shape and element size.
bool cg_alias_elementwise(const ir_node *n, int k);

// What a launch costs, for profiles: its class of work (from the op's flags), FLOPs (one per
// element for element-wise ops, 5-8 per element for normalizations, 2·M·N·K for a matmul, a fused
// region's body summed) and bytes read + written, as expressions of the symbols (codegen/cost.c).
rt_class cg_op_class(ir_op op);
// The class of a launch's node: its op's, or for a fused region its heaviest part's.
rt_class cg_node_class(const ir_node *n);
rt_expr cg_flops(const ir_node *n);
rt_expr cg_bytes(const ir_node *n);
// Bytes of one tensor (node) as an expression; false on term overflow.
bool cg_tensor_bytes(const ir_node *t, ir_dim *out);

// Converts an IR dim to the program's expression form.
rt_expr cg_expr(ir_dim d);
// Element count and byte count of a node as expressions (false on term overflow).
bool cg_numel_expr(const ir_node *n, rt_expr *out);

/* ---- the memory planner (codegen/plan.c): live ranges -> offsets in one arena ---- */

typedef struct cg_live {
    int32_t first, last;    // steps: produced at `first`, last read at `last` (inclusive)
    size_t size;            // bytes at the symbols' maxima
    size_t offset;          // out: offset in the arena
} cg_live;

// Assigns offsets (multiples of `alignment`) so that no two tensors whose live ranges overlap
// share a byte; returns the arena size. Tries three placement orders (largest first, largest
// size x lifetime first, first use first), each with best-fit and first-fit gaps, and keeps the
// smallest arena (XNNPACK/TFLite greedy-by-size, improved).
size_t cg_plan_arena(cg_live *tensors, int32_t n, size_t alignment);
// The most bytes live at any one step: a lower bound for any plan. Computed from the live ranges
// alone (a sweep over births and deaths), never from a plan.
size_t cg_plan_lower_bound(const cg_live *tensors, int32_t n);
// The checker: every tensor aligned, inside `arena_bytes`, and no two tensors whose live ranges
// overlap share a byte. KILN_OK or KILN_ERR_INTERNAL naming the pair.
kiln_status cg_plan_check(const cg_live *tensors, int32_t n, size_t arena_bytes, size_t alignment);
// One plan for every length (codegen/plan.c has the method): offsets as polynomials in the
// symbols, valid at every value up to the maxima, each symbol clamped to at least 1 when
// evaluated. `size` is each tensor's bytes as an expression; `size_max` its bytes at the maxima.
typedef struct cg_sym_item {
    int32_t first, last;
    ir_dim size;
    size_t size_max;
    ir_dim offset;          // out
    size_t offset_max;      // out: at the maxima
} cg_sym_item;
kiln_status cg_plan_symbolic(cg_sym_item *tensors, int32_t n, size_t alignment, const int64_t *symbol_max, int n_symbols,
                             ir_dim *arena_out, size_t *arena_max_out);
// The checker at the maxima, at all ones, at each symbol alone at its maximum and at points
// between: no two live tensors share a byte, each inside the arena's need at that point.
kiln_status cg_plan_check_symbolic(const cg_sym_item *tensors, int32_t n, ir_dim arena, size_t alignment, const int64_t *symbol_max,
                                   int n_symbols);
// The same over a compiled program's buffer table (rt_buffer), with each buffer's size expression
// at the maxima within what was planned, and the lower bound not above the arena.
kiln_status cg_plan_check_program(const kiln_program *p);

#endif  // KILN_CODEGEN_H
