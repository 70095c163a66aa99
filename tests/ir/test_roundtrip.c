/* test_roundtrip.c — the textual IR: a graph with every op of ops.def, and a BERT-like attention
 * block, print → parse → print byte-identically, and the parsed graph equals the built one field
 * by field (so a parameter the printer forgot cannot hide behind identical text).
 */
#include "ir_graphs.h"

static void count_ops(const ir_graph *g, int *seen) {
    for (int i = 0; i < g->n_nodes; i++) {
        seen[g->nodes[i]->op]++;
        if (g->nodes[i]->op == IR_OP_FUSED) count_ops(g->nodes[i]->p.body, seen);
    }
}

static void roundtrip(const char *what, ir_graph *g) {
    CHECK_MSG(g && g->status == KILN_OK, "%s: builder: %s", what, kiln_last_error());
    if (!g || g->status) return;
    CHECK_OK(ir_verify(g));
    char *t1 = print_graph(g), *t2 = NULL;
    ir_graph *parsed = NULL;
    CHECK(t1 != NULL);
    if (t1) CHECK_OK(ir_parse(t1, &parsed));
    if (parsed) {
        CHECK_MSG(graphs_same(g, parsed), "%s: the parsed graph differs from the built one", what);
        t2 = print_graph(parsed);
        CHECK_MSG(t2 && strcmp(t1, t2) == 0, "%s: print -> parse -> print differs:\n--- first\n%s\n--- second\n%s", what, t1,
                  t2 ? t2 : "(null)");
    }
    if (getenv("KILN_TEST_VERBOSE") && t1) printf("---- %s ----\n%s", what, t1);
    free(t1);
    free(t2);
    ir_graph_free(parsed);
}

static void test_every_op_roundtrips(void) {
    ir_graph *g = build_every_op();
    int seen[IR_OP_COUNT] = {0};
    count_ops(g, seen);
    for (int op = 0; op < IR_OP_COUNT; op++) CHECK_MSG(seen[op] > 0, "the every-op graph lacks '%s'", ir_op_name((ir_op)op));
    int consts[KILN_DTYPE_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == IR_OP_CONST) consts[g->nodes[i]->dtype]++;
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) CHECK_MSG(consts[t] > 0, "no CONST of dtype %s", kiln_dtype_get_info((kiln_dtype)t)->name);
    roundtrip("every op", g);
    ir_graph_free(g);
}

static void test_bert_block_roundtrips(void) {
    ir_graph *g = build_bert_block();
    roundtrip("bert block", g);
    char *t = print_graph(g);
    // the lines look as the format promises
    CHECK(t && strstr(t, "symbol batch max=8\nsymbol seq max=512\n\n%0 = input \"input_ids\" : i64[batch, seq]\n"));
    CHECK(t && strstr(t, "= matmul(%10, %17) trans_b : f32[batch, seq, 32]  @encoder.layer.0.attention.self.query\n"));
    CHECK(t && strstr(t, "%10 = layer_norm(%7, %8, %9) eps=1e-12 : f32[batch, seq, 32]  @embeddings\n"));
    CHECK(t && strstr(t, " = softmax(") && strstr(t, ") axis=3 : f32[batch, 4, seq, seq]  @encoder.layer.0.attention.self\n"));
    CHECK(t && strstr(t, " = permute(") && strstr(t, ") perm=[0, 2, 1, 3] : f32[batch, 4, seq, 8]"));
    CHECK(t && strstr(t, " = const [-3.4028235e+38] : f32[]  @get_extended_attention_mask\n"));
    CHECK(t && strstr(t, " = iota axis=0 start=0 : i64[seq]  @embeddings\n"));
    CHECK(t && strstr(t, "\n\noutput \"last_hidden_state\" = %"));
    free(t);
    ir_graph_free(g);
}

static void test_format_details(void) {
    ir_graph *g = build_every_op();
    char *t = print_graph(g);
    CHECK(t && strstr(t, "symbol \"dim param.0\"\n"));
    CHECK(t && strstr(t, " = input \"odd \\\"name\\\"\\\\\\x0a\\x09\" : f32[\"dim param.0\", 3]  @embeddings\n"));
    CHECK(t && strstr(t, " = const [0.1, -2.5, 1e-12, inf, -inf, -0, 1e-45, nan] : f32[8]\n"));
    CHECK(t && strstr(t, " = const [1, 0, 0, 1] : bool[2, 2]\n"));
    CHECK(t && strstr(t, " = const [-2147483648, 0, 2147483647] : i32[3]\n"));
    CHECK(t && strstr(t, " = const [-9223372036854775808, -1, 9223372036854775807] : i64[3]\n"));
    CHECK(t && strstr(t, " = const [] : i64[0]\n"));
    CHECK(t && strstr(t, " = const [1, -5.9604645e-08, 65504, 0.33325195] : f16[2, 2]\n"));
    CHECK(t && strstr(t, " = const 0x"));
    CHECK(t && strstr(t, " : q8_0[2, 32]\n"));
    CHECK(t && strstr(t, "  @\"odd path {x}\"\n"));
    CHECK(t && strstr(t, " = slice(") && strstr(t, ") axis=1 [0, seq + past) : f32[batch, seq + past, 2, 8]"));
    CHECK(t && strstr(t, ") axis=1 [seq, 2*seq + 1) : f32[batch, seq + 1, 2, 8]"));
    CHECK(t && strstr(t, " = iota axis=0 start=-2*seq + 3 : f32[5]  @encoder.layer.0.attention.self\n"));
    CHECK(t && strstr(t, " = iota axis=1 start=past : i64[batch, seq]  @encoder.layer.0.attention.self\n"));
    CHECK(t && strstr(t, " = concat(") && strstr(t, ") axis=1 : f32[batch, 3*seq, 2, 8]"));
    CHECK(t && strstr(t, ") trans_a : f32[batch, seq, 4]"));
    CHECK(t && strstr(t, " = reduce_sum(") && strstr(t, ") axis=1 keepdim : f32[batch, 1, 8]"));
    CHECK(t && strstr(t, " = reshape(") && strstr(t, " : f32[batch*seq, 16]"));
    CHECK(t && strstr(t, " = scatter(") && strstr(t, " : f32[batch, 64, 2, 8]"));
    CHECK(t && strstr(t, " name=\"gelu_bias\" : f32[batch, seq, 16]  @encoder.layer.0.intermediate {\n"
                         "    absorbed @encoder.layer.0.output.dense\n"
                         "    absorbed @encoder.layer.0.intermediate\n"
                         "    %0 = input \"in0\" : f32[batch, seq, 16]  @encoder.layer.0.output.dense\n"));
    CHECK(t && strstr(t, "        %0 = input \"in0\" : f32[batch, seq, 16]  @encoder.layer.0.intermediate.intermediate_act_fn\n"
                         "        %1 = gelu(%0) : f32[batch, seq, 16]  @encoder.layer.0.intermediate.intermediate_act_fn\n"
                         "        output \"out\" = %1\n"
                         "    }\n"));
    free(t);
    ir_graph_free(g);
}

static void test_empty_graph(void) {
    ir_graph *g = ir_graph_create(), *p = NULL;
    char *t = print_graph(g);
    CHECK(t && t[0] == '\0');
    CHECK_OK(ir_parse(t ? t : "", &p));
    CHECK(p && p->n_nodes == 0 && p->n_symbols == 0 && p->n_outputs == 0);
    free(t);
    ir_graph_free(p);
    ir_graph_free(g);
}

// Hand-written text: comments, blank lines, loose spacing and non-canonical dims read fine, and
// print back in the canonical form.
static void test_hand_written_text(void) {
    const char *text =
        "# a hand-written graph\n"
        "symbol seq\n"
        "  symbol batch   max=4\n"
        "\n"
        "%0 = input \"x\" : f32[ batch , seq*1 + 0 ]\n"
        "%1 = const [1.0,2,  3e0] : f32[3]   \n"
        "%2 = reshape( %0 ) : f32[seq*batch]\t@a.b\n"
        "%3 = slice(%2) [1, batch*seq - 0) axis=-1 : f32[seq*batch - 1]\n"
        "output \"y\" = %3\n";
    ir_graph *g = NULL;
    CHECK_FAILS(ir_parse(text, &g), KILN_ERR_FORMAT, "line 8: node %3 (slice): axis -1, want 0");
    const char *fixed =
        "# a hand-written graph\n"
        "symbol seq\n"
        "  symbol batch   max=4\n"
        "\n"
        "%0 = input \"x\" : f32[ batch , seq*1 + 0 ]\n"
        "%1 = const [1.0,2,  3e0] : f32[3]   \n"
        "%2 = reshape( %0 ) : f32[seq*batch]\t@a.b\n"
        "%3 = slice(%2) [1, batch*seq - 0) axis=0 : f32[seq*batch - 1]\n"
        "output \"y\" = %3";   // no newline at the end
    CHECK_OK(ir_parse(fixed, &g));
    char *t = g ? print_graph(g) : NULL;
    CHECK_MSG(t && strcmp(t, "symbol seq\n"
                             "symbol batch max=4\n"
                             "\n"
                             "%0 = input \"x\" : f32[batch, seq]\n"
                             "%1 = const [1, 2, 3] : f32[3]\n"
                             "%2 = reshape(%0) : f32[seq*batch]  @a.b\n"
                             "%3 = slice(%2) axis=0 [1, seq*batch) : f32[seq*batch - 1]\n"
                             "\n"
                             "output \"y\" = %3\n") == 0,
              "got:\n%s", t ? t : "(null)");
    free(t);
    ir_graph_free(g);
}

int main(void) {
    test_every_op_roundtrips();
    test_bert_block_roundtrips();
    test_format_details();
    test_empty_graph();
    test_hand_written_text();
    return test_summary();
}
