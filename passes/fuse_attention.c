/* fuse_attention.c — scaled dot-product attention as one region computed tile by tile with
 * online softmax (IR_FUSED_ATTENTION): it matches
 *     softmax(q · kᵀ [· scale] [+ mask]) · v      (or softmax((q · scale) · kᵀ ...) · v)
 * on [batch, heads, seq, head_dim] operands, and takes in what surrounds it when it is there:
 * the head splits of q, k and v (reshape [b, s, h·d] → [b, s, h, d], permute 0 2 1 3), the
 * column slices of a packed QKV product (pack_qkv), and the head merge of the result. The region
 * then reads q, k and v by column offset in [batch, seq, C] and writes [batch, seq, h·d]: no
 * permuted copies, no [seq x seq] scores. The body keeps the exact ops for backends that flatten.
 */
#include "passes/passes.h"

typedef struct side {
    ir_node *src;          // what the region reads
    int32_t offset;        // first column of head 0 (rank-3 sources)
    ir_node *absorbed[3];  // the slice, reshape and permute taken in
    int n_absorbed;
} side;

static bool perm_is(const ir_node *n, const int *perm) {
    for (int d = 0; d < n->rank; d++)
        if (n->p.perm[d] != perm[d]) return false;
    return true;
}

static const int SWAP12[4] = {0, 2, 1, 3};

// X [b, h, l, d]: take in permute(reshape([b, l, h·d] source)) and a column slice before it.
static side split_of(const pass_users *u, ir_node *x, ir_node *reader) {
    side s = {.src = x};
    if (x->op != IR_OP_PERMUTE || x->rank != 4 || !perm_is(x, SWAP12) || pass_only_user(u, x) != reader) return s;
    ir_node *r = x->inputs[0];
    if (r->op != IR_OP_RESHAPE || pass_only_user(u, r) != x || r->rank != 4) return s;
    ir_node *y = r->inputs[0];
    ir_dim hd;
    if (y->rank != 3 || !ir_dim_eq(y->shape[0], r->shape[0]) || !ir_dim_eq(y->shape[1], r->shape[1]) ||
        !ir_dim_mul(r->shape[2], r->shape[3], &hd) || !ir_dim_eq(hd, y->shape[2]))
        return s;
    s = (side){.src = y, .absorbed = {x, r}, .n_absorbed = 2};
    int64_t start;
    if (y->op == IR_OP_SLICE && y->p.axis == 2 && pass_only_user(u, y) == r && ir_dim_is_const(y->p.start, &start) &&
        start <= INT32_MAX && y->inputs[0]->rank == 3) {
        s.src = y->inputs[0];
        s.offset = (int32_t)start;
        s.absorbed[s.n_absorbed++] = y;
    }
    return s;
}

static bool scalar_f32(const ir_node *n, float *v) {
    double d;
    if (n->dtype != KILN_F32 || !pass_scalar_value(n, &d)) return false;
    *v = (float)d;
    return true;
}

// A MUL of `n` by a scalar constant: the other operand and the scalar.
static ir_node *scaled_by(ir_node *n, float *scale) {
    if (n->op != IR_OP_MUL) return NULL;
    if (scalar_f32(n->inputs[1], scale) && pass_same_shape(n, n->inputs[0])) return n->inputs[0];
    if (scalar_f32(n->inputs[0], scale) && pass_same_shape(n, n->inputs[1])) return n->inputs[1];
    return NULL;
}

static bool is_rank4_f32(const ir_node *n) { return n->rank == 4 && n->dtype == KILN_F32; }

// Fuses the attention that ends in `pv`; false when it does not match.
static bool fuse_one(ir_graph *g, const kiln_pass_ctx *ctx, const pass_users *u, ir_node *pv, bool *taken, int32_t n0) {
    ir_node *region[24];
    int n = 0;
    if (pv->op != IR_OP_MATMUL || pv->p.trans_a || pv->p.trans_b || !is_rank4_f32(pv)) return false;
    ir_node *probs = pv->inputs[0], *v = pv->inputs[1];
    if (probs->op != IR_OP_SOFTMAX || probs->p.axis != probs->rank - 1 || pass_only_user(u, probs) != pv) return false;
    region[n++] = pv;
    region[n++] = probs;
    ir_node *t = probs->inputs[0], *mask = NULL;
    float scale = 1.0f;
    bool scaled = false;
    if (t->op == IR_OP_ADD && pass_only_user(u, t) == probs) {   // + mask
        for (int k = 0; k < 2 && !mask; k++) {
            ir_node *a = t->inputs[k], *b = t->inputs[1 - k];
            ir_node *core = scaled_by(a, &scale);
            if (!core) core = a;
            if (core->op == IR_OP_MATMUL && pass_same_shape(a, t) && b->dtype == KILN_F32 && b->rank <= 4) {
                mask = b;
                region[n++] = t;
                t = a;
            }
        }
        if (!mask) return false;
    }
    scale = 1.0f;
    ir_node *core = scaled_by(t, &scale);
    if (!core) scale = 1.0f;
    if (core && pass_only_user(u, t) == (mask ? region[2] : probs)) {
        region[n++] = t;
        scaled = true;
        t = core;
    }
    ir_node *s0 = t;
    if (s0->op != IR_OP_MATMUL || s0->p.trans_a || !s0->p.trans_b || !is_rank4_f32(s0) || pass_only_user(u, s0) != region[n - 1])
        return false;
    region[n++] = s0;
    ir_node *q = s0->inputs[0], *k = s0->inputs[1];
    float qs;
    ir_node *qc = scaled ? NULL : scaled_by(q, &qs);
    if (qc && pass_only_user(u, q) == s0) {   // DistilBERT scales q first
        scale = qs;
        region[n++] = q;
        q = qc;
    }
    if (!is_rank4_f32(q) || !is_rank4_f32(k) || !is_rank4_f32(v)) return false;
    int64_t heads, head_dim;
    if (!ir_dim_is_const(q->shape[1], &heads) || !ir_dim_is_const(q->shape[3], &head_dim) || heads > INT32_MAX) return false;
    if (!ir_dim_eq(k->shape[1], q->shape[1]) || !ir_dim_eq(v->shape[1], q->shape[1]) || !ir_dim_eq(k->shape[3], q->shape[3]) ||
        !ir_dim_eq(v->shape[3], q->shape[3]) || !ir_dim_eq(k->shape[2], v->shape[2]))
        return false;
    // The head splits of q, k, v (each read by one node of the region) and the head merge.
    side sides[3] = {split_of(u, q, region[n - 1]), split_of(u, k, s0), split_of(u, v, pv)};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < sides[i].n_absorbed; j++) region[n++] = sides[i].absorbed[j];
    ir_node *out = pv, *perm = pass_only_user(u, pv);
    if (perm && perm->op == IR_OP_PERMUTE && perm_is(perm, SWAP12)) {
        ir_node *r = pass_only_user(u, perm);
        ir_dim hd;
        if (r && r->op == IR_OP_RESHAPE && r->rank == 3 && ir_dim_eq(r->shape[0], pv->shape[0]) && ir_dim_eq(r->shape[1], pv->shape[2]) &&
            ir_dim_mul(pv->shape[1], pv->shape[3], &hd) && ir_dim_eq(hd, r->shape[2])) {
            region[n++] = perm;
            region[n++] = r;
            out = r;
        }
    }
    for (int i = 0; i < n; i++)
        if (pass_taken(taken, n0, region[i])) return false;
    ir_node *fixed[4] = {sides[0].src, sides[1].src, sides[2].src, mask};
    ir_node *f = pass_make_region(g, region, n, out, IR_FUSED_ATTENTION, fixed, mask ? 4 : 3);
    if (!f) return false;
    for (int i = 0; i < n; i++) pass_take(taken, n0, region[i]);
    if (f->n_inputs != (mask ? 4 : 3)) {   // something else fed the region: keep the body, no kernel promise
        f->p.fused_kind = IR_FUSED_GENERIC;
        return true;
    }
    f->p.heads = (int32_t)heads;
    f->p.scale = scale;
    f->p.chunk = ctx->attn_tile;
    for (int i = 0; i < 3; i++) f->p.offsets[i] = sides[i].src->rank == 3 ? sides[i].offset : 0;
    return true;
}

kiln_status pass_fuse_attention(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    pass_users u;
    kiln_status st = pass_users_build(g, &u);
    if (st) return st;
    bool *taken = calloc((size_t)n0 + 1, 1), changed = false;
    if (!taken) {
        pass_users_free(&u);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "fuse_attention: out of memory");
    }
    for (int i = 0; i < n0 && !g->status; i++)
        if (!taken[i] && fuse_one(g, ctx, &u, g->nodes[i], taken, n0)) changed = true;
    free(taken);
    pass_users_free(&u);
    if (g->status) return g->status;
    return changed ? pass_commit(g, n0) : KILN_OK;
}
