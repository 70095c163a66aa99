/* test_gguf_decoder.c — GGUF checkpoints through the LLaMA builder: the tiny random LLaMA of
 * tests/fixtures/gguf in F32, F16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K, as llama.cpp's converter wrote
 * it (q/k rows permuted, llama.cpp names), must give Transformers' logits for its weights as kiln
 * reads them (dequantized, un-permuted; tiny-llama-logits.safetensors) within 1e-4 — as a prefill
 * and token by token through the KV cache — and generate through kiln_decoder. Quantized weights
 * stay quantized: a program's weight bytes by dtype are the file's tensor bytes by dtype. Then bad
 * files. Run once per target (no argument: the interpreter; "cpu": the LLVM backend).
 */
#include <unistd.h>

#include "decoder_fixture.h"
#include "frontend/gguf.h"
#include "runtime/program.h"

static const char *const types[] = {"f32", "f16", "q8_0", "q4_0", "q4_1", "q4_k", "q6_k"};

static void logits_match(const fx_tensors *ref, const char *type) {
    char path[512], key[32];
    snprintf(path, sizeof(path), "%s/gguf/tiny-llama-%s.gguf", KILN_FIXTURES, type);
    snprintf(key, sizeof(key), "logits_%s", type);
    const kiln_tensor *ids = fx_find(ref, "input_ids"), *want = fx_find(ref, key);
    CHECK_MSG(ids && want, "%s: no reference", key);
    if (!ids || !want) return;
    int64_t n = ids->shape[1], vocab = want->shape[2];
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_decoder *d = NULL;
    CHECK_OK(kiln_model_open(path, NULL, &m));
    CHECK(m && strcmp(kiln_model_type(m), "llama") == 0 && strcmp(kiln_model_architecture(m), "LlamaForCausalLM") == 0);
    kiln_compile_options co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_batch = 1, co.max_context = 32, co.max_seq = 16;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    CHECK(!p || dec_backend_is_target(p));
    if (p) CHECK_OK(kiln_decoder_create(p, NULL, &d));
    if (!d) goto done;
    // all positions at once, through kiln_run
    kiln_context *ctx = NULL;
    int64_t pos[64];
    for (int64_t i = 0; i < n; i++) pos[i] = i;
    kiln_tensor in[2] = {{.name = "input_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, n}, .data = ids->data},
                         {.name = "position_ids", .dtype = KILN_I64, .rank = 2, .shape = {1, n}, .data = pos}};
    kiln_tensor out = {.name = "logits"};
    CHECK_OK(kiln_context_create(p, NULL, &ctx));
    if (ctx) CHECK_OK(kiln_context_set_dim(ctx, "past", 0));
    if (ctx) CHECK_OK(kiln_run(ctx, in, 2, &out, 1));
    double prefill = out.data ? dec_max_diff(out.data, want->data, n * vocab) : INFINITY;
    kiln_context_free(ctx);
    // one token at a time through the decoder's cache
    double steps = 0;
    for (int64_t i = 0; i < n; i++) {
        kiln_token t = (kiln_token)((const int64_t *)ids->data)[i];
        kiln_batch b = {.n_tokens = 1, .tokens = &t};
        CHECK_OK(kiln_decode(d, &b));
        const float *l = kiln_decoder_logits(d, 0);
        steps = fmax(steps, l ? dec_max_diff(l, (const float *)want->data + i * vocab, vocab) : INFINITY);
    }
    CHECK_MSG(prefill <= DEC_TOL && steps <= DEC_TOL, "%s (%s): logits differ by %g (prefill), %g (steps)", type, dec_target_name(),
              prefill, steps);
    printf("%-6s tiny-llama-%-5s max |kiln - transformers| prefill %.2e, token by token %.2e\n", dec_target_name(), type, prefill, steps);
done:
    kiln_decoder_free(d);
    kiln_program_free(p);
    kiln_model_free(m);
}

static void generates_from_gguf(void) {
    char path[512];
    snprintf(path, sizeof(path), "%s/gguf/tiny-llama-q4_1.gguf", KILN_FIXTURES);
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    kiln_decoder *d = NULL;
    CHECK_OK(kiln_model_open(path, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.target = dec_target;
    co.max_batch = 2, co.max_context = 64, co.max_seq = 8, co.logits = KILN_LOGITS_LAST;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    CHECK(!p || dec_backend_is_target(p));
    if (p) CHECK_OK(kiln_decoder_create(p, NULL, &d));
    if (d) {
        CHECK(kiln_decoder_is_eos(d, 2) && kiln_decoder_n_vocab(d) == 64);   // tokenizer.ggml.eos_token_id
        kiln_chat_message msg = {"user", "hi"};
        char *text = NULL;
        CHECK_OK(kiln_chat_template_apply(p, &msg, 1, true, &text));   // tokenizer.chat_template
        CHECK(text && strcmp(text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n") == 0);
        free(text);
        kiln_token a[5] = {1, 35, 3, 47, 10}, b[3] = {22, 5, 60};
        const kiln_token *prompts[2] = {a, b};
        size_t lens[2] = {5, 3};
        kiln_generate_options o = kiln_generate_options_default(p);
        o.sampling = kiln_sampling_default();
        o.max_new_tokens = 12;
        o.ignore_eos = true;
        kiln_generation g[2];
        CHECK_OK(kiln_generate(d, prompts, lens, 2, &o, g));
        // the file's own tokenizer (tokenizer.ggml.*) decodes what was generated
        CHECK(g[0].n_tokens == 12 && g[1].n_tokens == 12 && g[0].text != NULL);
        // each continuation equals the same prompt generated alone
        for (int k = 0; k < 2; k++) {
            kiln_generation one;
            CHECK_OK(kiln_generate(d, &prompts[k], &lens[k], 1, &o, &one));
            CHECK(one.n_tokens == 12 && memcmp(one.tokens, g[k].tokens, 12 * sizeof(kiln_token)) == 0);
            kiln_generation_free(&one);
        }
        kiln_generation_free(&g[0]);
        kiln_generation_free(&g[1]);
        // text in: the chat rendered and tokenized by the GGUF's tokenizer, as the ids would be
        kiln_tokenizer *tok = NULL;
        CHECK_OK(kiln_tokenizer_open(path, &tok));
        const char *chat = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
        kiln_encode_options eo = kiln_encode_options_default();
        eo.add_special_tokens = false;
        kiln_batch_encoding be = {0};
        if (tok) CHECK_OK(kiln_tokenizer_encode_batch(tok, &chat, NULL, 1, &eo, &be));
        if (be.n_rows == 1) {
            kiln_token ids[64];
            size_t n = KILN_MIN(be.rows[0].n, 64);
            for (size_t i = 0; i < n; i++) ids[i] = (kiln_token)be.rows[0].input_ids[i];
            CHECK(n == 18 && ids[0] == 1 && ids[7] == 2 && ids[n - 1] == 31);   // <|im_start|> <|im_end|> "Ċ"
            const kiln_token *pp = ids;
            kiln_generation by_ids, by_text;
            CHECK_OK(kiln_generate(d, &pp, &n, 1, &o, &by_ids));
            CHECK_OK(kiln_generate_text(d, "hi", true, &o, &by_text));
            CHECK(by_text.n_tokens == 12 && memcmp(by_text.tokens, by_ids.tokens, 12 * sizeof(kiln_token)) == 0);
            CHECK(by_text.text && by_ids.text && strcmp(by_text.text, by_ids.text) == 0);
            kiln_generation_free(&by_ids);
            kiln_generation_free(&by_text);
        }
        kiln_batch_encoding_free(&be);
        kiln_tokenizer_free(tok);
        CHECK(kiln_model_n_programs(m) == 1);
    }
    kiln_decoder_free(d);
    kiln_program_free(p);
    kiln_model_free(m);
}

// The program's weights, summed by dtype, are the file's tensors summed by dtype: every quantized
// tensor kept as its blocks (not widened to f32), nothing read twice. (The fixture's other tensors
// are f32 norms, and every tensor is a weight of the graph.)
static void weight_bytes_by_dtype_equal_the_files(const char *type, kiln_target target) {
    char path[512];
    snprintf(path, sizeof(path), "%s/gguf/tiny-llama-%s.gguf", KILN_FIXTURES, type);
    fe_gguf *g = NULL;
    kiln_model *m = NULL;
    kiln_program *p = NULL;
    CHECK_OK(fe_gguf_open(path, &g));
    CHECK_OK(kiln_model_open(path, NULL, &m));
    kiln_compile_options co = kiln_compile_options_default();
    co.max_batch = 1, co.max_context = 32, co.max_seq = 16, co.target = target;
    if (m) CHECK_OK(kiln_compile(m, &co, &p));
    if (!g || !p) goto done;
    size_t file[KILN_DTYPE_COUNT] = {0}, prog[KILN_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < fe_gguf_n_tensors(g); i++) file[fe_gguf_tensor_at(g, i)->dtype] += fe_gguf_tensor_at(g, i)->size_bytes;
    for (int i = 0; i < p->n_weights; i++) prog[p->weights[i].dtype] += p->weights[i].size_bytes;
    for (int t = 0; t < KILN_DTYPE_COUNT; t++)
        CHECK_MSG(file[t] == prog[t], "%s (%s): %s weights %zu bytes in the program, %zu in the file", type,
                  target == KILN_TARGET_CPU ? "cpu" : "interp", kiln_dtype_get_info((kiln_dtype)t)->name, prog[t], file[t]);
done:
    kiln_program_free(p);
    kiln_model_free(m);
    fe_gguf_free(g);
}

static void bad_files_are_refused(void) {
    kiln_model *m = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s/gguf/blocks.gguf", KILN_FIXTURES);   // no general.architecture
    kiln_status st = kiln_model_open(path, NULL, &m);
    CHECK_MSG(st == KILN_ERR_FORMAT || st == KILN_ERR_UNSUPPORTED, "blocks.gguf: %s", kiln_last_error());
    CHECK(m == NULL);
    char dir[] = "/tmp/kiln_bad_XXXXXX", file[64];
    if (mkdtemp(dir)) {
        snprintf(file, sizeof(file), "%s/bad.gguf", dir);
        FILE *f = fopen(file, "wb");
        if (f) fwrite("GGUF\x03\0\0\0", 1, 8, f), fclose(f);   // the header stops after the version
        CHECK(kiln_model_open(file, NULL, &m) == KILN_ERR_FORMAT && m == NULL);
        unlink(file);
        rmdir(dir);
    }
}

int main(int argc, char **argv) {
    dec_target_from_args(argc, argv);
    char path[512];
    snprintf(path, sizeof(path), "%s/gguf/tiny-llama-logits.safetensors", KILN_FIXTURES);
    fx_tensors ref;
    CHECK_OK(fx_load(path, &ref));
    for (size_t i = 0; i < KILN_ARRAY_SIZE(types); i++) {
        logits_match(&ref, types[i]);
        if (i >= 2) weight_bytes_by_dtype_equal_the_files(types[i], dec_target);   // the quantized files
    }
    fx_free(&ref);
    generates_from_gguf();
    bad_files_are_refused();
    return test_summary();
}
