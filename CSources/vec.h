/* vec.h: fixed-width vector helpers for the direct loops (depthwise.c,
 * im2col.c); not installed. Include after the standard headers. */
#ifndef CAM_KERNELS_VEC_H
#define CAM_KERNELS_VEC_H

#include <stdint.h>
#include <string.h>

/* Floats per vector chunk. */
enum { VEC = 8 };

/* The chunks are written with the compiler's vector extension rather than
 * as loops: whether clang vectorizes an 8-iteration loop turned out to
 * depend on its surroundings (the same loop ran 3x slower after an
 * unrelated edit), while a vector type always compiles to vector code:
 * two SSE registers in the baseline build, one AVX register in the
 * x86-64-v3 one. Loads and stores go through memcpy, so alignment does not
 * matter. */
typedef float vf __attribute__((vector_size(VEC * sizeof(float))));

/* Passing such a vector to a function is an ABI question in the baseline
 * build; these helpers are all forced inline, so there is no call. */
#pragma GCC diagnostic ignored "-Wpsabi"

static inline __attribute__((always_inline)) vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* x in every lane. Not (vf){0} + x: that is a scalar add before the
 * broadcast (0 + x is not x for x = -0), in an inner loop. */
static inline __attribute__((always_inline)) vf vsplat(float x) {
    return (vf){x, x, x, x, x, x, x, x};
}

static inline __attribute__((always_inline)) void vstore(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

/* Selects on lane masks: written so that clang turns each into one max or
 * min instruction, and so that the comparison is the scalar code's (a
 * NaN goes where the scalar test sends it). */
typedef int32_t vi __attribute__((vector_size(VEC * sizeof(int32_t))));

/* a > b ? a : b per lane. */
static inline __attribute__((always_inline)) vf vmax(vf a, vf b) {
    vi m = a > b;
    return (vf)((m & (vi)a) | (~m & (vi)b));
}

/* v < lo ? lo : v, then > hi ? hi : that: ck_act_forward's clamp (ReLU,
 * Clip), through which a NaN passes. */
static inline __attribute__((always_inline)) vf clamp_v(vf v, vf lo, vf hi) {
    vi m = v < lo;
    v = (vf)((m & (vi)lo) | (~m & (vi)v));
    m = v > hi;
    return (vf)((m & (vi)hi) | (~m & (vi)v));
}

/* dst[0..n) = src[0..n) for short runs, inline: a libc memcpy call costs
 * as much as copying a 28-float row. Left alone, the compiler recognizes
 * the chunk loop as a copy and turns it back into that call; the empty asm
 * on the index hides the trip count from it and costs nothing. */
static inline __attribute__((always_inline))
void copy_short(float *restrict dst, const float *restrict src, int64_t n) {
    int64_t k = 0;
    for (; k + VEC <= n; k += VEC) {
        vstore(dst + k, vload(src + k));
        __asm__("" : "+r"(k));
    }
    if (n - k >= 4) { memcpy(dst + k, src + k, 4 * sizeof(float)); k += 4; }
    if (n - k >= 2) { memcpy(dst + k, src + k, 2 * sizeof(float)); k += 2; }
    if (n - k >= 1) dst[k] = src[k];
}

/* dst[0..n) = 0, inline, for the same reason. */
static inline __attribute__((always_inline))
void zero_short(float *dst, int64_t n) {
    int64_t k = 0;
    for (; k + VEC <= n; k += VEC) {
        vstore(dst + k, (vf){0});
        __asm__("" : "+r"(k));
    }
    for (; k < n; k++) {
        dst[k] = 0.0f;
        __asm__("" : "+r"(k));
    }
}

/* even[k] = x[2k], odd[k] = x[2k + 1] for the n floats of x, sixteen at a
 * time with two loads and two shuffles (a plain strided loop compiled to
 * one float at a time and took 40% of a stride-2 layer). The last sixteen
 * (or, for short rows, the last eight) are done as one more whole step that
 * ends at the row's last even pair, overlapping the step before: it stores
 * the same values again, and a row of 28 or 14 needs no scalar tail (which
 * had become a fifth of a stride-2 layer on 14 x 14 planes). */
typedef float vf4 __attribute__((vector_size(4 * sizeof(float))));

static inline __attribute__((always_inline))
void deinterleave2_8(const float *x, float *even, float *odd) {
    vf a = vload(x);
    vf4 e = __builtin_shufflevector(a, a, 0, 2, 4, 6), o = __builtin_shufflevector(a, a, 1, 3, 5, 7);
    memcpy(even, &e, sizeof e);
    memcpy(odd, &o, sizeof o);
}

static inline __attribute__((always_inline))
void deinterleave2(const float *x, int64_t n, float *even, float *odd) {
    int64_t pairs = n / 2, k = 0;
    if (pairs >= VEC) {
        for (; k + VEC <= pairs; k += VEC) {
            vf a = vload(x + 2 * k), b = vload(x + 2 * k + VEC);
            vstore(even + k, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
            vstore(odd + k, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15));
        }
        if (k < pairs) {
            k = pairs - VEC;
            vf a = vload(x + 2 * k), b = vload(x + 2 * k + VEC);
            vstore(even + k, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
            vstore(odd + k, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15));
        }
    } else if (pairs >= 4) {
        deinterleave2_8(x, even, odd);
        deinterleave2_8(x + 2 * (pairs - 4), even + (pairs - 4), odd + (pairs - 4));
    } else {
        for (; k < pairs; k++) {
            even[k] = x[2 * k];
            odd[k] = x[2 * k + 1];
        }
    }
    if (n & 1) even[pairs] = x[n - 1];
}

#endif
