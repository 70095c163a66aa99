/* fixture.h — helpers for tests that compare kiln with Transformers' recorded outputs: load a
 * safetensors file of named tensors into aligned kiln_tensors, and compare within a tolerance
 * while skipping positions the attention mask pads.
 */
#ifndef KILN_TEST_FIXTURE_H
#define KILN_TEST_FIXTURE_H

#include "frontend/safetensors.h"
#include "test.h"

typedef struct fx_tensors {
    size_t n;
    kiln_tensor t[16];
} fx_tensors;

// Loads every tensor of a safetensors file into aligned memory. Returns KILN_OK or the error.
static inline kiln_status fx_load(const char *path, fx_tensors *out) {
    memset(out, 0, sizeof(*out));
    fe_weights *w = NULL;
    kiln_status st = fe_safetensors_open(path, &w);
    if (st) return st;
    for (size_t i = 0; i < fe_weights_count(w) && out->n < 16; i++) {
        const fe_tensor *t = fe_weights_at(w, i);
        kiln_tensor *k = &out->t[out->n++];
        k->name = strdup(t->name);
        k->dtype = t->dtype;
        k->rank = t->rank;
        memcpy(k->shape, t->shape, sizeof(k->shape));
        k->size_bytes = t->size_bytes;
        k->data = aligned_alloc(64, (t->size_bytes + 63) / 64 * 64 + 64);
        memcpy(k->data, t->data, t->size_bytes);
    }
    fe_weights_free(w);
    return KILN_OK;
}

static inline void fx_free(fx_tensors *f) {
    for (size_t i = 0; i < f->n; i++) {
        free((void *)f->t[i].name);
        free(f->t[i].data);
    }
    memset(f, 0, sizeof(*f));
}

// The real all-MiniLM-L6-v2 that `make model` fetches ($KILN_MODEL_DIR), or NULL after a failed
// check: a missing cache is a failure, never a skip (CI must fetch the model).
static inline const char *fx_minilm_dir(void) {
    const char *dir = getenv("KILN_MODEL_DIR");
    CHECK_MSG(dir && *dir, "KILN_MODEL_DIR is not set: run `make model` (make test does) to fetch all-MiniLM-L6-v2");
    return dir && *dir ? dir : NULL;
}

static inline const kiln_tensor *fx_find(const fx_tensors *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

static inline int64_t fx_numel(const kiln_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

// Largest |got - want| over f32 tensors of equal shape; when `mask` ([batch, seq] i64) is given
// and the tensors are [batch, seq, ...], positions where mask is 0 are skipped. -1 on shape mismatch.
static inline double fx_max_diff(const kiln_tensor *got, const kiln_tensor *want, const kiln_tensor *mask) {
    if (got->rank != want->rank || got->dtype != KILN_F32 || want->dtype != KILN_F32) return -1;
    for (int i = 0; i < got->rank; i++)
        if (got->shape[i] != want->shape[i]) return -1;
    bool by_pos = mask && got->rank >= 2 && mask->shape[0] == got->shape[0] && mask->shape[1] == got->shape[1];
    int64_t inner = 1;
    for (int i = 2; i < got->rank; i++) inner *= got->shape[i];
    const float *a = got->data, *b = want->data;
    double worst = 0;
    for (int64_t i = 0; i < fx_numel(got); i++) {
        if (by_pos && ((const int64_t *)mask->data)[i / inner] == 0) continue;
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

#endif  // KILN_TEST_FIXTURE_H
