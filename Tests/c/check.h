/* check.h: the whole test harness of the C tests. Each test program counts
 * its checks and ends with the line "N passed, N failed" that CI reads. */
#ifndef CAM_CHECK_H
#define CAM_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_passed, check_failed;

#define CHECK(cond, ...) do { \
    if (cond) { check_passed++; } else { \
        check_failed++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

/* Largest |a - b| over n floats; NaN anywhere counts as infinite. */
static inline double check_max_abs_diff(const float *a, const float *b, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) return INFINITY;
        if (d > worst) worst = d;
    }
    return worst;
}

/* Deterministic uniform floats in [lo, hi) (xorshift64*), so a failure
 * reproduces from its seed. */
static uint64_t check_rng_state = 0x9E3779B97F4A7C15ull;
static inline void check_seed(uint64_t s) { check_rng_state = s ? s : 1; }
static inline uint64_t check_next(void) {
    check_rng_state ^= check_rng_state >> 12; check_rng_state ^= check_rng_state << 25;
    check_rng_state ^= check_rng_state >> 27; return check_rng_state * 2685821657736338717ull;
}
static inline float check_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)((check_next() >> 40) * (1.0 / 16777216.0));
}
static inline int check_int(int lo, int hi) { /* inclusive */
    return lo + (int)(check_next() % (uint64_t)(hi - lo + 1));
}
static inline float *check_random(int64_t n, float lo, float hi) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    for (int64_t i = 0; i < n; i++) p[i] = check_uniform(lo, hi);
    return p;
}
static inline float *check_zeros(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

/* Call last in main: prints the counts and gives the exit code. */
static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
