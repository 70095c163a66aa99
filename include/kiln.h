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
    KILN_TARGET_CPU,          // native code generated through LLVM, JIT-linked into this process
} kiln_target;

// Which logits a decoder (causal LM) program computes.
typedef enum kiln_logits {
    KILN_LOGITS_ALL = 0,   // logits [batch, seq, vocab]: every token (what Transformers returns)
    KILN_LOGITS_LAST,      // logits [batch, 1, vocab]: each sequence's last token only (generation)
} kiln_logits;

typedef struct kiln_compile_options {
    kiln_target target;
    int64_t max_batch;   // the program runs any batch in [1, max_batch] (default 8)
    int64_t max_seq;     // ... and any sequence length in [1, max_seq] (default: max_position_embeddings;
                         // decoders: max_context, and a run takes at most max_seq new tokens per sequence)
    // Decoders only (ignored for encoders):
    int64_t max_context; // KV cache rows per sequence: positions run in [0, max_context)
                         // (default: max_seq if set, else max_position_embeddings)
    kiln_logits logits;  // default KILN_LOGITS_ALL
    // KILN_TARGET_CPU only. The CPU to generate code for: NULL or "host" for this machine (its
    // name and every feature it has), or "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4" for a
    // portable artifact. `features` adds or removes LLVM feature flags: "+avx512f,-avx512fp16".
    // A program whose features this machine lacks compiles (to be saved) but refuses to run here.
    const char *cpu;
    const char *features;
    // The optimization passes (passes/passes.def, `kiln ir --list-passes`): NULL or "all" runs
    // every one, "none" none, "a,b" only those, "-a,-b" all but those.
    const char *passes;
    // Feed-forward chunking: 0 takes config.json's chunk_size_feed_forward (0 there: none), -1
    // never chunks, N > 0 computes the feed-forward block N rows (tokens) at a time.
    int64_t ff_chunk;
    // Bytes each context may allocate for activations (arena + temporaries + state); 0: no limit.
    // kiln_compile then picks the feed-forward chunk and the attention tile so the program fits,
    // or fails with KILN_ERR_OUT_OF_MEMORY naming the smallest budget that fits.
    size_t memory_budget;
} kiln_compile_options;

kiln_compile_options kiln_compile_options_default(void);

// Compiles the model into an immutable program that many contexts (and threads) may share.
// The program keeps a reference to the model's weights: free the program before the model.
// Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_UNSUPPORTED (an op the target cannot run);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_compile(const kiln_model *model, const kiln_compile_options *opts, kiln_program **program_out);
// How many programs kiln_compile has made from this model so far (thread-safe). A decoder's one
// program serves prompts of every length and every generated token: this count does not grow
// while generating.
size_t kiln_model_n_programs(const kiln_model *model);
void kiln_program_free(kiln_program *program);

// What a compiled program is made of, and where its compile time went.
typedef struct kiln_program_info {
    const char *backend;           // "interp", "cpu"
    const char *cpu;               // cpu: the CPU the kernels were generated for ("znver5", "x86-64-v3"); else NULL
    const char *features;          // cpu: the features a machine must have to run them ("+avx2,+fma,..."); else NULL
    size_t n_launches;             // kernel launches per run
    size_t n_kernels;              // distinct kernels (one serves every launch of the same signature)
    size_t arena_bytes;            // at the compiled maxima
    size_t weight_bytes;
    // Compile time in seconds: checkpoint -> IR graph and the pass pipeline, program skeleton
    // (weights, plan), IR -> LLVM IR, LLVM O3, machine code, JIT linking, weight packing, and
    // the whole kiln_compile.
    double time_graph, time_build, time_lower, time_optimize, time_codegen, time_jit, time_pack, time_total;
} kiln_program_info;

// Fills *info_out; strings are owned by the program. Returns KILN_OK or KILN_ERR_INVALID_ARG.
kiln_status kiln_program_get_info(const kiln_program *program, kiln_program_info *info_out);

/* ---- saving and loading programs ------------------------------------------------------ */

typedef enum kiln_artifact {
    KILN_ARTIFACT_AUTO = 0,        // cpu programs: a shared library; interpreter programs: a program file
    KILN_ARTIFACT_PROGRAM,         // a program file (interpreter programs): description + weights
    KILN_ARTIFACT_SHARED,          // a shared library with the kernels, the description and a C header
    KILN_ARTIFACT_EXECUTABLE,      // a program that reads token ids or text and prints the outputs
} kiln_artifact;

typedef struct kiln_save_options {
    kiln_artifact kind;
    // Weights inside the artifact (one file). Otherwise they go to PATH.weights beside it, which
    // the artifact maps at load time.
    bool embed_weights;
    // KILN_ARTIFACT_SHARED: where to write the header (NULL: NAME.h beside the library, where the
    // library is libNAME.so or NAME.so), and the C prefix of its entry points (NULL: NAME).
    const char *header_path;
    const char *name;
} kiln_save_options;

kiln_save_options kiln_save_options_default(void);

// Writes `program` to `path` as opts->kind says (cpu programs link the artifact with the system's
// `cc` against libkiln_rt, whose directory becomes its rpath). The same program saved twice gives
// the same bytes. Does not keep a pointer to its arguments.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, a kind this program cannot be saved as);
// KILN_ERR_IO (unwritable path, the linker failed: its output is in the message);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_program_save(const kiln_program *program, const char *path, const kiln_save_options *opts);

// Loads a program saved by kiln_program_save: a program file, or a shared library (dlopen'd).
// Checks that this CPU has the features the kernels were compiled for. Weights are mmap'd.
// Lives in libkiln_rt, so an application with no compiler in it can load programs; a program
// file of the interpreter needs libkiln loaded as well (its kernels live there).
// Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_IO (missing or unreadable file, missing
// weights file); KILN_ERR_FORMAT (not a kiln program, a format version this kiln does not know,
// truncated file); KILN_ERR_UNSUPPORTED (this CPU lacks a feature, with their names; a kernel
// that is not available); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_program_load(const char *path, kiln_program **program_out);

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

// FLOPs of the context's last run, from its launches' FLOP counts at that run's dims (0 before
// the first run): divide by the run's time for GFLOP/s.
double kiln_context_last_flops(const kiln_context *ctx);

/* ---- text ------------------------------------------------------------------------------ */

/* Tokenizers, bit-exact with Hugging Face's: what transformers' fast tokenizer gives for
 * tokenizer(text, text_pair, padding=..., truncation=..., max_length=..., stride=...,
 * return_overflowing_tokens=..., return_offsets_mapping=...), except that offsets are UTF-8 *byte*
 * offsets into the text (Python gives character offsets).
 *
 *     kiln_tokenizer *tok;
 *     kiln_tokenizer_open("all-MiniLM-L6-v2", &tok);
 *     const char *texts[] = {"A man is eating food.", "Hello"};
 *     kiln_encode_options eo = kiln_encode_options_default();
 *     eo.padding = KILN_PADDING_LONGEST;
 *     eo.truncation = KILN_TRUNCATION_LONGEST_FIRST;          // to model_max_length (512)
 *     kiln_batch_encoding batch;
 *     kiln_tokenizer_encode_batch(tok, texts, NULL, 2, &eo, &batch);
 *     // batch.rows[i].input_ids / attention_mask / token_type_ids: (batch.rows[i].n) int64 each,
 *     // ready to be kiln_tensor inputs; all rows have the same n here.
 *     kiln_batch_encoding_free(&batch);
 *     kiln_tokenizer_free(tok);
 *
 * Text longer than the model's maximum with truncation off: as transformers, kiln returns the long
 * encoding (it only warns); kiln_run then refuses the sequence length with KILN_ERR_INVALID_ARG,
 * naming the dim and the compiled maximum. kiln_tokenizer_model_max_length() tells the limit before.
 */

typedef struct kiln_tokenizer kiln_tokenizer;

// Opens the tokenizer of a checkpoint directory: tokenizer.json; else vocab.json + merges.txt
// (GPT-2 / RoBERTa, as tokenizer_config.json's tokenizer_class says); else vocab.txt (BERT).
// tokenizer_config.json and special_tokens_map.json, when present, give the special tokens,
// model_max_length, padding_side, truncation_side and clean_up_tokenization_spaces.
// `path` may also be a GGUF file: its tokenizer.ggml.* metadata (tokenizer.ggml.model "gpt2",
// byte-level BPE, pre-tokenized as llama.cpp does for tokenizer.ggml.pre) gives the tokenizer
// that Transformers' AutoTokenizer.from_pretrained(..., gguf_file=...) gives, except that a
// tokenizer.ggml.pre Transformers' converter lacks (SmolLM2's "smollm": digits split one by one)
// is split as llama.cpp and the model's own tokenizer.json split it. tokenizer.ggml.model "llama"
// (SentencePiece BPE: LLaMA-2, TinyLlama, Mistral) gives llama.cpp's ids, control and
// user-defined tokens in the text parsed as tokens, a BOS first unless add_bos_token says no.
// Models: WordPiece, BPE (byte-level, SentencePiece-style with byte_fallback), Unigram, WordLevel;
// normalizers, pre-tokenizers, post-processors and decoders as HF's tokenizers has them (see
// frontend/tokenizer/tokenizer.h for the list). Immutable once open: any number of threads may
// use one tokenizer at the same time. Does not keep a pointer to `path`.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_IO (no tokenizer files: the
// message lists what was looked for); KILN_ERR_FORMAT (malformed file, naming file and field);
// KILN_ERR_UNSUPPORTED (a component type kiln lacks, or a GGUF tokenizer.ggml.model or
// tokenizer.ggml.pre kiln does not read, named); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_open(const char *path, kiln_tokenizer **tokenizer_out);
void kiln_tokenizer_free(kiln_tokenizer *tokenizer);

// One encoded text (or pair), or one row of a batch. Arrays have n entries, as int64 so that they
// go straight into kiln_tensor inputs (KILN_I64). Padding positions have attention_mask 0,
// input_ids the pad id, token_type_ids the pad type id, special_tokens_mask 1 and offsets (0, 0).
typedef struct kiln_encoding {
    size_t n;
    int64_t *input_ids;
    int64_t *attention_mask;
    int64_t *token_type_ids;
    int64_t *special_tokens_mask;   // 1: added by the post-processor ([CLS], </s>) or padding
    int64_t (*offsets)[2];   // [start, end) byte offsets into the text (or pair) the token came from;
                             // (0, 0) for special and padding tokens
    int64_t *sequence_ids;   // 0: from the text, 1: from the pair, -1: special or padding (HF's sequence_ids())
    int64_t *word_ids;       // the word within its sequence (HF's word_ids(): the pre-tokenizer split the
                             // token came from, added tokens included); -1 for special and padding tokens
} kiln_encoding;

// Encodes UTF-8 `text` and optional `pair` (NULL for none) with special tokens, no padding or
// truncation. On success *out owns its arrays (kiln_encoding_free). Returns KILN_OK;
// KILN_ERR_INVALID_ARG (NULL argument, invalid UTF-8 with its byte offset); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_encode(const kiln_tokenizer *tokenizer, const char *text, const char *pair, kiln_encoding *out);
void kiln_encoding_free(kiln_encoding *encoding);   // NULL fine; leaves it empty

// The id that pads a batch (tokenizer_config.json's pad_token: [PAD], <pad>, ...), or -1 when
// the tokenizer has none.
int64_t kiln_tokenizer_pad_id(const kiln_tokenizer *tokenizer);

// padding=...: transformers' False, "do_not_pad", True / "longest", "max_length".
typedef enum kiln_padding {
    KILN_PADDING_NONE = 0,     // padding=False (the default)
    KILN_PADDING_DO_NOT_PAD,   // padding="do_not_pad": as NONE, except that max_length alone then does not truncate
    KILN_PADDING_LONGEST,      // to the longest text of the batch
    KILN_PADDING_MAX_LENGTH,   // to max_length (model_max_length when max_length is -1)
} kiln_padding;

// truncation=...: transformers' None, False / "do_not_truncate", True / "longest_first", ...
typedef enum kiln_truncation {
    KILN_TRUNCATION_DEFAULT = 0,       // truncation=None: off, unless max_length is given with padding NONE
    KILN_TRUNCATION_DO_NOT_TRUNCATE,   // off
    KILN_TRUNCATION_LONGEST_FIRST,     // a token at a time from the longer of text and pair
    KILN_TRUNCATION_ONLY_FIRST,        // from the text only
    KILN_TRUNCATION_ONLY_SECOND,       // from the pair only
} kiln_truncation;

typedef enum kiln_side {
    KILN_SIDE_DEFAULT = 0,   // tokenizer_config.json's padding_side / truncation_side, else right
    KILN_SIDE_RIGHT,
    KILN_SIDE_LEFT,
} kiln_side;

typedef struct kiln_encode_options {
    bool add_special_tokens;          // [CLS] ... [SEP] as the template says (default true)
    kiln_padding padding;             // default KILN_PADDING_NONE
    kiln_truncation truncation;       // default KILN_TRUNCATION_DEFAULT
    int64_t max_length;               // -1 (default): None, i.e. model_max_length where padding or
                                      // truncation needs a length (none when the model has none)
    int64_t stride;                   // tokens shared by consecutive overflowing windows (default 0)
    int64_t pad_to_multiple_of;       // 0 (default): none; else the padded length is rounded up to it
    kiln_side padding_side;           // default KILN_SIDE_DEFAULT
    kiln_side truncation_side;        // default KILN_SIDE_DEFAULT
    bool return_overflowing_tokens;   // the truncated-away windows as extra rows (default false)
} kiln_encode_options;

kiln_encode_options kiln_encode_options_default(void);

// Rows of a batch: one per input, or, with return_overflowing_tokens, one per window (each input's
// kept window first, then its overflowing windows in transformers' order).
typedef struct kiln_batch_encoding {
    size_t n_rows;
    kiln_encoding *rows;                   // (n_rows)
    int64_t *overflow_to_sample_mapping;   // (n_rows) the input each row comes from
} kiln_batch_encoding;

// Encodes texts[0..n) (with pairs[i] when pairs and pairs[i] are not NULL; "" is an empty pair, as
// in a batched transformers call) with the options (NULL: the defaults), as transformers'
// tokenizer(texts, pairs, ...) does, resolving padding / truncation / max_length the same way.
// Keeps no pointer to texts, pairs or opts. On success *out owns everything
// (kiln_batch_encoding_free); on failure it is empty.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, invalid UTF-8, padding without a pad
// token, max_length not a multiple of pad_to_multiple_of with both padding and truncation, stride
// not below max_length less the special tokens, only_second without pairs, a text too short to be
// truncated as asked — each where transformers raises); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_encode_batch(const kiln_tokenizer *tokenizer, const char *const *texts,
                                        const char *const *pairs, size_t n, const kiln_encode_options *opts,
                                        kiln_batch_encoding *out);
void kiln_batch_encoding_free(kiln_batch_encoding *batch);   // NULL fine; leaves it empty

typedef struct kiln_decode_options {
    bool skip_special_tokens;            // leave out special added tokens (default false)
    int clean_up_tokenization_spaces;    // -1 (default): tokenizer_config.json's (false when absent);
                                         // 0 or 1; never applied to BPE models, as in transformers
} kiln_decode_options;

kiln_decode_options kiln_decode_options_default(void);

// Decodes ids[0..n) to text as transformers' tokenizer.decode() does (the tokenizer's decoder;
// unknown ids are left out). *text_out is a malloc'd UTF-8 string (free()). opts NULL: defaults.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_decode(const kiln_tokenizer *tokenizer, const int64_t *ids, size_t n,
                                  const kiln_decode_options *opts, char **text_out);

// tokenizer_config.json's model_max_length, or -1 when it has none (or transformers' "very
// large" placeholder).
int64_t kiln_tokenizer_model_max_length(const kiln_tokenizer *tokenizer);
// One more than the largest id (model vocabulary and added tokens); 0 for NULL.
int64_t kiln_tokenizer_vocab_size(const kiln_tokenizer *tokenizer);
// The id of a token string (added tokens first), or -1.
int64_t kiln_tokenizer_token_to_id(const kiln_tokenizer *tokenizer, const char *token);
// The token string of an id (owned by the tokenizer), or NULL.
const char *kiln_tokenizer_id_to_token(const kiln_tokenizer *tokenizer, int64_t id);

// The tokenizer of a compiled or loaded program: its checkpoint's tokenizer files travel inside the
// program (and inside kiln_program_save's files and AOT artifacts), so this works wherever the
// program is; a GGUF checkpoint's tokenizer is read from the GGUF file the program was compiled
// from. Free with kiln_tokenizer_free. Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, a
// program without a tokenizer); kiln_tokenizer_open's statuses.
kiln_status kiln_program_tokenizer(const kiln_program *program, kiln_tokenizer **tokenizer_out);

// The special tokens tokenizer_config.json / special_tokens_map.json name (unk_token, cls_token, ...).
typedef enum kiln_special_token {
    KILN_TOKEN_UNK = 0,
    KILN_TOKEN_CLS,
    KILN_TOKEN_SEP,
    KILN_TOKEN_PAD,
    KILN_TOKEN_MASK,
    KILN_TOKEN_BOS,
    KILN_TOKEN_EOS,
} kiln_special_token;
// The id of that special token, or -1 when the tokenizer has none.
int64_t kiln_tokenizer_special_id(const kiln_tokenizer *tokenizer, kiln_special_token which);
// tokenizer_config.json's padding_side is "left".
bool kiln_tokenizer_padding_left(const kiln_tokenizer *tokenizer);
// The model's continuing_subword_prefix ("##" for WordPiece, a BPE's when it has one), or NULL:
// what tells Transformers' token-classification a sub-word from a word.
const char *kiln_tokenizer_subword_prefix(const kiln_tokenizer *tokenizer);
// transformers' convert_tokens_to_string: the tokenizer's decoder over token strings (joined with
// " " when it has none), no clean-up. *text_out is malloc'd (free()). Keeps no pointer to tokens.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_tokenizer_tokens_to_string(const kiln_tokenizer *tokenizer, const char *const *tokens, size_t n,
                                            char **text_out);

/* ---- text generation (decoders) -------------------------------------------------------------
 *
 * A causal LM (GPT-2, LLaMA, Qwen2, ... with a ForCausalLM / LMHeadModel architecture) compiles
 * to ONE program that serves every prompt length and every generated token: kiln_compile with
 * max_batch = sequences decoded together, max_context = tokens a sequence may hold (KV cache
 * rows), max_seq = most new tokens per sequence in one run (longer prompts go in pieces) and
 * logits = KILN_LOGITS_LAST. The token loop, in the spirit of llama.h (examples/generate.c):
 *
 *     kiln_decoder_options o = kiln_decoder_options_default(); o.tokenizer_path = path;
 *     kiln_decoder_create(prog, &o, &dec);                       // context + KV cache
 *     kiln_batch b = {.n_tokens = n, .tokens = prompt};           // all to sequence 0
 *     for (int i = 0; i < 64; i++) {
 *         kiln_decode(dec, &b);                                   // prompt, then one token at a time
 *         kiln_sampler_sample(smp, kiln_decoder_logits(dec, 0), hist, n_hist, &tok);
 *         if (kiln_decoder_is_eos(dec, tok)) break;
 *         b = (kiln_batch){.n_tokens = 1, .tokens = &tok};
 *     }
 *
 * or all of it in one call: kiln_generate (token ids) / kiln_generate_text (a prompt string).
 * The program's inputs are input_ids and position_ids [batch, seq] (position -1 marks padding),
 * the dim "past" (keys [0, past + seq) take part), and state kv_cache.<layer>.key/value.
 */

typedef int32_t kiln_token;

typedef struct kiln_decoder kiln_decoder;

typedef struct kiln_decoder_options {
    int n_threads;                // threads for the model's kernels (default 1; 0 = one per core)
    // A checkpoint directory whose tokenizer turns text into tokens and back (tokenizer.json).
    // NULL (default): the program's own, when its checkpoint had one; "": none (token ids only:
    // no stop strings, no text).
    const char *tokenizer_path;
} kiln_decoder_options;

kiln_decoder_options kiln_decoder_options_default(void);

// Creates a decoder: the program's context (KV cache for max_batch sequences of max_context
// tokens), per-sequence lengths and logits. Keeps a pointer to `program` (which must outlive it),
// none to `opts`. Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, a program that is not a
// causal LM); KILN_ERR_IO / KILN_ERR_FORMAT / KILN_ERR_UNSUPPORTED (the tokenizer files);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_decoder_create(const kiln_program *program, const kiln_decoder_options *opts, kiln_decoder **decoder_out);
void kiln_decoder_free(kiln_decoder *decoder);

int64_t kiln_decoder_n_ctx(const kiln_decoder *decoder);     // tokens one sequence can hold
int32_t kiln_decoder_n_seq(const kiln_decoder *decoder);     // sequences (cache rows)
int64_t kiln_decoder_n_vocab(const kiln_decoder *decoder);
int64_t kiln_decoder_seq_len(const kiln_decoder *decoder, int32_t seq);   // tokens in seq's cache; -1 for a bad seq
void kiln_decoder_seq_clear(kiln_decoder *decoder, int32_t seq);          // forget seq's tokens; -1: every sequence
bool kiln_decoder_is_eos(const kiln_decoder *decoder, kiln_token token);  // an end-of-sequence id of the checkpoint

// Tokens for one kiln_decode: token i extends sequence seq_ids[i] (all sequence 0 when seq_ids is
// NULL). A sequence's tokens follow each other in the order given, after what its cache holds.
typedef struct kiln_batch {
    int32_t n_tokens;
    const kiln_token *tokens;   // (n_tokens)
    const int32_t *seq_ids;     // (n_tokens) or NULL
} kiln_batch;

// Appends the batch's tokens to their sequences and computes the logits after each sequence's
// last new token. A whole prompt and a single decode step go through the same program (prompts
// longer than the program's max_seq run in pieces); nothing is ever recompiled.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, no tokens, a token id outside the
// vocabulary, a seq id outside [0, n_seq), a sequence that would pass n_ctx tokens — checked
// before anything runs, so nothing is appended then); KILN_ERR_OUT_OF_MEMORY. A failure while
// running clears the sequences the batch touched.
kiln_status kiln_decode(kiln_decoder *decoder, const kiln_batch *batch);

// Logits [n_vocab] after seq's last token of the last kiln_decode, or NULL when that call gave
// seq no token. Owned by the decoder, valid until its next kiln_decode.
const float *kiln_decoder_logits(const kiln_decoder *decoder, int32_t seq);

// Text of tokens as the decoder's tokenizer decodes them (special tokens kept), in a malloc'd
// *text_out (free()). Incomplete UTF-8 at the end comes out as U+FFFD, as Transformers' decode.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, no tokenizer); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_decoder_detokenize(const kiln_decoder *decoder, const kiln_token *tokens, size_t n_tokens, char **text_out);

/* sampling */

// How the next token is chosen, with Transformers' GenerationConfig names and semantics: the
// repetition penalty always; then, when do_sample, temperature, top-k, top-p and min-p in that
// order, and a draw from what is left.
typedef struct kiln_sampling {
    bool do_sample;             // false: greedy, the first largest logit (torch.argmax)
    float temperature;          // > 0; logits / temperature
    int32_t top_k;              // keep the top_k most likely (and ties with the last); 0: off
    float top_p;                // keep the most likely tokens whose probabilities sum past top_p; 1: off
    float min_p;                // drop tokens less likely than min_p x the most likely; 0: off
    float repetition_penalty;   // > 0; seen tokens' logits: positive / penalty, negative * penalty; 1: off
    // The PRNG (pipelines/sampling.h): xoshiro256** seeded by splitmix64(seed); each draw is
    // 53 bits of it as u in [0, 1), and the token is the first, in id order, whose cumulative
    // probability passes u. Same seed, same logits: same tokens, on every machine.
    uint64_t seed;
} kiln_sampling;

// Transformers' defaults: greedy, temperature 1, top_k 50, top_p 1, min_p 0, penalty 1; seed 0.
kiln_sampling kiln_sampling_default(void);
// The checkpoint's generation_config.json over those defaults.
kiln_sampling kiln_program_sampling(const kiln_program *program);

typedef struct kiln_sampler kiln_sampler;

// Returns KILN_OK; KILN_ERR_INVALID_ARG (a value outside the ranges above, n_vocab <= 0);
// KILN_ERR_OUT_OF_MEMORY. Copies *params.
kiln_status kiln_sampler_create(const kiln_sampling *params, int64_t n_vocab, kiln_sampler **sampler_out);
void kiln_sampler_free(kiln_sampler *sampler);
// Picks a token from logits [n_vocab]; `history` (prompt and generated tokens) is what the
// repetition penalty sees. Advances the PRNG once when sampling. Returns KILN_OK or
// KILN_ERR_INVALID_ARG (NULL argument, a history token outside the vocabulary).
kiln_status kiln_sampler_sample(kiln_sampler *sampler, const float *logits, const kiln_token *history, size_t n_history,
                                kiln_token *token_out);

/* whole generations */

typedef enum kiln_finish_reason {
    KILN_FINISH_LENGTH = 0,     // max_new_tokens reached
    KILN_FINISH_EOS,            // an eos token (kept as the last token)
    KILN_FINISH_STOP_STRING,    // the text came to contain a stop string
    KILN_FINISH_CONTEXT,        // the sequence filled the context (n_ctx)
    KILN_FINISH_CALLBACK,       // on_token returned false
} kiln_finish_reason;

typedef struct kiln_generate_options {
    kiln_sampling sampling;
    int64_t max_new_tokens;           // > 0 (default: generation_config.json's, else 256 as Transformers' pipeline)
    bool ignore_eos;                  // go on past eos tokens
    // Stop once the generated text contains one of these (needs a tokenizer), as Transformers'
    // stop_strings: the token that completes it is the last one kept.
    const char *const *stop_strings;  // (n_stop_strings)
    size_t n_stop_strings;
    // Streaming: called for each generated token, in order, with the text it completes (whole
    // UTF-8 characters only, special tokens skipped; "" while a character is incomplete; NULL
    // without a tokenizer). Returning false ends that sequence (KILN_FINISH_CALLBACK).
    bool (*on_token)(void *user, int32_t seq, kiln_token token, const char *text, size_t text_len);
    void *user;
} kiln_generate_options;

// Defaults from the program's generation_config.json (sampling, max_new_tokens).
kiln_generate_options kiln_generate_options_default(const kiln_program *program);

typedef struct kiln_generation {
    kiln_token *tokens;          // (n_tokens) the generated tokens (prompt excluded)
    size_t n_tokens;
    char *text;                  // their text, special tokens skipped (NULL without a tokenizer), as it continues
                                 // the prompt's: Transformers' pipeline's decode(prompt + tokens) past decode(prompt),
                                 // so a SentencePiece first token "▁word" keeps its space (decode(tokens) drops it)
    kiln_finish_reason finish;
} kiln_generation;

void kiln_generation_free(kiln_generation *generation);   // NULL fine; leaves it empty

// Generates a continuation of each prompt, all of them together in one batch (n_prompts <=
// n_seq; prompt i in sequence i, which is cleared first; sequence i samples with seed + i).
// results[n_prompts] are filled (free each with kiln_generation_free). Returns KILN_OK;
// KILN_ERR_INVALID_ARG (NULL argument, an empty prompt, too many prompts, a prompt longer than
// the context, a token id outside the vocabulary, stop strings without a tokenizer, bad sampling
// values); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_generate(kiln_decoder *decoder, const kiln_token *const *prompts, const size_t *n_prompt_tokens, size_t n_prompts,
                          const kiln_generate_options *opts, kiln_generation *results);

// Tokenizes `prompt` with the decoder's tokenizer — as one user message through the checkpoint's
// chat template (add_generation_prompt) when `chat` is true — and generates from it in sequence 0.
// Returns kiln_generate's statuses; KILN_ERR_INVALID_ARG also for no tokenizer, or chat without a template.
kiln_status kiln_generate_text(kiln_decoder *decoder, const char *prompt, bool chat, const kiln_generate_options *opts,
                               kiln_generation *result);

/* chat templates */

typedef struct kiln_chat_message {
    const char *role;      // "system", "user", "assistant"
    const char *content;
} kiln_chat_message;

// Renders messages through the checkpoint's chat template (tokenizer_config.json "chat_template" or
// chat_template.jinja) as Transformers' apply_chat_template(tokenize=False) does, for the subset
// of Jinja that pipelines/chat_template.h lists (ChatML-style templates: SmolLM2, Qwen2).
// *text_out is malloc'd (free()). Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, no template,
// the template raised an exception); KILN_ERR_FORMAT (template syntax); KILN_ERR_UNSUPPORTED (a
// construct outside the subset, named); KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_chat_template_apply(const kiln_program *program, const kiln_chat_message *messages, size_t n_messages,
                                     bool add_generation_prompt, char **text_out);

/* ---- task pipelines (encoders) --------------------------------------------------------------
 *
 * What transformers.pipeline(TASK) does, text in and JSON out, shaped as the Python pipeline
 * returns it for a LIST of inputs (one entry per input, in input order):
 *
 *     kiln_pipeline_options po = kiln_pipeline_options_default(); po.top_k = -1;
 *     kiln_pipeline *p;
 *     kiln_pipeline_open("text-classification", "checkpoint_dir", &po, &p);
 *     const char *texts[] = {"I love this movie!", "a"};
 *     char *json;
 *     kiln_pipeline_run(p, texts, NULL, 2, &json);  // [[{"label": "POSITIVE", "score": 0.98}, ...], ...]
 *     free(json); kiln_pipeline_free(p);
 *
 * Tasks: "text-classification" (alias "sentiment-analysis"): logits -> softmax / sigmoid / none
 * as Transformers picks them from problem_type and num_labels (or function_to_apply), labels
 * from id2label; top_k 0 gives one {"label", "score"} per input, else a list sorted by score.
 * Text pairs: pairs[i] (as {"text": ..., "text_pair": ...}).
 * "feature-extraction": the last hidden state of every token, [[[h...] per token]] per input
 * (Transformers' nesting, with its batch dim of 1); pooled = true gives the sentence embedding
 * instead, pooled as the checkpoint's sentence-transformers modules.json says (mean by default).
 * Inputs are grouped by token length into batches of batch_size, each padded to its longest, so
 * results do not depend on the batch size. No truncation (as Transformers' default; token-
 * classification alone truncates to the tokenizer's model_max_length, as its pipeline does): a
 * text longer than the compiled max_seq is an error.
 * "fill-mask": per mask token the top_k (default 5) of the vocabulary (or of targets) as
 * {"score", "token", "token_str", "sequence"}: a list per input, a list of lists with several masks;
 * an input without the mask token is an error.
 * "question-answering": texts[i] a question, pairs[i] its context; {"score", "start", "end",
 * "answer"} (character offsets into the context) per input, a list of them when top_k > 1; long
 * contexts in windows of max_seq_len tokens overlapping by doc_stride.
 * "token-classification" (alias "ner"), aggregation "none": per token, special tokens left out,
 * {"entity", "score", "index", "word", "start", "end"} (character offsets), labels in
 * ignore_labels (default "O") left out; aggregations "simple", "first", "average", "max":
 * {"entity_group", "score", "word", "start", "end"} per group.
 */

typedef struct kiln_pipeline kiln_pipeline;

typedef struct kiln_pipeline_options {
    kiln_target target;            // kiln_pipeline_open's compile target (default KILN_TARGET_INTERP)
    int n_threads;                 // threads for the kernels (default 1; 0 = one per core)
    int64_t batch_size;            // inputs per model run (default 8); the program's max_batch
    // The tokenizer's checkpoint directory. NULL (default): the program's own tokenizer (its
    // checkpoint's files travel inside it).
    const char *tokenizer_path;
    // text-classification: 0 (default) one {"label","score"} per input (Transformers' default);
    // -1 every label (top_k=None), sorted by score; k > 0 the best k, sorted.
    int top_k;
    // text-classification: NULL (default) as Transformers picks it; "softmax", "sigmoid", "none".
    const char *function_to_apply;
    // feature-extraction: one pooled sentence vector per input instead of token vectors.
    bool pooled;
    // fill-mask: score only these tokens (a word not in the vocabulary stands for its first
    // token, as in Transformers); NULL: the whole vocabulary. top_k 0 means 5 for fill-mask.
    const char *const *targets;
    size_t n_targets;
    // token-classification: entities with these labels are left out; NULL (default): {"O"}.
    const char *const *ignore_labels;
    size_t n_ignore_labels;
    // token-classification: NULL or "none" (default): one entry per token; "simple": adjacent
    // tokens of one entity grouped; "first" / "average" / "max": tokens joined into words first
    // (each word labelled by its first token, its averaged scores, or its most confident token),
    // then grouped as "simple".
    const char *aggregation_strategy;
    // question-answering (texts are questions, pairs their contexts): answers per input (top_k 0
    // means 1), the longest answer in tokens (default 15), tokens per window (-1, default:
    // min(model_max_length, 384)), tokens shared by consecutive windows of a long context (-1,
    // default: min(max_seq_len / 2, 128)), the empty answer as a candidate, and spans widened to
    // whole words (default true).
    int64_t max_answer_len;
    int64_t max_seq_len;
    int64_t doc_stride;
    bool handle_impossible_answer;
    bool align_to_words;
} kiln_pipeline_options;

kiln_pipeline_options kiln_pipeline_options_default(void);

// Opens a checkpoint directory, compiles it (max_batch = batch_size) and makes a pipeline for
// `task` that owns the model, program and tokenizer. Keeps no pointer to task, path or opts.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, unknown task, a model without the head
// the task needs, bad options); kiln_model_open / kiln_compile / kiln_tokenizer_open's statuses.
kiln_status kiln_pipeline_open(const char *task, const char *path, const kiln_pipeline_options *opts,
                               kiln_pipeline **pipeline_out);
// The same from a compiled (or loaded) program, which must outlive the pipeline; the tokenizer is
// the program's own (or opts->tokenizer_path's). Lives in libkiln_rt: what an AOT program needs to
// take text in.
kiln_status kiln_pipeline_create(const char *task, const kiln_program *program, const kiln_pipeline_options *opts,
                                 kiln_pipeline **pipeline_out);
void kiln_pipeline_free(kiln_pipeline *pipeline);

// Runs texts[0..n) (with pairs[i] when pairs and pairs[i] are not NULL) and writes the results as
// a malloc'd JSON string (*json_out, free()). One pipeline runs one call at a time (it owns one
// context); open one per thread. Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, invalid
// UTF-8, a text longer than the program's max_seq); kiln_run's statuses; KILN_ERR_OUT_OF_MEMORY.
kiln_status kiln_pipeline_run(kiln_pipeline *pipeline, const char *const *texts, const char *const *pairs, size_t n,
                              char **json_out);

// feature-extraction: the pooled sentence vectors of texts[0..n) as floats, out[i * dim + k] with
// dim = kiln_pipeline_embedding_dim() (what pooled = true prints as JSON; modules.json's pooling
// and normalization). Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument, not a
// feature-extraction pipeline, a text longer than max_seq); kiln_run's statuses.
kiln_status kiln_pipeline_embed(kiln_pipeline *pipeline, const char *const *texts, size_t n, float *out);
// The hidden size of a feature-extraction pipeline's vectors (0 for other pipelines or NULL).
size_t kiln_pipeline_embedding_dim(const kiln_pipeline *pipeline);

#ifdef __cplusplus
}
#endif
#endif  // KILN_H
