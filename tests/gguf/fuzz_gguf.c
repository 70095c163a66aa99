/* fuzz_gguf.c — libFuzzer target: any bytes as a .gguf file must give KILN_OK or a status with a
 * message, never a crash, a leak or an out-of-bounds read; an accepted file's every tensor byte is
 * readable, its quantized tensors dequantize, and the getters and conveniences cope with whatever
 * metadata it has. Build with -DKILN_FUZZ=ON and clang; crashes become tests in test_gguf_errors.c.
 * Seeds: the .gguf files in tests/fixtures/gguf/.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "common/common.h"
#include "common/quant.h"
#include "frontend/gguf.h"

static char path[64];

static void remove_file(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/kiln-fuzz-gguf-%d.gguf", (int)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);

    fe_gguf *g = NULL;
    if (fe_gguf_open(path, &g) != KILN_OK) {
        if (kiln_last_error()[0] == '\0') abort();
        return 0;
    }
    float row[4096];
    for (size_t i = 0; i < fe_gguf_n_tensors(g); i++) {
        const fe_gguf_tensor *t = fe_gguf_tensor_at(g, i);
        volatile unsigned char sink = 0;
        for (size_t b = 0; b < t->size_bytes; b++) sink ^= ((const unsigned char *)t->data)[b];
        (void)sink;
        if (fe_gguf_find_tensor(g, t->name) != t) abort();
        int64_t n = t->rank ? t->shape[t->rank - 1] : 1;
        if (kiln_quant_supported(t->dtype) && t->size_bytes && n <= (int64_t)(sizeof(row) / sizeof(row[0])))
            kiln_quant_dequantize_row(t->dtype, t->data, row, n);
    }
    for (size_t i = 0; i < fe_gguf_n_kv(g); i++) {
        const fe_gguf_kv *kv = fe_gguf_kv_at(g, i);
        if (fe_gguf_find(g, kv->key) != &kv->value) abort();
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool b;
        fe_gguf_string s;
        const fe_gguf_string *ss;
        const float *fs;
        const int32_t *is;
        size_t n;
        fe_gguf_get_u32(g, kv->key, &u32);
        fe_gguf_get_u64(g, kv->key, &u64);
        fe_gguf_get_i64(g, kv->key, &i64);
        fe_gguf_get_f32(g, kv->key, &f32);
        fe_gguf_get_bool(g, kv->key, &b);
        fe_gguf_get_string(g, kv->key, &s);
        fe_gguf_get_string_array(g, kv->key, &ss, &n);
        fe_gguf_get_f32_array(g, kv->key, &fs, &n);
        fe_gguf_get_i32_array(g, kv->key, &is, &n);
    }
    fe_gguf_hparams h;
    fe_gguf_tokenizer tok;
    fe_gguf_get_hparams(g, &h);
    fe_gguf_get_tokenizer(g, &tok);
    fe_gguf_free(g);
    return 0;
}
