/* pack.c — weights packed at compile time for kiln's GEMM (gemm.h's panel layout). Every packed
 * weight lives in one anonymous mapping, packing runs on all cores, and the original is dropped
 * as soon as nothing else reads it: the packed copy replaces it in memory and in saved artifacts.
 * The mapping asks for no transparent huge pages: with the kernel's usual defrag setting a
 * MADV_HUGEPAGE fault may compact memory first, which made BERT-base's packing take 0.1 to 0.46 s
 * instead of 0.13-0.16 s, and the model ran no faster with them (78 ms either way at 1 x 128).
 *
 * Weights read only by packable matmuls (or as gather tables, whose rows are copied with memcpy)
 * are not even bound by the program skeleton: binding copies any tensor that safetensors left
 * unaligned, a whole extra pass over the weights. The skeleton gets their pointer rounded down to
 * 64 bytes, which it only stores; the real pointer is put back before anything reads it.
 */
#define _GNU_SOURCE   // MAP_ANONYMOUS, MADV_POPULATE_READ
#include <sys/mman.h>
#include <unistd.h>

#include "codegen/llvm/llvm.h"
#include "codegen/llvm/pack.h"
#include "runtime/pool.h"

bool cg_pack_matmul(bool have_gemm, const ir_node *n, const rt_arg *where) {
    if (!have_gemm) return false;
    const ir_node *mm = n;
    cg_gemm_region r;
    if (n->op == IR_OP_FUSED && cg_llvm_gemm_region(n, &r)) mm = r.mm;   // the region's in0, in1 are n's
    if (mm->op != IR_OP_MATMUL || mm->p.trans_a) return false;
    const ir_node *b = n->inputs[1];
    bool weight = where ? where[b->id].space == RT_SPACE_WEIGHT : b->op == IR_OP_WEIGHT;
    return b->rank == 2 && b->dtype == KILN_F32 && n->inputs[0]->dtype == KILN_F32 && weight;
}

/* ---- handing a checkpoint's pages back ----
 * Packing reads weights from the checkpoint's mapping; those pages would stay resident beside the
 * packed copies (twice the weights in RSS). Pages of a file mapping can be dropped with
 * MADV_DONTNEED: the page cache keeps them, and a later read faults them back unchanged. On
 * anything else (a caller's malloc'd weights) DONTNEED would lose data, so the ranges are checked
 * against the read-only file mappings /proc/self/maps lists (elsewhere nothing is handed back). */

typedef struct file_ranges {
    int n;
    uintptr_t lo[512], hi[512];
} file_ranges;

static void read_file_ranges(file_ranges *fr) {
    fr->n = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return;
    char line[512];
    while (fr->n < 512 && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[16];
        // read-only file mappings only: a writable private page may hold changes DONTNEED would drop
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &inode) == 6 && inode != 0 && perms[1] != 'w') {
            fr->lo[fr->n] = lo;
            fr->hi[fr->n++] = hi;
        }
    }
    fclose(f);
}

static void page_out(const file_ranges *fr, const void *data, size_t bytes) {
    uintptr_t page = 4096, a = ((uintptr_t)data + page - 1) & ~(page - 1), e = ((uintptr_t)data + bytes) & ~(page - 1);
    for (int i = 0; fr && e > a && i < fr->n; i++)
        if (a >= fr->lo[i] && e <= fr->hi[i]) {
            madvise((void *)a, e - a, MADV_DONTNEED);
            return;
        }
}

/* ---- weights the skeleton need not bind ---- */

static void lazy_done(void *ctx, const void *data) {
    const cg_pack_plan *pp = ctx;
    if (pp->inner->done) pp->inner->done(pp->inner->ctx, data);
}

static kiln_status lazy_lookup(void *ctx, const ir_node *w, const void **data, kiln_dtype *dtype, size_t *bytes) {
    cg_pack_plan *pp = ctx;
    kiln_status st = pp->inner->lookup(pp->inner->ctx, w, data, dtype, bytes);
    if (st) return st;
    pp->real[w->id] = *data;
    pp->real_bytes[w->id] = *bytes;
    if (!pp->lazy[w->id] || *dtype != w->dtype) return st;   // widened f16/bf16 weights bind as usual
    pp->unbound[w->id] = true;
    *data = (const void *)((uintptr_t)*data & ~(uintptr_t)63);
    return KILN_OK;
}

kiln_status cg_pack_init(cg_pack_plan *pp, const ir_graph *g, bool have_gemm, const cg_weight_source *ws) {
    memset(pp, 0, sizeof(*pp));
    pp->inner = ws;
    pp->n_nodes = g->n_nodes;
    pp->lazy = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    pp->real = calloc((size_t)g->n_nodes + 1, sizeof(void *));
    pp->real_bytes = calloc((size_t)g->n_nodes + 1, sizeof(size_t));
    pp->unbound = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!pp->lazy || !pp->real || !pp->real_bytes || !pp->unbound) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    if (!ws || !ws->lookup) return KILN_OK;
    // A weight is lazy when every reader is a packable matmul taking it as B or a gather taking it
    // as its table (and it is no output).
    int32_t *readers = calloc((size_t)g->n_nodes + 1, sizeof(int32_t)), *packers = calloc((size_t)g->n_nodes + 1, sizeof(int32_t));
    if (!readers || !packers) {
        free(readers);
        free(packers);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) readers[n->inputs[k]->id]++;
        if (n->n_inputs >= 2 && cg_pack_matmul(have_gemm, n, NULL) && n->inputs[0] != n->inputs[1]) packers[n->inputs[1]->id]++;
        if (n->op == IR_OP_GATHER && n->inputs[0]->dtype == n->dtype) packers[n->inputs[0]->id]++;
        bool tb;
        for (int k = 0; have_gemm && n->op == IR_OP_FUSED && n->p.fused_kind == IR_FUSED_CHUNKED && k < n->n_inputs; k++)
            if (n->inputs[k]->op == IR_OP_WEIGHT && cg_llvm_chunked_region(n) && cg_llvm_chunked_packable(n, k, &tb)) packers[n->inputs[k]->id]++;
    }
    for (int o = 0; o < g->n_outputs; o++) readers[g->outputs[o].node->id] += 1000000;
    for (int i = 0; i < g->n_nodes; i++)
        pp->lazy[i] = g->nodes[i]->op == IR_OP_WEIGHT && packers[i] > 0 && packers[i] == readers[i];
    free(readers);
    free(packers);
    pp->source = *ws;
    pp->source.ctx = pp;
    pp->source.lookup = lazy_lookup;
    pp->source.done = ws->done ? lazy_done : NULL;
    return KILN_OK;
}

const cg_weight_source *cg_pack_source(const cg_pack_plan *pp) { return pp->source.lookup ? &pp->source : pp->inner; }

kiln_status cg_pack_bound(cg_pack_plan *pp, const ir_graph *g, kiln_program *p, const rt_arg *where) {
    // Weights the skeleton read only to join them (PACK_WEIGHTS operands) are not program weights:
    // their pages of the checkpoint's mapping can go.
    file_ranges *fr = malloc(sizeof(*fr));
    if (fr) read_file_ranges(fr);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == IR_OP_WEIGHT && pp->real[i] && where[i].space != RT_SPACE_WEIGHT) page_out(fr, pp->real[i], pp->real_bytes[i]);
    free(fr);
    for (int i = 0; i < g->n_nodes; i++) {
        if (!pp->unbound[i] || where[i].space != RT_SPACE_WEIGHT) continue;
        rt_weight *w = &p->weights[where[i].index];
        free(w->owned);   // in case the skeleton copied what it was handed
        w->owned = NULL;
        w->data = pp->real[i];
    }
    // Room for the packed copies: at most two per weight (W and Wᵀ layouts).
    pp->n_orig = p->n_weights;
    pp->slot = malloc(sizeof(int) * (size_t)(2 * pp->n_orig + 2));
    pp->jobs = malloc(sizeof(*pp->jobs) * (size_t)(2 * pp->n_orig + 2));
    rt_weight *grown = realloc(p->weights, sizeof(rt_weight) * (size_t)(3 * pp->n_orig + 1));
    if (!pp->slot || !pp->jobs || !grown) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    p->weights = grown;
    for (int i = 0; i < 2 * pp->n_orig + 2; i++) pp->slot[i] = -1;
    return KILN_OK;
}

kiln_status cg_pack_assign(cg_pack_plan *pp, kiln_program *p, const cg_gemm_config *cfg, int wi, bool trans_b, int32_t *index_out) {
    int s = 2 * wi + (trans_b ? 1 : 0);
    if (pp->slot[s] < 0) {
        const rt_weight *w = &p->weights[wi];
        int64_t N = trans_b ? w->shape[0] : w->shape[1], K = trans_b ? w->shape[1] : w->shape[0];
        size_t bytes = cg_gemm_packed_bytes(cfg, N, K);
        rt_weight *pw = &p->weights[p->n_weights];
        memset(pw, 0, sizeof(*pw));
        char name[256];
        snprintf(name, sizeof(name), "%s@packed%s", w->name, trans_b ? "" : "_t");
        pw->name = kiln_arena_strdup(p->arena, name);
        if (!pw->name) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
        pw->dtype = KILN_F32;
        pw->rank = 1;
        pw->shape[0] = (int64_t)(bytes / sizeof(float));
        pw->size_bytes = bytes;
        pp->jobs[pp->n_jobs++] = (cg_pack_job){.src = wi, .dst = p->n_weights, .trans_b = trans_b, .N = N, .K = K};
        pp->region_bytes += (bytes + 4095) & ~(size_t)4095;
        pp->slot[s] = p->n_weights++;
    }
    *index_out = pp->slot[s];
    return KILN_OK;
}

typedef struct pack_work {
    cg_pack_plan *pp;
    kiln_program *p;
    const cg_gemm_config *cfg;
    const bool *used;   // (n_weights) weights some launch or output reads after packing
    int *left;          // (n_weights) packing jobs still to read each weight
    const file_ranges *files;
    int failed;
} pack_work;



static void pack_range(void *ctx, int64_t begin, int64_t end) {
    pack_work *pw = ctx;
    for (int64_t j = begin; j < end; j++) {
        const cg_pack_job *job = &pw->pp->jobs[j];
        const float *src = pw->p->weights[job->src].data;
#ifdef MADV_POPULATE_READ
        // One call maps the source's pages (a mapped checkpoint) instead of a fault per page.
        uintptr_t a = (uintptr_t)src & ~(uintptr_t)4095, e = (uintptr_t)src + pw->p->weights[job->src].size_bytes;
        madvise((void *)a, e - a, MADV_POPULATE_READ);
#endif
        float *tmp = NULL;
        if (!job->trans_b) {   // W [K, N]: the packer reads rows of Wᵀ
            tmp = malloc((size_t)(job->N * job->K) * sizeof(float) + 1);
            if (!tmp) {
                pw->failed = 1;
                continue;
            }
            for (int64_t k = 0; k < job->K; k++)
                for (int64_t n = 0; n < job->N; n++) tmp[n * job->K + k] = src[k * job->N + n];
            src = tmp;
        }
        cg_gemm_pack_weight(pw->cfg, src, job->N, job->K, (float *)pw->p->weights[job->dst].data);
        free(tmp);
        // The original goes as soon as its last packing job is done, so that originals and packed
        // copies are never all resident at once (BERT-base's joined Q, K, V alone are 81 MB).
        rt_weight *orig = &pw->p->weights[job->src];
        if (pw->used[job->src] || __atomic_sub_fetch(&pw->left[job->src], 1, __ATOMIC_ACQ_REL) > 0) continue;
        if (orig->owned) {
            free(orig->owned);
            orig->owned = NULL;
        } else {
            page_out(pw->files, orig->data, orig->size_bytes);
        }
    }
}

static void unmap_region(void *addr, size_t size) {
    if (addr) munmap(addr, size);
}

kiln_status cg_pack_run(cg_pack_plan *pp, kiln_program *p, const cg_gemm_config *cfg) {
    if (!pp->n_jobs) return KILN_OK;
    void *region = mmap(NULL, pp->region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: cannot map %zu bytes for packed weights", pp->region_bytes);
    pp->region = region;
    size_t at = 0;
    for (int j = 0; j < pp->n_jobs; j++) {
        rt_weight *w = &p->weights[pp->jobs[j].dst];
        w->data = (char *)region + at;
        at += (w->size_bytes + 4095) & ~(size_t)4095;
    }
    // Which originals something still reads once packed: the others are dropped.
    bool *used = calloc((size_t)p->n_weights + 1, sizeof(bool));
    int *left = calloc((size_t)p->n_weights + 1, sizeof(int));
    if (!used || !left) {
        free(used);
        free(left);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    }
    for (int j = 0; j < pp->n_jobs; j++) left[pp->jobs[j].src]++;
    for (int l = 0; l < p->n_launches; l++)
        for (int a = 0; a < p->launches[l].n_args; a++)
            if (p->launches[l].args[a].space == RT_SPACE_WEIGHT) used[p->launches[l].args[a].index] = true;
    for (int o = 0; o < p->n_outputs; o++)
        if (p->outputs[o].where.space == RT_SPACE_WEIGHT) used[p->outputs[o].where.index] = true;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    rt_pool *pool = rt_pool_create(cores > 1 ? (int)KILN_MIN(cores, 8) : 1);
    file_ranges *fr = malloc(sizeof(*fr));
    if (fr) read_file_ranges(fr);
    pack_work work = {.pp = pp, .p = p, .cfg = cfg, .used = used, .left = left, .files = fr};
    rt_parallel_for(pool, pp->n_jobs, 1, pack_range, &work);
    rt_pool_free(pool);
    free(fr);
    free(left);
    if (work.failed) {
        free(used);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory packing weights");
    }
    for (int j = 0; j < pp->n_jobs; j++) {
        rt_weight *w = &p->weights[pp->jobs[j].src];
        if (used[pp->jobs[j].src] || !w->data) continue;
        free(w->owned);
        w->owned = NULL;
        w->data = NULL;
        w->size_bytes = 0;
        w->rank = 1;
        w->shape[0] = 0;
    }
    free(used);
    return KILN_OK;
}

void cg_pack_take_region(cg_pack_plan *pp, void **addr, size_t *size) {
    *addr = pp->region;
    *size = pp->region_bytes;
    pp->region = NULL;
}

void cg_pack_free(cg_pack_plan *pp) {
    unmap_region(pp->region, pp->region_bytes);
    free(pp->lazy);
    free(pp->real);
    free(pp->real_bytes);
    free(pp->unbound);
    free(pp->slot);
    free(pp->jobs);
    memset(pp, 0, sizeof(*pp));
}
