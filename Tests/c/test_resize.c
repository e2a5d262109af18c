/* test_resize.c: bilinear resize against references written from the mode
 * formulas, closed-form maps (constants, affine ramps, 2x averaging) and
 * small cases worked out by hand. */
#include <string.h>

#include "cam_kernels.h"
#include "check.h"

#define SENTINEL 12345.0f

static int all_equal(const float *p, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

/* One axis: source taps i0, i1 and weight a, from the header's formulas. With
 * `float_coords` the coordinate is rounded to float first, as cv2 (half
 * pixel) and torch (align corners) do; without, it is exact in double. */
static void ref_tap(ck_resize_mode mode, int d, int n_in, int n_out, int float_coords, int *i0, int *i1, double *a) {
    double f;
    if (mode == CK_RESIZE_HALF_PIXEL) {
        f = (d + 0.5) * ((double)n_in / n_out) - 0.5;
        if (float_coords) f = (float)f;
    } else if (n_out == 1) {
        f = 0;
    } else {
        f = float_coords ? (double)((float)(n_in - 1) / (float)(n_out - 1) * (float)d)
                         : (double)d * (n_in - 1) / (n_out - 1);
    }
    int i = (int)floor(f);
    double w = f - i;
    if (i < 0) { i = 0; w = 0; }
    if (i >= n_in - 1) { i = n_in - 1; w = 0; }
    *i0 = i;
    *i1 = i + 1 < n_in ? i + 1 : n_in - 1;
    *a = w;
}

static void ref_resize(const float *src, int h_in, int w_in, double *dst, int h_out, int w_out,
                       ck_resize_mode mode, int float_coords) {
    for (int oy = 0; oy < h_out; oy++) {
        int y0, y1; double ay;
        ref_tap(mode, oy, h_in, h_out, float_coords, &y0, &y1, &ay);
        for (int ox = 0; ox < w_out; ox++) {
            int x0, x1; double ax;
            ref_tap(mode, ox, w_in, w_out, float_coords, &x0, &x1, &ax);
            double top = (1 - ax) * src[y0 * w_in + x0] + ax * src[y0 * w_in + x1];
            double bot = (1 - ax) * src[y1 * w_in + x0] + ax * src[y1 * w_in + x1];
            dst[oy * w_out + ox] = (1 - ay) * top + ay * bot;
        }
    }
}

static void test_random(void) {
    static const int shapes[][4] = {
        { 7, 7, 224, 224 }, { 14, 14, 224, 224 }, { 1, 1, 5, 3 }, { 1, 9, 4, 17 }, { 9, 1, 17, 4 },
        { 13, 11, 5, 3 }, { 224, 224, 7, 7 }, { 5, 6, 5, 6 }, { 3, 4, 1, 1 }, { 2, 3, 301, 299 },
        { 31, 17, 31, 40 }, { 300, 200, 77, 123 }, { 6, 6, 1, 9 },
    };
    const int count = (int)(sizeof shapes / sizeof shapes[0]);
    for (int m = 0; m < 2; m++) {
        ck_resize_mode mode = m ? CK_RESIZE_ALIGN_CORNERS : CK_RESIZE_HALF_PIXEL;
        for (int t = 0; t < count; t++) {
            int hi = shapes[t][0], wi = shapes[t][1], ho = shapes[t][2], wo = shapes[t][3];
            check_seed(8000 + 100 * m + t);
            float *src = check_random((int64_t)hi * wi, 0, 1), *dst = check_zeros((int64_t)ho * wo);
            float *want = check_zeros((int64_t)ho * wo), *exact = check_zeros((int64_t)ho * wo);
            double *r = malloc((size_t)ho * wo * sizeof(double));
            CHECK(ck_resize_bilinear(src, hi, wi, dst, ho, wo, mode) == CK_OK, "resize");
            ref_resize(src, hi, wi, r, ho, wo, mode, 1);
            for (int i = 0; i < ho * wo; i++) want[i] = (float)r[i];
            ref_resize(src, hi, wi, r, ho, wo, mode, 0);
            for (int i = 0; i < ho * wo; i++) exact[i] = (float)r[i];
            double e = check_max_abs_diff(dst, want, (int64_t)ho * wo);
            CHECK(e < 1e-6, "mode %d %dx%d -> %dx%d err %g", mode, hi, wi, ho, wo, e);
            /* Exact coordinates differ only by the float rounding of the
             * coordinate: relative 2^-24 of a coordinate up to max(h, w). */
            double tol = 1e-6 + 2.0 * (hi > wi ? hi : wi) / 16777216.0;
            e = check_max_abs_diff(dst, exact, (int64_t)ho * wo);
            CHECK(e < tol, "mode %d %dx%d -> %dx%d vs exact coords err %g (tol %g)", mode, hi, wi, ho, wo, e, tol);
            free(src); free(dst); free(want); free(exact); free(r);
        }
    }
}

/* Bilinear interpolation reproduces an affine map a*y + b*x + c at its
 * (clamped) source coordinate. */
static void test_affine(void) {
    static const int shapes[][4] = { { 7, 7, 224, 224 }, { 5, 9, 12, 4 }, { 2, 2, 3, 3 }, { 16, 10, 5, 25 }, { 3, 8, 1, 6 } };
    const double a = 0.03, b = -0.02, c = 0.5;
    for (int t = 0; t < 5; t++) {
        int hi = shapes[t][0], wi = shapes[t][1], ho = shapes[t][2], wo = shapes[t][3];
        float *src = check_zeros((int64_t)hi * wi), *dst = check_zeros((int64_t)ho * wo);
        for (int y = 0; y < hi; y++) for (int x = 0; x < wi; x++) src[y * wi + x] = (float)(a * y + b * x + c);
        double worst_ac = 0, worst_hp = 0;
        ck_resize_bilinear(src, hi, wi, dst, ho, wo, CK_RESIZE_ALIGN_CORNERS);
        for (int oy = 0; oy < ho; oy++) for (int ox = 0; ox < wo; ox++) {
            double fy = ho > 1 ? (double)oy * (hi - 1) / (ho - 1) : 0, fx = wo > 1 ? (double)ox * (wi - 1) / (wo - 1) : 0;
            worst_ac = fmax(worst_ac, fabs(dst[oy * wo + ox] - (a * fy + b * fx + c)));
        }
        ck_resize_bilinear(src, hi, wi, dst, ho, wo, CK_RESIZE_HALF_PIXEL);
        for (int oy = 0; oy < ho; oy++) for (int ox = 0; ox < wo; ox++) {
            double fy = fmin(fmax((oy + 0.5) * hi / ho - 0.5, 0), hi - 1);
            double fx = fmin(fmax((ox + 0.5) * wi / wo - 0.5, 0), wi - 1);
            worst_hp = fmax(worst_hp, fabs(dst[oy * wo + ox] - (a * fy + b * fx + c)));
        }
        CHECK(worst_ac < 2e-6, "align-corners ramp %dx%d -> %dx%d err %g", hi, wi, ho, wo, worst_ac);
        CHECK(worst_hp < 2e-6, "half-pixel ramp %dx%d -> %dx%d err %g", hi, wi, ho, wo, worst_hp);
        free(src); free(dst);
    }
}

static void test_closed_forms(void) {
    /* Constant stays constant, in both modes and any direction. */
    float cst[35], out[400];
    for (int i = 0; i < 35; i++) cst[i] = 0.3f;
    for (int m = 0; m < 2; m++) {
        ck_resize_bilinear(cst, 5, 7, out, 20, 20, (ck_resize_mode)m);
        double e = 0; for (int i = 0; i < 400; i++) e = fmax(e, fabs(out[i] - 0.3));
        CHECK(e < 1e-7, "constant up, mode %d: %g", m, e);
        ck_resize_bilinear(cst, 5, 7, out, 2, 3, (ck_resize_mode)m);
        e = 0; for (int i = 0; i < 6; i++) e = fmax(e, fabs(out[i] - 0.3));
        CHECK(e < 1e-7, "constant down, mode %d: %g", m, e);
    }

    /* Half-pixel 2x downscale samples at 2d + 0.5: the mean of each 2x2 block. */
    check_seed(8500);
    float *src = check_random(12 * 18, 0, 1), half[6 * 9];
    CHECK(ck_resize_bilinear(src, 12, 18, half, 6, 9, CK_RESIZE_HALF_PIXEL) == CK_OK, "2x down");
    double e = 0;
    for (int y = 0; y < 6; y++) for (int x = 0; x < 9; x++) {
        double m = (src[(2 * y) * 18 + 2 * x] + src[(2 * y) * 18 + 2 * x + 1] +
                    src[(2 * y + 1) * 18 + 2 * x] + src[(2 * y + 1) * 18 + 2 * x + 1]) / 4.0;
        e = fmax(e, fabs(half[y * 9 + x] - m));
    }
    CHECK(e < 3e-7, "2x downscale is the 2x2 mean: err %g", e);

    /* Same size is the identity, bit for bit, in both modes. */
    for (int m = 0; m < 2; m++) {
        float same[12 * 18];
        CHECK(ck_resize_bilinear(src, 12, 18, same, 12, 18, (ck_resize_mode)m) == CK_OK &&
              memcmp(same, src, sizeof same) == 0, "identity, mode %d", m);
    }
    free(src);

    /* A 1x1 map fills any output. */
    float one = 0.7f, big[6 * 5];
    for (int m = 0; m < 2; m++) {
        CHECK(ck_resize_bilinear(&one, 1, 1, big, 6, 5, (ck_resize_mode)m) == CK_OK && all_equal(big, 30, 0.7f), "1x1 mode %d", m);
    }
}

/* Small cases from the formulas by hand. */
static void test_known(void) {
    float r[2] = { 0, 1 }, o[4];
    /* half pixel 2 -> 4: f = -0.25, 0.25, 0.75, 1.25 -> clamp, 1/4, 3/4, clamp */
    CHECK(ck_resize_bilinear(r, 1, 2, o, 1, 4, CK_RESIZE_HALF_PIXEL) == CK_OK &&
          o[0] == 0 && o[1] == 0.25f && o[2] == 0.75f && o[3] == 1, "hp 2->4: %g %g %g %g", o[0], o[1], o[2], o[3]);
    /* the same along the other axis */
    CHECK(ck_resize_bilinear(r, 2, 1, o, 4, 1, CK_RESIZE_HALF_PIXEL) == CK_OK &&
          o[0] == 0 && o[1] == 0.25f && o[2] == 0.75f && o[3] == 1, "hp 2->4 vertical");
    /* align corners 2 -> 3: 0, 0.5, 1; 2 -> 1 samples the first corner */
    CHECK(ck_resize_bilinear(r, 1, 2, o, 1, 3, CK_RESIZE_ALIGN_CORNERS) == CK_OK &&
          o[0] == 0 && o[1] == 0.5f && o[2] == 1, "ac 2->3: %g %g %g", o[0], o[1], o[2]);
    CHECK(ck_resize_bilinear(r, 1, 2, o, 1, 1, CK_RESIZE_ALIGN_CORNERS) == CK_OK && o[0] == 0, "ac 2->1: %g", o[0]);
    /* half pixel 4 -> 1: f = 0.5 * 4 - 0.5 = 1.5, between samples 1 and 2 */
    float q[4] = { 0, 1, 2, 3 };
    CHECK(ck_resize_bilinear(q, 1, 4, o, 1, 1, CK_RESIZE_HALF_PIXEL) == CK_OK && o[0] == 1.5f, "hp 4->1: %g", o[0]);
    /* half pixel 4 -> 3: f = 1/6, 3/2, 17/6 -> 1/6, 3/2, 17/6 on a ramp */
    CHECK(ck_resize_bilinear(q, 1, 4, o, 1, 3, CK_RESIZE_HALF_PIXEL) == CK_OK &&
          fabsf(o[0] - 1.0f / 6) < 1e-6f && o[1] == 1.5f && fabsf(o[2] - 17.0f / 6) < 1e-6f, "hp 4->3: %g %g %g", o[0], o[1], o[2]);
    /* 2x2 [[0, 1], [2, 3]] -> 3x3 align corners */
    float sq[4] = { 0, 1, 2, 3 }, g[9];
    const float want[9] = { 0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3 };
    CHECK(ck_resize_bilinear(sq, 2, 2, g, 3, 3, CK_RESIZE_ALIGN_CORNERS) == CK_OK && memcmp(g, want, sizeof g) == 0,
          "ac 2x2->3x3");
    /* 2x2 -> 4x4 half pixel: rows and columns are 0, 1/4, 3/4, 1 of the way. */
    float g4[16];
    CHECK(ck_resize_bilinear(sq, 2, 2, g4, 4, 4, CK_RESIZE_HALF_PIXEL) == CK_OK, "hp 2x2->4x4");
    const float t[4] = { 0, 0.25f, 0.75f, 1 };
    double e = 0;
    for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) e = fmax(e, fabs(g4[y * 4 + x] - (2 * t[y] + t[x])));
    CHECK(e < 1e-7, "hp 2x2->4x4 err %g", e);
}

static void test_errors(void) {
    float src[4] = { 1, 2, 3, 4 }, dst[16];
    struct { const float *s; int32_t hi, wi; float *d; int32_t ho, wo; int mode; ck_status want; } cases[] = {
        { NULL, 2, 2, dst, 4, 4, 0, CK_ERR_NULL },
        { src, 2, 2, NULL, 4, 4, 0, CK_ERR_NULL },
        { src, 0, 2, dst, 4, 4, 0, CK_ERR_SIZE },
        { src, 2, -1, dst, 4, 4, 1, CK_ERR_SIZE },
        { src, 2, 2, dst, 0, 4, 0, CK_ERR_SIZE },
        { src, 2, 2, dst, 4, -4, 1, CK_ERR_SIZE },
        { src, 65536, 65536, dst, 4, 4, 0, CK_ERR_SIZE },
        { src, 2, 2, dst, 65536, 32768, 0, CK_ERR_SIZE },
        { src, 2, 2, dst, 4, 4, 2, CK_ERR_ARGUMENT },
        { src, 2, 2, dst, 4, 4, -1, CK_ERR_ARGUMENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < 16; j++) dst[j] = SENTINEL;
        ck_status st = ck_resize_bilinear(cases[i].s, cases[i].hi, cases[i].wi, cases[i].d, cases[i].ho, cases[i].wo,
                                          (ck_resize_mode)cases[i].mode);
        CHECK(st == cases[i].want, "error case %zu: %d want %d", i, st, cases[i].want);
        CHECK(all_equal(dst, 16, SENTINEL), "error case %zu wrote", i);
    }
}

int main(void) {
    test_random();
    test_affine();
    test_closed_forms();
    test_known();
    test_errors();
    return check_report("test_resize");
}
