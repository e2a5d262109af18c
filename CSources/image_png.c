/* image_png.c: PNG in and out through libpng's classic API.
 *
 * libpng reports errors by longjmp. Each setjmp sits in a small function
 * (decode_run, write_run) whose every changing value lives in a context
 * struct owned by its caller, so nothing the caller reads after the jump is
 * an indeterminate local; the caller then releases what the context holds.
 * The jump never leaves this file. */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

/* ck_png_write's error returns fill the caller's message. */
#define FAIL(status, ...) ck_img_fail((status), message, message_size, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    png_structp png;
    png_infop info;
    uint8_t *pixels;            /* owned until handed to the caller */
    png_bytep *rows;
    uint32_t width, height;
    const char *stage;          /* where we are, for messages */
    int truncated;              /* the reader ran out of data */
    char lib_message[160];      /* libpng's error text */
    char *message;
    size_t message_size;
} png_decoder;

static void on_png_error(png_structp png, png_const_charp text) {
    png_decoder *d = png_get_error_ptr(png);
    snprintf(d->lib_message, sizeof d->lib_message, "%s", text ? text : "unknown error");
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, an unknown sRGB profile, ...) do not stop
 * decoding, as in Pillow; they are silenced rather than printed. */
static void on_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void read_from_memory(png_structp png, png_bytep dst, size_t length) {
    png_decoder *d = png_get_io_ptr(png);
    if (length > d->size - d->pos) {
        d->truncated = 1;
        png_error(png, "read past the end of the data");
    }
    memcpy(dst, d->data + d->pos, length);
    d->pos += length;
}

/* The transforms turn every PNG into RGB8 as Pillow's convert('RGB') does
 * (header comment of cam_image.h). libpng applies them in its own fixed
 * order: expand palette and low-bit gray, drop alpha, strip 16 bits to 8,
 * copy gray to RGB. */
static ck_status decode_run(png_decoder *d, int64_t max_pixels) {
    if (setjmp(png_jmpbuf(d->png))) {
        if (d->truncated)
            return ck_img_fail(CK_ERR_FORMAT, d->message, d->message_size,
                               "PNG: truncated data: the file ends after %zu bytes, in the %s", d->size, d->stage);
        /* libpng's one message for a failed allocation. */
        if (strstr(d->lib_message, "Out of memory") || strstr(d->lib_message, "out of memory"))
            return ck_img_fail(CK_ERR_MEMORY, d->message, d->message_size,
                               "PNG: out of memory in the %s (libpng: %s)", d->stage, d->lib_message);
        return ck_img_fail(CK_ERR_FORMAT, d->message, d->message_size, "PNG: invalid data in the %s (libpng: %s)",
                           d->stage, d->lib_message);
    }
    png_set_read_fn(d->png, d, read_from_memory);
    /* libpng's default refuses sides over 1,000,000 with a format error;
     * the pixel limit below is the check that governs, and it says
     * CK_ERR_LIMIT. */
    png_set_user_limits(d->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* No ancillary chunk changes the RGB8 pixels (gAMA, sBIT, iCCP are not
     * applied, alpha is dropped), so all but tRNS are skipped unread.
     * libpng's handlers for them (tEXt, zTXt, iCCP, ...) would allocate the
     * length a chunk claims, up to 2 GiB for a file of a few bytes: its
     * chunk-size cap is only a warning, which decoding ignores. */
    png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);

    d->stage = "header";
    png_read_info(d->png, d->info);
    d->width = png_get_image_width(d->png, d->info);
    d->height = png_get_image_height(d->png, d->info);
    /* Before any allocation that grows with the image (libpng's row
     * buffers come with png_read_update_info, ours below). */
    ck_status s = ck_img_check_size("PNG", d->width, d->height, max_pixels, d->message, d->message_size);
    if (s != CK_OK) return s;

    const int color_type = png_get_color_type(d->png, d->info);
    const int bit_depth = png_get_bit_depth(d->png, d->info);
    /* A palette with tRNS expands to RGBA: png_set_strip_alpha drops it. */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d->png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(d->png);
    png_set_strip_alpha(d->png);
    if (bit_depth == 16) png_set_strip_16(d->png);   /* the high byte, not png_set_scale_16's rounding */
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(d->png);
    (void)png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);

    const size_t row = (size_t)d->width * 3;
    if (png_get_bit_depth(d->png, d->info) != 8 || png_get_channels(d->png, d->info) != 3 ||
        png_get_rowbytes(d->png, d->info) != row)
        return ck_img_fail(CK_ERR_UNSUPPORTED, d->message, d->message_size,
                           "PNG: color type %d at %d bits did not convert to RGB8 (libpng gives %d x %d bits)",
                           color_type, bit_depth, png_get_channels(d->png, d->info),
                           png_get_bit_depth(d->png, d->info));
    d->pixels = malloc(row * d->height);
    d->rows = malloc(sizeof *d->rows * d->height);
    if (!d->pixels || !d->rows)
        return ck_img_fail(CK_ERR_MEMORY, d->message, d->message_size, "PNG: cannot allocate %u x %u RGB pixels",
                           (unsigned)d->width, (unsigned)d->height);
    for (size_t y = 0; y < d->height; y++) d->rows[y] = d->pixels + y * row;
    d->stage = "image data";
    png_read_image(d->png, d->rows);
    /* png_read_end is not called: the chunks after the image data carry
     * only metadata, and Pillow too accepts a file whose tail (IEND) is
     * missing or damaged once the pixels are complete. */
    return CK_OK;
}

ck_status ck_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                        char *message, size_t message_size) {
    png_decoder d;
    memset(&d, 0, sizeof d);
    d.data = data;
    d.size = size;
    d.stage = "signature";
    d.message = message;
    d.message_size = message_size;
    d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_png_error, on_png_warning);
    if (!d.png) return ck_img_fail(CK_ERR_MEMORY, message, message_size, "PNG: cannot create the libpng reader");
    d.info = png_create_info_struct(d.png);
    if (!d.info) {
        png_destroy_read_struct(&d.png, NULL, NULL);
        return ck_img_fail(CK_ERR_MEMORY, message, message_size, "PNG: cannot create the libpng reader");
    }
    const ck_status s = decode_run(&d, max_pixels);
    png_destroy_read_struct(&d.png, &d.info, NULL);
    free(d.rows);
    if (s != CK_OK) {
        free(d.pixels);
        return s;
    }
    out->pixels = d.pixels;
    out->width = (int32_t)d.width;
    out->height = (int32_t)d.height;
    out->channels = 3;
    return CK_OK;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    FILE *file;
    png_structp png;
    png_infop info;
    const uint8_t *rgb;
    uint32_t width, height;
    int write_errno;            /* errno of a failed fwrite, 0 otherwise */
    char lib_message[160];
} png_writer;

static void on_png_write_error(png_structp png, png_const_charp text) {
    png_writer *w = png_get_error_ptr(png);
    snprintf(w->lib_message, sizeof w->lib_message, "%s", text ? text : "unknown error");
    png_longjmp(png, 1);
}

static void write_to_file(png_structp png, png_bytep src, size_t length) {
    png_writer *w = png_get_io_ptr(png);
    if (fwrite(src, 1, length, w->file) != length) {
        w->write_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

static void flush_file(png_structp png) {
    png_writer *w = png_get_io_ptr(png);
    if (fflush(w->file) != 0) {
        w->write_errno = errno ? errno : EIO;
        png_error(png, "flush failed");
    }
}

static int write_run(png_writer *w) {
    if (setjmp(png_jmpbuf(w->png))) return 0;
    png_set_write_fn(w->png, w, write_to_file, flush_file);
    png_set_IHDR(w->png, w->info, w->width, w->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(w->png, 6);
    png_write_info(w->png, w->info);
    const size_t row = (size_t)w->width * 3;
    for (size_t y = 0; y < w->height; y++) png_write_row(w->png, w->rgb + y * row);
    png_write_end(w->png, NULL);
    return 1;
}

ck_status ck_png_write(const char *path, const uint8_t *rgb, int32_t width, int32_t height,
                       char *message, size_t message_size) {
    if (message && message_size > 0) message[0] = '\0';
    if (!path || !rgb) return FAIL(CK_ERR_NULL, "PNG write: %s is NULL", path ? "the pixel buffer" : "the path");
    if (width < 1 || height < 1 || (int64_t)width * height * 3 >= CK_MAX_ELEMENTS)
        return FAIL(CK_ERR_SIZE, "PNG write: %s: size %d x %d out of range", path, (int)width, (int)height);

    png_writer w;
    memset(&w, 0, sizeof w);
    w.rgb = rgb;
    w.width = (uint32_t)width;
    w.height = (uint32_t)height;
    char why[128];
    w.file = fopen(path, "wb");
    if (!w.file)
        return FAIL(CK_ERR_IO, "%s: cannot create: %s", path, ck_img_errno_text(errno, why, sizeof why));
    w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w, on_png_write_error, on_png_warning);
    w.info = w.png ? png_create_info_struct(w.png) : NULL;
    ck_status s = CK_OK;
    if (!w.png || !w.info) {
        s = FAIL(CK_ERR_MEMORY, "%s: cannot create the libpng writer", path);
    } else if (!write_run(&w)) {
        if (w.write_errno)
            s = FAIL(CK_ERR_IO, "%s: cannot write: %s", path, ck_img_errno_text(w.write_errno, why, sizeof why));
        else if (strstr(w.lib_message, "memory"))
            s = FAIL(CK_ERR_MEMORY, "%s: PNG write: %s", path, w.lib_message);
        else
            s = FAIL(CK_ERR_IO, "%s: PNG write failed (libpng: %s)", path, w.lib_message);
    }
    png_destroy_write_struct(&w.png, &w.info);
    /* A full disk may only show at close, when the last buffer is written. */
    if (fclose(w.file) != 0 && s == CK_OK)
        s = FAIL(CK_ERR_IO, "%s: cannot write (at close): %s", path, ck_img_errno_text(errno, why, sizeof why));
    return s;
}
