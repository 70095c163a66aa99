/* cmd_exec.c — `kiln exec PATH --inputs in.safetensors -o out.safetensors`: runs any model on
 * named input tensors (named as Transformers names them) and writes every output under
 * Transformers' output names, so any runtime's results can be compared with kiln's by a script.
 */
#include "cli/cli.h"
#include "frontend/safetensors.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kiln exec PATH --inputs IN.safetensors -o OUT.safetensors [--arch ARCHITECTURE|base] [--threads N]\n");
}

int cli_cmd_exec(int argc, char **argv) {
    const char *path = NULL, *in_path = NULL, *out_path = NULL;
    kiln_open_options oo = kiln_open_options_default();
    kiln_context_options xo = kiln_context_options_default();
    xo.n_threads = cli_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--inputs"))) {
            in_path = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "-o"))) {
            out_path = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            xo.n_threads = (int)cli_parse_int("--threads", v);
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln exec: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path || !in_path || !out_path) {
        usage(stderr);
        return 2;
    }
    int rc = 1;
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_context *ctx = NULL;
    fe_weights *inputs = NULL;
    kiln_tensor *in = NULL, *out = NULL;
    size_t n_in = 0, n_out = 0;
    if (kiln_model_open(path, &oo, &m)) {
        cli_fail(path);
        goto done;
    }
    if (fe_safetensors_open(in_path, &inputs)) {
        cli_fail(in_path);
        goto done;
    }
    // Compile for exactly the shapes given: the inputs' first two dims are (batch, seq).
    kiln_compile_options co = kiln_compile_options_default();
    n_in = fe_weights_count(inputs);
    in = calloc(n_in + 1, sizeof(*in));
    if (!in) goto done;
    for (size_t i = 0; i < n_in; i++) {
        const fe_tensor *t = fe_weights_at(inputs, i);
        in[i].name = t->name;
        in[i].dtype = t->dtype;
        in[i].rank = t->rank;
        memcpy(in[i].shape, t->shape, sizeof(in[i].shape));
        // safetensors data may sit at any byte offset: give kernels an aligned copy.
        in[i].data = aligned_alloc(64, (t->size_bytes + 63) / 64 * 64 + 64);
        if (!in[i].data) goto done;
        memcpy(in[i].data, t->data, t->size_bytes);
        if (t->rank >= 1 && t->shape[0] > co.max_batch) co.max_batch = t->shape[0];
        if (t->rank >= 2 && t->shape[1] > co.max_seq) co.max_seq = t->shape[1];
    }
    if (kiln_compile(m, &co, &prog)) {
        cli_fail("compile");
        goto done;
    }
    if (kiln_context_create(prog, &xo, &ctx)) {
        cli_fail("context");
        goto done;
    }
    n_out = kiln_program_n_outputs(prog);
    out = calloc(n_out + 1, sizeof(*out));
    if (!out) goto done;
    for (size_t i = 0; i < n_out; i++) {
        kiln_tensor desc;
        kiln_program_output(prog, i, &desc);
        out[i].name = desc.name;
    }
    if (kiln_run(ctx, in, n_in, out, n_out)) {
        cli_fail("run");
        goto done;
    }
    if (fe_safetensors_write(out_path, out, n_out)) {
        cli_fail(out_path);
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        fprintf(stderr, "%s: %s[", out[i].name, kiln_dtype_get_info(out[i].dtype)->name);
        for (int d = 0; d < out[i].rank; d++) fprintf(stderr, "%s%lld", d ? ", " : "", (long long)out[i].shape[d]);
        fprintf(stderr, "]\n");
    }
    rc = 0;
done:
    for (size_t i = 0; in && i < n_in; i++) free(in[i].data);
    free(in);
    free(out);
    kiln_context_free(ctx);
    kiln_program_free(prog);
    fe_weights_free(inputs);
    kiln_model_free(m);
    return rc;
}
