/* source.c — where a tokenizer's files come from: the file system, or named files held in memory
 * (a saved program carries its checkpoint's tokenizer files, so that it takes text in on its own,
 * wherever it is copied). Loaders name files by path; an in-memory source answers by the path's
 * last component (tokenizer.json, vocab.txt, ...).
 */
#include "frontend/tokenizer/internal.h"

#include <unistd.h>

static const fe_tok_file *find(const fe_tok_src *src, const char *path) {
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    for (int32_t i = 0; i < src->n_files; i++)
        if (strcmp(src->files[i].name, name) == 0) return &src->files[i];
    return NULL;
}

bool fe_tok_src_exists(const fe_tok_src *src, const char *path) {
    if (src && src->files) return find(src, path) != NULL;
    return access(path, F_OK) == 0;
}

kiln_status fe_tok_src_read(const fe_tok_src *src, const char *path, char **text_out, size_t *size_out) {
    if (!src || !src->files) return kiln_read_file(path, text_out, size_out);
    *text_out = NULL;
    const fe_tok_file *f = find(src, path);
    if (!f) return kiln_error(KILN_ERR_IO, "%s: not among the program's tokenizer files", path);
    char *text = malloc(f->size + 1);
    if (!text) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(text, f->data, f->size);
    text[f->size] = 0;
    *text_out = text;
    if (size_out) *size_out = f->size;
    return KILN_OK;
}

const char *const fe_tok_file_names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                         "vocab.txt",      "vocab.json",            "merges.txt",
                                         NULL};
