/* passes.h (api) — how kiln_compile sets up the pass pipeline from its options and the model's
 * config: which passes run, the feed-forward chunk (chunk_size_feed_forward or the option), and,
 * under a memory budget, the chunk sizes that make the program fit.
 */
#ifndef KILN_API_PASSES_H
#define KILN_API_PASSES_H

#include "api/model.h"
#include "passes/passes.h"

// Fills *ctx for compiling `m` with `o` at the maxima of `bo`. Under o->memory_budget, tries
// feed-forward chunks and attention tiles from the largest down on plan-only builds and keeps the
// first that fits. Returns KILN_OK; KILN_ERR_INVALID_ARG (a bad pass list, a negative chunk);
// KILN_ERR_OUT_OF_MEMORY ("memory budget N bytes is too small ...: the smallest plan needs M
// bytes ...") when nothing fits; or a graph or pass failure.
kiln_status api_passes_setup(const kiln_model *m, const kiln_compile_options *o, const md_build_options *bo, kiln_pass_ctx *ctx);

// What one context of `p` allocates for a run at the maxima: arena, fused kernels' temporaries,
// state (the KV cache).
size_t api_context_bytes(const kiln_program *p);

// Checks a compiled program against o->memory_budget (KILN_OK when there is none).
kiln_status api_check_budget(const kiln_program *p, const kiln_compile_options *o);

#endif  // KILN_API_PASSES_H
