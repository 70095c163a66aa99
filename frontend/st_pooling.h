/* st_pooling.h — sentence-transformers' pooling description of a checkpoint: modules.json lists
 * the modules (Transformer, Pooling, Normalize), 1_Pooling/config.json says how token vectors
 * become one sentence vector. Read so that kiln embeds sentences as sentence-transformers does.
 */
#ifndef KILN_FE_ST_POOLING_H
#define KILN_FE_ST_POOLING_H

#include "kiln.h"

typedef enum fe_pooling_mode {
    FE_POOLING_NONE = 0,   // the checkpoint says nothing (not a sentence-transformers model)
    FE_POOLING_MEAN,       // mean over tokens where attention_mask is 1
    FE_POOLING_CLS,        // the first token
    FE_POOLING_MAX,        // element-wise max over unmasked tokens
} fe_pooling_mode;

typedef struct fe_pooling {
    fe_pooling_mode mode;
    bool normalize;        // a Normalize module follows: L2-normalize the sentence vector
} fe_pooling;

// Reads dir/modules.json and the Pooling module's config.json. Absent files give
// {FE_POOLING_NONE, false} and KILN_OK. Returns KILN_OK; KILN_ERR_FORMAT (malformed JSON, a
// Pooling path that leaves dir, naming the file); KILN_ERR_UNSUPPORTED (a pooling mode kiln lacks,
// such as weightedmean or lasttoken).
kiln_status fe_pooling_load(const char *dir, fe_pooling *out);

const char *fe_pooling_mode_name(fe_pooling_mode mode);

#endif  // KILN_FE_ST_POOLING_H
