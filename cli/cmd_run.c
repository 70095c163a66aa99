/* cmd_run.c — `kiln run TASK --model PATH [options] INPUT...`: one row per task, each task's
 * options and output in its own file (cli/cmd_<task>.c), as Transformers' pipeline(TASK) is one
 * class per task.
 */
#include "cli/cli.h"

int cli_task_pipeline(int argc, char **argv);   // cli/cmd_pipeline.c: the encoder tasks

static const struct {
    const char *task;
    int (*run)(int argc, char **argv);   // argv[0] is the task name
    const char *help;
} tasks[] = {
    {"text-generation", cli_task_text_generation, "continue a prompt with a causal LM, streaming tokens"},
    {"text-classification", cli_task_pipeline, "labels and scores of texts (or text pairs) from a classification head"},
    {"sentiment-analysis", cli_task_pipeline, "alias of text-classification"},
    {"feature-extraction", cli_task_pipeline, "token vectors (last hidden state), or pooled sentence vectors"},
    {"fill-mask", cli_task_pipeline, "the likeliest tokens for each mask token"},
    {"token-classification", cli_task_pipeline, "a label per token or entity (NER); --aggregation none|simple|first|average|max"},
    {"question-answering", cli_task_pipeline, "the span of a context that answers a question"},
    {"ner", cli_task_pipeline, "alias of token-classification"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: kiln run TASK --model PATH [options] INPUT...\n\ntasks:\n");
    for (size_t i = 0; i < KILN_ARRAY_SIZE(tasks); i++) fprintf(f, "  %-18s %s\n", tasks[i].task, tasks[i].help);
    fprintf(f, "\n`kiln run TASK --help` describes a task's options.\n");
}

int cli_cmd_run(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < KILN_ARRAY_SIZE(tasks); i++)
        if (strcmp(argv[1], tasks[i].task) == 0) return tasks[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kiln run: unknown task '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
