/* sampling.h — next-token selection with Transformers' semantics (RepetitionPenaltyLogitsProcessor,
 * then TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper when sampling)
 * and a documented PRNG, so that a seed gives the same tokens on every machine.
 *
 * PRNG: xoshiro256** (Blackman and Vigna), its state seeded from the 64-bit seed by four splitmix64
 * steps. A uniform u in [0, 1) is the top 53 bits of one output times 2^-53; the token is the first
 * (in id order) whose cumulative probability exceeds u. Probabilities are computed in double.
 */
#ifndef KILN_PL_SAMPLING_H
#define KILN_PL_SAMPLING_H

#include "common/common.h"

typedef struct pl_rng {
    uint64_t s[4];
} pl_rng;

void pl_rng_seed(pl_rng *r, uint64_t seed);
uint64_t pl_rng_next(pl_rng *r);
double pl_rng_uniform(pl_rng *r);   // [0, 1)

#endif  // KILN_PL_SAMPLING_H
