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

// The one kernel entry the interpreter's launches point to.
kiln_status cg_interp_kernel(const rt_kernel_call *call);

#endif  // KILN_CG_INTERP_H
