/* resize_u8.c: Pillow's BILINEAR resize of 8-bit images, bit for bit
 * (Pillow's libImaging/Resample.c: precompute_coeffs, normalize_coeffs_8bpc,
 * ImagingResampleHorizontal_8bpc / Vertical_8bpc; fixtures README section
 * 4). Every rounding step is Pillow's, in Pillow's order, because the
 * network input is this image divided by 255: one level off anywhere is a
 * different tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cam_image.h"
#include "internal.h"

#define PRECISION_BITS 22   /* Pillow: 32 - 8 - 2, so 255 * 2^22 plus rounding fits an int */

/* One axis' taps: output i reads `count[i]` inputs from `first[i]` with
 * fixed-point weights k[i * ksize ...]. */
typedef struct {
    int32_t *first, *count, *k;
    size_t ksize;
} axis_taps;

static void axis_free(axis_taps *a) {
    free(a->first);
    free(a->count);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static double triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static ck_status axis_setup(int32_t in_size, int32_t out_size, axis_taps *a) {
    memset(a, 0, sizeof *a);
    /* Pillow takes the box (0, 0, w, h) as floats: (float)in_size, exact
     * below 2^24, and rounded as Pillow rounds it above. */
    const double scale = (double)(float)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale;   /* the bilinear filter's support is 1 */
    const double ss = 1.0 / filterscale;        /* Pillow multiplies by the reciprocal */
    const double ksize_d = ceil(support) * 2 + 1;
    const size_t ksize = (size_t)ksize_d;
    if ((double)out_size * ksize_d >= (double)(SIZE_MAX / sizeof(int32_t) / 2)) return CK_ERR_MEMORY;
    a->ksize = ksize;
    a->first = malloc(sizeof(int32_t) * (size_t)out_size);
    a->count = malloc(sizeof(int32_t) * (size_t)out_size);
    a->k = calloc((size_t)out_size * ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * ksize);
    if (!a->first || !a->count || !a->k || !w) {
        free(w);
        axis_free(a);
        return CK_ERR_MEMORY;
    }
    for (int32_t xx = 0; xx < out_size; xx++) {
        const double center = (xx + 0.5) * scale;
        /* (int) truncates toward zero, as in Pillow ("round the value"). */
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        const int64_t n = xmax - xmin;   /* >= 1 and <= ksize: center lies inside [0, in_size) */
        double sum = 0.0;
        for (int64_t x = 0; x < n; x++) {
            w[x] = triangle(((double)(x + xmin) - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = a->k + (size_t)xx * ksize;
        for (int64_t x = 0; x < n; x++) {
            const double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        a->first[xx] = (int32_t)xmin;
        a->count[xx] = (int32_t)n;
    }
    free(w);
    return CK_OK;
}

/* Pillow's clip8: the accumulator carries 2^21 for rounding; the shift is
 * arithmetic, so a negative sum (impossible with this filter's
 * non-negative weights, kept for fidelity) clamps to 0. Sums are 64-bit so
 * that no input size can overflow them; where Pillow's 32-bit int does not
 * overflow, the result is the same. */
static inline uint8_t clip8(int64_t acc) {
    if (acc >= (int64_t)1 << (PRECISION_BITS + 8)) return 255;
    if (acc <= 0) return 0;
    return (uint8_t)(acc >> PRECISION_BITS);
}

/* Rows [0, rows) of src (w_in wide) -> the same rows of dst (w_out wide). */
static void pass_horizontal(const uint8_t *src, int32_t w_in, uint8_t *dst, int32_t w_out, int64_t rows,
                            int32_t ch, const axis_taps *t) {
    const size_t in_row = (size_t)w_in * ch, out_row = (size_t)w_out * ch;
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * in_row;
        uint8_t *d = dst + (size_t)y * out_row;
        for (int32_t xx = 0; xx < w_out; xx++) {
            const int32_t *k = t->k + (size_t)xx * t->ksize;
            const uint8_t *taps = s + (size_t)t->first[xx] * ch;
            const int32_t n = t->count[xx];
            for (int32_t c = 0; c < ch; c++) {
                int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
                for (int32_t x = 0; x < n; x++) acc += (int64_t)taps[(size_t)x * ch + c] * k[x];
                d[(size_t)xx * ch + c] = clip8(acc);
            }
        }
    }
}

/* src has the rows the taps name (first[] relative to src's row 0), each
 * `width` pixels; dst gets h_out rows. */
static void pass_vertical(const uint8_t *src, int32_t width, uint8_t *dst, int32_t h_out, int32_t ch,
                          const axis_taps *t, int32_t row_offset) {
    const size_t row = (size_t)width * ch;
    for (int32_t yy = 0; yy < h_out; yy++) {
        const int32_t *k = t->k + (size_t)yy * t->ksize;
        const uint8_t *s = src + (size_t)(t->first[yy] - row_offset) * row;
        const int32_t n = t->count[yy];
        uint8_t *d = dst + (size_t)yy * row;
        for (size_t i = 0; i < row; i++) {
            int64_t acc = (int64_t)1 << (PRECISION_BITS - 1);
            for (int32_t y = 0; y < n; y++) acc += (int64_t)s[(size_t)y * row + i] * k[y];
            d[i] = clip8(acc);
        }
    }
}

ck_status ck_resize_u8_antialias(const uint8_t *src, int32_t w_in, int32_t h_in, int32_t channels,
                                 uint8_t *dst, int32_t w_out, int32_t h_out) {
    if (!src || !dst) return CK_ERR_NULL;
    if (channels < 1 || channels > 4) return CK_ERR_ARGUMENT;
    if (CK_ELEMS(h_in, w_in, channels) < 0 || CK_ELEMS(h_out, w_out, channels) < 0 ||
        CK_ELEMS(h_in, w_out, channels) < 0)
        return CK_ERR_SIZE;
    const int need_h = w_out != w_in, need_v = h_out != h_in;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)w_in * h_in * channels);
        return CK_OK;
    }
    axis_taps th = { 0 }, tv = { 0 };
    ck_status s = CK_OK;
    if (need_h) s = axis_setup(w_in, w_out, &th);
    if (s == CK_OK && need_v) s = axis_setup(h_in, h_out, &tv);
    if (s != CK_OK) {
        axis_free(&th);
        axis_free(&tv);
        return s;
    }
    if (!need_v) {
        pass_horizontal(src, w_in, dst, w_out, h_in, channels, &th);
    } else if (!need_h) {
        pass_vertical(src, w_in, dst, h_out, channels, &tv, 0);
    } else {
        /* Only the rows the vertical taps read go through the horizontal
         * pass, as in Pillow (the values do not depend on it). */
        const int32_t first = tv.first[0], last = tv.first[h_out - 1] + tv.count[h_out - 1];
        uint8_t *mid = malloc((size_t)(last - first) * w_out * channels);
        if (!mid) {
            s = CK_ERR_MEMORY;
        } else {
            pass_horizontal(src + (size_t)first * w_in * channels, w_in, mid, w_out, last - first, channels, &th);
            pass_vertical(mid, w_out, dst, h_out, channels, &tv, first);
            free(mid);
        }
    }
    axis_free(&th);
    axis_free(&tv);
    return s;
}
