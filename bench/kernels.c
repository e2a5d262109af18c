/* bench/kernels.c: convolution throughput against its own GEMM, the
 * direct depthwise kernel against im2col + GEMM, and Winograd F(4x4, 3x3)
 * against im2col + GEMM, on ResNet-50, MobileNetV2, ResNet-18 and VGG-16
 * layers at 224 x 224, batch 1.
 *
 * Build with the flags the package uses (no -march), e.g.
 *   clang -std=c11 -O2 -Iinclude -ICSources CSources/[every .c] bench/kernels.c -lopenblas -lm
 * Optional arguments: the thread count for the second ResNet table
 * (default: one per core); "winograd" after it runs the Winograd table only,
 * "depthwise" the depthwise table only, on that many threads; "peak" the
 * throughput of a large square OpenBLAS sgemm on 1 thread and on that many,
 * the practical ceiling bench/bounds.py divides by. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "cam_kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct job {
    const ck_conv2d *p;
    ck_conv_algo algo;            /* the convolution to time, or ... */
    int gemm_m, gemm_n, gemm_k;   /* ... a bare GEMM when gemm_m > 0 */
    const float *x, *w, *bias;
    const ck_activation *act;
    float *y, *scratch;
    size_t scratch_floats;
    const float *u;               /* Winograd's transformed weights: time ck_winograd_forward */
    const float *packed;          /* weights packed by ck_pack_weights: time ck_conv2d_forward_packed */
} job;

/* The bare GEMM is OpenBLAS with its own threads, as many as the kernels
 * get, so the table compares the kernels' threading with OpenBLAS's. The
 * kernels want OpenBLAS single-threaded inside their blocks, so the count
 * goes back to 1 after each bare call. */
static int bench_threads = 1;

static void run(const job *j) {
    ck_status s = CK_OK;
    if (j->gemm_m > 0) {
        openblas_set_num_threads(bench_threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->gemm_m, j->gemm_n, j->gemm_k, 1.0f, j->w, j->gemm_k,
                    j->x, j->gemm_n, 0.0f, j->y, j->gemm_n);
        openblas_set_num_threads(1);
    } else if (j->packed) {
        s = ck_conv2d_forward_packed(j->p, j->packed, j->x, j->bias, NULL, j->act, j->y, j->scratch, j->scratch_floats);
    } else if (j->u) {
        s = ck_winograd_forward(j->p, 4, j->u, j->x, j->bias, j->act, j->y, j->scratch, j->scratch_floats);
    } else {
        s = ck_conv2d_forward(j->p, j->algo, j->x, j->w, j->bias, j->act, j->y, j->scratch, j->scratch_floats);
    }
    if (s != CK_OK) {
        fprintf(stderr, "kernel failed: %s\n", ck_status_string(s));
        exit(1);
    }
}

/* Median seconds per call of two jobs, timed alternately (a warm-up each,
 * then enough rounds to fill about `budget` seconds, 5 to 200 of them),
 * so that a burst of load from elsewhere on the machine hits both alike
 * and their ratio stays fair. */
enum { MAX_ROUNDS = 200 };

static void median_pair(const job *a, const job *b, double budget, double *t_a, double *t_b) {
    run(a);
    run(b);
    double t0 = now();
    run(a);
    run(b);
    double once = now() - t0;
    int rounds = once > 0 ? (int)(budget / once) : MAX_ROUNDS;
    rounds = rounds < 5 ? 5 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
    double ta[MAX_ROUNDS], tb[MAX_ROUNDS];
    for (int i = 0; i < rounds; i++) {
        t0 = now();
        run(a);
        double t1 = now();
        run(b);
        ta[i] = t1 - t0;
        tb[i] = now() - t1;
    }
    qsort(ta, (size_t)rounds, sizeof ta[0], by_value);
    qsort(tb, (size_t)rounds, sizeof tb[0], by_value);
    *t_a = ta[rounds / 2];
    *t_b = tb[rounds / 2];
}

static float *random_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static ck_conv2d square(int c_in, int c_out, int hw, int k, int stride, int pad, int groups) {
    ck_conv2d p = {1, c_in, hw, hw, c_out, k, k, stride, stride, 1, 1, pad, pad, pad, pad, groups};
    return p;
}

/* Buffers for one layer, large enough for every algorithm timed on it. */
typedef struct buffers { float *x, *w, *bias, *y, *scratch; size_t scratch_floats; } buffers;

static buffers alloc_for(const ck_conv2d *p) {
    int32_t ho, wo;
    if (ck_conv2d_output_size(p, &ho, &wo) != CK_OK) { fprintf(stderr, "bad layer\n"); exit(1); }
    buffers b;
    size_t k = (size_t)(p->c_in / p->groups) * p->k_h * p->k_w, cols = (size_t)ho * wo;
    b.x = random_floats((size_t)p->c_in * p->h_in * p->w_in + k * cols);   /* also the bare GEMM's B */
    b.w = random_floats((size_t)p->c_out * k);
    b.bias = random_floats((size_t)p->c_out);
    b.y = random_floats((size_t)p->c_out * cols);
    b.scratch_floats = ck_conv2d_scratch_floats(p, CK_CONV_IM2COL);
    b.scratch = random_floats(b.scratch_floats);
    return b;
}

static void free_buffers(buffers *b) {
    free(b->x); free(b->w); free(b->bias); free(b->y); free(b->scratch);
}

/* ResNet-50's convolutions: im2col + GEMM, with bias and ReLU fused as the
 * engine runs them, against a bare GEMM of the same M, N, K; and the path
 * the engine takes where it is another: the direct loop for the 3-channel
 * stem (conv_direct.c), and, where the CPU runs it, the GEMM from packed
 * weights (pgemm.c) on the layers the engine gives it (PackedWeights.pays:
 * K >= 128, at most 1024 columns). Returns the worst ratio of im2col's,
 * and through *worst_engine that of the path the engine takes. */
static double resnet_table(int threads, double *worst_engine) {
    ck_set_threads(threads);
    bench_threads = threads;
    const ck_activation relu = {CK_ACT_RELU, 0, 0};
    struct { const char *name; ck_conv2d p; } layers[] = {
        {"conv1 7x7 s2, 3->64 @224", square(3, 64, 224, 7, 2, 3, 1)},
        {"3x3 s1, 64 @56", square(64, 64, 56, 3, 1, 1, 1)},
        {"3x3 s2, 128 @56->28", square(128, 128, 56, 3, 2, 1, 1)},
        {"3x3 s1, 128 @28", square(128, 128, 28, 3, 1, 1, 1)},
        {"3x3 s1, 256 @14", square(256, 256, 14, 3, 1, 1, 1)},
        {"3x3 s1, 512 @7", square(512, 512, 7, 3, 1, 1, 1)},
    };
    double worst = 1e9;
    *worst_engine = 1e9;
    printf("ResNet-50 convolutions, threads %d: im2col + GEMM (+ bias + ReLU) vs a bare OpenBLAS GEMM on as many threads;\n"
           "engine: the path the engine takes instead, direct (conv_direct.c) or from weights packed once (pgemm.c)\n",
           threads);
    printf("%-26s %5s %6s %5s %10s %10s %7s %11s %7s\n", "layer", "M", "N", "K", "conv GF/s", "GEMM GF/s", "ratio",
           "engine GF/s", "ratio");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const ck_conv2d *p = &layers[i].p;
        int32_t ho, wo;
        ck_conv2d_output_size(p, &ho, &wo);
        int m = p->c_out, n = ho * wo, k = p->c_in * p->k_h * p->k_w;
        buffers b = alloc_for(p);
        job conv = {p, CK_CONV_IM2COL, 0, 0, 0, b.x, b.w, b.bias, &relu, b.y, b.scratch, b.scratch_floats, NULL, NULL};
        job gemm = {NULL, CK_CONV_AUTO, m, n, k, b.x, b.w, NULL, NULL, b.y, NULL, 0, NULL, NULL};
        double flops = 2.0 * m * n * k, t_conv, t_gemm;
        median_pair(&conv, &gemm, 1.2, &t_conv, &t_gemm);
        double ratio = t_gemm / t_conv, engine = ratio;
        if (ratio < worst) worst = ratio;
        printf("%-26s %5d %6d %5d %10.1f %10.1f %6.1f%%", layers[i].name, m, n, k, flops / t_conv * 1e-9,
               flops / t_gemm * 1e-9, 100 * ratio);
        /* The engine's own path, where it is not im2col. */
        const char *path = NULL;
        float *packed = NULL, *scratch = NULL;
        job ej = conv;
        if (ck_conv2d_direct_applies(p)) {
            size_t sf = ck_conv2d_scratch_floats(p, CK_CONV_DIRECT);
            scratch = random_floats(sf);
            ej = (job){p, CK_CONV_DIRECT, 0, 0, 0, b.x, b.w, b.bias, &relu, b.y, scratch, sf, NULL, NULL};
            path = "direct";
        } else if (ck_packed_available() && ck_conv2d_packed_applies(p) && k >= 128 && n <= 1024) {
            packed = malloc(ck_packed_weight_floats(m, k) * sizeof(float));
            size_t sf = ck_conv2d_packed_scratch_floats(p);
            scratch = random_floats(sf);
            if (!packed || ck_pack_weights(m, k, b.w, packed) != CK_OK) { fprintf(stderr, "pack failed\n"); exit(1); }
            ej = (job){p, CK_CONV_AUTO, 0, 0, 0, b.x, b.w, b.bias, &relu, b.y, scratch, sf, NULL, packed};
            path = "packed";
        }
        if (path) {
            double t_engine, t_gemm2;
            median_pair(&ej, &gemm, 1.2, &t_engine, &t_gemm2);
            engine = t_gemm2 / t_engine;
            printf(" %11.1f %6.1f%% %s", flops / t_engine * 1e-9, 100 * engine, path);
        }
        free(packed);
        free(scratch);
        printf("\n");
        if (engine < *worst_engine) *worst_engine = engine;
        free_buffers(&b);
    }
    printf("\n");
    return worst;
}

/* MobileNetV2's depthwise 3x3 layers (pad 1): the direct kernel against
 * im2col + GEMM, with bias only and with bias + ReLU6 fused (the
 * activation's cost is the same in both paths). Returns the worst speedup
 * of each through the two pointers. */
static void mobilenet_table(int threads, double *worst_bias, double *worst_relu6) {
    ck_set_threads(threads);
    const ck_activation relu6 = {CK_ACT_CLIP, 0, 6};
    struct { int c, hw, stride; } layers[] = {
        {32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2}, {192, 28, 1},
        {192, 28, 2}, {384, 14, 1}, {576, 14, 1}, {576, 14, 2}, {960, 7, 1},
    };
    *worst_bias = *worst_relu6 = 1e9;
    printf("MobileNetV2 depthwise 3x3, threads %d: direct vs im2col + GEMM (microseconds)\n", threads);
    printf("%-14s %9s %9s %8s   %9s %9s %8s\n", "", "bias:", "", "", "+ReLU6:", "", "");
    printf("%-14s %9s %9s %8s   %9s %9s %8s\n", "layer", "direct", "im2col", "speedup", "direct", "im2col", "speedup");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_conv2d p = square(layers[i].c, layers[i].c, layers[i].hw, 3, layers[i].stride, 1, layers[i].c);
        buffers b = alloc_for(&p);
        double t[2][2];
        for (int a = 0; a < 2; a++) {
            const ck_activation *act = a ? &relu6 : NULL;
            job direct = {&p, CK_CONV_DEPTHWISE, 0, 0, 0, b.x, b.w, b.bias, act, b.y, NULL, 0, NULL, NULL};
            job im2col = {&p, CK_CONV_IM2COL, 0, 0, 0, b.x, b.w, b.bias, act, b.y, b.scratch, b.scratch_floats, NULL, NULL};
            median_pair(&direct, &im2col, 0.4, &t[a][0], &t[a][1]);
        }
        double s0 = t[0][1] / t[0][0], s1 = t[1][1] / t[1][0];
        if (s0 < *worst_bias) *worst_bias = s0;
        if (s1 < *worst_relu6) *worst_relu6 = s1;
        char name[32];
        snprintf(name, sizeof name, "%d @%d s%d", layers[i].c, layers[i].hw, layers[i].stride);
        printf("%-14s %9.1f %9.1f %7.2fx   %9.1f %9.1f %7.2fx\n", name, t[0][0] * 1e6, t[0][1] * 1e6, s0,
               t[1][0] * 1e6, t[1][1] * 1e6, s1);
        free_buffers(&b);
    }
    printf("\n");
}

/* ResNet-18's and VGG-16's 3x3 stride-1 convolutions (pad 1, bias +
 * ReLU fused as the engine runs them): Winograd F(4x4, 3x3) against
 * im2col + GEMM, on 1 thread and on `threads`. */
static void winograd_table(int threads) {
    const ck_activation relu = {CK_ACT_RELU, 0, 0};
    struct { const char *name; int c_in, c_out, hw; } layers[] = {
        {"resnet18 64 @56", 64, 64, 56},     {"resnet18 128 @28", 128, 128, 28},
        {"resnet18 256 @14", 256, 256, 14},  {"resnet18 512 @7", 512, 512, 7},
        {"vgg16 3->64 @224", 3, 64, 224},    {"vgg16 64 @224", 64, 64, 224},
        {"vgg16 64->128 @112", 64, 128, 112}, {"vgg16 128 @112", 128, 128, 112},
        {"vgg16 128->256 @56", 128, 256, 56}, {"vgg16 256 @56", 256, 256, 56},
        {"vgg16 256->512 @28", 256, 512, 28}, {"vgg16 512 @28", 512, 512, 28},
        {"vgg16 512 @14", 512, 512, 14},
    };
    printf("3x3 s1 pad 1 (+ bias + ReLU): im2col + GEMM vs Winograd F(4x4, 3x3), milliseconds\n");
    printf("%-20s %9s %9s %7s", "layer", "im2col", "winograd", "ratio");
    if (threads > 1) printf("   %9s %9s %7s", "im2col", "winograd", "ratio");
    printf("   (threads 1%s)\n", threads > 1 ? ", then more" : "");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        ck_conv2d p = square(layers[i].c_in, layers[i].c_out, layers[i].hw, 3, 1, 1, 1);
        buffers b = alloc_for(&p);
        size_t wino_floats = ck_winograd_scratch_floats(&p, 4);
        float *u = random_floats(ck_winograd_weight_floats(&p, 4)), *ws = random_floats(wino_floats);
        if (ck_winograd_transform_weights(&p, 4, b.w, u) != CK_OK) { fprintf(stderr, "transform failed\n"); exit(1); }
        printf("%-20s", layers[i].name);
        for (int t = 1; t <= threads && t <= 2; t++) {
            ck_set_threads(t == 1 ? 1 : threads);
            job im2col = {&p, CK_CONV_IM2COL, 0, 0, 0, b.x, b.w, b.bias, &relu, b.y, b.scratch, b.scratch_floats, NULL, NULL};
            job wino = {&p, CK_CONV_AUTO, 0, 0, 0, b.x, b.w, b.bias, &relu, b.y, ws, wino_floats, u, NULL};
            double t_im2col, t_wino;
            median_pair(&im2col, &wino, 1.0, &t_im2col, &t_wino);
            printf(" %9.3f %9.3f %6.2fx  ", t_im2col * 1e3, t_wino * 1e3, t_im2col / t_wino);
        }
        printf("\n");
        fflush(stdout);
        free(u);
        free(ws);
        free_buffers(&b);
    }
    printf("\n");
    ck_set_threads(0);
}

/* A 2048 x 2048 x 2048 sgemm (OpenBLAS, its own threads): the best of
 * several runs, in GMAC/s. */
static void peak_table(int threads) {
    const int n = 2048;
    float *a = random_floats((size_t)n * n), *b = random_floats((size_t)n * n), *c = random_floats((size_t)n * n);
    printf("OpenBLAS sgemm %d x %d x %d, best of 10 runs (GMAC/s)\n", n, n, n);
    const int counts[2] = {1, threads};
    for (int i = 0; i < (threads > 1 ? 2 : 1); i++) {
        const int t = counts[i];
        openblas_set_num_threads(t);
        double best = 1e30;
        for (int r = 0; r < 11; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double dt = now() - t0;
            if (r > 0 && dt < best) best = dt;   /* the first run warms up */
        }
        printf("threads %d: %.1f GMAC/s\n", t, (double)n * n * n / best * 1e-9);
    }
    openblas_set_num_threads(1);
    free(a);
    free(b);
    free(c);
}

int main(int argc, char **argv) {
    /* One thread per core, unless a count is given. */
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    ck_set_threads(threads);
    threads = ck_set_threads(0);
    ck_set_threads(threads);
    printf("threads: %d (the tables say which they use)\n\n", threads);
    if (argc > 2 && strcmp(argv[2], "peak") == 0) {
        peak_table(threads);
        return 0;
    }
    if (argc > 2 && strcmp(argv[2], "winograd") == 0) {
        winograd_table(threads);
        return 0;
    }
    if (argc > 2 && strcmp(argv[2], "depthwise") == 0) {
        double worst_bias, worst_relu6;
        mobilenet_table(threads, &worst_bias, &worst_relu6);
        return 0;
    }

    double engine1, engine_n;
    double resnet1 = resnet_table(1, &engine1), resnet_n = threads > 1 ? resnet_table(threads, &engine_n) : resnet1;
    if (threads <= 1) engine_n = engine1;
    double dw_bias, dw_relu6;
    mobilenet_table(1, &dw_bias, &dw_relu6);
    winograd_table(threads);
    ck_set_threads(0);

    printf("Target im2col conv >= 85%% of GEMM: %s with 1 thread (worst %.1f%%)", resnet1 >= 0.85 ? "MET" : "NOT MET",
           100 * resnet1);
    if (threads > 1)
        printf(", %s with %d (worst %.1f%%)", resnet_n >= 0.85 ? "MET" : "NOT MET", threads, 100 * resnet_n);
    printf(". The engine's path (packed where it runs): %s with 1 thread (worst %.1f%%)", engine1 >= 0.85 ? "MET" : "NOT MET",
           100 * engine1);
    if (threads > 1)
        printf(", %s with %d (worst %.1f%%)", engine_n >= 0.85 ? "MET" : "NOT MET", threads, 100 * engine_n);
    printf(". Target depthwise >= 3x im2col: %s with bias (worst %.2fx), %s with bias + ReLU6 (worst %.2fx).\n",
           dw_bias >= 3.0 ? "MET" : "NOT MET", dw_bias, dw_relu6 >= 3.0 ? "MET" : "NOT MET", dw_relu6);
    return 0;
}
