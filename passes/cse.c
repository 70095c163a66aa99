/* cse.c — common-subexpression elimination: two nodes with the same op, type, operands and
 * parameters compute the same value, so readers of the second read the first. Weights with one
 * name and constants with equal bytes merge too (each layer's copy of the attention scale).
 * Inputs, state and SCATTERs (which write state) and fused regions are never merged.
 * Operands of commutative ops compare as a set: a + b and b + a are bit-identical in IEEE math.
 */
#include "passes/passes.h"

static bool mergeable(const ir_node *n) {
    return n->op != IR_OP_INPUT && n->op != IR_OP_STATE && n->op != IR_OP_SCATTER && n->op != IR_OP_FUSED;
}

static const ir_node *operand(const ir_node *n, int k) {
    if ((ir_op_flags(n->op) & IR_OPF_COMMUTATIVE) && n->n_inputs == 2) {
        const ir_node *a = n->inputs[0], *b = n->inputs[1];
        bool swap = a->id > b->id;
        return k == 0 ? (swap ? b : a) : (swap ? a : b);
    }
    return n->inputs[k];
}

static size_t const_bytes(const ir_node *n) {
    ir_dim numel;
    int64_t count = 0;
    if (!ir_node_numel(n, &numel) || !ir_dim_is_const(numel, &count)) return 0;
    return kiln_dtype_bytes(n->dtype, count);
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t hash_node(const ir_node *n) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = mix(h, (uint64_t)n->op);
    h = mix(h, (uint64_t)n->dtype);
    h = mix(h, (uint64_t)n->rank);
    h = mix(h, (uint64_t)n->n_inputs);
    for (int k = 0; k < n->n_inputs; k++) h = mix(h, (uint64_t)operand(n, k)->id);
    if (n->op == IR_OP_WEIGHT && n->name)
        for (const char *c = n->name; *c; c++) h = mix(h, (uint8_t)*c);
    if (n->op == IR_OP_CONST) {
        size_t bytes = const_bytes(n);
        for (size_t i = 0; i < bytes && i < 64; i++) h = mix(h, ((const uint8_t *)n->p.data)[i]);
    }
    return h;
}

static bool same_params(const ir_node *a, const ir_node *b) {
    const ir_params *p = &a->p, *q = &b->p;
    if (p->axis != q->axis || p->keepdim != q->keepdim || p->trans_a != q->trans_a || p->trans_b != q->trans_b) return false;
    if (memcmp(&p->eps, &q->eps, sizeof(float)) != 0) return false;
    if (!ir_dim_eq(p->start, q->start) || !ir_dim_eq(p->end, q->end)) return false;
    for (int d = 0; d < a->rank; d++)
        if (p->perm[d] != q->perm[d]) return false;
    if (a->op == IR_OP_CONST) {
        size_t bytes = const_bytes(a);
        return bytes == const_bytes(b) && memcmp(p->data, q->data, bytes) == 0;
    }
    return true;
}

static bool same_node(const ir_node *a, const ir_node *b) {
    if (a->op != b->op || a->dtype != b->dtype || !pass_same_shape(a, b) || a->n_inputs != b->n_inputs) return false;
    for (int k = 0; k < a->n_inputs; k++)
        if (operand(a, k) != operand(b, k)) return false;
    if (a->op == IR_OP_WEIGHT && (!a->name || !b->name || strcmp(a->name, b->name) != 0)) return false;
    if (a->flags != b->flags) return false;
    return same_params(a, b);
}

kiln_status pass_cse(ir_graph *g, const kiln_pass_ctx *ctx) {
    int32_t n0 = g->n_nodes;
    size_t cap = 16;
    while (cap < 2 * (size_t)n0) cap *= 2;
    ir_node **table = calloc(cap, sizeof(*table));
    if (!table) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "cse: out of memory");
    bool changed = false;
    for (int i = 0; i < n0; i++) {   // in order: operands are canonical before their readers
        ir_node *n = g->nodes[i];
        if (!mergeable(n)) continue;
        size_t s = (size_t)hash_node(n) & (cap - 1);
        ir_node *twin = NULL;
        for (; table[s]; s = (s + 1) & (cap - 1)) {
            if (same_node(table[s], n)) {
                twin = table[s];
                break;
            }
        }
        if (!twin) {
            table[s] = n;
            continue;
        }
        pass_replace_uses(g, n, twin);
        changed = true;
    }
    free(table);
    return changed ? pass_commit(g, n0) : KILN_OK;
}
