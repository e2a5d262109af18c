/* test_winograd.c: the Winograd F(4x4, 3x3) path against a direct
 * convolution written here from the definition (not the library's im2col
 * path), over sizes that leave partial tiles, asymmetric pads, batches,
 * bias, activations and thread counts; then its argument checks. */
#include <string.h>

#include "cam_kernels.h"
#include "check.h"

/* y = act(conv(x, w) + bias) in double, 3x3, stride 1, groups 1. */
static void ref_conv(const ck_conv2d *p, int ho, int wo, const float *x, const float *w, const float *bias,
                     const float *res, const ck_activation *act, double *y, double *pre_max) {
    *pre_max = 0;
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->c_out; co++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double s = bias ? bias[co] : 0;
                    for (int ci = 0; ci < p->c_in; ci++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int ih = oh - p->pad_top + kh, iw = ow - p->pad_left + kw;
                                if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) continue;
                                s += (double)x[(((int64_t)n * p->c_in + ci) * p->h_in + ih) * p->w_in + iw] *
                                     w[((co * p->c_in + ci) * 3 + kh) * 3 + kw];
                            }
                    if (res) s += res[(((int64_t)n * p->c_out + co) * ho + oh) * wo + ow];
                    *pre_max = fmax(*pre_max, fabs(s));
                    if (act && act->kind == CK_ACT_RELU) s = s > 0 ? s : 0;
                    if (act && act->kind == CK_ACT_CLIP) s = fmin(fmax(s, act->alpha), act->beta);
                    y[(((int64_t)n * p->c_out + co) * ho + oh) * wo + ow] = s;
                }
}

static ck_conv2d conv3x3(int n, int c_in, int h, int w, int c_out, int pt, int pl, int pb, int pr) {
    ck_conv2d p = {n, c_in, h, w, c_out, 3, 3, 1, 1, 1, 1, pt, pl, pb, pr, 1};
    return p;
}

/* Worst error seen, absolute and as a fraction of its tolerance. */
static double worst_abs, worst_ratio, worst_rel;
static int cases;

/* One geometry, with and without bias by `variant`, activation and a
 * residual (ck_winograd_forward_add) by variant too, on 1 and 2 threads. */
static void check_case_m(ck_conv2d p, int variant, int32_t m) {
    int32_t ho, wo;
    if (ck_conv2d_output_size(&p, &ho, &wo) != CK_OK) return;
    CHECK(ck_winograd_applies(&p), "applies to n%d %dx%d pads %d %d %d %d", p.n, p.h_in, p.w_in, p.pad_top,
          p.pad_left, p.pad_bottom, p.pad_right);
    int64_t nx = (int64_t)p.n * p.c_in * p.h_in * p.w_in, ny = (int64_t)p.n * p.c_out * ho * wo;
    float *x = check_random(nx, -1, 1), *w = check_random((int64_t)p.c_out * p.c_in * 9, -1, 1);
    float *bias = variant & 1 ? check_random(p.c_out, -1, 1) : NULL;
    float *res = variant % 4 >= 2 ? check_random(ny, -2, 2) : NULL;
    const ck_activation acts[] = {{CK_ACT_NONE, 0, 0}, {CK_ACT_RELU, 0, 0}, {CK_ACT_CLIP, -0.5f, 0.75f}};
    const ck_activation *act = variant % 3 == 0 ? NULL : &acts[variant % 3];
    const size_t points = (size_t)(m + 2) * (size_t)(m + 2);
    size_t uf = ck_winograd_weight_floats(&p, m), sf = ck_winograd_scratch_floats(&p, m);
    CHECK(uf == points * p.c_out * p.c_in, "weight floats %zu", uf);
    float *u = check_zeros((int64_t)uf), *scratch = check_random((int64_t)sf, -1, 1);
    CHECK(ck_winograd_transform_weights(&p, m, w, u) == CK_OK, "transform");
    size_t pf = ck_winograd_packed_floats(&p, m);
    CHECK(pf == points * ck_packed_weight_floats(p.c_out, p.c_in), "packed floats %zu", pf);
    /* Packed directly, equal to U packed point by point by ck_pack_weights. */
    float *packed = check_random((int64_t)pf, -1, 1), *repacked = check_random((int64_t)pf, -1, 1);
    CHECK(ck_winograd_transform_weights_packed(&p, m, w, packed) == CK_OK, "transform packed");
    size_t point = pf / points;
    for (size_t q = 0; q < points; q++) (void)ck_pack_weights(p.c_out, p.c_in, u + (size_t)q * p.c_out * p.c_in, repacked + q * point);
    CHECK(memcmp(packed, repacked, pf * sizeof(float)) == 0, "packed U differs from U packed");
    free(repacked);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    double pre_max;
    ref_conv(&p, ho, wo, x, w, bias, res, act, ref, &pre_max);
    double scale = 1;
    for (int64_t i = 0; i < ny; i++) scale = fmax(scale, fabs(ref[i]));
    /* float32 with transform coefficients up to 8: a few ulps of the
     * largest output per sqrt(terms). */
    double tol = 1e-5 * scale * sqrt(p.c_in * 9.0);
    for (int run = 0; run < 4; run++) {
        int threads = 1 + run % 2, from_packed = run / 2;
        ck_set_threads(threads);
        float *y = check_random(ny, 100, 200);   /* every output must be overwritten */
        ck_status s = from_packed ? ck_winograd_forward_packed(&p, m, packed, x, bias, res, act, y, scratch, sf)
                      : res       ? ck_winograd_forward_add(&p, m, u, x, bias, res, act, y, scratch, sf)
                                  : ck_winograd_forward(&p, m, u, x, bias, act, y, scratch, sf);
        double err = 0;
        for (int64_t i = 0; i < ny; i++) {
            double d = fabs((double)y[i] - ref[i]);
            if (d != d) d = INFINITY;
            err = fmax(err, d);
        }
        CHECK(s == CK_OK && err <= tol, "F(%dx%d) n%d c%d->%d %dx%d pads %d %d %d %d variant %d threads %d%s: "
              "status %d, error %g > %g", m, m, p.n, p.c_in, p.c_out, p.h_in, p.w_in, p.pad_top, p.pad_left,
              p.pad_bottom, p.pad_right, variant, threads, from_packed ? " packed" : "", (int)s, err, tol);
        worst_abs = fmax(worst_abs, err);
        worst_ratio = fmax(worst_ratio, err / tol);
        worst_rel = fmax(worst_rel, err / fmax(1, pre_max));
        free(y);
    }
    ck_set_threads(0);
    cases++;
    free(x); free(w); free(bias); free(res); free(u); free(packed); free(scratch); free(ref);
}

/* Each geometry with both tile sizes. */
static void check_case(ck_conv2d p, int variant) {
    check_case_m(p, variant, 4);
    check_case_m(p, variant, 2);
}

static void test_geometries(void) {
    check_seed(43);
    const int sizes[][2] = {{1, 1}, {2, 3}, {5, 7}, {13, 13}, {56, 56}};
    const int pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 2, 1}, {2, 0, 1, 2}, {1, 2, 0, 0}};
    const int chans[][2] = {{1, 1}, {3, 17}, {17, 3}, {64, 64}, {17, 64}, {64, 1}};
    int variant = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t q = 0; q < sizeof pads / sizeof pads[0]; q++)
            for (size_t c = 0; c < sizeof chans / sizeof chans[0]; c++)
                for (int n = 1; n <= 3; n += 2) {
                    /* Keep the double reference cheap: the big products once each. */
                    int64_t macs = (int64_t)n * sizes[s][0] * sizes[s][1] * chans[c][0] * chans[c][1] * 9;
                    if (macs > 4000000 && (n > 1 || q > 1 || c != 3)) continue;
                    const int *pd = pads[q];
                    check_case(conv3x3(n, chans[c][0], sizes[s][0], sizes[s][1], chans[c][1], pd[0], pd[1], pd[2], pd[3]),
                               variant++);
                }
    /* More tiles than one block holds (3 + 17 channels: 2912 tiles a
     * block), and every variant on the ResNet shape. */
    check_case(conv3x3(1, 3, 222, 222, 17, 1, 1, 1, 1), 1);
    check_case(conv3x3(2, 3, 230, 221, 17, 2, 0, 1, 2), 2);
    for (int v = 0; v < 12; v++) check_case(conv3x3(1, 64, 14, 14, 64, 1, 1, 1, 1), v);
    /* Blocks take tiles across images: 9 images of 4 tiles in blocks of
     * 12 tiles (three images); 11 images of 9 tiles in blocks of 15 (16
     * evened out), most starting inside an image, in the middle of a tile
     * row; and a batch in one block of 64 tiles. */
    check_case(conv3x3(9, 32, 7, 7, 48, 1, 1, 1, 1), 3);
    check_case(conv3x3(11, 32, 9, 9, 8, 1, 1, 1, 1), 4);
    check_case(conv3x3(4, 256, 14, 14, 256, 1, 1, 1, 1), 7);
    /* Tile rows through the band at its widest (72 4x4 tiles, 320
     * floats), and rows too wide for it (83 and 165 tiles), read from x
     * directly away from the edges. */
    check_case(conv3x3(1, 3, 9, 288, 5, 1, 1, 1, 1), 5);
    check_case(conv3x3(2, 3, 9, 330, 5, 1, 2, 0, 1), 6);
}

static void test_arguments(void) {
    ck_conv2d p = conv3x3(1, 4, 9, 9, 5, 1, 1, 1, 1);
    int32_t ho = 9, wo = 9;
    size_t uf = ck_winograd_weight_floats(&p, 4), sf = ck_winograd_scratch_floats(&p, 4);
    float *x = check_random(4 * 81, -1, 1), *w = check_random(5 * 4 * 9, -1, 1), *u = check_zeros((int64_t)uf);
    float *scratch = check_zeros((int64_t)sf), *y = check_zeros(5 * ho * wo);
    CHECK(uf == 36 * 20 && sf > 0, "sizes %zu %zu", uf, sf);
    CHECK(ck_winograd_transform_weights(&p, 4, w, u) == CK_OK, "transform");
    CHECK(ck_winograd_transform_weights(NULL, 4, w, u) == CK_ERR_NULL, "NULL p");
    CHECK(ck_winograd_transform_weights(&p, 4, NULL, u) == CK_ERR_NULL, "NULL w");
    CHECK(ck_winograd_transform_weights(&p, 4, w, NULL) == CK_ERR_NULL, "NULL u");
    CHECK(ck_winograd_forward(NULL, 4, u, x, NULL, NULL, y, scratch, sf) == CK_ERR_NULL, "NULL p");
    CHECK(ck_winograd_forward(&p, 4, NULL, x, NULL, NULL, y, scratch, sf) == CK_ERR_NULL, "NULL u");
    CHECK(ck_winograd_forward(&p, 4, u, NULL, NULL, NULL, y, scratch, sf) == CK_ERR_NULL, "NULL x");
    CHECK(ck_winograd_forward(&p, 4, u, x, NULL, NULL, NULL, scratch, sf) == CK_ERR_NULL, "NULL y");
    CHECK(ck_winograd_forward(&p, 4, u, x, NULL, NULL, y, NULL, sf) == CK_ERR_NULL, "NULL scratch");
    CHECK(ck_winograd_forward(&p, 4, u, x, NULL, NULL, y, scratch, sf - 1) == CK_ERR_SCRATCH, "scratch too small");
    size_t pf = ck_winograd_packed_floats(&p, 4);
    float *packed = check_zeros((int64_t)pf);
    CHECK(pf == 36 * ck_packed_weight_floats(5, 4), "packed floats %zu", pf);
    CHECK(ck_winograd_transform_weights_packed(NULL, 4, w, packed) == CK_ERR_NULL, "packed NULL p");
    CHECK(ck_winograd_transform_weights_packed(&p, 4, NULL, packed) == CK_ERR_NULL, "packed NULL w");
    CHECK(ck_winograd_transform_weights_packed(&p, 4, w, NULL) == CK_ERR_NULL, "packed NULL packed");
    CHECK(ck_winograd_transform_weights_packed(&p, 4, w, packed) == CK_OK, "transform packed");
    CHECK(ck_winograd_forward_packed(&p, 4, NULL, x, NULL, NULL, NULL, y, scratch, sf) == CK_ERR_NULL, "packed NULL u");
    CHECK(ck_winograd_forward_packed(&p, 4, packed, x, NULL, NULL, NULL, y, scratch, sf - 1) == CK_ERR_SCRATCH,
          "packed scratch too small");
    const ck_activation bad = {CK_ACT_CLIP, 1.0f, -1.0f}, unknown = {(ck_act_kind)99, 0, 0};
    CHECK(ck_winograd_forward(&p, 4, u, x, NULL, &bad, y, scratch, sf) == CK_ERR_ARGUMENT, "Clip min > max");
    CHECK(ck_winograd_forward(&p, 4, u, x, NULL, &unknown, y, scratch, sf) == CK_ERR_ARGUMENT, "unknown activation");
    int untouched = 1;
    for (int i = 0; i < 5 * ho * wo; i++) untouched &= y[i] == 0.0f;
    CHECK(untouched, "y written by a refused call");
    CHECK(ck_winograd_applies(NULL) == 0, "applies(NULL)");
    CHECK(ck_winograd_weight_floats(&p, 2) == 16 * 20, "F(2x2) weight floats");
    CHECK(ck_winograd_packed_floats(&p, 2) == 16 * ck_packed_weight_floats(5, 4), "F(2x2) packed floats");
    CHECK(ck_winograd_scratch_floats(&p, 2) > 0, "F(2x2) scratch floats");

    /* Tile sizes other than 2 and 4: refused, sizes 0. */
    const int32_t bad_m[] = {0, 1, 3, 6, -4};
    for (int i = 0; i < 5; i++) {
        int32_t m = bad_m[i];
        CHECK(ck_winograd_weight_floats(&p, m) == 0 && ck_winograd_scratch_floats(&p, m) == 0 &&
              ck_winograd_packed_floats(&p, m) == 0, "m %d sizes", m);
        CHECK(ck_winograd_transform_weights(&p, m, w, u) == CK_ERR_ARGUMENT, "m %d transform", m);
        CHECK(ck_winograd_transform_weights_packed(&p, m, w, packed) == CK_ERR_ARGUMENT, "m %d transform packed", m);
        CHECK(ck_winograd_forward(&p, m, u, x, NULL, NULL, y, scratch, sf) == CK_ERR_ARGUMENT, "m %d forward", m);
        CHECK(ck_winograd_forward_packed(&p, m, packed, x, NULL, NULL, NULL, y, scratch, sf) == CK_ERR_ARGUMENT,
              "m %d forward packed", m);
    }

    /* Geometries the path does not take: refused, sizes 0. */
    ck_conv2d no[8];
    for (int i = 0; i < 8; i++) no[i] = p;
    no[0].stride_h = 2;
    no[1].stride_w = 2;
    no[2].dil_w = 2;
    no[3].k_h = no[3].k_w = 5;
    no[4].groups = 2;                     /* 4 and 5 channels: not a divisor of 5 anyway */
    no[4].c_out = 6;
    no[5].pad_top = 3;
    no[6].pad_right = 3;
    no[7].k_w = 1;
    for (int i = 0; i < 8; i++) {
        CHECK(!ck_winograd_applies(&no[i]), "case %d applies", i);
        CHECK(ck_winograd_weight_floats(&no[i], 4) == 0 && ck_winograd_scratch_floats(&no[i], 4) == 0, "case %d sizes", i);
        CHECK(ck_winograd_transform_weights(&no[i], 4, w, u) == CK_ERR_ARGUMENT, "case %d transform", i);
        CHECK(ck_winograd_forward(&no[i], 4, u, x, NULL, NULL, y, scratch, sf) == CK_ERR_ARGUMENT, "case %d forward", i);
        CHECK(ck_winograd_packed_floats(&no[i], 4) == 0, "case %d packed floats", i);
        CHECK(ck_winograd_transform_weights_packed(&no[i], 4, w, packed) == CK_ERR_ARGUMENT, "case %d transform packed", i);
        CHECK(ck_winograd_forward_packed(&no[i], 4, packed, x, NULL, NULL, NULL, y, scratch, sf) == CK_ERR_ARGUMENT,
              "case %d forward packed", i);
    }
    /* An invalid geometry is a size error, as for ck_conv2d_forward. */
    ck_conv2d empty = conv3x3(1, 4, 1, 1, 5, 0, 0, 0, 0);
    CHECK(!ck_winograd_applies(&empty), "1x1 input without padding applies");
    CHECK(ck_winograd_forward(&empty, 4, u, x, NULL, NULL, y, scratch, sf) == CK_ERR_SIZE, "empty output");
    free(x); free(w); free(u); free(packed); free(scratch); free(y);
}

int main(void) {
    test_geometries();
    test_arguments();
    printf("%d geometries; worst error %.3g absolute, %.3g relative to max(1, max|y before the activation|), %.3f of its tolerance\n",
           cases, worst_abs, worst_rel, worst_ratio);
    return check_report("test_winograd");
}
