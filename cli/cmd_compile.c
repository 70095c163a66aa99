/* cmd_compile.c — `kiln compile PATH -o OUT`: a checkpoint compiled ahead of time into an
 * executable that reads token ids or text and prints the outputs, or with --shared into
 * libOUT.so with a typed C header OUT.h. Weights go beside the artifact (OUT.weights, mapped at
 * load) or inside it with --embed-weights. --timings says where compile time went.
 */
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln compile PATH -o OUT [--shared] [--embed-weights] [--target cpu|interp]\n"
            "                    [--cpu NAME] [--features +a,-b] [--max-batch B] [--max-seq S] [--arch ARCH] [--passes LIST]\n"
            "                    [--timings]\n"
            "  PATH            a checkpoint directory (config.json + safetensors)\n"
            "  -o OUT          the executable OUT (run `OUT --help`); with --shared, libOUT.so and OUT.h\n"
            "                  (an OUT ending in .so is the library's own name); --target interp: a program file\n"
            "                  (interpreter programs save without fused regions: --passes none)\n"
            "  --embed-weights weights inside the artifact (one file); else OUT.weights (libOUT.so.weights) beside it\n"
            "  --cpu NAME      host (default), x86-64, x86-64-v2, x86-64-v3 or x86-64-v4 (portable)\n"
            "  --features STR  LLVM feature flags added to the CPU's: \"+avx512f,-avx512fp16\"\n"
            "  --max-batch B, --max-seq S   the largest shapes the artifact serves (default 8, max positions)\n"
            "  --passes LIST   the optimization passes (`kiln ir --list-passes`): \"all\" (default), \"none\", \"-a,-b\"\n"
            "  --timings       where compile time went: graph, skeleton, lowering, O3, codegen, linking\n");
}

// libNAME.so and NAME.h for OUT = dir/NAME (a name already ending in .so is kept).
static void shared_paths(const char *out, char *lib, size_t lib_size, char *header, size_t header_size) {
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    int dir_len = slash ? (int)(slash - out + 1) : 0;
    size_t bl = strlen(base);
    if (bl > 3 && strcmp(base + bl - 3, ".so") == 0) {
        snprintf(lib, lib_size, "%s", out);
        const char *stem = strncmp(base, "lib", 3) == 0 ? base + 3 : base;
        snprintf(header, header_size, "%.*s%.*s.h", dir_len, out, (int)(strlen(stem) - 3), stem);
        return;
    }
    snprintf(lib, lib_size, "%.*slib%s.so", dir_len, out, base);
    snprintf(header, header_size, "%s.h", out);
}

int cli_cmd_compile(int argc, char **argv) {
    const char *path = NULL, *out = NULL;
    bool shared = false, timings = false;
    kiln_open_options oo = kiln_open_options_default();
    kiln_compile_options co = kiln_compile_options_default();
    kiln_save_options so = kiln_save_options_default();
    co.target = KILN_TARGET_CPU;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "-o"))) {
            out = v;
        } else if (strcmp(argv[i], "--shared") == 0) {
            shared = true;
        } else if (strcmp(argv[i], "--embed-weights") == 0) {
            so.embed_weights = true;
        } else if (strcmp(argv[i], "--timings") == 0) {
            timings = true;
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            if (strcmp(v, "cpu") == 0) co.target = KILN_TARGET_CPU;
            else if (strcmp(v, "interp") == 0) co.target = KILN_TARGET_INTERP;
            else {
                fprintf(stderr, "kiln compile: --target %s: use cpu or interp\n", v);
                return 2;
            }
        } else if ((v = cli_flag_value(argc, argv, &i, "--cpu"))) {
            co.cpu = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--features"))) {
            co.features = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-batch"))) {
            co.max_batch = cli_parse_int("--max-batch", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-seq"))) {
            co.max_seq = cli_parse_int("--max-seq", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--arch"))) {
            oo.architecture = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--passes"))) {
            co.passes = v;
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln compile: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path || !out) {
        usage(stderr);
        return 2;
    }
    char lib[4096], header[4096];
    const char *target = out;
    if (co.target == KILN_TARGET_INTERP) {
        so.kind = KILN_ARTIFACT_PROGRAM;
    } else if (shared) {
        shared_paths(out, lib, sizeof(lib), header, sizeof(header));
        so.kind = KILN_ARTIFACT_SHARED;
        so.header_path = header;
        target = lib;
    } else {
        so.kind = KILN_ARTIFACT_EXECUTABLE;
    }
    int rc = 1;
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    if (kiln_model_open(path, &oo, &m)) {
        cli_fail(path);
        goto done;
    }
    if (kiln_compile(m, &co, &prog)) {
        cli_fail(path);
        goto done;
    }
    if (kiln_program_save(prog, target, &so)) {   // the message names the file
        cli_fail("compile");
        goto done;
    }
    kiln_program_info info;
    kiln_program_get_info(prog, &info);
    printf("%s: %s", target, so.kind == KILN_ARTIFACT_PROGRAM ? "program file" : so.kind == KILN_ARTIFACT_SHARED ? "shared library" : "executable");
    if (shared) printf(" + %s", header);
    printf(" (%s, %zu launches, %zu kernels", kiln_model_architecture(m), info.n_launches, info.n_kernels);
    if (info.cpu) printf(", for %s", info.cpu);
    printf("); weights %.1f MB %s\n", (double)info.weight_bytes / 1e6,
           so.embed_weights || so.kind == KILN_ARTIFACT_PROGRAM ? "inside" : "in a .weights file beside it");
    if (timings) {
        printf("compile time %.3f s:\n", info.time_total);
        printf("  %-44s %8.3f s\n", "checkpoint -> IR graph, passes", info.time_graph);
        printf("  %-44s %8.3f s\n", "program skeleton (weights, io, arena plan)", info.time_build);
        printf("  %-44s %8.3f s\n", "IR -> LLVM IR (kernels)", info.time_lower);
        printf("  %-44s %8.3f s\n", "LLVM O3", info.time_optimize);
        printf("  %-44s %8.3f s\n", "machine code", info.time_codegen);
        printf("  %-44s %8.3f s\n", "JIT linking", info.time_jit);
        printf("  %-44s %8.3f s\n", "weight packing", info.time_pack);
    }
    rc = 0;
done:
    kiln_program_free(prog);
    kiln_model_free(m);
    return rc;
}
