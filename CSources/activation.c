/* activation.c: elementwise activations, softmax and LRN, forward and backward.
 *
 * The elementwise kernels switch on the kind once, outside the loop, so each
 * kind gets its own branch-free loop that the compiler can vectorize (the
 * ternaries become selects). NaN inputs propagate through every kind: the
 * comparisons are written so that a NaN fails them and falls through to x. */
#include <math.h>
#include <string.h>

#include "internal.h"

/* exp(-|x|) never overflows, so both halves of the sigmoid stay finite for
 * any x: 1 / (1 + e) for x >= 0, e / (1 + e) below. */
static inline float stable_sigmoid(float x) {
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static ck_status check_act(const ck_activation *act, int64_t n) {
    if (n < 1 || n >= CK_MAX_ELEMENTS) return CK_ERR_SIZE;
    switch (act->kind) {
    case CK_ACT_NONE: case CK_ACT_RELU: case CK_ACT_LEAKY_RELU: case CK_ACT_SIGMOID:
    case CK_ACT_SILU: case CK_ACT_HARD_SIGMOID: case CK_ACT_HARD_SWISH:
        return CK_OK;
    case CK_ACT_CLIP:
        /* Written negated so that a NaN bound is rejected as well. */
        return act->alpha <= act->beta ? CK_OK : CK_ERR_ARGUMENT;
    }
    return CK_ERR_ARGUMENT;
}

/* min(max(t, 0), 1), written so that it vectorizes. */
static inline float hard_unit(float t) {
    t = t < 0.0f ? 0.0f : t;
    return t > 1.0f ? 1.0f : t;
}

/* Applies `v -> EXPR` to every element. In place (the fused conv
 * epilogue's case) the loop reads and writes y alone; otherwise x and y are
 * restrict-qualified, which the header's no-overlap rule allows. Either way
 * clang vectorizes without a runtime alias check, which would fail for
 * x == y and fall back to scalar code (3.5x slower, measured). */
#define CK_MAP(EXPR) do { \
    if (x == y) { \
        for (int64_t i = 0; i < n; i++) { float v = y[i]; y[i] = (EXPR); } \
    } else { \
        const float *restrict xs = x; float *restrict ys = y; \
        for (int64_t i = 0; i < n; i++) { float v = xs[i]; ys[i] = (EXPR); } \
    } \
} while (0)

/* Also built for x86-64-v3: the fused conv epilogues call it on every
 * block a GEMM writes (5% of MobileNetV2's forward with SSE2 alone). */
CK_MULTIVERSION
static void act_map(ck_act_kind kind, float a, float b, const float *x, float *y, int64_t n) {
    switch (kind) {
    case CK_ACT_NONE:
        if (y != x) memmove(y, x, (size_t)n * sizeof(float));
        break;
    case CK_ACT_RELU:
        CK_MAP(v < 0.0f ? 0.0f : v);
        break;
    case CK_ACT_CLIP:
        CK_MAP((v < a ? a : v) > b ? b : (v < a ? a : v));
        break;
    case CK_ACT_LEAKY_RELU:
        CK_MAP(v < 0.0f ? a * v : v);
        break;
    case CK_ACT_SIGMOID:
        CK_MAP(stable_sigmoid(v));
        break;
    case CK_ACT_SILU:
        CK_MAP(v * stable_sigmoid(v));
        break;
    case CK_ACT_HARD_SIGMOID:
        CK_MAP(hard_unit(a * v + b));
        break;
    case CK_ACT_HARD_SWISH:
        CK_MAP(v * hard_unit(v / 6.0f + 0.5f));
        break;
    }
}

ck_status ck_act_valid(const ck_activation *act) {
    return act ? check_act(act, 1) : CK_OK;
}

ck_status ck_act_forward(const ck_activation *act, const float *x, float *y, int64_t n) {
    if (!act || !x || !y) return CK_ERR_NULL;
    ck_status st = check_act(act, n);
    if (st != CK_OK) return st;
    act_map(act->kind, act->alpha, act->beta, x, y, n);
    return CK_OK;
}

/* The derivative masks use strict comparisons exactly where PyTorch's
 * autograd does (see the header), so gradients agree at the kinks too.
 * dy is loaded before the comparison on purpose: written as `c ? dy[i] : 0`
 * the load becomes conditional and clang declines to vectorize the loop. */
ck_status ck_act_backward(const ck_activation *act, const float *x, const float *dy, float *dx, int64_t n) {
    if (!act || !x || !dy || !dx) return CK_ERR_NULL;
    ck_status st = check_act(act, n);
    if (st != CK_OK) return st;
    const float a = act->alpha, b = act->beta;
    switch (act->kind) {
    case CK_ACT_NONE:
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
        break;
    case CK_ACT_RELU:
        for (int64_t i = 0; i < n; i++) { float g = dy[i]; dx[i] += x[i] > 0.0f ? g : 0.0f; }
        break;
    case CK_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], g = dy[i]; dx[i] += (v > a && v < b) ? g : 0.0f;
        }
        break;
    case CK_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : a * dy[i];
        break;
    case CK_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) { float s = stable_sigmoid(x[i]); dx[i] += dy[i] * s * (1.0f - s); }
        break;
    case CK_ACT_SILU:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], s = stable_sigmoid(v);
            dx[i] += dy[i] * (s * (1.0f + v * (1.0f - s)));
        }
        break;
    case CK_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float t = a * x[i] + b, g = a * dy[i]; dx[i] += (t > 0.0f && t < 1.0f) ? g : 0.0f;
        }
        break;
    case CK_ACT_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float g = v < -3.0f ? 0.0f : (v > 3.0f ? 1.0f : v / 3.0f + 0.5f);
            dx[i] += dy[i] * g;
        }
        break;
    }
    return CK_OK;
}

ck_status ck_softmax_forward(const float *x, float *y, int32_t rows, int32_t cols) {
    if (!x || !y) return CK_ERR_NULL;
    if (CK_ELEMS(rows, cols) < 0) return CK_ERR_SIZE;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = xr[0];
        for (int32_t j = 1; j < cols; j++) m = xr[j] > m ? xr[j] : m;
        float sum = 0.0f;
        for (int32_t j = 0; j < cols; j++) { float e = expf(xr[j] - m); yr[j] = e; sum += e; }
        /* sum >= 1 (the max contributes exp(0)), so the reciprocal is safe. */
        float inv = 1.0f / sum;
        for (int32_t j = 0; j < cols; j++) yr[j] *= inv;
    }
    return CK_OK;
}

ck_status ck_softmax_backward(const float *y, const float *dy, float *dx, int32_t rows, int32_t cols) {
    if (!y || !dy || !dx) return CK_ERR_NULL;
    if (CK_ELEMS(rows, cols) < 0) return CK_ERR_SIZE;
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        float dot = 0.0f;
        for (int32_t j = 0; j < cols; j++) dot += gr[j] * yr[j];
        for (int32_t j = 0; j < cols; j++) dr[j] += yr[j] * (gr[j] - dot);
    }
    return CK_OK;
}

/* y's channel plane is used as the accumulator for the window's sum of
 * squares, so no scratch is needed; hence y must not alias x. */
ck_status ck_lrn_forward(const float *x, float *y, int32_t n, int32_t c, int32_t hw,
                         int32_t size, float alpha, float beta, float bias) {
    if (!x || !y) return CK_ERR_NULL;
    if (CK_ELEMS(n, c, hw) < 0 || size < 1) return CK_ERR_SIZE;
    const int32_t before = (size - 1) / 2, after = size / 2;   /* floor and ceil of (size - 1) / 2 */
    const float scale = alpha / (float)size;
    const int64_t plane = hw;
    for (int64_t img = 0; img < n; img++) {
        const float *xi = x + img * c * plane;
        float *yi = y + img * c * plane;
        for (int32_t ch = 0; ch < c; ch++) {
            float *acc = yi + ch * plane;
            int32_t lo = ch > before ? ch - before : 0;
            int32_t hi = (int64_t)ch + after < c ? ch + after : c - 1;
            for (int64_t p = 0; p < plane; p++) acc[p] = 0.0f;
            for (int32_t k = lo; k <= hi; k++) {
                const float *xk = xi + k * plane;
                for (int64_t p = 0; p < plane; p++) acc[p] += xk[p] * xk[p];
            }
            const float *xc = xi + ch * plane;
            for (int64_t p = 0; p < plane; p++) acc[p] = xc[p] / powf(bias + scale * acc[p], beta);
        }
    }
    return CK_OK;
}
