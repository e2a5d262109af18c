/* gen_image_seeds.c: small PNG and JPEG seeds for the decoder fuzzers, cut
 * from the fixture images (make fuzz-seeds runs it; nothing it writes is
 * committed).
 *
 *   gen_image_seeds FIXTURE_IMAGES_DIR PNG_OUT_DIR JPEG_OUT_DIR
 *
 * Each fixture PNG/JPEG is decoded and a small crop from its middle is
 * written back in every kind the decoders handle differently: PNG color
 * types and bit depths (palette with and without tRNS, 1/2/4/8/16-bit
 * gray, gray+alpha, RGB, RGBA, 16-bit), interlaced or not, with ancillary
 * chunks; JPEG baseline, progressive, 4:4:4 and 4:2:0, gray, CMYK, YCCK,
 * restart markers, arithmetic coding where libjpeg has it, and an EXIF
 * orientation. Small seeds keep the fuzzers at thousands of runs per
 * second; the whole fixture files are seeds too (truncated to -max_len). */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "cam_image.h"

typedef struct { uint8_t *p; size_t n, cap; } membuf;

static void put(membuf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { fprintf(stderr, "out of memory\n"); exit(2); }
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void save(const char *dir, const char *stem, const char *kind, const char *ext, const membuf *b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%s.%s", dir, stem, kind, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
        fprintf(stderr, "gen_image_seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* ---- PNG ----------------------------------------------------------------- */

static void png_put(png_structp png, png_bytep p, size_t n) { put(png_get_io_ptr(png), p, n); }
static void png_noflush(png_structp png) { (void)png; }
static void png_abort(png_structp png, png_const_charp msg) {
    (void)png;
    fprintf(stderr, "gen_image_seeds: libpng: %s\n", msg);
    exit(2);
}

/* rows: h rows of row_bytes in the PNG's own packing (16-bit big-endian). */
static membuf make_png(int w, int h, int depth, int color, int interlace, const uint8_t *rows, size_t row_bytes,
                       const png_color *plte, int n_plte, const uint8_t *trns, int n_trns,
                       const png_color_16 *trns_color, int extras) {
    membuf b = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_abort, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &b, png_put, png_noflush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (plte) png_set_PLTE(png, info, plte, n_plte);
    if (trns || trns_color) png_set_tRNS(png, info, trns, n_trns, trns_color);
    if (extras) {
        png_text text = { .compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "camkit seed" };
        png_set_text(png, info, &text, 1);
        png_set_gAMA(png, info, 0.45455);
        png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
        png_set_pHYs(png, info, 2835, 2835, PNG_RESOLUTION_METER);
    }
    png_write_info(png, info);
    const int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)(rows + (size_t)y * row_bytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return b;
}

static void png_seeds(const char *dir, const char *stem, const uint8_t *rgb, int w, int h) {
    const size_t n = (size_t)w * h;
    uint8_t *buf = calloc(n * 8 + 64, 1), *gray = malloc(n);
    for (size_t i = 0; i < n; i++) gray[i] = (uint8_t)((rgb[3 * i] * 77 + rgb[3 * i + 1] * 150 + rgb[3 * i + 2] * 29) >> 8);
    membuf b;

    for (int il = 0; il <= 1; il++) {
        const char *rgb_kind = il ? "rgb8_interlaced" : "rgb8";
        b = make_png(w, h, 8, PNG_COLOR_TYPE_RGB, il, rgb, (size_t)w * 3, NULL, 0, NULL, 0, NULL, il);
        save(dir, stem, rgb_kind, "png", &b);
        free(b.p);

        for (size_t i = 0; i < n; i++) { memcpy(buf + 4 * i, rgb + 3 * i, 3); buf[4 * i + 3] = (uint8_t)(i * 37); }
        b = make_png(w, h, 8, PNG_COLOR_TYPE_RGB_ALPHA, il, buf, (size_t)w * 4, NULL, 0, NULL, 0, NULL, 0);
        save(dir, stem, il ? "rgba8_interlaced" : "rgba8", "png", &b);
        free(b.p);

        for (size_t i = 0; i < n * 3; i++) { buf[2 * i] = rgb[i]; buf[2 * i + 1] = (uint8_t)(i * 13); }
        b = make_png(w, h, 16, PNG_COLOR_TYPE_RGB, il, buf, (size_t)w * 6, NULL, 0, NULL, 0, NULL, 0);
        save(dir, stem, il ? "rgb16_interlaced" : "rgb16", "png", &b);
        free(b.p);
    }
    for (size_t i = 0; i < n; i++) { memcpy(buf + 8 * i, (uint8_t[]){ rgb[3 * i], 1, rgb[3 * i + 1], 2, rgb[3 * i + 2], 3, 200, 4 }, 8); }
    b = make_png(w, h, 16, PNG_COLOR_TYPE_RGB_ALPHA, 0, buf, (size_t)w * 8, NULL, 0, NULL, 0, NULL, 0);
    save(dir, stem, "rgba16", "png", &b);
    free(b.p);

    /* Gray at every depth: samples packed most significant bits first. */
    static const int depths[] = { 1, 2, 4, 8, 16 };
    for (int d = 0; d < 5; d++) {
        const int depth = depths[d];
        const size_t row = ((size_t)w * depth + 7) / 8;
        memset(buf, 0, row * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const unsigned v = gray[(size_t)y * w + x];
                if (depth == 16) {
                    buf[y * row + 2 * x] = (uint8_t)v;
                    buf[y * row + 2 * x + 1] = (uint8_t)(v ^ 0x5A);
                } else {
                    const unsigned s = v >> (8 - depth), bit = (unsigned)x * depth;
                    buf[y * row + bit / 8] |= (uint8_t)(s << (8 - depth - bit % 8));
                }
            }
        char kind[32];
        snprintf(kind, sizeof kind, "gray%d%s", depth, depth == 4 ? "_interlaced" : "");
        png_color_16 key = { .gray = 1 };
        b = make_png(w, h, depth, PNG_COLOR_TYPE_GRAY, depth == 4, buf, row, NULL, 0, NULL, 0,
                     depth == 8 ? &key : NULL, depth == 2);
        save(dir, stem, kind, "png", &b);
        free(b.p);
    }
    for (size_t i = 0; i < n; i++) { buf[2 * i] = gray[i]; buf[2 * i + 1] = (uint8_t)(255 - gray[i]); }
    b = make_png(w, h, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, buf, (size_t)w * 2, NULL, 0, NULL, 0, NULL, 0);
    save(dir, stem, "gray_alpha8", "png", &b);
    free(b.p);

    /* Palettes: 3-3-2 bits of RGB at 8 bits, and 16 grays at 4 bits. */
    png_color plte[256];
    uint8_t trns[256];
    for (int i = 0; i < 256; i++) {
        plte[i] = (png_color){ (uint8_t)((i >> 5) * 255 / 7), (uint8_t)(((i >> 2) & 7) * 255 / 7), (uint8_t)((i & 3) * 85) };
        trns[i] = (uint8_t)(255 - i);
    }
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)((rgb[3 * i] & 0xE0) | (rgb[3 * i + 1] >> 5) << 2 | rgb[3 * i + 2] >> 6);
    b = make_png(w, h, 8, PNG_COLOR_TYPE_PALETTE, 0, buf, (size_t)w, plte, 256, NULL, 0, NULL, 0);
    save(dir, stem, "palette8", "png", &b);
    free(b.p);
    b = make_png(w, h, 8, PNG_COLOR_TYPE_PALETTE, 1, buf, (size_t)w, plte, 256, trns, 200, NULL, 0);
    save(dir, stem, "palette8_trns_interlaced", "png", &b);
    free(b.p);
    const size_t row4 = ((size_t)w * 4 + 7) / 8;
    memset(buf, 0, row4 * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) buf[y * row4 + x / 2] |= (uint8_t)((gray[(size_t)y * w + x] >> 4) << (x % 2 ? 0 : 4));
    b = make_png(w, h, 4, PNG_COLOR_TYPE_PALETTE, 0, buf, row4, plte, 16, trns, 3, NULL, 0);
    save(dir, stem, "palette4_trns", "png", &b);
    free(b.p);
    free(buf);
    free(gray);
}

/* ---- JPEG ---------------------------------------------------------------- */

static membuf make_jpeg(int w, int h, const uint8_t *pixels, J_COLOR_SPACE in_space, int comps, J_COLOR_SPACE jpeg_space,
                        int quality, int subsample, int progressive, int restart, int arith, int optimize) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);   /* a failure here exits: this is a generator */
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&c, &out, &out_size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = in_space;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, jpeg_space);
    jpeg_set_quality(&c, quality, TRUE);
    if (!subsample)
        for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (progressive) jpeg_simple_progression(&c);
    c.restart_in_rows = restart;
    c.arith_code = arith ? TRUE : FALSE;
    c.optimize_coding = optimize ? TRUE : FALSE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf b = { 0 };
    put(&b, out, out_size);
    free(out);
    return b;
}

/* An APP1 Exif segment (IFD0 = { Orientation }) inserted after SOI. */
static membuf with_exif(const membuf *jpeg, int orientation, int big_endian) {
    const uint8_t ii[] = { 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0, 0 };
    const uint8_t mm[] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0 };
    const size_t seg = 2 + 6 + sizeof ii;
    const uint8_t head[] = { 0xFF, 0xD8, 0xFF, 0xE1, (uint8_t)(seg >> 8), (uint8_t)seg };
    membuf b = { 0 };
    put(&b, head, sizeof head);
    put(&b, "Exif\0\0", 6);
    put(&b, big_endian ? mm : ii, sizeof ii);
    put(&b, jpeg->p + 2, jpeg->n - 2);
    return b;
}

static void jpeg_seeds(const char *dir, const char *stem, const uint8_t *rgb, int w, int h) {
    const size_t n = (size_t)w * h;
    uint8_t *gray = malloc(n), *cmyk = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        gray[i] = (uint8_t)((rgb[3 * i] * 77 + rgb[3 * i + 1] * 150 + rgb[3 * i + 2] * 29) >> 8);
        cmyk[4 * i] = (uint8_t)(255 - rgb[3 * i]);
        cmyk[4 * i + 1] = (uint8_t)(255 - rgb[3 * i + 1]);
        cmyk[4 * i + 2] = (uint8_t)(255 - rgb[3 * i + 2]);
        cmyk[4 * i + 3] = (uint8_t)(i * 7);
    }
    struct { const char *kind; const uint8_t *px; J_COLOR_SPACE in; int comps; J_COLOR_SPACE space;
             int quality, sub, prog, restart, arith, opt; } kinds[] = {
        { "baseline420", rgb, JCS_RGB, 3, JCS_YCbCr, 75, 1, 0, 0, 0, 0 },
        { "baseline444_q95", rgb, JCS_RGB, 3, JCS_YCbCr, 95, 0, 0, 0, 0, 1 },
        { "progressive420", rgb, JCS_RGB, 3, JCS_YCbCr, 80, 1, 1, 0, 0, 0 },
        { "restart", rgb, JCS_RGB, 3, JCS_YCbCr, 70, 1, 0, 1, 0, 0 },
        { "rgb_colorspace", rgb, JCS_RGB, 3, JCS_RGB, 90, 0, 0, 0, 0, 0 },
        { "gray", gray, JCS_GRAYSCALE, 1, JCS_GRAYSCALE, 85, 0, 0, 0, 0, 0 },
        { "gray_progressive", gray, JCS_GRAYSCALE, 1, JCS_GRAYSCALE, 60, 0, 1, 0, 0, 0 },
        { "cmyk", cmyk, JCS_CMYK, 4, JCS_CMYK, 85, 0, 0, 0, 0, 0 },
        { "ycck", cmyk, JCS_CMYK, 4, JCS_YCCK, 85, 1, 0, 0, 0, 0 },
#ifdef C_ARITH_CODING_SUPPORTED
        { "arith", rgb, JCS_RGB, 3, JCS_YCbCr, 75, 1, 0, 0, 1, 0 },
        { "arith_progressive", rgb, JCS_RGB, 3, JCS_YCbCr, 75, 1, 1, 0, 1, 0 },
#endif
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        membuf b = make_jpeg(w, h, kinds[k].px, kinds[k].in, kinds[k].comps, kinds[k].space, kinds[k].quality,
                             kinds[k].sub, kinds[k].prog, kinds[k].restart, kinds[k].arith, kinds[k].opt);
        save(dir, stem, kinds[k].kind, "jpg", &b);
        if (k == 0 || k == 2) {
            for (int o = 3; o <= 6; o += 3) {
                membuf e = with_exif(&b, o, o == 6);
                char kind[48];
                snprintf(kind, sizeof kind, "%s_exif%d", kinds[k].kind, o);
                save(dir, stem, kind, "jpg", &e);
                free(e.p);
            }
        }
        free(b.p);
    }
    free(gray);
    free(cmyk);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gen_image_seeds FIXTURE_IMAGES_DIR PNG_OUT_DIR JPEG_OUT_DIR\n");
        return 64;
    }
    DIR *d = opendir(argv[1]);
    if (!d) { fprintf(stderr, "gen_image_seeds: cannot open %s\n", argv[1]); return 1; }
    int images = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".png") && strcmp(dot, ".jpg"))) continue;
        char path[4096], stem[256];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        snprintf(stem, sizeof stem, "%.*s", (int)(dot - e->d_name), e->d_name);
        ck_image img;
        char msg[512];
        if (ck_image_load(path, 0, &img, msg, sizeof msg) != CK_OK) { fprintf(stderr, "gen_image_seeds: %s\n", msg); return 1; }
        /* Two crops from the middle: 16 x 16 (whole MCUs) and 13 x 7 (partial ones, odd Adam7 passes). */
        static const int sizes[2][2] = { { 16, 16 }, { 13, 7 } };
        for (int s = 0; s < 2; s++) {
            const int w = sizes[s][0], h = sizes[s][1];
            uint8_t *crop = malloc((size_t)w * h * 3);
            const int x0 = (img.width - w) / 2, y0 = (img.height - h) / 2;
            for (int y = 0; y < h; y++)
                memcpy(crop + (size_t)y * w * 3, img.pixels + ((size_t)(y0 + y) * img.width + x0) * 3, (size_t)w * 3);
            char name[300];
            snprintf(name, sizeof name, "%s_%dx%d", stem, w, h);
            png_seeds(argv[2], name, crop, w, h);
            jpeg_seeds(argv[3], name, crop, w, h);
            free(crop);
        }
        ck_image_free(&img);
        images++;
    }
    closedir(d);
    printf("gen_image_seeds: seeds from %d fixture images\n", images);
    return images > 0 ? 0 : 1;
}
