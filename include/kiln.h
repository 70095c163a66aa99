/* kiln.h — the one public C API of kiln, a compiler and runtime for transformer checkpoints.
 *
 * A worked example (error handling shortened; see examples/embed.c for the whole program):
 *
 *     kiln_model *model;   kiln_program *prog;   kiln_context *ctx;
 *     kiln_model_open("all-MiniLM-L6-v2", NULL, &model);          // config.json + *.safetensors
 *     kiln_compile_options co = kiln_compile_options_default();
 *     co.max_batch = 1; co.max_seq = 128;
 *     kiln_compile(model, &co, &prog);                             // IR -> plan -> program
 *     kiln_context_create(prog, NULL, &ctx);                       // arena, state, threads
 *     int64_t ids[] = {101, 7592, 2088, 102}, mask[] = {1, 1, 1, 1};
 *     kiln_tensor in[2] = {
 *         {.name = "input_ids",      .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = ids},
 *         {.name = "attention_mask", .dtype = KILN_I64, .rank = 2, .shape = {1, 4}, .data = mask}};
 *     kiln_tensor out = {.name = "last_hidden_state"};             // data NULL: kiln lends its buffer
 *     kiln_run(ctx, in, 2, &out, 1);                               // out.shape = {1, 4, 384}
 *     kiln_context_free(ctx); kiln_program_free(prog); kiln_model_free(model);
 *
 * Conventions: handles are opaque; every call that can fail returns a kiln_status and hands
 * results back through an _out pointer; on failure kiln_last_error() says what went wrong, naming
 * the file, the field and the reason. Destructors accept NULL. Nothing here keeps a pointer to a
 * caller's string or array after it returns unless its comment says so.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION "0.1.0"
#define KILN_MAX_RANK 8

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID_ARG,   // a caller's argument is wrong: NULL, bad shape, unknown name, out of range
    KILN_ERR_FORMAT,        // malformed config.json / safetensors / gguf / onnx / tokenizer / IR text
    KILN_ERR_UNSUPPORTED,   // model type, op or dtype that no backend can run
    KILN_ERR_OUT_OF_MEMORY,
    KILN_ERR_IO,            // a file that cannot be opened, read, mapped or written
    KILN_ERR_INTERNAL,      // a broken invariant inside kiln: a bug, please report it
} kiln_status;

const char *kiln_status_name(kiln_status status);
// Thread-local detail of this thread's last failure, e.g.
// "model.safetensors: tensor 'bert.pooler.dense.weight': offsets [a,b) past end of data (n bytes)".
// Valid until the next kiln call on this thread. Never NULL ("" when nothing failed yet).
const char *kiln_last_error(void);

// Element types. Block-quantized types pack `block_size` elements into `block_bytes` bytes.
typedef enum kiln_dtype {
    KILN_F32 = 0,
    KILN_F16,
    KILN_BF16,
    KILN_I32,
    KILN_I64,
    KILN_BOOL,   // one byte, 0 or 1
    KILN_Q8_0,   // 32 elements: f16 scale + 32 x i8                       (34 bytes)
    KILN_Q4_0,   // 32 elements: f16 scale + 16 bytes of 4-bit values      (18 bytes)
    KILN_Q4_1,   // 32 elements: f16 scale, f16 min + 16 bytes             (20 bytes)
    KILN_Q4_K,   // 256 elements: super-block of 8 x 32 with 6-bit scales  (144 bytes)
    KILN_Q6_K,   // 256 elements: 6-bit values, 8-bit scales               (210 bytes)
    KILN_DTYPE_COUNT
} kiln_dtype;

typedef struct kiln_dtype_info {
    const char *name;   // "f32", "q4_k", ...
    int block_size;     // elements per block (1 for plain types)
    int block_bytes;    // bytes per block
    bool is_float;      // computes as floating point (quantized types included)
    bool is_quantized;
} kiln_dtype_info;

// Returns NULL for a value outside the enum.
const kiln_dtype_info *kiln_dtype_get_info(kiln_dtype dtype);
// Bytes for n elements (n a multiple of the block size for quantized types); 0 for a bad dtype.
size_t kiln_dtype_bytes(kiln_dtype dtype, int64_t n);

// A named tensor crossing the API. For inputs, kiln reads `data` (row-major, `shape`) and keeps no
// pointer after kiln_run returns. For outputs, see kiln_run.
typedef struct kiln_tensor {
    const char *name;                // Transformers' names: "input_ids", "logits", ...
    kiln_dtype dtype;
    int32_t rank;
    int64_t shape[KILN_MAX_RANK];
    void *data;
    size_t size_bytes;               // capacity of `data` for a caller-provided output; ignored for inputs
} kiln_tensor;

/* ---- models ------------------------------------------------------------------------------ */

typedef struct kiln_model kiln_model;
typedef struct kiln_program kiln_program;
typedef struct kiln_context kiln_context;

typedef struct kiln_open_options {
    // Element type weights compute in. f16 and bf16 checkpoints are widened to f32 at compile time
    // by default (KILN_F32); the file's bytes are left as they are.
    kiln_dtype compute_dtype;
    // Which head to build: NULL picks config.json's first entry of "architectures" (or the bare
    // model when there is none); "base" forces the bare model; or an architecture name such as
    // "BertForMaskedLM".
    const char *architecture;
} kiln_open_options;

kiln_open_options kiln_open_options_default(void);

// Opens a Hugging Face checkpoint directory (config.json and model.safetensors, or a sharded
// model.safetensors.index.json). Weights are mmap'd and stay valid until kiln_model_free().
// Does not keep a pointer to `path` or `opts`.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_IO (no such directory/file);
// KILN_ERR_FORMAT (malformed config or weights, weights that disagree with the config);
// KILN_ERR_UNSUPPORTED (unknown model_type or architecture); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_model_open(const char *path, const kiln_open_options *opts, kiln_model **model_out);
void kiln_model_free(kiln_model *model);

// The model's config values as kiln read them (defaults filled in). Valid while the model lives.
const char *kiln_model_type(const kiln_model *model);          // "bert", "roberta", "distilbert"
const char *kiln_model_architecture(const kiln_model *model);  // "BertModel", "BertForMaskedLM", ...

// Prints the model's IR graph, as `kiln ir` does, into a newly malloc'd string (*text_out, free()).
// Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_model_print_ir(const kiln_model *model, char **text_out);

/* ---- compilation ------------------------------------------------------------------------- */

typedef enum kiln_target {
    KILN_TARGET_INTERP = 0,   // the reference executor: plain C + OpenBLAS, the oracle
} kiln_target;

typedef struct kiln_compile_options {
    kiln_target target;
    int64_t max_batch;   // the program runs any batch in [1, max_batch] (default 8)
    int64_t max_seq;     // ... and any sequence length in [1, max_seq] (default: max_position_embeddings)
} kiln_compile_options;

kiln_compile_options kiln_compile_options_default(void);

// Compiles the model into an immutable program that many contexts (and threads) may share.
// The program keeps a reference to the model's weights: free the program before the model.
// Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_UNSUPPORTED (an op the target cannot run);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_compile(const kiln_model *model, const kiln_compile_options *opts, kiln_program **program_out);
void kiln_program_free(kiln_program *program);

// Describes the program's inputs and outputs (name, dtype, rank; shape entries are -1 where a
// dim is symbolic). Index past the end returns KILN_ERR_INVALID_ARG.
size_t kiln_program_n_inputs(const kiln_program *program);
size_t kiln_program_n_outputs(const kiln_program *program);
kiln_status kiln_program_input(const kiln_program *program, size_t i, kiln_tensor *desc_out);
kiln_status kiln_program_output(const kiln_program *program, size_t i, kiln_tensor *desc_out);

// Head metadata that pipelines need. Strings are owned by the program.
size_t kiln_program_n_labels(const kiln_program *program);
const char *kiln_program_label(const kiln_program *program, size_t id);   // id2label; NULL past the end

/* ---- running ----------------------------------------------------------------------------- */

typedef struct kiln_context_options {
    int n_threads;   // threads for this context's kernels (default 1; 0 = one per core)
} kiln_context_options;

kiln_context_options kiln_context_options_default(void);

// Creates a context (arena, state, thread pool, counters) for one run at a time. Keeps a pointer
// to `program`, which must outlive it. Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_context_create(const kiln_program *program, const kiln_context_options *opts, kiln_context **ctx_out);
void kiln_context_free(kiln_context *ctx);

// Sets a symbolic dim that no input's shape determines (such as "past" for a decoder step).
// Dims that inputs carry ("batch", "seq") are taken from the inputs on every run.
// Returns KILN_OK or KILN_ERR_INVALID_ARG (unknown symbol, negative value).
kiln_status kiln_context_set_dim(kiln_context *ctx, const char *symbol, int64_t value);

// Clears the context's state tensors (the KV cache) to zero.
void kiln_context_reset_state(kiln_context *ctx);

// Runs the program once. Inputs are matched by name (every program input is required); their
// dtype must match the program's, except that integer inputs may come as I32 or I64. Each
// requested output is matched by name: if its `data` is NULL, kiln points it at the context's own
// buffer (valid until the next run or kiln_context_free), else kiln copies into `data`, whose
// `size_bytes` must be large enough. Shape, rank and dtype are filled in.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (missing or unknown name, wrong dtype or rank, a dim
// over the compiled maximum, a token id out of range, a buffer too small).
kiln_status kiln_run(kiln_context *ctx, const kiln_tensor *inputs, size_t n_inputs, kiln_tensor *outputs,
                     size_t n_outputs);

/* ---- text ------------------------------------------------------------------------------ */

typedef struct kiln_tokenizer kiln_tokenizer;

// Opens the tokenizer of a checkpoint directory: tokenizer.json, else vocab.txt (+
// tokenizer_config.json). Today: the BERT family's WordPiece, exactly as Hugging Face's tokenizers.
// Does not keep a pointer to `path`.
// Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_IO (no tokenizer files); KILN_ERR_FORMAT
// (malformed file); KILN_ERR_UNSUPPORTED (a tokenizer type kiln lacks); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_open(const char *path, kiln_tokenizer **tokenizer_out);
void kiln_tokenizer_free(kiln_tokenizer *tokenizer);

// One encoded text (or pair), with special tokens, no padding or truncation. Arrays have n
// entries, as int64 so that they go straight into kiln_tensor inputs (KILN_I64).
typedef struct kiln_encoding {
    size_t n;
    int64_t *input_ids;
    int64_t *attention_mask;
    int64_t *token_type_ids;
    int64_t *special_tokens_mask;
    int64_t (*offsets)[2];   // [start, end) byte offsets into the text (or pair) the token came from
} kiln_encoding;

// Encodes UTF-8 `text` and optional `pair` (NULL for none). On success *out owns its arrays
// (kiln_encoding_free). Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, invalid UTF-8 with
// its byte offset); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_encode(const kiln_tokenizer *tokenizer, const char *text, const char *pair, kiln_encoding *out);
void kiln_encoding_free(kiln_encoding *encoding);   // NULL fine; leaves it empty

// The id that pads a batch ([PAD], <pad>, ...), or -1 when the vocabulary has none.
int64_t kiln_tokenizer_pad_id(const kiln_tokenizer *tokenizer);

#ifdef __cplusplus
}
#endif
#endif  // KILN_H
