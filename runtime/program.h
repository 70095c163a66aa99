/* program.h — what a compiled program is: buffers by space, a launch list of kernels with their
 * arguments and run-time dims, input/output descriptions, head metadata and a format version.
 * Every backend (the interpreter too) produces this; the runtime executes it knowing nothing of
 * the IR. Immutable once built: many contexts (and threads) share one program.
 */
#ifndef KILN_RT_PROGRAM_H
#define KILN_RT_PROGRAM_H

#include "common/common.h"

#define RT_PROGRAM_FORMAT_VERSION 2   // 2: the tokenizer's files travel inside the program
#define RT_MAX_SYMBOLS 16
#define RT_MAX_ARGS 20
#define RT_EXPR_MAX_TERMS 6
#define RT_EXPR_MAX_FACTORS 4
#define RT_MAX_OBJECTS 4

// A dim expression: sum of coeff * product of symbols (same form as the IR's dims).
typedef struct rt_term {
    int64_t coeff;
    uint8_t n_factors;
    uint8_t factors[RT_EXPR_MAX_FACTORS];
} rt_term;

typedef struct rt_expr {
    uint8_t n_terms;
    rt_term terms[RT_EXPR_MAX_TERMS];
} rt_expr;

int64_t rt_expr_eval(const rt_expr *e, const int64_t *symbol_values);
rt_expr rt_expr_const(int64_t v);
// The symbol id when `e` is exactly one symbol (coefficient 1), else -1.
int rt_expr_single_symbol(const rt_expr *e);

typedef enum rt_space {
    RT_SPACE_ARENA = 0,   // the context's arena: offset in bytes
    RT_SPACE_WEIGHT,      // program weight `index`
    RT_SPACE_STATE,       // the context's state tensor `index` (KV cache), kept across runs
    RT_SPACE_INPUT,       // the run's input `index`
    RT_SPACE_CONST,       // the program's constant blob: offset in bytes
} rt_space;

typedef struct rt_arg {
    rt_space space;
    int32_t index;
    int64_t offset;       // bytes from the start of the space's buffer
} rt_arg;

// Classes of work, from the IR's op flags; the profiler groups by them.
typedef enum rt_class {
    RT_CLASS_ELEMENTWISE = 0,
    RT_CLASS_NORMALIZATION,
    RT_CLASS_CONTRACTION,
    RT_CLASS_MOVEMENT,
    RT_CLASS_FUSED,
} rt_class;

typedef struct rt_pool rt_pool;

// What a kernel receives: resolved pointers for its arguments (inputs first, output last for
// the interpreter's kernels), its dims evaluated for this run, and its parameter block.
typedef struct rt_kernel_call {
    void *const *args;
    int32_t n_args;
    const int64_t *dims;
    int32_t n_dims;
    const void *params;
    rt_pool *pool;
    const char *path;     // module path, for error messages
} rt_kernel_call;

// Kernels report bad run-time data (a token id out of range) as a status with a message.
typedef kiln_status (*rt_kernel_fn)(const rt_kernel_call *call);

typedef struct rt_launch {
    const char *kernel;   // kernel name, e.g. "interp.matmul"
    rt_kernel_fn fn;
    int32_t n_args;
    rt_arg args[RT_MAX_ARGS];
    int32_t n_dims;
    rt_expr *dims;        // (n_dims)
    const void *params;
    size_t params_size;
    const char *op;       // the IR op it came from, for profiles
    const char *path;     // Transformers module path
    rt_class op_class;
    rt_expr flops;        // as expressions of the symbols
    rt_expr bytes;        // bytes read + written
    int32_t step;         // the schedule step (graph node) it computes: rt_buffer lifetimes count these
} rt_launch;

typedef struct rt_weight {
    const char *name;
    kiln_dtype dtype;
    int32_t rank;
    int64_t shape[KILN_MAX_RANK];
    const void *data;     // in the model's mapping, or `owned`
    size_t size_bytes;
    void *owned;          // a converted copy the program owns (f16 -> f32), else NULL
} rt_weight;

typedef struct rt_io {
    const char *name;
    kiln_dtype dtype;
    int32_t rank;
    rt_expr shape[KILN_MAX_RANK];
    rt_arg where;         // inputs: RT_SPACE_INPUT; outputs: wherever the value lives
    int default_fill;     // inputs only: -1 required, 0 zeros, 1 ones when omitted
    int64_t index_limit;  // inputs feeding a gather: ids must be in [0, index_limit); 0 = unchecked
} rt_io;

typedef struct rt_state {
    const char *name;
    kiln_dtype dtype;
    int32_t rank;
    int64_t shape[KILN_MAX_RANK];   // at the symbols' maxima
    size_t size_bytes;
} rt_state;

typedef enum rt_pooling {
    RT_POOLING_NONE = 0,
    RT_POOLING_MEAN,      // mean over tokens where attention_mask is 1
    RT_POOLING_CLS,       // the first token
    RT_POOLING_MAX,       // element-wise max over unmasked tokens
} rt_pooling;

// Decoders: what the token loop (pipelines/generate.c) needs, so that a program generates text
// on its own. Defaults are generation_config.json's, over Transformers' GenerationConfig defaults.
typedef struct rt_generation {
    bool causal_lm;                 // a causal LM with a KV cache (inputs input_ids, position_ids; dim past)
    bool logits_last;               // logits are [batch, 1, vocab] (each sequence's last token)
    int64_t max_context;            // positions run in [0, max_context)
    int64_t vocab_size;
    int64_t bos_token_id, pad_token_id;   // -1: none
    int32_t n_eos;
    const int64_t *eos_token_ids;   // (n_eos) generation stops at any of them
    bool do_sample;
    float temperature, top_p, min_p, repetition_penalty;
    int32_t top_k;
    int64_t max_new_tokens;         // 0: unset
    int64_t max_length;             // 0: unset (prompt + new tokens)
    const char *chat_template;      // Jinja source, or NULL
    const char *bos_token, *eos_token;   // special tokens' text for templates, or NULL
} rt_generation;

// What pipelines need from the head, so a saved program takes text in on its own.
typedef struct rt_head {
    const char *model_type;         // "bert"
    const char *architecture;       // "BertForSequenceClassification"
    const char *problem_type;       // "single_label_classification", ... or NULL
    int32_t n_labels;
    const char **labels;            // id2label (n_labels)
    rt_pooling pooling;             // how sentence embeddings pool token vectors
    bool pooling_normalize;         // L2-normalize sentence embeddings
    rt_generation gen;              // decoders only (gen.causal_lm)
} rt_head;

// Where compile time went, in seconds (kiln compile --timings); 0 for phases a backend lacks.
typedef struct rt_compile_times {
    double graph;                   // checkpoint -> IR graph
    double build;                   // program skeleton: weights, io, arena plan
    double lower;                   // IR -> LLVM IR (the kernels)
    double optimize;                // LLVM O3
    double codegen;                 // machine code (object emission)
    double jit;                     // ORC LLJIT: link the object into this process
    double pack;                    // weights packed into the GEMM's layout
    double total;
} rt_compile_times;

// One arena buffer of the memory plan (codegen/plan.c), kept for profiles and for the checker:
// the tensor (with whatever ran in place on it) that lives at [offset, offset + size) from step
// `first` (its writer) through step `last` (its last reader), steps being rt_launch.step values.
typedef struct rt_buffer {
    const char *op;         // the op that writes it ("matmul", "fused.attention")
    const char *path;       // the module path it came from
    int32_t first, last;
    rt_expr size;           // bytes
    int64_t offset;         // bytes from the arena's start
    size_t size_max;        // bytes at the maxima
} rt_buffer;

// A tensor of the arena plan: its offset and its byte size as an expression of the symbols, so
// that the arena a run at given dims touches can be computed (max of offset + bytes).
typedef struct rt_arena_tensor {
    int64_t offset;
    rt_expr bytes;
} rt_arena_tensor;

// A named file a program carries (its bytes in the program's arena).
typedef struct rt_file {
    const char *name;
    const void *data;
    size_t size;
} rt_file;

struct kiln_program {
    uint32_t format_version;
    const char *backend;            // "interp"
    kiln_arena *arena;              // strings, tables
    int32_t n_symbols;
    const char *symbol_names[RT_MAX_SYMBOLS];
    int64_t symbol_max[RT_MAX_SYMBOLS];
    int32_t n_weights;
    rt_weight *weights;
    int32_t n_inputs, n_outputs, n_states;
    rt_io *inputs, *outputs;
    rt_state *states;
    int32_t n_launches;
    rt_launch *launches;
    size_t arena_bytes;             // planned at the symbols' maxima
    size_t arena_alignment;
    void *consts;                   // constant blob (owned, malloc)
    size_t const_bytes;
    rt_head head;
    // The model's mapping that weights point into; released with the program if set.
    void *weights_owner;
    void (*weights_release)(void *owner);

    // Added with the CPU backend and saved programs (all optional: zero for the interpreter).
    int32_t n_kernels;              // distinct kernel functions the launches call
    const char *target_cpu;         // "cpu" programs: what the kernels were generated for
    const char *target_features;    //   LLVM feature string
    const char *required_features;  //   what a loader checks on the CPU it runs on ("+avx2,+fma")
    int32_t n_objects;              //   the kernels' ELF object code (for saving), in backend_owner
    const void *objects[RT_MAX_OBJECTS];
    size_t object_sizes[RT_MAX_OBJECTS];
    const char *tokenizer_dir;      // the checkpoint directory when it has tokenizer files, or the GGUF file
    int32_t n_tokenizer_files;      // the checkpoint's tokenizer files (tokenizer.json, vocab.txt, ...),
    rt_file *tokenizer_files;       //   carried so that a saved program takes text in wherever it is
                                    //   copied (program arena); none for a GGUF's tokenizer (the path)
    int32_t n_arena_tensors;
    rt_arena_tensor *arena_tensors; // (n_arena_tensors)
    rt_compile_times times;
    // The memory plan (codegen/plan.c): its buffers, the lower bound it is measured against (the
    // most bytes live at one step, at the maxima), the naive sum (every tensor its own bytes),
    // and the scratch a fused kernel takes for one run (temporaries, outside the arena).
    int32_t n_buffers;
    rt_buffer *buffers;             // (n_buffers), in the program's arena
    size_t arena_lower_bound;
    size_t arena_naive_bytes;
    size_t workspace_bytes;
    // One plan for every length (optional; codegen/plan.c): the arena offset of the tensor an
    // RT_SPACE_ARENA argument with index k > 0 names is arena_offsets[k - 1] evaluated at the
    // run's symbols (each clamped to at least 1), and a run needs arena_bytes_expr bytes of
    // arena. The argument's constant offset is the same expression at the maxima, so a program
    // whose table is dropped (or an arena allocated at the maxima) stays valid.
    int32_t n_arena_offsets;
    rt_expr *arena_offsets;         // (n_arena_offsets), in the program's arena
    rt_expr arena_bytes_expr;
    // What the backend keeps alive with the program (a JIT, a dlopen'd library, a file mapping),
    // released after everything else.
    void *backend_owner;
    void (*backend_release)(void *owner);
};

void rt_program_free(kiln_program *p);

// Bytes of arena a run with these symbol values touches (arena_bytes when the plan is unknown).
size_t rt_program_arena_bytes(const kiln_program *p, const int64_t *symbols);
// The arena offset of plan tensor `k` (arena_offsets[k]) at these symbol values.
int64_t rt_program_arena_offset(const kiln_program *p, int32_t k, const int64_t *symbols);

// Evaluates the byte size of a tensor of `dtype` and shape `shape[rank]` under `symbols`.
size_t rt_tensor_bytes(kiln_dtype dtype, int rank, const rt_expr *shape, const int64_t *symbols);

#endif  // KILN_RT_PROGRAM_H
