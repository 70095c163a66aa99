/* plan.c — the memory planner: each arena tensor's live range becomes an offset in one buffer
 * (tinygrad's schedule/memory.py, XNNPACK's xnn_usage_record), and a checker that proves the
 * result. Placement tries several orders (largest first, first use first) with best-fit and
 * first-fit gap choice and keeps the smallest arena; the lower bound — the most bytes live at any
 * one step — is computed separately from the live ranges, so the two can be compared honestly.
 */
#include "codegen/codegen.h"

static size_t align_up(size_t x, size_t a) { return a > 1 ? (x + a - 1) / a * a : x; }

/* ---- placement ---- */

// qsort has no context argument in C11, so orders sort (key, key, index) records.
typedef struct sort_rec {
    double k1, k2;
    int32_t idx;
} sort_rec;

static int by_keys(const void *a, const void *b) {
    const sort_rec *x = a, *y = b;
    if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2) return x->k2 < y->k2 ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

enum { ORDER_SIZE, ORDER_AREA, ORDER_FIRST_USE, ORDER_COUNT };

// Fills order[] with tensor indices: largest first; largest size x lifetime first (they constrain
// the most); or by first use (the schedule's own order), larger first among equals.
static void make_order(const cg_live *t, int32_t n, int which, sort_rec *recs, int32_t *order) {
    for (int32_t i = 0; i < n; i++) {
        double size = (double)t[i].size, life = (double)(t[i].last - t[i].first + 1);
        recs[i].idx = i;
        switch (which) {
        case ORDER_SIZE: recs[i].k1 = -size, recs[i].k2 = t[i].first; break;
        case ORDER_AREA: recs[i].k1 = -size * life, recs[i].k2 = -size; break;
        default: recs[i].k1 = t[i].first, recs[i].k2 = -size; break;
        }
    }
    qsort(recs, (size_t)n, sizeof(*recs), by_keys);
    for (int32_t i = 0; i < n; i++) order[i] = recs[i].idx;
}

typedef struct plan_ctx {
    const cg_live *t;
    int32_t n;
    size_t alignment;
    int32_t *order;       // (n) placement order
    size_t *offset;       // (n) result
    int32_t *placed;      // (n) indices placed so far
    int32_t *conflicts;   // (n) scratch
    sort_rec *recs;       // (n) scratch
} plan_ctx;

// Places t in ctx->order; best_fit picks the smallest gap that fits, else the lowest. Returns the
// arena size.
static size_t place(plan_ctx *c, bool best_fit) {
    size_t total = 0;
    for (int32_t i = 0; i < c->n; i++) {
        int32_t x = c->order[i];
        const cg_live *tx = &c->t[x];
        int32_t n_conf = 0;
        for (int32_t j = 0; j < i; j++) {
            int32_t y = c->placed[j];
            if (c->t[y].first <= tx->last && tx->first <= c->t[y].last && c->t[y].size > 0) c->conflicts[n_conf++] = y;
        }
        for (int32_t j = 0; j < n_conf; j++) c->recs[j] = (sort_rec){(double)c->offset[c->conflicts[j]], 0, c->conflicts[j]};
        qsort(c->recs, (size_t)n_conf, sizeof(sort_rec), by_keys);
        for (int32_t j = 0; j < n_conf; j++) c->conflicts[j] = c->recs[j].idx;
        size_t at = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int32_t j = 0; j <= n_conf; j++) {
            size_t gap_end = j < n_conf ? c->offset[c->conflicts[j]] : SIZE_MAX;
            if (gap_end >= at && gap_end - at >= tx->size) {
                size_t gap = gap_end - at;
                if (!best_fit || j == n_conf) {
                    if (best == SIZE_MAX) best = at;
                    if (!best_fit) break;
                } else if (gap < best_gap) {
                    best_gap = gap;
                    best = at;
                }
            }
            if (j < n_conf) {
                size_t end = align_up(c->offset[c->conflicts[j]] + c->t[c->conflicts[j]].size, c->alignment);
                if (end > at) at = end;
            }
        }
        c->offset[x] = best;
        c->placed[i] = x;
        if (best + tx->size > total) total = best + tx->size;
    }
    return align_up(total, c->alignment);
}

size_t cg_plan_arena(cg_live *t, int32_t n, size_t alignment) {
    if (n <= 0) return 0;
    if (alignment < 1) alignment = 1;
    plan_ctx c = {t, n, alignment, malloc((size_t)n * sizeof(int32_t)), malloc((size_t)n * sizeof(size_t)),
                  malloc((size_t)n * sizeof(int32_t)), malloc((size_t)n * sizeof(int32_t)), malloc((size_t)n * sizeof(sort_rec))};
    size_t *best_offsets = malloc((size_t)n * sizeof(size_t));
    KILN_ASSERT(c.order && c.offset && c.placed && c.conflicts && c.recs && best_offsets);
    size_t best = SIZE_MAX;
    for (int o = 0; o < ORDER_COUNT; o++) {
        for (int fit = 0; fit < 2; fit++) {
            make_order(t, n, o, c.recs, c.order);
            size_t total = place(&c, fit == 1);
            if (total < best) {
                best = total;
                memcpy(best_offsets, c.offset, (size_t)n * sizeof(size_t));
            }
        }
    }
    for (int32_t i = 0; i < n; i++) t[i].offset = best_offsets[i];
    free(c.order);
    free(c.offset);
    free(c.placed);
    free(c.conflicts);
    free(c.recs);
    free(best_offsets);
    return best;
}

/* ---- the lower bound, from live ranges alone ---- */

typedef struct event {
    int32_t step;
    int64_t delta;
} event;

static int by_step(const void *a, const void *b) {
    const event *x = a, *y = b;
    if (x->step != y->step) return x->step - y->step;
    return (x->delta < y->delta) - (x->delta > y->delta);   // births before deaths at one step
}

size_t cg_plan_lower_bound(const cg_live *t, int32_t n) {
    if (n <= 0) return 0;
    event *ev = malloc(2 * (size_t)n * sizeof(*ev));
    KILN_ASSERT(ev);
    for (int32_t i = 0; i < n; i++) {
        ev[2 * i] = (event){t[i].first, (int64_t)t[i].size};
        ev[2 * i + 1] = (event){t[i].last + 1, -(int64_t)t[i].size};   // dead after its last step
    }
    qsort(ev, 2 * (size_t)n, sizeof(*ev), by_step);
    int64_t live = 0, most = 0;
    for (int32_t i = 0; i < 2 * n; i++) {
        live += ev[i].delta;
        // only count once every event of this step is in: a step's deaths happen after it
        if ((i + 1 == 2 * n || ev[i + 1].step != ev[i].step) && live > most) most = live;
    }
    free(ev);
    return (size_t)most;
}

/* ---- the checker ---- */

kiln_status cg_plan_check(const cg_live *t, int32_t n, size_t arena_bytes, size_t alignment) {
    for (int32_t i = 0; i < n; i++) {
        if (t[i].first > t[i].last)
            return kiln_error(KILN_ERR_INTERNAL, "plan: tensor %d lives from step %d to %d", i, t[i].first, t[i].last);
        if (alignment > 1 && t[i].offset % alignment)
            return kiln_error(KILN_ERR_INTERNAL, "plan: tensor %d at offset %zu is not %zu-byte aligned", i, t[i].offset, alignment);
        if (t[i].offset + t[i].size > arena_bytes)
            return kiln_error(KILN_ERR_INTERNAL, "plan: tensor %d ends at %zu, past the arena (%zu bytes)", i, t[i].offset + t[i].size,
                              arena_bytes);
    }
    // Sweep by first step; compare each tensor with those still live when it starts.
    int32_t *order = malloc((size_t)KILN_MAX(n, 1) * sizeof(int32_t));
    sort_rec *recs = malloc((size_t)KILN_MAX(n, 1) * sizeof(sort_rec));
    KILN_ASSERT(order && recs);
    make_order(t, n, ORDER_FIRST_USE, recs, order);
    free(recs);
    kiln_status st = KILN_OK;
    for (int32_t a = 0; a < n && !st; a++) {
        const cg_live *x = &t[order[a]];
        for (int32_t b = a + 1; b < n && !st; b++) {
            const cg_live *y = &t[order[b]];
            if (y->first > x->last) break;   // sorted by first: the rest start later still
            if (x->size == 0 || y->size == 0) continue;
            if (x->offset < y->offset + y->size && y->offset < x->offset + x->size)
                st = kiln_error(KILN_ERR_INTERNAL,
                                "plan: tensors %d [%zu, %zu) steps %d..%d and %d [%zu, %zu) steps %d..%d share bytes while both live",
                                order[a], x->offset, x->offset + x->size, x->first, x->last, order[b], y->offset,
                                y->offset + y->size, y->first, y->last);
        }
    }
    free(order);
    return st;
}

kiln_status cg_plan_check_program(const kiln_program *p) {
    if (!p) return kiln_error(KILN_ERR_INVALID_ARG, "cg_plan_check_program: NULL program");
    cg_live *t = calloc((size_t)p->n_buffers + 1, sizeof(*t));
    if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "plan check: out of memory");
    for (int32_t i = 0; i < p->n_buffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        t[i] = (cg_live){.first = b->first, .last = b->last, .size = b->size_max, .offset = (size_t)b->offset};
        size_t at_max = (size_t)rt_expr_eval(&b->size, p->symbol_max);
        if (at_max > b->size_max) {
            free(t);
            return kiln_error(KILN_ERR_INTERNAL, "plan: buffer %d (%s @%s) holds %zu bytes at the maxima, planned for %zu", i, b->op,
                              b->path ? b->path : "?", at_max, b->size_max);
        }
    }
    kiln_status st = cg_plan_check(t, p->n_buffers, p->arena_bytes, p->arena_alignment);
    free(t);
    if (!st && p->arena_lower_bound > p->arena_bytes)
        st = kiln_error(KILN_ERR_INTERNAL, "plan: arena %zu bytes is below the lower bound %zu", p->arena_bytes, p->arena_lower_bound);
    return st;
}

/* ---- one plan for every length: offsets that scale with the dims ----
 * Each tensor's size is a polynomial in the symbols (4·768·batch·seq bytes). Tensors whose size
 * is c · m for one monomial m (batch·seq, seq, 1) are grouped in regions, one monomial M per
 * region; a tensor of monomial m may live in the region of M when m divides M, with footprint
 * ceil_align(c) · M (at least its size whenever every symbol is at least 1). Inside a region the
 * plan is made once in units of M, so offsets are u · M: the same plan, scaled, is valid at every
 * length. Regions follow one another (base_k = sum of the regions before), and tensors of other
 * sizes (past + seq) go last, planned at the maxima. Every offset, and the arena's need, is then a
 * polynomial in the symbols, evaluated with each symbol clamped to at least 1.
 * Regions are merged greedily (a class into a region whose monomial it divides) while that makes
 * the arena at the maxima smaller: a few rows at a wider footprint cost nothing when they are not
 * live at the peak.
 * Tensors of several terms (attention scores of seq · (past + seq)) start in the constant class,
 * planned at the maxima; hosted in a region of monomial M they take u · M bytes with u the bound
 * of size / M over every length (each term's coefficient times the maxima of its factors that M
 * lacks), so a decode program's scores can share bytes with its logits instead of sitting beside them. */

#define SYM_MAX_REGIONS 5

typedef struct sym_class {
    ir_term mono;         // coefficient 1
    int32_t host;         // the region it lives in (an index into classes)
} sym_class;

static bool mono_divides(const ir_term *a, const ir_term *b) {   // a | b as multisets of factors
    int j = 0;
    for (int i = 0; i < a->n_factors; i++) {
        while (j < b->n_factors && b->factors[j] < a->factors[i]) j++;
        if (j == b->n_factors || b->factors[j] != a->factors[i]) return false;
        j++;
    }
    return true;
}

static bool mono_eq(const ir_term *a, const ir_term *b) {
    return a->n_factors == b->n_factors && memcmp(a->factors, b->factors, a->n_factors) == 0;
}

static int64_t mono_at(const ir_term *m, const int64_t *sym) {
    int64_t v = 1;
    for (int f = 0; f < m->n_factors; f++) v *= KILN_MAX(sym[m->factors[f]], 1);
    return v;
}

static int64_t clamped_eval(ir_dim d, const int64_t *sym, int n_symbols) {
    int64_t s[IR_MAX_SYMBOLS];
    for (int i = 0; i < n_symbols && i < IR_MAX_SYMBOLS; i++) s[i] = KILN_MAX(sym[i], 1);
    return ir_dim_eval(d, s);
}

// The class of each tensor (-1: not a single monomial), and its unit bytes.
static int classify(const cg_sym_item *t, int32_t n, size_t alignment, sym_class *cls, int *n_cls, int32_t *of, size_t *unit) {
    for (int32_t i = 0; i < n; i++) {
        of[i] = -1;
        const ir_dim *d = &t[i].size;
        if (d->n_terms == 1 && d->terms[0].coeff <= 0) continue;
        ir_term m = d->n_terms == 1 ? d->terms[0] : (ir_term){0};   // several terms: the constant class
        unit[i] = align_up(d->n_terms == 1 ? (size_t)m.coeff : 0, alignment);
        m.coeff = 1;
        int c = 0;
        while (c < *n_cls && !mono_eq(&cls[c].mono, &m)) c++;
        if (c == *n_cls) {
            if (*n_cls == 64) continue;
            cls[(*n_cls)++] = (sym_class){m, c};
        }
        of[i] = c;
    }
    return 0;
}

// Bytes per unit of monomial M that hold a tensor of `size` at every length: the sum over its
// terms of coefficient x the maxima of the factors M lacks.
static size_t unit_bound(const ir_dim *size, const ir_term *M, const int64_t *symbol_max, size_t alignment) {
    double u = 0;
    for (int k = 0; k < size->n_terms; k++) {
        const ir_term *t = &size->terms[k];
        if (t->coeff <= 0) continue;   // dropping a negative term only raises the bound
        double v = (double)t->coeff;
        int j = 0;
        for (int f = 0; f < t->n_factors; f++) {   // factors of t not matched in M (multisets, ascending)
            while (j < M->n_factors && M->factors[j] < t->factors[f]) j++;
            if (j < M->n_factors && M->factors[j] == t->factors[f]) j++;
            else v *= (double)KILN_MAX(symbol_max[t->factors[f]], 1);
        }
        u += v;
    }
    return u < 1e18 ? align_up((size_t)u, alignment) : (size_t)1 << 60;   // never chosen: it only grows the arena
}

// Plans region `r` (tensors whose class lives in it): its size in units; offsets in units.
static size_t plan_region(const cg_sym_item *t, int32_t n, const int32_t *of, const size_t *unit, const sym_class *cls, int r,
                          size_t alignment, const int64_t *symbol_max, cg_live *scratch, int32_t *idx, size_t *unit_offset) {
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (of[i] < 0 || cls[of[i]].host != r) continue;
        size_t u = t[i].size.n_terms > 1 ? unit_bound(&t[i].size, &cls[r].mono, symbol_max, alignment) : unit[i];
        scratch[k] = (cg_live){.first = t[i].first, .last = t[i].last, .size = u};
        idx[k++] = i;
    }
    size_t size = cg_plan_arena(scratch, k, alignment);
    if (unit_offset)
        for (int32_t j = 0; j < k; j++) unit_offset[idx[j]] = scratch[j].offset;
    return size;
}

static double arena_at_max(const cg_sym_item *t, int32_t n, const int32_t *of, const size_t *unit, const sym_class *cls, int n_cls,
                           size_t alignment, const int64_t *symbol_max, cg_live *scratch, int32_t *idx) {
    double total = 0;
    for (int r = 0; r < n_cls; r++)
        if (cls[r].host == r)
            total += (double)plan_region(t, n, of, unit, cls, r, alignment, symbol_max, scratch, idx, NULL) *
                     (double)mono_at(&cls[r].mono, symbol_max);
    return total;
}

kiln_status cg_plan_symbolic(cg_sym_item *t, int32_t n, size_t alignment, const int64_t *symbol_max, int n_symbols, ir_dim *arena_out,
                             size_t *arena_max_out) {
    if (alignment < 1) alignment = 1;
    sym_class cls[64];
    int n_cls = 0;
    int32_t *of = malloc(((size_t)n + 1) * sizeof(int32_t)), *idx = malloc(((size_t)n + 1) * sizeof(int32_t));
    size_t *unit = calloc((size_t)n + 1, sizeof(size_t)), *unit_offset = calloc((size_t)n + 1, sizeof(size_t));
    cg_live *scratch = calloc((size_t)n + 1, sizeof(cg_live));
    kiln_status st = KILN_OK;
    if (!of || !idx || !unit || !unit_offset || !scratch) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "plan: out of memory");
        goto done;
    }
    classify(t, n, alignment, cls, &n_cls, of, unit);
    // Merge regions while the arena at the maxima shrinks (and until few enough are left).
    for (;;) {
        int n_regions = 0;
        for (int r = 0; r < n_cls; r++) n_regions += cls[r].host == r;
        double now = arena_at_max(t, n, of, unit, cls, n_cls, alignment, symbol_max, scratch, idx), best = now;
        int best_a = -1, best_b = -1;
        for (int a = 0; a < n_cls; a++) {
            if (cls[a].host != a) continue;
            for (int b = 0; b < n_cls; b++) {
                if (a == b || cls[b].host != b || !mono_divides(&cls[a].mono, &cls[b].mono)) continue;
                int saved[64];
                for (int c = 0; c < n_cls; c++) saved[c] = cls[c].host;
                for (int c = 0; c < n_cls; c++)
                    if (cls[c].host == a) cls[c].host = b;
                double merged = arena_at_max(t, n, of, unit, cls, n_cls, alignment, symbol_max, scratch, idx);
                for (int c = 0; c < n_cls; c++) cls[c].host = saved[c];
                if (merged < best || (n_regions > SYM_MAX_REGIONS && best_a < 0) ||
                    (n_regions > SYM_MAX_REGIONS && merged < best + 1e-9 * best)) {
                    best = merged;
                    best_a = a;
                    best_b = b;
                }
            }
        }
        if (best_a < 0) break;
        for (int c = 0; c < n_cls; c++)
            if (cls[c].host == best_a) cls[c].host = best_b;
    }
    // Regions that still do not fit the expression form go to the fixed part.
    int n_regions = 0;
    for (int r = 0; r < n_cls; r++) {
        if (cls[r].host != r) continue;
        if (++n_regions > SYM_MAX_REGIONS)
            for (int32_t i = 0; i < n; i++)
                if (of[i] >= 0 && cls[of[i]].host == r) of[i] = -1;
    }
    // Offsets: region after region, then the fixed part planned at the maxima.
    ir_dim base = ir_dim_const(0);
    for (int r = 0; r < n_cls; r++) {
        if (cls[r].host != r) continue;
        bool any = false;
        for (int32_t i = 0; i < n && !any; i++) any = of[i] >= 0 && cls[of[i]].host == r;
        if (!any) continue;
        size_t units = plan_region(t, n, of, unit, cls, r, alignment, symbol_max, scratch, idx, unit_offset);
        ir_dim m = {.n_terms = 1, .terms = {cls[r].mono}};
        for (int32_t i = 0; i < n; i++) {
            if (of[i] < 0 || cls[of[i]].host != r) continue;
            ir_dim u = ir_dim_const((int64_t)unit_offset[i]), off;
            if (!ir_dim_mul(u, m, &off) || !ir_dim_add(base, off, &t[i].offset)) {
                st = kiln_error(KILN_ERR_INTERNAL, "plan: offset expression too large");
                goto done;
            }
        }
        ir_dim grow;
        if (!ir_dim_mul(ir_dim_const((int64_t)units), m, &grow) || !ir_dim_add(base, grow, &base)) {
            st = kiln_error(KILN_ERR_INTERNAL, "plan: arena expression too large");
            goto done;
        }
    }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (of[i] >= 0) continue;
        scratch[k] = (cg_live){.first = t[i].first, .last = t[i].last, .size = t[i].size_max};
        idx[k++] = i;
    }
    size_t fixed = cg_plan_arena(scratch, k, alignment);
    for (int32_t j = 0; j < k; j++)
        if (!ir_dim_add(base, ir_dim_const((int64_t)scratch[j].offset), &t[idx[j]].offset)) {
            st = kiln_error(KILN_ERR_INTERNAL, "plan: offset expression too large");
            goto done;
        }
    if (!ir_dim_add(base, ir_dim_const((int64_t)fixed), arena_out)) {
        st = kiln_error(KILN_ERR_INTERNAL, "plan: arena expression too large");
        goto done;
    }
    *arena_max_out = (size_t)clamped_eval(*arena_out, symbol_max, n_symbols);
    for (int32_t i = 0; i < n; i++) t[i].offset_max = (size_t)clamped_eval(t[i].offset, symbol_max, n_symbols);
done:
    free(of);
    free(idx);
    free(unit);
    free(unit_offset);
    free(scratch);
    return st;
}

kiln_status cg_plan_check_symbolic(const cg_sym_item *t, int32_t n, ir_dim arena, size_t alignment, const int64_t *symbol_max,
                                   int n_symbols) {
    // The maxima, all ones, each symbol alone at its maximum, and a few points between.
    int n_points = 2 + n_symbols + 4;
    cg_live *at = calloc((size_t)n + 1, sizeof(cg_live));
    if (!at) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "plan check: out of memory");
    kiln_status st = KILN_OK;
    uint32_t r = 12345;
    for (int pt = 0; pt < n_points && !st; pt++) {
        int64_t sym[IR_MAX_SYMBOLS];
        for (int s = 0; s < n_symbols; s++) {
            int64_t mx = KILN_MAX(symbol_max[s], 1);
            if (pt == 0) sym[s] = mx;
            else if (pt == 1) sym[s] = 1;
            else if (pt < 2 + n_symbols) sym[s] = s == pt - 2 ? mx : 1;
            else {
                r = r * 1664525u + 1013904223u;
                sym[s] = 1 + (int64_t)(r >> 8) % mx;
            }
        }
        for (int32_t i = 0; i < n; i++) {
            int64_t size = ir_dim_eval(t[i].size, sym);
            at[i] = (cg_live){.first = t[i].first, .last = t[i].last, .size = (size_t)KILN_MAX(size, 0),
                              .offset = (size_t)clamped_eval(t[i].offset, sym, n_symbols)};
        }
        st = cg_plan_check(at, n, (size_t)clamped_eval(arena, sym, n_symbols), alignment);
        if (st) {
            char where[256];
            size_t k = 0;
            for (int s = 0; s < n_symbols && k < sizeof(where); s++) k += (size_t)snprintf(where + k, sizeof(where) - k, "%s%lld", s ? ", " : "", (long long)sym[s]);
            st = kiln_error_prefix(st, "at symbols (%s)", where);
        }
    }
    free(at);
    return st;
}
