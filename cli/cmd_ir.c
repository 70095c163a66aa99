/* cmd_ir.c — `kiln ir PATH [--arch NAME] [--after PASS] [--passes LIST]`: the checkpoint's graph
 * as kiln's textual IR, as the model builder makes it or after any pass of the pipeline.
 */
#include "api/passes.h"
#include "cli/cli.h"

static const char *IR_USAGE =
    "usage: kiln ir PATH [--arch ARCHITECTURE|base] [--after PASS] [--passes LIST] [--ff-chunk N]\n"
    "               [--batch B --seq S] [--list-passes]\n";

static void list_passes(void) {
    printf("passes, in pipeline order:\n");
    for (int i = 0; i < PASS_COUNT; i++) printf("  %-18s %s\n", pass_name(i), pass_summary(i));
}

int cli_cmd_ir(int argc, char **argv) {
    const char *path = NULL, *after = NULL, *passes = NULL;
    int64_t batch = 0, seq = 0, ff_chunk = -2;
    kiln_open_options oo = kiln_open_options_default();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            printf("%s\nPrints the IR graph kiln builds for the checkpoint at PATH: as the model builder makes it, or,\n"
                   "with --after PASS, after the pass pipeline has run up to and including PASS (--after all: the\n"
                   "whole pipeline). --passes chooses passes: \"a,b\" only those, \"-a,-b\" all but those, \"none\".\n"
                   "--ff-chunk N chunks the feed-forward block (0: never; default: config.json's chunk_size_feed_forward).\n",
                   IR_USAGE);
            list_passes();
            return 0;
        } else if (strcmp(argv[i], "--list-passes") == 0) {
            list_passes();
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--after"))) {
            after = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--passes"))) {
            passes = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch"))) {
            batch = cli_parse_int("--batch", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--seq"))) {
            seq = cli_parse_int("--seq", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--ff-chunk"))) {
            ff_chunk = cli_parse_int("--ff-chunk", v);
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln ir: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fputs(IR_USAGE, stderr);
        return 2;
    }
    int stop = -1;
    if (after && strcmp(after, "all") != 0 && (stop = pass_find(after)) < 0) {
        fprintf(stderr, "kiln ir: --after: unknown pass '%s' (kiln ir --list-passes)\n", after);
        return 2;
    }
    kiln_model *m = NULL;
    char *text = NULL;
    if (kiln_model_open(path, &oo, &m)) return cli_fail(path);
    kiln_status st;
    if (!after && !passes) {
        st = kiln_model_print_ir(m, &text);
    } else {
        kiln_compile_options co = kiln_compile_options_default();
        co.passes = passes;
        co.ff_chunk = ff_chunk == -2 ? 0 : ff_chunk == 0 ? -1 : ff_chunk;
        md_build_options bo = {.max_batch = batch, .max_seq = seq};
        kiln_pass_ctx pc;
        ir_graph *g = NULL;
        st = api_passes_setup(m, &co, &bo, &pc);
        if (!st) st = api_model_build(m, &bo, &g);
        if (!st) {
            pc.stop_after = stop;
            pc.verify = true;
            st = pass_run_pipeline(g, &pc);
        }
        kiln_strbuf sb = {0};
        if (!st) st = ir_print(g, &sb);
        if (!st && sb.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory printing the graph");
        if (st) kiln_strbuf_free(&sb);
        else text = sb.data;
        ir_graph_free(g);
    }
    kiln_model_free(m);
    if (st) return cli_fail("ir");
    fputs(text ? text : "", stdout);
    free(text);
    return 0;
}
