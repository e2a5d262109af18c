/* conv_direct.c: direct convolution for layers with few input channels,
 * which is a network's first layer (3 channels; ResNet's 7x7 stride-2
 * stem, VGG's 3x3, MobileNet's 3x3 stride 2).
 *
 * im2col + GEMM fits those badly. The column matrix has k_h * k_w * c_in
 * rows (27 to 147) for every output position: 7.4 MB for ResNet's stem,
 * written and read back once per image, and a GEMM whose k is that small
 * spends much of its time on packing. Here each output row is made in
 * vector registers straight from the input: a block of 6 output channels
 * by 2 vectors of 8 positions (12 accumulators, which with the two inputs
 * and a weight fill the 16 AVX registers; a third vector spilled one to
 * the stack and halved the speed), and for each kernel tap 2 loads, 6
 * broadcast weights and 12 multiply-adds.
 *
 * Stride: a vector needs its 8 inputs side by side, which stride 2 spreads
 * over 16. So each input row is first split into its stride phases, padded
 * with zeros (phase f holds the padded row's columns f, f + s, f + 2s, ...):
 * the input of output column ow at tap kw is then element ow + kw / s of
 * phase kw % s, and 8 consecutive outputs read 8 consecutive floats. The
 * split rows of a band of output rows are built once in scratch (c_in
 * channels x s phases x the band's rows: about 0.6 MB for ResNet's stem at
 * 224 x 224), and every output channel block reads them from cache.
 *
 * Where the CPU has AVX-512F the blocks are 16 output channels by one
 * vector of 16 positions instead (block_wide): per tap one load and 16
 * multiply-adds, each taking its weight as a broadcast operand, where the
 * 8-float block needs 8 loads for 12. Same taps in the same order, so the
 * same values. Against the 8-float kernel on 2 threads (each layer alone,
 * both timed in one process): ResNet's stem 1.18-1.20 -> 1.12-1.16 ms, MobileNet's
 * 0.17-0.19 -> 0.15-0.18, VGG's within 3% either way (27 taps a block
 * leave little to save); in ResNet-50's forward the stem went 1.31 ->
 * 1.15 ms, in ResNet-18's 1.21 -> 1.15 (best of 3 profiles each). */
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "vec.h"

/* Output channels and vectors per register block; the scratch for one
 * band; and the work below which a layer stays on one thread. */
enum { CB = 6, NV = 2, BAND_FLOATS = 1 << 18, PAR_MACS = 1 << 20 };

/* The AVX-512 kernel's block: 16 output channels by one vector of 16
 * positions (16 accumulators). */
enum { CB_WIDE = 16, VEC_WIDE = 16 };

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target)
#define DIRECT_AVX512 1
#include <immintrin.h>
#endif
#endif

int ck_direct_narrow_only;

/* Whether this call takes the AVX-512 kernel (the CPU test is pgemm.c's);
 * the weights' block and the split rows' width follow it. */
static int wide_kernel(void) {
#ifdef DIRECT_AVX512
    return !ck_direct_narrow_only && ck_packed_available();
#else
    return 0;
#endif
}

int ck_conv2d_direct_applies(const ck_conv2d *p) {
    ck_conv_geom g;
    if (!p || ck_conv_geometry(p, &g) != CK_OK) return 0;
    return p->groups == 1 && p->c_in <= CK_CONV_DIRECT_MAX_CIN && p->dil_h == 1 && p->dil_w == 1 &&
           g.rows <= CK_CONV_DIRECT_MAX_TAPS;
}

/* The split rows' layout for one band of output rows. */
typedef struct band_geom {
    int64_t vecs;       /* vectors per output row: w_out rounded up to VEC */
    int64_t row_len;    /* floats per phase row: every vector's reach (kw / s_w past its start) */
    int64_t band;       /* output rows per band */
    int64_t rows;       /* padded input rows a band reads: (band - 1) * s_h + k_h */
} band_geom;

static band_geom band_geometry(const ck_conv2d *p, const ck_conv_geom *g, int64_t limit, int64_t width) {
    band_geom b;
    b.vecs = (g->w_out + width - 1) / width;
    b.row_len = b.vecs * width + (p->k_w - 1) / p->stride_w + 1;
    int64_t per_row = (int64_t)p->c_in * p->stride_w * b.row_len;   /* one padded input row, split */
    int64_t rows = limit / per_row;
    b.band = rows < p->k_h ? 1 : (rows - p->k_h) / p->stride_h + 1;
    if (b.band > g->h_out) b.band = g->h_out;
    b.rows = (b.band - 1) * p->stride_h + p->k_h;
    return b;
}

/* Scratch: the weights regrouped by channel block (tap-major, a block's
 * cb channels side by side, so that its broadcasts at a tap come from one
 * or two lines), then the split rows of one band. */
static int64_t weight_floats(const ck_conv2d *p, const ck_conv_geom *g, int64_t cb) {
    return ((int64_t)p->c_out + cb - 1) / cb * cb * g->rows;
}

static int64_t scratch_for(const ck_conv2d *p, const ck_conv_geom *g, int64_t cb, int64_t width) {
    band_geom b = band_geometry(p, g, BAND_FLOATS, width);
    return weight_floats(p, g, cb) + (int64_t)p->c_in * p->stride_w * b.rows * b.row_len;
}

/* Enough for either kernel, so that the size does not depend on the CPU. */
size_t ck_conv2d_direct_scratch_floats(const ck_conv2d *p) {
    ck_conv_geom g;
    if (!ck_conv2d_direct_applies(p) || ck_conv_geometry(p, &g) != CK_OK) return 0;
    int64_t narrow = scratch_for(p, &g, CB, VEC), wide = scratch_for(p, &g, CB_WIDE, VEC_WIDE);
    return (size_t)(narrow > wide ? narrow : wide);
}

typedef struct direct_job {
    const ck_conv2d *p;
    const ck_conv_geom *g;
    const band_geom *b;
    const float *x, *bias, *res;       /* x, res and y: this image's */
    const float *wb;                   /* the weights by channel block */
    const int64_t *tap;                /* each tap's offset in the split rows of an output row */
    const ck_activation *act;          /* NULL: none, or applied in the registers (clamp) */
    int clamp;                         /* act is min(max(v, lo), hi), applied before the store */
    float lo, hi;
    float *y, *split;
    int64_t oh0, oh1;                  /* the band's output rows */
    int64_t bands, run, split_slot;    /* band_items: bands per image, per run, a run's split floats */
    int wide;                          /* the AVX-512 kernel: blocks of CB_WIDE, vectors of VEC_WIDE */
} direct_job;

/* Split rows for (channel, padded row) items of the band: row r of the
 * band is padded input row oh0 * s_h + r, input row that minus pad_top. */
static void split_items(void *ctx, int64_t first, int64_t end) {
    const direct_job *j = ctx;
    const ck_conv2d *p = j->p;
    const int64_t s = p->stride_w, len = j->b->row_len, rows = j->b->rows;
    for (int64_t item = first; item < end; item++) {
        const int64_t c = item / rows, r = item % rows, ih = j->oh0 * p->stride_h + r - p->pad_top;
        float *phase0 = j->split + (c * s * rows + r) * len;   /* phase f at phase0 + f * rows * len */
        for (int64_t f = 0; f < s; f++) zero_short(phase0 + f * rows * len, len);
        if (ih < 0 || ih >= p->h_in) continue;
        const float *src = j->x + ((int64_t)c * p->h_in + ih) * p->w_in;
        /* Input column iw is padded column q = iw + pad_left: phase q % s,
         * slot q / s. Columns whose slot is past the row are never read
         * (they only exist when the right padding is short of a stride). */
        const int64_t pl = p->pad_left, n = p->w_in < len * s - pl ? p->w_in : len * s - pl;
        if (n <= 0) continue;
        if (s == 1) {
            copy_short(phase0 + pl, src, n);
        } else if (s == 2) {
            /* Even columns to phase pl % 2 from slot pl / 2, odd ones to the other from (pl + 1) / 2. */
            float *even = phase0 + (pl % 2) * rows * len + pl / 2, *odd = phase0 + ((pl + 1) % 2) * rows * len + (pl + 1) / 2;
            deinterleave2(src, n, even, odd);
        } else {
            for (int64_t iw = 0; iw < n; iw++) phase0[(iw + pl) % s * rows * len + (iw + pl) / s] = src[iw];
        }
    }
}

/* One register block: output channels [co, co + cb), output row oh,
 * vectors [v0, v0 + nv) of it. cb and nv are constants after inlining. */
static inline __attribute__((always_inline))
void block(const int cb, const int nv, const direct_job *j, int64_t co, int64_t oh, int64_t v0) {
    const int64_t taps = j->g->rows, plane = (int64_t)j->g->h_out * j->g->w_out, w_out = j->g->w_out;
    vf acc[CB][NV];
    for (int c = 0; c < cb; c++) {
        const vf b = vsplat(j->bias ? j->bias[co + c] : 0.0f);
        for (int v = 0; v < nv; v++) acc[c][v] = b;
    }
    /* One flat loop over the taps: nested loops over channel, row and
     * column left the compiler shuffling the accumulators between
     * registers and the stack at every turn. */
    const float *base = j->split + (oh - j->oh0) * j->p->stride_h * j->b->row_len + v0 * VEC, *w = j->wb + co * taps;
    for (int64_t t = 0; t < taps; t++, w += CB) {
        const float *src = base + j->tap[t];
        vf xv[NV];
        for (int v = 0; v < nv; v++) xv[v] = vload(src + v * VEC);
        for (int c = 0; c < cb; c++) {
            const vf wv = vsplat(w[c]);
            for (int v = 0; v < nv; v++) acc[c][v] += wv * xv[v];
        }
    }
    for (int c = 0; c < cb; c++) {
        float *y = j->y + (co + c) * plane + oh * w_out;
        const float *r = j->res ? j->res + (co + c) * plane + oh * w_out : NULL;
        for (int v = 0; v < nv; v++) {
            const int64_t at = (v0 + v) * VEC, n = w_out - at < VEC ? w_out - at : VEC;
            vf out = acc[c][v];
            if (n == VEC) {
                if (r) out += vload(r + at);
                if (j->clamp) out = clamp_v(out, vsplat(j->lo), vsplat(j->hi));
                vstore(y + at, out);
            } else {
                float tail[VEC];
                if (r) {
                    vstore(tail, (vf){0});
                    memcpy(tail, r + at, (size_t)n * sizeof(float));
                    out += vload(tail);
                }
                if (j->clamp) out = clamp_v(out, vsplat(j->lo), vsplat(j->hi));
                vstore(tail, out);
                for (int64_t i = 0; i < n; i++) y[at + i] = tail[i];
            }
        }
    }
}

#ifdef DIRECT_AVX512
/* block() for the AVX-512 kernel: output channels [co, co + cb) of a
 * block of CB_WIDE (the weights past c_out are zero), one vector of
 * output row oh from position at. The taps are summed in block()'s order. */
static inline __attribute__((always_inline, target("avx512f")))
void block_wide(const direct_job *j, int64_t co, int cb, int64_t oh, int64_t at) {
    const int64_t taps = j->g->rows, plane = (int64_t)j->g->h_out * j->g->w_out, w_out = j->g->w_out;
    __m512 acc[CB_WIDE];
    for (int c = 0; c < CB_WIDE; c++) acc[c] = _mm512_set1_ps(j->bias && c < cb ? j->bias[co + c] : 0.0f);
    const float *base = j->split + (oh - j->oh0) * j->p->stride_h * j->b->row_len + at, *w = j->wb + co * taps;
    for (int64_t t = 0; t < taps; t++, w += CB_WIDE) {
        const __m512 xv = _mm512_loadu_ps(base + j->tap[t]);
        _Pragma("unroll") for (int c = 0; c < CB_WIDE; c++) acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(w[c]), xv, acc[c]);
    }
    const int64_t n = w_out - at < VEC_WIDE ? w_out - at : VEC_WIDE;
    const __mmask16 mask = (__mmask16)((1u << n) - 1);
    /* Unrolled with a test (not a loop to cb) so that acc stays in registers. */
    _Pragma("unroll") for (int c = 0; c < CB_WIDE; c++) {
        if (c >= cb) continue;
        __m512 out = acc[c];
        const int64_t o = (co + c) * plane + oh * w_out + at;
        if (j->res) out = _mm512_add_ps(out, n == VEC_WIDE ? _mm512_loadu_ps(j->res + o) : _mm512_maskz_loadu_ps(mask, j->res + o));
        /* max(lo, v), then min(hi, that): clamp_v's order, a NaN passes. */
        if (j->clamp) out = _mm512_min_ps(_mm512_set1_ps(j->hi), _mm512_max_ps(_mm512_set1_ps(j->lo), out));
        if (n == VEC_WIDE) _mm512_storeu_ps(j->y + o, out);
        else _mm512_mask_storeu_ps(j->y + o, mask, out);
    }
}

__attribute__((target("avx512f")))
static void rows_wide(const direct_job *j, int64_t first, int64_t end) {
    const int64_t blocks = (j->p->c_out + CB_WIDE - 1) / CB_WIDE, plane = (int64_t)j->g->h_out * j->g->w_out;
    for (int64_t item = first; item < end; item++) {
        const int64_t oh = j->oh0 + item / blocks, co = item % blocks * CB_WIDE;
        const int cb = j->p->c_out - co < CB_WIDE ? (int)(j->p->c_out - co) : CB_WIDE;
        for (int64_t v = 0; v < j->b->vecs; v++) block_wide(j, co, cb, oh, v * VEC_WIDE);
        if (j->act)
            for (int c = 0; c < cb; c++) {
                float *y = j->y + (co + c) * plane + oh * j->g->w_out;
                (void)ck_act_forward(j->act, y, y, j->g->w_out);
            }
    }
}
#endif

#define BLOCK_CASE(c, v) case (c) * 8 + (v): block(c, v, j, co, oh, v0); break;

/* Items are (output row, channel block), the row outer: consecutive items
 * read the same split rows. */
static inline __attribute__((always_inline))
void rows_body(const direct_job *j, int64_t first, int64_t end) {
    const int64_t blocks = (j->p->c_out + CB - 1) / CB, vecs = j->b->vecs;
    const int64_t plane = (int64_t)j->g->h_out * j->g->w_out;
    for (int64_t item = first; item < end; item++) {
        const int64_t oh = j->oh0 + item / blocks, co = item % blocks * CB;
        const int cb = j->p->c_out - co < CB ? (int)(j->p->c_out - co) : CB;
        for (int64_t v0 = 0; v0 < vecs; v0 += NV) {
            const int nv = vecs - v0 < NV ? (int)(vecs - v0) : NV;
            switch (cb * 8 + nv) {
            BLOCK_CASE(1, 1) BLOCK_CASE(2, 1) BLOCK_CASE(3, 1) BLOCK_CASE(4, 1) BLOCK_CASE(5, 1) BLOCK_CASE(6, 1)
            BLOCK_CASE(1, 2) BLOCK_CASE(2, 2) BLOCK_CASE(3, 2) BLOCK_CASE(4, 2) BLOCK_CASE(5, 2) BLOCK_CASE(6, 2)
            default: break;
            }
        }
        if (j->act)
            for (int c = 0; c < cb; c++) {
                float *y = j->y + (co + c) * plane + oh * j->g->w_out;
                (void)ck_act_forward(j->act, y, y, j->g->w_out);
            }
    }
}
#undef BLOCK_CASE

CK_MULTIVERSION
static void rows_items_body(const direct_job *j, int64_t first, int64_t end) {
    rows_body(j, first, end);
}

static void rows_any(const direct_job *j, int64_t first, int64_t end) {
#ifdef DIRECT_AVX512
    if (j->wide) {
        rows_wide(j, first, end);
        return;
    }
#endif
    rows_items_body(j, first, end);
}

static void rows_items(void *ctx, int64_t first, int64_t end) {
    rows_any(ctx, first, end);
}

/* Bands of output rows split over the threads, each band's rows split
 * into a buffer of that thread's own (see ck_conv_direct_forward). The
 * bands of all images in order are cut into as many runs as threads, and
 * run i splits into buffer i: two runs at once never share one. */
enum { LOCAL_FLOATS = 1 << 14 };

static void band_items(void *ctx, int64_t first, int64_t end) {
    const direct_job *shared = ctx;
    const ck_conv2d *p = shared->p;
    const int64_t x_img = (int64_t)p->c_in * p->h_in * p->w_in, y_img = (int64_t)p->c_out * shared->g->cols;
    const int64_t cbl = shared->wide ? CB_WIDE : CB, blocks = (p->c_out + cbl - 1) / cbl, run = shared->run;
    for (int64_t item = first; item < end; item++) {
        for (int64_t band = item * run; band < (item + 1) * run && band < p->n * shared->bands; band++) {
            const int64_t n = band / shared->bands, oh0 = band % shared->bands * shared->b->band;
            direct_job j = *shared;
            j.x += n * x_img;
            j.y += n * y_img;
            if (j.res) j.res += n * y_img;
            j.split += item * shared->split_slot;
            j.oh0 = oh0;
            j.oh1 = oh0 + j.b->band < j.g->h_out ? oh0 + j.b->band : j.g->h_out;
            split_items(&j, 0, (int64_t)p->c_in * j.b->rows);
            rows_any(&j, 0, (j.oh1 - j.oh0) * blocks);
        }
    }
}

void ck_conv_direct_forward(const ck_conv2d *p, const ck_conv_geom *g, const float *x, const float *w,
                            const float *bias, const float *res, const ck_activation *act, float *y, float *scratch) {
    const int64_t x_img = (int64_t)p->c_in * p->h_in * p->w_in, y_img = (int64_t)p->c_out * g->cols;
    const int wide = wide_kernel();
    const int64_t cbl = wide ? CB_WIDE : CB, width = wide ? VEC_WIDE : VEC;
    const int64_t blocks = (p->c_out + cbl - 1) / cbl, taps = g->rows;
    const int threads = (int64_t)p->c_out * g->cols * g->rows < PAR_MACS ? 1 : ck_threads();
    if (act && act->kind == CK_ACT_NONE) act = NULL;
    float lo = 0.0f, hi = 0.0f;
    const int clamp = ck_clamp_of(act, &lo, &hi);
    if (clamp) act = NULL;
    /* On several threads, bands of a few rows, a run of bands to each
     * thread with its own part of the split area: the split rows are then
     * written and read by one core, where a band shared by all threads
     * (below) was written and read by each of them, and every write first
     * took the line from the other core's cache. Alone (a layer run over
     * and over), the stems on two threads: ResNet's 1.49 -> 1.23 ms,
     * MobileNet's 0.36 -> 0.22, VGG's 1.20 -> 1.17. In the models, where
     * other layers pass between two runs of the stem, about the same as
     * before. A band overlaps the next by k_h - s_h input rows, which are
     * split twice; the bands are as many as a multiple of the threads, so
     * that the runs are equal. Used where the parts fit in the split area
     * that the shared band takes (ck_conv2d_direct_scratch_floats). */
    band_geom b = band_geometry(p, g, BAND_FLOATS, width);
    const int64_t per_row = (int64_t)p->c_in * p->stride_w * b.row_len, split_floats = b.rows * per_row;
    int64_t bands = 0;
    if (threads > 1) {
        band_geom l = band_geometry(p, g, LOCAL_FLOATS, width);
        bands = (g->h_out + l.band - 1) / l.band;
        bands = (bands + threads - 1) / threads * threads;
        l.band = (g->h_out + bands - 1) / bands;
        l.rows = (l.band - 1) * p->stride_h + p->k_h;
        bands = (g->h_out + l.band - 1) / l.band;
        if (l.rows * per_row <= LOCAL_FLOATS && threads * l.rows * per_row <= split_floats) b = l;
        else bands = 0;
    }
    /* Tap (ci, kh, kw) reads phase kw % s of channel ci, kh rows down,
     * from slot kw / s; channels past c_out get zero weights. */
    int64_t tap[CK_CONV_DIRECT_MAX_TAPS];
    for (int64_t t = 0; t < taps; t++) {
        const int64_t ci = t / (p->k_h * p->k_w), kh = t / p->k_w % p->k_h, kw = t % p->k_w;
        tap[t] = ((ci * p->stride_w + kw % p->stride_w) * b.rows + kh) * b.row_len + kw / p->stride_w;
    }
    float *wb = scratch, *split = scratch + weight_floats(p, g, cbl);
    for (int64_t co = 0; co < blocks * cbl; co++)
        for (int64_t t = 0; t < taps; t++)
            wb[(co / cbl * taps + t) * cbl + co % cbl] = co < p->c_out ? w[co * taps + t] : 0.0f;
    if (bands > 0) {
        const int64_t run = (p->n * bands + threads - 1) / threads;
        direct_job j = {p, g, &b, x, bias, res, wb, tap, act, clamp, lo, hi, y, split, 0, 0, bands, run,
                        b.rows * per_row, wide};
        ck_parallel_for(band_items, &j, threads, threads);
        return;
    }
    for (int32_t n = 0; n < p->n; n++) {
        for (int64_t oh0 = 0; oh0 < g->h_out; oh0 += b.band) {
            direct_job j = {p, g, &b, x + n * x_img, bias, res ? res + n * y_img : NULL, wb, tap, act, clamp, lo, hi,
                            y + n * y_img, split, oh0, oh0 + b.band < g->h_out ? oh0 + b.band : g->h_out, 0, 0, 0, wide};
            ck_parallel_for(split_items, &j, (int64_t)p->c_in * b.rows, threads);
            ck_parallel_for(rows_items, &j, (j.oh1 - j.oh0) * blocks, threads);
        }
    }
}
