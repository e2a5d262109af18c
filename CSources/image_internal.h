/* image_internal.h: what the image files (image.c, image_png.c,
 * image_jpeg.c, image_exif.c) share; not installed. */
#ifndef CAM_IMAGE_INTERNAL_H
#define CAM_IMAGE_INTERNAL_H

#include <stdarg.h>

#include "cam_image.h"

/* printf into the caller's message buffer, truncating; a no-op when message
 * is NULL or message_size is 0. Returns `status`, so that an error path is
 * one statement: return ck_img_fail(CK_ERR_FORMAT, msg, n, "...", ...). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
ck_status ck_img_fail(ck_status status, char *message, size_t message_size, const char *fmt, ...);

/* strerror(err) written into buf (n bytes), without strerror's shared
 * buffer; returns the text (buf, or a static string). */
const char *ck_img_errno_text(int err, char *buf, size_t n);

/* The pixel-limit check every decoder makes from the header, before it
 * allocates: a zero side is CK_ERR_FORMAT, width * height over the limit
 * (max_pixels <= 0: the default) CK_ERR_LIMIT, with the message
 * "<format>: image is W x H = N pixels, over the limit of M". */
ck_status ck_img_check_size(const char *format, uint64_t width, uint64_t height, int64_t max_pixels,
                            char *message, size_t message_size);

/* The decoders behind ck_image_decode; data starts with the format's
 * signature. Same contract as ck_image_decode; *out is written only on
 * success. */
ck_status ck_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                        char *message, size_t message_size);
ck_status ck_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                         char *message, size_t message_size);

/* The EXIF Orientation (1 to 8) in a TIFF structure (the payload of a JPEG
 * APP1 segment after "Exif\0\0"): byte order "II" or "MM", IFD0, tag 0x0112
 * of type SHORT (or LONG) and count 1. 1 (upright) when the data is
 * malformed, the tag is absent or its value is out of range: a broken EXIF
 * block is no reason to refuse the pixels. */
int ck_exif_orientation(const uint8_t *tiff, size_t size);

/* Flips and rotates img (RGB8) upright for EXIF orientation 2 to 8
 * (1 and anything else: unchanged). 5 to 8 swap width and height and need a
 * second buffer of the same size: CK_ERR_MEMORY leaves img as it was. */
ck_status ck_img_apply_orientation(ck_image *img, int orientation);

#endif
