/* ops.c — the op tables (name, arity, flags), all made from ir/ops.def so nothing drifts. */
#include "ir/ir.h"

static const char *const op_names[IR_OP_COUNT] = {
#define KILN_OP(e, name, arity, flags) [IR_OP_##e] = name,
#include "ir/ops.def"
};
static const int op_arity[IR_OP_COUNT] = {
#define KILN_OP(e, name, arity, flags) [IR_OP_##e] = arity,
#include "ir/ops.def"
};
static const uint32_t op_flags[IR_OP_COUNT] = {
#define KILN_OP(e, name, arity, flags) [IR_OP_##e] = flags,
#include "ir/ops.def"
};

const char *ir_op_name(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_names[op] : "?"; }
int ir_op_arity(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_arity[op] : 0; }
uint32_t ir_op_flags(ir_op op) { return (unsigned)op < IR_OP_COUNT ? op_flags[op] : 0; }

bool ir_op_from_name(const char *name, ir_op *op_out) {
    for (int i = 0; i < IR_OP_COUNT; i++) {
        if (strcmp(op_names[i], name) == 0) {
            *op_out = (ir_op)i;
            return true;
        }
    }
    return false;
}

static const char *const fused_kind_names[IR_FUSED_KIND_COUNT] = {
    [IR_FUSED_GENERIC] = "generic",   [IR_FUSED_ELEMENTWISE] = "elementwise", [IR_FUSED_GEMM] = "gemm",
    [IR_FUSED_NORM] = "norm",         [IR_FUSED_ATTENTION] = "attention",     [IR_FUSED_CHUNKED] = "chunked",
};

const char *ir_fused_kind_name(int kind) {
    return kind >= 0 && kind < IR_FUSED_KIND_COUNT ? fused_kind_names[kind] : "?";
}

bool ir_fused_kind_from_name(const char *name, int *kind_out) {
    for (int i = 0; i < IR_FUSED_KIND_COUNT; i++) {
        if (strcmp(fused_kind_names[i], name) == 0) {
            *kind_out = i;
            return true;
        }
    }
    return false;
}
