/* target.c — which CPU the kernels are for (the host's name and features by default, or a
 * portable level such as x86-64-v3), checked against what runtime/cpu_features.c can verify at
 * load time; the target machine; the O3 pipeline; object emission.
 */
#include "codegen/llvm/llvm.h"

#include <llvm-c/Error.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <pthread.h>

#include "runtime/cpu_features.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_llvm(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();   // module asm: .incbin of embedded weights
}

void cg_llvm_init(void) { pthread_once(&init_once, init_llvm); }

// The feature levels of the x86-64 psABI, as LLVM defines the CPUs of the same names.
static const struct {
    const char *cpu;
    const char *features;
} levels[] = {
    {"x86-64", "+cmov,+cx8,+fxsr,+mmx,+sse,+sse2"},
    {"x86-64-v2", "+cmov,+cx8,+fxsr,+mmx,+sse,+sse2,+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+crc32"},
    {"x86-64-v3", "+cmov,+cx8,+fxsr,+mmx,+sse,+sse2,+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+crc32,"
                  "+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave"},
    {"x86-64-v4", "+cmov,+cx8,+fxsr,+mmx,+sse,+sse2,+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+crc32,"
                  "+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave,+avx512f,+avx512bw,+avx512cd,+avx512dq,+avx512vl"},
};

// Adds (+) or removes (-) `name` in the comma-separated set `req` (malloc'd, grown as needed).
static bool set_feature(char **req, const char *name, size_t len, bool on) {
    char *s = *req;
    // remove any existing entry
    for (char *p = s; p && *p;) {
        char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len + 1 && strncmp(p + 1, name, len) == 0) {
            memmove(p, end ? end + 1 : p + l, strlen(end ? end + 1 : p + l) + 1);
            size_t n = strlen(s);
            if (n && s[n - 1] == ',') s[n - 1] = 0;
            continue;
        }
        p = end ? end + 1 : p + l;
    }
    if (!on) return true;
    size_t n = strlen(s);
    char *t = realloc(s, n + len + 3);
    if (!t) return false;
    snprintf(t + n, len + 3, "%s+%.*s", n ? "," : "", (int)len, name);
    *req = t;
    return true;
}

void cg_llvm_target_free(cg_llvm_target *t) {
    if (!t) return;
    free(t->features);
    free(t->required);
    t->features = t->required = NULL;
}

kiln_status cg_llvm_target_resolve(const cg_llvm_options *opts, cg_llvm_target *out) {
    memset(out, 0, sizeof(*out));
    cg_llvm_init();
    char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
    const char *cpu = opts && opts->cpu && *opts->cpu ? opts->cpu : "host";
    const char *base_features = "", *base_required = NULL;
    kiln_status st = KILN_OK;
    if (strcmp(cpu, "host") == 0 || strcmp(cpu, "native") == 0 || strcmp(cpu, host_cpu) == 0) {
        snprintf(out->cpu, sizeof(out->cpu), "%s", host_cpu);
        base_features = host_features;
    } else {
        size_t i = 0;
        while (i < KILN_ARRAY_SIZE(levels) && strcmp(levels[i].cpu, cpu) != 0) i++;
        if (i == KILN_ARRAY_SIZE(levels)) {
            st = kiln_error(KILN_ERR_INVALID_ARG,
                            "unsupported CPU '%s': kiln targets host (here %s), x86-64, x86-64-v2, x86-64-v3 or x86-64-v4", cpu,
                            host_cpu);
            goto done;
        }
        snprintf(out->cpu, sizeof(out->cpu), "%s", cpu);
        base_required = levels[i].features;
    }
    out->required = strdup("");
    if (!out->required) goto oom;
    // What a loader must check: the level's features, or the host's that cpu_features can check.
    const char *src = base_required ? base_required : base_features;
    for (const char *p = src; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 1 && p[0] == '+') {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(len - 1), p + 1);
            if (rt_cpu_feature_known(name) && !set_feature(&out->required, name, len - 1, true)) goto oom;
        }
        p = end ? end + 1 : p + len;
    }
    // The user's additions, each checked: LLVM would only warn about an unknown one.
    const char *user = opts && opts->features ? opts->features : "";
    for (const char *p = user; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(len > 1 ? len - 1 : 0), p + 1);
        if (len < 2 || (p[0] != '+' && p[0] != '-') || len > sizeof(name) || !rt_cpu_feature_known(name)) {
            st = kiln_error(KILN_ERR_INVALID_ARG, "unsupported CPU feature '%.*s' in \"%s\": use +name or -name with a name of: %s",
                            (int)len, p, user, rt_cpu_feature_names());
            goto done;
        }
        if (!set_feature(&out->required, name, len - 1, p[0] == '+')) goto oom;
        p = end ? end + 1 : p + len;
    }
    size_t fl = strlen(base_features) + strlen(user) + 2;
    out->features = malloc(fl);
    if (!out->features) goto oom;
    snprintf(out->features, fl, "%s%s%s", base_features, *base_features && *user ? "," : "", user);
    out->host_ok = rt_cpu_check_features(out->required, out->missing, sizeof(out->missing)) == KILN_OK;
    kiln_error_clear();
    goto done;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
done:
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);
    if (st) cg_llvm_target_free(out);
    return st;
}

LLVMTargetMachineRef cg_llvm_target_machine(const cg_llvm_target *t) {
    cg_llvm_init();
    char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
    LLVMTargetRef target;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        kiln_error(KILN_ERR_INTERNAL, "cpu: LLVM has no target for %s: %s", triple, err);
        LLVMDisposeMessage(err);
    } else {
        tm = LLVMCreateTargetMachine(target, triple, t ? t->cpu : "x86-64", t ? t->features : "", LLVMCodeGenLevelAggressive,
                                     LLVMRelocPIC, LLVMCodeModelDefault);
        if (!tm) kiln_error(KILN_ERR_INTERNAL, "cpu: cannot create a target machine for %s", t ? t->cpu : "x86-64");
    }
    LLVMDisposeMessage(triple);
    return tm;
}

// The module's triple and data layout must be the target machine's before O3 and emission.
static void set_target(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, dl);
    LLVMDisposeTargetData(dl);
}

kiln_status cg_llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
    set_target(mod, tm);
    LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(o, true);
    LLVMPassBuilderOptionsSetSLPVectorization(o, true);
    LLVMPassBuilderOptionsSetLoopInterleaving(o, true);
    LLVMPassBuilderOptionsSetLoopUnrolling(o, true);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, o);
    LLVMDisposePassBuilderOptions(o);
    if (e) {
        char *msg = LLVMGetErrorMessage(e);
        kiln_status st = kiln_error(KILN_ERR_INTERNAL, "cpu: LLVM optimization failed: %s", msg);
        LLVMDisposeErrorMessage(msg);
        return st;
    }
    return KILN_OK;
}

kiln_status cg_llvm_emit_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *path, void **obj_out, size_t *size_out) {
    char *err = NULL;
    set_target(mod, tm);
    if (path) {
        char *p = strdup(path);
        if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
        LLVMBool bad = LLVMTargetMachineEmitToFile(tm, mod, p, LLVMObjectFile, &err);
        free(p);
        if (bad) {
            kiln_status st = kiln_error(KILN_ERR_IO, "%s: cannot write the object file: %s", path, err ? err : "?");
            LLVMDisposeMessage(err);
            return st;
        }
        return KILN_OK;
    }
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &err, &buf)) {
        kiln_status st = kiln_error(KILN_ERR_INTERNAL, "cpu: object emission failed: %s", err ? err : "?");
        LLVMDisposeMessage(err);
        return st;
    }
    size_t n = LLVMGetBufferSize(buf);
    void *copy = malloc(n ? n : 1);
    if (!copy) {
        LLVMDisposeMemoryBuffer(buf);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    memcpy(copy, LLVMGetBufferStart(buf), n);
    LLVMDisposeMemoryBuffer(buf);
    *obj_out = copy;
    *size_out = n;
    return KILN_OK;
}
