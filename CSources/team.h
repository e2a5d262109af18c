/* team.h: helper threads for the passes around a multithreaded GEMM
 * (team.c); not installed. */
#ifndef CAM_KERNELS_TEAM_H
#define CAM_KERNELS_TEAM_H

#include "internal.h"

/* Items [begin, end) of some work; calls on disjoint ranges may run at
 * the same time. */
typedef void ck_items(void *ctx, int64_t begin, int64_t end);

/* At most this many threads at once; each takes items in about GRABS
 * grabs, so that a helper that starts late still gets its share. */
enum { CK_PARALLEL_MAX = 16, GRABS = 16 };

/* Runs fn over items [0, items) on up to `threads` threads, the caller
 * among them (fewer if a thread cannot be created, at worst the caller
 * alone), and returns when all are done. Each call to fn gets a range of
 * consecutive items; which thread gets which is left to chance. */
void ck_parallel_for(ck_items *fn, void *ctx, int64_t items, int threads);

/* The number of threads BLAS uses for a GEMM now (gemm.c). */
int ck_blas_threads(void);

#endif
