/* test_generate.c — generation through kiln_decoder against Transformers' recorded greedy
 * continuations (model.generate(do_sample=False), each prompt alone): kiln generates both prompts
 * in one batch and must give the same 20 tokens, through kiln_generate and through the token loop
 * (kiln_decode + kiln_sampler). Then: one compiled program for 100 tokens and prompts of many
 * lengths, seeded sampling, stop strings, eos from generation_config.json, streaming, a full
 * context, generation defaults, and bad input. Run once per target (no argument: the
 * interpreter; "cpu": the LLVM backend).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "decoder_fixture.h"
#include "runtime/program.h"

typedef struct setup {
    kiln_model *m;
    kiln_program *p;
    kiln_decoder *d;
} setup;

static bool load(const char *name, dec_ref *r) {
    bool ok = dec_ref_load(name, r);
    CHECK_MSG(ok, "%s: cannot load the reference", name);
    return ok;
}

static bool has_tokenizer(const char *dir) {
    char path[600];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    return access(path, R_OK) == 0;
}

static bool open_setup(setup *s, const char *dir, int64_t batch, int64_t ctx, int64_t max_seq, kiln_logits logits) {
    memset(s, 0, sizeof(*s));
    CHECK_OK(kiln_model_open(dir, NULL, &s->m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_batch = batch, co.max_context = ctx, co.max_seq = max_seq, co.logits = logits;
    if (s->m) CHECK_OK(kiln_compile(s->m, &co, &s->p));
    CHECK_MSG(!s->p || dec_backend_is_target(s->p), "%s: not compiled for the %s target", dir, dec_target_name());
    kiln_decoder_options o = kiln_decoder_options_default();
    o.tokenizer_path = has_tokenizer(dir) ? dir : NULL;
    if (s->p) CHECK_OK(kiln_decoder_create(s->p, &o, &s->d));
    return s->d != NULL;
}

static void close_setup(setup *s) {
    kiln_decoder_free(s->d);
    kiln_program_free(s->p);
    kiln_model_free(s->m);
}

// The fixture's prompts as kiln tokens.
static void prompts_of(const dec_ref *r, kiln_token prompt[DEC_N_PROMPTS][32], const kiln_token *ptrs[DEC_N_PROMPTS], size_t *lens) {
    for (int b = 0; b < DEC_N_PROMPTS; b++) {
        lens[b] = (size_t)dec_prompt_len(r, b);
        for (size_t i = 0; i < lens[b] && i < 32; i++) prompt[b][i] = (kiln_token)dec_prompt_token(r, b, (int64_t)i);
        ptrs[b] = prompt[b];
    }
}

static kiln_generate_options greedy_options(const kiln_program *p, int64_t n) {
    kiln_generate_options o = kiln_generate_options_default(p);
    o.sampling = kiln_sampling_default();   // greedy, as the reference's do_sample=False
    o.max_new_tokens = n;
    return o;
}

// The first n generated tokens are the reference's.
static bool same_as_greedy(const dec_ref *r, int b, const kiln_generation *g, size_t n) {
    if (g->n_tokens < n) return false;
    for (size_t i = 0; i < n; i++)
        if (g->tokens[i] != dec_greedy_token(r, b, (int64_t)i)) return false;
    return true;
}

static void greedy_matches_transformers(const char *name, kiln_logits logits, int64_t max_seq) {
    dec_ref r;
    setup s;
    if (!load(name, &r)) return;
    if (open_setup(&s, r.dir, DEC_N_PROMPTS, 32, max_seq, logits)) {
        kiln_token prompt[DEC_N_PROMPTS][32];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        kiln_generate_options o = greedy_options(s.p, DEC_STEPS);
        kiln_generation g[DEC_N_PROMPTS];
        CHECK_OK(kiln_generate(s.d, ptrs, lens, DEC_N_PROMPTS, &o, g));
        for (int b = 0; b < DEC_N_PROMPTS; b++) {
            CHECK_MSG(g[b].n_tokens == DEC_STEPS && same_as_greedy(&r, b, &g[b], DEC_STEPS),
                      "%s prompt %d (%s): greedy tokens differ from model.generate()", name, b, dec_target_name());
            CHECK(g[b].finish == KILN_FINISH_LENGTH);
            CHECK((g[b].text != NULL) == has_tokenizer(r.dir));
            kiln_generation_free(&g[b]);
        }
        CHECK(kiln_model_n_programs(s.m) == 1);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

// The llama.h-style loop: decode -> logits -> sample, one sequence, greedy.
static void token_loop_matches_transformers(void) {
    dec_ref r;
    setup s;
    if (!load("gpt2", &r)) return;
    if (open_setup(&s, r.dir, 1, 64, 8, KILN_LOGITS_LAST)) {
        kiln_sampling sp = kiln_sampling_default();
        kiln_sampler *smp = NULL;
        CHECK_OK(kiln_sampler_create(&sp, kiln_decoder_n_vocab(s.d), &smp));
        kiln_token hist[64];
        size_t n = (size_t)dec_prompt_len(&r, 0), n0 = n;
        for (size_t i = 0; i < n; i++) hist[i] = (kiln_token)dec_prompt_token(&r, 0, (int64_t)i);
        kiln_batch b = {.n_tokens = (int32_t)n, .tokens = hist};   // 9 tokens, run as 8 + 1
        bool ok = smp != NULL;
        for (int step = 0; step < DEC_STEPS && ok; step++) {
            kiln_token t = -1;
            ok = kiln_decode(s.d, &b) == KILN_OK && kiln_sampler_sample(smp, kiln_decoder_logits(s.d, 0), hist, n, &t) == KILN_OK;
            ok = ok && t == dec_greedy_token(&r, 0, step);
            hist[n++] = t;
            b = (kiln_batch){.n_tokens = 1, .tokens = &hist[n - 1]};
        }
        CHECK_MSG(ok, "token loop: %s", kiln_last_error());
        CHECK(kiln_decoder_seq_len(s.d, 0) == (int64_t)(n0 + DEC_STEPS - 1));
        CHECK(kiln_decoder_logits(s.d, 1) == NULL && kiln_decoder_seq_len(s.d, 1) == -1);
        kiln_sampler_free(smp);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

// One program for every prompt length and every generated token.
static void no_recompiles(void) {
    dec_ref r;
    setup s;
    if (!load("llama", &r)) return;
    if (open_setup(&s, r.dir, DEC_N_PROMPTS, 128, 16, KILN_LOGITS_LAST)) {
        int32_t launches = s.p->n_launches;
        CHECK(kiln_model_n_programs(s.m) == 1);
        kiln_token prompt[DEC_N_PROMPTS][32];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        kiln_generate_options o = greedy_options(s.p, 100);
        o.ignore_eos = true;
        kiln_generation g[DEC_N_PROMPTS];
        CHECK_OK(kiln_generate(s.d, ptrs, lens, DEC_N_PROMPTS, &o, g));
        CHECK(g[0].n_tokens == 100 && g[1].n_tokens == 100 && g[0].finish == KILN_FINISH_LENGTH);
        CHECK(same_as_greedy(&r, 0, &g[0], DEC_STEPS) && same_as_greedy(&r, 1, &g[1], DEC_STEPS));
        CHECK(kiln_model_n_programs(s.m) == 1);
        kiln_generation_free(&g[0]);
        kiln_generation_free(&g[1]);
        static const size_t lengths[] = {1, 5, 17, 40, 3};   // 17 and 40 run in pieces of 16
        kiln_token long_prompt[40];
        for (size_t i = 0; i < 40; i++) long_prompt[i] = (kiln_token)((i * 7 + 3) % r.vocab);
        for (size_t k = 0; k < KILN_ARRAY_SIZE(lengths); k++) {
            const kiln_token *p1[2] = {long_prompt, long_prompt};
            size_t l1[2] = {lengths[k], lengths[(k + 1) % KILN_ARRAY_SIZE(lengths)]};
            o.max_new_tokens = 10;
            CHECK_OK(kiln_generate(s.d, p1, l1, 2, &o, g));
            CHECK(g[0].n_tokens == 10 && g[1].n_tokens == 10);
            kiln_generation_free(&g[0]);
            kiln_generation_free(&g[1]);
        }
        CHECK_MSG(kiln_model_n_programs(s.m) == 1, "%zu programs compiled", kiln_model_n_programs(s.m));
        CHECK(s.p->n_launches == launches);
        // A prompt run in pieces ends where the same prompt run whole ends.
        setup whole;
        if (open_setup(&whole, r.dir, 1, 128, 64, KILN_LOGITS_LAST)) {
            kiln_batch b = {.n_tokens = 40, .tokens = long_prompt};
            kiln_decoder_seq_clear(s.d, -1);
            CHECK_OK(kiln_decode(s.d, &b));
            CHECK_OK(kiln_decode(whole.d, &b));
            const float *a = kiln_decoder_logits(s.d, 0), *c = kiln_decoder_logits(whole.d, 0);
            CHECK(a && c && dec_max_diff(a, c, r.vocab) < 1e-4);
        }
        close_setup(&whole);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

static void sampling_is_seeded(void) {
    dec_ref r;
    setup s;
    if (!load("qwen2", &r)) return;
    if (open_setup(&s, r.dir, 1, 64, 16, KILN_LOGITS_LAST)) {
        kiln_token prompt[DEC_N_PROMPTS][32];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        kiln_generate_options o = kiln_generate_options_default(s.p);   // do_sample, T 0.7, top-k 20, top-p 0.8
        CHECK(o.sampling.do_sample);
        o.max_new_tokens = 30;
        o.ignore_eos = true;
        o.sampling.temperature = 1.5f;
        kiln_generation a, b, c;
        o.sampling.seed = 7;
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &a));
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &b));
        bool differs = false;
        for (uint64_t seed = 8; seed < 12 && !differs; seed++) {
            o.sampling.seed = seed;
            CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &c));
            differs = c.n_tokens != a.n_tokens || memcmp(c.tokens, a.tokens, a.n_tokens * sizeof(kiln_token)) != 0;
            kiln_generation_free(&c);
        }
        CHECK(a.n_tokens == 30 && b.n_tokens == 30 && memcmp(a.tokens, b.tokens, sizeof(kiln_token) * 30) == 0);
        CHECK(differs);
        kiln_generation_free(&a);
        kiln_generation_free(&b);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

typedef struct stream {
    kiln_strbuf text;
    int calls, stop_after;
} stream;

static bool collect(void *user, int32_t seq, kiln_token token, const char *text, size_t len) {
    stream *st = user;
    if (text) kiln_strbuf_append(&st->text, text, len);
    return ++st->calls != st->stop_after;
}

static void stop_strings_and_streaming(void) {
    dec_ref r;
    setup s;
    if (!load("llama", &r)) return;
    if (open_setup(&s, r.dir, 1, 64, 16, KILN_LOGITS_LAST)) {
        kiln_token prompt[DEC_N_PROMPTS][32], greedy[DEC_STEPS];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        for (int i = 0; i < DEC_STEPS; i++) greedy[i] = (kiln_token)dec_greedy_token(&r, 0, i);
        // A stop string that the text first contains once token j is out: the last 2 bytes of
        // the first j + 1 tokens' text, absent from the first j tokens' text.
        char stop[8] = "";
        int j = 5;
        for (; j < DEC_STEPS && !stop[0]; j++) {
            char *before = NULL, *after = NULL;
            CHECK_OK(kiln_decoder_detokenize(s.d, greedy, (size_t)j, &before));
            CHECK_OK(kiln_decoder_detokenize(s.d, greedy, (size_t)j + 1, &after));
            size_t n = after ? strlen(after) : 0;
            if (before && n >= 2 && n > strlen(before) && !strstr(before, after + n - 2) && !memchr(after + n - 2, 0xEF, 2) &&
                (unsigned char)after[n - 2] < 0x80 && (unsigned char)after[n - 1] < 0x80)
                memcpy(stop, after + n - 2, 2);
            free(before);
            free(after);
        }
        j--;
        CHECK_MSG(stop[0], "no usable stop string in the greedy text");
        kiln_generate_options o = greedy_options(s.p, DEC_STEPS);
        const char *stops[2] = {"\x01never", stop};
        o.stop_strings = stops;
        o.n_stop_strings = 2;
        stream st = {.stop_after = -1};
        o.on_token = collect;
        o.user = &st;
        kiln_generation g;
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &g));
        CHECK_MSG(g.finish == KILN_FINISH_STOP_STRING && g.n_tokens == (size_t)j + 1 && same_as_greedy(&r, 0, &g, (size_t)j + 1),
                  "stop string '%s': %zu tokens (finish %d), want %d", stop, g.n_tokens, g.finish, j + 1);
        CHECK(st.calls == (int)g.n_tokens);
        CHECK_MSG(g.text && st.text.data && strcmp(g.text, st.text.data) == 0, "streamed text differs from the result");
        kiln_generation_free(&g);
        kiln_strbuf_free(&st.text);
        // The callback stops a sequence.
        o.n_stop_strings = 0;
        st = (stream){.stop_after = 3};
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &g));
        CHECK(g.finish == KILN_FINISH_CALLBACK && g.n_tokens == 3 && same_as_greedy(&r, 0, &g, 3));
        kiln_generation_free(&g);
        kiln_strbuf_free(&st.text);
        // Text in, text out: the prompt's text encodes to the fixture's prompt ids.
        char *prompt_text = NULL;
        CHECK_OK(kiln_decoder_detokenize(s.d, prompt[0], lens[0], &prompt_text));
        o.on_token = NULL;
        if (prompt_text) CHECK_OK(kiln_generate_text(s.d, prompt_text, false, &o, &g));
        CHECK(same_as_greedy(&r, 0, &g, DEC_STEPS));
        kiln_generation_free(&g);
        free(prompt_text);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

// A checkpoint whose generation_config.json names greedy token 4 as eos: generation stops there.
static void eos_from_generation_config(void) {
    dec_ref r;
    if (!load("gpt2", &r)) return;
    char dir[] = "/tmp/kiln_eos_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char src[700], dst[700];
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
        snprintf(src, sizeof(src), "%s/%s", r.dir, files[i]);
        snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
        CHECK(symlink(src, dst) == 0);
    }
    int64_t eos = dec_greedy_token(&r, 0, 4);
    int first = 0;
    while (dec_greedy_token(&r, 0, first) != eos) first++;
    snprintf(dst, sizeof(dst), "%s/generation_config.json", dir);
    FILE *f = fopen(dst, "w");
    if (f) fprintf(f, "{\"eos_token_id\": [9999, %lld], \"max_new_tokens\": 50, \"top_k\": 3}\n", (long long)eos), fclose(f);
    setup s;
    if (open_setup(&s, dir, 1, 64, 16, KILN_LOGITS_LAST)) {
        CHECK(kiln_decoder_is_eos(s.d, (kiln_token)eos) && kiln_decoder_is_eos(s.d, 9999) && !kiln_decoder_is_eos(s.d, 0));
        kiln_generate_options o = kiln_generate_options_default(s.p);
        CHECK(o.max_new_tokens == 50 && o.sampling.top_k == 3 && !o.sampling.do_sample);
        kiln_token prompt[DEC_N_PROMPTS][32];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        kiln_generation g;
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &g));
        CHECK_MSG(g.finish == KILN_FINISH_EOS && g.n_tokens == (size_t)first + 1 && same_as_greedy(&r, 0, &g, (size_t)first + 1),
                  "eos %lld: %zu tokens, finish %d", (long long)eos, g.n_tokens, g.finish);
        kiln_generation_free(&g);
        o.ignore_eos = true;
        o.max_new_tokens = DEC_STEPS;
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &g));
        CHECK(g.finish == KILN_FINISH_LENGTH && same_as_greedy(&r, 0, &g, DEC_STEPS));
        kiln_generation_free(&g);
    }
    close_setup(&s);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]), unlink(dst);
    snprintf(dst, sizeof(dst), "%s/generation_config.json", dir);
    unlink(dst);
    rmdir(dir);
    dec_ref_free(&r);
}

static void context_fills_up(void) {
    dec_ref r;
    setup s;
    if (!load("llama", &r)) return;
    if (open_setup(&s, r.dir, 1, 16, 16, KILN_LOGITS_LAST)) {
        kiln_token prompt[DEC_N_PROMPTS][32];
        const kiln_token *ptrs[DEC_N_PROMPTS];
        size_t lens[DEC_N_PROMPTS];
        prompts_of(&r, prompt, ptrs, lens);
        kiln_generate_options o = greedy_options(s.p, 100);
        kiln_generation g;
        CHECK_OK(kiln_generate(s.d, ptrs, lens, 1, &o, &g));
        // every position holds a token, and the last token is sampled from the last position
        CHECK(g.finish == KILN_FINISH_CONTEXT && g.n_tokens == 16 - lens[0] + 1 && same_as_greedy(&r, 0, &g, g.n_tokens));
        CHECK(kiln_decoder_seq_len(s.d, 0) == 16);
        kiln_generation_free(&g);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

static void qwen2_defaults_come_from_generation_config(void) {
    dec_ref r;
    setup s;
    if (!load("qwen2", &r)) return;
    if (open_setup(&s, r.dir, 1, 16, 16, KILN_LOGITS_LAST)) {
        kiln_sampling sp = kiln_program_sampling(s.p);
        CHECK(sp.do_sample && sp.temperature == 0.7f && sp.top_k == 20 && sp.top_p == 0.8f && sp.min_p == 0.0f &&
              sp.repetition_penalty == 1.05f);
        CHECK(kiln_decoder_is_eos(s.d, 2) && kiln_decoder_is_eos(s.d, 0) && !kiln_decoder_is_eos(s.d, 1));
        CHECK(kiln_generate_options_default(s.p).max_new_tokens == 256);
        CHECK(kiln_decoder_n_ctx(s.d) == 16 && kiln_decoder_n_seq(s.d) == 1 && kiln_decoder_n_vocab(s.d) == r.vocab);
        kiln_sampling def = kiln_sampling_default();
        CHECK(!def.do_sample && def.top_k == 50 && def.temperature == 1.0f && def.top_p == 1.0f);
    }
    close_setup(&s);
    dec_ref_free(&r);
}

static void bad_input_is_refused(void) {
    dec_ref r;
    setup s;
    if (!load("llama-linear", &r)) return;   // no tokenizer files
    if (open_setup(&s, r.dir, 2, 16, 8, KILN_LOGITS_LAST)) {
        kiln_token ids[20];
        for (int i = 0; i < 20; i++) ids[i] = (kiln_token)i;
        const kiln_token *p = ids;
        size_t n = 17;
        kiln_generate_options o = greedy_options(s.p, 4);
        kiln_generation g;
        CHECK_FAILS(kiln_generate(s.d, &p, &n, 1, &o, &g), KILN_ERR_INVALID_ARG, "prompt 0 has 17 tokens, more than the context of 16");
        n = 3;
        ids[1] = (kiln_token)r.vocab;
        CHECK_FAILS(kiln_generate(s.d, &p, &n, 1, &o, &g), KILN_ERR_INVALID_ARG, "outside the vocabulary");
        ids[1] = -5;
        kiln_batch b = {.n_tokens = 3, .tokens = ids};
        CHECK_FAILS(kiln_decode(s.d, &b), KILN_ERR_INVALID_ARG, "token -5 (batch entry 1) is outside the vocabulary");
        ids[1] = 1;
        int32_t seqs[3] = {0, 2, 0};
        b.seq_ids = seqs;
        CHECK_FAILS(kiln_decode(s.d, &b), KILN_ERR_INVALID_ARG, "sequence 2 (batch entry 1) is outside [0, 2)");
        b = (kiln_batch){.n_tokens = 0, .tokens = ids};
        CHECK_FAILS(kiln_decode(s.d, &b), KILN_ERR_INVALID_ARG, "empty batch");
        b = (kiln_batch){.n_tokens = 10, .tokens = ids};
        CHECK_OK(kiln_decode(s.d, &b));
        CHECK_FAILS(kiln_decode(s.d, &b), KILN_ERR_INVALID_ARG, "sequence 0 would hold 10 + 10 tokens, more than the context of 16");
        CHECK(kiln_decoder_seq_len(s.d, 0) == 10);   // nothing appended by the refused call
        CHECK(n == 3 && p == ids);
        o.n_stop_strings = 1;
        const char *stops[1] = {"x"};
        o.stop_strings = stops;
        CHECK_FAILS(kiln_generate(s.d, &p, &n, 1, &o, &g), KILN_ERR_INVALID_ARG, "stop strings need a tokenizer");
        o.n_stop_strings = 0;
        CHECK_FAILS(kiln_generate_text(s.d, "hello", false, &o, &g), KILN_ERR_INVALID_ARG, "no tokenizer");
        size_t three[3] = {3, 3, 3};
        const kiln_token *pp[3] = {ids, ids, ids};
        CHECK_FAILS(kiln_generate(s.d, pp, three, 3, &o, &g), KILN_ERR_INVALID_ARG, "3 prompts, the program decodes 1 to 2 sequences");
        o.max_new_tokens = 0;
        CHECK_FAILS(kiln_generate(s.d, &p, &n, 1, &o, &g), KILN_ERR_INVALID_ARG, "max_new_tokens 0");
        o = greedy_options(s.p, 4);
        o.sampling.do_sample = true;
        o.sampling.temperature = -1;
        CHECK_FAILS(kiln_generate(s.d, &p, &n, 1, &o, &g), KILN_ERR_INVALID_ARG, "temperature");
        // The program itself checks token ids and positions too.
        kiln_context *ctx = NULL;
        CHECK_OK(kiln_context_create(s.p, NULL, &ctx));
        int64_t bad_ids[2] = {1, r.vocab + 3}, pos[2] = {0, 1};
        kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, 2}, .data = bad_ids},
                             {.name = "position_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, 2}, .data = pos}};
        kiln_tensor out = {.name = "logits"};
        CHECK_OK(kiln_context_set_dim(ctx, "past", 0));
        CHECK_FAILS(kiln_run(ctx, in, 2, &out, 1), KILN_ERR_INVALID_ARG, "out of range");
        CHECK_FAILS(kiln_context_set_dim(ctx, "past", 17), KILN_ERR_INVALID_ARG, "compiled maximum");
        kiln_context_free(ctx);
    }
    close_setup(&s);
    // Compile options a decoder cannot honour, and programs that are not decoders.
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_decoder *d = NULL;
    CHECK_OK(kiln_model_open(r.dir, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_context = 129;
    if (m) CHECK_FAILS(kiln_compile(m, &co, &p), KILN_ERR_INVALID_ARG, "max_context 129 exceeds");
    co.max_context = 16, co.max_seq = 17;
    if (m) CHECK_FAILS(kiln_compile(m, &co, &p), KILN_ERR_INVALID_ARG, "max_seq 17 exceeds max_context 16");
    kiln_model_free(m);
    kiln_open_options oo = kiln_open_options_default();
    oo.architecture = "base";
    m = NULL;
    CHECK_OK(kiln_model_open(r.dir, &oo, &m));
    co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_context = 16, co.max_batch = 1;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    if (p) CHECK_FAILS(kiln_decoder_create(p, NULL, &d), KILN_ERR_INVALID_ARG, "not a causal LM");
    CHECK(d == NULL);
    kiln_program_free(p);
    kiln_model_free(m);
    dec_ref_free(&r);
}

int main(int argc, char **argv) {
    dec_target_from_args(argc, argv);
    for (size_t i = 0; i < KILN_ARRAY_SIZE(dec_fixtures); i++) greedy_matches_transformers(dec_fixtures[i], KILN_LOGITS_LAST, 16);
    greedy_matches_transformers("llama", KILN_LOGITS_ALL, 4);
    greedy_matches_transformers("qwen2", KILN_LOGITS_ALL, 32);
    token_loop_matches_transformers();
    no_recompiles();
    sampling_is_seeded();
    stop_strings_and_streaming();
    eos_from_generation_config();
    context_fills_up();
    qwen2_defaults_come_from_generation_config();
    bad_input_is_refused();
    return test_summary();
}
