/* program_info.c — what a program is made of (backend, target, launches, kernels, sizes,
 * compile times) and the FLOPs of a context's last run, for `kiln compile --timings` and
 * `kiln bench`.
 */
#include "runtime/context.h"

kiln_status kiln_program_get_info(const kiln_program *p, kiln_program_info *out) {
    if (!p || !out) return kiln_error(KILN_ERR_INVALID_ARG, "kiln_program_get_info: NULL argument");
    memset(out, 0, sizeof(*out));
    out->backend = p->backend;
    out->cpu = p->target_cpu;
    out->features = p->required_features;
    out->n_launches = (size_t)p->n_launches;
    out->n_kernels = (size_t)p->n_kernels;
    if (!p->n_kernels) {   // programs that do not count them: distinct kernel names
        for (int i = 0; i < p->n_launches; i++) {
            int j = 0;
            while (j < i && strcmp(p->launches[j].kernel, p->launches[i].kernel) != 0) j++;
            if (j == i) out->n_kernels++;
        }
    }
    out->arena_bytes = p->arena_bytes;
    for (int i = 0; i < p->n_weights; i++) out->weight_bytes += p->weights[i].size_bytes;
    out->time_graph = p->times.graph;
    out->time_build = p->times.build;
    out->time_lower = p->times.lower;
    out->time_optimize = p->times.optimize;
    out->time_codegen = p->times.codegen;
    out->time_jit = p->times.jit;
    out->time_pack = p->times.pack;
    out->time_total = p->times.total;
    return KILN_OK;
}

double kiln_context_last_flops(const kiln_context *ctx) {
    if (!ctx || !ctx->n_runs) return 0;
    double total = 0;
    for (int i = 0; i < ctx->prog->n_launches; i++) total += (double)rt_expr_eval(&ctx->prog->launches[i].flops, ctx->symbols);
    return total;
}
