/* conv.c: 2-D convolution, forward and backward-input, over four paths:
 * im2col + GEMM (any geometry), GEMM straight on the input (1x1), a
 * direct loop for depthwise convolutions, where GEMM would degenerate into
 * one tiny matrix product per channel, and (forward only) a direct loop
 * for layers with few input channels (conv_direct.c). */
#include "conv_internal.h"
#include "team.h"

/* The im2col path builds its matrix a block of output columns at a time,
 * so that the scratch stays bounded for large images: up to TILE_FLOATS
 * (8 MiB, a quarter of this machine's L3) the whole matrix is built at
 * once. Smaller blocks were measured and lost: GEMM repacks the weights
 * for every block, and with more than one BLAS thread each call pays a
 * fork/join, so on ResNet-50's layers whole-matrix GEMM beat 768-column
 * blocks by 0-5% on one thread and 10-25% on two. A block is never
 * narrower than TILE_MIN columns, and the blocks are evened out so that no
 * thin remainder is left over. */
enum { TILE_FLOATS = 1 << 21, TILE_MIN = 768 };

static int64_t tile_cols(const ck_conv_geom *g) {
    int64_t t = TILE_FLOATS / g->rows;
    if (t < TILE_MIN) t = TILE_MIN;
    if (t >= g->cols) return g->cols;
    int64_t blocks = g->cols / t;                       /* >= 1; the remainder is spread over these */
    t = (g->cols + blocks - 1) / blocks;
    if (t >= CK_MAX_ELEMENTS / g->rows) t = (CK_MAX_ELEMENTS - 1) / g->rows;
    return t;
}

static int applies(const ck_conv2d *p, ck_conv_algo algo) {
    switch (algo) {
    case CK_CONV_IM2COL: return 1;
    case CK_CONV_1X1:
        return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
               p->pad_top == 0 && p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0;
    case CK_CONV_DEPTHWISE: return p->groups == p->c_in;   /* c_out % groups == 0 is checked already */
    case CK_CONV_DIRECT: return ck_conv2d_direct_applies(p);
    case CK_CONV_AUTO: return 1;
    }
    return 0;
}

static size_t scratch_for(const ck_conv2d *p, const ck_conv_geom *g, int algo) {
    if (algo == CK_CONV_DIRECT) return ck_conv2d_direct_scratch_floats(p);
    return algo == CK_CONV_IM2COL ? (size_t)(g->rows * tile_cols(g)) : 0;
}

/* AUTO as the header orders it; anything else stays (or -1 if out of
 * range). AUTO goes direct only where that path's scratch fits in
 * im2col's, so that AUTO's scratch is im2col's as it always was: the
 * backward pass, which has no direct path, runs im2col in it. (Only tiny
 * outputs fall back, where the direct path's padded rows outgrow the
 * column matrix.) */
static int resolve(const ck_conv2d *p, const ck_conv_geom *g, ck_conv_algo algo) {
    if (algo != CK_CONV_AUTO) return algo >= CK_CONV_IM2COL && algo <= CK_CONV_DIRECT ? (int)algo : -1;
    if (applies(p, CK_CONV_1X1)) return CK_CONV_1X1;
    if (applies(p, CK_CONV_DEPTHWISE)) return CK_CONV_DEPTHWISE;
    if (applies(p, CK_CONV_DIRECT) && scratch_for(p, g, CK_CONV_DIRECT) <= scratch_for(p, g, CK_CONV_IM2COL))
        return CK_CONV_DIRECT;
    return CK_CONV_IM2COL;
}

static size_t need_for(const ck_conv2d *p, const ck_conv_geom *g, ck_conv_algo algo, int path) {
    return scratch_for(p, g, algo == CK_CONV_AUTO && path == CK_CONV_DIRECT ? CK_CONV_IM2COL : path);
}

size_t ck_conv2d_scratch_floats(const ck_conv2d *p, ck_conv_algo algo) {
    ck_conv_geom g;
    if (!p || ck_conv_geometry(p, &g) != CK_OK) return 0;
    int a = resolve(p, &g, algo);
    return a >= 0 && applies(p, (ck_conv_algo)a) ? need_for(p, &g, algo, a) : 0;
}

/* GEMM has to make a pass over its output before accumulating anyway
 * (zeroing it for beta = 0), so the bias and a residual ride on that pass
 * for free: rows start at bias (+ residual, laid out as y) and GEMM adds
 * onto them with beta = 1. Returns the beta to use. */
CK_MULTIVERSION
static float prefill(float *y, int64_t ld, int32_t rows, int64_t len, const float *bias, const float *res) {
    if (!bias && !res) return 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        float b = bias ? bias[r] : 0.0f, *row = y + r * ld;
        if (res) {
            const float *rr = res + r * ld;
            for (int64_t i = 0; i < len; i++) row[i] = rr[i] + b;
        } else {
            for (int64_t i = 0; i < len; i++) row[i] = b;
        }
    }
    return 1.0f;
}

/* The activation over a block GEMM just wrote, a row at a time. */
static void activate(float *y, int64_t ld, int32_t rows, int64_t len, const ck_activation *act) {
    if (!act || act->kind == CK_ACT_NONE) return;
    for (int32_t r = 0; r < rows; r++) (void)ck_act_forward(act, y + r * ld, y + r * ld, len);
}

/* ---- im2col + GEMM -------------------------------------------------------- */

/* Threads: a layer with enough output columns is cut into blocks of
 * columns, each built, multiplied and activated by one thread from start
 * to end (one pool job per layer, and each block's im2col is still in
 * cache for its GEMM). A layer with few columns (ResNet's 7x7 stage: 49)
 * shares the im2col by kernel taps, then the GEMM by rows of the weights,
 * then the activation: OpenBLAS keeps its speed on 256 x 49 but not on
 * 512 x 25. Below PAR_MACS multiply-adds a layer runs on one thread. */
enum { PAR_MACS = 1 << 20, COL_BLOCK_MIN = 64, PER_THREAD = 1 << 15 };

static int threads_for(int64_t work, int64_t per_thread, int threads) {
    int64_t t = work / per_thread;
    return (int)(t < threads ? (t > 1 ? t : 1) : threads);
}

/* One block's im2col (columns [q0, q1), written at col) and the bias fill
 * of its output columns, as items: the kernel taps (c, kh) first, then
 * the output rows. */
typedef struct prep_job {
    const ck_conv2d *p;
    const ck_conv_geom *g;
    const float *x;
    int32_t grp;
    int64_t q0, q1, units;   /* units = cin_g * k_h */
    float *col;
    float *y;                /* the block's first output, rows g->cols apart */
    const float *bias;       /* NULL: none */
    const float *res;        /* the residual at y's position, or NULL; no fill without either */
} prep_job;

static void prep_items(void *ctx, int64_t b, int64_t e) {
    const prep_job *j = ctx;
    if (b < j->units)
        ck_im2col_units(j->p, j->g, j->x, j->grp, j->q0, j->q1, b, e < j->units ? e : j->units, j->col);
    if (e > j->units) {
        int64_t r0 = (b > j->units ? b : j->units) - j->units, r1 = e - j->units;
        int64_t ld = j->g->cols;
        (void)prefill(j->y + r0 * ld, ld, (int32_t)(r1 - r0), j->q1 - j->q0, j->bias ? j->bias + r0 : NULL,
                      j->res ? j->res + r0 * ld : NULL);
    }
}

typedef struct act_job {
    float *y;
    int64_t ld, len;
    const ck_activation *act;
} act_job;

static void act_items(void *ctx, int64_t b, int64_t e) {
    const act_job *j = ctx;
    activate(j->y + b * j->ld, j->ld, (int32_t)(e - b), j->len, j->act);
}

/* Blocks of output columns of one (image, group), each from input to
 * activation. With `x_cols` the input is already the column matrix (1x1),
 * else each block's im2col goes to col + rows * (its first column - q0). */
typedef struct cols_job {
    const ck_conv2d *p;
    const ck_conv_geom *g;
    const float *x;          /* the image (im2col), or NULL */
    const float *x_cols;     /* the group's input as a rows x cols matrix (1x1), or NULL */
    const float *w, *bias;   /* the group's */
    const float *res;        /* the group's residual (laid out as y), or NULL */
    const ck_activation *act;
    int32_t grp;
    int64_t q0, q1, block;
    float *col, *y;          /* y: the group's output, rows g->cols apart */
} cols_job;

static void cols_items(void *ctx, int64_t first, int64_t end) {
    const cols_job *j = ctx;
    const ck_conv_geom *g = j->g;
    for (int64_t b = first; b < end; b++) {
        int64_t c0 = j->q0 + b * j->block, c1 = c0 + j->block < j->q1 ? c0 + j->block : j->q1, len = c1 - c0;
        const float *m = j->x_cols ? j->x_cols + c0 : j->col + g->rows * (c0 - j->q0);
        int64_t ldm = j->x_cols ? g->cols : len;
        if (!j->x_cols)
            ck_im2col_units(j->p, g, j->x, j->grp, c0, c1, 0, (int64_t)g->cin_g * j->p->k_h, j->col + g->rows * (c0 - j->q0));
        float beta = prefill(j->y + c0, g->cols, g->cout_g, len, j->bias, j->res ? j->res + c0 : NULL);
        ck_gemm_threads(0, 0, g->cout_g, (int32_t)len, (int32_t)g->rows, 1.0f, j->w, (int32_t)g->rows,
                        m, (int32_t)ldm, beta, j->y + c0, (int32_t)g->cols, 1);
        activate(j->y + c0, g->cols, g->cout_g, len, j->act);
    }
}

/* How many column blocks for `len` columns on `threads` threads: 0 when the
 * layer should not be cut by columns. One per thread: each block's GEMM
 * packs the layer's whole weight matrix again (OpenBLAS has no pre-packed
 * sgemm), and two per thread made ResNet-50 and MobileNetV2 7% slower at
 * batch 1 on 2 threads. A worker that wakes late still costs nothing: the
 * caller takes the block it has not started. */
static int64_t column_blocks(int64_t len, int threads) {
    if (threads < 2 || len < (int64_t)COL_BLOCK_MIN * threads) return 0;
    return len / COL_BLOCK_MIN < threads ? len / COL_BLOCK_MIN : threads;
}

static void forward_im2col(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                           const float *bias, const float *res, const ck_activation *act, float *y, float *col) {
    int64_t tile = tile_cols(g);
    int64_t x_img = (int64_t)p->c_in * p->h_in * p->w_in, y_img = (int64_t)p->c_out * g->cols;
    int64_t units = (int64_t)g->cin_g * p->k_h;
    if (act && act->kind == CK_ACT_NONE) act = NULL;
    for (int32_t n = 0; n < p->n; n++) {
        for (int32_t grp = 0; grp < p->groups; grp++) {
            const float *wg = w + (int64_t)grp * g->cout_g * g->rows;
            float *yg = y + n * y_img + (int64_t)grp * g->cout_g * g->cols;
            const float *bg = bias ? bias + (int64_t)grp * g->cout_g : NULL;
            const float *rg = res ? res + n * y_img + (int64_t)grp * g->cout_g * g->cols : NULL;
            for (int64_t q0 = 0; q0 < g->cols; q0 += tile) {
                int64_t q1 = q0 + tile < g->cols ? q0 + tile : g->cols, len = q1 - q0;
                int threads = (int64_t)g->cout_g * len * g->rows < PAR_MACS ? 1 : ck_threads();
                int64_t blocks = column_blocks(len, threads);
                if (blocks > 0 || threads < 2) {
                    if (blocks == 0) blocks = 1;
                    cols_job job = {p, g, x + n * x_img, NULL, wg, bg, rg, act, grp, q0, q1, (len + blocks - 1) / blocks, col, yg};
                    ck_parallel_for(cols_items, &job, (len + job.block - 1) / job.block, threads);
                    continue;
                }
                prep_job prep = {p, g, x + n * x_img, grp, q0, q1, units, col, yg + q0, bg, rg ? rg + q0 : NULL};
                int64_t fill = bg || rg ? g->cout_g : 0;
                ck_parallel_for(prep_items, &prep, units + fill, threads_for((g->rows + fill) * len, PER_THREAD, threads));
                ck_gemm_threads(0, 0, g->cout_g, (int32_t)len, (int32_t)g->rows, 1.0f, wg, (int32_t)g->rows,
                                col, (int32_t)len, fill ? 1.0f : 0.0f, yg + q0, (int32_t)g->cols, threads);
                if (!act) continue;
                act_job post = {yg + q0, g->cols, len, act};
                ck_parallel_for(act_items, &post, g->cout_g, threads_for(g->cout_g * len, PER_THREAD, threads));
            }
        }
    }
}

/* dx_g += col2im(W_g^T dy_g), a block of columns at a time. */
static void backward_im2col(const ck_conv2d *p, const ck_conv_geom *g, const float *w, const float *dy,
                            float *dx, float *col) {
    int64_t tile = tile_cols(g);
    int64_t x_img = (int64_t)p->c_in * p->h_in * p->w_in, y_img = (int64_t)p->c_out * g->cols;
    for (int32_t n = 0; n < p->n; n++) {
        for (int32_t grp = 0; grp < p->groups; grp++) {
            const float *wg = w + (int64_t)grp * g->cout_g * g->rows;
            const float *dyg = dy + n * y_img + (int64_t)grp * g->cout_g * g->cols;
            for (int64_t q0 = 0; q0 < g->cols; q0 += tile) {
                int64_t q1 = q0 + tile < g->cols ? q0 + tile : g->cols;
                ck_gemm_threads(1, 0, (int32_t)g->rows, (int32_t)(q1 - q0), g->cout_g, 1.0f, wg, (int32_t)g->rows,
                                dyg + q0, (int32_t)g->cols, 0.0f, col, (int32_t)(q1 - q0), ck_threads());
                ck_col2im_cols(p, g, col, grp, q0, q1, dx + n * x_img);
            }
        }
    }
}

/* ---- 1x1, stride 1, no padding: the input already is the im2col matrix --- */

static void forward_1x1(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                        const float *bias, const float *res, const ck_activation *act, float *y) {
    int64_t x_img = (int64_t)p->c_in * g->cols, y_img = (int64_t)p->c_out * g->cols;
    if (act && act->kind == CK_ACT_NONE) act = NULL;
    for (int32_t n = 0; n < p->n; n++) {
        for (int32_t grp = 0; grp < p->groups; grp++) {
            float *yg = y + n * y_img + (int64_t)grp * g->cout_g * g->cols;
            const float *wg = w + (int64_t)grp * g->cout_g * g->cin_g, *bg = bias ? bias + (int64_t)grp * g->cout_g : NULL;
            const float *xg = x + n * x_img + (int64_t)grp * g->cin_g * g->cols;
            const float *rg = res ? res + n * y_img + (int64_t)grp * g->cout_g * g->cols : NULL;
            int threads = (int64_t)g->cout_g * g->cols * g->cin_g < PAR_MACS ? 1 : ck_threads();
            /* Dot products up to k = 256 (MobileNet's, ResNet-50's 56x56
             * layers): one pass over the output (gemm_wide.c), 1.1-2x
             * OpenBLAS's three there. */
            if (ck_gemm_wide_applies(g->cin_g)) {
                ck_gemm_wide_threads(g->cout_g, (int32_t)g->cols, g->cin_g, wg, xg, (int32_t)g->cols, bg, rg,
                                     (int32_t)g->cols, act, yg, (int32_t)g->cols, threads);
                continue;
            }
            int64_t blocks = column_blocks(g->cols, threads);
            if (blocks > 0 || threads < 2) {
                if (blocks == 0) blocks = 1;
                cols_job job = {p, g, NULL, xg, wg, bg, rg, act, grp, 0, g->cols, (g->cols + blocks - 1) / blocks, NULL, yg};
                ck_parallel_for(cols_items, &job, (g->cols + job.block - 1) / job.block, threads);
                continue;
            }
            float beta = prefill(yg, g->cols, g->cout_g, g->cols, bg, rg);
            ck_gemm_threads(0, 0, g->cout_g, (int32_t)g->cols, g->cin_g, 1.0f, wg, g->cin_g, xg, (int32_t)g->cols,
                            beta, yg, (int32_t)g->cols, threads);
            activate(yg, g->cols, g->cout_g, g->cols, act);
        }
    }
}

static void backward_1x1(const ck_conv2d *p, const ck_conv_geom *g, const float *w, const float *dy, float *dx) {
    int64_t x_img = (int64_t)p->c_in * g->cols, y_img = (int64_t)p->c_out * g->cols;
    for (int32_t n = 0; n < p->n; n++) {
        for (int32_t grp = 0; grp < p->groups; grp++) {
            ck_gemm_threads(1, 0, g->cin_g, (int32_t)g->cols, g->cout_g, 1.0f,
                            w + (int64_t)grp * g->cout_g * g->cin_g, g->cin_g,
                            dy + n * y_img + (int64_t)grp * g->cout_g * g->cols, (int32_t)g->cols,
                            1.0f, dx + n * x_img + (int64_t)grp * g->cin_g * g->cols, (int32_t)g->cols, ck_threads());
        }
    }
}

/* ---- entry points ---------------------------------------------------------- */

/* Everything both directions check before touching memory. */
static ck_status prepare(const ck_conv2d *p, ck_conv_algo algo, int backward, float *scratch, size_t scratch_floats,
                         ck_conv_geom *g, int *path) {
    ck_status s = ck_conv_geometry(p, g);
    if (s != CK_OK) return s;
    *path = resolve(p, g, algo);
    if (*path < 0 || !applies(p, (ck_conv_algo)*path)) return CK_ERR_ARGUMENT;
    size_t need = need_for(p, g, algo, *path);
    if (backward && *path == CK_CONV_DIRECT) *path = CK_CONV_IM2COL;
    if (need > 0 && scratch_floats < need) return CK_ERR_SCRATCH;
    if (need > 0 && !scratch) return CK_ERR_NULL;
    return CK_OK;
}

ck_status ck_conv2d_forward(const ck_conv2d *p, ck_conv_algo algo,
                            const float *x, const float *w, const float *bias,
                            const ck_activation *act, float *y,
                            float *scratch, size_t scratch_floats) {
    return ck_conv2d_forward_add(p, algo, x, w, bias, NULL, act, y, scratch, scratch_floats);
}

/* The depthwise loop has no prefill pass to carry a residual: it is added
 * after, and the activation with it. No model camkit has met adds onto a
 * depthwise output, so this path is only correct, not fast. */
static void depthwise_add(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                          const float *bias, const float *res, const ck_activation *act, float *y) {
    ck_depthwise_forward(p, g, x, w, bias, NULL, y);
    int64_t len = (int64_t)p->n * p->c_out * g->cols;
    for (int64_t i = 0; i < len; i++) y[i] += res[i];
    if (act) (void)ck_act_forward(act, y, y, len);
}

ck_status ck_conv2d_forward_add(const ck_conv2d *p, ck_conv_algo algo,
                                const float *x, const float *w, const float *bias, const float *residual,
                                const ck_activation *act, float *y,
                                float *scratch, size_t scratch_floats) {
    if (!p || !x || !w || !y) return CK_ERR_NULL;
    ck_conv_geom g;
    int path;
    ck_status s = prepare(p, algo, 0, scratch, scratch_floats, &g, &path);
    if (s != CK_OK) return s;
    s = ck_act_valid(act);
    if (s != CK_OK) return s;
    switch (path) {
    case CK_CONV_1X1: forward_1x1(p, &g, x, w, bias, residual, act, y); break;
    case CK_CONV_DEPTHWISE:
        if (residual) depthwise_add(p, &g, x, w, bias, residual, act, y);
        else ck_depthwise_forward(p, &g, x, w, bias, act, y);
        break;
    case CK_CONV_DIRECT: ck_conv_direct_forward(p, &g, x, w, bias, residual, act, y, scratch); break;
    default: forward_im2col(p, &g, x, w, bias, residual, act, y, scratch); break;
    }
    return CK_OK;
}

/* ---- from packed weights (pgemm.c) ---------------------------------------- */

enum { PACKED_COL_FLOATS = 1 << 22 };

int ck_conv2d_packed_applies(const ck_conv2d *p) {
    ck_conv_geom g;
    if (!p || ck_conv_geometry(p, &g) != CK_OK || p->groups != 1) return 0;
    return applies(p, CK_CONV_1X1) || g.rows * g.cols < PACKED_COL_FLOATS;
}

size_t ck_conv2d_packed_scratch_floats(const ck_conv2d *p) {
    ck_conv_geom g;
    if (!ck_conv2d_packed_applies(p) || applies(p, CK_CONV_1X1)) return 0;
    (void)ck_conv_geometry(p, &g);
    return (size_t)(g.rows * g.cols);
}

/* Per image: the im2col matrix whole (its taps split over the threads),
 * or the input itself for 1x1, then one packed GEMM with bias, residual
 * and activation in its epilogue. */
ck_status ck_conv2d_forward_packed(const ck_conv2d *p, const float *packed_w, const float *x, const float *bias,
                                   const float *residual, const ck_activation *act, float *y,
                                   float *scratch, size_t scratch_floats) {
    if (!p || !packed_w || !x || !y) return CK_ERR_NULL;
    ck_conv_geom g;
    ck_status s = ck_conv_geometry(p, &g);
    if (s != CK_OK) return s;
    if (!ck_conv2d_packed_applies(p)) return CK_ERR_ARGUMENT;
    const int direct = applies(p, CK_CONV_1X1);
    if (!direct && (!scratch || scratch_floats < (size_t)(g.rows * g.cols))) return CK_ERR_SCRATCH;
    s = ck_act_valid(act);
    if (s != CK_OK) return s;
    const int64_t x_img = (int64_t)p->c_in * p->h_in * p->w_in, y_img = (int64_t)p->c_out * g.cols;
    const int threads = ck_threads();
    for (int32_t n = 0; n < p->n; n++) {
        const float *b = x + n * x_img;
        if (!direct) {
            int64_t units = (int64_t)g.cin_g * p->k_h;
            prep_job prep = {p, &g, x + n * x_img, 0, 0, g.cols, units, scratch, NULL, NULL, NULL};
            ck_parallel_for(prep_items, &prep, units, threads_for(g.rows * g.cols, PER_THREAD, threads));
            b = scratch;
        }
        ck_gemm_packed_threads(p->c_out, (int32_t)g.cols, (int32_t)g.rows, packed_w, b, (int32_t)g.cols, bias,
                               residual ? residual + n * y_img : NULL, (int32_t)g.cols, act, y + n * y_img,
                               (int32_t)g.cols, threads);
    }
    return CK_OK;
}

ck_status ck_conv2d_backward_input(const ck_conv2d *p, const float *w, const float *dy, float *dx,
                                   float *scratch, size_t scratch_floats) {
    if (!p || !w || !dy || !dx) return CK_ERR_NULL;
    ck_conv_geom g;
    int path;
    ck_status s = prepare(p, CK_CONV_AUTO, 1, scratch, scratch_floats, &g, &path);
    if (s != CK_OK) return s;
    switch (path) {
    case CK_CONV_1X1: backward_1x1(p, &g, w, dy, dx); break;
    case CK_CONV_DEPTHWISE: ck_depthwise_backward_input(p, &g, w, dy, dx); break;
    default: backward_im2col(p, &g, w, dy, dx, scratch); break;
    }
    return CK_OK;
}
