/* text_classification.c — pipeline("text-classification"): logits -> scores as Transformers'
 * TextClassificationPipeline.postprocess (problem_type / num_labels pick the function unless
 * function_to_apply names one; top_k 0 is its legacy single dict, else a sorted list).
 */
#include "kiln.h"
#include "pipelines/pipeline.h"

#include <math.h>

kiln_status pl_text_classification_init(kiln_pipeline *p) {
    const rt_head *h = &p->prog->head;
    if (h->n_labels < 1 || !h->labels)
        return kiln_error(KILN_ERR_INVALID_ARG, "text-classification: the program (%s) has no classification head",
                          h->architecture ? h->architecture : "?");
    const char *f = p->o.function_to_apply;
    const char *pt = h->problem_type ? h->problem_type : "";
    if (!f || !*f || strcmp(f, "default") == 0) {
        if (strcmp(pt, "regression") == 0) p->fn = PL_FN_NONE;
        else if (strcmp(pt, "multi_label_classification") == 0 || h->n_labels == 1) p->fn = PL_FN_SIGMOID;
        else p->fn = PL_FN_SOFTMAX;
    } else if (strcmp(f, "softmax") == 0) {
        p->fn = PL_FN_SOFTMAX;
    } else if (strcmp(f, "sigmoid") == 0) {
        p->fn = PL_FN_SIGMOID;
    } else if (strcmp(f, "none") == 0) {
        p->fn = PL_FN_NONE;
    } else {
        return kiln_error(KILN_ERR_INVALID_ARG, "text-classification: function_to_apply '%s' is not softmax, sigmoid or none", f);
    }
    if (p->o.top_k < -1) return kiln_error(KILN_ERR_INVALID_ARG, "text-classification: top_k %d (want -1, 0 or k > 0)", p->o.top_k);
    return KILN_OK;
}

void pl_text_classification_row(const kiln_pipeline *p, const float *logits, pl_json *j) {
    int32_t n = p->prog->head.n_labels;
    double *score = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!score || !order) {
        j->oom = true;
        free(score);
        free(order);
        return;
    }
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, logits[i]);
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    for (int i = 0; i < n; i++) {
        double x = logits[i];
        score[i] = p->fn == PL_FN_SOFTMAX ? exp(x - mx) / sum : p->fn == PL_FN_SIGMOID ? 1.0 / (1.0 + exp(-x)) : x;
        order[i] = i;
    }
    // stable sort by score, descending (Python's list.sort is stable)
    for (int i = 1; i < n; i++) {
        int v = order[i], k = i;
        while (k > 0 && score[order[k - 1]] < score[v]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = v;
    }
    int top = p->o.top_k == 0 ? 1 : p->o.top_k < 0 ? n : (p->o.top_k < n ? p->o.top_k : n);
    if (p->o.top_k != 0) pl_json_raw(j, "[");
    for (int r = 0; r < top; r++) {
        if (r) pl_json_raw(j, ", ");
        pl_json_raw(j, "{\"label\": ");
        pl_json_str(j, p->prog->head.labels[order[r]]);
        pl_json_raw(j, ", \"score\": ");
        pl_json_num(j, score[order[r]]);
        pl_json_raw(j, "}");
    }
    if (p->o.top_k != 0) pl_json_raw(j, "]");
    free(score);
    free(order);
}
