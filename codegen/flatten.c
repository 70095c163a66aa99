/* flatten.c — inlines fused regions for backends that lower op by op (the interpreter): each
 * FUSED node is replaced by a copy of its body, wired to the node's operands. The copy owns its
 * strings and constants, so the source graph may be freed.
 */
#include "codegen/codegen.h"

static kiln_status copy_into(ir_graph *dst, const ir_graph *src, ir_node **operands, ir_node **map, bool (*keep)(const ir_node *)) {
    for (int i = 0; i < src->n_nodes; i++) {
        const ir_node *n = src->nodes[i];
        if (n->op == IR_OP_INPUT && operands) {   // a body input: the fused node's operand
            int k = -1;
            if (sscanf(n->name, "in%d", &k) != 1 || k < 0 || k >= IR_MAX_INPUTS || !operands[k])
                return kiln_error(KILN_ERR_FORMAT, "fused body input '%s' has no operand", n->name);
            map[i] = operands[k];
            continue;
        }
        if (n->op == IR_OP_FUSED && !(keep && keep(n))) {
            const ir_graph *body = n->p.body;
            ir_node *ops[IR_MAX_INPUTS] = {NULL};
            for (int k = 0; k < n->n_inputs; k++) ops[k] = map[n->inputs[k]->id];
            ir_node **bmap = calloc((size_t)body->n_nodes + 1, sizeof(*bmap));
            if (!bmap) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "flatten: out of memory");
            kiln_status st = copy_into(dst, body, ops, bmap, keep);
            map[i] = st ? NULL : bmap[body->outputs[0].node->id];
            free(bmap);
            if (st) return st;
            continue;
        }
        ir_node copy = *n;
        copy.name = kiln_arena_strdup(dst->arena, n->name);
        copy.path = kiln_arena_strdup(dst->arena, n->path);
        copy.absorbed = NULL;
        copy.n_absorbed = 0;
        copy.flags &= ~(uint32_t)IR_NODE_OUTPUT;
        for (int k = 0; k < n->n_inputs; k++) copy.inputs[k] = map[n->inputs[k]->id];
        if (n->op == IR_OP_CONST) {
            ir_dim numel;
            int64_t count = 0;
            if (!ir_node_numel(n, &numel) || !ir_dim_is_const(numel, &count))
                return kiln_error(KILN_ERR_FORMAT, "const node %d has a symbolic shape", n->id);
            size_t bytes = kiln_dtype_bytes(n->dtype, count);
            void *data = kiln_arena_alloc(dst->arena, bytes ? bytes : 1);
            if (!data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "flatten: out of memory");
            memcpy(data, n->p.data, bytes);
            copy.p.data = data;
        }
        if (!(map[i] = ir_node_append(dst, &copy))) return dst->status;
    }
    return KILN_OK;
}

kiln_status cg_flatten(const ir_graph *g, ir_graph **out) { return cg_flatten_keep(g, NULL, out); }

kiln_status cg_flatten_keep(const ir_graph *g, bool (*keep)(const ir_node *fused), ir_graph **out) {
    *out = NULL;
    ir_graph *dst = ir_graph_create();
    ir_node **map = calloc((size_t)g->n_nodes + 1, sizeof(*map));
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    if (!dst || !map) {
        kiln_error(st, "flatten: out of memory");
        goto error;
    }
    for (int s = 0; s < g->n_symbols; s++) {
        int id = ir_graph_symbol(dst, g->symbols[s].name);
        if (id >= 0) dst->symbols[id].max = g->symbols[s].max;
    }
    if ((st = copy_into(dst, g, NULL, map, keep))) goto error;
    for (int o = 0; o < g->n_outputs; o++)
        if ((st = ir_graph_add_output(dst, g->outputs[o].name, map[g->outputs[o].node->id]))) goto error;
    free(map);
    *out = dst;
    return KILN_OK;
error:
    free(map);
    ir_graph_free(dst);
    return st;
}
