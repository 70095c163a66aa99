/* attention.c — FUSED ATTENTION regions as one kernel: softmax(q · kᵀ · scale + mask) · v per
 * head, a block of query rows at a time. Each work item (batch, head, query block) computes its
 * scores with kiln's GEMM (q block · kᵀ, the dynamic entry on the calling thread), applies the
 * scale and mask and exp row by row in a stack buffer (sums in f32, as PyTorch's softmax keeps
 * them), multiplies by v into the output rows and divides each row by its sum: no [seq_q × seq_k]
 * tensor per head ever exists, and heads are read where they sit in the
 * packed QKV projection (rank-3 sources with column offsets) — no permutes. Work items are split
 * over the pool. Needs the GEMM (AVX2+FMA or AVX-512); elsewhere the region is lowered op by op.
 */
#include <math.h>

#include "codegen/llvm/llvm.h"

#define ATT_STACK_BYTES (256 * 1024)   // the score block of one work item

typedef struct att_emit {
    const ir_node *n;
    int rq, rk, rv, ro, rm;   // ranks of q, k, v sources, output, mask (0: no mask)
    int dq, dk, dv, dm, dout; // where each one's dims start
    bool mbcast[4];           // mask axis (aligned to [batch, heads, seq_q, seq_k]) broadcasts
    int64_t block;            // query rows per work item at most (the score buffer's height)
    bool fixed;               // block set by the pass (attn_tile): no smaller blocks at run time
    int64_t sk_max;           // seq_k at the symbols' maxima: the score block's width bound
} att_emit;

static bool is_one(ir_dim d) {
    int64_t v;
    return ir_dim_is_const(d, &v) && v == 1;
}

bool cg_llvm_attention_region(const ir_node *n, const int64_t *symbol_max) {
    if (n->op != IR_OP_FUSED || n->p.fused_kind != IR_FUSED_ATTENTION || n->p.heads < 1) return false;
    if (n->n_inputs != 3 && n->n_inputs != 4) return false;
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i]->dtype != KILN_F32) return false;
    for (int i = 0; i < 3; i++)
        if (n->inputs[i]->rank != 3 && n->inputs[i]->rank != 4) return false;
    if ((n->rank != 3 && n->rank != 4) || n->dtype != KILN_F32) return false;
    if (n->n_inputs == 4 && n->inputs[3]->rank > 4) return false;
    const ir_node *k = n->inputs[1];
    int64_t sk = ir_dim_eval(k->shape[k->rank == 4 ? 2 : 1], symbol_max);
    return sk > 0 && sk <= ATT_STACK_BYTES / 4;
}

// Element offset of (b, h, row 0, column 0) of a source or the output, and its row stride.
static void head_base(cg_kb *k, int rank, int dims_at, int32_t col_off, LLVMValueRef b, LLVMValueRef h, LLVMValueRef H, LLVMValueRef D,
                      LLVMValueRef *base, LLVMValueRef *ld) {
    if (rank == 4) {   // [batch, heads, seq, head_dim]
        LLVMValueRef S = cg_kb_dim(k, dims_at + 2);
        *base = cg_kb_mul(k, cg_kb_mul(k, cg_kb_add(k, cg_kb_mul(k, b, H), h), S), D);
        *ld = D;
    } else {           // [batch, seq, C]: head h at columns col_off + h * head_dim
        LLVMValueRef S = cg_kb_dim(k, dims_at + 1), Cc = cg_kb_dim(k, dims_at + 2);
        *base = cg_kb_add(k, cg_kb_mul(k, cg_kb_mul(k, b, S), Cc), cg_kb_add(k, cg_kb_i64(k, col_off), cg_kb_mul(k, h, D)));
        *ld = Cc;
    }
}

/* Query rows per work item, at run time: the most the score buffer holds, halved (down to 16) while
 * the items would number fewer than four per thread. Larger blocks pack each head's k and v
 * fewer times and give the two products more rows (BERT-base 1 x 128 on 2 threads: 128 rows, 12
 * items, attention 4.37 -> 3.88 ms against 64 rows); smaller ones keep many threads busy. The
 * entry and every task compute it alike. */
static LLVMValueRef att_block(cg_kb *k, const att_emit *w, LLVMValueRef Sq) {
    LLVMValueRef blk = cg_kb_i64(k, w->block);
    if (w->fixed) return blk;
    LLVMValueRef B = cg_kb_dim(k, w->dout), H = cg_kb_i64(k, w->n->p.heads);
    LLVMTypeRef pt[1] = {k->m->t_ptr};
    LLVMValueRef pool = cg_kb_pool(k);
    LLVMValueRef T = LLVMBuildSExt(k->b, cg_kb_call_ext(k, "rt_pool_threads", k->m->t_i32, pt, 1, false, &pool, 1), k->m->t_i64, "");
    LLVMValueRef want = cg_kb_mul(k, T, cg_kb_i64(k, 4)), bh = cg_kb_mul(k, B, H);
    for (int64_t b = w->block; b > 16; b /= 2) {
        LLVMValueRef items = cg_kb_mul(k, bh, LLVMBuildSDiv(k->b, cg_kb_add(k, Sq, LLVMBuildSub(k->b, blk, cg_kb_i64(k, 1), "")), blk, ""));
        LLVMValueRef few = LLVMBuildICmp(k->b, LLVMIntSLT, items, want, "");
        blk = LLVMBuildSelect(k->b, few, LLVMBuildSDiv(k->b, blk, cg_kb_i64(k, 2), ""), blk, "block");
    }
    return blk;
}

static void att_items(cg_kb *k, LLVMValueRef begin, LLVMValueRef end, void *ud) {
    att_emit *w = ud;
    const ir_node *n = w->n;
    cg_llvm_module *m = k->m;
    LLVMTypeRef f32 = m->t_f32;
    LLVMValueRef H = cg_kb_i64(k, n->p.heads);
    LLVMValueRef Sq = cg_kb_dim(k, w->dout + (w->ro == 4 ? 2 : 1));
    LLVMValueRef Sk = cg_kb_dim(k, w->dk + (w->rk == 4 ? 2 : 1));
    LLVMValueRef D = w->ro == 4 ? cg_kb_dim(k, w->dout + 3) : LLVMBuildSDiv(k->b, cg_kb_dim(k, w->dout + 2), H, "head_dim");
    LLVMValueRef QB = att_block(k, w, Sq);
    LLVMValueRef n_blocks = LLVMBuildSDiv(k->b, cg_kb_add(k, Sq, LLVMBuildSub(k->b, QB, cg_kb_i64(k, 1), "")), QB, "");
    LLVMValueRef q = cg_kb_arg(k, 0), kk = cg_kb_arg(k, 1), v = cg_kb_arg(k, 2), o = cg_kb_arg(k, n->n_inputs);
    LLVMValueRef mask = w->rm ? cg_kb_arg(k, 3) : NULL;
    LLVMValueRef scores = cg_kb_var(k, LLVMArrayType(f32, (unsigned)(w->block * w->sk_max)), "scores");
    LLVMValueRef vmax = cg_kb_var(k, f32, "max"), vsum = cg_kb_var(k, f32, "sum");
    LLVMValueRef invs = cg_kb_var(k, LLVMArrayType(f32, (unsigned)w->block), "inv_sum");   // 1 / each row's sum
    LLVMValueRef zero = cg_kb_i64(k, 0), one = cg_kb_i64(k, 1), null = LLVMConstNull(m->t_ptr);
    // Mask strides over [batch, heads, seq_q, seq_k] (right-aligned; 0 where it broadcasts).
    LLVMValueRef ms[4] = {zero, zero, zero, zero};
    if (mask) {
        LLVMValueRef s = one;
        for (int a = 3; a >= 0; a--) {
            int d = w->rm - 4 + a;
            if (d < 0) continue;
            ms[a] = w->mbcast[a] ? zero : s;
            s = cg_kb_mul(k, s, cg_kb_dim(k, w->dm + d));
        }
    }
    LLVMTypeRef nt_t, nn_t;
    LLVMValueRef gemm_nt = cg_llvm_gemm_fn(k, true, true, &nt_t), gemm_nn = cg_llvm_gemm_fn(k, true, false, &nn_t);

    cg_loop it;
    cg_loop_begin(k, &it, begin, end, "item");
    LLVMValueRef blk = LLVMBuildSRem(k->b, it.iv, n_blocks, ""), bh = LLVMBuildSDiv(k->b, it.iv, n_blocks, "");
    LLVMValueRef h = LLVMBuildSRem(k->b, bh, H, "h"), b = LLVMBuildSDiv(k->b, bh, H, "b");
    LLVMValueRef i0 = cg_kb_mul(k, blk, QB), left = LLVMBuildSub(k->b, Sq, i0, "");
    LLVMValueRef rows = LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, left, QB, ""), left, QB, "rows");
    LLVMValueRef qb, ldq, kb, ldk, vb, ldv, ob, ldo;
    head_base(k, w->rq, w->dq, n->p.offsets[0], b, h, H, D, &qb, &ldq);
    head_base(k, w->rk, w->dk, n->p.offsets[1], b, h, H, D, &kb, &ldk);
    head_base(k, w->rv, w->dv, n->p.offsets[2], b, h, H, D, &vb, &ldv);
    head_base(k, w->ro, w->dout, 0, b, h, H, D, &ob, &ldo);
    LLVMValueRef qp = cg_kb_gep(k, f32, q, cg_kb_add(k, qb, cg_kb_mul(k, i0, ldq)));
    LLVMValueRef kp = cg_kb_gep(k, f32, kk, kb), vp = cg_kb_gep(k, f32, v, vb);
    LLVMValueRef op = cg_kb_gep(k, f32, o, cg_kb_add(k, ob, cg_kb_mul(k, i0, ldo)));
    // scores [rows, Sk] = q block · kᵀ
    LLVMValueRef a1[19] = {one, one, rows, Sk, D, qp, ldq, zero, zero, kp, ldk, zero, zero, scores, Sk, zero, zero, null, null};
    LLVMBuildCall2(k->b, nt_t, gemm_nt, a1, 19, "");
    // softmax(scores · scale + mask) row by row
    cg_loop r, j;
    cg_loop_begin(k, &r, zero, rows, "row");
    LLVMValueRef srow = cg_kb_mul(k, r.iv, Sk);
    LLVMValueRef mrow = mask ? cg_kb_add(k, cg_kb_add(k, cg_kb_mul(k, b, ms[0]), cg_kb_mul(k, h, ms[1])), cg_kb_mul(k, cg_kb_add(k, i0, r.iv), ms[2]))
                             : NULL;
    LLVMBuildStore(k->b, cg_kb_f32(k, -INFINITY), vmax);
    cg_loop_begin(k, &j, zero, Sk, "j");
    LLVMValueRef at = cg_kb_add(k, srow, j.iv);
    LLVMValueRef s = LLVMBuildFMul(k->b, cg_load_elem(k, KILN_F32, scores, at), cg_kb_f32(k, n->p.scale), "");
    if (mask) s = LLVMBuildFAdd(k->b, s, cg_load_elem(k, KILN_F32, mask, cg_kb_add(k, mrow, cg_kb_mul(k, j.iv, ms[3]))), "");
    cg_store_elem(k, KILN_F32, scores, at, s);
    LLVMValueRef margs[2] = {LLVMBuildLoad2(k->b, f32, vmax, ""), s};
    LLVMValueRef mx = cg_kb_intrinsic(k, "llvm.maxnum", f32, margs, 2);
    LLVMSetFastMathFlags(mx, LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
    LLVMBuildStore(k->b, mx, vmax);
    cg_loop_end(k, &j);
    LLVMValueRef rmax = LLVMBuildLoad2(k->b, f32, vmax, "");
    LLVMBuildStore(k->b, cg_kb_f32(k, 0), vsum);
    cg_loop_begin(k, &j, zero, Sk, "j");
    at = cg_kb_add(k, srow, j.iv);
    LLVMValueRef e = cg_math_exp_nonpos(k, LLVMBuildFSub(k->b, cg_load_elem(k, KILN_F32, scores, at), rmax, ""));
    cg_store_elem(k, KILN_F32, scores, at, e);
    LLVMBuildStore(k->b, cg_kb_reassoc(LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, f32, vsum, ""), e, "")), vsum);
    cg_loop_end(k, &j);
    cg_store_elem(k, KILN_F32, invs, r.iv, LLVMBuildFDiv(k->b, cg_kb_f32(k, 1.0f), LLVMBuildLoad2(k->b, f32, vsum, ""), ""));
    cg_loop_end(k, &r);
    // output rows [rows, D] = exp(scores) · v, then each row divided by its sum: D (64) products
    // per row instead of Sk (128 and up) for normalizing the probabilities first
    LLVMValueRef a2[19] = {one, one, rows, D, Sk, scores, Sk, zero, zero, vp, ldv, zero, zero, op, ldo, zero, zero, null, null};
    LLVMBuildCall2(k->b, nn_t, gemm_nn, a2, 19, "");
    cg_loop_begin(k, &r, zero, rows, "row");
    LLVMValueRef inv = cg_load_elem(k, KILN_F32, invs, r.iv), orow = cg_kb_mul(k, r.iv, ldo);
    cg_loop_begin(k, &j, zero, D, "j");
    at = cg_kb_add(k, orow, j.iv);
    cg_store_elem(k, KILN_F32, op, at, LLVMBuildFMul(k->b, cg_load_elem(k, KILN_F32, op, at), inv, ""));
    cg_loop_end(k, &j);
    cg_loop_end(k, &r);
    cg_loop_end(k, &it);
}

kiln_status cg_llvm_emit_attention(cg_kb *k, const ir_node *n) {
    if (!cg_llvm_attention_region(n, k->m->symbol_max)) return kiln_error(KILN_ERR_INTERNAL, "cpu: node %d is not an attention region", n->id);
    att_emit w = {.n = n, .rq = n->inputs[0]->rank, .rk = n->inputs[1]->rank, .rv = n->inputs[2]->rank, .ro = n->rank};
    w.rm = n->n_inputs == 4 ? n->inputs[3]->rank : 0;
    int at = 0;
    w.dq = at, at += w.rq;
    w.dk = at, at += w.rk;
    w.dv = at, at += w.rv;
    w.dm = at, at += w.rm;
    w.dout = at;
    if (w.rm) {   // which mask axes broadcast, aligned to [batch, heads, seq_q, seq_k]
        const ir_node *msk = n->inputs[3];
        ir_dim full[4] = {n->shape[0], ir_dim_const(n->p.heads), n->shape[w.ro == 4 ? 2 : 1], n->inputs[1]->shape[w.rk == 4 ? 2 : 1]};
        for (int a = 0; a < 4; a++) {
            int d = w.rm - 4 + a;
            w.mbcast[a] = d < 0 || (is_one(msk->shape[d]) && !is_one(full[a]));
        }
    }
    const ir_node *kn = n->inputs[1];
    w.sk_max = ir_dim_eval(kn->shape[w.rk == 4 ? 2 : 1], k->m->symbol_max);
    w.fixed = n->p.chunk > 0;
    w.block = w.fixed ? n->p.chunk : 128;
    while (w.block > 1 && w.block * w.sk_max * 4 > ATT_STACK_BYTES) w.block /= 2;
    LLVMValueRef B = cg_kb_dim(k, w.dout), H = cg_kb_i64(k, n->p.heads);
    LLVMValueRef Sq = cg_kb_dim(k, w.dout + (w.ro == 4 ? 2 : 1));
    LLVMValueRef QB = att_block(k, &w, Sq);
    LLVMValueRef n_blocks = LLVMBuildSDiv(k->b, cg_kb_add(k, Sq, LLVMBuildSub(k->b, QB, cg_kb_i64(k, 1), "")), QB, "");
    LLVMValueRef items = cg_kb_mul(k, cg_kb_mul(k, B, H), n_blocks);
    cg_kb_parallel(k, items, cg_kb_i64(k, 1), att_items, &w);
    return KILN_OK;
}
