/* pool.c: windowed max / average pooling and global pooling, forward and backward.
 *
 * Window geometry is computed in int64_t: a window start oh * stride - pad
 * may be negative or, with large pads, lie wholly in the padding, and none of
 * that may overflow before it is clipped to the real input. */
#include <math.h>

#include "internal.h"
#include "team.h"
#include "vec.h"

/* One axis of ck_pool2d_output_size. */
static ck_status pool_axis(int32_t in, int32_t k, int32_t stride, int32_t dil,
                           int32_t pad_begin, int32_t pad_end, int32_t ceil_mode, int32_t *out) {
    if (in < 1 || k < 1 || stride < 1 || dil < 1 || pad_begin < 0 || pad_end < 0) return CK_ERR_SIZE;
    int64_t span = (int64_t)dil * (k - 1) + 1;
    int64_t room = (int64_t)in + pad_begin + pad_end - span;
    if (room < 0) return CK_ERR_SIZE;
    int64_t o = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
    /* No window may start in the end padding. o >= 2 here whenever it
     * triggers, because (0 * stride) < in + pad_begin always. */
    if (ceil_mode && (o - 1) * stride >= (int64_t)in + pad_begin) o--;
    if (o < 1 || o >= CK_MAX_ELEMENTS) return CK_ERR_SIZE;
    *out = (int32_t)o;
    return CK_OK;
}

/* Validates everything the kernels share and gives the output size; the
 * whole input and output tensors must stay under CK_MAX_ELEMENTS. */
static ck_status pool_geometry(const ck_pool2d *p, int32_t *ho, int32_t *wo) {
    if (p->ceil_mode != 0 && p->ceil_mode != 1) return CK_ERR_ARGUMENT;
    ck_status st = pool_axis(p->h_in, p->k_h, p->stride_h, p->dil_h, p->pad_top, p->pad_bottom, p->ceil_mode, ho);
    if (st != CK_OK) return st;
    st = pool_axis(p->w_in, p->k_w, p->stride_w, p->dil_w, p->pad_left, p->pad_right, p->ceil_mode, wo);
    if (st != CK_OK) return st;
    if (CK_ELEMS(p->n, p->c, p->h_in, p->w_in) < 0 || CK_ELEMS(p->n, p->c, *ho, *wo) < 0) return CK_ERR_SIZE;
    return CK_OK;
}

ck_status ck_pool2d_output_size(const ck_pool2d *p, int32_t *h_out, int32_t *w_out) {
    if (!p || !h_out || !w_out) return CK_ERR_NULL;
    int32_t ho, wo;
    ck_status st = pool_geometry(p, &ho, &wo);
    if (st != CK_OK) return st;
    *h_out = ho;
    *w_out = wo;
    return CK_OK;
}

/* The taps i in [*lo, *hi) of a dilated window starting at `start` that land
 * inside [0, in). Empty (lo >= hi) when the window lies wholly in padding. */
static void tap_range(int64_t start, int32_t k, int32_t dil, int32_t in, int32_t *lo, int32_t *hi) {
    int64_t l = start < 0 ? (-start + dil - 1) / dil : 0;
    int64_t h = start < in ? ((int64_t)in - start + dil - 1) / dil : 0;
    if (h > k) h = k;
    *lo = (int32_t)(l < k ? l : k);
    *hi = (int32_t)h;
}

/* ------------------------------------------------------------------------ */
/* Max pooling                                                               */
/* ------------------------------------------------------------------------ */

/* A window with no real sample (possible only when a pad reaches the kernel
 * span) yields -infinity and argmax -1: padding is -infinity, and no input
 * receives its gradient. */
/* The forward pass when no argmax is wanted (inference), separably: per
 * output row, the max over the window's rows into a row buffer (contiguous
 * rows, a branch-free max the compiler vectorizes), then the max over the
 * window's columns of that buffer, tap by tap over the output row. On
 * ResNet's stem pool (which now takes the loops of its own further down),
 * a branch per sample was 6 ms; tap by tap over all
 * k_h * k_w strided taps, 1 ms; this, about a sixth of that on two threads
 * (planes are split over them). Only the order of the taps differs from
 * the argmax loop below (rows first), and the rule is the same (a NaN
 * wins and stays; otherwise the maximum, which does not depend on the
 * order but for the sign of a zero), so the values are equal. */
enum { POOL_CHUNK = 64, POOL_SPAN_MAX = 1024 };

/* Input columns one chunk of POOL_CHUNK outputs reads at most; a
 * geometry over POOL_SPAN_MAX (huge strides or dilations) takes the
 * direct loop, whose buffer is the output row itself. */
static int64_t chunk_span(const ck_pool2d *p) {
    return (int64_t)(POOL_CHUNK - 1) * p->stride_w + (int64_t)(p->k_w - 1) * p->dil_w + 1;
}

static inline float max_nan(float v, float b) { return ((v > b) | (v != v)) ? v : b; }

/* The same on a plane known to hold no NaN: one vector max instead of two
 * compares, an or and a blend (ResNet's stem pool 0.38 -> 0.28 ms on one
 * thread, including the scan that proves a plane NaN-free). Equal to
 * max_nan whenever v is not NaN. */
static inline float max_plain(float v, float b) { return v > b ? v : b; }

static int has_nan(const float *x, int64_t n) {
    int any = 0;
    for (int64_t i = 0; i < n; i++) any |= x[i] != x[i];
    return any;
}

typedef struct maxpool_job {
    const ck_pool2d *p;
    const float *x;
    float *y;
    int32_t ho, wo;
} maxpool_job;

/* plain: the plane holds no NaN (max_plain). A constant at both call
 * sites, so each gets its own copy of the loops. */
static inline __attribute__((always_inline))
void maxpool_rows(const maxpool_job *j, const float *xp, float *yp, int32_t oh, int plain) {
    const ck_pool2d *p = j->p;
    float *yr = yp + (int64_t)oh * j->wo;
    const int64_t h0 = (int64_t)oh * p->stride_h - p->pad_top;
    int32_t ilo, ihi;
    tap_range(h0, p->k_h, p->dil_h, p->h_in, &ilo, &ihi);
    const int64_t s = p->stride_w;
    for (int32_t c0 = 0; c0 < j->wo; c0 += POOL_CHUNK) {
        const int32_t c1 = c0 + POOL_CHUNK < j->wo ? c0 + POOL_CHUNK : j->wo;
        /* Input columns [w_lo, w_hi) of this chunk's windows, clipped to the row. */
        int64_t w_lo = (int64_t)c0 * s - p->pad_left, w_hi = (int64_t)(c1 - 1) * s - p->pad_left + (int64_t)(p->k_w - 1) * p->dil_w + 1;
        if (w_lo < 0) w_lo = 0;
        if (w_hi > p->w_in) w_hi = p->w_in;
        float t[POOL_SPAN_MAX];
        const int64_t n = w_hi > w_lo ? w_hi - w_lo : 0;
        for (int64_t w = 0; w < n; w++) t[w] = -INFINITY;
        for (int32_t i = ilo; i < ihi; i++) {
            const float *row = xp + (h0 + (int64_t)i * p->dil_h) * p->w_in + w_lo;
            if (plain) for (int64_t w = 0; w < n; w++) t[w] = max_plain(row[w], t[w]);
            else for (int64_t w = 0; w < n; w++) t[w] = max_nan(row[w], t[w]);
        }
        for (int32_t ow = c0; ow < c1; ow++) yr[ow] = -INFINITY;
        if (ilo >= ihi) continue;
        /* Stride 2 (ResNet's and VGG's pools): t split into its even and odd
         * columns first, so that each tap reads a contiguous run and the
         * loop vectorizes; read with stride 2 it took two thirds of the pool. */
        float halves[2][POOL_SPAN_MAX / 2 + 1];
        if (s == 2) deinterleave2(t, n, halves[0], halves[1]);
        for (int32_t k = 0; k < p->k_w; k++) {
            /* Outputs of the chunk whose tap k lands inside the row: w = ow * s - pad + k * dil in [w_lo, w_hi). */
            const int64_t off = (int64_t)k * p->dil_w - p->pad_left;
            int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
            int64_t hi = p->w_in - 1 - off < 0 ? 0 : (p->w_in - 1 - off) / s + 1;
            if (lo < c0) lo = c0;
            if (hi > c1) hi = c1;
            const int64_t shift = off - w_lo;   /* t's index of tap k for output ow: ow * s + shift >= 0 */
            if (s == 2) {
                /* ow * 2 + shift is column ow + shift / 2 (rounded down) of the half shift & 1. */
                const int64_t odd = shift & 1, at = (shift - odd) / 2;
                const float *h = halves[odd];
                if (plain) for (int64_t ow = lo; ow < hi; ow++) yr[ow] = max_plain(h[ow + at], yr[ow]);
                else for (int64_t ow = lo; ow < hi; ow++) yr[ow] = max_nan(h[ow + at], yr[ow]);
            } else {
                if (plain) for (int64_t ow = lo; ow < hi; ow++) yr[ow] = max_plain(t[ow * s + shift], yr[ow]);
                else for (int64_t ow = lo; ow < hi; ow++) yr[ow] = max_nan(t[ow * s + shift], yr[ow]);
            }
        }
    }
}

/* The whole window tap by tap into the output row: any geometry. */
static void maxpool_direct_row(const maxpool_job *j, const float *xp, float *yp, int32_t oh) {
    const ck_pool2d *p = j->p;
    float *yr = yp + (int64_t)oh * j->wo;
    for (int32_t ow = 0; ow < j->wo; ow++) yr[ow] = -INFINITY;
    const int64_t h0 = (int64_t)oh * p->stride_h - p->pad_top;
    int32_t ilo, ihi;
    tap_range(h0, p->k_h, p->dil_h, p->h_in, &ilo, &ihi);
    for (int32_t i = ilo; i < ihi; i++) {
        const float *row = xp + (h0 + (int64_t)i * p->dil_h) * p->w_in;
        for (int32_t k = 0; k < p->k_w; k++) {
            const int64_t off = (int64_t)k * p->dil_w - p->pad_left, s = p->stride_w;
            int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
            int64_t hi = p->w_in - 1 - off < 0 ? 0 : (p->w_in - 1 - off) / s + 1;
            if (hi > j->wo) hi = j->wo;
            for (int64_t ow = lo; ow < hi; ow++) yr[ow] = max_nan(row[ow * s + off], yr[ow]);
        }
    }
}

/* ---- ResNet's pool: 3x3, stride 2, pad 1 ---------------------------------
 *
 * The separable loops above serve any window, and pay for it: per output
 * row the span and tap bounds, three passes over the row with scalar
 * tails, and a NaN scan of the whole plane first (on ResNet's stem pool,
 * 4.3 us a 112 x 112 plane on one thread, about 13,000 cycles for 3,136
 * outputs). For this one window, each output row is the max of input
 * rows 2oh - 1, 2oh and 2oh + 1 into a buffer whose first float is the
 * left padding; that buffer split into even and odd floats e and o; and
 * y[ow] = max(e[ow], o[ow], e[ow + 1]).
 *
 * NaN: rows 2oh and 2oh + 1 over all oh are every row any window reads,
 * once each, so their running sum, a NaN if any of them holds one, takes
 * the place of the scan. A NaN (or +inf meeting -inf) sends the plane to
 * the careful loops, which redo it.
 *
 * End pads up to 2 keep every window at least one real row (its first
 * row, 2oh - 1, is then below h_in) and the row buffer within
 * POOL3_MAX_W + 5 floats; larger ones take the general loops. */
enum { POOL3_MAX_W = 2048 };

static int is_pool3s2(const ck_pool2d *p) {
    return p->k_h == 3 && p->k_w == 3 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 && p->dil_w == 1 &&
           p->pad_top == 1 && p->pad_left == 1 && p->pad_bottom <= 2 && p->pad_right <= 2 && p->w_in <= POOL3_MAX_W;
}

/* out[w] = the max of rows[0..nrows)[w] for w < n; rows from sum_from on
 * are also added into *sum. nrows and sum_from are constants at the call
 * for a plane's inner rows, so that loop is straight-line code. */
static inline __attribute__((always_inline))
void column_max(const float *const *rows, int nrows, int sum_from, int64_t n, float *out, vf *sum) {
    int64_t w = 0;
    vf acc = *sum;
    for (; w + VEC <= n; w += VEC) {
        vf m = vload(rows[0] + w);
        if (sum_from == 0) acc += m;
        for (int k = 1; k < nrows; k++) {
            const vf r = vload(rows[k] + w);
            if (k >= sum_from) acc += r;
            m = vmax(r, m);
        }
        vstore(out + w, m);
    }
    for (; w < n; w++) {
        float m = rows[0][w];
        if (sum_from == 0) acc[0] += m;
        for (int k = 1; k < nrows; k++) {
            if (k >= sum_from) acc[0] += rows[k][w];
            m = max_plain(rows[k][w], m);
        }
        out[w] = m;
    }
    *sum = acc;
}

/* The plane, or 0 (with y partly written) when it may hold a NaN. */
static inline __attribute__((always_inline))
int maxpool3s2_plane(const ck_pool2d *p, const float *xp, float *yp, int32_t ho, int32_t wo) {
    /* v[0] is the left padding, v[1 + w] the column max of input column w,
     * and -inf past the row up to 2 * wo + 1 floats (the last output reads
     * v[2 * wo]), rounded up to whole pairs of vectors for the split. */
    enum { ROOM = POOL3_MAX_W + 4 * VEC };
    float v[ROOM], e[ROOM / 2 + VEC], o[ROOM / 2 + VEC];
    const int64_t w_in = p->w_in, used = 2 * (int64_t)wo + 1 > 1 + w_in ? 2 * (int64_t)wo + 1 : 1 + w_in;
    const int64_t len = (used + 2 * VEC - 1) / (2 * VEC) * (2 * VEC);
    for (int64_t i = 0; i < len; i++) v[i] = -INFINITY;
    vf sum = {0};
    for (int32_t oh = 0; oh < ho; oh++) {
        const int64_t top = 2 * (int64_t)oh - 1;
        const float *rows[3];
        int nrows = 0;
        for (int64_t r = top < 0 ? 0 : top; r <= top + 2 && r < p->h_in; r++) rows[nrows++] = xp + r * w_in;
        /* Rows 2oh and 2oh + 1 are the last one or two of rows[]: top + 1 and top + 2. */
        const int sum_from = top + 1 < p->h_in ? nrows - (top + 2 < p->h_in ? 2 : 1) : nrows;
        if (nrows == 3 && sum_from == 1) column_max(rows, 3, 1, w_in, v + 1, &sum);   /* all rows but the first and last */
        else column_max(rows, nrows, sum_from, w_in, v + 1, &sum);
        deinterleave2(v, len, e, o);
        float *yr = yp + (int64_t)oh * wo;
        int32_t ow = 0;
        for (; ow + VEC <= wo; ow += VEC)
            vstore(yr + ow, vmax(vload(e + ow + 1), vmax(vload(o + ow), vload(e + ow))));
        for (; ow < wo; ow++) yr[ow] = max_plain(e[ow + 1], max_plain(o[ow], e[ow]));
    }
    float total = 0.0f;
    for (int i = 0; i < VEC; i++) total += sum[i];
    return total == total;
}

CK_MULTIVERSION static void maxpool_items(void *ctx, int64_t begin, int64_t end) {
    const maxpool_job *j = ctx;
    const int64_t in_plane = (int64_t)j->p->h_in * j->p->w_in, out_plane = (int64_t)j->ho * j->wo;
    const int separable = chunk_span(j->p) <= POOL_SPAN_MAX, pool3 = is_pool3s2(j->p);
    for (int64_t pl = begin; pl < end; pl++) {
        const float *xp = j->x + pl * in_plane;
        float *yp = j->y + pl * out_plane;
        if (pool3 && maxpool3s2_plane(j->p, xp, yp, j->ho, j->wo)) continue;
        if (!separable) {
            for (int32_t oh = 0; oh < j->ho; oh++) maxpool_direct_row(j, xp, yp, oh);
        } else if (!has_nan(xp, in_plane)) {
            for (int32_t oh = 0; oh < j->ho; oh++) maxpool_rows(j, xp, yp, oh, 1);
        } else {
            for (int32_t oh = 0; oh < j->ho; oh++) maxpool_rows(j, xp, yp, oh, 0);
        }
    }
}

/* Below this many window taps, one thread. */
enum { POOL_PAR_TAPS = 1 << 16 };

static void maxpool_values(const ck_pool2d *p, const float *x, float *y, int64_t planes, int32_t ho, int32_t wo) {
    maxpool_job j = {p, x, y, ho, wo};
    const int64_t taps = planes * ho * wo * p->k_h * p->k_w;
    ck_parallel_for(maxpool_items, &j, planes, taps < POOL_PAR_TAPS ? 1 : ck_threads());
}

ck_status ck_maxpool2d_forward(const ck_pool2d *p, const float *x, float *y, int32_t *argmax) {
    if (!p || !x || !y) return CK_ERR_NULL;
    int32_t ho, wo;
    ck_status st = pool_geometry(p, &ho, &wo);
    if (st != CK_OK) return st;
    const int64_t planes = (int64_t)p->n * p->c, in_plane = (int64_t)p->h_in * p->w_in;
    const int64_t out_plane = (int64_t)ho * wo;
    if (!argmax) {
        maxpool_values(p, x, y, planes, ho, wo);
        return CK_OK;
    }
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        float *yp = y + pl * out_plane;
        int32_t *ap = argmax + pl * out_plane;
        for (int32_t oh = 0; oh < ho; oh++) {
            const int64_t h0 = (int64_t)oh * p->stride_h - p->pad_top;
            int32_t ilo, ihi;
            tap_range(h0, p->k_h, p->dil_h, p->h_in, &ilo, &ihi);
            for (int32_t ow = 0; ow < wo; ow++) {
                const int64_t w0 = (int64_t)ow * p->stride_w - p->pad_left;
                int32_t jlo, jhi;
                tap_range(w0, p->k_w, p->dil_w, p->w_in, &jlo, &jhi);
                float best = -INFINITY;
                int32_t idx = -1;
                if (ilo < ihi && jlo < jhi)   /* an all -inf window picks its first real sample, as PyTorch */
                    idx = (int32_t)((h0 + (int64_t)ilo * p->dil_h) * p->w_in + w0 + (int64_t)jlo * p->dil_w);
                for (int32_t i = ilo; i < ihi; i++) {
                    const int64_t h = h0 + (int64_t)i * p->dil_h;
                    const float *row = xp + h * p->w_in;
                    for (int32_t j = jlo; j < jhi; j++) {
                        const int64_t w = w0 + (int64_t)j * p->dil_w;
                        const float v = row[w];
                        /* Strict > keeps the first maximum; the NaN clause lets a
                         * NaN win once and then stay (nothing compares above NaN). */
                        if (v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            idx = (int32_t)(h * p->w_in + w);
                        }
                    }
                }
                yp[(int64_t)oh * wo + ow] = best;
                ap[(int64_t)oh * wo + ow] = idx;
            }
        }
    }
    return CK_OK;
}

/* argmax is checked in full before dx is touched, so a bad index leaves dx
 * as it was. -1 (a window of padding only) contributes nothing. */
ck_status ck_maxpool2d_backward(const ck_pool2d *p, const int32_t *argmax, const float *dy, float *dx) {
    if (!p || !argmax || !dy || !dx) return CK_ERR_NULL;
    int32_t ho, wo;
    ck_status st = pool_geometry(p, &ho, &wo);
    if (st != CK_OK) return st;
    const int64_t planes = (int64_t)p->n * p->c, in_plane = (int64_t)p->h_in * p->w_in;
    const int64_t out_plane = (int64_t)ho * wo, total = planes * out_plane;
    for (int64_t i = 0; i < total; i++)
        if (argmax[i] < -1 || argmax[i] >= in_plane) return CK_ERR_ARGUMENT;
    for (int64_t pl = 0; pl < planes; pl++) {
        const int32_t *ap = argmax + pl * out_plane;
        const float *gp = dy + pl * out_plane;
        float *dp = dx + pl * in_plane;
        for (int64_t o = 0; o < out_plane; o++)
            if (ap[o] >= 0) dp[ap[o]] += gp[o];
    }
    return CK_OK;
}

/* ------------------------------------------------------------------------ */
/* Average pooling                                                           */
/* ------------------------------------------------------------------------ */

/* One axis of an average-pooling window, as PyTorch's avg_pool2d computes
 * it: the window is first clipped to the padded input (that length is the
 * count_include_pad divisor), then to the real input [lo, hi). */
typedef struct { int64_t padded_len, lo, hi; } avg_axis;

static avg_axis avg_window(int64_t start, int32_t k, int32_t in, int32_t pad_end) {
    avg_axis a;
    int64_t end = start + k < (int64_t)in + pad_end ? start + k : (int64_t)in + pad_end;
    a.padded_len = end - start;
    a.lo = start > 0 ? start : 0;
    a.hi = end < in ? end : in;
    return a;
}

static ck_status avg_check(const ck_pool2d *p, int32_t *ho, int32_t *wo) {
    if (p->dil_h != 1 || p->dil_w != 1) return CK_ERR_ARGUMENT;
    if (p->count_include_pad != 0 && p->count_include_pad != 1) return CK_ERR_ARGUMENT;
    return pool_geometry(p, ho, wo);
}

/* Divisor of one window; 0 when it holds no real sample (output 0 and no
 * gradient then, as PyTorch's CPU kernel does). */
static int64_t avg_divisor(const ck_pool2d *p, avg_axis ah, avg_axis aw) {
    if (ah.lo >= ah.hi || aw.lo >= aw.hi) return 0;
    return p->count_include_pad ? ah.padded_len * aw.padded_len : (ah.hi - ah.lo) * (aw.hi - aw.lo);
}

ck_status ck_avgpool2d_forward(const ck_pool2d *p, const float *x, float *y) {
    if (!p || !x || !y) return CK_ERR_NULL;
    int32_t ho, wo;
    ck_status st = avg_check(p, &ho, &wo);
    if (st != CK_OK) return st;
    const int64_t planes = (int64_t)p->n * p->c, in_plane = (int64_t)p->h_in * p->w_in;
    const int64_t out_plane = (int64_t)ho * wo;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        float *yp = y + pl * out_plane;
        for (int32_t oh = 0; oh < ho; oh++) {
            avg_axis ah = avg_window((int64_t)oh * p->stride_h - p->pad_top, p->k_h, p->h_in, p->pad_bottom);
            for (int32_t ow = 0; ow < wo; ow++) {
                avg_axis aw = avg_window((int64_t)ow * p->stride_w - p->pad_left, p->k_w, p->w_in, p->pad_right);
                int64_t div = avg_divisor(p, ah, aw);
                float sum = 0.0f;
                for (int64_t h = ah.lo; h < ah.hi && div; h++)
                    for (int64_t w = aw.lo; w < aw.hi; w++) sum += xp[h * p->w_in + w];
                yp[(int64_t)oh * wo + ow] = div ? sum / (float)div : 0.0f;
            }
        }
    }
    return CK_OK;
}

ck_status ck_avgpool2d_backward(const ck_pool2d *p, const float *dy, float *dx) {
    if (!p || !dy || !dx) return CK_ERR_NULL;
    int32_t ho, wo;
    ck_status st = avg_check(p, &ho, &wo);
    if (st != CK_OK) return st;
    const int64_t planes = (int64_t)p->n * p->c, in_plane = (int64_t)p->h_in * p->w_in;
    const int64_t out_plane = (int64_t)ho * wo;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = dy + pl * out_plane;
        float *dp = dx + pl * in_plane;
        for (int32_t oh = 0; oh < ho; oh++) {
            avg_axis ah = avg_window((int64_t)oh * p->stride_h - p->pad_top, p->k_h, p->h_in, p->pad_bottom);
            for (int32_t ow = 0; ow < wo; ow++) {
                avg_axis aw = avg_window((int64_t)ow * p->stride_w - p->pad_left, p->k_w, p->w_in, p->pad_right);
                int64_t div = avg_divisor(p, ah, aw);
                if (!div) continue;
                const float g = gp[(int64_t)oh * wo + ow] / (float)div;
                for (int64_t h = ah.lo; h < ah.hi; h++)
                    for (int64_t w = aw.lo; w < aw.hi; w++) dp[h * p->w_in + w] += g;
            }
        }
    }
    return CK_OK;
}

/* ------------------------------------------------------------------------ */
/* Global pooling                                                            */
/* ------------------------------------------------------------------------ */

/* The mean is accumulated in double: planes can be large (a whole feature
 * map) and a float running sum would lose digits the CAM weights need.
 * Eight running sums, not one: a single chain of dependent adds made
 * MobileNetV2's 1280 x 49 pooling 4x slower than onnxruntime's. */
CK_MULTIVERSION
static double plane_sum(const float *x, int32_t n) {
    double s[8] = {0};
    int32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) s[k] += x[j + k];
    for (; j < n; j++) s[0] += x[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

ck_status ck_global_avgpool_forward(const float *x, float *y, int32_t planes, int32_t hw) {
    if (!x || !y) return CK_ERR_NULL;
    if (CK_ELEMS(planes, hw) < 0) return CK_ERR_SIZE;
    for (int64_t i = 0; i < planes; i++) y[i] = (float)(plane_sum(x + i * hw, hw) / hw);
    return CK_OK;
}

ck_status ck_global_avgpool_backward(const float *dy, float *dx, int32_t planes, int32_t hw) {
    if (!dy || !dx) return CK_ERR_NULL;
    if (CK_ELEMS(planes, hw) < 0) return CK_ERR_SIZE;
    for (int64_t i = 0; i < planes; i++) {
        const float g = dy[i] / (float)hw;
        float *dp = dx + i * hw;
        for (int32_t j = 0; j < hw; j++) dp[j] += g;
    }
    return CK_OK;
}

/* First maximum; the first NaN wins, as in ck_maxpool2d_forward. */
ck_status ck_global_maxpool_forward(const float *x, float *y, int32_t *argmax, int32_t planes, int32_t hw) {
    if (!x || !y) return CK_ERR_NULL;
    if (CK_ELEMS(planes, hw) < 0) return CK_ERR_SIZE;
    for (int64_t i = 0; i < planes; i++) {
        const float *xp = x + i * hw;
        float best = xp[0];
        int32_t idx = 0;
        for (int32_t j = 1; j < hw; j++) {
            const float v = xp[j];
            if (v > best || (isnan(v) && !isnan(best))) { best = v; idx = j; }
        }
        y[i] = best;
        if (argmax) argmax[i] = idx;
    }
    return CK_OK;
}

ck_status ck_global_maxpool_backward(const int32_t *argmax, const float *dy, float *dx, int32_t planes, int32_t hw) {
    if (!argmax || !dy || !dx) return CK_ERR_NULL;
    if (CK_ELEMS(planes, hw) < 0) return CK_ERR_SIZE;
    for (int64_t i = 0; i < planes; i++)
        if (argmax[i] < 0 || argmax[i] >= hw) return CK_ERR_ARGUMENT;
    for (int64_t i = 0; i < planes; i++) dx[i * hw + argmax[i]] += dy[i];
    return CK_OK;
}
