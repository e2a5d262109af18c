/* localize_tensor.c: libFuzzer target for cam_localize_tensor, the C ABI
 * of include/cam.h, with fuzzed options and tensor.
 *
 * LLVMFuzzerInitialize loads three small models once, with
 * cam_model_load_with_options: small_resnet, small_mobilenet and small_vgg
 * from $CAMKIT_FUZZ_MODELS (default fuzz/models, where gen_seeds.py --models
 * wrote them), look-alikes of the fixtures' tiny_resnet,
 * tiny_mobilenet and tiny_vgg_fc with 8 channels and free height and
 * width. The fixture models themselves fix their input at 64 x 64 and run at
 * about 25 calls a second under ASan (Score-CAM and Ablation-CAM make one
 * pass per channel); these run at hundreds, at sizes the input chooses.
 * Each input then makes one call:
 *
 *   byte 0      model: 0 small_resnet, 1 small_mobilenet, 2 small_vgg (mod 3)
 *   byte 1      method, as a signed byte (0 to 8 are the cam_method values)
 *   byte 2      top_k, signed
 *   byte 3      class_index, signed (-1: top-k)
 *   bytes 4-7   threshold, the float's bits (little-endian)
 *   byte 8      target layer: 0 NULL (automatic), 1 the string below,
 *               else an entry of the model's table below
 *   byte 9      length of that string (the bytes after the 16-byte header)
 *   byte 10     struct_size: sizeof(cam_options) plus this signed byte
 *   bytes 11-12 height and width: the byte mod 40, minus 2 (-2 to 37)
 *   byte 13     tensor fill: 0 the remaining bytes as floats (NaN and Inf
 *               included), 1 bytes mapped to [-2, 2), 2 zeros, 3 a ramp
 *   byte 14     bit 0: err NULL; bit 1: opts NULL (the defaults)
 *   byte 15     unused
 *   then        the target layer string, then the tensor's bytes (repeated
 *               to fill C x H x W values)
 *
 * Every call must return CAM_OK with a result whose boxes and maps fit the
 * size asked for, or a status other than CAM_ERR_INTERNAL with a non-empty
 * message; anything else traps.
 *
 * Built against the ASan + libFuzzer instrumented Swift build (CAMLib,
 * CAMKit, SwiftProtobuf from .build/fuzz) and UBSan-instrumented kernels,
 * not the shipped libcam.so, so that the Swift side is covered and checked
 * too. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HEADER = 16, MODELS = 3 };

static const char *const model_names[MODELS] = { "small_resnet", "small_mobilenet", "small_vgg" };
/* Tensors of each model to ask for by name: the input, early and late
 * layers, pooled features and logits (no spatial extent), and one that
 * does not exist. */
static const char *const layers[MODELS][6] = {
    { "input", "r1", "sum", "features", "logits", "/nonexistent" },
    { "input", "a1", "c2", "features", "pooled", "logits" },
    { "input", "r1", "p1", "features", "gmp", "logits" },
};
static cam_model *models[MODELS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("CAMKIT_FUZZ_MODELS");
    if (!dir || !*dir) dir = "fuzz/models";
    cam_model_options mo;
    cam_model_options_init(&mo);
    mo.input_width = mo.input_height = 16;   /* the size of cam_localize; cam_localize_tensor takes any */
    mo.max_tensor_elements = 1 << 22;         /* as fuzz/onnx_loader.swift: quick refusals under ASan */
    for (int i = 0; i < MODELS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.onnx", dir, model_names[i]);
        cam_error *err = NULL;
        if (cam_model_load_with_options(path, &mo, &models[i], &err) != CAM_OK) {
            fprintf(stderr, "localize_tensor: cannot load %s: %s (fuzz/gen_seeds.py --models writes them)\n", path,
                    cam_error_message(err));
            exit(1);
        }
    }
    return 0;
}

/* A broken promise of cam.h: said on stderr, then a crash libFuzzer reports. */
#define REQUIRE(cond, ...)                                           \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "localize_tensor: " __VA_ARGS__);        \
            fputc('\n', stderr);                                     \
            __builtin_trap();                                        \
        }                                                            \
    } while (0)

static float from_bytes(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEADER) return -1;
    const int which = data[0] % MODELS;
    cam_model *model = models[which];

    cam_options opts;
    cam_options_init(&opts);
    opts.method = (cam_method)(int8_t)data[1];
    opts.top_k = (int8_t)data[2];
    opts.class_index = (int8_t)data[3];
    opts.threshold = from_bytes(data + 4);
    opts.struct_size = (uint32_t)((int64_t)sizeof(cam_options) + (int8_t)data[10]);

    const size_t name_length = data[9] < size - HEADER ? data[9] : size - HEADER;
    char name[256];
    memcpy(name, data + HEADER, name_length);
    name[name_length] = '\0';
    const uint8_t layer = data[8];
    opts.target_layer = layer == 0 ? NULL : layer == 1 ? name : layers[which][(layer - 2) % 6];

    const int32_t height = data[11] % 40 - 2, width = data[12] % 40 - 2;
    const size_t count = height > 0 && width > 0 ? (size_t)3 * (size_t)height * (size_t)width : 1;
    const uint8_t *bytes = data + HEADER + name_length;
    const size_t n_bytes = size - HEADER - name_length;
    float *nchw = malloc(count * sizeof *nchw);
    if (!nchw) return 0;
    for (size_t i = 0; i < count; i++) {
        switch (data[13] % 4) {
        case 0:
            if (n_bytes >= 4) {
                const size_t at = (i * 4) % (n_bytes - n_bytes % 4);
                nchw[i] = from_bytes(bytes + at);
            } else {
                nchw[i] = 0;
            }
            break;
        case 1: nchw[i] = n_bytes ? (float)bytes[i % n_bytes] / 64.0f - 2.0f : 0; break;
        case 2: nchw[i] = 0; break;
        default: nchw[i] = (float)(i % 97) / 48.0f - 1.0f; break;
        }
    }

    cam_result *result = (cam_result *)(uintptr_t)1;   /* must be overwritten */
    cam_error *err = (cam_error *)(uintptr_t)1;
    cam_error **err_out = data[14] & 1 ? NULL : &err;
    const cam_status s = cam_localize_tensor(model, nchw, height, width, data[14] & 2 ? NULL : &opts, &result, err_out);
    if (s == CAM_OK) {
        REQUIRE(result && (!err_out || err == NULL), "CAM_OK without a result, or with an error");
        const int32_t n = cam_result_count(result);
        REQUIRE(n >= 1 && n <= 10, "%d results", n);
        for (int32_t i = 0; i < n; i++) {
            cam_box box;
            int32_t mw = 0, mh = 0;
            REQUIRE(cam_result_box(result, i, &box) == CAM_OK, "no box %d of %d", i, n);
            const float *map = cam_result_map(result, i, &mw, &mh);
            REQUIRE(map && mw == width && mh == height, "map %d is %d x %d for a %d x %d tensor", i, mw, mh, width,
                    height);
            REQUIRE(box.class_index >= 0 && box.class_index < 10, "class %d", box.class_index);
            REQUIRE(box.score >= 0 && box.score <= 1, "score %g of class %d", box.score, box.class_index);
            const int empty = box.x_min == -1 && box.y_min == -1 && box.x_max == -1 && box.y_max == -1;
            REQUIRE(empty || (0 <= box.x_min && box.x_min <= box.x_max && box.x_max < width && 0 <= box.y_min &&
                              box.y_min <= box.y_max && box.y_max < height),
                    "box %d %d %d %d in a %d x %d map", box.x_min, box.y_min, box.x_max, box.y_max, width, height);
            for (int32_t p = 0; p < mw * mh; p++) REQUIRE(map[p] >= 0 && map[p] <= 1, "map value %g at %d", map[p], p);
        }
        REQUIRE(cam_result_box(result, n, &(cam_box){ 0 }) == CAM_ERR_ARGUMENT, "a box past the count");
        cam_result_free(result);
    } else {
        REQUIRE(result == NULL, "status %d with a result", s);
        REQUIRE(s != CAM_ERR_INTERNAL, "internal error: %s", cam_error_message(err_out ? err : NULL));
        REQUIRE(s <= CAM_ERR_INTERNAL, "status %d", s);
        if (err_out) {
            REQUIRE(err && cam_error_status(err) == s && cam_error_message(err)[0], "status %d without its error", s);
            cam_error_free(err);
        }
    }
    free(nchw);
    return 0;
}
