/* team.h: the kernels' threads (team.c); not installed. */
#ifndef CAM_KERNELS_TEAM_H
#define CAM_KERNELS_TEAM_H

#include "internal.h"

/* Items [begin, end) of some work; calls on disjoint ranges may run at
 * the same time. */
typedef void ck_items(void *ctx, int64_t begin, int64_t end);

/* At most this many threads at once; each takes items in about GRABS
 * grabs, so that a worker that wakes late still gets its share. */
enum { CK_PARALLEL_MAX = 16, GRABS = 4 };

/* Runs fn over items [0, items) on up to `threads` threads, the caller
 * among them, and returns when all are done. Each call to fn gets a range
 * of consecutive items; which thread gets which is left to chance. When
 * the pool is busy (another call, or a call from inside fn) the caller
 * runs every item itself. */
void ck_parallel_for(ck_items *fn, void *ctx, int64_t items, int threads);

/* Makes sure OpenBLAS runs every GEMM on the calling thread (once per
 * process; the kernels call it before their first GEMM). */
void ck_blas_single_threaded(void);

/* ck_gemm without the checks, on up to `threads` threads (split into
 * blocks of columns or rows of C, each one single-threaded cblas_sgemm). */
void ck_gemm_threads(int trans_a, int trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                     const float *a, int32_t lda, const float *b, int32_t ldb,
                     float beta, float *c, int32_t ldc, int threads);

/* C = act(A B + bias + R) for k <= 256 (gemm_wide.c), one pass over C;
 * A row-major m x k, rows of B ldb apart. _applies says whether this CPU
 * and k take it. */
int ck_gemm_wide_applies(int32_t k);
void ck_gemm_wide_threads(int32_t m, int32_t n, int32_t k, const float *a, const float *b, int32_t ldb,
                          const float *bias, const float *res, int32_t ldr, const ck_activation *act,
                          float *c, int32_t ldc, int threads);

/* Tests: nonzero makes ck_gemm_packed run its plain-C kernel, as it does
 * on CPUs without AVX-512F. Set before any call, never while one runs. */
extern int ck_packed_scalar_only;

/* Tests: nonzero makes the direct convolution (conv_direct.c) run its
 * 8-float kernel, as it does on CPUs without AVX-512F. Same rules. */
extern int ck_direct_narrow_only;

/* ck_gemm_packed without the checks, on up to `threads` threads (pgemm.c). */
void ck_gemm_packed_threads(int32_t m, int32_t n, int32_t k, const float *packed, const float *b, int32_t ldb,
                            const float *bias, const float *res, int32_t ldr, const ck_activation *act,
                            float *c, int32_t ldc, int threads);

#endif
