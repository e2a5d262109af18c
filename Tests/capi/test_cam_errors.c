/* test_cam_errors.c: every entry point of cam.h with every kind of bad
 * argument, as a careless or hostile C caller would pass them.
 *
 * For each failing call: the exact cam_status; *out NULL (the image all
 * zeros) afterwards, even though the test fills it with garbage first; *err
 * set, cam_error_status(*err) equal to the returned status and a non-empty
 * message naming the problem (a key word such as "struct_size", "NULL",
 * "class" or the file's name); and the same call with err NULL returns the
 * same status. Successful calls must set *err to NULL.
 *
 * Option structs with a wrong struct_size are placed so that their first
 * four bytes end a readable page and a PROT_NONE page follows: the library
 * must refuse them before reading anything past struct_size. Images and
 * tensors that are too large for their buffer sit on such a page too: they
 * must be refused from their sizes, before any pixel is read.
 *
 * Corrupt files are written to a mkdtemp directory and removed at the end.
 * The program frees everything it gets, so it runs clean under ASan, UBSan
 * and LeakSanitizer (the Makefile builds it with -fsanitize=address,undefined;
 * libcam itself is not instrumented, but LSan sees its allocations).
 * Run from the repository root (fixtures at ../shared/fixtures). */
#define _DEFAULT_SOURCE   /* mkdtemp, MAP_ANONYMOUS */

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cam.h"
#include "../c/check.h"
#include "fixture_io.h"

#define MODEL_PATH FX_ROOT "/models/tiny_resnet/model.onnx"
#define INPUT_PATH FX_ROOT "/inputs/coffee_baseline_64x64.npy"
#define PNG_PATH FX_ROOT "/images/chelsea_rgba.png"
#define JPEG_PATH FX_ROOT "/images/coffee_baseline.jpg"

#define BAD_MODEL ((cam_model *)(uintptr_t)0x1)
#define BAD_RESULT ((cam_result *)(uintptr_t)0x1)
#define BAD_ERROR ((cam_error *)(uintptr_t)0x1)

static char tmpdir[256];
static int verbose;           /* CAMKIT_TEST_VERBOSE=1: print every error message */
static cam_model *model;      /* tiny_resnet, 10 classes, 3x64x64 */
static fx_npy input;          /* its input tensor for coffee_baseline */

/* ---- helpers ---------------------------------------------------------------- */

static int contains_nocase(const char *hay, const char *needle) {
    if (!needle || !*needle) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (!needle[i]) return 1;
    }
    return 0;
}

/* Checks a failure's status and error, then frees the error. */
static void check_failure(const char *what, cam_status got, cam_status want, cam_error *err, const char *keyword) {
    CHECK(got == want, "%s: status %d (%s), want %d (%s)", what, (int)got, cam_status_string(got), (int)want,
          cam_status_string(want));
    CHECK(err != BAD_ERROR, "%s: *err was not written", what);
    if (err == BAD_ERROR) return;
    CHECK(err != NULL, "%s: status %d but *err is NULL", what, (int)got);
    if (!err) return;
    CHECK(cam_error_status(err) == got, "%s: cam_error_status %d, returned %d", what, (int)cam_error_status(err),
          (int)got);
    const char *msg = cam_error_message(err);
    if (verbose) printf("%-50s %-14s %s\n", what, cam_status_string(got), msg ? msg : "(NULL)");
    CHECK(msg != NULL && msg[0] != 0, "%s: empty message", what);
    if (msg) {
        CHECK(contains_nocase(msg, keyword), "%s: message \"%s\" does not mention \"%s\"", what, msg, keyword);
        CHECK(strchr(msg, '\n') == NULL, "%s: message is not one line: \"%s\"", what, msg);
    }
    cam_error_free(err);
}

/* Checks a success: CAM_OK and *err set to NULL. */
static int check_success(const char *what, cam_status got, cam_error *err) {
    CHECK(got == CAM_OK, "%s: status %d (%s): %s", what, (int)got, cam_status_string(got),
          err && err != BAD_ERROR ? cam_error_message(err) : "");
    CHECK(err == NULL, "%s: CAM_OK but *err is %p", what, (void *)err);
    if (err && err != BAD_ERROR) cam_error_free(err);
    return got == CAM_OK;
}

/* A readable page followed by a PROT_NONE page; guarded_tail(n) is the
 * address n bytes before the end of the readable page. */
static unsigned char *guard_pages;
static long page_size;

static void *guarded_tail(size_t n) {
    memset(guard_pages, 0, (size_t)page_size);
    return guard_pages + page_size - n;
}

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    return fx_path(p, 512, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size)) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
    fclose(f);
}

/* ---- model loading -------------------------------------------------------------- */

/* Loads with cam_model_load_with_options (and cam_model_load when opts is
 * NULL), with err and without, expecting `want`. */
static void expect_load(const char *what, const char *path, const cam_model_options *opts, cam_status want,
                        const char *keyword) {
    for (int variant = 0; variant < (opts ? 1 : 2); variant++) {
        char label[512];
        snprintf(label, sizeof label, "%s (%s)", what, variant ? "cam_model_load" : "cam_model_load_with_options");
        cam_model *m = BAD_MODEL;
        cam_error *err = BAD_ERROR;
        cam_status st = variant ? cam_model_load(path, &m, &err) : cam_model_load_with_options(path, opts, &m, &err);
        if (want == CAM_OK) {
            check_success(label, st, err);
            CHECK(m != NULL && m != BAD_MODEL, "%s: no model", label);
        } else {
            check_failure(label, st, want, err, keyword);
            CHECK(m == NULL, "%s: *out is %p after a failure", label, (void *)m);
        }
        if (m != BAD_MODEL) cam_model_free(m);
        m = BAD_MODEL;
        st = variant ? cam_model_load(path, &m, NULL) : cam_model_load_with_options(path, opts, &m, NULL);
        CHECK(st == want, "%s, err NULL: status %d, want %d", label, (int)st, (int)want);
        CHECK(want == CAM_OK ? m != NULL && m != BAD_MODEL : m == NULL, "%s, err NULL: *out %p", label, (void *)m);
        if (m != BAD_MODEL) cam_model_free(m);
    }
}

static void test_model_load(void) {
    /* NULL arguments. */
    expect_load("onnx_path NULL", NULL, NULL, CAM_ERR_ARGUMENT, "NULL");
    cam_error *err = BAD_ERROR;
    cam_status st = cam_model_load(MODEL_PATH, NULL, &err);
    check_failure("cam_model_load out NULL", st, CAM_ERR_ARGUMENT, err, "out");
    err = BAD_ERROR;
    st = cam_model_load_with_options(MODEL_PATH, NULL, NULL, &err);
    check_failure("cam_model_load_with_options out NULL", st, CAM_ERR_ARGUMENT, err, "out");
    CHECK(cam_model_load(NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "cam_model_load(NULL, NULL, NULL)");
    CHECK(cam_model_load_with_options(NULL, NULL, NULL, NULL) == CAM_ERR_ARGUMENT,
          "cam_model_load_with_options(NULL, NULL, NULL, NULL)");
    expect_load("valid model, opts NULL", MODEL_PATH, NULL, CAM_OK, NULL);

    /* Files that are not models. */
    expect_load("missing file", tmp_path("missing.onnx"), NULL, CAM_ERR_IO, "missing.onnx");
    expect_load("directory", tmpdir, NULL, CAM_ERR_IO, strrchr(tmpdir, '/') + 1);

    unsigned char random_bytes[4096];
    check_seed(42);
    for (size_t i = 0; i < sizeof random_bytes; i++) random_bytes[i] = (unsigned char)check_next();
    write_file(tmp_path("random.onnx"), random_bytes, sizeof random_bytes);
    expect_load("random bytes", tmp_path("random.onnx"), NULL, CAM_ERR_FORMAT, "random.onnx");

    write_file(tmp_path("empty.onnx"), "", 0);
    expect_load("empty file", tmp_path("empty.onnx"), NULL, CAM_ERR_FORMAT, "empty.onnx");

    size_t onnx_size = 0, size = 0;
    char *onnx = fx_read_file(MODEL_PATH, &onnx_size);
    CHECK(onnx != NULL, "cannot read %s", MODEL_PATH);
    if (!onnx) return;
    write_file(tmp_path("truncated.onnx"), onnx, onnx_size / 2);
    expect_load("truncated model (half)", tmp_path("truncated.onnx"), NULL, CAM_ERR_FORMAT, "truncated.onnx");
    write_file(tmp_path("truncated_end.onnx"), onnx, onnx_size - 3);
    expect_load("truncated model (3 bytes short)", tmp_path("truncated_end.onnx"), NULL, CAM_ERR_FORMAT,
                "truncated_end.onnx");
    char *png = fx_read_file(PNG_PATH, &size);
    if (png) {
        write_file(tmp_path("image.onnx"), png, size);
        expect_load("a PNG named .onnx", tmp_path("image.onnx"), NULL, CAM_ERR_FORMAT, "image.onnx");
        free(png);
    }

    /* An op camkit does not run: the first Relu node's op_type ("\x22\x04Relu",
     * field 4 of NodeProto) renamed to Celu, a real ONNX op of the same length. */
    char *p = NULL;
    for (size_t i = 0; i + 6 <= onnx_size; i++)
        if (memcmp(onnx + i, "\x22\x04Relu", 6) == 0) { p = onnx + i; break; }
    if (p) {
        memcpy(p + 2, "Celu", 4);
        write_file(tmp_path("celu.onnx"), onnx, onnx_size);
        expect_load("unsupported op Celu", tmp_path("celu.onnx"), NULL, CAM_ERR_UNSUPPORTED, "Celu");
    } else {
        printf("note: no Relu op_type found in %s; the unsupported-op case is skipped\n", MODEL_PATH);
    }
    free(onnx);
}

/* ---- model options ------------------------------------------------------------------ */

static void test_model_options(void) {
    cam_model_options o;
    cam_model_options_init(&o);
    CHECK(o.struct_size == sizeof o, "cam_model_options_init: struct_size %u", o.struct_size);
    CHECK(o.input_width == 0 && o.input_height == 0 && o.resize == CAM_RESIZE_STRETCH && o.threads == 0,
          "cam_model_options_init: defaults");
    CHECK(o.max_model_bytes == 0 && o.max_nodes == 0 && o.max_tensor_elements == 0 && o.max_image_pixels == 0,
          "cam_model_options_init: limits 0 (the defaults)");
    CHECK(fabsf(o.mean[0] - 0.485f) < 1e-6f && fabsf(o.std[2] - 0.225f) < 1e-6f, "cam_model_options_init: mean/std");
    cam_model_options_init(NULL); /* no-op */

    expect_load("model options defaults", MODEL_PATH, &o, CAM_OK, NULL);
    o.input_width = o.input_height = 64;
    expect_load("model options 64x64 (the model's)", MODEL_PATH, &o, CAM_OK, NULL);

    /* struct_size: refused before anything after it is read. offsetof(max_nodes)
     * is the size before the limits were added: an old caller's struct. */
    const uint32_t sizes[] = {0, (uint32_t)sizeof o - 4, (uint32_t)sizeof o + 4, 0xFFFFFFFFu, 1u << 20,
                              (uint32_t)offsetof(cam_model_options, max_nodes)};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t *tail = guarded_tail(4);
        *tail = sizes[i];
        char what[96];
        snprintf(what, sizeof what, "cam_model_options.struct_size %u", sizes[i]);
        expect_load(what, MODEL_PATH, (const cam_model_options *)(void *)tail, CAM_ERR_ARGUMENT, "struct_size");
    }

    struct { const char *what; int32_t w, h; cam_status want; const char *keyword; } sizes2[] = {
        {"input size 32x32 on a 64x64 model", 32, 32, CAM_ERR_ARGUMENT, "64"},
        {"input size 64x63 on a 64x64 model", 64, 63, CAM_ERR_ARGUMENT, "63"},
        {"input size -1x64", -1, 64, CAM_ERR_ARGUMENT, "size"},
        {"input size 64x0", 64, 0, CAM_ERR_ARGUMENT, "size"},
        {"input size 40000x40000", 40000, 40000, CAM_ERR_ARGUMENT, "size"},
        {"input size INT32_MIN", INT32_MIN, INT32_MIN, CAM_ERR_ARGUMENT, "size"},
    };
    for (size_t i = 0; i < sizeof sizes2 / sizeof sizes2[0]; i++) {
        cam_model_options_init(&o);
        o.input_width = sizes2[i].w;
        o.input_height = sizes2[i].h;
        expect_load(sizes2[i].what, MODEL_PATH, &o, sizes2[i].want, sizes2[i].keyword);
    }

    cam_model_options_init(&o); o.std[1] = 0;
    expect_load("std 0", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "std");
    cam_model_options_init(&o); o.std[0] = NAN;
    expect_load("std NaN", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "std");
    cam_model_options_init(&o); o.std[2] = INFINITY;
    expect_load("std Inf", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "std");
    cam_model_options_init(&o); o.mean[2] = NAN;
    expect_load("mean NaN", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "mean");
    cam_model_options_init(&o); o.mean[0] = -INFINITY;
    expect_load("mean -Inf", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "mean");
    cam_model_options_init(&o); o.resize = (cam_resize)7;
    expect_load("resize 7", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "resize");
    cam_model_options_init(&o); o.resize = (cam_resize)-1;
    expect_load("resize -1", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "resize");
    cam_model_options_init(&o); o.threads = -1;
    expect_load("threads -1", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "threads");
    cam_model_options_init(&o); o.threads = 1025;
    expect_load("threads 1025", MODEL_PATH, &o, CAM_ERR_ARGUMENT, "threads");
    /* A bad option on a missing file: either complaint is fine, but it must fail. */
    cam_model_options_init(&o); o.threads = -1;
    cam_model *m = BAD_MODEL;
    cam_status st = cam_model_load_with_options(tmp_path("missing.onnx"), &o, &m, NULL);
    CHECK(st == CAM_ERR_ARGUMENT || st == CAM_ERR_IO, "bad options + missing file: status %d", (int)st);
    CHECK(m == NULL, "bad options + missing file: *out not NULL");
}

/* ---- model queries ----------------------------------------------------------------- */

static void test_model_queries(void) {
    int32_t w = -7, h = -7;
    CHECK(cam_model_input_size(model, &w, &h) == CAM_OK && w == 64 && h == 64, "input size %dx%d", w, h);
    CHECK(cam_model_input_size(NULL, &w, &h) == CAM_ERR_ARGUMENT, "cam_model_input_size(NULL model)");
    CHECK(cam_model_input_size(model, NULL, &h) == CAM_ERR_ARGUMENT, "cam_model_input_size(width NULL)");
    CHECK(cam_model_input_size(model, &w, NULL) == CAM_ERR_ARGUMENT, "cam_model_input_size(height NULL)");
    CHECK(cam_model_input_size(NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "cam_model_input_size(NULL, NULL, NULL)");
    CHECK(cam_model_class_count(model) == 10, "class count %d", cam_model_class_count(model));
    CHECK(cam_model_class_count(NULL) == -1, "cam_model_class_count(NULL) = %d", cam_model_class_count(NULL));
    cam_model_free(NULL);
}

/* ---- localization ------------------------------------------------------------------ */

/* cam_localize_tensor with err and without, expecting `want`. */
static void expect_tensor(const char *what, const cam_model *m, const float *data, int32_t h, int32_t w,
                          const cam_options *opts, cam_status want, const char *keyword) {
    cam_result *r = BAD_RESULT;
    cam_error *err = BAD_ERROR;
    cam_status st = cam_localize_tensor(m, data, h, w, opts, &r, &err);
    if (want == CAM_OK) {
        check_success(what, st, err);
        CHECK(r != NULL && r != BAD_RESULT, "%s: no result", what);
    } else {
        check_failure(what, st, want, err, keyword);
        CHECK(r == NULL, "%s: *out %p after a failure", what, (void *)r);
    }
    if (r != BAD_RESULT) cam_result_free(r);
    r = BAD_RESULT;
    st = cam_localize_tensor(m, data, h, w, opts, &r, NULL);
    CHECK(st == want, "%s, err NULL: status %d, want %d", what, (int)st, (int)want);
    CHECK(want == CAM_OK ? r != NULL && r != BAD_RESULT : r == NULL, "%s, err NULL: *out %p", what, (void *)r);
    if (r != BAD_RESULT) cam_result_free(r);
}

/* cam_localize with err and without, expecting `want`. */
static void expect_image(const char *what, const cam_model *m, const cam_image *img, const cam_options *opts,
                         cam_status want, const char *keyword) {
    cam_result *r = BAD_RESULT;
    cam_error *err = BAD_ERROR;
    cam_status st = cam_localize(m, img, opts, &r, &err);
    if (want == CAM_OK) {
        check_success(what, st, err);
        CHECK(r != NULL && r != BAD_RESULT, "%s: no result", what);
    } else {
        check_failure(what, st, want, err, keyword);
        CHECK(r == NULL, "%s: *out %p after a failure", what, (void *)r);
    }
    if (r != BAD_RESULT) cam_result_free(r);
    r = BAD_RESULT;
    st = cam_localize(m, img, opts, &r, NULL);
    CHECK(st == want, "%s, err NULL: status %d, want %d", what, (int)st, (int)want);
    CHECK(want == CAM_OK ? r != NULL && r != BAD_RESULT : r == NULL, "%s, err NULL: *out %p", what, (void *)r);
    if (r != BAD_RESULT) cam_result_free(r);
}

/* ---- limits ------------------------------------------------------------------------ */

/* tiny_resnet as stored: 22 nodes, and its largest tensor is layer3's
 * 64x64x3x3 weight (its activations are at most 16x32x32). */
#define MODEL_NODES 22
#define MODEL_LARGEST_TENSOR (64 * 64 * 3 * 3)

static void test_model_limits(void) {
    cam_model_options o;
    struct stat st;
    CHECK(stat(MODEL_PATH, &st) == 0, "cannot stat %s", MODEL_PATH);
    const int64_t model_bytes = (int64_t)st.st_size;

    /* Just under what the model needs: CAM_ERR_MEMORY naming the field; exactly that: loads. */
    cam_model_options_init(&o); o.max_model_bytes = model_bytes - 1;
    expect_load("max_model_bytes one under the file", MODEL_PATH, &o, CAM_ERR_MEMORY, "max_model_bytes");
    o.max_model_bytes = model_bytes;
    expect_load("max_model_bytes = the file's size", MODEL_PATH, &o, CAM_OK, NULL);
    cam_model_options_init(&o); o.max_nodes = MODEL_NODES - 1;
    expect_load("max_nodes one under the model's", MODEL_PATH, &o, CAM_ERR_MEMORY, "max_nodes");
    o.max_nodes = MODEL_NODES;
    expect_load("max_nodes = the model's", MODEL_PATH, &o, CAM_OK, NULL);
    cam_model_options_init(&o); o.max_tensor_elements = MODEL_LARGEST_TENSOR - 1;
    expect_load("max_tensor_elements one under the largest weight", MODEL_PATH, &o, CAM_ERR_MEMORY, "max_tensor_elements");
    o.max_tensor_elements = MODEL_LARGEST_TENSOR;
    expect_load("max_tensor_elements = the largest weight", MODEL_PATH, &o, CAM_OK, NULL);

    /* Negative, or over the maximum: refused as arguments, not clamped. At the maximum: loads. */
    struct { const char *what; int field; int64_t value; cam_status want; const char *keyword; } cases[] = {
        {"max_model_bytes -1", 0, -1, CAM_ERR_ARGUMENT, "max_model_bytes"},
        {"max_model_bytes INT64_MIN", 0, INT64_MIN, CAM_ERR_ARGUMENT, "max_model_bytes"},
        {"max_model_bytes INT64_MAX (no maximum)", 0, INT64_MAX, CAM_OK, NULL},
        {"max_nodes -1", 1, -1, CAM_ERR_ARGUMENT, "max_nodes"},
        {"max_nodes INT32_MIN", 1, INT32_MIN, CAM_ERR_ARGUMENT, "max_nodes"},
        {"max_nodes INT32_MAX", 1, INT32_MAX, CAM_OK, NULL},
        {"max_tensor_elements -1", 2, -1, CAM_ERR_ARGUMENT, "max_tensor_elements"},
        {"max_tensor_elements 2^31 - 1 (over the maximum)", 2, INT32_MAX, CAM_ERR_ARGUMENT, "max_tensor_elements"},
        {"max_tensor_elements INT64_MAX", 2, INT64_MAX, CAM_ERR_ARGUMENT, "max_tensor_elements"},
        {"max_tensor_elements 2^31 - 2 (the maximum)", 2, INT32_MAX - 1, CAM_OK, NULL},
        {"max_image_pixels -5", 3, -5, CAM_ERR_ARGUMENT, "max_image_pixels"},
        {"max_image_pixels 715827883 (over the maximum)", 3, 715827883, CAM_ERR_ARGUMENT, "max_image_pixels"},
        {"max_image_pixels 715827882 (the maximum)", 3, 715827882, CAM_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cam_model_options_init(&o);
        switch (cases[i].field) {
        case 0: o.max_model_bytes = cases[i].value; break;
        case 1: o.max_nodes = (int32_t)cases[i].value; break;
        case 2: o.max_tensor_elements = cases[i].value; break;
        default: o.max_image_pixels = cases[i].value; break;
        }
        expect_load(cases[i].what, MODEL_PATH, &o, cases[i].want, cases[i].keyword);
    }

    /* max_image_pixels holds for every cam_image given to cam_localize, checked
     * from its sizes before any pixel is read (the 17x12 one ends at a PROT_NONE
     * page); max_tensor_elements for cam_localize_tensor's input. */
    cam_model_options_init(&o);
    o.max_image_pixels = 16 * 12;
    o.max_tensor_elements = MODEL_LARGEST_TENSOR;
    cam_model *m = NULL;
    cam_error *err = BAD_ERROR;
    if (!check_success("load with max_image_pixels 192", cam_model_load_with_options(MODEL_PATH, &o, &m, &err), err))
        return;
    static uint8_t px[16 * 12 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 29);
    cam_image img = {px, 16, 12, 3, 48};
    expect_image("16x12 image at max_image_pixels 192", m, &img, NULL, CAM_OK, NULL);
    img = (cam_image){guarded_tail(16), 17, 12, 3, 51};
    expect_image("17x12 image over max_image_pixels 192", m, &img, NULL, CAM_ERR_MEMORY, "max_image_pixels");
    img = (cam_image){guarded_tail(16), 1, 193, 1, 1};
    expect_image("1x193 gray image over max_image_pixels 192", m, &img, NULL, CAM_ERR_MEMORY, "max_image_pixels");
    expect_tensor("3x64x64 tensor under max_tensor_elements", m, input.data, 64, 64, NULL, CAM_OK, NULL);
    expect_tensor("3x111x111 tensor over max_tensor_elements", m, guarded_tail(16), 111, 111, NULL, CAM_ERR_MEMORY,
                  "max_tensor_elements");
    cam_model_free(m);

    /* cam_image_load keeps its own default whatever a model's limit. */
    cam_image loaded;
    err = BAD_ERROR;
    if (check_success("cam_image_load beside a model with max_image_pixels 192", cam_image_load(JPEG_PATH, &loaded, &err), err))
        CHECK((int64_t)loaded.width * loaded.height > 192, "the JPEG is %dx%d", loaded.width, loaded.height);
    cam_image_release(&loaded);
}

/* Every bad cam_options, through cam_localize_tensor and cam_localize. */
static void test_options(const cam_image *img) {
    cam_options o;
    memset(&o, 0x77, sizeof o);
    cam_options_init(&o);
    CHECK(o.struct_size == sizeof o && o.method == CAM_METHOD_GRADCAM && o.top_k == 5 && o.class_index == -1 &&
              fabsf(o.threshold - 0.2f) < 1e-7f && o.target_layer == NULL,
          "cam_options_init: defaults");
    cam_options_init(NULL); /* no-op */
    const float *x = input.data;
    expect_tensor("opts NULL (defaults)", model, x, 64, 64, NULL, CAM_OK, NULL);
    expect_image("cam_localize opts NULL (defaults)", model, img, NULL, CAM_OK, NULL);

    const uint32_t sizes[] = {0, (uint32_t)sizeof o - 4, (uint32_t)sizeof o + 4, 0xFFFFFFFFu, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t *tail = guarded_tail(4);
        *tail = sizes[i];
        char what[96];
        snprintf(what, sizeof what, "cam_options.struct_size %u", sizes[i]);
        expect_tensor(what, model, x, 64, 64, (const cam_options *)(void *)tail, CAM_ERR_ARGUMENT, "struct_size");
        snprintf(what, sizeof what, "cam_localize cam_options.struct_size %u", sizes[i]);
        expect_image(what, model, img, (const cam_options *)(void *)tail, CAM_ERR_ARGUMENT, "struct_size");
    }

    const int methods[] = {9, 1000, -1};
    for (size_t i = 0; i < 3; i++) {
        cam_options_init(&o);
        o.method = (cam_method)methods[i];
        char what[64];
        snprintf(what, sizeof what, "method %d", methods[i]);
        expect_tensor(what, model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "method");
        expect_image(what, model, img, &o, CAM_ERR_ARGUMENT, "method");
    }

    cam_options_init(&o); o.top_k = 0;
    expect_tensor("top_k 0", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "top_k");
    cam_options_init(&o); o.top_k = -3;
    expect_tensor("top_k -3", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "top_k");
    cam_options_init(&o); o.top_k = INT32_MIN;
    expect_image("top_k INT32_MIN", model, img, &o, CAM_ERR_ARGUMENT, "top_k");
    cam_options_init(&o); o.top_k = 1000; /* more than the 10 classes: all of them */
    cam_result *r = NULL;
    CHECK(cam_localize_tensor(model, x, 64, 64, &o, &r, NULL) == CAM_OK && cam_result_count(r) == 10,
          "top_k 1000 on 10 classes: count %d", cam_result_count(r));
    cam_result_free(r);
    cam_options_init(&o); o.top_k = 0; o.class_index = 2; /* top_k ignored */
    expect_tensor("class_index 2 with top_k 0", model, x, 64, 64, &o, CAM_OK, NULL);

    cam_options_init(&o); o.class_index = 10;
    expect_tensor("class_index 10 of 10", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "class");
    expect_image("class_index 10 of 10", model, img, &o, CAM_ERR_ARGUMENT, "class");
    cam_options_init(&o); o.class_index = INT32_MAX;
    expect_tensor("class_index INT32_MAX", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "class");
    cam_options_init(&o); o.class_index = -2;
    expect_tensor("class_index -2", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "class_index");
    cam_options_init(&o); o.class_index = INT32_MIN;
    expect_tensor("class_index INT32_MIN", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "class_index");
    cam_options_init(&o); o.class_index = 9; o.method = CAM_METHOD_CAM;
    expect_tensor("class_index 9 plain CAM", model, x, 64, 64, &o, CAM_OK, NULL);

    const float thresholds[] = {0.0f, 1.0f, NAN, -0.5f, 1.5f, INFINITY, -INFINITY, -0.0f};
    for (size_t i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++) {
        cam_options_init(&o);
        o.threshold = thresholds[i];
        char what[64];
        snprintf(what, sizeof what, "threshold %g", (double)thresholds[i]);
        expect_tensor(what, model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "threshold");
        if (i < 3) expect_image(what, model, img, &o, CAM_ERR_ARGUMENT, "threshold");
    }

    cam_options_init(&o); o.target_layer = "no_such_layer";
    expect_tensor("unknown target_layer", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "no_such_layer");
    expect_image("unknown target_layer", model, img, &o, CAM_ERR_ARGUMENT, "no_such_layer");
    cam_options_init(&o); o.target_layer = "";
    expect_tensor("empty target_layer", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "target");
    cam_options_init(&o); o.target_layer = "logits";
    expect_tensor("target_layer logits (not spatial)", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "logits");
    cam_options_init(&o); o.target_layer = "input";
    expect_tensor("target_layer input (the graph input)", model, x, 64, 64, &o, CAM_ERR_ARGUMENT, "input");
    cam_options_init(&o); o.target_layer = "/layer3/relu_1/Relu_output_0";
    expect_tensor("the fixture's target_layer by name", model, x, 64, 64, &o, CAM_OK, NULL);
}

static void test_localize_tensor(void) {
    const float *x = input.data;
    cam_error *err = BAD_ERROR;
    cam_status st = cam_localize_tensor(model, x, 64, 64, NULL, NULL, &err);
    check_failure("cam_localize_tensor out NULL", st, CAM_ERR_ARGUMENT, err, "out");
    CHECK(cam_localize_tensor(model, x, 64, 64, NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "out NULL, err NULL");
    CHECK(cam_localize_tensor(NULL, NULL, 0, 0, NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "everything NULL");
    expect_tensor("model NULL", NULL, x, 64, 64, NULL, CAM_ERR_ARGUMENT, "NULL");
    expect_tensor("nchw NULL", model, NULL, 64, 64, NULL, CAM_ERR_ARGUMENT, "NULL");

    struct { int32_t h, w; } bad[] = {{0, 64}, {64, 0}, {0, 0}, {-1, 64}, {64, -64}, {INT32_MIN, INT32_MIN}, {40000, 64}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "tensor %dx%d (h x w)", bad[i].h, bad[i].w);
        expect_tensor(what, model, x, bad[i].h, bad[i].w, NULL, CAM_ERR_ARGUMENT, "size");
    }
    /* Sizes that do not fit the 64x64 model (the buffer is big enough for them). */
    float *big = check_zeros(3 * 65 * 65);
    memcpy(big, x, sizeof(float) * 3 * 64 * 64);
    expect_tensor("tensor 64x65 on a 64x64 model", model, big, 64, 65, NULL, CAM_ERR_ARGUMENT, "64");
    expect_tensor("tensor 65x64 on a 64x64 model", model, big, 65, 64, NULL, CAM_ERR_ARGUMENT, "64");
    expect_tensor("tensor 32x32 on a 64x64 model", model, big, 32, 32, NULL, CAM_ERR_ARGUMENT, "64");
    free(big);
    /* Over the element limit: refused from the sizes, before reading the 4-float buffer. */
    const float *tiny = guarded_tail(4 * sizeof(float));
    expect_tensor("tensor 32768x32768 with a tiny buffer", model, tiny, 32768, 32768, NULL, CAM_ERR_MEMORY, "limit");
    expect_tensor("tensor 20000x20000 with a tiny buffer", model, tiny, 20000, 20000, NULL, CAM_ERR_MEMORY, "limit");

    float *bad_values = malloc(sizeof(float) * 3 * 64 * 64);
    memcpy(bad_values, x, sizeof(float) * 3 * 64 * 64);
    bad_values[1 * 64 * 64 + 17 * 64 + 5] = NAN;
    expect_tensor("NaN in the tensor", model, bad_values, 64, 64, NULL, CAM_ERR_FORMAT, "NaN");
    bad_values[1 * 64 * 64 + 17 * 64 + 5] = INFINITY;
    expect_tensor("Inf in the tensor", model, bad_values, 64, 64, NULL, CAM_ERR_FORMAT, "Inf");
    bad_values[1 * 64 * 64 + 17 * 64 + 5] = -INFINITY;
    expect_tensor("-Inf in the tensor", model, bad_values, 64, 64, NULL, CAM_ERR_FORMAT, "Inf");
    free(bad_values);
}

static void test_localize_image(const cam_image *good) {
    cam_error *err = BAD_ERROR;
    cam_status st = cam_localize(model, good, NULL, NULL, &err);
    check_failure("cam_localize out NULL", st, CAM_ERR_ARGUMENT, err, "out");
    CHECK(cam_localize(model, good, NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "cam_localize out NULL, err NULL");
    CHECK(cam_localize(NULL, NULL, NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "cam_localize everything NULL");
    expect_image("cam_localize model NULL", NULL, good, NULL, CAM_ERR_ARGUMENT, "NULL");
    expect_image("cam_localize image NULL", model, NULL, NULL, CAM_ERR_ARGUMENT, "NULL");

    /* A small valid image in every layout, to show the checks are not too strict. */
    static uint8_t px[16 * 12 * 4 + 64];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37);
    cam_image img = {px, 16, 12, 3, 48};
    expect_image("16x12 RGB", model, &img, NULL, CAM_OK, NULL);
    img.channels = 1; img.row_bytes = 20; /* padded rows */
    expect_image("16x12 gray, padded rows", model, &img, NULL, CAM_OK, NULL);
    img.channels = 4; img.row_bytes = 64;
    expect_image("16x12 RGBA", model, &img, NULL, CAM_OK, NULL);
    cam_image one = {px, 1, 1, 3, 3};
    expect_image("1x1 RGB", model, &one, NULL, CAM_OK, NULL);

    cam_image b;
    b = (cam_image){NULL, 16, 12, 3, 48};
    expect_image("image pixels NULL", model, &b, NULL, CAM_ERR_ARGUMENT, "pixels");
    b = (cam_image){px, 0, 12, 3, 48};
    expect_image("image width 0", model, &b, NULL, CAM_ERR_ARGUMENT, "size");
    b = (cam_image){px, 16, 0, 3, 48};
    expect_image("image height 0", model, &b, NULL, CAM_ERR_ARGUMENT, "size");
    b = (cam_image){px, -16, 12, 3, 48};
    expect_image("image width -16", model, &b, NULL, CAM_ERR_ARGUMENT, "size");
    b = (cam_image){px, 16, INT32_MIN, 3, 48};
    expect_image("image height INT32_MIN", model, &b, NULL, CAM_ERR_ARGUMENT, "size");
    const int32_t channels[] = {2, 5, 0, -3};
    for (size_t i = 0; i < 4; i++) {
        b = (cam_image){px, 4, 4, channels[i], 64};
        char what[64];
        snprintf(what, sizeof what, "image channels %d", channels[i]);
        expect_image(what, model, &b, NULL, CAM_ERR_ARGUMENT, "channels");
    }
    b = (cam_image){px, 16, 12, 3, 47};
    expect_image("image row_bytes 47 < 16 x 3", model, &b, NULL, CAM_ERR_ARGUMENT, "row_bytes");
    b = (cam_image){px, 16, 12, 4, 48};
    expect_image("image row_bytes 48 < 16 x 4", model, &b, NULL, CAM_ERR_ARGUMENT, "row_bytes");
    b = (cam_image){px, 16, 12, 3, -48};
    expect_image("image row_bytes -48", model, &b, NULL, CAM_ERR_ARGUMENT, "row_bytes");
    b = (cam_image){px, 16, 12, 3, 0};
    expect_image("image row_bytes 0", model, &b, NULL, CAM_ERR_ARGUMENT, "row_bytes");

    /* Absurd sizes with a 16-byte buffer that ends at a PROT_NONE page: refused
     * from the header fields alone. */
    const uint8_t *tiny = guarded_tail(16);
    b = (cam_image){tiny, 100000, 100000, 3, 300000};
    expect_image("image 100000x100000 with a tiny buffer", model, &b, NULL, CAM_ERR_MEMORY, "limit");
    b = (cam_image){tiny, INT32_MAX, INT32_MAX, 4, INT32_MAX};
    expect_image("image INT32_MAX x INT32_MAX (row_bytes too small)", model, &b, NULL, CAM_ERR_ARGUMENT, "row_bytes");
    b = (cam_image){tiny, 700000, 200, 3, 2100000};
    expect_image("image 700000x200 with a tiny buffer", model, &b, NULL, CAM_ERR_MEMORY, "limit");
}

/* ---- results ----------------------------------------------------------------------- */

static void test_results(void) {
    cam_options o;
    cam_options_init(&o);
    cam_result *r = NULL;
    cam_error *err = BAD_ERROR;
    if (!check_success("top-5 result", cam_localize_tensor(model, input.data, 64, 64, &o, &r, &err), err)) return;
    int32_t n = cam_result_count(r);
    CHECK(n == 5, "count %d", n);
    CHECK(cam_result_count(NULL) == 0, "cam_result_count(NULL)");

    cam_box b, untouched;
    memset(&b, 0x3C, sizeof b);
    memcpy(&untouched, &b, sizeof b);
    CHECK(cam_result_box(r, -1, &b) == CAM_ERR_ARGUMENT, "cam_result_box(-1)");
    CHECK(cam_result_box(r, n, &b) == CAM_ERR_ARGUMENT, "cam_result_box(count)");
    CHECK(cam_result_box(r, INT32_MAX, &b) == CAM_ERR_ARGUMENT, "cam_result_box(INT32_MAX)");
    CHECK(cam_result_box(r, INT32_MIN, &b) == CAM_ERR_ARGUMENT, "cam_result_box(INT32_MIN)");
    CHECK(memcmp(&b, &untouched, sizeof b) == 0, "cam_result_box wrote *out on a failure");
    CHECK(cam_result_box(NULL, 0, &b) == CAM_ERR_ARGUMENT, "cam_result_box(NULL result)");
    CHECK(cam_result_box(r, 0, NULL) == CAM_ERR_ARGUMENT, "cam_result_box(out NULL)");
    CHECK(cam_result_box(NULL, 0, NULL) == CAM_ERR_ARGUMENT, "cam_result_box(NULL, 0, NULL)");
    CHECK(cam_result_box(r, n - 1, &b) == CAM_OK, "cam_result_box(count - 1)");

    const int32_t bad[] = {-1, n, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < 4; i++) {
        int32_t w = 123, h = 456;
        CHECK(cam_result_map(r, bad[i], &w, &h) == NULL && w == 0 && h == 0, "cam_result_map(%d): w %d h %d", bad[i],
              w, h);
        CHECK(cam_result_map(r, bad[i], NULL, NULL) == NULL, "cam_result_map(%d, NULL, NULL)", bad[i]);
    }
    int32_t w = 123, h = 456;
    CHECK(cam_result_map(NULL, 0, &w, &h) == NULL && w == 0 && h == 0, "cam_result_map(NULL result)");
    CHECK(cam_result_map(r, 0, NULL, NULL) != NULL, "cam_result_map(0, NULL, NULL)");
    CHECK(cam_result_map(r, 0, &w, NULL) != NULL && w == 64, "cam_result_map(0, &w, NULL): w %d", w);
    CHECK(cam_result_map(r, n - 1, NULL, &h) != NULL && h == 64, "cam_result_map(count - 1, NULL, &h): h %d", h);
    cam_result_free(r);
    cam_result_free(NULL);
}

/* ---- images -------------------------------------------------------------------------- */

/* CRC-32 of PNG chunks (ISO 3309), bit by bit. */
static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void expect_image_load(const char *what, const char *path, cam_status want, const char *keyword) {
    cam_image img;
    memset(&img, 0x5A, sizeof img);
    cam_error *err = BAD_ERROR;
    cam_status st = cam_image_load(path, &img, &err);
    const cam_image zero = {0};
    check_failure(what, st, want, err, keyword);
    CHECK(memcmp(&img, &zero, sizeof img) == 0, "%s: image not zeroed after a failure", what);
    if (st == CAM_OK) cam_image_release(&img);
    memset(&img, 0x5A, sizeof img);
    st = cam_image_load(path, &img, NULL);
    CHECK(st == want, "%s, err NULL: status %d, want %d", what, (int)st, (int)want);
    CHECK(memcmp(&img, &zero, sizeof img) == 0, "%s, err NULL: image not zeroed", what);
    if (st == CAM_OK) cam_image_release(&img);
}

static void test_image_load(void) {
    expect_image_load("cam_image_load path NULL", NULL, CAM_ERR_ARGUMENT, "NULL");
    cam_error *err = BAD_ERROR;
    check_failure("cam_image_load out NULL", cam_image_load(PNG_PATH, NULL, &err), CAM_ERR_ARGUMENT, err, "out");
    CHECK(cam_image_load(NULL, NULL, NULL) == CAM_ERR_ARGUMENT, "cam_image_load(NULL, NULL, NULL)");
    expect_image_load("missing image", tmp_path("missing.png"), CAM_ERR_IO, "missing.png");
    expect_image_load("directory as image", tmpdir, CAM_ERR_IO, strrchr(tmpdir, '/') + 1);
    write_file(tmp_path("empty.png"), "", 0);
    expect_image_load("empty file", tmp_path("empty.png"), CAM_ERR_FORMAT, "empty.png");
    unsigned char garbage[2048];
    check_seed(7);
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (unsigned char)check_next();
    write_file(tmp_path("garbage.jpg"), garbage, sizeof garbage);
    expect_image_load("garbage bytes", tmp_path("garbage.jpg"), CAM_ERR_FORMAT, "garbage.jpg");

    size_t size;
    char *png = fx_read_file(PNG_PATH, &size);
    CHECK(png != NULL, "cannot read %s", PNG_PATH);
    if (png) {
        write_file(tmp_path("half.png"), png, size / 2);
        expect_image_load("truncated PNG (half)", tmp_path("half.png"), CAM_ERR_FORMAT, "half.png");
        write_file(tmp_path("header.png"), png, 33); /* signature + IHDR, no data */
        expect_image_load("PNG with only its header", tmp_path("header.png"), CAM_ERR_FORMAT, "header.png");
        memcpy(png + 8, garbage, 64); /* IHDR and the start of the data overwritten */
        write_file(tmp_path("corrupt.png"), png, size);
        expect_image_load("PNG with a corrupt IHDR", tmp_path("corrupt.png"), CAM_ERR_FORMAT, "corrupt.png");
        free(png);
    }
    char *jpg = fx_read_file(JPEG_PATH, &size);
    CHECK(jpg != NULL, "cannot read %s", JPEG_PATH);
    if (jpg) {
        write_file(tmp_path("half.jpg"), jpg, size / 2);
        expect_image_load("truncated JPEG (half)", tmp_path("half.jpg"), CAM_ERR_FORMAT, "half.jpg");
        write_file(tmp_path("soi.jpg"), jpg, 2);
        expect_image_load("JPEG with only SOI", tmp_path("soi.jpg"), CAM_ERR_FORMAT, "soi.jpg");
        memcpy(jpg + 2, garbage, 512);
        write_file(tmp_path("corrupt.jpg"), jpg, size);
        expect_image_load("JPEG with garbage after SOI", tmp_path("corrupt.jpg"), CAM_ERR_FORMAT, "corrupt.jpg");
        free(jpg);
    }

    /* Decompression bombs: headers that claim more than 100 million pixels
     * are refused from the header (CAM_ERR_MEMORY), before any pixel memory. */
    unsigned char bomb[8 + 25 + 12 + 12];
    memcpy(bomb, "\x89PNG\r\n\x1a\n", 8);
    const unsigned char ihdr[17] = {'I', 'H', 'D', 'R', 0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 2, 0, 0, 0}; /* 20000x20000 RGB8 */
    memcpy(bomb + 8, "\0\0\0\x0d", 4);
    memcpy(bomb + 12, ihdr, 17);
    uint32_t crc = crc32(ihdr, 17);
    for (int i = 0; i < 4; i++) bomb[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
    memcpy(bomb + 33, "\0\0\0\0IDAT\x35\xaf\x06\x1e", 12); /* an empty IDAT: the header is complete */
    memcpy(bomb + 45, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    write_file(tmp_path("bomb.png"), bomb, sizeof bomb);
    expect_image_load("PNG header claiming 20000x20000", tmp_path("bomb.png"), CAM_ERR_MEMORY, "bomb.png");
    jpg = fx_read_file(JPEG_PATH, &size);
    if (jpg) {
        size_t sof = 0;
        for (size_t i = 2; i + 9 < size && !sof; i++)
            if ((unsigned char)jpg[i] == 0xFF && (unsigned char)jpg[i + 1] == 0xC0) sof = i;
        CHECK(sof != 0, "no SOF0 marker in %s", JPEG_PATH);
        if (sof) {
            jpg[sof + 5] = (char)0xFD; jpg[sof + 6] = (char)0xE8; /* height 65000 */
            jpg[sof + 7] = (char)0xFD; jpg[sof + 8] = (char)0xE8; /* width 65000 */
            write_file(tmp_path("bomb.jpg"), jpg, size);
            expect_image_load("JPEG header claiming 65000x65000", tmp_path("bomb.jpg"), CAM_ERR_MEMORY, "bomb.jpg");
        }
        free(jpg);
    }

    /* Release: NULL, twice, and an image that never held pixels. */
    cam_image img;
    err = BAD_ERROR;
    if (check_success("cam_image_load PNG", cam_image_load(PNG_PATH, &img, &err), err)) {
        cam_image_release(&img);
        CHECK(img.pixels == NULL && img.width == 0 && img.height == 0 && img.channels == 0 && img.row_bytes == 0,
              "cam_image_release did not zero the image");
        cam_image_release(&img);
    }
    cam_image_release(NULL);
    cam_image zero = {0};
    cam_image_release(&zero);
}

/* ---- errors, strings, version ------------------------------------------------------------ */

static void test_strings_and_frees(void) {
    CHECK(cam_error_message(NULL) != NULL && cam_error_message(NULL)[0] == 0, "cam_error_message(NULL)");
    CHECK(cam_error_status(NULL) == CAM_OK, "cam_error_status(NULL)");
    /* Every free function accepts NULL. */
    cam_error_free(NULL);
    cam_model_free(NULL);
    cam_result_free(NULL);
    cam_image_release(NULL);
    cam_options_init(NULL);
    cam_model_options_init(NULL);

    const char *seen[7];
    for (int s = 0; s <= 6; s++) {
        const char *text = cam_status_string((cam_status)s);
        CHECK(text != NULL && text[0] != 0, "cam_status_string(%d)", s);
        CHECK(text == NULL || strcmp(text, "unknown status") != 0, "cam_status_string(%d) is unknown", s);
        seen[s] = text;
        for (int t = 0; t < s; t++)
            CHECK(!text || !seen[t] || strcmp(text, seen[t]) != 0, "statuses %d and %d share \"%s\"", t, s, text);
    }
    const int unknown[] = {7, 99, -1, INT32_MAX, INT32_MIN};
    for (int i = 0; i < 5; i++) {
        const char *text = cam_status_string((cam_status)unknown[i]);
        CHECK(text != NULL && strcmp(text, "unknown status") == 0, "cam_status_string(%d) = %s", unknown[i],
              text ? text : "NULL");
    }
    CHECK(cam_version_string() != NULL && strcmp(cam_version_string(), CAM_VERSION_STRING) == 0, "version string");
    CHECK(cam_version_number() == CAM_VERSION_NUMBER, "version number %u", cam_version_number());
}

/* ---- main ------------------------------------------------------------------------------- */

int main(void) {
    verbose = getenv("CAMKIT_TEST_VERBOSE") && atoi(getenv("CAMKIT_TEST_VERBOSE")) > 0;
    page_size = sysconf(_SC_PAGESIZE);
    guard_pages = mmap(NULL, (size_t)page_size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_pages == MAP_FAILED || mprotect(guard_pages + page_size, (size_t)page_size, PROT_NONE) != 0) {
        perror("mmap");
        return 2;
    }
    const char *base = getenv("TMPDIR");
    fx_path(tmpdir, sizeof tmpdir, "%s/cam_errors_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }

    test_strings_and_frees();
    test_model_load();
    test_model_options();

    cam_error *err = BAD_ERROR;
    cam_status st = cam_model_load(MODEL_PATH, &model, &err);
    int ready = check_success("load tiny_resnet", st, err) && fx_npy_load(INPUT_PATH, &input) &&
                input.count == 3 * 64 * 64 && input.is_float;
    CHECK(ready, "cannot load %s or %s", MODEL_PATH, INPUT_PATH);
    cam_image img = {0};
    if (ready) {
        err = BAD_ERROR;
        ready = check_success("load coffee_baseline.jpg", cam_image_load(JPEG_PATH, &img, &err), err);
    }
    if (ready) {
        test_model_limits();
        test_model_queries();
        test_options(&img);
        test_localize_tensor();
        test_localize_image(&img);
        test_results();
    }
    test_image_load();

    cam_image_release(&img);
    cam_image_release(&img);
    fx_npy_free(&input);
    cam_model_free(model);

    const char *names[] = {"random.onnx", "empty.onnx", "truncated.onnx", "truncated_end.onnx", "image.onnx",
                           "celu.onnx", "empty.png", "garbage.jpg", "half.png", "header.png", "corrupt.png",
                           "half.jpg", "soi.jpg", "corrupt.jpg", "bomb.png", "bomb.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_path(names[i]));
    CHECK(rmdir(tmpdir) == 0, "cannot remove %s (a file left behind?)", tmpdir);
    munmap(guard_pages, (size_t)page_size * 2);
    return check_report("test_cam_errors");
}
