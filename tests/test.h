/* test.h — the few macros every kiln test uses: checks that count, report file:line, and let the
 * test go on; main returns test_summary(), which prints "N passed, M failed".
 */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static int test_n_pass, test_n_fail;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            test_n_pass++;                                                               \
        } else {                                                                         \
            test_n_fail++;                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_MSG(cond, ...)                                                             \
    do {                                                                                 \
        if (cond) {                                                                      \
            test_n_pass++;                                                               \
        } else {                                                                         \
            test_n_fail++;                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

// A kiln call that must succeed; on failure prints the status and kiln_last_error().
#define CHECK_OK(call)                                                                   \
    do {                                                                                 \
        kiln_status st_ = (call);                                                        \
        CHECK_MSG(st_ == KILN_OK, "%s -> %s: %s", #call, kiln_status_name(st_),          \
                  kiln_last_error());                                                    \
    } while (0)

// A kiln call that must fail with `status` and a message containing `needle`.
#define CHECK_FAILS(call, status, needle)                                                \
    do {                                                                                 \
        kiln_status st_ = (call);                                                        \
        CHECK_MSG(st_ == (status) && strstr(kiln_last_error(), (needle)) != NULL,        \
                  "%s -> %s (want %s), message \"%s\" (want \"%s\")", #call,             \
                  kiln_status_name(st_), kiln_status_name(status), kiln_last_error(),    \
                  (needle));                                                             \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", test_n_pass, test_n_fail);
    return test_n_fail ? 1 : 0;
}

#endif  // KILN_TEST_H
