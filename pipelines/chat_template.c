/* chat_template.c — a small Jinja interpreter for chat templates (the subset in chat_template.h):
 * the template is cut into text and tags (with trim_blocks, lstrip_blocks and `-` whitespace
 * control applied as Jinja does), parsed into a tree of statements and expressions, and evaluated
 * over values that live in one arena per render.
 */
#include "pipelines/chat_template.h"

#include <ctype.h>
#include <math.h>

#include "runtime/program.h"

/* ---- values ------------------------------------------------------------------------------- */

typedef struct jstr {
    const char *p;
    size_t n;
} jstr;

typedef enum { J_UNDEF, J_NONE, J_BOOL, J_INT, J_FLOAT, J_STR, J_LIST, J_DICT } jkind;

typedef struct jval jval;
struct jval {
    jkind kind;
    bool b;
    int64_t i;
    double f;
    jstr s;
    jval *items;   // LIST: the elements; DICT: the values
    jstr *keys;    // DICT: the keys
    size_t n;
};

static const jval UNDEF = {.kind = J_UNDEF};

static jval jv_bool(bool b) { return (jval){.kind = J_BOOL, .b = b}; }
static jval jv_int(int64_t i) { return (jval){.kind = J_INT, .i = i}; }
static jval jv_str(const char *p, size_t n) { return (jval){.kind = J_STR, .s = {p, n}}; }

static bool jstr_eq(jstr a, const char *b) { return a.n == strlen(b) && memcmp(a.p, b, a.n) == 0; }
static bool jstr_same(jstr a, jstr b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* ---- syntax tree -------------------------------------------------------------------------- */

typedef enum { E_LIT, E_NAME, E_ATTR, E_INDEX, E_SLICE, E_CALL, E_FILTER, E_TEST, E_NOT, E_NEG, E_BIN, E_AND, E_OR, E_COND, E_LIST, E_DICT } ekind;

typedef struct expr expr;
struct expr {
    ekind kind;
    int op;          // E_BIN: '+', '-', '*', '/', '%', '~', 'D' (//), 'E' (==), 'N' (!=), '<', '>', 'L' (<=), 'G' (>=), 'I' (in), 'X' (not in)
    bool negate;     // E_TEST: `is not`
    jval lit;        // E_LIT
    jstr name;       // E_NAME, E_ATTR, E_FILTER, E_TEST
    expr *a, *b, *c; // operands; E_SLICE: object, start, end (NULL: open); E_COND: value, condition, else
    expr **args;     // E_CALL, E_FILTER, E_LIST (items), E_DICT (keys then values)
    size_t n_args;
    int line;
};

typedef enum { N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_BLOCK } nkind;

typedef struct node node;
struct node {
    nkind kind;
    int line;
    jstr text;        // N_TEXT
    expr *e;          // N_OUT, N_SET (value), N_FOR (iterable), N_IF (condition)
    jstr name, name2; // N_SET target; N_FOR targets (name2.n > 0: two)
    node *body;       // N_IF then, N_FOR body, N_BLOCK body
    node *orelse;     // N_IF: the elif/else chain (an N_IF or N_BLOCK); N_FOR: else body
    node *next;
};

/* ---- the template cut into pieces --------------------------------------------------------- */

typedef enum { SEG_TEXT, SEG_EXPR, SEG_STMT } segkind;

typedef struct seg {
    segkind kind;
    jstr s;
    int line;
} seg;

typedef struct parser {
    kiln_arena *arena;
    const char *src;
    seg *segs;
    size_t n_segs, at;
    // the expression lexer over one tag
    const char *p, *end;
    int line;
    kiln_status st;
} parser;

static kiln_status perr(parser *ps, kiln_status st, const char *fmt, ...) KILN_PRINTF(3, 4);
static kiln_status perr(parser *ps, kiln_status st, const char *fmt, ...) {
    if (ps->st) return ps->st;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ps->st = kiln_error(st, "chat template: line %d: %s", ps->line, msg);
}

static int line_of(const char *src, const char *at) {
    int line = 1;
    for (const char *q = src; q < at; q++) line += *q == '\n';
    return line;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Cuts the source into text, {{ }} and {% %} pieces, dropping comments and applying whitespace
// control as Jinja's lexer does: `-` strips all whitespace on its side; lstrip_blocks strips the
// spaces and tabs between a line's start and a block tag; trim_blocks drops one newline after a
// block tag.
static kiln_status segment(parser *ps) {
    const char *s = ps->src, *end = s + strlen(s);
    size_t cap = 16;
    ps->segs = malloc(cap * sizeof(seg));
    if (!ps->segs) return perr(ps, KILN_ERR_OUT_OF_MEMORY, "out of memory");
    bool strip_next = false, trim_next = false;
    for (;;) {
        const char *open = s;
        while (open < end && !(open[0] == '{' && open + 1 < end && (open[1] == '{' || open[1] == '%' || open[1] == '#'))) open++;
        char kind = open < end ? open[1] : 0;
        bool minus_left = kind && open + 2 < end && open[2] == '-', plus_left = kind && open + 2 < end && open[2] == '+';
        const char *t0 = s, *t1 = open;
        if (strip_next)
            while (t0 < t1 && is_space(*t0)) t0++;
        else if (trim_next && t0 < t1 && *t0 == '\n') t0++;
        else if (trim_next && t1 - t0 > 1 && t0[0] == '\r' && t0[1] == '\n') t0 += 2;
        if (minus_left) {
            while (t1 > t0 && is_space(t1[-1])) t1--;
        } else if ((kind == '%' || kind == '#') && !plus_left) {   // lstrip_blocks
            const char *line = t1;
            while (line > s && line[-1] != '\n') line--;
            // s follows the previous tag's closing brace, so a line starts there only at the top
            bool blank = line > s || s == ps->src;
            for (const char *q = line; q < t1 && blank; q++) blank = *q == ' ' || *q == '\t';
            if (blank) t1 = line > t0 ? line : t0;
        }
        if (ps->n_segs + 2 > cap) {
            seg *grown = realloc(ps->segs, (cap *= 2) * sizeof(seg));
            if (!grown) return perr(ps, KILN_ERR_OUT_OF_MEMORY, "out of memory");
            ps->segs = grown;
        }
        if (t1 > t0) ps->segs[ps->n_segs++] = (seg){SEG_TEXT, {t0, (size_t)(t1 - t0)}, line_of(ps->src, t0)};
        if (!kind) break;
        const char *body = open + 2 + (minus_left || plus_left), *close = body;
        char closer = kind == '{' ? '}' : kind, quote = 0;
        for (; close + 1 < end; close++) {
            if (quote) {
                if (*close == '\\' && close + 2 < end) close++;
                else if (*close == quote) quote = 0;
            } else if (kind != '#' && (*close == '\'' || *close == '"')) {
                quote = *close;
            } else if (close[0] == closer && close[1] == '}') {
                break;
            }
        }
        ps->line = line_of(ps->src, open);
        if (close + 1 >= end) return perr(ps, KILN_ERR_FORMAT, "tag opened with '{%c' is never closed", kind);
        bool minus_right = close > body && close[-1] == '-', plus_right = close > body && close[-1] == '+';
        const char *inner_end = minus_right || (plus_right && kind != '{') ? close - 1 : close;
        if (kind != '#')
            ps->segs[ps->n_segs++] = (seg){kind == '{' ? SEG_EXPR : SEG_STMT, {body, (size_t)(inner_end - body)}, ps->line};
        strip_next = minus_right;
        trim_next = !minus_right && !plus_right && kind != '{';
        s = close + 2;
    }
    return KILN_OK;
}

/* ---- expression lexer --------------------------------------------------------------------- */

typedef enum { T_END, T_NAME, T_STR, T_INT, T_FLOAT, T_OP } tkind;

typedef struct tok {
    tkind kind;
    jstr text;   // T_NAME, T_OP; T_STR: the unescaped string
    int64_t i;
    double f;
} tok;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && is_space(*ps->p)) ps->p++;
}

static tok lex(parser *ps) {
    skip_ws(ps);
    tok t = {T_END, {ps->p, 0}, 0, 0};
    if (ps->p >= ps->end) return t;
    const char *s = ps->p;
    if (isalpha((unsigned char)*s) || *s == '_') {
        while (ps->p < ps->end && (isalnum((unsigned char)*ps->p) || *ps->p == '_')) ps->p++;
        t.kind = T_NAME;
        t.text = (jstr){s, (size_t)(ps->p - s)};
        return t;
    }
    if (isdigit((unsigned char)*s)) {
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) ps->p++;
        bool frac = ps->p + 1 < ps->end && *ps->p == '.' && isdigit((unsigned char)ps->p[1]);
        if (frac) {
            ps->p++;
            while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) ps->p++;
        }
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)(ps->p - s), s);
        t.kind = frac ? T_FLOAT : T_INT;
        t.i = strtoll(buf, NULL, 10);
        t.f = strtod(buf, NULL);
        return t;
    }
    if (*s == '\'' || *s == '"') {
        char q = *s, *out = kiln_arena_alloc(ps->arena, (size_t)(ps->end - s) + 1);
        size_t n = 0;
        if (!out) {
            perr(ps, KILN_ERR_OUT_OF_MEMORY, "out of memory");
            return t;
        }
        for (ps->p = s + 1; ps->p < ps->end && *ps->p != q; ps->p++) {
            char c = *ps->p;
            if (c == '\\' && ps->p + 1 < ps->end) {
                c = *++ps->p;
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
            }
            out[n++] = c;
        }
        if (ps->p >= ps->end) {
            perr(ps, KILN_ERR_FORMAT, "unterminated string");
            return t;
        }
        ps->p++;
        t.kind = T_STR;
        t.text = (jstr){out, n};
        return t;
    }
    static const char *const two[] = {"==", "!=", "<=", ">=", "//"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(two); i++)
        if (ps->p + 1 < ps->end && s[0] == two[i][0] && s[1] == two[i][1]) {
            ps->p += 2;
            t.kind = T_OP;
            t.text = (jstr){s, 2};
            return t;
        }
    if (strchr("()[]{}.,:|+-*/%~<>=", *s)) {
        ps->p++;
        t.kind = T_OP;
        t.text = (jstr){s, 1};
        return t;
    }
    perr(ps, KILN_ERR_FORMAT, "unexpected character '%c'", *s);
    return t;
}

static tok peek(parser *ps) {
    const char *save = ps->p;
    tok t = lex(ps);
    ps->p = save;
    return t;
}

static bool accept_op(parser *ps, const char *op) {
    tok t = peek(ps);
    if (t.kind != T_OP || !jstr_eq(t.text, op)) return false;
    lex(ps);
    return true;
}

static bool accept_name(parser *ps, const char *name) {
    tok t = peek(ps);
    if (t.kind != T_NAME || !jstr_eq(t.text, name)) return false;
    lex(ps);
    return true;
}

static bool expect_op(parser *ps, const char *op) {
    if (accept_op(ps, op)) return true;
    perr(ps, KILN_ERR_FORMAT, "expected '%s'", op);
    return false;
}

/* ---- expression parser (Jinja's precedence) ------------------------------------------------ */

static expr *new_expr(parser *ps, ekind kind) {
    expr *e = kiln_arena_alloc(ps->arena, sizeof(expr));
    if (!e) {
        perr(ps, KILN_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    e->kind = kind;
    e->line = ps->line;
    return e;
}

static expr *parse_expr(parser *ps);

// Comma-separated expressions up to `close`; *n_out of them in an arena array.
static expr **parse_list(parser *ps, const char *close, size_t *n_out) {
    expr *items[64];
    size_t n = 0;
    while (!ps->st && !accept_op(ps, close)) {
        if (n && !expect_op(ps, ",")) return NULL;
        if (accept_op(ps, close)) break;   // trailing comma
        if (n == KILN_ARRAY_SIZE(items)) {
            perr(ps, KILN_ERR_UNSUPPORTED, "more than 64 items in a list or call");
            return NULL;
        }
        // keyword arguments (name=value) are accepted and passed by position
        tok t = peek(ps);
        if (t.kind == T_NAME) {
            const char *save = ps->p;
            lex(ps);
            if (!(accept_op(ps, "=") && !accept_op(ps, "="))) ps->p = save;
        }
        items[n++] = parse_expr(ps);
    }
    expr **out = kiln_arena_alloc(ps->arena, (n + 1) * sizeof(expr *));
    if (!out) return NULL;
    memcpy(out, items, n * sizeof(expr *));
    *n_out = n;
    return out;
}

static expr *parse_primary(parser *ps) {
    tok t = lex(ps);
    expr *e = NULL;
    switch (t.kind) {
    case T_STR:
    case T_INT:
    case T_FLOAT:
        if (!(e = new_expr(ps, E_LIT))) return NULL;
        e->lit = t.kind == T_STR ? jv_str(t.text.p, t.text.n) : t.kind == T_INT ? jv_int(t.i) : (jval){.kind = J_FLOAT, .f = t.f};
        return e;
    case T_NAME:
        if (!(e = new_expr(ps, E_LIT))) return NULL;
        if (jstr_eq(t.text, "true") || jstr_eq(t.text, "True")) e->lit = jv_bool(true);
        else if (jstr_eq(t.text, "false") || jstr_eq(t.text, "False")) e->lit = jv_bool(false);
        else if (jstr_eq(t.text, "none") || jstr_eq(t.text, "None")) e->lit = (jval){.kind = J_NONE};
        else e->kind = E_NAME, e->name = t.text;
        return e;
    case T_OP:
        if (jstr_eq(t.text, "(")) {
            e = parse_expr(ps);
            expect_op(ps, ")");
            return e;
        }
        if (jstr_eq(t.text, "[")) {
            if (!(e = new_expr(ps, E_LIST))) return NULL;
            e->args = parse_list(ps, "]", &e->n_args);
            return e;
        }
        if (jstr_eq(t.text, "{")) {
            if (!(e = new_expr(ps, E_DICT))) return NULL;
            expr *kv[128];
            size_t n = 0;
            while (!ps->st && !accept_op(ps, "}")) {
                if (n && !expect_op(ps, ",")) return NULL;
                if (accept_op(ps, "}")) break;
                if (n + 2 > KILN_ARRAY_SIZE(kv)) return perr(ps, KILN_ERR_UNSUPPORTED, "dict literal too long"), NULL;
                kv[n++] = parse_expr(ps);
                expect_op(ps, ":");
                kv[n++] = parse_expr(ps);
            }
            if (!(e->args = kiln_arena_alloc(ps->arena, (n + 1) * sizeof(expr *)))) return NULL;
            for (size_t i = 0; i < n / 2; i++) e->args[i] = kv[2 * i], e->args[n / 2 + i] = kv[2 * i + 1];
            e->n_args = n / 2;
            return e;
        }
        break;
    default:
        break;
    }
    perr(ps, KILN_ERR_FORMAT, "expected a value, found '%.*s'", (int)t.text.n, t.text.p);
    return NULL;
}

static expr *parse_postfix(parser *ps, expr *e) {
    while (e && !ps->st) {
        expr *x;
        if (accept_op(ps, ".")) {
            tok t = lex(ps);
            if (t.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a name after '.'"), NULL;
            if (!(x = new_expr(ps, E_ATTR))) return NULL;
            x->a = e, x->name = t.text;
        } else if (accept_op(ps, "[")) {
            expr *lo = NULL, *hi = NULL;
            if (!accept_op(ps, ":")) {
                lo = parse_expr(ps);
                if (accept_op(ps, "]")) {
                    if (!(x = new_expr(ps, E_INDEX))) return NULL;
                    x->a = e, x->b = lo;
                    e = x;
                    continue;
                }
                expect_op(ps, ":");
            }
            if (!accept_op(ps, "]")) {
                hi = parse_expr(ps);
                expect_op(ps, "]");
            }
            if (!(x = new_expr(ps, E_SLICE))) return NULL;
            x->a = e, x->b = lo, x->c = hi;
        } else if (accept_op(ps, "(")) {
            if (!(x = new_expr(ps, E_CALL))) return NULL;
            x->a = e;
            x->args = parse_list(ps, ")", &x->n_args);
        } else {
            return e;
        }
        e = x;
    }
    return e;
}

// Filters (`| name(args)`) and tests (`is [not] name`), applied left to right.
static expr *parse_filters(parser *ps, expr *e) {
    while (e && !ps->st) {
        expr *x;
        if (accept_op(ps, "|")) {
            tok t = lex(ps);
            if (t.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a filter name after '|'"), NULL;
            if (!(x = new_expr(ps, E_FILTER))) return NULL;
            x->a = e, x->name = t.text;
            if (accept_op(ps, "(")) x->args = parse_list(ps, ")", &x->n_args);
        } else if (accept_name(ps, "is")) {
            if (!(x = new_expr(ps, E_TEST))) return NULL;
            x->negate = accept_name(ps, "not");
            tok t = lex(ps);
            if (t.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a test name after 'is'"), NULL;
            x->a = e, x->name = t.text;
        } else {
            return e;
        }
        e = x;
    }
    return e;
}

static expr *parse_unary(parser *ps) {
    if (accept_op(ps, "-")) {
        expr *x = new_expr(ps, E_NEG);
        if (x) x->a = parse_unary(ps);
        return x;
    }
    if (accept_op(ps, "+")) return parse_unary(ps);
    return parse_filters(ps, parse_postfix(ps, parse_primary(ps)));
}

static expr *binary(parser *ps, int op, expr *a, expr *b) {
    expr *x = new_expr(ps, E_BIN);
    if (x) x->op = op, x->a = a, x->b = b;
    return x;
}

static expr *parse_math2(parser *ps) {
    expr *e = parse_unary(ps);
    for (;;) {
        if (accept_op(ps, "//")) e = binary(ps, 'D', e, parse_unary(ps));
        else if (accept_op(ps, "*")) e = binary(ps, '*', e, parse_unary(ps));
        else if (accept_op(ps, "/")) e = binary(ps, '/', e, parse_unary(ps));
        else if (accept_op(ps, "%")) e = binary(ps, '%', e, parse_unary(ps));
        else return e;
    }
}

static expr *parse_concat(parser *ps) {
    expr *e = parse_math2(ps);
    while (accept_op(ps, "~")) e = binary(ps, '~', e, parse_math2(ps));
    return e;
}

static expr *parse_math1(parser *ps) {
    expr *e = parse_concat(ps);
    for (;;) {
        if (accept_op(ps, "+")) e = binary(ps, '+', e, parse_concat(ps));
        else if (accept_op(ps, "-")) e = binary(ps, '-', e, parse_concat(ps));
        else return e;
    }
}

static expr *parse_compare(parser *ps) {
    expr *e = parse_math1(ps);
    for (;;) {
        static const struct {
            const char *op;
            int code;
        } ops[] = {{"==", 'E'}, {"!=", 'N'}, {"<=", 'L'}, {">=", 'G'}, {"<", '<'}, {">", '>'}};
        bool found = false;
        for (size_t i = 0; i < KILN_ARRAY_SIZE(ops) && !found; i++)
            if (accept_op(ps, ops[i].op)) e = binary(ps, ops[i].code, e, parse_math1(ps)), found = true;
        if (found) continue;
        if (accept_name(ps, "in")) {
            e = binary(ps, 'I', e, parse_math1(ps));
            continue;
        }
        tok t = peek(ps);
        if (t.kind == T_NAME && jstr_eq(t.text, "not")) {
            const char *save = ps->p;
            lex(ps);
            if (accept_name(ps, "in")) {
                e = binary(ps, 'X', e, parse_math1(ps));
                continue;
            }
            ps->p = save;
        }
        return e;
    }
}

static expr *parse_not(parser *ps) {
    if (accept_name(ps, "not")) {
        expr *x = new_expr(ps, E_NOT);
        if (x) x->a = parse_not(ps);
        return x;
    }
    return parse_compare(ps);
}

static expr *parse_and(parser *ps) {
    expr *e = parse_not(ps);
    while (accept_name(ps, "and")) {
        expr *x = new_expr(ps, E_AND);
        if (!x) return NULL;
        x->a = e, x->b = parse_not(ps);
        e = x;
    }
    return e;
}

static expr *parse_or(parser *ps) {
    expr *e = parse_and(ps);
    while (accept_name(ps, "or")) {
        expr *x = new_expr(ps, E_OR);
        if (!x) return NULL;
        x->a = e, x->b = parse_and(ps);
        e = x;
    }
    return e;
}

static expr *parse_expr(parser *ps) {
    expr *e = parse_or(ps);
    if (accept_name(ps, "if")) {
        expr *x = new_expr(ps, E_COND);
        if (!x) return NULL;
        x->a = e;
        x->b = parse_or(ps);
        if (accept_name(ps, "else")) x->c = parse_expr(ps);
        e = x;
    }
    return e;
}

// Parses a whole tag's text as one expression.
static expr *parse_tag_expr(parser *ps) {
    expr *e = parse_expr(ps);
    skip_ws(ps);
    if (!ps->st && ps->p < ps->end) perr(ps, KILN_ERR_FORMAT, "unexpected '%.*s'", (int)(ps->end - ps->p), ps->p);
    return e;
}

/* ---- statements --------------------------------------------------------------------------- */

static node *new_node(parser *ps, nkind kind) {
    node *n = kiln_arena_alloc(ps->arena, sizeof(node));
    if (!n) {
        perr(ps, KILN_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = ps->line;
    return n;
}

// Parses statements until a {% tag %} whose keyword is in `stops` (space-separated); returns the
// list and leaves ps->p after that keyword (*stop_out is it), or at the end (*stop_out empty).
static node *parse_body(parser *ps, const char *stops, jstr *stop_out) {
    node *first = NULL, **tail = &first;
    *stop_out = (jstr){"", 0};
    while (!ps->st && ps->at < ps->n_segs) {
        seg *sg = &ps->segs[ps->at++];
        ps->line = sg->line;
        ps->p = sg->s.p;
        ps->end = sg->s.p + sg->s.n;
        node *n = NULL;
        if (sg->kind == SEG_TEXT) {
            if ((n = new_node(ps, N_TEXT))) n->text = sg->s;
        } else if (sg->kind == SEG_EXPR) {
            if ((n = new_node(ps, N_OUT))) n->e = parse_tag_expr(ps);
        } else {
            tok kw = lex(ps);
            if (kw.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a statement"), NULL;
            // Is it one of the keywords that end the caller's block?
            for (const char *s = stops; *s;) {
                const char *e = strchr(s, ' ');
                size_t n_s = e ? (size_t)(e - s) : strlen(s);
                if (kw.text.n == n_s && memcmp(kw.text.p, s, n_s) == 0) {
                    *stop_out = kw.text;
                    return first;
                }
                s += n_s + (e ? 1 : 0);
            }
            jstr stop;
            if (jstr_eq(kw.text, "if")) {
                node *top = new_node(ps, N_IF), *cur = top;
                if (!top) return NULL;
                cur->e = parse_tag_expr(ps);
                cur->body = parse_body(ps, "elif else endif", &stop);
                while (!ps->st && jstr_eq(stop, "elif")) {
                    node *alt = new_node(ps, N_IF);
                    if (!alt) return NULL;
                    alt->e = parse_tag_expr(ps);
                    alt->body = parse_body(ps, "elif else endif", &stop);
                    cur->orelse = alt;
                    cur = alt;
                }
                if (!ps->st && jstr_eq(stop, "else")) {
                    node *blk = new_node(ps, N_BLOCK);
                    if (!blk) return NULL;
                    blk->body = parse_body(ps, "endif", &stop);
                    cur->orelse = blk;
                }
                if (!ps->st && !jstr_eq(stop, "endif")) return perr(ps, KILN_ERR_FORMAT, "{%% if %%} without {%% endif %%}"), NULL;
                n = top;
            } else if (jstr_eq(kw.text, "for")) {
                if (!(n = new_node(ps, N_FOR))) return NULL;
                tok a = lex(ps);
                if (a.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a loop variable"), NULL;
                n->name = a.text;
                if (accept_op(ps, ",")) {
                    tok b = lex(ps);
                    if (b.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a second loop variable"), NULL;
                    n->name2 = b.text;
                }
                if (!accept_name(ps, "in")) return perr(ps, KILN_ERR_FORMAT, "expected 'in' in {%% for %%}"), NULL;
                n->e = parse_tag_expr(ps);
                n->body = parse_body(ps, "else endfor", &stop);
                if (!ps->st && jstr_eq(stop, "else")) n->orelse = parse_body(ps, "endfor", &stop);
                if (!ps->st && !jstr_eq(stop, "endfor")) return perr(ps, KILN_ERR_FORMAT, "{%% for %%} without {%% endfor %%}"), NULL;
            } else if (jstr_eq(kw.text, "set")) {
                if (!(n = new_node(ps, N_SET))) return NULL;
                tok a = lex(ps);
                if (a.kind != T_NAME) return perr(ps, KILN_ERR_FORMAT, "expected a name after 'set'"), NULL;
                if (accept_op(ps, ".")) return perr(ps, KILN_ERR_UNSUPPORTED, "{%% set a.b = ... %%} (namespaces) is not supported"), NULL;
                n->name = a.text;
                if (!expect_op(ps, "=")) return NULL;
                n->e = parse_tag_expr(ps);
            } else if (jstr_eq(kw.text, "generation")) {   // Transformers' marker for assistant spans
                if (!(n = new_node(ps, N_BLOCK))) return NULL;
                n->body = parse_body(ps, "endgeneration", &stop);
                if (!ps->st && !jstr_eq(stop, "endgeneration"))
                    return perr(ps, KILN_ERR_FORMAT, "{%% generation %%} without {%% endgeneration %%}"), NULL;
            } else if (jstr_eq(kw.text, "endif") || jstr_eq(kw.text, "endfor") || jstr_eq(kw.text, "elif") || jstr_eq(kw.text, "else") ||
                       jstr_eq(kw.text, "endgeneration")) {
                return perr(ps, KILN_ERR_FORMAT, "unexpected {%% %.*s %%}", (int)kw.text.n, kw.text.p), NULL;
            } else {
                return perr(ps, KILN_ERR_UNSUPPORTED, "{%% %.*s %%} is not supported", (int)kw.text.n, kw.text.p), NULL;
            }
        }
        if (!n) return NULL;
        *tail = n;
        tail = &n->next;
    }
    return first;
}

/* ---- evaluation --------------------------------------------------------------------------- */

typedef struct var {
    jstr name;
    jval val;
} var;

typedef struct env {
    kiln_arena *arena;
    var vars[256];
    size_t n_vars;
    kiln_strbuf *out;
    kiln_status st;
} env;

static kiln_status eerr(env *v, const expr *e, kiln_status st, const char *fmt, ...) KILN_PRINTF(4, 5);
static kiln_status eerr(env *v, const expr *e, kiln_status st, const char *fmt, ...) {
    if (v->st) return v->st;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return v->st = kiln_error(st, "chat template: line %d: %s", e ? e->line : 0, msg);
}

static jval lookup(env *v, jstr name) {
    for (size_t i = v->n_vars; i-- > 0;)
        if (jstr_same(v->vars[i].name, name)) return v->vars[i].val;
    return UNDEF;
}

static bool push_var(env *v, jstr name, jval val) {
    if (v->n_vars == KILN_ARRAY_SIZE(v->vars)) return false;
    v->vars[v->n_vars++] = (var){name, val};
    return true;
}

static bool truthy(jval x) {
    switch (x.kind) {
    case J_BOOL: return x.b;
    case J_INT: return x.i != 0;
    case J_FLOAT: return x.f != 0;
    case J_STR: return x.s.n > 0;
    case J_LIST:
    case J_DICT: return x.n > 0;
    default: return false;
    }
}

static bool is_num(jval x) { return x.kind == J_INT || x.kind == J_FLOAT || x.kind == J_BOOL; }
static double num(jval x) { return x.kind == J_FLOAT ? x.f : x.kind == J_BOOL ? (double)x.b : (double)x.i; }

static bool equal(jval a, jval b) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case J_STR: return a.s.n == b.s.n && memcmp(a.s.p, b.s.p, a.s.n) == 0;
    case J_LIST:
    case J_DICT:
        if (a.n != b.n) return false;
        for (size_t i = 0; i < a.n; i++)
            if ((a.kind == J_DICT && !jstr_same(a.keys[i], b.keys[i])) || !equal(a.items[i], b.items[i])) return false;
        return true;
    default: return true;   // none == none, undefined == undefined
    }
}

static void json_string(kiln_strbuf *sb, jstr s) {
    kiln_strbuf_append(sb, "\"", 1);
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"' || c == '\\') kiln_strbuf_printf(sb, "\\%c", c);
        else if (c == '\n') kiln_strbuf_append(sb, "\\n", 2);
        else if (c == '\t') kiln_strbuf_append(sb, "\\t", 2);
        else if (c == '\r') kiln_strbuf_append(sb, "\\r", 2);
        else if (c < 0x20) kiln_strbuf_printf(sb, "\\u%04x", c);
        else kiln_strbuf_append(sb, (const char *)&c, 1);
    }
    kiln_strbuf_append(sb, "\"", 1);
}

// Python's str() of a value (what {{ }} prints), or json.dumps for tojson.
static void stringify(kiln_strbuf *sb, jval x, bool json) {
    switch (x.kind) {
    case J_UNDEF: break;
    case J_NONE: kiln_strbuf_printf(sb, "%s", json ? "null" : "None"); break;
    case J_BOOL: kiln_strbuf_printf(sb, "%s", json ? (x.b ? "true" : "false") : (x.b ? "True" : "False")); break;
    case J_INT: kiln_strbuf_printf(sb, "%lld", (long long)x.i); break;
    case J_FLOAT: {
        char buf[40];
        snprintf(buf, sizeof(buf), "%.17g", x.f);
        for (int prec = 1; prec <= 17; prec++) {   // the shortest repr that reads back
            snprintf(buf, sizeof(buf), "%.*g", prec, x.f);
            if (strtod(buf, NULL) == x.f) break;
        }
        kiln_strbuf_printf(sb, "%s%s", buf, strpbrk(buf, ".eEni") ? "" : ".0");
        break;
    }
    case J_STR:
        if (json) json_string(sb, x.s);
        else kiln_strbuf_append(sb, x.s.p, x.s.n);
        break;
    case J_LIST:
    case J_DICT:
        kiln_strbuf_append(sb, x.kind == J_LIST ? "[" : "{", 1);
        for (size_t i = 0; i < x.n; i++) {
            if (i) kiln_strbuf_append(sb, ", ", 2);
            if (x.kind == J_DICT) {
                if (json) json_string(sb, x.keys[i]);
                else kiln_strbuf_printf(sb, "'%.*s'", (int)x.keys[i].n, x.keys[i].p);
                kiln_strbuf_append(sb, ": ", 2);
            }
            if (!json && x.items[i].kind == J_STR) kiln_strbuf_printf(sb, "'%.*s'", (int)x.items[i].s.n, x.items[i].s.p);
            else stringify(sb, x.items[i], json);
        }
        kiln_strbuf_append(sb, x.kind == J_LIST ? "]" : "}", 1);
        break;
    }
}

// The string form of a value, in the arena.
static jval to_str(env *v, jval x, bool json) {
    if (x.kind == J_STR && !json) return x;
    kiln_strbuf sb = {0};
    stringify(&sb, x, json);
    char *p = sb.failed ? NULL : kiln_arena_strndup(v->arena, sb.data ? sb.data : "", sb.len);
    size_t n = sb.len;
    kiln_strbuf_free(&sb);
    if (!p) return eerr(v, NULL, KILN_ERR_OUT_OF_MEMORY, "out of memory"), UNDEF;
    return jv_str(p, n);
}

static jval concat(env *v, jstr a, jstr b) {
    char *p = kiln_arena_alloc(v->arena, a.n + b.n + 1);
    if (!p) return eerr(v, NULL, KILN_ERR_OUT_OF_MEMORY, "out of memory"), UNDEF;
    memcpy(p, a.p, a.n);
    memcpy(p + a.n, b.p, b.n);
    return jv_str(p, a.n + b.n);
}

static jval dict_get(jval d, jstr key) {
    for (size_t i = 0; d.kind == J_DICT && i < d.n; i++)
        if (jstr_same(d.keys[i], key)) return d.items[i];
    return UNDEF;
}

static jval eval(env *v, const expr *e);

static jval eval_bin(env *v, const expr *e) {
    jval a = eval(v, e->a), b = eval(v, e->b);
    if (v->st) return UNDEF;
    switch (e->op) {
    case 'E': return jv_bool(equal(a, b));
    case 'N': return jv_bool(!equal(a, b));
    case '~': {
        jval sa = to_str(v, a, false), sb = to_str(v, b, false);
        return concat(v, sa.s, sb.s);
    }
    case 'I':
    case 'X': {
        bool found = false;
        if (b.kind == J_STR && a.kind == J_STR) {
            for (size_t i = 0; !found && a.s.n <= b.s.n && i + a.s.n <= b.s.n; i++) found = memcmp(b.s.p + i, a.s.p, a.s.n) == 0;
        } else if (b.kind == J_LIST) {
            for (size_t i = 0; !found && i < b.n; i++) found = equal(a, b.items[i]);
        } else if (b.kind == J_DICT && a.kind == J_STR) {
            found = dict_get(b, a.s).kind != J_UNDEF;
        } else if (b.kind != J_UNDEF) {
            return eerr(v, e, KILN_ERR_INVALID_ARG, "'in' needs a string, list or dict on its right"), UNDEF;
        }
        return jv_bool(e->op == 'I' ? found : !found);
    }
    case '+':
        if (a.kind == J_STR && b.kind == J_STR) return concat(v, a.s, b.s);
        if (a.kind == J_LIST && b.kind == J_LIST) {
            jval r = {.kind = J_LIST, .n = a.n + b.n};
            if (!(r.items = kiln_arena_alloc(v->arena, (r.n + 1) * sizeof(jval)))) return UNDEF;
            memcpy(r.items, a.items, a.n * sizeof(jval));
            memcpy(r.items + a.n, b.items, b.n * sizeof(jval));
            return r;
        }
        break;
    default: break;
    }
    if (a.kind == J_STR && b.kind == J_STR) {   // comparisons of strings
        int c = memcmp(a.s.p, b.s.p, KILN_MIN(a.s.n, b.s.n));
        if (!c) c = a.s.n < b.s.n ? -1 : a.s.n > b.s.n;
        switch (e->op) {
        case '<': return jv_bool(c < 0);
        case '>': return jv_bool(c > 0);
        case 'L': return jv_bool(c <= 0);
        case 'G': return jv_bool(c >= 0);
        default: break;
        }
    }
    if (!is_num(a) || !is_num(b))
        return eerr(v, e, KILN_ERR_INVALID_ARG, "operator '%c' on values that are not numbers", e->op == 'D' ? '/' : e->op), UNDEF;
    bool ints = a.kind != J_FLOAT && b.kind != J_FLOAT;
    double x = num(a), y = num(b);
    switch (e->op) {
    case '<': return jv_bool(x < y);
    case '>': return jv_bool(x > y);
    case 'L': return jv_bool(x <= y);
    case 'G': return jv_bool(x >= y);
    case '+': return ints ? jv_int(a.i + b.i) : (jval){.kind = J_FLOAT, .f = x + y};
    case '-': return ints ? jv_int((int64_t)x - (int64_t)y) : (jval){.kind = J_FLOAT, .f = x - y};
    case '*': return ints ? jv_int((int64_t)x * (int64_t)y) : (jval){.kind = J_FLOAT, .f = x * y};
    case '/':
        if (y == 0) return eerr(v, e, KILN_ERR_INVALID_ARG, "division by zero"), UNDEF;
        return (jval){.kind = J_FLOAT, .f = x / y};
    case 'D':
    case '%': {
        if (y == 0) return eerr(v, e, KILN_ERR_INVALID_ARG, "division by zero"), UNDEF;
        if (!ints) return (jval){.kind = J_FLOAT, .f = e->op == 'D' ? floor(x / y) : x - floor(x / y) * y};
        int64_t p = (int64_t)x, q = (int64_t)y, d = p / q, m = p % q;
        if (m != 0 && ((m < 0) != (q < 0))) d--, m += q;   // Python floors
        return jv_int(e->op == 'D' ? d : m);
    }
    default: return eerr(v, e, KILN_ERR_INTERNAL, "operator %d", e->op), UNDEF;
    }
}

static jval strip(jval s, bool left, bool right) {
    while (left && s.s.n && is_space(*s.s.p)) s.s.p++, s.s.n--;
    while (right && s.s.n && is_space(s.s.p[s.s.n - 1])) s.s.n--;
    return s;
}

static jval map_case(env *v, jval s, int mode) {   // 0 lower, 1 upper, 2 title
    char *p = kiln_arena_alloc(v->arena, s.s.n + 1);
    if (!p) return UNDEF;
    bool start = true;
    for (size_t i = 0; i < s.s.n; i++) {
        unsigned char c = (unsigned char)s.s.p[i];
        p[i] = (char)(mode == 0 ? tolower(c) : mode == 1 ? toupper(c) : start ? toupper(c) : tolower(c));
        start = !isalnum(c);
    }
    return jv_str(p, s.s.n);
}

static jval eval_call(env *v, const expr *e) {
    jval args[8];
    size_t n = KILN_MIN(e->n_args, KILN_ARRAY_SIZE(args));
    for (size_t i = 0; i < n; i++) args[i] = eval(v, e->args[i]);
    if (v->st) return UNDEF;
    if (e->a->kind == E_NAME && jstr_eq(e->a->name, "raise_exception")) {
        jval msg = n ? to_str(v, args[0], false) : jv_str("", 0);
        return eerr(v, e, KILN_ERR_INVALID_ARG, "raise_exception: %.*s", (int)msg.s.n, msg.s.p), UNDEF;
    }
    if (e->a->kind != E_ATTR)
        return eerr(v, e, KILN_ERR_UNSUPPORTED, "calling '%.*s' is not supported", (int)e->a->name.n, e->a->name.p), UNDEF;
    jval self = eval(v, e->a->a);
    jstr m = e->a->name;
    if (self.kind == J_STR) {
        if (jstr_eq(m, "strip")) return strip(self, true, true);
        if (jstr_eq(m, "lstrip")) return strip(self, true, false);
        if (jstr_eq(m, "rstrip")) return strip(self, false, true);
        if (jstr_eq(m, "lower")) return map_case(v, self, 0);
        if (jstr_eq(m, "upper")) return map_case(v, self, 1);
        if (jstr_eq(m, "title")) return map_case(v, self, 2);
        if ((jstr_eq(m, "startswith") || jstr_eq(m, "endswith")) && n == 1 && args[0].kind == J_STR) {
            jstr a = args[0].s;
            if (a.n > self.s.n) return jv_bool(false);
            return jv_bool(memcmp(jstr_eq(m, "startswith") ? self.s.p : self.s.p + self.s.n - a.n, a.p, a.n) == 0);
        }
    } else if (self.kind == J_DICT) {
        if (jstr_eq(m, "get") && n >= 1 && args[0].kind == J_STR) {
            jval r = dict_get(self, args[0].s);
            return r.kind == J_UNDEF && n > 1 ? args[1] : r.kind == J_UNDEF ? (jval){.kind = J_NONE} : r;
        }
        if (jstr_eq(m, "items")) {
            jval r = {.kind = J_LIST, .n = self.n};
            if (!(r.items = kiln_arena_alloc(v->arena, (self.n + 1) * sizeof(jval)))) return UNDEF;
            for (size_t i = 0; i < self.n; i++) {
                jval *pair = kiln_arena_alloc(v->arena, 2 * sizeof(jval));
                if (!pair) return UNDEF;
                pair[0] = jv_str(self.keys[i].p, self.keys[i].n);
                pair[1] = self.items[i];
                r.items[i] = (jval){.kind = J_LIST, .items = pair, .n = 2};
            }
            return r;
        }
    }
    return eerr(v, e, KILN_ERR_UNSUPPORTED, "method '%.*s' is not supported on this value", (int)m.n, m.p), UNDEF;
}

static jval eval_filter(env *v, const expr *e) {
    jval x = eval(v, e->a);
    if (v->st) return UNDEF;
    jstr f = e->name;
    if (jstr_eq(f, "trim")) return x.kind == J_STR ? strip(x, true, true) : x;
    if (jstr_eq(f, "length") || jstr_eq(f, "count"))
        return jv_int(x.kind == J_STR ? (int64_t)x.s.n : x.kind == J_LIST || x.kind == J_DICT ? (int64_t)x.n : 0);
    if (jstr_eq(f, "upper") || jstr_eq(f, "lower")) return x.kind == J_STR ? map_case(v, x, jstr_eq(f, "upper")) : x;
    if (jstr_eq(f, "string")) return to_str(v, x, false);
    if (jstr_eq(f, "tojson")) return to_str(v, x, true);
    if (jstr_eq(f, "default") || jstr_eq(f, "d")) return x.kind == J_UNDEF && e->n_args ? eval(v, e->args[0]) : x;
    return eerr(v, e, KILN_ERR_UNSUPPORTED, "filter '%.*s' is not supported", (int)f.n, f.p), UNDEF;
}

static jval eval_test(env *v, const expr *e) {
    jval x = eval(v, e->a);
    if (v->st) return UNDEF;
    jstr t = e->name;
    bool r;
    if (jstr_eq(t, "defined")) r = x.kind != J_UNDEF;
    else if (jstr_eq(t, "undefined")) r = x.kind == J_UNDEF;
    else if (jstr_eq(t, "none")) r = x.kind == J_NONE;
    else if (jstr_eq(t, "string")) r = x.kind == J_STR;
    else if (jstr_eq(t, "number")) r = x.kind == J_INT || x.kind == J_FLOAT;
    else if (jstr_eq(t, "mapping")) r = x.kind == J_DICT;
    else if (jstr_eq(t, "sequence") || jstr_eq(t, "iterable")) r = x.kind == J_LIST || x.kind == J_STR || x.kind == J_DICT;
    else if (jstr_eq(t, "true") || jstr_eq(t, "false")) r = x.kind == J_BOOL && x.b == jstr_eq(t, "true");
    else return eerr(v, e, KILN_ERR_UNSUPPORTED, "test '%.*s' is not supported", (int)t.n, t.p), UNDEF;
    return jv_bool(r != e->negate);
}

static jval eval_index(env *v, const expr *e, jval x, jval i) {
    if (x.kind == J_DICT && i.kind == J_STR) return dict_get(x, i.s);
    if ((x.kind == J_LIST || x.kind == J_STR) && i.kind == J_INT) {
        int64_t len = x.kind == J_LIST ? (int64_t)x.n : (int64_t)x.s.n, k = i.i < 0 ? i.i + len : i.i;
        if (k < 0 || k >= len) return UNDEF;
        return x.kind == J_LIST ? x.items[k] : jv_str(x.s.p + k, 1);
    }
    if (x.kind == J_UNDEF) return UNDEF;
    (void)e;
    return UNDEF;
}

static jval eval_slice(env *v, const expr *e) {
    jval x = eval(v, e->a), lo = e->b ? eval(v, e->b) : jv_int(0);
    int64_t len = x.kind == J_LIST ? (int64_t)x.n : x.kind == J_STR ? (int64_t)x.s.n : -1;
    jval hi = e->c ? eval(v, e->c) : jv_int(len);
    if (v->st) return UNDEF;
    if (len < 0 || lo.kind != J_INT || hi.kind != J_INT) return eerr(v, e, KILN_ERR_INVALID_ARG, "bad slice"), UNDEF;
    int64_t a = lo.i < 0 ? lo.i + len : lo.i, b = hi.i < 0 ? hi.i + len : hi.i;
    a = KILN_MAX(0, KILN_MIN(a, len)), b = KILN_MAX(a, KILN_MIN(b, len));
    if (x.kind == J_STR) return jv_str(x.s.p + a, (size_t)(b - a));
    return (jval){.kind = J_LIST, .items = x.items + a, .n = (size_t)(b - a)};
}

static jval eval(env *v, const expr *e) {
    if (v->st || !e) return UNDEF;
    switch (e->kind) {
    case E_LIT: return e->lit;
    case E_NAME: return lookup(v, e->name);
    case E_ATTR: {
        jval x = eval(v, e->a);
        return x.kind == J_DICT ? dict_get(x, e->name) : UNDEF;
    }
    case E_INDEX: {
        jval x = eval(v, e->a), i = eval(v, e->b);
        return eval_index(v, e, x, i);
    }
    case E_SLICE: return eval_slice(v, e);
    case E_CALL: return eval_call(v, e);
    case E_FILTER: return eval_filter(v, e);
    case E_TEST: return eval_test(v, e);
    case E_NOT: return jv_bool(!truthy(eval(v, e->a)));
    case E_NEG: {
        jval x = eval(v, e->a);
        if (x.kind == J_INT) return jv_int(-x.i);
        if (x.kind == J_FLOAT) return (jval){.kind = J_FLOAT, .f = -x.f};
        return eerr(v, e, KILN_ERR_INVALID_ARG, "unary '-' on a value that is not a number"), UNDEF;
    }
    case E_BIN: return eval_bin(v, e);
    case E_AND: {
        jval a = eval(v, e->a);
        return truthy(a) ? eval(v, e->b) : a;
    }
    case E_OR: {
        jval a = eval(v, e->a);
        return truthy(a) ? a : eval(v, e->b);
    }
    case E_COND: return truthy(eval(v, e->b)) ? eval(v, e->a) : eval(v, e->c);
    case E_LIST:
    case E_DICT: {
        jval r = {.kind = e->kind == E_LIST ? J_LIST : J_DICT, .n = e->n_args};
        r.items = kiln_arena_alloc(v->arena, (r.n + 1) * sizeof(jval));
        if (e->kind == E_DICT) r.keys = kiln_arena_alloc(v->arena, (r.n + 1) * sizeof(jstr));
        if (!r.items || (e->kind == E_DICT && !r.keys)) return eerr(v, e, KILN_ERR_OUT_OF_MEMORY, "out of memory"), UNDEF;
        for (size_t i = 0; i < r.n; i++) {
            if (e->kind == E_LIST) {
                r.items[i] = eval(v, e->args[i]);
                continue;
            }
            jval k = eval(v, e->args[i]);
            if (k.kind != J_STR) return eerr(v, e, KILN_ERR_UNSUPPORTED, "dict keys must be strings"), UNDEF;
            r.keys[i] = k.s;
            r.items[i] = eval(v, e->args[r.n + i]);
        }
        return r;
    }
    }
    return UNDEF;
}

static void exec_list(env *v, const node *n);

static jval loop_info(env *v, size_t i, size_t len) {
    static const char *const names[] = {"index", "index0", "first", "last", "length", "revindex", "revindex0"};
    jval r = {.kind = J_DICT, .n = KILN_ARRAY_SIZE(names)};
    r.items = kiln_arena_alloc(v->arena, r.n * sizeof(jval));
    r.keys = kiln_arena_alloc(v->arena, r.n * sizeof(jstr));
    if (!r.items || !r.keys) return eerr(v, NULL, KILN_ERR_OUT_OF_MEMORY, "out of memory"), UNDEF;
    for (size_t k = 0; k < r.n; k++) r.keys[k] = (jstr){names[k], strlen(names[k])};
    r.items[0] = jv_int((int64_t)i + 1);
    r.items[1] = jv_int((int64_t)i);
    r.items[2] = jv_bool(i == 0);
    r.items[3] = jv_bool(i + 1 == len);
    r.items[4] = jv_int((int64_t)len);
    r.items[5] = jv_int((int64_t)(len - i));
    r.items[6] = jv_int((int64_t)(len - i - 1));
    return r;
}

static void exec_for(env *v, const node *n) {
    jval it = eval(v, n->e);
    if (v->st) return;
    if (it.kind == J_DICT) {   // iterating a dict gives its keys
        jval keys = {.kind = J_LIST, .n = it.n, .items = kiln_arena_alloc(v->arena, (it.n + 1) * sizeof(jval))};
        if (!keys.items) return (void)eerr(v, n->e, KILN_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < it.n; i++) keys.items[i] = jv_str(it.keys[i].p, it.keys[i].n);
        it = keys;
    }
    if (it.kind == J_UNDEF || it.kind == J_NONE) it = (jval){.kind = J_LIST};
    if (it.kind != J_LIST) return (void)eerr(v, n->e, KILN_ERR_INVALID_ARG, "{%% for %%} over a value that is not a list");
    if (it.n == 0) {
        exec_list(v, n->orelse);
        return;
    }
    size_t mark = v->n_vars;
    for (size_t i = 0; i < it.n && !v->st; i++) {
        v->n_vars = mark;
        jval x = it.items[i];
        bool ok = push_var(v, (jstr){"loop", 4}, loop_info(v, i, it.n));
        if (n->name2.n) {
            if (x.kind != J_LIST || x.n != 2) return (void)eerr(v, n->e, KILN_ERR_INVALID_ARG, "cannot unpack an item into two names");
            ok = ok && push_var(v, n->name, x.items[0]) && push_var(v, n->name2, x.items[1]);
        } else {
            ok = ok && push_var(v, n->name, x);
        }
        if (!ok) return (void)eerr(v, n->e, KILN_ERR_UNSUPPORTED, "too many variables");
        exec_list(v, n->body);
    }
    v->n_vars = mark;
}

static void exec_list(env *v, const node *n) {
    for (; n && !v->st; n = n->next) {
        switch (n->kind) {
        case N_TEXT: kiln_strbuf_append(v->out, n->text.p, n->text.n); break;
        case N_OUT: {
            jval x = eval(v, n->e);
            if (!v->st) stringify(v->out, x, false);
            break;
        }
        case N_IF: {
            const node *c = n;
            while (c && c->kind == N_IF && !truthy(eval(v, c->e)) && !v->st) c = c->orelse;
            if (c && !v->st) exec_list(v, c->body);
            break;
        }
        case N_BLOCK: exec_list(v, n->body); break;
        case N_FOR: exec_for(v, n); break;
        case N_SET: {
            jval x = eval(v, n->e);
            if (!push_var(v, n->name, x)) eerr(v, n->e, KILN_ERR_UNSUPPORTED, "too many variables");
            break;
        }
        }
    }
}

kiln_status pl_chat_render(const char *source, const kiln_chat_message *messages, size_t n_messages, bool add_generation_prompt,
                           const char *bos_token, const char *eos_token, char **text_out) {
    if (!source || !text_out || (n_messages && !messages)) return kiln_error(KILN_ERR_INVALID_ARG, "pl_chat_render: NULL argument");
    *text_out = NULL;
    for (size_t i = 0; i < n_messages; i++)
        if (!messages[i].role || !messages[i].content)
            return kiln_error(KILN_ERR_INVALID_ARG, "chat message %zu has a NULL role or content", i);
    parser ps = {.arena = kiln_arena_create(64 * 1024), .src = source, .line = 1};
    env *v = calloc(1, sizeof(env));
    kiln_strbuf out = {0};
    kiln_status st = KILN_OK;
    if (!ps.arena || !v) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "chat template: out of memory");
        goto done;
    }
    if ((st = segment(&ps))) goto done;
    jstr stop;
    node *root = parse_body(&ps, "", &stop);
    if ((st = ps.st)) goto done;
    if (stop.n) {
        st = kiln_error(KILN_ERR_FORMAT, "chat template: line %d: unexpected {%% %.*s %%}", ps.line, (int)stop.n, stop.p);
        goto done;
    }
    // messages: a list of {"role", "content"} dicts
    v->arena = ps.arena;
    v->out = &out;
    jval msgs = {.kind = J_LIST, .n = n_messages, .items = kiln_arena_alloc(ps.arena, (n_messages + 1) * sizeof(jval))};
    static jstr keys[2] = {{"role", 4}, {"content", 7}};
    for (size_t i = 0; msgs.items && i < n_messages; i++) {
        jval *vals = kiln_arena_alloc(ps.arena, 2 * sizeof(jval));
        if (!vals) break;
        vals[0] = jv_str(messages[i].role, strlen(messages[i].role));
        vals[1] = jv_str(messages[i].content, strlen(messages[i].content));
        msgs.items[i] = (jval){.kind = J_DICT, .n = 2, .keys = keys, .items = vals};
    }
    push_var(v, (jstr){"messages", 8}, msgs);
    push_var(v, (jstr){"add_generation_prompt", 21}, jv_bool(add_generation_prompt));
    if (bos_token) push_var(v, (jstr){"bos_token", 9}, jv_str(bos_token, strlen(bos_token)));
    if (eos_token) push_var(v, (jstr){"eos_token", 9}, jv_str(eos_token, strlen(eos_token)));
    exec_list(v, root);
    st = v->st;
    if (!st && out.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    if (!st) {
        *text_out = out.data ? out.data : strdup("");
        out.data = NULL;
        if (!*text_out) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    }
done:
    kiln_strbuf_free(&out);
    free(ps.segs);
    free(v);
    kiln_arena_free(ps.arena);
    return st;
}

kiln_status kiln_chat_template_apply(const kiln_program *program, const kiln_chat_message *messages, size_t n_messages,
                                     bool add_generation_prompt, char **text_out) {
    if (!program || !text_out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_chat_template_apply: NULL argument");
    const rt_generation *g = &program->head.gen;
    if (!g->chat_template)
        return kiln_error(KILN_ERR_INVALID_ARG, "the checkpoint has no chat template (tokenizer_config.json \"chat_template\" or chat_template.jinja)");
    return pl_chat_render(g->chat_template, messages, n_messages, add_generation_prompt, g->bos_token, g->eos_token, text_out);
}
