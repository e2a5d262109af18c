/* test_pool.c: windowed and global pooling against plain references that
 * walk every tap of every window, central finite differences, and sizes and
 * values worked out by hand. */
#include <string.h>

#include "cam_kernels.h"
#include "check.h"

#define SENTINEL 12345.0f

static int all_equal(const float *p, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}
static int all_equal_i(const int32_t *p, int64_t n, int32_t v) {
    for (int64_t i = 0; i < n; i++) if (p[i] != v) return 0;
    return 1;
}

/* ---- references ----------------------------------------------------------- */

/* One axis of the output size, from the header's formula; -1 when invalid. */
static int ref_axis(int in, int k, int s, int d, int pb, int pe, int ceil_mode) {
    if (in < 1 || k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0) return -1;
    int span = d * (k - 1) + 1, padded = in + pb + pe;
    if (padded < span) return -1;
    int out = ceil_mode ? (int)ceil((double)(padded - span) / s) + 1 : (padded - span) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + pb) out--;
    return out;
}

static int ref_size(const ck_pool2d *p, int *ho, int *wo) {
    if (p->n < 1 || p->c < 1 || (p->ceil_mode != 0 && p->ceil_mode != 1)) return 0;
    *ho = ref_axis(p->h_in, p->k_h, p->stride_h, p->dil_h, p->pad_top, p->pad_bottom, p->ceil_mode);
    *wo = ref_axis(p->w_in, p->k_w, p->stride_w, p->dil_w, p->pad_left, p->pad_right, p->ceil_mode);
    return *ho > 0 && *wo > 0;
}

/* Every tap in row-major window order; the first strictly larger value or
 * the first NaN takes over. A window of padding only gives -inf and -1. */
static void ref_maxpool(const ck_pool2d *p, int ho, int wo, const float *x, float *y, int32_t *am) {
    for (int pl = 0; pl < p->n * p->c; pl++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                float best = -INFINITY;
                int idx = -1, seen_nan = 0;
                for (int i = 0; i < p->k_h; i++)
                    for (int j = 0; j < p->k_w; j++) {
                        int h = oh * p->stride_h - p->pad_top + i * p->dil_h;
                        int w = ow * p->stride_w - p->pad_left + j * p->dil_w;
                        if (h < 0 || h >= p->h_in || w < 0 || w >= p->w_in) continue;
                        float v = x[(pl * p->h_in + h) * p->w_in + w];
                        if (idx < 0) idx = h * p->w_in + w;
                        if (seen_nan) continue;
                        if (isnan(v)) { seen_nan = 1; best = v; idx = h * p->w_in + w; }
                        else if (v > best) { best = v; idx = h * p->w_in + w; }
                    }
                y[(pl * ho + oh) * wo + ow] = best;
                am[(pl * ho + oh) * wo + ow] = idx;
            }
}

/* Counts taps rather than clipping intervals: a tap counts toward the
 * count_include_pad divisor when it lies in the input or its padding (a
 * ceil-mode window may hang past the end padding), toward the other divisor
 * only when it is a real sample. `grad` (may be NULL) gets the backward pass
 * of dy. */
static void ref_avgpool(const ck_pool2d *p, int ho, int wo, const float *x, double *y,
                        const float *dy, double *grad) {
    for (int pl = 0; pl < p->n * p->c; pl++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                int padded = 0, real = 0;
                double sum = 0;
                for (int i = 0; i < p->k_h; i++)
                    for (int j = 0; j < p->k_w; j++) {
                        int h = oh * p->stride_h - p->pad_top + i, w = ow * p->stride_w - p->pad_left + j;
                        if (h >= -p->pad_top && h < p->h_in + p->pad_bottom &&
                            w >= -p->pad_left && w < p->w_in + p->pad_right) padded++;
                        if (h < 0 || h >= p->h_in || w < 0 || w >= p->w_in) continue;
                        real++;
                        sum += x[(pl * p->h_in + h) * p->w_in + w];
                    }
                int div = p->count_include_pad ? padded : real;
                int o = (pl * ho + oh) * wo + ow;
                y[o] = real ? sum / div : 0.0;
                if (!grad || !real) continue;
                for (int i = 0; i < p->k_h; i++)
                    for (int j = 0; j < p->k_w; j++) {
                        int h = oh * p->stride_h - p->pad_top + i, w = ow * p->stride_w - p->pad_left + j;
                        if (h < 0 || h >= p->h_in || w < 0 || w >= p->w_in) continue;
                        grad[(pl * p->h_in + h) * p->w_in + w] += (double)dy[o] / div;
                    }
            }
}

/* ---- random geometries ---------------------------------------------------- */

static ck_pool2d random_geometry(int avg) {
    ck_pool2d p;
    memset(&p, 0, sizeof p);
    p.n = check_int(1, 3); p.c = check_int(1, 3);
    p.h_in = check_int(1, 11); p.w_in = check_int(1, 11);
    p.k_h = check_int(1, 4); p.k_w = check_int(1, 4);
    p.stride_h = check_int(1, 3); p.stride_w = check_int(1, 3);
    p.dil_h = avg ? 1 : check_int(1, 2); p.dil_w = avg ? 1 : check_int(1, 2);
    /* Pads up to 4 on a kernel of 1..4: windows wholly in the padding occur. */
    p.pad_top = check_int(0, 4); p.pad_left = check_int(0, 4);
    p.pad_bottom = check_int(0, 4); p.pad_right = check_int(0, 4);
    p.ceil_mode = check_int(0, 1);
    p.count_include_pad = check_int(0, 1);
    return p;
}

/* Distinct values 0.01 apart in random order, so a perturbation of 1e-3
 * never moves an argmax. */
static float *distinct_values(int64_t n) {
    float *x = check_zeros(n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i - n / 2) * 0.01f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(check_next() % (uint64_t)(i + 1));
        float t = x[i]; x[i] = x[j]; x[j] = t;
    }
    return x;
}

static int covered_stride2, covered_dil2, covered_ceil_extra, covered_empty, covered_asym;

static void run_maxpool(const ck_pool2d *p, int do_fd) {
    int ho, wo;
    int valid = ref_size(p, &ho, &wo);
    int32_t gh = -7, gw = -7;
    ck_status st = ck_pool2d_output_size(p, &gh, &gw);
    if (!valid) {
        CHECK(st == CK_ERR_SIZE && gh == -7 && gw == -7, "invalid geometry gave %d", st);
        return;
    }
    CHECK(st == CK_OK && gh == ho && gw == wo, "output size %dx%d want %dx%d (st %d)", gh, gw, ho, wo, st);
    if (st != CK_OK || gh != ho || gw != wo) return;   /* the buffers below are sized from the reference */
    if (p->stride_h == 2 || p->stride_w == 2) covered_stride2++;
    if (p->dil_h == 2 || p->dil_w == 2) covered_dil2++;
    if (p->ceil_mode && (ref_axis(p->h_in, p->k_h, p->stride_h, p->dil_h, p->pad_top, p->pad_bottom, 0) != ho)) covered_ceil_extra++;
    if (p->pad_top != p->pad_bottom || p->pad_left != p->pad_right) covered_asym++;

    int64_t nin = (int64_t)p->n * p->c * p->h_in * p->w_in, nout = (int64_t)p->n * p->c * ho * wo;
    float *x = distinct_values(nin), *y = check_zeros(nout), *yr = check_zeros(nout);
    int32_t *am = calloc((size_t)nout, sizeof(int32_t)), *amr = calloc((size_t)nout, sizeof(int32_t));
    ref_maxpool(p, ho, wo, x, yr, amr);
    for (int64_t i = 0; i < nout; i++) if (amr[i] < 0) { covered_empty++; break; }
    CHECK(ck_maxpool2d_forward(p, x, y, am) == CK_OK, "maxpool forward");
    CHECK(memcmp(y, yr, (size_t)nout * sizeof(float)) == 0, "maxpool values");
    CHECK(memcmp(am, amr, (size_t)nout * sizeof(int32_t)) == 0, "maxpool argmax");
    float *y2 = check_zeros(nout);
    CHECK(ck_maxpool2d_forward(p, x, y2, NULL) == CK_OK && memcmp(y2, yr, (size_t)nout * sizeof(float)) == 0,
          "maxpool without argmax");

    /* backward: reference scatter, accumulated onto a nonzero start */
    float *dy = check_random(nout, -1, 1), *dx = check_random(nin, -1, 1), *dx0 = check_zeros(nin);
    memcpy(dx0, dx, (size_t)nin * sizeof(float));
    double *want = calloc((size_t)nin, sizeof(double));
    for (int64_t i = 0; i < nin; i++) want[i] = dx0[i];
    int64_t plane_in = (int64_t)p->h_in * p->w_in, plane_out = (int64_t)ho * wo;
    for (int64_t o = 0; o < nout; o++)
        if (amr[o] >= 0) want[(o / plane_out) * plane_in + amr[o]] += dy[o];
    CHECK(ck_maxpool2d_backward(p, am, dy, dx) == CK_OK, "maxpool backward");
    double worst = 0;
    for (int64_t i = 0; i < nin; i++) worst = fmax(worst, fabs(dx[i] - want[i]));
    CHECK(worst < 1e-6, "maxpool backward err %g", worst);

    if (do_fd) {   /* L = sum(y * dy), perturbing one input at a time */
        const float h = 1e-3f;
        worst = 0;
        for (int64_t i = 0; i < nin; i++) {
            float keep = x[i];
            x[i] = keep + h; ck_maxpool2d_forward(p, x, y, NULL); float up = x[i];
            double lp = 0; for (int64_t o = 0; o < nout; o++) lp += isinf(y[o]) ? 0 : (double)y[o] * dy[o];
            x[i] = keep - h; ck_maxpool2d_forward(p, x, y, NULL); float dn = x[i];
            double lm = 0; for (int64_t o = 0; o < nout; o++) lm += isinf(y[o]) ? 0 : (double)y[o] * dy[o];
            x[i] = keep;
            worst = fmax(worst, fabs((dx[i] - dx0[i]) - (lp - lm) / ((double)up - dn)));
        }
        CHECK(worst < 1e-3, "maxpool finite differences err %g", worst);
    }
    free(x); free(y); free(yr); free(y2); free(am); free(amr); free(dy); free(dx); free(dx0); free(want);
}

static void run_avgpool(const ck_pool2d *p, int do_fd) {
    int ho, wo;
    int valid = ref_size(p, &ho, &wo);
    int32_t gh = -7, gw = -7;
    ck_status st = ck_pool2d_output_size(p, &gh, &gw);
    if (!valid) {
        CHECK(st == CK_ERR_SIZE, "invalid geometry gave %d", st);
        float in = 1.0f, out = SENTINEL;
        CHECK(ck_avgpool2d_forward(p, &in, &out) == CK_ERR_SIZE && out == SENTINEL, "invalid avg geometry");
        return;
    }
    CHECK(st == CK_OK && gh == ho && gw == wo, "output size %dx%d want %dx%d", gh, gw, ho, wo);
    if (st != CK_OK || gh != ho || gw != wo) return;
    int64_t nin = (int64_t)p->n * p->c * p->h_in * p->w_in, nout = (int64_t)p->n * p->c * ho * wo;
    float *x = check_random(nin, -1, 1), *y = check_zeros(nout), *yw = check_zeros(nout);
    float *dy = check_random(nout, -1, 1), *dx = check_random(nin, -1, 1), *dx0 = check_zeros(nin), *gw2 = check_zeros(nin);
    double *yr = calloc((size_t)nout, sizeof(double)), *grad = calloc((size_t)nin, sizeof(double));
    memcpy(dx0, dx, (size_t)nin * sizeof(float));
    ref_avgpool(p, ho, wo, x, yr, dy, grad);
    for (int64_t i = 0; i < nout; i++) yw[i] = (float)yr[i];
    for (int64_t i = 0; i < nin; i++) gw2[i] = (float)(dx0[i] + grad[i]);
    CHECK(ck_avgpool2d_forward(p, x, y) == CK_OK, "avgpool forward");
    double e = check_max_abs_diff(y, yw, nout);
    CHECK(e < 1e-6, "avgpool forward err %g (cip %d ceil %d)", e, p->count_include_pad, p->ceil_mode);
    CHECK(ck_avgpool2d_backward(p, dy, dx) == CK_OK, "avgpool backward");
    e = check_max_abs_diff(dx, gw2, nin);
    CHECK(e < 1e-6, "avgpool backward err %g", e);

    if (do_fd) {
        const float h = 1e-2f;
        double worst = 0;
        for (int64_t i = 0; i < nin; i++) {
            float keep = x[i];
            x[i] = keep + h; ck_avgpool2d_forward(p, x, y); float up = x[i];
            double lp = 0; for (int64_t o = 0; o < nout; o++) lp += (double)y[o] * dy[o];
            x[i] = keep - h; ck_avgpool2d_forward(p, x, y); float dn = x[i];
            double lm = 0; for (int64_t o = 0; o < nout; o++) lm += (double)y[o] * dy[o];
            x[i] = keep;
            worst = fmax(worst, fabs((dx[i] - dx0[i]) - (lp - lm) / ((double)up - dn)));
        }
        CHECK(worst < 1e-4, "avgpool finite differences err %g", worst);
    }
    free(x); free(y); free(yw); free(dy); free(dx); free(dx0); free(gw2); free(yr); free(grad);
}

static void test_random_pools(void) {
    int valid = 0;
    for (int t = 0; t < 400; t++) {
        check_seed(5000 + t);
        ck_pool2d p = random_geometry(0);
        int ho, wo;
        valid += ref_size(&p, &ho, &wo);
        run_maxpool(&p, t % 4 == 0);
    }
    CHECK(valid > 250, "only %d of 400 random max-pool geometries were valid", valid);
    CHECK(covered_stride2 > 20 && covered_dil2 > 20 && covered_ceil_extra > 10 && covered_empty > 5 && covered_asym > 50,
          "coverage: stride2 %d dil2 %d ceil %d empty %d asym %d",
          covered_stride2, covered_dil2, covered_ceil_extra, covered_empty, covered_asym);
    for (int t = 0; t < 400; t++) {
        check_seed(6000 + t);
        ck_pool2d p = random_geometry(1);
        run_avgpool(&p, t % 4 == 0);
    }
}

/* ---- hand-worked cases ---------------------------------------------------- */

static ck_pool2d geom(int h, int w, int k, int s, int d, int pt, int pl, int pb, int pr, int ceil_mode, int cip) {
    ck_pool2d p = { 1, 1, h, w, k, k, s, s, d, d, pt, pl, pb, pr, ceil_mode, cip };
    return p;
}

static void test_known_sizes(void) {
    struct { ck_pool2d p; int32_t ho, wo; } cases[] = {
        { geom(5, 5, 2, 2, 1, 0, 0, 0, 0, 0, 0), 2, 2 },
        { geom(5, 5, 2, 2, 1, 0, 0, 0, 0, 1, 0), 3, 3 },   /* ceil keeps the partial window */
        { geom(6, 6, 3, 2, 1, 1, 1, 1, 1, 1, 0), 4, 4 },
        { geom(4, 4, 2, 3, 1, 1, 1, 1, 1, 0, 0), 2, 2 },
        { geom(4, 4, 2, 3, 1, 1, 1, 1, 1, 1, 0), 2, 2 },   /* ceil gives 3, the third would start in the end pad */
        { geom(3, 3, 1, 2, 1, 0, 0, 1, 1, 1, 0), 2, 2 },   /* same rule with the pad only at the end */
        { geom(7, 7, 3, 1, 2, 0, 0, 0, 0, 0, 0), 3, 3 },   /* span 5 */
        { geom(1, 1, 3, 1, 1, 1, 1, 1, 1, 0, 0), 1, 1 },
        { geom(112, 112, 3, 2, 1, 1, 1, 1, 1, 0, 0), 56, 56 }, /* ResNet stem */
        { geom(2, 2, 2, 1, 1, 5, 5, 0, 0, 0, 0), 6, 6 },   /* pads beyond the kernel are allowed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t ho = 0, wo = 0;
        CHECK(ck_pool2d_output_size(&cases[i].p, &ho, &wo) == CK_OK && ho == cases[i].ho && wo == cases[i].wo,
              "size case %zu: %dx%d want %dx%d", i, ho, wo, cases[i].ho, cases[i].wo);
    }
}

static void test_known_values(void) {
    /* 4x4 ramp 0..15, 2x2 stride 2: maxima are the bottom-right corners. */
    float x[16], y[16];
    int32_t am[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    ck_pool2d p = geom(4, 4, 2, 2, 1, 0, 0, 0, 0, 0, 1);
    CHECK(ck_maxpool2d_forward(&p, x, y, am) == CK_OK, "max");
    CHECK(y[0] == 5 && y[1] == 7 && y[2] == 13 && y[3] == 15, "max 2x2: %g %g %g %g", y[0], y[1], y[2], y[3]);
    CHECK(am[0] == 5 && am[1] == 7 && am[2] == 13 && am[3] == 15, "argmax 2x2");
    CHECK(ck_avgpool2d_forward(&p, x, y) == CK_OK, "avg");
    CHECK(y[0] == 2.5f && y[1] == 4.5f && y[2] == 10.5f && y[3] == 12.5f, "avg 2x2: %g %g %g %g", y[0], y[1], y[2], y[3]);

    /* 3x3 of ones, kernel 2, stride 2, pad 1 all round: windows start at -1
     * and 1 on each axis, so the four windows hold 1, 2, 2 and 4 real
     * samples of 4 taps. */
    float ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    p = geom(3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 1);
    CHECK(ck_avgpool2d_forward(&p, ones, y) == CK_OK, "avg pad");
    CHECK(y[0] == 0.25f && y[1] == 0.5f && y[2] == 0.5f && y[3] == 1.0f, "count_include_pad 1: %g %g %g %g", y[0], y[1], y[2], y[3]);
    p.count_include_pad = 0;
    CHECK(ck_avgpool2d_forward(&p, ones, y) == CK_OK && y[0] == 1 && y[1] == 1 && y[2] == 1 && y[3] == 1, "count_include_pad 0");

    /* Ceil mode: 3 samples [1, 2, 3], k 2 s 2, no pad -> windows [1,2] and [3]
     * hanging off the end. count_include_pad counts only the padded input
     * (here just [3]), so both divisors give 3, as PyTorch does. */
    float r[3] = { 1, 2, 3 };
    ck_pool2d q = { 1, 1, 1, 3, 1, 2, 1, 2, 1, 1, 0, 0, 0, 0, 1, 1 };
    CHECK(ck_avgpool2d_forward(&q, r, y) == CK_OK && y[0] == 1.5f && y[1] == 3.0f, "ceil avg: %g %g", y[0], y[1]);
    /* With a right pad of 1 the second window covers [3, pad]: divisor 2. */
    q.pad_right = 1;
    CHECK(ck_avgpool2d_forward(&q, r, y) == CK_OK && y[0] == 1.5f && y[1] == 1.5f, "ceil avg pad: %g %g", y[0], y[1]);
    q.count_include_pad = 0;
    CHECK(ck_avgpool2d_forward(&q, r, y) == CK_OK && y[0] == 1.5f && y[1] == 3.0f, "ceil avg no pad: %g %g", y[0], y[1]);

    /* Padding never wins: all-negative input, padded max pool. */
    float neg[4] = { -4, -3, -2, -1 };
    p = geom(2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0);
    CHECK(ck_maxpool2d_forward(&p, neg, y, am) == CK_OK, "max pad");
    CHECK(y[0] == -4 && y[4] == -1 && y[8] == -1 && am[0] == 0 && am[8] == 3, "padding won: %g %g %g", y[0], y[4], y[8]);

    /* Dilation 2 on 5x5 ramp, k 2: taps (0,0) (0,2) (2,0) (2,2) -> 12 at index 12. */
    float ramp[25];
    for (int i = 0; i < 25; i++) ramp[i] = (float)i;
    p = geom(5, 5, 2, 1, 2, 0, 0, 0, 0, 0, 0);
    CHECK(ck_maxpool2d_forward(&p, ramp, y, am) == CK_OK && y[0] == 12 && am[0] == 12 && y[8] == 24, "dilated max %g", y[0]);

    /* Ties: the first in row-major order. NaN: the first NaN wins and stays. */
    float tie[4] = { 1, 3, 3, 2 };
    p = geom(2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0);
    CHECK(ck_maxpool2d_forward(&p, tie, y, am) == CK_OK && y[0] == 3 && am[0] == 1, "tie argmax %d", am[0]);
    float nan1[4] = { 1, NAN, 5, NAN };
    CHECK(ck_maxpool2d_forward(&p, nan1, y, am) == CK_OK && isnan(y[0]) && am[0] == 1, "nan argmax %d", am[0]);
    float nan2[4] = { 9, 1, 2, NAN };
    CHECK(ck_maxpool2d_forward(&p, nan2, y, am) == CK_OK && isnan(y[0]) && am[0] == 3, "late nan argmax %d", am[0]);
    float infs[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
    CHECK(ck_maxpool2d_forward(&p, infs, y, am) == CK_OK && y[0] == -INFINITY && am[0] == 0, "all -inf: argmax %d", am[0]);

    /* A window wholly in the padding: max -inf with argmax -1 (no gradient),
     * average 0 (PyTorch's CPU kernel) whatever count_include_pad says. */
    float two[4] = { 1, 2, 3, 4 };
    p = geom(2, 2, 2, 1, 1, 3, 0, 0, 0, 0, 1);   /* windows start at rows -3, -2 (padding only), -1, 0 */
    int32_t ho, wo;
    CHECK(ck_pool2d_output_size(&p, &ho, &wo) == CK_OK && ho == 4 && wo == 1, "empty-window size %dx%d", ho, wo);
    CHECK(ck_maxpool2d_forward(&p, two, y, am) == CK_OK, "empty max");
    CHECK(y[0] == -INFINITY && am[0] == -1 && y[1] == -INFINITY && am[1] == -1 &&
          y[2] == 2 && am[2] == 1 && y[3] == 4 && am[3] == 3,
          "empty max: %g/%d %g/%d %g/%d", y[0], am[0], y[1], am[1], y[2], am[2]);
    float dy[4] = { 1, 1, 1, 1 }, dx[4] = { 0, 0, 0, 0 };
    CHECK(ck_maxpool2d_backward(&p, am, dy, dx) == CK_OK && dx[0] == 0 && dx[1] == 1 && dx[2] == 0 && dx[3] == 1,
          "empty max backward");
    /* Window at row -1 holds row 0 ([1, 2]) of 2 x 2 padded taps. */
    CHECK(ck_avgpool2d_forward(&p, two, y) == CK_OK && y[0] == 0 && y[1] == 0 && y[2] == 0.75f && y[3] == 2.5f,
          "empty avg: %g %g %g %g", y[0], y[1], y[2], y[3]);
    for (int i = 0; i < 4; i++) dx[i] = 0;
    CHECK(ck_avgpool2d_backward(&p, dy, dx) == CK_OK && dx[0] == 0.5f && dx[1] == 0.5f && dx[2] == 0.25f,
          "empty avg backward: %g %g %g", dx[0], dx[1], dx[2]);
    p.count_include_pad = 0;
    CHECK(ck_avgpool2d_forward(&p, two, y) == CK_OK && y[0] == 0 && y[1] == 0 && y[2] == 1.5f && y[3] == 2.5f,
          "empty avg cip 0: %g %g %g", y[0], y[1], y[2]);
}

/* ---- global pooling ------------------------------------------------------- */

static void test_global(void) {
    static const int shapes[][2] = { { 1, 1 }, { 3, 1 }, { 1, 49 }, { 6, 7 }, { 64, 196 }, { 5, 1023 } };
    for (int t = 0; t < 6; t++) {
        int planes = shapes[t][0], hw = shapes[t][1], n = planes * hw;
        check_seed(7000 + t);
        float *x = distinct_values(n), *y = check_zeros(planes), *yw = check_zeros(planes);
        int32_t *am = calloc((size_t)planes, sizeof(int32_t));
        float *dy = check_random(planes, -1, 1), *dx = check_random(n, -1, 1), *dx0 = check_zeros(n), *gw = check_zeros(n);
        memcpy(dx0, dx, (size_t)n * sizeof(float));

        for (int i = 0; i < planes; i++) {
            double s = 0;
            for (int j = 0; j < hw; j++) s += x[i * hw + j];
            yw[i] = (float)(s / hw);
            for (int j = 0; j < hw; j++) gw[i * hw + j] = (float)(dx0[i * hw + j] + (double)dy[i] / hw);
        }
        CHECK(ck_global_avgpool_forward(x, y, planes, hw) == CK_OK, "gap");
        CHECK(check_max_abs_diff(y, yw, planes) < 1e-6, "gap %dx%d", planes, hw);
        CHECK(ck_global_avgpool_backward(dy, dx, planes, hw) == CK_OK, "gap backward");
        CHECK(check_max_abs_diff(dx, gw, n) < 1e-6, "gap backward %dx%d", planes, hw);

        memcpy(dx, dx0, (size_t)n * sizeof(float));
        memcpy(gw, dx0, (size_t)n * sizeof(float));
        int ok = 1;
        for (int i = 0; i < planes; i++) {
            int best = 0;
            for (int j = 1; j < hw; j++) if (x[i * hw + j] > x[i * hw + best]) best = j;
            yw[i] = x[i * hw + best];
            gw[i * hw + best] += dy[i];
            am[i] = -5;
        }
        CHECK(ck_global_maxpool_forward(x, y, am, planes, hw) == CK_OK, "gmp");
        CHECK(memcmp(y, yw, (size_t)planes * sizeof(float)) == 0, "gmp values %dx%d", planes, hw);
        for (int i = 0; i < planes; i++) ok &= x[i * hw + am[i]] == y[i];
        CHECK(ok, "gmp argmax points at the maximum");
        float *y2 = check_zeros(planes);
        CHECK(ck_global_maxpool_forward(x, y2, NULL, planes, hw) == CK_OK && memcmp(y2, yw, (size_t)planes * sizeof(float)) == 0,
              "gmp without argmax");
        CHECK(ck_global_maxpool_backward(am, dy, dx, planes, hw) == CK_OK, "gmp backward");
        CHECK(check_max_abs_diff(dx, gw, n) < 1e-7, "gmp backward");

        if (n <= 100) {   /* finite differences of both, L = sum(y * dy) */
            double wa = 0, wm = 0;
            float *ga = check_zeros(n), *gm = check_zeros(n);
            ck_global_avgpool_backward(dy, ga, planes, hw);
            ck_global_maxpool_backward(am, dy, gm, planes, hw);
            const float h = 1e-3f;
            for (int i = 0; i < n; i++) {
                float keep = x[i], up, dn;
                double lpa = 0, lma = 0, lpm = 0, lmm = 0;
                x[i] = keep + h; up = x[i];
                ck_global_avgpool_forward(x, y, planes, hw); for (int k = 0; k < planes; k++) lpa += (double)y[k] * dy[k];
                ck_global_maxpool_forward(x, y, NULL, planes, hw); for (int k = 0; k < planes; k++) lpm += (double)y[k] * dy[k];
                x[i] = keep - h; dn = x[i];
                ck_global_avgpool_forward(x, y, planes, hw); for (int k = 0; k < planes; k++) lma += (double)y[k] * dy[k];
                ck_global_maxpool_forward(x, y, NULL, planes, hw); for (int k = 0; k < planes; k++) lmm += (double)y[k] * dy[k];
                x[i] = keep;
                wa = fmax(wa, fabs(ga[i] - (lpa - lma) / ((double)up - dn)));
                wm = fmax(wm, fabs(gm[i] - (lpm - lmm) / ((double)up - dn)));
            }
            CHECK(wa < 1e-3 && wm < 1e-3, "global finite differences %dx%d: avg %g max %g", planes, hw, wa, wm);
            free(ga); free(gm);
        }
        free(x); free(y); free(y2); free(yw); free(am); free(dy); free(dx); free(dx0); free(gw);
    }

    float nanp[5] = { 1, NAN, 7, NAN, 2 }, y;
    int32_t a;
    CHECK(ck_global_maxpool_forward(nanp, &y, &a, 1, 5) == CK_OK && isnan(y) && a == 1, "global nan argmax %d", a);
    float tie[4] = { 2, 5, 5, 1 };
    CHECK(ck_global_maxpool_forward(tie, &y, &a, 1, 4) == CK_OK && y == 5 && a == 1, "global tie argmax %d", a);
}

/* ---- bad input ------------------------------------------------------------ */

static void test_errors(void) {
    enum { N = 64 };
    float x[N], y[N], dy[N], dx[N];
    int32_t am[N];
    for (int i = 0; i < N; i++) { x[i] = (float)i; dy[i] = 1; }
    const ck_pool2d good = geom(4, 4, 2, 2, 1, 0, 0, 0, 0, 0, 0);
    struct { ck_pool2d p; ck_status max, avg; } cases[] = {
        { good, CK_OK, CK_OK },
        { geom(0, 4, 2, 2, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(-4, 4, 2, 2, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 0, 2, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 2, 0, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 2, -1, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 2, 2, 1, -1, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 2, 2, 1, 0, 0, 0, -1, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },
        { geom(4, 4, 5, 1, 1, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_SIZE },   /* kernel larger than the input */
        { geom(4, 4, 3, 1, 2, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_ARGUMENT }, /* span 5 > 4; avg rejects dil first */
        { geom(4, 4, 2, 2, 0, 0, 0, 0, 0, 0, 0), CK_ERR_SIZE, CK_ERR_ARGUMENT },
        { geom(4, 4, 2, 2, 2, 0, 0, 0, 0, 0, 0), CK_OK, CK_ERR_ARGUMENT },     /* dilation is max-only */
        { geom(4, 4, 2, 2, 1, 0, 0, 0, 0, 2, 0), CK_ERR_ARGUMENT, CK_ERR_ARGUMENT },
        { geom(4, 4, 2, 2, 1, 0, 0, 0, 0, -1, 0), CK_ERR_ARGUMENT, CK_ERR_ARGUMENT },
        { geom(4, 4, 2, 2, 1, 0, 0, 0, 0, 0, 2), CK_OK, CK_ERR_ARGUMENT },     /* count_include_pad is avg-only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_pool2d p = cases[i].p;
        for (int j = 0; j < N; j++) { y[j] = dx[j] = SENTINEL; am[j] = -9; }
        ck_status st = ck_maxpool2d_forward(&p, x, y, am);
        CHECK(st == cases[i].max, "max case %zu: %d want %d", i, st, cases[i].max);
        if (cases[i].max != CK_OK) {
            CHECK(all_equal(y, N, SENTINEL) && all_equal_i(am, N, -9), "max case %zu wrote", i);
            int32_t zeros[N] = { 0 };
            CHECK(ck_maxpool2d_backward(&p, zeros, dy, dx) == cases[i].max && all_equal(dx, N, SENTINEL), "max backward case %zu", i);
            int32_t ho = -7, wo = -7;
            CHECK(ck_pool2d_output_size(&p, &ho, &wo) == cases[i].max && ho == -7 && wo == -7, "size case %zu", i);
        }
        for (int j = 0; j < N; j++) y[j] = dx[j] = SENTINEL;
        st = ck_avgpool2d_forward(&p, x, y);
        CHECK(st == cases[i].avg, "avg case %zu: %d want %d", i, st, cases[i].avg);
        if (cases[i].avg != CK_OK) {
            CHECK(ck_avgpool2d_backward(&p, dy, dx) == cases[i].avg, "avg backward case %zu", i);
            CHECK(all_equal(y, N, SENTINEL) && all_equal(dx, N, SENTINEL), "avg case %zu wrote", i);
        }
    }
    /* Dilation on one axis only: still max-only. */
    ck_pool2d p = good;
    p.dil_w = 2;
    for (int j = 0; j < N; j++) y[j] = dx[j] = SENTINEL;
    CHECK(ck_avgpool2d_forward(&p, x, y) == CK_ERR_ARGUMENT && ck_avgpool2d_backward(&p, dy, dx) == CK_ERR_ARGUMENT &&
          all_equal(y, N, SENTINEL) && all_equal(dx, N, SENTINEL), "avg dil_w 2");
    p = good; p.dil_h = 2;
    CHECK(ck_avgpool2d_forward(&p, x, y) == CK_ERR_ARGUMENT && all_equal(y, N, SENTINEL), "avg dil_h 2");
    p = good; p.dil_w = 2;
    CHECK(ck_maxpool2d_forward(&p, x, y, am) == CK_OK, "max dil_w 2");

    /* n and c, and tensors too large to index. */
    p = good;
    p.n = 0; CHECK(ck_maxpool2d_forward(&p, x, y, am) == CK_ERR_SIZE, "n 0");
    p = good; p.c = -1; CHECK(ck_avgpool2d_forward(&p, x, y) == CK_ERR_SIZE, "c -1");
    p = good; p.n = 65536; p.c = 65536; CHECK(ck_maxpool2d_forward(&p, x, y, am) == CK_ERR_SIZE, "too many elements");
    p = good; p.pad_top = INT32_MAX; p.pad_bottom = INT32_MAX;
    int32_t ho, wo;
    CHECK(ck_pool2d_output_size(&p, &ho, &wo) == CK_ERR_SIZE, "huge pads overflow the output");

    /* NULL pointers. */
    p = good;
    for (int j = 0; j < N; j++) y[j] = dx[j] = SENTINEL;
    CHECK(ck_pool2d_output_size(NULL, &ho, &wo) == CK_ERR_NULL, "size NULL p");
    CHECK(ck_pool2d_output_size(&p, NULL, &wo) == CK_ERR_NULL, "size NULL h");
    CHECK(ck_pool2d_output_size(&p, &ho, NULL) == CK_ERR_NULL, "size NULL w");
    CHECK(ck_maxpool2d_forward(NULL, x, y, am) == CK_ERR_NULL, "max NULL p");
    CHECK(ck_maxpool2d_forward(&p, NULL, y, am) == CK_ERR_NULL, "max NULL x");
    CHECK(ck_maxpool2d_forward(&p, x, NULL, am) == CK_ERR_NULL, "max NULL y");
    CHECK(ck_maxpool2d_backward(&p, NULL, dy, dx) == CK_ERR_NULL, "max backward NULL argmax");
    CHECK(ck_maxpool2d_backward(&p, am, NULL, dx) == CK_ERR_NULL, "max backward NULL dy");
    CHECK(ck_maxpool2d_backward(&p, am, dy, NULL) == CK_ERR_NULL, "max backward NULL dx");
    CHECK(ck_avgpool2d_forward(&p, NULL, y) == CK_ERR_NULL, "avg NULL x");
    CHECK(ck_avgpool2d_forward(&p, x, NULL) == CK_ERR_NULL, "avg NULL y");
    CHECK(ck_avgpool2d_backward(NULL, dy, dx) == CK_ERR_NULL, "avg backward NULL p");
    CHECK(ck_avgpool2d_backward(&p, NULL, dx) == CK_ERR_NULL, "avg backward NULL dy");
    CHECK(ck_avgpool2d_backward(&p, dy, NULL) == CK_ERR_NULL, "avg backward NULL dx");
    CHECK(all_equal(y, N, SENTINEL) && all_equal(dx, N, SENTINEL), "NULL cases wrote");

    /* Out-of-range argmax: rejected before any of dx changes, even when the
     * bad entry comes last. */
    int32_t bad[4] = { 0, 1, 2, 16 };
    CHECK(ck_maxpool2d_backward(&good, bad, dy, dx) == CK_ERR_ARGUMENT && all_equal(dx, N, SENTINEL), "argmax 16 of 16");
    bad[3] = -2;
    CHECK(ck_maxpool2d_backward(&good, bad, dy, dx) == CK_ERR_ARGUMENT && all_equal(dx, N, SENTINEL), "argmax -2");

    /* Global pooling. */
    CHECK(ck_global_avgpool_forward(NULL, y, 1, 4) == CK_ERR_NULL, "gap NULL x");
    CHECK(ck_global_avgpool_forward(x, NULL, 1, 4) == CK_ERR_NULL, "gap NULL y");
    CHECK(ck_global_avgpool_forward(x, y, 0, 4) == CK_ERR_SIZE, "gap planes 0");
    CHECK(ck_global_avgpool_forward(x, y, 1, -4) == CK_ERR_SIZE, "gap hw -4");
    CHECK(ck_global_avgpool_forward(x, y, 65536, 65536) == CK_ERR_SIZE, "gap too large");
    CHECK(ck_global_avgpool_backward(NULL, dx, 1, 4) == CK_ERR_NULL, "gap backward NULL dy");
    CHECK(ck_global_avgpool_backward(dy, NULL, 1, 4) == CK_ERR_NULL, "gap backward NULL dx");
    CHECK(ck_global_avgpool_backward(dy, dx, 1, 0) == CK_ERR_SIZE, "gap backward hw 0");
    CHECK(ck_global_maxpool_forward(NULL, y, am, 1, 4) == CK_ERR_NULL, "gmp NULL x");
    CHECK(ck_global_maxpool_forward(x, NULL, am, 1, 4) == CK_ERR_NULL, "gmp NULL y");
    CHECK(ck_global_maxpool_forward(x, y, am, -1, 4) == CK_ERR_SIZE, "gmp planes -1");
    CHECK(ck_global_maxpool_backward(NULL, dy, dx, 1, 4) == CK_ERR_NULL, "gmp backward NULL argmax");
    CHECK(ck_global_maxpool_backward(am, NULL, dx, 1, 4) == CK_ERR_NULL, "gmp backward NULL dy");
    CHECK(ck_global_maxpool_backward(am, dy, NULL, 1, 4) == CK_ERR_NULL, "gmp backward NULL dx");
    CHECK(ck_global_maxpool_backward(am, dy, dx, 1, 0) == CK_ERR_SIZE, "gmp backward hw 0");
    int32_t gbad[3] = { 0, 3, 4 };
    CHECK(ck_global_maxpool_backward(gbad, dy, dx, 3, 4) == CK_ERR_ARGUMENT, "gmp argmax 4 of 4");
    gbad[2] = -1;
    CHECK(ck_global_maxpool_backward(gbad, dy, dx, 3, 4) == CK_ERR_ARGUMENT, "gmp argmax -1");
    CHECK(all_equal(y, N, SENTINEL) && all_equal(dx, N, SENTINEL), "global error cases wrote");
}

/* Rows wide enough that the inference path works in several chunks of
 * output columns (and, with a huge stride, falls back to its direct loop),
 * against the reference; some with NaNs in the input. */
static void test_wide_pools(void) {
    for (int t = 0; t < 60; t++) {
        check_seed(7000 + t);
        ck_pool2d p = random_geometry(0);
        p.n = 1;
        p.w_in = check_int(60, 400);
        p.k_w = check_int(1, 5);
        p.dil_w = check_int(1, 3);
        if (t % 10 == 0) { p.stride_w = check_int(17, 40); p.w_in = check_int(1100, 3000); }
        run_maxpool(&p, 0);
    }
    /* ResNet's stem: 3x3, stride 2, pad 1, on 112 columns. */
    ck_pool2d stem = {.n = 1, .c = 3, .h_in = 112, .w_in = 112, .k_h = 3, .k_w = 3, .stride_h = 2, .stride_w = 2,
                      .dil_h = 1, .dil_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    run_maxpool(&stem, 0);

    /* NaN wins wherever a window holds one: NaNs anywhere, then only in the
     * middle plane (the planes around it take the NaN-free loops). */
    int32_t ho = 0, wo = 0;
    ck_pool2d_output_size(&stem, &ho, &wo);
    int64_t nin = (int64_t)stem.c * stem.h_in * stem.w_in, nout = (int64_t)stem.c * ho * wo;
    int64_t plane = (int64_t)stem.h_in * stem.w_in;
    for (int middle = 0; middle <= 1; middle++) {
        float *x = check_random(nin, -1, 1), *y = check_zeros(nout), *yr = check_zeros(nout);
        int32_t *amr = calloc((size_t)nout, sizeof(int32_t));
        for (int k = 0; k < 40; k++)
            x[middle ? plane + (int64_t)(check_next() % (uint64_t)plane) : (int64_t)(check_next() % (uint64_t)nin)] = NAN;
        ref_maxpool(&stem, ho, wo, x, yr, amr);
        CHECK(ck_maxpool2d_forward(&stem, x, y, NULL) == CK_OK, "wide maxpool with NaNs");
        int64_t nans = 0, bad = 0;
        for (int64_t i = 0; i < nout; i++) {
            nans += isnan(yr[i]);
            bad += isnan(yr[i]) ? !isnan(y[i]) : y[i] != yr[i];
        }
        CHECK(nans >= 40 && bad == 0, "wide maxpool with NaNs (%s): %lld of %lld outputs differ (%lld NaN)",
              middle ? "middle plane" : "anywhere", (long long)bad, (long long)nout, (long long)nans);
        free(x); free(y); free(yr); free(amr);
    }
}

/* 3x3, stride 2, pad 1 at the top and left (ResNet's pool) has loops of
 * its own in pool.c: every height and width up to 13 x 40 with each
 * bottom and right pad up to 3 (3 takes the general loops) and ceil mode, then wide rows (a few past the
 * path's 2048 columns, which take the general loops), against the
 * reference to the bit. Then the planes the path must hand back: a NaN
 * anywhere in a window, and +inf beside -inf (whose sum is NaN too); and
 * a plane of -inf, which is not NaN and stays on the path. */
static void test_pool3s2(void) {
    ck_pool2d p = {.n = 1, .c = 2, .k_h = 3, .k_w = 3, .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1,
                   .pad_top = 1, .pad_left = 1};
    int geometries = 0;
    for (int h = 1; h <= 13; h++)
        for (int w = 1; w <= 40; w++)
            for (int pads = 0; pads < 16; pads++)
                for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++) {
                    p.h_in = h; p.w_in = w; p.pad_bottom = pads / 4; p.pad_right = pads % 4; p.ceil_mode = ceil_mode;
                    int ho, wo;
                    if (!ref_size(&p, &ho, &wo)) continue;
                    run_maxpool(&p, 0);
                    geometries++;
                }
    CHECK(geometries > 9000, "only %d 3x3 stride-2 geometries were valid", geometries);
    const int wide[] = {112, 113, 2047, 2048, 2049, 2050};
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        p.h_in = 9; p.w_in = wide[i]; p.pad_bottom = p.pad_right = 1; p.ceil_mode = (int)i % 2;
        run_maxpool(&p, 0);
    }

    p.h_in = p.w_in = 24; p.pad_bottom = p.pad_right = 1; p.ceil_mode = 0;
    int ho, wo;
    ref_size(&p, &ho, &wo);
    const int64_t plane = (int64_t)p.h_in * p.w_in, nin = 2 * plane, nout = 2 * (int64_t)ho * wo;
    float *y = check_zeros(nout), *yr = check_zeros(nout);
    int32_t *amr = calloc((size_t)nout, sizeof(int32_t));
    for (int c = 0; c < 5; c++) {
        float *x = check_random(nin, -1, 1);
        const char *what = "?";
        if (c == 0) { x[plane + 0] = NAN; what = "NaN in the first row"; }
        if (c == 1) { x[plane + 23 * 24 + 23] = NAN; what = "NaN in the last row"; }
        if (c == 2) { x[7 * 24 + 11] = NAN; x[plane + 12 * 24 + 5] = NAN; what = "NaNs inside"; }
        if (c == 3) { x[5 * 24 + 5] = INFINITY; x[20 * 24 + 20] = -INFINITY; what = "+inf and -inf"; }
        if (c == 4) { for (int64_t i = 0; i < plane; i++) x[i] = -INFINITY; what = "a plane of -inf"; }
        ref_maxpool(&p, ho, wo, x, yr, amr);
        CHECK(ck_maxpool2d_forward(&p, x, y, NULL) == CK_OK, "3x3 stride-2 pool with %s", what);
        int64_t bad = 0;
        for (int64_t i = 0; i < nout; i++) bad += isnan(yr[i]) ? !isnan(y[i]) : memcmp(&y[i], &yr[i], sizeof(float)) != 0;
        CHECK(bad == 0, "3x3 stride-2 pool with %s: %lld of %lld outputs differ", what, (long long)bad, (long long)nout);
        free(x);
    }
    free(y); free(yr); free(amr);
}

int main(void) {
    test_random_pools();
    test_wide_pools();
    test_pool3s2();
    test_known_sizes();
    test_known_values();
    test_global();
    test_errors();
    return check_report("test_pool");
}
