/* test_half.c — f16/bf16 <-> f32: the IEEE corners (zeros, infinities, NaN, subnormals, ties,
 * overflow) by hand, every 16-bit pattern round-tripped, and f32 -> f16 against the compiler's
 * own _Float16 conversion on random bit patterns where the compiler has one.
 */
#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "tests/test.h"

static uint32_t bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static float from_bits(uint32_t x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static void f16_special_values_convert_exactly(void) {
    CHECK(kiln_f32_to_f16(0.0f) == 0x0000);
    CHECK(kiln_f32_to_f16(-0.0f) == 0x8000);
    CHECK(kiln_f32_to_f16(1.0f) == 0x3c00);
    CHECK(kiln_f32_to_f16(-2.0f) == 0xc000);
    CHECK(kiln_f32_to_f16(65504.0f) == 0x7bff);            // largest finite
    CHECK(kiln_f32_to_f16(from_bits(0x7f800000)) == 0x7c00);  // +inf
    CHECK(kiln_f32_to_f16(from_bits(0xff800000)) == 0xfc00);  // -inf
    CHECK(kiln_f32_to_f16(1e10f) == 0x7c00);               // overflow
    CHECK(kiln_f32_to_f16(65520.0f) == 0x7c00);            // halfway to 2^16: ties to even = inf
    CHECK(kiln_f32_to_f16(from_bits(0x477fefff)) == 0x7bff);  // just below the halfway point
    CHECK(kiln_f32_to_f16(from_bits(0x38800000)) == 0x0400);  // 2^-14, smallest normal
    CHECK(kiln_f32_to_f16(from_bits(0x33800000)) == 0x0001);  // 2^-24, smallest subnormal
    CHECK(kiln_f32_to_f16(from_bits(0x33000000)) == 0x0000);  // 2^-25: tie, rounds to even 0
    CHECK(kiln_f32_to_f16(from_bits(0xb3000000)) == 0x8000);  // -2^-25 keeps its sign
    CHECK(kiln_f32_to_f16(from_bits(0x33000001)) == 0x0001);  // just above the tie
    CHECK(kiln_f32_to_f16(from_bits(0x33c00000)) == 0x0002);  // 1.5 * 2^-24: tie, to even 2
    CHECK(kiln_f32_to_f16(from_bits(0x34200000)) == 0x0002);  // 2.5 * 2^-24: tie, to even 2
    CHECK(kiln_f32_to_f16(from_bits(0x387fe000)) == 0x0400);  // 1023.5 * 2^-24 rounds up to the smallest normal
    CHECK(kiln_f32_to_f16(from_bits(0x00000001)) == 0x0000);  // f32 subnormal
    CHECK(kiln_f32_to_f16(from_bits(0x3f801000)) == 0x3c00);  // 1 + 2^-11: tie, to even
    CHECK(kiln_f32_to_f16(from_bits(0x3f803000)) == 0x3c02);  // 1 + 3 * 2^-11: tie, to even
    uint16_t nan = kiln_f32_to_f16(from_bits(0x7fc00000));
    CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0 && (nan & 0x0200));
    uint16_t low_nan = kiln_f32_to_f16(from_bits(0xff800001));  // payload only in the dropped bits
    CHECK((low_nan & 0x7c00) == 0x7c00 && (low_nan & 0x03ff) != 0 && (low_nan & 0x8000));

    CHECK(kiln_f32_to_f16(from_bits(0x387fc000)) == 0x03ff);  // 1023 * 2^-24, largest subnormal
    CHECK(kiln_f16_to_f32(0x0001) == from_bits(0x33800000));
    CHECK(kiln_f16_to_f32(0x03ff) == 1023.0f / 16777216.0f);
    CHECK(kiln_f16_to_f32(0x8000) == 0.0f && (bits(kiln_f16_to_f32(0x8000)) >> 31));
    CHECK(kiln_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(bits(kiln_f16_to_f32(0x7c00)) == 0x7f800000);
    CHECK(bits(kiln_f16_to_f32(0xfc00)) == 0xff800000);
    float fnan = kiln_f16_to_f32(0x7e00);
    CHECK(fnan != fnan);
}

static void f16_every_value_round_trips(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        uint16_t back = kiln_f32_to_f16(kiln_f16_to_f32((uint16_t)h));
        // Quiet NaNs come back bit for bit; signalling ones come back quiet.
        if (is_nan ? (back != (h | 0x200)) : (back != h)) bad++;
    }
    CHECK_MSG(bad == 0, "%d f16 values did not round-trip", bad);
}

static void f16_matches_the_compilers_conversion(void) {
#ifdef __FLT16_MAX__
    uint64_t s = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;   // xorshift64
        uint32_t x = (uint32_t)(s >> 32);
        if (i & 1) x = (x & 0x8fffffff) | 0x30000000;  // half the samples near f16's range
        float f = from_bits(x);
        if (f != f) continue;
        _Float16 ref = (_Float16)f;
        uint16_t ref_bits;
        memcpy(&ref_bits, &ref, 2);
        if (kiln_f32_to_f16(f) != ref_bits && bad++ < 5)
            fprintf(stderr, "f32 0x%08x: got 0x%04x, compiler 0x%04x\n", x, kiln_f32_to_f16(f), ref_bits);
    }
    CHECK_MSG(bad == 0, "%d conversions disagree with _Float16", bad);
#endif
}

static void bf16_special_values_convert_exactly(void) {
    CHECK(kiln_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(kiln_f32_to_bf16(-0.0f) == 0x8000);
    CHECK(kiln_f32_to_bf16(from_bits(0x3f808000)) == 0x3f80);  // tie: to even
    CHECK(kiln_f32_to_bf16(from_bits(0x3f818000)) == 0x3f82);  // tie: to even (up)
    CHECK(kiln_f32_to_bf16(from_bits(0x3f808001)) == 0x3f81);  // above the tie
    CHECK(kiln_f32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80);  // rounds past the largest: inf
    CHECK(kiln_f32_to_bf16(from_bits(0xff800000)) == 0xff80);  // -inf
    CHECK(kiln_f32_to_bf16(from_bits(0x00000001)) == 0x0000);  // tiny subnormal
    CHECK(kiln_f32_to_bf16(from_bits(0x00018000)) == 0x0002);  // subnormal tie, to even
    uint16_t nan = kiln_f32_to_bf16(from_bits(0x7f800001));     // payload in the dropped bits
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
    CHECK(kiln_f32_to_bf16(from_bits(0xffc00000)) == 0xffc0);
    CHECK(bits(kiln_bf16_to_f32(0x3f80)) == 0x3f800000);
    CHECK(bits(kiln_bf16_to_f32(0xff80)) == 0xff800000);
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        bool is_nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        uint16_t back = kiln_f32_to_bf16(kiln_bf16_to_f32((uint16_t)h));
        if (is_nan ? (back != (h | 0x40)) : (back != h)) bad++;
    }
    CHECK_MSG(bad == 0, "%d bf16 values did not round-trip", bad);
}

static void convert_to_f32_reads_unaligned_sources(void) {
    unsigned char buf[1 + 3 * 8];
    float out[3];
    uint16_t h[3] = {0x3c00, 0xc000, 0x7c00};
    memcpy(buf + 1, h, sizeof(h));
    kiln_convert_to_f32(KILN_F16, buf + 1, out, 3);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && bits(out[2]) == 0x7f800000);
    uint16_t b[3] = {0x3f80, 0x4040, 0xbf00};
    memcpy(buf + 1, b, sizeof(b));
    kiln_convert_to_f32(KILN_BF16, buf + 1, out, 3);
    CHECK(out[0] == 1.0f && out[1] == 3.0f && out[2] == -0.5f);
    int64_t i64[3] = {-7, 0, 1 << 20};
    memcpy(buf + 1, i64, sizeof(i64));
    kiln_convert_to_f32(KILN_I64, buf + 1, out, 3);
    CHECK(out[0] == -7.0f && out[1] == 0.0f && out[2] == 1048576.0f);
    int32_t i32[3] = {5, -5, 123456};
    memcpy(buf + 1, i32, sizeof(i32));
    kiln_convert_to_f32(KILN_I32, buf + 1, out, 3);
    CHECK(out[0] == 5.0f && out[1] == -5.0f && out[2] == 123456.0f);
    float f32[3] = {0.25f, -1e30f, 3.0f};
    memcpy(buf + 1, f32, sizeof(f32));
    kiln_convert_to_f32(KILN_F32, buf + 1, out, 3);
    CHECK(memcmp(out, f32, sizeof(f32)) == 0);
    unsigned char bools[3] = {1, 0, 1};
    kiln_convert_to_f32(KILN_BOOL, bools, out, 3);
    CHECK(out[0] == 1.0f && out[1] == 0.0f && out[2] == 1.0f);
}

int main(void) {
    f16_special_values_convert_exactly();
    f16_every_value_round_trips();
    f16_matches_the_compilers_conversion();
    bf16_special_values_convert_exactly();
    convert_to_f32_reads_unaligned_sources();
    return test_summary();
}
