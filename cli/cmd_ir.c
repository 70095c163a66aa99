/* cmd_ir.c — `kiln ir PATH [--arch NAME]`: the checkpoint's graph as kiln's textual IR. */
#include "cli/cli.h"

int cli_cmd_ir(int argc, char **argv) {
    const char *path = NULL;
    kiln_open_options oo = kiln_open_options_default();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: kiln ir PATH [--arch ARCHITECTURE|base]\n\nPrints the IR graph kiln builds for the checkpoint at PATH.\n");
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln ir: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: kiln ir PATH [--arch ARCHITECTURE|base]\n");
        return 2;
    }
    kiln_model *m = NULL;
    char *text = NULL;
    if (kiln_model_open(path, &oo, &m)) return cli_fail(path);
    kiln_status st = kiln_model_print_ir(m, &text);
    kiln_model_free(m);
    if (st) return cli_fail("ir");
    fputs(text, stdout);
    free(text);
    return 0;
}
