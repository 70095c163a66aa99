/* test_quant.c — common/quant.c against PyPI gguf and a double-precision reference:
 *  - kiln_quant_dequantize_row of every tensor of blocks.gguf (every type; random, arbitrary-bit and
 *    special blocks) equals gguf.quants.dequantize element for element, bit for bit;
 *  - kiln_quant_vec_dot_f32 (the interpreter's semantics) equals sum_i w_i x_i in double, w the
 *    reference dequantization, within one f32 rounding: |got - ref| <= 1e-6 * sum |w_i x_i|;
 *  - kiln_quant_vec_dot_q8 (llama.cpp's 8-bit activations) equals sum_i w_i xq_i in double, xq the
 *    dequantized Q8_0/Q8_K activations, within 3e-5 * sum over blocks of max|w| * sum|xq| (f32
 *    scaling and summing over blocks; the block scale bounds the cancelling terms of Q4_1/Q4_K);
 *  - kiln_quant_quantize_row_q8_0 reproduces gguf.quants.quantize(Q8_0) byte for byte, and
 *    kiln_quant_quantize_row_q8_K reproduces ggml's quantize_row_q8_K_ref (ported in the script).
 */
#include <float.h>
#include <math.h>

#include "frontend/safetensors.h"
#include "tests/gguf/gguf_test_util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static float rand_normalish(void) {   // sum of 4 uniforms, centred: cheap and reproducible
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
        s += (float)(rng_state >> 40) / (float)(1u << 24);
    }
    return s - 2.0f;
}

static const fe_tensor *ref_tensor(const fe_weights *ref, const char *name) {
    const fe_tensor *t = fe_weights_find(ref, name);
    CHECK_MSG(t, "blocks-reference.safetensors lacks '%s'", name);
    return t;
}

static void dequantize_matches_gguf(const fe_gguf *g, const fe_weights *ref) {
    for (size_t k = 0; k < fe_gguf_n_tensors(g); k++) {
        const fe_gguf_tensor *t = fe_gguf_tensor_at(g, k);
        const fe_tensor *r = ref_tensor(ref, t->name);
        int64_t n = gguf_n_elements(t);
        if (!r) continue;
        CHECK(r->dtype == KILN_F32 && r->size_bytes == (size_t)n * 4);
        float *got = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
        KILN_ASSERT(got && want);
        memcpy(want, r->data, (size_t)n * 4);
        // Row by row, as a matmul kernel would call it.
        int64_t row = t->shape[t->rank - 1];
        size_t row_bytes = kiln_dtype_bytes(t->dtype, row);
        for (int64_t i = 0; i < n / row; i++)
            kiln_quant_dequantize_row(t->dtype, (const char *)t->data + (size_t)i * row_bytes, got + i * row, row);
        int64_t bad = -1, n_bad = 0;
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], 4) != 0) {
                if (bad < 0) bad = i;
                n_bad++;
            }
        CHECK_MSG(n_bad == 0, "%s (%s): %" PRId64 " of %" PRId64 " values differ from gguf's, first [%" PRId64
                  "] = %.9g, want %.9g", t->name, fe_gguf_ggml_type_name(t->ggml_type), n_bad, n, bad,
                  bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
        free(got);
        free(want);
    }
}

// A row at an odd address (general.alignment may be 1) dequantizes and dots the same; under UBSan
// an unaligned access would fail here.
static void rows_at_odd_addresses_work(const fe_gguf *g) {
    const char *names[] = {"q8_0.bits", "q4_0.bits", "q4_1.bits", "q4_k.bits", "q6_k.bits", "f16.random"};
    for (size_t k = 0; k < KILN_ARRAY_SIZE(names); k++) {
        const fe_gguf_tensor *t = fe_gguf_find_tensor(g, names[k]);
        CHECK(t);
        if (!t) continue;
        int64_t row = t->shape[t->rank - 1];
        size_t bytes = kiln_dtype_bytes(t->dtype, row);
        unsigned char *buf = malloc(bytes + 1);
        float *a = malloc((size_t)row * sizeof(float)), *b = malloc((size_t)row * sizeof(float)),
              *x = malloc((size_t)row * sizeof(float));
        KILN_ASSERT(buf && a && b && x);
        memcpy(buf + 1, t->data, bytes);
        for (int64_t i = 0; i < row; i++) x[i] = rand_normalish();
        kiln_quant_dequantize_row(t->dtype, t->data, a, row);
        kiln_quant_dequantize_row(t->dtype, buf + 1, b, row);
        CHECK_MSG(memcmp(a, b, (size_t)row * sizeof(float)) == 0, "%s at an odd address", names[k]);
        CHECK(kiln_quant_vec_dot_f32(t->dtype, row, t->data, x) == kiln_quant_vec_dot_f32(t->dtype, row, buf + 1, x));
        free(buf);
        free(a);
        free(b);
        free(x);
    }
}

static void vec_dots_match_double_reference(const fe_gguf *g, const fe_weights *ref) {
    int n_f32 = 0, n_q8 = 0;
    for (size_t k = 0; k < fe_gguf_n_tensors(g); k++) {
        const fe_gguf_tensor *t = fe_gguf_tensor_at(g, k);
        const fe_tensor *r = fe_weights_find(ref, t->name);
        if (!r || !kiln_quant_supported(t->dtype)) continue;
        int64_t row = t->shape[t->rank - 1], n_rows = gguf_n_elements(t) / row;
        size_t row_bytes = kiln_dtype_bytes(t->dtype, row);
        const float *w_all = r->data;
        float *x = malloc((size_t)row * sizeof(float)), *xq = malloc((size_t)row * sizeof(float));
        KILN_ASSERT(x && xq);
        for (int64_t i = 0; i < row; i++) x[i] = rand_normalish() * (i % 7 == 0 ? 10.0f : 1.0f);
        for (int64_t j = 0; j < n_rows; j++) {
            const float *w = w_all + j * row;
            const void *q = (const char *)t->data + (size_t)j * row_bytes;
            double want = 0, scale = 0;
            for (int64_t i = 0; i < row; i++) {
                want += (double)w[i] * x[i];
                scale += fabs((double)w[i] * x[i]);
            }
            if (!(fabs(want) < FLT_MAX)) continue;   // "special" rows of extremes: the f32 result overflows
            float got = kiln_quant_vec_dot_f32(t->dtype, row, q, x);
            CHECK_MSG(fabs(got - want) <= 1e-6 * scale + 1e-30, "%s row %" PRId64 ": vec_dot_f32 %.9g, want %.9g",
                      t->name, j, got, want);
            n_f32++;

            if (!kiln_dtype_get_info(t->dtype)->is_quantized) continue;
            bool k_quant = t->dtype == KILN_Q4_K || t->dtype == KILN_Q6_K;
            void *act = aligned_alloc(16, (kiln_quant_q8_row_bytes(t->dtype, row) + 15) & ~(size_t)15);
            KILN_ASSERT(act);
            kiln_quant_quantize_row_q8(t->dtype, x, act, row);
            if (k_quant) kiln_quant_dequantize_row_q8_K(act, xq, row);
            else kiln_quant_dequantize_row(KILN_Q8_0, act, xq, row);
            int block = k_quant ? 256 : 32;
            double want8 = 0, scale8 = 0;
            for (int64_t b = 0; b < row; b += block) {
                double wmax = 0, xsum = 0;
                for (int64_t i = b; i < b + block; i++) {
                    want8 += (double)w[i] * xq[i];
                    wmax = fmax(wmax, fabs(w[i]));
                    xsum += fabs(xq[i]);
                }
                scale8 += wmax * xsum;
            }
            float got8 = kiln_quant_vec_dot_q8(t->dtype, row, q, act);
            CHECK_MSG(fabs(got8 - want8) <= 3e-5 * scale8 + 1e-30, "%s row %" PRId64 ": vec_dot_q8 %.9g, want %.9g "
                      "(scale %.3g)", t->name, j, got8, want8, scale8);
            // Quantizing the activations costs little: the q8 dot stays near the f32 one.
            CHECK_MSG(fabs(got8 - want) <= 0.1 * scale + 1e-30, "%s row %" PRId64 ": q8 %.6g vs f32 %.6g", t->name, j,
                      got8, want);
            free(act);
            n_q8++;
        }
        free(x);
        free(xq);
    }
    CHECK(n_f32 >= 40 && n_q8 >= 30);
}

static void quantize_q8_0_matches_gguf(const fe_gguf *g, const fe_weights *ref) {
    const fe_gguf_tensor *want = fe_gguf_find_tensor(g, "q8_0.from_source");
    const fe_tensor *src = ref_tensor(ref, "q8_0_source");
    CHECK(want && want->dtype == KILN_Q8_0);
    if (!want || !src) return;
    int64_t n = gguf_n_elements(want);
    CHECK(src->size_bytes == (size_t)n * 4);
    kiln_block_q8_0 *got = calloc((size_t)n / 32, sizeof(*got));
    KILN_ASSERT(got);
    kiln_quant_quantize_row_q8_0(src->data, got, n);
    CHECK(want->size_bytes == (size_t)n / 32 * sizeof(*got));
    const kiln_block_q8_0 *w = want->data;
    int64_t n_bad = 0, first = -1;
    for (int64_t b = 0; b < n / 32; b++)
        if (memcmp(&got[b], &w[b], sizeof(*got)) != 0) {
            if (first < 0) first = b;
            n_bad++;
        }
    CHECK_MSG(n_bad == 0, "quantize_row_q8_0: %" PRId64 " of %" PRId64 " blocks differ from gguf's, first %" PRId64,
              n_bad, n / 32, first);
    // And back: the round trip is gguf's dequantization of gguf's blocks.
    float *back = malloc((size_t)n * sizeof(float));
    KILN_ASSERT(back);
    kiln_quant_dequantize_row(KILN_Q8_0, got, back, n);
    const fe_tensor *deq = ref_tensor(ref, "q8_0.from_source");
    CHECK(deq && memcmp(back, deq->data, (size_t)n * 4) == 0);
    free(back);
    free(got);
}

static void quantize_q8_K_matches_ggml(const fe_weights *ref) {
    const fe_tensor *src = ref_tensor(ref, "q8_K_source"), *d = ref_tensor(ref, "q8_K_d"),
                    *qs = ref_tensor(ref, "q8_K_qs"), *bsums = ref_tensor(ref, "q8_K_bsums");
    if (!src || !d || !qs || !bsums) return;
    int64_t n = (int64_t)(src->size_bytes / 4), nb = n / 256;
    kiln_block_q8_K *got = aligned_alloc(16, ((size_t)nb * sizeof(*got) + 15) & ~(size_t)15);
    KILN_ASSERT(got);
    kiln_quant_quantize_row_q8_K(src->data, got, n);
    const float *dd = d->data;
    const int32_t *q = qs->data, *s = bsums->data;
    for (int64_t b = 0; b < nb; b++) {
        CHECK_MSG(memcmp(&got[b].d, &dd[b], 4) == 0, "q8_K block %" PRId64 ": d %.9g, want %.9g", b, got[b].d, dd[b]);
        int bad = 0;
        for (int e = 0; e < 256; e++) bad += got[b].qs[e] != q[b * 256 + e];
        for (int j = 0; j < 16; j++) bad += got[b].bsums[j] != s[b * 16 + j];
        CHECK_MSG(bad == 0, "q8_K block %" PRId64 ": %d values differ", b, bad);
    }
    free(got);
}

int main(void) {
    char path[1024];
    fe_gguf *g = NULL;
    fe_weights *ref = NULL;
    snprintf(path, sizeof(path), "%s/gguf/blocks.gguf", KILN_FIXTURES);
    CHECK_OK(fe_gguf_open(path, &g));
    snprintf(path, sizeof(path), "%s/gguf/blocks-reference.safetensors", KILN_FIXTURES);
    CHECK_OK(fe_safetensors_open(path, &ref));
    if (g && ref) {
        dequantize_matches_gguf(g, ref);
        rows_at_odd_addresses_work(g);
        vec_dots_match_double_reference(g, ref);
        quantize_q8_0_matches_gguf(g, ref);
        quantize_q8_K_matches_ggml(ref);
    }
    fe_weights_free(ref);
    fe_gguf_free(g);
    return test_summary();
}
