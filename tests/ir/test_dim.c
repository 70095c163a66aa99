/* test_dim.c — symbolic dims: canonical form, arithmetic, equality, evaluation, running out of
 * terms or factors, and printing.
 */
#include "ir_graphs.h"

static ir_graph *g;
static int batch, seq, past;

static const char *str(ir_dim d) {
    static char buf[256];
    ir_dim_print(d, g, buf, sizeof(buf));
    return buf;
}

#define CHECK_DIM(d, text) CHECK_MSG(strcmp(str(d), (text)) == 0, "printed '%s', want '%s'", str(d), (text))

static void test_dims_are_canonical(void) {
    ir_dim B = ir_dim_sym(batch), S = ir_dim_sym(seq), a = {0}, b = {0};
    CHECK(ir_dim_add(B, S, &a) && ir_dim_add(S, B, &b) && ir_dim_eq(a, b));   // order does not matter
    CHECK(memcmp(&a.terms[0], &b.terms[0], sizeof(ir_term)) == 0);
    CHECK(ir_dim_mul(B, S, &a) && ir_dim_mul(S, B, &b) && ir_dim_eq(a, b) && a.n_terms == 1 && a.terms[0].n_factors == 2);
    CHECK(a.terms[0].factors[0] == batch && a.terms[0].factors[1] == seq);   // factors ascending
    // like terms merge and zero terms vanish
    CHECK(ir_dim_add(S, ir_dim_const(1), &a) && ir_dim_sub(a, S, &b) && ir_dim_eq(b, ir_dim_const(1)) && b.n_terms == 1);
    CHECK(ir_dim_sub(S, S, &a) && a.n_terms == 0 && ir_dim_eq(a, ir_dim_const(0)));
    CHECK(ir_dim_add(S, S, &a) && a.n_terms == 1 && a.terms[0].coeff == 2);
    CHECK(ir_dim_const(0).n_terms == 0);
    // the constant term sorts first
    CHECK(ir_dim_add(S, ir_dim_const(7), &a) && a.terms[0].n_factors == 0 && a.terms[0].coeff == 7);
}

static void test_dim_arithmetic(void) {
    ir_dim S = ir_dim_sym(seq), P = ir_dim_sym(past), a = {0}, b = {0}, c = {0};
    int64_t v;
    CHECK(ir_dim_is_const(ir_dim_const(768), &v) && v == 768);
    CHECK(ir_dim_is_const(ir_dim_const(0), &v) && v == 0);
    CHECK(!ir_dim_is_const(S, NULL));
    CHECK(ir_dim_mul(ir_dim_const(12), ir_dim_const(64), &a) && ir_dim_eq(a, ir_dim_const(768)));
    // (seq + 1) * (seq - 1) = seq*seq - 1
    CHECK(ir_dim_add(S, ir_dim_const(1), &a) && ir_dim_sub(S, ir_dim_const(1), &b) && ir_dim_mul(a, b, &c));
    CHECK_DIM(c, "seq*seq - 1");
    // (past + seq) - past = seq
    CHECK(ir_dim_add(P, S, &a) && ir_dim_sub(a, P, &b) && ir_dim_eq(b, S));
    CHECK(!ir_dim_eq(S, P) && !ir_dim_eq(S, ir_dim_const(1)) && ir_dim_eq(ir_dim_const(768), ir_dim_const(768)));
    CHECK(!ir_dim_eq(ir_dim_const(768), ir_dim_const(769)));
    CHECK(ir_dim_mul(S, ir_dim_const(0), &a) && ir_dim_eq(a, ir_dim_const(0)));
}

static void test_dim_eval(void) {
    int64_t values[IR_MAX_SYMBOLS] = {0};
    values[batch] = 3;
    values[seq] = 5;
    values[past] = 11;
    ir_dim B = ir_dim_sym(batch), S = ir_dim_sym(seq), P = ir_dim_sym(past), a = {0}, b = {0};
    CHECK(ir_dim_mul(B, S, &a) && ir_dim_add(a, ir_dim_const(2), &b) && ir_dim_eval(b, values) == 17);
    CHECK(ir_dim_add(P, S, &a) && ir_dim_eval(a, values) == 16);
    CHECK(ir_dim_sub(ir_dim_const(1), S, &a) && ir_dim_eval(a, values) == -4);
    CHECK(ir_dim_eval(ir_dim_const(0), values) == 0);
}

static void test_dim_overflow_returns_false(void) {
    ir_graph *h = ir_graph_create();
    int s[8];
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        s[i] = ir_graph_symbol(h, name);
    }
    ir_dim sum = ir_dim_const(0), prod = ir_dim_const(1), out;
    for (int i = 0; i < IR_DIM_MAX_TERMS; i++) CHECK(ir_dim_add(sum, ir_dim_sym(s[i]), &sum));
    CHECK(!ir_dim_add(sum, ir_dim_sym(s[IR_DIM_MAX_TERMS]), &out));   // one term too many
    CHECK(!ir_dim_sub(sum, ir_dim_sym(s[IR_DIM_MAX_TERMS]), &out));
    CHECK(ir_dim_add(sum, ir_dim_sym(s[0]), &out));                    // merges: still fits
    for (int i = 0; i < IR_DIM_MAX_FACTORS; i++) CHECK(ir_dim_mul(prod, ir_dim_sym(s[i]), &prod));
    CHECK(!ir_dim_mul(prod, ir_dim_sym(s[0]), &out));                  // one factor too many
    ir_dim three = ir_dim_const(0);
    for (int i = 0; i < 3; i++) CHECK(ir_dim_add(three, ir_dim_sym(s[i]), &three));
    ir_dim other = ir_dim_const(0);
    for (int i = 3; i < 6; i++) CHECK(ir_dim_add(other, ir_dim_sym(s[i]), &other));
    CHECK(!ir_dim_mul(three, other, &out));                            // 9 distinct products
    ir_graph_free(h);
}

static void test_dim_printing(void) {
    ir_dim B = ir_dim_sym(batch), S = ir_dim_sym(seq), P = ir_dim_sym(past), a = {0}, b = {0};
    CHECK_DIM(ir_dim_const(768), "768");
    CHECK_DIM(ir_dim_const(0), "0");
    CHECK_DIM(ir_dim_const(-3), "-3");
    CHECK_DIM(S, "seq");
    CHECK(ir_dim_mul(B, S, &a));
    CHECK_DIM(a, "batch*seq");
    CHECK(ir_dim_add(S, P, &a));
    CHECK_DIM(a, "past + seq");   // past was declared before seq
    CHECK(ir_dim_mul(ir_dim_const(2), S, &a) && ir_dim_add(a, ir_dim_const(1), &b));
    CHECK_DIM(b, "2*seq + 1");
    CHECK(ir_dim_sub(S, ir_dim_const(1), &a));
    CHECK_DIM(a, "seq - 1");
    CHECK(ir_dim_sub(ir_dim_const(0), S, &a));
    CHECK_DIM(a, "-seq");
    CHECK(ir_dim_mul(ir_dim_const(-2), S, &a) && ir_dim_sub(a, P, &b) && ir_dim_add(b, ir_dim_const(3), &a));
    CHECK_DIM(a, "-past - 2*seq + 3");
    CHECK(ir_dim_mul(S, S, &a));
    CHECK_DIM(a, "seq*seq");
    CHECK_DIM(ir_dim_const(INT64_MIN), "-9223372036854775808");

    // snprintf semantics: the full length comes back, the text is cut and NUL-terminated
    char small[4] = "xyz";
    CHECK(ir_dim_mul(B, S, &a));
    CHECK(ir_dim_print(a, g, small, sizeof(small)) == 9 && strcmp(small, "bat") == 0);
    CHECK(ir_dim_print(a, g, NULL, 0) == 9);
    char one[1] = {'x'};
    CHECK(ir_dim_print(a, g, one, 1) == 9 && one[0] == '\0');

    // names that are not plain words are quoted; ids without a graph print as $id
    ir_graph *h = ir_graph_create();
    int odd = ir_graph_symbol(h, "dim param");
    char buf[64];
    CHECK(ir_dim_add(ir_dim_sym(odd), ir_dim_const(1), &a));
    ir_dim_print(a, h, buf, sizeof(buf));
    CHECK_MSG(strcmp(buf, "\"dim param\" + 1") == 0, "%s", buf);
    ir_dim_print(ir_dim_sym(3), NULL, buf, sizeof(buf));
    CHECK(strcmp(buf, "$3") == 0);
    ir_graph_free(h);
}

int main(void) {
    g = ir_graph_create();
    batch = ir_graph_symbol(g, "batch");
    past = ir_graph_symbol(g, "past");
    seq = ir_graph_symbol(g, "seq");
    test_dims_are_canonical();
    test_dim_arithmetic();
    test_dim_eval();
    test_dim_overflow_returns_false();
    test_dim_printing();
    ir_graph_free(g);
    return test_summary();
}
