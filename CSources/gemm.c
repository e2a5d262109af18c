/* gemm.c: where the kernels reach BLAS for their products (OpenBLAS's cblas_sgemm, sgemv, saxpy); pgemm.c has its own kernel and borrows only a transpose. */
#include <cblas.h>
#include <stdlib.h>

#include "internal.h"
#include "team.h"

/* Elements BLAS may index in a row-major matrix of `rows` rows, `cols`
 * columns and row stride `ld`: the last row need not be padded, so a
 * sub-matrix of a larger buffer is fine. -1 when a size is out of range. */
static int64_t stored_extent(int32_t rows, int32_t cols, int32_t ld) {
    if (rows < 1 || cols < 1 || ld < cols) return -1;
    int64_t extent = (int64_t)(rows - 1) * ld + cols;
    return extent < CK_MAX_ELEMENTS ? extent : -1;
}

/* One block of C (rows [m0, m1), columns [n0, n1)) through cblas_sgemm. */
typedef struct gemm_job {
    int trans_a, trans_b;
    int32_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int32_t lda, ldb, ldc;
    int split_rows;          /* blocks of rows, else of columns */
    int64_t block;           /* rows or columns per item */
} gemm_job;

/* One row of C (or one column) is a matrix-vector product. OpenBLAS's
 * sgemm would first copy the whole matrix into its packed layout: for
 * VGG-16's first classifier layer at batch 1 that is 411 MB copied to be
 * read once, most of the layer's time. sgemv streams it once instead.
 * With beta == 0, C is cleared first: BLAS may scale it by beta, and
 * 0 * NaN is NaN. */
/* c += alpha * sum_i x_i B[i, :] over the rows whose x_i is not zero, when
 * at least a quarter are zero: then the zero rows of B are never read. A
 * gradient behind a ReLU is zero about half the time, and for VGG-16 that
 * skips half of the 411 MB its first classifier layer sends back. (Zero
 * rows holding NaN or infinity would have made NaN; such weights have
 * already failed the forward's finiteness check.) Returns 0 to leave the
 * product to sgemv. */
static int sparse_rows(const gemm_job *j, const float *x, int32_t incx, const float *b, float *c, int32_t len) {
    int64_t zeros = 0;
    for (int32_t i = 0; i < j->k; i++) zeros += x[(int64_t)i * incx] == 0.0f;
    if (zeros * 4 < j->k) return 0;
    if (j->beta != 0.0f && j->beta != 1.0f) cblas_sscal(len, j->beta, c, 1);
    for (int32_t i = 0; i < j->k; i++) {
        float xi = x[(int64_t)i * incx];
        if (xi != 0.0f) cblas_saxpy(len, j->alpha * xi, b + (int64_t)i * j->ldb, 1, c, 1);
    }
    return 1;
}

static void gemv_block(const gemm_job *j, int32_t m0, int32_t m1, int32_t n0, int32_t n1) {
    float *c = j->c + (int64_t)m0 * j->ldc + n0;
    int32_t len = m1 - m0 == 1 ? n1 - n0 : m1 - m0, ldc = m1 - m0 == 1 ? 1 : j->ldc;
    if (j->beta == 0.0f)
        for (int32_t i = 0; i < len; i++) c[(int64_t)i * ldc] = 0.0f;
    if (m1 - m0 == 1) {
        /* c^T = op(B)^T a^T: a's row m0 against the columns [n0, n1) of op(B). */
        const float *x = j->trans_a ? j->a + m0 : j->a + (int64_t)m0 * j->lda;
        int32_t incx = j->trans_a ? j->lda : 1;
        const float *b = j->trans_b ? j->b + (int64_t)n0 * j->ldb : j->b + n0;
        if (!j->trans_b && sparse_rows(j, x, incx, b, c, n1 - n0)) return;
        if (j->trans_b)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n1 - n0, j->k, j->alpha, b, j->ldb, x, incx, j->beta, c, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, j->k, n1 - n0, j->alpha, b, j->ldb, x, incx, j->beta, c, 1);
    } else {
        /* c = op(A) b: rows [m0, m1) of op(A) against op(B)'s column n0. */
        const float *a = j->trans_a ? j->a + m0 : j->a + (int64_t)m0 * j->lda;
        const float *x = j->trans_b ? j->b + (int64_t)n0 * j->ldb : j->b + n0;
        int32_t incx = j->trans_b ? 1 : j->ldb;
        if (j->trans_a)
            cblas_sgemv(CblasRowMajor, CblasTrans, j->k, m1 - m0, j->alpha, a, j->lda, x, incx, j->beta, c, ldc);
        else
            cblas_sgemv(CblasRowMajor, CblasNoTrans, m1 - m0, j->k, j->alpha, a, j->lda, x, incx, j->beta, c, ldc);
    }
}

static void gemm_block(const gemm_job *j, int32_t m0, int32_t m1, int32_t n0, int32_t n1) {
    if (m1 - m0 == 1 || n1 - n0 == 1) {
        gemv_block(j, m0, m1, n0, n1);
        return;
    }
    const float *a = j->trans_a ? j->a + m0 : j->a + (int64_t)m0 * j->lda;
    const float *b = j->trans_b ? j->b + (int64_t)n0 * j->ldb : j->b + n0;
    cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans,
                m1 - m0, n1 - n0, j->k, j->alpha, a, j->lda, b, j->ldb, j->beta,
                j->c + (int64_t)m0 * j->ldc + n0, j->ldc);
}

static void gemm_items(void *ctx, int64_t first, int64_t end) {
    const gemm_job *j = ctx;
    int64_t lo = first * j->block, hi = end * j->block;
    if (j->split_rows) gemm_block(j, (int32_t)lo, (int32_t)(hi < j->m ? hi : j->m), 0, j->n);
    else gemm_block(j, 0, j->m, (int32_t)lo, (int32_t)(hi < j->n ? hi : j->n));
}

/* Below this many multiply-adds a GEMM runs on one thread: a worker's
 * wake-up (tens of microseconds) would cost more than it saves. A GEMV
 * (one row or column) reads each weight once, from memory, at about one
 * multiply-add per 4 bytes: ResNet-18's classifier (512 x 1000, 2 MB)
 * took 0.18-0.22 ms on one thread, so it splits from GEMV_PARALLEL_MACS. */
enum { GEMM_PARALLEL_MACS = 1 << 20, GEMV_PARALLEL_MACS = 1 << 17, MIN_COLS = 64, MIN_ROWS = 16 };

void ck_gemm_threads(int trans_a, int trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                     const float *a, int32_t lda, const float *b, int32_t ldb,
                     float beta, float *c, int32_t ldc, int threads) {
    ck_blas_single_threaded();
    gemm_job j = {trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc, 0, 0};
    int64_t macs = (int64_t)m * n * k;
    if (threads < 2 || macs < (m == 1 || n == 1 ? GEMV_PARALLEL_MACS : GEMM_PARALLEL_MACS)) {
        gemm_block(&j, 0, m, 0, n);
        return;
    }
    /* Columns when there are enough of them: OpenBLAS keeps its speed on
     * column blocks down to about MIN_COLS wide, and a block of columns of
     * C reads all of A but only its part of B. Otherwise rows (ResNet's
     * 7x7 layers: 49 columns, 512 rows). About two blocks per thread, so
     * that a worker that starts late still finds one. */
    int64_t items;
    if (n >= 2 * MIN_COLS * threads || n >= m) {
        /* A row vector times B (m == 1, B not transposed) walks B's rows
         * in segments of the block's width, one stream per row: one block
         * per thread makes them twice as long. VGG-16's first classifier
         * layer sent back (half its 4096 rows of 25088, 200 MB) took
         * 7.1-7.2 ms that way against 7.6-8.5 (2 threads, alternated in
         * one process), as fast as whole rows into private sums. */
        int64_t per = m == 1 && !trans_b ? 1 : 2;
        items = n / MIN_COLS < per * threads ? n / MIN_COLS : per * threads;
        if (items < 1) items = 1;
        j.block = (n + items - 1) / items;
        items = (n + j.block - 1) / j.block;
    } else {
        j.split_rows = 1;
        items = m / MIN_ROWS < 2 * threads ? m / MIN_ROWS : 2 * threads;
        if (items < 1) items = 1;
        j.block = (m + items - 1) / items;
        items = (m + j.block - 1) / j.block;
    }
    ck_parallel_for(gemm_items, &j, items, threads);
}

ck_status ck_gemm(int trans_a, int trans_b, int32_t m, int32_t n, int32_t k,
                  float alpha, const float *a, int32_t lda,
                  const float *b, int32_t ldb,
                  float beta, float *c, int32_t ldc) {
    if (!a || !b || !c) return CK_ERR_NULL;
    /* Only 0 and 1: a stray CblasTrans (112) is a caller bug worth catching. */
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1)) return CK_ERR_ARGUMENT;
    if (m < 1 || n < 1 || k < 1) return CK_ERR_SIZE;
    if (stored_extent(trans_a ? k : m, trans_a ? m : k, lda) < 0) return CK_ERR_SIZE;
    if (stored_extent(trans_b ? n : k, trans_b ? k : n, ldb) < 0) return CK_ERR_SIZE;
    if (stored_extent(m, n, ldc) < 0) return CK_ERR_SIZE;
    ck_gemm_threads(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ck_threads());
    return CK_OK;
}
