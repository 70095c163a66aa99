/* aot_util.h — helpers for the AOT tests: a scratch directory, running a command with its output
 * captured (no shell), parsing what a kiln executable prints, comparing with a JIT run.
 */
#ifndef KILN_TEST_AOT_UTIL_H
#define KILN_TEST_AOT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

extern char **environ;

typedef struct au_run {
    int status;      // exit code, or 128 + signal
    char *out, *err; // captured stdout and stderr (malloc'd, NUL-terminated)
} au_run;

static inline char *au_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    fclose(f);
    return s;
}

// Runs argv (argv[0] a path or a name on PATH) in `dir`'s scratch files; waits.
static inline au_run au_exec(const char *scratch, char *const *argv) {
    au_run r = {.status = -1};
    char out[600], err[600];
    snprintf(out, sizeof(out), "%s/.stdout", scratch);
    snprintf(err, sizeof(err), "%s/.stderr", scratch);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    posix_spawn_file_actions_destroy(&fa);
    r.out = au_slurp(out);
    r.err = au_slurp(err);
    unlink(out);
    unlink(err);
    return r;
}

static inline void au_run_free(au_run *r) {
    free(r->out);
    free(r->err);
}

// The values printed for output `name` ("name dtype [d0, d1]" then numbers); NULL if absent.
static inline float *au_parse(const char *text, const char *name, int64_t *count) {
    char head[256];
    snprintf(head, sizeof(head), "%s f32 [", name);
    const char *p = text;
    while ((p = strstr(p, head)) && p != text && p[-1] != '\n') p++;
    if (!p) return NULL;
    p = strchr(p, '\n');
    const char *end = p;
    int64_t n = 1;
    const char *dims = strchr(strstr(text, head), '[') + 1;
    while (dims < end && *dims != ']') {
        n *= strtoll(dims, (char **)&dims, 10);
        while (*dims == ',' || *dims == ' ') dims++;
    }
    float *v = malloc(sizeof(float) * (size_t)(n + 1));
    for (int64_t i = 0; v && i < n; i++) v[i] = strtof(p, (char **)&p);
    *count = n;
    return v;
}

static inline double au_max_diff(const float *a, const float *b, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

static inline bool au_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static inline bool au_same_bytes(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    bool same = f && g;
    while (same) {
        int x = fgetc(f), y = fgetc(g);
        if (x != y) same = false;
        if (x == EOF || y == EOF) break;
    }
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

static inline void au_rmtree(const char *dir) {
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0) waitpid(pid, NULL, 0);
}

#endif  // KILN_TEST_AOT_UTIL_H
