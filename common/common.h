/* common.h — libc-level helpers every room of kiln may include: the thread-local error, status
 * names, a bump arena, a growable string buffer, checked allocation. They sit under the rooms of
 * DESIGN.md (ir includes only libc and this) so that every layer reports errors one way.
 */
#ifndef KILN_COMMON_H
#define KILN_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

// Stays on in every build: guards broken invariants only; anything a file or caller can cause
// returns a status instead.
#define KILN_ASSERT(x)                                                                          \
    do {                                                                                        \
        if (!(x)) {                                                                             \
            fprintf(stderr, "%s:%d: KILN_ASSERT(%s) failed\n", __FILE__, __LINE__, #x);         \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#define KILN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KILN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KILN_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define KILN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KILN_PRINTF(f, a)
#endif

// Records a message for kiln_last_error() and returns `status`, so that `return kiln_error(...)`
// reports and fails in one line.
kiln_status kiln_error(kiln_status status, const char *fmt, ...) KILN_PRINTF(2, 3);
// Prefixes the current error message with "prefix: " (used to add a file name as an error
// travels up). Returns `status`.
kiln_status kiln_error_prefix(kiln_status status, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_error_clear(void);

/* A bump arena: objects come from it and all go with kiln_arena_free (ggml's context). */
typedef struct kiln_arena kiln_arena;
kiln_arena *kiln_arena_create(size_t block_size);
void kiln_arena_free(kiln_arena *arena);
void *kiln_arena_alloc(kiln_arena *arena, size_t size);      // zeroed, 16-byte aligned; NULL on OOM
char *kiln_arena_strdup(kiln_arena *arena, const char *s);   // NULL s gives NULL
char *kiln_arena_strndup(kiln_arena *arena, const char *s, size_t n);

/* A growable string. On allocation failure it sets `failed` and drops further text. */
typedef struct kiln_strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} kiln_strbuf;
void kiln_strbuf_printf(kiln_strbuf *sb, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_strbuf_append(kiln_strbuf *sb, const char *s, size_t n);
void kiln_strbuf_free(kiln_strbuf *sb);

// Reads a whole file into a malloc'd, NUL-terminated buffer. Returns KILN_ERR_IO with a message.
kiln_status kiln_read_file(const char *path, char **data_out, size_t *size_out);

// Joins a directory and a file name into a malloc'd path (NULL on OOM).
char *kiln_path_join(const char *dir, const char *name);

#endif  // KILN_COMMON_H
