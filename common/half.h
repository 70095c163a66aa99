/* half.h — conversions between f32 and the two 16-bit float formats checkpoints carry (IEEE
 * binary16 "f16" and bfloat16 "bf16"), and a bulk widening to f32 for weight loading. Integer bit
 * manipulation only, so the results do not depend on the FPU's rounding mode or -ffast-math.
 */
#ifndef KILN_HALF_H
#define KILN_HALF_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

// Exact (every f16 and bf16 value is an f32 value); NaN payloads and signs are kept.
float kiln_f16_to_f32(uint16_t h);
float kiln_bf16_to_f32(uint16_t h);

// Round to nearest, ties to even. Values at or past the f16 range's rounding edge (|x| >= 65520)
// become infinity, tiny values become f16 subnormals or signed zero; NaN stays NaN (made quiet,
// sign and the top payload bits kept).
uint16_t kiln_f32_to_f16(float f);
// Round to nearest, ties to even; NaN stays a quiet NaN with its sign.
uint16_t kiln_f32_to_bf16(float f);

// Widens n elements of src_dtype (KILN_F32, KILN_F16, KILN_BF16, KILN_I32, KILN_I64 or KILN_BOOL,
// little-endian, as stored in safetensors) into dst. src needs no alignment (mmap'd tensors may
// sit at any byte offset); src and dst must not overlap. Any other dtype is a caller's bug and
// trips KILN_ASSERT.
void kiln_convert_to_f32(kiln_dtype src_dtype, const void *src, float *dst, size_t n);

#endif  // KILN_HALF_H
