/* interp.h — the reference executor's launch parameters and kernels: plain C over contiguous
 * row-major tensors, contractions through OpenBLAS. It is the oracle for every other backend.
 *
 * A launch's args are its inputs then its output; its dims are each input's shape, then the
 * output's, then op extras (SLICE: start, end; IOTA: start).
 */
#ifndef KILN_CG_INTERP_H
#define KILN_CG_INTERP_H

#include "codegen/codegen.h"

typedef struct cg_interp_params {
    ir_op op;
    int32_t n_in;
    int32_t rank[IR_MAX_INPUTS + 1];         // inputs, then the output
    kiln_dtype dtype[IR_MAX_INPUTS + 1];
    int32_t axis;
    bool keepdim, trans_a, trans_b;
    float eps;
    int32_t perm[IR_MAX_RANK];
    const struct interp_fused *fused;        // FUSED: the region's compiled form (codegen/interp/fused.c)
} cg_interp_params;

// A tensor as a kernel sees it.
typedef struct interp_tensor {
    void *data;
    kiln_dtype dtype;
    int32_t rank;
    int64_t shape[IR_MAX_RANK];
} interp_tensor;

typedef struct interp_call {
    const cg_interp_params *p;
    interp_tensor in[IR_MAX_INPUTS];
    interp_tensor out;
    const int64_t *extra;                    // dims after the shapes
    const rt_kernel_call *call;
} interp_call;

int64_t interp_numel(const interp_tensor *t);

kiln_status interp_elementwise(const interp_call *c);   // unary, binary, cast, where, expand
kiln_status interp_normalization(const interp_call *c); // softmax, layer/rms norm, reductions, cumsum
kiln_status interp_matmul(const interp_call *c);
kiln_status interp_movement(const interp_call *c);      // permute, slice, concat, gather, scatter, iota

// The scalar formulas of the element-wise kernels, shared with fused kernels.
float interp_unary_f32(ir_op op, float x);
double interp_binary_f32(ir_op op, float a, float b);
int64_t interp_binary_i64(ir_op op, int64_t a, int64_t b, bool *div0);

/* ---- fused regions (codegen/interp/fused.c) ----
 * A FUSED node of a kind the passes make (element-wise, GEMM + epilogue, norm with prologue,
 * attention, chunked) runs as one launch: element-wise bodies one output element at a time,
 * attention tile by tile with online softmax, chunked bodies a block of rows at a time. Others
 * are flattened (cg_flatten_keep). Scratch comes from malloc per call: the temporaries. */
typedef struct interp_fused interp_fused;
// Whether `n` (a FUSED node) runs whole: its kind is known and its body fits that kind's kernel.
bool interp_fused_lowerable(const ir_node *n);
// Compiles `n` into prm->fused (in the program's arena). *scratch_out: the kernel's temporaries
// at the symbols' maxima. Returns KILN_OK, KILN_ERR_UNSUPPORTED or KILN_ERR_OUT_OF_MEMORY.
kiln_status interp_fused_lower(kiln_program *p, const ir_node *n, cg_interp_params *prm, size_t *scratch_out);
kiln_status interp_fused_run(const interp_call *c);
// May the fused node `n` write over its input `k`? (the region reads element or row i before
// writing it: element-wise and norm regions)
bool interp_fused_can_alias(const ir_node *n, int k);

// The one kernel entry the interpreter's launches point to.
kiln_status cg_interp_kernel(const rt_kernel_call *call);

#endif  // KILN_CG_INTERP_H
