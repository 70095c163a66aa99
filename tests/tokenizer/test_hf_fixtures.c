/* test_hf_fixtures.c — every tokenizer of tests/fixtures/tokenizer/expect/ against what Hugging Face
 * transformers recorded (tests/reference/make_tokenizer_fixtures.py): for each string and pair of
 * the corpus (2,000+), ids, type ids, special tokens mask, attention mask, byte offsets and decoded
 * text must be identical; then every row of transformers' padding / truncation table, errors
 * included. Through the public API (kiln_tokenizer_encode_batch, kiln_tokenizer_decode).
 *
 * Usage: test_hf_fixtures NAME...    (a name "minilm" reads its tokenizer from $KILN_MODEL_DIR,
 * and fails when that is not set: no model is a failure, never a skip)
 */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "common/common.h"
#include "frontend/tokenizer/tokenizer.h"
#include "tests/test.h"

#define TOK_DIR KILN_FIXTURES "/tokenizer"

static cJSON *load_json(const char *path) {
    char *text = NULL;
    if (kiln_read_file(path, &text, NULL) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return NULL;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    return root;
}

// "a b v*n" (and "gap:len" items when pairs is set) into a malloc'd array of n (or 2n) values.
static int64_t *parse_items(const char *s, size_t *n, bool pairs) {
    size_t cap = 16, k = 0;
    int64_t *v = malloc(cap * sizeof(*v));
    while (v && *s) {
        while (*s == ' ') s++;
        if (!*s) break;
        char *end;
        int64_t a = strtoll(s, &end, 10), b = 0;
        bool gap = pairs && *end == ':';
        if (gap) b = strtoll(end + 1, &end, 10);
        int64_t times = 1;
        if (*end == '*') times = strtoll(end + 1, &end, 10);
        s = end;
        for (int64_t r = 0; r < times; r++) {
            if (k + 2 > cap) {
                cap *= 2;
                int64_t *g = realloc(v, cap * sizeof(*v));
                if (!g) {
                    free(v);
                    return NULL;
                }
                v = g;
            }
            if (pairs) {
                v[k++] = gap ? a : 0;   // gap before the token
                v[k++] = gap ? b : a;   // its length
            } else {
                v[k++] = a;
            }
        }
    }
    *n = pairs ? k / 2 : k;
    return v;
}

typedef struct corpus {
    cJSON *root;
    const char **strings;
    int n;
} corpus;

static bool load_corpus(corpus *c) {
    c->root = load_json(TOK_DIR "/corpus.json");
    const cJSON *arr = cJSON_GetObjectItem(c->root, "strings");
    c->n = cJSON_GetArraySize(arr);
    c->strings = calloc((size_t)c->n + 1, sizeof(*c->strings));
    if (!c->root || !c->strings) return false;
    int i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, arr) c->strings[i++] = s->valuestring;
    return c->n > 0;
}

// Compares one row with a recorded one; prints the first differences.
static bool row_equal(const kiln_encoding *e, const cJSON *want, bool with_attn, const char *label) {
    size_t n_ids, n_types, n_special, n_offs, n_words = 0, n_attn = 0;
    int64_t *ids = parse_items(cJSON_GetStringValue(cJSON_GetObjectItem(want, "ids")), &n_ids, false);
    int64_t *types = parse_items(cJSON_GetStringValue(cJSON_GetObjectItem(want, "types")), &n_types, false);
    int64_t *special = parse_items(cJSON_GetStringValue(cJSON_GetObjectItem(want, "special")), &n_special, false);
    int64_t *offs = parse_items(cJSON_GetStringValue(cJSON_GetObjectItem(want, "offs")), &n_offs, true);
    int64_t *words = parse_items(cJSON_GetStringValue(cJSON_GetObjectItem(want, "words")), &n_words, false);
    const char *attn_s = cJSON_GetStringValue(cJSON_GetObjectItem(want, "attn"));
    int64_t *attn = with_attn && attn_s ? parse_items(attn_s, &n_attn, false) : NULL;
    bool ok = ids && types && special && offs && words && n_ids == e->n && n_types == e->n && n_special == e->n &&
              n_offs == e->n && n_words == e->n && (!attn || n_attn == e->n);
    const char *what = ok ? NULL : "length";
    int64_t prev = 0;
    for (size_t i = 0; ok && i < e->n; i++) {
        int64_t start = prev + offs[2 * i], end = start + offs[2 * i + 1];
        prev = end;
        if (e->input_ids[i] != ids[i]) what = "input_ids";
        else if (e->token_type_ids[i] != types[i]) what = "token_type_ids";
        else if (e->special_tokens_mask[i] != special[i]) what = "special_tokens_mask";
        else if (e->attention_mask[i] != (attn ? attn[i] : 1)) what = "attention_mask";
        else if (e->offsets[i][0] != start || e->offsets[i][1] != end) what = "offsets";
        else if (e->word_ids[i] != words[i]) what = "word_ids";
        if (what) {
            fprintf(stderr, "  %s: token %zu: %s differ (kiln id %lld offsets (%lld,%lld); HF id %lld offsets (%lld,%lld))\n",
                    label, i, what, (long long)e->input_ids[i], (long long)e->offsets[i][0],
                    (long long)e->offsets[i][1], (long long)ids[i], (long long)start, (long long)end);
            ok = false;
        }
    }
    if (!ok && what && strcmp(what, "length") == 0) {
        fprintf(stderr, "  %s: %zu tokens, HF %zu:\n    kiln:", label, e->n, n_ids);
        for (size_t i = 0; i < e->n && i < 40; i++) fprintf(stderr, " %lld", (long long)e->input_ids[i]);
        fprintf(stderr, "\n    HF:   %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(want, "ids")));
    }
    free(ids);
    free(types);
    free(special);
    free(offs);
    free(words);
    free(attn);
    return ok;
}

static bool decoded_equal(const kiln_tokenizer *tok, const kiln_encoding *e, bool skip, const char *want,
                          const char *label) {
    kiln_decode_options o = kiln_decode_options_default();
    o.skip_special_tokens = skip;
    char *text = NULL;
    kiln_status st = kiln_tokenizer_decode(tok, e->input_ids, e->n, &o, &text);
    bool ok = st == KILN_OK && text && strcmp(text, want) == 0;
    if (!ok)
        fprintf(stderr, "  %s: decode(skip_special_tokens=%d) gives \"%s\", HF \"%s\"%s\n", label, skip,
                text ? text : "(error)", want, st ? kiln_last_error() : "");
    free(text);
    return ok;
}

static void check_cases(const kiln_tokenizer *tok, const char *name, const cJSON *cases, const corpus *c) {
    int n_cases = 0, n_bad = 0, n_pairs = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        int s = cJSON_GetObjectItem(cs, "s")->valueint, p = cJSON_GetObjectItem(cs, "p")->valueint;
        bool add = cJSON_GetObjectItem(cs, "add")->valueint != 0;
        const char *text = c->strings[s], *pair = p >= 0 ? c->strings[p] : NULL;
        kiln_encode_options o = kiln_encode_options_default();
        o.add_special_tokens = add;
        kiln_batch_encoding b;
        char label[160];
        snprintf(label, sizeof(label), "%s: case %d (string %d%s%.0d, add_special_tokens %d)", name, n_cases, s,
                 p >= 0 ? ", pair " : "", p >= 0 ? p : 0, add);
        n_cases++;
        n_pairs += p >= 0;
        kiln_status st = kiln_tokenizer_encode_batch(tok, &text, pair ? &pair : NULL, 1, &o, &b);
        bool ok = st == KILN_OK && b.n_rows == 1;
        if (!ok) {
            if (++n_bad <= 8) fprintf(stderr, "%s: encode failed: %s\n", label, kiln_last_error());
            continue;
        }
        bool quiet = n_bad >= 8;
        ok = row_equal(&b.rows[0], cs, false, quiet ? "" : label);
        const char *dec = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "dec"));
        const char *dec_all = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "dec_all"));
        ok = decoded_equal(tok, &b.rows[0], true, dec ? dec : text, label) && ok;
        if (dec_all) ok = decoded_equal(tok, &b.rows[0], false, dec_all, label) && ok;
        if (!ok && ++n_bad <= 8)
            fprintf(stderr, "%s: differs from HF; text \"%s\"%s%s%s\n", label, text, pair ? ", pair \"" : "",
                    pair ? pair : "", pair ? "\"" : "");
        kiln_batch_encoding_free(&b);
    }
    CHECK_MSG(n_bad == 0, "%s: %d of %d cases differ from HF", name, n_bad, n_cases);
    printf("%s: %d of %d cases (%d pairs) match HF\n", name, n_cases - n_bad, n_cases, n_pairs);
}

// The texts and pairs of a table call (as make_tokenizer_fixtures.py's table_inputs).
static int table_inputs(const cJSON *call, const int *texts, const int *pairs, int *ti, int *pi, bool *has_pair) {
    const cJSON *p = cJSON_GetObjectItem(call, "pair");
    const char *ps = cJSON_GetStringValue(p);
    if (ps && strcmp(ps, "long_first") == 0) {
        int t[3] = {texts[4], texts[5], texts[4]}, q[3] = {pairs[0], pairs[2], pairs[3]};
        memcpy(ti, t, sizeof(t)), memcpy(pi, q, sizeof(q));
        *has_pair = true;
        return 3;
    }
    if (ps && strcmp(ps, "long_second") == 0) {
        int t[3] = {pairs[0], pairs[2], pairs[3]}, q[3] = {texts[4], texts[5], texts[4]};
        memcpy(ti, t, sizeof(t)), memcpy(pi, q, sizeof(q));
        *has_pair = true;
        return 3;
    }
    memcpy(ti, texts, 6 * sizeof(int));
    memcpy(pi, pairs, 6 * sizeof(int));
    *has_pair = cJSON_IsTrue(p);
    return 6;
}

static kiln_encode_options table_options(const cJSON *call) {
    kiln_encode_options o = kiln_encode_options_default();
    const cJSON *v;
    if ((v = cJSON_GetObjectItem(call, "padding"))) {
        const char *s = cJSON_GetStringValue(v);
        if (cJSON_IsTrue(v) || (s && strcmp(s, "longest") == 0)) o.padding = KILN_PADDING_LONGEST;
        else if (s && strcmp(s, "max_length") == 0) o.padding = KILN_PADDING_MAX_LENGTH;
        else if (s && strcmp(s, "do_not_pad") == 0) o.padding = KILN_PADDING_DO_NOT_PAD;
    }
    if ((v = cJSON_GetObjectItem(call, "truncation")) && !cJSON_IsNull(v)) {
        const char *s = cJSON_GetStringValue(v);
        if (cJSON_IsTrue(v) || (s && strcmp(s, "longest_first") == 0)) o.truncation = KILN_TRUNCATION_LONGEST_FIRST;
        else if (s && strcmp(s, "only_first") == 0) o.truncation = KILN_TRUNCATION_ONLY_FIRST;
        else if (s && strcmp(s, "only_second") == 0) o.truncation = KILN_TRUNCATION_ONLY_SECOND;
        else o.truncation = KILN_TRUNCATION_DO_NOT_TRUNCATE;
    }
    if ((v = cJSON_GetObjectItem(call, "max_length"))) o.max_length = (int64_t)v->valuedouble;
    if ((v = cJSON_GetObjectItem(call, "stride"))) o.stride = (int64_t)v->valuedouble;
    if ((v = cJSON_GetObjectItem(call, "pad_to_multiple_of"))) o.pad_to_multiple_of = (int64_t)v->valuedouble;
    if ((v = cJSON_GetObjectItem(call, "return_overflowing_tokens"))) o.return_overflowing_tokens = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItem(call, "add_special_tokens"))) o.add_special_tokens = cJSON_IsTrue(v);
    const char *side;
    if ((side = cJSON_GetStringValue(cJSON_GetObjectItem(call, "padding_side"))))
        o.padding_side = strcmp(side, "left") == 0 ? KILN_SIDE_LEFT : KILN_SIDE_RIGHT;
    if ((side = cJSON_GetStringValue(cJSON_GetObjectItem(call, "truncation_side"))))
        o.truncation_side = strcmp(side, "left") == 0 ? KILN_SIDE_LEFT : KILN_SIDE_RIGHT;
    return o;
}

static void check_table(const kiln_tokenizer *tok, const char *name, const cJSON *table, const corpus *c) {
    int texts[6], pairs[6], k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(table, "texts")) texts[k++ % 6] = v->valueint;
    k = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(table, "pairs")) pairs[k++ % 6] = v->valueint;
    const cJSON *mml = cJSON_GetObjectItem(table, "model_max_length");
    int64_t want_max = mml && mml->valuedouble <= 1e20 ? (int64_t)mml->valuedouble : -1;
    CHECK_MSG(kiln_tokenizer_model_max_length(tok) == want_max, "%s: model_max_length %lld, HF %lld", name,
              (long long)kiln_tokenizer_model_max_length(tok), (long long)want_max);
    int n_calls = 0, n_bad = 0, n_errors = 0, n_rows_total = 0;
    const cJSON *call;
    cJSON_ArrayForEach(call, cJSON_GetObjectItem(table, "calls")) {
        const cJSON *args = cJSON_GetObjectItem(call, "call");
        int ti[6], pi[6];
        bool has_pair;
        int n = table_inputs(args, texts, pairs, ti, pi, &has_pair);
        const char *tx[6], *px[6];
        for (int i = 0; i < n; i++) tx[i] = c->strings[ti[i]], px[i] = c->strings[pi[i]];
        kiln_encode_options o = table_options(args);
        kiln_batch_encoding b;
        kiln_status st = kiln_tokenizer_encode_batch(tok, tx, has_pair ? px : NULL, (size_t)n, &o, &b);
        char *args_s = cJSON_PrintUnformatted(args);
        char label[400];
        snprintf(label, sizeof(label), "%s: table call %d %s", name, n_calls, args_s);
        n_calls++;
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(call, "error"));
        bool ok;
        if (error) {
            n_errors++;
            ok = st == KILN_ERR_INVALID_ARG;
            if (!ok) fprintf(stderr, "%s: HF refuses (%s), kiln %s\n", label, error, kiln_status_name(st));
        } else {
            const cJSON *rows = cJSON_GetObjectItem(call, "rows"), *mapping = cJSON_GetObjectItem(call, "mapping");
            ok = st == KILN_OK && b.n_rows == (size_t)cJSON_GetArraySize(rows);
            if (!ok)
                fprintf(stderr, "%s: %s, %zu rows, HF %d\n", label, st ? kiln_last_error() : "ok", st ? 0 : b.n_rows,
                        cJSON_GetArraySize(rows));
            int r = 0;
            const cJSON *row;
            cJSON_ArrayForEach(row, rows) {
                if (!ok) break;
                char rl[460];
                snprintf(rl, sizeof(rl), "%s row %d", label, r);
                ok = row_equal(&b.rows[r], row, true, rl);
                if (ok && mapping) ok = b.overflow_to_sample_mapping[r] == cJSON_GetArrayItem(mapping, r)->valueint;
                r++;
            }
            n_rows_total += r;
            if (st == KILN_OK) kiln_batch_encoding_free(&b);
        }
        if (!ok) n_bad++;
        free(args_s);
    }
    CHECK_MSG(n_bad == 0, "%s: %d of %d table calls differ from HF", name, n_bad, n_calls);
    printf("%s: %d of %d padding/truncation calls match HF (%d rows, %d refused as HF refuses)\n", name,
           n_calls - n_bad, n_calls, n_rows_total, n_errors);
}

static void run(const char *name, const corpus *c) {
    char path[600];
    snprintf(path, sizeof(path), "%s/expect/%s.json", TOK_DIR, name);
    cJSON *doc = load_json(path);
    CHECK_MSG(doc != NULL, "cannot read %s", path);
    if (!doc) return;
    const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "dir"));
    char tok_dir[600];
    if (strcmp(dir, "$KILN_MODEL_DIR") == 0) {
        const char *env = getenv("KILN_MODEL_DIR");
        CHECK_MSG(env && *env, "%s: KILN_MODEL_DIR is not set: run `make model` to fetch all-MiniLM-L6-v2", name);
        if (!env || !*env) goto done;
        snprintf(tok_dir, sizeof(tok_dir), "%s", env);
    } else {
        snprintf(tok_dir, sizeof(tok_dir), "%s/%s", TOK_DIR, dir);
    }
    kiln_tokenizer *tok = NULL;
    CHECK_OK(kiln_tokenizer_open(tok_dir, &tok));
    if (tok) {
        check_cases(tok, name, cJSON_GetObjectItem(doc, "cases"), c);
        const cJSON *table = cJSON_GetObjectItem(doc, "table");
        if (table) check_table(tok, name, table, c);
    }
    kiln_tokenizer_free(tok);
    if (strcmp(name, "minilm") == 0) {
        // The same checkpoint without its tokenizer.json: vocab.txt + tokenizer_config.json, as
        // transformers' BertTokenizer builds it, must give the same answers.
        char tmpl[] = "/tmp/kiln-minilm-XXXXXX", src[700], dst[700];
        char *d = mkdtemp(tmpl);
        static const char *const files[] = {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"};
        for (size_t i = 0; d && i < KILN_ARRAY_SIZE(files); i++) {
            snprintf(src, sizeof(src), "%s/%s", tok_dir, files[i]);
            snprintf(dst, sizeof(dst), "%s/%s", d, files[i]);
            CHECK(symlink(src, dst) == 0);
        }
        tok = NULL;
        CHECK_OK(kiln_tokenizer_open(d, &tok));
        if (tok) {
            check_cases(tok, "minilm (vocab.txt)", cJSON_GetObjectItem(doc, "cases"), c);
            check_table(tok, "minilm (vocab.txt)", cJSON_GetObjectItem(doc, "table"), c);
        }
        kiln_tokenizer_free(tok);
        for (size_t i = 0; d && i < KILN_ARRAY_SIZE(files); i++) {
            snprintf(dst, sizeof(dst), "%s/%s", d, files[i]);
            unlink(dst);
        }
        if (d) rmdir(d);
    }
done:
    cJSON_Delete(doc);
}

int main(int argc, char **argv) {
    corpus c = {0};
    CHECK_MSG(load_corpus(&c), "cannot read %s/corpus.json", TOK_DIR);
    CHECK(c.n >= 2000);
    for (int i = 1; c.n && i < argc; i++) run(argv[i], &c);
    free(c.strings);
    cJSON_Delete(c.root);
    return test_summary();
}
