/* bench_tokenizer.c — kiln's tokenizer throughput: encodes every line of a text file with
 * kiln_tokenizer_encode_batch (one thread, batches of --batch lines, special tokens added, no
 * padding), --repeat times, and prints one JSON line with the MB/s of each repeat. With --ids it
 * also writes the ids (per line: count, then ids, int32 little-endian) for bench_tokenizer.py to
 * compare with Hugging Face tokenizers. Not a test.
 *
 * usage: bench_tokenizer TOKENIZER_DIR TEXT_FILE [--repeat N] [--batch N] [--ids OUT]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_DIR TEXT_FILE [--repeat N] [--batch N] [--ids OUT]\n", argv[0]);
        return 2;
    }
    int repeat = 5, batch = 1000;
    const char *ids_path = NULL;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0) batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--ids") == 0) ids_path = argv[i + 1];
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    text[size] = '\0';
    size_t n_lines = 0, cap = 1024;
    const char **lines = malloc(cap * sizeof(*lines));
    for (char *p = text; p < text + size;) {   // one text per line, the newline not included
        char *nl = memchr(p, '\n', (size_t)(text + size - p));
        if (nl) *nl = '\0';
        if (n_lines == cap) lines = realloc(lines, (cap *= 2) * sizeof(*lines));
        lines[n_lines++] = p;
        p = nl ? nl + 1 : text + size;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n_lines; i++) bytes += strlen(lines[i]);

    kiln_tokenizer *tok;
    if (kiln_tokenizer_open(argv[1], &tok) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 1;
    }
    FILE *ids = ids_path ? fopen(ids_path, "wb") : NULL;
    printf("{\"lines\": %zu, \"bytes\": %zu, \"mb_s\": [", n_lines, bytes);
    size_t tokens = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        tokens = 0;
        for (size_t at = 0; at < n_lines; at += (size_t)batch) {
            size_t n = n_lines - at < (size_t)batch ? n_lines - at : (size_t)batch;
            kiln_batch_encoding b;
            if (kiln_tokenizer_encode_batch(tok, lines + at, NULL, n, NULL, &b) != KILN_OK) {
                fprintf(stderr, "%s\n", kiln_last_error());
                return 1;
            }
            for (size_t k = 0; k < b.n_rows; k++) {
                tokens += b.rows[k].n;
                if (ids && r == 0) {
                    int32_t count = (int32_t)b.rows[k].n;
                    fwrite(&count, 4, 1, ids);
                    for (size_t j = 0; j < b.rows[k].n; j++) {
                        int32_t id = (int32_t)b.rows[k].input_ids[j];
                        fwrite(&id, 4, 1, ids);
                    }
                }
            }
            kiln_batch_encoding_free(&b);
        }
        double dt = now() - t0;
        if (ids && r == 0) dt = -1;   // writing ids is not timed: this repeat only checks
        printf("%s%.3f", r ? ", " : "", dt > 0 ? (double)bytes / dt / 1e6 : 0.0);
        fflush(stdout);
    }
    printf("], \"tokens\": %zu}\n", tokens);
    if (ids) fclose(ids);
    kiln_tokenizer_free(tok);
    free(lines);
    free(text);
    return 0;
}
