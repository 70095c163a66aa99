/* program_io.h — a program as bytes and back: the description (symbols, weights' places, io,
 * launches with their kernel names, arena plan, head metadata, target) serialized into a blob,
 * which program files and AOT artifacts carry; kernels are resolved by name when it is read
 * back (from an artifact's kernel table, or from the registry for the interpreter's kernels).
 * Weights travel beside the blob: each weight's offset into one weights region.
 */
#ifndef KILN_RT_PROGRAM_IO_H
#define KILN_RT_PROGRAM_IO_H

#include "runtime/program.h"

#define RT_WEIGHT_ALIGN 64

// A growable byte buffer; `failed` is set on allocation failure and later writes are dropped.
typedef struct rt_blob {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} rt_blob;
void rt_blob_free(rt_blob *b);

// Serializes `p`. Weights are laid out one after another, each RT_WEIGHT_ALIGN-aligned, in
// program order: *weights_bytes_out is the region's size. Compile times are not written, so
// equal programs give equal bytes. Returns KILN_OK or KILN_ERR_OUT_OF_MEMORY.
kiln_status rt_program_serialize(const kiln_program *p, rt_blob *out, uint64_t *weights_bytes_out);
// Copies every weight of `p` into `dst` (weights_bytes from rt_program_serialize, zero-filled gaps).
void rt_program_copy_weights(const kiln_program *p, uint8_t *dst, uint64_t weights_bytes);
// Writes the weights region to an open file. Returns KILN_OK or KILN_ERR_IO naming `path`.
kiln_status rt_program_write_weights(const kiln_program *p, FILE *f, const char *path);

// Finds the function of a kernel name; NULL when there is none.
typedef rt_kernel_fn (*rt_kernel_resolver)(void *ctx, const char *name);

// Reads a blob back into a new program whose weights point into `weights` (weights_bytes long;
// NULL when the blob has no weights). `what` names the source in messages.
// Returns KILN_OK; KILN_ERR_FORMAT (not a program blob, unknown format version, truncated or
// inconsistent); KILN_ERR_UNSUPPORTED (a kernel the resolver does not know);
// KILN_ERR_OUT_OF_MEMORY.
kiln_status rt_program_deserialize(const uint8_t *blob, size_t size, const uint8_t *weights, uint64_t weights_bytes,
                                   rt_kernel_resolver resolve, void *resolve_ctx, const char *what, kiln_program **out);

// Kernels that live outside programs (the interpreter's, in libkiln): every kernel whose name
// starts with `prefix` is `fn`. Thread-safe; a prefix registered twice keeps the first.
void rt_kernel_register(const char *prefix, rt_kernel_fn fn);
rt_kernel_fn rt_kernel_lookup(const char *name);

// Writes a program file: header, description, weights (one file, mmap'd by kiln_program_load).
kiln_status rt_program_write_file(const kiln_program *p, const char *path);

#endif  // KILN_RT_PROGRAM_IO_H
