/* test_verify.c — the verifier accepts what the builder makes and rejects each kind of malformed
 * graph, one test per bug, named for it. Malformed graphs are made by mutating built nodes or by
 * appending hand-made ones with ir_node_append (which infers nothing).
 */
#include "ir_graphs.h"

// %0 x [B,S,8], %1 w [16,8], %2 matmul trans_b, %3 b [16], %4 add, %5 lt (bool), %6 softmax; output "y" = %6
typedef struct base {
    ir_graph *g;
    ir_node *x, *w, *mm, *b, *add, *lt, *sm;
    ir_dim B, S;
} base;

static base make_base(void) {
    base t;
    t.g = ir_graph_create();
    t.B = ir_dim_sym(ir_graph_symbol(t.g, "batch"));
    t.S = ir_dim_sym(ir_graph_symbol(t.g, "seq"));
    ir_graph_set_path(t.g, "encoder.layer.0.attention.self.query");
    t.x = ir_input(t.g, "x", KILN_F32, 3, (ir_dim[]){t.B, t.S, D(8)});
    t.w = ir_weight(t.g, "w", KILN_F32, 2, (ir_dim[]){D(16), D(8)});
    t.mm = ir_matmul(t.g, t.x, t.w, false, true);
    t.b = ir_weight(t.g, "b", KILN_F32, 1, (ir_dim[]){D(16)});
    t.add = ir_binary(t.g, IR_OP_ADD, t.mm, t.b);
    t.lt = ir_binary(t.g, IR_OP_LT, t.add, t.b);
    t.sm = ir_softmax(t.g, t.add, -1);
    ir_graph_add_output(t.g, "y", t.sm);
    KILN_ASSERT(t.g->status == KILN_OK);
    return t;
}

// Appends a node exactly as described (ir_node_append infers nothing).
static ir_node *append(ir_graph *g, ir_op op, kiln_dtype dtype, int rank, const ir_dim *shape, int n_in, ir_node *const *in) {
    ir_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.dtype = dtype;
    n.rank = rank;
    for (int i = 0; i < rank; i++) n.shape[i] = shape[i];
    n.n_inputs = n_in;
    for (int i = 0; i < n_in; i++) n.inputs[i] = in[i];
    n.path = g->cur_path;
    return ir_node_append(g, &n);
}

#define CHECK_REJECTS(g, needle) CHECK_FAILS(ir_verify(g), KILN_ERR_FORMAT, needle)

static void verify_accepts_builder_graphs(void) {
    base t = make_base();
    CHECK_OK(ir_verify(t.g));
    ir_graph_free(t.g);
    ir_graph *g = build_every_op();
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);
    g = build_bert_block();
    CHECK_OK(g->status);
    CHECK_OK(ir_verify(g));
    ir_graph_free(g);
    g = ir_graph_create();
    CHECK_OK(ir_verify(g));   // empty
    ir_graph_free(g);
    CHECK_FAILS(ir_verify(NULL), KILN_ERR_INVALID_ARG, "NULL");
}

/* ---- structure ---- */

static void verify_rejects_dangling_input(void) {
    base t = make_base();
    ir_graph *other = ir_graph_create();
    ir_node *stranger = ir_weight(other, "b", KILN_F32, 1, (ir_dim[]){D(16)});
    t.add->inputs[1] = stranger;   // the right shape, but not a node of t.g
    CHECK_REJECTS(t.g, "ir: node %4 (add) @encoder.layer.0.attention.self.query: input 1 is not a node of this graph (dangling)");
    ir_graph_free(other);
    ir_graph_free(t.g);
}

static void verify_rejects_cycle(void) {
    base t = make_base();
    t.mm->inputs[0] = t.add;   // %2 uses %4, which uses %2
    CHECK_REJECTS(t.g, "node %2 (matmul) @encoder.layer.0.attention.self.query: input 0 is %4, which does not come before it (a cycle");
    ir_graph_free(t.g);
    t = make_base();
    t.add->inputs[0] = t.add;   // a node that is its own input
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: input 0 is %4, which does not come before it");
    ir_graph_free(t.g);
}

static void verify_rejects_id_not_matching_index(void) {
    base t = make_base();
    t.b->id = 7;
    CHECK_REJECTS(t.g, "node %3 (weight) @encoder.layer.0.attention.self.query: has id 7 at index 3");
    ir_graph_free(t.g);
}

static void verify_rejects_null_input(void) {
    base t = make_base();
    t.add->inputs[1] = NULL;
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: input 1 is NULL");
    ir_graph_free(t.g);
}

static void verify_rejects_wrong_arity(void) {
    base t = make_base();
    t.add->n_inputs = 1;
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: takes 2 inputs, has 1");
    ir_graph_free(t.g);
    t = make_base();
    t.add->n_inputs = 3;
    t.add->inputs[2] = t.x;
    CHECK_REJECTS(t.g, "takes 2 inputs, has 3");
    ir_graph_free(t.g);
    t = make_base();   // a concat needs at least one input, and at most IR_MAX_INPUTS
    ir_node *c = ir_concat(t.g, 1, &t.x, 0);
    c->n_inputs = 0;
    CHECK_REJECTS(t.g, "(concat) @encoder.layer.0.attention.self.query: takes 1..16 inputs, has 0");
    c->n_inputs = IR_MAX_INPUTS + 1;
    CHECK_REJECTS(t.g, "takes 1..16 inputs, has 17");
    ir_graph_free(t.g);
}

static void verify_rejects_leaf_with_inputs(void) {
    base t = make_base();
    t.b->n_inputs = 1;
    t.b->inputs[0] = t.x;
    CHECK_REJECTS(t.g, "node %3 (weight) @encoder.layer.0.attention.self.query: takes 0 inputs, has 1");
    ir_graph_free(t.g);
}

static void verify_rejects_bad_op(void) {
    base t = make_base();
    t.add->op = (ir_op)999;
    CHECK_REJECTS(t.g, "node %4 (?) @encoder.layer.0.attention.self.query: op 999 is not an op");
    ir_graph_free(t.g);
}

static void verify_rejects_bad_dtype(void) {
    base t = make_base();
    t.w->dtype = (kiln_dtype)99;
    CHECK_REJECTS(t.g, "node %1 (weight) @encoder.layer.0.attention.self.query: dtype 99 is not a dtype");
    ir_graph_free(t.g);
}

static void verify_rejects_rank_over_max(void) {
    base t = make_base();
    t.x->rank = IR_MAX_RANK + 1;
    CHECK_REJECTS(t.g, "node %0 (input) @encoder.layer.0.attention.self.query: rank 7 is outside 0..6");
    t.x->rank = -1;
    CHECK_REJECTS(t.g, "rank -1 is outside 0..6");
    ir_graph_free(t.g);
}

/* ---- dims ---- */

static void verify_rejects_unknown_symbol(void) {
    base t = make_base();
    t.x->shape[0] = ir_dim_sym(5);   // the graph has 2 symbols
    CHECK_REJECTS(t.g, "node %0 (input) @encoder.layer.0.attention.self.query: dim 0 names a symbol the graph does not have");
    ir_graph_free(t.g);
}

static void verify_rejects_noncanonical_dim(void) {
    base t = make_base();
    ir_dim d;
    KILN_ASSERT(ir_dim_add(t.B, t.S, &d));
    ir_term tmp = d.terms[0];
    d.terms[0] = d.terms[1];
    d.terms[1] = tmp;
    t.x->shape[0] = d;
    CHECK_REJECTS(t.g, "dim 0 is not canonical (terms out of order)");
    t.x->shape[0] = t.B;
    t.x->shape[0].terms[0].coeff = 0;
    CHECK_REJECTS(t.g, "dim 0 is not canonical (a zero term)");
    t.x->shape[0] = t.B;
    t.x->shape[0].n_terms = IR_DIM_MAX_TERMS + 1;
    CHECK_REJECTS(t.g, "dim 0 has too many terms");
    ir_graph_free(t.g);
}

static void verify_rejects_negative_dim(void) {
    base t = make_base();
    t.w->shape[1] = D(-8);
    CHECK_REJECTS(t.g, "node %1 (weight) @encoder.layer.0.attention.self.query: dim 1 is negative");
    ir_graph_free(t.g);
}

// Dim arithmetic in the shape rules (concat sums, reshape products) must not overflow int64.
static void verify_rejects_shape_too_large(void) {
    base t = make_base();
    t.x->shape[2] = D((int64_t)1 << 40);
    t.x->shape[1] = D((int64_t)1 << 40);
    CHECK_REJECTS(t.g, "node %0 (input) @encoder.layer.0.attention.self.query: shape too large");
    ir_graph_free(t.g);
}

/* ---- dtype and shape rules ---- */

static void verify_rejects_matmul_inner_mismatch(void) {
    base t = make_base();
    ir_node *w7 = ir_weight(t.g, "w7", KILN_F32, 2, (ir_dim[]){D(16), D(7)});
    ir_node *mm = append(t.g, IR_OP_MATMUL, KILN_F32, 3, (ir_dim[]){t.B, t.S, D(16)}, 2, (ir_node *[]){t.x, w7});
    mm->p.trans_b = true;
    CHECK_REJECTS(t.g, "ir: node %8 (matmul) @encoder.layer.0.attention.self.query: inner dims differ: [batch, seq, 8] x [16, 7]^T");
    ir_graph_free(t.g);
    t = make_base();
    t.mm->p.trans_b = false;   // [B,S,8] x [16,8] without the transpose
    CHECK_REJECTS(t.g, "node %2 (matmul) @encoder.layer.0.attention.self.query: inner dims differ");
    ir_graph_free(t.g);
}

static void verify_rejects_broadcast_mismatch(void) {
    base t = make_base();
    append(t.g, IR_OP_ADD, KILN_F32, 3, (ir_dim[]){t.B, t.S, D(8)}, 2, (ir_node *[]){t.x, t.b});
    CHECK_REJECTS(t.g, "node %7 (add) @encoder.layer.0.attention.self.query: shapes [batch, seq, 8] and [16] do not broadcast");
    ir_graph_free(t.g);
}

static void verify_rejects_compare_not_bool(void) {
    base t = make_base();
    t.lt->dtype = KILN_F32;
    CHECK_REJECTS(t.g, "node %5 (lt) @encoder.layer.0.attention.self.query: dtype f32, but its operands give bool");
    ir_graph_free(t.g);
}

static void verify_rejects_wrong_shape(void) {
    base t = make_base();
    t.add->shape[2] = D(17);
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: shape [batch, seq, 17], but its operands give [batch, seq, 16]");
    ir_graph_free(t.g);
    t = make_base();
    t.sm->rank = 2;
    CHECK_REJECTS(t.g, "node %6 (softmax) @encoder.layer.0.attention.self.query: shape [batch, seq], but its operands give [batch, seq, 16]");
    ir_graph_free(t.g);
}

static void verify_rejects_mixed_dtypes(void) {
    base t = make_base();
    t.b->dtype = KILN_F16;
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: dtypes differ (f32, f16)");
    ir_graph_free(t.g);
}

static void verify_rejects_unnormalized_axis(void) {
    base t = make_base();
    t.sm->p.axis = -1;   // the builder stores axes as 0..rank-1
    CHECK_REJECTS(t.g, "node %6 (softmax) @encoder.layer.0.attention.self.query: axis -1, want 2");
    t.sm->p.axis = 3;
    CHECK_REJECTS(t.g, "softmax) @encoder.layer.0.attention.self.query: axis out of range for rank 3");
    ir_graph_free(t.g);
}

static void verify_rejects_bad_permute(void) {
    base t = make_base();
    ir_node *p = ir_permute(t.g, t.x, (int[]){0, 2, 1});
    p->p.perm[2] = 2;
    CHECK_REJECTS(t.g, "node %7 (permute) @encoder.layer.0.attention.self.query: not a permutation of 3 axes");
    p->p.perm[2] = 1;
    p->shape[1] = t.S;   // the right perm, the wrong shape
    CHECK_REJECTS(t.g, "shape [batch, seq, seq], but its operands give [batch, 8, seq]");
    ir_graph_free(t.g);
}

static void verify_rejects_layer_norm_gamma_shape(void) {
    base t = make_base();
    ir_node *gamma = ir_weight(t.g, "gamma", KILN_F32, 1, (ir_dim[]){D(8)});
    ir_node *ln = ir_layer_norm(t.g, t.add, t.b, t.b, 1e-5f);
    ln->inputs[1] = gamma;   // [8] for a [.., 16] operand
    CHECK_REJECTS(t.g, "(layer_norm) @encoder.layer.0.attention.self.query: gamma/beta must be");
    ir_graph_free(t.g);
}

static void verify_rejects_reshape_numel_mismatch(void) {
    base t = make_base();
    ir_node *r = ir_reshape(t.g, t.add, 4, (ir_dim[]){t.B, t.S, D(2), D(8)});
    r->shape[3] = D(9);
    CHECK_REJECTS(t.g, "node %7 (reshape) @encoder.layer.0.attention.self.query: element counts differ");
    ir_graph_free(t.g);
}

static void verify_rejects_slice_shape_mismatch(void) {
    base t = make_base();
    ir_node *s = ir_slice(t.g, t.add, 1, D(0), D(1));
    s->p.end = t.S;   // [0, seq) leaves seq rows, not 1
    CHECK_REJECTS(t.g, "node %7 (slice) @encoder.layer.0.attention.self.query: shape [batch, 1, 16], but its operands give [batch, seq, 16]");
    ir_graph_free(t.g);
}

static void verify_rejects_gather_float_indices(void) {
    base t = make_base();
    ir_node *ids = ir_input(t.g, "ids", KILN_I64, 2, (ir_dim[]){t.B, t.S});
    ir_node *gth = ir_gather(t.g, t.w, ids);
    gth->inputs[1] = t.x;
    CHECK_REJECTS(t.g, "(gather) @encoder.layer.0.attention.self.query: index dtype f32");
    ir_graph_free(t.g);
}

static void verify_rejects_scatter_row_mismatch(void) {
    base t = make_base();
    ir_node *cache = ir_state(t.g, "cache", KILN_F32, 3, (ir_dim[]){t.B, D(64), D(16)});
    ir_node *pos = ir_input(t.g, "pos", KILN_I64, 2, (ir_dim[]){t.B, t.S});
    ir_node *sc = ir_scatter(t.g, cache, pos, t.add);
    sc->inputs[2] = t.x;   // rows of 8 into a cache of 16
    CHECK_REJECTS(t.g, "(scatter) @encoder.layer.0.attention.self.query: row shape differs on axis 2");
    ir_graph_free(t.g);
}

static void verify_rejects_cast_to_quantized(void) {
    base t = make_base();
    ir_node *c = ir_cast(t.g, t.x, KILN_F16);
    c->dtype = KILN_Q8_0;
    CHECK_REJECTS(t.g, "(cast) @encoder.layer.0.attention.self.query: cast f32 -> q8_0");
    ir_graph_free(t.g);
}

/* ---- leaves ---- */

static void verify_rejects_unnamed_leaf(void) {
    base t = make_base();
    t.w->name = NULL;
    CHECK_REJECTS(t.g, "node %1 (weight) @encoder.layer.0.attention.self.query: has no name");
    ir_graph_free(t.g);
}

static void verify_rejects_duplicate_input_name(void) {
    base t = make_base();
    ir_input(t.g, "x", KILN_I64, 1, (ir_dim[]){t.S});
    CHECK_REJECTS(t.g, "node %7 (input) @encoder.layer.0.attention.self.query: duplicate input name 'x' (also %0)");
    ir_graph_free(t.g);
    t = make_base();
    ir_weight(t.g, "w", KILN_F32, 2, (ir_dim[]){D(16), D(8)});   // a weight may be bound twice (tied embeddings)
    CHECK_OK(ir_verify(t.g));
    ir_state(t.g, "k", KILN_F32, 1, (ir_dim[]){D(4)});
    ir_state(t.g, "k", KILN_F32, 1, (ir_dim[]){D(4)});
    CHECK_REJECTS(t.g, "duplicate state name 'k'");
    ir_graph_free(t.g);
}

static void verify_rejects_const_without_data(void) {
    base t = make_base();
    ir_node *c = ir_scalar_f32(t.g, 1.0f);
    c->p.data = NULL;
    CHECK_REJECTS(t.g, "node %7 (const) @encoder.layer.0.attention.self.query: has no data");
    ir_graph_free(t.g);
}

static void verify_rejects_symbolic_const_shape(void) {
    base t = make_base();
    ir_node *c = ir_const(t.g, KILN_F32, 1, (int64_t[]){1}, (float[]){2.0f});
    c->shape[0] = t.S;
    CHECK_REJECTS(t.g, "node %7 (const) @encoder.layer.0.attention.self.query: const shape must be constant (dim 0)");
    ir_graph_free(t.g);
}

static void verify_rejects_bool_const_not_0_or_1(void) {
    base t = make_base();
    ir_const(t.g, KILN_BOOL, 1, (int64_t[]){3}, (uint8_t[]){1, 2, 0});
    CHECK_REJECTS(t.g, "node %7 (const) @encoder.layer.0.attention.self.query: bool value 2 at 1 is not 0 or 1");
    ir_graph_free(t.g);
}

/* ---- fused regions ---- */

typedef struct fused_case {
    ir_graph *g, *body;
    ir_node *x, *f, *in0, *gelu;
} fused_case;

// %0 x [B,S,8]; %1 = fused(%0) { in0 -> gelu }; output "y" = %1
static fused_case make_fused(void) {
    fused_case c;
    c.g = ir_graph_create();
    ir_dim B = ir_dim_sym(ir_graph_symbol(c.g, "batch")), S = ir_dim_sym(ir_graph_symbol(c.g, "seq"));
    c.x = ir_input(c.g, "x", KILN_F32, 3, (ir_dim[]){B, S, D(8)});
    c.body = ir_graph_create_body(c.g);
    ir_graph_set_path(c.body, "encoder.layer.0.intermediate");
    c.in0 = ir_input(c.body, "in0", KILN_F32, 3, (ir_dim[]){B, S, D(8)});
    c.gelu = ir_unary(c.body, IR_OP_GELU, c.in0);
    ir_graph_add_output(c.body, "out", c.gelu);
    ir_graph_set_path(c.g, "encoder.layer.0");
    c.f = ir_fused(c.g, c.body, 1, &c.x);
    ir_graph_add_output(c.g, "y", c.f);
    KILN_ASSERT(c.g->status == KILN_OK);
    return c;
}

static void verify_rejects_bad_fused_body(void) {
    fused_case c = make_fused();
    CHECK_OK(ir_verify(c.g));
    // a fault inside the body is reported with the fused node it sits in
    c.gelu->shape[2] = D(9);
    CHECK_REJECTS(c.g, "ir: node %1 (fused) @encoder.layer.0 body: node %1 (gelu) @encoder.layer.0.intermediate: shape [batch, seq, 9]");
    ir_graph_free(c.g);

    c = make_fused();   // a body input unlike the operand it stands for
    c.in0->shape[2] = D(4);
    c.gelu->shape[2] = D(4);
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: body input 'in0' shape differs");
    c.in0->dtype = KILN_F16;
    c.gelu->dtype = KILN_F16;
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: body input 'in0' missing or unlike operand 0");
    ir_graph_free(c.g);

    c = make_fused();   // two outputs
    ir_graph_add_output(c.body, "extra", c.in0);
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: body has 2 outputs, want 1");
    ir_graph_free(c.g);

    c = make_fused();   // a body input that no operand binds
    ir_input(c.body, "in1", KILN_F32, 0, NULL);
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: body input 'in1' is not one of in0..in0");
    ir_graph_free(c.g);

    c = make_fused();
    c.in0->name = "in00";
    CHECK_REJECTS(c.g, "body input 'in00' is not one of in0..in0");
    ir_graph_free(c.g);

    c = make_fused();   // the fused node's own type must be the body output's
    c.f->dtype = KILN_F16;
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: dtype f16, but its operands give f32");
    ir_graph_free(c.g);

    c = make_fused();
    c.f->p.body = NULL;
    CHECK_REJECTS(c.g, "node %1 (fused) @encoder.layer.0: has no body");
    ir_graph_free(c.g);

    c = make_fused();   // a body that contains itself
    ir_node *inner = ir_fused(c.body, c.body, 1, &c.in0);
    KILN_ASSERT(inner);
    CHECK_REJECTS(c.g, "fused bodies nested deeper than 16");
    ir_graph_free(c.g);

    c = make_fused();
    c.f->n_absorbed = 2;
    c.f->absorbed = (const char *[]){"a", NULL};
    CHECK_REJECTS(c.g, "absorbed path 1 is NULL");
    ir_graph_free(c.g);

    c = make_fused();   // an input of the body that points into the parent graph
    c.gelu->inputs[0] = c.x;
    CHECK_REJECTS(c.g, "body: node %1 (gelu) @encoder.layer.0.intermediate: input 0 is not a node of this graph (dangling)");
    ir_graph_free(c.g);
}

/* ---- outputs ---- */

static void verify_rejects_duplicate_output_name(void) {
    base t = make_base();
    ir_graph_add_output(t.g, "y", t.add);
    CHECK_REJECTS(t.g, "ir: duplicate output name 'y'");
    ir_graph_free(t.g);
}

static void verify_rejects_output_not_in_graph(void) {
    base t = make_base();
    ir_graph *other = ir_graph_create();
    ir_node *stranger = ir_input(other, "z", KILN_F32, 0, NULL);
    stranger->flags |= IR_NODE_OUTPUT;
    t.g->outputs[0].node = stranger;
    CHECK_REJECTS(t.g, "ir: output 'y' is not a node of this graph");
    t.g->outputs[0].node = NULL;
    CHECK_REJECTS(t.g, "ir: output 'y' is not a node of this graph");
    ir_graph_free(other);
    ir_graph_free(t.g);
}

static void verify_rejects_unnamed_output(void) {
    base t = make_base();
    t.g->outputs[0].name = NULL;
    CHECK_REJECTS(t.g, "ir: output 0 has no name");
    ir_graph_free(t.g);
}

static void verify_rejects_output_flag_mismatch(void) {
    base t = make_base();
    t.add->flags |= IR_NODE_OUTPUT;
    CHECK_REJECTS(t.g, "node %4 (add) @encoder.layer.0.attention.self.query: is flagged as an output, but no output names it");
    ir_graph_free(t.g);
    t = make_base();
    t.sm->flags = 0;
    CHECK_REJECTS(t.g, "ir: output 'y' (%6) lacks the output flag");
    ir_graph_free(t.g);
}

static void verify_rejects_bad_symbol_table(void) {
    base t = make_base();
    t.g->symbols[1].name = "batch";
    CHECK_REJECTS(t.g, "ir: symbol 'batch' is declared twice");
    t.g->symbols[1].name = "seq";
    t.g->symbols[1].max = -1;
    CHECK_REJECTS(t.g, "ir: symbol 'seq' has max -1");
    ir_graph_free(t.g);
}

static void verify_locate_names_the_node(void) {
    base t = make_base();
    const ir_node *bad = (const ir_node *)&bad;
    CHECK_OK(ir_verify_locate(t.g, &bad));
    CHECK(bad == NULL);
    t.lt->dtype = KILN_I64;
    CHECK(ir_verify_locate(t.g, &bad) == KILN_ERR_FORMAT && bad == t.lt);
    t.lt->dtype = KILN_BOOL;
    ir_graph_add_output(t.g, "y", t.add);
    CHECK(ir_verify_locate(t.g, &bad) == KILN_ERR_FORMAT && bad == t.add);
    ir_graph_free(t.g);
}

int main(void) {
    verify_accepts_builder_graphs();
    verify_rejects_dangling_input();
    verify_rejects_cycle();
    verify_rejects_id_not_matching_index();
    verify_rejects_null_input();
    verify_rejects_wrong_arity();
    verify_rejects_leaf_with_inputs();
    verify_rejects_bad_op();
    verify_rejects_bad_dtype();
    verify_rejects_rank_over_max();
    verify_rejects_unknown_symbol();
    verify_rejects_noncanonical_dim();
    verify_rejects_negative_dim();
    verify_rejects_shape_too_large();
    verify_rejects_matmul_inner_mismatch();
    verify_rejects_broadcast_mismatch();
    verify_rejects_compare_not_bool();
    verify_rejects_wrong_shape();
    verify_rejects_mixed_dtypes();
    verify_rejects_unnormalized_axis();
    verify_rejects_bad_permute();
    verify_rejects_layer_norm_gamma_shape();
    verify_rejects_reshape_numel_mismatch();
    verify_rejects_slice_shape_mismatch();
    verify_rejects_gather_float_indices();
    verify_rejects_scatter_row_mismatch();
    verify_rejects_cast_to_quantized();
    verify_rejects_unnamed_leaf();
    verify_rejects_duplicate_input_name();
    verify_rejects_const_without_data();
    verify_rejects_symbolic_const_shape();
    verify_rejects_bool_const_not_0_or_1();
    verify_rejects_bad_fused_body();
    verify_rejects_duplicate_output_name();
    verify_rejects_output_not_in_graph();
    verify_rejects_unnamed_output();
    verify_rejects_output_flag_mismatch();
    verify_rejects_bad_symbol_table();
    verify_locate_names_the_node();
    return test_summary();
}
