/* image.c: the front door of image decoding: format sniffing, reading a
 * file whole, the pixel limit, messages, and freeing. The decoders are in
 * image_png.c and image_jpeg.c, EXIF orientation in image_exif.c. */
#define _POSIX_C_SOURCE 200809L   /* fileno, fstat, strerror_r */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_internal.h"

/* Every error return below fills the caller's message. */
#define FAIL(status, ...) ck_img_fail((status), message, message_size, __VA_ARGS__)

ck_status ck_img_fail(ck_status status, char *message, size_t message_size, const char *fmt, ...) {
    if (message && message_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, message_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

ck_status ck_img_check_size(const char *format, uint64_t width, uint64_t height, int64_t max_pixels,
                            char *message, size_t message_size) {
    const uint64_t limit = (uint64_t)(max_pixels > 0 ? max_pixels : CK_IMAGE_DEFAULT_MAX_PIXELS);
    /* RGB8 buffers are indexed like every other camkit buffer: the byte
     * count stays below CK_MAX_ELEMENTS whatever limit the caller gives. */
    const uint64_t hard = (uint64_t)(CK_MAX_ELEMENTS - 1) / 3;
    if (width == 0 || height == 0)
        return FAIL(CK_ERR_FORMAT, "%s: image has a zero side (%llu x %llu)", format, (unsigned long long)width,
                    (unsigned long long)height);
    /* Both sides are below 2^32 (PNG and JPEG store them in 32 and 16 bits),
     * so the product cannot wrap. */
    const uint64_t pixels = width * height;
    if (pixels > limit)
        return FAIL(CK_ERR_LIMIT, "%s: image is %llu x %llu = %llu pixels, over the limit of %llu", format,
                    (unsigned long long)width, (unsigned long long)height, (unsigned long long)pixels,
                    (unsigned long long)limit);
    if (pixels > hard)
        return FAIL(CK_ERR_LIMIT, "%s: image is %llu x %llu = %llu pixels, over camkit's maximum of %llu", format,
                    (unsigned long long)width, (unsigned long long)height, (unsigned long long)pixels,
                    (unsigned long long)hard);
    return CK_OK;
}

static const uint8_t png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
static const uint8_t jpeg_signature[3] = { 0xFF, 0xD8, 0xFF };

/* Formats that are images but not ours get CK_ERR_UNSUPPORTED and their
 * name, which tells the user more than "not a PNG or JPEG file". */
static const char *other_image_format(const uint8_t *d, size_t n) {
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF (ISO media)";
    return NULL;
}

ck_status ck_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, ck_image *out,
                          char *message, size_t message_size) {
    if (message && message_size > 0) message[0] = '\0';
    if (!out) return FAIL(CK_ERR_NULL, "no output image given");
    memset(out, 0, sizeof *out);
    if (!data && size > 0) return FAIL(CK_ERR_NULL, "no data given");
    if (size == 0) return FAIL(CK_ERR_FORMAT, "empty data (0 bytes): not a PNG or JPEG file");

    if (size >= sizeof png_signature && memcmp(data, png_signature, sizeof png_signature) == 0)
        return ck_png_decode(data, size, max_pixels, out, message, message_size);
    if (size >= sizeof jpeg_signature && memcmp(data, jpeg_signature, sizeof jpeg_signature) == 0)
        return ck_jpeg_decode(data, size, max_pixels, out, message, message_size);

    /* A file cut inside its signature is a truncated file, not a stranger. */
    if (size < sizeof png_signature && memcmp(data, png_signature, size) == 0)
        return FAIL(CK_ERR_FORMAT, "PNG: truncated data (%zu bytes, inside the signature)", size);
    if (size < sizeof jpeg_signature && memcmp(data, jpeg_signature, size) == 0)
        return FAIL(CK_ERR_FORMAT, "JPEG: truncated data (%zu bytes, inside the signature)", size);

    const char *other = other_image_format(data, size);
    if (other)
        return FAIL(CK_ERR_UNSUPPORTED, "a %s file: camkit reads PNG and JPEG only", other);
    char head[3 * 4 + 1] = "";
    for (size_t i = 0, at = 0; i < size && i < 4; i++)
        at += (size_t)snprintf(head + at, sizeof head - at, "%s%02X", i ? " " : "", data[i]);
    return FAIL(CK_ERR_FORMAT, "not a PNG or JPEG file (first bytes %s)", head);
}

/* glibc gives the GNU strerror_r under _GNU_SOURCE, the POSIX one otherwise. */
const char *ck_img_errno_text(int err, char *buf, size_t n) {
#if defined(_GNU_SOURCE)
    return strerror_r(err, buf, n);
#else
    if (strerror_r(err, buf, n) != 0) snprintf(buf, n, "error %d", err);
    return buf;
#endif
}

ck_status ck_image_load(const char *path, int64_t max_pixels, ck_image *out, char *message, size_t message_size) {
    if (message && message_size > 0) message[0] = '\0';
    if (!out) return FAIL(CK_ERR_NULL, "no output image given");
    memset(out, 0, sizeof *out);
    if (!path) return FAIL(CK_ERR_NULL, "no path given");

    char why[128];
    FILE *f = fopen(path, "rb");
    if (!f) return FAIL(CK_ERR_IO, "%s: cannot open: %s", path, ck_img_errno_text(errno, why, sizeof why));
    /* fopen succeeds on a directory, and a FIFO or device would be read
     * forever: only regular files, whose size is known, are read. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int err = errno;
        fclose(f);
        return FAIL(CK_ERR_IO, "%s: cannot stat: %s", path, ck_img_errno_text(err, why, sizeof why));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return FAIL(CK_ERR_IO, "%s: is a directory, not an image file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return FAIL(CK_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        fclose(f);
        return FAIL(CK_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        fclose(f);
        return FAIL(CK_ERR_LIMIT, "%s: file of %lld bytes is too large to read", path, (long long)st.st_size);
    }
    const size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size);
    if (!buf) {
        fclose(f);
        return FAIL(CK_ERR_MEMORY, "%s: cannot allocate %zu bytes to read the file", path, size);
    }
    const size_t got = fread(buf, 1, size, f);
    const int read_error = ferror(f), err = errno;
    fclose(f);
    if (got != size) {
        free(buf);
        if (read_error)
            return FAIL(CK_ERR_IO, "%s: read error after %zu of %zu bytes: %s", path, got, size,
                        ck_img_errno_text(err, why, sizeof why));
        return FAIL(CK_ERR_IO, "%s: file shrank while being read (%zu of %zu bytes)", path, got, size);
    }

    char inner[512];
    const ck_status status = ck_image_decode(buf, size, max_pixels, out, inner, sizeof inner);
    free(buf);
    if (status != CK_OK) return FAIL(status, "%s: %s", path, inner);
    return CK_OK;
}

void ck_image_free(ck_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
