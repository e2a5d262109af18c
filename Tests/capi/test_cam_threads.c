/* test_cam_threads.c: one cam_model shared by many threads (cam.h, THREADS).
 *
 * Loads tiny_resnet and tiny_mobilenet once each. For every fixture input of
 * each model and each of four methods (Grad-CAM, Eigen-CAM, Ablation-CAM,
 * Score-CAM) it computes a single-threaded reference: top-5 boxes, scores,
 * logits and full maps copied out of the result (and checks that a second
 * run is identical).
 * Then 8 threads share the two models, each with one method (method_of: half
 * of them Grad-CAM, the others the three other plan paths). Thread t starts
 * at job t mod n and cycles through the n (model, image) jobs, ITERATIONS
 * times (Score-CAM: SCORECAM_ITERATIONS), comparing every result bit for bit
 * (memcmp of the maps, equality of boxes, scores and logits) with the
 * reference.
 *
 * Race freedom (the test must pass under -fsanitize=thread): the references
 * and the inputs are written before the threads start and only read by them;
 * each thread writes its own counters and first-mismatch text in its own
 * slot, which main reads after pthread_join. The start barrier is a
 * pthread_barrier, so the threads really overlap.
 *
 * About 13 s plain and 20 s under TSan on 2 cores, most of it Score-CAM and
 * OpenBLAS's thread pool contending with 8 callers. CAMKIT_THREAD_ITERATIONS
 * overrides ITERATIONS. Run from the repository root. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cam.h"
#include "../c/check.h"
#include "fixture_io.h"

#define THREADS 8
#define ITERATIONS 50
#define MAX_JOBS 8
#define TOP_K 5

static const char *const models[] = {"tiny_resnet", "tiny_mobilenet"};
#define MODEL_COUNT 2

static const cam_method methods[] = {CAM_METHOD_GRADCAM, CAM_METHOD_EIGENCAM, CAM_METHOD_ABLATIONCAM,
                                     CAM_METHOD_SCORECAM};
#define METHOD_COUNT 4
#define SCORECAM 3
static const char *const method_names[] = {"gradcam", "eigencam", "ablationcam", "scorecam"};

/* Thread t's method: the even threads Grad-CAM (forward + backward), 1 and 5
 * Eigen-CAM (forward + SVD), 3 Ablation-CAM (partial forwards of the tail),
 * 7 Score-CAM (batched forwards of masked inputs), so the different plan
 * paths run on the same model at once. */
static int method_of(int t) { return t % 2 == 0 ? 0 : t == 3 ? 2 : t == 7 ? SCORECAM : 1; }

/* Score-CAM runs one forward pass per channel of the target (64 or 96 here),
 * some 0.3 s a call on these models, so its thread makes this many calls
 * instead of ITERATIONS (enough to visit every job once). */
#define SCORECAM_ITERATIONS 6

/* The result of one localization, copied out of the cam_result. */
typedef struct snapshot {
    int count;
    cam_box boxes[TOP_K];
    int32_t width, height;
    float *maps[TOP_K];
} snapshot;

/* One (model, image) pair and its references, one per method. */
typedef struct job {
    const cam_model *model;
    const char *model_name;
    char image_id[64];
    fx_npy input;
    snapshot ref[METHOD_COUNT];
} job;

static job jobs[MAX_JOBS];
static int job_count;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cam_status run(const job *j, int method, cam_result **r, cam_error **err) {
    cam_options o;
    cam_options_init(&o);
    o.method = methods[method];
    o.top_k = TOP_K;
    return cam_localize_tensor(j->model, j->input.data, (int32_t)j->input.shape[2], (int32_t)j->input.shape[3], &o,
                               r, err);
}

static int take_snapshot(const cam_result *r, snapshot *s) {
    memset(s, 0, sizeof *s);
    s->count = cam_result_count(r);
    if (s->count < 1 || s->count > TOP_K) return 0;
    for (int k = 0; k < s->count; k++) {
        if (cam_result_box(r, k, &s->boxes[k]) != CAM_OK) return 0;
        int32_t w, h;
        const float *m = cam_result_map(r, k, &w, &h);
        if (!m || w < 1 || h < 1) return 0;
        if (k == 0) { s->width = w; s->height = h; }
        if (w != s->width || h != s->height) return 0;
        s->maps[k] = malloc(sizeof(float) * (size_t)w * (size_t)h);
        if (!s->maps[k]) return 0;
        memcpy(s->maps[k], m, sizeof(float) * (size_t)w * (size_t)h);
    }
    return 1;
}

static void free_snapshot(snapshot *s) {
    for (int k = 0; k < TOP_K; k++) free(s->maps[k]);
    memset(s, 0, sizeof *s);
}

/* 0 if r equals the snapshot bit for bit; otherwise writes what differs. */
static int differs(const cam_result *r, const snapshot *s, char *why, size_t size) {
    if (cam_result_count(r) != s->count) {
        snprintf(why, size, "count %d, reference %d", cam_result_count(r), s->count);
        return 1;
    }
    for (int k = 0; k < s->count; k++) {
        cam_box b;
        if (cam_result_box(r, k, &b) != CAM_OK) { snprintf(why, size, "cam_result_box(%d) failed", k); return 1; }
        const cam_box *e = &s->boxes[k];
        /* Field by field: memcmp of the structs would compare padding (there is none, but still). */
        if (b.class_index != e->class_index || memcmp(&b.score, &e->score, sizeof b.score) != 0 ||
            memcmp(&b.logit, &e->logit, sizeof b.logit) != 0 || b.x_min != e->x_min || b.y_min != e->y_min ||
            b.x_max != e->x_max || b.y_max != e->y_max) {
            snprintf(why, size, "rank %d: class %d score %.9g logit %.9g box [%d %d %d %d], reference class %d score %.9g "
                     "logit %.9g box [%d %d %d %d]", k, b.class_index, b.score, b.logit, b.x_min, b.y_min, b.x_max,
                     b.y_max, e->class_index, e->score, e->logit, e->x_min, e->y_min, e->x_max, e->y_max);
            return 1;
        }
        int32_t w, h;
        const float *m = cam_result_map(r, k, &w, &h);
        if (!m || w != s->width || h != s->height) { snprintf(why, size, "rank %d: map %dx%d", k, w, h); return 1; }
        if (memcmp(m, s->maps[k], sizeof(float) * (size_t)w * (size_t)h) != 0) {
            double d = check_max_abs_diff(m, s->maps[k], (int64_t)w * h);
            snprintf(why, size, "rank %d: map differs from the reference (max abs diff %.3g)", k, d);
            return 1;
        }
    }
    return 0;
}

/* What each thread reports; written by that thread only, read after the join. */
typedef struct worker {
    pthread_t thread;
    int index;
    int iterations;
    int calls, mismatches, errors;
    char first_problem[512];
} worker;

static pthread_barrier_t start_line;

static void *work(void *arg) {
    worker *w = arg;
    int method = method_of(w->index);
    pthread_barrier_wait(&start_line);
    for (int it = 0; it < w->iterations; it++) {
        const job *j = &jobs[(w->index + it) % job_count];
        cam_result *r = NULL;
        cam_error *err = NULL;
        cam_status st = run(j, method, &r, &err);
        w->calls++;
        char why[400];
        if (st != CAM_OK) {
            if (w->errors++ == 0 && !w->first_problem[0])
                snprintf(w->first_problem, sizeof w->first_problem, "%s/%s %s: status %d: %.300s", j->model_name,
                         j->image_id, method_names[method], (int)st, cam_error_message(err));
        } else if (differs(r, &j->ref[method], why, sizeof why)) {
            if (w->mismatches++ == 0 && !w->first_problem[0])
                snprintf(w->first_problem, sizeof w->first_problem, "%s/%s %s iteration %d: %.400s", j->model_name,
                         j->image_id, method_names[method], it, why);
        }
        cam_result_free(r);
        cam_error_free(err);
    }
    return NULL;
}

int main(void) {
    double t0 = now_seconds();
    int iterations = ITERATIONS;
    const char *env = getenv("CAMKIT_THREAD_ITERATIONS");
    if (env && atoi(env) > 0) iterations = atoi(env);

    cam_model *loaded[MODEL_COUNT] = {NULL, NULL};
    for (int mi = 0; mi < MODEL_COUNT; mi++) {
        char dir[256], path[512];
        fx_path(dir, sizeof dir, "%s/models/%s", FX_ROOT, models[mi]);
        cam_error *err;
        cam_status st = cam_model_load(fx_path(path, sizeof path, "%s/model.onnx", dir), &loaded[mi], &err);
        CHECK(st == CAM_OK, "%s: load: %s", models[mi], cam_error_message(err));
        cam_error_free(err);
        char *manifest = fx_read_file(fx_path(path, sizeof path, "%s/manifest.json", dir), NULL);
        CHECK(manifest != NULL, "cannot read %s", path);
        if (st != CAM_OK || !manifest) { free(manifest); continue; }
        const char *images = fx_json_get(manifest, "images");
        for (int i = 0; images && fx_json_at(images, i) && job_count < MAX_JOBS; i++) {
            const char *rec = fx_json_at(images, i);
            job *j = &jobs[job_count];
            char input[256];
            if (!fx_json_string(fx_json_get(rec, "id"), j->image_id, sizeof j->image_id) ||
                !fx_json_string(fx_json_get(rec, "input"), input, sizeof input) ||
                !fx_npy_load(fx_path(path, sizeof path, "%s/%s", FX_ROOT, input), &j->input) ||
                j->input.ndim != 4 || !j->input.is_float) {
                CHECK(0, "%s: image %d: unreadable manifest record or input", models[mi], i);
                fx_npy_free(&j->input);
                continue;
            }
            j->model = loaded[mi];
            j->model_name = models[mi];
            job_count++;
        }
        free(manifest);
    }
    CHECK(job_count >= 2, "only %d (model, image) jobs", job_count);

    /* Single-threaded references; and a second run must already be identical. */
    double t_ref = now_seconds();
    for (int ji = 0; ji < job_count; ji++) {
        for (int mi = 0; mi < METHOD_COUNT; mi++) {
            job *j = &jobs[ji];
            cam_result *r;
            cam_error *err;
            cam_status st = run(j, mi, &r, &err);
            CHECK(st == CAM_OK, "%s/%s %s: reference: status %d: %s", j->model_name, j->image_id, method_names[mi],
                  (int)st, cam_error_message(err));
            cam_error_free(err);
            if (st != CAM_OK) continue;
            CHECK(take_snapshot(r, &j->ref[mi]), "%s/%s %s: cannot copy the result", j->model_name, j->image_id,
                  method_names[mi]);
            cam_result_free(r);
            if (mi == SCORECAM) continue; /* slow; the threads compare it anyway */
            st = run(j, mi, &r, NULL);
            char why[400] = "";
            CHECK(st == CAM_OK && !differs(r, &j->ref[mi], why, sizeof why), "%s/%s %s: a second run differs: %s",
                  j->model_name, j->image_id, method_names[mi], why);
            cam_result_free(r);
        }
    }
    double ref_seconds = now_seconds() - t_ref;

    worker workers[THREADS];
    memset(workers, 0, sizeof workers);
    double t_threads = now_seconds();
    if (job_count > 0 && check_failed == 0) {
        pthread_barrier_init(&start_line, NULL, THREADS);
        int started = 0;
        for (int t = 0; t < THREADS; t++) {
            workers[t].index = t;
            workers[t].iterations = method_of(t) == SCORECAM && iterations > SCORECAM_ITERATIONS ? SCORECAM_ITERATIONS
                                                                                                 : iterations;
            int rc = pthread_create(&workers[t].thread, NULL, work, &workers[t]);
            CHECK(rc == 0, "pthread_create %d: %d", t, rc);
            if (rc != 0) break;
            started++;
        }
        if (started == THREADS) {
            for (int t = 0; t < THREADS; t++) pthread_join(workers[t].thread, NULL);
            for (int t = 0; t < THREADS; t++) {
                const worker *w = &workers[t];
                CHECK(w->calls == w->iterations, "thread %d made %d calls, want %d", t, w->calls, w->iterations);
                CHECK(w->errors == 0 && w->mismatches == 0, "thread %d (%s): %d errors, %d mismatches; first: %s", t,
                      method_names[method_of(t)], w->errors, w->mismatches, w->first_problem);
            }
        } else {
            /* Cannot happen in practice; the started threads would block on the barrier forever. */
            fprintf(stderr, "could not start every thread\n");
            return 2;
        }
        pthread_barrier_destroy(&start_line);
    }
    double thread_seconds = now_seconds() - t_threads;

    for (int ji = 0; ji < job_count; ji++) {
        for (int mi = 0; mi < METHOD_COUNT; mi++) free_snapshot(&jobs[ji].ref[mi]);
        fx_npy_free(&jobs[ji].input);
    }
    for (int mi = 0; mi < MODEL_COUNT; mi++) cam_model_free(loaded[mi]);
    int calls = 0;
    for (int t = 0; t < THREADS; t++) calls += workers[t].calls;
    printf("%d jobs x %d methods; references %.2f s; %d threads, %d calls: %.2f s; total %.2f s\n", job_count,
           METHOD_COUNT, ref_seconds, THREADS, calls, thread_seconds, now_seconds() - t0);
    return check_report("test_cam_threads");
}
