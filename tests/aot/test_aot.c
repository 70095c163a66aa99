/* test_aot.c — ahead-of-time artifacts, built and run inside the test suite from the tiny
 * bert-seqcls fixture: an executable (through the API and through `kiln compile`), a shared
 * library used through its typed entry points and through kiln_program_load, embedded weights —
 * each matching the JIT program's outputs. Then what an artifact may link (libkiln_rt, never
 * libLLVM or libkiln) and hold (no LLVM, ir_, pass_, cg_ symbols), reproducibility (the same
 * checkpoint compiled twice gives the same bytes), program files of the interpreter, and the
 * bad inputs: unknown CPU or feature strings, unwritable paths, a CPU without the artifact's
 * features (simulated with a feature this CPU lacks), an unknown format version.
 */
#include <dlfcn.h>

#include "aot/aot_util.h"
#include "models/fixture.h"
#include "runtime/cpu_features.h"
#include "runtime/program.h"

static char scratch[256];
static fx_tensors in7;
static kiln_tensor want_logits, want_hidden;   // the JIT's outputs on inputs_seq7

static void path_in(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", scratch, name); }

static kiln_status compile(const char *fixture, const char *cpu, const char *features, kiln_model **m, kiln_program **p) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/models/%s", KILN_FIXTURES, fixture);
    *p = NULL;
    kiln_status st = *m ? KILN_OK : kiln_model_open(dir, NULL, m);
    if (st) return st;
    kiln_compile_options co = kiln_compile_options_default();
    co.target = KILN_TARGET_CPU;
    co.max_batch = 2;
    co.max_seq = 16;
    co.cpu = cpu;
    co.features = features;
    return kiln_compile(*m, &co, p);
}

static void run_jit(kiln_program *p) {
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_context_create(p, NULL, &ctx));
    kiln_tensor out[2] = {{.name = "logits"}, {.name = "last_hidden_state"}};
    CHECK_OK(kiln_run(ctx, in7.t, in7.n, out, 2));
    for (int i = 0; i < 2; i++) {
        kiln_tensor *w = i ? &want_hidden : &want_logits;
        *w = out[i];
        size_t bytes = (size_t)fx_numel(&out[i]) * sizeof(float);
        w->data = malloc(bytes);
        memcpy(w->data, out[i].data, bytes);
    }
    kiln_context_free(ctx);
}

// The ids of inputs_seq7 as an argument: "101 7592 ...".
static void ids_arg(char *buf, size_t size) {
    const kiln_tensor *ids = fx_find(&in7, "input_ids");
    size_t at = 0;
    for (int64_t i = 0; ids && i < fx_numel(ids) && at < size - 24; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? " " : "", (long long)((const int64_t *)ids->data)[i]);
}

static void check_executable(const char *exe, const char *what) {
    char ids[1024];
    ids_arg(ids, sizeof(ids));
    char *argv[] = {(char *)exe, "--threads", "1", "--ids", ids, NULL};
    au_run r = au_exec(scratch, argv);
    CHECK_MSG(r.status == 0, "%s: exit %d: %s", what, r.status, r.err);
    int64_t n = 0;
    float *logits = au_parse(r.out, "logits", &n);
    CHECK_MSG(logits && n == fx_numel(&want_logits), "%s: no logits in its output", what);
    if (logits && n == fx_numel(&want_logits)) {
        double d = au_max_diff(logits, want_logits.data, n);
        CHECK_MSG(d <= 1e-6, "%s: logits differ from the JIT by %g", what, d);
    }
    float *hidden = au_parse(r.out, "last_hidden_state", &n);
    if (hidden && n == fx_numel(&want_hidden)) {
        double d = au_max_diff(hidden, want_hidden.data, n);
        CHECK_MSG(d <= 1e-6, "%s: last_hidden_state differs from the JIT by %g", what, d);
    } else {
        CHECK_MSG(false, "%s: no last_hidden_state in its output", what);
    }
    CHECK_MSG(strstr(r.out, "# label 0: ") != NULL, "%s: no label line", what);
    free(logits);
    free(hidden);
    au_run_free(&r);
}

// NEEDED entries and symbols of an artifact: libkiln_rt only of kiln's libraries; no compiler inside.
static void check_linkage(const char *artifact) {
    char *argv[] = {"readelf", "-dW", (char *)artifact, NULL};
    au_run r = au_exec(scratch, argv);
    CHECK_MSG(r.status == 0 && strstr(r.out, "NEEDED"), "readelf -d %s failed: %s", artifact, r.err);
    CHECK_MSG(strstr(r.out, "[libkiln_rt.so]") != NULL, "%s does not link libkiln_rt", artifact);
    CHECK_MSG(!strstr(r.out, "libLLVM") && !strstr(r.out, "[libkiln.so]"), "%s links LLVM or libkiln:\n%s", artifact, r.out);
    au_run_free(&r);
    char *nm[] = {"nm", "-a", (char *)artifact, NULL};
    r = au_exec(scratch, nm);
    CHECK_MSG(r.status == 0, "nm %s failed: %s", artifact, r.err);
    static const char *banned[] = {"LLVM", "llvm", "ir_", "pass_", "cg_"};
    for (char *line = r.out; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        const char *sym = strrchr(line, ' ');
        sym = sym ? sym + 1 : line;
        for (size_t b = 0; b < KILN_ARRAY_SIZE(banned); b++)
            CHECK_MSG(strncmp(sym, banned[b], strlen(banned[b])) != 0, "%s holds the symbol %s", artifact, sym);
        line = nl ? nl + 1 : NULL;
    }
    au_run_free(&r);
}

typedef int (*open_fn)(int, void **);
typedef int (*run_fn)(void *, int64_t, int64_t, const int64_t *, const int64_t *, const int64_t *, float *, float *);
typedef void (*close_fn)(void *);
typedef size_t (*arena_fn)(int64_t, int64_t);

static void check_shared(kiln_program *p) {
    char lib[600], header[600];
    path_in(lib, sizeof(lib), "libseqcls.so");
    path_in(header, sizeof(header), "seqcls.h");
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_SHARED;
    CHECK_OK(kiln_program_save(p, lib, &so));
    CHECK(au_exists(header));
    char weights[700];
    snprintf(weights, sizeof(weights), "%s.weights", lib);
    CHECK(au_exists(weights));
    // The header compiles as C.
    char *cc[] = {"cc", "-std=c11", "-Wall", "-Werror", "-fsyntax-only", header, NULL};
    au_run r = au_exec(scratch, cc);
    CHECK_MSG(r.status == 0, "the generated header does not compile: %s", r.err);
    au_run_free(&r);
    check_linkage(lib);
    // Its typed entry points.
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(dl != NULL, "dlopen %s: %s", lib, dlerror());
    if (dl) {
        open_fn op = (open_fn)dlsym(dl, "seqcls_open");
        run_fn rn = (run_fn)dlsym(dl, "seqcls_run");
        close_fn cl = (close_fn)dlsym(dl, "seqcls_close");
        arena_fn ar = (arena_fn)dlsym(dl, "seqcls_arena_bytes");
        CHECK(op && rn && cl && ar);
        void *s = NULL;
        if (op && op(1, &s) == 0 && rn) {
            const kiln_tensor *ids = fx_find(&in7, "input_ids"), *mask = fx_find(&in7, "attention_mask"),
                              *tt = fx_find(&in7, "token_type_ids");
            float logits[64], hidden[16 * 64];
            CHECK(fx_numel(&want_logits) <= 64 && fx_numel(&want_hidden) <= 16 * 64);
            int st = rn(s, ids->shape[0], ids->shape[1], ids->data, mask ? mask->data : NULL, tt ? tt->data : NULL, hidden, logits);
            CHECK_MSG(st == 0, "seqcls_run: %d", st);
            if (st == 0) {
                CHECK_MSG(au_max_diff(logits, want_logits.data, fx_numel(&want_logits)) <= 1e-6, "typed entry: logits differ");
                CHECK_MSG(au_max_diff(hidden, want_hidden.data, fx_numel(&want_hidden)) <= 1e-6, "typed entry: hidden differs");
            }
            size_t small = ar(1, 7), big = ar(2, 16);
            CHECK_MSG(small > 0 && small <= big && big <= p->arena_bytes, "arena bytes %zu, %zu (plan %zu)", small, big, p->arena_bytes);
        } else {
            CHECK_MSG(false, "seqcls_open failed");
        }
        if (cl) cl(s);
        dlclose(dl);
    }
    // kiln_program_load on the same library, then kiln_run.
    kiln_program *q = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_program_load(lib, &q));
    if (q) CHECK_OK(kiln_context_create(q, NULL, &ctx));
    if (ctx) {
        kiln_tensor out = {.name = "logits"};
        CHECK_OK(kiln_run(ctx, in7.t, in7.n, &out, 1));
        CHECK(out.data && au_max_diff(out.data, want_logits.data, fx_numel(&want_logits)) <= 1e-6);
        kiln_program_info info;
        CHECK_OK(kiln_program_get_info(q, &info));
        CHECK(strcmp(info.backend, "cpu") == 0 && info.n_launches == (size_t)p->n_launches);
    }
    kiln_context_free(ctx);
    kiln_program_free(q);
}

static void check_reproducible(kiln_model *m) {
    char a[700], b[700], dir_a[600], dir_b[600];
    path_in(dir_a, sizeof(dir_a), "a");
    path_in(dir_b, sizeof(dir_b), "b");
    mkdir(dir_a, 0755);
    mkdir(dir_b, 0755);
    snprintf(a, sizeof(a), "%s/model", dir_a);
    snprintf(b, sizeof(b), "%s/model", dir_b);
    kiln_program *p1 = NULL, *p2 = NULL;
    CHECK_OK(compile("bert-seqcls", NULL, NULL, &m, &p1));
    CHECK_OK(compile("bert-seqcls", NULL, NULL, &m, &p2));
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    if (p1 && p2) {
        CHECK_OK(kiln_program_save(p1, a, &so));
        CHECK_OK(kiln_program_save(p2, b, &so));
        CHECK_MSG(au_same_bytes(a, b), "the same checkpoint compiled twice gave different executables");
        char wa[800], wb[800];
        snprintf(wa, sizeof(wa), "%s.weights", a);
        snprintf(wb, sizeof(wb), "%s.weights", b);
        CHECK_MSG(au_same_bytes(wa, wb), "... and different weight files");
    }
    kiln_program_free(p1);
    kiln_program_free(p2);
}

static void check_interp_program_file(kiln_model *m) {
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 2;
    co.max_seq = 16;
    kiln_program *p = NULL, *q = NULL;
    char path[600];
    path_in(path, sizeof(path), "seqcls.kiln");
    // The interpreter's fused regions do not travel in a file: refused with a message.
    CHECK_OK(kiln_compile(m, &co, &p));
    if (p) CHECK_FAILS(kiln_program_save(p, path, NULL), KILN_ERR_UNSUPPORTED, "cannot be saved");
    kiln_program_free(p);
    p = NULL;
    co.passes = "none";
    CHECK_OK(kiln_compile(m, &co, &p));
    if (!p) return;
    CHECK_OK(kiln_program_save(p, path, NULL));   // auto: a program file
    CHECK_OK(kiln_program_load(path, &q));
    kiln_context *c1 = NULL, *c2 = NULL;
    if (q) {
        CHECK_OK(kiln_context_create(p, NULL, &c1));
        CHECK_OK(kiln_context_create(q, NULL, &c2));
        kiln_tensor o1 = {.name = "logits"}, o2 = {.name = "logits"};
        CHECK_OK(kiln_run(c1, in7.t, in7.n, &o1, 1));
        CHECK_OK(kiln_run(c2, in7.t, in7.n, &o2, 1));
        CHECK(o1.data && o2.data && memcmp(o1.data, o2.data, sizeof(float) * (size_t)fx_numel(&o1)) == 0);
        CHECK(q->head.n_labels == 3 && strcmp(kiln_program_label(q, 2), "POSITIVE") == 0);
    }
    kiln_context_free(c1);
    kiln_context_free(c2);
    kiln_program_free(q);
    // A program file of a format version this kiln does not know is refused, with the version.
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        uint32_t v = 99;
        fseek(f, 8, SEEK_SET);
        fwrite(&v, 4, 1, f);
        fclose(f);
        CHECK_FAILS(kiln_program_load(path, &q), KILN_ERR_FORMAT, "format version 99 is not supported");
        CHECK(q == NULL);
    }
    // Truncated, or not a program at all.
    f = fopen(path, "r+b");
    if (f) {
        CHECK(ftruncate(fileno(f), 60) == 0);
        fclose(f);
        CHECK_FAILS(kiln_program_load(path, &q), KILN_ERR_FORMAT, "");
    }
    char junk[600];
    path_in(junk, sizeof(junk), "junk.bin");
    f = fopen(junk, "wb");
    if (f) {
        fputs("not a kiln program, just text\n", f);
        fclose(f);
    }
    CHECK_FAILS(kiln_program_load(junk, &q), KILN_ERR_FORMAT, "not a kiln program");
    CHECK_FAILS(kiln_program_load("/nonexistent/program.kiln", &q), KILN_ERR_IO, "cannot open");
    // An interpreter program has no machine code to make an executable of.
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    CHECK_FAILS(kiln_program_save(p, path, &so), KILN_ERR_INVALID_ARG, "has no machine code");
    kiln_program_free(p);
}

static void check_bad_targets(kiln_model *m, kiln_program *p) {
    kiln_program *q = NULL;
    CHECK_FAILS(compile("bert-seqcls", "pentium-mmx", NULL, &m, &q), KILN_ERR_INVALID_ARG, "unsupported CPU 'pentium-mmx'");
    CHECK_FAILS(compile("bert-seqcls", NULL, "+avx9000", &m, &q), KILN_ERR_INVALID_ARG, "unsupported CPU feature '+avx9000'");
    CHECK_FAILS(compile("bert-seqcls", NULL, "avx2", &m, &q), KILN_ERR_INVALID_ARG, "unsupported CPU feature 'avx2'");
    kiln_compile_options co = kiln_compile_options_default();
    co.cpu = "x86-64-v3";
    CHECK_FAILS(kiln_compile(m, &co, &q), KILN_ERR_INVALID_ARG, "cpu target only");
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    CHECK_FAILS(kiln_program_save(p, "/nonexistent-dir/model", &so), KILN_ERR_IO, "cannot write here");
    so.kind = KILN_ARTIFACT_PROGRAM;
    CHECK_FAILS(kiln_program_save(p, "/tmp/x.kiln", &so), KILN_ERR_INVALID_ARG, "saves as a shared library or an executable");

    // A portable target: x86-64-v3 code runs here (every machine of this suite has AVX2).
    CHECK_OK(compile("bert-seqcls", "x86-64-v3", NULL, &m, &q));
    if (q) {
        kiln_program_info info;
        CHECK_OK(kiln_program_get_info(q, &info));
        CHECK(strcmp(info.cpu, "x86-64-v3") == 0 && strstr(info.features, "+avx2") && !strstr(info.features, "avx512"));
        kiln_context *ctx = NULL;
        CHECK_OK(kiln_context_create(q, NULL, &ctx));
        kiln_tensor out = {.name = "logits"};
        if (ctx) CHECK_OK(kiln_run(ctx, in7.t, in7.n, &out, 1));
        if (out.data) CHECK(au_max_diff(out.data, want_logits.data, fx_numel(&want_logits)) <= 1e-5);
        kiln_context_free(ctx);
        kiln_program_free(q);
        q = NULL;
    }

    // Features this CPU lacks: the program compiles (for saving), refuses to run here, and its
    // artifacts refuse to load — with a message naming the feature, never SIGILL.
    static const char *candidates[] = {"amx-tile", "avx512vp2intersect", "xop", "fma4", "tbm", "avxvnniint16"};
    const char *missing = NULL;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(candidates) && !missing; i++)
        if (!rt_cpu_has_feature(candidates[i])) missing = candidates[i];
    CHECK_MSG(missing != NULL, "this CPU has every candidate feature: nothing to simulate with");
    if (!missing) return;
    char feat[64];
    snprintf(feat, sizeof(feat), "+%s", missing);
    CHECK_OK(compile("bert-seqcls", NULL, feat, &m, &q));
    if (!q) return;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_context_create(q, NULL, &ctx));
    kiln_tensor out = {.name = "logits"};
    if (ctx) CHECK_FAILS(kiln_run(ctx, in7.t, in7.n, &out, 1), KILN_ERR_UNSUPPORTED, "features the host lacks");
    kiln_context_free(ctx);
    char exe[600], lib[600];
    path_in(exe, sizeof(exe), "elsewhere");
    path_in(lib, sizeof(lib), "libelsewhere.so");
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    CHECK_OK(kiln_program_save(q, exe, &so));
    char *argv[] = {exe, "--ids", "1 2 3", NULL};
    au_run r = au_exec(scratch, argv);
    CHECK_MSG(r.status == 1 && strstr(r.err, "this CPU lacks") && strstr(r.err, missing),
              "an artifact for +%s: exit %d, stderr \"%s\" (want exit 1 and a message)", missing, r.status, r.err);
    au_run_free(&r);
    so.kind = KILN_ARTIFACT_SHARED;
    CHECK_OK(kiln_program_save(q, lib, &so));
    kiln_program *l = NULL;
    CHECK_FAILS(kiln_program_load(lib, &l), KILN_ERR_UNSUPPORTED, "this CPU lacks");
    CHECK(l == NULL);
    kiln_program_free(q);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof(scratch), "%s/kiln-aot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(scratch) != NULL);
    char path[600];
    snprintf(path, sizeof(path), "%s/models/bert-seqcls/inputs_seq7.safetensors", KILN_FIXTURES);
    CHECK_OK(fx_load(path, &in7));
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    CHECK_OK(compile("bert-seqcls", NULL, NULL, &m, &p));
    if (!p) return test_summary();
    run_jit(p);

    // An executable through the API, weights beside it; then with them inside.
    char exe[600], exe2[600];
    path_in(exe, sizeof(exe), "seqcls");
    kiln_save_options so = kiln_save_options_default();
    so.kind = KILN_ARTIFACT_EXECUTABLE;
    CHECK_OK(kiln_program_save(p, exe, &so));
    check_executable(exe, "executable");
    check_linkage(exe);
    char weights[700];
    snprintf(weights, sizeof(weights), "%s.weights", exe);
    CHECK(au_exists(weights));
    path_in(exe2, sizeof(exe2), "seqcls-one-file");
    so.embed_weights = true;
    CHECK_OK(kiln_program_save(p, exe2, &so));
    snprintf(weights, sizeof(weights), "%s.weights", exe2);
    CHECK(!au_exists(weights));
    check_executable(exe2, "executable with embedded weights");
    // Without its weights file, the executable says what is missing.
    snprintf(weights, sizeof(weights), "%s.weights", exe);
    unlink(weights);
    char *argv[] = {exe, "--ids", "1 2 3", NULL};
    au_run r = au_exec(scratch, argv);
    CHECK_MSG(r.status == 1 && strstr(r.err, "cannot open the weights file"), "missing weights: exit %d, %s", r.status, r.err);
    au_run_free(&r);

    // `kiln compile`, the command a user runs.
    char fixture[600], cli_exe[600];
    snprintf(fixture, sizeof(fixture), "%s/models/bert-seqcls", KILN_FIXTURES);
    path_in(cli_exe, sizeof(cli_exe), "cli-seqcls");
    char *cli[] = {KILN_CLI, "compile", fixture, "-o", cli_exe, "--max-batch", "2", "--max-seq", "16", "--timings", NULL};
    r = au_exec(scratch, cli);
    CHECK_MSG(r.status == 0 && strstr(r.out, "compile time"), "kiln compile: exit %d: %s", r.status, r.err);
    au_run_free(&r);
    check_executable(cli_exe, "kiln compile's executable");
    char *cli_bad[] = {KILN_CLI, "compile", fixture, "-o", cli_exe, "--cpu", "i486", NULL};
    r = au_exec(scratch, cli_bad);
    CHECK_MSG(r.status == 1 && strstr(r.err, "unsupported CPU 'i486'"), "kiln compile --cpu i486: exit %d: %s", r.status, r.err);
    au_run_free(&r);

    check_shared(p);
    check_reproducible(m);
    check_interp_program_file(m);
    check_bad_targets(m, p);

    free(want_logits.data);
    free(want_hidden.data);
    fx_free(&in7);
    kiln_program_free(p);
    kiln_model_free(m);
    if (!test_n_fail) au_rmtree(scratch);
    else fprintf(stderr, "artifacts kept in %s\n", scratch);
    return test_summary();
}
