/* fused.c — the interpreter's kernels for the regions the passes fuse, one launch each:
 *   elementwise  the body evaluated one output element at a time (no intermediate tensors);
 *   gemm         cblas_sgemm into the output, then the epilogue applied in place, element-wise;
 *   norm         the prologue evaluated one row at a time into a row buffer, then LayerNorm/RMSNorm;
 *   attention    per (batch, head): query tiles x key tiles, scores by sgemm, online softmax
 *                (running max and sum), P·V accumulated: scratch O(tile²), no [seq x seq];
 *   chunked      the body's ops run on `chunk` rows at a time, intermediates in a chunk-sized
 *                scratch (the feed-forward block).
 * Element-wise arithmetic is the element-wise kernels' own, op for op, so elementwise, gemm and
 * norm regions give the bits their unfused ops give. Attention and chunked regions sum in another
 * order than the unfused ops, and agree to float rounding.
 */
#include "codegen/interp/interp.h"

#include <cblas.h>
#include <math.h>

#include "runtime/pool.h"

#define ATTN_DEFAULT_TILE 64     // query rows per tile when the region leaves it to the backend
#define ATTN_KEY_TILE 128        // key rows per tile
#define ATTN_MAX_SLOTS 16        // (batch, head) pairs in flight, each with its own scratch

/* ---- element-wise programs ---- */

typedef union ew_val {
    float f;     // F32
    int64_t i;   // I32 (as stored), I64, BOOL (0/1)
} ew_val;

enum { SLOT_INPUT, SLOT_CONST, SLOT_SELF };   // SELF: the output's own element (a GEMM's product)

typedef struct ew_slot {
    int32_t kind, input;     // SLOT_INPUT: the region's input index
    kiln_dtype dtype;
    ew_val value;            // SLOT_CONST
} ew_slot;

typedef struct ew_step {
    ir_op op;
    kiln_dtype dtype;
    int32_t n_in;
    int32_t in[3];           // >= 0: an earlier step; < 0: slot -1 - in
} ew_step;

typedef struct ew_prog {
    int32_t n_slots, n_steps;
    ew_slot *slots;
    ew_step *steps;
    int32_t result;          // the value the program produces (a step, or -1 - slot)
} ew_prog;

typedef struct chunk_arg {
    int32_t kind;            // CHUNK_ROWS / CHUNK_WHOLE: region input `index`; CHUNK_SCRATCH: at `offset`; CHUNK_OUT
    int32_t index;
    int64_t offset;
    int64_t row_bytes;       // CHUNK_ROWS, CHUNK_OUT: bytes per row
} chunk_arg;

enum { CHUNK_ROWS, CHUNK_WHOLE, CHUNK_SCRATCH, CHUNK_OUT, CHUNK_CONST };

typedef struct chunk_op {
    cg_interp_params prm;
    int32_t n_args;
    chunk_arg args[IR_MAX_INPUTS + 1];
    const void *const_data[IR_MAX_INPUTS + 1];   // CHUNK_CONST operands
    int32_t n_dims;
    int64_t dims[(IR_MAX_INPUTS + 1) * IR_MAX_RANK];   // -1: the chunk's rows
    const char *path;
} chunk_op;

struct interp_fused {
    int32_t kind;
    ew_prog ew;              // elementwise: the body; gemm: the epilogue; norm: the prologue
    bool trans_a, trans_b;   // gemm
    bool rms;                // norm
    float eps;
    int32_t gamma, beta;     // norm: region inputs (-1: none)
    int32_t heads;           // attention
    float scale;
    int64_t tile;
    int32_t offsets[3];
    bool has_mask;
    int64_t chunk;           // chunked
    int32_t n_ops;
    chunk_op *ops;
    size_t chunk_scratch;    // bytes of scratch per chunk
};

static bool is_f32(kiln_dtype t) { return t == KILN_F32; }
static bool plain(kiln_dtype t) { return t == KILN_F32 || t == KILN_I32 || t == KILN_I64 || t == KILN_BOOL; }

static double to_double(ew_val v, kiln_dtype t) { return is_f32(t) ? (double)v.f : (double)v.i; }

static ew_val from_double(double v, kiln_dtype t) {
    ew_val r;
    switch (t) {
    case KILN_F32: r.f = (float)v; break;
    case KILN_I32: r.i = (int32_t)v; break;
    case KILN_I64: r.i = (int64_t)v; break;
    default: r.i = v != 0; break;
    }
    return r;
}

static ew_val from_int(int64_t v, kiln_dtype t) {
    ew_val r;
    switch (t) {
    case KILN_I32: r.i = (int32_t)v; break;
    case KILN_I64: r.i = v; break;
    case KILN_BOOL: r.i = v != 0; break;
    default: return from_double((double)v, t);
    }
    return r;
}

// One op on values, exactly as codegen/interp/elementwise.c computes it.
static ew_val ew_apply(const ew_step *s, const ew_val *x, const kiln_dtype *t, bool *div0) {
    ew_val r;
    r.i = 0;
    switch (s->op) {
    case IR_OP_CAST:
    case IR_OP_EXPAND:
        if (!is_f32(t[0]) && !is_f32(s->dtype)) return from_int(x[0].i, s->dtype);
        return from_double(to_double(x[0], t[0]), s->dtype);
    case IR_OP_NOT: r.i = !x[0].i; return r;
    case IR_OP_WHERE: return x[0].i ? x[1] : x[2];
    default: break;
    }
    if (s->n_in == 1) {
        r.f = interp_unary_f32(s->op, x[0].f);
        return r;
    }
    if (is_f32(t[0])) {
        double v = interp_binary_f32(s->op, x[0].f, x[1].f);
        if (is_f32(s->dtype)) r.f = (float)v;
        else r.i = v != 0;
        return r;
    }
    return from_int(interp_binary_i64(s->op, x[0].i, x[1].i, div0), s->dtype);
}

static ew_val load(const void *data, kiln_dtype t, int64_t i) {
    ew_val v;
    switch (t) {
    case KILN_F32: v.f = ((const float *)data)[i]; break;
    case KILN_I32: v.i = ((const int32_t *)data)[i]; break;
    case KILN_I64: v.i = ((const int64_t *)data)[i]; break;
    default: v.i = ((const uint8_t *)data)[i]; break;
    }
    return v;
}

static void store(void *data, kiln_dtype t, int64_t i, ew_val v) {
    switch (t) {
    case KILN_F32: ((float *)data)[i] = v.f; break;
    case KILN_I32: ((int32_t *)data)[i] = (int32_t)v.i; break;
    case KILN_I64: ((int64_t *)data)[i] = v.i; break;
    default: ((uint8_t *)data)[i] = (uint8_t)(v.i != 0); break;
    }
}

// Walks the elements [begin, end) of an output shape, keeping each slot's element offset.
typedef struct ew_iter {
    int rank;
    int64_t shape[IR_MAX_RANK], idx[IR_MAX_RANK];
    int32_t n;
    int64_t stride[IR_MAX_INPUTS + 2][IR_MAX_RANK];
    int64_t off[IR_MAX_INPUTS + 2];
} ew_iter;

// Strides (elements) of `t` read broadcast to `out`: 0 on axes that broadcast.
static void bcast_strides(const interp_tensor *t, const interp_tensor *out, int64_t *strides) {
    int64_t s = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int ti = t->rank - out->rank + i;
        strides[i] = (ti < 0 || t->shape[ti] == 1) ? 0 : s;
        if (ti >= 0) s *= t->shape[ti];
    }
}

static void iter_seek(ew_iter *it, int64_t flat) {
    for (int d = it->rank - 1; d >= 0; d--) {
        it->idx[d] = it->shape[d] ? flat % it->shape[d] : 0;
        flat = it->shape[d] ? flat / it->shape[d] : 0;
    }
    for (int k = 0; k < it->n; k++) {
        it->off[k] = 0;
        for (int d = 0; d < it->rank; d++) it->off[k] += it->idx[d] * it->stride[k][d];
    }
}

static void iter_next(ew_iter *it) {
    for (int d = it->rank - 1; d >= 0; d--) {
        if (++it->idx[d] < it->shape[d]) {
            for (int k = 0; k < it->n; k++) it->off[k] += it->stride[k][d];
            return;
        }
        it->idx[d] = 0;
        for (int k = 0; k < it->n; k++) it->off[k] -= it->stride[k][d] * (it->shape[d] - 1);
    }
}

// Evaluates `prog` over output elements [begin, end): each value goes to dst[i - begin] (as dtype
// dst_dtype) or, when dst is NULL, to the output itself. SELF slots read the output.
static kiln_status ew_run(const ew_prog *prog, const interp_call *c, int64_t begin, int64_t end, void *dst, kiln_dtype dst_dtype) {
    ew_iter it;
    it.rank = c->out.rank;
    memcpy(it.shape, c->out.shape, sizeof(it.shape));
    it.n = prog->n_slots;
    for (int s = 0; s < prog->n_slots; s++) {
        const ew_slot *sl = &prog->slots[s];
        if (sl->kind == SLOT_INPUT) bcast_strides(&c->in[sl->input], &c->out, it.stride[s]);
        else if (sl->kind == SLOT_SELF) bcast_strides(&c->out, &c->out, it.stride[s]);
        else memset(it.stride[s], 0, sizeof(it.stride[s]));
    }
    ew_val vals[256], slots[IR_MAX_INPUTS + 2], ops[3];
    kiln_dtype types[3];
    bool div0 = false;
    iter_seek(&it, begin);
    for (int64_t e = begin; e < end; e++) {
        for (int s = 0; s < prog->n_slots; s++) {
            const ew_slot *sl = &prog->slots[s];
            slots[s] = sl->kind == SLOT_CONST  ? sl->value
                       : sl->kind == SLOT_SELF ? load(c->out.data, sl->dtype, it.off[s])
                                               : load(c->in[sl->input].data, sl->dtype, it.off[s]);
        }
        for (int k = 0; k < prog->n_steps; k++) {
            const ew_step *st = &prog->steps[k];
            for (int j = 0; j < st->n_in; j++) {
                int32_t a = st->in[j];
                ops[j] = a >= 0 ? vals[a] : slots[-1 - a];
                types[j] = a >= 0 ? prog->steps[a].dtype : prog->slots[-1 - a].dtype;
            }
            vals[k] = ew_apply(st, ops, types, &div0);
        }
        ew_val r = prog->result >= 0 ? vals[prog->result] : slots[-1 - prog->result];
        if (dst) store(dst, dst_dtype, e - begin, r);
        else store(c->out.data, c->out.dtype, e, r);
        iter_next(&it);
    }
    if (div0) return kiln_error(KILN_ERR_INVALID_ARG, "interp: integer division by zero");
    return KILN_OK;
}

/* ---- compiling bodies ---- */

static bool same_shape(const ir_node *a, const ir_node *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (!ir_dim_eq(a->shape[d], b->shape[d])) return false;
    return true;
}

// Does `t` broadcast to `out` (right-aligned, equal dims or the constant 1)?
static bool broadcasts_to(const ir_node *t, const ir_node *out) {
    if (t->rank > out->rank) return false;
    for (int d = 0; d < t->rank; d++) {
        int64_t v;
        const ir_dim *td = &t->shape[d], *od = &out->shape[out->rank - t->rank + d];
        if (!ir_dim_eq(*td, *od) && !(ir_dim_is_const(*td, &v) && v == 1)) return false;
    }
    return true;
}

static int body_input_index(const ir_node *n) {
    int k = -1;
    if (n->op != IR_OP_INPUT || sscanf(n->name, "in%d", &k) != 1) return -1;
    return k;
}

static bool ew_node(const ir_node *n) {
    return ((ir_op_flags(n->op) & IR_OPF_ELEMENTWISE) || n->op == IR_OP_EXPAND) && plain(n->dtype);
}

// Compiles the element-wise nodes of `body` that `root` depends on (stopping at `self`, whose
// value is the output's own element, and at body inputs) into `prog`. false when something else
// is in the way.
static bool ew_compile(kiln_arena *a, const ir_graph *body, const ir_node *root, const ir_node *self, const ir_node *out, ew_prog *prog) {
    int32_t n = body->n_nodes;
    int32_t *value = kiln_arena_alloc(a, (size_t)n * sizeof(int32_t));
    bool *need = kiln_arena_alloc(a, (size_t)n);
    prog->slots = kiln_arena_alloc(a, (size_t)(n + 1) * sizeof(ew_slot));
    prog->steps = kiln_arena_alloc(a, (size_t)(n + 1) * sizeof(ew_step));
    if (!value || !need || !prog->slots || !prog->steps) return false;
    need[root->id] = true;
    for (int i = n - 1; i >= 0; i--) {
        const ir_node *x = body->nodes[i];
        if (!need[i] || x == self || x->op == IR_OP_INPUT || x->op == IR_OP_CONST) continue;
        if (!ew_node(x) || !broadcasts_to(x, out)) return false;
        for (int k = 0; k < x->n_inputs; k++) need[x->inputs[k]->id] = true;
    }
    for (int i = 0; i < n; i++) {
        const ir_node *x = body->nodes[i];
        if (!need[i]) continue;
        if (x == self || x->op == IR_OP_INPUT || x->op == IR_OP_CONST) {
            ew_slot *sl = &prog->slots[prog->n_slots];
            sl->dtype = x->dtype;
            if (!plain(x->dtype) || !broadcasts_to(x, out)) return false;
            if (x == self) {
                sl->kind = SLOT_SELF;
            } else if (x->op == IR_OP_INPUT) {
                sl->kind = SLOT_INPUT;
                if ((sl->input = body_input_index(x)) < 0) return false;
            } else {
                ir_dim numel;
                int64_t count;
                if (!ir_node_numel(x, &numel) || !ir_dim_is_const(numel, &count) || count != 1) return false;
                sl->kind = SLOT_CONST;
                sl->value = load(x->p.data, x->dtype, 0);
            }
            value[i] = -1 - prog->n_slots++;
            continue;
        }
        if (prog->n_steps >= 256) return false;
        ew_step *st = &prog->steps[prog->n_steps];
        st->op = x->op;
        st->dtype = x->dtype;
        st->n_in = x->n_inputs;
        for (int k = 0; k < x->n_inputs; k++) st->in[k] = value[x->inputs[k]->id];
        value[i] = prog->n_steps++;
    }
    prog->result = value[root->id];
    return prog->n_slots <= IR_MAX_INPUTS + 2;
}

static const ir_node *find_single(const ir_graph *body, ir_op op, int *count) {
    const ir_node *found = NULL;
    *count = 0;
    for (int i = 0; i < body->n_nodes; i++)
        if (body->nodes[i]->op == op) {
            found = body->nodes[i];
            (*count)++;
        }
    return found;
}

static int64_t max_of(const kiln_program *p, ir_dim d) { return ir_dim_eval(d, p->symbol_max); }

/* ---- chunked bodies ---- */

// Row view: a tensor whose leading dims are the output's is seen as [rows, last].
static bool row_aligned(const ir_node *t, const ir_node *out) {
    if (t->rank != out->rank || t->rank < 2) return false;
    for (int d = 0; d < t->rank - 1; d++)
        if (!ir_dim_eq(t->shape[d], out->shape[d])) return false;
    return true;
}

static bool chunk_op_ok(const ir_node *x, const ir_node *out) {
    if (!row_aligned(x, out) || x->dtype != KILN_F32) return false;
    switch (x->op) {
    case IR_OP_MATMUL:
        return !x->p.trans_a && row_aligned(x->inputs[0], out) && x->inputs[1]->rank == 2 && !row_aligned(x->inputs[1], out);
    case IR_OP_LAYER_NORM:
    case IR_OP_RMS_NORM:
        return true;
    case IR_OP_SOFTMAX:
        return x->p.axis == x->rank - 1;
    default:
        if (!(ir_op_flags(x->op) & IR_OPF_ELEMENTWISE)) return false;
        for (int k = 0; k < x->n_inputs; k++)   // row-aligned operands, or ones that broadcast over rows
            if (!same_shape(x->inputs[k], x) && (row_aligned(x->inputs[k], out) || x->inputs[k]->rank >= x->rank)) return false;
        return true;
    }
}

static bool chunk_body_ok(const ir_graph *body) {
    const ir_node *out = body->outputs[0].node;
    if (out->op == IR_OP_INPUT) return false;
    for (int i = 0; i < body->n_nodes; i++) {
        const ir_node *x = body->nodes[i];
        if (x->op == IR_OP_INPUT) {
            if (body_input_index(x) < 0) return false;
            continue;
        }
        if (x->op == IR_OP_CONST) continue;
        if (!chunk_op_ok(x, out)) return false;
    }
    return true;
}

static kiln_status chunk_compile(kiln_program *p, const ir_node *n, interp_fused *f, size_t *scratch) {
    const ir_graph *body = n->p.body;
    const ir_node *out = body->outputs[0].node;
    int32_t nb = body->n_nodes;
    int64_t chunk = n->p.chunk;
    cg_live *live = calloc((size_t)nb + 1, sizeof(*live));
    int32_t *slot = calloc((size_t)nb + 1, sizeof(*slot));
    f->ops = kiln_arena_alloc(p->arena, (size_t)(nb + 1) * sizeof(chunk_op));
    if (!live || !slot || !f->ops) {
        free(live);
        free(slot);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory");
    }
    // The operand the output op finishes in place (the down projection before its bias) is written
    // straight into the output's rows.
    const ir_node *to_out = NULL;
    if (ir_op_flags(out->op) & IR_OPF_ELEMENTWISE) {
        for (int k = 0; k < out->n_inputs && !to_out; k++) {
            const ir_node *a = out->inputs[k];
            int readers = 0;
            for (int j = 0; j < nb; j++)
                for (int q = 0; q < body->nodes[j]->n_inputs; q++) readers += body->nodes[j]->inputs[q] == a;
            if (a->op != IR_OP_INPUT && a->op != IR_OP_CONST && readers == 1 && same_shape(a, out) && a->dtype == out->dtype) to_out = a;
        }
    }
    // Scratch slots for the intermediates at `chunk` rows, planned like an arena; an element-wise
    // op writes over a same-shaped operand that dies there (bias add and activation in place).
    int32_t n_live = 0;
    for (int i = 0; i < nb; i++) {
        const ir_node *x = body->nodes[i];
        slot[i] = -1;
        if (x->op == IR_OP_INPUT || x->op == IR_OP_CONST || x == out || x == to_out) continue;
        int32_t lastuse = i;
        for (int j = i + 1; j < nb; j++)
            for (int k = 0; k < body->nodes[j]->n_inputs; k++)
                if (body->nodes[j]->inputs[k] == x) lastuse = j;
        if (ir_op_flags(x->op) & IR_OPF_ELEMENTWISE) {
            for (int k = 0; k < x->n_inputs && slot[i] < 0; k++) {
                const ir_node *a = x->inputs[k];
                if (slot[a->id] >= 0 && live[slot[a->id]].last == i && same_shape(a, x) && a->dtype == x->dtype) {
                    slot[i] = slot[a->id];
                    live[slot[i]].last = lastuse;
                }
            }
            if (slot[i] >= 0) continue;
        }
        int64_t width = max_of(p, x->shape[x->rank - 1]);
        live[n_live] = (cg_live){.first = i, .last = lastuse, .size = (size_t)(chunk * width) * sizeof(float)};
        slot[i] = n_live++;
    }
    f->chunk_scratch = cg_plan_arena(live, n_live, 64);
    for (int i = 0; i < nb; i++) {
        const ir_node *x = body->nodes[i];
        if (x->op == IR_OP_INPUT || x->op == IR_OP_CONST) continue;
        chunk_op *op = &f->ops[f->n_ops++];
        memset(op, 0, sizeof(*op));
        op->prm.op = x->op;
        op->prm.n_in = x->n_inputs;
        op->prm.axis = x->op == IR_OP_SOFTMAX ? 1 : x->p.axis;
        op->prm.trans_a = x->p.trans_a;
        op->prm.trans_b = x->p.trans_b;
        op->prm.eps = x->p.eps;
        for (int k = 0; k <= x->n_inputs; k++) {
            const ir_node *t = k < x->n_inputs ? x->inputs[k] : x;
            chunk_arg *a = &op->args[op->n_args++];
            bool rows = row_aligned(t, out);
            op->prm.dtype[k] = t->dtype;
            op->prm.rank[k] = rows ? 2 : t->rank;
            if (rows) {
                op->dims[op->n_dims++] = -1;
                op->dims[op->n_dims++] = max_of(p, t->shape[t->rank - 1]);
            } else {
                for (int d = 0; d < t->rank; d++) op->dims[op->n_dims++] = max_of(p, t->shape[d]);
            }
            int64_t row_bytes = rows ? max_of(p, t->shape[t->rank - 1]) * (int64_t)sizeof(float) : 0;
            if (t == out || t == to_out) {
                *a = (chunk_arg){CHUNK_OUT, 0, 0, row_bytes};
            } else if (t->op == IR_OP_INPUT) {
                *a = (chunk_arg){rows ? CHUNK_ROWS : CHUNK_WHOLE, body_input_index(t), 0, row_bytes};
            } else if (t->op == IR_OP_CONST) {
                *a = (chunk_arg){CHUNK_CONST, 0, 0, 0};
                ir_dim numel;   // the body lives only as long as the source graph: copy the data
                int64_t count = 0;
                ir_node_numel(t, &numel);
                ir_dim_is_const(numel, &count);
                void *copy = kiln_arena_alloc(p->arena, kiln_dtype_bytes(t->dtype, count) + 1);
                if (!copy) {
                    free(live);
                    free(slot);
                    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory");
                }
                memcpy(copy, t->p.data, kiln_dtype_bytes(t->dtype, count));
                op->const_data[k] = copy;
            } else {
                *a = (chunk_arg){CHUNK_SCRATCH, 0, (int64_t)live[slot[t->id]].offset, row_bytes};
            }
        }
        op->path = kiln_arena_strdup(p->arena, x->path);
    }
    *scratch = f->chunk_scratch;
    free(live);
    free(slot);
    return KILN_OK;
}

static kiln_status chunk_run(const interp_fused *f, const interp_call *c) {
    const interp_tensor *out = &c->out;
    int64_t width = out->shape[out->rank - 1], rows = width ? interp_numel(out) / width : 0;
    if (rows == 0) return KILN_OK;
    char *scratch = f->chunk_scratch ? aligned_alloc(64, (f->chunk_scratch + 63) / 64 * 64) : NULL;
    if (f->chunk_scratch && !scratch) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory for a chunk's scratch");
    kiln_status st = KILN_OK;
    for (int64_t r0 = 0; r0 < rows && !st; r0 += f->chunk) {
        int64_t r = KILN_MIN(f->chunk, rows - r0);
        for (int32_t o = 0; o < f->n_ops && !st; o++) {
            const chunk_op *op = &f->ops[o];
            void *args[IR_MAX_INPUTS + 1];
            int64_t dims[(IR_MAX_INPUTS + 1) * IR_MAX_RANK];
            for (int k = 0; k < op->n_args; k++) {
                const chunk_arg *a = &op->args[k];
                switch (a->kind) {
                case CHUNK_ROWS: args[k] = (char *)c->in[a->index].data + r0 * a->row_bytes; break;
                case CHUNK_WHOLE: args[k] = c->in[a->index].data; break;
                case CHUNK_SCRATCH: args[k] = scratch + a->offset; break;
                case CHUNK_CONST: args[k] = (void *)op->const_data[k]; break;
                default: args[k] = (char *)out->data + r0 * a->row_bytes; break;
                }
            }
            for (int d = 0; d < op->n_dims; d++) dims[d] = op->dims[d] < 0 ? r : op->dims[d];
            rt_kernel_call call = {args, op->n_args, dims, op->n_dims, &op->prm, c->call->pool, op->path};
            st = cg_interp_kernel(&call);
        }
    }
    free(scratch);
    return st;
}

/* ---- attention ---- */

typedef struct attn_layout {
    int64_t batch_stride, head_stride, row_stride, offset;   // in floats
} attn_layout;

static attn_layout layout_of(const interp_tensor *t, int64_t head_dim, int32_t offset) {
    if (t->rank == 4) return (attn_layout){t->shape[1] * t->shape[2] * t->shape[3], t->shape[2] * t->shape[3], t->shape[3], 0};
    return (attn_layout){t->shape[1] * t->shape[2], head_dim, t->shape[2], offset};
}

typedef struct attn_job {
    const interp_fused *f;
    const interp_call *c;
    int64_t B, H, S, T, D, tq, tk, slots;
    attn_layout q, k, v, o;
    int64_t mshape[4], mstride[4];
    char *scratch;
    size_t slot_bytes;
} attn_job;

static void attn_pair(const attn_job *j, int64_t pair, char *scratch) {
    const interp_call *c = j->c;
    int64_t b = pair / j->H, h = pair % j->H, D = j->D;
    float *sc = (float *)scratch, *pv = sc + j->tq * j->tk;
    int64_t n_floats = j->tq * j->tk + j->tq * D;
    double *acc = (double *)(sc + n_floats + n_floats % 2), *m = acc + j->tq * D, *l = m + j->tq;
    const float *qb = (const float *)c->in[0].data + b * j->q.batch_stride + h * j->q.head_stride + j->q.offset;
    const float *kb = (const float *)c->in[1].data + b * j->k.batch_stride + h * j->k.head_stride + j->k.offset;
    const float *vb = (const float *)c->in[2].data + b * j->v.batch_stride + h * j->v.head_stride + j->v.offset;
    float *ob = (float *)c->out.data + b * j->o.batch_stride + h * j->o.head_stride;
    const float *mask = j->f->has_mask ? c->in[3].data : NULL;
    float scale = j->f->scale;
    for (int64_t s0 = 0; s0 < j->S; s0 += j->tq) {
        int64_t rows = KILN_MIN(j->tq, j->S - s0);
        for (int64_t i = 0; i < rows; i++) {
            m[i] = -INFINITY;
            l[i] = 0;
        }
        memset(acc, 0, (size_t)(rows * D) * sizeof(double));
        for (int64_t t0 = 0; t0 < j->T; t0 += j->tk) {
            int64_t cols = KILN_MIN(j->tk, j->T - t0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)D, 1.0f, qb + s0 * j->q.row_stride,
                        (int)j->q.row_stride, kb + t0 * j->k.row_stride, (int)j->k.row_stride, 0.0f, sc, (int)cols);
            for (int64_t i = 0; i < rows; i++) {
                float *row = sc + i * cols;
                const float *mrow = NULL;
                if (mask)
                    mrow = mask + (b % j->mshape[0]) * j->mstride[0] + (h % j->mshape[1]) * j->mstride[1] +
                           ((s0 + i) % j->mshape[2]) * j->mstride[2];
                float mt = -INFINITY;
                for (int64_t t = 0; t < cols; t++) {   // as the unfused ops round: (q.k) * scale, then + mask
                    float x = (float)((double)row[t] * (double)scale);
                    if (mrow) x = (float)((double)x + (double)mrow[((t0 + t) % j->mshape[3]) * j->mstride[3]]);
                    row[t] = x;
                    mt = fmaxf(mt, x);
                }
                double m_new = fmax(m[i], (double)mt);
                if (m_new == -INFINITY) {   // every key so far masked with -inf: nothing to add
                    memset(row, 0, (size_t)cols * sizeof(float));
                    continue;
                }
                double alpha = m[i] == -INFINITY ? 0.0 : exp(m[i] - m_new);
                l[i] *= alpha;
                for (int64_t d = 0; d < D; d++) acc[i * D + d] *= alpha;
                for (int64_t t = 0; t < cols; t++) {
                    double p = exp((double)row[t] - m_new);
                    l[i] += p;
                    row[t] = (float)p;
                }
                m[i] = m_new;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)cols, 1.0f, sc, (int)cols,
                        vb + t0 * j->v.row_stride, (int)j->v.row_stride, 0.0f, pv, (int)D);
            for (int64_t e = 0; e < rows * D; e++) acc[e] += pv[e];
        }
        for (int64_t i = 0; i < rows; i++)
            for (int64_t d = 0; d < D; d++) ob[(s0 + i) * j->o.row_stride + d] = (float)(acc[i * D + d] / l[i]);
    }
}

static void attn_worker(void *ctx, int64_t begin, int64_t end) {
    const attn_job *j = ctx;
    for (int64_t s = begin; s < end; s++)
        for (int64_t pair = s; pair < j->B * j->H; pair += j->slots) attn_pair(j, pair, j->scratch + (size_t)s * j->slot_bytes);
}

static size_t attn_slot_bytes(int64_t tq, int64_t tk, int64_t D) {
    // scores tq x tk and P·V tq x D as floats, then the accumulator tq x D and max, sum per row as doubles
    size_t bytes = (size_t)(tq * tk + tq * D + 1) * sizeof(float) + (size_t)(tq * D + 2 * tq) * sizeof(double);
    return (bytes + 63) / 64 * 64;
}

static kiln_status attention_run(const interp_fused *f, const interp_call *c) {
    attn_job j;
    memset(&j, 0, sizeof(j));
    j.f = f;
    j.c = c;
    const interp_tensor *out = &c->out;
    j.H = f->heads;
    j.B = out->shape[0];
    j.D = out->rank == 4 ? out->shape[3] : out->shape[2] / j.H;
    j.S = out->rank == 4 ? out->shape[2] : out->shape[1];
    j.T = c->in[1].rank == 4 ? c->in[1].shape[2] : c->in[1].shape[1];
    if (j.B == 0 || j.S == 0 || j.D == 0) return KILN_OK;
    if (j.T == 0) {
        memset(out->data, 0, (size_t)interp_numel(out) * sizeof(float));
        return KILN_OK;
    }
    j.q = layout_of(&c->in[0], j.D, f->offsets[0]);
    j.k = layout_of(&c->in[1], j.D, f->offsets[1]);
    j.v = layout_of(&c->in[2], j.D, f->offsets[2]);
    j.o = layout_of(out, j.D, 0);
    if (f->has_mask) {
        const interp_tensor *mk = &c->in[3];
        for (int d = 0; d < 4; d++) {
            int md = mk->rank - 4 + d;
            j.mshape[d] = md >= 0 ? mk->shape[md] : 1;
        }
        int64_t s = 1;
        for (int d = 3; d >= 0; d--) {
            j.mstride[d] = j.mshape[d] == 1 ? 0 : s;
            s *= j.mshape[d];
        }
        for (int d = 0; d < 4; d++)
            if (j.mshape[d] == 0) return KILN_OK;
    }
    j.tq = KILN_MIN(f->tile > 0 ? f->tile : ATTN_DEFAULT_TILE, j.S);
    j.tk = KILN_MIN(ATTN_KEY_TILE, j.T);
    int64_t pairs = j.B * j.H;
    j.slots = KILN_MIN(KILN_MIN((int64_t)rt_pool_threads(c->call->pool), pairs), ATTN_MAX_SLOTS);
    j.slot_bytes = attn_slot_bytes(j.tq, j.tk, j.D);
    j.scratch = aligned_alloc(64, (j.slot_bytes * (size_t)j.slots + 63) / 64 * 64);
    if (!j.scratch) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory for attention tiles");
    rt_parallel_for(c->call->pool, j.slots, 1, attn_worker, &j);
    free(j.scratch);
    return KILN_OK;
}

/* ---- norm ---- */

static kiln_status norm_run(const interp_fused *f, const interp_call *c) {
    const interp_tensor *out = &c->out;
    int64_t d = out->shape[out->rank - 1], rows = d ? interp_numel(out) / d : 0;
    float *row = malloc((size_t)KILN_MAX(d, 1) * sizeof(float));
    if (!row) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory");
    const float *gamma = c->in[f->gamma].data, *beta = f->beta >= 0 ? c->in[f->beta].data : NULL;
    kiln_status st = KILN_OK;
    for (int64_t r = 0; r < rows && !st; r++) {
        st = ew_run(&f->ew, c, r * d, (r + 1) * d, row, KILN_F32);
        float *yr = (float *)out->data + r * d;
        double mean = 0, var = 0;   // as codegen/interp/normalization.c computes it
        if (!f->rms) {
            for (int64_t k = 0; k < d; k++) mean += row[k];
            mean /= (double)d;
        }
        for (int64_t k = 0; k < d; k++) var += (row[k] - mean) * (row[k] - mean);
        var /= (double)d;
        double inv = 1.0 / sqrt(var + f->eps);
        for (int64_t k = 0; k < d; k++) yr[k] = (float)((row[k] - mean) * inv * gamma[k] + (beta ? beta[k] : 0.0f));
    }
    free(row);
    return st;
}

/* ---- gemm ---- */

static kiln_status gemm_run(const interp_fused *f, const interp_call *c) {
    cg_interp_params mm = {.op = IR_OP_MATMUL, .n_in = 2, .trans_a = f->trans_a, .trans_b = f->trans_b};
    interp_call mc = *c;
    mc.p = &mm;
    kiln_status st = interp_matmul(&mc);
    if (st || f->ew.n_steps == 0) return st;
    return ew_run(&f->ew, c, 0, interp_numel(&c->out), NULL, c->out.dtype);
}

/* ---- lowering and dispatch ---- */

// Whether the element-wise program of a region compiles (the limits of ew_compile: scalar
// constants, few enough values): tried for real on a scratch arena, so the two cannot disagree.
static bool ew_compiles(const ir_graph *body, const ir_node *root, const ir_node *self, const ir_node *out) {
    kiln_arena *a = kiln_arena_create(16 * 1024);
    ew_prog prog;
    memset(&prog, 0, sizeof(prog));
    bool ok = a && ew_compile(a, body, root, self, out, &prog);
    kiln_arena_free(a);
    return ok;
}

bool interp_fused_lowerable(const ir_node *n) {
    if (n->op != IR_OP_FUSED || !n->p.body || n->p.body->n_outputs != 1) return false;
    const ir_graph *body = n->p.body;
    const ir_node *out = body->outputs[0].node;
    for (int k = 0; k < n->n_inputs; k++)
        if (!plain(n->inputs[k]->dtype) && n->p.fused_kind != IR_FUSED_CHUNKED) return false;
    int count;
    switch (n->p.fused_kind) {
    case IR_FUSED_ELEMENTWISE: {
        for (int i = 0; i < body->n_nodes; i++) {
            const ir_node *x = body->nodes[i];
            if (x->op != IR_OP_INPUT && x->op != IR_OP_CONST && (!ew_node(x) || !broadcasts_to(x, out))) return false;
        }
        return ew_node(out) && ew_compiles(body, out, NULL, out);
    }
    case IR_FUSED_GEMM: {
        const ir_node *mm = find_single(body, IR_OP_MATMUL, &count);
        if (count != 1 || !same_shape(mm, out) || mm->dtype != KILN_F32) return false;
        if (body_input_index(mm->inputs[0]) != 0 || body_input_index(mm->inputs[1]) != 1) return false;
        for (int i = 0; i < body->n_nodes; i++) {
            const ir_node *x = body->nodes[i];
            if (x != mm && x->op != IR_OP_INPUT && x->op != IR_OP_CONST && (!ew_node(x) || !broadcasts_to(x, out))) return false;
        }
        return out == mm || ew_compiles(body, out, mm, out);
    }
    case IR_FUSED_NORM: {
        if ((out->op != IR_OP_LAYER_NORM && out->op != IR_OP_RMS_NORM) || out->dtype != KILN_F32) return false;
        for (int k = 1; k < out->n_inputs; k++)
            if (body_input_index(out->inputs[k]) < 0) return false;
        for (int i = 0; i < body->n_nodes; i++) {
            const ir_node *x = body->nodes[i];
            if (x != out && x->op != IR_OP_INPUT && x->op != IR_OP_CONST && (!ew_node(x) || !broadcasts_to(x, out))) return false;
        }
        return ew_compiles(body, out->inputs[0], NULL, out);
    }
    case IR_FUSED_ATTENTION: {
        if (n->n_inputs < 3 || n->n_inputs > 4 || n->p.heads < 1 || n->dtype != KILN_F32) return false;
        if (n->rank != 3 && n->rank != 4) return false;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k]->dtype != KILN_F32) return false;
        for (int k = 0; k < 3; k++)
            if (n->inputs[k]->rank != 3 && n->inputs[k]->rank != 4) return false;
        return n->n_inputs < 4 || n->inputs[3]->rank <= 4;
    }
    case IR_FUSED_CHUNKED:
        return n->p.chunk > 0 && chunk_body_ok(body);
    default:
        return false;
    }
}

bool interp_fused_can_alias(const ir_node *n, int k) {
    if (n->op != IR_OP_FUSED || (n->p.fused_kind != IR_FUSED_ELEMENTWISE && n->p.fused_kind != IR_FUSED_NORM)) return false;
    const ir_node *x = n->inputs[k];
    return same_shape(n, x) && x->dtype == n->dtype && interp_fused_lowerable(n);
}

kiln_status interp_fused_lower(kiln_program *p, const ir_node *n, cg_interp_params *prm, size_t *scratch_out) {
    *scratch_out = 0;
    interp_fused *f = kiln_arena_alloc(p->arena, sizeof(*f));
    if (!f) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "interp: out of memory");
    const ir_graph *body = n->p.body;
    const ir_node *out = body->outputs[0].node;
    f->kind = n->p.fused_kind;
    f->gamma = f->beta = -1;
    bool ok = true;
    int count;
    switch (f->kind) {
    case IR_FUSED_ELEMENTWISE:
        ok = ew_compile(p->arena, body, out, NULL, out, &f->ew);
        break;
    case IR_FUSED_GEMM: {
        const ir_node *mm = find_single(body, IR_OP_MATMUL, &count);
        f->trans_a = mm->p.trans_a;
        f->trans_b = mm->p.trans_b;
        if (out != mm) ok = ew_compile(p->arena, body, out, mm, out, &f->ew);
        break;
    }
    case IR_FUSED_NORM:
        f->rms = out->op == IR_OP_RMS_NORM;
        f->eps = out->p.eps;
        f->gamma = body_input_index(out->inputs[1]);
        f->beta = f->rms ? -1 : body_input_index(out->inputs[2]);
        ok = ew_compile(p->arena, body, out->inputs[0], NULL, out, &f->ew);
        *scratch_out = (size_t)max_of(p, out->shape[out->rank - 1]) * sizeof(float);
        break;
    case IR_FUSED_ATTENTION: {
        f->heads = n->p.heads;
        f->scale = n->p.scale;
        f->tile = n->p.chunk;
        memcpy(f->offsets, n->p.offsets, sizeof(f->offsets));
        f->has_mask = n->n_inputs == 4;
        int64_t D = n->rank == 4 ? max_of(p, n->shape[3]) : max_of(p, n->shape[2]) / f->heads;
        int64_t S = n->rank == 4 ? max_of(p, n->shape[2]) : max_of(p, n->shape[1]);
        int64_t T = n->inputs[1]->rank == 4 ? max_of(p, n->inputs[1]->shape[2]) : max_of(p, n->inputs[1]->shape[1]);
        int64_t pairs = max_of(p, n->shape[0]) * f->heads;
        int64_t tq = KILN_MIN(f->tile > 0 ? f->tile : ATTN_DEFAULT_TILE, KILN_MAX(S, 1)), tk = KILN_MIN(ATTN_KEY_TILE, KILN_MAX(T, 1));
        // one slot per thread at run time; a single-threaded context takes one
        *scratch_out = attn_slot_bytes(tq, tk, D) * (size_t)KILN_MAX(KILN_MIN(pairs, 1), 1);
        break;
    }
    case IR_FUSED_CHUNKED: {
        f->chunk = n->p.chunk;
        kiln_status st = chunk_compile(p, n, f, scratch_out);
        if (st) return st;
        break;
    }
    default:
        ok = false;
    }
    if (!ok)
        return kiln_error(KILN_ERR_UNSUPPORTED, "interp: fused %s region at %s: body does not fit its kernel", ir_fused_kind_name(f->kind),
                          n->path ? n->path : "?");
    prm->fused = f;
    return KILN_OK;
}

kiln_status interp_fused_run(const interp_call *c) {
    const interp_fused *f = c->p->fused;
    if (!f) return kiln_error(KILN_ERR_INTERNAL, "interp: a fused launch without its region");
    switch (f->kind) {
    case IR_FUSED_ELEMENTWISE: return ew_run(&f->ew, c, 0, interp_numel(&c->out), NULL, c->out.dtype);
    case IR_FUSED_GEMM: return gemm_run(f, c);
    case IR_FUSED_NORM: return norm_run(f, c);
    case IR_FUSED_ATTENTION: return attention_run(f, c);
    case IR_FUSED_CHUNKED: return chunk_run(f, c);
    default: return kiln_error(KILN_ERR_INTERNAL, "interp: fused kind %d has no kernel", f->kind);
    }
}
