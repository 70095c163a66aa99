/* test_parse.c — the parser refuses malformed text with KILN_ERR_FORMAT and "line N: reason",
 * never crashes and never leaks (run under ASan): hand-made bad cases, every truncation of a
 * printed graph, and a few thousand seeded mutations. Whatever parses must print, parse and print
 * again to the same text.
 */
#include "ir_graphs.h"

static void check_rejects(const char *text, const char *needle, int line) {
    ir_graph *g = (ir_graph *)&g;
    kiln_status st = ir_parse(text, &g);
    CHECK_MSG(st == KILN_ERR_FORMAT && strstr(kiln_last_error(), needle) && g == NULL,
              "(case at line %d) %s, graph %p, message \"%s\" (want \"%s\")", line, kiln_status_name(st), (void *)g,
              kiln_last_error(), needle);
    ir_graph_free(g == (ir_graph *)&g ? NULL : g);
}
#define REJECTS(text, needle) check_rejects((text), (needle), __LINE__)

#define X "%0 = input \"x\" : f32[2]\n"   // a first line most cases share

static void parse_rejects_bad_tokens(void) {
    REJECTS(X "%1 = matmal(%0, %0) : f32[2]\n", "line 2: unknown op 'matmal'");
    REJECTS(X "%1 = averyveryveryverylongopname(%0) : f32[2]\n", "line 2: unknown op 'averyveryveryverylong");
    REJECTS(X "%1 = neg(%7) : f32[2]\n", "line 2: unknown %7 (an operand must be defined above its use)");
    REJECTS(X "%1 = neg(%1) : f32[2]\n", "line 2: unknown %1");
    REJECTS(X "%1 = neg(x) : f32[2]\n", "line 2: expected an operand %N, found 'x)'");
    REJECTS("%0 = input \"x\" : f33[2]\n", "line 1: expected a dtype (f32, f16, i64, ...), found 'f33[2]'");
    REJECTS("%0 = input \"x\" : f32[1, 1, 1, 1, 1, 1, 1]\n", "line 1: rank over 6");
    REJECTS("%0 = input \"x\" : f32[2\n", "line 1: expected ',' between dims, found end of line");
    REJECTS("%0 = input \"x\" f32[2]\n", "line 1: unknown parameter 'f32[2]'");
    REJECTS("%0 = input \"x\" : f32[2] junk\n", "line 1: unexpected 'junk' at the end of the node");
    REJECTS("%1 = input \"x\" : f32[2]\n", "line 1: expected %0 here, found %1 (nodes are numbered in order)");
    REJECTS(X "%2 = neg(%0) : f32[2]\n", "line 2: expected %1 here, found %2");
    REJECTS("\n\n   hello\n", "line 3: expected a node ('%N = op ...'), 'output', 'symbol' or '}', found 'hello'");
    REJECTS("%0 input \"x\" : f32[2]\n", "line 1: expected '=' after the node id, found 'input'");
    REJECTS("%0 = input x : f32[2]\n", "line 1: expected a quoted string, found 'x'");
    REJECTS("%0 = input \"x : f32[2]\n", "line 1: unterminated string");
    REJECTS("%0 = input \"x\\q\" : f32[2]\n", "line 1: bad escape '\\q' in a string");
    REJECTS("%0 = input \"x\\x0\" : f32[2]\n", "line 1: bad \\x escape");
    REJECTS("%0 = input \"x\\x00\" : f32[2]\n", "line 1: \\x00 in a string");
    REJECTS(X "%1 = neg(%0) : f32[2]  @\n", "line 2: expected a module path after '@'");
}

static void parse_rejects_bad_numbers_and_dims(void) {
    REJECTS("%0 = input \"x\" : f32[99999999999999999999]\n", "line 1: a dim '99999999999999999999]' is out of range");
    REJECTS("%0 = input \"x\" : f32[12abc]\n", "line 1: bad number '12abc]'");
    REJECTS("symbol s\n%0 = input \"x\" : f32[9223372036854775807*2*s]\n", "line 2: dim coefficient out of range");
    REJECTS("symbol s\n%0 = input \"x\" : f32[9223372036854775807*s + s]\n", "line 2: dim coefficient out of range");
    REJECTS("symbol s\n%0 = input \"x\" : f32[-9223372036854775807*s - 2*s]\n", "line 2: dim coefficient out of range");
    REJECTS("symbol a\nsymbol b\nsymbol c\nsymbol d\nsymbol e\nsymbol f\nsymbol g\n"
            "%0 = input \"x\" : f32[a + b + c + d + e + f + g]\n",
            "line 8: dim has more than 6 terms");
    REJECTS("symbol a\n%0 = input \"x\" : f32[a*a*a*a*a]\n", "line 2: more than 4 symbols in one term");
    REJECTS("%0 = input \"x\" : f32[seq]\n", "line 1: unknown symbol 'seq' (declare it with a 'symbol' line)");
    REJECTS("%0 = input \"x\" : f32[\"seq len\"]\n", "line 1: unknown symbol 'seq len'");
    REJECTS("%0 = input \"x\" : f32[+3]\n", "line 1: expected a dim, found '+3]'");
    REJECTS("%0 = input \"x\" : f32[-3]\n", "line 1: node %0 (input): dim 0 is negative");   // the verifier's
    REJECTS("%0 = input \"x\" : f32[1099511627776, 1099511627776]\n", "line 1: node %0 (input): shape too large");
    REJECTS(X "%1 = softmax(%0) axis=99999999999 : f32[2]\n", "line 2: an axis '99999999999' is out of range");
    REJECTS(X "%1 = layer_norm(%0, %0, %0) eps=1e999 : f32[2]\n", "line 2: number '1e999' is out of range for f32");
    REJECTS(X "%1 = layer_norm(%0, %0, %0) eps=abc : f32[2]\n", "line 2: expected a number, found 'abc'");
}

static void parse_rejects_bad_symbols(void) {
    REJECTS(X "symbol seq\n", "line 2: symbols are declared first, before any node");
    REJECTS("symbol seq\nsymbol seq\n", "line 2: symbol 'seq' declared twice");
    REJECTS("symbol seq max=-1\n", "line 1: a symbol's max '-1' is out of range");
    REJECTS("symbol seq 4\n", "line 1: unexpected '4' after the symbol");
    REJECTS("symbol\n", "line 1: expected a symbol name, found end of line");
    char text[1024] = "";
    for (int i = 0; i <= IR_MAX_SYMBOLS; i++) snprintf(text + strlen(text), sizeof(text) - strlen(text), "symbol s%d\n", i);
    REJECTS(text, "line 17: more than 16 symbols");
}

static void parse_rejects_bad_operands_and_params(void) {
    REJECTS(X "%1 = add(%0) : f32[2]\n", "line 2: add takes 2 inputs, found 1");
    REJECTS(X "%1 = concat() axis=0 : f32[2]\n", "line 2: concat takes at least one input");
    REJECTS(X "%1 = iota(%0) axis=0 start=0 : f32[2]\n", "line 2: unknown parameter '(%0)'");
    char text[512] = X "%1 = concat(%0";
    for (int i = 0; i < IR_MAX_INPUTS; i++) strcat(text, ", %0");
    strcat(text, ") axis=0 : f32[34]\n");
    REJECTS(text, "line 2: more than 16 inputs");
    REJECTS(X "%1 = add(%0, %0) axis=1 : f32[2]\n", "line 2: add takes no 'axis'");
    REJECTS(X "%1 = softmax(%0) : f32[2]\n", "line 2: softmax needs 'axis'");
    REJECTS(X "%1 = slice(%0) axis=0 : f32[2]\n", "line 2: slice needs '[start, end)'");
    REJECTS(X "%1 = softmax(%0) axis=0 axis=0 : f32[2]\n", "line 2: 'axis' given twice");
    REJECTS(X "%1 = softmax(%0) colour=3 : f32[2]\n", "line 2: unknown parameter 'colour=3'");
    REJECTS(X "%1 = softmax(%0) axis 0 : f32[2]\n", "line 2: expected '=' after 'axis', found '0'");
    REJECTS(X "%1 = permute(%0) perm=[0, 1] : f32[2]\n", "line 2: perm has 2 entries for rank 1");
    REJECTS(X "%1 = permute(%0) perm=[0, 1, 2, 3, 4, 5, 6] : f32[2]\n", "line 2: perm has more than 6 entries");
    REJECTS(X "%1 = slice(%0) axis=0 [0, 1] : f32[1]\n", "line 2: expected ')' to close a slice [start, end), found ']'");
    REJECTS(X "%1 = input \"y\" name=\"z\" : f32[2]\n", "line 2: input takes no 'name'");
    REJECTS(X "%1 = neg(%0) flags=4294967296 : f32[2]\n", "line 2: flags '4294967296' is out of range");
    REJECTS("%0 = input \"x\" flags=1 : f32[2]\n", "line 1: node %0 (input): is flagged as an output, but no output names it");
}

static void parse_rejects_bad_consts(void) {
    REJECTS("%0 = const [1, 2] : f32[3]\n", "line 1: const has 2 values; its shape takes 3");
    REJECTS("%0 = const [1, 2, 3, 4] : f32[3]\n", "line 1: const has more values than its shape's 3");
    REJECTS("%0 = const [1] : f32[1000000000000]\n", "line 1: const has fewer values than its shape's 1000000000000");
    REJECTS("%0 = const [1, 2 : f32[2]\n", "line 1: const data: missing ']'");
    REJECTS("%0 = const 1 : f32[]\n", "line 1: expected const data ('[...]' or '0x...'), found '1'");
    REJECTS("%0 = const [0, 2] : bool[2]\n", "line 1: a bool value (0 or 1) '2]' is out of range [0, 1]");
    REJECTS("%0 = const [2147483648] : i32[1]\n", "line 1: an i32 value '2147483648]' is out of range");
    REJECTS("%0 = const [1.5] : i64[1]\n", "line 1: bad number '1.5]'");
    REJECTS("%0 = const [x] : f32[1]\n", "line 1: expected a number, found 'x]'");
    REJECTS("symbol s\n%0 = const [1] : f32[s]\n", "line 2: a const's shape must be non-negative numbers");
    REJECTS("%0 = const [1] : q8_0[32]\n", "line 1: a q8_0 const takes its bytes as 0x..., found '[1]'");
    REJECTS("%0 = const 0x0102 : q8_0[32]\n", "line 1: const q8_0 data has 2 bytes; 32 elements take 34");
    REJECTS("%0 = const 0x010 : q8_0[32]\n", "line 1: const q8_0 data has 1 bytes");
    REJECTS("%0 = const 0x01 : f32[1]\n", "line 1: expected '[' to open const data, found '0x01'");
}

static void parse_rejects_bad_structure(void) {
    const char *open_body =
        "%0 = input \"x\" : f32[2]\n"
        "%1 = fused(%0) : f32[2] {\n"
        "    %0 = input \"in0\" : f32[2]\n"
        "    output \"out\" = %0\n";
    REJECTS(open_body, "line 5: the text ends inside a fused body: missing '}'");
    REJECTS(X "}\n", "line 2: '}' without a fused body to close");
    REJECTS(X "%1 = fused(%0) : f32[2]\n", "line 2: a fused node needs a body: end its line with '{'");
    REJECTS(X "%1 = neg(%0) : f32[2] {\n}\n", "line 2: only fused nodes have a body");
    REJECTS(X "absorbed @a.b\n", "line 2: 'absorbed' outside a fused body");
    REJECTS(X "%1 = fused(%0) : f32[2] {\n  absorbed a.b\n}\n", "line 3: expected '@' before an absorbed module path, found 'a.b'");
    REJECTS(X "%1 = fused(%0) : f32[2] {\n} x\n", "line 3: unexpected 'x' after '}'");
    REJECTS(X "%1 = fused(%0) : f32[2] {\n  symbol s\n}\n", "line 3: symbols are declared first");
    REJECTS(X "%1 = fused(%0) : f32[2] {\n}\n", "line 2: node %1 (fused): body has 0 outputs, want 1");
    // ids inside a body are the body's own: %0 of the outer graph is not visible there
    REJECTS(X "%1 = fused(%0) : f32[2] {\n  %0 = neg(%0) : f32[2]\n}\n", "line 3: unknown %0");
    // a fault in a body is reported on the body node's line
    REJECTS(X "%1 = fused(%0) : f32[2] {\n"
              "    %0 = input \"in0\" : f32[2]\n"
              "    %1 = exp(%0) : f32[3]\n"
              "    output \"out\" = %1\n"
              "}\n",
            "line 4: node %1 (fused) body: node %1 (exp): shape [3], but its operands give [2]");
    char deep[4096] = X "%1 = fused() : f32[2] {\n";
    for (int i = 0; i < 16; i++) strcat(deep, "%0 = fused() : f32[2] {\n");
    REJECTS(deep, "line 18: fused bodies nested deeper than 16");
}

static void parse_rejects_bad_outputs(void) {
    REJECTS(X "output \"y\" = %3\n", "line 2: unknown %3");
    REJECTS(X "output y = %0\n", "line 2: expected a quoted string, found 'y'");
    REJECTS(X "output \"y\" %0\n", "line 2: expected '=' after the output name, found '%0'");
    REJECTS(X "output \"y\" = %0 extra\n", "line 2: unexpected 'extra' after the output");
    REJECTS(X "output \"y\" = %0\noutput \"y\" = %0\n", "line 3: duplicate output name 'y'");
    char text[1024] = X;
    for (int i = 0; i <= IR_MAX_OUTPUTS; i++) snprintf(text + strlen(text), sizeof(text) - strlen(text), "output \"o%d\" = %%0\n", i);
    REJECTS(text, "line 18: more than 16 outputs");
}

// Shapes the parser takes as written; the verifier (run by the parser) puts its finding on the line.
static void parse_reports_verifier_errors_on_their_line(void) {
    REJECTS("symbol batch\n"
            "%0 = input \"x\" : f32[batch, 8]\n"
            "%1 = weight \"w\" : f32[16, 7]\n"
            "%2 = matmul(%0, %1) trans_b : f32[batch, 16]  @encoder.layer.0.attention.self.query\n"
            "output \"y\" = %2\n",
            "line 4: node %2 (matmul) @encoder.layer.0.attention.self.query: inner dims differ: [batch, 8] x [16, 7]^T");
    REJECTS(X "%1 = lt(%0, %0) : f32[2]\n", "line 2: node %1 (lt): dtype f32, but its operands give bool");
    REJECTS(X "%1 = input \"x\" : f32[2]\n", "line 2: node %1 (input): duplicate input name 'x' (also %0)");
    REJECTS(X "%1 = layer_norm(%0, %0, %0) eps=1e-5 : f32[3]\n", "line 2: node %1 (layer_norm): shape [3], but its operands give [2]");
}

static void parse_accepts_edge_cases(void) {
    ir_graph *g = NULL;
    CHECK_OK(ir_parse("", &g));
    CHECK(g && g->n_nodes == 0);
    ir_graph_free(g);
    CHECK_OK(ir_parse("\n  \n# only a comment\n\t\n", &g));
    CHECK(g && g->n_nodes == 0);
    ir_graph_free(g);
    CHECK_OK(ir_parse("%0 = input \"x\\n\\t\\\\\" : f32[]\r\noutput \"\" = %0\r\n", &g));   // escapes, CRLF, empty name
    CHECK(g && g->n_nodes == 1 && strcmp(g->nodes[0]->name, "x\n\t\\") == 0 && strcmp(g->outputs[0].name, "") == 0);
    ir_graph_free(g);
    CHECK_OK(ir_parse("%0 = const [0x1p-3, -inf, 1e-45] : f32[3]\n%1 = const [65519, 1e-8] : f16[2]\n"
                      "%2 = const [3.4e38, 1] : bf16[2]\n", &g));   // values round to the dtype
    if (g) {
        const float *f = g->nodes[0]->p.data;
        const uint16_t *h = g->nodes[1]->p.data, *b = g->nodes[2]->p.data;
        CHECK(f[0] == 0.125f && isinf(f[1]) && f[1] < 0 && f[2] > 0);
        CHECK(h[0] == 0x7bff && h[1] == 0x0000);   // 65519 rounds down to 65504; 1e-8 to 0
        CHECK(b[0] == 0x7f80 && b[1] == 0x3f80);   // 3.4e38 rounds up to inf in bf16
    }
    ir_graph_free(g);
    CHECK_FAILS(ir_parse(NULL, &g), KILN_ERR_INVALID_ARG, "NULL");
    CHECK(g == NULL);
    CHECK_FAILS(ir_parse("", NULL), KILN_ERR_INVALID_ARG, "NULL");
}

/* ---- robustness: truncations and seeded mutations of printed graphs ---- */

static uint32_t rng = 12345;
static uint32_t next_rand(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

// Parses `text`: it must fail with a line-numbered KILN_ERR_FORMAT, or succeed and print stably.
static int try_text(const char *text) {
    ir_graph *g = NULL;
    kiln_status st = ir_parse(text, &g);
    if (st != KILN_OK) {
        CHECK_MSG(st == KILN_ERR_FORMAT && strncmp(kiln_last_error(), "line ", 5) == 0 && !g, "status %s, message \"%s\"",
                  kiln_status_name(st), kiln_last_error());
        return 0;
    }
    char *t1 = print_graph(g), *t2 = NULL;
    ir_graph *again = NULL;
    CHECK_OK(ir_parse(t1, &again));
    if (again) t2 = print_graph(again);
    CHECK_MSG(t1 && t2 && strcmp(t1, t2) == 0, "unstable print of:\n%s", text);
    free(t1);
    free(t2);
    ir_graph_free(again);
    ir_graph_free(g);
    return 1;
}

static void parse_survives_truncation(const char *text) {
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    int ok = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        memcpy(buf, text, cut);
        buf[cut] = '\0';
        ok += try_text(buf);
    }
    CHECK(ok > 0);   // some prefixes (those ending between nodes) are graphs
    free(buf);
}

static void parse_survives_mutation(const char *text, int rounds) {
    static const char *const tokens[] = {"%", "%0", "%99999", "(", ")", "[", "]", ",", ":", "{", "}", "\"", "\\", "\n",
                                         " ", "@", "-", "+", "*", "=", "0", "9223372036854775808", "1e999", "nan",
                                         "seq", "batch", "fused", "const", "axis=", "in0", "\\x00", "0x", "#"};
    size_t n = strlen(text), cap = n + 256;
    char *buf = malloc(cap + 1);
    int ok = 0;
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, text, n + 1);
        size_t len = n;
        int edits = 1 + (int)(next_rand() % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? next_rand() % len : 0;
            switch (next_rand() % 4) {
            case 0:   // overwrite one byte
                buf[at] = (char)(1 + next_rand() % 255);
                break;
            case 1: {   // delete a span
                size_t span = 1 + next_rand() % 24;
                span = KILN_MIN(len - at, span);
                memmove(buf + at, buf + at + span, len - at - span + 1);
                len -= span;
                break;
            }
            default: {   // insert a token
                const char *tok = tokens[next_rand() % KILN_ARRAY_SIZE(tokens)];
                size_t tl = strlen(tok);
                if (len + tl > cap) break;
                memmove(buf + at + tl, buf + at, len - at + 1);
                memcpy(buf + at, tok, tl);
                len += tl;
                break;
            }
            }
        }
        ok += try_text(buf);
    }
    CHECK(ok > 0);   // some mutations (inside names, say) still parse
    free(buf);
}

static void parse_survives_damaged_text(void) {
    ir_graph *g = build_every_op(), *b = build_bert_block();
    char *every = print_graph(g), *bert = print_graph(b);
    if (every && bert) {
        parse_survives_truncation(every);
        parse_survives_truncation(bert);
        parse_survives_mutation(every, 1500);
        parse_survives_mutation(bert, 1500);
    }
    free(every);
    free(bert);
    ir_graph_free(g);
    ir_graph_free(b);
}

int main(void) {
    parse_rejects_bad_tokens();
    parse_rejects_bad_numbers_and_dims();
    parse_rejects_bad_symbols();
    parse_rejects_bad_operands_and_params();
    parse_rejects_bad_consts();
    parse_rejects_bad_structure();
    parse_rejects_bad_outputs();
    parse_reports_verifier_errors_on_their_line();
    parse_accepts_edge_cases();
    parse_survives_damaged_text();
    return test_summary();
}
