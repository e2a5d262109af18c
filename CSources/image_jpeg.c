/* image_jpeg.c: JPEG decoding through libjpeg-turbo, set up as Pillow sets
 * it up (cam_image.h says what that means for each kind of file).
 *
 * libjpeg reports errors through error_exit, which must not return: ours
 * longjmps back to decode_run. As in image_png.c, everything that changes
 * after the setjmp lives in a context owned by the caller, and the jump
 * never leaves this file. */
#include <setjmp.h>
#include <stdio.h>      /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_internal.h"

/* Real progressive files have about ten scans; a crafted one can hold
 * thousands of tiny scans, each a pass over the whole coefficient buffer.
 * TurboJPEG's scan limit does the same. */
#define MAX_SCANS 1000

typedef struct {
    struct jpeg_error_mgr pub;      /* first: libjpeg hands back cinfo->err */
    jmp_buf jump;
    int code;                       /* libjpeg's message code of the error */
    int truncated;                  /* "Premature end of JPEG file" */
    int too_many_scans;
    int finishing;                  /* every scanline is out: a missing EOI is harmless */
    char text[JMSG_LENGTH_MAX];
} jpeg_errors;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    struct jpeg_progress_mgr progress;
    const char *stage;              /* where we are, for messages */
    size_t size;                    /* of the file */
    uint8_t *pixels;                /* owned until handed to the caller */
    uint32_t width, height;
    int orientation;                /* EXIF, 1 to 8 */
    char *message;
    size_t message_size;
} jpeg_decoder;

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    e->code = cinfo->err->msg_code;
    (*cinfo->err->format_message)(cinfo, e->text);
    longjmp(e->jump, 1);
}

/* Warnings are msg_level -1, trace messages >= 0. A premature end of the
 * data is fatal (Pillow refuses truncated files; libjpeg would pad the rest
 * of the image with gray), except once every scanline is out. libjpeg's
 * other warnings (corrupt data, extraneous bytes) are counted and ignored,
 * as Pillow ignores them. */
static void on_jpeg_message(j_common_ptr cinfo, int msg_level) {
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (msg_level >= 0) return;
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF && !e->finishing) {
        e->truncated = 1;
        e->code = cinfo->err->msg_code;
        (*cinfo->err->format_message)(cinfo, e->text);
        longjmp(e->jump, 1);
    }
}

static void on_jpeg_output(j_common_ptr cinfo) {
    (void)cinfo;   /* never print */
}

static void on_jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
        e->too_many_scans = 1;
        longjmp(e->jump, 1);
    }
}

static ck_status failure(jpeg_decoder *d) {
    const jpeg_errors *e = &d->err;
    if (e->truncated)
        return ck_img_fail(CK_ERR_FORMAT, d->message, d->message_size,
                           "JPEG: truncated data: the file ends after %zu bytes, in the %s (libjpeg: %s)", d->size,
                           d->stage, e->text);
    if (e->too_many_scans)
        return ck_img_fail(CK_ERR_LIMIT, d->message, d->message_size,
                           "JPEG: more than %d progressive scans in the %s, refused", MAX_SCANS, d->stage);
    ck_status s = CK_ERR_FORMAT;
    const char *what = "invalid data";
    switch (e->code) {
    case JERR_BAD_PRECISION: case JERR_ARITH_NOTIMPL: case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL: case JERR_NOTIMPL:
        s = CK_ERR_UNSUPPORTED; what = "unsupported feature"; break;
    case JERR_OUT_OF_MEMORY:
        s = CK_ERR_MEMORY; what = "out of memory"; break;
    case JERR_IMAGE_TOO_BIG:
        s = CK_ERR_LIMIT; what = "image too large"; break;
    default: break;
    }
    return ck_img_fail(s, d->message, d->message_size, "JPEG: %s in the %s (libjpeg: %s)", what, d->stage, e->text);
}

/* Pillow's CMYK -> RGB (libImaging/Convert.c cmyk2rgb) on the CMYK it
 * keeps, which is libjpeg's sample inverted ("CMYK;I"): with c = 255 - x
 * and k = 255 - x_k, R = nk - c * nk / 255 where nk = 255 - k = x_k, the
 * division being Pillow's MULDIV255 rounding. */
static inline uint8_t pillow_cmyk_channel(uint8_t x, uint8_t x_k) {
    const int c = 255 - x, nk = x_k;
    const int tmp = c * nk + 128;
    return (uint8_t)(nk - (((tmp >> 8) + tmp) >> 8));
}

static void cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, uint32_t width) {
    for (uint32_t x = 0; x < width; x++, cmyk += 4, rgb += 3) {
        rgb[0] = pillow_cmyk_channel(cmyk[0], cmyk[3]);
        rgb[1] = pillow_cmyk_channel(cmyk[1], cmyk[3]);
        rgb[2] = pillow_cmyk_channel(cmyk[2], cmyk[3]);
    }
}

static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return ck_exif_orientation(m->data + 6, m->data_length - 6);   /* the first one, as in Pillow */
    return 1;
}

static ck_status decode_run(jpeg_decoder *d, const uint8_t *data, size_t size, int64_t max_pixels) {
    if (setjmp(d->err.jump)) return failure(d);
    j_decompress_ptr cinfo = &d->cinfo;
    jpeg_create_decompress(cinfo);
    d->progress.progress_monitor = on_jpeg_progress;
    cinfo->progress = &d->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);

    d->stage = "header";
    jpeg_read_header(cinfo, TRUE);
    d->width = cinfo->image_width;
    d->height = cinfo->image_height;
    /* Before jpeg_start_decompress, which allocates the image-sized
     * buffers (a progressive file's whole coefficient array). */
    ck_status s = ck_img_check_size("JPEG", d->width, d->height, max_pixels, d->message, d->message_size);
    if (s != CK_OK) return s;
    int cmyk;
    switch (cinfo->num_components) {
    case 1: case 3: cmyk = 0; cinfo->out_color_space = JCS_RGB; break;   /* gray is copied to R, G, B */
    case 4: cmyk = 1; cinfo->out_color_space = JCS_CMYK; break;          /* CMYK, and YCCK converted to CMYK */
    default:
        return ck_img_fail(CK_ERR_UNSUPPORTED, d->message, d->message_size,
                           "JPEG: %d color components are not supported (only 1, 3 or 4, as in Pillow)",
                           cinfo->num_components);
    }
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    d->orientation = exif_orientation(cinfo);

    d->stage = "image data";
    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != d->width || cinfo->output_height != d->height ||
        cinfo->output_components != (cmyk ? 4 : 3))
        return ck_img_fail(CK_ERR_UNSUPPORTED, d->message, d->message_size,
                           "JPEG: libjpeg gives %u x %u x %d for a %u x %u image", (unsigned)cinfo->output_width,
                           (unsigned)cinfo->output_height, cinfo->output_components, (unsigned)d->width,
                           (unsigned)d->height);
    const size_t row = (size_t)d->width * 3;
    d->pixels = malloc(row * d->height);
    if (!d->pixels)
        return ck_img_fail(CK_ERR_MEMORY, d->message, d->message_size, "JPEG: cannot allocate %u x %u RGB pixels",
                           (unsigned)d->width, (unsigned)d->height);
    /* libjpeg's own pool frees this row, also after a jump. */
    JSAMPARRAY cmyk_row =
        cmyk ? (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE, d->width * 4, 1) : NULL;
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *dst = d->pixels + (size_t)cinfo->output_scanline * row;
        JSAMPROW target = cmyk ? cmyk_row[0] : dst;
        /* A memory source never suspends, so 0 rows cannot happen; the
         * check keeps a broken promise from looping forever. */
        if (jpeg_read_scanlines(cinfo, &target, 1) != 1)
            return ck_img_fail(CK_ERR_FORMAT, d->message, d->message_size, "JPEG: no scanline %u from libjpeg",
                               (unsigned)cinfo->output_scanline);
        if (cmyk) cmyk_row_to_rgb(cmyk_row[0], dst, d->width);
    }
    d->stage = "end of the file";
    d->err.finishing = 1;
    jpeg_finish_decompress(cinfo);
    return CK_OK;
}

ck_status ck_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                         char *message, size_t message_size) {
    jpeg_decoder d;
    memset(&d, 0, sizeof d);   /* cinfo.mem stays NULL until create: destroy is then a no-op */
    d.stage = "start";
    d.size = size;
    d.message = message;
    d.message_size = message_size;
    d.cinfo.err = jpeg_std_error(&d.err.pub);
    d.err.pub.error_exit = on_jpeg_error;
    d.err.pub.emit_message = on_jpeg_message;
    d.err.pub.output_message = on_jpeg_output;
    const ck_status s = decode_run(&d, data, size, max_pixels);
    jpeg_destroy_decompress(&d.cinfo);
    ck_image img = { d.pixels, (int32_t)d.width, (int32_t)d.height, 3 };
    if (s != CK_OK) {
        free(img.pixels);
        return s;
    }
    if (ck_img_apply_orientation(&img, d.orientation) != CK_OK) {
        free(img.pixels);
        return ck_img_fail(CK_ERR_MEMORY, message, message_size,
                           "JPEG: cannot allocate the buffer to turn a %d x %d image upright", (int)img.width,
                           (int)img.height);
    }
    *out = img;
    return CK_OK;
}
