/* gemm_jit.h — a minimal LLJIT harness for the GEMM test and benchmark: a target machine for a
 * cpu/features pair, a module to emit into, O3, then LLJIT with the process's symbols (so the
 * emitted code finds rt_parallel_for in libkiln_rt). The real backend has its own JIT; this is
 * only enough to call the emitted functions from C.
 */
#ifndef KILN_TESTS_GEMM_JIT_H
#define KILN_TESTS_GEMM_JIT_H

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gj_module {
    LLVMOrcThreadSafeContextRef tsctx;
    LLVMModuleRef mod;
    LLVMTargetMachineRef tm;
} gj_module;

static inline void gj_init(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
}

// A target machine for cpu/features (NULL: the host's).
static inline LLVMTargetMachineRef gj_target_machine(const char *cpu, const char *features) {
    char *triple = LLVMGetDefaultTargetTriple();
    char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
    LLVMTargetRef target = NULL;
    char *err = NULL;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err) == 0)
        tm = LLVMCreateTargetMachine(target, triple, cpu ? cpu : host_cpu, features ? features : host_features, LLVMCodeGenLevelAggressive,
                                     LLVMRelocPIC, LLVMCodeModelJITDefault);
    else
        fprintf(stderr, "gj: %s\n", err);
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);
    return tm;
}

static inline void gj_module_begin(gj_module *m, const char *cpu, const char *features) {
    m->tsctx = LLVMOrcCreateNewThreadSafeContext();
    m->mod = LLVMModuleCreateWithNameInContext("gemm", LLVMOrcThreadSafeContextGetContext(m->tsctx));
    m->tm = gj_target_machine(cpu, features);
    char *triple = LLVMGetTargetMachineTriple(m->tm);
    LLVMSetTarget(m->mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(m->tm);
    LLVMSetModuleDataLayout(m->mod, dl);
    LLVMDisposeTargetData(dl);
}

static inline int gj_check(LLVMErrorRef e, const char *what) {
    if (!e) return 0;
    char *msg = LLVMGetErrorMessage(e);
    fprintf(stderr, "gj: %s: %s\n", what, msg);
    LLVMDisposeErrorMessage(msg);
    return 1;
}

// Verifies and optimizes the module (O3), then hands it to a new LLJIT. Returns NULL on failure.
static inline LLVMOrcLLJITRef gj_jit(gj_module *m, const char *dump_asm_path) {
    char *msg = NULL;
    if (LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &msg)) {
        fprintf(stderr, "gj: invalid module: %s\n", msg);
        LLVMDisposeMessage(msg);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    if (gj_check(LLVMRunPasses(m->mod, "default<O3>", m->tm, opts), "passes")) return NULL;
    LLVMDisposePassBuilderOptions(opts);
    if (dump_asm_path) LLVMTargetMachineEmitToFile(m->tm, m->mod, (char *)dump_asm_path, LLVMAssemblyFile, NULL);

    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(gj_target_machine(NULL, NULL));
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
    LLVMOrcLLJITRef jit = NULL;
    if (gj_check(LLVMOrcCreateLLJIT(&jit, builder), "create LLJIT")) return NULL;
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    if (gj_check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), NULL, NULL), "process symbols"))
        return NULL;
    LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(jit);
    LLVMOrcJITDylibAddGenerator(dylib, gen);
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m->mod, m->tsctx);
    m->mod = NULL;
    LLVMOrcDisposeThreadSafeContext(m->tsctx);
    m->tsctx = NULL;
    LLVMDisposeTargetMachine(m->tm);
    m->tm = NULL;
    if (gj_check(LLVMOrcLLJITAddLLVMIRModule(jit, dylib, tsm), "add module")) return NULL;
    return jit;
}

static inline void *gj_lookup(LLVMOrcLLJITRef jit, const char *name) {
    LLVMOrcExecutorAddress addr = 0;
    if (gj_check(LLVMOrcLLJITLookup(jit, &addr, name), name)) return NULL;
    return (void *)(uintptr_t)addr;
}

typedef void (*gj_packed_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B_packed, float *C, int64_t ldc,
                             const float *bias, void *pool);
// An entry emitted with CG_GEMM_ACT_RUNTIME: the activation is the last argument.
typedef void (*gj_packed_act_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B_packed, float *C,
                                 int64_t ldc, const float *bias, void *pool, int32_t act);
typedef void (*gj_dynamic_fn)(int64_t batch0, int64_t batch1, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, int64_t sa0,
                              int64_t sa1, const float *B, int64_t ldb, int64_t sb0, int64_t sb1, float *C, int64_t ldc, int64_t sc0,
                              int64_t sc1, const float *bias, void *pool);

#endif  // KILN_TESTS_GEMM_JIT_H
