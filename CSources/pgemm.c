/* pgemm.c: C = act(A B + bias + R) with A packed once, ahead of time.
 *
 * A convolution's weights are its GEMM's A, and they never change. OpenBLAS
 * has no way to keep them packed, so each call copies all of A into its
 * panel layout first: for ResNet's 14x14 and 7x7 layers (49 to 196 output
 * columns, 1 to 9 MB of weights) that copy costs as much as the multiply,
 * and those layers ran at 60-75 GMAC/s on two cores where onnxruntime,
 * whose weights are reordered once, runs at about 100. Here A is packed by
 * the engine while planning (ck_pack_weights), and each call streams it
 * once, in order.
 *
 * Layout: A (m x k) as panels of MR = 32 rows, panel p holding, for each
 * k, the 32 values A[32p .. 32p + 31][k] (rows past m are zero). The
 * micro-kernel keeps a 32 x NR block of C in 2 * NR vector registers
 * (32 rows as two 16-float vectors, one pair per column): per k it loads
 * the panel's two vectors and broadcasts NR values of B's row k. B is read
 * where it lies (the im2col matrix, or the input itself for 1x1), a row of
 * NR floats at a time, and k is cut into blocks of KC so that the A block
 * (32 x KC) and the B block stay in L1/L2 while a group of column panels
 * reuses them. The vectors are 16 floats (AVX-512F); elsewhere
 * ck_packed_available() is 0 and the engine keeps OpenBLAS. */
#include <string.h>

#include <cblas.h>

#include "conv_internal.h"
#include "team.h"

enum { MR = CK_PANEL, NR = 12, KC = 384, GROUP = 8 };

static int64_t packed_floats(int32_t m, int32_t k) {
    if (m < 1 || k < 1) return -1;
    int64_t panels = ((int64_t)m + MR - 1) / MR;
    return panels * MR * k;
}

size_t ck_packed_weight_floats(int32_t m, int32_t k) {
    int64_t f = packed_floats(m, k);
    return f < 0 ? 0 : (size_t)f;
}

/* Panels split over the threads. A panel is the transpose of its 32 rows
 * of A, which OpenBLAS's out-of-place transpose writes faster than a
 * plain loop (1.3 against 2.3 ms for 512 x 4608). */
typedef struct pack_job {
    int32_t m, k;
    const float *a;
    float *packed;
} pack_job;

static void pack_items(void *ctx, int64_t first, int64_t end) {
    const pack_job *j = ctx;
    for (int64_t p = first; p < end; p++) {
        float *dst = j->packed + p * MR * j->k;
        const int64_t rows = j->m - p * MR < MR ? j->m - p * MR : MR;
        if (rows < MR) memset(dst, 0, sizeof(float) * (size_t)MR * (size_t)j->k);   /* rows past m are zero */
        cblas_somatcopy(CblasRowMajor, CblasTrans, (blasint)rows, j->k, 1.0f, j->a + p * MR * j->k, j->k, dst, MR);
    }
}

ck_status ck_pack_weights(int32_t m, int32_t k, const float *a, float *packed) {
    if (!a || !packed) return CK_ERR_NULL;
    if (m < 1 || k < 1) return CK_ERR_SIZE;
    pack_job j = {m, k, a, packed};
    const int64_t panels = ((int64_t)m + MR - 1) / MR;
    ck_parallel_for(pack_items, &j, panels, (int64_t)m * k < (1 << 16) ? 1 : ck_threads());
    return CK_OK;
}

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target)
#define PG_AVX512 1
#endif
#endif

#ifdef PG_AVX512
#include <immintrin.h>

#define PG_TARGET __attribute__((target("avx512f")))

int ck_packed_available(void) {
    static int known = -1;   /* threads may race to fill it in; they write the same value */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx512f") ? 1 : 0;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}

/* c0[j], c1[j] += rows 0-15 and 16-31 of A's column at ap times B's value
 * b[j], for j < nr. */
static inline __attribute__((always_inline)) PG_TARGET
void k_step(const int nr, const float *ap, const float *b, __m512 c0[NR], __m512 c1[NR]) {
    const __m512 a0 = _mm512_loadu_ps(ap), a1 = _mm512_loadu_ps(ap + 16);
    _Pragma("unroll") for (int j = 0; j < nr; j++) {
        const __m512 bj = _mm512_set1_ps(b[j]);
        c0[j] = _mm512_fmadd_ps(a0, bj, c0[j]);
        c1[j] = _mm512_fmadd_ps(a1, bj, c1[j]);
    }
}

/* acc[j][0..32) (+)= A_block (32 x k, packed) * B[0..k)[j] for j < nr, nr a
 * constant after inlining, so that the 2 * nr accumulators are registers;
 * and the first pf_steps k-steps of packed A from pf (two lines each)
 * prefetched into L2. */
static inline __attribute__((always_inline)) PG_TARGET
void tile(const int nr, int64_t k, const float *ap, const float *b, int64_t ldb, float *acc, int first,
          const float *pf, int64_t pf_steps) {
    __m512 c0[NR], c1[NR];
    _Pragma("unroll") for (int j = 0; j < nr; j++) {
        c0[j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + j * MR);
        c1[j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + j * MR + 16);
    }
    /* Two loops, the prefetching one first, so that the plain one has no test. */
    const int64_t pf_k = pf_steps < k ? pf_steps : k;
    int64_t kk = 0;
    for (; kk < pf_k; kk++) {
        _mm_prefetch((const char *)(pf + kk * MR), _MM_HINT_T1);
        _mm_prefetch((const char *)(pf + kk * MR + 16), _MM_HINT_T1);
        k_step(nr, ap + kk * MR, b + kk * ldb, c0, c1);
    }
    for (; kk < k; kk++) k_step(nr, ap + kk * MR, b + kk * ldb, c0, c1);
    _Pragma("unroll") for (int j = 0; j < nr; j++) {
        _mm512_storeu_ps(acc + j * MR, c0[j]);
        _mm512_storeu_ps(acc + j * MR + 16, c1[j]);
    }
}

/* r[i][j] = r[j][i]: four rounds of shuffles, pairs of floats, of
 * doubles, then of 128-bit lanes twice. */
static inline __attribute__((always_inline)) PG_TARGET void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
            t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

/* The epilogue's rows (rows_scalar below) a tile at a time: each half of
 * the tile's 32 rows, NR columns of 16 floats, transposed into 16 rows of
 * NR floats in the registers; then bias and residual added in the scalar
 * loop's order (the same values, to the bit), the clamp [clamp[0],
 * clamp[1]] if any, and a masked store. Against the scalar loop, alone on
 * one thread: MobileNetV2's 7x7 and 14x14 1x1 layers (960 x 49 x 160,
 * 384 x 196 x 64) 10% and 20% faster without an activation, 15% and 25%
 * with Clip (whose own pass over C this saves too); ResNet-18's Winograd
 * points (256 x 16 x 256) 6%. */
static PG_TARGET void rows_vector(const float *acc, int64_t len, int64_t row0, int nrows, const float *bias,
                                  const float *res, int64_t ldr, const float *clamp, float *c, int64_t ldc) {
    for (int64_t q = 0; q < len; q += NR) {
        const int nr = (int)(len - q < NR ? len - q : NR);
        const __mmask16 mask = (__mmask16)((1u << nr) - 1);
        for (int half = 0; half * 16 < nrows; half++) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = j < nr ? _mm512_loadu_ps(acc + (q + j) * MR + half * 16) : _mm512_setzero_ps();
            transpose16(r);
            const int rows = nrows - half * 16 < 16 ? nrows - half * 16 : 16;
            for (int i = 0; i < rows; i++) {
                const int64_t row = row0 + half * 16 + i;
                __m512 v = _mm512_add_ps(r[i], _mm512_set1_ps(bias ? bias[row] : 0.0f));
                v = _mm512_add_ps(v, res ? _mm512_maskz_loadu_ps(mask, res + row * ldr + q) : _mm512_setzero_ps());
                /* max(lo, v) is lo > v ? lo : v, and min(hi, v) hi < v ? hi : v: a NaN passes, as in ck_act_forward. */
                if (clamp) v = _mm512_min_ps(_mm512_set1_ps(clamp[1]), _mm512_max_ps(_mm512_set1_ps(clamp[0]), v));
                _mm512_mask_storeu_ps(c + row * ldc + q, mask, v);
            }
        }
    }
}

#define TILE_CASE(n) case n: tile(n, k, ap, b, ldb, acc, first, pf, pf_steps); break;
static PG_TARGET void tile_vector(int nr, int64_t k, const float *ap, const float *b, int64_t ldb, float *acc, int first,
                                  const float *pf, int64_t pf_steps) {
    switch (nr) {
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
    TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
    default: break;
    }
}
#undef TILE_CASE

#else

int ck_packed_available(void) { return 0; }

#endif

/* The same product in plain C: ck_gemm_packed's answer where the vector
 * kernel cannot run (the engine does not take this path there). */
static void tile_scalar(int nr, int64_t k, const float *ap, const float *b, int64_t ldb, float *acc, int first) {
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < MR; i++) {
            float s = first ? 0.0f : acc[j * MR + i];
            for (int64_t kk = 0; kk < k; kk++) s += ap[kk * MR + i] * b[kk * ldb + j];
            acc[j * MR + i] = s;
        }
}

int ck_packed_scalar_only;

static void tile_any(int nr, int64_t k, const float *ap, const float *b, int64_t ldb, float *acc, int first,
                     const float *pf, int64_t pf_steps) {
#ifdef PG_AVX512
    if (!ck_packed_scalar_only && ck_packed_available()) {
        tile_vector(nr, k, ap, b, ldb, acc, first, pf, pf_steps);
        return;
    }
#endif
    (void)pf;
    (void)pf_steps;
    tile_scalar(nr, k, ap, b, ldb, acc, first);
}

/* C[row0 + i][0..len) = acc's row i + bias + residual for i < nrows (c,
 * res: the group's first column), acc holding the group's tiles of NR
 * columns, each as NR columns of MR rows. */
static void rows_scalar(const float *acc, int64_t len, int64_t row0, int nrows, const float *bias, const float *res,
                        int64_t ldr, float *c, int64_t ldc) {
    for (int i = 0; i < nrows; i++) {
        const int64_t row = row0 + i;
        float *y = c + row * ldc;
        const float b = bias ? bias[row] : 0.0f;
        const float *r = res ? res + row * ldr : NULL;
        for (int64_t q = 0; q < len; q++) {
            const float *a = acc + (q / NR) * NR * MR + (q % NR) * MR;
            y[q] = a[i] + b + (r ? r[q] : 0.0f);
        }
    }
}

/* Returns whether the clamp (may be NULL) was applied too. */
static int rows_any(const float *acc, int64_t len, int64_t row0, int nrows, const float *bias, const float *res,
                    int64_t ldr, const float *clamp, float *c, int64_t ldc) {
#ifdef PG_AVX512
    if (!ck_packed_scalar_only && ck_packed_available()) {
        rows_vector(acc, len, row0, nrows, bias, res, ldr, clamp, c, ldc);
        return clamp != NULL;
    }
#endif
    (void)clamp;
    rows_scalar(acc, len, row0, nrows, bias, res, ldr, c, ldc);
    return 0;
}

/* Items are (row panel, group of up to GROUP column panels), row panels
 * outer: consecutive items on one thread share A's panel. The groups are
 * evened out (196 columns: 72, 72, 52, not 96, 96, 4). */
typedef struct pgemm_job {
    int32_t m, n, k;
    const float *ap, *b, *bias, *res;
    int32_t ldb, ldr, ldc;
    const ck_activation *act;
    float *c;
    int64_t groups;   /* column groups per row panel */
    int64_t width;    /* columns per group, a multiple of NR (the last one may be short) */
    int has_clamp;    /* act is a clamp (ck_clamp_of) to [clamp[0], clamp[1]] */
    float clamp[2];
} pgemm_job;

static void pgemm_items(void *ctx, int64_t first, int64_t end) {
    const pgemm_job *j = ctx;
    float acc[GROUP * NR * MR];
    for (int64_t item = first; item < end; item++) {
        const int64_t panel = item / j->groups, group = item % j->groups;
        const int64_t n0 = group * j->width, n1 = n0 + j->width < j->n ? n0 + j->width : j->n;
        const float *ap = j->ap + panel * MR * j->k;
        const int64_t tiles = (n1 - n0 + NR - 1) / NR;
        for (int64_t k0 = 0; k0 < j->k; k0 += KC) {
            const int64_t kc = j->k - k0 < KC ? j->k - k0 : KC;
            /* The A block the next pass will want (this panel's next one, or
             * the next item's panel) is prefetched into L2, a share of it in
             * each tile after the first, while this block, in L2 by then,
             * serves them: otherwise the next pass's first tile waits on
             * memory, and weights come from memory in a forward pass (ResNet-50
             * reads 100 MB of them). In ResNet-50's forward its 7x7 1x1
             * layers (5 tiles a group) went 0.57-0.62 -> 0.52-0.57 ms (best
             * of 3 profiles). Not with fewer than 3 tiles: Winograd's points
             * at 14x14 (2 tiles) were 10-15% slower with it. */
            const float *next = NULL;
            int64_t next_steps = 0;
            if (tiles < 3) {
                /* no prefetch */
            } else if (k0 + KC < j->k) {
                next = ap + (k0 + KC) * MR;
                next_steps = j->k - k0 - KC < KC ? j->k - k0 - KC : KC;
            } else if (item + 1 < end && (item + 1) / j->groups != panel) {
                next = j->ap + (panel + 1) * MR * j->k;
                next_steps = j->k < KC ? j->k : KC;
            }
            const int64_t share = next ? (next_steps + tiles - 2) / (tiles - 1) : 0;   /* k-steps per tile */
            for (int64_t t = 0, c0 = n0; c0 < n1; t++, c0 += NR) {
                const int nr = (int)(n1 - c0 < NR ? n1 - c0 : NR);
                const int64_t s0 = t > 0 ? (t - 1) * share : next_steps;   /* tile 0 takes none */
                const int64_t steps = s0 < next_steps ? (next_steps - s0 < share ? next_steps - s0 : share) : 0;
                tile_any(nr, kc, ap + k0 * MR, j->b + k0 * j->ldb + c0, j->ldb, acc + (c0 - n0) / NR * NR * MR, k0 == 0,
                         steps ? next + s0 * MR : NULL, steps);
            }
        }
        /* Epilogue: the 32 rows of the panel, each a run of n1 - n0 outputs. */
        const int64_t len = n1 - n0, row0 = panel * MR;
        const int nrows = j->m - row0 < MR ? (int)(j->m - row0) : MR;
        const int clamped = rows_any(acc, len, row0, nrows, j->bias, j->res ? j->res + n0 : NULL, j->ldr,
                                     j->has_clamp ? j->clamp : NULL, j->c + n0, j->ldc);
        if (j->act && !clamped)
            for (int i = 0; i < nrows; i++) {
                float *y = j->c + (row0 + i) * j->ldc + n0;
                (void)ck_act_forward(j->act, y, y, len);
            }
    }
}

enum { PG_PAR_MACS = 1 << 20 };

void ck_gemm_packed_threads(int32_t m, int32_t n, int32_t k, const float *packed, const float *b, int32_t ldb,
                            const float *bias, const float *res, int32_t ldr, const ck_activation *act,
                            float *c, int32_t ldc, int threads) {
    const int64_t tiles = ((int64_t)n + NR - 1) / NR, groups = (tiles + GROUP - 1) / GROUP;
    pgemm_job j = {m, n, k, packed, b, bias, res, ldb, ldr, ldc,
                   act && act->kind != CK_ACT_NONE ? act : NULL, c, groups, (tiles + groups - 1) / groups * NR, 0, {0, 0}};
    j.has_clamp = ck_clamp_of(j.act, &j.clamp[0], &j.clamp[1]);
    const int64_t items = ((int64_t)m + MR - 1) / MR * j.groups;
    ck_parallel_for(pgemm_items, &j, items, (int64_t)m * n * k < PG_PAR_MACS ? 1 : threads);
}

ck_status ck_gemm_packed(int32_t m, int32_t n, int32_t k, const float *packed, const float *b, int32_t ldb,
                         const float *bias, const float *residual, int32_t ldr, const ck_activation *act,
                         float *c, int32_t ldc) {
    if (!packed || !b || !c) return CK_ERR_NULL;
    if (m < 1 || n < 1 || k < 1 || ldb < n || ldc < n || (residual && ldr < n)) return CK_ERR_SIZE;
    ck_status st = ck_act_valid(act);
    if (st != CK_OK) return st;
    ck_gemm_packed_threads(m, n, k, packed, b, ldb, bias, residual, ldr, act, c, ldc, ck_threads());
    return CK_OK;
}
