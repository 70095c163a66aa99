/* pooling.h — token vectors → one sentence vector (mean, CLS, max over the attention mask) and
 * L2 normalization, as sentence-transformers' Pooling and Normalize modules do.
 */
#ifndef KILN_PL_POOLING_H
#define KILN_PL_POOLING_H

#include "runtime/program.h"

// hidden [batch, seq, dim] f32, mask [batch, seq] (NULL: all ones) → out [batch, dim].
// Returns KILN_OK or KILN_ERR_INVALID_ARG (unknown mode, NULL buffers).
kiln_status pl_pool(const float *hidden, const int64_t *mask, int64_t batch, int64_t seq, int64_t dim, rt_pooling mode,
                    bool normalize, float *out);

// Cosine similarity of two vectors of length n (0 when either is all zeros).
double pl_cosine(const float *a, const float *b, int64_t n);

#endif  // KILN_PL_POOLING_H
