/*
 * cam.h: the camkit C ABI (libcam.so.1).
 *
 * camkit loads a CNN classifier from ONNX, runs it on an image, computes a
 * class activation map (CAM, Grad-CAM and their descendants) for each of the
 * top-k classes and turns each map into a box: the pixels at or above a
 * fraction of the map's maximum, their largest 8-connected component, its
 * bounding box. This header is the whole published interface and its manual.
 *
 * A minimal program (error handling shortened):
 *
 *     cam_model *model; cam_image image; cam_result *result; cam_error *err;
 *     if (cam_model_load("resnet18.onnx", &model, &err) != CAM_OK) {
 *         fprintf(stderr, "%s\n", cam_error_message(err)); cam_error_free(err); return 1;
 *     }
 *     cam_image_load("cat.jpg", &image, NULL);
 *     cam_options opts; cam_options_init(&opts);      // Grad-CAM, top 5, threshold 0.2
 *     cam_localize(model, &image, &opts, &result, NULL);
 *     for (int32_t i = 0; i < cam_result_count(result); i++) {
 *         cam_box b; cam_result_box(result, i, &b);
 *         printf("class %d score %.3f box %d %d %d %d\n", b.class_index, b.score,
 *                b.x_min, b.y_min, b.x_max, b.y_max);
 *     }
 *     cam_result_free(result); cam_image_release(&image); cam_model_free(model);
 *
 * Build with `cc prog.c $(pkg-config --cflags --libs cam)`.
 *
 * CONVENTIONS
 * - Every function that can fail returns a cam_status; CAM_OK (0) is
 *   success and any other value a failure. Functions that produce an object
 *   write it through an `out` pointer; on failure `*out` is set to NULL (or,
 *   for cam_image_load, to an empty image), so it is always safe to free.
 * - `err` may be NULL when the status is enough. Otherwise `*err` is set to
 *   NULL on success and, on failure, to a new cam_error whose message names
 *   what failed and where ("resnet.onnx: node '/fc/Gemm': ..."). The caller
 *   owns it and releases it with cam_error_free.
 * - Objects returned through `out` are owned by the caller and released with
 *   the matching free function; every free function accepts NULL.
 * - Pointers the library returns into an object (messages, maps, strings)
 *   stay valid until that object is freed. Static strings (status strings,
 *   the version) are valid for the life of the process.
 * - Option structs begin with `struct_size`: set it with the matching
 *   *_init function, which also fills in the defaults, then change the
 *   fields you need. The library checks struct_size before reading anything
 *   else, so a struct from a newer or older header is refused with
 *   CAM_ERR_ARGUMENT instead of being misread. Fields are only ever added at
 *   the end, with a new size; no field, value or signature that has shipped
 *   changes meaning.
 * - Images are 8-bit, row-major, top row first.
 *
 * THREADS
 * A loaded cam_model is immutable and may be shared: any number of threads
 * may call cam_localize and cam_localize_tensor on the same model at once,
 * each with its own result and error. Results, errors and images are
 * ordinary values: one thread at a time. One call splits its convolutions
 * over up to cam_model_options.threads threads (its own and those of a
 * pool libcam keeps); while one call uses the pool, concurrent calls run
 * on their own threads alone, so many callers never oversubscribe the
 * cores. OpenBLAS is kept single-threaded.
 */
#ifndef CAM_H
#define CAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CAM_API __attribute__((visibility("default")))
#else
#define CAM_API
#endif

/* Version: the major number is the SONAME's (libcam.so.1) and changes only
 * if the ABI would break, which it does not plan to. */
#define CAM_VERSION_MAJOR 1
#define CAM_VERSION_MINOR 0
#define CAM_VERSION_PATCH 0
#define CAM_VERSION_NUMBER (CAM_VERSION_MAJOR * 10000 + CAM_VERSION_MINOR * 100 + CAM_VERSION_PATCH)
#define CAM_VERSION_STRING "1.0.0"

/* ---- types ---------------------------------------------------------------- */

typedef struct cam_model cam_model;    /* opaque; immutable after load; share it across threads */
typedef struct cam_result cam_result;  /* opaque; owned by the caller, free with cam_result_free */
typedef struct cam_error cam_error;    /* opaque; owned by the caller, free with cam_error_free */

/* Status codes. New codes may be added; treat any non-zero value as failure. */
typedef enum cam_status {
    CAM_OK = 0,
    CAM_ERR_ARGUMENT = 1,     /* a NULL or out-of-range argument, a wrong struct_size, a class out of range */
    CAM_ERR_IO = 2,           /* a file that cannot be opened or read */
    CAM_ERR_FORMAT = 3,       /* a corrupt or truncated ONNX, PNG or JPEG; NaN or Inf in the data */
    CAM_ERR_UNSUPPORTED = 4,  /* valid input the library does not handle: an ONNX op, a method for this model */
    CAM_ERR_MEMORY = 5,       /* an allocation failed or a size exceeds a limit */
    CAM_ERR_INTERNAL = 6      /* a bug in camkit; please report it with the message */
} cam_status;

/* Methods: how each channel of the target layer is weighted. */
typedef enum cam_method {
    CAM_METHOD_CAM = 0,              /* Zhou et al. 2016; needs global average pooling + one linear layer */
    CAM_METHOD_GRADCAM = 1,          /* Selvaraju et al. 2017: mean gradient per channel */
    CAM_METHOD_GRADCAM_PLUSPLUS = 2, /* Chattopadhyay et al. 2018 */
    CAM_METHOD_XGRADCAM = 3,         /* Fu et al. 2020 */
    CAM_METHOD_HIRESCAM = 4,         /* Draelos and Carin 2020: gradient times activation */
    CAM_METHOD_LAYERCAM = 5,         /* Jiang et al. 2021 */
    CAM_METHOD_EIGENCAM = 6,         /* Muhammad and Yeasin 2020: first principal component, class-agnostic */
    CAM_METHOD_SCORECAM = 7,         /* Wang et al. 2020: one extra forward per channel */
    CAM_METHOD_ABLATIONCAM = 8       /* Desai and Ramaswamy 2020: one extra partial forward per channel */
} cam_method;

/* How cam_localize fits an image to the network's input size. */
typedef enum cam_resize {
    CAM_RESIZE_STRETCH = 0,      /* both sides to the input size (Pillow bilinear, antialiased) */
    CAM_RESIZE_CENTER_CROP = 1   /* shorter side to the input size, then the center (torchvision Resize+CenterCrop) */
} cam_resize;

/* An 8-bit image in memory. `pixels` points at `height` rows of `row_bytes`
 * bytes each, of which the first width * channels are used. channels: 1
 * (gray), 3 (RGB) or 4 (RGBA; alpha is ignored). The library never keeps the
 * pointer after a call returns. */
typedef struct cam_image {
    const uint8_t *pixels;
    int32_t width, height, channels, row_bytes;
} cam_image;

/* One localized class. The box is in inclusive pixel coordinates of the
 * image given to cam_localize (of the tensor for cam_localize_tensor):
 * columns x_min..x_max and rows y_min..y_max belong to it. When no pixel of
 * the map reaches the threshold (a map that is zero everywhere) the box is
 * empty: all four coordinates are -1. */
typedef struct cam_box {
    int32_t class_index;   /* 0-based index into the model's outputs */
    float score;           /* softmax probability of the class */
    float logit;           /* the model's raw output for the class */
    int32_t x_min, y_min, x_max, y_max;
} cam_box;

/* Options for one localization. */
typedef struct cam_options {
    uint32_t struct_size;       /* sizeof(cam_options), set by cam_options_init */
    cam_method method;          /* default CAM_METHOD_GRADCAM */
    int32_t top_k;              /* how many of the highest-scoring classes, 1..classes; default 5 (or all if fewer) */
    int32_t class_index;        /* >= 0: localize this class only (top_k ignored); -1: top-k (default) */
    float threshold;            /* box threshold, a fraction of the map's maximum in (0, 1); default 0.2 */
    const char *target_layer;   /* a tensor name of the model (see `camkit info`); NULL: automatic (default) */
} cam_options;

/* Options for loading a model. */
typedef struct cam_model_options {
    uint32_t struct_size;       /* sizeof(cam_model_options), set by cam_model_options_init */
    int32_t input_width;        /* network input size used by cam_localize; 0: from the model (default). */
    int32_t input_height;       /*   Required when the model leaves height or width free. */
    float mean[3];              /* per-channel normalization (pixel / 255 - mean) / std; default ImageNet's */
    float std[3];               /*   (0.485, 0.456, 0.406) and (0.229, 0.224, 0.225) */
    cam_resize resize;          /* default CAM_RESIZE_STRETCH */
    int32_t threads;            /* > 0: at most this many threads per localization on this model (1: the
                                 * calling thread only, for callers that run one image per thread);
                                 * 0: the default, one per core (or CAMKIT_NUM_THREADS, else
                                 * OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, if set). */
    /* Limits, checked before anything of that size is allocated; a model or
     * image over one fails with CAM_ERR_MEMORY and a message naming the
     * field, the size found and where. 0: the default (set by
     * cam_model_options_init); a smaller value tightens the limit (a
     * server taking uploads), a larger one up to the maximum loosens it;
     * a negative value or one over the maximum is CAM_ERR_ARGUMENT (never
     * silently clamped). The protobuf nesting depth (100) and a forward
     * pass's peak memory (8 GiB) keep their defaults. max_nodes comes first
     * so that it fills the 4 bytes before the 8-byte fields: no padding. */
    int32_t max_nodes;          /* nodes of the ONNX graph, counted right after decoding; default 100000,
                                 * maximum INT32_MAX */
    int64_t max_model_bytes;    /* bytes of the ONNX file plus its external data files, from their sizes
                                 * before they are read; default 2147483648 (2 GiB), no maximum */
    int64_t max_tensor_elements;/* elements of any one tensor: each initializer before it is copied and
                                 * every tensor a forward pass computes (checked when the model is planned
                                 * for an input shape, so also for cam_localize_tensor's input); default
                                 * 268435456 (2^28, 1 GiB of floats), maximum 2147483646 */
    int64_t max_image_pixels;   /* width x height of a cam_image given to cam_localize, checked before its
                                 * pixels are read; default 100000000, maximum 715827882. cam_image_load
                                 * keeps its own default of 100000000. */
} cam_model_options;

/* ---- options ---------------------------------------------------------------- */

/* Fills *opts with the defaults and sets struct_size. opts may be NULL (no-op). */
CAM_API void cam_options_init(cam_options *opts);

/* Fills *opts with the defaults and sets struct_size. opts may be NULL (no-op). */
CAM_API void cam_model_options_init(cam_model_options *opts);

/* ---- models ----------------------------------------------------------------- */

/* Loads an ONNX classifier (opset 11 to 21; the ops that torch.onnx.export
 * writes for torchvision-style CNNs) with default options. The file is read
 * once; the model keeps no reference to it.
 * Returns CAM_OK and a new model in *out (free with cam_model_free);
 * CAM_ERR_IO if the file cannot be read, CAM_ERR_FORMAT if it is not a valid
 * ONNX model, CAM_ERR_UNSUPPORTED for an op or opset camkit does not run
 * (the message names the op and the node). onnx_path and out must not be NULL. */
CAM_API cam_status cam_model_load(const char *onnx_path, cam_model **out, cam_error **err);

/* As cam_model_load, with options. opts may be NULL (the defaults); otherwise
 * opts->struct_size must be sizeof(cam_model_options) and the values valid
 * (sizes 0 or 1..32768, finite mean, finite non-zero std, known resize,
 * threads 0..1024, limits 0 or 1..their maximum), or CAM_ERR_ARGUMENT.
 * A model over a limit fails with CAM_ERR_MEMORY. */
CAM_API cam_status cam_model_load_with_options(const char *onnx_path, const cam_model_options *opts,
                                               cam_model **out, cam_error **err);

/* Releases a model. NULL is allowed. No call may be using the model. */
CAM_API void cam_model_free(cam_model *m);

/* The input size cam_localize resizes images to (from the options or the
 * model). Returns CAM_ERR_ARGUMENT if m, width or height is NULL, and
 * CAM_ERR_UNSUPPORTED if the model leaves its size free and no size was given
 * at load. */
CAM_API cam_status cam_model_input_size(const cam_model *m, int32_t *width, int32_t *height);

/* The number of classes (the length of the model's first output), or -1 if
 * m is NULL or the model's output size is not fixed. */
CAM_API int32_t cam_model_class_count(const cam_model *m);

/* ---- localization ----------------------------------------------------------- */

/* Localizes the top-k classes (or opts->class_index) in an image: resizes it
 * to the model's input size as the model options say, normalizes it, runs the
 * network and the method, and resizes each map back to the image's own size,
 * so maps overlay the image and boxes are in its pixel coordinates.
 * m, img and out must not be NULL; opts may be NULL (the defaults of
 * cam_options_init). Returns CAM_OK and a new result in *out (free with
 * cam_result_free); CAM_ERR_ARGUMENT for a bad image, option or class;
 * CAM_ERR_MEMORY for an image over the model's max_image_pixels;
 * CAM_ERR_UNSUPPORTED when the method does not apply to the model (plain CAM
 * needs global average pooling followed by one linear layer); CAM_ERR_FORMAT
 * when the network produces NaN or Inf. Safe to call from many threads on one
 * model. */
CAM_API cam_status cam_localize(const cam_model *m, const cam_image *img, const cam_options *opts,
                                cam_result **out, cam_error **err);

/* As cam_localize for one image that is already the network's input: nchw
 * holds channels x height x width float32 values (channels as the model's
 * input declares, normally 3), normalized, planes in order. Maps and boxes
 * are at height x width. nchw must not be NULL; it is read during the call
 * only. Returns CAM_ERR_ARGUMENT for sizes that do not fit the model and
 * CAM_ERR_FORMAT for NaN or Inf in the input. */
CAM_API cam_status cam_localize_tensor(const cam_model *m, const float *nchw, int32_t height, int32_t width,
                                       const cam_options *opts, cam_result **out, cam_error **err);

/* ---- results ---------------------------------------------------------------- */

/* The number of localized classes (top-k, or 1 for a class_index), in rank
 * order; 0 if r is NULL. */
CAM_API int32_t cam_result_count(const cam_result *r);

/* Copies the i-th localized class (0 = best) into *out. Returns
 * CAM_ERR_ARGUMENT if r or out is NULL or i is not 0..count-1. */
CAM_API cam_status cam_result_box(const cam_result *r, int32_t i, cam_box *out);

/* The i-th class's map: width x height floats, row-major, min-max normalized
 * to [0, 1] (the thresholded map of the box). Valid until cam_result_free;
 * do not free it. width and height may be NULL. Returns NULL (and sets the
 * sizes to 0) if r is NULL or i is out of range. */
CAM_API const float *cam_result_map(const cam_result *r, int32_t i, int32_t *width, int32_t *height);

/* Releases a result and its maps. NULL is allowed. */
CAM_API void cam_result_free(cam_result *r);

/* ---- images ----------------------------------------------------------------- */

/* Decodes a PNG or JPEG file to 8-bit RGB (channels 3, row_bytes width * 3),
 * as Pillow's Image.open(path).convert('RGB') does: gray replicated, palette
 * looked up, 16-bit samples keep their high byte, alpha dropped, the EXIF
 * orientation of JPEGs applied. Images over 100 million pixels are refused
 * from their header. Returns CAM_OK and fills *out (release the pixels with
 * cam_image_release); CAM_ERR_IO for a missing or unreadable file,
 * CAM_ERR_FORMAT for a corrupt, truncated or unknown file. On failure *out is
 * all zeros. path and out must not be NULL. */
CAM_API cam_status cam_image_load(const char *path, cam_image *out, cam_error **err);

/* Frees the pixels of an image filled by cam_image_load and zeroes *img.
 * NULL, and an image already released, are allowed. Never call it on an
 * image whose pixels you allocated yourself. */
CAM_API void cam_image_release(cam_image *img);

/* ---- errors and strings ------------------------------------------------------ */

/* The message of an error: one English line. "" if e is NULL. Valid until
 * cam_error_free. */
CAM_API const char *cam_error_message(const cam_error *e);

/* The status of an error; CAM_OK if e is NULL. */
CAM_API cam_status cam_error_status(const cam_error *e);

/* Releases an error. NULL is allowed. */
CAM_API void cam_error_free(cam_error *e);

/* A short static description of a status ("invalid argument"); "unknown
 * status" for a value this version does not know. Never NULL. */
CAM_API const char *cam_status_string(cam_status s);

/* The library's version, "MAJOR.MINOR.PATCH": compare with CAM_VERSION_STRING
 * to see whether the header and the library match. Never NULL. */
CAM_API const char *cam_version_string(void);

/* The library's version as CAM_VERSION_NUMBER computes it. */
CAM_API uint32_t cam_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* CAM_H */
