/* half.c — f16/bf16 <-> f32 by integer bit manipulation (the layout of XNNPACK's fp16 library,
 * written out case by case so each IEEE corner — infinity, NaN, subnormals, ties — is visible).
 * Weights arrive as f16/bf16 and are widened to f32 at compile time; outputs may be narrowed back.
 */
#include "half.h"

#include <string.h>

#include "common.h"

static uint32_t f32_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    return x;
}

static float f32_from_bits(uint32_t x) {
    float f;
    memcpy(&f, &x, sizeof(f));
    return f;
}

float kiln_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000 | (mant << 13));  // inf, NaN
    if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return f32_from_bits(sign);
    // Subnormal mant * 2^-24: shift the leading one up to the implicit bit, one exponent per step.
    exp = 113;
    while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
    }
    return f32_from_bits(sign | (exp << 23) | ((mant & 0x3ff) << 13));
}

uint16_t kiln_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);  // NaN, quiet
    // 65520 is halfway between 65504 (largest f16, odd mantissa) and 2^16: ties go to even = inf.
    if (ax >= 0x477ff000) return sign | 0x7c00;
    if (ax >= 0x38800000) {  // normal f16 (>= 2^-14): rebias the exponent by 127 - 15, then round
        uint32_t r = ax - 0x38000000;
        r += 0xfff + ((r >> 13) & 1);  // a carry out of the mantissa bumps the exponent, as it should
        return sign | (uint16_t)(r >> 13);
    }
    uint32_t exp = ax >> 23;
    if (exp < 102) return sign;  // below 2^-25 (half the smallest subnormal): rounds to zero
    // Subnormal f16 q * 2^-24, q = mant * 2^(exp - 150) / 2^-24 = mant >> (126 - exp).
    uint32_t mant = (ax & 0x7fffff) | 0x800000, shift = 126 - exp;  // 14..24
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;  // q may reach 0x400: the smallest normal
    return sign | (uint16_t)q;
}

float kiln_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t kiln_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    // A NaN whose payload sits in the low 16 bits would truncate to infinity: force the quiet bit.
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x0040);
    x += 0x7fff + ((x >> 16) & 1);  // overflow past the largest bf16 lands exactly on infinity
    return (uint16_t)(x >> 16);
}

void kiln_convert_to_f32(kiln_dtype src_dtype, const void *src, float *dst, size_t n) {
    const unsigned char *p = src;
    switch (src_dtype) {
    case KILN_F32: memcpy(dst, src, n * sizeof(float)); return;
    case KILN_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = kiln_f16_to_f32(h);
        }
        return;
    case KILN_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = kiln_bf16_to_f32(h);
        }
        return;
    case KILN_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = (float)v;
        }
        return;
    case KILN_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            dst[i] = (float)v;
        }
        return;
    case KILN_BOOL:
        for (size_t i = 0; i < n; i++) dst[i] = p[i] ? 1.0f : 0.0f;
        return;
    default: KILN_ASSERT(!"kiln_convert_to_f32: dtype is not f32, f16, bf16, i32, i64 or bool");
    }
}
