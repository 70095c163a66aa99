/* fuzz_ir_parse.c — libFuzzer target: any bytes as IR text must give KILN_OK or KILN_ERR_FORMAT
 * with a "line N:" message, never a crash or a leak; and a graph that parses must print, parse and
 * print again to the same text. Build with -DKILN_FUZZ=ON and clang.
 */
#include <stdint.h>

#include "ir/ir.h"

static char *print(const ir_graph *g) {
    kiln_strbuf sb = {0};
    if (ir_print(g, &sb) != KILN_OK) abort();
    return sb.data ? sb.data : calloc(1, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ir_graph *g = NULL, *again = NULL;
    kiln_status st = ir_parse(text, &g);
    if (st == KILN_OK) {
        char *t1 = print(g);
        if (ir_parse(t1, &again) != KILN_OK) abort();
        char *t2 = print(again);
        if (strcmp(t1, t2) != 0) abort();
        free(t1);
        free(t2);
    } else if (st != KILN_ERR_FORMAT || strncmp(kiln_last_error(), "line ", 5) != 0 || g) {
        abort();
    }
    ir_graph_free(again);
    ir_graph_free(g);
    free(text);
    return 0;
}
