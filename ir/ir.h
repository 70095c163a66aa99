/* ir.h — kiln's intermediate representation: one graph format for every model family and backend.
 *
 * A graph is a list of nodes in topological order (every input precedes its user), allocated from
 * the graph's bump arena. Each node is one fixed-size struct (ggml_tensor style): op, dtype, shape,
 * inputs, per-op parameters, and the Transformers module path it came from. Dims are polynomials
 * over named symbols (batch, seq, past, ONNX dim_params), so one graph describes every length.
 * State tensors (the KV cache) are leaves that live across runs and are updated in place by
 * SCATTER; a fused region is a FUSED node whose body is a graph of its own.
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include "common/common.h"

#define IR_MAX_RANK 6
#define IR_MAX_INPUTS 16
#define IR_MAX_SYMBOLS 16
#define IR_MAX_OUTPUTS 16
#define IR_DIM_MAX_TERMS 6
#define IR_DIM_MAX_FACTORS 4

/* ---- ops ---- */

enum {
    IR_OPF_LEAF = 1u << 0,
    IR_OPF_ELEMENTWISE = 1u << 1,
    IR_OPF_NORMALIZATION = 1u << 2,
    IR_OPF_CONTRACTION = 1u << 3,
    IR_OPF_MOVEMENT = 1u << 4,
    IR_OPF_FUSED = 1u << 5,
    IR_OPF_COMMUTATIVE = 1u << 6,
    IR_OPF_COMPARE = 1u << 7,   // output is BOOL
    IR_OPF_VIEW = 1u << 8,      // output shares its input's storage (no kernel)
    IR_OPF_INPLACE = 1u << 9,   // output is written into input 0's storage
};

typedef enum ir_op {
#define KILN_OP(e, name, arity, flags) IR_OP_##e,
#include "ir/ops.def"
    IR_OP_COUNT
} ir_op;

const char *ir_op_name(ir_op op);
int ir_op_arity(ir_op op);          // -1: variadic
uint32_t ir_op_flags(ir_op op);
bool ir_op_from_name(const char *name, ir_op *op_out);

/* ---- dims: sum of terms, each coeff * product of symbols (sorted ids) ---- */

typedef struct ir_term {
    int64_t coeff;
    uint8_t n_factors;
    uint8_t factors[IR_DIM_MAX_FACTORS];   // symbol ids, ascending
} ir_term;

typedef struct ir_dim {
    uint8_t n_terms;                       // 0: the constant 0
    ir_term terms[IR_DIM_MAX_TERMS];       // canonical: sorted, no zero coefficients, merged
} ir_dim;

ir_dim ir_dim_const(int64_t value);
ir_dim ir_dim_sym(int symbol);
// Arithmetic returns false when the result would need more terms or factors than fit, or a
// coefficient would overflow int64.
bool ir_dim_add(ir_dim a, ir_dim b, ir_dim *out);
bool ir_dim_sub(ir_dim a, ir_dim b, ir_dim *out);
bool ir_dim_mul(ir_dim a, ir_dim b, ir_dim *out);
bool ir_dim_eq(ir_dim a, ir_dim b);
bool ir_dim_is_const(ir_dim a, int64_t *value_out);   // value_out may be NULL
int64_t ir_dim_eval(ir_dim a, const int64_t *symbol_values);

/* ---- nodes and graphs ---- */

typedef struct ir_graph ir_graph;

typedef struct ir_params {
    int32_t axis;                  // SOFTMAX, REDUCE_*, CUMSUM, CONCAT, SLICE, IOTA, GATHER (0)
    bool keepdim;                  // REDUCE_*
    bool trans_a, trans_b;         // MATMUL: A [..., M, K] (or [..., K, M]), B [..., K, N] (or [..., N, K])
    float eps;                     // LAYER_NORM, RMS_NORM
    int32_t perm[IR_MAX_RANK];     // PERMUTE: output axis i is input axis perm[i]
    ir_dim start, end;             // SLICE: [start, end) along axis; IOTA: first value
    const void *data;              // CONST: rank/shape/dtype elements, row-major, in the graph arena
    ir_graph *body;                // FUSED: inputs "in0".."in{n-1}", one output
    // FUSED regions made by the passes: what the body promises, so that a backend may lower the
    // region with a specialized kernel; the body stays the exact meaning (see ir_fused_kind).
    int32_t fused_kind;            // FUSED: an ir_fused_kind (IR_FUSED_GENERIC = 0)
    int32_t heads;                 // FUSED attention: number of heads
    float scale;                   // FUSED attention: factor on q . k
    int64_t chunk;                 // FUSED chunked: rows per chunk; attention: query rows per tile
                                   // (0: the backend's choice)
    int32_t offsets[3];            // FUSED attention: first column of q, k, v in rank-3 inputs
} ir_params;

/* What a FUSED region's body is, as a promise to backends (passes/README.md has the details).
 * Every backend may ignore the kind and lower the body op by op (cg_flatten): the result is the
 * same up to float rounding. Inputs are the body's INPUT nodes "in0".."in{n-1}".
 *   GENERIC      any body.
 *   ELEMENTWISE  INPUT, CONST and element-wise ops only; every input broadcasts to the output.
 *   GEMM         one MATMUL of in0 and in1, then an element-wise epilogue whose other operands
 *                (in2.., CONSTs) are leaves: bias, scale, activation. Output: the matmul's shape.
 *   NORM         an element-wise prologue (the residual add) feeding one LAYER_NORM (gamma, beta
 *                inputs) or RMS_NORM, the output.
 *   ATTENTION    softmax(q . kᵀ · scale + mask) . v per head; in0..in2 = q, k, v sources, in3 the
 *                additive mask (optional, broadcasts to [batch, heads, seq_q, seq_k]). A rank-4
 *                source is [batch, heads, seq, head_dim]; a rank-3 one is [batch, seq, C] whose
 *                head h sits at columns offsets[i] + h * head_dim. The output is rank 4
 *                [batch, heads, seq_q, head_dim] or rank 3 [batch, seq_q, heads * head_dim].
 *                Computed tile by tile with online softmax: no [seq_q x seq_k] buffer.
 *   CHUNKED      a row-wise body (each output row reads only the same row of the inputs whose
 *                leading dims match the output's, and whole other inputs: weights, biases),
 *                computed `chunk` rows at a time: the feed-forward block. */
typedef enum ir_fused_kind {
    IR_FUSED_GENERIC = 0,
    IR_FUSED_ELEMENTWISE,
    IR_FUSED_GEMM,
    IR_FUSED_NORM,
    IR_FUSED_ATTENTION,
    IR_FUSED_CHUNKED,
    IR_FUSED_KIND_COUNT
} ir_fused_kind;

const char *ir_fused_kind_name(int kind);             // "attention"; "?" out of range
bool ir_fused_kind_from_name(const char *name, int *kind_out);

enum {
    IR_NODE_OUTPUT = 1u << 0,       // a graph output (also listed in graph->outputs)
    IR_NODE_DEFAULT_ZERO = 1u << 1, // INPUT the caller may omit: it is then all zeros (token_type_ids)
    IR_NODE_DEFAULT_ONE = 1u << 2,  // INPUT the caller may omit: it is then all ones (attention_mask)
};

typedef struct ir_node {
    int32_t id;                    // index in graph->nodes
    ir_op op;
    kiln_dtype dtype;
    int32_t rank;
    ir_dim shape[IR_MAX_RANK];
    int32_t n_inputs;
    struct ir_node *inputs[IR_MAX_INPUTS];
    const char *name;              // INPUT / WEIGHT / STATE: the binding name; else optional
    const char *path;              // Transformers module path, e.g. "encoder.layer.3.attention.self"
    int32_t n_absorbed;            // FUSED: the module paths of what the region absorbed
    const char **absorbed;
    uint32_t flags;
    ir_params p;
} ir_node;

typedef struct ir_symbol {
    const char *name;              // "batch", "seq", "past", an ONNX dim_param
    int64_t max;                   // largest value a program must serve (0: not set yet)
} ir_symbol;

typedef struct ir_output {
    const char *name;              // Transformers' output name: "logits", "last_hidden_state"
    ir_node *node;
} ir_output;

struct ir_graph {
    kiln_arena *arena;             // owns nodes, names, constants, bodies (shared by sub-graphs)
    bool owns_arena;
    int32_t n_nodes, cap_nodes;
    ir_node **nodes;
    int32_t n_symbols;
    ir_symbol symbols[IR_MAX_SYMBOLS];
    int32_t n_outputs;
    ir_output outputs[IR_MAX_OUTPUTS];
    const char *cur_path;          // the builder stamps new nodes with this
    kiln_status status;            // sticky: the first builder error (message in kiln_last_error)
};

ir_graph *ir_graph_create(void);                 // NULL on OOM
ir_graph *ir_graph_create_body(ir_graph *parent);  // shares the parent's arena and symbols
void ir_graph_free(ir_graph *g);                  // NULL is fine; bodies go with their parent

// Symbols: returns the id, creating it on first use; -1 (and g->status) when the table is full.
int ir_graph_symbol(ir_graph *g, const char *name);
int ir_graph_find_symbol(const ir_graph *g, const char *name);   // -1 if absent

// Sets the module path stamped on nodes built from now on (copied into the arena). NULL clears.
void ir_graph_set_path(ir_graph *g, const char *fmt, ...) KILN_PRINTF(2, 3);

// Marks `node` as the graph output `name`. Returns g->status.
kiln_status ir_graph_add_output(ir_graph *g, const char *name, ir_node *node);
ir_node *ir_graph_find_input(const ir_graph *g, const char *name);
ir_node *ir_graph_find_output(const ir_graph *g, const char *name);

// Number of elements as a dim expression; false on term overflow.
bool ir_node_numel(const ir_node *n, ir_dim *out);

/* ---- builder: one constructor per op. Each checks its operands, returns NULL and records
 * g->status (first error wins) on failure, and returns NULL at once when an operand is NULL, so
 * a model builder checks g->status once at the end. ---- */

ir_node *ir_input(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape);
ir_node *ir_weight(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape);
ir_node *ir_state(ir_graph *g, const char *name, kiln_dtype dtype, int rank, const ir_dim *shape);
// Copies `data` (dtype elements of a constant shape) into the arena.
ir_node *ir_const(ir_graph *g, kiln_dtype dtype, int rank, const int64_t *shape, const void *data);
ir_node *ir_scalar_f32(ir_graph *g, float value);
ir_node *ir_scalar_i64(ir_graph *g, int64_t value);

ir_node *ir_unary(ir_graph *g, ir_op op, ir_node *x);         // element-wise unary ops
ir_node *ir_binary(ir_graph *g, ir_op op, ir_node *a, ir_node *b);   // broadcasting
ir_node *ir_cast(ir_graph *g, ir_node *x, kiln_dtype dtype);
ir_node *ir_where(ir_graph *g, ir_node *cond, ir_node *a, ir_node *b);
ir_node *ir_softmax(ir_graph *g, ir_node *x, int axis);
ir_node *ir_layer_norm(ir_graph *g, ir_node *x, ir_node *gamma, ir_node *beta, float eps);
ir_node *ir_rms_norm(ir_graph *g, ir_node *x, ir_node *gamma, float eps);
ir_node *ir_reduce(ir_graph *g, ir_op op, ir_node *x, int axis, bool keepdim);
ir_node *ir_cumsum(ir_graph *g, ir_node *x, int axis);
ir_node *ir_matmul(ir_graph *g, ir_node *a, ir_node *b, bool trans_a, bool trans_b);
ir_node *ir_reshape(ir_graph *g, ir_node *x, int rank, const ir_dim *shape);
ir_node *ir_permute(ir_graph *g, ir_node *x, const int *perm);
ir_node *ir_slice(ir_graph *g, ir_node *x, int axis, ir_dim start, ir_dim end);
ir_node *ir_concat(ir_graph *g, int n, ir_node *const *xs, int axis);
ir_node *ir_expand(ir_graph *g, ir_node *x, int rank, const ir_dim *shape);
ir_node *ir_gather(ir_graph *g, ir_node *table, ir_node *indices);
ir_node *ir_scatter(ir_graph *g, ir_node *dst, ir_node *indices, ir_node *values);
ir_node *ir_iota(ir_graph *g, kiln_dtype dtype, int rank, const ir_dim *shape, int axis, ir_dim start);
// A fused region: `body` (made with ir_graph_create_body) has INPUT nodes "in0".."in{n-1}" whose
// dtypes and shapes match `inputs`, and exactly one output.
ir_node *ir_fused(ir_graph *g, ir_graph *body, int n, ir_node *const *inputs);
// Weights (WEIGHT, CONST or PACK_WEIGHTS nodes of constant shape) joined along `axis` at
// compile time; shape rule of ir_concat.
ir_node *ir_pack_weights(ir_graph *g, int n, ir_node *const *xs, int axis);

// Appends a fully described node without shape inference (the parser's path); the verifier
// checks it later. Copies *proto; returns the arena copy or NULL.
ir_node *ir_node_append(ir_graph *g, const ir_node *proto);

/* ---- verifier, printer, parser ---- */

// Checks dtypes, shapes, arities, dangling inputs (inputs not earlier in the same graph), cycles,
// outputs, and fused bodies. Dtypes and shapes are re-derived with the builder's own constructors.
// Returns KILN_OK; KILN_ERR_FORMAT naming the node and the reason
// ("ir: node %12 (matmul) @encoder.layer.0.attention.self.query: inner dims differ: ...");
// KILN_ERR_INVALID_ARG (NULL graph); KILN_ERR_OUT_OF_MEMORY.
kiln_status ir_verify(const ir_graph *g);
// ir_verify that also hands back the node at fault (NULL for a fault of the graph as a whole),
// so that the parser can name its line. bad_out may be NULL. Same statuses as ir_verify.
kiln_status ir_verify_locate(const ir_graph *g, const ir_node **bad_out);

// The textual IR (format in ir/print.c), appended to `out`. print → parse → print is identical.
// Prints graphs that fail ir_verify too. Returns KILN_OK, KILN_ERR_INVALID_ARG (NULL argument) or
// KILN_ERR_OUT_OF_MEMORY.
kiln_status ir_print(const ir_graph *g, kiln_strbuf *out);
int ir_dim_print(ir_dim d, const ir_graph *g, char *buf, size_t size);   // like snprintf; g may be NULL
// Parses text made by ir_print into a new graph (*graph_out, free with ir_graph_free; NULL on
// failure), then runs ir_verify. CONST data is printed in full, so a parsed graph runs; weights
// stay names. Keeps no pointer to `text`. Returns KILN_OK; KILN_ERR_FORMAT ("line 12: ...");
// KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_OUT_OF_MEMORY.
kiln_status ir_parse(const char *text, ir_graph **graph_out);

#endif  // KILN_IR_H
