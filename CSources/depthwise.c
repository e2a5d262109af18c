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
#include <math.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
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
 * serves all of them.
 *
 * Each phase has phase_room >= phase_len + VEC - 1 floats, a multiple of
 * VEC, and starts `shift` floats into them, chosen per strip so that the
 * first float a row load stores into it is VEC-aligned (the buffer is):
 * a vector store that straddles two cache lines is slow on Zen 4, and
 * with the left padding every store of a row load did, which cost a
 * third of a stride-2 layer. Loads may straddle; they are cheap. */
typedef struct ring {
    float *buf;
    int64_t span, phase_len, phase_room, row_len;   /* row_len = stride_w * phase_room */
    int64_t strip;                      /* output columns per strip */
    /* Set per strip: where each phase's ring column 0 is in a slot, and
     * a 3x3 kernel's columns (see ring_col); the input columns [from,
     * from + count) that land in a slot, and per phase the first of them,
     * how many, and where they go, so that loading a row needs no
     * division. */
    int64_t base[MAX_PHASES], col3[3];
    int64_t from, count;
    int64_t first[MAX_PHASES], n_in[MAX_PHASES], at[MAX_PHASES];
} ring;

/* Where ring column `col` is in a slot. */
static inline int64_t ring_col(const ring *r, const ck_conv2d *p, int64_t col) {
    return r->base[col % p->stride_w] + col / p->stride_w;
}

/* Ring columns a strip of `outputs` columns reads: outputs are rounded up
 * to whole chunks of VEC (a row's last chunk may run past its end and is
 * then recomputed in place or buffered, but it reads its columns). */
static int64_t strip_cols(const ck_conv2d *p, int64_t outputs) {
    int64_t chunks = (outputs + VEC - 1) / VEC * VEC;
    return (chunks - 1) * p->stride_w + (int64_t)(p->k_w - 1) * p->dil_w + 1;
}

/* The ring's shape for `span` slots of at most `slot_floats` floats each,
 * or 0 when even one chunk's columns do not fit. Slots are row_len =
 * slot_floats apart when `fixed` (see plane3x3), else as close as the
 * phases allow. */
static int ring_plan(const ck_conv2d *p, const ck_conv_geom *g, ring *r, int64_t span, int64_t slot_floats,
                     int fixed) {
    int64_t s = p->stride_w;
    r->span = span;
    if (s > MAX_PHASES) return 0;
    /* The longest phase whose room fits. */
    int64_t max_phase = slot_floats / s / VEC * VEC - (VEC - 1);
    if (max_phase < 1) return 0;
    int64_t strip = g->w_out;
    if ((strip_cols(p, strip) + s - 1) / s > max_phase) {
        /* The widest strip of whole chunks that fits. */
        strip = ((max_phase * s - (int64_t)(p->k_w - 1) * p->dil_w - 1) / s + 1) / VEC * VEC;
        if (strip < VEC) return 0;
    }
    r->strip = strip;
    r->phase_len = (strip_cols(p, strip) + s - 1) / s;
    r->phase_room = (r->phase_len + 2 * VEC - 2) / VEC * VEC;
    r->row_len = fixed ? slot_floats : s * r->phase_room;
    return 1;
}

/* Prepares the ring for the strip starting at output column o0: which
 * input columns to copy, and zeros everywhere else. */
static void ring_strip(ring *r, const ck_conv2d *p, int64_t o0) {
    int64_t s = p->stride_w, x0 = o0 * s - p->pad_left, cols = s * r->phase_len;
    int64_t end = x0 + cols < p->w_in ? x0 + cols : p->w_in;
    r->from = x0 > 0 ? x0 : 0;
    r->count = end > r->from ? end - r->from : 0;
    for (int64_t f = 0; f < s; f++) {
        int64_t first = r->from + ((f - (r->from - x0)) % s + s) % s;   /* ring column = f (mod s) */
        int64_t skip = (first - x0) / s;                                 /* phase f's padding before it */
        r->first[f] = first;
        r->n_in[f] = first < r->from + r->count ? (r->from + r->count - 1 - first) / s + 1 : 0;
        r->base[f] = f * r->phase_room + (VEC - skip % VEC) % VEC;
        r->at[f] = r->base[f] + skip;
    }
    for (int64_t k = 0; k < 3; k++) r->col3[k] = ring_col(r, p, k * p->dil_w);
    memset(r->buf, 0, (size_t)(r->span * r->row_len) * sizeof(float));
}

/* Copies input row ih into the ring slot at `row` (zeros outside the
 * image). */
static inline __attribute__((always_inline))
void ring_load_row(const ring *r, const ck_conv2d *p, const float *xp, int64_t ih, float *row) {
    int64_t s = p->stride_w;
    if (ih < 0 || ih >= p->h_in) {
        memset(row, 0, (size_t)(s * r->phase_room) * sizeof(float));
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

/* The same into slot `slot` of the general ring. */
static inline __attribute__((always_inline))
void ring_load(const ring *r, const ck_conv2d *p, const float *xp, int64_t ih, int64_t slot) {
    ring_load_row(r, p, xp, ih, r->buf + slot * r->row_len);
}

/* ---- forward ------------------------------------------------------------ */

/* The activations that are a clamp, min(max(v, lo), hi) (ReLU, Clip and
 * so ReLU6), are applied in the vector registers before the store
 * (clamp_v, ck_clamp_of) instead of in a second pass over y, which had
 * cost a sixth of a layer. */

/* Where a 3x3 chunk finds input row j, kernel column kw: `src` is either
 * the row pointers (the general ring: rows[j] + c[kw]) or, with FAST,
 * one pointer per kernel column (the 3x3 path: cols[kw] + j * ROW3, every
 * row a constant offset from one base; see plane3x3). */
enum { ROW3 = 136 };

static inline __attribute__((always_inline))
const float *tap_src(const float *const *src, const int64_t *c, int FAST, int j, int kw) {
    return FAST ? src[kw] + j * ROW3 : src[j] + c[kw];
}

/* bias + the 3x3 taps for P chunks of VEC consecutive outputs (P = 1 or
 * 2, the second right after the first) of R consecutive output rows at
 * vertical stride S: output row k reads input rows k * S + kh (kh = 0..2)
 * at `at` + the kernel columns' offsets. Going input row by input row,
 * each loaded vector serves every output row that uses it (three of them
 * at stride 1), so a block of rows needs far fewer loads per multiply-add
 * than one row; R, S, P and FAST are constants at every call, so this
 * unrolls into straight-line vector code with R * P accumulators. Each
 * accumulator is a chain of nine dependent multiply-adds, so with R = 4
 * and one chunk at most four are in flight, half of what the FMA units
 * take; two chunks side by side keep eight going. CLAMP (also a constant)
 * clamps them to [lo, hi] before the store. */
static inline __attribute__((always_inline))
void chunk3x3(float *y, int64_t y_row, const float *const *src, const int64_t *c, int FAST, int64_t at,
              int R, int S, int P, const float *wk, float bias, int CLAMP, float lo, float hi) {
    vf acc[BLOCK][2];
    for (int k = 0; k < R; k++)
        for (int q = 0; q < P; q++) acc[k][q] = (vf){0} + bias;
    /* Past clang's own unrolling threshold; the accumulators must stay in
     * registers, which takes every loop unrolled. */
#pragma clang loop unroll(full)
    for (int j = 0; j < (R - 1) * S + 3; j++) {
#pragma clang loop unroll(full)
        for (int kw = 0; kw < 3; kw++) {
#pragma clang loop unroll(full)
            for (int q = 0; q < P; q++) {
                vf v = vload(tap_src(src, c, FAST, j, kw) + (at + q * VEC));
#pragma clang loop unroll(full)
                for (int k = 0; k < R; k++) {
                    int kh = j - k * S;
                    if (kh >= 0 && kh < 3) acc[k][q] += wk[kh * 3 + kw] * v;
                }
            }
        }
    }
    for (int k = 0; k < R; k++)
        for (int q = 0; q < P; q++) {
            if (CLAMP) acc[k][q] = clamp_v(acc[k][q], (vf){0} + lo, (vf){0} + hi);
            vstore(y + k * y_row + q * VEC, acc[k][q]);
        }
}

/* R output rows of a 3x3 kernel across the n columns of a strip. With at
 * least VEC columns the last chunk overlaps the one before (recomputing a
 * few outputs). A plane narrower than VEC has its rows one after another
 * in y, so a whole chunk stored per row spills into the start of the next
 * row, which is written after it; only when that would run past the end
 * of y (`room` floats from y on) does the block go through a buffer. */
static inline __attribute__((always_inline))
void rows3x3(float *y, int64_t y_row, int64_t n, int64_t room, const float *const *src, const int64_t *c,
             int FAST, int R, int S, const float *wk, float bias, int CLAMP, float lo, float hi) {
    if (n < VEC && (R - 1) * y_row + VEC <= room) {
        chunk3x3(y, y_row, src, c, FAST, 0, R, S, 1, wk, bias, CLAMP, lo, hi);
        return;
    }
    if (n < VEC) {
        float t[BLOCK * VEC];
        chunk3x3(t, VEC, src, c, FAST, 0, R, S, 1, wk, bias, CLAMP, lo, hi);
        for (int k = 0; k < R; k++) copy_short(y + k * y_row, t + k * VEC, n);
        return;
    }
    if (n < 2 * VEC) {
        chunk3x3(y, y_row, src, c, FAST, 0, R, S, 1, wk, bias, CLAMP, lo, hi);
        chunk3x3(y + (n - VEC), y_row, src, c, FAST, n - VEC, R, S, 1, wk, bias, CLAMP, lo, hi);
        return;
    }
    /* Pairs of chunks; what is left after them is one more chunk if it
     * fits in one, else one more pair, overlapping the one before. */
    for (int64_t i = 0;;) {
        chunk3x3(y + i, y_row, src, c, FAST, i, R, S, 2, wk, bias, CLAMP, lo, hi);
        i += 2 * VEC;
        if (i >= n) break;
        if (n - i <= VEC) {
            chunk3x3(y + (n - VEC), y_row, src, c, FAST, n - VEC, R, S, 1, wk, bias, CLAMP, lo, hi);
            break;
        }
        if (i > n - 2 * VEC) i = n - 2 * VEC;
    }
}

/* y[i] += wv * x[i]: one tap of any other kernel. */
static inline __attribute__((always_inline))
void tap_forward(float *restrict y, const float *restrict x, float wv, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += wv * x[i];
}

/* One output plane, strip by strip, a row at a time: any kernel, stride
 * and dilation the ring takes. */
CK_MULTIVERSION
static void forward_plane(const ck_conv2d *p, const ck_conv_geom *g, ring *r, const float *xp, const float *wk,
                          float bias, const ck_activation *act, float *yp, const float *y_end) {
    int64_t w = g->w_out, sh = p->stride_h, dh = p->dil_h;
    int is3x3 = p->k_h == 3 && p->k_w == 3 && dh == 1;
    for (int64_t o0 = 0; o0 < w; o0 += r->strip) {
        int64_t n = w - o0 < r->strip ? w - o0 : r->strip;
        if (r->strip < w) ring_strip(r, p, o0);                      /* one strip: set up once per call */
        int64_t next_ih = -(int64_t)p->pad_top;                       /* first input row not yet loaded */
        /* Slots are tracked incrementally: a division per row would cost
         * as much as a small row's arithmetic. */
        int64_t slot0 = 0, next_slot = 0;                             /* the slots of ih0 and next_ih */
        int32_t act_from = 0;                                         /* first row not yet activated */
        for (int32_t oh = 0; oh < g->h_out; oh++) {
            int64_t ih0 = (int64_t)oh * sh - p->pad_top;
            int64_t ih_end = ih0 + (p->k_h - 1) * dh + 1;
            if (next_ih < ih0) {                                      /* stride past the kernel: rows skipped */
                next_ih = ih0;
                next_slot = slot0;
            }
            for (; next_ih < ih_end; next_ih++) {
                ring_load(r, p, xp, next_ih, next_slot);
                next_slot = next_slot + 1 < r->span ? next_slot + 1 : 0;
            }
            float *yr = yp + oh * w + o0;
            if (is3x3) {
                const float *rows[3];
                for (int64_t k = 0, slot = slot0; k < 3; k++, slot = slot + 1 < r->span ? slot + 1 : 0)
                    rows[k] = r->buf + slot * r->row_len;
                rows3x3(yr, w, n, y_end - yr, rows, r->col3, 0, 1, 1, wk, bias, 0, 0, 0);
            } else {
                for (int64_t i = 0; i < n; i++) yr[i] = bias;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const float *row = r->buf + (slot0 + kh * dh) % r->span * r->row_len;
                    for (int32_t kw = 0; kw < p->k_w; kw++)
                        tap_forward(yr, row + ring_col(r, p, (int64_t)kw * p->dil_w), wk[kh * p->k_w + kw], n);
                }
            }
            for (slot0 += sh; slot0 >= r->span;) slot0 -= r->span;
            if (!act) continue;
            if (n == w) {
                /* Whole rows are contiguous: activate several at once. */
                if ((oh + 1 - act_from) * w >= ACT_CHUNK || oh + 1 == g->h_out) {
                    (void)ck_act_forward(act, yp + act_from * w, yp + act_from * w, (oh + 1 - act_from) * w);
                    act_from = oh + 1;
                }
            } else {
                (void)ck_act_forward(act, yr, yr, n);
            }
        }
    }
}

/* ---- the 3x3 path -------------------------------------------------------
 *
 * A 3x3 kernel with dilation 1 and vertical stride S = 1 or 2 (MobileNet's
 * depthwise layers) goes in blocks of BLOCK output rows, laid out so that
 * the block's code addresses everything from one base: the block's input
 * rows sit in slots 0, 1, ... in order, ROW3 floats apart (a constant), so
 * that every load is [base + i + constant] and the block needs three
 * pointers (one per kernel column) instead of one per row and column,
 * which had kept it spilling registers and computing addresses. The 3 - S
 * rows one block shares with the next are copied down to slots 0..
 * between blocks (a slot's used part only). S and the fused clamp are
 * compile-time constants in each of four functions (below), so that the
 * compiler lays out each one's loops for its case alone: as one function,
 * an unrelated change to the stride-2 code had made 14 x 14 stride-1
 * planes 20% slower. ROW3 is not a power of two, so that slots do not
 * alias in the cache. */
static inline __attribute__((always_inline))
void plane3x3(const ck_conv2d *p, const ck_conv_geom *g, ring *r, const float *xp, const float *wk, float bias,
              const ck_activation *act, float *yp, const float *y_end, int S, int CLAMP, float lo, float hi) {
    int64_t w = g->w_out, used = p->stride_w * r->phase_room;        /* the part of a slot rows use */
    /* Locals, so that the compiler knows the stores to y leave them be. */
    float wl[9];
    for (int k = 0; k < 9; k++) wl[k] = wk[k];
    if (CLAMP) act = NULL;
    for (int64_t o0 = 0; o0 < w; o0 += r->strip) {
        int64_t n = w - o0 < r->strip ? w - o0 : r->strip;
        if (r->strip < w) ring_strip(r, p, o0);                      /* one strip: set up once per call */
        const float *cols[3] = {r->buf + r->col3[0], r->buf + r->col3[1], r->buf + r->col3[2]};
        /* What loading a row takes, in locals (through r and p the
         * compiler reloaded all of it for every row). */
        float *buf = r->buf;
        const float *src = xp + r->from;
        int64_t count = r->count, w_in = p->w_in, h_in = p->h_in, sw = p->stride_w;
        int swap = sw == 2 && r->first[0] != r->from;                 /* the first column's phase is 1 */
        int64_t first_at = r->at[swap], other_at = sw == 2 ? r->at[1 - swap] : 0;
        int64_t keep = 0;                                             /* slots already holding the block's rows */
        int32_t act_from = 0;                                         /* first row not yet activated */
        for (int32_t oh = 0; oh < g->h_out;) {
            /* Leftover rows at the bottom go in a pair, then singly. */
            int32_t step = oh + BLOCK <= g->h_out ? BLOCK : oh + 2 <= g->h_out ? 2 : 1;
            int64_t ih0 = (int64_t)oh * S - p->pad_top, rows = (int64_t)(step - 1) * S + 3;
            for (int64_t j = keep; j < rows; j++) {
                float *slot = buf + j * ROW3;
                int64_t ih = ih0 + j;
                if (ih < 0 || ih >= h_in) memset(slot, 0, (size_t)used * sizeof(float));
                else if (S == 1 && sw == 1) copy_short(slot + first_at, src + ih * w_in, count);
                else if (S == 2 && sw == 2) deinterleave2(src + ih * w_in, count, slot + first_at, slot + other_at);
                else ring_load_row(r, p, xp, ih, slot);
            }
            float *yr = yp + oh * w + o0;
            if (step == BLOCK) rows3x3(yr, w, n, y_end - yr, cols, NULL, 1, BLOCK, S, wl, bias, CLAMP, lo, hi);
            else if (step == 2) rows3x3(yr, w, n, y_end - yr, cols, NULL, 1, 2, S, wl, bias, CLAMP, lo, hi);
            else rows3x3(yr, w, n, y_end - yr, cols, NULL, 1, 1, S, wl, bias, CLAMP, lo, hi);
            oh += step;
            keep = rows - (int64_t)step * S;
            if (oh < g->h_out)
                for (int64_t j = 0; j < keep; j++) copy_short(buf + j * ROW3, buf + ((int64_t)step * S + j) * ROW3, used);
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

#define PLANE_FN(name, S, CLAMP) \
    CK_MULTIVERSION static void name(const ck_conv2d *p, const ck_conv_geom *g, ring *r, const float *xp, \
                                     const float *wk, float bias, const ck_activation *act, float *yp, \
                                     const float *y_end, float lo, float hi) { \
        plane3x3(p, g, r, xp, wk, bias, act, yp, y_end, S, CLAMP, lo, hi); \
    }
PLANE_FN(plane_s1, 1, 0)
PLANE_FN(plane_s1_clamp, 1, 1)
PLANE_FN(plane_s2, 2, 0)
PLANE_FN(plane_s2_clamp, 2, 1)
#undef PLANE_FN

typedef void plane_fn(const ck_conv2d *, const ck_conv_geom *, ring *, const float *, const float *, float,
                      const ck_activation *, float *, const float *, float, float);

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

/* ---- small planes --------------------------------------------------------
 *
 * A 3x3 kernel with one pixel of padding all round, at stride 1 or 2, on
 * planes of at most SMALL_W columns (MobileNetV2's 28 x 28 and smaller),
 * as one flat loop. The plane goes into a copy with zero borders whose
 * rows are rs = w + 2 apart; output o = oh * rs + ow is then the sum over
 * the taps of w[t] * pad[o + kh * rs + kw], for all h * rs outputs at once
 * in whole vectors (the two per row past the plane's width are computed
 * and dropped), and its rows are copied out. At stride 2 the copy is four
 * planes instead, one per parity of row and column (pad[2r + a][2c + b]
 * in plane (a, b), rows rs = (w + 3) / 2 apart), so that each tap is a
 * flat shift in one of them. The taps are summed in the 3x3 path's order,
 * so the values are the same. That path sets up strips and slots per
 * plane and goes by blocks of rows: at 7 x 7, about 240 cycles a plane
 * for 63 vectors of multiply-adds. The borders are zeroed once per run of
 * planes: a plane's copy writes only inside them. */
enum { SMALL_W = 32 };

/* Row stride of the copy, the flat output's floats, and one copy plane's
 * floats (room for the last vector's reach past it). */
static int64_t small_rs(const ck_conv2d *p) { return p->stride_w == 1 ? p->w_in + 2 : (p->w_in + 3) / 2; }
static int64_t small_out(const ck_conv2d *p, const ck_conv_geom *g) {
    return ((int64_t)g->h_out * small_rs(p) + VEC - 1) / VEC * VEC;
}
static int64_t small_plane_floats(const ck_conv2d *p, const ck_conv_geom *g) {
    int64_t rs = small_rs(p), rows = p->stride_h == 1 ? p->h_in + 2 : (p->h_in + 3) / 2;
    int64_t reach = small_out(p, g) + (3 - p->stride_h) * rs + 2;   /* the last vector's farthest tap */
    return ((reach > rows * rs ? reach : rows * rs) + VEC - 1) / VEC * VEC;
}
static int64_t small_pad(const ck_conv2d *p, const ck_conv_geom *g) {
    return (p->stride_h == 1 ? 1 : 4) * small_plane_floats(p, g);
}

static int small_applies(const ck_conv2d *p, const ck_conv_geom *g) {
    return p->k_h == 3 && p->k_w == 3 && p->stride_h == p->stride_w && (p->stride_h == 1 || p->stride_h == 2) &&
           p->dil_h == 1 && p->dil_w == 1 && p->pad_top == 1 && p->pad_left == 1 && p->pad_bottom == 1 &&
           p->pad_right == 1 && p->w_in <= SMALL_W && small_pad(p, g) + small_out(p, g) <= RING_FLOATS;
}

static inline __attribute__((always_inline))
void small_body(const ck_conv2d *p, const ck_conv_geom *g, const float *xp, const float *wk, float bias, int clamp,
                float lo, float hi, const ck_activation *act, float *yp, float *pad, float *flat, const int S) {
    const int64_t h = p->h_in, w = p->w_in, rs = small_rs(p), n = small_out(p, g);
    int64_t off[9];
    if (S == 1) {
        for (int64_t r = 0; r < h; r++) copy_short(pad + (r + 1) * rs + 1, xp + r * w, w);
        for (int t = 0; t < 9; t++) off[t] = t / 3 * rs + t % 3;
    } else {
        /* Input row r is padded row r + 1: plane row (r + 1) / 2 of parity
         * (r + 1) % 2; its even columns j are padded column j + 1 (odd, at
         * j / 2), its odd ones even (at (j + 1) / 2). */
        const int64_t plane = small_plane_floats(p, g);
        for (int64_t r = 0; r < h; r++) {
            float *row = pad + (r + 1) % 2 * 2 * plane + (r + 1) / 2 * rs;
            deinterleave2(xp + r * w, w, row + plane, row + 1);
        }
        for (int t = 0; t < 9; t++) off[t] = (t / 3 % 2 * 2 + t % 3 % 2) * plane + t / 3 / 2 * rs + t % 3 / 2;
    }
    float wl[9];
    for (int t = 0; t < 9; t++) wl[t] = wk[t];
    const vf vlo = vsplat(lo), vhi = vsplat(hi);
    for (int64_t o = 0; o < n; o += VEC) {
        vf acc = (vf){0} + bias;
        for (int t = 0; t < 9; t++) acc += wl[t] * vload(pad + o + off[t]);
        if (clamp) acc = clamp_v(acc, vlo, vhi);
        vstore(flat + o, acc);
    }
    for (int64_t r = 0; r < g->h_out; r++) copy_short(yp + r * g->w_out, flat + r * rs, g->w_out);
    if (act) (void)ck_act_forward(act, yp, yp, g->cols);
}

CK_MULTIVERSION
static void small_plane(const ck_conv2d *p, const ck_conv_geom *g, const float *xp, const float *wk, float bias,
                        int clamp, float lo, float hi, const ck_activation *act, float *yp, float *pad, float *flat) {
    if (p->stride_h == 1) small_body(p, g, xp, wk, bias, clamp, lo, hi, act, yp, pad, flat, 1);
    else small_body(p, g, xp, wk, bias, clamp, lo, hi, act, yp, pad, flat, 2);
}

/* The planes [first, end) of the output (image-major, then channel),
 * each thread with its own ring buffer. */
typedef struct dw_job {
    const ck_conv2d *p;
    const ck_conv_geom *g;
    const float *x, *w, *bias;
    const ck_activation *act;
    float *y;
    const float *y_end;
    ring r;                 /* planned; buf is each thread's own, so is the strip set-up */
    plane_fn *fast;
    int use_ring, small, clamp;
    float lo, hi;
} dw_job;

static void dw_items(void *ctx, int64_t first, int64_t end) {
    const dw_job *j = ctx;
    const ck_conv2d *p = j->p;
    int32_t mult = p->c_out / p->c_in;
    int64_t hw_in = (int64_t)p->h_in * p->w_in, taps = (int64_t)p->k_h * p->k_w;
    float buf[RING_FLOATS] __attribute__((aligned(VEC * sizeof(float))));
    if (j->small) {
        float *pad = buf, *flat = buf + small_pad(p, j->g);
        memset(pad, 0, (size_t)small_pad(p, j->g) * sizeof(float));
        for (int64_t plane = first; plane < end; plane++) {
            int64_t n = plane / p->c_out, co = plane % p->c_out;
            small_plane(p, j->g, j->x + (n * p->c_in + co / mult) * hw_in, j->w + co * taps, j->bias ? j->bias[co] : 0.0f,
                        j->clamp, j->lo, j->hi, j->clamp ? NULL : j->act, j->y + plane * j->g->cols, pad, flat);
        }
        return;
    }
    ring r = j->r;
    r.buf = buf;
    if (j->use_ring && r.strip >= j->g->w_out) ring_strip(&r, p, 0);   /* one strip: zeroed once, here */
    for (int64_t plane = first; plane < end; plane++) {
        int64_t n = plane / p->c_out, co = plane % p->c_out;
        const float *xp = j->x + (n * p->c_in + co / mult) * hw_in;
        float b = j->bias ? j->bias[co] : 0.0f, *yp = j->y + plane * j->g->cols;
        if (j->fast) j->fast(p, j->g, &r, xp, j->w + co * taps, b, j->act, yp, j->y_end, j->lo, j->hi);
        else if (j->use_ring) forward_plane(p, j->g, &r, xp, j->w + co * taps, b, j->act, yp, j->y_end);
        else forward_plane_plain(p, j->g, xp, j->w + co * taps, b, j->act, yp);
    }
}

/* Below this many multiply-adds the planes stay on one thread: 5 to 15 us
 * of work (small planes to large). At 1 << 18, MobileNetV2's
 * 576-channel stride-2 layer (254k) had stayed on one, 66 us against 38
 * on two (bench/kernels 2 depthwise). */
enum { DW_PARALLEL_MACS = 1 << 16 };

void ck_depthwise_forward(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                          const float *bias, const ck_activation *act, float *y) {
    dw_job j = {p, g, x, w, bias, act, y, y + (int64_t)p->n * p->c_out * g->cols, {0}, NULL, 0, 0, 0, 0.0f, 0.0f};
    if (act && act->kind == CK_ACT_NONE) j.act = act = NULL;
    int clamp = ck_clamp_of(act, &j.lo, &j.hi);
    j.clamp = clamp;
    j.small = small_applies(p, g);
    /* The 3x3 path if it applies and a chunk fits its slots, else the
     * general ring, else the plain loop. */
    int32_t sh = p->stride_h;
    if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && (sh == 1 || sh == 2) &&
        ring_plan(p, g, &j.r, 3 + (BLOCK - 1) * sh, ROW3, 1))
        j.fast = sh == 1 ? (clamp ? plane_s1_clamp : plane_s1) : (clamp ? plane_s2_clamp : plane_s2);
    j.use_ring = j.fast || ring_plan(p, g, &j.r, (int64_t)(p->k_h - 1) * p->dil_h + 1, RING_FLOATS / ((int64_t)(p->k_h - 1) * p->dil_h + 1), 0);
    int64_t planes = (int64_t)p->n * p->c_out;
    int64_t macs = planes * g->cols * p->k_h * p->k_w;
    ck_parallel_for(dw_items, &j, planes, macs < DW_PARALLEL_MACS ? 1 : ck_threads());
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
