/* dim.c — symbolic dims: polynomials with integer coefficients over named symbols.
 * Canonical form (terms sorted by their factor lists, like terms merged, no zero coefficients)
 * makes equality a plain comparison, so shape checks work on `past + seq` as on 768.
 * Arithmetic that would overflow a coefficient fails like arithmetic that runs out of terms.
 */
#include "ir/ir.h"

static int term_cmp(const ir_term *a, const ir_term *b) {
    if (a->n_factors != b->n_factors) return a->n_factors < b->n_factors ? -1 : 1;
    for (int i = 0; i < a->n_factors; i++)
        if (a->factors[i] != b->factors[i]) return a->factors[i] < b->factors[i] ? -1 : 1;
    return 0;
}

// Adds `t` into `d` keeping the canonical order; false when out of room.
static bool dim_add_term(ir_dim *d, ir_term t) {
    if (t.coeff == 0) return true;
    int i = 0;
    while (i < d->n_terms && term_cmp(&d->terms[i], &t) < 0) i++;
    if (i < d->n_terms && term_cmp(&d->terms[i], &t) == 0) {
        if (__builtin_add_overflow(d->terms[i].coeff, t.coeff, &d->terms[i].coeff)) return false;
        if (d->terms[i].coeff == 0) {
            memmove(&d->terms[i], &d->terms[i + 1], (size_t)(d->n_terms - i - 1) * sizeof(ir_term));
            d->n_terms--;
        }
        return true;
    }
    if (d->n_terms == IR_DIM_MAX_TERMS) return false;
    memmove(&d->terms[i + 1], &d->terms[i], (size_t)(d->n_terms - i) * sizeof(ir_term));
    d->terms[i] = t;
    d->n_terms++;
    return true;
}

ir_dim ir_dim_const(int64_t value) {
    ir_dim d;
    memset(&d, 0, sizeof(d));
    if (value != 0) {
        d.n_terms = 1;
        d.terms[0].coeff = value;
    }
    return d;
}

ir_dim ir_dim_sym(int symbol) {
    ir_dim d;
    memset(&d, 0, sizeof(d));
    d.n_terms = 1;
    d.terms[0].coeff = 1;
    d.terms[0].n_factors = 1;
    d.terms[0].factors[0] = (uint8_t)symbol;
    return d;
}

bool ir_dim_add(ir_dim a, ir_dim b, ir_dim *out) {
    for (int i = 0; i < b.n_terms; i++)
        if (!dim_add_term(&a, b.terms[i])) return false;
    *out = a;
    return true;
}

bool ir_dim_sub(ir_dim a, ir_dim b, ir_dim *out) {
    for (int i = 0; i < b.n_terms; i++) {
        ir_term t = b.terms[i];
        if (t.coeff == INT64_MIN) return false;
        t.coeff = -t.coeff;
        if (!dim_add_term(&a, t)) return false;
    }
    *out = a;
    return true;
}

bool ir_dim_mul(ir_dim a, ir_dim b, ir_dim *out) {
    ir_dim r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < a.n_terms; i++) {
        for (int j = 0; j < b.n_terms; j++) {
            const ir_term *x = &a.terms[i], *y = &b.terms[j];
            if (x->n_factors + y->n_factors > IR_DIM_MAX_FACTORS) return false;
            ir_term t;
            memset(&t, 0, sizeof(t));
            if (__builtin_mul_overflow(x->coeff, y->coeff, &t.coeff)) return false;
            // merge two sorted factor lists
            int p = 0, q = 0;
            while (p < x->n_factors || q < y->n_factors) {
                if (q >= y->n_factors || (p < x->n_factors && x->factors[p] <= y->factors[q]))
                    t.factors[t.n_factors++] = x->factors[p++];
                else
                    t.factors[t.n_factors++] = y->factors[q++];
            }
            if (!dim_add_term(&r, t)) return false;
        }
    }
    *out = r;
    return true;
}

bool ir_dim_eq(ir_dim a, ir_dim b) {
    if (a.n_terms != b.n_terms) return false;
    for (int i = 0; i < a.n_terms; i++)
        if (a.terms[i].coeff != b.terms[i].coeff || term_cmp(&a.terms[i], &b.terms[i]) != 0) return false;
    return true;
}

bool ir_dim_is_const(ir_dim a, int64_t *value_out) {
    if (a.n_terms == 0) {
        if (value_out) *value_out = 0;
        return true;
    }
    if (a.n_terms == 1 && a.terms[0].n_factors == 0) {
        if (value_out) *value_out = a.terms[0].coeff;
        return true;
    }
    return false;
}

int64_t ir_dim_eval(ir_dim a, const int64_t *symbol_values) {
    int64_t sum = 0;
    for (int i = 0; i < a.n_terms; i++) {
        int64_t v = a.terms[i].coeff;
        for (int f = 0; f < a.terms[i].n_factors; f++) v *= symbol_values[a.terms[i].factors[f]];
        sum += v;
    }
    return sum;
}
