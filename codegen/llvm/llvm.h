/* llvm.h — the CPU backend's insides: lowering IR nodes to LLVM IR through the C API, one kernel
 * function per distinct signature (op, dtypes, ranks, broadcast pattern, params), optimizing
 * with the new pass manager at O3 for the chosen CPU, and JIT (ORC LLJIT) or object emission.
 *
 * Every kernel has the runtime's ABI, `kiln_status fn(const rt_kernel_call *call)`; its args are
 * the node's inputs then its output, its dims each input's shape, then the output's, then op
 * extras (SLICE: start, end; IOTA: start) — the interpreter's layout, so one launch list serves
 * both. Work is split over the context's pool with rt_parallel_for and a generated task function.
 */
#ifndef KILN_CG_LLVM_H
#define KILN_CG_LLVM_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "codegen/codegen.h"
#include "codegen/llvm/gemm.h"

extern const kiln_backend cg_llvm_backend;

/* ---- targets ---- */

typedef struct cg_llvm_options {
    const char *cpu;        // NULL or "host": this machine; "x86-64-v3", ...
    const char *features;   // NULL: the CPU's own; "+avx512f,-avx512fp16" adds to them
    bool jit;               // JIT the kernels (else the program is for saving only)
    bool blas_gemm;         // products through OpenBLAS even where kiln's GEMM serves (comparisons)
} cg_llvm_options;

// The resolved target: CPU name, full LLVM feature string, and the features a loader must find
// on the CPU it runs on ("+avx2,+fma,..." restricted to what runtime/cpu_features.c can check).
typedef struct cg_llvm_target {
    char cpu[64];
    char *features;         // malloc'd
    char *required;         // malloc'd
    bool host_ok;           // the host has every required feature (JIT allowed)
    char missing[256];      // when not: the features the host lacks
} cg_llvm_target;

// Checks opts->cpu and opts->features and resolves them. KILN_ERR_INVALID_ARG names the bad
// entry. cg_llvm_target_free releases the strings.
kiln_status cg_llvm_target_resolve(const cg_llvm_options *opts, cg_llvm_target *out);
void cg_llvm_target_free(cg_llvm_target *t);
// A target machine for `t` (generic x86-64 when t is NULL), PIC, O3. NULL with an error set.
LLVMTargetMachineRef cg_llvm_target_machine(const cg_llvm_target *t);
// Initializes LLVM's native target once (thread-safe).
void cg_llvm_init(void);
// Runs "default<O3>" on `mod`. Returns KILN_OK or KILN_ERR_INTERNAL with LLVM's message.
kiln_status cg_llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm);
// Emits `mod` as an ELF object into a malloc'd buffer, or into `path` when set.
kiln_status cg_llvm_emit_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *path, void **obj_out, size_t *size_out);

// After a JIT compile: hands freed heap pages and libLLVM's code pages back to the system
// (release.c). Returns the bytes of code dropped. Safe while other threads run LLVM.
size_t cg_llvm_release_memory(void);

/* ---- the module being built ---- */

typedef struct cg_llvm_module {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f16, t_f32, t_f64, t_ptr;
    LLVMTypeRef t_call;       // rt_kernel_call
    LLVMTypeRef t_closure;    // { ptr call, i32 err, i64 info0, i64 info1 }: what a task gets
    LLVMTypeRef t_kernel;     // i32 (ptr)
    LLVMTypeRef t_task;       // void (ptr, i64, i64)
    bool avx512;              // prefer 512-bit vectors
    int n_kernels;
    const char *prefix;       // symbol prefix of kernels ("kiln_k")
    LLVMTargetMachineRef tm;  // the target (the GEMM emitter reads its CPU and features)
    bool have_gemm;           // kiln's own GEMM (gemm.h) serves this target: `gemm` says how
    cg_gemm_config gemm;
    const int64_t *symbol_max;   // the graph's symbols at their maxima (bounds of stack buffers)
} cg_llvm_module;

// What the backend decided for one node before lowering it; part of the kernel's signature.
typedef struct cg_node_plan {
    bool packed_b;            // MATMUL, FUSED GEMM: B is a weight packed at compile time for kiln's GEMM
    const int64_t *symbol_max;
} cg_node_plan;

// One function being emitted: a kernel, or a task function inside one.
typedef struct cg_kb {
    cg_llvm_module *m;
    LLVMBuilderRef b;
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;      // allocas go here
    LLVMValueRef call;            // ptr to rt_kernel_call
    LLVMValueRef closure;         // ptr to the closure (kernel: its alloca; task: its argument)
    int n_tasks;
} cg_kb;

kiln_status cg_llvm_module_init(cg_llvm_module *m, const char *name, bool avx512);
void cg_llvm_module_dispose(cg_llvm_module *m);

// Starts kernel `name`; the builder sits in its body. cg_kb_finish returns KILN_OK from it.
void cg_kb_begin_kernel(cg_llvm_module *m, cg_kb *k, const char *name);
void cg_kb_finish(cg_kb *k);

LLVMValueRef cg_kb_i64(cg_kb *k, int64_t v);
LLVMValueRef cg_kb_i32(cg_kb *k, int32_t v);
LLVMValueRef cg_kb_f32(cg_kb *k, float v);
LLVMValueRef cg_kb_f64(cg_kb *k, double v);
LLVMValueRef cg_kb_arg(cg_kb *k, int i);         // call->args[i]
LLVMValueRef cg_kb_dim(cg_kb *k, int j);         // call->dims[j]
LLVMValueRef cg_kb_pool(cg_kb *k);
LLVMValueRef cg_kb_var(cg_kb *k, LLVMTypeRef t, const char *name);   // an alloca in the entry block
LLVMValueRef cg_kb_gep(cg_kb *k, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef index);
LLVMValueRef cg_kb_mul(cg_kb *k, LLVMValueRef a, LLVMValueRef b);     // i64, nsw
LLVMValueRef cg_kb_add(cg_kb *k, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_kb_intrinsic(cg_kb *k, const char *name, LLVMTypeRef overload, LLVMValueRef *args, int n);
// An intrinsic overloaded on several types (llvm.fptosi.sat: result, then operand).
LLVMValueRef cg_kb_intrinsic2(cg_kb *k, const char *name, LLVMTypeRef *overloads, int n_overloads, LLVMValueRef *args, int n);
LLVMValueRef cg_kb_call_ext(cg_kb *k, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n_params, bool vararg,
                            LLVMValueRef *args, int n_args);
LLVMValueRef cg_kb_str(cg_kb *k, const char *s);   // a private constant C string
void cg_kb_memcpy(cg_kb *k, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef bytes);
// Sets reassoc (and contract) on a floating-point instruction so reductions vectorize.
LLVMValueRef cg_kb_reassoc(LLVMValueRef inst);

// for (iv = lo; iv < hi; iv++) { ... }: begin leaves the builder in the body.
typedef struct cg_loop {
    LLVMValueRef iv;
    LLVMBasicBlockRef pre, header, exit;
} cg_loop;
void cg_loop_begin(cg_kb *k, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, const char *name);
void cg_loop_end(cg_kb *k, cg_loop *l);

// if (cond) { ... }: begin leaves the builder in the then-block; end joins.
typedef struct cg_if {
    LLVMBasicBlockRef then_bb, join;
} cg_if;
void cg_if_begin(cg_kb *k, cg_if *f, LLVMValueRef cond, const char *name);
void cg_if_end(cg_kb *k, cg_if *f);

// Emits `return kiln_error(status, fmt, a0, a1, a2)` on `cond` (the args are i64, may be NULL).
void cg_kb_fail_if(cg_kb *k, LLVMValueRef cond, kiln_status status, const char *fmt, LLVMValueRef a0, LLVMValueRef a1,
                   LLVMValueRef a2);

// Splits [0, rows) over the pool: emits a task function whose body `body` builds (with its own
// cg_kb, whose call/closure are the kernel's), and the rt_parallel_for call. `grain` is the
// least rows per chunk. A task reports a failure by cg_kb_task_flag (first flag wins); the kernel
// reads it back with cg_kb_task_flagged after the loop.
typedef void (*cg_rows_fn)(cg_kb *task, LLVMValueRef begin, LLVMValueRef end, void *ud);
void cg_kb_parallel(cg_kb *k, LLVMValueRef rows, LLVMValueRef grain, cg_rows_fn body, void *ud);
void cg_kb_task_flag(cg_kb *task, LLVMValueRef info0, LLVMValueRef info1);
LLVMValueRef cg_kb_task_flagged(cg_kb *k, LLVMValueRef *info0, LLVMValueRef *info1);
// Least rows per chunk so that a chunk holds about `work` elements of `per_row` each.
LLVMValueRef cg_kb_grain(cg_kb *k, LLVMValueRef per_row, int64_t work);

/* ---- element types and math ---- */

// The register type a dtype computes in: f32 (f16/bf16 widen), i64 (i32/i64), i1 (bool).
LLVMTypeRef cg_value_type(cg_llvm_module *m, kiln_dtype t);
LLVMTypeRef cg_storage_type(cg_llvm_module *m, kiln_dtype t);   // in memory
LLVMValueRef cg_load_elem(cg_kb *k, kiln_dtype t, LLVMValueRef base, LLVMValueRef index);   // -> value type
void cg_store_elem(cg_kb *k, kiln_dtype t, LLVMValueRef base, LLVMValueRef index, LLVMValueRef v);
size_t cg_dtype_size(kiln_dtype t);

// Polynomial approximations, vectorizable, within ~3e-7 relative of libm (kb.c).
LLVMValueRef cg_math_exp(cg_kb *k, LLVMValueRef x);
// The same for x <= 0 (or NaN): a softmax's x - max. No overflow edge, one scaling by 2^n.
LLVMValueRef cg_math_exp_nonpos(cg_kb *k, LLVMValueRef x);
LLVMValueRef cg_math_tanh(cg_kb *k, LLVMValueRef x);
LLVMValueRef cg_math_erf(cg_kb *k, LLVMValueRef x);

/* ---- lowering: each emitter writes the body of kernel `k` for node `n` ---- */

// A kernel's signature: the text that keys deduplication, built by cg_llvm_signature.
kiln_status cg_llvm_signature(const ir_node *n, const cg_node_plan *plan, kiln_strbuf *out);
// true when the node (an op, or a FUSED region) is lowered as one kernel by this backend (given
// whether kiln's GEMM serves the target, and the symbols' maxima); other regions are inlined.
bool cg_llvm_lowers_whole(const ir_node *n, bool have_gemm, const int64_t *symbol_max);

kiln_status cg_llvm_emit_elementwise(cg_kb *k, const ir_node *n);   // element-wise ops, expand, fused regions
kiln_status cg_llvm_emit_normalization(cg_kb *k, const ir_node *n);   // also FUSED NORM regions
// A FUSED NORM region this backend lowers whole: an element-wise prologue (or none) into one
// LAYER_NORM / RMS_NORM whose gamma (and beta) are region inputs. *norm_out: the norm node.
bool cg_llvm_norm_region(const ir_node *n, const ir_node **norm_out);
// FUSED ATTENTION regions (attention.c): one kernel on kiln's GEMM, a block of query rows at a time.
bool cg_llvm_attention_region(const ir_node *n, const int64_t *symbol_max);
kiln_status cg_llvm_emit_attention(cg_kb *k, const ir_node *n);
// A MATMUL, or a FUSED GEMM region (cg_llvm_gemm_region says whether one is lowered whole).
kiln_status cg_llvm_emit_matmul(cg_kb *k, const ir_node *n, const cg_node_plan *plan);
// The parts of a FUSED GEMM region: its product, the bias input that can ride in the GEMM's
// epilogue (-1: none) and the node the rest of the epilogue starts from. false when the region
// is not one matmul of in0 and in1 (f32) and an element-wise epilogue.
typedef struct cg_gemm_region {
    const ir_node *mm, *root;
    int bias_input;
    // An activation applied to root (the product, plus its bias) and nothing else: act_node, its
    // cg_gemm_act as an int (0: none). The packed GEMM applies it in its epilogue.
    const ir_node *act_node;
    int act;
} cg_gemm_region;
bool cg_llvm_gemm_region(const ir_node *n, cg_gemm_region *r);
// kiln's GEMM entry (gemm_object.c) declared in the module being built.
LLVMValueRef cg_llvm_gemm_fn(cg_kb *k, bool dynamic, bool trans_b, LLVMTypeRef *type_out);
// Keeps of cfg's two tiles for activation x activation products the one graph g's products need
// (both when some need each), so that the module compiles no kernels it never runs.
void cg_llvm_fit_dynamic_tiles(const ir_graph *g, cg_gemm_config *cfg);
kiln_status cg_llvm_emit_movement(cg_kb *k, const ir_node *n);
// true when a FUSED region's body is element-wise only (scalar constants allowed): one kernel.
bool cg_llvm_elementwise_fusable(const ir_node *fused);
// The signature of an element-wise node or region (appended to `sb`).
kiln_status cg_llvm_ew_signature(const ir_node *n, kiln_strbuf *sb);
// Parts of a FUSED region's body as element-wise passes over the region's output (elementwise.c's
// build_expr_ex): `result` (NULL: the body's output) is computed into the output buffer, `root`
// (NULL: none) is a body node whose value is already there (a GEMM's product). The pass is split
// over the pool like any element-wise kernel; with nothing left to compute it emits nothing.
bool cg_llvm_ew_part_ok(const ir_node *n, const ir_node *root, const ir_node *result);
kiln_status cg_llvm_ew_part_signature(const ir_node *n, const ir_node *root, const ir_node *result, kiln_strbuf *sb);
kiln_status cg_llvm_emit_ew_part(cg_kb *k, const ir_node *n, const ir_node *root, const ir_node *result);
// The same part inside another kernel's task, for rows [begin, end) of row_len elements each, when
// it is flat (cg_llvm_ew_part_flat: no operand broadcasts, so rows of the output are rows of every
// operand): a norm computes its prologue row by row, in the pass that normalizes the rows.
bool cg_llvm_ew_part_flat(const ir_node *n, const ir_node *root, const ir_node *result);
kiln_status cg_llvm_emit_ew_part_rows(cg_kb *task, const ir_node *n, const ir_node *root, const ir_node *result, LLVMValueRef begin,
                                      LLVMValueRef end, LLVMValueRef row_len);

/* ---- kernels by signature (backend.c), for emitters that call other kernels ---- */

typedef struct cg_kernel_cache cg_kernel_cache;
// The kernel for node `n` under `plan`: one already emitted with the same signature, or a new one.
// *name_out lives as long as the cache.
kiln_status cg_llvm_kernel_for(cg_kernel_cache *c, const ir_node *n, const cg_node_plan *plan, const char **name_out);
// The kernel for a signature the caller made; `emit` writes its body (in kernel `k`) when new.
kiln_status cg_llvm_kernel_by_signature(cg_kernel_cache *c, const char *signature, kiln_status (*emit)(cg_kb *k, void *ud), void *ud,
                                        const char **name_out);

/* ---- FUSED CHUNKED regions (chunked.c) ---- */

// true when the region's body fits the chunk kernel (row-wise matmuls on rank-2 weights,
// element-wise ops, norms and softmax over the last axis, all f32, widths constant).
bool cg_llvm_chunked_region(const ir_node *n);
// true when region input `k` is read only as B of the body's products (all with *trans_b_out),
// so that the launch may pass the weight's packed copy.
bool cg_llvm_chunked_packable(const ir_node *n, int k, bool *trans_b_out);
// The chunk kernel of region `n` (and its steps' kernels); packed[k]: the launch passes region
// input k packed for kiln's GEMM. *scratch_out: the bytes of scratch one run allocates.
kiln_status cg_llvm_chunked_kernel(cg_kernel_cache *c, const ir_node *n, const bool *packed, const int64_t *symbol_max,
                                   const char **name_out, size_t *scratch_out);

/* ---- kiln's GEMM (gemm.h) as one object per target, shared by every program ---- */

// Starts (or finds) the compile of the GEMM entries for target `t`; a handle for cg_llvm_gemm_wait.
void *cg_llvm_gemm_start(const cg_llvm_target *t, const cg_gemm_config *cfg);
// The object code (owned by the process-wide cache: do not free). Returns KILN_OK or the failure.
kiln_status cg_llvm_gemm_wait(void *handle, const void **obj_out, size_t *size_out);

/* ---- AOT and saving ---- */

// What the JIT keeps alive with a program: the LLJIT, the kernels' object code (for saving).
typedef struct cg_llvm_owner cg_llvm_owner;

kiln_status cg_llvm_compile(const ir_graph *g, const cg_weight_source *ws, const rt_head *head, const cg_llvm_options *opts,
                            kiln_program **out);

// Writes a CPU program as an executable or a shared library (+ header): kiln_program_save's
// work for programs with machine code (codegen/llvm/aot.c).
kiln_status cg_llvm_save(const kiln_program *p, const char *path, const kiln_save_options *opts);

#endif  // KILN_CG_LLVM_H
