/* gguf.h — GGUF files (llama.cpp's single-file checkpoints), versions 2 and 3, mmap'd read-only
 * and validated before anything is handed out. Quantized weights stay as the file's blocks.
 *
 * A file is, all little-endian and without padding until the data section:
 *   "GGUF"  u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x      { string key, u32 value_type, value }
 *   n_tensors x { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset }
 *   zero padding to `alignment` (general.alignment, default 32), then the data section, which
 *   every tensor's offset indexes (each offset a multiple of `alignment`).
 * string = u64 length + bytes (no NUL); value = one scalar of the type, a string, or an array:
 * u32 element type + u64 count + elements (arrays of arrays nest).
 *
 * Shapes: ggml lists dims fastest-varying first (dims[0] is the length of a row), the reverse of
 * PyTorch. fe_gguf_tensor.shape is in PyTorch order, so it equals the shape of the Hugging Face
 * tensor the file was converted from: a Linear weight (out, in) has ggml dims {in, out} and shape
 * [out, in]; token_embd.weight has shape [vocab, hidden]. Rows are contiguous in both orders.
 */
#ifndef KILN_FE_GGUF_H
#define KILN_FE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define FE_GGUF_DEFAULT_ALIGNMENT 32
#define FE_GGUF_MAX_DIMS 4          // ggml's GGML_MAX_DIMS
#define FE_GGUF_MAX_ARRAY_DEPTH 8   // arrays of arrays nest at most this deep

// Metadata value types, numbered as in the file.
typedef enum fe_gguf_type {
    FE_GGUF_U8 = 0,
    FE_GGUF_I8 = 1,
    FE_GGUF_U16 = 2,
    FE_GGUF_I16 = 3,
    FE_GGUF_U32 = 4,
    FE_GGUF_I32 = 5,
    FE_GGUF_F32 = 6,
    FE_GGUF_BOOL = 7,
    FE_GGUF_STRING = 8,
    FE_GGUF_ARRAY = 9,
    FE_GGUF_U64 = 10,
    FE_GGUF_I64 = 11,
    FE_GGUF_F64 = 12,
    FE_GGUF_TYPE_COUNT
} fe_gguf_type;

// "u32", "string", "array", ...; "?" outside the enum.
const char *fe_gguf_type_name(fe_gguf_type type);

// A string from the file. `data` is a NUL-terminated copy owned by the fe_gguf; `len` is the
// file's length and is the one to trust (GGUF strings may hold NUL bytes).
typedef struct fe_gguf_string {
    const char *data;
    size_t len;
} fe_gguf_string;

// One metadata value. Everything it points to lives until fe_gguf_free.
typedef struct fe_gguf_value {
    fe_gguf_type type;
    union {
        uint64_t u;          // U8, U16, U32, U64; BOOL as 0 or 1
        int64_t i;           // I8, I16, I32, I64
        double f;            // F32 (widened, exact) and F64
        fe_gguf_string str;  // STRING
        struct {
            fe_gguf_type type;   // element type
            size_t n;            // element count
            // The elements, 16-byte aligned, in host order: for numbers and BOOL an array of the
            // C type of that width (uint8_t, int16_t, float, double, ...; BOOL as uint8_t 0/1);
            // for STRING a fe_gguf_string[n]; for ARRAY a fe_gguf_value[n], each itself an ARRAY.
            const void *data;
        } array;             // ARRAY
    };
} fe_gguf_value;

typedef struct fe_gguf_kv {
    const char *key;   // "general.architecture", "llama.block_count", ...
    fe_gguf_value value;
} fe_gguf_kv;

// One tensor. Everything it points to lives until fe_gguf_free.
typedef struct fe_gguf_tensor {
    const char *name;               // as in the file: "blk.0.attn_q.weight"
    kiln_dtype dtype;               // F32, F16, BF16, I32, I64, Q8_0, Q4_0, Q4_1, Q4_K or Q6_K
    uint32_t ggml_type;             // the file's type number (GGML_TYPE_*)
    int32_t rank;                   // the file's n_dims, 0..FE_GGUF_MAX_DIMS
    int64_t shape[KILN_MAX_RANK];   // (rank), PyTorch order (see the top of this file); 0 past rank
    // The bytes inside the mapping (read-only): rows of shape[rank-1] elements, one after the
    // other; a quantized row is shape[rank-1] / block_size blocks. Aligned to the file's alignment
    // (at least 32 unless general.alignment says less).
    const void *data;
    size_t size_bytes;              // kiln_dtype_bytes(dtype, number of elements)
    uint64_t offset;                // from the start of the data section
} fe_gguf_tensor;

typedef struct fe_gguf fe_gguf;

// Maps and validates a GGUF file. Does not keep a pointer to `path`.
// Checks, each failing with a message naming the file, the key or tensor, and the reason:
// magic, version (2 or 3; a big-endian file is recognised and refused), counts that cannot fit
// in the bytes left, strings or arrays running past the end, keys that are empty, hold a NUL or
// appear twice, unknown value types, BOOL bytes other than 0 and 1, arrays nested deeper than
// FE_GGUF_MAX_ARRAY_DEPTH, general.alignment that is not a u32 power of two, tensor names that are
// empty or appear twice, more than FE_GGUF_MAX_DIMS dims, dims whose product overflows, a row
// length that is not a multiple of the type's block size, offsets that are not multiples of the
// alignment, run past the end of the file or overlap another tensor.
// Returns KILN_OK (*out to free with fe_gguf_free); KILN_ERR_INVALID_ARG (NULL argument);
// KILN_ERR_IO (cannot open, stat or map); KILN_ERR_FORMAT (above); KILN_ERR_UNSUPPORTED (a version
// other than 2 and 3, a big-endian file, or a ggml tensor type kiln does not read, e.g.
// "tensor 'blk.0.attn_q.weight': unsupported tensor type Q5_K (13)"); KILN_ERR_OUT_OF_MEMORY.
// On failure *out is left untouched.
kiln_status fe_gguf_open(const char *path, fe_gguf **out);
// Unmaps the file; every pointer and string from g goes with it. NULL is fine.
void fe_gguf_free(fe_gguf *g);

uint32_t fe_gguf_version(const fe_gguf *g);
size_t fe_gguf_alignment(const fe_gguf *g);
const char *fe_gguf_path(const fe_gguf *g);   // as opened
// general.architecture ("llama", "gpt2", "qwen2", ...), or NULL when absent or not a string.
const char *fe_gguf_architecture(const fe_gguf *g);

/* ---- metadata ------------------------------------------------------------------------------ */

// Key/values in file order; NULL past the end.
size_t fe_gguf_n_kv(const fe_gguf *g);
const fe_gguf_kv *fe_gguf_kv_at(const fe_gguf *g, size_t i);
// The value of `key`, or NULL when the file lacks it (the way to test for an optional key).
const fe_gguf_value *fe_gguf_find(const fe_gguf *g, const char *key);

// Typed getters. Integer getters accept any integer type (U8..I64) whose value fits the result;
// fe_gguf_get_f32 accepts F32 and F64 (rounded to f32). Returned pointers are owned by g.
// Each returns KILN_OK; KILN_ERR_INVALID_ARG (NULL argument); KILN_ERR_FORMAT (the key is missing,
// has another type, or its value does not fit), the message naming the file and the key.
kiln_status fe_gguf_get_u32(const fe_gguf *g, const char *key, uint32_t *out);
kiln_status fe_gguf_get_u64(const fe_gguf *g, const char *key, uint64_t *out);
kiln_status fe_gguf_get_i64(const fe_gguf *g, const char *key, int64_t *out);
kiln_status fe_gguf_get_f32(const fe_gguf *g, const char *key, float *out);
kiln_status fe_gguf_get_bool(const fe_gguf *g, const char *key, bool *out);
kiln_status fe_gguf_get_string(const fe_gguf *g, const char *key, fe_gguf_string *out);
// Arrays: *values_out points at n_out elements owned by g.
kiln_status fe_gguf_get_string_array(const fe_gguf *g, const char *key, const fe_gguf_string **values_out,
                                     size_t *n_out);
kiln_status fe_gguf_get_f32_array(const fe_gguf *g, const char *key, const float **values_out, size_t *n_out);
// Accepts arrays of I32, and of U32 whose every value is at most INT32_MAX (same bits).
kiln_status fe_gguf_get_i32_array(const fe_gguf *g, const char *key, const int32_t **values_out, size_t *n_out);

/* ---- tensors ------------------------------------------------------------------------------- */

// Tensors in file order; NULL past the end.
size_t fe_gguf_n_tensors(const fe_gguf *g);
const fe_gguf_tensor *fe_gguf_tensor_at(const fe_gguf *g, size_t i);
// By exact name (binary search); NULL if absent.
const fe_gguf_tensor *fe_gguf_find_tensor(const fe_gguf *g, const char *name);

// ggml's name of a tensor type number ("Q4_K"), or NULL for a number ggml does not define.
const char *fe_gguf_ggml_type_name(uint32_t ggml_type);

/* ---- conveniences: hyperparameters and tokenizer ------------------------------------------- */

// The hyperparameters of LLaMA- and GPT-2-style files, read from "<arch>.<name>" keys.
typedef struct fe_gguf_hparams {
    const char *architecture;      // general.architecture: "llama", "gpt2", "qwen2", ... (owned by g)
    uint32_t context_length;       // <arch>.context_length                       (0 if absent)
    uint32_t embedding_length;     // <arch>.embedding_length: hidden size        (required)
    uint32_t block_count;          // <arch>.block_count: layers                  (required)
    uint32_t feed_forward_length;  // <arch>.feed_forward_length                  (0 if absent)
    uint32_t head_count;           // <arch>.attention.head_count                 (required)
    uint32_t head_count_kv;        // <arch>.attention.head_count_kv              (default head_count)
    float rope_freq_base;          // <arch>.rope.freq_base                       (default 10000)
    uint32_t rope_dimension_count; // <arch>.rope.dimension_count (default embedding_length / head_count)
    float layer_norm_rms_epsilon;  // <arch>.attention.layer_norm_rms_epsilon     (0 if absent)
    float layer_norm_epsilon;      // <arch>.attention.layer_norm_epsilon         (0 if absent)
    // <arch>.vocab_size, else the length of tokenizer.ggml.tokens, else token_embd.weight's
    // shape[0]; 0 if none of them is there.
    uint32_t vocab_size;
} fe_gguf_hparams;

// Fills *out. Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_FORMAT (general.architecture
// missing or not a string, a required key missing, a key of the wrong type, head_count 0 or
// head_count_kv 0), naming the file and the key.
kiln_status fe_gguf_get_hparams(const fe_gguf *g, fe_gguf_hparams *out);

// The tokenizer's metadata as the file holds it (the tokenizer itself is built elsewhere).
// Pointers are owned by g; optional parts are NULL / 0 / -1 when absent.
typedef struct fe_gguf_tokenizer {
    const char *model;               // tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama" (SentencePiece), ...
    const char *pre;                 // tokenizer.ggml.pre: pre-tokenizer name ("smollm", "llama-bpe"); NULL if absent
    const fe_gguf_string *tokens;    // tokenizer.ggml.tokens (n_tokens)
    size_t n_tokens;
    const float *scores;             // tokenizer.ggml.scores (n_tokens) or NULL
    const int32_t *token_type;       // tokenizer.ggml.token_type (n_tokens) or NULL: 1 normal, 2 unknown,
                                     // 3 control, 4 user-defined, 5 unused, 6 byte
    const fe_gguf_string *merges;    // tokenizer.ggml.merges (n_merges), "a b" each, or NULL
    size_t n_merges;
    int64_t bos_id, eos_id, unk_id, pad_id;   // tokenizer.ggml.{bos,eos,unknown,padding}_token_id; -1 if absent
    int add_bos_token;               // tokenizer.ggml.add_bos_token: 1, 0, or -1 if absent
    int add_eos_token;               // tokenizer.ggml.add_eos_token: 1, 0, or -1 if absent
    int add_space_prefix;            // tokenizer.ggml.add_space_prefix: 1, 0, or -1 if absent
    const char *chat_template;       // tokenizer.chat_template or NULL
} fe_gguf_tokenizer;

// Fills *out. Returns KILN_OK; KILN_ERR_INVALID_ARG; KILN_ERR_FORMAT (tokenizer.ggml.model or
// tokens missing, a key of the wrong type, scores or token_type whose length differs from the
// tokens', a special token id past the vocabulary), naming the file and the key.
kiln_status fe_gguf_get_tokenizer(const fe_gguf *g, fe_gguf_tokenizer *out);

// Fills in the special ids llama.cpp takes when the file names none (llama_vocab::load): for
// tokenizer.ggml.model "llama" (SentencePiece) unk 0, bos 1, eos 2 — each only where the vocabulary
// has that id. Other models keep -1 (kiln reads no defaults for them). add_bos_token stays as the
// file has it (absent: -1; the SentencePiece tokenizer adds a BOS then).
void fe_gguf_tokenizer_defaults(fe_gguf_tokenizer *t);

#endif  // KILN_FE_GGUF_H
