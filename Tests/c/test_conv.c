/* test_conv.c: GEMM, im2col/col2im and convolution against references
 * written from the definitions, with finite differences for the backward
 * pass and the error contract (status, output untouched) for bad input. */
#include <float.h>
#include <stddef.h>
#include <string.h>

#include "cam_kernels.h"
#include "check.h"
#include "team.h"

/* ---- references ------------------------------------------------------------ */

static double ref_act(const ck_activation *act, double v) {
    if (!act) return v;
    double a = act->alpha, b = act->beta;
    switch (act->kind) {
    case CK_ACT_NONE: return v;
    case CK_ACT_RELU: return v > 0 ? v : 0;
    case CK_ACT_CLIP: return fmin(fmax(v, a), b);
    case CK_ACT_LEAKY_RELU: return v >= 0 ? v : a * v;
    case CK_ACT_SIGMOID: return 1 / (1 + exp(-v));
    case CK_ACT_SILU: return v / (1 + exp(-v));
    case CK_ACT_HARD_SIGMOID: return fmax(0, fmin(1, a * v + b));
    case CK_ACT_HARD_SWISH: return v * fmax(0, fmin(1, v / 6 + 0.5));
    }
    return NAN;
}

/* Row-major C = alpha op(A) op(B) + beta C, in double. */
static void ref_gemm(int ta, int tb, int m, int n, int k, double alpha, const float *a, int lda,
                     const float *b, int ldb, double beta, const float *c0, int ldc, double *out) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                double av = ta ? a[l * lda + i] : a[i * lda + l];
                double bv = tb ? b[j * ldb + l] : b[l * ldb + j];
                s += av * bv;
            }
            out[i * n + j] = alpha * s + (beta != 0 ? beta * c0[i * ldc + j] : 0);
        }
}

typedef struct geom {
    int32_t ho, wo, cin_g, cout_g;
    int64_t rows, cols, x_elems, y_elems, w_elems;
} geom;

static geom geom_of(const ck_conv2d *p) {
    geom g;
    g.ho = (p->h_in + p->pad_top + p->pad_bottom - p->dil_h * (p->k_h - 1) - 1) / p->stride_h + 1;
    g.wo = (p->w_in + p->pad_left + p->pad_right - p->dil_w * (p->k_w - 1) - 1) / p->stride_w + 1;
    g.cin_g = p->c_in / p->groups;
    g.cout_g = p->c_out / p->groups;
    g.rows = (int64_t)g.cin_g * p->k_h * p->k_w;
    g.cols = (int64_t)g.ho * g.wo;
    g.x_elems = (int64_t)p->n * p->c_in * p->h_in * p->w_in;
    g.y_elems = (int64_t)p->n * p->c_out * g.cols;
    g.w_elems = (int64_t)p->c_out * g.rows;
    return g;
}

/* Index of input sample (n, c, ih, iw), or -1 in the padding. */
static int64_t x_index(const ck_conv2d *p, int n, int c, int64_t ih, int64_t iw) {
    if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) return -1;
    return (((int64_t)n * p->c_in + c) * p->h_in + ih) * p->w_in + iw;
}

/* The convolution straight from its definition; y before the activation,
 * and the sum of |terms| per output for the rounding bound. */
static void ref_conv(const ck_conv2d *p, const float *x, const float *w, const float *bias,
                     double *y, double *abs_terms) {
    geom g = geom_of(p);
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->c_out; co++)
            for (int oh = 0; oh < g.ho; oh++)
                for (int ow = 0; ow < g.wo; ow++) {
                    int grp = co / g.cout_g;
                    double s = bias ? bias[co] : 0, a = fabs(s);
                    for (int ci = 0; ci < g.cin_g; ci++)
                        for (int kh = 0; kh < p->k_h; kh++)
                            for (int kw = 0; kw < p->k_w; kw++) {
                                int64_t xi = x_index(p, n, grp * g.cin_g + ci, (int64_t)oh * p->stride_h - p->pad_top + kh * p->dil_h,
                                                     (int64_t)ow * p->stride_w - p->pad_left + kw * p->dil_w);
                                if (xi < 0) continue;
                                double v = (double)x[xi] * w[((co * g.cin_g + ci) * p->k_h + kh) * p->k_w + kw];
                                s += v;
                                a += fabs(v);
                            }
                    int64_t yi = (((int64_t)n * p->c_out + co) * g.ho + oh) * g.wo + ow;
                    y[yi] = s;
                    abs_terms[yi] = a;
                }
}

/* dx += the transpose of ref_conv applied to dy (same loops, arrows reversed). */
static void ref_conv_backward(const ck_conv2d *p, const float *w, const float *dy, double *dx, double *abs_terms) {
    geom g = geom_of(p);
    for (int n = 0; n < p->n; n++)
        for (int co = 0; co < p->c_out; co++)
            for (int oh = 0; oh < g.ho; oh++)
                for (int ow = 0; ow < g.wo; ow++) {
                    int grp = co / g.cout_g;
                    double d = dy[(((int64_t)n * p->c_out + co) * g.ho + oh) * g.wo + ow];
                    for (int ci = 0; ci < g.cin_g; ci++)
                        for (int kh = 0; kh < p->k_h; kh++)
                            for (int kw = 0; kw < p->k_w; kw++) {
                                int64_t xi = x_index(p, n, grp * g.cin_g + ci, (int64_t)oh * p->stride_h - p->pad_top + kh * p->dil_h,
                                                     (int64_t)ow * p->stride_w - p->pad_left + kw * p->dil_w);
                                if (xi < 0) continue;
                                double v = d * w[((co * g.cin_g + ci) * p->k_h + kh) * p->k_w + kw];
                                dx[xi] += v;
                                abs_terms[xi] += fabs(v);
                            }
                }
}

/* Entry (r, q) of a group's im2col matrix, as the header defines it: the
 * input index tap r sees at output q, or -1 for padding. */
static int64_t im2col_source(const ck_conv2d *p, const geom *g, int grp, int64_t r, int64_t q) {
    int c = (int)(r / (p->k_h * p->k_w)), kh = (int)(r / p->k_w % p->k_h), kw = (int)(r % p->k_w);
    int64_t oh = q / g->wo, ow = q % g->wo;
    return x_index(p, 0, grp * g->cin_g + c, oh * p->stride_h - p->pad_top + (int64_t)kh * p->dil_h,
                   ow * p->stride_w - p->pad_left + (int64_t)kw * p->dil_w);
}

/* ---- helpers ------------------------------------------------------------- */

static float *filled(int64_t n, float v) {
    float *p = check_zeros(n);
    for (int64_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static float *copy_of(const float *src, int64_t n) {
    float *p = check_zeros(n);
    memcpy(p, src, (size_t)n * sizeof(float));
    return p;
}

static int all_equal(const float *p, float v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

/* Running worst of err / tol, NaN counting as infinitely bad. */
static double worse(double worst, double err, double tol) {
    double ratio = err / tol;
    if (ratio != ratio) return INFINITY;
    return ratio > worst ? ratio : worst;
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static void describe(const ck_conv2d *p, char *buf, size_t size) {
    snprintf(buf, size, "n%d c%d->%d %dx%d k%dx%d s%d,%d d%d,%d pad(t%d l%d b%d r%d) g%d", p->n, p->c_in, p->c_out,
             p->h_in, p->w_in, p->k_h, p->k_w, p->stride_h, p->stride_w, p->dil_h, p->dil_w,
             p->pad_top, p->pad_left, p->pad_bottom, p->pad_right, p->groups);
}

/* The test's own statement of when each path applies. */
static int algo_applies(const ck_conv2d *p, ck_conv_algo algo) {
    switch (algo) {
    case CK_CONV_AUTO: case CK_CONV_IM2COL: return 1;
    case CK_CONV_1X1:
        return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
               !p->pad_top && !p->pad_left && !p->pad_bottom && !p->pad_right;
    case CK_CONV_DEPTHWISE: return p->groups == p->c_in;
    case CK_CONV_DIRECT:
        return p->groups == 1 && p->c_in <= 4 && p->dil_h == 1 && p->dil_w == 1 && p->c_in * p->k_h * p->k_w <= 256;
    }
    return 0;
}

static double loss(const float *y, const float *r, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* ---- GEMM ---------------------------------------------------------------- */

/* One product against the double reference, with padded leading
 * dimensions; C's padding must stay untouched. */
static void check_gemm_case(int ta, int tb, int m, int n, int k, float alpha, float beta, int sparse) {
    int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    int lda = a_cols + check_int(0, 3), ldb = b_cols + check_int(0, 3), ldc = n + check_int(0, 3);
    float *a = check_random((int64_t)a_rows * lda, -1, 1), *b = check_random((int64_t)b_rows * ldb, -1, 1);
    /* Mostly zeros in A, as a gradient behind a ReLU is (the GEMV path then
     * skips the rows of B they would scale). */
    if (sparse)
        for (int64_t i = 0; i < (int64_t)a_rows * lda; i++)
            if (check_int(0, 9) < 6) a[i] = 0.0f;
    float *c = check_random((int64_t)m * ldc, -1, 1);
    /* beta == 0 must ignore C entirely, NaN included. */
    if (beta == 0)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[i * ldc + j] = NAN;
    float *c0 = copy_of(c, (int64_t)m * ldc);
    double *want = malloc(sizeof(double) * (size_t)m * n);
    ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, want);
    CHECK(ck_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == CK_OK, "gemm status");
    double worst = 0;
    int pad_ok = 1;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) worst = worse(worst, fabs(c[i * ldc + j] - want[i * n + j]), 1e-5 * (k + 1));
        for (int j = n; j < ldc; j++) pad_ok &= same_bits(&c[i * ldc + j], &c0[i * ldc + j], 1);
    }
    CHECK(worst <= 1, "gemm ta%d tb%d m%d n%d k%d alpha %g beta %g: err %g", ta, tb, m, n, k,
          alpha, beta, worst * 1e-5 * (k + 1));
    CHECK(pad_ok, "gemm wrote into C's row padding (ldc %d > n %d)", ldc, n);
    free(a); free(b); free(c); free(c0); free(want);
}

static void test_gemm(void) {
    check_seed(11);
    const float alphas[] = {1.0f, -0.5f, 2.25f}, betas[] = {0.0f, 1.0f, 0.5f};
    for (int t = 0; t < 120; t++)
        check_gemm_case(t & 1, (t >> 1) & 1, check_int(1, 37), check_int(1, 37), check_int(1, 37),
                        alphas[t % 3], betas[(t / 3) % 3], t % 5 == 0);
    /* One row or one column (a classifier head at batch 1) goes through
     * GEMV: every transpose and beta, small and large enough to be split
     * over threads (ResNet-18's head, 1 x 1000 x 512, just is). */
    const int shapes[][3] = {{1, 37, 29}, {1, 1, 5}, {23, 1, 31}, {1, 700, 1600}, {900, 1, 1300}, {1, 1000, 512}};
    for (int threads = 1; threads <= 2; threads++) {
        ck_set_threads(threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int t = 0; t < 24; t++)
                check_gemm_case(t & 1, (t >> 1) & 1, shapes[i][0], shapes[i][1], shapes[i][2], alphas[t % 3],
                                betas[(t / 4) % 3], t >= 12);
    }
    ck_set_threads(0);

    /* Bad input: the status, and C untouched. */
    float a[64], b[64], c[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = 1.0f;
    float *c_ref = filled(64, 3.0f);
    struct { int ta, tb, m, n, k, lda, ldb, ldc; ck_status want; const char *what; } bad[] = {
        {0, 0, 0, 2, 2, 2, 2, 2, CK_ERR_SIZE, "m = 0"},
        {0, 0, 2, -1, 2, 2, 2, 2, CK_ERR_SIZE, "n < 0"},
        {0, 0, 2, 2, 0, 2, 2, 2, CK_ERR_SIZE, "k = 0"},
        {0, 0, 2, 3, 4, 3, 3, 3, CK_ERR_SIZE, "lda < k"},
        {1, 0, 2, 3, 4, 1, 3, 3, CK_ERR_SIZE, "lda < m (trans_a)"},
        {0, 0, 2, 3, 4, 4, 2, 3, CK_ERR_SIZE, "ldb < n"},
        {0, 1, 2, 3, 4, 4, 3, 3, CK_ERR_SIZE, "ldb < k (trans_b)"},
        {0, 0, 2, 3, 4, 4, 3, 2, CK_ERR_SIZE, "ldc < n"},
        {0, 0, 65536, 1, 1, 1, 1, 65536, CK_ERR_SIZE, "C past CK_MAX_ELEMENTS"},
        {2, 0, 2, 2, 2, 2, 2, 2, CK_ERR_ARGUMENT, "trans_a = 2"},
        {0, 112, 2, 2, 2, 2, 2, 2, CK_ERR_ARGUMENT, "trans_b = CblasTrans"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, c_ref, sizeof c);
        ck_status s = ck_gemm(bad[i].ta, bad[i].tb, bad[i].m, bad[i].n, bad[i].k, 1.0f, a, bad[i].lda, b,
                              bad[i].ldb, 0.0f, c, bad[i].ldc);
        CHECK(s == bad[i].want, "gemm %s: got %d want %d", bad[i].what, s, bad[i].want);
        CHECK(same_bits(c, c_ref, 64), "gemm %s wrote C", bad[i].what);
    }
    memcpy(c, c_ref, sizeof c);
    CHECK(ck_gemm(0, 0, 2, 2, 2, 1, NULL, 2, b, 2, 0, c, 2) == CK_ERR_NULL, "gemm NULL a");
    CHECK(ck_gemm(0, 0, 2, 2, 2, 1, a, 2, NULL, 2, 0, c, 2) == CK_ERR_NULL, "gemm NULL b");
    CHECK(ck_gemm(0, 0, 2, 2, 2, 1, a, 2, b, 2, 0, NULL, 2) == CK_ERR_NULL, "gemm NULL c");
    CHECK(same_bits(c, c_ref, 64), "gemm NULL wrote C");
    free(c_ref);

    /* Threads: set returns the previous count, 0 restores the default. */
    int initial = ck_set_threads(1);
    CHECK(initial >= 1, "initial BLAS threads %d", initial);
    CHECK(ck_set_threads(3) == 1, "previous count after set(1)");
    CHECK(ck_set_threads(0) == 3, "previous count after set(3)");
    CHECK(ck_set_threads(0) == initial, "set(0) restores the startup count %d", initial);
}

/* ---- convolution: one geometry through every entry point ----------------- */

static const ck_act_kind kinds[] = {CK_ACT_NONE, CK_ACT_RELU, CK_ACT_CLIP, CK_ACT_LEAKY_RELU, CK_ACT_SIGMOID,
                                    CK_ACT_SILU, CK_ACT_HARD_SIGMOID, CK_ACT_HARD_SWISH};

static ck_activation act_of(ck_act_kind kind) {
    ck_activation a = {kind, 0.0f, 0.0f};
    if (kind == CK_ACT_CLIP) { a.alpha = -0.5f; a.beta = 1.5f; }
    if (kind == CK_ACT_LEAKY_RELU) a.alpha = 0.1f;
    if (kind == CK_ACT_HARD_SIGMOID) { a.alpha = 0.2f; a.beta = 0.5f; }
    return a;
}

static int packed_cases, direct_cases;

/* ck_conv2d_forward_packed against the same reference, where it applies
 * (groups == 1), without and with the residual; refused elsewhere. */
static void check_packed(const ck_conv2d *p, const char *name, const float *x, const float *w, const float *bias,
                         const ck_activation *act, const double *ref, const double *mag, const float *res) {
    geom g = geom_of(p);
    if (!ck_conv2d_packed_applies(p)) {
        float dummy[64] = {0}, *y = filled(g.y_elems, NAN);
        CHECK(p->groups == 1 ? g.rows * g.cols >= (1 << 22) : 1, "%s: packed path refused a small group-1 geometry", name);
        CHECK(ck_conv2d_forward_packed(p, dummy, x, bias, NULL, act, y, dummy, 64) == CK_ERR_ARGUMENT &&
              all_equal(y, NAN, g.y_elems), "%s: packed path not refused cleanly", name);
        free(y);
        return;
    }
    packed_cases++;
    int32_t m = p->c_out, k = (int32_t)g.rows;
    size_t pf = ck_packed_weight_floats(m, k), sf = ck_conv2d_packed_scratch_floats(p);
    CHECK(pf == (size_t)((m + 31) / 32 * 32) * (size_t)k, "%s: packed size %zu", name, pf);
    float *packed = filled((int64_t)pf, NAN);
    CHECK(ck_pack_weights(m, k, w, packed) == CK_OK, "%s: pack", name);
    for (int round = 0; round < 2; round++) {
        const float *r = round ? res : NULL;
        float *y = filled(g.y_elems, NAN), *scratch = sf ? filled((int64_t)sf, NAN) : NULL;
        ck_status s = ck_conv2d_forward_packed(p, packed, x, bias, r, act, y, scratch, sf);
        CHECK(s == CK_OK, "%s: packed forward residual %d status %d", name, r != NULL, s);
        double worst = 0;
        for (int64_t i = 0; i < g.y_elems; i++) {
            double pre = ref[i] + (r ? r[i] : 0), want = ref_act(act, pre);
            double tol = 1.5 * 2.0 * (double)(g.rows + 2) * FLT_EPSILON * (mag[i] + (r ? fabs(r[i]) : 0)) +
                         4 * FLT_EPSILON * (1 + fabs(want));
            worst = worse(worst, fabs((double)y[i] - want), tol);
        }
        CHECK(worst <= 1, "%s: packed forward act %d bias %d residual %d: worst error %g x tolerance", name,
              act ? (int)act->kind : -1, bias != NULL, r != NULL, worst);
        if (sf) CHECK(ck_conv2d_forward_packed(p, packed, x, bias, r, act, y, scratch, sf - 1) == CK_ERR_SCRATCH,
                      "%s: short scratch accepted", name);
        free(y); free(scratch);
    }
    free(packed);
}

static void check_forward(const ck_conv2d *p, const char *name, const float *x, const float *w,
                          const float *bias, const ck_activation *act) {
    geom g = geom_of(p);
    double *ref = malloc(sizeof(double) * (size_t)g.y_elems), *mag = malloc(sizeof(double) * (size_t)g.y_elems);
    ref_conv(p, x, w, bias, ref, mag);
    /* A residual added before the activation (ck_conv2d_forward_add), on
     * every path, the second time round. */
    float *res = check_random(g.y_elems, -2, 2);
    const ck_conv_algo algos[] = {CK_CONV_AUTO, CK_CONV_IM2COL, CK_CONV_1X1, CK_CONV_DEPTHWISE, CK_CONV_DIRECT};
    for (int round = 0; round < 10; round++) {
        ck_conv_algo algo = algos[round % 5];
        const float *r = round >= 5 ? res : NULL;
        size_t sf = ck_conv2d_scratch_floats(p, algo);
        float *y = filled(g.y_elems, NAN);
        if (!algo_applies(p, algo)) {
            float *scratch = check_zeros(1 << 16);
            CHECK(ck_conv2d_forward(p, algo, x, w, bias, act, y, scratch, 1 << 16) == CK_ERR_ARGUMENT,
                  "%s: algo %d does not apply", name, algo);
            CHECK(all_equal(y, NAN, g.y_elems), "%s: refused algo %d wrote y", name, algo);
            free(scratch); free(y);
            continue;
        }
        /* AUTO goes direct where that path's scratch fits in im2col's. */
        int direct_fits = algo_applies(p, CK_CONV_DIRECT) &&
                          ck_conv2d_scratch_floats(p, CK_CONV_DIRECT) <= ck_conv2d_scratch_floats(p, CK_CONV_IM2COL);
        ck_conv_algo path = algo == CK_CONV_AUTO
            ? (algo_applies(p, CK_CONV_1X1) ? CK_CONV_1X1 : algo_applies(p, CK_CONV_DEPTHWISE) ? CK_CONV_DEPTHWISE
               : direct_fits ? CK_CONV_DIRECT : CK_CONV_IM2COL)
            : algo;
        CHECK(ck_conv2d_direct_applies(p) == algo_applies(p, CK_CONV_DIRECT), "%s: direct applies %d", name,
              ck_conv2d_direct_applies(p));
        if (algo == CK_CONV_AUTO && path == CK_CONV_DIRECT && round == 0) direct_cases++;
        if (path == CK_CONV_IM2COL || (path == CK_CONV_DIRECT && algo == CK_CONV_AUTO))
            /* AUTO's scratch is im2col's wherever it goes: the backward pass runs im2col in it. */
            CHECK(sf >= 1 && (int64_t)sf <= g.rows * g.cols && sf == ck_conv2d_scratch_floats(p, CK_CONV_IM2COL),
                  "%s: algo %d scratch %zu of %lld", name, algo, sf, (long long)(g.rows * g.cols));
        else if (path == CK_CONV_DIRECT)
            CHECK(sf >= 1, "%s: direct scratch %zu", name, sf);
        else
            CHECK(sf == 0, "%s: algo %d scratch %zu, want 0", name, algo, sf);
        if (algo == CK_CONV_DIRECT) {
            float *short_scratch = filled((int64_t)sf, NAN);
            CHECK(ck_conv2d_forward(p, algo, x, w, bias, act, y, short_scratch, sf - 1) == CK_ERR_SCRATCH &&
                  all_equal(y, NAN, g.y_elems), "%s: direct path took a short scratch", name);
            free(short_scratch);
        }
        /* Exactly the advertised size, so that ASan catches any overrun. */
        float *scratch = sf ? filled((int64_t)sf, NAN) : NULL;
        ck_status s = r ? ck_conv2d_forward_add(p, algo, x, w, bias, r, act, y, scratch, sf)
                        : ck_conv2d_forward(p, algo, x, w, bias, act, y, scratch, sf);
        CHECK(s == CK_OK, "%s: forward algo %d residual %d status %d", name, algo, r != NULL, s);
        double worst = 0;
        int64_t worst_at = 0;
        for (int64_t i = 0; i < g.y_elems; i++) {
            double pre = ref[i] + (r ? r[i] : 0), want = ref_act(act, pre);
            /* Float summation error of rows + 2 terms, times the steepest slope
             * of any activation here (1.5), plus expf's own error. */
            double tol = 1.5 * 2.0 * (double)(g.rows + 2) * FLT_EPSILON * (mag[i] + (r ? fabs(r[i]) : 0)) +
                         4 * FLT_EPSILON * (1 + fabs(want));
            double next = worse(worst, fabs((double)y[i] - want), tol);
            if (next > worst) { worst = next; worst_at = i; }
        }
        CHECK(worst <= 1, "%s: forward algo %d act %d bias %d residual %d: worst error %g x tolerance at %lld (got %g want %g)",
              name, algo, act ? (int)act->kind : -1, bias != NULL, r != NULL, worst, (long long)worst_at, y[worst_at],
              ref_act(act, ref[worst_at] + (r ? r[worst_at] : 0)));
        free(scratch); free(y);
    }
    check_packed(p, name, x, w, bias, act, ref, mag, res);
    free(ref); free(mag); free(res);
}

static void check_im2col(const ck_conv2d *p, const char *name, const float *x) {
    geom g = geom_of(p);
    if (g.rows * g.cols > (1 << 22)) return;   /* the reference would be slow; the forward covers it */
    int64_t img = (int64_t)p->c_in * p->h_in * p->w_in, plane = (int64_t)p->h_in * p->w_in;
    for (int grp = 0; grp < p->groups; grp++) {
        /* im2col equals the definition, exactly (it only copies). */
        float *col = filled(g.rows * g.cols, NAN);
        CHECK(ck_im2col(p, x, grp, col) == CK_OK, "%s: im2col status", name);
        int64_t bad = 0;
        for (int64_t r = 0; r < g.rows; r++)
            for (int64_t q = 0; q < g.cols; q++) {
                int64_t src = im2col_source(p, &g, grp, r, q);
                float want = src < 0 ? 0.0f : x[src];
                bad += memcmp(&col[r * g.cols + q], &want, sizeof want) != 0;
            }
        CHECK(bad == 0, "%s: im2col group %d: %lld entries differ from the definition", name, grp, (long long)bad);

        /* col2im against the naive scatter, accumulating onto a nonzero dx. */
        float *c = check_random(g.rows * g.cols, -1, 1);
        float *dx0 = check_random(img, -1, 1), *dx = copy_of(dx0, img);
        double *want = malloc(sizeof(double) * (size_t)img);
        for (int64_t i = 0; i < img; i++) want[i] = dx0[i];
        for (int64_t r = 0; r < g.rows; r++)
            for (int64_t q = 0; q < g.cols; q++) {
                int64_t src = im2col_source(p, &g, grp, r, q);
                if (src >= 0) want[src] += c[r * g.cols + q];
            }
        CHECK(ck_col2im(p, c, grp, dx) == CK_OK, "%s: col2im status", name);
        double worst = 0;
        for (int64_t i = 0; i < img; i++) worst = worse(worst, fabs(dx[i] - want[i]), 1e-6 * (1 + p->k_h * p->k_w));
        CHECK(worst <= 1, "%s: col2im group %d error %g x tolerance", name, grp, worst);
        int others = same_bits(dx, dx0, grp * g.cin_g * plane) &&
                     same_bits(dx + (grp + 1) * g.cin_g * plane, dx0 + (grp + 1) * g.cin_g * plane,
                               img - (grp + 1) * g.cin_g * plane);
        CHECK(others, "%s: col2im group %d touched another group's channels", name, grp);

        /* The adjoint identity <im2col(x), c> == <x, col2im(c)>. */
        float *zero_dx = check_zeros(img);
        ck_col2im(p, c, grp, zero_dx);
        double lhs = 0, rhs = 0, scale = 0;
        for (int64_t i = 0; i < g.rows * g.cols; i++) { lhs += (double)col[i] * c[i]; scale += fabs((double)col[i] * c[i]); }
        for (int64_t i = 0; i < img; i++) rhs += (double)x[i] * zero_dx[i];
        CHECK(fabs(lhs - rhs) <= 1e-5 * (1 + scale), "%s: adjoint group %d: %g vs %g", name, grp, lhs, rhs);
        free(col); free(c); free(dx0); free(dx); free(want); free(zero_dx);
    }
}

static void check_backward(const ck_conv2d *p, const char *name, const float *x, const float *w,
                           const float *bias, int finite_differences) {
    geom g = geom_of(p);
    size_t sf = ck_conv2d_scratch_floats(p, CK_CONV_AUTO);
    float *scratch = sf ? filled((int64_t)sf, NAN) : NULL;
    float *dy = check_random(g.y_elems, -1, 1);
    float *dx0 = check_random(g.x_elems, -1, 1), *dx = copy_of(dx0, g.x_elems);
    double *want = malloc(sizeof(double) * (size_t)g.x_elems), *mag = malloc(sizeof(double) * (size_t)g.x_elems);
    for (int64_t i = 0; i < g.x_elems; i++) { want[i] = dx0[i]; mag[i] = fabs(dx0[i]); }
    ref_conv_backward(p, w, dy, want, mag);
    ck_status s = ck_conv2d_backward_input(p, w, dy, dx, scratch, sf);
    CHECK(s == CK_OK, "%s: backward status %d", name, s);
    double worst = 0;
    for (int64_t i = 0; i < g.x_elems; i++) {
        double tol = 2.0 * (double)(g.cout_g * p->k_h * p->k_w + 1) * FLT_EPSILON * mag[i] + 1e-7;
        worst = worse(worst, fabs(dx[i] - want[i]), tol);
    }
    CHECK(worst <= 1, "%s: backward (accumulating) worst error %g x tolerance", name, worst);

    /* Central differences of loss = sum(conv(x) * dy). The loss is linear in
     * x, so the difference is exact up to rounding and eps can be large,
     * which keeps float32 rounding far below the tolerance; the step is
     * measured after rounding x +- eps. */
    if (finite_differences) {
        float *grad = check_zeros(g.x_elems);
        ck_conv2d_backward_input(p, w, dy, grad, scratch, sf);
        size_t fsf = ck_conv2d_scratch_floats(p, CK_CONV_AUTO);
        float *fscratch = fsf ? check_zeros((int64_t)fsf) : NULL;
        float *xp = copy_of(x, g.x_elems), *y = check_zeros(g.y_elems);
        const float eps = 0.0625f;
        for (int t = 0; t < 6; t++) {
            int64_t i = (int64_t)(check_next() % (uint64_t)g.x_elems);
            float orig = xp[i];
            xp[i] = orig + eps;
            double step = xp[i];
            ck_conv2d_forward(p, CK_CONV_AUTO, xp, w, bias, NULL, y, fscratch, fsf);
            double up = loss(y, dy, g.y_elems);
            xp[i] = orig - eps;
            step -= xp[i];
            ck_conv2d_forward(p, CK_CONV_AUTO, xp, w, bias, NULL, y, fscratch, fsf);
            double down = loss(y, dy, g.y_elems);
            xp[i] = orig;
            double fd = (up - down) / step;
            CHECK(fabs(fd - grad[i]) <= 1e-3 * (1 + fabs(grad[i])), "%s: finite difference at %lld: %g vs backward %g",
                  name, (long long)i, fd, grad[i]);
        }
        free(grad); free(fscratch); free(xp); free(y);
    }
    free(scratch); free(dy); free(dx0); free(dx); free(want); free(mag);
}

static int conv_cases;

static void run_conv(const ck_conv2d *p, int use_bias, ck_act_kind kind, int finite_differences) {
    char name[160];
    describe(p, name, sizeof name);
    int32_t ho = -1, wo = -1;
    ck_status s = ck_conv2d_output_size(p, &ho, &wo);
    geom g = geom_of(p);
    CHECK(s == CK_OK && ho == g.ho && wo == g.wo, "%s: output size %d (%d x %d, want %d x %d)", name, s, ho, wo, g.ho, g.wo);
    if (s != CK_OK) return;
    conv_cases++;
    float *x = check_random(g.x_elems, -1, 1), *w = check_random(g.w_elems, -1, 1);
    float *bias = use_bias ? check_random(p->c_out, -1, 1) : NULL;
    ck_activation act = act_of(kind);
    /* NONE is tested both as a NULL act and as an explicit identity. */
    check_forward(p, name, x, w, bias, kind == CK_ACT_NONE && use_bias ? NULL : &act);
    check_im2col(p, name, x);
    check_backward(p, name, x, w, bias, finite_differences);
    free(x); free(w); free(bias);
}

static ck_conv2d conv(int n, int c_in, int c_out, int h, int w, int kh, int kw, int s, int d,
                      int pt, int pl, int pb, int pr, int groups) {
    ck_conv2d p = {n, c_in, h, w, c_out, kh, kw, s, s, d, d, pt, pl, pb, pr, groups};
    return p;
}

static void test_conv_fixed(void) {
    check_seed(21);
    struct { ck_conv2d p; int bias; ck_act_kind act; } cases[] = {
        {conv(1, 3, 4, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},           /* plain 3x3 same */
        {conv(1, 3, 5, 11, 8, 3, 5, 2, 1, 0, 2, 1, 3, 1), 0, CK_ACT_NONE},          /* asymmetric pads, stride 2 */
        {conv(2, 2, 3, 10, 13, 3, 3, 1, 2, 2, 1, 0, 2, 1), 1, CK_ACT_SILU},         /* dilation 2, batch */
        {conv(1, 4, 6, 9, 9, 3, 3, 2, 1, 1, 1, 1, 1, 2), 1, CK_ACT_CLIP},           /* groups 2 */
        {conv(3, 6, 9, 8, 7, 2, 3, 1, 1, 0, 1, 1, 0, 3), 0, CK_ACT_LEAKY_RELU},     /* groups 3, batch 3 */
        {conv(1, 6, 6, 10, 9, 3, 3, 1, 1, 1, 1, 1, 1, 6), 1, CK_ACT_HARD_SWISH},    /* depthwise */
        {conv(2, 4, 12, 9, 11, 3, 3, 2, 1, 1, 1, 1, 1, 4), 1, CK_ACT_HARD_SIGMOID}, /* depthwise x3, stride 2 */
        {conv(1, 5, 10, 12, 12, 3, 3, 1, 2, 2, 0, 1, 3, 5), 0, CK_ACT_SIGMOID},     /* depthwise x2, dilation, odd pads */
        {conv(1, 3, 3, 6, 17, 5, 5, 2, 1, 2, 2, 2, 2, 3), 1, CK_ACT_RELU},          /* depthwise 5x5 stride 2 */
        {conv(2, 8, 5, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1), 1, CK_ACT_RELU},           /* 1x1: GEMM on the input */
        {conv(1, 6, 4, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, 2), 0, CK_ACT_NONE},           /* 1x1 grouped */
        {conv(1, 6, 4, 9, 7, 1, 1, 2, 1, 0, 0, 0, 0, 1), 1, CK_ACT_NONE},           /* 1x1 stride 2: im2col */
        {conv(2, 5, 3, 10, 17, 1, 1, 3, 1, 0, 0, 0, 0, 1), 1, CK_ACT_RELU},         /* 1x1 stride 3, batch */
        {conv(1, 3, 4, 5, 5, 1, 1, 1, 1, 1, 0, 0, 2, 1), 1, CK_ACT_NONE},           /* 1x1 padded: im2col */
        {conv(1, 1, 4, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},          /* c_in 1: depthwise x4 */
        {conv(1, 2, 3, 4, 5, 6, 7, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_NONE},           /* kernel = padded input */
        {conv(1, 2, 2, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, 2), 1, CK_ACT_NONE},           /* depthwise, 1x1 output */
        {conv(1, 3, 2, 5, 4, 5, 5, 3, 2, 3, 3, 3, 3, 1), 1, CK_ACT_NONE},           /* taps mostly in padding */
        {conv(1, 2, 3, 9, 15, 1, 7, 1, 1, 0, 3, 0, 3, 1), 1, CK_ACT_NONE},          /* 1x7 */
        {conv(1, 2, 3, 15, 9, 7, 1, 1, 1, 3, 0, 3, 0, 1), 1, CK_ACT_NONE},          /* 7x1 */
        {conv(1, 2, 3, 4, 3, 5, 5, 1, 1, 4, 4, 0, 0, 1), 1, CK_ACT_NONE},           /* same-size output, a tap column all padding */
        {conv(1, 3, 4, 20, 22, 7, 7, 2, 1, 3, 3, 3, 3, 1), 1, CK_ACT_RELU},         /* stem-like 7x7 s2 */
        {conv(1, 2, 2, 6, 6, 3, 3, 3, 1, 0, 0, 0, 0, 1), 0, CK_ACT_NONE},           /* stride 3 */
        /* Large enough that im2col goes in column blocks (checked below): a
         * 2736-row matrix gets 773-column blocks, so block edges land
         * mid-row, one of them 1 column into a row, inside the left
         * padding; once through the general walk, once through the
         * stride-1 "flat" copy. Then blocks of exactly one output row, some
         * entirely in the top or bottom padding of a 7x7 kernel's taps;
         * then blocks with groups and a batch. */
        {conv(1, 304, 1, 6, 305, 3, 3, 1, 1, 3, 3, 3, 3, 1), 1, CK_ACT_NONE},
        {conv(1, 304, 1, 10, 309, 3, 3, 1, 2, 2, 2, 2, 2, 1), 0, CK_ACT_RELU},
        {conv(1, 56, 1, 4, 800, 7, 7, 1, 1, 3, 3, 3, 3, 1), 1, CK_ACT_NONE},
        {conv(2, 608, 2, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 2), 1, CK_ACT_HARD_SWISH},
        {conv(1, 8, 8, 30, 31, 3, 3, 1, 1, 1, 1, 1, 1, 8), 1, CK_ACT_CLIP},         /* depthwise, wide rows */
        /* Depthwise planes wider than the direct kernel's row buffer go in
         * vertical strips; strides beyond its reach, or kernels too large
         * for it, take its plain fallback. */
        {conv(1, 2, 2, 3, 1500, 3, 3, 1, 1, 1, 1, 1, 1, 2), 1, CK_ACT_RELU},
        {conv(1, 2, 4, 5, 1501, 3, 3, 2, 1, 1, 0, 1, 2, 2), 1, CK_ACT_CLIP},
        {conv(1, 2, 2, 4, 900, 5, 5, 1, 2, 4, 4, 4, 4, 2), 0, CK_ACT_SILU},
        {conv(1, 3, 3, 11, 12, 3, 3, 3, 1, 1, 1, 1, 1, 3), 1, CK_ACT_NONE},
        {conv(1, 2, 2, 12, 13, 3, 3, 5, 1, 1, 1, 1, 1, 2), 1, CK_ACT_NONE},
        {conv(1, 2, 2, 50, 50, 3, 3, 1, 40, 40, 40, 40, 40, 2), 1, CK_ACT_RELU},
        {conv(2, 3, 6, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 3), 1, CK_ACT_RELU},          /* 7 rows: a block, a pair, a single */
        {conv(1, 2, 2, 13, 14, 3, 3, 2, 1, 1, 1, 1, 1, 2), 1, CK_ACT_RELU},        /* stride 2, 7 output rows */
        /* ResNet's 3x3 stride-2 im2col (im2col_stride2_k3), without and
         * with a right pad, a batch; and a left pad of 2, which fits its
         * widths but not its taps. */
        {conv(1, 4, 8, 10, 12, 3, 3, 2, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},
        {conv(2, 3, 4, 7, 10, 3, 3, 2, 1, 1, 1, 0, 0, 1), 1, CK_ACT_CLIP},
        {conv(1, 3, 5, 9, 12, 3, 3, 2, 1, 0, 2, 1, 0, 1), 1, CK_ACT_NONE},
        /* Depthwise 3x3 stride 1 pad 1 on planes up to 32 wide goes flat
         * (depthwise.c's small planes; stride 2 below): MobileNetV2's 7x7 and 14x14 and
         * 28x28, a channel multiplier, planes of 1 and 2 columns, the
         * 32-column limit and one past it, and a plane too tall for the
         * buffer (those two take the 3x3 path). */
        {conv(1, 960, 960, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 960), 1, CK_ACT_CLIP},
        {conv(2, 64, 64, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 64), 0, CK_ACT_RELU},
        {conv(1, 24, 24, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 24), 1, CK_ACT_SILU},
        {conv(1, 4, 8, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 4), 1, CK_ACT_NONE},
        {conv(1, 3, 3, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 3), 1, CK_ACT_RELU},
        {conv(1, 3, 3, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 3), 1, CK_ACT_CLIP},
        {conv(1, 5, 5, 11, 32, 3, 3, 1, 1, 1, 1, 1, 1, 5), 1, CK_ACT_RELU},
        {conv(1, 5, 5, 11, 33, 3, 3, 1, 1, 1, 1, 1, 1, 5), 1, CK_ACT_RELU},
        {conv(1, 2, 2, 300, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2), 1, CK_ACT_CLIP},
        /* ... and at stride 2, in four planes by parity of row and column. */
        {conv(1, 576, 576, 14, 14, 3, 3, 2, 1, 1, 1, 1, 1, 576), 1, CK_ACT_CLIP},
        {conv(2, 16, 16, 28, 28, 3, 3, 2, 1, 1, 1, 1, 1, 16), 0, CK_ACT_SILU},
        {conv(1, 3, 6, 7, 9, 3, 3, 2, 1, 1, 1, 1, 1, 3), 1, CK_ACT_RELU},
        {conv(1, 3, 3, 1, 1, 3, 3, 2, 1, 1, 1, 1, 1, 3), 1, CK_ACT_NONE},
        {conv(1, 3, 3, 4, 2, 3, 3, 2, 1, 1, 1, 1, 1, 3), 1, CK_ACT_RELU},
        {conv(1, 5, 5, 13, 32, 3, 3, 2, 1, 1, 1, 1, 1, 5), 1, CK_ACT_CLIP},
        {conv(1, 5, 5, 13, 33, 3, 3, 2, 1, 1, 1, 1, 1, 5), 1, CK_ACT_CLIP},
        {conv(1, 2, 2, 500, 31, 3, 3, 2, 1, 1, 1, 1, 1, 2), 1, CK_ACT_RELU},
        /* The direct path for few input channels (conv_direct.c): network
         * stems at odd sizes, c_out not a multiple of its 6- or 16-channel
         * block, rows of 1 to 4 vectors and a partial one, even and odd
         * left pads, strides 1 to 4, padding wider than the kernel, and an
         * input wide enough to go in several bands of rows. */
        {conv(1, 3, 9, 67, 61, 7, 7, 2, 1, 3, 3, 3, 3, 1), 1, CK_ACT_RELU},        /* ResNet's stem */
        {conv(2, 3, 6, 31, 33, 3, 3, 2, 1, 1, 1, 1, 1, 1), 1, CK_ACT_CLIP},        /* MobileNet's, batch 2 */
        {conv(1, 3, 5, 29, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},        /* VGG's */
        {conv(1, 1, 3, 9, 50, 5, 3, 1, 1, 2, 2, 2, 0, 1), 0, CK_ACT_NONE},         /* 48 columns: 3 blocks of 2 vectors */
        {conv(1, 2, 7, 11, 61, 3, 5, 2, 1, 0, 3, 1, 2, 1), 1, CK_ACT_SILU},        /* odd left pad, stride 2 */
        {conv(1, 4, 3, 300, 900, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},      /* 5 bands of 70 rows */
        {conv(1, 2, 3, 20, 23, 4, 4, 4, 1, 1, 2, 0, 1, 1), 1, CK_ACT_NONE},        /* stride 4 */
        {conv(1, 3, 2, 17, 19, 3, 3, 3, 1, 2, 1, 0, 0, 1), 0, CK_ACT_LEAKY_RELU},  /* stride 3 */
        {conv(1, 1, 2, 5, 6, 3, 3, 1, 1, 4, 5, 4, 5, 1), 1, CK_ACT_NONE},          /* pads past the kernel */
        {conv(1, 2, 1, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, 1), 1, CK_ACT_NONE},          /* 1x1 output */
        {conv(1, 3, 17, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_CLIP},        /* 16 + 1 channels, 16 + 16 + 1 columns */
        {conv(1, 3, 16, 5, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},        /* whole 16-float blocks */
    };
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++) run_conv(&cases[i].p, cases[i].bias, cases[i].act, 1);
    /* The direct path's 8-float kernel, which CPUs without AVX-512F take
     * (where the CPU has it, the cases above took the 16-float kernel). */
    ck_direct_narrow_only = 1;
    for (size_t i = 0; i < n_cases; i++)
        if (ck_conv2d_direct_applies(&cases[i].p)) run_conv(&cases[i].p, cases[i].bias, cases[i].act, 0);
    ck_direct_narrow_only = 0;
    /* The three stems at full size: AUTO takes them direct (their direct
     * scratch fits in im2col's). */
    const ck_conv2d stems[] = {conv(1, 3, 64, 224, 224, 7, 7, 2, 1, 3, 3, 3, 3, 1), conv(1, 3, 64, 224, 224, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                               conv(1, 3, 32, 224, 224, 3, 3, 2, 1, 1, 1, 1, 1, 1)};
    for (size_t i = 0; i < 3; i++)
        CHECK(ck_conv2d_direct_applies(&stems[i]) &&
              ck_conv2d_scratch_floats(&stems[i], CK_CONV_DIRECT) <= ck_conv2d_scratch_floats(&stems[i], CK_CONV_IM2COL),
              "stem %zu would not go direct under AUTO", i);
    for (size_t i = 23; i < 27; i++) {   /* the four cases after "stride 3" */
        geom g = geom_of(&cases[i].p);
        CHECK((int64_t)ck_conv2d_scratch_floats(&cases[i].p, CK_CONV_IM2COL) < g.rows * g.cols,
              "case %zu was meant to build im2col in blocks", i);
    }
    /* Every activation through every path once more, on one shape per path. */
    const ck_conv2d paths[] = {conv(1, 3, 4, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1), conv(1, 4, 8, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 4),
                               conv(1, 4, 3, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1)};
    for (int pi = 0; pi < 3; pi++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) run_conv(&paths[pi], (int)k & 1, kinds[k], 0);
}

static void test_conv_random(void) {
    check_seed(31);
    for (int t = 0; t < 160; t++) {
        ck_conv2d p;
        p.n = check_int(1, 2);
        int kind = check_int(0, 3);   /* 0 plain, 1 grouped, 2 depthwise, 3 depthwise with multiplier */
        p.groups = kind == 0 ? 1 : check_int(2, 3);
        int cin_g = kind >= 2 ? 1 : check_int(1, 4), cout_g = kind == 2 ? 1 : check_int(1, 4);
        p.c_in = p.groups * cin_g;
        p.c_out = p.groups * cout_g;
        p.k_h = check_int(1, 4); p.k_w = check_int(1, 4);
        p.stride_h = check_int(1, 3); p.stride_w = check_int(1, 3);
        p.dil_h = check_int(1, 2); p.dil_w = check_int(1, 2);
        p.pad_top = check_int(0, 3); p.pad_left = check_int(0, 3); p.pad_bottom = check_int(0, 3); p.pad_right = check_int(0, 3);
        if (check_int(0, 4) == 0) {   /* sometimes a geometry the 1x1 path takes */
            p.k_h = p.k_w = 1; p.stride_h = p.stride_w = 1;
            p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 0;
        }
        int span_h = p.dil_h * (p.k_h - 1) + 1, span_w = p.dil_w * (p.k_w - 1) + 1;
        int min_h = span_h - p.pad_top - p.pad_bottom, min_w = span_w - p.pad_left - p.pad_right;
        p.h_in = check_int(min_h > 1 ? min_h : 1, 13);
        p.w_in = check_int(min_w > 1 ? min_w : 1, 13);
        run_conv(&p, check_int(0, 1), kinds[check_int(0, 7)], t % 4 == 0);
    }
}

/* ---- with more than one BLAS thread ------------------------------------------ */

/* With more BLAS threads, im2col and the bias fill (and, on large outputs,
 * the activation) are shared among as many threads: each geometry here is
 * large enough to be split, through each im2col path (the stride-1 flat
 * copy, stride 2, the general walk), with groups, a batch, column blocks,
 * fewer kernel taps than threads, and an output large enough for the
 * activation to be split too. Run at 2 and 4 threads (more threads than
 * this machine may have cores is fine), and the result must match the
 * definition as at one thread; and once more on small integers, where
 * every sum is exact in any order (GEMM may sum in another order with
 * more threads), for the same bits as one thread gives. */
static void test_conv_threads(void) {
    check_seed(41);
    int initial = ck_set_threads(1);
    struct { ck_conv2d p; int bias; ck_act_kind act; } cases[] = {
        {conv(1, 16, 8, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},        /* flat, 144 x 1600 */
        {conv(1, 3, 16, 96, 96, 7, 7, 2, 1, 3, 3, 3, 3, 1), 1, CK_ACT_RELU},        /* stem-like: 21 units */
        {conv(1, 24, 12, 45, 47, 3, 3, 2, 1, 1, 0, 1, 2, 1), 0, CK_ACT_CLIP},       /* stride 2, odd pads */
        {conv(2, 16, 8, 30, 30, 3, 3, 1, 2, 2, 2, 2, 2, 2), 1, CK_ACT_SILU},        /* walk (dilation), groups, batch */
        {conv(1, 304, 4, 12, 305, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_NONE},      /* column blocks */
        {conv(1, 16, 32, 38, 46, 3, 3, 2, 1, 1, 1, 1, 1, 1), 1, CK_ACT_RELU},       /* blocks end mid-row: stride-2 3x3 */
        {conv(1, 1, 32, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, CK_ACT_HARD_SWISH}, /* activation split too */
        {conv(2, 24, 145, 18, 18, 1, 1, 1, 1, 0, 0, 0, 0, 1), 1, CK_ACT_CLIP},      /* 1x1, batch: column blocks */
        {conv(1, 65, 40, 30, 30, 1, 1, 1, 1, 0, 0, 0, 0, 1), 1, CK_ACT_LEAKY_RELU}, /* 1x1 */
        {conv(1, 32, 64, 20, 20, 1, 1, 1, 1, 0, 0, 0, 0, 2), 1, CK_ACT_SIGMOID},    /* 1x1 per group */
    };
    size_t n_cases = sizeof cases / sizeof cases[0];
    const int threads[] = {2, 4};
    for (size_t t = 0; t < 2; t++) {
        ck_set_threads(threads[t]);
        for (size_t i = 0; i < n_cases; i++) run_conv(&cases[i].p, cases[i].bias, cases[i].act, i == 0);
    }
    /* Same bits as one thread. */
    for (size_t i = 0; i < n_cases; i++) {
        const ck_conv2d *p = &cases[i].p;
        geom g = geom_of(p);
        size_t sf = ck_conv2d_scratch_floats(p, CK_CONV_IM2COL);
        float *x = check_zeros(g.x_elems), *w = check_zeros(g.w_elems), *bias = NULL;
        for (int64_t k = 0; k < g.x_elems; k++) x[k] = (float)check_int(-2, 2);
        for (int64_t k = 0; k < g.w_elems; k++) w[k] = (float)check_int(-2, 2);
        if (cases[i].bias) {
            bias = check_zeros(p->c_out);
            for (int k = 0; k < p->c_out; k++) bias[k] = (float)check_int(-8, 8);
        }
        float *scratch = check_zeros((int64_t)sf), *y1 = filled(g.y_elems, NAN), *y4 = filled(g.y_elems, NAN);
        ck_activation act = act_of(cases[i].act);
        ck_set_threads(1);
        ck_status s1 = ck_conv2d_forward(p, CK_CONV_IM2COL, x, w, bias, &act, y1, scratch, sf);
        ck_set_threads(4);
        ck_status s4 = ck_conv2d_forward(p, CK_CONV_IM2COL, x, w, bias, &act, y4, scratch, sf);
        char name[160];
        describe(p, name, sizeof name);
        CHECK(s1 == CK_OK && s4 == CK_OK && same_bits(y1, y4, g.y_elems), "%s: 4 BLAS threads differ from 1", name);
        free(x); free(w); free(bias); free(scratch); free(y1); free(y4);
    }
    /* GEMM split by columns (wide C) and by rows (narrow C), every
     * transpose: same bits as one thread. */
    const int32_t shapes[][3] = {{64, 3000, 300}, {700, 40, 500}, {1, 4096, 512}};
    for (size_t i = 0; i < 3; i++) {
        int32_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                float *a = check_zeros((int64_t)m * k), *b = check_zeros((int64_t)k * n);
                for (int64_t q = 0; q < (int64_t)m * k; q++) a[q] = (float)check_int(-3, 3) / 4;
                for (int64_t q = 0; q < (int64_t)k * n; q++) b[q] = (float)check_int(-3, 3) / 4;
                float *c1 = filled((int64_t)m * n, 0.5f), *c4 = filled((int64_t)m * n, 0.5f);
                ck_set_threads(1);
                ck_status s1 = ck_gemm(ta, tb, m, n, k, 0.5f, a, ta ? m : k, b, tb ? k : n, 1.0f, c1, n);
                ck_set_threads(4);
                ck_status s4 = ck_gemm(ta, tb, m, n, k, 0.5f, a, ta ? m : k, b, tb ? k : n, 1.0f, c4, n);
                CHECK(s1 == CK_OK && s4 == CK_OK && same_bits(c1, c4, (int64_t)m * n),
                      "gemm %dx%dx%d trans %d%d: 4 threads differ from 1", m, n, k, ta, tb);
                free(a); free(b); free(c1); free(c4);
            }
        }
    }

    /* The direct path for few input channels goes in bands of output rows,
     * each split on its thread's stack, when a band fits there: the three
     * stems at full size (ResNet's in 14 bands, MobileNet's, VGG's), odd
     * sizes, a batch, a residual, a fused clamp (ReLU, Clip) and an
     * activation pass (SiLU); and an input too wide for that buffer
     * (shared bands). Against the reference on 2 threads (run_conv), then
     * the same bits on 1, 2 and 3 threads, on random values. */
    struct { ck_conv2d p; ck_act_kind act; int res; } directs[] = {
        {conv(1, 3, 64, 224, 224, 7, 7, 2, 1, 3, 3, 3, 3, 1), CK_ACT_RELU, 0},
        {conv(1, 3, 32, 224, 224, 3, 3, 2, 1, 1, 1, 1, 1, 1), CK_ACT_CLIP, 0},
        {conv(1, 3, 64, 224, 224, 3, 3, 1, 1, 1, 1, 1, 1, 1), CK_ACT_RELU, 1},
        {conv(2, 3, 13, 99, 87, 7, 7, 2, 1, 3, 3, 3, 3, 1), CK_ACT_SILU, 1},
        {conv(1, 2, 7, 61, 1000, 7, 7, 2, 1, 3, 3, 3, 3, 1), CK_ACT_RELU, 0},    /* 3048 floats a row: shared bands */
    };
    ck_set_threads(2);
    for (size_t i = 0; i < sizeof directs / sizeof directs[0]; i++) run_conv(&directs[i].p, 1, directs[i].act, 0);
    for (size_t i = 0; i < 2 * sizeof directs / sizeof directs[0]; i++) {
        ck_direct_narrow_only = i % 2;   /* both kernels */
        const ck_conv2d *p = &directs[i / 2].p;
        geom g = geom_of(p);
        size_t sf = ck_conv2d_scratch_floats(p, CK_CONV_DIRECT);
        float *x = check_random(g.x_elems, -1, 1), *w = check_random(g.w_elems, -1, 1), *bias = check_random(p->c_out, -1, 1);
        float *res = directs[i / 2].res ? check_random(g.y_elems, -1, 1) : NULL, *scratch = check_zeros((int64_t)sf);
        float *y[3];
        ck_activation act = act_of(directs[i / 2].act);
        int ok = 1;
        for (int t = 0; t < 3; t++) {
            y[t] = filled(g.y_elems, NAN);
            ck_set_threads(t + 1);
            ok &= ck_conv2d_forward_add(p, CK_CONV_DIRECT, x, w, bias, res, &act, y[t], scratch, sf) == CK_OK;
        }
        char name[160];
        describe(p, name, sizeof name);
        CHECK(ok && same_bits(y[0], y[1], g.y_elems) && same_bits(y[0], y[2], g.y_elems),
              "%s: direct path (8-float kernel %d) on 2 and 3 threads differs from 1", name, ck_direct_narrow_only);
        free(x); free(w); free(bias); free(res); free(scratch);
        for (int t = 0; t < 3; t++) free(y[t]);
    }
    ck_direct_narrow_only = 0;

    /* Depthwise layers are shared out by channel: same bits again. */
    ck_conv2d dws[] = {conv(1, 64, 64, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 64), conv(2, 32, 64, 57, 43, 3, 3, 2, 1, 1, 0, 1, 1, 32),
                       conv(2, 960, 960, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 960), conv(1, 576, 576, 14, 14, 3, 3, 2, 1, 1, 1, 1, 1, 576),
                       conv(1, 48, 48, 40, 40, 5, 5, 1, 2, 2, 2, 2, 2, 48)};
    for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++) {
        const ck_conv2d *p = &dws[i];
        geom g = geom_of(p);
        float *x = check_zeros(g.x_elems), *w = check_zeros(g.w_elems), *bias = check_zeros(p->c_out);
        for (int64_t k = 0; k < g.x_elems; k++) x[k] = (float)check_int(-4, 4) / 4;
        for (int64_t k = 0; k < g.w_elems; k++) w[k] = (float)check_int(-4, 4) / 8;
        for (int k = 0; k < p->c_out; k++) bias[k] = (float)check_int(-8, 8);
        float *y1 = filled(g.y_elems, NAN), *y4 = filled(g.y_elems, NAN);
        ck_activation act = act_of(CK_ACT_CLIP);
        ck_set_threads(1);
        ck_status s1 = ck_conv2d_forward(p, CK_CONV_DEPTHWISE, x, w, bias, &act, y1, NULL, 0);
        ck_set_threads(4);
        ck_status s4 = ck_conv2d_forward(p, CK_CONV_DEPTHWISE, x, w, bias, &act, y4, NULL, 0);
        char name[160];
        describe(p, name, sizeof name);
        CHECK(s1 == CK_OK && s4 == CK_OK && same_bits(y1, y4, g.y_elems), "%s: depthwise on 4 threads differs from 1", name);
        free(x); free(w); free(bias); free(y1); free(y4);
    }
    ck_set_threads(initial);
}

/* ---- bad input ----------------------------------------------------------------- */

/* Buffers larger than any bad call below could address if it went ahead. */
enum { BIG = 1 << 14 };

static void expect_refused(const ck_conv2d *p, ck_conv_algo algo, const ck_activation *act, size_t scratch_floats,
                           int null_scratch, ck_status want, const char *what) {
    float *x = filled(BIG, 1.0f), *w = filled(BIG, 1.0f), *bias = filled(BIG, 1.0f);
    float *y = filled(BIG, 7.0f), *dx = filled(BIG, 7.0f), *scratch = filled(BIG, 7.0f);
    size_t sf = scratch_floats < BIG ? scratch_floats : BIG;
    ck_status s = ck_conv2d_forward(p, algo, x, w, bias, act, y, null_scratch ? NULL : scratch, sf);
    CHECK(s == want, "forward with %s: got %d want %d", what, s, want);
    if (want != CK_OK)
        CHECK(all_equal(y, 7.0f, BIG) && all_equal(scratch, 7.0f, BIG), "forward with %s wrote its output", what);
    if (algo == CK_CONV_AUTO && act == NULL) {
        s = ck_conv2d_backward_input(p, w, y, dx, null_scratch ? NULL : scratch, sf);
        CHECK(s == want, "backward with %s: got %d want %d", what, s, want);
        if (want != CK_OK)
            CHECK(all_equal(dx, 7.0f, BIG) && all_equal(scratch, 7.0f, BIG), "backward with %s wrote its output", what);
    }
    free(x); free(w); free(bias); free(y); free(dx); free(scratch);
}

static void test_conv_bad(void) {
    const ck_conv2d base = conv(1, 4, 4, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    size_t need = ck_conv2d_scratch_floats(&base, CK_CONV_AUTO);
    CHECK(need == 36 * 64, "scratch of a small 3x3 is its whole im2col matrix (%zu)", need);
    expect_refused(&base, CK_CONV_AUTO, NULL, need, 0, CK_OK, "a valid geometry (control)");

    /* Every field at 0 and -1 (pads only at -1: a zero pad is fine). */
    static const size_t fields[] = {
        offsetof(ck_conv2d, n), offsetof(ck_conv2d, c_in), offsetof(ck_conv2d, h_in), offsetof(ck_conv2d, w_in),
        offsetof(ck_conv2d, c_out), offsetof(ck_conv2d, k_h), offsetof(ck_conv2d, k_w),
        offsetof(ck_conv2d, stride_h), offsetof(ck_conv2d, stride_w), offsetof(ck_conv2d, dil_h), offsetof(ck_conv2d, dil_w),
        offsetof(ck_conv2d, pad_top), offsetof(ck_conv2d, pad_left), offsetof(ck_conv2d, pad_bottom),
        offsetof(ck_conv2d, pad_right), offsetof(ck_conv2d, groups)};
    for (int f = 0; f < 16; f++) {
        for (int v = -1; v <= 0; v++) {
            if (f >= 11 && f <= 14 && v == 0) continue;
            ck_conv2d p = base;
            int32_t value = v;
            memcpy((char *)&p + fields[f], &value, sizeof value);
            char what[64];
            snprintf(what, sizeof what, "field %d = %d", f, v);
            expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, f == 15 ? CK_ERR_ARGUMENT : CK_ERR_SIZE, what);
            CHECK(ck_conv2d_scratch_floats(&p, CK_CONV_AUTO) == 0, "scratch of an invalid geometry (%s)", what);
        }
    }
    ck_conv2d p = base;
    p.groups = 3;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_ARGUMENT, "groups not dividing c_in");
    p = base; p.c_in = 6; p.groups = 3;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_ARGUMENT, "groups not dividing c_out");
    p = base; p.k_h = 11;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "kernel taller than the padded input");
    p = base; p.k_w = 6; p.dil_w = 2;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "dilated kernel wider than the padded input");
    int32_t ho, wo;
    CHECK(ck_conv2d_output_size(&p, &ho, &wo) == CK_ERR_SIZE, "output_size of an empty output");

    /* Sizes past CK_MAX_ELEMENTS, caught before any memory is touched. */
    p = base; p.h_in = 65536; p.w_in = 32768; p.c_in = p.c_out = 1;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "x of 2^31 elements");
    p = base; p.h_in = p.w_in = 1; p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 30000;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "y past CK_MAX_ELEMENTS through padding");
    p = base; p.c_in = p.c_out = 65536; p.h_in = p.w_in = 3; p.k_h = p.k_w = 1;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 0; p.stride_h = 2;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "weights of 2^32 elements");
    p = base; p.n = 2; p.c_in = p.c_out = 1024; p.h_in = p.w_in = 1024; p.groups = 1024;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "a batch past CK_MAX_ELEMENTS");
    p = base; p.pad_top = p.pad_bottom = INT32_MAX; p.h_in = INT32_MAX;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "pads near INT32_MAX");
    p = base; p.dil_h = INT32_MAX; p.k_h = INT32_MAX;
    expect_refused(&p, CK_CONV_AUTO, NULL, need, 0, CK_ERR_SIZE, "a kernel span past int32");

    /* The im2col matrix alone past the limit: the whole-matrix entry points
     * refuse it, the tiled forward does not need it. */
    p = base; p.c_in = p.c_out = 1; p.h_in = p.w_in = 32; p.k_h = p.k_w = 32;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 4000;
    float col_dummy[4] = {5, 5, 5, 5}, x_dummy[4] = {1, 1, 1, 1};
    CHECK(ck_im2col(&p, x_dummy, 0, col_dummy) == CK_ERR_SIZE, "im2col past CK_MAX_ELEMENTS");
    CHECK(ck_col2im(&p, col_dummy, 0, x_dummy) == CK_ERR_SIZE, "col2im past CK_MAX_ELEMENTS");
    size_t tiled = ck_conv2d_scratch_floats(&p, CK_CONV_IM2COL);
    CHECK(tiled >= 1024 && tiled < (size_t)1 << 24, "tiled scratch stays small (%zu)", tiled);
    CHECK(col_dummy[0] == 5 && x_dummy[0] == 1, "refused im2col/col2im wrote");

    /* Scratch: too small, or missing. */
    expect_refused(&base, CK_CONV_AUTO, NULL, need - 1, 0, CK_ERR_SCRATCH, "scratch one float short");
    expect_refused(&base, CK_CONV_AUTO, NULL, 0, 0, CK_ERR_SCRATCH, "no scratch at all");
    expect_refused(&base, CK_CONV_AUTO, NULL, need, 1, CK_ERR_NULL, "a NULL scratch of a claimed size");

    /* Paths that do not apply, and options out of range. */
    expect_refused(&base, CK_CONV_1X1, NULL, need, 0, CK_ERR_ARGUMENT, "1x1 on a 3x3");
    expect_refused(&base, CK_CONV_DEPTHWISE, NULL, need, 0, CK_ERR_ARGUMENT, "depthwise on groups 1");
    expect_refused(&base, (ck_conv_algo)7, NULL, need, 0, CK_ERR_ARGUMENT, "algo 7");
    expect_refused(&base, (ck_conv_algo)-1, NULL, need, 0, CK_ERR_ARGUMENT, "algo -1");
    CHECK(ck_conv2d_scratch_floats(&base, (ck_conv_algo)7) == 0, "scratch of algo 7");
    ck_activation bad_kind = {(ck_act_kind)42, 0, 0}, bad_clip = {CK_ACT_CLIP, 2.0f, 1.0f};
    expect_refused(&base, CK_CONV_IM2COL, &bad_kind, need, 0, CK_ERR_ARGUMENT, "activation kind 42");
    expect_refused(&base, CK_CONV_IM2COL, &bad_clip, need, 0, CK_ERR_ARGUMENT, "clip with alpha > beta");

    /* NULL pointers. */
    float *buf = filled(BIG, 7.0f), *scratch = filled(BIG, 7.0f);
    const float *one = buf;
    CHECK(ck_conv2d_forward(NULL, CK_CONV_AUTO, one, one, NULL, NULL, buf, scratch, BIG) == CK_ERR_NULL, "forward NULL p");
    CHECK(ck_conv2d_forward(&base, CK_CONV_AUTO, NULL, one, NULL, NULL, buf, scratch, BIG) == CK_ERR_NULL, "forward NULL x");
    CHECK(ck_conv2d_forward(&base, CK_CONV_AUTO, one, NULL, NULL, NULL, buf, scratch, BIG) == CK_ERR_NULL, "forward NULL w");
    CHECK(ck_conv2d_forward(&base, CK_CONV_AUTO, one, one, NULL, NULL, NULL, scratch, BIG) == CK_ERR_NULL, "forward NULL y");
    CHECK(ck_conv2d_backward_input(NULL, one, one, buf, scratch, BIG) == CK_ERR_NULL, "backward NULL p");
    CHECK(ck_conv2d_backward_input(&base, NULL, one, buf, scratch, BIG) == CK_ERR_NULL, "backward NULL w");
    CHECK(ck_conv2d_backward_input(&base, one, NULL, buf, scratch, BIG) == CK_ERR_NULL, "backward NULL dy");
    CHECK(ck_conv2d_backward_input(&base, one, one, NULL, scratch, BIG) == CK_ERR_NULL, "backward NULL dx");
    CHECK(ck_im2col(NULL, one, 0, buf) == CK_ERR_NULL && ck_im2col(&base, NULL, 0, buf) == CK_ERR_NULL &&
          ck_im2col(&base, one, 0, NULL) == CK_ERR_NULL, "im2col NULLs");
    CHECK(ck_col2im(NULL, one, 0, buf) == CK_ERR_NULL && ck_col2im(&base, NULL, 0, buf) == CK_ERR_NULL &&
          ck_col2im(&base, one, 0, NULL) == CK_ERR_NULL, "col2im NULLs");
    CHECK(all_equal(buf, 7.0f, BIG) && all_equal(scratch, 7.0f, BIG), "NULL calls wrote");
    CHECK(ck_conv2d_output_size(NULL, &ho, &wo) == CK_ERR_NULL && ck_conv2d_output_size(&base, NULL, &wo) == CK_ERR_NULL &&
          ck_conv2d_output_size(&base, &ho, NULL) == CK_ERR_NULL, "output_size NULLs");
    CHECK(ck_conv2d_scratch_floats(NULL, CK_CONV_IM2COL) == 0, "scratch of NULL");

    /* im2col/col2im take one group at a time. */
    p = base; p.groups = 2;
    CHECK(ck_im2col(&p, one, 2, buf) == CK_ERR_ARGUMENT && ck_im2col(&p, one, -1, buf) == CK_ERR_ARGUMENT,
          "im2col group out of range");
    CHECK(ck_col2im(&p, one, 2, buf) == CK_ERR_ARGUMENT && ck_col2im(&p, one, -1, buf) == CK_ERR_ARGUMENT,
          "col2im group out of range");
    CHECK(all_equal(buf, 7.0f, BIG), "refused group wrote");
    free(buf); free(scratch);
}

/* ck_gemm_packed: padded leading dimensions, bias, residual and
 * activation, against the double reference; the vector kernel and the
 * plain-C one; on 1 to 3 threads; then its argument checks. */
static void check_packed_gemm(int m, int n, int k, int with_bias, int with_res, ck_act_kind kind) {
    int ldb = n + check_int(0, 5), ldc = n + check_int(0, 5), ldr = n + check_int(0, 5);
    float *a = check_random((int64_t)m * k, -1, 1), *b = check_random((int64_t)k * ldb, -1, 1);
    float *bias = with_bias ? check_random(m, -1, 1) : NULL, *res = with_res ? check_random((int64_t)m * ldr, -1, 1) : NULL;
    float *c = filled((int64_t)m * ldc, NAN), *packed = filled((int64_t)ck_packed_weight_floats(m, k), NAN);
    ck_activation act = act_of(kind);
    double *ab = malloc(sizeof(double) * (size_t)m * n);
    ref_gemm(0, 0, m, n, k, 1.0, a, k, b, ldb, 0.0, NULL, 0, ab);
    CHECK(ck_pack_weights(m, k, a, packed) == CK_OK, "pack %d x %d", m, k);
    CHECK(ck_gemm_packed(m, n, k, packed, b, ldb, bias, res, ldr, &act, c, ldc) == CK_OK, "gemm_packed status");
    double worst = 0;
    int pad_ok = 1;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double want = ref_act(&act, ab[i * n + j] + (bias ? bias[i] : 0) + (res ? res[i * ldr + j] : 0));
            worst = worse(worst, fabs(c[i * ldc + j] - want), 1e-5 * (k + 3));
        }
        for (int j = n; j < ldc; j++) pad_ok &= isnan(c[i * ldc + j]);
    }
    CHECK(worst <= 1, "gemm_packed m%d n%d k%d bias %d res %d act %d scalar %d: err %g", m, n, k, with_bias, with_res,
          kind, ck_packed_scalar_only, worst * 1e-5 * (k + 3));
    CHECK(pad_ok, "gemm_packed wrote into C's row padding");
    free(a); free(b); free(bias); free(res); free(c); free(packed); free(ab);
}

static void test_packed_gemm(void) {
    check_seed(31);
    const ck_act_kind kinds[] = {CK_ACT_NONE, CK_ACT_RELU, CK_ACT_CLIP, CK_ACT_SIGMOID};
    for (int scalar = 0; scalar <= 1; scalar++) {
        ck_packed_scalar_only = scalar;
        for (int t = 0; t < 60; t++)
            check_packed_gemm(check_int(1, 70), check_int(1, 110), check_int(1, 800), t & 1, (t >> 1) & 1, kinds[t % 4]);
    }
    ck_packed_scalar_only = 0;
    /* Large enough to split over threads: several row panels, column
     * groups and blocks of k, with remainders in each. */
    const int shapes[][3] = {{96, 49, 1000}, {70, 200, 400}, {33, 13, 2000}, {256, 196, 512}};
    for (int threads = 1; threads <= 3; threads++) {
        ck_set_threads(threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            check_packed_gemm(shapes[i][0], shapes[i][1], shapes[i][2], 1, (int)i & 1, CK_ACT_RELU);
    }
    ck_set_threads(0);

    /* A NaN in B reaches its column of C through ReLU and Clip (applied in
     * the registers on the vector path), and no other column. */
    for (int scalar = 0; scalar <= 1; scalar++) {
        ck_packed_scalar_only = scalar;
        for (int kind = 0; kind < 2; kind++) {
            const int m = 40, n = 30, k = 20;
            float *pa = check_random(m * k, -1, 1), *pb = check_random(k * n, -1, 1), *pc = filled(m * n, 0.0f);
            float *pk = filled((int64_t)ck_packed_weight_floats(m, k), 0.0f);
            pb[5 * n + 7] = NAN;
            ck_activation act = act_of(kind ? CK_ACT_CLIP : CK_ACT_RELU);
            CHECK(ck_pack_weights(m, k, pa, pk) == CK_OK && ck_gemm_packed(m, n, k, pk, pb, n, NULL, NULL, 0, &act, pc, n) == CK_OK,
                  "gemm_packed with a NaN");
            int wrong = 0;
            for (int i = 0; i < m; i++)
                for (int q = 0; q < n; q++) wrong += (q == 7) != (isnan(pc[i * n + q]) != 0);
            CHECK(wrong == 0, "gemm_packed act %d scalar %d: %d outputs wrong in NaN-ness", kind, scalar, wrong);
            free(pa); free(pb); free(pc); free(pk);
        }
    }
    ck_packed_scalar_only = 0;

    float a[64], b[64], c[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = c[i] = 1.0f;
    ck_activation bad_clip = {CK_ACT_CLIP, 2.0f, 1.0f};
    CHECK(ck_pack_weights(0, 4, a, c) == CK_ERR_SIZE && ck_pack_weights(2, 2, NULL, c) == CK_ERR_NULL,
          "pack_weights checks");
    CHECK(ck_packed_weight_floats(0, 3) == 0 && ck_packed_weight_floats(33, 2) == 128, "packed_weight_floats");
    CHECK(ck_gemm_packed(2, 2, 2, a, b, 1, NULL, NULL, 0, NULL, c, 2) == CK_ERR_SIZE, "ldb < n refused");
    CHECK(ck_gemm_packed(2, 2, 2, a, b, 2, NULL, b, 1, NULL, c, 2) == CK_ERR_SIZE, "ldr < n refused");
    CHECK(ck_gemm_packed(2, 0, 2, a, b, 2, NULL, NULL, 0, NULL, c, 2) == CK_ERR_SIZE, "n = 0 refused");
    CHECK(ck_gemm_packed(2, 2, 2, NULL, b, 2, NULL, NULL, 0, NULL, c, 2) == CK_ERR_NULL, "NULL A refused");
    CHECK(ck_gemm_packed(2, 2, 2, a, b, 2, NULL, NULL, 0, &bad_clip, c, 2) == CK_ERR_ARGUMENT && c[0] == 1.0f,
          "bad activation refused before C is written");
}

/* Layers large enough for the threaded paths of the packed convolution
 * (row panels, column groups, blocks of k) and of the short-k 1x1 kernel,
 * on 1 to 3 threads. */
static void test_packed_conv_large(void) {
    check_seed(41);
    const ck_conv2d shapes[] = {
        conv(1, 48, 80, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1),    /* K 432, 144 columns */
        conv(2, 400, 33, 11, 13, 1, 1, 1, 1, 0, 0, 0, 0, 1),   /* 1x1 on the input itself, batch 2 */
        conv(1, 64, 64, 15, 15, 3, 3, 2, 1, 1, 1, 1, 1, 1),    /* stride 2 */
        /* 1x1 with short dot products (gemm_wide.c where it runs): several
         * blocks of 512 columns and a masked end, rows past a multiple of 6;
         * then 196 columns, where rows are split over the threads; then 56
         * columns, a tile whose fourth vector is partly masked; then k of
         * 200 and 256 (its limit), and 257 (OpenBLAS). */
        conv(1, 16, 70, 40, 41, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(2, 96, 100, 14, 14, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 24, 13, 7, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 200, 14, 9, 70, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(2, 256, 9, 8, 75, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 257, 7, 5, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1),
    };
    /* The short-k kernel's last columns short of a 64-wide tile, up to 48
     * of them, go 16 at a time in 24 rows: tails of 2 (53 rows: two
     * blocks of 24 and five more), 40 (three vectors, the last half
     * full; 61 rows), 48 and 49 (a masked 64-wide tile again), each with
     * an activation done in registers and one done over the stored rows. */
    const ck_conv2d tails[] = {
        conv(1, 32, 53, 10, 13, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 40, 61, 8, 13, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 24, 30, 8, 14, 1, 1, 1, 1, 0, 0, 0, 0, 1),
        conv(1, 24, 30, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1),
    };
    const ck_act_kind tail_acts[] = {CK_ACT_CLIP, CK_ACT_SILU};
    for (int threads = 1; threads <= 3; threads++) {
        ck_set_threads(threads);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) run_conv(&shapes[i], 1, CK_ACT_RELU, 0);
        for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
            for (size_t a = 0; a < 2; a++) run_conv(&tails[i], (int)a, tail_acts[a], 0);
    }
    ck_set_threads(0);
}

/* A NaN in the input reaches every output that reads it, through ReLU and
 * Clip too, on whichever 1x1 path runs (the scalar rule `v < 0 ? 0 : v`
 * keeps a NaN; so must the vector kernels). */
static void test_conv_nan(void) {
    check_seed(51);
    const ck_act_kind kinds[] = {CK_ACT_RELU, CK_ACT_CLIP, CK_ACT_NONE};
    const ck_conv2d shapes[] = {conv(1, 16, 20, 9, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1),
                                conv(1, 160, 40, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1)};
    for (size_t sh = 0; sh < 2; sh++)
        for (int t = 0; t < 3; t++) {
            const ck_conv2d *p = &shapes[sh];
            int64_t hw = (int64_t)p->h_in * p->w_in, nx = p->c_in * hw, ny = p->c_out * hw;
            float *x = check_random(nx, -1, 1), *w = check_random((int64_t)p->c_out * p->c_in, -1, 1);
            float *y = filled(ny, 0.0f);
            const int64_t at = 37;
            x[3 * hw + at] = NAN;
            ck_activation act = act_of(kinds[t]);
            CHECK(ck_conv2d_forward(p, CK_CONV_AUTO, x, w, NULL, &act, y, NULL, 0) == CK_OK, "nan conv status");
            int64_t nan_at = 0, nan_elsewhere = 0;
            for (int64_t co = 0; co < p->c_out; co++)
                for (int64_t q = 0; q < hw; q++) {
                    if (q == at) nan_at += isnan(y[co * hw + q]);
                    else nan_elsewhere += isnan(y[co * hw + q]);
                }
            CHECK(nan_at == p->c_out && nan_elsewhere == 0, "1x1 k=%d act %d: %lld of %d outputs at the NaN are NaN, %lld elsewhere",
                  p->c_in, kinds[t], (long long)nan_at, p->c_out, (long long)nan_elsewhere);
            free(x); free(w); free(y);
        }
}

/* The direct path for few input channels: a NaN reaches exactly the
 * outputs whose window reads it (as in the double reference), through
 * ReLU too, and no other. */
static void test_direct_nan(void) {
    for (int narrow = 0; narrow < 2; narrow++) {
        ck_direct_narrow_only = narrow;   /* both kernels */
        check_seed(52);
        const ck_conv2d p = conv(1, 3, 7, 20, 21, 7, 7, 2, 1, 3, 3, 3, 3, 1);
        geom g = geom_of(&p);
        float *x = check_random(g.x_elems, -1, 1), *w = check_random(g.w_elems, -1, 1);
        x[1 * 20 * 21 + 9 * 21 + 10] = NAN;
        double *ref = malloc(sizeof(double) * (size_t)g.y_elems), *mag = malloc(sizeof(double) * (size_t)g.y_elems);
        ref_conv(&p, x, w, NULL, ref, mag);
        const ck_activation relu = act_of(CK_ACT_RELU);
        size_t sf = ck_conv2d_scratch_floats(&p, CK_CONV_DIRECT);
        float *scratch = filled((int64_t)sf, 0.0f), *y = filled(g.y_elems, 0.0f);
        CHECK(ck_conv2d_forward(&p, CK_CONV_DIRECT, x, w, NULL, &relu, y, scratch, sf) == CK_OK, "direct nan status");
        int64_t wrong = 0, nans = 0;
        for (int64_t i = 0; i < g.y_elems; i++) {
            wrong += isnan(y[i]) != isnan(ref[i]);
            nans += isnan(ref[i]) != 0;
        }
        CHECK(nans > 0 && wrong == 0, "direct path, 8-float kernel %d: %lld outputs differ in NaN-ness from the reference (%lld NaN there)",
              narrow, (long long)wrong, (long long)nans);
        free(x); free(w); free(ref); free(mag); free(scratch); free(y);
    }
    ck_direct_narrow_only = 0;
}

int main(void) {
    test_gemm();
    test_conv_nan();
    test_direct_nan();
    test_packed_gemm();
    test_packed_conv_large();
    test_conv_fixed();
    test_conv_random();
    test_conv_threads();
    test_conv_bad();
    printf("%d convolution geometries checked, %d through the packed path, %d direct under AUTO\n", conv_cases,
           packed_cases, direct_cases);
    return check_report("test_conv");
}
