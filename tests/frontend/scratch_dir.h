/* scratch_dir.h — a temporary directory per test program, so checkpoints are written from C
 * (broken ones byte by byte) instead of being committed as binaries. Removed at the end.
 */
#ifndef KILN_TEST_SCRATCH_DIR_H
#define KILN_TEST_SCRATCH_DIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch_root[4096];

// Creates the directory under $TMPDIR (or /tmp); aborts the test program if it cannot.
static void scratch_init(const char *tag) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch_root, sizeof(scratch_root), "%s/kiln-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(scratch_root)) {
        perror("mkdtemp");
        exit(2);
    }
}

// "<root>/<name>" in a static buffer (valid until the next call).
static const char *scratch_path(const char *name) {
    static char buf[2][4096];
    static int which;
    which ^= 1;
    if (snprintf(buf[which], sizeof(buf[which]), "%s/%s", scratch_root, name) >= (int)sizeof(buf[which])) {
        fprintf(stderr, "scratch path too long: %s\n", name);
        exit(2);
    }
    return buf[which];
}

// A fresh, empty subdirectory; returns its path (as scratch_path does).
static const char *scratch_subdir(const char *name) {
    const char *p = scratch_path(name);
    mkdir(p, 0700);
    return p;
}

static void scratch_write(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void scratch_write_text(const char *path, const char *text) { scratch_write(path, text, strlen(text)); }

// Removes the tree: files and the few levels of subdirectories the tests make.
static void scratch_remove_dir(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[4096];
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p)) continue;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && depth < 4) scratch_remove_dir(p, depth + 1);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void scratch_cleanup(void) { scratch_remove_dir(scratch_root, 0); }

#endif  // KILN_TEST_SCRATCH_DIR_H
