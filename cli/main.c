/* main.c — the `kiln` command: one subcommand per job, each in its own file (cli/cmd_*.c).
 * Errors print kiln_last_error() and exit 1; usage errors exit 2.
 */
#include "cli/cli.h"

#include <sys/resource.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"ir", cli_cmd_ir, "print a checkpoint's IR graph"},
    {"exec", cli_cmd_exec, "run a model on named tensors from a safetensors file, write its outputs"},
    {"similarity", cli_cmd_similarity, "embed sentences (mean pooling) and print their cosine similarities"},
    {"tokenize", cli_cmd_tokenize, "encode texts (and pairs) as transformers' tokenizer(...) does, print JSON"},
    {"compile", cli_cmd_compile, "compile a checkpoint to an executable or a shared library (AOT), --timings"},
    {"bench", cli_cmd_bench, "compile once, run repeatedly: latency, GFLOP/s, peak RSS"},
    {"profile", cli_cmd_profile, "where memory and time go: the memory plan, kernels, a Chrome trace, an SVG"},
    {"run", cli_cmd_run, "run a task on inputs, as Transformers' pipeline(TASK) does (text-generation, ...)"},
};

static void usage(FILE *f) {
    fprintf(f, "kiln %s — compile and run transformer checkpoints\n\nusage: kiln COMMAND [options]\n\ncommands:\n", KILN_VERSION);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`kiln COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln %s\n", KILN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

int cli_fail(const char *what) {
    fprintf(stderr, "kiln: %s: %s\n", what, kiln_last_error());
    return 1;
}

const char *cli_flag_value(int argc, char **argv, int *i, const char *flag) {
    if (strcmp(argv[*i], flag) != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kiln: %s needs a value\n", flag);
        exit(2);
    }
    return argv[++*i];
}

int64_t cli_parse_int(const char *flag, const char *text) {
    char *end;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || v < 0) {
        fprintf(stderr, "kiln: %s: '%s' is not a non-negative integer\n", flag, text);
        exit(2);
    }
    return v;
}

int cli_cores(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)KILN_MIN(cores, 1024) : 1;
}

double cli_peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    if (kb > 0) return kb * 1024.0;
    struct rusage ru;   // no /proc: the best there is
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;
}

int cli_default_threads(void) {
    const char *env = getenv("KILN_NUM_THREADS");
    if (env && *env) {
        int64_t n = cli_parse_int("KILN_NUM_THREADS", env);
        if (n > 0) return (int)KILN_MIN(n, 1024);
    }
    return cli_cores();
}
