/* test_cam_fixtures.c: libcam's C API against the golden fixtures.
 *
 * For every tiny model in ../shared/fixtures/models/tiny_* and every image in
 * its manifest.json, through cam_localize_tensor on the stored input tensor:
 * - Grad-CAM top-5: the rank-0 map against gradcam_top1.npy (1e-3 absolute),
 *   every rank's map against gradcam_top5_lowres.npy put through README
 *   section 8, each class and box against boxes.json "gradcam" "per_class",
 *   each logit against the manifest's top5_logits and each score against the
 *   softmax of logits.npy;
 * - Grad-CAM for class_index 3 against gradcam_c3.npy and logit_c3;
 * - plain CAM top-5 where the manifest says it applies (boxes.json "cam",
 *   cam_top1.npy, cam_c3.npy, cam_top5_lowres.npy), CAM_ERR_UNSUPPORTED with
 *   a message where it does not.
 * Then squeezenet1_1 (224x224, 1000 classes; well under a second): Grad-CAM
 * top-1 map and top-5 boxes of each of its images; cam_image_load of every fixture image (size, channels and the
 * SHA-256 of the decoded pixels from images/images.json); and cam_localize
 * on a decoded image, whose maps and boxes are in the image's own size.
 *
 * Boxes: the fixtures flag, per record, whether the box survives a map error
 * of 1e-5 / 1e-3 (README section 9). A box that is stable at 1e-3 must match
 * exactly; one that is not may differ, which is reported as a note, not a
 * failure (the maps themselves are still held to 1e-3).
 *
 * Run from the repository root (fixtures at ../shared/fixtures). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <string.h>
#include <time.h>

#include "cam.h"
#include "../c/check.h"
#include "fixture_io.h"

#define MAP_TOL 1e-3

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Prints an unexpected failure with its message; returns 1 if st is CAM_OK. */
static int ok_or_report(cam_status st, cam_error *err, const char *what) {
    CHECK(st == CAM_OK, "%s: status %d (%s): %s", what, (int)st, cam_status_string(st), cam_error_message(err));
    CHECK(st != CAM_OK || err == NULL, "%s: CAM_OK but *err is not NULL", what);
    return st == CAM_OK;
}

/* ---- README section 8, to rebuild the maps of ranks 2..5 ------------------------ */

static void normalize(float *m, int n) {
    float lo = m[0];
    for (int i = 1; i < n; i++) if (m[i] < lo) lo = m[i];
    float hi = 0;
    for (int i = 0; i < n; i++) { m[i] -= lo; if (m[i] > hi) hi = m[i]; }
    float den = (float)1e-7 + hi;
    for (int i = 0; i < n; i++) m[i] /= den;
}

/* cv2.resize INTER_LINEAR (half-pixel centers, border replicated), rows then columns. */
static void resize_bilinear(const float *in, int h, int w, float *out, int oh, int ow) {
    float *tmp = malloc(sizeof(float) * (size_t)oh * (size_t)w);
    for (int y = 0; y < oh; y++) {
        double f = (y + 0.5) * ((double)h / oh) - 0.5;
        int i0 = (int)floor(f);
        double a = f - i0;
        if (i0 < 0) { i0 = 0; a = 0; }
        if (i0 >= h - 1) { i0 = h - 1; a = 0; }
        int i1 = i0 + 1 < h ? i0 + 1 : i0;
        for (int x = 0; x < w; x++)
            tmp[y * w + x] = (float)((1 - a) * in[i0 * w + x] + a * in[i1 * w + x]);
    }
    for (int x = 0; x < ow; x++) {
        double f = (x + 0.5) * ((double)w / ow) - 0.5;
        int i0 = (int)floor(f);
        double a = f - i0;
        if (i0 < 0) { i0 = 0; a = 0; }
        if (i0 >= w - 1) { i0 = w - 1; a = 0; }
        int i1 = i0 + 1 < w ? i0 + 1 : i0;
        for (int y = 0; y < oh; y++)
            out[y * ow + x] = (float)((1 - a) * tmp[y * w + i0] + a * tmp[y * w + i1]);
    }
    free(tmp);
}

/* The final S x S map of a lowres [h, w] map: plain CAM resize(N(raw)), the
 * other methods N(max(resize(N(lowres)), 0)). Caller frees. */
static float *final_map(const float *lowres, int h, int w, int s, int plain_cam) {
    float *n = malloc(sizeof(float) * (size_t)h * (size_t)w);
    memcpy(n, lowres, sizeof(float) * (size_t)h * (size_t)w);
    normalize(n, h * w);
    float *out = malloc(sizeof(float) * (size_t)s * (size_t)s);
    resize_bilinear(n, h, w, out, s, s);
    free(n);
    if (!plain_cam) {
        for (int i = 0; i < s * s; i++) if (out[i] < 0) out[i] = 0;
        normalize(out, s * s);
    }
    return out;
}

/* ---- fixture lookups ------------------------------------------------------------- */

/* The "final" file of (method, target) in a manifest image record, or 0. */
static int final_file_name(const char *image_rec, const char *method, const char *target, char *buf, size_t size) {
    const char *maps = fx_json_get(image_rec, "maps");
    for (int i = 0; maps && fx_json_at(maps, i); i++) {
        const char *m = fx_json_at(maps, i);
        char mm[64], tt[64];
        if (fx_json_string(fx_json_get(m, "method"), mm, sizeof mm) && strcmp(mm, method) == 0 &&
            fx_json_string(fx_json_get(m, "target"), tt, sizeof tt) && strcmp(tt, target) == 0)
            return fx_json_string(fx_json_get(m, "final"), buf, size); /* null: not stored */
    }
    return 0;
}

/* Compares a result map with a stored [1, S, S] final map, if stored. */
static void compare_with_final(const cam_result *r, int rank, const char *dir, const char *image_rec,
                               const char *method, const char *target, const char *label) {
    char name[128], path[512];
    if (!final_file_name(image_rec, method, target, name, sizeof name)) return;
    fx_path(path, sizeof path, "%s/%s", dir, name);
    if (!fx_file_exists(path)) {
        printf("note: %s: the manifest names %s, which is missing; not compared\n", label, path);
        return;
    }
    fx_npy ref;
    if (!fx_npy_load(path, &ref)) { CHECK(0, "%s: cannot load %s", label, path); return; }
    int32_t w = -1, h = -1;
    const float *map = cam_result_map(r, rank, &w, &h);
    CHECK(map != NULL, "%s: cam_result_map(%d) is NULL", label, rank);
    int ok_shape = ref.ndim == 3 && ref.shape[1] == h && ref.shape[2] == w;
    CHECK(ok_shape, "%s: map %dx%d, %s has another shape", label, w, h, name);
    if (map && ok_shape) {
        double d = check_max_abs_diff(map, ref.data, ref.count);
        CHECK(d <= MAP_TOL, "%s: map vs %s: max abs diff %.3g > %g", label, name, d, MAP_TOL);
    }
    fx_npy_free(&ref);
}

/* Compares every rank's map with the rebuild of the stored top-5 lowres maps. */
static void compare_with_lowres(const cam_result *r, const char *path, int s, int plain_cam, const char *label) {
    if (!fx_file_exists(path)) return;
    fx_npy low;
    if (!fx_npy_load(path, &low)) { CHECK(0, "%s: cannot load %s", label, path); return; }
    int n = (int)low.shape[0], h = (int)low.shape[1], w = (int)low.shape[2];
    CHECK(low.ndim == 3 && n == cam_result_count(r), "%s: %s holds %d maps, the result %d", label, path, n,
          cam_result_count(r));
    for (int k = 0; low.ndim == 3 && k < n && k < cam_result_count(r); k++) {
        float *ref = final_map((const float *)low.data + (size_t)k * h * w, h, w, s, plain_cam);
        int32_t mw, mh;
        const float *map = cam_result_map(r, k, &mw, &mh);
        if (map && mw == s && mh == s) {
            double d = check_max_abs_diff(map, ref, (int64_t)s * s);
            CHECK(d <= MAP_TOL, "%s: rank %d map vs section 8 of %s: max abs diff %.3g", label, k, path, d);
        } else {
            CHECK(0, "%s: rank %d map missing or %dx%d", label, k, mw, mh);
        }
        free(ref);
    }
    fx_npy_free(&low);
}

static int notes;

/* Compares box b with a boxes.json record. */
static void compare_box(const cam_box *b, const char *rec, const char *label) {
    int cls = -1, box[4] = {0};
    if (!fx_json_int(fx_json_get(rec, "class"), &cls) || fx_json_ints(fx_json_get(rec, "box"), box, 4) != 4) {
        CHECK(0, "%s: boxes.json record unreadable", label);
        return;
    }
    CHECK(b->class_index == cls, "%s: class %d, boxes.json %d", label, b->class_index, cls);
    int same = b->x_min == box[0] && b->y_min == box[1] && b->x_max == box[2] && b->y_max == box[3];
    if (same || fx_json_bool(fx_json_get(rec, "box_stable_1e-03")) != 0) {
        CHECK(same, "%s: box [%d %d %d %d], boxes.json [%d %d %d %d]", label, b->x_min, b->y_min, b->x_max,
              b->y_max, box[0], box[1], box[2], box[3]);
    } else {
        notes++;
        printf("note: %s: box [%d %d %d %d] vs [%d %d %d %d], which boxes.json marks unstable at 1e-3\n", label,
               b->x_min, b->y_min, b->x_max, b->y_max, box[0], box[1], box[2], box[3]);
    }
}

static int logit_close(double got, double want) {
    return fabs(got - want) <= 1e-4 * fmax(1.0, fabs(want));
}

/* README section 9 on a result's own map: the pixels >= t * max, their
 * largest 8-connected component (first met in a row-major scan on a tie),
 * its bounding box; checked against the result's box of that rank. */
static void check_box_of_map(const cam_result *r, int rank, double t, const char *label) {
    int32_t w, h;
    const float *map = cam_result_map(r, rank, &w, &h);
    cam_box b;
    if (!map || cam_result_box(r, rank, &b) != CAM_OK) { CHECK(0, "%s rank %d: no map or box", label, rank); return; }
    size_t n = (size_t)w * (size_t)h;
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++) if (map[i] > mx) mx = map[i];
    double limit = t * mx;
    unsigned char *seen = calloc(n, 1);
    int32_t *stack = malloc(sizeof(int32_t) * n);
    int best = 0, box[4] = {-1, -1, -1, -1};
    for (size_t start = 0; start < n; start++) {
        if (seen[start] || !((double)map[start] >= limit)) continue;
        int top = 0, pixels = 0, cur[4] = {(int)(start % (size_t)w), (int)(start / (size_t)w), (int)(start % (size_t)w),
                                           (int)(start / (size_t)w)};
        seen[start] = 1;
        stack[top++] = (int32_t)start;
        while (top) {
            int p = stack[--top], x = p % w, y = p / w;
            pixels++;
            if (x < cur[0]) cur[0] = x;
            if (x > cur[2]) cur[2] = x;
            if (y < cur[1]) cur[1] = y;
            if (y > cur[3]) cur[3] = y;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                    size_t q = (size_t)ny * (size_t)w + (size_t)nx;
                    if (!seen[q] && (double)map[q] >= limit) { seen[q] = 1; stack[top++] = (int32_t)q; }
                }
        }
        if (pixels > best) { best = pixels; memcpy(box, cur, sizeof box); }
    }
    free(seen);
    free(stack);
    CHECK(b.x_min == box[0] && b.y_min == box[1] && b.x_max == box[2] && b.y_max == box[3],
          "%s rank %d: box [%d %d %d %d], but its %dx%d map gives [%d %d %d %d]", label, rank, b.x_min, b.y_min,
          b.x_max, b.y_max, w, h, box[0], box[1], box[2], box[3]);
}

/* ---- one model -------------------------------------------------------------------- */

typedef struct image_case {
    char id[64], dir[512];
    const char *rec;           /* the manifest's images[i] */
    fx_npy input, logits;
    char *boxes_json;
    int top5[5];
    double top5_logits[5];
} image_case;

static int load_case(const char *model_dir, const char *rec, image_case *c) {
    memset(c, 0, sizeof *c);
    c->rec = rec;
    char input[256], dir[128], path[512];
    if (!fx_json_string(fx_json_get(rec, "id"), c->id, sizeof c->id) ||
        !fx_json_string(fx_json_get(rec, "input"), input, sizeof input) ||
        !fx_json_string(fx_json_get(rec, "dir"), dir, sizeof dir) ||
        fx_json_ints(fx_json_get(rec, "top5"), c->top5, 5) != 5 ||
        fx_json_numbers(fx_json_get(rec, "top5_logits"), c->top5_logits, 5) != 5) {
        CHECK(0, "%s: manifest image record unreadable", model_dir);
        return 0;
    }
    fx_path(c->dir, sizeof c->dir, "%s/%s", model_dir, dir);
    if (!fx_npy_load(fx_path(path, sizeof path, "%s/%s", FX_ROOT, input), &c->input)) {
        CHECK(0, "%s: cannot load %s", c->id, path);
        return 0;
    }
    fx_npy_load(fx_path(path, sizeof path, "%s/logits.npy", c->dir), &c->logits);
    c->boxes_json = fx_read_file(fx_path(path, sizeof path, "%s/boxes.json", c->dir), NULL);
    CHECK(c->boxes_json != NULL, "%s: cannot read %s", c->id, path);
    CHECK(c->input.is_float && c->input.ndim == 4 && c->input.shape[0] == 1 && c->input.shape[1] == 3,
          "%s: input tensor has an unexpected shape", c->id);
    return c->boxes_json != NULL && c->input.ndim == 4;
}

static void free_case(image_case *c) {
    fx_npy_free(&c->input);
    fx_npy_free(&c->logits);
    free(c->boxes_json);
}

/* Softmax probability of class k from logits.npy, in double. */
static double softmax_of(const fx_npy *logits, int k) {
    const float *l = logits->data;
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < logits->count; i++) if (l[i] > mx) mx = l[i];
    for (int64_t i = 0; i < logits->count; i++) sum += exp((double)l[i] - mx);
    return exp((double)l[k] - mx) / sum;
}

/* Checks the boxes of a top-5 result against boxes.json[method].per_class and the manifest. */
static void check_top5(const cam_result *r, const image_case *c, const char *method, const char *label) {
    CHECK(cam_result_count(r) == 5, "%s: count %d, want 5", label, cam_result_count(r));
    const char *per_class = fx_json_path(c->boxes_json, method);
    per_class = per_class ? fx_json_get(per_class, "per_class") : NULL;
    CHECK(per_class && fx_json_len(per_class) == 5, "%s: boxes.json has no 5 %s.per_class records", label, method);
    for (int k = 0; k < 5 && k < cam_result_count(r); k++) {
        char what[256];
        snprintf(what, sizeof what, "%s rank %d", label, k);
        cam_box b;
        memset(&b, 0xAB, sizeof b);
        if (!ok_or_report(cam_result_box(r, k, &b), NULL, what)) continue;
        CHECK(b.class_index == c->top5[k], "%s: class %d, manifest top5 %d", what, b.class_index, c->top5[k]);
        CHECK(logit_close(b.logit, c->top5_logits[k]), "%s: logit %.7g, manifest %.7g", what, b.logit,
              c->top5_logits[k]);
        if (c->logits.data && b.class_index >= 0 && b.class_index < c->logits.count) {
            double p = softmax_of(&c->logits, b.class_index);
            CHECK(fabs(b.score - p) <= 1e-5, "%s: score %.7g, softmax of logits.npy %.7g", what, b.score, p);
        }
        if (per_class && fx_json_at(per_class, k)) compare_box(&b, fx_json_at(per_class, k), what);
    }
}

static void test_model(const char *model) {
    char model_dir[256], path[512], label[256];
    fx_path(model_dir, sizeof model_dir, "%s/models/%s", FX_ROOT, model);
    char *manifest = fx_read_file(fx_path(path, sizeof path, "%s/manifest.json", model_dir), NULL);
    CHECK(manifest != NULL, "%s: cannot read %s", model, path);
    if (!manifest) return;
    int plain_cam = fx_json_bool(fx_json_path(manifest, "plain_cam.applicable"));
    CHECK(plain_cam >= 0, "%s: manifest plain_cam.applicable missing", model);
    int num_classes = 0;
    fx_json_int(fx_json_get(manifest, "num_classes"), &num_classes);

    cam_model *m = (cam_model *)0x1;
    cam_error *err = (cam_error *)0x1;
    cam_status st = cam_model_load(fx_path(path, sizeof path, "%s/model.onnx", model_dir), &m, &err);
    if (!ok_or_report(st, err, model)) { cam_error_free(err); free(manifest); return; }
    CHECK(m != NULL, "%s: CAM_OK with a NULL model", model);
    CHECK(cam_model_class_count(m) == num_classes, "%s: class count %d, manifest %d", model,
          cam_model_class_count(m), num_classes);

    const char *images = fx_json_get(manifest, "images");
    int n = fx_json_len(images);
    CHECK(n > 0, "%s: manifest lists no images", model);
    for (int i = 0; i < n; i++) {
        image_case c;
        if (!load_case(model_dir, fx_json_at(images, i), &c)) { free_case(&c); continue; }
        int s = (int)c.input.shape[2];
        int32_t iw = 0, ih = 0;
        CHECK(cam_model_input_size(m, &iw, &ih) == CAM_OK && iw == c.input.shape[3] && ih == s,
              "%s: input size %dx%d, tensor %dx%d", model, iw, ih, (int)c.input.shape[3], s);

        /* (a) Grad-CAM top-5. */
        cam_options o;
        cam_options_init(&o);
        o.method = CAM_METHOD_GRADCAM;
        o.top_k = 5;
        cam_result *r = (cam_result *)0x1;
        snprintf(label, sizeof label, "%s/%s gradcam top5", model, c.id);
        st = cam_localize_tensor(m, c.input.data, s, (int32_t)c.input.shape[3], &o, &r, &err);
        if (ok_or_report(st, err, label)) {
            int32_t w, h;
            CHECK(cam_result_map(r, 0, &w, &h) && w == c.input.shape[3] && h == s, "%s: map size %dx%d", label, w, h);
            compare_with_final(r, 0, c.dir, c.rec, "gradcam", "top1", label);
            check_top5(r, &c, "gradcam", label);
            compare_with_lowres(r, fx_path(path, sizeof path, "%s/gradcam_top5_lowres.npy", c.dir), s, 0, label);
            for (int k = 0; k < cam_result_count(r); k++) check_box_of_map(r, k, 0.2, label);
        } else {
            r = NULL;
        }
        cam_result_free(r);
        cam_error_free(err);

        /* (b) class 3. */
        o.class_index = 3;
        snprintf(label, sizeof label, "%s/%s gradcam c3", model, c.id);
        st = cam_localize_tensor(m, c.input.data, s, (int32_t)c.input.shape[3], &o, &r, &err);
        if (ok_or_report(st, err, label)) {
            CHECK(cam_result_count(r) == 1, "%s: count %d", label, cam_result_count(r));
            cam_box b;
            CHECK(cam_result_box(r, 0, &b) == CAM_OK && b.class_index == 3, "%s: class %d", label, b.class_index);
            double want;
            if (fx_json_number(fx_json_get(c.rec, "logit_c3"), &want))
                CHECK(logit_close(b.logit, want), "%s: logit %.7g, manifest %.7g", label, b.logit, want);
            compare_with_final(r, 0, c.dir, c.rec, "gradcam", "c3", label);
        } else {
            r = NULL;
        }
        cam_result_free(r);
        cam_error_free(err);

        /* (c) plain CAM. */
        cam_options_init(&o);
        o.method = CAM_METHOD_CAM;
        snprintf(label, sizeof label, "%s/%s cam top5", model, c.id);
        st = cam_localize_tensor(m, c.input.data, s, (int32_t)c.input.shape[3], &o, &r, &err);
        if (plain_cam == 1) {
            if (ok_or_report(st, err, label)) {
                compare_with_final(r, 0, c.dir, c.rec, "cam", "top1", label);
                check_top5(r, &c, "cam", label);
                compare_with_lowres(r, fx_path(path, sizeof path, "%s/cam_top5_lowres.npy", c.dir), s, 1, label);
            } else {
                r = NULL;
            }
            cam_result_free(r);
            cam_error_free(err);
            o.class_index = 3;
            snprintf(label, sizeof label, "%s/%s cam c3", model, c.id);
            st = cam_localize_tensor(m, c.input.data, s, (int32_t)c.input.shape[3], &o, &r, &err);
            if (ok_or_report(st, err, label)) compare_with_final(r, 0, c.dir, c.rec, "cam", "c3", label);
            else r = NULL;
        } else {
            CHECK(st == CAM_ERR_UNSUPPORTED, "%s: status %d (%s), want CAM_ERR_UNSUPPORTED", label, (int)st,
                  cam_status_string(st));
            CHECK(r == NULL, "%s: *out not NULL after a failure", label);
            CHECK(err != NULL && cam_error_status(err) == st, "%s: err missing or with another status", label);
            CHECK(err != NULL && cam_error_message(err)[0] != 0, "%s: empty message", label);
            if (st == CAM_OK) cam_result_free(r);
            r = NULL;
        }
        cam_result_free(r);
        cam_error_free(err);
        free_case(&c);
    }
    cam_model_free(m);
    free(manifest);
}

/* squeezenet1_1 at 224x224: Grad-CAM top-5 on each image; rank 0's map
 * against gradcam_top1.npy and the 5 boxes against boxes.json. */
static void test_squeezenet(void) {
    char model_dir[256], path[512];
    fx_path(model_dir, sizeof model_dir, "%s/models/squeezenet1_1", FX_ROOT);
    char *manifest = fx_read_file(fx_path(path, sizeof path, "%s/manifest.json", model_dir), NULL);
    if (!manifest) { printf("note: squeezenet1_1 not in the fixtures, skipped\n"); return; }
    double t0 = now_seconds();
    cam_model *m;
    cam_error *err;
    if (!ok_or_report(cam_model_load(fx_path(path, sizeof path, "%s/model.onnx", model_dir), &m, &err), err,
                      "squeezenet1_1 load")) {
        cam_error_free(err);
        free(manifest);
        return;
    }
    CHECK(cam_model_class_count(m) == 1000, "squeezenet1_1: class count %d", cam_model_class_count(m));
    const char *images = fx_json_get(manifest, "images");
    CHECK(fx_json_len(images) > 0, "squeezenet1_1: manifest lists no images");
    for (int i = 0; images && fx_json_at(images, i); i++) {
        image_case c;
        if (load_case(model_dir, fx_json_at(images, i), &c)) {
            char label[128];
            snprintf(label, sizeof label, "squeezenet1_1/%s gradcam top5", c.id);
            cam_options o;
            cam_options_init(&o);
            cam_result *r;
            cam_status st = cam_localize_tensor(m, c.input.data, (int32_t)c.input.shape[2], (int32_t)c.input.shape[3],
                                                &o, &r, &err);
            if (ok_or_report(st, err, label)) {
                compare_with_final(r, 0, c.dir, c.rec, "gradcam", "top1", label);
                check_top5(r, &c, "gradcam", label);
                cam_result_free(r);
            }
            cam_error_free(err);
        }
        free_case(&c);
    }
    cam_model_free(m);
    free(manifest);
    printf("squeezenet1_1: %.2f s\n", now_seconds() - t0);
}

/* ---- images ------------------------------------------------------------------------ */

static void test_image_load(void) {
    char path[512];
    char *json = fx_read_file(fx_path(path, sizeof path, "%s/images/images.json", FX_ROOT), NULL);
    CHECK(json != NULL, "cannot read %s", path);
    if (!json) return;
    const char *images = fx_json_get(json, "images");
    int count = 0;
    /* Walk the members of the "images" object: each key is an image id. */
    const char *p = fx_json_ws(images ? images + 1 : NULL);
    while (p && *p == '"') {
        const char *rec = fx_json_ws(fx_json_ws(fx_json_skip(p)) + 1);
        char file[256], sha[80];
        int w = 0, h = 0;
        if (fx_json_string(fx_json_get(rec, "file"), file, sizeof file) &&
            fx_json_string(fx_json_get(rec, "decoded_rgb_sha256"), sha, sizeof sha) &&
            fx_json_int(fx_json_get(rec, "width"), &w) && fx_json_int(fx_json_get(rec, "height"), &h)) {
            count++;
            cam_image img;
            memset(&img, 0x5A, sizeof img);
            cam_error *err;
            cam_status st = cam_image_load(fx_path(path, sizeof path, "%s/%s", FX_ROOT, file), &img, &err);
            if (ok_or_report(st, err, file)) {
                CHECK(img.width == w && img.height == h, "%s: %dx%d, images.json %dx%d", file, img.width,
                      img.height, w, h);
                CHECK(img.channels == 3, "%s: channels %d", file, img.channels);
                CHECK(img.row_bytes == img.width * 3, "%s: row_bytes %d", file, img.row_bytes);
                if (img.pixels && img.width == w && img.height == h && img.row_bytes == w * 3) {
                    char hex[65];
                    fx_sha256(img.pixels, (size_t)w * (size_t)h * 3, hex);
                    CHECK(strcmp(hex, sha) == 0, "%s: decoded SHA-256 %s, images.json %s", file, hex, sha);
                }
            }
            cam_error_free(err);
            cam_image_release(&img);
            CHECK(img.pixels == NULL && img.width == 0, "%s: cam_image_release did not zero the image", file);
        } else {
            CHECK(0, "images.json: unreadable record");
        }
        p = fx_json_ws(fx_json_skip(rec));
        if (!p || *p != ',') break;
        p = fx_json_ws(p + 1);
    }
    CHECK(count == 7, "images.json lists %d images, README says 7", count);
    free(json);
}

/* cam_localize on a decoded image with tiny_resnet: the same classes and logits
 * as the stored input tensor (the preprocessing is Pillow's, bit for bit), and
 * maps and boxes at the image's own size. */
static void test_localize_image(void) {
    char path[512], model_dir[256];
    fx_path(model_dir, sizeof model_dir, "%s/models/tiny_resnet", FX_ROOT);
    cam_model *m;
    cam_error *err;
    if (!ok_or_report(cam_model_load(fx_path(path, sizeof path, "%s/model.onnx", model_dir), &m, &err), err,
                      "tiny_resnet load")) {
        cam_error_free(err);
        return;
    }
    cam_image img;
    if (!ok_or_report(cam_image_load(FX_ROOT "/images/coffee_baseline.jpg", &img, &err), err, "coffee_baseline.jpg")) {
        cam_error_free(err);
        cam_model_free(m);
        return;
    }
    char *manifest = fx_read_file(fx_path(path, sizeof path, "%s/manifest.json", model_dir), NULL);
    const char *images = fx_json_get(manifest, "images");
    const char *rec = NULL;
    for (int i = 0; images && fx_json_at(images, i); i++) {
        char id[64];
        if (fx_json_string(fx_json_get(fx_json_at(images, i), "id"), id, sizeof id) && strcmp(id, "coffee_baseline") == 0)
            rec = fx_json_at(images, i);
    }
    CHECK(rec != NULL, "tiny_resnet manifest has no coffee_baseline");
    image_case c;
    memset(&c, 0, sizeof c);
    int have_case = rec && load_case(model_dir, rec, &c);

    cam_options o;
    cam_options_init(&o);
    cam_result *r, *rt = NULL;
    const char *label = "cam_localize tiny_resnet coffee_baseline.jpg";
    if (have_case) {
        cam_status st = cam_localize_tensor(m, c.input.data, 64, 64, &o, &rt, NULL);
        CHECK(st == CAM_OK, "%s: tensor path status %d", label, (int)st);
    }
    if (ok_or_report(cam_localize(m, &img, &o, &r, &err), err, label)) {
        int32_t w, h;
        const float *map = cam_result_map(r, 0, &w, &h);
        CHECK(map && w == img.width && h == img.height, "%s: map %dx%d, image %dx%d", label, w, h, img.width,
              img.height);
        CHECK(cam_result_count(r) == 5, "%s: count %d", label, cam_result_count(r));
        for (int k = 0; k < cam_result_count(r); k++) {
            cam_box b, bt;
            cam_result_box(r, k, &b);
            CHECK(b.x_min >= 0 && b.x_min <= b.x_max && b.x_max < img.width && b.y_min >= 0 && b.y_min <= b.y_max &&
                      b.y_max < img.height,
                  "%s rank %d: box [%d %d %d %d] outside %dx%d", label, k, b.x_min, b.y_min, b.x_max, b.y_max,
                  img.width, img.height);
            const float *mk = cam_result_map(r, k, &w, &h);
            if (mk) {
                float lo = mk[0], hi = mk[0];
                for (int64_t i = 0; i < (int64_t)w * h; i++) { lo = fminf(lo, mk[i]); hi = fmaxf(hi, mk[i]); }
                CHECK(lo >= 0 && hi <= 1 && hi > 0.5f, "%s rank %d: map range [%g, %g]", label, k, lo, hi);
            }
            if (have_case) {
                CHECK(b.class_index == c.top5[k], "%s rank %d: class %d, manifest %d", label, k, b.class_index,
                      c.top5[k]);
                CHECK(logit_close(b.logit, c.top5_logits[k]), "%s rank %d: logit %.7g, manifest %.7g", label, k,
                      b.logit, c.top5_logits[k]);
            }
            if (rt && cam_result_box(rt, k, &bt) == CAM_OK) {
                /* The same input tensor (the preprocessing is Pillow's, bit
                 * for bit): identical classes, logits and scores. */
                CHECK(b.class_index == bt.class_index && b.logit == bt.logit && b.score == bt.score,
                      "%s rank %d: class/logit/score differ from cam_localize_tensor on the stored input", label, k);
            }
            /* The box is the protocol's box of the returned, image-sized map. */
            if (mk) check_box_of_map(r, k, 0.2, label);
        }
        cam_result_free(r);
    }
    cam_error_free(err);
    cam_result_free(rt);
    free_case(&c);
    free(manifest);
    cam_image_release(&img);
    cam_model_free(m);
}

int main(void) {
    double t0 = now_seconds();
    CHECK(strcmp(cam_version_string(), CAM_VERSION_STRING) == 0, "library %s, header %s", cam_version_string(),
          CAM_VERSION_STRING);
    CHECK(cam_version_number() == CAM_VERSION_NUMBER, "version number %u", cam_version_number());
    for (int i = 0; i < FX_TINY_MODEL_COUNT; i++) test_model(fx_tiny_models[i]);
    test_squeezenet();
    test_image_load();
    test_localize_image();
    if (notes) printf("%d box(es) differ where boxes.json marks them unstable at 1e-3 (not failures)\n", notes);
    printf("time %.2f s\n", now_seconds() - t0);
    return check_report("test_cam_fixtures");
}
