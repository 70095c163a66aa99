/* matmul.c — the interpreter's contraction: batched matmul with broadcast batch dims, each
 * product one cblas_sgemm. A weight operand (rank 2) folds the batch into M: one call. A
 * block-quantized weight (always B [N, K], transposed) goes to rt_quant_matmul: row by row for
 * a few rows (decoding), through f32 tiles and cblas_sgemm for more.
 */
#include "codegen/interp/interp.h"

#include <cblas.h>

#include "runtime/quant_matmul.h"

kiln_status interp_matmul(const interp_call *c) {
    const interp_tensor *a = &c->in[0], *b = &c->in[1];
    const interp_tensor *out = &c->out;
    bool ta = c->p->trans_a, tb = c->p->trans_b;
    int64_t M = out->shape[out->rank - 2], N = out->shape[out->rank - 1];
    int64_t K = a->shape[a->rank - (ta ? 2 : 1)];
    if (kiln_dtype_get_info(b->dtype)->is_quantized && a->dtype == KILN_F32 && !ta && tb && b->rank == 2) {
        int64_t rows = M > 0 && N > 0 ? interp_numel(out) / N : 0;   // every batch's rows: one product
        return rt_quant_matmul(rows, N, K, a->data, K, b->dtype, b->data, out->data, N, c->call->pool, NULL);
    }
    if (a->dtype != KILN_F32 || b->dtype != KILN_F32) return kiln_error(KILN_ERR_UNSUPPORTED, "interp: matmul on non-f32 operands");
    int64_t batch = (M > 0 && N > 0) ? interp_numel(out) / (M * N) : 0;
    if (M == 0 || N == 0 || batch == 0) return KILN_OK;
    const float *A = a->data, *B = b->data;
    float *C = out->data;
    if (K == 0) {
        memset(C, 0, (size_t)(batch * M * N) * sizeof(float));
        return KILN_OK;
    }
    int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
    if (b->rank == 2 && !ta) {   // [.., M, K] x [K, N]: all batches are rows of one product
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)(batch * M), (int)N, (int)K, 1.0f, A,
                    lda, B, ldb, 0.0f, C, (int)N);
        return KILN_OK;
    }
    // Batch offsets of each operand under broadcasting of the leading dims.
    int br = out->rank - 2;
    for (int64_t i = 0; i < batch; i++) {
        int64_t rem = i, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int d = br - 1; d >= 0; d--) {
            int64_t idx = rem % out->shape[d];
            rem /= out->shape[d];
            int da = a->rank - 2 - br + d, db = b->rank - 2 - br + d;
            if (da >= 0) {
                if (a->shape[da] != 1) oa += idx * sa;
                sa *= a->shape[da];
            }
            if (db >= 0) {
                if (b->shape[db] != 1) ob += idx * sb;
                sb *= b->shape[db];
            }
        }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                    A + oa * M * K, lda, B + ob * K * N, ldb, 0.0f, C + i * M * N, (int)N);
    }
    return KILN_OK;
}
