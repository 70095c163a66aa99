/* pooling.c — sentence embeddings from token vectors: sums in double so a long sequence loses
 * nothing, masked tokens skipped exactly as sentence-transformers skips them.
 */
#include "pipelines/pooling.h"

#include <math.h>

kiln_status pl_pool(const float *hidden, const int64_t *mask, int64_t batch, int64_t seq, int64_t dim, rt_pooling mode,
                    bool normalize, float *out) {
    if (!hidden || !out) return kiln_error(KILN_ERR_INVALID_ARG, "pool: NULL buffer");
    if (mode != RT_POOLING_MEAN && mode != RT_POOLING_CLS && mode != RT_POOLING_MAX)
        return kiln_error(KILN_ERR_INVALID_ARG, "pool: mode %d is not a pooling mode", (int)mode);
    for (int64_t b = 0; b < batch; b++) {
        float *o = out + b * dim;
        const float *h = hidden + b * seq * dim;
        if (mode == RT_POOLING_CLS) {
            memcpy(o, h, (size_t)dim * sizeof(float));
        } else {
            double count = 0;
            for (int64_t d = 0; d < dim; d++) o[d] = mode == RT_POOLING_MAX ? -INFINITY : 0.0f;
            double *acc = calloc((size_t)dim, sizeof(double));
            if (!acc) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "pool: out of memory");
            for (int64_t s = 0; s < seq; s++) {
                if (mask && !mask[b * seq + s]) continue;
                count++;
                for (int64_t d = 0; d < dim; d++) {
                    if (mode == RT_POOLING_MAX) o[d] = fmaxf(o[d], h[s * dim + d]);
                    else acc[d] += h[s * dim + d];
                }
            }
            // sentence-transformers clamps the token count at 1e-9
            if (mode == RT_POOLING_MEAN)
                for (int64_t d = 0; d < dim; d++) o[d] = (float)(acc[d] / fmax(count, 1e-9));
            free(acc);
        }
        if (normalize) {
            double norm = 0;
            for (int64_t d = 0; d < dim; d++) norm += (double)o[d] * o[d];
            norm = fmax(sqrt(norm), 1e-12);   // torch.nn.functional.normalize's eps
            for (int64_t d = 0; d < dim; d++) o[d] = (float)(o[d] / norm);
        }
    }
    return KILN_OK;
}

double pl_cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}
