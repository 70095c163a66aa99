/* plan.c — the first arena planner: each tensor's live range becomes an offset in one buffer.
 * Greedy by size (largest first), each at the lowest offset that does not overlap a placed
 * tensor whose lifetime it shares. The optimizing planner comes with the passes issue.
 */
#include "codegen/codegen.h"

static int by_size_desc(const void *a, const void *b) {
    const cg_live *x = *(const cg_live *const *)a, *y = *(const cg_live *const *)b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b) {
    const cg_live *x = *(const cg_live *const *)a, *y = *(const cg_live *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

size_t cg_plan_arena(cg_live *t, int32_t n, size_t alignment) {
    if (n <= 0) return 0;
    cg_live **order = malloc((size_t)n * sizeof(*order)), **placed = malloc((size_t)n * sizeof(*placed));
    KILN_ASSERT(order && placed);
    for (int i = 0; i < n; i++) order[i] = &t[i];
    qsort(order, (size_t)n, sizeof(*order), by_size_desc);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        cg_live *x = order[i];
        int n_conf = 0;
        for (int j = 0; j < i; j++) {
            cg_live *y = order[j];
            if (y->first <= x->last && x->first <= y->last) placed[n_conf++] = y;
        }
        qsort(placed, (size_t)n_conf, sizeof(*placed), by_offset);
        size_t off = 0;
        for (int j = 0; j < n_conf; j++) {
            if (placed[j]->offset >= off + x->size) break;   // fits in the gap before it
            size_t end = placed[j]->offset + placed[j]->size;
            end = (end + alignment - 1) / alignment * alignment;
            if (end > off) off = end;
        }
        x->offset = off;
        if (off + x->size > total) total = off + x->size;
    }
    free(order);
    free(placed);
    return (total + alignment - 1) / alignment * alignment;
}

size_t cg_plan_lower_bound(const cg_live *t, int32_t n) {
    int32_t steps = 0;
    for (int i = 0; i < n; i++) steps = KILN_MAX(steps, t[i].last + 1);
    size_t best = 0;
    for (int s = 0; s < steps; s++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            if (t[i].first <= s && s <= t[i].last) live += t[i].size;
        best = KILN_MAX(best, live);
    }
    return best;
}
