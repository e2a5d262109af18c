/*
 * localize.c: boxes for an image from the command line, through libcam.
 *
 *   cc localize.c $(pkg-config --cflags --libs cam) -o localize
 *   ./localize model.onnx image.jpg [method] [top_k]
 *
 * Prints one line per localized class, best first:
 *   rank class score logit x_min y_min x_max y_max
 * method is a cam_method number (0 CAM, 1 Grad-CAM, ...); default Grad-CAM, top 5.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cam.h>

static int fail(cam_error *err)
{
    fprintf(stderr, "localize: %s: %s\n", cam_status_string(cam_error_status(err)), cam_error_message(err));
    cam_error_free(err);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL.onnx IMAGE [METHOD] [TOP_K]   (libcam %s)\n", argv[0], cam_version_string());
        return 2;
    }
    cam_error *err = NULL;
    cam_model *model = NULL;
    if (cam_model_load(argv[1], &model, &err) != CAM_OK)
        return fail(err);

    cam_image image;
    if (cam_image_load(argv[2], &image, &err) != CAM_OK) {
        cam_model_free(model);
        return fail(err);
    }

    cam_options opts;
    cam_options_init(&opts);
    if (argc > 3) opts.method = (cam_method)atoi(argv[3]);
    if (argc > 4) opts.top_k = atoi(argv[4]);

    cam_result *result = NULL;
    cam_status status = cam_localize(model, &image, &opts, &result, &err);
    cam_image_release(&image);
    cam_model_free(model);
    if (status != CAM_OK)
        return fail(err);

    for (int32_t i = 0; i < cam_result_count(result); i++) {
        cam_box b;
        cam_result_box(result, i, &b);
        printf("%d %d %.6f %.6f %d %d %d %d\n", i + 1, b.class_index, b.score, b.logit,
               b.x_min, b.y_min, b.x_max, b.y_max);
    }
    cam_result_free(result);
    return 0;
}
