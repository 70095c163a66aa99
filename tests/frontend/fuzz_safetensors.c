/* fuzz_safetensors.c — libFuzzer target: any bytes as a .safetensors file, and as a sharded
 * checkpoint's index, must give KILN_OK or a status with a message, never a crash, a leak or an
 * out-of-bounds read. Build with -DKILN_FUZZ=ON and clang; crashes become tests in test_safetensors.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "frontend/safetensors.h"

static char dir[64];

static void remove_dir(void) {
    char *shard = kiln_path_join(dir, "s.safetensors");
    if (shard) unlink(shard);
    free(shard);
    rmdir(dir);
}

static void write_bytes(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/kiln-fuzz-st-%d", (int)getpid());
        mkdir(dir, 0700);
        atexit(remove_dir);
    }
    char *file = kiln_path_join(dir, "model.safetensors");
    char *index = kiln_path_join(dir, "model.safetensors.index.json");
    char *shard = kiln_path_join(dir, "s.safetensors");
    fe_weights *w = NULL;

    write_bytes(file, data, size);
    if (fe_safetensors_open(file, &w) == KILN_OK) {
        for (size_t i = 0; i < fe_weights_count(w); i++) {
            const fe_tensor *t = fe_weights_at(w, i);
            volatile unsigned char sink = 0;   // every byte a tensor claims must be readable
            for (size_t b = 0; b < t->size_bytes; b++) sink ^= ((const unsigned char *)t->data)[b];
            (void)sink;
            if (fe_weights_find(w, t->name) != t) abort();
        }
        fe_weights_free(w);
        w = NULL;
    } else if (kiln_last_error()[0] == '\0') {
        abort();
    }
    unlink(file);

    // The same bytes as an index whose shards may be "s.safetensors" (one tiny valid file).
    float one = 1.0f;
    kiln_tensor tiny = {.name = "w", .dtype = KILN_F32, .rank = 0, .data = &one};
    if (fe_safetensors_write(shard, &tiny, 1) != KILN_OK) abort();
    write_bytes(index, data, size);
    if (fe_weights_open_dir(dir, &w) == KILN_OK) fe_weights_free(w);
    unlink(index);
    free(file);
    free(index);
    free(shard);
    return 0;
}
