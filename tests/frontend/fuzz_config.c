/* fuzz_config.c — libFuzzer target: any bytes as config.json must give KILN_OK or a status with a
 * message, never a crash or a leak. Build with -DKILN_FUZZ=ON and clang.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "frontend/config.h"

static char dir[64];

static void remove_dir(void) { rmdir(dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/kiln-fuzz-config-%d", (int)getpid());
        mkdir(dir, 0700);
        atexit(remove_dir);
    }
    char *path = kiln_path_join(dir, "config.json");
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    fe_config *c = NULL;
    if (fe_config_load(dir, &c) == KILN_OK) {
        for (int64_t i = 0; i < c->num_labels; i++)
            if (!c->id2label[i]) abort();
        for (size_t i = 0; i < c->n_architectures; i++)
            if (!c->architectures[i]) abort();
        fe_config_free(c);
    } else if (kiln_last_error()[0] == '\0') {
        abort();
    }
    unlink(path);
    free(path);
    return 0;
}
