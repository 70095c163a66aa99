/* print.c — the textual IR, what `kiln ir` shows and what golden dumps hold. One line per node,
 * so a 400-node BERT graph reads top to bottom and diffs line by line; parse.c reads it back, and
 * print → parse → print is byte-identical (floats print as the shortest text that reads back to
 * the same bits). The format, by example:
 *
 *     symbol batch max=8
 *     symbol seq max=512
 *
 *     %0 = input "input_ids" : i64[batch, seq]
 *     %1 = weight "embeddings.word_embeddings.weight" : f32[30522, 384]  @embeddings.word_embeddings
 *     %2 = gather(%1, %0) : f32[batch, seq, 384]  @embeddings.word_embeddings
 *     %3 = const [0.125] : f32[]
 *     %9 = matmul(%7, %8) trans_b : f32[batch, seq, 384]  @encoder.layer.0.attention.self.query
 *     %14 = slice(%13) axis=1 [past, past + seq) : f32[batch, seq, 64]
 *     %20 = fused(%18, %19) : f32[batch, seq, 384]  @encoder.layer.0.output {
 *         absorbed @encoder.layer.0.output.dense
 *         %0 = input "in0" : f32[batch, seq, 384]
 *         ...
 *         output "out" = %3
 *     }
 *
 *     output "last_hidden_state" = %97
 *
 * Operands are %ids (in a body, ids are the body's own); op parameters follow as `key=value` or bare
 * flags, then `: dtype[shape]`, then `@module.path`. Names are quoted; symbols and paths are bare
 * when they are plain words. The printer copes with graphs the verifier rejects (it prints `%?`
 * for an input that is not in the graph), because printing a broken graph is how one debugs it.
 */
#include "ir/ir.h"

#include <inttypes.h>
#include <math.h>

/* ---- a writer that feeds either a kiln_strbuf or a snprintf-style buffer ---- */

typedef struct writer {
    kiln_strbuf *sb;       // when set, text goes here
    char *buf;             // else here, truncated to size - 1 and NUL-terminated
    size_t size, len;      // len counts what would have been written
} writer;

static void put(writer *w, const char *s, size_t n) {
    if (w->sb) {
        kiln_strbuf_append(w->sb, s, n);
        return;
    }
    if (w->size && w->len < w->size - 1) {
        size_t k = KILN_MIN(n, w->size - 1 - w->len);
        memcpy(w->buf + w->len, s, k);
        w->buf[w->len + k] = '\0';
    }
    w->len += n;
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

static void putf(writer *w, const char *fmt, ...) KILN_PRINTF(2, 3);
static void putf(writer *w, const char *fmt, ...) {
    char small[64];   // numbers only: long text goes through put()
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n > 0) put(w, small, KILN_MIN((size_t)n, sizeof(small) - 1));
}

static void put_indent(writer *w, int depth) {
    for (int i = 0; i < depth; i++) put(w, "    ", 4);
}

static bool is_word(const char *s) {
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
    return true;
}

// "..." with \" \\ and \xHH for control bytes; bytes >= 0x80 (UTF-8) go through as they are.
static void put_quoted(writer *w, const char *s) {
    put(w, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            put(w, e, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            putf(w, "\\x%02x", *c);
        } else {
            put(w, (const char *)c, 1);
        }
    }
    put(w, "\"", 1);
}

// Module paths print bare when they are one token of plain ASCII.
static void put_path(writer *w, const char *path) {
    bool bare = *path != '\0';
    for (const char *c = path; *c && bare; c++)
        bare = *c > 0x20 && *c < 0x7f && *c != '"' && *c != '\\' && *c != '{' && *c != '}';
    put(w, "@", 1);
    if (bare) puts_(w, path);
    else put_quoted(w, path);
}

/* ---- dims ---- */

static void put_symbol(writer *w, const ir_graph *g, int id) {
    if (g && id < g->n_symbols && g->symbols[id].name) {
        if (is_word(g->symbols[id].name)) puts_(w, g->symbols[id].name);
        else put_quoted(w, g->symbols[id].name);
    } else {
        putf(w, "$%d", id);   // not a symbol of g: readable, and the parser rejects it
    }
}

static void put_term(writer *w, const ir_graph *g, const ir_term *t, bool first) {
    // unsigned magnitude, so that INT64_MIN prints too
    uint64_t mag = t->coeff < 0 ? (uint64_t)0 - (uint64_t)t->coeff : (uint64_t)t->coeff;
    if (first) {
        if (t->coeff < 0) put(w, "-", 1);
    } else {
        puts_(w, t->coeff < 0 ? " - " : " + ");
    }
    int n_factors = KILN_MIN(t->n_factors, IR_DIM_MAX_FACTORS);
    if (n_factors == 0 || mag != 1) putf(w, "%" PRIu64 "%s", mag, n_factors ? "*" : "");
    for (int f = 0; f < n_factors; f++) {
        if (f) put(w, "*", 1);
        put_symbol(w, g, t->factors[f]);
    }
}

// Symbolic terms first, in canonical order, and the constant last: `2*seq + 1`, `past + seq`.
static void put_dim(writer *w, ir_dim d, const ir_graph *g) {
    int n = KILN_MIN(d.n_terms, IR_DIM_MAX_TERMS);
    if (n == 0) {
        put(w, "0", 1);
        return;
    }
    bool first = true;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            if ((d.terms[i].n_factors == 0) != (pass == 1)) continue;
            put_term(w, g, &d.terms[i], first);
            first = false;
        }
    }
}

int ir_dim_print(ir_dim d, const ir_graph *g, char *buf, size_t size) {
    writer w = {.buf = buf, .size = buf ? size : 0};
    if (w.size) buf[0] = '\0';
    put_dim(&w, d, g);
    return w.len > INT32_MAX ? INT32_MAX : (int)w.len;
}

/* ---- values ---- */

static const char *dtype_str(kiln_dtype t) {
    const kiln_dtype_info *info = kiln_dtype_get_info(t);
    return info ? info->name : "?";
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        x = sign | ((exp + 112) << 23) | (man << 13);
    } else {
        float sub = (float)man * (1.0f / 16777216.0f);   // man * 2^-24, exact
        memcpy(&x, &sub, 4);
        x |= sign;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

// The shortest %g text that strtof reads back to the same bits (9 digits always do).
static void put_float(writer *w, float f) {
    if (isnan(f)) {
        puts_(w, signbit(f) ? "-nan" : "nan");
        return;
    }
    char s[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, (double)f);
        float back = strtof(s, NULL);
        if (memcmp(&back, &f, sizeof(f)) == 0) break;
    }
    puts_(w, s);
}

static bool const_numel(const ir_node *n, int64_t *numel_out) {
    int64_t numel = 1, v;
    for (int i = 0; i < n->rank; i++) {
        if (!ir_dim_is_const(n->shape[i], &v) || v < 0 || (v && numel > INT64_MAX / v)) return false;
        numel *= v;
    }
    *numel_out = numel;
    return true;
}

// CONST data in full: `[1, 2, 3]` (row-major), or `0x...` bytes for block-quantized types.
static void put_const_data(writer *w, const ir_node *n) {
    const kiln_dtype_info *info = kiln_dtype_get_info(n->dtype);
    int64_t numel;
    if (!info || !n->p.data || !const_numel(n, &numel)) {
        put(w, "?", 1);
        return;
    }
    const unsigned char *d = n->p.data;
    if (info->is_quantized) {
        size_t bytes = kiln_dtype_bytes(n->dtype, numel);
        put(w, "0x", 2);
        for (size_t i = 0; i < bytes; i++) putf(w, "%02x", d[i]);
        return;
    }
    put(w, "[", 1);
    for (int64_t i = 0; i < numel; i++) {
        if (i) put(w, ", ", 2);
        switch (n->dtype) {
        case KILN_F32: {
            float f;
            memcpy(&f, d + 4 * i, 4);
            put_float(w, f);
            break;
        }
        case KILN_F16: {
            uint16_t h;
            memcpy(&h, d + 2 * i, 2);
            put_float(w, f16_to_f32(h));
            break;
        }
        case KILN_BF16: {
            uint16_t h;
            memcpy(&h, d + 2 * i, 2);
            uint32_t x = (uint32_t)h << 16;
            float f;
            memcpy(&f, &x, 4);
            put_float(w, f);
            break;
        }
        case KILN_I32: {
            int32_t v;
            memcpy(&v, d + 4 * i, 4);
            putf(w, "%" PRId32, v);
            break;
        }
        case KILN_I64: {
            int64_t v;
            memcpy(&v, d + 8 * i, 8);
            putf(w, "%" PRId64, v);
            break;
        }
        case KILN_BOOL: put(w, d[i] ? "1" : "0", 1); break;
        default: put(w, "?", 1); break;
        }
    }
    put(w, "]", 1);
}

/* ---- nodes and graphs ---- */

// The index of `n` in g, or -1 when it is not one of g's nodes (printed `%?`).
static int node_index(const ir_graph *g, const ir_node *n) {
    if (!n || n->id < 0 || n->id >= g->n_nodes || g->nodes[n->id] != n) return -1;
    return n->id;
}

static void put_ref(writer *w, const ir_graph *g, const ir_node *n) {
    int i = node_index(g, n);
    if (i < 0) put(w, "%?", 2);
    else putf(w, "%%%d", i);
}

static void put_type(writer *w, const ir_node *n, const ir_graph *root) {
    puts_(w, dtype_str(n->dtype));
    put(w, "[", 1);
    int rank = n->rank < 0 ? 0 : KILN_MIN(n->rank, IR_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (i) put(w, ", ", 2);
        put_dim(w, n->shape[i], root);
    }
    put(w, "]", 1);
}

static bool has_axis(ir_op op) {
    switch (op) {
    case IR_OP_SOFTMAX: case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX:
    case IR_OP_CUMSUM: case IR_OP_CONCAT: case IR_OP_SLICE: case IR_OP_IOTA: case IR_OP_PACK_WEIGHTS:
        return true;
    default:
        return false;
    }
}

static bool is_named_leaf(ir_op op) { return op == IR_OP_INPUT || op == IR_OP_WEIGHT || op == IR_OP_STATE; }

// The op's parameters, each only where the op reads it (see parse.c's attribute table).
static void put_params(writer *w, const ir_node *n, const ir_graph *root) {
    const ir_params *p = &n->p;
    if (has_axis(n->op)) putf(w, " axis=%d", (int)p->axis);
    switch (n->op) {
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MAX:
        if (p->keepdim) puts_(w, " keepdim");
        break;
    case IR_OP_MATMUL:
        if (p->trans_a) puts_(w, " trans_a");
        if (p->trans_b) puts_(w, " trans_b");
        break;
    case IR_OP_LAYER_NORM: case IR_OP_RMS_NORM:
        puts_(w, " eps=");
        put_float(w, p->eps);
        break;
    case IR_OP_PERMUTE:
        puts_(w, " perm=[");
        for (int i = 0; i < KILN_MIN(n->rank, IR_MAX_RANK); i++) putf(w, "%s%d", i ? ", " : "", (int)p->perm[i]);
        put(w, "]", 1);
        break;
    case IR_OP_SLICE:
        puts_(w, " [");
        put_dim(w, p->start, root);
        puts_(w, ", ");
        put_dim(w, p->end, root);
        put(w, ")", 1);
        break;
    case IR_OP_IOTA:
        puts_(w, " start=");
        put_dim(w, p->start, root);
        break;
    case IR_OP_FUSED:   // a generic region prints as before the passes existed
        if (p->fused_kind) {
            puts_(w, " kind=");
            puts_(w, ir_fused_kind_name(p->fused_kind));
        }
        if (p->heads) putf(w, " heads=%d", (int)p->heads);
        if (p->fused_kind == IR_FUSED_ATTENTION || p->scale != 0.0f) {
            puts_(w, " scale=");
            put_float(w, p->scale);
        }
        if (p->chunk) putf(w, " chunk=%" PRId64, p->chunk);
        if (p->offsets[0] || p->offsets[1] || p->offsets[2])
            putf(w, " offsets=[%d, %d, %d]", (int)p->offsets[0], (int)p->offsets[1], (int)p->offsets[2]);
        break;
    default:
        break;
    }
    if (n->name && !is_named_leaf(n->op)) {
        puts_(w, " name=");
        put_quoted(w, n->name);
    }
    if (n->flags & ~(uint32_t)IR_NODE_OUTPUT) putf(w, " flags=%u", (unsigned)(n->flags & ~(uint32_t)IR_NODE_OUTPUT));
}

static void put_graph(writer *w, const ir_graph *g, const ir_graph *root, int depth);

static void put_node(writer *w, const ir_graph *g, const ir_graph *root, int i, int depth) {
    const ir_node *n = g->nodes[i];
    put_indent(w, depth);
    if (!n) {
        putf(w, "%%%d = ?\n", i);
        return;
    }
    putf(w, "%%%d = ", i);
    puts_(w, ir_op_name(n->op));
    if (is_named_leaf(n->op)) {
        if (n->name) {
            put(w, " ", 1);
            put_quoted(w, n->name);
        }
    } else if (n->op == IR_OP_CONST) {
        put(w, " ", 1);
        put_const_data(w, n);
    } else if (n->op != IR_OP_IOTA) {
        put(w, "(", 1);
        for (int k = 0; k < KILN_MIN(n->n_inputs, IR_MAX_INPUTS); k++) {
            if (k) put(w, ", ", 2);
            put_ref(w, g, n->inputs[k]);
        }
        put(w, ")", 1);
    }
    put_params(w, n, root);
    puts_(w, " : ");
    put_type(w, n, root);
    if (n->path) {
        puts_(w, "  ");
        put_path(w, n->path);
    }
    if (n->op == IR_OP_FUSED && n->p.body && depth < 16) {   // 16: a body that holds itself stops here
        puts_(w, " {\n");
        for (int k = 0; k < n->n_absorbed && n->absorbed; k++) {
            if (!n->absorbed[k]) continue;
            put_indent(w, depth + 1);
            puts_(w, "absorbed ");
            put_path(w, n->absorbed[k]);
            put(w, "\n", 1);
        }
        put_graph(w, n->p.body, root, depth + 1);
        put_indent(w, depth);
        put(w, "}", 1);
    }
    put(w, "\n", 1);
}

static void put_outputs(writer *w, const ir_graph *g, int depth) {
    for (int i = 0; i < KILN_MIN(g->n_outputs, IR_MAX_OUTPUTS); i++) {
        put_indent(w, depth);
        puts_(w, "output ");
        put_quoted(w, g->outputs[i].name ? g->outputs[i].name : "");
        puts_(w, " = ");
        put_ref(w, g, g->outputs[i].node);
        put(w, "\n", 1);
    }
}

static void put_graph(writer *w, const ir_graph *g, const ir_graph *root, int depth) {
    for (int i = 0; i < g->n_nodes; i++) put_node(w, g, root, i, depth);
    put_outputs(w, g, depth);
}

kiln_status ir_print(const ir_graph *g, kiln_strbuf *out) {
    if (!g || !out) return kiln_error(KILN_ERR_INVALID_ARG, "ir_print: NULL argument");
    writer w = {.sb = out};
    for (int i = 0; i < KILN_MIN(g->n_symbols, IR_MAX_SYMBOLS); i++) {
        puts_(&w, "symbol ");
        put_symbol(&w, g, i);
        if (g->symbols[i].max) putf(&w, " max=%" PRId64, g->symbols[i].max);
        put(&w, "\n", 1);
    }
    if (g->n_symbols > 0) put(&w, "\n", 1);
    for (int i = 0; i < g->n_nodes; i++) put_node(&w, g, g, i, 0);
    if (g->n_outputs > 0) {
        put(&w, "\n", 1);
        put_outputs(&w, g, 0);
    }
    if (out->failed) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "ir_print: out of memory");
    return KILN_OK;
}
