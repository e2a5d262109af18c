/* winograd.c: 3x3 stride-1 convolution as Winograd F(4x4, 3x3) or F(2x2, 3x3).
 *
 * im2col + GEMM spends 9 multiply-adds per output and input channel;
 * F(4x4, 3x3) spends 36 per 4x4 output tile, 2.25 per output: a 4x cut in
 * the GEMM work, paid for by transforms that are linear in the channels.
 * With the points 0, +-1, +-2 (Lavin & Gray 2016; ncnn's winograd43):
 *
 *   y_tile = A^T [ (G g G^T) .* (B^T d B) ] A
 *
 * for a 6x6 input tile d (stride 4) and a 3x3 kernel g. F(2x2, 3x3) (the
 * points 0, +-1) takes 4x4 input tiles at stride 2 and spends 16 per 2x2
 * tile, 4 per output: less of a cut, but U is 16/9 of the weights rather
 * than 4x, which is what counts at 7x7, where one image has only four
 * 4x4 tiles (or 16 2x2 ones) to share each read of U. The tile size m (2
 * or 4) is an argument of every function below. The weight side
 * U = G g G^T is computed once by the caller (the engine, while planning);
 * here each block of tiles goes
 *   input transform  V[p][c][t]  = (B^T d_{c,t} B)[p]        ((m + 2)^2 points p)
 *   GEMM per point   M[p]        = U[p] (c_out x c_in) * V[p] (c_in x tiles)
 *   output transform y[co][tile] = act(A^T M[.][co][t] A + bias[co])
 * Both transforms run eight tiles of one tile row at a time (or the four
 * of a short row), in vector registers (vec.h), so their cost stays small
 * next to the GEMMs even at 64 channels. The error grows with the larger transform coefficients
 * (up to 8 in A, 5 in B); for float32 CNN weights it stays around 1e-6
 * relative to the outputs' magnitude (see Tests/c/test_winograd.c). */
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "vec.h"

/* The most points per tile (F(4x4, 3x3)), tiles per vector chunk, the
 * widest band (input_body), 7.5 KiB of stack for six rows, and the skew
 * between points in V and M. A chunk's transform stores to (or loads
 * from) all (m + 2)^2 points at once, c_in (or c_out) rows of the block's
 * tiles apart: with power-of-two channels and 16 tiles (14x14 under
 * F(4x4), 7x7 under F(2x2)) that is a multiple of 4 KiB, every point in
 * one set of the L1 cache, which holds eight. One line more per point
 * spreads them: ResNet's 14x14 layers 14-17% faster, its 7x7 ones 6%,
 * 56x56 8%. */
enum { P = 36, CHUNK = VEC, BAND = 320, SKEW = 16 };

static int points(int32_t m) { return (m + 2) * (m + 2); }

/* Scratch is V and M for one block of tiles: (m + 2)^2 (c_in + c_out)
 * floats per tile. Tiles are numbered across the images of the batch,
 * image by image, so that a block can take several images: each block
 * reads all of U ((m + 2)^2 c_in c_out floats), and at 7x7 and 14x14 one
 * image has only 4 and 16 4x4 tiles to share that read. A block takes one image's tiles, or
 * more until U's floats are at most twice V's and M's, c_in c_out /
 * (2 (c_in + c_out)) tiles: one image at 28x28 and up, where V and M of
 * more images outgrow the cache (ResNet-18's 56x56 layers went 1.4x
 * slower in blocks of 448 tiles than of 196), 64 tiles at 14x14, the most
 * that fit at 7x7 (one thread, batch 16: 1.5x and 1.25x faster than
 * image by image). Never more than BLOCK_FLOATS (8 MiB, as the im2col
 * path) nor fewer than BLOCK_MIN tiles, so that the GEMMs keep a useful
 * width. */
enum { BLOCK_FLOATS = 1 << 21, BLOCK_MIN = 16 };

/* Threads: below PAR_MACS (GEMM multiply-adds of a block) one thread. A
 * block with at least SPLIT_MIN tiles per thread is cut into sub-blocks of
 * tiles, each transformed, multiplied and transformed back by one thread
 * (one pool job, data stays in that core's cache), one sub-block per
 * thread since each reads all of U again for its GEMMs (two per thread
 * made VGG-16 5% slower); a block with fewer (an image's 14x14 and 7x7
 * layers) shares each phase instead: input channels, then the GEMMs (one
 * point each), then output channels. */
enum { PAR_MACS = 1 << 20, SPLIT_MIN = 32 };

typedef struct wino_geom {
    int32_t m, points;  /* output tile size (2 or 4), (m + 2)^2 */
    int32_t h_out, w_out, tiles_h, tiles_w;
    int64_t tiles;      /* per image */
    int64_t total;      /* in the batch: n * tiles */
    int64_t block;      /* tiles per block */
    int64_t x_img, y_img;   /* floats per image of x and y */
} wino_geom;

int ck_winograd_applies(const ck_conv2d *p) {
    ck_conv_geom g;
    if (!p || ck_conv_geometry(p, &g) != CK_OK) return 0;
    if (p->k_h != 3 || p->k_w != 3 || p->stride_h != 1 || p->stride_w != 1 || p->dil_h != 1 || p->dil_w != 1 ||
        p->groups != 1)
        return 0;
    if (p->pad_top > 2 || p->pad_left > 2 || p->pad_bottom > 2 || p->pad_right > 2) return 0;
    return CK_ELEMS(P, p->c_out, p->c_in) >= 0;
}

/* 1 if the path takes p with tile size m. */
static int applies_m(const ck_conv2d *p, int32_t m) { return (m == 2 || m == 4) && ck_winograd_applies(p); }

/* 0 unless the geometry applies. */
static int wino_geometry(const ck_conv2d *p, int32_t m, wino_geom *w) {
    ck_conv_geom g;
    if (!applies_m(p, m) || ck_conv_geometry(p, &g) != CK_OK) return 0;
    w->m = m;
    w->points = points(m);
    w->h_out = g.h_out;
    w->w_out = g.w_out;
    w->tiles_h = (g.h_out + m - 1) / m;
    w->tiles_w = (g.w_out + m - 1) / m;
    w->tiles = (int64_t)w->tiles_h * w->tiles_w;
    w->total = w->tiles * p->n;
    w->x_img = (int64_t)p->c_in * p->h_in * p->w_in;
    w->y_img = (int64_t)p->c_out * g.h_out * g.w_out;
    int64_t per_tile = (int64_t)w->points * (p->c_in + p->c_out);
    int64_t t = (int64_t)p->c_in * p->c_out / (2 * (p->c_in + p->c_out));
    if (t < w->tiles) t = w->tiles;
    if (t > BLOCK_FLOATS / per_tile) t = BLOCK_FLOATS / per_tile;
    if (t < BLOCK_MIN) t = BLOCK_MIN;
    if (t >= w->total) {
        t = w->total;
    } else {
        int64_t blocks = (w->total + t - 1) / t;              /* evened out: no thin remainder */
        t = (w->total + blocks - 1) / blocks;
    }
    /* Each of V and M is one GEMM operand per point: its index must fit an int. */
    int64_t widest = p->c_in > p->c_out ? p->c_in : p->c_out;
    if (t * widest * w->points >= CK_MAX_ELEMENTS) t = (CK_MAX_ELEMENTS - 1) / (widest * w->points);
    w->block = t;
    return t >= 1;
}

size_t ck_winograd_weight_floats(const ck_conv2d *p, int32_t m) {
    return applies_m(p, m) ? (size_t)points(m) * (size_t)p->c_out * (size_t)p->c_in : 0;
}

size_t ck_winograd_scratch_floats(const ck_conv2d *p, int32_t m) {
    wino_geom w;
    if (!wino_geometry(p, m, &w)) return 0;
    return (size_t)(w.points * ((int64_t)(p->c_in + p->c_out) * w.block + 2 * SKEW));
}

/* ---- weights ------------------------------------------------------------- */

/* G ((m + 2) x 3) times a column of three, for eight kernels. In float,
 * multiplied by reciprocals: a few ulps of U, which is stored in float
 * anyway, where double arithmetic one kernel at a time was a third of
 * ResNet-50's load once its 7x7 and 14x14 layers took Winograd. */
static inline __attribute__((always_inline)) void g_times(int32_t m, vf g0, vf g1, vf g2, vf out[6]) {
    if (m == 2) {
        out[0] = g0;
        out[1] = (g0 + g1 + g2) * 0.5f;
        out[2] = (g0 - g1 + g2) * 0.5f;
        out[3] = g2;
        return;
    }
    const float sixth = 1.0f / 6, twelfth = 1.0f / 12, twentyfourth = 1.0f / 24;
    out[0] = g0 * 0.25f;
    out[1] = -(g0 + g1 + g2) * sixth;
    out[2] = -(g0 - g1 + g2) * sixth;
    out[3] = g0 * twentyfourth + g1 * twelfth + g2 * sixth;
    out[4] = g0 * twentyfourth - g1 * twelfth + g2 * sixth;
    out[5] = g2;
}

/* U[p][co][ci]: each point's c_out x c_in matrix is the GEMM's A. The
 * 36 (or 16) points of a run of input channels go to a small buffer first and
 * then out as 36 contiguous rows: written straight to U, the 36 streams
 * sit a multiple of 4 KiB apart for power-of-two channel counts, share
 * one set of the L1 cache, and the transform ran at 170 ns per kernel
 * (about 70 ms of ResNet-50's load). Output channels [co0, co1). */
typedef struct weights_job {
    const ck_conv2d *p;
    int32_t m;
    const float *w;
    float *u;
    int packed;      /* u as ck_pack_weights lays out each point (CK_PANEL rows a panel) */
    int64_t point;   /* floats per point of u */
} weights_job;

/* Output channels [co0, co1), or when packed panels [co0, co1): written
 * straight into the panels, each point's 32 rows of a panel stay in the
 * cache while they fill, and there is no U to pack afterwards (which had
 * made ResNet-50's load 40 ms slower). */
static inline __attribute__((always_inline)) void weights_body(const weights_job *j, int64_t first, int64_t end) {
    const ck_conv2d *p = j->p;
    const int32_t m = j->m, side = m + 2, pts = side * side;
    enum { RUN = 64 };   /* a multiple of CHUNK */
    float buf[P][RUN];
    int64_t plane = (int64_t)p->c_out * p->c_in, panel = (int64_t)CK_PANEL * p->c_in;
    int64_t co0 = first, co1 = end;
    if (j->packed) {
        co0 = first * CK_PANEL;
        co1 = end * CK_PANEL < p->c_out ? end * CK_PANEL : p->c_out;
        if (co1 % CK_PANEL)   /* the last panel's rows past c_out are zero */
            for (int q = 0; q < pts; q++) memset(j->u + q * j->point + co1 / CK_PANEL * panel, 0, sizeof(float) * (size_t)panel);
    }
    for (int64_t co = co0; co < co1; co++) {
        for (int32_t c0 = 0; c0 < p->c_in; c0 += RUN) {
            int32_t run = p->c_in - c0 < RUN ? p->c_in - c0 : RUN;
            for (int32_t r0 = 0; r0 < run; r0 += CHUNK) {
                /* Kernels r0 .. r0 + 7 of the run, tap k of each in lane r of g[k] (zero past the run). */
                float taps[9][CHUNK] = {{0}};
                const float *src = j->w + (co * p->c_in + c0 + r0) * 9;
                for (int32_t r = 0; r < CHUNK && r0 + r < run; r++)
                    for (int k = 0; k < 9; k++) taps[k][r] = src[r * 9 + k];
                vf g[9], cols[3][6], t[6];
                for (int k = 0; k < 9; k++) g[k] = vload(taps[k]);
                for (int k = 0; k < 3; k++) g_times(m, g[k], g[3 + k], g[6 + k], cols[k]);  /* G g, column k */
                for (int i = 0; i < side; i++) {
                    g_times(m, cols[0][i], cols[1][i], cols[2][i], t);                     /* row i of (G g) G^T */
                    for (int k = 0; k < side; k++) vstore(buf[i * side + k] + r0, t[k]);
                }
            }
            if (!j->packed) {
                for (int q = 0; q < pts; q++) memcpy(j->u + q * plane + co * p->c_in + c0, buf[q], (size_t)run * sizeof(float));
                continue;
            }
            for (int q = 0; q < pts; q++) {
                float *dst = j->u + q * j->point + co / CK_PANEL * panel + (int64_t)c0 * CK_PANEL + co % CK_PANEL;
                for (int32_t r = 0; r < run; r++) dst[r * CK_PANEL] = buf[q][r];
            }
        }
    }
}

CK_MULTIVERSION static void weights_items(void *ctx, int64_t first, int64_t end) {
    weights_body(ctx, first, end);
}

/* Split by output channels over the pool: ResNet-50 transforms 14 M
 * weights at load, VGG-16 59 M. */
ck_status ck_winograd_transform_weights(const ck_conv2d *p, int32_t m, const float *w, float *u) {
    if (!p || !w || !u) return CK_ERR_NULL;
    if (!applies_m(p, m)) return CK_ERR_ARGUMENT;
    weights_job j = {p, m, w, u, 0, (int64_t)p->c_out * p->c_in};
    int threads = (int64_t)p->c_out * p->c_in < 4096 ? 1 : ck_threads();
    ck_parallel_for(weights_items, &j, p->c_out, threads);
    return CK_OK;
}

ck_status ck_winograd_transform_weights_packed(const ck_conv2d *p, int32_t m, const float *w, float *packed) {
    if (!p || !w || !packed) return CK_ERR_NULL;
    if (!applies_m(p, m)) return CK_ERR_ARGUMENT;
    weights_job j = {p, m, w, packed, 1, (int64_t)ck_packed_weight_floats(p->c_out, p->c_in)};
    int threads = (int64_t)p->c_out * p->c_in < 4096 ? 1 : ck_threads();
    ck_parallel_for(weights_items, &j, (p->c_out + CK_PANEL - 1) / CK_PANEL, threads);
    return CK_OK;
}

/* ---- transforms ------------------------------------------------------------ */

/* B^T times six values (a row or a column of a tile), for eight tiles. */
static inline __attribute__((always_inline))
void bt6(vf d0, vf d1, vf d2, vf d3, vf d4, vf d5, vf o[6]) {
    vf four = (vf){0} + 4.0f, five = (vf){0} + 5.0f, two = (vf){0} + 2.0f;
    vf a12 = d4 - four * d2, b12 = d3 - four * d1;
    vf a34 = d4 - d2, b34 = two * (d3 - d1);
    o[0] = four * d0 - five * d2 + d4;
    o[1] = a12 + b12;
    o[2] = a12 - b12;
    o[3] = a34 + b34;
    o[4] = a34 - b34;
    o[5] = four * d1 - five * d3 + d5;
}

/* A^T (4x6) times six values, for eight tiles. */
static inline __attribute__((always_inline))
void at6(vf m0, vf m1, vf m2, vf m3, vf m4, vf m5, vf o[4]) {
    vf a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[0] = m0 + a + c;
    o[1] = b + 2.0f * d;
    o[2] = a + 4.0f * c;
    o[3] = b + 8.0f * d + m5;
}

/* The 36 floats at s split by position mod 4 for eight tiles four apart:
 * ph[k][i] = s[4 i + k] for k < 4, and ph[4], ph[5] the same one tile on
 * (s[4 i + 4], s[4 i + 5]). Shuffles, not strided loads: clang turned the
 * strided loop into one float at a time. */
static inline __attribute__((always_inline)) void phases(const float *s, vf ph[6]) {
    vf a0 = vload(s), a1 = vload(s + 8), a2 = vload(s + 16), a3 = vload(s + 24);
    vf lo01 = __builtin_shufflevector(a0, a1, 0, 4, 8, 12, 1, 5, 9, 13);
    vf hi01 = __builtin_shufflevector(a2, a3, 0, 4, 8, 12, 1, 5, 9, 13);
    vf lo23 = __builtin_shufflevector(a0, a1, 2, 6, 10, 14, 3, 7, 11, 15);
    vf hi23 = __builtin_shufflevector(a2, a3, 2, 6, 10, 14, 3, 7, 11, 15);
    ph[0] = __builtin_shufflevector(lo01, hi01, 0, 1, 2, 3, 8, 9, 10, 11);
    ph[1] = __builtin_shufflevector(lo01, hi01, 4, 5, 6, 7, 12, 13, 14, 15);
    ph[2] = __builtin_shufflevector(lo23, hi23, 0, 1, 2, 3, 8, 9, 10, 11);
    ph[3] = __builtin_shufflevector(lo23, hi23, 4, 5, 6, 7, 12, 13, 14, 15);
    vf b0 = vload(s + 4), b1 = vload(s + 12), b2 = vload(s + 20), b3 = vload(s + 28);
    vf lo = __builtin_shufflevector(b0, b1, 0, 4, 8, 12, 1, 5, 9, 13);
    vf hi = __builtin_shufflevector(b2, b3, 0, 4, 8, 12, 1, 5, 9, 13);
    ph[4] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 8, 9, 10, 11);
    ph[5] = __builtin_shufflevector(lo, hi, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* The inverse for output rows: row[4 i + k] = o[k][i], 32 floats. */
static inline __attribute__((always_inline)) void interleave4(const vf o[4], float *row) {
    vf x01 = __builtin_shufflevector(o[0], o[1], 0, 8, 1, 9, 2, 10, 3, 11);
    vf x23 = __builtin_shufflevector(o[2], o[3], 0, 8, 1, 9, 2, 10, 3, 11);
    vf y01 = __builtin_shufflevector(o[0], o[1], 4, 12, 5, 13, 6, 14, 7, 15);
    vf y23 = __builtin_shufflevector(o[2], o[3], 4, 12, 5, 13, 6, 14, 7, 15);
    vstore(row, __builtin_shufflevector(x01, x23, 0, 1, 8, 9, 2, 3, 10, 11));
    vstore(row + 8, __builtin_shufflevector(x01, x23, 4, 5, 12, 13, 6, 7, 14, 15));
    vstore(row + 16, __builtin_shufflevector(y01, y23, 0, 1, 8, 9, 2, 3, 10, 11));
    vstore(row + 24, __builtin_shufflevector(y01, y23, 4, 5, 12, 13, 6, 7, 14, 15));
}

/* F(2x2, 3x3): B^T (4x4) times four values, for eight tiles. */
static inline __attribute__((always_inline)) void bt4(vf d0, vf d1, vf d2, vf d3, vf o[4]) {
    o[0] = d0 - d2;
    o[1] = d1 + d2;
    o[2] = d2 - d1;
    o[3] = d1 - d3;
}

/* F(2x2, 3x3): A^T (2x4) times four values, for eight tiles. */
static inline __attribute__((always_inline)) void at4(vf m0, vf m1, vf m2, vf m3, vf o[2]) {
    o[0] = m0 + m1 + m2;
    o[1] = m1 - m2 - m3;
}

/* The 18 floats at s for eight tiles two apart: ph[k][i] = s[2 i + k],
 * k < 4 (ph[2] and ph[3] are ph[0] and ph[1] one tile on). */
static inline __attribute__((always_inline)) void phases2(const float *s, vf ph[4]) {
    vf a0 = vload(s), a1 = vload(s + 8), b0 = vload(s + 2), b1 = vload(s + 10);
    ph[0] = __builtin_shufflevector(a0, a1, 0, 2, 4, 6, 8, 10, 12, 14);
    ph[1] = __builtin_shufflevector(a0, a1, 1, 3, 5, 7, 9, 11, 13, 15);
    ph[2] = __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14);
    ph[3] = __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15);
}

/* The inverse for output rows: row[2 i + k] = o[k][i], 16 floats. */
static inline __attribute__((always_inline)) void interleave2(const vf o[2], float *row) {
    vstore(row, __builtin_shufflevector(o[0], o[1], 0, 8, 1, 9, 2, 10, 3, 11));
    vstore(row + 8, __builtin_shufflevector(o[0], o[1], 4, 12, 5, 13, 6, 14, 7, 15));
}

/* One block: tiles [q0, q1) of the batch (flat tile index (image *
 * tiles_h + ty) * tiles_w + tx); V and M hold column t - q0 for tile t,
 * rows `ld` = q1 - q0 apart. */
typedef struct wino_job {
    const ck_conv2d *p;
    const wino_geom *g;
    const float *u;              /* U, or U packed for ck_gemm_packed */
    int64_t u_point;             /* floats per point of u */
    int packed;
    const float *x, *bias;
    const float *res;            /* the residual, laid out as y, or NULL */
    const ck_activation *act;    /* NULL: none */
    float *y, *v, *m;
    int64_t q0, q1, ld, split;   /* split: tiles per sub-block (sub-block mode) */
} wino_job;

/* Tiles in the chunk that starts at tile t: eight, or the fewer left in
 * its tile row (so in its image) or before t1. */
static inline int64_t chunk_len(const wino_geom *g, int64_t t, int64_t t1) {
    int64_t n = g->tiles_w - t % g->tiles_w;
    if (n > t1 - t) n = t1 - t;
    return n < CHUNK ? n : CHUNK;
}

/* The n lanes of a chunk to or from V and M. Only a job's last chunk
 * needs them: before it, the lanes past n are columns of later tiles of
 * the same job, so all eight move and the extra ones are overwritten
 * (input) or dropped (output). Variable-size memcpy calls for the 56x56
 * rows' chunks of six tiles and the 28x28 rows' of seven had made the
 * two transforms a third slower. Of the rest, half a chunk is common: the
 * 14x14 layers under F(4x4) and the 7x7 ones under F(2x2) have rows of
 * four tiles; a fixed-size copy of four floats is one 128-bit move, where
 * a call to memcpy with a variable size was 7% of ResNet-18's forward. */
static inline __attribute__((always_inline)) void store_n(float *at, vf v, int64_t n) {
    if (n == CHUNK) vstore(at, v);
    else if (n == 4) memcpy(at, &v, 4 * sizeof(float));
    else memcpy(at, &v, (size_t)n * sizeof(float));
}

static inline __attribute__((always_inline)) vf load_n(const float *at, int64_t n) {
    if (n == CHUNK) return vload(at);
    vf v = {0};
    if (n == 4) memcpy(&v, at, 4 * sizeof(float));
    else memcpy(&v, at, (size_t)n * sizeof(float));
    return v;
}

/* A chunk's output tiles, assembled as m output rows of m * CHUNK floats
 * in `rows`: the residual added, activated in one call while in L1, then
 * copied out up to the output's edges. */
static inline __attribute__((always_inline))
void finish_rows(const wino_job *j, float *yc, const float *rc, int64_t ty, int64_t tx, int64_t n, float *rows) {
    const wino_geom *g = j->g;
    const int64_t m = g->m, len = m * CHUNK, oh0 = ty * m, ow0 = tx * m;
    const int64_t w = g->w_out - ow0 < m * n ? g->w_out - ow0 : m * n;
    if (rc) {
        for (int64_t i = 0; i < m && oh0 + i < g->h_out; i++) {
            const float *r = rc + (oh0 + i) * g->w_out + ow0;
            for (int64_t k = 0; k < w; k++) rows[i * len + k] += r[k];
        }
    }
    if (j->act) (void)ck_act_forward(j->act, rows, rows, m * len);
    for (int64_t i = 0; i < m && oh0 + i < g->h_out; i++) copy_short(yc + (oh0 + i) * g->w_out + ow0, rows + i * len, w);
}

/* Input channels [c0, c1), tiles [t0, t1) into V, for tile size m (a
 * constant where it is called, so each m gets its own copy). The bodies
 * of both transforms are always_inline functions called from a
 * CK_MULTIVERSION wrapper: clang refuses to pass a vf by value from a
 * function with AVX (the x86-64-v3 clone) to one without, even an
 * always_inline one, unless the caller carries no target features of its
 * own. */
static inline __attribute__((always_inline))
void input_body(const wino_job *j, int64_t c0, int64_t c1, int64_t t0, int64_t t1, const int m) {
    const ck_conv2d *p = j->p;
    const wino_geom *g = j->g;
    /* A chunk's input tiles are side x side, m apart; phases() and
     * phases2() read `span` columns for eight of them. */
    const int side = m + 2, span = m == 4 ? 36 : 18;
    int64_t plane = (int64_t)p->h_in * p->w_in, vp = (int64_t)p->c_in * j->ld + SKEW;
    float buf[6][40];
    /* A tile row that fits goes through a band instead: its side input
     * rows, zero-padded, copied once, so that every chunk of the row
     * reads whole spans. At 56x56 and below no chunk is inside, and
     * through buf each of them had its rows built afresh, and read back
     * by loads that straddle the copy's stores (no store forwarding):
     * the band took a third off ResNet-18's input transform. */
    const int64_t band_w = (g->tiles_w - 1) * m + span;
    const int use_band = band_w <= BAND;
    float band[6][BAND];
    for (int64_t c = c0; c < c1; c++) {
        float *vc = j->v + c * j->ld;
        for (int64_t t_ = t0, n; t_ < t1; t_ += n) {
            int64_t img = t_ / g->tiles, ty = t_ % g->tiles / g->tiles_w, tx = t_ % g->tiles_w;
            const float *xc = j->x + img * g->x_img + c * plane;
            n = chunk_len(g, t_, t1);
            int64_t ih0 = ty * m - p->pad_top, iw0 = tx * m - p->pad_left;
            if (use_band && (tx == 0 || t_ == t0)) {   /* a new tile row: a block may start inside one */
                int64_t pl = p->pad_left, w = p->w_in < band_w - pl ? p->w_in : band_w - pl;
                for (int r = 0; r < side; r++) {
                    int64_t ih = ih0 + r;
                    if (ih < 0 || ih >= p->h_in) {
                        zero_short(band[r], band_w);
                        continue;
                    }
                    zero_short(band[r], pl);
                    copy_short(band[r] + pl, xc + ih * p->w_in, w);
                    zero_short(band[r] + pl + w, band_w - pl - w);
                }
            }
            /* Otherwise each of the chunk's rows straight from x when all
             * its span columns are inside, else through buf with the
             * padding as real zeros. */
            int inside = ih0 >= 0 && ih0 + side <= p->h_in && iw0 >= 0 && iw0 + span <= p->w_in;
            vf t[6][6];
            for (int r = 0; r < side; r++) {
                const float *src;
                if (use_band) {
                    src = band[r] + tx * m;
                } else if (inside) {
                    src = xc + (ih0 + r) * p->w_in + iw0;
                } else {
                    memset(buf[r], 0, sizeof buf[r]);
                    int64_t ih = ih0 + r, a = iw0 < 0 ? -iw0 : 0, b = p->w_in - iw0 < span ? p->w_in - iw0 : span;
                    if (ih >= 0 && ih < p->h_in && b > a) copy_short(buf[r] + a, xc + ih * p->w_in + iw0 + a, b - a);
                    src = buf[r];
                }
                vf ph[6];
                if (m == 4) {
                    phases(src, ph);
                    bt6(ph[0], ph[1], ph[2], ph[3], ph[4], ph[5], t[r]);
                } else {
                    phases2(src, ph);
                    bt4(ph[0], ph[1], ph[2], ph[3], t[r]);
                }
            }
            float *dst = vc + (t_ - j->q0);
            for (int k = 0; k < side; k++) {
                vf o[6];
                if (m == 4) bt6(t[0][k], t[1][k], t[2][k], t[3][k], t[4][k], t[5][k], o);
                else bt4(t[0][k], t[1][k], t[2][k], t[3][k], o);
                if (t_ + CHUNK <= t1)   /* lanes past n: the next chunk's columns, which it then writes */
                    for (int i = 0; i < side; i++) vstore(dst + (i * side + k) * vp, o[i]);
                else
                    for (int i = 0; i < side; i++) store_n(dst + (i * side + k) * vp, o[i], n);
            }
        }
    }
}

CK_MULTIVERSION
static void input_transform(const wino_job *j, int64_t c0, int64_t c1, int64_t t0, int64_t t1) {
    if (j->g->m == 2) input_body(j, c0, c1, t0, t1, 2);
    else input_body(j, c0, c1, t0, t1, 4);
}

/* M[p] = U[p] V[p] for points [p0, p1), tiles [t0, t1). */
static void multiply(const wino_job *j, int64_t p0, int64_t p1, int64_t t0, int64_t t1) {
    const ck_conv2d *p = j->p;
    int64_t vp = (int64_t)p->c_in * j->ld + SKEW, mp = (int64_t)p->c_out * j->ld + SKEW;
    for (int64_t pt = p0; pt < p1; pt++) {   /* point pt's rows of V and M: pt * vp, pt * mp */
        const float *v = j->v + pt * vp + (t0 - j->q0);
        float *m = j->m + pt * mp + (t0 - j->q0);
        if (j->packed)
            ck_gemm_packed_threads(p->c_out, (int32_t)(t1 - t0), p->c_in, j->u + pt * j->u_point, v, (int32_t)j->ld,
                                   NULL, NULL, 0, NULL, m, (int32_t)j->ld, 1);
        else
            ck_gemm_threads(0, 0, p->c_out, (int32_t)(t1 - t0), p->c_in, 1.0f, j->u + pt * j->u_point, p->c_in, v,
                            (int32_t)j->ld, 0.0f, m, (int32_t)j->ld, 1);
    }
}

/* Output channels [o0, o1), tiles [t0, t1) from M into y, with bias and
 * activation on the way (finish_rows), for tile size m as input_body. */
static inline __attribute__((always_inline))
void output_body(const wino_job *j, int64_t o0, int64_t o1, int64_t t0, int64_t t1, const int m) {
    const ck_conv2d *p = j->p;
    const wino_geom *g = j->g;
    const int side = m + 2;
    int64_t plane = (int64_t)g->h_out * g->w_out, mp = (int64_t)p->c_out * j->ld + SKEW;
    float rows[4 * 4 * CHUNK];   /* m rows of m * CHUNK outputs */
    for (int64_t co = o0; co < o1; co++) {
        const float *mc = j->m + co * j->ld;
        vf bias = (vf){0} + (j->bias ? j->bias[co] : 0.0f);
        for (int64_t t_ = t0, n; t_ < t1; t_ += n) {
            int64_t img = t_ / g->tiles, ty = t_ % g->tiles / g->tiles_w, tx = t_ % g->tiles_w;
            float *yc = j->y + img * g->y_img + co * plane;
            const float *rc = j->res ? j->res + img * g->y_img + co * plane : NULL;
            n = chunk_len(g, t_, t1);
            const float *src = mc + (t_ - j->q0);
            vf s[4][6];   /* A^T M, columns k */
            for (int k = 0; k < side; k++) {
                vf mv[6], o[4];
                if (t_ + CHUNK <= t1)   /* lanes past n: other tiles of this job's, computed and dropped */
                    for (int i = 0; i < side; i++) mv[i] = vload(src + (i * side + k) * mp);
                else
                    for (int i = 0; i < side; i++) mv[i] = load_n(src + (i * side + k) * mp, n);
                if (m == 4) at6(mv[0], mv[1], mv[2], mv[3], mv[4], mv[5], o);
                else at4(mv[0], mv[1], mv[2], mv[3], o);
                for (int i = 0; i < m; i++) s[i][k] = o[i];
            }
            for (int i = 0; i < m; i++) {
                vf o[4];
                if (m == 4) at6(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], o);
                else at4(s[i][0], s[i][1], s[i][2], s[i][3], o);
                for (int k = 0; k < m; k++) o[k] += bias;
                if (m == 4) interleave4(o, rows + i * 4 * CHUNK);
                else interleave2(o, rows + i * 2 * CHUNK);
            }
            finish_rows(j, yc, rc, ty, tx, n, rows);
        }
    }
}

CK_MULTIVERSION
static void output_transform(const wino_job *j, int64_t o0, int64_t o1, int64_t t0, int64_t t1) {
    if (j->g->m == 2) output_body(j, o0, o1, t0, t1, 2);
    else output_body(j, o0, o1, t0, t1, 4);
}

/* Sub-block mode: item b is tiles [q0 + b * split, ...), start to end. */
static void sub_block_items(void *ctx, int64_t first, int64_t end) {
    const wino_job *j = ctx;
    for (int64_t b = first; b < end; b++) {
        int64_t t0 = j->q0 + b * j->split, t1 = t0 + j->split < j->q1 ? t0 + j->split : j->q1;
        input_transform(j, 0, j->p->c_in, t0, t1);
        multiply(j, 0, j->g->points, t0, t1);
        output_transform(j, 0, j->p->c_out, t0, t1);
    }
}

/* Phase mode: one item per input channel, point, or output channel. */
static void input_items(void *ctx, int64_t b, int64_t e) {
    const wino_job *j = ctx;
    input_transform(j, b, e, j->q0, j->q1);
}

static void multiply_items(void *ctx, int64_t b, int64_t e) {
    const wino_job *j = ctx;
    multiply(j, b, e, j->q0, j->q1);
}

static void output_items(void *ctx, int64_t b, int64_t e) {
    const wino_job *j = ctx;
    output_transform(j, b, e, j->q0, j->q1);
}

ck_status ck_winograd_forward(const ck_conv2d *p, int32_t m, const float *u, const float *x, const float *bias,
                              const ck_activation *act, float *y, float *scratch, size_t scratch_floats) {
    return ck_winograd_forward_add(p, m, u, x, bias, NULL, act, y, scratch, scratch_floats);
}

/* Both forwards: from U, or (packed) from U as ck_winograd_transform_weights_packed writes it. */
static ck_status forward(const ck_conv2d *p, int32_t m, const float *u, int packed, const float *x, const float *bias,
                         const float *residual, const ck_activation *act, float *y, float *scratch,
                         size_t scratch_floats) {
    if (!p || !u || !x || !y) return CK_ERR_NULL;
    ck_conv_geom cg;
    ck_status s = ck_conv_geometry(p, &cg);
    if (s != CK_OK) return s;
    wino_geom g;
    if (!wino_geometry(p, m, &g)) return CK_ERR_ARGUMENT;
    size_t need = (size_t)(g.points * ((int64_t)(p->c_in + p->c_out) * g.block + 2 * SKEW));
    if (!scratch) return CK_ERR_NULL;
    if (scratch_floats < need) return CK_ERR_SCRATCH;
    s = ck_act_valid(act);
    if (s != CK_OK) return s;
    if (act && act->kind == CK_ACT_NONE) act = NULL;
    int threads = ck_threads();
    const int64_t u_point = packed ? (int64_t)ck_packed_weight_floats(p->c_out, p->c_in) : (int64_t)p->c_out * p->c_in;
    for (int64_t q0 = 0; q0 < g.total; q0 += g.block) {
        int64_t q1 = q0 + g.block < g.total ? q0 + g.block : g.total, len = q1 - q0;
        wino_job j = {p, &g, u, u_point, packed, x, bias, residual, act, y, scratch,
                      scratch + g.points * ((int64_t)p->c_in * len + SKEW), q0, q1, len, len};
        int t = (int64_t)g.points * p->c_out * p->c_in * len < PAR_MACS ? 1 : threads;
        if (t < 2 || len >= (int64_t)SPLIT_MIN * t) {
            int64_t items = t < 2 ? 1 : (len / SPLIT_MIN < t ? len / SPLIT_MIN : t);
            j.split = (len + items - 1) / items;
            ck_parallel_for(sub_block_items, &j, (len + j.split - 1) / j.split, t);
            continue;
        }
        ck_parallel_for(input_items, &j, p->c_in, t);
        ck_parallel_for(multiply_items, &j, g.points, t);
        ck_parallel_for(output_items, &j, p->c_out, t);
    }
    return CK_OK;
}

ck_status ck_winograd_forward_add(const ck_conv2d *p, int32_t m, const float *u, const float *x, const float *bias,
                                  const float *residual, const ck_activation *act, float *y,
                                  float *scratch, size_t scratch_floats) {
    return forward(p, m, u, 0, x, bias, residual, act, y, scratch, scratch_floats);
}

/* ---- from U packed ----------------------------------------------------------- */

size_t ck_winograd_packed_floats(const ck_conv2d *p, int32_t m) {
    return applies_m(p, m) ? (size_t)points(m) * ck_packed_weight_floats(p->c_out, p->c_in) : 0;
}

ck_status ck_winograd_forward_packed(const ck_conv2d *p, int32_t m, const float *packed_u, const float *x,
                                     const float *bias, const float *residual, const ck_activation *act, float *y,
                                     float *scratch, size_t scratch_floats) {
    return forward(p, m, packed_u, 1, x, bias, residual, act, y, scratch, scratch_floats);
}
