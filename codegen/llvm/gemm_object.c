/* gemm_object.c — kiln's GEMM entry points (gemm.h) as one object per target, compiled once per
 * process and shared by every program compiled for that target: they depend on the CPU and its
 * features only, never on a model, and are by far the largest code the backend generates. The
 * first program for a target starts the compile on a thread of its own (cg_llvm_gemm_start), so
 * that it overlaps the model's lowering; cg_llvm_gemm_wait hands the object over.
 *
 * The entries: kiln_gemm_packed (x · Wᵀ, W packed at compile time, the activation an argument), kiln_gemm_nt and
 * kiln_gemm_nn (activation × activation, B transposed or not). Kernels call them by name.
 */
#include <pthread.h>

#include "codegen/llvm/llvm.h"

typedef struct gemm_entry {
    char key[1024];            // cpu + features
    cg_llvm_target target;     // copies of the strings, for the compiling thread
    cg_gemm_config cfg;
    pthread_t thread;
    bool started, done;
    kiln_status status;
    char error[512];
    void *object;
    size_t size;
} gemm_entry;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cv = PTHREAD_COND_INITIALIZER;
static gemm_entry *cache[8];
static int n_cache;

static void *compile_gemm(void *arg) {
    gemm_entry *e = arg;
    cg_llvm_module m;
    LLVMTargetMachineRef tm = NULL;
    void *obj = NULL;
    size_t size = 0;
    kiln_status st = cg_llvm_module_init(&m, "kiln-gemm", e->cfg.isa == CG_GEMM_ISA_AVX512);
    if (!st) st = (tm = cg_llvm_target_machine(&e->target)) ? KILN_OK : KILN_ERR_INTERNAL;
    if (!st) st = cg_gemm_emit_packed(m.mod, tm, &e->cfg, CG_GEMM_ACT_RUNTIME, "kiln_gemm_packed");
    if (!st) st = cg_gemm_emit_dynamic(m.mod, tm, &e->cfg, true, CG_GEMM_ACT_NONE, "kiln_gemm_nt");
    if (!st) st = cg_gemm_emit_dynamic(m.mod, tm, &e->cfg, false, CG_GEMM_ACT_NONE, "kiln_gemm_nn");
    if (!st) st = cg_llvm_optimize(m.mod, tm);
    if (!st) st = cg_llvm_emit_object(m.mod, tm, NULL, &obj, &size);
    if (tm) LLVMDisposeTargetMachine(tm);
    cg_llvm_module_dispose(&m);
    pthread_mutex_lock(&cache_mu);
    e->status = st;
    if (st) snprintf(e->error, sizeof(e->error), "%s", kiln_last_error());
    e->object = obj;
    e->size = size;
    e->done = true;
    pthread_cond_broadcast(&cache_cv);
    pthread_mutex_unlock(&cache_mu);
    return NULL;
}

static void key_of(const cg_llvm_target *t, char *key, size_t size) { snprintf(key, size, "%s|%s", t->cpu, t->features); }

void *cg_llvm_gemm_start(const cg_llvm_target *t, const cg_gemm_config *cfg) {
    char key[1024];
    key_of(t, key, sizeof(key));
    pthread_mutex_lock(&cache_mu);
    gemm_entry *e = NULL;
    for (int i = 0; i < n_cache && !e; i++)
        if (strcmp(cache[i]->key, key) == 0) e = cache[i];
    if (!e && n_cache < (int)KILN_ARRAY_SIZE(cache) && (e = calloc(1, sizeof(*e)))) {
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->target = *t;
        e->target.features = strdup(t->features);
        e->target.required = strdup(t->required);
        e->cfg = *cfg;
        if (!e->target.features || !e->target.required) {
            cg_llvm_target_free(&e->target);
            free(e);
            e = NULL;
        } else if (pthread_create(&e->thread, NULL, compile_gemm, e) == 0) {
            pthread_detach(e->thread);
            e->started = true;
            cache[n_cache++] = e;
        } else {   // no thread to spare: compile on this one when waited for
            cache[n_cache++] = e;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return e;
}

kiln_status cg_llvm_gemm_wait(void *handle, const void **obj_out, size_t *size_out) {
    gemm_entry *e = handle;
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory compiling the GEMM");
    pthread_mutex_lock(&cache_mu);
    bool run_here = !e->started && !e->done;
    if (run_here) e->started = true;
    pthread_mutex_unlock(&cache_mu);
    if (run_here) compile_gemm(e);
    pthread_mutex_lock(&cache_mu);
    while (!e->done) pthread_cond_wait(&cache_cv, &cache_mu);
    kiln_status st = e->status;
    *obj_out = e->object;
    *size_out = e->size;
    pthread_mutex_unlock(&cache_mu);
    if (st) return kiln_error(st, "%s", e->error);
    return KILN_OK;
}
