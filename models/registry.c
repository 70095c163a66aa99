/* registry.c — kiln's AutoModel: model_type → family, architectures → head. Adding a family is
 * one row in `families`.
 */
#include "models/models.h"

static const md_family *const families[] = {&md_bert_family,  &md_roberta_family, &md_distilbert_family,
                                            &md_gpt2_family,  &md_llama_family,   &md_qwen2_family};

bool md_family_is_decoder(const md_family *f) {
    return f == &md_gpt2_family || f == &md_llama_family || f == &md_qwen2_family;
}

const md_family *md_find_family(const char *model_type, const char *config_path) {
    for (size_t i = 0; i < KILN_ARRAY_SIZE(families); i++)
        if (strcmp(families[i]->model_type, model_type) == 0) return families[i];
    kiln_strbuf known = {0};
    for (size_t i = 0; i < KILN_ARRAY_SIZE(families); i++) kiln_strbuf_printf(&known, "%s%s", i ? ", " : "", families[i]->model_type);
    kiln_error(KILN_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (kiln knows: %s)", config_path, model_type,
               known.data ? known.data : "");
    kiln_strbuf_free(&known);
    return NULL;
}

static const struct {
    const char *suffix;
    md_head head;
} head_names[] = {
    {"Model", MD_HEAD_BASE},
    {"ForSequenceClassification", MD_HEAD_SEQUENCE_CLASSIFICATION},
    {"ForTokenClassification", MD_HEAD_TOKEN_CLASSIFICATION},
    {"ForQuestionAnswering", MD_HEAD_QUESTION_ANSWERING},
    {"ForMaskedLM", MD_HEAD_MASKED_LM},
    // BertForPreTraining checkpoints (bert-base-uncased) carry the MLM head kiln runs for fill-mask.
    {"ForPreTraining", MD_HEAD_MASKED_LM},
    {"ForCausalLM", MD_HEAD_CAUSAL_LM},
    {"LMHeadModel", MD_HEAD_CAUSAL_LM},   // GPT2LMHeadModel
};

static bool head_of(const md_family *f, const char *arch, md_head *head) {
    size_t n = strlen(f->class_prefix);
    if (strncmp(arch, f->class_prefix, n) != 0) return false;
    for (size_t i = 0; i < KILN_ARRAY_SIZE(head_names); i++) {
        if (strcmp(arch + n, head_names[i].suffix) == 0) {
            // Encoders have no causal LM head here (BertLMHeadModel); decoders only base and causal LM.
            bool causal = head_names[i].head == MD_HEAD_CAUSAL_LM;
            if (md_family_is_decoder(f) ? !causal && head_names[i].head != MD_HEAD_BASE : causal) return false;
            *head = head_names[i].head;
            return true;
        }
    }
    return false;
}

kiln_status md_choose_head(const md_family *f, const fe_config *cfg, const char *requested, md_head *head_out,
                           char *arch_out, size_t arch_size) {
    if (requested && strcmp(requested, "base") != 0) {
        if (!head_of(f, requested, head_out))
            return kiln_error(KILN_ERR_UNSUPPORTED, "architecture '%s' is not supported for model_type '%s'", requested, f->model_type);
        snprintf(arch_out, arch_size, "%s", requested);
        return KILN_OK;
    }
    if (!requested && cfg->n_architectures > 0 && head_of(f, cfg->architectures[0], head_out)) {
        snprintf(arch_out, arch_size, "%s", cfg->architectures[0]);
        if (*head_out == MD_HEAD_MASKED_LM) snprintf(arch_out, arch_size, "%sForMaskedLM", f->class_prefix);
        return KILN_OK;
    }
    *head_out = MD_HEAD_BASE;
    snprintf(arch_out, arch_size, "%sModel", f->class_prefix);
    return KILN_OK;
}

bool md_activation_op(const char *name, ir_op *op_out) {
    static const struct {
        const char *name;
        ir_op op;
    } acts[] = {
        {"gelu", IR_OP_GELU},           {"gelu_python", IR_OP_GELU},      {"gelu_new", IR_OP_GELU_TANH},
        {"gelu_pytorch_tanh", IR_OP_GELU_TANH}, {"gelu_fast", IR_OP_GELU_TANH}, {"relu", IR_OP_RELU},
        {"silu", IR_OP_SILU},           {"swish", IR_OP_SILU},            {"quick_gelu", IR_OP_QUICK_GELU},
        {"tanh", IR_OP_TANH},           {"sigmoid", IR_OP_SIGMOID},
    };
    for (size_t i = 0; i < KILN_ARRAY_SIZE(acts); i++) {
        if (strcmp(acts[i].name, name) == 0) {
            *op_out = acts[i].op;
            return true;
        }
    }
    return false;
}
