/* test_cam_soak.c: many localizations on one model from 4 threads; memory
 * stays flat and every result equals the first.
 *
 * Loads tiny_resnet once and localizes its three fixture inputs (Grad-CAM,
 * top 5) SOAK_TOTAL times in all, from THREADS threads at once (thread t
 * starts at input t mod 3 and cycles). Every result is compared bit for bit
 * with a single-threaded reference taken first. Resident memory (VmRSS) is
 * read after a warm-up of WARMUP localizations per thread, when allocators,
 * plan caches and the kernels' thread pool have reached their working size,
 * and again at the end: it may grow by at most MAX_GROWTH_MB, far less than
 * one leaked map per call would take (10,000 x 16 KB = 160 MB).
 *
 * CAMKIT_SOAK_TOTAL overrides the count (the TSan build runs fewer). Run from
 * the repository root. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam.h"
#include "../c/check.h"
#include "fixture_io.h"

#define THREADS 4
#define INPUTS 3
#define TOP_K 5
#define WARMUP 100
#define MAX_GROWTH_MB 8.0

static const char *const inputs[INPUTS] = {"chelsea_rgba", "coffee_baseline", "rocket_palette"};

typedef struct snapshot {
    cam_box boxes[TOP_K];
    float *maps[TOP_K];
    int32_t w, h;
} snapshot;

static cam_model *model;
static fx_npy tensors[INPUTS];
static snapshot reference[INPUTS];
static long per_thread;
static pthread_barrier_t warm;

typedef struct slot {
    long done, mismatches, failures;
    char first[200];
} slot;
static slot slots[THREADS];

static double rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtod(line + 6, NULL);
    if (f) fclose(f);
    return kb / 1024;
}

static cam_status localize(int i, cam_result **r) {
    cam_options o;
    cam_options_init(&o);
    o.top_k = TOP_K;
    return cam_localize_tensor(model, (const float *)tensors[i].data, (int32_t)tensors[i].shape[2], (int32_t)tensors[i].shape[3], &o, r, NULL);
}

/* 0 if r equals the reference of input i bit for bit. */
static int differs(const cam_result *r, int i, char *why, size_t size) {
    const snapshot *s = &reference[i];
    if (cam_result_count(r) != TOP_K) { snprintf(why, size, "count %d", cam_result_count(r)); return 1; }
    for (int k = 0; k < TOP_K; k++) {
        cam_box b;
        int32_t w, h;
        const float *m = cam_result_map(r, k, &w, &h);
        if (cam_result_box(r, k, &b) != CAM_OK || memcmp(&b, &s->boxes[k], sizeof b) != 0) {
            snprintf(why, size, "input %s rank %d: box differs", inputs[i], k + 1);
            return 1;
        }
        if (!m || w != s->w || h != s->h || memcmp(m, s->maps[k], (size_t)w * h * sizeof(float)) != 0) {
            snprintf(why, size, "input %s rank %d: map differs", inputs[i], k + 1);
            return 1;
        }
    }
    return 0;
}

static void *soak(void *arg) {
    int t = (int)(intptr_t)arg;
    slot *me = &slots[t];
    for (long n = 0; n < per_thread; n++) {
        if (n == WARMUP) pthread_barrier_wait(&warm);
        int i = (int)((t + n) % INPUTS);
        cam_result *r = NULL;
        if (localize(i, &r) != CAM_OK) {
            me->failures++;
        } else {
            char why[200];
            if (differs(r, i, why, sizeof why)) {
                if (me->mismatches++ == 0) memcpy(me->first, why, sizeof why);
            }
        }
        cam_result_free(r);
        me->done++;
    }
    if (per_thread <= WARMUP) pthread_barrier_wait(&warm);
    return NULL;
}

int main(void) {
    long total = 10000;
    const char *env = getenv("CAMKIT_SOAK_TOTAL");
    if (env && atol(env) > 0) total = atol(env);
    per_thread = (total + THREADS - 1) / THREADS;

    cam_error *err = NULL;
    CHECK(cam_model_load("../shared/fixtures/models/tiny_resnet/model.onnx", &model, &err) == CAM_OK,
          "load tiny_resnet: %s", cam_error_message(err));
    if (!model) { cam_error_free(err); return check_report("test_cam_soak"); }
    for (int i = 0; i < INPUTS; i++) {
        char path[512];
        fx_path(path, sizeof path, "../shared/fixtures/inputs/%s_64x64.npy", inputs[i]);
        CHECK(fx_npy_load(path, &tensors[i]) == 1 && tensors[i].ndim == 4, "read %s", path);
        cam_result *r = NULL;
        CHECK(localize(i, &r) == CAM_OK && cam_result_count(r) == TOP_K, "reference for %s", inputs[i]);
        for (int k = 0; r && k < TOP_K; k++) {
            const float *m = cam_result_map(r, k, &reference[i].w, &reference[i].h);
            size_t bytes = (size_t)reference[i].w * reference[i].h * sizeof(float);
            reference[i].maps[k] = malloc(bytes);
            memcpy(reference[i].maps[k], m, bytes);
            cam_result_box(r, k, &reference[i].boxes[k]);
        }
        cam_result_free(r);
    }

    pthread_barrier_init(&warm, NULL, THREADS + 1);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, soak, (void *)(intptr_t)t);
    pthread_barrier_wait(&warm);   /* every thread is past its warm-up */
    double after_warmup = rss_mb();
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    double at_end = rss_mb();
    pthread_barrier_destroy(&warm);

    long done = 0, mismatches = 0, failures = 0;
    for (int t = 0; t < THREADS; t++) {
        done += slots[t].done;
        mismatches += slots[t].mismatches;
        failures += slots[t].failures;
        if (slots[t].first[0]) printf("thread %d: %s\n", t, slots[t].first);
    }
    CHECK(done == per_thread * THREADS, "%ld localizations done of %ld", done, per_thread * THREADS);
    CHECK(failures == 0, "%ld localizations failed", failures);
    CHECK(mismatches == 0, "%ld results differ from the first", mismatches);
    CHECK(after_warmup > 0 && at_end - after_warmup <= MAX_GROWTH_MB,
          "resident memory grew from %.1f MB after warm-up to %.1f MB after %ld localizations", after_warmup, at_end, done);
    printf("soak: %ld localizations on %d threads; RSS %.1f MB after warm-up, %.1f MB at the end\n",
           done, THREADS, after_warmup, at_end);

    for (int i = 0; i < INPUTS; i++) {
        fx_npy_free(&tensors[i]);
        for (int k = 0; k < TOP_K; k++) free(reference[i].maps[k]);
    }
    cam_model_free(model);
    return check_report("test_cam_soak");
}
