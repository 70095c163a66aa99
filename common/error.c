/* error.c — the thread-local error string behind kiln_last_error(), and status names.
 * One message per thread: the most recent failure, with its file, field and reason.
 */
#include "common.h"

static _Thread_local char tl_error[1024];

const char *kiln_last_error(void) { return tl_error; }

void kiln_error_clear(void) { tl_error[0] = '\0'; }

kiln_status kiln_error(kiln_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof(tl_error), fmt, ap);
    va_end(ap);
    return status;
}

kiln_status kiln_error_prefix(kiln_status status, const char *fmt, ...) {
    char prefix[512], old[sizeof(tl_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, tl_error, sizeof(old));
    size_t n = strlen(prefix);
    if (n > sizeof(tl_error) - 3) n = sizeof(tl_error) - 3;
    memcpy(tl_error, prefix, n);
    memcpy(tl_error + n, ": ", 2);
    size_t room = sizeof(tl_error) - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(tl_error + n + 2, old, m);
    tl_error[n + 2 + m] = '\0';
    return status;
}

const char *kiln_status_name(kiln_status status) {
    switch (status) {
    case KILN_OK: return "ok";
    case KILN_ERR_INVALID_ARG: return "invalid argument";
    case KILN_ERR_FORMAT: return "format error";
    case KILN_ERR_UNSUPPORTED: return "unsupported";
    case KILN_ERR_OUT_OF_MEMORY: return "out of memory";
    case KILN_ERR_IO: return "i/o error";
    case KILN_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
