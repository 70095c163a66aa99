/* chunked.c — FUSED CHUNKED regions (the feed-forward block of chunk_ffn) as one kernel that runs
 * the body `chunk` rows at a time, as the interpreter's chunk_run does (rows = every leading dim
 * flattened). The body is first regrouped into steps the backend already has kernels for: a
 * matmul and its element-wise epilogue (bias, activation) become one FUSED GEMM step — the
 * product finished in kiln's GEMM on the packed weight — and any other op is a step of its own.
 * Each step is an ordinary kernel (runtime ABI, deduplicated by signature with the rest of the
 * program); the chunk kernel builds an rt_kernel_call per step and block on row-offset views and
 * calls it, so the body kernels keep their split over the pool. Intermediates live in one
 * scratch of [chunk x width] slots (the program's temporaries), allocated per run.
 */
#include "codegen/llvm/llvm.h"

#define CK_MAX_NODES 32
#define CK_MAX_EPILOGUE 8

enum { CK_ROWS, CK_WHOLE, CK_SCRATCH, CK_OUT, CK_CONST };

typedef struct ck_src {
    int32_t kind;
    int32_t index;           // CK_ROWS, CK_WHOLE: region input; CK_CONST: the plan's constant
    size_t offset;           // CK_SCRATCH
    int64_t row_bytes;       // CK_ROWS, CK_SCRATCH, CK_OUT
} ck_src;

typedef struct ck_step {
    const ir_node *node;     // in the plan's graph: a FUSED GEMM region or a plain op of rank-2 rows
    cg_node_plan plan;
    const char *kernel;
    int32_t n_args;
    ck_src args[IR_MAX_INPUTS + 1];
    int32_t n_dims;
    int64_t dims[(IR_MAX_INPUTS + 1) * IR_MAX_RANK];   // -1: the block's rows
} ck_step;

typedef struct ck_plan {
    ir_graph *sg;            // the steps' nodes (its own arena)
    int32_t n_steps;
    ck_step steps[CK_MAX_NODES];
    int64_t chunk;           // rows per block
    size_t scratch;          // bytes of scratch
    int out_rank, n_in_dims;
    int64_t in_rank[IR_MAX_INPUTS];
    int32_t n_rows, n_consts;
    const ir_node *row_nodes[2 * CK_MAX_NODES];   // nodes of sg seen as [rows, width]
    const ir_node *consts[CK_MAX_NODES];
} ck_plan;

/* ---- what is lowered ---- */

static bool is_one(ir_dim d) {
    int64_t v;
    return ir_dim_is_const(d, &v) && v == 1;
}

static bool all_const(const ir_node *t) {
    for (int d = 0; d < t->rank; d++)
        if (!ir_dim_is_const(t->shape[d], NULL)) return false;
    return true;
}

// Row view: leading dims are the output's (the interpreter's rule); seen as [rows, last].
static bool row_aligned(const ir_node *t, const ir_node *out) {
    if (t->rank != out->rank || t->rank < 2) return false;
    for (int d = 0; d < t->rank - 1; d++)
        if (!ir_dim_eq(t->shape[d], out->shape[d])) return false;
    return true;
}

static int input_index(const ir_node *n) {
    int k = -1;
    if (n->op != IR_OP_INPUT || !n->name || sscanf(n->name, "in%d", &k) != 1) return -1;
    return k;
}

// A tensor read whole by every block: constant shape, and repeated over rows (leading dims 1).
static bool broadcast_leaf(const ir_node *t, const ir_node *x, const ir_node *out) {
    if ((t->op != IR_OP_INPUT && t->op != IR_OP_CONST) || row_aligned(t, out) || !all_const(t) || t->rank > x->rank) return false;
    for (int d = 0; d < t->rank - 1; d++)
        if (!is_one(t->shape[d])) return false;
    return t->rank == 0 || is_one(t->shape[t->rank - 1]) || ir_dim_eq(t->shape[t->rank - 1], x->shape[x->rank - 1]);
}

static bool step_op_ok(const ir_node *x, const ir_node *out) {
    if (!row_aligned(x, out) || x->dtype != KILN_F32 || !ir_dim_is_const(x->shape[x->rank - 1], NULL)) return false;
    for (int k = 0; k < x->n_inputs; k++)
        if (x->inputs[k]->dtype != KILN_F32) return false;
    switch (x->op) {
    case IR_OP_MATMUL: {
        const ir_node *w = x->inputs[1];
        return !x->p.trans_a && row_aligned(x->inputs[0], out) && input_index(w) >= 0 && w->rank == 2 && !row_aligned(w, out) &&
               all_const(w);
    }
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
        if (!row_aligned(x->inputs[0], out)) return false;
        for (int k = 1; k < x->n_inputs; k++)
            if (input_index(x->inputs[k]) < 0 || x->inputs[k]->rank != 1) return false;
        return true;
    case IR_OP_SOFTMAX: return x->p.axis == x->rank - 1 && row_aligned(x->inputs[0], out);
    default:
        if (!(ir_op_flags(x->op) & IR_OPF_ELEMENTWISE)) return false;
        for (int k = 0; k < x->n_inputs; k++) {
            const ir_node *a = x->inputs[k];
            bool rows = row_aligned(a, out) && ir_dim_eq(a->shape[a->rank - 1], x->shape[x->rank - 1]);
            if (!rows && !broadcast_leaf(a, x, out)) return false;
        }
        return true;
    }
}

bool cg_llvm_chunked_region(const ir_node *n) {
    if (n->op != IR_OP_FUSED || n->p.fused_kind != IR_FUSED_CHUNKED || n->p.chunk <= 0 || !n->p.body) return false;
    const ir_graph *body = n->p.body;
    if (body->n_outputs != 1 || body->n_nodes > CK_MAX_NODES || n->n_inputs > IR_MAX_INPUTS) return false;
    const ir_node *out = body->outputs[0].node;
    if (out->op == IR_OP_INPUT || out->op == IR_OP_CONST || out->rank < 2 || out->rank != n->rank) return false;
    for (int i = 0; i < body->n_nodes; i++) {
        const ir_node *x = body->nodes[i];
        if (x->op == IR_OP_INPUT) {
            if (input_index(x) < 0) return false;
        } else if (x->op == IR_OP_CONST) {
            if (row_aligned(x, out) || !all_const(x) || x->dtype != KILN_F32) return false;
        } else if (!step_op_ok(x, out)) {
            return false;
        }
    }
    return true;
}

bool cg_llvm_chunked_packable(const ir_node *n, int k, bool *trans_b_out) {
    const ir_graph *body = n->p.body;
    const ir_node *in = NULL;
    for (int i = 0; i < body->n_nodes && !in; i++)
        if (input_index(body->nodes[i]) == k) in = body->nodes[i];
    if (!in || in->rank != 2 || in->dtype != KILN_F32) return false;
    int uses = 0, as_b = 0;
    bool tb = false;
    for (int i = 0; i < body->n_nodes; i++) {
        const ir_node *x = body->nodes[i];
        for (int a = 0; a < x->n_inputs; a++) {
            if (x->inputs[a] != in) continue;
            uses++;
            if (x->op == IR_OP_MATMUL && a == 1 && !x->p.trans_a && x->inputs[0] != in && (as_b == 0 || x->p.trans_b == tb)) {
                as_b++;
                tb = x->p.trans_b;
            }
        }
    }
    for (int o = 0; o < body->n_outputs; o++) uses += body->outputs[o].node == in;
    *trans_b_out = tb;
    return uses > 0 && uses == as_b;
}

/* ---- the steps ---- */

static int readers(const ir_graph *body, const ir_node *x) {
    int r = 0;
    for (int i = 0; i < body->n_nodes; i++)
        for (int k = 0; k < body->nodes[i]->n_inputs; k++) r += body->nodes[i]->inputs[k] == x;
    for (int o = 0; o < body->n_outputs; o++) r += body->outputs[o].node == x;
    return r;
}

static const ir_node *only_reader(const ir_graph *body, const ir_node *x) {
    if (readers(body, x) != 1) return NULL;
    for (int i = 0; i < body->n_nodes; i++)
        for (int k = 0; k < body->nodes[i]->n_inputs; k++)
            if (body->nodes[i]->inputs[k] == x) return body->nodes[i];
    return NULL;   // the body's output
}

// A copy of body node `x` in `g` reading `ins`, row-aligned tensors as [rows, width].
static ir_node *clone(ir_graph *g, const ir_node *x, ir_node *const *ins, ir_dim rows, bool row) {
    ir_node proto = *x;
    proto.flags &= ~(uint32_t)IR_NODE_OUTPUT;
    for (int k = 0; k < x->n_inputs; k++) proto.inputs[k] = ins[k];
    if (row) {
        proto.rank = 2;
        proto.shape[0] = rows;
        proto.shape[1] = x->shape[x->rank - 1];
        if (x->op == IR_OP_SOFTMAX) proto.p.axis = 1;
    }
    return ir_node_append(g, &proto);
}

// The matmul `mm` and its epilogue chain[0..n) as one FUSED GEMM node of `sg`; NULL when the GEMM
// emitter would not take it whole.
static ir_node *gemm_step(ir_graph *sg, const ir_node *const *chain, int n, ir_node *const *map, ir_dim rows) {
    ir_graph *gb = ir_graph_create_body(sg);
    if (!gb) return NULL;
    const ir_node *mm = chain[0];
    ir_node *ops[IR_MAX_INPUTS], *bin[IR_MAX_INPUTS];
    int n_ops = 0;
    char name[16];
    for (int k = 0; k < 2; k++) {
        const ir_node *src = mm->inputs[k];
        ir_node *s = map[src->id];
        snprintf(name, sizeof(name), "in%d", n_ops);
        bin[n_ops] = ir_input(gb, name, s->dtype, s->rank, s->shape);
        ops[n_ops++] = s;
    }
    ir_node *prev = clone(gb, mm, bin, rows, true);
    for (int c = 1; c < n && prev; c++) {
        const ir_node *e = chain[c];
        ir_node *ins[3];
        for (int k = 0; k < e->n_inputs; k++) {
            const ir_node *a = e->inputs[k];
            if (a == chain[c - 1]) {
                ins[k] = prev;
                continue;
            }
            ir_node *s = map[a->id];
            int found = -1;
            for (int j = 2; j < n_ops; j++)
                if (ops[j] == s) found = j;
            if (found < 0) {
                if (n_ops == IR_MAX_INPUTS) return NULL;
                snprintf(name, sizeof(name), "in%d", n_ops);
                bin[n_ops] = ir_input(gb, name, s->dtype, s->rank, s->shape);
                ops[n_ops] = s;
                found = n_ops++;
            }
            ins[k] = bin[found];
        }
        prev = clone(gb, e, ins, rows, true);
    }
    if (!prev || ir_graph_add_output(gb, "out", prev)) return NULL;
    ir_node *f = ir_fused(sg, gb, n_ops, ops);
    if (!f) return NULL;
    f->p.fused_kind = IR_FUSED_GEMM;
    f->path = mm->path;
    cg_gemm_region r;
    return cg_llvm_gemm_region(f, &r) ? f : NULL;
}

static kiln_status ck_build(const ir_node *n, const bool *packed, const int64_t *symbol_max, ck_plan *pl) {
    memset(pl, 0, sizeof(*pl));
    const ir_graph *body = n->p.body;
    const ir_node *out = body->outputs[0].node;
    int32_t nb = body->n_nodes;
    pl->sg = ir_graph_create();
    if (!pl->sg) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    ir_dim rows = out->shape[0];
    for (int d = 1; d < out->rank - 1; d++)
        if (!ir_dim_mul(rows, out->shape[d], &rows)) rows = out->shape[out->rank - 2];
    int64_t rows_max = 1;
    for (int d = 0; d < n->rank - 1; d++) rows_max *= KILN_MAX(ir_dim_eval(n->shape[d], symbol_max), 1);
    pl->chunk = KILN_MIN(n->p.chunk, rows_max);
    pl->out_rank = n->rank;
    for (int k = 0; k < n->n_inputs; k++) {
        pl->in_rank[k] = n->inputs[k]->rank;
        pl->n_in_dims += n->inputs[k]->rank;
    }
    ir_node *map[CK_MAX_NODES] = {NULL};   // body node id -> its value in sg
    bool taken[CK_MAX_NODES] = {false};
    ir_graph *sg = pl->sg;
    for (int i = 0; i < nb; i++) {
        const ir_node *x = body->nodes[i];
        if (taken[i]) continue;
        if (x->op == IR_OP_INPUT) {
            if (row_aligned(x, out)) {
                ir_dim shape[2] = {rows, x->shape[x->rank - 1]};
                pl->row_nodes[pl->n_rows++] = map[i] = ir_input(sg, x->name, x->dtype, 2, shape);
            } else {
                map[i] = ir_input(sg, x->name, x->dtype, x->rank, x->shape);
            }
            continue;
        }
        if (x->op == IR_OP_CONST) {
            map[i] = clone(sg, x, NULL, rows, false);
            continue;
        }
        ir_node *ins[IR_MAX_INPUTS];
        for (int k = 0; k < x->n_inputs; k++) ins[k] = map[x->inputs[k]->id];
        const ir_node *chain[CK_MAX_EPILOGUE + 1] = {x};
        int len = 1;
        ir_node *s = NULL;
        if (x->op == IR_OP_MATMUL) {
            const ir_node *e = x, *next;
            while (len <= CK_MAX_EPILOGUE && e != out && (next = only_reader(body, e)) && (ir_op_flags(next->op) & IR_OPF_ELEMENTWISE) &&
                   next->rank == x->rank && ir_dim_eq(next->shape[next->rank - 1], x->shape[x->rank - 1])) {
                bool leaves = true;
                for (int k = 0; k < next->n_inputs; k++)
                    if (next->inputs[k] != e && !broadcast_leaf(next->inputs[k], next, out)) leaves = false;
                if (!leaves) break;
                chain[len++] = e = next;
            }
            if (len > 1 && !(s = gemm_step(sg, chain, len, map, rows))) len = 1;
        }
        if (!s) s = clone(sg, x, ins, rows, true);
        if (!s || sg->status) {
            kiln_status st = sg->status ? sg->status : kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
            ir_graph_free(sg);
            pl->sg = NULL;
            return st;
        }
        for (int c = 0; c < len; c++) taken[chain[c]->id] = true;
        map[chain[len - 1]->id] = s;
        pl->steps[pl->n_steps++].node = s;
        pl->row_nodes[pl->n_rows++] = s;
    }
    // Sources of every step's operands; scratch slots for the intermediates at `chunk` rows, an
    // element-wise op writing over a same-shaped operand that dies there (kernels allow out == in).
    const ir_node *result = map[out->id];
    cg_live live[CK_MAX_NODES];
    int slot[CK_MAX_NODES];
    int32_t n_live = 0;
    for (int s = 0; s < pl->n_steps; s++) {
        const ir_node *x = pl->steps[s].node;
        slot[s] = -1;
        if (x == result) continue;
        int last = s;
        for (int j = s + 1; j < pl->n_steps; j++)
            for (int k = 0; k < pl->steps[j].node->n_inputs; k++)
                if (pl->steps[j].node->inputs[k] == x) last = j;
        if (x->op != IR_OP_FUSED && (ir_op_flags(x->op) & IR_OPF_ELEMENTWISE)) {
            for (int k = 0; k < x->n_inputs && slot[s] < 0; k++)
                for (int j = 0; j < s; j++)
                    if (pl->steps[j].node == x->inputs[k] && slot[j] >= 0 && live[slot[j]].last == s && x->inputs[k]->rank == 2 &&
                        ir_dim_eq(x->inputs[k]->shape[1], x->shape[1])) {
                        slot[s] = slot[j];
                        live[slot[s]].last = last;
                        break;
                    }
            if (slot[s] >= 0) continue;
        }
        int64_t width;
        ir_dim_is_const(x->shape[1], &width);
        live[n_live] = (cg_live){.first = s, .last = last, .size = (size_t)(pl->chunk * width) * sizeof(float)};
        slot[s] = n_live++;
    }
    pl->scratch = n_live ? cg_plan_arena(live, n_live, 64) : 0;
    for (int s = 0; s < pl->n_steps; s++) {
        ck_step *st = &pl->steps[s];
        const ir_node *x = st->node;
        for (int k = 0; k <= x->n_inputs; k++) {
            const ir_node *t = k < x->n_inputs ? x->inputs[k] : x;
            ck_src *a = &st->args[st->n_args++];
            bool row = false;
            for (int j = 0; j < pl->n_rows; j++) row |= pl->row_nodes[j] == t;
            int64_t width = 0;
            if (row) ir_dim_is_const(t->shape[1], &width);
            a->row_bytes = width * (int64_t)sizeof(float);
            if (t == result) {
                a->kind = CK_OUT;
            } else if (t->op == IR_OP_INPUT) {
                a->index = input_index(t);
                a->kind = row ? CK_ROWS : CK_WHOLE;
            } else if (t->op == IR_OP_CONST) {
                a->kind = CK_CONST;
                a->index = -1;
                for (int j = 0; j < pl->n_consts; j++)
                    if (pl->consts[j] == t) a->index = j;
                if (a->index < 0) {
                    a->index = pl->n_consts;
                    pl->consts[pl->n_consts++] = t;
                }
            } else {
                int j = 0;
                while (j < s && pl->steps[j].node != t) j++;   // an earlier step, or this one's output
                a->kind = CK_SCRATCH;
                KILN_ASSERT(pl->steps[j].node == t && slot[j] >= 0);
                a->offset = live[slot[j]].offset;
            }
            if (row) {
                st->dims[st->n_dims++] = -1;
                st->dims[st->n_dims++] = width;
            } else {
                for (int d = 0; d < t->rank; d++) ir_dim_is_const(t->shape[d], &st->dims[st->n_dims++]);
            }
        }
        // B of the product is the weight's packed copy when the launch passes that.
        const ir_node *mm = x;
        cg_gemm_region r;
        if (x->op == IR_OP_FUSED && cg_llvm_gemm_region(x, &r)) mm = r.mm;
        st->plan.symbol_max = symbol_max;
        st->plan.packed_b = mm->op == IR_OP_MATMUL && packed && st->args[1].kind == CK_WHOLE && packed[st->args[1].index];
    }
    return KILN_OK;
}

/* ---- the kernel ---- */

static size_t const_bytes(const ir_node *c) {
    ir_dim numel;
    int64_t count = 1;
    if (ir_node_numel(c, &numel)) ir_dim_is_const(numel, &count);
    return kiln_dtype_bytes(c->dtype, count);
}

typedef struct ck_emit {
    const ck_plan *pl;
    const ir_node *n;
} ck_emit;

static kiln_status emit_chunked(cg_kb *k, void *ud) {
    const ck_emit *ce = ud;
    const ck_plan *pl = ce->pl;
    cg_llvm_module *m = k->m;
    LLVMTypeRef i64 = m->t_i64, ptr = m->t_ptr, i8 = m->t_i8;
    LLVMValueRef zero = cg_kb_i64(k, 0);
    LLVMValueRef rows = cg_kb_i64(k, 1);
    for (int d = 0; d < pl->out_rank - 1; d++) rows = cg_kb_mul(k, rows, cg_kb_dim(k, pl->n_in_dims + d));
    cg_if empty;
    cg_if_begin(k, &empty, LLVMBuildICmp(k->b, LLVMIntSLE, rows, zero, ""), "empty");
    LLVMBuildRet(k->b, cg_kb_i32(k, KILN_OK));
    cg_if_end(k, &empty);
    LLVMValueRef scratch = LLVMConstNull(ptr);
    LLVMTypeRef free_params[1] = {ptr};
    if (pl->scratch) {
        LLVMTypeRef params[2] = {i64, i64};
        LLVMValueRef args[2] = {cg_kb_i64(k, 64), cg_kb_i64(k, (int64_t)((pl->scratch + 63) / 64 * 64))};
        scratch = cg_kb_call_ext(k, "aligned_alloc", ptr, params, 2, false, args, 2);
        cg_kb_fail_if(k, LLVMBuildIsNull(k->b, scratch, ""), KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for a chunk's scratch (%lld bytes)",
                      args[1], NULL, NULL);
    }
    LLVMValueRef in_ptr[IR_MAX_INPUTS];
    for (int i = 0; i < ce->n->n_inputs; i++) in_ptr[i] = cg_kb_arg(k, i);
    LLVMValueRef out_ptr = cg_kb_arg(k, ce->n->n_inputs);
    LLVMValueRef pool = cg_kb_pool(k);
    LLVMValueRef path = LLVMBuildLoad2(k->b, ptr, LLVMBuildStructGEP2(k->b, m->t_call, k->call, 6, ""), "path");
    // Constants of the body, as private globals.
    LLVMValueRef consts[CK_MAX_NODES];
    for (int c = 0; c < pl->n_consts; c++) {
        LLVMValueRef init = LLVMConstStringInContext(m->ctx, pl->consts[c]->p.data, (unsigned)const_bytes(pl->consts[c]), true);
        LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMTypeOf(init), ".chunk_const");
        LLVMSetInitializer(g, init);
        LLVMSetGlobalConstant(g, true);
        LLVMSetLinkage(g, LLVMPrivateLinkage);
        LLVMSetAlignment(g, 64);
        consts[c] = g;
    }
    LLVMValueRef chunk = cg_kb_i64(k, pl->chunk);
    LLVMValueRef n_blocks = LLVMBuildSDiv(k->b, cg_kb_add(k, rows, cg_kb_i64(k, pl->chunk - 1)), chunk, "blocks");
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    cg_loop blk;
    cg_loop_begin(k, &blk, zero, n_blocks, "block");
    LLVMValueRef r0 = cg_kb_mul(k, blk.iv, chunk), left = LLVMBuildSub(k->b, rows, r0, "");
    LLVMValueRef r = LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, left, chunk, ""), left, chunk, "rows");
    for (int s = 0; s < pl->n_steps; s++) {
        const ck_step *st = &pl->steps[s];
        LLVMValueRef argv = cg_kb_var(k, LLVMArrayType(ptr, (unsigned)st->n_args), "step_args");
        LLVMValueRef dimv = cg_kb_var(k, LLVMArrayType(i64, (unsigned)KILN_MAX(st->n_dims, 1)), "step_dims");
        LLVMValueRef callv = cg_kb_var(k, m->t_call, "step_call");
        for (int a = 0; a < st->n_args; a++) {
            const ck_src *src = &st->args[a];
            LLVMValueRef p;
            LLVMValueRef row_off = cg_kb_mul(k, r0, cg_kb_i64(k, src->row_bytes));
            switch (src->kind) {
            case CK_ROWS: p = cg_kb_gep(k, i8, in_ptr[src->index], row_off); break;
            case CK_WHOLE: p = in_ptr[src->index]; break;
            case CK_SCRATCH: p = cg_kb_gep(k, i8, scratch, cg_kb_i64(k, (int64_t)src->offset)); break;
            case CK_CONST: p = consts[src->index]; break;
            default: p = cg_kb_gep(k, i8, out_ptr, row_off); break;
            }
            LLVMBuildStore(k->b, p, cg_kb_gep(k, ptr, argv, cg_kb_i64(k, a)));
        }
        for (int d = 0; d < st->n_dims; d++)
            LLVMBuildStore(k->b, st->dims[d] < 0 ? r : cg_kb_i64(k, st->dims[d]), cg_kb_gep(k, i64, dimv, cg_kb_i64(k, d)));
        LLVMValueRef fields[7] = {argv, cg_kb_i32(k, st->n_args), dimv, cg_kb_i32(k, st->n_dims), LLVMConstNull(ptr), pool, path};
        for (unsigned f = 0; f < 7; f++) LLVMBuildStore(k->b, fields[f], LLVMBuildStructGEP2(k->b, m->t_call, callv, f, ""));
        LLVMValueRef fn = LLVMGetNamedFunction(m->mod, st->kernel);
        KILN_ASSERT(fn != NULL);
        // Not inlined: a kernel reads its call block with invariant loads, and this block is
        // rewritten for every step and block.
        LLVMValueRef status = LLVMBuildCall2(k->b, m->t_kernel, fn, &callv, 1, "status");
        LLVMAddCallSiteAttribute(status, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(m->ctx, noinline, 0));
        cg_if fail;
        cg_if_begin(k, &fail, LLVMBuildICmp(k->b, LLVMIntNE, status, cg_kb_i32(k, KILN_OK), ""), "step_failed");
        if (pl->scratch) cg_kb_call_ext(k, "free", m->t_void, free_params, 1, false, &scratch, 1);
        LLVMBuildRet(k->b, status);
        cg_if_end(k, &fail);
    }
    cg_loop_end(k, &blk);
    if (pl->scratch) cg_kb_call_ext(k, "free", m->t_void, free_params, 1, false, &scratch, 1);
    return KILN_OK;
}

kiln_status cg_llvm_chunked_kernel(cg_kernel_cache *cache, const ir_node *n, const bool *packed, const int64_t *symbol_max,
                                   const char **name_out, size_t *scratch_out) {
    ck_plan *pl = calloc(1, sizeof(*pl));
    if (!pl) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    kiln_status st = ck_build(n, packed, symbol_max, pl);
    kiln_strbuf sb = {0};
    if (!st) kiln_strbuf_printf(&sb, "chunked r%d i%d chunk=%lld scratch=%zu", n->rank, n->n_inputs, (long long)pl->chunk, pl->scratch);
    for (int k = 0; !st && k < n->n_inputs; k++) kiln_strbuf_printf(&sb, ":%lld", (long long)pl->in_rank[k]);
    for (int s = 0; !st && s < pl->n_steps; s++) {
        ck_step *step = &pl->steps[s];
        if ((st = cg_llvm_kernel_for(cache, step->node, &step->plan, &step->kernel))) break;
        kiln_strbuf_printf(&sb, " {%s", step->kernel);
        for (int a = 0; a < step->n_args; a++) {
            const ck_src *src = &step->args[a];
            kiln_strbuf_printf(&sb, " %d:%d:%zu:%lld", src->kind, src->index, src->offset, (long long)src->row_bytes);
            if (src->kind == CK_CONST) {   // the constant's bytes are part of the kernel
                const ir_node *c = pl->consts[src->index];
                const uint8_t *bytes = c->p.data;
                kiln_strbuf_printf(&sb, "=");
                for (size_t b = 0; b < const_bytes(c); b++) kiln_strbuf_printf(&sb, "%02x", bytes[b]);
            }
        }
        kiln_strbuf_printf(&sb, " d");
        for (int d = 0; d < step->n_dims; d++) kiln_strbuf_printf(&sb, ",%lld", (long long)step->dims[d]);
        kiln_strbuf_printf(&sb, "}");
    }
    if (!st && sb.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory");
    if (!st) {
        ck_emit ce = {.pl = pl, .n = n};
        st = cg_llvm_kernel_by_signature(cache, sb.data, emit_chunked, &ce, name_out);
    }
    *scratch_out = pl->scratch;
    kiln_strbuf_free(&sb);
    ir_graph_free(pl->sg);
    free(pl);
    return st;
}
