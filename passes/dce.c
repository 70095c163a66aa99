/* dce.c — dead-code elimination: the nodes no output needs go, and the rest are put in a clean
 * topological order (pass_commit). Inputs stay, even unused ones: they are the program's
 * interface, and kiln_run refuses names it does not know.
 */
#include "passes/passes.h"

kiln_status pass_dce(ir_graph *g, const kiln_pass_ctx *ctx) { return pass_commit(g, g->n_nodes); }
