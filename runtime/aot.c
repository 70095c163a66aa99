/* aot.c — the runtime side of AOT artifacts: loading an image (side weights mapped from beside
 * the artifact, the CPU checked for the features the kernels need before any of them can run),
 * shared libraries through dlopen, the generated executable's main, and the sessions behind a
 * shared library's typed entry points.
 */
#define _GNU_SOURCE   // dladdr, Dl_info
#include "runtime/aot.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/cpu_features.h"
#include "runtime/program_io.h"

typedef struct aot_owner {
    void *dl;              // dlopen handle, or NULL
    void *map;             // side weights mapping, or NULL
    size_t map_size;
} aot_owner;

static void owner_release(void *p) {
    aot_owner *o = p;
    if (!o) return;
    if (o->map) munmap(o->map, o->map_size);
    if (o->dl) dlclose(o->dl);
    free(o);
}

static rt_kernel_fn resolve_image(void *ctx, const char *name) {
    const rt_aot_image *img = ctx;
    for (uint64_t i = 0; i < img->n_kernels; i++)
        if (strcmp(img->kernel_names[i], name) == 0) return img->kernel_fns[i];
    return NULL;
}

// Maps `dir/name`, which must hold exactly `bytes` bytes.
static kiln_status map_side_file(const char *artifact, const char *name, uint64_t bytes, aot_owner *o) {
    const char *slash = strrchr(artifact, '/');
    size_t dl = slash ? (size_t)(slash - artifact) : 1;
    size_t n = dl + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(path, n, "%.*s/%s", (int)dl, slash ? artifact : ".", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    kiln_status st = KILN_OK;
    if (fd < 0) {
        st = kiln_error(KILN_ERR_IO, "%s: cannot open the weights file %s (written beside the artifact by kiln compile)", artifact, path);
    } else if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != bytes) {
        st = kiln_error(KILN_ERR_FORMAT, "%s: weights file %s has %lld bytes, the program expects %llu", artifact, path,
                        (long long)sb.st_size, (unsigned long long)bytes);
    } else if (bytes) {
        void *m = mmap(NULL, (size_t)bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) st = kiln_error(KILN_ERR_IO, "%s: cannot map %s", artifact, path);
        else o->map = m, o->map_size = (size_t)bytes;
    }
    if (fd >= 0) close(fd);
    free(path);
    return st;
}

kiln_status rt_aot_load(const rt_aot_image *img, const char *artifact, kiln_program **out) {
    *out = NULL;
    if (!img || img->magic != RT_AOT_MAGIC)
        return kiln_error(KILN_ERR_FORMAT, "%s: not a kiln artifact (no kiln_aot_image)", artifact);
    if (img->version != RT_AOT_VERSION)
        return kiln_error(KILN_ERR_FORMAT, "%s: artifact version %u is not supported (this kiln reads version %u)", artifact,
                          img->version, RT_AOT_VERSION);
    aot_owner *o = calloc(1, sizeof(*o));
    if (!o) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    const uint8_t *weights = img->weights;
    kiln_status st = KILN_OK;
    if (!weights && img->weights_bytes) {
        if ((st = map_side_file(artifact, img->weights_file ? img->weights_file : "?", img->weights_bytes, o))) goto error;
        weights = o->map;
    }
    if ((st = rt_program_deserialize(img->program, img->program_bytes, weights, img->weights_bytes, resolve_image, (void *)img,
                                     artifact, out)))
        goto error;
    // Before anything calls a kernel: a CPU without the kernels' features gets a message, not SIGILL.
    char missing[256];
    if (rt_cpu_check_features((*out)->required_features, missing, sizeof(missing))) {
        st = kiln_error(KILN_ERR_UNSUPPORTED, "%s: compiled for CPU %s, but this CPU lacks %s", artifact,
                        (*out)->target_cpu ? (*out)->target_cpu : "?", missing);
        rt_program_free(*out);
        *out = NULL;
        goto error;
    }
    (*out)->backend_owner = o;
    (*out)->backend_release = owner_release;
    return KILN_OK;
error:
    owner_release(o);
    return st;
}

kiln_status rt_aot_load_library(const char *path, kiln_program **out) {
    *out = NULL;
    // dlopen searches the library path for a name without a slash; a file name means this file.
    char local[4096];
    snprintf(local, sizeof(local), "%s%s", strchr(path, '/') ? "" : "./", path);
    void *dl = dlopen(local, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return kiln_error(KILN_ERR_FORMAT, "%s: cannot load the library: %s", path, dlerror());
    const rt_aot_image *img = dlsym(dl, RT_AOT_IMAGE_SYMBOL);
    if (!img) {
        dlclose(dl);
        return kiln_error(KILN_ERR_FORMAT, "%s: a shared library, but not one kiln made (no %s)", path, RT_AOT_IMAGE_SYMBOL);
    }
    kiln_status st = rt_aot_load(img, path, out);
    if (st) {
        dlclose(dl);
        return st;
    }
    ((aot_owner *)(*out)->backend_owner)->dl = dl;
    return KILN_OK;
}

/* ---- typed entry points ---- */

struct rt_aot_session {
    kiln_program *prog;
    kiln_context *ctx;
};

// The file this image lives in (the shared library or the executable).
static void artifact_path(const rt_aot_image *img, char *buf, size_t size) {
    Dl_info info;
    if (dladdr(img, &info) && info.dli_fname && info.dli_fname[0]) {
        snprintf(buf, size, "%s", info.dli_fname);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
}

kiln_status rt_aot_open(const rt_aot_image *img, int n_threads, rt_aot_session **out) {
    if (!out) return kiln_error(KILN_ERR_INVALID_ARG, "open: NULL argument");
    *out = NULL;
    rt_aot_session *s = calloc(1, sizeof(*s));
    if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    char path[4096];
    artifact_path(img, path, sizeof(path));
    kiln_context_options co = kiln_context_options_default();
    co.n_threads = n_threads;
    kiln_status st = rt_aot_load(img, path, &s->prog);
    if (!st) st = kiln_context_create(s->prog, &co, &s->ctx);
    if (st) {
        rt_aot_close(s);
        return st;
    }
    *out = s;
    return KILN_OK;
}

void rt_aot_close(rt_aot_session *s) {
    if (!s) return;
    kiln_context_free(s->ctx);
    kiln_program_free(s->prog);
    free(s);
}

const kiln_program *rt_aot_program(const rt_aot_session *s) { return s ? s->prog : NULL; }

kiln_status rt_aot_run(rt_aot_session *s, const int64_t *dims, const void *const *inputs, void *const *outputs) {
    if (!s || !dims) return kiln_error(KILN_ERR_INVALID_ARG, "run: NULL argument");
    const kiln_program *p = s->prog;
    kiln_tensor in[64], out[64];
    size_t n_in = 0, n_out = 0;
    if (p->n_inputs > 64 || p->n_outputs > 64) return kiln_error(KILN_ERR_UNSUPPORTED, "run: more than 64 inputs or outputs");
    for (int i = 0; i < p->n_symbols; i++) {
        kiln_status st = kiln_context_set_dim(s->ctx, p->symbol_names[i], dims[i]);
        if (st) return st;
    }
    for (int i = 0; i < p->n_inputs; i++) {
        if (!inputs || !inputs[i]) continue;
        const rt_io *io = &p->inputs[i];
        kiln_tensor *t = &in[n_in++];
        memset(t, 0, sizeof(*t));
        t->name = io->name;
        t->dtype = io->dtype;
        t->rank = io->rank;
        for (int d = 0; d < io->rank; d++) t->shape[d] = rt_expr_eval(&io->shape[d], dims);
        t->data = (void *)inputs[i];
    }
    for (int i = 0; i < p->n_outputs; i++) {
        if (!outputs || !outputs[i]) continue;
        const rt_io *io = &p->outputs[i];
        kiln_tensor *t = &out[n_out++];
        memset(t, 0, sizeof(*t));
        t->name = io->name;
        t->data = outputs[i];
        t->size_bytes = rt_tensor_bytes(io->dtype, io->rank, io->shape, dims);
    }
    return kiln_run(s->ctx, in, n_in, out, n_out);
}

/* ---- the executable ---- */

static void usage(const char *argv0, const kiln_program *p) {
    fprintf(stderr,
            "usage: %s [--threads N] [--ids] [INPUT...]\n"
            "  Runs %s (%s, compiled by kiln for %s) on one sequence per INPUT (none: one per line of stdin)\n"
            "  and prints every output: a line 'name dtype [shape]', then its values, one innermost row per line.\n"
            "  INPUT is text%s, or with --ids token ids separated by spaces or commas.\n"
            "  --threads N: kernel threads (default $KILN_NUM_THREADS, else one per core).\n",
            argv0, p->head.architecture ? p->head.architecture : "the model", p->head.model_type ? p->head.model_type : "?",
            p->target_cpu ? p->target_cpu : "?", p->tokenizer_dir || p->n_tokenizer_files ? " (tokenized as the checkpoint's tokenizer does)" : " (needs a tokenizer: this program has none)");
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, kiln_last_error());
    return 1;
}

// One sequence of ids from "101 7592, 102".
static kiln_status parse_ids(const char *s, int64_t **ids, size_t *n) {
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof(int64_t));
    if (!*ids) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s) return kiln_error(KILN_ERR_INVALID_ARG, "'%s' is not a token id", s);
        if (*n == cap) {
            int64_t *t = realloc(*ids, (cap *= 2) * sizeof(int64_t));
            if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
            *ids = t;
        }
        (*ids)[(*n)++] = v;
        s = end;
    }
    if (!*n) return kiln_error(KILN_ERR_INVALID_ARG, "an empty sequence of token ids");
    return KILN_OK;
}

static void print_tensor(const kiln_tensor *t) {
    printf("%s %s [", t->name, kiln_dtype_get_info(t->dtype)->name);
    int64_t n = 1, inner = t->rank ? t->shape[t->rank - 1] : 1;
    for (int d = 0; d < t->rank; d++) {
        printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
        n *= t->shape[d];
    }
    printf("]\n");
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case KILN_F32: printf("%.9g", ((const float *)t->data)[i]); break;
        case KILN_I32: printf("%d", ((const int32_t *)t->data)[i]); break;
        case KILN_I64: printf("%lld", (long long)((const int64_t *)t->data)[i]); break;
        case KILN_BOOL: printf("%d", ((const uint8_t *)t->data)[i]); break;
        default: printf("?"); break;
        }
        putchar(inner && (i + 1) % inner == 0 ? '\n' : ' ');
    }
}

int rt_aot_main(const rt_aot_image *img, int argc, char **argv) {
    char path[4096];
    ssize_t pl = readlink("/proc/self/exe", path, sizeof(path) - 1);
    snprintf(path + (pl > 0 ? pl : 0), sizeof(path) - (size_t)(pl > 0 ? pl : 0), "%s", pl > 0 ? "" : argv[0]);
    kiln_program *p = NULL;
    if (rt_aot_load(img, path, &p)) return fail(argv[0]);
    const char *env = getenv("KILN_NUM_THREADS");
    int threads = env && *env ? atoi(env) : 0, first = 1, rc = 1;
    bool ids_mode = false;
    for (; first < argc && argv[first][0] == '-' && argv[first][1] == '-'; first++) {
        if (strcmp(argv[first], "--ids") == 0) ids_mode = true;
        else if (strcmp(argv[first], "--threads") == 0 && first + 1 < argc) threads = atoi(argv[++first]);
        else {
            usage(argv[0], p);
            kiln_program_free(p);
            return strcmp(argv[first], "--help") == 0 ? 0 : 2;
        }
    }
    // The sequences, from the arguments or stdin.
    size_t n_seq = 0, cap = 8;
    char **texts = malloc(cap * sizeof(char *));
    for (int i = first; texts && i < argc; i++) {
        if (n_seq == cap) texts = realloc(texts, (cap *= 2) * sizeof(char *));
        if (texts) texts[n_seq++] = strdup(argv[i]);
    }
    if (texts && first == argc) {
        char *line = NULL;
        size_t ln = 0;
        while (getline(&line, &ln, stdin) > 0) {
            if (n_seq == cap) texts = realloc(texts, (cap *= 2) * sizeof(char *));
            if (!texts) break;
            line[strcspn(line, "\r\n")] = 0;
            if (*line) texts[n_seq++] = strdup(line);
        }
        free(line);
    }
    kiln_tokenizer *tok = NULL;
    kiln_context *ctx = NULL;
    int64_t **seqs = calloc(n_seq + 1, sizeof(int64_t *)), **types = calloc(n_seq + 1, sizeof(int64_t *));
    size_t *lens = calloc(n_seq + 1, sizeof(size_t)), longest = 0;
    int64_t *ids = NULL, *mask = NULL, *tt = NULL;
    if (!texts || !seqs || !types || !lens) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        goto done;
    }
    if (!n_seq) {
        fprintf(stderr, "%s: no input (pass INPUT arguments or lines on stdin; --help says more)\n", argv[0]);
        goto done;
    }
    if (!ids_mode) {
        if (!p->tokenizer_dir && !p->n_tokenizer_files) {
            fprintf(stderr, "%s: this program has no tokenizer: pass token ids with --ids\n", argv[0]);
            goto done;
        }
        if (kiln_program_tokenizer(p, &tok)) {
            fail(argv[0]);
            goto done;
        }
    }
    for (size_t i = 0; i < n_seq; i++) {
        if (ids_mode) {
            if (parse_ids(texts[i], &seqs[i], &lens[i])) {
                fail(argv[0]);
                goto done;
            }
        } else {
            kiln_encoding e;
            if (kiln_tokenizer_encode(tok, texts[i], NULL, &e)) {
                fail(argv[0]);
                goto done;
            }
            seqs[i] = malloc(e.n * sizeof(int64_t));
            types[i] = malloc(e.n * sizeof(int64_t));
            if (seqs[i] && types[i]) {
                memcpy(seqs[i], e.input_ids, e.n * sizeof(int64_t));
                memcpy(types[i], e.token_type_ids, e.n * sizeof(int64_t));
            }
            lens[i] = e.n;
            kiln_encoding_free(&e);
        }
        if (lens[i] > longest) longest = lens[i];
    }
    // One padded batch: pad id where the sequence has ended, attention_mask 0 there.
    int64_t pad = tok ? kiln_tokenizer_pad_id(tok) : 0;
    size_t total = n_seq * longest;
    ids = calloc(total + 1, sizeof(int64_t));
    mask = calloc(total + 1, sizeof(int64_t));
    tt = calloc(total + 1, sizeof(int64_t));
    if (!ids || !mask || !tt) goto done;
    for (size_t i = 0; i < n_seq; i++)
        for (size_t s = 0; s < longest; s++) {
            bool real = s < lens[i];
            ids[i * longest + s] = real ? seqs[i][s] : (pad >= 0 ? pad : 0);
            mask[i * longest + s] = real;
            tt[i * longest + s] = real && types[i] ? types[i][s] : 0;
        }
    kiln_tensor in[3];
    size_t n_in = 0;
    for (int i = 0; i < p->n_inputs; i++) {
        const char *nm = p->inputs[i].name;
        int64_t *data = strcmp(nm, "input_ids") == 0 ? ids : strcmp(nm, "attention_mask") == 0 ? mask : strcmp(nm, "token_type_ids") == 0 ? tt : NULL;
        if (!data) {
            if (p->inputs[i].default_fill < 0) {
                fprintf(stderr, "%s: the program wants input '%s', which this command cannot make\n", argv[0], nm);
                goto done;
            }
            continue;
        }
        if (n_in == 3) continue;
        in[n_in++] = (kiln_tensor){.name = nm, .dtype = KILN_I64, .rank = 2, .shape = {(int64_t)n_seq, (int64_t)longest}, .data = data};
    }
    kiln_context_options co = kiln_context_options_default();
    co.n_threads = threads;
    if (kiln_context_create(p, &co, &ctx)) {
        fail(argv[0]);
        goto done;
    }
    kiln_tensor out[64];
    size_t n_out = 0;
    for (int i = 0; i < p->n_outputs && n_out < 64; i++) out[n_out++] = (kiln_tensor){.name = p->outputs[i].name};
    if (kiln_run(ctx, in, n_in, out, n_out)) {
        fail(argv[0]);
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        print_tensor(&out[i]);
        // classification heads: each row's top label too
        if (p->head.n_labels > 1 && out[i].dtype == KILN_F32 && out[i].rank == 2 && out[i].shape[1] == p->head.n_labels &&
            strcmp(out[i].name, "logits") == 0)
            for (int64_t r = 0; r < out[i].shape[0]; r++) {
                const float *row = (const float *)out[i].data + r * out[i].shape[1];
                int64_t best = 0;
                for (int64_t c = 1; c < out[i].shape[1]; c++)
                    if (row[c] > row[best]) best = c;
                printf("# label %lld: %s\n", (long long)r, p->head.labels[best]);
            }
    }
    rc = 0;
done:
    for (size_t i = 0; i < n_seq; i++) {
        if (texts) free(texts[i]);
        if (seqs) free(seqs[i]);
        if (types) free(types[i]);
    }
    free(texts);
    free(seqs);
    free(types);
    free(lens);
    free(ids);
    free(mask);
    free(tt);
    kiln_tokenizer_free(tok);
    kiln_context_free(ctx);
    kiln_program_free(p);
    return rc;
}
