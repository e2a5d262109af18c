/* gemm_wide.c: C = act(A B + bias + R) for dot products up to k = 256:
 * 1x1 convolutions the packed GEMM (pgemm.c) does not take, MobileNet's
 * with 16 to 192 input channels, ResNet-50's 56x56 ones.
 *
 * There OpenBLAS's GEMM does little work per output (k = 16 multiply-adds)
 * and the conv path around it makes three passes over a large output: the
 * bias fill, GEMM's read and write, the activation. This kernel makes one:
 * a block of 6 rows x 64 columns of C is summed in 24 vector registers
 * (16 floats each, along the row, as C and B lie) over all of k, and leaves
 * with bias, residual and activation applied. (Against 6 x 32 in 12
 * registers, both in one process on 2 threads: ResNet-50's 64 -> 256 at
 * 56x56 560-625 -> 510-570 us, MobileNetV2's expansions 5-13% faster, its
 * 28x28 one 192 x 784 x 32 the same.) A (the weights, 6 x k per
 * block) stays in L1; B's rows are read as they lie. Ragged ends use
 * masked loads and stores. Where AVX-512F is missing, ck_gemm_wide_applies
 * says no and the caller keeps OpenBLAS.
 *
 * It began for k <= 96; from the same kernel against OpenBLAS's 1x1 path
 * (one process, 2 threads, ReLU), longer ones gain too: 24 x 3136 x 144
 * 0.67-0.73x the time, 32 x 3136 x 192 0.82-0.84x, ResNet-50's 64 x 3136 x
 * 256 and 128 x 3136 x 256 0.86-0.92x; 64 x 3136 x 384 0.87-0.96x and 512
 * 0.93-1.13x, so the limit is 256, where a block of B (k x 512 columns,
 * 512 KB) still sits in L2. */
#include "internal.h"
#include "team.h"

enum { WR = 6, WC = 64, WV = WC / 16, TAIL_ROWS = 24, WIDE_K_MAX = 256, WIDE_BLOCK = 512 };

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target)
#define WIDE_AVX512 1
#endif
#endif

typedef struct wide_job {
    int32_t m, n, k;
    const float *a, *b, *bias, *res;
    int32_t ldb, ldr, ldc;
    const ck_activation *act;
    float *c;
    int64_t col_blocks, rows;   /* items: col_blocks per chunk of `rows` rows (a multiple of WR) */
} wide_job;

#ifdef WIDE_AVX512
#include <immintrin.h>

#define WIDE_TARGET __attribute__((target("avx512f")))

/* Rows [i0, i0 + mr) and columns [q, q + 16 nv) (keep[v]: which of the
 * 16 columns from q + 16 v exist) of C, in mr x nv <= 24 registers; mr
 * and nv are constants after inlining. ReLU and Clip are done in
 * registers with the scalar rule's NaN behaviour (max and min return
 * their second operand when one is NaN, and the NaN is passed second); any
 * other activation runs over the stored row. */
static inline __attribute__((always_inline)) WIDE_TARGET
void wide_tile(const int mr, const int nv, const wide_job *j, int64_t i0, int64_t q, const __mmask16 keep[WV]) {
    __m512 acc[TAIL_ROWS][WV];
    _Pragma("unroll") for (int i = 0; i < mr; i++) {
        const float bias = j->bias ? j->bias[i0 + i] : 0.0f;
        _Pragma("unroll") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_set1_ps(bias);
    }
    const float *b = j->b + q, *a = j->a + i0 * j->k;
    for (int64_t kk = 0; kk < j->k; kk++) {
        __m512 bv[WV];
        _Pragma("unroll") for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_ps(keep[v], b + 16 * v);
        _Pragma("unroll") for (int i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(a[i * j->k + kk]);
            _Pragma("unroll") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        b += j->ldb;
    }
    const ck_act_kind kind = j->act ? j->act->kind : CK_ACT_NONE;
    const __m512 lo = _mm512_set1_ps(kind == CK_ACT_CLIP ? j->act->alpha : 0.0f);
    const __m512 hi = _mm512_set1_ps(kind == CK_ACT_CLIP ? j->act->beta : 0.0f);
    _Pragma("unroll") for (int i = 0; i < mr; i++) {
        float *y = j->c + (i0 + i) * j->ldc + q;
        _Pragma("unroll") for (int v = 0; v < nv; v++) {
            __m512 x = acc[i][v];
            if (j->res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(keep[v], j->res + (i0 + i) * j->ldr + q + 16 * v));
            if (kind == CK_ACT_RELU || kind == CK_ACT_CLIP) x = _mm512_max_ps(lo, x);
            if (kind == CK_ACT_CLIP) x = _mm512_min_ps(hi, x);
            _mm512_mask_storeu_ps(y + 16 * v, keep[v], x);
        }
    }
}

/* keep[v] for the columns [q, q1) as vectors of 16 from q. */
static inline __attribute__((always_inline)) void keep_masks(int64_t q, int64_t q1, __mmask16 keep[WV]) {
    const int64_t left = q1 - q;
    for (int v = 0; v < WV; v++)
        keep[v] = left >= 16 * (v + 1) ? 0xFFFF : left <= 16 * v ? 0 : (__mmask16)((1u << (left - 16 * v)) - 1);
}

/* Activations not done in registers, over rows [i0, i1) and columns
 * [c0, c1) just stored (still in L1). */
static void act_rows(const wide_job *j, int64_t i0, int64_t i1, int64_t c0, int64_t c1) {
    const ck_act_kind kind = j->act ? j->act->kind : CK_ACT_NONE;
    if (kind == CK_ACT_NONE || kind == CK_ACT_RELU || kind == CK_ACT_CLIP || c1 <= c0) return;
    for (int64_t i = i0; i < i1; i++) {
        float *y = j->c + i * j->ldc + c0;
        (void)ck_act_forward(j->act, y, y, c1 - c0);
    }
}

#define WIDE_CASE(r) case r: wide_tile(r, WV, j, i0, q, keep); break;
#define TAIL_CASE(r) case r: wide_tile(r, 1, j, i0, q, keep); break;
/* Rows [r0, r1), columns [q0, q1): 64 columns at a time, six rows each;
 * then up to 48 last columns 16 at a time, 24 rows each. As 64-wide
 * tiles a 14x14 plane (196 columns) was computed as 256, the fourth tile
 * holding 4; the tail makes it 208: MobileNetV2's 14x14 expansions (96 ->
 * 576, 64 -> 384) 18% faster, its 28x28 ones (784 columns) 7%, in one
 * process on 2 threads. (A tail of 49 to 63 columns costs four vectors
 * either way, and stays a masked 64-wide tile.) */
static WIDE_TARGET void wide_block(const wide_job *j, int64_t r0, int64_t r1, int64_t q0, int64_t q1) {
    const int64_t tail = (q1 - q0) % WC, full = tail > WC - 16 ? q1 : q1 - tail;
    __mmask16 keep[WV];
    for (int64_t i0 = r0; i0 < r1; i0 += WR) {
        const int mr = (int)(r1 - i0 < WR ? r1 - i0 : WR);
        for (int64_t q = q0; q < full; q += WC) {
            keep_masks(q, q1, keep);
            switch (mr) { WIDE_CASE(1) WIDE_CASE(2) WIDE_CASE(3) WIDE_CASE(4) WIDE_CASE(5) WIDE_CASE(6) default: break; }
        }
        act_rows(j, i0, i0 + mr, q0, full);
    }
    for (int64_t q = full; q < q1; q += 16) {
        const int64_t q_end = q + 16 < q1 ? q + 16 : q1;
        keep_masks(q, q1, keep);
        int64_t i0 = r0;
        for (; i0 + TAIL_ROWS <= r1; i0 += TAIL_ROWS) {
            wide_tile(TAIL_ROWS, 1, j, i0, q, keep);
            act_rows(j, i0, i0 + TAIL_ROWS, q, q_end);
        }
        for (; i0 < r1; i0 += WR) {
            const int mr = (int)(r1 - i0 < WR ? r1 - i0 : WR);
            switch (mr) { TAIL_CASE(1) TAIL_CASE(2) TAIL_CASE(3) TAIL_CASE(4) TAIL_CASE(5) TAIL_CASE(6) default: break; }
            act_rows(j, i0, i0 + mr, q, q_end);
        }
    }
}
#undef WIDE_CASE
#undef TAIL_CASE

static void wide_items(void *ctx, int64_t first, int64_t end) {
    const wide_job *j = ctx;
    for (int64_t item = first; item < end; item++) {
        const int64_t chunk = item / j->col_blocks, blk = item % j->col_blocks;
        const int64_t q0 = blk * WIDE_BLOCK, q1 = q0 + WIDE_BLOCK < j->n ? q0 + WIDE_BLOCK : j->n;
        const int64_t r0 = chunk * j->rows, r1 = r0 + j->rows < j->m ? r0 + j->rows : j->m;
        wide_block(j, r0, r1, q0, q1);
    }
}

int ck_gemm_wide_applies(int32_t k) {
    return k >= 1 && k <= WIDE_K_MAX && ck_packed_available();
}

void ck_gemm_wide_threads(int32_t m, int32_t n, int32_t k, const float *a, const float *b, int32_t ldb,
                          const float *bias, const float *res, int32_t ldr, const ck_activation *act,
                          float *c, int32_t ldc, int threads) {
    if ((int64_t)m * n * k < (1 << 20)) threads = 1;
    /* Blocks of 512 columns; rows cut too when that leaves fewer than two
     * items per thread (14x14 layers: 196 columns). */
    const int64_t col_blocks = ((int64_t)n + WIDE_BLOCK - 1) / WIDE_BLOCK, row_groups = ((int64_t)m + WR - 1) / WR;
    int64_t chunks = col_blocks >= 2 * threads ? 1 : (2 * threads + col_blocks - 1) / col_blocks;
    if (chunks > row_groups) chunks = row_groups;
    const int64_t rows = (row_groups + chunks - 1) / chunks * WR;
    wide_job j = {m, n, k, a, b, bias, res, ldb, ldr, ldc, act && act->kind != CK_ACT_NONE ? act : NULL, c,
                  col_blocks, rows};
    ck_parallel_for(wide_items, &j, col_blocks * (((int64_t)m + rows - 1) / rows), threads);
}

#else

int ck_gemm_wide_applies(int32_t k) { (void)k; return 0; }

void ck_gemm_wide_threads(int32_t m, int32_t n, int32_t k, const float *a, const float *b, int32_t ldb,
                          const float *bias, const float *res, int32_t ldr, const ck_activation *act,
                          float *c, int32_t ldc, int threads) {
    (void)m; (void)n; (void)k; (void)a; (void)b; (void)ldb; (void)bias; (void)res; (void)ldr; (void)act;
    (void)c; (void)ldc; (void)threads;
}

#endif
