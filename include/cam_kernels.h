/*
 * cam_kernels.h: the numeric kernels under camkit (internal, but stable).
 *
 * These are the hot loops of the engine: im2col/col2im, GEMM, convolution,
 * pooling, resampling, activations. The Swift pipeline calls them; nothing
 * else does. They are not part of the published ABI (include/cam.h): libcam.so
 * hides every ck_* symbol. Still, they are written to the same standard as a
 * public header, because every later layer stands on them.
 *
 * Conventions, stated once for the whole file
 * -------------------------------------------
 * - Element type: float32 everywhere. Indices (argmax) are int32_t.
 * - Layout: NCHW, C order. A tensor of shape [N, C, H, W] is contiguous, with
 *   strides [C*H*W, H*W, W, 1]. A "plane" is one H x W channel of one image.
 * - Matrices are row-major. A matrix with `rows` rows and leading dimension
 *   `ld` stores element (i, j) at [i * ld + j]; ld >= number of columns.
 * - Sizes are int32_t and must be >= 1 unless a parameter says otherwise
 *   (pads >= 0). The product of the dimensions of every tensor a call touches
 *   must stay below CK_MAX_ELEMENTS, so that every BLAS index fits an int.
 * - Weights follow ONNX: conv weight W is [C_out, C_in / groups, K_h, K_w];
 *   bias is [C_out] or NULL.
 * - Padding is four-sided: pad_top, pad_left, pad_bottom, pad_right (ONNX
 *   `pads` = [top, left, bottom, right]). Dilation d spreads the kernel taps
 *   d apart, so a kernel of size k covers d * (k - 1) + 1 input positions.
 * - Forward kernels OVERWRITE their output. Backward kernels ACCUMULATE into
 *   the input gradient (dx += ...), because a tensor feeding several
 *   consumers receives the sum of their gradients: zero dx before the first
 *   backward call that writes it.
 * - Pointers: inputs and outputs must not overlap unless a function says
 *   in-place is allowed. No function keeps a pointer after it returns. No
 *   function allocates buffer memory, except where stated (helper threads,
 *   below, have their own stacks): callers own all buffers.
 * - Every entry point validates its sizes before touching memory and returns
 *   a ck_status; on an error nothing has been written.
 * - Threads: the kernels are safe to call from many threads at once on
 *   distinct outputs. GEMM, convolution and depthwise convolution split
 *   their work over up to ck_set_threads / ck_set_local_threads threads: the
 *   caller's and those of a pool the kernels start on first use and keep
 *   (team.c). Pool threads touch the caller's data only before the call
 *   returns. One call uses the pool at a time; a call that finds it busy
 *   runs on its caller's thread alone. OpenBLAS itself is kept at one
 *   thread (openblas_set_num_threads(1) on first use).
 */
#ifndef CAM_KERNELS_H
#define CAM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bound on the elements of any tensor or matrix a kernel touches:
 * BLAS takes int sizes, so nothing may reach 2^31. */
#define CK_MAX_ELEMENTS ((int64_t)INT32_MAX)

typedef enum ck_status {
    CK_OK = 0,
    CK_ERR_NULL = 1,        /* a required pointer was NULL */
    CK_ERR_SIZE = 2,        /* a size was zero, negative, too large, or the output would be empty */
    CK_ERR_ARGUMENT = 3,    /* an option out of range (enum, groups that do not divide, ...) */
    CK_ERR_SCRATCH = 4,     /* the scratch buffer is smaller than the call needs */
    /* Image files (cam_image.h); those calls also give a one-line message. */
    CK_ERR_FORMAT = 5,      /* not a PNG or JPEG file, or corrupt or truncated data */
    CK_ERR_UNSUPPORTED = 6, /* a valid file using a feature camkit does not handle */
    CK_ERR_MEMORY = 7,      /* an allocation failed */
    CK_ERR_LIMIT = 8,       /* the image is larger than the caller's pixel limit */
    CK_ERR_IO = 9           /* a file could not be opened, read or written */
} ck_status;

/* A short, static, English description of a status ("size out of range"). */
const char *ck_status_string(ck_status s);

/* ------------------------------------------------------------------------ */
/* Activations (activation.c)                                                */
/* ------------------------------------------------------------------------ */

typedef enum ck_act_kind {
    CK_ACT_NONE = 0,         /* y = x */
    CK_ACT_RELU = 1,         /* y = max(x, 0) */
    CK_ACT_CLIP = 2,         /* y = min(max(x, alpha), beta); ReLU6 is alpha = 0, beta = 6 */
    CK_ACT_LEAKY_RELU = 3,   /* y = x >= 0 ? x : alpha * x */
    CK_ACT_SIGMOID = 4,      /* y = 1 / (1 + exp(-x)) */
    CK_ACT_SILU = 5,         /* y = x * sigmoid(x) */
    CK_ACT_HARD_SIGMOID = 6, /* y = max(0, min(1, alpha * x + beta)); ONNX defaults alpha = 0.2, beta = 0.5,
                                PyTorch's Hardsigmoid is alpha = 1/6, beta = 0.5 */
    CK_ACT_HARD_SWISH = 7    /* y = x * max(0, min(1, x / 6 + 1/2)) (ONNX HardSwish, alpha and beta unused) */
} ck_act_kind;

/* An activation with its parameters; the meaning of alpha and beta is given
 * per kind above and is ignored by kinds that take none. */
typedef struct ck_activation {
    ck_act_kind kind;
    float alpha;
    float beta;
} ck_activation;

/* y[i] = f(x[i]) for i < n. In-place (y == x) is allowed. A NaN input gives
 * NaN for every kind. CK_ERR_ARGUMENT for an unknown kind, or for Clip
 * unless alpha <= beta (a NaN bound fails that); CK_ERR_SIZE unless
 * 1 <= n < CK_MAX_ELEMENTS. The same checks apply to ck_act_backward. */
ck_status ck_act_forward(const ck_activation *act, const float *x, float *y, int64_t n);

/* dx[i] += dy[i] * f'(x[i]) for i < n, with x the forward INPUT.
 * At the kinks the derivative follows PyTorch's autograd, so that maps equal
 * the peers' exactly at ties: ReLU passes where x > 0; Clip where
 * alpha < x < beta; LeakyReLU uses 1 where x > 0; HardSigmoid passes where
 * 0 < alpha * x + beta < 1; HardSwish is 0 for x < -3, x / 3 + 1/2 for
 * -3 <= x <= 3, 1 above. */
ck_status ck_act_backward(const ck_activation *act, const float *x, const float *dy, float *dx, int64_t n);

/* Softmax over the last axis of a [rows, cols] matrix, computed stably
 * (max subtracted first). In-place is allowed. */
ck_status ck_softmax_forward(const float *x, float *y, int32_t rows, int32_t cols);

/* dx += y * (dy - sum_j(dy_j * y_j)) per row, with y the softmax OUTPUT. */
ck_status ck_softmax_backward(const float *y, const float *dy, float *dx, int32_t rows, int32_t cols);

/* Local response normalization across channels (ONNX LRN), on [n, c, hw]:
 * y = x / (bias + alpha / size * sum_{c' in window} x_{c'}^2) ^ beta, where the
 * window holds channels c - floor((size - 1) / 2) .. c + ceil((size - 1) / 2),
 * clipped to [0, c) (zero padding). size >= 1. */
ck_status ck_lrn_forward(const float *x, float *y, int32_t n, int32_t c, int32_t hw,
                         int32_t size, float alpha, float beta, float bias);

/* ------------------------------------------------------------------------ */
/* GEMM (gemm.c)                                                             */
/* ------------------------------------------------------------------------ */

/* C = alpha * op(A) * op(B) + beta * C, row-major, through cblas_sgemm.
 * op(A) is m x k (A is m x k, or k x m when trans_a), op(B) is k x n (B is
 * k x n, or n x k when trans_b), C is m x n. lda, ldb, ldc are the row
 * strides of A, B, C as stored. With beta == 0, C need not be initialized. */
ck_status ck_gemm(int trans_a, int trans_b, int32_t m, int32_t n, int32_t k,
                  float alpha, const float *a, int32_t lda,
                  const float *b, int32_t ldb,
                  float beta, float *c, int32_t ldc);

/* Sets how many threads (the caller's included) one kernel call may use,
 * for every later call in the process; 0 restores the default: one per
 * core, or CAMKIT_NUM_THREADS, OPENBLAS_NUM_THREADS or OMP_NUM_THREADS if
 * set (the first that is). At most 16. Returns the previous setting. */
int ck_set_threads(int threads);

/* The same for calls made on the calling thread only, overriding
 * ck_set_threads while > 0 (0: follow it again). One image per thread
 * wants 1 here. Returns the previous local setting (0 if none). */
int ck_set_local_threads(int threads);

/* The threads a kernel call made now on this thread may use. */
int ck_threads(void);

/* For programs (not libraries): keeps freed blocks up to 32 MB in malloc's
 * heap instead of returning them to the kernel, which would zero them
 * again on the next layer's first touch (heap.c). */
void ck_keep_heap(void);

/* ------------------------------------------------------------------------ */
/* Convolution (im2col.c, conv.c, winograd.c)                              */
/* ------------------------------------------------------------------------ */

/* Geometry of one 2-D convolution. The output size follows from it:
 *   h_out = (h_in + pad_top + pad_bottom - dil_h * (k_h - 1) - 1) / stride_h + 1
 *   w_out = (w_in + pad_left + pad_right - dil_w * (k_w - 1) - 1) / stride_w + 1
 * (integer division of a non-negative number), and must be >= 1.
 * groups divides both c_in and c_out. */
typedef struct ck_conv2d {
    int32_t n, c_in, h_in, w_in;     /* input [n, c_in, h_in, w_in] */
    int32_t c_out;                   /* output [n, c_out, h_out, w_out] */
    int32_t k_h, k_w;                /* kernel size */
    int32_t stride_h, stride_w;      /* >= 1 */
    int32_t dil_h, dil_w;            /* >= 1 */
    int32_t pad_top, pad_left, pad_bottom, pad_right;   /* >= 0 */
    int32_t groups;                  /* >= 1 */
} ck_conv2d;

/* Checks the geometry and gives the output size. */
ck_status ck_conv2d_output_size(const ck_conv2d *p, int32_t *h_out, int32_t *w_out);

/* The im2col matrix of one group of one image has
 *   rows = (c_in / groups) * k_h * k_w   (channel-major, then kernel row, then kernel column)
 *   cols = h_out * w_out                 (output positions in row-major order)
 * and entry (r, q) is the input sample that tap r sees at output position q,
 * or 0 where the tap falls in the padding. */

/* Writes the im2col matrix of group `group` of one image. x points at the
 * image ([c_in, h_in, w_in]; p->n is ignored), col at rows * cols floats. */
ck_status ck_im2col(const ck_conv2d *p, const float *x, int32_t group, float *col);

/* The adjoint of ck_im2col: adds every entry of col back onto the input
 * sample it came from (taps in the padding are dropped). dx is one image
 * [c_in, h_in, w_in]; only the channels of `group` change. */
ck_status ck_col2im(const ck_conv2d *p, const float *col, int32_t group, float *dx);

/* How a forward convolution is computed. All give the same result up to
 * float32 summation order. */
typedef enum ck_conv_algo {
    CK_CONV_AUTO = 0,       /* 1x1 if it applies, else depthwise, else direct (where its scratch
                               fits in im2col's), else im2col */
    CK_CONV_IM2COL = 1,     /* im2col + GEMM per group; works for every geometry */
    CK_CONV_1X1 = 2,        /* GEMM straight on the input: 1x1 kernel, stride 1, no padding (up to 96
                               input channels on AVX-512F CPUs: one pass, gemm_wide.c) */
    CK_CONV_DEPTHWISE = 3,  /* direct loop: groups == c_in (c_out a multiple of c_in) */
    CK_CONV_DIRECT = 4      /* direct loop for few input channels, a network's first layer
                               (conv_direct.c): groups 1, c_in <= CK_CONV_DIRECT_MAX_CIN,
                               no dilation, at most CK_CONV_DIRECT_MAX_TAPS taps */
} ck_conv_algo;

/* The most input channels CK_CONV_DIRECT takes, and the most kernel taps
 * (c_in * k_h * k_w): enough for 4 channels of 8 x 8. */
#define CK_CONV_DIRECT_MAX_CIN 4
#define CK_CONV_DIRECT_MAX_TAPS 256

/* Whether CK_CONV_DIRECT applies to this (valid) geometry. */
int ck_conv2d_direct_applies(const ck_conv2d *p);

/* Scratch (in floats) that ck_conv2d_forward / _backward_input need for this
 * geometry and algorithm: 0 for the 1x1 and depthwise paths, about a
 * megabyte for CK_CONV_DIRECT, else (AUTO included) at most rows * cols of
 * one group. The engine sizes one buffer for the largest
 * layer of a model and reuses it, so nothing is allocated per call.
 * Returns 0 on an invalid geometry as well; call ck_conv2d_output_size to
 * tell the two apart. */
size_t ck_conv2d_scratch_floats(const ck_conv2d *p, ck_conv_algo algo);

/* y = act(conv(x, w) + bias), for the whole batch. bias may be NULL (no
 * bias), act may be NULL (identity): bias and activation are applied in the
 * same pass over y. scratch must hold ck_conv2d_scratch_floats(p, algo)
 * floats (it may be NULL when that is 0). CK_ERR_ARGUMENT if `algo` does not
 * apply to this geometry. */
ck_status ck_conv2d_forward(const ck_conv2d *p, ck_conv_algo algo,
                            const float *x, const float *w, const float *bias,
                            const ck_activation *act, float *y,
                            float *scratch, size_t scratch_floats);

/* y = act(conv(x, w) + bias + residual): ck_conv2d_forward with a tensor of
 * y's shape added before the activation (a residual block's Add, and the
 * ReLU after it, fused into the convolution before them). The residual is
 * folded into the pass that starts y at the bias, so it costs no extra
 * pass on the im2col and 1x1 paths. residual may be NULL (none); it must
 * not overlap y. */
ck_status ck_conv2d_forward_add(const ck_conv2d *p, ck_conv_algo algo,
                                const float *x, const float *w, const float *bias, const float *residual,
                                const ck_activation *act, float *y,
                                float *scratch, size_t scratch_floats);

/* dx += d conv(x, w) / dx applied to dy: per group, col = W_g^T * dy_g, then
 * col2im (1x1 geometries skip col2im, depthwise ones use a direct loop).
 * dy is the gradient at the convolution's output BEFORE any fused
 * activation (apply ck_act_backward first). scratch must hold
 * ck_conv2d_scratch_floats(p, CK_CONV_AUTO) floats. */
ck_status ck_conv2d_backward_input(const ck_conv2d *p, const float *w, const float *dy, float *dx,
                                   float *scratch, size_t scratch_floats);

/* Winograd forward (winograd.c): for 3x3 kernels, stride 1, dilation 1,
 * groups 1, every pad <= 2, any batch. m is the output tile: 4 for
 * F(4x4, 3x3), 36 points per tile, about 4x fewer multiply-adds than
 * im2col + GEMM, at the price of transformed weights U four times the
 * size of w and a rounding error a few times larger (the transforms'
 * coefficients reach 8); or 2 for F(2x2, 3x3), 16 points, 2.25x fewer, U
 * 16/9 of w. Every function below takes m, and treats any other value as
 * a geometry the path does not take. Not one of ck_conv_algo: U has to be
 * computed first, once per set of weights. */

/* 1 if the Winograd path takes this geometry (which must also be valid). */
int ck_winograd_applies(const ck_conv2d *p);

/* Floats of U: (m + 2)^2 * c_out * c_in; 0 when the path does not apply. */
size_t ck_winograd_weight_floats(const ck_conv2d *p, int32_t m);

/* U = G g G^T for every (c_out, c_in) pair of the ONNX weight w
 * [c_out, c_in, 3, 3], stored point-major as [(m + 2)^2][c_out][c_in].
 * CK_ERR_ARGUMENT if the path does not apply. */
ck_status ck_winograd_transform_weights(const ck_conv2d *p, int32_t m, const float *w, float *u);

/* Scratch (floats) for ck_winograd_forward: (m + 2)^2 * (c_in + c_out)
 * per tile of a block of m x m output tiles (of any images of the batch),
 * the block bounded near 8 MiB (at least 16 tiles), and 32 more per point;
 * independent of the thread count. 0 when the path does not apply. */
size_t ck_winograd_scratch_floats(const ck_conv2d *p, int32_t m);

/* y = act(conv(x, w) + bias) as ck_conv2d_forward computes it, from U
 * (ck_winograd_transform_weights) instead of w. bias and act may be NULL.
 * CK_ERR_ARGUMENT if the path does not apply, CK_ERR_SCRATCH if scratch
 * holds fewer than ck_winograd_scratch_floats(p, m) floats. */
ck_status ck_winograd_forward(const ck_conv2d *p, int32_t m, const float *u, const float *x, const float *bias,
                              const ck_activation *act, float *y, float *scratch, size_t scratch_floats);

/* y = act(conv(x, w) + bias + residual) from U, as ck_conv2d_forward_add;
 * the residual is added in the output transform. residual may be NULL. */
ck_status ck_winograd_forward_add(const ck_conv2d *p, int32_t m, const float *u, const float *x, const float *bias,
                                  const float *residual, const ck_activation *act, float *y,
                                  float *scratch, size_t scratch_floats);

/* The GEMMs from U packed point by point for ck_gemm_packed (pgemm.c)
 * instead of through OpenBLAS, which packs each point's c_out x c_in
 * matrix again on every call: where a block has few tiles (14x14 and 7x7
 * layers) that copy costs more than the multiply. Floats of packed U:
 * (m + 2)^2 * ck_packed_weight_floats(c_out, c_in); 0 when the path does
 * not apply. */
size_t ck_winograd_packed_floats(const ck_conv2d *p, int32_t m);

/* U, each point's c_out x c_in matrix packed as ck_pack_weights packs it,
 * into ck_winograd_packed_floats(p, m) floats. CK_ERR_ARGUMENT if the path
 * does not apply. */
ck_status ck_winograd_transform_weights_packed(const ck_conv2d *p, int32_t m, const float *w, float *packed);

/* ck_winograd_forward_add from packed U; same scratch. */
ck_status ck_winograd_forward_packed(const ck_conv2d *p, int32_t m, const float *packed_u, const float *x,
                                     const float *bias, const float *residual, const ck_activation *act, float *y,
                                     float *scratch, size_t scratch_floats);

/* ------------------------------------------------------------------------ */
/* GEMM from weights packed once (pgemm.c)                                   */
/* ------------------------------------------------------------------------ */

/* For convolutions with few output positions (ResNet's 14x14 and 7x7
 * stages), where OpenBLAS spends as long copying the weights into its
 * packed layout, on every call, as multiplying: the weights are packed
 * once, by the caller, and each call streams them in order.
 *
 * 1 when this CPU runs the packed kernel's vector code (x86-64 with
 * AVX-512F); elsewhere every function below still works, in plain C, and
 * the engine keeps the OpenBLAS paths. */
int ck_packed_available(void);

/* Floats of A (m x k, row-major) packed: m rounded up to 32, times k. 0 if
 * m or k is below 1. */
size_t ck_packed_weight_floats(int32_t m, int32_t k);

/* Packs A (m x k, row-major, rows k apart) for ck_gemm_packed, into
 * ck_packed_weight_floats(m, k) floats. A convolution's weight
 * [c_out, c_in / groups, k_h, k_w] is its A with m = c_out, k = the rest. */
ck_status ck_pack_weights(int32_t m, int32_t k, const float *a, float *packed);

/* C = act(A B + bias + R): A packed by ck_pack_weights, B k x n (rows ldb
 * apart), C m x n (rows ldc apart), bias one per row of C or NULL, R laid
 * out as C with rows ldr apart or NULL, act NULL for none. C must not
 * overlap B or R. CK_ERR_SIZE for sizes below 1 or leading dimensions
 * below n. Splits over ck_threads() threads. */
ck_status ck_gemm_packed(int32_t m, int32_t n, int32_t k, const float *packed, const float *b, int32_t ldb,
                         const float *bias, const float *residual, int32_t ldr, const ck_activation *act,
                         float *c, int32_t ldc);

/* Whether ck_conv2d_forward_packed takes this geometry: a valid one with
 * groups == 1 whose im2col matrix (none for 1x1, stride 1, no padding)
 * stays under 2^22 floats. */
int ck_conv2d_packed_applies(const ck_conv2d *p);

/* Scratch (floats) for ck_conv2d_forward_packed: the im2col matrix of one
 * image, 0 for 1x1 geometries and for geometries that do not apply. */
size_t ck_conv2d_packed_scratch_floats(const ck_conv2d *p);

/* y = act(conv(x, w) + bias + residual), as ck_conv2d_forward_add, from
 * the weights packed by ck_pack_weights(c_out, c_in * k_h * k_w, w, ...).
 * CK_ERR_ARGUMENT if the geometry does not apply, CK_ERR_SCRATCH if
 * scratch is short. */
ck_status ck_conv2d_forward_packed(const ck_conv2d *p, const float *packed_w, const float *x, const float *bias,
                                   const float *residual, const ck_activation *act, float *y,
                                   float *scratch, size_t scratch_floats);

/* ------------------------------------------------------------------------ */
/* Pooling (pool.c)                                                          */
/* ------------------------------------------------------------------------ */

/* Geometry of windowed 2-D pooling on [n, c, h_in, w_in]. Output size per
 * axis, with span = dil * (k - 1) + 1 and padded = in + pad_begin + pad_end:
 *   floor mode: out = (padded - span) / stride + 1
 *   ceil mode:  out = ceil((padded - span) / stride) + 1, then reduced by one
 *               if the last window would start at or past in + pad_begin
 *               (PyTorch's and ONNX's rule: no window starts in the end padding).
 * Requires padded >= span. A size, kernel, stride or dilation below 1, a
 * negative pad or padded < span is CK_ERR_SIZE; ceil_mode other than 0 or 1
 * is CK_ERR_ARGUMENT. Pads may exceed the kernel (ONNX allows it), so a
 * window can lie wholly in the padding; each kernel says what it gives then. */
typedef struct ck_pool2d {
    int32_t n, c, h_in, w_in;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;                 /* max pooling only; must be 1 for average pooling */
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t ceil_mode;                    /* 0 or 1 */
    int32_t count_include_pad;            /* average pooling: 1 divides by the window size clipped to
                                             the padded input, 0 by the number of real samples */
} ck_pool2d;

ck_status ck_pool2d_output_size(const ck_pool2d *p, int32_t *h_out, int32_t *w_out);

/* Max pooling. Padding never wins (it acts as -infinity). argmax may be
 * NULL; otherwise it receives, for each output, the index h * w_in + w of
 * the winning sample inside its input plane: the first maximum in row-major
 * window order, as PyTorch picks it. A NaN in a window wins, as in PyTorch;
 * with several NaNs argmax is the first of them (PyTorch's CPU kernel reports
 * the last; the values agree). A window wholly in the padding gives
 * -infinity and argmax -1. */
ck_status ck_maxpool2d_forward(const ck_pool2d *p, const float *x, float *y, int32_t *argmax);

/* dx[plane][argmax] += dy for every output; argmax -1 (a window of padding
 * only) adds nothing. Any entry outside [-1, h_in * w_in) is
 * CK_ERR_ARGUMENT, found before dx is touched. */
ck_status ck_maxpool2d_backward(const ck_pool2d *p, const int32_t *argmax, const float *dy, float *dx);

/* Average pooling, divisor as count_include_pad says. As in PyTorch's
 * avg_pool2d, per axis with start = o * stride - pad_begin, the window is
 * first clipped to end = min(start + k, in + pad_end): count_include_pad = 1
 * divides by the product of the (end - start), which counts begin and end
 * padding but not the part of a ceil-mode window past the end padding;
 * count_include_pad = 0 by the number of real samples. A window with no real
 * sample gives 0 (PyTorch's CPU kernel) and passes no gradient back.
 * CK_ERR_ARGUMENT unless dil_h == dil_w == 1 and count_include_pad is 0 or
 * 1 (max pooling ignores count_include_pad). */
ck_status ck_avgpool2d_forward(const ck_pool2d *p, const float *x, float *y);

/* Spreads dy / divisor over each window's real samples. */
ck_status ck_avgpool2d_backward(const ck_pool2d *p, const float *dy, float *dx);

/* Global pooling over `planes` planes of `hw` samples each (planes = n * c):
 * y[i] = mean or max of plane i. argmax (may be NULL) gets the index of the
 * first maximum in each plane (the first NaN, if any). ck_global_maxpool_backward
 * returns CK_ERR_ARGUMENT, before writing, for any argmax outside [0, hw). */
ck_status ck_global_avgpool_forward(const float *x, float *y, int32_t planes, int32_t hw);
ck_status ck_global_avgpool_backward(const float *dy, float *dx, int32_t planes, int32_t hw);
ck_status ck_global_maxpool_forward(const float *x, float *y, int32_t *argmax, int32_t planes, int32_t hw);
ck_status ck_global_maxpool_backward(const int32_t *argmax, const float *dy, float *dx, int32_t planes, int32_t hw);

/* ------------------------------------------------------------------------ */
/* Resampling (resize.c)                                                     */
/* ------------------------------------------------------------------------ */

typedef enum ck_resize_mode {
    /* Half-pixel centers: source f = (d + 0.5) * in / out - 0.5, clamped so
     * the borders replicate; cv2.resize INTER_LINEAR, torch
     * interpolate(align_corners=False) without antialiasing. */
    CK_RESIZE_HALF_PIXEL = 0,
    /* Corners map to corners: f = d * (in - 1) / (out - 1) (0 when out == 1);
     * torch UpsamplingBilinear2d, interpolate(align_corners=True). */
    CK_RESIZE_ALIGN_CORNERS = 1
} ck_resize_mode;

/* Bilinear resize of one 2-D map [h_in, w_in] -> [h_out, w_out]; separable,
 * value = (1 - a) * in[i0] + a * in[i1] per axis, rows interpolated first:
 * each output pixel interpolates along its two source rows, then between
 * them, as cv2 does. Source coordinates are rounded to float32 as cv2 (half
 * pixel) and torch (align corners) compute them. CK_ERR_ARGUMENT for any
 * other mode. */
ck_status ck_resize_bilinear(const float *src, int32_t h_in, int32_t w_in,
                             float *dst, int32_t h_out, int32_t w_out, ck_resize_mode mode);

#ifdef __cplusplus
}
#endif

#endif /* CAM_KERNELS_H */
