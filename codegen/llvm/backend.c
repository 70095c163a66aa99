/* backend.c — the CPU backend: graph -> program. Fused regions this backend has a kernel for stay
 * one node (element-wise, GEMM, norm, attention; chunked regions as a chunk kernel that calls its
 * steps' kernels, chunked.c); any other region is inlined. The shared skeleton (cg_program_build) places
 * every tensor; each computing node then gets a launch whose kernel is keyed by its signature,
 * so the twelve layers of a BERT share one kernel per kind of node. The module is optimized at
 * O3 for the target CPU, emitted as an object (kept for kiln_program_save) and linked into the
 * process by ORC LLJIT, which resolves runtime symbols (rt_parallel_for, cblas_sgemm) from it.
 */
#include "codegen/llvm/llvm.h"

#include <sys/mman.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <time.h>

#include "codegen/llvm/pack.h"

struct cg_llvm_owner {
    LLVMOrcLLJITRef jit;
    int n_objects;
    void *objects[RT_MAX_OBJECTS];
    size_t sizes[RT_MAX_OBJECTS];
    void *packed;            // the packed weights' mapping
    size_t packed_bytes;
};

static void owner_release(void *p) {
    cg_llvm_owner *o = p;
    if (!o) return;
    if (o->jit) LLVMOrcDisposeLLJIT(o->jit);
    for (int i = 0; i < o->n_objects; i++) free(o->objects[i]);
    if (o->packed) munmap(o->packed, o->packed_bytes);
    free(o);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- what this backend lowers ---- */

static bool is_quant(kiln_dtype t) { return kiln_dtype_get_info(t)->is_quantized; }
static bool is_half(kiln_dtype t) { return t == KILN_F16 || t == KILN_BF16; }

static bool llvm_supports(const ir_node *n) {
    uint32_t f = ir_op_flags(n->op);
    if (n->op == IR_OP_FUSED || (f & IR_OPF_LEAF)) return true;
    if (is_quant(n->dtype)) return false;
    if (is_half(n->dtype) && n->op != IR_OP_CAST) return false;
    for (int k = 0; k < n->n_inputs; k++) {
        kiln_dtype t = n->inputs[k]->dtype;
        // Block-quantized weights: MATMUL's B and GATHER's table (libkiln_rt dequantizes them).
        if (is_quant(t) && !((n->op == IR_OP_MATMUL && k == 1) || (n->op == IR_OP_GATHER && k == 0))) return false;
        if (is_half(t) && n->op != IR_OP_CAST && n->op != IR_OP_GATHER) return false;
    }
    if ((f & IR_OPF_NORMALIZATION) && n->inputs[0]->rank == 0) return false;
    if (n->op == IR_OP_PERMUTE && n->rank == 0) return false;
    switch (n->op) {
    case IR_OP_SOFTMAX:
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
    case IR_OP_MATMUL: return n->dtype == KILN_F32;
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MEAN:
    case IR_OP_REDUCE_MAX:
    case IR_OP_CUMSUM: return n->dtype == KILN_F32 || n->dtype == KILN_I32 || n->dtype == KILN_I64;
    case IR_OP_IOTA: return n->dtype == KILN_F32 || n->dtype == KILN_I32 || n->dtype == KILN_I64;
    default: break;
    }
    if (n->op == IR_OP_EXPAND || (f & IR_OPF_ELEMENTWISE)) {
        // Float math is f32; integer math i32/i64; logic on bool.
        if (n->op == IR_OP_CAST || n->op == IR_OP_WHERE || n->op == IR_OP_EXPAND) return true;
        kiln_dtype t = n->inputs[0]->dtype;
        if (n->n_inputs == 1 && n->op != IR_OP_NOT) return t == KILN_F32;
        return true;
    }
    return true;
}

static size_t llvm_alignment(void) { return 64; }

bool cg_llvm_lowers_whole(const ir_node *n, bool have_gemm, const int64_t *symbol_max) {
    if (n->op != IR_OP_FUSED || cg_llvm_elementwise_fusable(n)) return true;
    cg_gemm_region r;
    const ir_node *nm;
    switch (n->p.fused_kind) {
    case IR_FUSED_GEMM: return cg_llvm_gemm_region(n, &r);
    case IR_FUSED_NORM: return cg_llvm_norm_region(n, &nm);
    case IR_FUSED_ATTENTION: return have_gemm && cg_llvm_attention_region(n, symbol_max);
    case IR_FUSED_CHUNKED: return cg_llvm_chunked_region(n);
    default: return false;
    }
}

typedef struct flatten_ctx {
    bool have_gemm;
    const int64_t *symbol_max;
} flatten_ctx;

/* ---- fused regions this backend does not lower whole are inlined ---- */

static kiln_status copy_into(const flatten_ctx *fc, ir_graph *dst, const ir_graph *src, ir_node **operands, ir_node **map) {
    for (int i = 0; i < src->n_nodes; i++) {
        const ir_node *n = src->nodes[i];
        if (n->op == IR_OP_INPUT && operands) {
            int k = -1;
            if (sscanf(n->name, "in%d", &k) != 1 || k < 0 || k >= IR_MAX_INPUTS || !operands[k])
                return kiln_error(KILN_ERR_FORMAT, "fused body input '%s' has no operand", n->name);
            map[i] = operands[k];
            continue;
        }
        if (n->op == IR_OP_FUSED && !cg_llvm_lowers_whole(n, fc->have_gemm, fc->symbol_max)) {
            const ir_graph *body = n->p.body;
            ir_node *ops[IR_MAX_INPUTS] = {NULL};
            for (int k = 0; k < n->n_inputs; k++) ops[k] = map[n->inputs[k]->id];
            ir_node **bmap = calloc((size_t)body->n_nodes + 1, sizeof(*bmap));
            if (!bmap) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
            kiln_status st = copy_into(fc, dst, body, ops, bmap);
            map[i] = st ? NULL : bmap[body->outputs[0].node->id];
            free(bmap);
            if (st) return st;
            continue;
        }
        ir_node copy = *n;   // a whole FUSED node keeps its body (owned by `src`, alive during compile)
        copy.name = kiln_arena_strdup(dst->arena, n->name);
        copy.path = kiln_arena_strdup(dst->arena, n->path);
        copy.flags &= ~(uint32_t)IR_NODE_OUTPUT;
        for (int k = 0; k < n->n_inputs; k++) copy.inputs[k] = map[n->inputs[k]->id];
        if (!(map[i] = ir_node_append(dst, &copy))) return dst->status;
    }
    return KILN_OK;
}

static kiln_status flatten_some(const ir_graph *g, const flatten_ctx *fc, ir_graph **out) {
    *out = NULL;
    ir_graph *dst = ir_graph_create();
    ir_node **map = calloc((size_t)g->n_nodes + 1, sizeof(*map));
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    if (!dst || !map) {
        kiln_error(st, "cpu: out of memory");
        goto error;
    }
    for (int s = 0; s < g->n_symbols; s++) {
        int id = ir_graph_symbol(dst, g->symbols[s].name);
        if (id >= 0) dst->symbols[id].max = g->symbols[s].max;
    }
    if ((st = copy_into(fc, dst, g, NULL, map))) goto error;
    for (int o = 0; o < g->n_outputs; o++)
        if ((st = ir_graph_add_output(dst, g->outputs[o].name, map[g->outputs[o].node->id]))) goto error;
    free(map);
    *out = dst;
    return KILN_OK;
error:
    free(map);
    ir_graph_free(dst);
    return st;
}

/* ---- signatures, FLOPs, bytes ---- */

static kiln_status region_signature(const ir_node *n, const cg_node_plan *plan, const int64_t *symbol_max, kiln_strbuf *sb) {
    if (cg_llvm_elementwise_fusable(n)) return cg_llvm_ew_signature(n, sb);
    kiln_strbuf_printf(sb, "%s r%d i%d", ir_fused_kind_name(n->p.fused_kind), n->rank, n->n_inputs);
    for (int k = 0; k < n->n_inputs; k++) kiln_strbuf_printf(sb, ":%d%s", n->inputs[k]->rank, kiln_dtype_get_info(n->inputs[k]->dtype)->name);
    cg_gemm_region r;
    const ir_node *nm;
    switch (n->p.fused_kind) {
    case IR_FUSED_GEMM:
        cg_llvm_gemm_region(n, &r);
        kiln_strbuf_printf(sb, " mm{");
        cg_llvm_signature(r.mm, plan, sb);
        kiln_strbuf_printf(sb, "} bias=%d epilogue{", r.bias_input);
        // The epilogue starts after the bias when the GEMM adds it, else at the product.
        cg_llvm_ew_part_signature(n, r.mm, NULL, sb);
        kiln_strbuf_printf(sb, "}{");
        cg_llvm_ew_part_signature(n, r.root, NULL, sb);
        kiln_strbuf_printf(sb, "}");
        return KILN_OK;
    case IR_FUSED_NORM:
        cg_llvm_norm_region(n, &nm);
        kiln_strbuf_printf(sb, " %s eps=%a", ir_op_name(nm->op), (double)nm->p.eps);
        for (int k = 0; k < nm->n_inputs; k++) kiln_strbuf_printf(sb, " %s", nm->inputs[k]->op == IR_OP_INPUT ? nm->inputs[k]->name : "x");
        if (nm->inputs[0]->op != IR_OP_INPUT) {
            kiln_strbuf_printf(sb, " prologue{");
            cg_llvm_ew_part_signature(n, NULL, nm->inputs[0], sb);
            kiln_strbuf_printf(sb, "}");
        }
        return KILN_OK;
    case IR_FUSED_ATTENTION: {
        const ir_node *kn = n->inputs[1];
        kiln_strbuf_printf(sb, " heads=%d scale=%a offsets=%d,%d,%d chunk=%lld sk_max=%lld mask=", n->p.heads, (double)n->p.scale,
                           n->p.offsets[0], n->p.offsets[1], n->p.offsets[2], (long long)n->p.chunk,
                           (long long)ir_dim_eval(kn->shape[kn->rank == 4 ? 2 : 1], symbol_max));
        if (n->n_inputs == 4)
            for (int d = 0; d < n->inputs[3]->rank; d++) {
                int64_t v;
                kiln_strbuf_printf(sb, "%c", ir_dim_is_const(n->inputs[3]->shape[d], &v) && v == 1 ? '1' : 'n');
            }
        return KILN_OK;
    }
    default: return kiln_error(KILN_ERR_INTERNAL, "cpu: no whole lowering for a %s region", ir_fused_kind_name(n->p.fused_kind));
    }
}

kiln_status cg_llvm_signature(const ir_node *n, const cg_node_plan *plan, kiln_strbuf *sb) {
    uint32_t f = ir_op_flags(n->op);
    if (n->op == IR_OP_FUSED) return region_signature(n, plan, plan ? plan->symbol_max : NULL, sb);
    if (n->op == IR_OP_EXPAND || (f & IR_OPF_ELEMENTWISE)) return cg_llvm_ew_signature(n, sb);
    kiln_strbuf_printf(sb, "%s r%d %s", ir_op_name(n->op), n->rank, kiln_dtype_get_info(n->dtype)->name);
    for (int k = 0; k < n->n_inputs; k++)
        kiln_strbuf_printf(sb, " i%d:r%d:%s", k, n->inputs[k]->rank, kiln_dtype_get_info(n->inputs[k]->dtype)->name);
    switch (n->op) {
    case IR_OP_SOFTMAX:
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MEAN:
    case IR_OP_REDUCE_MAX:
    case IR_OP_CUMSUM:
    case IR_OP_SLICE:
    case IR_OP_CONCAT:
    case IR_OP_IOTA: kiln_strbuf_printf(sb, " axis=%d", n->p.axis); break;
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM: kiln_strbuf_printf(sb, " eps=%a", (double)n->p.eps); break;
    case IR_OP_PERMUTE:
        kiln_strbuf_printf(sb, " perm=");
        for (int d = 0; d < n->rank; d++) kiln_strbuf_printf(sb, "%d,", n->p.perm[d]);
        break;
    case IR_OP_MATMUL: {
        const ir_node *a = n->inputs[0], *b = n->inputs[1];
        kiln_strbuf_printf(sb, " ta=%d tb=%d packed=%d bcast=", n->p.trans_a, n->p.trans_b, plan && plan->packed_b);
        int br = n->rank - 2;
        for (int d = 0; d < br; d++) {   // which batch dims broadcast (static), as emit_matmul sees them
            int da = a->rank - 2 - br + d, db = b->rank - 2 - br + d;
            int64_t v;
            bool out1 = ir_dim_is_const(n->shape[d], &v) && v == 1;
            bool bca = da < 0 || (ir_dim_is_const(a->shape[da], &v) && v == 1 && !out1);
            bool bcb = db < 0 || (ir_dim_is_const(b->shape[db], &v) && v == 1 && !out1);
            kiln_strbuf_printf(sb, "%d%d", bca, bcb);
        }
        break;
    }
    default: break;
    }
    return KILN_OK;
}

/* ---- kernels by signature ---- */

typedef struct kernel_entry {
    char *signature;
    char name[32];
} kernel_entry;

struct cg_kernel_cache {
    cg_llvm_module *m;
    int n, cap;
    kernel_entry *e;
};

static void table_free(cg_kernel_cache *t) {
    for (int i = 0; i < t->n; i++) free(t->e[i].signature);
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

static kiln_status emit_node(cg_kb *k, const ir_node *n, const cg_node_plan *plan) {
    uint32_t f = ir_op_flags(n->op);
    if (n->op == IR_OP_FUSED && !cg_llvm_elementwise_fusable(n)) {
        switch (n->p.fused_kind) {
        case IR_FUSED_GEMM: return cg_llvm_emit_matmul(k, n, plan);
        case IR_FUSED_NORM: return cg_llvm_emit_normalization(k, n);
        case IR_FUSED_ATTENTION: return cg_llvm_emit_attention(k, n);
        default: return kiln_error(KILN_ERR_INTERNAL, "cpu: no whole lowering for a %s region", ir_fused_kind_name(n->p.fused_kind));
        }
    }
    if (n->op == IR_OP_FUSED || n->op == IR_OP_EXPAND || (f & IR_OPF_ELEMENTWISE)) return cg_llvm_emit_elementwise(k, n);
    if (f & IR_OPF_NORMALIZATION) return cg_llvm_emit_normalization(k, n);
    if (f & IR_OPF_CONTRACTION) return cg_llvm_emit_matmul(k, n, plan);
    if (f & IR_OPF_MOVEMENT) return cg_llvm_emit_movement(k, n);
    return kiln_error(KILN_ERR_UNSUPPORTED, "cpu: no lowering for op '%s'", ir_op_name(n->op));
}

kiln_status cg_llvm_kernel_by_signature(cg_kernel_cache *t, const char *signature, kiln_status (*emit)(cg_kb *k, void *ud), void *ud,
                                        const char **name_out) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->e[i].signature, signature) == 0) {
            *name_out = t->e[i].name;
            return KILN_OK;
        }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        kernel_entry *e = realloc(t->e, (size_t)cap * sizeof(*e));
        if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
        t->e = e;
        t->cap = cap;
    }
    kernel_entry *e = &t->e[t->n];
    if (!(e->signature = strdup(signature))) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    snprintf(e->name, sizeof(e->name), "%s%d", t->m->prefix, t->n);
    t->n++;
    *name_out = e->name;
    cg_kb k;
    cg_kb_begin_kernel(t->m, &k, e->name);
    kiln_status st = emit(&k, ud);
    cg_kb_finish(&k);
    return st;
}

typedef struct node_emit {
    const ir_node *n;
    const cg_node_plan *plan;
} node_emit;

static kiln_status emit_node_cb(cg_kb *k, void *ud) {
    const node_emit *ne = ud;
    return emit_node(k, ne->n, ne->plan);
}

kiln_status cg_llvm_kernel_for(cg_kernel_cache *t, const ir_node *n, const cg_node_plan *plan, const char **name_out) {
    kiln_strbuf sb = {0};
    kiln_status st = cg_llvm_signature(n, plan, &sb);
    if (!st && sb.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    node_emit ne = {n, plan};
    if (!st) st = cg_llvm_kernel_by_signature(t, sb.data, emit_node_cb, &ne, name_out);
    kiln_strbuf_free(&sb);
    return st;
}

/* ---- JIT ---- */

static kiln_status llvm_err(LLVMErrorRef e, const char *what) {
    char *msg = LLVMGetErrorMessage(e);
    kiln_status st = kiln_error(KILN_ERR_INTERNAL, "cpu: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return st;
}

static kiln_status jit_link(cg_llvm_owner *o, kiln_program *p) {
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&o->jit, LLVMOrcCreateLLJITBuilder());
    if (e) {
        o->jit = NULL;
        return llvm_err(e, "cannot create the JIT");
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(o->jit);
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(o->jit), NULL, NULL);
    if (e) return llvm_err(e, "cannot search this process for symbols");
    LLVMOrcJITDylibAddGenerator(jd, gen);
    for (int i = 0; i < o->n_objects; i++) {
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(o->objects[i], o->sizes[i], "kiln-kernels.o");
        if ((e = LLVMOrcLLJITAddObjectFile(o->jit, jd, buf))) return llvm_err(e, "cannot add the kernels to the JIT");
    }
    for (int l = 0; l < p->n_launches; l++) {
        rt_launch *L = &p->launches[l];
        if (l > 0 && strcmp(L->kernel, p->launches[l - 1].kernel) == 0) {
            L->fn = p->launches[l - 1].fn;
            continue;
        }
        int prev = -1;
        for (int j = 0; j < l && prev < 0; j++)
            if (strcmp(p->launches[j].kernel, L->kernel) == 0) prev = j;
        if (prev >= 0) {
            L->fn = p->launches[prev].fn;
            continue;
        }
        LLVMOrcExecutorAddress addr = 0;
        if ((e = LLVMOrcLLJITLookup(o->jit, &addr, L->kernel))) return llvm_err(e, "kernel lookup failed");
        L->fn = (rt_kernel_fn)(uintptr_t)addr;
    }
    return KILN_OK;
}

// The kernel of every launch in a program compiled for a CPU this one is not: refuses to run.
static kiln_status kernel_unavailable(const rt_kernel_call *call) {
    return kiln_error(KILN_ERR_UNSUPPORTED, "this program was compiled for CPU features the host lacks; save it and run it elsewhere");
}

/* ---- compile ---- */

kiln_status cg_llvm_compile(const ir_graph *src, const cg_weight_source *ws, const rt_head *head, const cg_llvm_options *opts,
                            kiln_program **out) {
    *out = NULL;
    double t0 = now_s();
    cg_llvm_options o = opts ? *opts : (cg_llvm_options){.jit = true};
    cg_llvm_target tgt;
    kiln_status st = cg_llvm_target_resolve(&o, &tgt);
    if (st) return st;
    ir_graph *g = NULL;
    kiln_program *p = NULL;
    rt_arg *where = NULL;
    cg_llvm_module m = {0};
    cg_kernel_cache kt = {0};
    LLVMTargetMachineRef tm = NULL;
    cg_pack_plan pack = {0};
    void *gemm = NULL;
    cg_llvm_owner *owner = calloc(1, sizeof(*owner));
    if (!owner) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
        goto error;
    }
    // The target first: kiln's GEMM for it compiles on another thread while this one lowers.
    cg_llvm_init();
    bool avx512 = strstr(tgt.required, "+avx512f") != NULL;
    if ((st = cg_llvm_module_init(&m, "kiln-kernels", avx512))) goto error;
    if (!(tm = cg_llvm_target_machine(&tgt))) {
        st = KILN_ERR_INTERNAL;
        goto error;
    }
    m.tm = tm;
    m.have_gemm = !o.blas_gemm && cg_gemm_config_for(tgt.cpu, tgt.features, &m.gemm) == KILN_OK;
    kiln_error_clear();
    if (m.have_gemm) cg_llvm_fit_dynamic_tiles(src, &m.gemm);
    if (m.have_gemm) gemm = cg_llvm_gemm_start(&tgt, &m.gemm);
    int64_t symbol_max[IR_MAX_SYMBOLS] = {0};
    for (int s = 0; s < src->n_symbols; s++) symbol_max[s] = src->symbols[s].max;
    m.symbol_max = symbol_max;
    kt.m = &m;
    flatten_ctx fc = {.have_gemm = m.have_gemm, .symbol_max = symbol_max};

    if ((st = flatten_some(src, &fc, &g))) goto error;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (!llvm_supports(n)) {
            st = kiln_error(KILN_ERR_UNSUPPORTED, "cpu: op '%s' on %s at %s is not supported", ir_op_name(n->op),
                            kiln_dtype_get_info(n->dtype)->name, n->path ? n->path : "?");
            goto error;
        }
    }
    if ((st = cg_pack_init(&pack, g, m.have_gemm, ws))) goto error;
    if ((st = cg_program_build(g, cg_pack_source(&pack), head, llvm_alignment(), &p, &where))) goto error;
    if ((st = cg_pack_bound(&pack, g, p, where))) goto error;
    double t_build = now_s();
    p->backend = "cpu";
    int32_t n_launch = 0, n_arena = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        uint32_t f = ir_op_flags(g->nodes[i]->op);
        if (!(f & (IR_OPF_LEAF | IR_OPF_VIEW))) n_launch++;
        if (!(f & IR_OPF_LEAF) && where[i].space == RT_SPACE_ARENA) n_arena++;
    }
    p->launches = calloc((size_t)n_launch + 1, sizeof(rt_launch));
    p->arena_tensors = calloc((size_t)n_arena + 1, sizeof(rt_arena_tensor));
    if (!p->launches || !p->arena_tensors) goto oom;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        ir_dim b;
        if (!(ir_op_flags(n->op) & IR_OPF_LEAF) && where[i].space == RT_SPACE_ARENA && cg_tensor_bytes(n, &b))
            p->arena_tensors[p->n_arena_tensors++] = (rt_arena_tensor){where[i].offset, cg_expr(b)};
    }

    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        if (ir_op_flags(n->op) & (IR_OPF_LEAF | IR_OPF_VIEW)) continue;
        rt_launch *L = &p->launches[p->n_launches++];
        const char *kname = NULL;
        cg_node_plan plan = {.packed_b = cg_pack_matmul(m.have_gemm, n, where), .symbol_max = symbol_max};
        bool chunked = n->op == IR_OP_FUSED && n->p.fused_kind == IR_FUSED_CHUNKED, packed[IR_MAX_INPUTS] = {false}, packed_tb[IR_MAX_INPUTS];
        if (chunked) {   // a chunk kernel: its products read the packed copies of the weights it passes on
            for (int k = 0; k < n->n_inputs; k++)
                packed[k] = m.have_gemm && where[n->inputs[k]->id].space == RT_SPACE_WEIGHT && cg_llvm_chunked_packable(n, k, &packed_tb[k]);
            size_t scratch = 0;
            if ((st = cg_llvm_chunked_kernel(&kt, n, packed, symbol_max, &kname, &scratch))) goto error;
            p->workspace_bytes = KILN_MAX(p->workspace_bytes, scratch);
        } else if ((st = cg_llvm_kernel_for(&kt, n, &plan, &kname))) {
            goto error;
        }
        L->kernel = kiln_arena_strdup(p->arena, kname);
        char opname[48];   // "fused.chunked", as the interpreter names its launches
        snprintf(opname, sizeof(opname), "fused.%s", ir_fused_kind_name(n->p.fused_kind));
        L->op = n->op == IR_OP_FUSED && n->p.fused_kind ? kiln_arena_strdup(p->arena, opname) : ir_op_name(n->op);
        L->path = kiln_arena_strdup(p->arena, n->path);
        L->fn = kernel_unavailable;
        L->op_class = cg_node_class(n);
        L->flops = cg_flops(n);
        L->bytes = cg_bytes(n);
        L->step = i;
        if (!L->kernel) goto oom;
        int32_t n_dims = n->rank + (n->op == IR_OP_SLICE ? 2 : n->op == IR_OP_IOTA ? 1 : 0);
        for (int k = 0; k < n->n_inputs; k++) n_dims += n->inputs[k]->rank;
        L->dims = calloc((size_t)n_dims + 1, sizeof(rt_expr));
        if (!L->dims) goto oom;
        for (int k = 0; k <= n->n_inputs; k++) {
            const ir_node *t = k < n->n_inputs ? n->inputs[k] : n;
            for (int d = 0; d < t->rank; d++) L->dims[L->n_dims++] = cg_expr(t->shape[d]);
            L->args[L->n_args++] = where[t->id];
        }
        cg_gemm_region region;
        bool trans_b = n->op == IR_OP_FUSED && cg_llvm_gemm_region(n, &region) ? region.mm->p.trans_b : n->p.trans_b;
        if (plan.packed_b && (st = cg_pack_assign(&pack, p, &m.gemm, where[n->inputs[1]->id].index, trans_b, &L->args[1].index)))
            goto error;
        for (int k = 0; chunked && k < n->n_inputs; k++)
            if (packed[k] && (st = cg_pack_assign(&pack, p, &m.gemm, where[n->inputs[k]->id].index, packed_tb[k], &L->args[k].index)))
                goto error;
        if (n->op == IR_OP_SLICE) {
            L->dims[L->n_dims++] = cg_expr(n->p.start);
            L->dims[L->n_dims++] = cg_expr(n->p.end);
        } else if (n->op == IR_OP_IOTA) {
            L->dims[L->n_dims++] = cg_expr(n->p.start);
        }
    }
    p->n_kernels = kt.n;
    char *verr = NULL;
    if (LLVMVerifyModule(m.mod, LLVMReturnStatusAction, &verr)) {
        st = kiln_error(KILN_ERR_INTERNAL, "cpu: generated LLVM IR does not verify: %.600s", verr ? verr : "?");
        LLVMDisposeMessage(verr);
        goto error;
    }
    LLVMDisposeMessage(verr);
    double t_lower = now_s();
    if ((st = cg_llvm_optimize(m.mod, tm))) goto error;
    double t_opt = now_s();
    if ((st = cg_llvm_emit_object(m.mod, tm, NULL, &owner->objects[0], &owner->sizes[0]))) goto error;
    owner->n_objects = 1;
    if (gemm) {
        const void *gobj;
        size_t gsize;
        if ((st = cg_llvm_gemm_wait(gemm, &gobj, &gsize))) goto error;
        if (!(owner->objects[1] = malloc(gsize))) goto oom;
        memcpy(owner->objects[1], gobj, gsize);
        owner->sizes[1] = gsize;
        owner->n_objects = 2;
    }
    // The compiler's memory goes back to the system before the packed weights take theirs (after
    // JIT linking, the compiler's last use): the peak resident set is the larger of the two, not
    // their sum (BERT-base: 75 MB of LLVM state and 60 MB of its code against 326 MB of packed
    // weights).
    cg_gemm_config gemm_cfg = m.gemm;
    LLVMDisposeTargetMachine(tm);
    tm = NULL;
    cg_llvm_module_dispose(&m);
    table_free(&kt);
    double t_codegen = now_s();
    p->n_objects = owner->n_objects;
    for (int i = 0; i < owner->n_objects; i++) {
        p->objects[i] = owner->objects[i];
        p->object_sizes[i] = owner->sizes[i];
    }
    p->target_cpu = kiln_arena_strdup(p->arena, tgt.cpu);
    p->target_features = kiln_arena_strdup(p->arena, tgt.features);
    p->required_features = kiln_arena_strdup(p->arena, tgt.required);
    if (!p->target_cpu || !p->target_features || !p->required_features) goto oom;
    p->backend_owner = owner;
    p->backend_release = owner_release;
    owner = NULL;
    if (o.jit && tgt.host_ok && (st = jit_link(p->backend_owner, p))) goto error;
    double t_jit = now_s();
    if (o.jit) cg_llvm_release_memory();
    cg_llvm_owner *po = p->backend_owner;
    if ((st = cg_pack_run(&pack, p, &gemm_cfg))) goto error;
    cg_pack_take_region(&pack, &po->packed, &po->packed_bytes);
    double t_pack = now_s();
    p->times = (rt_compile_times){.build = t_build - t0, .lower = t_lower - t_build, .optimize = t_opt - t_lower,
                                  .codegen = t_codegen - t_opt, .jit = t_jit - t_codegen, .pack = t_pack - t_jit,
                                  .total = t_pack - t0};
    cg_llvm_target_free(&tgt);
    cg_pack_free(&pack);
    free(where);
    ir_graph_free(g);
    *out = p;
    return KILN_OK;
oom:
    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
error:
    if (p) p->weights_release = NULL;
    rt_program_free(p);
    if (owner && !owner->packed) cg_pack_take_region(&pack, &owner->packed, &owner->packed_bytes);
    owner_release(owner);
    if (tm) LLVMDisposeTargetMachine(tm);
    cg_llvm_module_dispose(&m);
    table_free(&kt);
    cg_llvm_target_free(&tgt);
    cg_pack_free(&pack);
    free(where);
    ir_graph_free(g);
    return st;
}

static kiln_status llvm_compile_default(const ir_graph *g, const cg_weight_source *ws, const rt_head *head, kiln_program **out) {
    cg_llvm_options o = {.jit = true};
    return cg_llvm_compile(g, ws, head, &o, out);
}

const kiln_backend cg_llvm_backend = {
    .name = "cpu",
    .supports = llvm_supports,
    .alignment = llvm_alignment,
    .compile = llvm_compile_default,
};
