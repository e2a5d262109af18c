/* image_exif.c: the EXIF Orientation tag, and turning decoded pixels
 * upright by it (what Pillow's ImageOps.exif_transpose does). Every read of
 * the EXIF block is bounds-checked against its size: the block comes
 * straight from the file. */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

static uint32_t rd16(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int ck_exif_orientation(const uint8_t *tiff, size_t size) {
    enum { TAG_ORIENTATION = 0x0112, TYPE_SHORT = 3, TYPE_LONG = 4 };
    if (!tiff || size < 8) return 1;
    int le;
    if (tiff[0] == 'I' && tiff[1] == 'I') le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') le = 0;
    else return 1;
    if (rd16(tiff + 2, le) != 42) return 1;
    const uint64_t ifd = rd32(tiff + 4, le);              /* IFD0, from the TIFF header */
    if (ifd + 2 > size) return 1;
    const uint32_t entries = rd16(tiff + ifd, le);
    for (uint32_t i = 0; i < entries; i++) {
        const uint64_t at = ifd + 2 + 12 * (uint64_t)i;   /* tag, type, count, value: 2 + 2 + 4 + 4 bytes */
        if (at + 12 > size) return 1;
        const uint8_t *e = tiff + at;
        if (rd16(e, le) != TAG_ORIENTATION) continue;
        const uint32_t type = rd16(e + 2, le), count = rd32(e + 4, le);
        if (count != 1) return 1;
        /* A value that fits in 4 bytes sits in the entry itself, left-justified. */
        const uint32_t v = type == TYPE_SHORT ? rd16(e + 8, le) : type == TYPE_LONG ? rd32(e + 8, le) : 0;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) { uint8_t t = a[i]; a[i] = b[i]; b[i] = t; }
}

ck_status ck_img_apply_orientation(ck_image *img, int orientation) {
    if (!img || !img->pixels || orientation < 2 || orientation > 8) return CK_OK;
    const size_t w = (size_t)img->width, h = (size_t)img->height, c = (size_t)img->channels, row = w * c;
    uint8_t *p = img->pixels;
    switch (orientation) {
    case 2: /* mirrored left-right */
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w / 2; x++) swap_bytes(p + y * row + x * c, p + y * row + (w - 1 - x) * c, c);
        return CK_OK;
    case 3: /* upside down: the pixel order reversed */
        for (size_t i = 0, n = w * h; i < n / 2; i++) swap_bytes(p + i * c, p + (n - 1 - i) * c, c);
        return CK_OK;
    case 4: /* mirrored top-bottom */
        for (size_t y = 0; y < h / 2; y++) swap_bytes(p + y * row, p + (h - 1 - y) * row, row);
        return CK_OK;
    default: break;
    }
    /* 5 to 8 swap the sides: source pixel (x, y) lands at (dx, dy) of an
     * h-wide, w-tall image. */
    uint8_t *q = malloc(w * h * c);
    if (!q) return CK_ERR_MEMORY;
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++) {
            size_t dx, dy;
            switch (orientation) {
            case 5: dx = y;         dy = x;         break;   /* transpose */
            case 6: dx = h - 1 - y; dy = x;         break;   /* turn 90 degrees clockwise */
            case 7: dx = h - 1 - y; dy = w - 1 - x; break;   /* transverse */
            default: dx = y;        dy = w - 1 - x; break;   /* 8: turn 90 degrees counter-clockwise */
            }
            memcpy(q + (dy * h + dx) * c, p + (y * w + x) * c, c);
        }
    }
    free(p);
    img->pixels = q;
    img->width = (int32_t)h;
    img->height = (int32_t)w;
    return CK_OK;
}
