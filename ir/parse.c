/* parse.c — reads the textual IR that print.c writes (the format is described there) back into a
 * graph. Nodes go in through ir_node_append, so shapes are taken exactly as written, and the
 * verifier then checks them against the builder's rules. Strict and line-based: every failure is
 * KILN_ERR_FORMAT "line N: reason", and no input, however truncated or hostile, crashes it or
 * leaks (it is fuzzed): lengths are bounded by the text, numbers are range-checked, dim
 * arithmetic is overflow-checked, and nesting is limited.
 */
#include "ir/ir.h"

#include <errno.h>
#include <math.h>

#define PARSE_MAX_DEPTH 16   // fused bodies inside fused bodies: the verifier's limit too

typedef struct line_of {
    const ir_node *node;
    int line;
} line_of;

typedef struct path_list {
    const char **items;    // malloc'd; the strings live in the graph arena
    int n, cap;
} path_list;

typedef struct parser {
    const char *p, *end;   // the rest of the current line
    const char *next;      // start of the next line; NULL after the last
    int line;
    ir_graph *root;
    line_of *lines;        // where each node was defined, to put the verifier's errors on a line
    size_t n_lines, cap_lines;
} parser;

/* ---- errors ---- */

static kiln_status perr(parser *ps, const char *fmt, ...) KILN_PRINTF(2, 3);
static kiln_status perr(parser *ps, const char *fmt, ...) {
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kiln_error(KILN_ERR_FORMAT, "line %d: %s", ps->line, msg);
}

static kiln_status oom(void) { return kiln_error(KILN_ERR_OUT_OF_MEMORY, "ir parse: out of memory"); }

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r')) ps->p++;
}

// What the cursor is at, for messages: 'token' (printable, at most 24 bytes) or "end of line".
static const char *found(parser *ps, char *buf, size_t size) {
    skip_ws(ps);
    if (ps->p >= ps->end) return "end of line";
    size_t k = 0;
    buf[k++] = '\'';
    for (const char *c = ps->p; c < ps->end && k < size - 5 && k < 25 && *c != ' ' && *c != '\t'; c++)
        buf[k++] = *c > 0x20 && *c < 0x7f ? *c : '?';
    buf[k++] = '\'';
    buf[k] = '\0';
    return buf;
}
#define FOUND(ps) found((ps), (char[40]){0}, 40)

/* ---- lexing ---- */

static bool next_line(parser *ps) {
    if (!ps->next) return false;
    const char *e = ps->next;
    while (*e && *e != '\n') e++;
    ps->p = ps->next;
    ps->end = e;
    ps->next = *e == '\n' ? e + 1 : NULL;
    ps->line++;
    return true;
}

static bool at_eol(parser *ps) {
    skip_ws(ps);
    return ps->p >= ps->end;
}

static bool accept(parser *ps, char c) {
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static kiln_status expect(parser *ps, char c, const char *where) {
    if (accept(ps, c)) return KILN_OK;
    return perr(ps, "expected '%c' %s, found %s", c, where, FOUND(ps));
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_word_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_word_char(char c) { return is_word_start(c) || is_digit(c); }

static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t word_len(parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end || !is_word_start(*ps->p)) return 0;
    size_t n = 1;
    while (ps->p + n < ps->end && is_word_char(ps->p[n])) n++;
    return n;
}

static bool accept_word(parser *ps, const char *w) {
    size_t n = word_len(ps);
    if (n != strlen(w) || memcmp(ps->p, w, n) != 0) return false;
    ps->p += n;
    return true;
}

static kiln_status parse_int(parser *ps, int64_t lo, int64_t hi, const char *what, int64_t *out) {
    skip_ws(ps);
    const char *start = ps->p;
    bool neg = ps->p < ps->end && *ps->p == '-';
    if (neg) ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p)) {
        ps->p = start;
        return perr(ps, "expected %s, found %s", what, FOUND(ps));
    }
    uint64_t v = 0;
    bool big = false;
    for (; ps->p < ps->end && is_digit(*ps->p); ps->p++) {
        unsigned d = (unsigned)(*ps->p - '0');
        if (v > (UINT64_MAX - d) / 10) big = true;
        else v = v * 10 + d;
    }
    if (ps->p < ps->end && (is_word_char(*ps->p) || *ps->p == '.')) {
        ps->p = start;
        return perr(ps, "bad number %s", FOUND(ps));
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int64_t r = big || v > limit ? 0 : neg ? (v == limit ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    if (big || v > limit || r < lo || r > hi) {
        ps->p = start;
        return perr(ps, "%s %s is out of range [%lld, %lld]", what, FOUND(ps), (long long)lo, (long long)hi);
    }
    *out = r;
    return KILN_OK;
}

static kiln_status parse_float(parser *ps, float *out) {
    skip_ws(ps);
    char c = ps->p < ps->end ? *ps->p : '\0';
    if (!(is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'i' || c == 'I' || c == 'n' || c == 'N'))
        return perr(ps, "expected a number, found %s", FOUND(ps));
    char *e;
    errno = 0;
    float f = strtof(ps->p, &e);
    if (e == ps->p || e > ps->end || (e < ps->end && is_word_char(*e)))
        return perr(ps, "bad number %s", FOUND(ps));
    if (errno == ERANGE && isinf(f)) return perr(ps, "number %s is out of range for f32", FOUND(ps));
    ps->p = e;
    *out = f;
    return KILN_OK;
}

// "..." with \" \\ \n \t \xHH escapes, copied into the graph arena.
static kiln_status parse_string(parser *ps, const char **out) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') return perr(ps, "expected a quoted string, found %s", FOUND(ps));
    const char *s = ps->p + 1, *q = s;
    while (q < ps->end && *q != '"') q += *q == '\\' && q + 1 < ps->end ? 2 : 1;
    if (q >= ps->end) return perr(ps, "unterminated string");
    char *d = kiln_arena_alloc(ps->root->arena, (size_t)(q - s) + 1);
    if (!d) return oom();
    size_t k = 0;
    for (const char *c = s; c < q; c++) {
        if (*c != '\\') {
            d[k++] = *c;
            continue;
        }
        c++;
        switch (*c) {
        case '"': case '\\': d[k++] = *c; break;
        case 'n': d[k++] = '\n'; break;
        case 't': d[k++] = '\t'; break;
        case 'x': {
            int hi = c + 2 < q ? hex_value(c[1]) : -1, lo = c + 2 < q ? hex_value(c[2]) : -1;
            if (hi < 0 || lo < 0) return perr(ps, "bad \\x escape in a string (want two hex digits)");
            if (hi == 0 && lo == 0) return perr(ps, "\\x00 in a string");
            d[k++] = (char)(hi * 16 + lo);
            c += 2;
            break;
        }
        default: return perr(ps, "bad escape '\\%c' in a string", *c > 0x20 && *c < 0x7f ? *c : '?');
        }
    }
    ps->p = q + 1;
    *out = d;
    return KILN_OK;
}

// A symbol name: a plain word or a quoted string.
static kiln_status parse_name(parser *ps, const char *what, const char **out) {
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '"') return parse_string(ps, out);
    size_t n = word_len(ps);
    if (!n) return perr(ps, "expected %s, found %s", what, FOUND(ps));
    if (!(*out = kiln_arena_strndup(ps->root->arena, ps->p, n))) return oom();
    ps->p += n;
    return KILN_OK;
}

// A module path after '@': quoted, or a bare run up to the next blank or brace.
static kiln_status parse_path(parser *ps, const char *prev, const char **out) {
    if (ps->p < ps->end && *ps->p == '"') return parse_string(ps, out);
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p != ' ' && *ps->p != '\t' && *ps->p != '\r' && *ps->p != '{' && *ps->p != '}' && *ps->p != '"')
        ps->p++;
    size_t n = (size_t)(ps->p - s);
    if (!n) return perr(ps, "expected a module path after '@', found %s", FOUND(ps));
    if (prev && strlen(prev) == n && memcmp(prev, s, n) == 0) {
        *out = prev;   // consecutive nodes of one module share the string, as the builder's do
        return KILN_OK;
    }
    if (!(*out = kiln_arena_strndup(ps->root->arena, s, n))) return oom();
    return KILN_OK;
}

/* ---- dims: ['-'] term (('+' | '-') term)*, term: factor ('*' factor)*, factor: integer | symbol ---- */

static kiln_status parse_term(parser *ps, ir_term *t) {
    memset(t, 0, sizeof(*t));
    t->coeff = 1;
    do {
        skip_ws(ps);
        char c = ps->p < ps->end ? *ps->p : '\0';
        if (is_digit(c)) {
            int64_t v;
            kiln_status st = parse_int(ps, 0, INT64_MAX, "a dim", &v);
            if (st) return st;
            if (v && t->coeff > INT64_MAX / v) return perr(ps, "dim coefficient out of range");
            t->coeff *= v;
        } else if (c == '"' || is_word_start(c)) {
            const char *name;
            kiln_status st = parse_name(ps, "a symbol", &name);
            if (st) return st;
            int id = ir_graph_find_symbol(ps->root, name);
            if (id < 0) return perr(ps, "unknown symbol '%s' (declare it with a 'symbol' line)", name);
            if (t->n_factors == IR_DIM_MAX_FACTORS) return perr(ps, "more than %d symbols in one term of a dim", IR_DIM_MAX_FACTORS);
            int k = t->n_factors++;
            for (; k > 0 && t->factors[k - 1] > id; k--) t->factors[k] = t->factors[k - 1];
            t->factors[k] = (uint8_t)id;
        } else {
            return perr(ps, "expected a dim, found %s", FOUND(ps));
        }
    } while (accept(ps, '*'));
    return KILN_OK;
}

static kiln_status parse_dim(parser *ps, ir_dim *out) {
    ir_dim d = ir_dim_const(0);
    bool neg = accept(ps, '-');
    for (;;) {
        ir_term t;
        kiln_status st = parse_term(ps, &t);
        if (st) return st;
        if (neg) t.coeff = -t.coeff;   // coeff >= 0 here, so this cannot overflow
        // dim.c adds like terms unchecked: refuse a sum that would overflow
        for (int i = 0; i < d.n_terms; i++) {
            const ir_term *u = &d.terms[i];
            if (u->n_factors != t.n_factors || memcmp(u->factors, t.factors, t.n_factors) != 0) continue;
            if ((t.coeff > 0 && u->coeff > INT64_MAX - t.coeff) || (t.coeff < 0 && u->coeff < INT64_MIN - t.coeff))
                return perr(ps, "dim coefficient out of range");
        }
        ir_dim one;
        memset(&one, 0, sizeof(one));
        one.n_terms = t.coeff != 0;
        one.terms[0] = t;
        if (!ir_dim_add(d, one, &d)) return perr(ps, "dim has more than %d terms", IR_DIM_MAX_TERMS);
        if (accept(ps, '+')) neg = false;
        else if (accept(ps, '-')) neg = true;
        else break;
    }
    *out = d;
    return KILN_OK;
}

/* ---- values ---- */

static uint16_t f32_to_f16(float f) {   // round to nearest even
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {   // subnormal half, or zero
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;   // a carry rounds up into the exponent
    return (uint16_t)(sign | h);
}

static uint16_t f32_to_bf16(float f) {   // round to nearest even
    uint32_t x;
    memcpy(&x, &f, 4);
    if (isnan(f)) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

// CONST data (at `data`, on the current line) once the dtype and shape are known.
static kiln_status parse_const_data(parser *ps, const char *data, ir_node *n) {
    const kiln_dtype_info *info = kiln_dtype_get_info(n->dtype);
    int64_t numel = 1, v;
    for (int a = 0; a < n->rank; a++) {
        if (!ir_dim_is_const(n->shape[a], &v) || v < 0) return perr(ps, "a const's shape must be non-negative numbers");
        if (v && numel > INT64_MAX / v) return perr(ps, "const too large");
        numel *= v;
    }
    ps->p = data;
    unsigned char *buf;
    if (info->is_quantized) {
        if (ps->end - ps->p < 2 || ps->p[0] != '0' || ps->p[1] != 'x')
            return perr(ps, "a %s const takes its bytes as 0x..., found %s", info->name, FOUND(ps));
        const char *h = ps->p + 2, *e = h;
        while (e < ps->end && hex_value(*e) >= 0) e++;
        size_t bytes = (size_t)(e - h) / 2;
        int64_t blocks = numel / info->block_size + (numel % info->block_size != 0);
        if ((e - h) % 2 || (uint64_t)blocks > bytes / (size_t)info->block_bytes || (size_t)blocks * (size_t)info->block_bytes != bytes)
            return perr(ps, "const %s data has %zu bytes; %lld elements take %lld", info->name, bytes, (long long)numel,
                        (long long)(blocks > INT64_MAX / info->block_bytes ? -1 : blocks * info->block_bytes));
        if (!(buf = kiln_arena_alloc(ps->root->arena, bytes ? bytes : 1))) return oom();
        for (size_t i = 0; i < bytes; i++) buf[i] = (unsigned char)(hex_value(h[2 * i]) * 16 + hex_value(h[2 * i + 1]));
        n->p.data = buf;
        return KILN_OK;
    }
    kiln_status st = expect(ps, '[', "to open const data");
    if (st) return st;
    if ((uint64_t)numel > (uint64_t)(ps->end - ps->p))   // every value takes a character at least
        return perr(ps, "const has fewer values than its shape's %lld", (long long)numel);
    size_t esize = (size_t)info->block_bytes;
    if (!(buf = kiln_arena_alloc(ps->root->arena, numel ? (size_t)numel * esize : 1))) return oom();
    for (int64_t k = 0; k < numel; k++) {
        if (k && accept(ps, ']')) return perr(ps, "const has %lld values; its shape takes %lld", (long long)k, (long long)numel);
        if (k && (st = expect(ps, ',', "between const values"))) return st;
        float f;
        int64_t iv;
        unsigned char *dst = buf + (size_t)k * esize;
        switch (n->dtype) {
        case KILN_F32: case KILN_F16: case KILN_BF16:
            if ((st = parse_float(ps, &f))) return st;
            if (n->dtype == KILN_F32) {
                memcpy(dst, &f, 4);
            } else {
                uint16_t h = n->dtype == KILN_F16 ? f32_to_f16(f) : f32_to_bf16(f);
                memcpy(dst, &h, 2);
            }
            break;
        case KILN_I32: {
            if ((st = parse_int(ps, INT32_MIN, INT32_MAX, "an i32 value", &iv))) return st;
            int32_t x = (int32_t)iv;
            memcpy(dst, &x, 4);
            break;
        }
        case KILN_I64:
            if ((st = parse_int(ps, INT64_MIN, INT64_MAX, "an i64 value", &iv))) return st;
            memcpy(dst, &iv, 8);
            break;
        case KILN_BOOL:
            if ((st = parse_int(ps, 0, 1, "a bool value (0 or 1)", &iv))) return st;
            *dst = (unsigned char)iv;
            break;
        default:
            return perr(ps, "const of dtype %s", info->name);
        }
    }
    if (!accept(ps, ']')) {
        if (accept(ps, ',')) return perr(ps, "const has more values than its shape's %lld", (long long)numel);
        return perr(ps, "expected ']' after const data, found %s", FOUND(ps));
    }
    n->p.data = buf;
    return KILN_OK;
}

/* ---- op parameters ---- */

enum {
    A_AXIS = 1u << 0, A_KEEPDIM = 1u << 1, A_TRANS_A = 1u << 2, A_TRANS_B = 1u << 3, A_EPS = 1u << 4,
    A_PERM = 1u << 5, A_RANGE = 1u << 6, A_START = 1u << 7, A_NAME = 1u << 8, A_FLAGS = 1u << 9,
    A_KIND = 1u << 10, A_HEADS = 1u << 11, A_SCALE = 1u << 12, A_CHUNK = 1u << 13, A_OFFSETS = 1u << 14,
};

static const struct { const char *word; uint32_t bit; } attr_words[] = {
    {"axis", A_AXIS}, {"keepdim", A_KEEPDIM}, {"trans_a", A_TRANS_A}, {"trans_b", A_TRANS_B}, {"eps", A_EPS},
    {"perm", A_PERM}, {"start", A_START}, {"name", A_NAME}, {"flags", A_FLAGS},
    {"kind", A_KIND}, {"heads", A_HEADS}, {"scale", A_SCALE}, {"chunk", A_CHUNK}, {"offsets", A_OFFSETS},
};

static const char *attr_word(uint32_t bit) {
    if (bit == A_RANGE) return "[start, end)";
    for (size_t i = 0; i < KILN_ARRAY_SIZE(attr_words); i++)
        if (attr_words[i].bit == bit) return attr_words[i].word;
    return "?";
}

static bool is_named_leaf(ir_op op) { return op == IR_OP_INPUT || op == IR_OP_WEIGHT || op == IR_OP_STATE; }

// The parameters an op reads (and print.c prints); *required_out: those it cannot do without.
static uint32_t op_attrs(ir_op op, uint32_t *required_out) {
    uint32_t req = 0, opt = 0;
    switch (op) {
    case IR_OP_SOFTMAX: case IR_OP_CUMSUM: case IR_OP_CONCAT: req = A_AXIS; break;
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX:
        req = A_AXIS;
        opt = A_KEEPDIM;
        break;
    case IR_OP_MATMUL: opt = A_TRANS_A | A_TRANS_B; break;
    case IR_OP_LAYER_NORM: case IR_OP_RMS_NORM: req = A_EPS; break;
    case IR_OP_PERMUTE: req = A_PERM; break;
    case IR_OP_SLICE: req = A_AXIS | A_RANGE; break;
    case IR_OP_IOTA: req = A_AXIS | A_START; break;
    case IR_OP_PACK_WEIGHTS: req = A_AXIS; break;
    case IR_OP_FUSED: opt = A_KIND | A_HEADS | A_SCALE | A_CHUNK | A_OFFSETS; break;
    default: break;
    }
    *required_out = req;
    return req | opt | A_FLAGS | (is_named_leaf(op) ? 0 : A_NAME);
}

static kiln_status parse_attrs(parser *ps, ir_node *n, int *n_perm) {
    uint32_t required, allowed = op_attrs(n->op, &required), seen = 0;
    kiln_status st = KILN_OK;
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end) return perr(ps, "expected ': dtype[shape]' after the operands");
        if (*ps->p == ':') {
            ps->p++;
            break;
        }
        uint32_t bit = 0;
        size_t len = *ps->p == '[' ? 0 : word_len(ps);
        if (*ps->p == '[') bit = A_RANGE;
        for (size_t i = 0; i < KILN_ARRAY_SIZE(attr_words) && len; i++)
            if (strlen(attr_words[i].word) == len && memcmp(attr_words[i].word, ps->p, len) == 0) bit = attr_words[i].bit;
        if (!bit) return perr(ps, "unknown parameter %s", FOUND(ps));
        if (!(allowed & bit)) return perr(ps, "%s takes no '%s'", ir_op_name(n->op), attr_word(bit));
        if (seen & bit) return perr(ps, "'%s' given twice", attr_word(bit));
        seen |= bit;
        ps->p += len;
        int64_t v;
        switch (bit) {
        case A_KEEPDIM: n->p.keepdim = true; break;
        case A_TRANS_A: n->p.trans_a = true; break;
        case A_TRANS_B: n->p.trans_b = true; break;
        case A_AXIS:
            if (!(st = expect(ps, '=', "after 'axis'")) && !(st = parse_int(ps, INT32_MIN, INT32_MAX, "an axis", &v)))
                n->p.axis = (int32_t)v;
            break;
        case A_EPS:
            if (!(st = expect(ps, '=', "after 'eps'"))) st = parse_float(ps, &n->p.eps);
            break;
        case A_START:
            if (!(st = expect(ps, '=', "after 'start'"))) st = parse_dim(ps, &n->p.start);
            break;
        case A_NAME:
            if (!(st = expect(ps, '=', "after 'name'"))) st = parse_string(ps, &n->name);
            break;
        case A_FLAGS:
            if (!(st = expect(ps, '=', "after 'flags'")) && !(st = parse_int(ps, 0, UINT32_MAX, "flags", &v)))
                n->flags = (uint32_t)v;
            break;
        case A_KIND: {
            char word[24];
            size_t wl;
            if ((st = expect(ps, '=', "after 'kind'"))) break;
            skip_ws(ps);
            wl = word_len(ps);
            if (!wl || wl >= sizeof(word)) return perr(ps, "expected a fused kind, found %s", FOUND(ps));
            memcpy(word, ps->p, wl);
            word[wl] = '\0';
            int kind;
            if (!ir_fused_kind_from_name(word, &kind)) return perr(ps, "unknown fused kind '%s'", word);
            n->p.fused_kind = kind;
            ps->p += wl;
            break;
        }
        case A_HEADS:
            if (!(st = expect(ps, '=', "after 'heads'")) && !(st = parse_int(ps, 0, INT32_MAX, "heads", &v))) n->p.heads = (int32_t)v;
            break;
        case A_SCALE:
            if (!(st = expect(ps, '=', "after 'scale'"))) st = parse_float(ps, &n->p.scale);
            break;
        case A_CHUNK:
            if (!(st = expect(ps, '=', "after 'chunk'")) && !(st = parse_int(ps, 0, INT64_MAX, "chunk", &v))) n->p.chunk = v;
            break;
        case A_OFFSETS:
            if ((st = expect(ps, '=', "after 'offsets'")) || (st = expect(ps, '[', "to open offsets"))) break;
            for (int k = 0; k < 3 && !st; k++) {
                if (!(st = parse_int(ps, 0, INT32_MAX, "an offset", &v))) n->p.offsets[k] = (int32_t)v;
                if (!st) st = expect(ps, k < 2 ? ',' : ']', k < 2 ? "between offsets" : "to close offsets");
            }
            break;
        case A_RANGE:
            if (!(st = expect(ps, '[', "to open a slice")) && !(st = parse_dim(ps, &n->p.start)) &&
                !(st = expect(ps, ',', "in a slice [start, end)")) && !(st = parse_dim(ps, &n->p.end)))
                st = expect(ps, ')', "to close a slice [start, end)");
            break;
        case A_PERM:
            if ((st = expect(ps, '=', "after 'perm'")) || (st = expect(ps, '[', "to open perm"))) break;
            if (accept(ps, ']')) break;
            for (;;) {
                if (*n_perm == IR_MAX_RANK) return perr(ps, "perm has more than %d entries", IR_MAX_RANK);
                if ((st = parse_int(ps, INT32_MIN, INT32_MAX, "a perm entry", &v))) break;
                n->p.perm[(*n_perm)++] = (int32_t)v;
                if (accept(ps, ']')) break;
                if ((st = expect(ps, ',', "between perm entries"))) break;
            }
            break;
        }
        if (st) return st;
    }
    uint32_t missing = required & ~seen;
    if (missing) return perr(ps, "%s needs '%s'", ir_op_name(n->op), attr_word(missing & (0u - missing)));
    return KILN_OK;
}

/* ---- lines ---- */

static kiln_status parse_block(parser *ps, ir_graph *g, int depth, path_list *absorbed);

static kiln_status parse_ref(parser *ps, const ir_graph *g, ir_node **out) {
    if (!accept(ps, '%')) return perr(ps, "expected an operand %%N, found %s", FOUND(ps));
    int64_t id;
    kiln_status st = parse_int(ps, 0, INT32_MAX, "a node id", &id);
    if (st) return st;
    if (id >= g->n_nodes) return perr(ps, "unknown %%%lld (an operand must be defined above its use)", (long long)id);
    *out = g->nodes[id];
    return KILN_OK;
}

static kiln_status parse_type(parser *ps, ir_node *n) {
    size_t len = word_len(ps);
    int dt = -1;
    for (int t = 0; t < KILN_DTYPE_COUNT && len; t++) {
        const char *name = kiln_dtype_get_info((kiln_dtype)t)->name;
        if (strlen(name) == len && memcmp(name, ps->p, len) == 0) dt = t;
    }
    if (dt < 0) return perr(ps, "expected a dtype (f32, f16, i64, ...), found %s", FOUND(ps));
    ps->p += len;
    n->dtype = (kiln_dtype)dt;
    kiln_status st = expect(ps, '[', "to open the shape");
    if (st || accept(ps, ']')) return st;
    for (;;) {
        if (n->rank == IR_MAX_RANK) return perr(ps, "rank over %d", IR_MAX_RANK);
        if ((st = parse_dim(ps, &n->shape[n->rank++]))) return st;
        if (accept(ps, ']')) return KILN_OK;
        if ((st = expect(ps, ',', "between dims"))) return st;
    }
}

static kiln_status record_line(parser *ps, const ir_node *node, int line) {
    if (ps->n_lines == ps->cap_lines) {
        size_t cap = ps->cap_lines ? 2 * ps->cap_lines : 256;
        line_of *l = realloc(ps->lines, cap * sizeof(*l));
        if (!l) return oom();
        ps->lines = l;
        ps->cap_lines = cap;
    }
    ps->lines[ps->n_lines++] = (line_of){node, line};
    return KILN_OK;
}

// %N = op operands params : dtype[shape]  @path  [{ body }]
static kiln_status parse_node(parser *ps, ir_graph *g, int depth) {
    ir_node n;
    memset(&n, 0, sizeof(n));
    int64_t id;
    kiln_status st = expect(ps, '%', "to start a node");
    if (st || (st = parse_int(ps, 0, INT32_MAX, "a node id", &id))) return st;
    if (id != g->n_nodes) return perr(ps, "expected %%%d here, found %%%lld (nodes are numbered in order)", g->n_nodes, (long long)id);
    if ((st = expect(ps, '=', "after the node id"))) return st;

    size_t len = word_len(ps);
    char op_name[24];
    if (!len) return perr(ps, "expected an op, found %s", FOUND(ps));
    if (len >= sizeof(op_name)) return perr(ps, "unknown op %s", FOUND(ps));
    memcpy(op_name, ps->p, len);
    op_name[len] = '\0';
    if (!ir_op_from_name(op_name, &n.op)) return perr(ps, "unknown op '%s'", op_name);
    ps->p += len;

    const char *data = NULL;
    if (is_named_leaf(n.op)) {
        if ((st = parse_string(ps, &n.name))) return st;
    } else if (n.op == IR_OP_CONST) {
        skip_ws(ps);
        data = ps->p;
        if (ps->p < ps->end && *ps->p == '[') {   // values hold no ']' or ':'
            const char *close = ps->p;
            while (close < ps->end && *close != ']' && *close != ':') close++;
            if (close == ps->end || *close != ']') return perr(ps, "const data: missing ']'");
            ps->p = close + 1;
        } else if (ps->end - ps->p >= 2 && ps->p[0] == '0' && ps->p[1] == 'x') {
            for (ps->p += 2; ps->p < ps->end && hex_value(*ps->p) >= 0;) ps->p++;
        } else {
            return perr(ps, "expected const data ('[...]' or '0x...'), found %s", FOUND(ps));
        }
    } else if (n.op != IR_OP_IOTA) {
        if ((st = expect(ps, '(', "to open the operands"))) return st;
        if (!accept(ps, ')')) {
            for (;;) {
                if (n.n_inputs == IR_MAX_INPUTS) return perr(ps, "more than %d inputs", IR_MAX_INPUTS);
                if ((st = parse_ref(ps, g, &n.inputs[n.n_inputs++]))) return st;
                if (accept(ps, ')')) break;
                if ((st = expect(ps, ',', "between operands"))) return st;
            }
        }
    }
    int arity = ir_op_arity(n.op);
    if (arity >= 0 && n.n_inputs != arity)
        return perr(ps, "%s takes %d input%s, found %d", op_name, arity, arity == 1 ? "" : "s", (int)n.n_inputs);
    if (arity < 0 && n.op != IR_OP_FUSED && n.n_inputs < 1) return perr(ps, "%s takes at least one input", op_name);

    int n_perm = 0;
    if ((st = parse_attrs(ps, &n, &n_perm)) || (st = parse_type(ps, &n))) return st;
    if (n.op == IR_OP_PERMUTE && n_perm != n.rank) return perr(ps, "perm has %d entries for rank %d", n_perm, (int)n.rank);
    if (accept(ps, '@') && (st = parse_path(ps, g->n_nodes ? g->nodes[g->n_nodes - 1]->path : NULL, &n.path))) return st;
    bool block = accept(ps, '{');
    if (!at_eol(ps)) return perr(ps, "unexpected %s at the end of the node", FOUND(ps));
    if (n.op == IR_OP_FUSED && !block) return perr(ps, "a fused node needs a body: end its line with '{'");
    if (n.op != IR_OP_FUSED && block) return perr(ps, "only fused nodes have a body");
    if (data && (st = parse_const_data(ps, data, &n))) return st;
    if ((n.op == IR_OP_LAYER_NORM || n.op == IR_OP_RMS_NORM) && n.n_inputs > 0) n.p.axis = n.inputs[0]->rank - 1;

    int line = ps->line;
    if (n.op == IR_OP_FUSED) {
        if (depth + 1 > PARSE_MAX_DEPTH) return perr(ps, "fused bodies nested deeper than %d", PARSE_MAX_DEPTH);
        ir_graph *body = ir_graph_create_body(ps->root);
        if (!body) return oom();
        path_list absorbed = {0};
        st = parse_block(ps, body, depth + 1, &absorbed);
        if (!st && absorbed.n) {
            const char **paths = kiln_arena_alloc(ps->root->arena, (size_t)absorbed.n * sizeof(*paths));
            if (paths) memcpy(paths, absorbed.items, (size_t)absorbed.n * sizeof(*paths));
            else st = oom();
            n.absorbed = paths;
            n.n_absorbed = absorbed.n;
        }
        free(absorbed.items);
        if (st) return st;
        n.p.body = body;
    }
    ir_node *node = ir_node_append(g, &n);
    if (!node) return oom();
    return record_line(ps, node, line);
}

// output "name" = %N
static kiln_status parse_output(parser *ps, ir_graph *g) {
    const char *name;
    ir_node *node;
    kiln_status st = parse_string(ps, &name);
    if (st || (st = expect(ps, '=', "after the output name")) || (st = parse_ref(ps, g, &node))) return st;
    if (!at_eol(ps)) return perr(ps, "unexpected %s after the output", FOUND(ps));
    if (ir_graph_find_output(g, name)) return perr(ps, "duplicate output name '%s'", name);
    if (g->n_outputs == IR_MAX_OUTPUTS) return perr(ps, "more than %d outputs", IR_MAX_OUTPUTS);
    ir_graph_add_output(g, name, node);
    if (!g->outputs[g->n_outputs - 1].name) return oom();
    return KILN_OK;
}

// symbol NAME [max=N]
static kiln_status parse_symbol(parser *ps) {
    const char *name;
    int64_t max = 0;
    kiln_status st = parse_name(ps, "a symbol name", &name);
    if (st) return st;
    if (accept_word(ps, "max") && ((st = expect(ps, '=', "after 'max'")) || (st = parse_int(ps, 0, INT64_MAX, "a symbol's max", &max))))
        return st;
    if (!at_eol(ps)) return perr(ps, "unexpected %s after the symbol", FOUND(ps));
    if (ir_graph_find_symbol(ps->root, name) >= 0) return perr(ps, "symbol '%s' declared twice", name);
    if (ps->root->n_symbols == IR_MAX_SYMBOLS) return perr(ps, "more than %d symbols", IR_MAX_SYMBOLS);
    int id = ir_graph_symbol(ps->root, name);
    if (id < 0 || !ps->root->symbols[id].name) {
        ps->root->n_symbols = id < 0 ? ps->root->n_symbols : id;   // keep the table free of NULL names
        return oom();
    }
    ps->root->symbols[id].max = max;
    return KILN_OK;
}

// absorbed @path (inside a fused body)
static kiln_status parse_absorbed(parser *ps, ir_graph *g, path_list *list) {
    const char *path;
    kiln_status st = expect(ps, '@', "before an absorbed module path");
    if (st || (st = parse_path(ps, NULL, &path))) return st;
    if (!at_eol(ps)) return perr(ps, "unexpected %s after the absorbed path", FOUND(ps));
    if (list->n == list->cap) {
        int cap = list->cap ? 2 * list->cap : 8;
        const char **items = realloc(list->items, (size_t)cap * sizeof(*items));
        if (!items) return oom();
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = path;
    return KILN_OK;
}

// Lines up to the end of text (depth 0) or to the '}' that closes a fused body.
static kiln_status parse_block(parser *ps, ir_graph *g, int depth, path_list *absorbed) {
    for (;;) {
        if (!next_line(ps)) return depth ? perr(ps, "the text ends inside a fused body: missing '}'") : KILN_OK;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p == '#') continue;   // blank lines and comments
        kiln_status st;
        if (*ps->p == '}') {
            if (!depth) return perr(ps, "'}' without a fused body to close");
            ps->p++;
            return at_eol(ps) ? KILN_OK : perr(ps, "unexpected %s after '}'", FOUND(ps));
        } else if (*ps->p == '%') {
            st = parse_node(ps, g, depth);
        } else if (accept_word(ps, "output")) {
            st = parse_output(ps, g);
        } else if (accept_word(ps, "symbol")) {
            st = depth || ps->root->n_nodes ? perr(ps, "symbols are declared first, before any node") : parse_symbol(ps);
        } else if (accept_word(ps, "absorbed")) {
            st = absorbed ? parse_absorbed(ps, g, absorbed) : perr(ps, "'absorbed' outside a fused body");
        } else {
            st = perr(ps, "expected a node ('%%N = op ...'), 'output', 'symbol' or '}', found %s", FOUND(ps));
        }
        if (st) return st;
    }
}

// The verifier names nodes by %id; the parser puts its message on the node's line.
static kiln_status verify_parsed(parser *ps) {
    const ir_node *bad;
    kiln_status st = ir_verify_locate(ps->root, &bad);
    if (st != KILN_ERR_FORMAT) return st;
    int line = ps->line;
    for (size_t i = 0; i < ps->n_lines && bad; i++)
        if (ps->lines[i].node == bad) line = ps->lines[i].line;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", kiln_last_error());
    return kiln_error(KILN_ERR_FORMAT, "line %d: %s", line, strncmp(msg, "ir: ", 4) == 0 ? msg + 4 : msg);
}

kiln_status ir_parse(const char *text, ir_graph **graph_out) {
    if (graph_out) *graph_out = NULL;
    if (!text || !graph_out) return kiln_error(KILN_ERR_INVALID_ARG, "ir_parse: NULL argument");
    parser ps = {.next = text};
    if (!(ps.root = ir_graph_create())) return oom();
    kiln_status st = parse_block(&ps, ps.root, 0, NULL);
    if (!st) st = verify_parsed(&ps);
    free(ps.lines);
    if (st) {
        ir_graph_free(ps.root);
        return st;
    }
    *graph_out = ps.root;
    return KILN_OK;
}
