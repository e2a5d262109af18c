/* test_activation.c: activations, softmax and LRN against plain double
 * references, central finite differences and hand-computed values. */
#include <string.h>

#include "cam_kernels.h"
#include "check.h"

#define SENTINEL 12345.0f

/* ---- references, written from the formulas in the header ---------------- */

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double ref_f(const ck_activation *a, double x) {
    double t;
    switch (a->kind) {
    case CK_ACT_NONE: return x;
    case CK_ACT_RELU: return x > 0 ? x : 0;
    case CK_ACT_CLIP: return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case CK_ACT_LEAKY_RELU: return x >= 0 ? x : a->alpha * x;
    case CK_ACT_SIGMOID: return ref_sigmoid(x);
    case CK_ACT_SILU: return x * ref_sigmoid(x);
    case CK_ACT_HARD_SIGMOID:
        t = (double)a->alpha * x + a->beta;
        return t < 0 ? 0 : (t > 1 ? 1 : t);
    case CK_ACT_HARD_SWISH:
        t = x / 6 + 0.5;
        return x * (t < 0 ? 0 : (t > 1 ? 1 : t));
    }
    return NAN;
}

/* PyTorch autograd's conventions at the kinks, as the header lists them. */
static double ref_df(const ck_activation *a, double x) {
    double s, t;
    switch (a->kind) {
    case CK_ACT_NONE: return 1;
    case CK_ACT_RELU: return x > 0 ? 1 : 0;
    case CK_ACT_CLIP: return (x > a->alpha && x < a->beta) ? 1 : 0;
    case CK_ACT_LEAKY_RELU: return x > 0 ? 1 : a->alpha;
    case CK_ACT_SIGMOID: s = ref_sigmoid(x); return s * (1 - s);
    case CK_ACT_SILU: s = ref_sigmoid(x); return s + x * s * (1 - s);
    case CK_ACT_HARD_SIGMOID:
        t = (double)a->alpha * x + a->beta;
        return (t > 0 && t < 1) ? a->alpha : 0;
    case CK_ACT_HARD_SWISH: return x < -3 ? 0 : (x > 3 ? 1 : x / 3 + 0.5);
    }
    return NAN;
}

/* Kink points of each kind, for keeping finite-difference samples away. */
static int kinks(const ck_activation *a, double *k) {
    switch (a->kind) {
    case CK_ACT_RELU: case CK_ACT_LEAKY_RELU: k[0] = 0; return 1;
    case CK_ACT_CLIP: k[0] = a->alpha; k[1] = a->beta; return 2;
    case CK_ACT_HARD_SIGMOID: k[0] = -a->beta / a->alpha; k[1] = (1 - a->beta) / a->alpha; return 2;
    case CK_ACT_HARD_SWISH: k[0] = -3; k[1] = 3; return 2;
    default: return 0;
    }
}

static const ck_activation ACTS[] = {
    { CK_ACT_NONE, 0, 0 },
    { CK_ACT_RELU, 0, 0 },
    { CK_ACT_CLIP, 0, 6 },               /* ReLU6 */
    { CK_ACT_CLIP, -1.5f, 2.25f },
    { CK_ACT_LEAKY_RELU, 0.1f, 0 },
    { CK_ACT_LEAKY_RELU, 0.01f, 0 },
    { CK_ACT_SIGMOID, 0, 0 },
    { CK_ACT_SILU, 0, 0 },
    { CK_ACT_HARD_SIGMOID, 0.2f, 0.5f }, /* ONNX default */
    { CK_ACT_HARD_SIGMOID, 1.0f / 6.0f, 0.5f }, /* PyTorch */
    { CK_ACT_HARD_SWISH, 0, 0 },
};
#define NACTS ((int)(sizeof ACTS / sizeof ACTS[0]))

static int all_equal(const float *p, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) if (memcmp(&p[i], &v, sizeof v) != 0) return 0;
    return 1;
}

/* ---- elementwise activations -------------------------------------------- */

static void test_act_random(void) {
    static const int64_t sizes[] = { 1, 3, 7, 16, 33, 1001 };
    for (int k = 0; k < NACTS; k++) {
        const ck_activation *a = &ACTS[k];
        for (int s = 0; s < 6; s++) {
            int64_t n = sizes[s];
            check_seed(1000 + 10 * k + s);
            float *x = check_random(n, -8, 8), *y = check_zeros(n), *yy = check_zeros(n);
            float *dy = check_random(n, -1, 1), *dx0 = check_random(n, -1, 1), *dx = check_zeros(n);
            float *want = check_zeros(n), *gwant = check_zeros(n);
            for (int64_t i = 0; i < n; i++) {
                want[i] = (float)ref_f(a, x[i]);
                gwant[i] = (float)(dx0[i] + dy[i] * ref_df(a, x[i]));
            }
            CHECK(ck_act_forward(a, x, y, n) == CK_OK, "forward kind %d", a->kind);
            double e = check_max_abs_diff(y, want, n);
            CHECK(e < 2e-6, "forward kind %d n %lld err %g", a->kind, (long long)n, e);

            memcpy(yy, x, (size_t)n * sizeof(float));
            CHECK(ck_act_forward(a, yy, yy, n) == CK_OK, "in-place");
            CHECK(memcmp(yy, y, (size_t)n * sizeof(float)) == 0, "in-place differs, kind %d", a->kind);

            memcpy(dx, dx0, (size_t)n * sizeof(float));
            CHECK(ck_act_backward(a, x, dy, dx, n) == CK_OK, "backward kind %d", a->kind);
            e = check_max_abs_diff(dx, gwant, n);
            CHECK(e < 4e-6, "backward kind %d n %lld err %g", a->kind, (long long)n, e);
            free(x); free(y); free(yy); free(dy); free(dx0); free(dx); free(want); free(gwant);
        }
    }
}

/* dL/dx for L = sum(f(x) * r) by central differences. Each y[i] depends on
 * x[i] alone, so the whole vector can be perturbed at once. */
static void test_act_finite_diff(void) {
    const int64_t n = 257;
    const float h = 1e-2f;
    for (int k = 0; k < NACTS; k++) {
        const ck_activation *a = &ACTS[k];
        double kk[2];
        int nk = kinks(a, kk);
        check_seed(2000 + k);
        float *x = check_zeros(n), *r = check_random(n, -1, 1);
        for (int64_t i = 0; i < n; i++) {
            int ok;
            do {
                x[i] = check_uniform(-7, 7);
                ok = 1;
                for (int j = 0; j < nk; j++) if (fabs(x[i] - kk[j]) < 4 * h) ok = 0;
            } while (!ok);
        }
        float *xp = check_zeros(n), *xm = check_zeros(n), *yp = check_zeros(n), *ym = check_zeros(n);
        float *dx = check_random(n, -1, 1), *dx0 = check_zeros(n);
        memcpy(dx0, dx, (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) { xp[i] = x[i] + h; xm[i] = x[i] - h; }
        ck_act_forward(a, xp, yp, n);
        ck_act_forward(a, xm, ym, n);
        CHECK(ck_act_backward(a, x, r, dx, n) == CK_OK, "backward");
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            /* (xp - xm) as stored, not 2h: x + h rounds in float. */
            double fd = r[i] * ((double)yp[i] - ym[i]) / ((double)xp[i] - xm[i]);
            double d = fabs((dx[i] - dx0[i]) - fd);
            if (d > worst) worst = d;
        }
        CHECK(worst < 2e-3, "finite differences kind %d (alpha %g) err %g", a->kind, a->alpha, worst);
        free(x); free(r); free(xp); free(xm); free(yp); free(ym); free(dx); free(dx0);
    }
}

/* Values worked out by hand from the formulas, and the kink conventions. */
static void test_act_known(void) {
    struct { ck_activation a; float x, y, g; } cases[] = {
        { { CK_ACT_RELU, 0, 0 }, 0.0f, 0.0f, 0.0f },          /* ReLU passes only where x > 0 */
        { { CK_ACT_RELU, 0, 0 }, 2.5f, 2.5f, 1.0f },
        { { CK_ACT_RELU, 0, 0 }, -2.5f, 0.0f, 0.0f },
        { { CK_ACT_CLIP, 0, 6 }, 7.0f, 6.0f, 0.0f },
        { { CK_ACT_CLIP, 0, 6 }, 6.0f, 6.0f, 0.0f },          /* closed kink: 0 */
        { { CK_ACT_CLIP, 0, 6 }, 0.0f, 0.0f, 0.0f },
        { { CK_ACT_CLIP, 0, 6 }, 3.0f, 3.0f, 1.0f },
        { { CK_ACT_CLIP, 2, 2 }, 5.0f, 2.0f, 0.0f },          /* alpha == beta is allowed */
        { { CK_ACT_LEAKY_RELU, 0.1f, 0 }, -2.0f, -0.2f, 0.1f },
        { { CK_ACT_LEAKY_RELU, 0.1f, 0 }, 0.0f, 0.0f, 0.1f }, /* x = 0 takes the alpha branch */
        { { CK_ACT_LEAKY_RELU, 0.1f, 0 }, 3.0f, 3.0f, 1.0f },
        { { CK_ACT_SIGMOID, 0, 0 }, 0.0f, 0.5f, 0.25f },
        { { CK_ACT_SILU, 0, 0 }, 0.0f, 0.0f, 0.5f },
        { { CK_ACT_SILU, 0, 0 }, 1.0f, 0.7310586f, 0.9276705f }, /* s + s(1-s) at s = 0.7310586 */
        { { CK_ACT_HARD_SIGMOID, 0.2f, 0.5f }, 1.0f, 0.7f, 0.2f },
        { { CK_ACT_HARD_SIGMOID, 0.25f, 0.5f }, -2.0f, 0.0f, 0.0f }, /* t = 0 exactly */
        { { CK_ACT_HARD_SIGMOID, 0.25f, 0.5f }, 2.0f, 1.0f, 0.0f },  /* t = 1 exactly */
        { { CK_ACT_HARD_SIGMOID, 0.25f, 0.5f }, 1.0f, 0.75f, 0.25f },
        { { CK_ACT_HARD_SWISH, 0, 0 }, 1.0f, 2.0f / 3.0f, 5.0f / 6.0f },
        { { CK_ACT_HARD_SWISH, 0, 0 }, -3.0f, 0.0f, -0.5f },  /* x / 3 + 1/2 on the closed interval */
        { { CK_ACT_HARD_SWISH, 0, 0 }, 3.0f, 3.0f, 1.5f },
        { { CK_ACT_HARD_SWISH, 0, 0 }, -3.5f, 0.0f, 0.0f },
        { { CK_ACT_HARD_SWISH, 0, 0 }, 4.0f, 4.0f, 1.0f },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float y = -1, dx = 10.0f, dy = 2.0f;
        CHECK(ck_act_forward(&cases[i].a, &cases[i].x, &y, 1) == CK_OK, "case %zu", i);
        CHECK(fabsf(y - cases[i].y) < 1e-6f, "case %zu (kind %d, x %g): y %.8g want %.8g",
              i, cases[i].a.kind, cases[i].x, y, cases[i].y);
        CHECK(ck_act_backward(&cases[i].a, &cases[i].x, &dy, &dx, 1) == CK_OK, "case %zu", i);
        CHECK(fabsf(dx - (10.0f + 2.0f * cases[i].g)) < 2e-6f, "case %zu (kind %d, x %g): dx %.8g want %.8g",
              i, cases[i].a.kind, cases[i].x, dx, 10.0f + 2.0f * cases[i].g);
    }
}

/* The sigmoid family stays finite, and NaN propagates through the clamps. */
static void test_act_extremes(void) {
    float x[] = { -1e30f, -1000.0f, -100.0f, -30.0f, 30.0f, 100.0f, 1000.0f, 1e30f, -INFINITY, INFINITY };
    const int n = (int)(sizeof x / sizeof x[0]);
    float y[10], dx[10], dy[10];
    ck_activation sig = { CK_ACT_SIGMOID, 0, 0 }, silu = { CK_ACT_SILU, 0, 0 };
    for (int i = 0; i < n; i++) { dy[i] = 1; dx[i] = 0; }
    CHECK(ck_act_forward(&sig, x, y, n) == CK_OK, "sigmoid");
    for (int i = 0; i < n; i++) {
        CHECK(y[i] >= 0 && y[i] <= 1, "sigmoid(%g) = %g", x[i], y[i]);
        CHECK(fabs(y[i] - ref_sigmoid(x[i])) < 1e-7, "sigmoid(%g) = %g", x[i], y[i]);
    }
    CHECK(y[2] > 0 && y[2] < 1e-40f, "sigmoid(-100) = %g keeps its tiny value", y[2]);
    CHECK(ck_act_backward(&sig, x, dy, dx, n) == CK_OK, "sigmoid backward");
    for (int i = 0; i < n; i++) CHECK(isfinite(dx[i]) && dx[i] >= 0 && dx[i] < 1e-12f, "sigmoid' (%g) = %g", x[i], dx[i]);
    /* SiLU: finite for every finite x (at -inf it is 0 * inf in any formula). */
    CHECK(ck_act_forward(&silu, x, y, n - 2) == CK_OK, "silu");
    for (int i = 0; i < n - 2; i++) CHECK(isfinite(y[i]), "silu(%g) = %g", x[i], y[i]);
    CHECK(y[0] == 0.0f && y[7] == 1e30f, "silu tails %g %g", y[0], y[7]);
    for (int i = 0; i < n; i++) dx[i] = 0;
    CHECK(ck_act_backward(&silu, x, dy, dx, n - 2) == CK_OK, "silu backward");
    for (int i = 0; i < n - 2; i++) CHECK(isfinite(dx[i]), "silu' (%g) = %g", x[i], dx[i]);
    CHECK(dx[0] == 0.0f && dx[7] == 1.0f, "silu' tails %g %g", dx[0], dx[7]);

    float nan_in[3] = { NAN, 1.0f, -1.0f }, out[3];
    for (int k = 0; k < NACTS; k++) {
        CHECK(ck_act_forward(&ACTS[k], nan_in, out, 3) == CK_OK, "nan");
        CHECK(isnan(out[0]), "kind %d maps NaN to %g", ACTS[k].kind, out[0]);
    }
}

static void test_act_errors(void) {
    float x[4] = { 1, 2, 3, 4 }, y[4], dx[4];
    ck_activation relu = { CK_ACT_RELU, 0, 0 };
    ck_activation bad_kind = { (ck_act_kind)99, 0, 0 }, neg_kind = { (ck_act_kind)-1, 0, 0 };
    ck_activation bad_clip = { CK_ACT_CLIP, 2, 1 }, nan_clip = { CK_ACT_CLIP, NAN, 1 };
    struct { const ck_activation *a; const float *x; float *y; int64_t n; ck_status want; } cases[] = {
        { NULL, x, y, 4, CK_ERR_NULL },
        { &relu, NULL, y, 4, CK_ERR_NULL },
        { &relu, x, NULL, 4, CK_ERR_NULL },
        { &relu, x, y, 0, CK_ERR_SIZE },
        { &relu, x, y, -3, CK_ERR_SIZE },
        { &relu, x, y, CK_MAX_ELEMENTS, CK_ERR_SIZE },
        { &bad_kind, x, y, 4, CK_ERR_ARGUMENT },
        { &neg_kind, x, y, 4, CK_ERR_ARGUMENT },
        { &bad_clip, x, y, 4, CK_ERR_ARGUMENT },
        { &nan_clip, x, y, 4, CK_ERR_ARGUMENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < 4; j++) y[j] = dx[j] = SENTINEL;
        ck_status st = ck_act_forward(cases[i].a, cases[i].x, cases[i].y, cases[i].n);
        CHECK(st == cases[i].want, "forward case %zu: %d want %d", i, st, cases[i].want);
        /* The same arguments to backward, with y standing in for dy. */
        st = ck_act_backward(cases[i].a, cases[i].x, cases[i].y ? x : NULL, cases[i].y ? dx : NULL, cases[i].n);
        CHECK(st == cases[i].want, "backward case %zu: %d want %d", i, st, cases[i].want);
        CHECK(all_equal(y, 4, SENTINEL) && all_equal(dx, 4, SENTINEL), "case %zu wrote output", i);
    }
    CHECK(ck_act_backward(&relu, x, NULL, dx, 4) == CK_ERR_NULL, "backward dy NULL");
    CHECK(all_equal(dx, 4, SENTINEL), "backward dy NULL wrote");
}

/* ---- softmax ------------------------------------------------------------- */

static void ref_softmax(const float *x, double *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < cols; j++) if (x[r * cols + j] > m) m = x[r * cols + j];
        for (int j = 0; j < cols; j++) s += exp((double)x[r * cols + j] - m);
        for (int j = 0; j < cols; j++) y[r * cols + j] = exp((double)x[r * cols + j] - m) / s;
    }
}

static void test_softmax(void) {
    static const int shapes[][2] = { { 1, 1 }, { 1, 7 }, { 3, 1 }, { 5, 10 }, { 2, 1000 }, { 9, 33 } };
    for (int t = 0; t < 6; t++) {
        int rows = shapes[t][0], cols = shapes[t][1], n = rows * cols;
        check_seed(3000 + t);
        float *x = check_random(n, -20, 20), *y = check_zeros(n), *yy = check_zeros(n), *want = check_zeros(n);
        double *yd = malloc((size_t)n * sizeof(double));
        x[0] += 500.0f;   /* far beyond expf's range: only a stable softmax survives */
        ref_softmax(x, yd, rows, cols);
        for (int i = 0; i < n; i++) want[i] = (float)yd[i];
        CHECK(ck_softmax_forward(x, y, rows, cols) == CK_OK, "softmax");
        double e = check_max_abs_diff(y, want, n);
        CHECK(e < 1e-6, "softmax %dx%d err %g", rows, cols, e);
        memcpy(yy, x, (size_t)n * sizeof(float));
        CHECK(ck_softmax_forward(yy, yy, rows, cols) == CK_OK, "in-place");
        CHECK(memcmp(yy, y, (size_t)n * sizeof(float)) == 0, "softmax in-place differs");

        /* backward vs the formula in double, accumulating onto dx0 */
        float *dy = check_random(n, -1, 1), *dx = check_random(n, -1, 1), *dx0 = check_zeros(n), *gw = check_zeros(n);
        memcpy(dx0, dx, (size_t)n * sizeof(float));
        for (int r = 0; r < rows; r++) {
            double dot = 0;
            for (int j = 0; j < cols; j++) dot += (double)dy[r * cols + j] * y[r * cols + j];
            for (int j = 0; j < cols; j++) gw[r * cols + j] = (float)(dx0[r * cols + j] + y[r * cols + j] * (dy[r * cols + j] - dot));
        }
        CHECK(ck_softmax_backward(y, dy, dx, rows, cols) == CK_OK, "softmax backward");
        e = check_max_abs_diff(dx, gw, n);
        CHECK(e < 1e-6, "softmax backward %dx%d err %g", rows, cols, e);
        free(x); free(y); free(yy); free(want); free(yd); free(dy); free(dx); free(dx0); free(gw);
    }
}

static void test_softmax_finite_diff(void) {
    const int rows = 3, cols = 6, n = rows * cols;
    const float h = 1e-2f;
    check_seed(3100);
    float *x = check_random(n, -2, 2), *r = check_random(n, -1, 1), *y = check_zeros(n);
    float *yp = check_zeros(n), *ym = check_zeros(n), *dx = check_random(n, -1, 1), *dx0 = check_zeros(n);
    memcpy(dx0, dx, (size_t)n * sizeof(float));
    ck_softmax_forward(x, y, rows, cols);
    CHECK(ck_softmax_backward(y, r, dx, rows, cols) == CK_OK, "backward");
    double worst = 0;
    for (int i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h; ck_softmax_forward(x, yp, rows, cols); float up = x[i];
        x[i] = keep - h; ck_softmax_forward(x, ym, rows, cols); float dn = x[i];
        x[i] = keep;
        double lp = 0, lm = 0;
        for (int j = 0; j < n; j++) { lp += (double)yp[j] * r[j]; lm += (double)ym[j] * r[j]; }
        double d = fabs((dx[i] - dx0[i]) - (lp - lm) / ((double)up - dn));
        if (d > worst) worst = d;
    }
    CHECK(worst < 1e-3, "softmax finite differences err %g", worst);
    free(x); free(r); free(y); free(yp); free(ym); free(dx); free(dx0);
}

static void test_softmax_known_and_errors(void) {
    float x[4] = { 0.0f, logf(3.0f), 7.0f, 7.0f }, y[4];
    CHECK(ck_softmax_forward(x, y, 2, 2) == CK_OK, "softmax");
    CHECK(fabsf(y[0] - 0.25f) < 1e-7f && fabsf(y[1] - 0.75f) < 1e-7f, "softmax [0, ln 3] = %g %g", y[0], y[1]);
    CHECK(y[2] == 0.5f && y[3] == 0.5f, "softmax of a tie = %g %g", y[2], y[3]);
    float one = 123.0f, out = 0;
    CHECK(ck_softmax_forward(&one, &out, 1, 1) == CK_OK && out == 1.0f, "single column gives 1");

    float dx[4];
    struct { const float *x; float *y; int32_t rows, cols; ck_status want; } cases[] = {
        { NULL, y, 2, 2, CK_ERR_NULL }, { x, NULL, 2, 2, CK_ERR_NULL },
        { x, y, 0, 2, CK_ERR_SIZE }, { x, y, 2, 0, CK_ERR_SIZE }, { x, y, -1, 2, CK_ERR_SIZE },
        { x, y, 65536, 65536, CK_ERR_SIZE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < 4; j++) y[j] = dx[j] = SENTINEL;
        ck_status st = ck_softmax_forward(cases[i].x, cases[i].y, cases[i].rows, cases[i].cols);
        CHECK(st == cases[i].want, "softmax case %zu: %d", i, st);
        st = ck_softmax_backward(cases[i].x, cases[i].x, cases[i].y ? dx : NULL, cases[i].rows, cases[i].cols);
        CHECK(st == cases[i].want, "softmax backward case %zu: %d", i, st);
        CHECK(all_equal(y, 4, SENTINEL) && all_equal(dx, 4, SENTINEL), "case %zu wrote", i);
    }
    CHECK(ck_softmax_backward(x, NULL, dx, 2, 2) == CK_ERR_NULL, "backward dy NULL");
}

/* ---- LRN ----------------------------------------------------------------- */

static void ref_lrn(const float *x, float *y, int n, int c, int hw, int size, double alpha, double beta, double bias) {
    int before = (size - 1) / 2, after = size - 1 - before;   /* floor and ceil of (size - 1) / 2 */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++) {
                double s = 0;
                for (int k = ch - before; k <= ch + after; k++) {
                    if (k < 0 || k >= c) continue;
                    double v = x[((size_t)i * c + k) * hw + p];
                    s += v * v;
                }
                size_t at = ((size_t)i * c + ch) * hw + p;
                y[at] = (float)(x[at] / pow(bias + alpha / size * s, beta));
            }
}

static void test_lrn(void) {
    /* n, c, hw, size */
    static const int shapes[][4] = { { 1, 1, 1, 1 }, { 2, 5, 7, 3 }, { 1, 8, 9, 4 }, { 3, 3, 5, 5 },
                                     { 1, 2, 3, 7 }, { 2, 16, 13, 5 }, { 1, 6, 1, 2 } };
    for (int t = 0; t < 7; t++) {
        int n = shapes[t][0], c = shapes[t][1], hw = shapes[t][2], size = shapes[t][3], total = n * c * hw;
        check_seed(4000 + t);
        float alpha = check_uniform(1e-4f, 0.5f), beta = check_uniform(0.5f, 1.0f), bias = check_uniform(0.5f, 2.0f);
        float *x = check_random(total, -3, 3), *y = check_zeros(total), *want = check_zeros(total);
        ref_lrn(x, want, n, c, hw, size, alpha, beta, bias);
        CHECK(ck_lrn_forward(x, y, n, c, hw, size, alpha, beta, bias) == CK_OK, "lrn");
        double e = check_max_abs_diff(y, want, total);
        CHECK(e < 2e-6, "lrn %d %d %d size %d err %g", n, c, hw, size, e);
        free(x); free(y); free(want);
    }

    /* By hand, x = [1, 2, 3] over channels. size 2 takes channel c and c + 1
     * (floor(1/2) = 0 before, ceil(1/2) = 1 after); alpha 1 gives alpha/size
     * 1/2, beta 1, bias 1: 1 / (1 + 5/2), 2 / (1 + 13/2), 3 / (1 + 9/2). */
    float x[3] = { 1, 2, 3 }, y[3];
    CHECK(ck_lrn_forward(x, y, 1, 3, 1, 2, 1.0f, 1.0f, 1.0f) == CK_OK, "lrn size 2");
    CHECK(fabsf(y[0] - 1.0f / 3.5f) < 1e-6f && fabsf(y[1] - 2.0f / 7.5f) < 1e-6f && fabsf(y[2] - 3.0f / 5.5f) < 1e-6f,
          "lrn size 2: %g %g %g", y[0], y[1], y[2]);
    /* size 3, alpha 3 (alpha/size 1), beta 1/2, bias 0: x / sqrt(sum of squares of neighbours). */
    CHECK(ck_lrn_forward(x, y, 1, 3, 1, 3, 3.0f, 0.5f, 0.0f) == CK_OK, "lrn size 3");
    CHECK(fabsf(y[0] - 1 / sqrtf(5)) < 1e-6f && fabsf(y[1] - 2 / sqrtf(14)) < 1e-6f && fabsf(y[2] - 3 / sqrtf(13)) < 1e-6f,
          "lrn size 3: %g %g %g", y[0], y[1], y[2]);

    struct { const float *x; float *y; int32_t n, c, hw, size; ck_status want; } cases[] = {
        { NULL, y, 1, 3, 1, 3, CK_ERR_NULL }, { x, NULL, 1, 3, 1, 3, CK_ERR_NULL },
        { x, y, 0, 3, 1, 3, CK_ERR_SIZE }, { x, y, 1, -3, 1, 3, CK_ERR_SIZE }, { x, y, 1, 3, 0, 3, CK_ERR_SIZE },
        { x, y, 1, 3, 1, 0, CK_ERR_SIZE }, { x, y, 1, 3, 1, -2, CK_ERR_SIZE },
        { x, y, 65536, 65536, 1, 3, CK_ERR_SIZE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < 3; j++) y[j] = SENTINEL;
        ck_status st = ck_lrn_forward(cases[i].x, cases[i].y, cases[i].n, cases[i].c, cases[i].hw, cases[i].size, 1e-4f, 0.75f, 1.0f);
        CHECK(st == cases[i].want, "lrn case %zu: %d", i, st);
        CHECK(all_equal(y, 3, SENTINEL), "lrn case %zu wrote", i);
    }
}

int main(void) {
    test_act_random();
    test_act_finite_diff();
    test_act_known();
    test_act_extremes();
    test_act_errors();
    test_softmax();
    test_softmax_finite_diff();
    test_softmax_known_and_errors();
    test_lrn();
    return check_report("test_activation");
}
