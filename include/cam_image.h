/*
 * cam_image.h: image files in and out, and the uint8 resize of the
 * preprocessing (internal, like cam_kernels.h; libcam.so hides ck_*).
 *
 * Decoding follows Pillow's `Image.open(path).convert('RGB')`, the reference
 * of the golden fixtures (../shared/fixtures/README.md, sections 3 and 4), so
 * that a decoded image hashes to the fixtures' `decoded_rgb_sha256`:
 *
 * - PNG (libpng): gray is copied to R, G and B; 1, 2 and 4-bit gray is first
 *   scaled to 8 bits (v * 255 / (2^bits - 1)); palettes are looked up; alpha,
 *   of gray+alpha and RGBA images, and tRNS transparency are DROPPED, not
 *   composited; 16-bit samples keep their high byte (v >> 8, libpng's
 *   png_set_strip_16). One known difference: Pillow opens a 16-bit GRAY PNG
 *   as mode I;16 and its convert('RGB') clips (min(v, 255)), which turns
 *   almost every photo white; camkit keeps the high byte there too, as for
 *   every other 16-bit PNG. gAMA, sBIT and iCCP are not applied (Pillow
 *   ignores them too), and the chunks after the image data are not read:
 *   a file missing only its IEND decodes, as in Pillow. A CRC error in a
 *   critical chunk, IDAT included, is an error (libpng's default; Pillow
 *   does not check IDAT CRCs).
 * - JPEG (libjpeg-turbo): libjpeg's defaults, as Pillow leaves them: integer
 *   slow DCT (JDCT_ISLOW), fancy upsampling, output in RGB for YCbCr, RGB and
 *   gray files. Four-component files (CMYK, or YCCK with an Adobe marker) are
 *   decoded to CMYK by libjpeg and converted as Pillow does: Pillow reads
 *   EVERY four-component JPEG as Adobe-inverted CMYK ("CMYK;I"), so with
 *   libjpeg's samples X it computes R = X_k - X_k * (255 - X_c) / 255, with
 *   its own rounding (see image_jpeg.c), and likewise G from X_m, B from X_y.
 *   A file that ends early (libjpeg's "Premature end of JPEG file" warning,
 *   after which libjpeg would pad with gray) is refused, as Pillow refuses
 *   truncated files; that includes a file missing only its EOI marker, as
 *   libjpeg reads past the last block to find it. libjpeg's other
 *   corrupt-data warnings are tolerated, as in Pillow. Progressive files
 *   with more than 1000 scans are refused (a slow-decoding attack; real
 *   files have about ten).
 * - EXIF orientation: where a JPEG carries an APP1 Exif segment with an
 *   Orientation tag (0x0112) of 2 to 8, the decoded pixels are flipped and
 *   rotated upright (Pillow's ImageOps.exif_transpose; plain convert('RGB')
 *   does not do this, so a rotated photo differs from Pillow's raw pixels;
 *   none of the fixture images has the tag). Orientations 5 to 8 swap width
 *   and height. PNG eXIf chunks are not read.
 *
 * Conventions, as in cam_kernels.h, plus:
 * - Decoded images are always RGB8: channels == 3, rows packed (row stride
 *   width * 3 bytes), top row first. The pixel buffer is malloc'ed by the
 *   decoder and owned by the caller, who releases it with ck_image_free.
 * - `message` / `message_size`: every function that takes them writes one
 *   NUL-terminated English line there, truncated to fit, naming what failed
 *   and where ("PNG: invalid data in the header (libpng: IHDR: CRC error)",
 *   "cat.jpg: cannot open: No such file or directory"); "" on success.
 *   message may be NULL (or message_size 0) when the caller wants the status
 *   only.
 * - These functions allocate (the decoders, and the resize's intermediate
 *   image), unlike the numeric kernels; an allocation failure is
 *   CK_ERR_MEMORY. They keep no global state: every call may run in its own
 *   thread. libpng and libjpeg report errors by longjmp; that stays inside
 *   each C function, never crosses into the caller.
 */
#ifndef CAM_IMAGE_H
#define CAM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cam_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The pixel limit when the caller passes max_pixels <= 0: 300 MB of RGB8.
 * (Pillow's own decompression-bomb guard warns from 89.5 million pixels and
 * refuses from twice that.) */
#define CK_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)100000000)

/* A decoded image. pixels holds height rows of width * channels bytes. */
typedef struct ck_image {
    uint8_t *pixels;            /* owned; NULL in an empty (zeroed) image */
    int32_t width, height;
    int32_t channels;           /* always 3 (RGB) from the decoders */
} ck_image;

/* Decodes a PNG or JPEG file held in memory, told apart by its signature
 * (PNG: 89 50 4E 47 0D 0A 1A 0A; JPEG: FF D8 FF).
 *   data, size   the whole file; data may be NULL only when size is 0
 *                (which is CK_ERR_FORMAT). Not kept after the call.
 *   max_pixels   upper bound on width * height, checked from the header
 *                BEFORE the pixel buffer is allocated; <= 0 means
 *                CK_IMAGE_DEFAULT_MAX_PIXELS.
 *   out          receives the image; overwritten, not freed (free an image
 *                it held before). Zeroed on any error.
 * Returns CK_OK, CK_ERR_NULL (out NULL, or data NULL with size > 0),
 * CK_ERR_FORMAT (neither PNG nor JPEG, truncated or corrupt data, a zero
 * width or height), CK_ERR_UNSUPPORTED (valid but not handled here: 12-bit
 * JPEG, a JPEG with 2 or 5+ components, ...), CK_ERR_LIMIT (more pixels than
 * max_pixels, or a JPEG scan count past the limit), CK_ERR_MEMORY. */
ck_status ck_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                          char *message, size_t message_size);

/* Reads the regular file at `path` whole and decodes it as ck_image_decode
 * does. A path that cannot be opened or read, or names a directory or other
 * non-regular file, is CK_ERR_IO; an empty file is CK_ERR_FORMAT. The
 * message names the path. */
ck_status ck_image_load(const char *path, int64_t max_pixels, ck_image *out,
                        char *message, size_t message_size);

/* Frees img->pixels and zeroes *img. Accepts NULL and zeroed images, and an
 * image freed before. */
void ck_image_free(ck_image *img);

/* Writes an 8-bit RGB PNG (color type 2, not interlaced, zlib level 6) of
 * `height` rows of width * 3 bytes from `rgb` to `path`, creating or
 * truncating the file. The caller makes it atomic (write a temporary name,
 * then rename) and removes that file after an error: a failed write may
 * leave it partial (nothing is created when the arguments are refused; the
 * writer never deletes, since path may name something it did not create,
 * such as a device). CK_ERR_NULL, CK_ERR_SIZE (a side < 1 or > 2^31 - 1, or an image
 * of CK_MAX_ELEMENTS bytes or more), CK_ERR_IO (open, write or close failed:
 * the message names the path and the system's reason), CK_ERR_MEMORY. */
ck_status ck_png_write(const char *path, const uint8_t *rgb, int32_t width, int32_t height,
                       char *message, size_t message_size);

/* Pillow's BILINEAR resize of an 8-bit image (Image.resize(size,
 * Image.BILINEAR), what torchvision's resize(antialias=True) does to a PIL
 * image), bit for bit: per axis a triangle filter whose support grows with
 * the downscale factor, fixed-point coefficients with 22 fraction bits, the
 * horizontal pass first into an 8-bit intermediate image, then the vertical
 * pass; a pass is skipped when that side keeps its size (both skipped: a
 * copy). Fixtures README section 4 gives the arithmetic.
 *   src  h_in rows of w_in * channels bytes (interleaved channels, packed)
 *   dst  h_out rows of w_out * channels bytes; must not overlap src
 *   channels  1 to 4; each channel is filtered on its own.
 * Allocates the coefficient tables and the intermediate image (about
 * h_in * w_out * channels bytes) and frees them before returning. Up- and
 * downscaling are both supported. CK_ERR_NULL, CK_ERR_SIZE (a side < 1, or
 * an image of CK_MAX_ELEMENTS bytes or more), CK_ERR_ARGUMENT (channels),
 * CK_ERR_MEMORY; on an error dst is untouched. */
ck_status ck_resize_u8_antialias(const uint8_t *src, int32_t w_in, int32_t h_in, int32_t channels,
                                 uint8_t *dst, int32_t w_out, int32_t h_out);

#ifdef __cplusplus
}
#endif

#endif /* CAM_IMAGE_H */
