/* depthwise.c: direct depthwise convolution, forward and backward-input.
 *
 * im2col + GEMM is a poor fit here: each channel is its own 1 x k_h*k_w by
 * k_h*k_w x hw product, far too thin for BLAS to pay off. The direct loops
 * go one output row (or block of rows) at a time with vector loops over
 * the output columns.
 *
 * Forward reads its input through a small ring of zero-padded row copies
 * on the stack (see `ring`): the padding is then real zeros, so every
 * output row is one branch-free loop over its full width, with no border
 * columns or rows to special-case (at 7 x 7, half the outputs touch the
 * padding). Backward splits each row into the interior, where no kernel
 * column reads padding, and a few border columns done one by one. */
#include <string.h>

#include "conv_internal.h"
#include "vec.h"

/* BLOCK: output rows a 3x3 kernel computes together. ACT_CHUNK: floats of
 * output activated per call, so the activation runs on data still in L1
 * without a call per short row. RING_FLOATS: the ring's stack buffer (16
 * KiB); a plane whose rows do not fit goes in vertical strips.
 * MAX_PHASES: the largest stride the ring handles; beyond it (or for a
 * kernel too large for the ring) a plain per-output loop takes over. */
enum { BLOCK = 4, ACT_CHUNK = 1024, RING_FLOATS = 4096, MAX_PHASES = 4 };

/* ---- the ring ---------------------------------------------------------------
 *
 * `span` slots, each a copy of one input row, input row ih in slot
 * (ih + pad_top) % span; span covers the input rows of BLOCK consecutive
 * output rows. A slot holds the columns a vertical strip of output
 * columns [o0, o0 + strip) reads: ring column j is input column x0 + j,
 * with x0 = o0 * stride_w - pad_left, and zero where that is outside the
 * image. The columns are split by stride into phases: phase f holds the
 * ring columns j = f (mod stride_w) at j / stride_w. Output column o0 + i
 * reads ring column i * stride + kw * dil for tap kw, which is phase
 * (kw * dil) % stride at i + (kw * dil) / stride: consecutive outputs read
 * consecutive floats for every stride and dilation, so one vector loop
 * serves all of them. */
typedef struct ring {
    float *buf;
    int64_t span, phase_len, row_len;   /* row_len = stride_w * phase_len */
    int64_t strip;                      /* output columns per strip */
    int64_t col3[3];                    /* a 3x3 kernel's columns within a row (see ring_col) */
    /* Set per strip: the input columns [from, from + count) that land in
     * a slot, and per phase the first of them, how many, and where they
     * go in the slot, so that loading a row needs no division. */
    int64_t from, count;
    int64_t first[MAX_PHASES], n_in[MAX_PHASES], at[MAX_PHASES];
} ring;

/* Where ring column `col` is in a slot. */
static inline int64_t ring_col(const ring *r, const ck_conv2d *p, int64_t col) {
    return col % p->stride_w * r->phase_len + col / p->stride_w;
}

/* Ring columns a strip of `outputs` columns reads: outputs are rounded up
 * to whole chunks of VEC (a row's last chunk may run past its end and is
 * then recomputed in place or buffered, but it reads its columns). */
static int64_t strip_cols(const ck_conv2d *p, int64_t outputs) {
    int64_t chunks = (outputs + VEC - 1) / VEC * VEC;
    return (chunks - 1) * p->stride_w + (int64_t)(p->k_w - 1) * p->dil_w + 1;
}

/* The ring's shape, or 0 when even one chunk's columns do not fit. */
static int ring_plan(const ck_conv2d *p, const ck_conv_geom *g, ring *r) {
    int64_t s = p->stride_w;
    r->span = (int64_t)(p->k_h - 1) * p->dil_h + 1 + (int64_t)(BLOCK - 1) * p->stride_h;
    if (s > MAX_PHASES) return 0;
    int64_t max_phase = RING_FLOATS / (r->span * s);                 /* floats per phase that fit */
    int64_t strip = g->w_out;
    if ((strip_cols(p, strip) + s - 1) / s > max_phase) {
        /* The widest strip of whole chunks that fits. */
        strip = ((max_phase * s - (int64_t)(p->k_w - 1) * p->dil_w - 1) / s + 1) / VEC * VEC;
        if (strip < VEC) return 0;
    }
    r->strip = strip;
    r->phase_len = (strip_cols(p, strip) + s - 1) / s;
    r->row_len = s * r->phase_len;
    for (int64_t k = 0; k < 3; k++) r->col3[k] = ring_col(r, p, k * p->dil_w);
    return 1;
}

/* Prepares the ring for the strip starting at output column o0: which
 * input columns to copy, and zeros everywhere else. */
static void ring_strip(ring *r, const ck_conv2d *p, int64_t o0) {
    int64_t s = p->stride_w, x0 = o0 * s - p->pad_left;
    int64_t end = x0 + r->row_len < p->w_in ? x0 + r->row_len : p->w_in;
    r->from = x0 > 0 ? x0 : 0;
    r->count = end > r->from ? end - r->from : 0;
    for (int64_t f = 0; f < s; f++) {
        int64_t first = r->from + ((f - (r->from - x0)) % s + s) % s;   /* ring column = f (mod s) */
        r->first[f] = first;
        r->n_in[f] = first < r->from + r->count ? (r->from + r->count - 1 - first) / s + 1 : 0;
        r->at[f] = f * r->phase_len + (first - x0) / s;
    }
    memset(r->buf, 0, (size_t)(r->span * r->row_len) * sizeof(float));
}

/* Copies input row ih into ring slot `slot` (zeros outside the image). */
static inline __attribute__((always_inline))
void ring_load(const ring *r, const ck_conv2d *p, const float *xp, int64_t ih, int64_t slot) {
    float *row = r->buf + slot * r->row_len;
    int64_t s = p->stride_w;
    if (ih < 0 || ih >= p->h_in) {
        memset(row, 0, (size_t)r->row_len * sizeof(float));
        return;
    }
    const float *x = xp + ih * p->w_in;
    if (s == 1) {
        copy_short(row + r->at[0], x + r->from, r->count);
    } else if (s == 2) {
        int a = r->first[0] == r->from ? 0 : 1;                      /* the phase of the first column */
        deinterleave2(x + r->from, r->count, row + r->at[a], row + r->at[1 - a]);
    } else {
        for (int64_t f = 0; f < s; f++) {
            float *restrict dst = row + r->at[f];
            const float *restrict src = x + r->first[f];
            for (int64_t k = 0; k < r->n_in[f]; k++) dst[k] = src[k * s];
        }
    }
}

/* ---- forward ------------------------------------------------------------ */

/* bias + the 3x3 taps for VEC consecutive outputs of R consecutive output
 * rows at vertical stride S: output row k reads ring rows rows[k * S + kh]
 * (kh = 0..2) at `at` + the kernel columns' offsets c[kw]. Going input row
 * by input row, each loaded vector serves every output row that uses it
 * (three of them at stride 1), so a block of rows needs far fewer loads per
 * multiply-add than one row; R and S are constants at every call, so this
 * unrolls into straight-line vector code with R accumulators. */
static inline __attribute__((always_inline))
void chunk3x3(float *y, int64_t y_row, const float *const *rows, int64_t at, int R, int S,
              const int64_t *c, const float *wk, float bias) {
    vf acc[BLOCK];
    for (int k = 0; k < R; k++) acc[k] = (vf){0} + bias;
    for (int j = 0; j < (R - 1) * S + 3; j++) {
        for (int kw = 0; kw < 3; kw++) {
            vf v = vload(rows[j] + at + c[kw]);
            for (int k = 0; k < R; k++) {
                int kh = j - k * S;
                if (kh >= 0 && kh < 3) acc[k] += wk[kh * 3 + kw] * v;
            }
        }
    }
    for (int k = 0; k < R; k++) vstore(y + k * y_row, acc[k]);
}

/* R output rows of a 3x3 kernel across the n columns of a strip. With at
 * least VEC columns the last chunk overlaps the one before (recomputing a
 * few outputs). A plane narrower than VEC has its rows one after another
 * in y, so a whole chunk stored per row spills into the start of the next
 * row, which is written after it; only when that would run past the end
 * of y (`room` floats from y on) does the block go through a buffer. */
static inline __attribute__((always_inline))
void rows3x3(float *y, int64_t y_row, int64_t n, int64_t room, const float *const *rows, int R, int S,
             const ring *r, const float *wk, float bias) {
    if (n < VEC && (R - 1) * y_row + VEC <= room) {
        chunk3x3(y, y_row, rows, 0, R, S, r->col3, wk, bias);
        return;
    }
    if (n < VEC) {
        float t[BLOCK * VEC];
        chunk3x3(t, VEC, rows, 0, R, S, r->col3, wk, bias);
        for (int k = 0; k < R; k++) copy_short(y + k * y_row, t + k * VEC, n);
        return;
    }
    for (int64_t i = 0;; i += VEC) {
        if (i > n - VEC) i = n - VEC;
        chunk3x3(y + i, y_row, rows, i, R, S, r->col3, wk, bias);
        if (i == n - VEC) break;
    }
}

/* y[i] += wv * x[i]: one tap of any other kernel. */
static inline __attribute__((always_inline))
void tap_forward(float *restrict y, const float *restrict x, float wv, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += wv * x[i];
}

/* One output plane, strip by strip, block of rows by block of rows. */
CK_MULTIVERSION
static void forward_plane(const ck_conv2d *p, const ck_conv_geom *g, ring *r, const float *xp,
                          const float *wk, float bias, const ck_activation *act, float *yp, const float *y_end) {
    int64_t w = g->w_out, sh = p->stride_h, dh = p->dil_h;
    int is3x3 = p->k_h == 3 && p->k_w == 3;
    /* Rows go in blocks where the rows a block shares are known at compile
     * time: 3x3, dilation 1, stride 1 or 2. */
    int block = is3x3 && dh == 1 && (sh == 1 || sh == 2) ? BLOCK : 1;
    for (int64_t o0 = 0; o0 < w; o0 += r->strip) {
        int64_t n = w - o0 < r->strip ? w - o0 : r->strip;
        if (r->strip < w) ring_strip(r, p, o0);                      /* one strip: set up once per call */
        int64_t next_ih = -(int64_t)p->pad_top;                       /* first input row not yet loaded */
        /* Slots are tracked incrementally: a division per row would cost
         * as much as a small row's arithmetic. */
        int64_t slot0 = 0, next_slot = 0;                             /* the slots of ih0 and next_ih */
        int32_t act_from = 0;                                         /* first row not yet activated */
        for (int32_t oh = 0; oh < g->h_out;) {
            /* Leftover rows at the bottom go in a pair, then singly. */
            int32_t step = oh + block <= g->h_out ? block : oh + 2 <= g->h_out && block > 1 ? 2 : 1;
            int64_t ih0 = (int64_t)oh * sh - p->pad_top;
            int64_t ih_end = ih0 + (step - 1) * sh + (p->k_h - 1) * dh + 1;
            if (next_ih < ih0) {                                      /* stride past the kernel: rows skipped */
                next_ih = ih0;
                next_slot = slot0;
            }
            for (; next_ih < ih_end; next_ih++) {
                ring_load(r, p, xp, next_ih, next_slot);
                next_slot = next_slot + 1 < r->span ? next_slot + 1 : 0;
            }
            float *yr = yp + oh * w + o0;
            if (is3x3 && dh == 1) {
                const float *rows[(BLOCK - 1) * 2 + 3];
                for (int64_t k = 0, slot = slot0; k < ih_end - ih0; k++, slot = slot + 1 < r->span ? slot + 1 : 0)
                    rows[k] = r->buf + slot * r->row_len;
                if (step == BLOCK && sh == 1) rows3x3(yr, w, n, y_end - yr, rows, BLOCK, 1, r, wk, bias);
                else if (step == BLOCK) rows3x3(yr, w, n, y_end - yr, rows, BLOCK, 2, r, wk, bias);
                else if (step == 2 && sh == 1) rows3x3(yr, w, n, y_end - yr, rows, 2, 1, r, wk, bias);
                else if (step == 2) rows3x3(yr, w, n, y_end - yr, rows, 2, 2, r, wk, bias);
                else rows3x3(yr, w, n, y_end - yr, rows, 1, 1, r, wk, bias);
            } else {
                for (int64_t i = 0; i < n; i++) yr[i] = bias;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const float *row = r->buf + (slot0 + kh * dh) % r->span * r->row_len;
                    for (int32_t kw = 0; kw < p->k_w; kw++)
                        tap_forward(yr, row + ring_col(r, p, (int64_t)kw * p->dil_w), wk[kh * p->k_w + kw], n);
                }
            }
            oh += step;
            for (slot0 += step * sh; slot0 >= r->span;) slot0 -= r->span;
            if (!act) continue;
            if (n == w) {
                /* Whole rows are contiguous: activate several at once. */
                if ((oh - act_from) * w >= ACT_CHUNK || oh == g->h_out) {
                    (void)ck_act_forward(act, yp + act_from * w, yp + act_from * w, (oh - act_from) * w);
                    act_from = oh;
                }
            } else {
                for (int32_t k = oh - step; k < oh; k++) (void)ck_act_forward(act, yp + k * w + o0, yp + k * w + o0, n);
            }
        }
    }
}

/* When the ring cannot serve (stride above MAX_PHASES, or a kernel too
 * large for it): every output on its own, with bounds tests. */
static void forward_plane_plain(const ck_conv2d *p, const ck_conv_geom *g, const float *xp, const float *wk,
                                float bias, const ck_activation *act, float *yp) {
    for (int32_t oh = 0; oh < g->h_out; oh++) {
        for (int32_t ow = 0; ow < g->w_out; ow++) {
            float acc = bias;
            for (int32_t kh = 0; kh < p->k_h; kh++) {
                int64_t ih = (int64_t)oh * p->stride_h - p->pad_top + (int64_t)kh * p->dil_h;
                if (ih < 0 || ih >= p->h_in) continue;
                for (int32_t kw = 0; kw < p->k_w; kw++) {
                    int64_t iw = (int64_t)ow * p->stride_w - p->pad_left + (int64_t)kw * p->dil_w;
                    if (iw >= 0 && iw < p->w_in) acc += wk[kh * p->k_w + kw] * xp[ih * p->w_in + iw];
                }
            }
            yp[(int64_t)oh * g->w_out + ow] = acc;
        }
        if (act) (void)ck_act_forward(act, yp + (int64_t)oh * g->w_out, yp + (int64_t)oh * g->w_out, g->w_out);
    }
}

void ck_depthwise_forward(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                          const float *bias, const ck_activation *act, float *y) {
    int32_t mult = p->c_out / p->c_in;
    int64_t hw_in = (int64_t)p->h_in * p->w_in, taps = (int64_t)p->k_h * p->k_w;
    float buf[RING_FLOATS];
    ring r;
    r.buf = buf;
    int use_ring = ring_plan(p, g, &r);
    if (use_ring && r.strip >= g->w_out) ring_strip(&r, p, 0);
    if (act && act->kind == CK_ACT_NONE) act = NULL;
    for (int32_t n = 0; n < p->n; n++) {
        for (int32_t co = 0; co < p->c_out; co++) {
            const float *xp = x + ((int64_t)n * p->c_in + co / mult) * hw_in;
            float b = bias ? bias[co] : 0.0f, *yp = y + ((int64_t)n * p->c_out + co) * g->cols;
            if (use_ring) forward_plane(p, g, &r, xp, w + co * taps, b, act, yp, y + (int64_t)p->n * p->c_out * g->cols);
            else forward_plane_plain(p, g, xp, w + co * taps, b, act, yp);
        }
    }
}

/* ---- backward ----------------------------------------------------------- */

/* The transpose of a tap, with the stride: dx[i * s] += wv * dy[i]. */
static inline __attribute__((always_inline))
void tap_backward(float *restrict dx, const float *restrict dy, float wv, int32_t n, int64_t s) {
    for (int32_t i = 0; i < n; i++) dx[i * s] += wv * dy[i];
}

/* The interior columns of backward: the kernel column with the most
 * negative offset (kw = 0) bounds them on the left, the last one on the
 * right. */
static void interior(const ck_conv2d *p, const ck_conv_geom *g, int32_t *ia, int32_t *ib) {
    int32_t lo, hi, lo_last, hi_last;
    ck_tap_range(-(int64_t)p->pad_left, p->stride_w, p->w_in, g->w_out, &lo, &hi);
    ck_tap_range((int64_t)(p->k_w - 1) * p->dil_w - p->pad_left, p->stride_w, p->w_in, g->w_out, &lo_last, &hi_last);
    *ia = lo;
    *ib = hi_last > lo ? hi_last : lo;
}

/* dx += the transpose of forward_plane (without bias and activation). */
CK_MULTIVERSION
static void backward_plane(const ck_conv2d *p, const ck_conv_geom *g, int32_t ia, int32_t ib,
                           const float *dyp, const float *wk, float *dxp) {
    int32_t sw = p->stride_w, n = ib - ia;
    int64_t dw = p->dil_w, x_ia = (int64_t)ia * sw - p->pad_left;
    for (int32_t oh = 0; oh < g->h_out; oh++) {
        const float *dyr = dyp + (int64_t)oh * g->w_out;
        for (int32_t kh = 0; kh < p->k_h; kh++) {
            int64_t ih = (int64_t)oh * p->stride_h - p->pad_top + (int64_t)kh * p->dil_h;
            if (ih < 0 || ih >= p->h_in) continue;
            float *dxr = dxp + ih * p->w_in;
            for (int32_t kw = 0; kw < p->k_w; kw++) {
                float wv = wk[kh * p->k_w + kw];
                if (n > 0) {
                    float *dx = dxr + x_ia + kw * dw;
                    if (sw == 1) tap_backward(dx, dyr + ia, wv, n, 1);
                    else tap_backward(dx, dyr + ia, wv, n, sw);
                }
                for (int32_t ow = 0; ow < g->w_out; ow++) {
                    if (ow == ia && n > 0) ow = ib;
                    if (ow >= g->w_out) break;
                    int64_t iw = (int64_t)ow * sw - p->pad_left + kw * dw;
                    if (iw >= 0 && iw < p->w_in) dxr[iw] += wv * dyr[ow];
                }
            }
        }
    }
}

void ck_depthwise_backward_input(const ck_conv2d *p, const ck_conv_geom *g, const float *w,
                                 const float *dy, float *dx) {
    int32_t mult = p->c_out / p->c_in, ia, ib;
    int64_t hw_in = (int64_t)p->h_in * p->w_in, taps = (int64_t)p->k_h * p->k_w;
    interior(p, g, &ia, &ib);
    for (int32_t n = 0; n < p->n; n++)
        for (int32_t co = 0; co < p->c_out; co++)
            backward_plane(p, g, ia, ib, dy + ((int64_t)n * p->c_out + co) * g->cols, w + co * taps,
                           dx + ((int64_t)n * p->c_in + co / mult) * hw_in);
}
