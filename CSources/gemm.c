/* gemm.c: the one place the kernels reach BLAS (OpenBLAS's cblas_sgemm). */
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
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return CK_OK;
}

/* OpenBLAS's own "0" keeps the largest count ever set rather than the
 * startup default, so the default is recomputed the way OpenBLAS (pthread
 * build) computes it at load time: the first positive of these variables,
 * else one thread per usable core, never more than the cores. */
static int blas_default_threads(void) {
    int procs = openblas_get_num_procs();
    if (procs < 1) procs = 1;
    static const char *const vars[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv(vars[i]);
        long v = s ? strtol(s, NULL, 10) : 0;
        if (v > 0) return v < procs ? (int)v : procs;
    }
    return procs;
}

int ck_set_blas_threads(int threads) {
    int previous = openblas_get_num_threads();
    openblas_set_num_threads(threads > 0 ? threads : blas_default_threads());
    return previous;
}

int ck_blas_threads(void) {
    int n = openblas_get_num_threads();
    return n > 0 ? n : 1;
}
