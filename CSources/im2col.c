/* im2col.c: convolution geometry, im2col and its adjoint col2im.
 *
 * Both walk the im2col matrix row by row (one kernel tap per row) and, per
 * output row, split the output columns into [padding | inside | padding]
 * with ck_tap_range, so the inner loops are plain copies or adds with no
 * per-element bounds test. im2col has faster special cases on top:
 * stride 1 with the output as wide as the input (one copy per tap over all
 * rows), 1x1 without padding (one strided loop), ResNet's 3x3 stride 2
 * (input rows split straight into the matrix) and other horizontal
 * stride 2 (input rows split into even and odd columns once, then
 * copies). */
#include <string.h>

#include "conv_internal.h"
#include "vec.h"

/* Output extent along one axis, or -1 when the kernel does not fit. */
static int64_t axis_out(int32_t in, int32_t pad0, int32_t pad1, int32_t k, int32_t dil, int32_t stride) {
    int64_t padded = (int64_t)in + pad0 + pad1;
    int64_t span = (int64_t)dil * (k - 1) + 1;
    return padded < span ? -1 : (padded - span) / stride + 1;
}

ck_status ck_conv_geometry(const ck_conv2d *p, ck_conv_geom *g) {
    if (p->n < 1 || p->c_in < 1 || p->h_in < 1 || p->w_in < 1 || p->c_out < 1 ||
        p->k_h < 1 || p->k_w < 1 || p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 ||
        p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return CK_ERR_SIZE;
    if (p->groups < 1 || p->c_in % p->groups != 0 || p->c_out % p->groups != 0) return CK_ERR_ARGUMENT;
    int64_t h_out = axis_out(p->h_in, p->pad_top, p->pad_bottom, p->k_h, p->dil_h, p->stride_h);
    int64_t w_out = axis_out(p->w_in, p->pad_left, p->pad_right, p->k_w, p->dil_w, p->stride_w);
    if (h_out < 1 || w_out < 1 || h_out >= CK_MAX_ELEMENTS || w_out >= CK_MAX_ELEMENTS) return CK_ERR_SIZE;
    int32_t cin_g = p->c_in / p->groups;
    if (CK_ELEMS(p->n, p->c_in, p->h_in, p->w_in) < 0 ||
        CK_ELEMS(p->n, p->c_out, (int32_t)h_out, (int32_t)w_out) < 0 ||
        CK_ELEMS(p->c_out, cin_g, p->k_h, p->k_w) < 0)
        return CK_ERR_SIZE;
    g->h_out = (int32_t)h_out;
    g->w_out = (int32_t)w_out;
    g->cin_g = cin_g;
    g->cout_g = p->c_out / p->groups;
    g->rows = (int64_t)cin_g * p->k_h * p->k_w;
    g->cols = h_out * w_out;
    return CK_OK;
}

ck_status ck_conv2d_output_size(const ck_conv2d *p, int32_t *h_out, int32_t *w_out) {
    if (!p || !h_out || !w_out) return CK_ERR_NULL;
    ck_conv_geom g;
    ck_status s = ck_conv_geometry(p, &g);
    if (s != CK_OK) return s;
    *h_out = g.h_out;
    *w_out = g.w_out;
    return CK_OK;
}

/* What one kernel tap of one block needs: col[col_at + oh * w_out + ow] is
 * output (oh, ow) of the tap's matrix row, x[x_at + oh * x_row + ow * sw]
 * the input it sees, which is inside for ow in [lo, hi) and oh in
 * [oh_lo, oh_hi). Indices may start negative; only in-range ones are used. */
typedef struct tap {
    int64_t col_at, x_at, x_row;
    int32_t w_out, sw, lo, hi, oh_lo, oh_hi;
} tap;

/* Output rows [oh_a, oh_b), columns [a, b) of each, of one tap, in either
 * direction: im2col (col_out set) copies what the rows see and zeros the
 * padding; col2im (dx set) adds back and drops the padding. Each row is
 * split once into [padding | inside | padding], so the inner loops are
 * plain copies and adds. Inlined per direction, so the test folds away. */
static inline __attribute__((always_inline))
void rows(const tap *t, int32_t oh_a, int32_t oh_b, int32_t a, int32_t b,
          const float *x, float *col_out, const float *col_in, float *dx) {
    int32_t in_a = oh_a > t->oh_lo ? oh_a : t->oh_lo, in_b = oh_b < t->oh_hi ? oh_b : t->oh_hi;
    int32_t ca = a > t->lo ? a : t->lo, cb = b < t->hi ? b : t->hi;
    if (in_b <= in_a || cb <= ca) in_a = in_b = oh_b;   /* nothing inside: all padding */
    if (col_out) {
        /* Padding rows above and below the inside ones. */
        for (int32_t oh = oh_a; oh < oh_b; oh++) {
            if (oh == in_a) oh = in_b;
            if (oh >= oh_b) break;
            memset(col_out + (t->col_at + (int64_t)oh * t->w_out + a), 0, (size_t)(b - a) * sizeof(float));
        }
    }
    for (int32_t oh = in_a; oh < in_b; oh++) {
        int64_t c_at = t->col_at + (int64_t)oh * t->w_out, x_at = t->x_at + (int64_t)oh * t->x_row;
        /* Pointers are formed at in-range elements only (c_at and x_at
         * alone may point before the buffers). */
        if (col_out) {
            float *d = col_out + (c_at + a);                      /* d[ow - a] is output ow */
            const float *s = x + (x_at + (int64_t)ca * t->sw);    /* the first inside sample */
            zero_short(d, ca - a);
            /* Stride 2 gets its own loop: a constant stride vectorizes. */
            if (t->sw == 1) copy_short(d + (ca - a), s, cb - ca);
            else if (t->sw == 2) for (int32_t i = 0; i < cb - ca; i++) d[ca - a + i] = s[2 * i];
            else for (int32_t i = 0; i < cb - ca; i++) d[ca - a + i] = s[(int64_t)i * t->sw];
            zero_short(d + (cb - a), b - cb);
        } else {
            const float *s = col_in + (c_at + ca);
            float *d = dx + (x_at + (int64_t)ca * t->sw);
            if (t->sw == 1) for (int32_t i = 0; i < cb - ca; i++) d[i] += s[i];
            else for (int32_t i = 0; i < cb - ca; i++) d[(int64_t)i * t->sw] += s[i];
        }
    }
}

/* The tap rows of units [u0, u1) (u = c * k_h + kh, each k_w rows) over the
 * block [q0, q1): its first output row may start
 * mid-row and its last may end mid-row; the rows between are whole. */
static inline __attribute__((always_inline))
void walk(const ck_conv2d *p, const ck_conv_geom *g, int32_t group, int64_t q0, int64_t q1, int64_t u0, int64_t u1,
          const float *x, float *col_out, const float *col_in, float *dx) {
    int64_t len = q1 - q0, hw_in = (int64_t)p->h_in * p->w_in;
    int32_t w = g->w_out, oh0 = (int32_t)(q0 / w), oh1 = (int32_t)((q1 - 1) / w);
    int32_t a0 = (int32_t)(q0 - (int64_t)oh0 * w), b1 = (int32_t)(q1 - (int64_t)oh1 * w);
    tap t = {0, 0, (int64_t)p->stride_h * p->w_in, w, p->stride_w, 0, 0, 0, 0};
    for (int64_t u = u0; u < u1; u++) {
        int32_t c = (int32_t)(u / p->k_h), kh = (int32_t)(u % p->k_h);
        int64_t r = u * p->k_w;
        int64_t plane_at = ((int64_t)group * g->cin_g + c) * hw_in;
        int64_t ih_off = (int64_t)kh * p->dil_h - p->pad_top;
        ck_tap_range(ih_off, p->stride_h, p->h_in, g->h_out, &t.oh_lo, &t.oh_hi);
        for (int32_t kw = 0; kw < p->k_w; kw++, r++) {
            int64_t off = (int64_t)kw * p->dil_w - p->pad_left;
            ck_tap_range(off, p->stride_w, p->w_in, w, &t.lo, &t.hi);
            t.col_at = r * len - q0;
            t.x_at = plane_at + ih_off * p->w_in + off;
            if (oh0 == oh1) {
                rows(&t, oh0, oh0 + 1, a0, b1, x, col_out, col_in, dx);
            } else {
                rows(&t, oh0, oh0 + 1, a0, w, x, col_out, col_in, dx);
                rows(&t, oh0 + 1, oh1, 0, w, x, col_out, col_in, dx);
                rows(&t, oh1, oh1 + 1, 0, b1, x, col_out, col_in, dx);
            }
        }
    }
}

/* im2col when stride is 1 and the output is as wide as the input (the
 * common "same" convolution): a tap's row of the matrix is then the input
 * plane itself, shifted, so it is one memcpy over all output rows, after
 * which only the |offset| columns per row that wrapped around from the
 * neighbouring input row are zeroed. Much faster than a memcpy per output
 * row when rows are short (28 or 14 floats deep in a network). */
static inline __attribute__((always_inline))
void im2col_flat(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                 int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col) {
    int64_t len = q1 - q0, hw_in = (int64_t)p->h_in * p->w_in, w = g->w_out;
    for (int64_t u = u0; u < u1; u++) {
        int32_t c = (int32_t)(u / p->k_h), kh = (int32_t)(u % p->k_h);
        int64_t r = u * p->k_w;
        int64_t plane_at = ((int64_t)group * g->cin_g + c) * hw_in;
        int64_t ih_off = (int64_t)kh * p->dil_h - p->pad_top;
        int32_t oh_lo, oh_hi;
        ck_tap_range(ih_off, 1, p->h_in, g->h_out, &oh_lo, &oh_hi);
        for (int32_t kw = 0; kw < p->k_w; kw++, r++) {
            int64_t off = (int64_t)kw * p->dil_w - p->pad_left;
            int32_t lo, hi;
            ck_tap_range(off, 1, p->w_in, g->w_out, &lo, &hi);
            int64_t at = r * len - q0;         /* col[at + q] is output position q */
            /* First and one past the last position whose sample is inside. */
            int64_t qa = (int64_t)oh_lo * w + lo, qb = (int64_t)(oh_hi - 1) * w + hi;
            if (oh_lo >= oh_hi || lo >= hi) qa = qb = q1;
            qa = qa < q0 ? q0 : qa > q1 ? q1 : qa;
            qb = qb < qa ? qa : qb > q1 ? q1 : qb;
            memset(col + (at + q0), 0, (size_t)(qa - q0) * sizeof(float));
            memcpy(col + (at + qa), x + (plane_at + ih_off * p->w_in + off + qa), (size_t)(qb - qa) * sizeof(float));
            memset(col + (at + qb), 0, (size_t)(q1 - qb) * sizeof(float));
            if (qa >= qb || (lo == 0 && hi == w)) continue;
            for (int64_t row_q = qa / w * w; row_q < qb; row_q += w) {
                for (int64_t q = row_q > qa ? row_q : qa; q < row_q + lo && q < qb; q++) col[at + q] = 0.0f;
                for (int64_t q = row_q + hi > qa ? row_q + hi : qa; q < row_q + w && q < qb; q++) col[at + q] = 0.0f;
            }
        }
    }
}

/* im2col at horizontal stride 2 (ResNet's stem and its downsampling
 * convolutions). Gathering every other float is slow, so each input row is
 * first split into its even and odd columns (on the stack, with vector
 * shuffles), once for all k_w taps that read it; each tap's run is then a
 * memcpy from one of the halves: input column 2 * ow + off is half
 * off & 1 at ow + (off >> 1). Rows up to 2 * HALF wide and kernels up to
 * MAX_KW wide; the walk does the rest. */
enum { HALF = 2048, MAX_KW = 16 };

static int stride2_fits(const ck_conv2d *p) {
    return p->stride_w == 2 && p->k_w <= MAX_KW && p->w_in <= 2 * HALF;
}

static inline __attribute__((always_inline))
void im2col_stride2(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                    int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col) {
    float halves[2][HALF];
    int64_t len = q1 - q0, hw_in = (int64_t)p->h_in * p->w_in, w = g->w_out;
    int32_t oh0 = (int32_t)(q0 / w), oh1 = (int32_t)((q1 - 1) / w);
    int64_t off[MAX_KW];
    int32_t lo[MAX_KW], hi[MAX_KW];
    for (int32_t kw = 0; kw < p->k_w; kw++) {
        off[kw] = (int64_t)kw * p->dil_w - p->pad_left;
        ck_tap_range(off[kw], 2, p->w_in, g->w_out, &lo[kw], &hi[kw]);
    }
    for (int64_t u = u0; u < u1; u++) {
        int32_t c = (int32_t)(u / p->k_h), kh = (int32_t)(u % p->k_h);
        const float *plane = x + ((int64_t)group * g->cin_g + c) * hw_in;
        int64_t ih_off = (int64_t)kh * p->dil_h - p->pad_top;
        int32_t oh_lo, oh_hi;
        ck_tap_range(ih_off, p->stride_h, p->h_in, g->h_out, &oh_lo, &oh_hi);
        int64_t r0 = ((int64_t)c * p->k_h + kh) * p->k_w;              /* tap row of (c, kh, kw = 0) */
        for (int32_t oh = oh0; oh <= oh1; oh++) {
            int64_t row_q = (int64_t)oh * w;
            int32_t a = oh == oh0 ? (int32_t)(q0 - row_q) : 0, b = oh == oh1 ? (int32_t)(q1 - row_q) : (int32_t)w;
            int64_t at = row_q - q0;                    /* col[(r0 + kw) * len + at + ow] is output ow */
            int inside = oh >= oh_lo && oh < oh_hi;
            if (inside)
                deinterleave2(plane + ((int64_t)oh * p->stride_h + ih_off) * p->w_in, p->w_in, halves[0], halves[1]);
            for (int32_t kw = 0; kw < p->k_w; kw++) {
                float *d = col + ((r0 + kw) * len + at + a);  /* output a of this run */
                int32_t ca = a > lo[kw] ? a : lo[kw], cb = b < hi[kw] ? b : hi[kw];
                if (!inside || cb <= ca) {
                    zero_short(d, b - a);
                    continue;
                }
                /* Runs are short (28 floats at 56 wide): inline copies, no libc calls. */
                zero_short(d, ca - a);
                copy_short(d + (ca - a), halves[off[kw] & 1] + (ca + (off[kw] >> 1)), cb - ca);
                zero_short(d + (cb - a), b - cb);
            }
        }
    }
}

/* im2col of ResNet's 3x3 stride-2 convolutions (3 taps wide, left pad 1,
 * an even input width twice the output's) over whole output rows. Tap
 * kw = 1 reads the even columns and kw = 2 the odd ones, so splitting an
 * input row writes both matrix rows in place; kw = 0 reads the odd
 * columns one to the left, which is the kw = 2 row shifted by one float
 * as a whole, with the first float of each output row zeroed (the left
 * padding, and where the shift brought in the row above's last). The
 * general stride-2 loop above splits into the stack and copies three
 * short runs for every (unit, output row): 256 channels at 28x28 took 220
 * us of a 1240 us layer. */
static int stride2_k3_fits(const ck_conv2d *p, const ck_conv_geom *g, int64_t q0, int64_t q1) {
    return p->stride_w == 2 && p->k_w == 3 && p->dil_w == 1 && p->pad_left == 1 && p->w_in == 2 * (int64_t)g->w_out &&
           q0 % g->w_out == 0 && q1 % g->w_out == 0;
}

static inline __attribute__((always_inline))
void im2col_stride2_k3(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                       int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col) {
    const int64_t len = q1 - q0, hw_in = (int64_t)p->h_in * p->w_in, w = g->w_out;
    const int32_t oh0 = (int32_t)(q0 / w), oh1 = (int32_t)(q1 / w);
    for (int64_t u = u0; u < u1; u++) {
        const int32_t c = (int32_t)(u / p->k_h), kh = (int32_t)(u % p->k_h);
        const float *plane = x + ((int64_t)group * g->cin_g + c) * hw_in;
        const int64_t ih_off = (int64_t)kh * p->dil_h - p->pad_top;
        int32_t oh_lo, oh_hi;
        ck_tap_range(ih_off, p->stride_h, p->h_in, g->h_out, &oh_lo, &oh_hi);
        float *left = col + u * 3 * len, *even = left + len, *odd = even + len;   /* kw = 0, 1, 2 */
        for (int32_t oh = oh0; oh < oh1; oh++) {
            const int64_t at = (int64_t)(oh - oh0) * w;
            if (oh >= oh_lo && oh < oh_hi) {
                deinterleave2(plane + ((int64_t)oh * p->stride_h + ih_off) * p->w_in, p->w_in, even + at, odd + at);
            } else {
                zero_short(even + at, w);
                zero_short(odd + at, w);
            }
        }
        copy_short(left + 1, odd, len - 1);
        for (int64_t at = 0; at < len; at += w) left[at] = 0.0f;
    }
}

/* im2col of a 1x1 kernel without padding (ResNet's strided downsampling
 * convolutions): every sample is inside, so a row of the matrix is the
 * input plane read with the strides, in one plain loop. The stride-2 path
 * below, with its per-row splitting and copies, spent half as long as the
 * GEMM after it on ResNet-18's 256-channel 14x14 one (49 outputs a
 * plane). */
static inline __attribute__((always_inline))
void im2col_pointwise(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                      int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col) {
    int64_t len = q1 - q0, hw_in = (int64_t)p->h_in * p->w_in, w = g->w_out;
    int64_t sh = (int64_t)p->stride_h * p->w_in, sw = p->stride_w;
    for (int64_t u = u0; u < u1; u++) {
        const float *plane = x + ((int64_t)group * g->cin_g + u) * hw_in;
        float *d = col + u * len - q0;
        for (int64_t row_q = q0 / w * w; row_q < q1; row_q += w) {   /* output rows, the first and last maybe partial */
            const float *src = plane + row_q / w * sh;
            int64_t a = row_q > q0 ? 0 : q0 - row_q, b = row_q + w < q1 ? w : q1 - row_q;
            for (int64_t ow = a; ow < b; ow++) d[row_q + ow] = src[ow * sw];
        }
    }
}

static int pointwise_fits(const ck_conv2d *p) {
    return p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->pad_bottom == 0 &&
           p->pad_right == 0;
}

CK_MULTIVERSION
void ck_im2col_units(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                     int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col) {
    if (p->stride_h == 1 && p->stride_w == 1 && g->w_out == p->w_in)
        im2col_flat(p, g, x, group, q0, q1, u0, u1, col);
    else if (pointwise_fits(p))
        im2col_pointwise(p, g, x, group, q0, q1, u0, u1, col);
    else if (stride2_k3_fits(p, g, q0, q1))
        im2col_stride2_k3(p, g, x, group, q0, q1, u0, u1, col);
    else if (stride2_fits(p))
        im2col_stride2(p, g, x, group, q0, q1, u0, u1, col);
    else
        walk(p, g, group, q0, q1, u0, u1, x, col, NULL, NULL);
}

void ck_im2col_cols(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                    int64_t q0, int64_t q1, float *col) {
    ck_im2col_units(p, g, x, group, q0, q1, 0, (int64_t)g->cin_g * p->k_h, col);
}

void ck_col2im_cols(const ck_conv2d *p, const ck_conv_geom *g, const float *col, int32_t group,
                    int64_t q0, int64_t q1, float *dx) {
    walk(p, g, group, q0, q1, 0, (int64_t)g->cin_g * p->k_h, NULL, NULL, col, dx);
}

/* The whole matrix is this call's output, so it must fit as a tensor. */
static ck_status check_block(const ck_conv2d *p, const void *a, const void *b, int32_t group, ck_conv_geom *g) {
    if (!p || !a || !b) return CK_ERR_NULL;
    ck_status s = ck_conv_geometry(p, g);
    if (s != CK_OK) return s;
    if (group < 0 || group >= p->groups) return CK_ERR_ARGUMENT;
    if (g->rows * g->cols >= CK_MAX_ELEMENTS) return CK_ERR_SIZE;
    return CK_OK;
}

ck_status ck_im2col(const ck_conv2d *p, const float *x, int32_t group, float *col) {
    ck_conv_geom g;
    ck_status s = check_block(p, x, col, group, &g);
    if (s == CK_OK) ck_im2col_cols(p, &g, x, group, 0, g.cols, col);
    return s;
}

ck_status ck_col2im(const ck_conv2d *p, const float *col, int32_t group, float *dx) {
    ck_conv_geom g;
    ck_status s = check_block(p, col, dx, group, &g);
    if (s == CK_OK) ck_col2im_cols(p, &g, col, group, 0, g.cols, dx);
    return s;
}
