/* cmd_generate.c — `kiln run text-generation --model PATH "prompt"`: continues a prompt with a
 * causal LM, streaming the text to stdout as the tokens come (prompt first, as Transformers'
 * pipeline returns the full text; with --chat, the prompt goes through the chat template and only
 * the reply is printed). Timings and the number of compiled programs go to stderr.
 */
#include <time.h>

#include "api/model.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln run text-generation --model PATH [options] PROMPT...\n"
            "  --max-new-tokens N      tokens to generate (default: generation_config.json's, else 256)\n"
            "  --do-sample | --greedy  sample, or take the most likely token (default: generation_config.json's)\n"
            "  --temperature T --top-k K --top-p P --min-p P --repetition-penalty R --seed S\n"
            "  --stop TEXT             stop once the text contains TEXT (repeatable)\n"
            "  --ignore-eos            go on past end-of-sequence tokens\n"
            "  --chat                  send PROMPT as a user message through the model's chat template\n"
            "  --ids                   PROMPT is token ids (\"1,2,3\"); prints the generated ids\n"
            "  --context N             tokens a sequence may hold, prompt included (default: min(4096, the model's))\n"
            "  --batch-tokens N        most prompt tokens per run (default 256)\n"
            "  --threads N             threads (default $KILN_NUM_THREADS, else one per core)\n"
            "  --target interp|cpu     the reference interpreter (default) or native code through LLVM\n"
            "  --json                  print [{\"generated_text\": ...}] per prompt at the end instead of streaming\n"
            "Several prompts are generated together in one batch (printed when all are done).\n");
}

typedef struct stream_state {
    bool quiet;
    double t_first;   // when the first token came (prefill + one sample)
} stream_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool print_piece(void *user, int32_t seq, kiln_token token, const char *text, size_t len) {
    stream_state *s = user;
    if (s->t_first == 0) s->t_first = now_s();
    if (!s->quiet && text && len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return true;
}

static double parse_float(const char *flag, const char *text) {
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end) {
        fprintf(stderr, "kiln run text-generation: %s: '%s' is not a number\n", flag, text);
        exit(2);
    }
    return v;
}

// "1,2,3" or "1 2 3" -> ids (malloc'd); exits 2 on anything else.
static kiln_token *parse_ids(const char *text, size_t *n_out) {
    size_t cap = strlen(text) / 2 + 2, n = 0;
    kiln_token *ids = malloc(cap * sizeof(kiln_token));
    for (const char *p = text; ids && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "kiln run text-generation: --ids: '%s' is not a list of token ids\n", text);
            exit(2);
        }
        ids[n++] = (kiln_token)v;
        for (p = end; *p == ',' || *p == ' '; p++) {}
    }
    *n_out = n;
    return ids;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int cli_task_text_generation(int argc, char **argv) {
    const char *path = NULL;
    const char *stops[16];
    const char *prompts[64];
    size_t n_stops = 0, n_prompts = 0;
    bool chat = false, ids_mode = false, json = false, sample_set = false, do_sample = false, ignore_eos = false;
    double temperature = -1, top_p = -1, min_p = -1, penalty = -1;
    int64_t max_new = 0, top_k = -1, seed = -1, context = 0, batch_tokens = 256;
    kiln_target target = KILN_TARGET_INTERP;
    kiln_decoder_options dopts = kiln_decoder_options_default();
    dopts.n_threads = cli_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--model"))) {
            path = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-new-tokens"))) {
            max_new = cli_parse_int("--max-new-tokens", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--temperature"))) {
            temperature = parse_float("--temperature", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--top-k"))) {
            top_k = cli_parse_int("--top-k", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--top-p"))) {
            top_p = parse_float("--top-p", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--min-p"))) {
            min_p = parse_float("--min-p", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--repetition-penalty"))) {
            penalty = parse_float("--repetition-penalty", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--seed"))) {
            seed = cli_parse_int("--seed", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--stop"))) {
            if (n_stops == KILN_ARRAY_SIZE(stops)) return fprintf(stderr, "kiln run text-generation: at most 16 --stop\n"), 2;
            stops[n_stops++] = v;
        } else if ((v = cli_flag_value(argc, argv, &i, "--context"))) {
            context = cli_parse_int("--context", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--batch-tokens"))) {
            batch_tokens = cli_parse_int("--batch-tokens", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--threads"))) {
            dopts.n_threads = (int)cli_parse_int("--threads", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--target"))) {
            if (strcmp(v, "interp") != 0 && strcmp(v, "cpu") != 0)
                return fprintf(stderr, "kiln run text-generation: --target: '%s' is not interp or cpu\n", v), 2;
            target = strcmp(v, "cpu") == 0 ? KILN_TARGET_CPU : KILN_TARGET_INTERP;
        } else if (strcmp(argv[i], "--do-sample") == 0 || strcmp(argv[i], "--greedy") == 0) {
            sample_set = true;
            do_sample = strcmp(argv[i], "--do-sample") == 0;
        } else if (strcmp(argv[i], "--chat") == 0) {
            chat = true;
        } else if (strcmp(argv[i], "--ids") == 0) {
            ids_mode = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--ignore-eos") == 0) {
            ignore_eos = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "kiln run text-generation: unknown option '%s'\n", argv[i]);
            return 2;
        } else {
            if (n_prompts == KILN_ARRAY_SIZE(prompts)) return fprintf(stderr, "kiln run text-generation: at most 64 prompts\n"), 2;
            prompts[n_prompts++] = argv[i];
        }
    }
    if (!path || n_prompts == 0) {
        usage(stderr);
        return 2;
    }
    if (chat && (ids_mode || n_prompts > 1))
        return fprintf(stderr, "kiln run text-generation: --chat takes one text prompt (not --ids, not several)\n"), 2;

    int rc = 1;
    kiln_model *m = NULL;
    kiln_program *prog = NULL;
    kiln_decoder *dec = NULL;
    kiln_generation results[64];
    kiln_token *ids[64] = {NULL};
    size_t n_ids[64] = {0};
    memset(results, 0, sizeof(results));
    if (kiln_model_open(path, NULL, &m)) {
        cli_fail(path);
        goto done;
    }
    int64_t limit = m->family->max_seq(m->cfg);
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = (int64_t)n_prompts;
    co.max_context = context > 0 ? context : KILN_MIN(limit, 4096);
    co.max_seq = KILN_MIN(batch_tokens > 0 ? batch_tokens : 256, co.max_context);
    co.logits = KILN_LOGITS_LAST;
    co.target = target;
    if (kiln_compile(m, &co, &prog)) {
        cli_fail("compile");
        goto done;
    }
    // --ids runs with the checkpoint's tokenizer when it has one (to print text too), else without.
    // A GGUF file is its own tokenizer (its tokenizer.ggml.* metadata).
    dopts.tokenizer_path = ids_mode ? NULL : path;
    if (kiln_decoder_create(prog, &dopts, &dec)) {
        cli_fail("decoder");
        goto done;
    }
    kiln_generate_options go = kiln_generate_options_default(prog);
    if (max_new > 0) go.max_new_tokens = max_new;
    if (sample_set) go.sampling.do_sample = do_sample;
    if (temperature >= 0) go.sampling.temperature = (float)temperature;
    if (top_k >= 0) go.sampling.top_k = (int32_t)top_k;
    if (top_p >= 0) go.sampling.top_p = (float)top_p;
    if (min_p >= 0) go.sampling.min_p = (float)min_p;
    if (penalty >= 0) go.sampling.repetition_penalty = (float)penalty;
    if (seed >= 0) go.sampling.seed = (uint64_t)seed;
    go.stop_strings = stops;
    go.n_stop_strings = n_stops;
    go.ignore_eos = ignore_eos;
    stream_state ss = {.quiet = json || n_prompts > 1 || ids_mode};
    go.on_token = print_piece;
    go.user = &ss;

    double t0 = now_s();
    kiln_status st;
    if (n_prompts == 1 && !ids_mode) {
        if (!ss.quiet && !chat) fputs(prompts[0], stdout);
        st = kiln_generate_text(dec, prompts[0], chat, &go, &results[0]);
    } else {
        for (size_t i = 0; i < n_prompts; i++) {
            if (ids_mode) {
                ids[i] = parse_ids(prompts[i], &n_ids[i]);
                continue;
            }
            // several text prompts: encode each the way kiln_generate_text would
            kiln_tokenizer *tk = NULL;
            kiln_encoding e;
            if (kiln_tokenizer_open(path, &tk) || kiln_tokenizer_encode(tk, prompts[i], NULL, &e)) {
                kiln_tokenizer_free(tk);
                cli_fail("tokenizer");
                goto done;
            }
            ids[i] = malloc((e.n + 1) * sizeof(kiln_token));
            for (size_t k = 0; ids[i] && k < e.n; k++) ids[i][k] = (kiln_token)e.input_ids[k];
            n_ids[i] = e.n;
            kiln_encoding_free(&e);
            kiln_tokenizer_free(tk);
        }
        st = kiln_generate(dec, (const kiln_token *const *)ids, n_ids, n_prompts, &go, results);
    }
    double t1 = now_s();
    if (st) {
        if (!ss.quiet) putchar('\n');
        cli_fail("generate");
        goto done;
    }
    if (json) printf("[");
    for (size_t i = 0; i < n_prompts; i++) {
        kiln_generation *r = &results[i];
        if (json) {
            printf("%s{\"generated_text\": ", i ? ", " : "");
            kiln_strbuf full = {0};
            if (!chat) kiln_strbuf_printf(&full, "%s", ids_mode ? "" : prompts[i]);
            kiln_strbuf_printf(&full, "%s", r->text ? r->text : "");
            print_json_string(full.data ? full.data : "");
            kiln_strbuf_free(&full);
            printf(", \"generated_token_ids\": [");
            for (size_t k = 0; k < r->n_tokens; k++) printf("%s%d", k ? ", " : "", r->tokens[k]);
            printf("]}");
        } else if (ss.quiet) {
            if (n_prompts > 1) printf("%s[%zu] ", i ? "\n" : "", i);
            if (ids_mode) {
                for (size_t k = 0; k < r->n_tokens; k++) printf("%s%d", k ? "," : "", r->tokens[k]);
                if (r->text) printf("\t");
            } else {
                fputs(prompts[i], stdout);
            }
            if (r->text) fputs(r->text, stdout);
        }
    }
    printf(json ? "]\n" : "\n");
    fflush(stdout);
    static const char *const reasons[] = {"max_new_tokens", "eos", "stop string", "context full", "callback"};
    size_t n_new = 0;
    for (size_t i = 0; i < n_prompts; i++) n_new += results[i].n_tokens;
    double first = ss.t_first > 0 ? ss.t_first - t0 : t1 - t0, rest = t1 - (ss.t_first > 0 ? ss.t_first : t0);
    fprintf(stderr, "kiln: %zu new token%s (%s); first token %.3f s, then %.1f tokens/s; %zu program%s compiled\n", n_new,
            n_new == 1 ? "" : "s", reasons[results[0].finish], first, n_new > n_prompts && rest > 0 ? (double)(n_new - n_prompts) / rest : 0.0,
            kiln_model_n_programs(m), kiln_model_n_programs(m) == 1 ? "" : "s");
    rc = 0;
done:
    for (size_t i = 0; i < n_prompts; i++) {
        kiln_generation_free(&results[i]);
        free(ids[i]);
    }
    kiln_decoder_free(dec);
    kiln_program_free(prog);
    kiln_model_free(m);
    return rc;
}
