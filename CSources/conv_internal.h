/* conv_internal.h: what im2col.c, conv.c and depthwise.c share; not installed. */
#ifndef CAM_KERNELS_CONV_INTERNAL_H
#define CAM_KERNELS_CONV_INTERNAL_H

#include <math.h>

#include "internal.h"

/* Sizes that follow from a checked ck_conv2d. rows * cols is the im2col
 * matrix of one group; it is not bounded by the check (the tiled paths
 * never build all of it), so whoever builds it whole checks it. */
typedef struct ck_conv_geom {
    int32_t h_out, w_out;
    int32_t cin_g, cout_g;      /* channels per group */
    int64_t rows, cols;         /* cin_g * k_h * k_w, h_out * w_out */
} ck_conv_geom;

/* Rows per panel of A packed for ck_gemm_packed (pgemm.c), which
 * winograd.c also writes directly: panel p holds, for each column k, rows
 * [CK_PANEL p, CK_PANEL (p + 1)) of A, rows past m zero. */
enum { CK_PANEL = 32 };

/* Checks every field of p and the element counts of x, w and y: CK_OK, or
 * CK_ERR_SIZE / CK_ERR_ARGUMENT (groups). p must not be NULL. */
ck_status ck_conv_geometry(const ck_conv2d *p, ck_conv_geom *g);

/* Columns [q0, q1) of group `group`'s im2col matrix of image x, stored as a
 * rows x (q1 - q0) matrix at col. */
void ck_im2col_cols(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                    int64_t q0, int64_t q1, float *col);

/* Only the rows of the kernel taps (c, kh, all kw) with u = c * k_h + kh in
 * [u0, u1): rows [u0 * k_w, u1 * k_w) of the same block, written where
 * ck_im2col_cols writes them. Disjoint ranges can be built at once. */
void ck_im2col_units(const ck_conv2d *p, const ck_conv_geom *g, const float *x, int32_t group,
                     int64_t q0, int64_t q1, int64_t u0, int64_t u1, float *col);

/* The adjoint: adds a rows x (q1 - q0) block of columns onto image dx. */
void ck_col2im_cols(const ck_conv2d *p, const ck_conv_geom *g, const float *col, int32_t group,
                    int64_t q0, int64_t q1, float *dx);

/* The direct depthwise paths (depthwise.c): groups == c_in, each output
 * channel co reading input channel co / (c_out / c_in). Checked geometry. */
void ck_depthwise_forward(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                          const float *bias, const ck_activation *act, float *y);
void ck_depthwise_backward_input(const ck_conv2d *p, const ck_conv_geom *g, const float *w,
                                 const float *dy, float *dx);

/* The direct path for few input channels (conv_direct.c): the whole batch,
 * scratch of ck_conv2d_direct_scratch_floats(p). Checked geometry. */
void ck_conv_direct_forward(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                            const float *bias, const float *res, const ck_activation *act, float *y, float *scratch);
size_t ck_conv2d_direct_scratch_floats(const ck_conv2d *p);

/* Whether the activation is a clamp, min(max(v, lo), hi) (ReLU, Clip and
 * so ReLU6), which the direct loops apply in registers (vec.h's clamp_v),
 * and its bounds. act may be NULL. */
static inline int ck_clamp_of(const ck_activation *act, float *lo, float *hi) {
    if (!act) return 0;
    if (act->kind == CK_ACT_RELU) { *lo = 0.0f; *hi = INFINITY; return 1; }
    if (act->kind == CK_ACT_CLIP) { *lo = act->alpha; *hi = act->beta; return 1; }
    return 0;
}

/* For the kernel column (or row) at offset `off` = tap * dil - pad, the
 * output positions o in [*lo, *hi) whose input o * stride + off lies inside
 * [0, in); the rest read padding. Computing these once per tap is what
 * lets the inner loops run branch-free over contiguous runs. */
static inline void ck_tap_range(int64_t off, int32_t stride, int32_t in, int32_t out,
                                int32_t *lo, int32_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = in - off <= 0 ? 0 : (in - off + stride - 1) / stride;
    if (l > out) l = out;
    if (h > out) h = out;
    if (h < l) h = l;
    *lo = (int32_t)l;
    *hi = (int32_t)h;
}

#endif
