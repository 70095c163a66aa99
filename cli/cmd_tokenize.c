/* cmd_tokenize.c — `kiln tokenize --model PATH [options] TEXT...`: encodes the texts as
 * transformers' tokenizer(texts, pairs, padding=..., truncation=..., ...) does and prints the
 * encoding as JSON with BatchEncoding's field names, one list per row. With --pair the texts
 * alternate text, pair. Offsets are UTF-8 byte offsets (kiln's convention) unless --char-offsets,
 * which gives Python's character offsets.
 */
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln tokenize --model PATH [options] TEXT...\n"
            "  --pair                     texts alternate: text, pair, text, pair, ...\n"
            "  --padding P                longest (True) | max_length | do_not_pad (default: no padding)\n"
            "  --truncation T             longest_first (True) | only_first | only_second | do_not_truncate (False)\n"
            "  --max-length N             defaults to the model's model_max_length where needed\n"
            "  --stride N                 tokens shared by consecutive overflowing windows\n"
            "  --pad-to-multiple-of N\n"
            "  --padding-side left|right  --truncation-side left|right\n"
            "  --return-overflowing-tokens  the truncated-away windows as extra rows, with overflow_to_sample_mapping\n"
            "  --no-special-tokens        add_special_tokens=False\n"
            "  --char-offsets             offset_mapping in characters (as Python) instead of UTF-8 bytes\n"
            "  --decode                   also print each row decoded (skip_special_tokens=True)\n"
            "Prints JSON with transformers' BatchEncoding field names.\n");
}

static int bad_value(const char *flag, const char *v) {
    fprintf(stderr, "kiln tokenize: %s: unknown value '%s'\n", flag, v);
    usage(stderr);
    return 2;
}

// Python's character index of byte offset b in s.
static int64_t char_index(const char *s, int64_t b) {
    int64_t n = 0;
    for (int64_t i = 0; i < b && s[i]; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void print_rows(const char *key, const kiln_batch_encoding *b, const int64_t *(*get)(const kiln_encoding *)) {
    printf("  \"%s\": [", key);
    for (size_t r = 0; r < b->n_rows; r++) {
        const int64_t *v = get(&b->rows[r]);
        printf("%s[", r ? ", " : "");
        for (size_t i = 0; i < b->rows[r].n; i++) printf("%s%lld", i ? ", " : "", (long long)v[i]);
        printf("]");
    }
    printf("]");
}

static const int64_t *get_ids(const kiln_encoding *e) { return e->input_ids; }
static const int64_t *get_types(const kiln_encoding *e) { return e->token_type_ids; }
static const int64_t *get_mask(const kiln_encoding *e) { return e->attention_mask; }
static const int64_t *get_special(const kiln_encoding *e) { return e->special_tokens_mask; }

int cli_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    bool pairs = false, chars = false, decode = false;
    kiln_encode_options o = kiln_encode_options_default();
    const char **texts = calloc((size_t)argc + 1, sizeof(*texts));
    int n = 0;
    if (!texts) return cli_fail("tokenize");
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(texts);
            return 0;
        } else if ((v = cli_flag_value(argc, argv, &i, "--model"))) {
            dir = v;
        } else if (strcmp(argv[i], "--pair") == 0) {
            pairs = true;
        } else if ((v = cli_flag_value(argc, argv, &i, "--padding"))) {
            if (strcmp(v, "longest") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0) o.padding = KILN_PADDING_LONGEST;
            else if (strcmp(v, "max_length") == 0) o.padding = KILN_PADDING_MAX_LENGTH;
            else if (strcmp(v, "do_not_pad") == 0) o.padding = KILN_PADDING_DO_NOT_PAD;
            else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0) o.padding = KILN_PADDING_NONE;
            else return free(texts), bad_value("--padding", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--truncation"))) {
            if (strcmp(v, "longest_first") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0)
                o.truncation = KILN_TRUNCATION_LONGEST_FIRST;
            else if (strcmp(v, "only_first") == 0) o.truncation = KILN_TRUNCATION_ONLY_FIRST;
            else if (strcmp(v, "only_second") == 0) o.truncation = KILN_TRUNCATION_ONLY_SECOND;
            else if (strcmp(v, "do_not_truncate") == 0 || strcmp(v, "false") == 0 || strcmp(v, "False") == 0)
                o.truncation = KILN_TRUNCATION_DO_NOT_TRUNCATE;
            else return free(texts), bad_value("--truncation", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--max-length"))) {
            o.max_length = cli_parse_int("--max-length", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--stride"))) {
            o.stride = cli_parse_int("--stride", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--pad-to-multiple-of"))) {
            o.pad_to_multiple_of = cli_parse_int("--pad-to-multiple-of", v);
        } else if ((v = cli_flag_value(argc, argv, &i, "--padding-side"))) {
            if (strcmp(v, "left") != 0 && strcmp(v, "right") != 0) return free(texts), bad_value("--padding-side", v);
            o.padding_side = v[0] == 'l' ? KILN_SIDE_LEFT : KILN_SIDE_RIGHT;
        } else if ((v = cli_flag_value(argc, argv, &i, "--truncation-side"))) {
            if (strcmp(v, "left") != 0 && strcmp(v, "right") != 0) return free(texts), bad_value("--truncation-side", v);
            o.truncation_side = v[0] == 'l' ? KILN_SIDE_LEFT : KILN_SIDE_RIGHT;
        } else if (strcmp(argv[i], "--return-overflowing-tokens") == 0) {
            o.return_overflowing_tokens = true;
        } else if (strcmp(argv[i], "--no-special-tokens") == 0) {
            o.add_special_tokens = false;
        } else if (strcmp(argv[i], "--char-offsets") == 0) {
            chars = true;
        } else if (strcmp(argv[i], "--decode") == 0) {
            decode = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "kiln tokenize: unknown option %s\n", argv[i]);
            usage(stderr);
            free(texts);
            return 2;
        } else {
            texts[n++] = argv[i];
        }
    }
    if (!dir || n == 0 || (pairs && n % 2)) {
        if (pairs && n % 2) fprintf(stderr, "kiln tokenize: --pair needs texts in pairs (%d given)\n", n);
        usage(stderr);
        free(texts);
        return 2;
    }
    int rc = 1;
    kiln_tokenizer *tok = NULL;
    kiln_batch_encoding b = {0};
    const char **firsts = texts, **seconds = NULL;
    size_t count = (size_t)n;
    const char **split = NULL;
    if (pairs) {   // text, pair, text, pair -> two arrays
        count = (size_t)n / 2;
        split = calloc((size_t)n + 1, sizeof(*split));
        if (!split) goto done;
        for (size_t i = 0; i < count; i++) split[i] = texts[2 * i], split[count + i] = texts[2 * i + 1];
        firsts = split, seconds = split + count;
    }
    if (kiln_tokenizer_open(dir, &tok) != KILN_OK) {
        cli_fail(dir);
        goto done;
    }
    if (kiln_tokenizer_encode_batch(tok, firsts, seconds, count, &o, &b) != KILN_OK) {
        cli_fail("tokenize");
        goto done;
    }
    int64_t max = kiln_tokenizer_model_max_length(tok);
    for (size_t r = 0; r < b.n_rows && max >= 0; r++) {
        if ((int64_t)b.rows[r].n > max) {   // transformers' warning, word for word
            fprintf(stderr,
                    "kiln: Token indices sequence length is longer than the specified maximum sequence length for "
                    "this model (%zu > %lld). Running this sequence through the model will result in indexing errors\n",
                    b.rows[r].n, (long long)max);
            break;
        }
    }
    printf("{\n");
    print_rows("input_ids", &b, get_ids);
    printf(",\n");
    print_rows("token_type_ids", &b, get_types);
    printf(",\n");
    print_rows("attention_mask", &b, get_mask);
    printf(",\n  \"offset_mapping\": [");
    for (size_t r = 0; r < b.n_rows; r++) {
        const kiln_encoding *e = &b.rows[r];
        size_t sample = (size_t)b.overflow_to_sample_mapping[r];
        printf("%s[", r ? ", " : "");
        for (size_t i = 0; i < e->n; i++) {
            int64_t s = e->offsets[i][0], t = e->offsets[i][1];
            if (chars && e->sequence_ids[i] >= 0) {
                const char *src = e->sequence_ids[i] == 1 ? seconds[sample] : firsts[sample];
                s = char_index(src, s), t = char_index(src, t);
            }
            printf("%s[%lld, %lld]", i ? ", " : "", (long long)s, (long long)t);
        }
        printf("]");
    }
    printf("],\n");
    print_rows("special_tokens_mask", &b, get_special);
    if (o.return_overflowing_tokens) {
        printf(",\n  \"overflow_to_sample_mapping\": [");
        for (size_t r = 0; r < b.n_rows; r++) printf("%s%lld", r ? ", " : "", (long long)b.overflow_to_sample_mapping[r]);
        printf("]");
    }
    if (decode) {
        printf(",\n  \"decoded\": [");
        kiln_decode_options d = kiln_decode_options_default();
        d.skip_special_tokens = true;
        for (size_t r = 0; r < b.n_rows; r++) {
            char *text = NULL;
            if (kiln_tokenizer_decode(tok, b.rows[r].input_ids, b.rows[r].n, &d, &text) != KILN_OK) {
                printf("]\n}\n");
                cli_fail("decode");
                goto done;
            }
            printf("%s\"", r ? ", " : "");
            for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
                if (*p == '"' || *p == '\\') printf("\\%c", *p);
                else if (*p < 0x20) printf("\\u%04x", *p);
                else putchar(*p);
            }
            printf("\"");
            free(text);
        }
        printf("]");
    }
    printf("\n}\n");
    rc = 0;
done:
    kiln_batch_encoding_free(&b);
    kiln_tokenizer_free(tok);
    free(split);
    free(texts);
    return rc;
}
