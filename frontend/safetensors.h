/* safetensors.h — Hugging Face safetensors checkpoints: one file or a sharded set, mmap'd
 * read-only and validated before any tensor is handed out, and a writer for outputs and tests.
 * A file is: u64 little-endian header length N, N bytes of JSON header
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}),
 * then the data section that the offsets index.
 */
#ifndef KILN_FE_SAFETENSORS_H
#define KILN_FE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

// One tensor of an open checkpoint. Everything it points to lives until fe_weights_free.
typedef struct fe_tensor {
    const char *name;               // as in the file: "bert.encoder.layer.0.attention.self.query.weight"
    kiln_dtype dtype;               // F32, F16, BF16, I32, I64 or BOOL
    int32_t rank;                   // 0 (a scalar) .. KILN_MAX_RANK
    int64_t shape[KILN_MAX_RANK];   // (rank); entries past rank are 0
    // Row-major little-endian bytes inside the mapping (read-only). The format promises no
    // alignment beyond the data section's start: read through memcpy or kiln_convert_to_f32,
    // or check the address before casting it to a wider type.
    const void *data;
    size_t size_bytes;              // shape product x element size (0 for an empty tensor)
    const char *file;               // base name of the file it came from, for messages
} fe_tensor;

// One or more mmap'd safetensors files seen as one set of uniquely named tensors.
typedef struct fe_weights fe_weights;

// Maps and validates one .safetensors file. Does not keep a pointer to `path`.
// Checks, each failing with KILN_ERR_FORMAT and a message naming the file, the tensor and the
// reason: a file too short for the header length, a header length past the end of the file or
// over 100 MB (the reference implementation's limit), a header that is not one JSON object,
// missing or wrongly typed "dtype"/"shape"/"data_offsets", a dtype string safetensors does not
// define, negative or overflowing shapes, offsets that are reversed, outside the data section or
// not equal to shape x element size, overlapping tensors, a name given twice, and "__metadata__"
// that is not an object of strings. Gaps between tensors and bytes after the last one are
// accepted (the reference rejects them; nothing is lost by reading such a file).
// Returns KILN_OK (*out is a new set; free it with fe_weights_free); KILN_ERR_INVALID_ARG (NULL
// argument); KILN_ERR_IO (cannot open, stat or map); KILN_ERR_FORMAT (above);
// KILN_ERR_UNSUPPORTED (a valid safetensors dtype kiln does not load, such as "F64" or "U8", or a
// rank over KILN_MAX_RANK); KILN_ERR_OUT_OF_MEMORY. On failure *out is left untouched.
kiln_status fe_safetensors_open(const char *path, fe_weights **out);

// Opens a checkpoint directory's weights the way Transformers looks for them: dir/model.safetensors
// if it exists, else dir/model.safetensors.index.json ({"weight_map": {tensor: shard}}), whose shards
// are each opened once with fe_safetensors_open's checks. A shard must be a plain file name inside
// dir (no '/', not "." or ".."); every tensor of weight_map must be in the shard it names; a tensor
// name in two shards is an error. Tensors a shard holds beyond weight_map are kept (Transformers
// loads them too). Does not keep a pointer to `dir`.
// Returns KILN_OK (*out to free with fe_weights_free); KILN_ERR_INVALID_ARG; KILN_ERR_IO (no such
// directory, neither file present, a shard that cannot be opened); KILN_ERR_FORMAT (malformed index
// or shard, or the checks above); KILN_ERR_UNSUPPORTED; KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_weights_open_dir(const char *dir, fe_weights **out);

// The tensors, sorted by name (strcmp order), i < fe_weights_count(w); NULL past the end.
size_t fe_weights_count(const fe_weights *w);
const fe_tensor *fe_weights_at(const fe_weights *w, size_t i);
// Binary search by exact name; NULL if absent.
const fe_tensor *fe_weights_find(const fe_weights *w, const char *name);
// A string of the files' "__metadata__" (such as "format" -> "pt"); NULL if absent. With shards,
// the first shard (in weight_map order) that has the key wins.
const char *fe_weights_metadata(const fe_weights *w, const char *key);
// Unmaps the files; every fe_tensor pointer and string from w goes with it. NULL is fine.
void fe_weights_free(fe_weights *w);

// Writes tensors[0..n) to a new safetensors file at `path` (replacing one that exists), in the
// given order with contiguous offsets, "__metadata__": {"format": "pt"} so Transformers accepts it,
// and the header padded with spaces to a multiple of 8 bytes as the Python writer does. Each
// tensor's bytes are shape x element size read from `data` (size_bytes is ignored; data may be
// NULL only for an empty tensor), written as they are in memory (little-endian hosts only).
// Does not keep any pointer after it returns. A partly written file is removed.
// Returns KILN_OK; KILN_ERR_INVALID_ARG (NULL path, NULL or duplicate or "__metadata__" name,
// rank outside 0..KILN_MAX_RANK, negative dim, NULL data for a non-empty tensor, a size that
// overflows); KILN_ERR_UNSUPPORTED (a dtype other than F32, F16, BF16, I32, I64, BOOL);
// KILN_ERR_IO (cannot create or write the file); KILN_ERR_OUT_OF_MEMORY.
kiln_status fe_safetensors_write(const char *path, const kiln_tensor *tensors, size_t n);

// The safetensors name of a dtype ("F32", "F16", "BF16", "I32", "I64", "BOOL"); NULL for others.
const char *fe_safetensors_dtype_name(kiln_dtype dtype);

#endif  // KILN_FE_SAFETENSORS_H
