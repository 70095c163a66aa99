/* test_config.c — config.json: Transformers' defaults per family, DistilBERT's own key names,
 * labels, and the errors a broken file must give (status + file + field + reason).
 */
#include <string.h>

#include "common/common.h"
#include "frontend/config.h"
#include "tests/frontend/scratch_dir.h"
#include "tests/test.h"

// Writes <scratch>/<name>/config.json and returns the directory.
static const char *write_config(const char *name, const char *json) {
    const char *dir = scratch_subdir(name);
    char path[4096];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    scratch_write_text(path, json);
    return dir;
}

static bool str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* ---- rejects --------------------------------------------------------------------------------- */

static void load_reports_missing_config_as_io_error(void) {
    fe_config *c = NULL;
    CHECK_FAILS(fe_config_load(scratch_subdir("noconfig"), &c), KILN_ERR_IO, "noconfig/config.json: cannot open");
    CHECK(c == NULL);
    CHECK_FAILS(fe_config_load(NULL, &c), KILN_ERR_INVALID_ARG, "NULL");
    fe_config_free(NULL);
}

static void load_rejects_malformed_json_with_position(void) {
    fe_config *c = NULL;
    const char *dir = write_config("malformed", "{\n  \"model_type\": \"bert\",\n  \"hidden_size\": 76 8\n}\n");
    CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "malformed/config.json: malformed JSON at byte");
    CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "(line 3, column");
    dir = write_config("truncated", "{\"model_type\": \"bert\", ");
    CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "truncated/config.json: malformed JSON");
    dir = write_config("trailing", "{\"model_type\": \"bert\"} {}");
    CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "malformed JSON at byte 23 (line 1, column 24)");
    dir = write_config("array", "[{\"model_type\": \"bert\"}]");
    CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "array/config.json: not a JSON object");
    CHECK(c == NULL);
}

static void load_rejects_wrongly_typed_fields(void) {
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"model_type\": \"bert\", \"hidden_size\": \"768\"}",
         "\"hidden_size\" must be a non-negative integer, got the string \"768\""},
        {"{\"model_type\": \"bert\", \"hidden_size\": 768.5}", "\"hidden_size\" must be a non-negative integer, got 768.5"},
        {"{\"model_type\": \"bert\", \"num_hidden_layers\": -2}", "\"num_hidden_layers\" must be a non-negative integer, got -2"},
        {"{\"model_type\": \"bert\", \"vocab_size\": 1e300}", "\"vocab_size\" must be a non-negative integer"},
        {"{\"model_type\": \"bert\", \"layer_norm_eps\": \"1e-12\"}", "\"layer_norm_eps\" must be a non-negative number"},
        {"{\"model_type\": \"bert\", \"hidden_act\": 3}", "\"hidden_act\" must be a string, got 3"},
        {"{\"model_type\": \"bert\", \"tie_word_embeddings\": 1}", "\"tie_word_embeddings\" must be true or false, got 1"},
        {"{\"model_type\": \"bert\", \"pad_token_id\": 0.5}", "\"pad_token_id\" must be an integer or null, got 0.5"},
        {"{\"model_type\": \"bert\", \"eos_token_id\": [2, \"x\"]}", "\"eos_token_id\"[1] must be a non-negative integer"},
        {"{\"model_type\": \"bert\", \"eos_token_id\": {}}", "\"eos_token_id\" must be an integer, a list of integers or null"},
        {"{\"model_type\": \"bert\", \"architectures\": \"BertModel\"}", "\"architectures\" must be a list of strings"},
        {"{\"model_type\": \"bert\", \"architectures\": [\"BertModel\", null]}", "\"architectures\"[1] must be a string, got null"},
        {"{\"model_type\": \"bert\", \"num_labels\": 2.5}", "\"num_labels\" must be a non-negative integer, got 2.5"},
        {"{\"model_type\": \"bert\", \"num_labels\": 100000000}", "100000000 labels is more than kiln accepts"},
        {"{\"model_type\": \"bert\", \"id2label\": [\"a\"]}", "\"id2label\" must be an object, got an array"},
        {"{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"x\": \"b\"}}", "\"id2label\": key 'x' is not a class id in 0..1"},
        {"{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", "\"id2label\": key '2' is not a class id in 0..1"},
        {"{\"model_type\": \"bert\", \"id2label\": {\"1\": \"a\", \"01\": \"b\"}}", "\"id2label\": class id 1 given twice"},
        {"{\"model_type\": \"bert\", \"id2label\": {\"0\": 7}}", "\"id2label\": label of '0' must be a string, got 7"},
        {"{\"model_type\": \"bert\", \"torch_dtype\": 16}", "\"torch_dtype\" must be a string, got 16"},
        {"{\"model_type\": \"distilbert\", \"dim\": true}", "\"dim\" must be a non-negative integer, got true"},
        {"{\"model_type\": \"distilbert\", \"sinusoidal_pos_embds\": \"no\"}", "\"sinusoidal_pos_embds\" must be true or false"},
        {"{\"model_type\": 7}", "\"model_type\" must be a string, got 7"},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
        fe_config *c = NULL;
        const char *dir = write_config("typed", cases[i].json);
        CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, cases[i].needle);
        CHECK_FAILS(fe_config_load(dir, &c), KILN_ERR_FORMAT, "typed/config.json: ");
        CHECK(c == NULL);
    }
}

static void load_rejects_missing_model_type(void) {
    fe_config *c = NULL;
    CHECK_FAILS(fe_config_load(write_config("notype", "{\"hidden_size\": 768}"), &c), KILN_ERR_FORMAT,
                "notype/config.json: missing \"model_type\"");
    CHECK_FAILS(fe_config_load(write_config("gpt", "{\"model_type\": \"gpt-j\"}"), &c), KILN_ERR_UNSUPPORTED,
                "gpt/config.json: model_type 'gpt-j' is not supported (kiln knows bert, roberta, distilbert, gpt2, llama, qwen2)");
    CHECK(c == NULL);
}

/* ---- defaults and values --------------------------------------------------------------------- */

// Expected values: the class attributes of BertConfig / RobertaConfig / DistilBertConfig in
// transformers 5.x (models/*/configuration_*.py) and PreTrainedConfig (configuration_utils.py:
// chunk_size_feed_forward = 0, id2label None -> num_labels 2 -> {0: "LABEL_0", 1: "LABEL_1"}).
static void load_fills_bert_defaults(void) {
    fe_config *c = NULL;
    CHECK_OK(fe_config_load(write_config("bert", "{\"model_type\": \"bert\"}"), &c));
    if (!c) return;
    CHECK(str_eq(c->model_type, "bert") && cJSON_IsObject(c->json) && strstr(c->path, "bert/config.json"));
    CHECK(c->n_architectures == 0 && c->architectures == NULL);
    CHECK(c->vocab_size == 30522 && c->hidden_size == 768 && c->num_hidden_layers == 12);
    CHECK(c->num_attention_heads == 12 && c->intermediate_size == 3072 && str_eq(c->hidden_act, "gelu"));
    CHECK(c->max_position_embeddings == 512 && c->type_vocab_size == 2 && c->layer_norm_eps == 1e-12);
    CHECK(str_eq(c->position_embedding_type, "absolute") && !c->sinusoidal_pos_embds);
    CHECK(c->pad_token_id == 0 && c->bos_token_id == -1 && c->eos_token_id == -1 && c->n_eos_token_ids == 0);
    CHECK(c->num_labels == 2 && str_eq(c->id2label[0], "LABEL_0") && str_eq(c->id2label[1], "LABEL_1"));
    CHECK(c->problem_type == NULL && c->dtype == NULL && c->chunk_size_feed_forward == 0 && c->tie_word_embeddings);
    fe_config_free(c);
}

static void load_fills_roberta_defaults(void) {
    fe_config *c = NULL;
    CHECK_OK(fe_config_load(write_config("roberta", "{\"model_type\": \"roberta\"}"), &c));
    if (!c) return;
    CHECK(c->vocab_size == 50265 && c->hidden_size == 768 && c->num_hidden_layers == 12);
    CHECK(c->num_attention_heads == 12 && c->intermediate_size == 3072 && str_eq(c->hidden_act, "gelu"));
    CHECK(c->max_position_embeddings == 512 && c->type_vocab_size == 2 && c->layer_norm_eps == 1e-12);
    CHECK(c->pad_token_id == 1 && c->bos_token_id == 0 && c->eos_token_id == 2);
    CHECK(c->n_eos_token_ids == 1 && c->eos_token_ids[0] == 2);
    CHECK(str_eq(c->position_embedding_type, "absolute") && c->num_labels == 2 && c->tie_word_embeddings);
    fe_config_free(c);
}

static void load_fills_distilbert_defaults(void) {
    fe_config *c = NULL;
    CHECK_OK(fe_config_load(write_config("distilbert", "{\"model_type\": \"distilbert\"}"), &c));
    if (!c) return;
    CHECK(c->vocab_size == 30522 && c->hidden_size == 768 && c->num_hidden_layers == 6);
    CHECK(c->num_attention_heads == 12 && c->intermediate_size == 3072 && str_eq(c->hidden_act, "gelu"));
    CHECK(c->max_position_embeddings == 512 && c->type_vocab_size == 0 && c->layer_norm_eps == 1e-12);
    CHECK(!c->sinusoidal_pos_embds && str_eq(c->position_embedding_type, "absolute"));
    CHECK(c->pad_token_id == 0 && c->bos_token_id == -1 && c->eos_token_id == -1);
    CHECK(c->num_labels == 2 && c->tie_word_embeddings && c->chunk_size_feed_forward == 0);
    fe_config_free(c);
}

static void load_maps_distilbert_keys_to_common_fields(void) {
    fe_config *c = NULL;
    CHECK_OK(fe_config_load(write_config("distil2",
                                         "{\"model_type\": \"distilbert\", \"dim\": 32, \"n_layers\": 2, \"n_heads\": 4,"
                                         " \"hidden_dim\": 37, \"activation\": \"relu\", \"sinusoidal_pos_embds\": true,"
                                         " \"layer_norm_eps\": 0.5, \"type_vocab_size\": 2, \"hidden_size\": 999,"
                                         " \"max_position_embeddings\": 40, \"vocab_size\": 99}"),
                            &c));
    if (!c) return;
    CHECK(c->hidden_size == 32 && c->num_hidden_layers == 2 && c->num_attention_heads == 4);
    CHECK(c->intermediate_size == 37 && str_eq(c->hidden_act, "relu") && c->sinusoidal_pos_embds);
    CHECK(c->layer_norm_eps == 1e-12 && c->type_vocab_size == 0);   // fixed by DistilBERT's modeling code
    CHECK(c->max_position_embeddings == 40 && c->vocab_size == 99);
    fe_config_free(c);
    // Transformers' attribute_map aliases, when the family's own key is absent.
    CHECK_OK(fe_config_load(write_config("distil3", "{\"model_type\": \"distilbert\", \"hidden_size\": 64,"
                                                    " \"num_attention_heads\": 2, \"num_hidden_layers\": 3}"),
                            &c));
    if (!c) return;
    CHECK(c->hidden_size == 64 && c->num_attention_heads == 2 && c->num_hidden_layers == 3);
    fe_config_free(c);
}

static void load_reads_values_labels_and_extras(void) {
    fe_config *c = NULL;
    CHECK_OK(fe_config_load(
        write_config("full", "{\"architectures\": [\"BertForSequenceClassification\"], \"model_type\": \"bert\","
                             " \"hidden_size\": 32, \"num_hidden_layers\": 2.0, \"num_attention_heads\": 4,"
                             " \"intermediate_size\": 37, \"hidden_act\": \"gelu_new\", \"layer_norm_eps\": 1e-5,"
                             " \"max_position_embeddings\": 64, \"type_vocab_size\": 1, \"vocab_size\": 1000,"
                             " \"position_embedding_type\": \"relative_key\", \"pad_token_id\": null,"
                             " \"bos_token_id\": -1, \"eos_token_id\": [5, 7], \"num_labels\": 5,"
                             " \"id2label\": {\"2\": \"neutral\", \"0\": \"negative\", \"1\": \"positive\"},"
                             " \"problem_type\": \"single_label_classification\", \"torch_dtype\": \"float16\","
                             " \"dtype\": null, \"chunk_size_feed_forward\": 16, \"tie_word_embeddings\": false,"
                             " \"gradient_checkpointing\": false, \"custom\": {\"x\": 1}}"),
        &c));
    if (!c) return;
    CHECK(c->n_architectures == 1 && str_eq(c->architectures[0], "BertForSequenceClassification"));
    CHECK(c->hidden_size == 32 && c->num_hidden_layers == 2 && c->intermediate_size == 37);
    CHECK(str_eq(c->hidden_act, "gelu_new") && c->layer_norm_eps == 1e-5 && c->type_vocab_size == 1);
    CHECK(str_eq(c->position_embedding_type, "relative_key"));
    CHECK(c->pad_token_id == -1 && c->bos_token_id == -1);
    CHECK(c->eos_token_id == 5 && c->n_eos_token_ids == 2 && c->eos_token_ids[1] == 7);
    // id2label wins over a disagreeing num_labels, as in Transformers.
    CHECK(c->num_labels == 3 && str_eq(c->id2label[0], "negative") && str_eq(c->id2label[1], "positive") &&
          str_eq(c->id2label[2], "neutral"));
    CHECK(str_eq(c->problem_type, "single_label_classification") && str_eq(c->dtype, "float16"));
    CHECK(c->chunk_size_feed_forward == 16 && !c->tie_word_embeddings);
    const cJSON *custom = cJSON_GetObjectItemCaseSensitive(c->json, "custom");
    CHECK(cJSON_IsObject(custom));
    fe_config_free(c);

    CHECK_OK(fe_config_load(write_config("labels", "{\"model_type\": \"roberta\", \"num_labels\": 3,"
                                                   " \"torch_dtype\": \"float32\", \"dtype\": \"bfloat16\","
                                                   " \"eos_token_id\": 9}"),
                            &c));
    if (!c) return;
    CHECK(c->num_labels == 3 && str_eq(c->id2label[2], "LABEL_2") && str_eq(c->dtype, "bfloat16"));
    CHECK(c->eos_token_id == 9 && c->n_eos_token_ids == 1 && c->eos_token_ids[0] == 9);
    fe_config_free(c);
}

int main(void) {
    scratch_init("config");
    load_reports_missing_config_as_io_error();
    load_rejects_malformed_json_with_position();
    load_rejects_wrongly_typed_fields();
    load_rejects_missing_model_type();
    load_fills_bert_defaults();
    load_fills_roberta_defaults();
    load_fills_distilbert_defaults();
    load_maps_distilbert_keys_to_common_fields();
    load_reads_values_labels_and_extras();
    scratch_cleanup();
    return test_summary();
}
