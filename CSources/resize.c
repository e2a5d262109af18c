/* resize.c: bilinear resampling of one 2-D map.
 *
 * Per axis, each output coordinate d reads source samples i0 and i1 with
 * weight a on i1. Horizontal taps are recomputed for every output pixel
 * rather than cached in a per-column table: the kernel allocates nothing,
 * and a tap costs one multiply-add and a floor, next to the four loads it
 * serves. Each output pixel interpolates both source rows horizontally and
 * then blends them vertically, cv2's order, so float rounding follows it. */
#include <math.h>

#include "internal.h"

typedef struct { int32_t i0, i1; float a; } tap;

/* Half-pixel centres as cv2 INTER_LINEAR computes them: the ratio in double,
 * the coordinate rounded to float, and clamping that replicates the border
 * (a tap left of the first sample or right of the last uses it alone). */
static inline tap tap_half_pixel(int32_t d, int32_t n_in, double scale) {
    float f = (float)((d + 0.5) * scale - 0.5);
    float fl = floorf(f);
    tap t = { (int32_t)fl, 0, f - fl };
    if (t.i0 < 0) { t.i0 = 0; t.a = 0.0f; }
    if (t.i0 >= n_in - 1) { t.i0 = n_in - 1; t.a = 0.0f; }
    t.i1 = t.i0 + 1 < n_in ? t.i0 + 1 : n_in - 1;
    return t;
}

/* Align-corners as torch computes it: a float ratio (in - 1) / (out - 1),
 * 0 for a single output. The clamp only guards rounding at the last corner. */
static inline tap tap_align_corners(int32_t d, int32_t n_in, float scale) {
    float f = scale * (float)d;
    int32_t i0 = (int32_t)f;                /* f >= 0, so truncation is floor */
    if (i0 > n_in - 1) i0 = n_in - 1;
    tap t = { i0, i0 + 1 < n_in ? i0 + 1 : n_in - 1, f - (float)i0 };
    if (t.a < 0.0f) t.a = 0.0f;
    if (t.i1 == t.i0) t.a = 0.0f;
    return t;
}

typedef struct { ck_resize_mode mode; int32_t n_in; double half_scale; float corner_scale; } axis_map;

static axis_map axis_setup(ck_resize_mode mode, int32_t n_in, int32_t n_out) {
    axis_map m = { mode, n_in, (double)n_in / n_out, n_out > 1 ? (float)(n_in - 1) / (float)(n_out - 1) : 0.0f };
    return m;
}

static inline tap axis_tap(const axis_map *m, int32_t d) {
    return m->mode == CK_RESIZE_HALF_PIXEL ? tap_half_pixel(d, m->n_in, m->half_scale)
                                           : tap_align_corners(d, m->n_in, m->corner_scale);
}

ck_status ck_resize_bilinear(const float *src, int32_t h_in, int32_t w_in,
                             float *dst, int32_t h_out, int32_t w_out, ck_resize_mode mode) {
    if (!src || !dst) return CK_ERR_NULL;
    if (CK_ELEMS(h_in, w_in) < 0 || CK_ELEMS(h_out, w_out) < 0) return CK_ERR_SIZE;
    if (mode != CK_RESIZE_HALF_PIXEL && mode != CK_RESIZE_ALIGN_CORNERS) return CK_ERR_ARGUMENT;
    const axis_map my = axis_setup(mode, h_in, h_out), mx = axis_setup(mode, w_in, w_out);
    for (int32_t oy = 0; oy < h_out; oy++) {
        const tap ty = axis_tap(&my, oy);
        const float *r0 = src + (int64_t)ty.i0 * w_in, *r1 = src + (int64_t)ty.i1 * w_in;
        float *out = dst + (int64_t)oy * w_out;
        for (int32_t ox = 0; ox < w_out; ox++) {
            const tap tx = axis_tap(&mx, ox);
            const float v0 = (1.0f - tx.a) * r0[tx.i0] + tx.a * r0[tx.i1];
            const float v1 = (1.0f - tx.a) * r1[tx.i0] + tx.a * r1[tx.i1];
            out[ox] = (1.0f - ty.a) * v0 + ty.a * v1;
        }
    }
    return CK_OK;
}
