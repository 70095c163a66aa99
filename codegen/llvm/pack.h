/* pack.h — compile-time weight packing for kiln's GEMM (pack.c): which matmuls take a packed B,
 * the weight source that spares the skeleton binding weights that only get packed, and the
 * packing itself into one huge-page mapping the program keeps.
 */
#ifndef KILN_CG_LLVM_PACK_H
#define KILN_CG_LLVM_PACK_H

#include "codegen/codegen.h"
#include "codegen/llvm/gemm.h"

// x · Wᵀ (or x · W) with W a rank-2 f32 weight and A not transposed: B is packed at compile
// time. `where` NULL: judged from the graph alone (W a WEIGHT node).
bool cg_pack_matmul(bool have_gemm, const ir_node *n, const rt_arg *where);

typedef struct cg_pack_job {
    int src, dst;          // program weight indices: the original, the packed copy
    bool trans_b;          // the original is W [N, K] (else W [K, N])
    int64_t N, K;
} cg_pack_job;

typedef struct cg_pack_plan {
    const cg_weight_source *inner;
    cg_weight_source source;   // wraps `inner`: lazy weights are handed over unbound
    int32_t n_nodes;
    bool *lazy;                // (n_nodes) weights read only by packable matmuls
    const void **real;         // (n_nodes) every looked-up weight's data, as the source gave it
    size_t *real_bytes;
    bool *unbound;             // (n_nodes) handed to the skeleton unbound (their data put back after)
    int n_orig;
    int *slot;                 // (2 n_orig) packed weight per (original, layout); -1 none yet
    int n_jobs;
    cg_pack_job *jobs;
    void *region;              // every packed weight, in one mapping
    size_t region_bytes;
} cg_pack_plan;

kiln_status cg_pack_init(cg_pack_plan *pp, const ir_graph *g, bool have_gemm, const cg_weight_source *ws);
// The weight source to build the program skeleton with.
const cg_weight_source *cg_pack_source(const cg_pack_plan *pp);
// After the skeleton: lazy weights get their real data back; room for packed copies is made.
kiln_status cg_pack_bound(cg_pack_plan *pp, const ir_graph *g, kiln_program *p, const rt_arg *where);
// The packed copy of weight `wi` (made on first use; packed later by cg_pack_run).
kiln_status cg_pack_assign(cg_pack_plan *pp, kiln_program *p, const cg_gemm_config *cfg, int wi, bool trans_b, int32_t *index_out);
// Packs every assigned weight on all cores, then drops originals nothing else reads.
kiln_status cg_pack_run(cg_pack_plan *pp, kiln_program *p, const cg_gemm_config *cfg);
// Hands the mapping over (the program's owner unmaps it).
void cg_pack_take_region(cg_pack_plan *pp, void **addr, size_t *size);
void cg_pack_free(cg_pack_plan *pp);

#endif  // KILN_CG_LLVM_PACK_H
