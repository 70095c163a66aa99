/* cli.h — shared helpers of the `kiln` command's subcommands. The CLI may include every room. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include "common/common.h"

int cli_cmd_ir(int argc, char **argv);
int cli_cmd_exec(int argc, char **argv);
int cli_cmd_similarity(int argc, char **argv);
int cli_cmd_tokenize(int argc, char **argv);
int cli_cmd_compile(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_profile(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
// `kiln run` tasks (cli/cmd_run.c's table); argv[0] is the task name.
int cli_task_text_generation(int argc, char **argv);

// Prints "kiln: what: <kiln_last_error()>" and returns 1.
int cli_fail(const char *what);
// If argv[*i] is `flag`, consumes and returns its value (exit 2 when missing); else NULL.
const char *cli_flag_value(int argc, char **argv, int *i, const char *flag);
// A non-negative integer option value, or exit 2 with a message.
int64_t cli_parse_int(const char *flag, const char *text);
// Threads for a command's kernels when --threads is not given: $KILN_NUM_THREADS (a positive
// integer), else one per online core. Every command that runs a model starts from it.
int cli_default_threads(void);
// Online cores (at least 1).
int cli_cores(void);
// This process's peak resident set in bytes: VmHWM of /proc/self/status, which starts afresh at
// exec (getrusage's ru_maxrss keeps the high-water mark of the process that forked this one: a
// command started from a large Python process would report that process's size).
double cli_peak_rss_bytes(void);

#endif  // KILN_CLI_H
