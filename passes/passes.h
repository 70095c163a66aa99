/* passes.h — IR → IR passes (simplify, fuse, chunk) and the one pipeline that runs them between
 * the model builder and a backend. Every pass has one signature and one row in passes/passes.def;
 * pass_run_pipeline names each step on its own line (tinygrad's full_rewrite_to_sink). A pass
 * edits the graph in place: it redirects uses and appends nodes, then pass_commit drops what no
 * output needs and re-orders the rest topologically, so a pass never has to keep order by hand.
 */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir/ir.h"

typedef enum pass_id {
#define KILN_PASS(name, summary) PASS_##name,
#include "passes/passes.def"
    PASS_COUNT
} pass_id;

// What a pass may consult. Copy pass_ctx_default() and change fields.
typedef struct kiln_pass_ctx {
    int64_t ff_chunk;          // chunk_ffn: rows per feed-forward chunk; 0 leaves the block whole
    int64_t attn_tile;         // fuse_attention: query rows per tile; 0: the backend's choice
    bool verify;               // ir_verify after every pass (kiln_compile sets it in debug builds)
    bool enabled[PASS_COUNT];  // which passes run (default: all)
    int stop_after;            // the pipeline ends after this pass (a pass_id); -1: runs to the end
} kiln_pass_ctx;

kiln_pass_ctx pass_ctx_default(void);

const char *pass_name(int id);      // "fuse_attention"; NULL out of range
const char *pass_summary(int id);
int pass_find(const char *name);    // the pass_id, or -1

// Reads a pass selection into enabled[]: NULL, "" or "all": every pass; "none": no pass;
// "a,b,c": only those; "-a,-b": every pass but those. Returns KILN_OK or KILN_ERR_INVALID_ARG
// naming the unknown pass and listing the known ones.
kiln_status pass_parse_spec(const char *spec, bool enabled[PASS_COUNT]);

// Runs the enabled passes in pipeline order on `g` (edited in place). Returns KILN_OK or the first
// failing pass's status, its message prefixed with "pass <name>: " (a verifier failure after a
// pass names the pass too).
kiln_status pass_run_pipeline(ir_graph *g, const kiln_pass_ctx *ctx);

#define KILN_PASS(name, summary) kiln_status pass_##name(ir_graph *g, const kiln_pass_ctx *ctx);
#include "passes/passes.def"

/* ---- helpers for pass writers (passes/rewrite.c) ---- */

// Who reads each node: users[id] lists the nodes that take it as an input (once per node, even
// if it reads it twice), and whether it is a graph output.
typedef struct pass_users {
    int32_t n;             // nodes covered (g->n_nodes when built)
    int32_t *count;        // (n) distinct users
    int32_t *start;        // (n + 1) users of node i are list[start[i] .. start[i + 1])
    ir_node **list;
    bool *is_output;       // (n)
} pass_users;

kiln_status pass_users_build(const ir_graph *g, pass_users *u);
void pass_users_free(pass_users *u);
// The one node that reads `n`, or NULL when it has none, several, or is a graph output.
ir_node *pass_only_user(const pass_users *u, const ir_node *n);

// Makes every reader of `old` (and every graph output naming it) read `repl` instead.
void pass_replace_uses(ir_graph *g, ir_node *old, ir_node *repl);

// Ends an edit: keeps the nodes the outputs need (and every INPUT, and SCATTERs that write
// state), orders them topologically — old nodes (ids < n_before) keep their relative order,
// new ones come as early as their operands allow, leaves right before their first reader — and
// renumbers them. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status pass_commit(ir_graph *g, int32_t n_before);

// Nodes a fusion pass has put in a region: taken[id] for the nodes the pass started with (ids
// below n_before); nodes it appended (regions, replacements) count as taken.
static inline bool pass_taken(const bool *taken, int32_t n_before, const ir_node *x) { return x->id >= n_before || taken[x->id]; }
static inline void pass_take(bool *taken, int32_t n_before, const ir_node *x) {
    if (x->id < n_before) taken[x->id] = true;
}

// The value of a one-element CONST (f32, i32, i64 or bool) in *v; false otherwise.
bool pass_scalar_value(const ir_node *n, double *v);
bool pass_same_shape(const ir_node *a, const ir_node *b);

// Builds a FUSED node of `kind` that computes `out` from the `n` nodes in `nodes` (out among
// them; any order). The region's inputs are `fixed[0..n_fixed)` first, as in0.., then the other
// operands from outside in order of first use; one-element CONSTs are copied into the body
// instead. Every reader of `out` then reads the fused node, which is returned (NULL and
// g->status on failure). The absorbed nodes must have no readers outside the region but `out`'s.
ir_node *pass_make_region(ir_graph *g, ir_node *const *nodes, int n, ir_node *out, ir_fused_kind kind,
                          ir_node *const *fixed, int n_fixed);

#endif  // KILN_PASSES_H
