/* test_image.c: PNG/JPEG decoding, the PNG writer and Pillow's uint8
 * bilinear resize.
 *
 * - The seven fixture images decode to the SHA-256, size and channel means
 *   of ../shared/fixtures/images/images.json (Pillow's convert('RGB')); on a
 *   hash mismatch the 64x64 crop shows how far off.
 * - The resize reproduces the fixtures' resized uint8 images, and through
 *   to_tensor + normalize every stored network input, bit for bit.
 * - PNG kinds the fixtures lack (16-bit gray, gray+alpha, 1/2/4-bit gray,
 *   palette with tRNS, interlaced, 16-bit RGBA) and JPEG kinds (gray, CMYK,
 *   YCCK, EXIF orientations 1-8 in both byte orders) are written here with
 *   libpng / libjpeg and checked against values computed here.
 * - Truncated, bit-flipped and forged files must fail with a message (or
 *   decode to something sane), never crash: make test-c-asan runs this under
 *   ASan + UBSan.
 * Fixtures are read from ../shared/fixtures (the repository root is the
 * working directory under make), or from $CAMKIT_FIXTURES. */
#define _POSIX_C_SOURCE 200809L   /* mkdtemp */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "cam_image.h"
#include "check.h"
#include "image_internal.h"

/* ---- SHA-256 (FIPS 180-4), small and slow, public-domain style -------------- */

typedef struct { uint32_t h[8]; uint64_t bytes; uint8_t block[64]; size_t fill; } sha256;

static uint32_t ror32(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void sha256_block(sha256 *s, const uint8_t *p) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    };
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, s->h, sizeof a);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = a[7] + (ror32(a[4], 6) ^ ror32(a[4], 11) ^ ror32(a[4], 25)) + ((a[4] & a[5]) ^ (~a[4] & a[6])) + k[i] + w[i];
        uint32_t t2 = (ror32(a[0], 2) ^ ror32(a[0], 13) ^ ror32(a[0], 22)) + ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        memmove(a + 1, a, 7 * sizeof a[0]);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) s->h[i] += a[i];
}

static void sha256_hex(const uint8_t *p, size_t n, char hex[65]) {
    sha256 s = { { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }, 0, { 0 }, 0 };
    s.bytes = n;
    for (; n >= 64; n -= 64, p += 64) sha256_block(&s, p);
    uint8_t tail[128] = { 0 };
    memcpy(tail, p, n);
    tail[n] = 0x80;
    const size_t len = n + 9 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++) tail[len - 1 - i] = (uint8_t)((s.bytes * 8) >> (8 * i));
    for (size_t off = 0; off < len; off += 64) sha256_block(&s, tail + off);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", s.h[i]);
}

/* ---- files, .npy, images.json --------------------------------------------- */

static const char *fixtures(void) {
    const char *env = getenv("CAMKIT_FIXTURES");
    return env && *env ? env : "../shared/fixtures";
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *size = n;
    return buf;
}

static uint8_t *read_fixture(const char *rel, size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fixtures(), rel);
    uint8_t *p = read_file(path, size);
    if (!p) fprintf(stderr, "cannot read fixture %s\n", path);
    return p;
}

/* A .npy v1-3 of `descr` (e.g. "|u1", "<f4"): returns the file, with *data at
 * the array and shape[0..*ndim) filled; NULL on anything unexpected. */
static uint8_t *read_npy(const char *rel, const char *descr, const uint8_t **data, int64_t *shape, int *ndim) {
    size_t size;
    uint8_t *f = read_fixture(rel, &size);
    if (!f) return NULL;
    size_t hlen, hstart;
    if (size < 10 || memcmp(f, "\x93NUMPY", 6) != 0) goto bad;
    if (f[6] == 1) { hlen = f[8] | (size_t)f[9] << 8; hstart = 10; }
    else { hlen = f[8] | (size_t)f[9] << 8 | (size_t)f[10] << 16 | (size_t)f[11] << 24; hstart = 12; }
    if (hstart + hlen > size) goto bad;
    char header[1024];
    snprintf(header, sizeof header, "%.*s", (int)(hlen < 1023 ? hlen : 1023), (const char *)f + hstart);
    if (!strstr(header, descr) || strstr(header, "'fortran_order': True")) goto bad;
    const char *s = strstr(header, "'shape': (");
    if (!s) goto bad;
    s += strlen("'shape': (");
    *ndim = 0;
    int64_t count = 1;
    while (*s && *s != ')' && *ndim < 8) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        shape[(*ndim)++] = v;
        count *= v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    const size_t elem = descr[2] == '4' ? 4 : 1;
    if (hstart + hlen + (size_t)count * elem > size) goto bad;
    *data = f + hstart + hlen;
    return f;
bad:
    fprintf(stderr, "unexpected .npy %s\n", rel);
    free(f);
    return NULL;
}

/* The value of "key" inside the object of image `id` in images.json: a
 * string copied to str, or numbers parsed into num. Each image object has
 * every key, so the first match after the object's start is its own. */
static int json_field(const char *json, const char *id, const char *key, char *str, size_t str_size, double *num, int nums) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": {", id);
    const char *obj = strstr(json, pat);
    if (!obj) return 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(obj, pat);
    if (!p) return 0;
    p += strlen(pat);
    if (str) {
        if (*p != '"') return 0;
        const char *e = strchr(p + 1, '"');
        if (!e) return 0;
        snprintf(str, str_size, "%.*s", (int)(e - p - 1), p + 1);
        return 1;
    }
    if (*p == '[') p++;
    for (int i = 0; i < nums; i++) {
        char *end;
        while (*p == ' ' || *p == '\n' || *p == ',') p++;
        num[i] = strtod(p, &end);
        if (end == p) return 0;
        p = end;
    }
    return 1;
}

/* ---- the fixture images ------------------------------------------------- */

static const struct { const char *id, *file; int jpeg; } fixture_images[] = {
    { "astronaut_rgb8", "images/astronaut_rgb8.png", 0 },
    { "coffee_baseline", "images/coffee_baseline.jpg", 1 },
    { "chelsea_progressive", "images/chelsea_progressive.jpg", 1 },
    { "chelsea_rgba", "images/chelsea_rgba.png", 0 },
    { "chelsea_rgb16", "images/chelsea_rgb16.png", 0 },
    { "rocket_gray", "images/rocket_gray.png", 0 },
    { "rocket_palette", "images/rocket_palette.png", 0 },
};
#define N_FIXTURES ((int)(sizeof fixture_images / sizeof fixture_images[0]))

static int max_crop_diff(const ck_image *img, const char *id) {
    char rel[256];
    snprintf(rel, sizeof rel, "images/crops/%s_crop_y37_x53.npy", id);
    const uint8_t *crop;
    int64_t shape[8];
    int ndim;
    uint8_t *f = read_npy(rel, "|u1", &crop, shape, &ndim);
    if (!f || ndim != 3 || shape[0] != 64 || shape[1] != 64 || shape[2] != 3) { free(f); return 999; }
    int worst = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64 * 3; x++) {
            int d = abs((int)img->pixels[(size_t)(y + 37) * img->width * 3 + 53 * 3 + x] - (int)crop[y * 64 * 3 + x]);
            if (d > worst) worst = d;
        }
    free(f);
    return worst;
}

static void test_fixture_images(void) {
    size_t json_size;
    char *json = (char *)read_fixture("images/images.json", &json_size);
    CHECK(json != NULL, "images.json readable");
    if (!json) return;
    json = realloc(json, json_size + 1);
    json[json_size] = '\0';
    for (int i = 0; i < N_FIXTURES; i++) {
        const char *id = fixture_images[i].id;
        char want[80] = "", got[65], msg[256];
        double w = 0, h = 0, mean[3] = { 0 };
        CHECK(json_field(json, id, "decoded_rgb_sha256", want, sizeof want, NULL, 0) &&
              json_field(json, id, "width", NULL, 0, &w, 1) && json_field(json, id, "height", NULL, 0, &h, 1) &&
              json_field(json, id, "decoded_channel_mean", NULL, 0, mean, 3), "%s: fields in images.json", id);
        size_t size;
        uint8_t *data = read_fixture(fixture_images[i].file, &size);
        CHECK(data != NULL, "%s readable", id);
        if (!data) continue;
        ck_image img;
        ck_status s = ck_image_decode(data, size, 0, &img, msg, sizeof msg);
        CHECK(s == CK_OK && msg[0] == '\0', "%s: decode status %d (%s)", id, s, msg);
        if (s != CK_OK) { free(data); continue; }
        CHECK(img.width == (int)w && img.height == (int)h && img.channels == 3, "%s: %d x %d x %d, expected %g x %g x 3",
              id, img.width, img.height, img.channels, w, h);
        const size_t n = (size_t)img.width * img.height;
        sha256_hex(img.pixels, n * 3, got);
        const int exact = strcmp(got, want) == 0;
        const int crop = max_crop_diff(&img, id);
        printf("  %-20s %s %4d x %-4d sha256 %s, crop max |diff| %d\n", id, fixture_images[i].jpeg ? "JPEG" : "PNG ",
               img.width, img.height, exact ? "matches" : "DIFFERS", crop);
        if (fixture_images[i].jpeg) {
            /* Another libjpeg-turbo build may round an IDCT or upsampling
             * step differently; the crop then shows by how much. */
            CHECK(exact || crop <= 1, "%s: hash %s, expected %s; crop max diff %d", id, got, want, crop);
        } else {
            CHECK(exact, "%s: hash %s, expected %s; crop max diff %d", id, got, want, crop);
        }
        CHECK(crop == 0 || !exact, "%s: the crop agrees with the hash", id);
        double sum[3] = { 0 };
        for (size_t p = 0; p < n; p++)
            for (int c = 0; c < 3; c++) sum[c] += img.pixels[p * 3 + c];
        for (int c = 0; c < 3; c++)
            CHECK(fabs(sum[c] / n - mean[c]) < 1e-5 || (!exact && fabs(sum[c] / n - mean[c]) < 0.05),
                  "%s: channel %d mean %.6f, expected %.6f", id, c, sum[c] / n, mean[c]);

        /* ck_image_load reads the same bytes. */
        char path[512];
        ck_image again;
        snprintf(path, sizeof path, "%s/%s", fixtures(), fixture_images[i].file);
        s = ck_image_load(path, 0, &again, msg, sizeof msg);
        CHECK(s == CK_OK && again.width == img.width && again.height == img.height &&
              memcmp(again.pixels, img.pixels, n * 3) == 0, "%s: ck_image_load agrees (%s)", id, msg);
        ck_image_free(&again);

        /* The limit is inclusive: exactly w * h passes, one pixel less fails. */
        s = ck_image_decode(data, size, (int64_t)n, &again, msg, sizeof msg);
        CHECK(s == CK_OK, "%s: a limit of exactly %zu pixels passes (%s)", id, n, msg);
        ck_image_free(&again);
        s = ck_image_decode(data, size, (int64_t)n - 1, &again, msg, sizeof msg);
        CHECK(s == CK_ERR_LIMIT && strstr(msg, "over the limit") && again.pixels == NULL,
              "%s: a limit of %zu pixels fails with CK_ERR_LIMIT (%d: %s)", id, n - 1, s, msg);
        ck_image_free(&img);
        free(data);
    }
    free(json);
}

/* ---- resize against the fixtures -------------------------------------------- */

static int decode_fixture(const char *file, ck_image *img) {
    size_t size;
    uint8_t *data = read_fixture(file, &size);
    if (!data) return 0;
    char msg[256];
    ck_status s = ck_image_decode(data, size, 0, img, msg, sizeof msg);
    free(data);
    return s == CK_OK;
}

static void test_resize_fixtures(void) {
    static const struct { const char *id, *file; int s; int has_u8; } cases[] = {
        { "astronaut_rgb8", "images/astronaut_rgb8.png", 64, 1 },
        { "astronaut_rgb8", "images/astronaut_rgb8.png", 224, 1 },
        { "coffee_baseline", "images/coffee_baseline.jpg", 64, 1 },
        { "coffee_baseline", "images/coffee_baseline.jpg", 224, 1 },
        { "chelsea_progressive", "images/chelsea_progressive.jpg", 64, 0 },
        { "chelsea_rgba", "images/chelsea_rgba.png", 64, 0 },
        { "chelsea_rgb16", "images/chelsea_rgb16.png", 64, 0 },
        { "rocket_gray", "images/rocket_gray.png", 64, 0 },
        { "rocket_palette", "images/rocket_palette.png", 64, 0 },
    };
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, stdv[3] = { 0.229f, 0.224f, 0.225f };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int S = cases[i].s;
        ck_image img;
        if (!decode_fixture(cases[i].file, &img)) { CHECK(0, "%s: decode for resize", cases[i].id); continue; }
        uint8_t *out = malloc((size_t)S * S * 3);
        ck_status s = ck_resize_u8_antialias(img.pixels, img.width, img.height, 3, out, S, S);
        CHECK(s == CK_OK, "%s: resize to %d status %d", cases[i].id, S, s);
        char rel[256];
        const uint8_t *ref;
        int64_t shape[8];
        int ndim;
        if (cases[i].has_u8) {
            snprintf(rel, sizeof rel, "inputs/%s_%dx%d_resized_u8.npy", cases[i].id, S, S);
            uint8_t *f = read_npy(rel, "|u1", &ref, shape, &ndim);
            CHECK(f && ndim == 3 && shape[0] == S && shape[1] == S && shape[2] == 3, "%s readable", rel);
            if (f) {
                int worst = 0, differ = 0;
                for (int k = 0; k < S * S * 3; k++) {
                    int d = abs((int)out[k] - (int)ref[k]);
                    differ += d != 0;
                    if (d > worst) worst = d;
                }
                printf("  resize %-16s %4d x %-4d -> %3d x %-3d vs resized_u8: %d of %d samples differ, max |diff| %d\n",
                       cases[i].id, img.width, img.height, S, S, differ, S * S * 3, worst);
                CHECK(differ == 0, "%s: resized uint8 differs in %d samples (max %d)", rel, differ, worst);
            }
            free(f);
        }
        /* to_tensor + normalize in float32, then the stored network input. */
        snprintf(rel, sizeof rel, "inputs/%s_%dx%d.npy", cases[i].id, S, S);
        uint8_t *f = read_npy(rel, "<f4", &ref, shape, &ndim);
        CHECK(f && ndim == 4 && shape[1] == 3 && shape[2] == S && shape[3] == S, "%s readable", rel);
        if (f) {
            int differ = 0;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < S * S; p++) {
                    float x = (float)out[p * 3 + c] / 255.0f;
                    x = (x - mean[c]) / stdv[c];
                    float r;
                    memcpy(&r, ref + ((size_t)c * S * S + p) * 4, 4);
                    differ += memcmp(&x, &r, 4) != 0;
                }
            printf("  input  %-16s %dx%d float32 tensor: %d of %d values differ\n", cases[i].id, S, S, differ, 3 * S * S);
            CHECK(differ == 0, "%s: %d values differ from resize + to_tensor + normalize", rel, differ);
        }
        free(f);
        free(out);
        ck_image_free(&img);
    }
}

/* ---- resize on its own ------------------------------------------------------ */

/* The fixtures README's description, written out again independently
 * (division by fs where Pillow multiplies by 1 / fs). */
static void ref_axis(int in, int out, int *first, int *count, int32_t *k, int kstride) {
    const double scale = (double)in / out, fs = scale > 1.0 ? scale : 1.0, support = fs;
    for (int xx = 0; xx < out; xx++) {
        const double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        double w[4096], sum = 0;
        for (int x = 0; x < xmax - xmin; x++) {
            double t = fabs((x + xmin - center + 0.5) / fs);
            w[x] = t < 1 ? 1 - t : 0;
            sum += w[x];
        }
        for (int x = 0; x < xmax - xmin; x++) {
            double v = sum != 0 ? w[x] / sum : w[x];
            k[xx * kstride + x] = (int32_t)(v * 4194304.0 + 0.5);
        }
        first[xx] = xmin;
        count[xx] = xmax - xmin;
    }
}

static void ref_resize(const uint8_t *src, int w_in, int h_in, int ch, uint8_t *dst, int w_out, int h_out) {
    const int KS = 2048;
    int *fx = malloc(sizeof(int) * w_out), *cx = malloc(sizeof(int) * w_out);
    int *fy = malloc(sizeof(int) * h_out), *cy = malloc(sizeof(int) * h_out);
    int32_t *kx = calloc((size_t)w_out * KS, 4), *ky = calloc((size_t)h_out * KS, 4);
    ref_axis(w_in, w_out, fx, cx, kx, KS);
    ref_axis(h_in, h_out, fy, cy, ky, KS);
    const int tw = w_out != w_in ? w_out : w_in;
    uint8_t *mid = malloc((size_t)tw * h_in * ch);
    for (int y = 0; y < h_in; y++)
        for (int x = 0; x < tw; x++)
            for (int c = 0; c < ch; c++) {
                if (w_out == w_in) { mid[((size_t)y * tw + x) * ch + c] = src[((size_t)y * w_in + x) * ch + c]; continue; }
                int64_t acc = 1 << 21;
                for (int t = 0; t < cx[x]; t++) acc += (int64_t)src[((size_t)y * w_in + fx[x] + t) * ch + c] * kx[x * KS + t];
                int64_t v = acc >> 22;
                mid[((size_t)y * tw + x) * ch + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    for (int y = 0; y < h_out; y++)
        for (int x = 0; x < tw * ch; x++) {
            if (h_out == h_in) { dst[(size_t)y * tw * ch + x] = mid[(size_t)y * tw * ch + x]; continue; }
            int64_t acc = 1 << 21;
            for (int t = 0; t < cy[y]; t++) acc += (int64_t)mid[(size_t)(fy[y] + t) * tw * ch + x] * ky[y * KS + t];
            int64_t v = acc >> 22;
            dst[(size_t)y * tw * ch + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    free(fx); free(cx); free(fy); free(cy); free(kx); free(ky); free(mid);
}

static void test_resize_unit(void) {
    static const int sizes[][5] = {  /* w_in, h_in, ch, w_out, h_out */
        { 1, 1, 3, 1, 1 }, { 1, 1, 3, 7, 5 }, { 2, 2, 1, 4, 4 }, { 5, 3, 3, 5, 7 }, { 5, 3, 3, 2, 3 },
        { 17, 13, 4, 6, 29 }, { 300, 200, 3, 77, 123 }, { 640, 427, 3, 224, 224 }, { 31, 1, 2, 3, 1 },
        { 1, 40, 3, 1, 9 }, { 224, 224, 3, 224, 224 }, { 100, 100, 1, 33, 33 }, { 7, 9, 3, 1000, 3 },
        { 1000, 3, 3, 1, 1 },
    };
    check_seed(42);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int wi = sizes[i][0], hi = sizes[i][1], ch = sizes[i][2], wo = sizes[i][3], ho = sizes[i][4];
        uint8_t *src = malloc((size_t)wi * hi * ch), *a = malloc((size_t)wo * ho * ch), *b = malloc((size_t)wo * ho * ch);
        for (int k = 0; k < wi * hi * ch; k++) src[k] = (uint8_t)check_int(0, 255);
        ck_status s = ck_resize_u8_antialias(src, wi, hi, ch, a, wo, ho);
        ref_resize(src, wi, hi, ch, b, wo, ho);
        CHECK(s == CK_OK && memcmp(a, b, (size_t)wo * ho * ch) == 0, "resize %dx%dx%d -> %dx%d against the README reference",
              wi, hi, ch, wo, ho);
        /* A flat image stays flat, whatever the scale. */
        memset(src, 173, (size_t)wi * hi * ch);
        s = ck_resize_u8_antialias(src, wi, hi, ch, a, wo, ho);
        int flat = s == CK_OK;
        for (int k = 0; k < wo * ho * ch; k++) flat &= a[k] == 173;
        CHECK(flat, "resize %dx%d -> %dx%d keeps a flat image flat", wi, hi, wo, ho);
        free(src); free(a); free(b);
    }
    /* 2 -> 4 upscale by hand: centers at 0.25, 0.75, 1.25, 1.75 of a [0, 255]
     * row give weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1) after the
     * border clamp; 0.25 * 255 = 63.75 rounds to 64. */
    const uint8_t row[2] = { 0, 255 };
    uint8_t up[4];
    CHECK(ck_resize_u8_antialias(row, 2, 1, 1, up, 4, 1) == CK_OK && up[0] == 0 && up[1] == 64 && up[2] == 191 && up[3] == 255,
          "2 -> 4 gives 0 64 191 255, got %d %d %d %d", up[0], up[1], up[2], up[3]);
    /* 4 -> 2 downscale: a triangle of half-width 2 around centers 1 and 3;
     * input x sits at x + 0.5, so output 0 weighs inputs 0, 1, 2 by 0.75,
     * 0.75, 0.25 (/ 1.75): 500 / 7 = 71.4; output 1 inputs 1, 2, 3 by 0.25,
     * 0.75, 0.75: 205 / 1.75 = 117.1. */
    const uint8_t four[4] = { 0, 100, 200, 40 };
    uint8_t two[2];
    CHECK(ck_resize_u8_antialias(four, 4, 1, 1, two, 2, 1) == CK_OK && two[0] == 71 && two[1] == 117,
          "4 -> 2 gives 71 117, got %d %d", two[0], two[1]);

    uint8_t px[12] = { 0 }, outpx[12];
    CHECK(ck_resize_u8_antialias(NULL, 2, 2, 3, outpx, 2, 2) == CK_ERR_NULL, "NULL src");
    CHECK(ck_resize_u8_antialias(px, 2, 2, 3, NULL, 2, 2) == CK_ERR_NULL, "NULL dst");
    CHECK(ck_resize_u8_antialias(px, 2, 2, 0, outpx, 2, 2) == CK_ERR_ARGUMENT, "0 channels");
    CHECK(ck_resize_u8_antialias(px, 2, 2, 5, outpx, 2, 2) == CK_ERR_ARGUMENT, "5 channels");
    CHECK(ck_resize_u8_antialias(px, 0, 2, 3, outpx, 2, 2) == CK_ERR_SIZE, "zero input width");
    CHECK(ck_resize_u8_antialias(px, 2, 2, 3, outpx, 2, -1) == CK_ERR_SIZE, "negative output height");
    CHECK(ck_resize_u8_antialias(px, 65536, 65536, 3, outpx, 2, 2) == CK_ERR_SIZE, "input of 2^32 pixels");
    memset(outpx, 7, sizeof outpx);
    CHECK(ck_resize_u8_antialias(px, 2, 2, 3, outpx, 2, 0) == CK_ERR_SIZE && outpx[0] == 7, "an error leaves dst untouched");
}

/* ---- PNGs written here ------------------------------------------------------ */

typedef struct { uint8_t *p; size_t n, cap; } membuf;

static void membuf_put(membuf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { fprintf(stderr, "out of memory\n"); exit(2); }
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void png_put(png_structp png, png_bytep p, size_t n) { membuf_put(png_get_io_ptr(png), p, n); }
static void png_noflush(png_structp png) { (void)png; }
static void png_abort(png_structp png, png_const_charp msg) {
    (void)png;
    fprintf(stderr, "test PNG writer: %s\n", msg);
    exit(2);
}

/* A PNG from `rows` (height rows, packed in the given format) into memory. */
static membuf make_png(int w, int h, int depth, int color, int interlace, const uint8_t *rows, size_t row_bytes,
                       const png_color *plte, int n_plte, const uint8_t *trns, int n_trns, const png_color_16 *trns_gray) {
    membuf b = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_abort, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &b, png_put, png_noflush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (plte) png_set_PLTE(png, info, plte, n_plte);
    if (trns || trns_gray) png_set_tRNS(png, info, trns, n_trns, trns_gray);
    png_write_info(png, info);
    if (depth == 16) png_set_swap(png);   /* rows below are little-endian uint16 */
    const int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(png, rows + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return b;
}

static int decode_expect(const membuf *b, int w, int h, const uint8_t *expect, const char *what) {
    ck_image img;
    char msg[256];
    ck_status s = ck_image_decode(b->p, b->n, 0, &img, msg, sizeof msg);
    int ok = s == CK_OK && img.width == w && img.height == h && img.channels == 3 &&
             memcmp(img.pixels, expect, (size_t)w * h * 3) == 0;
    CHECK(ok, "%s: status %d (%s), %d x %d", what, s, msg, img.width, img.height);
    ck_image_free(&img);
    return ok;
}

static void test_png_kinds(void) {
    enum { W = 13, H = 11 };   /* odd sides: every Adam7 pass and partial byte is exercised */
    uint8_t expect[W * H * 3];
    check_seed(7);

    /* 16-bit gray: the high byte, copied to R, G, B. */
    uint16_t g16[W * H];
    for (int i = 0; i < W * H; i++) g16[i] = (uint16_t)check_int(0, 65535);
    g16[0] = 0xFFFF; g16[1] = 0x00FF; g16[2] = 0x0100;   /* 255, 0, 1 */
    for (int i = 0; i < W * H; i++) expect[3 * i] = expect[3 * i + 1] = expect[3 * i + 2] = (uint8_t)(g16[i] >> 8);
    for (int il = 0; il <= 1; il++) {
        membuf b = make_png(W, H, 16, PNG_COLOR_TYPE_GRAY, il, (const uint8_t *)g16, W * 2, NULL, 0, NULL, 0, NULL);
        decode_expect(&b, W, H, expect, il ? "16-bit gray, interlaced" : "16-bit gray");
        free(b.p);
    }

    /* 8-bit gray + alpha: gray copied, alpha dropped (not composited). */
    uint8_t ga[W * H * 2];
    for (int i = 0; i < W * H; i++) {
        ga[2 * i] = (uint8_t)check_int(0, 255);
        ga[2 * i + 1] = (uint8_t)check_int(0, 255);
        expect[3 * i] = expect[3 * i + 1] = expect[3 * i + 2] = ga[2 * i];
    }
    membuf b = make_png(W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, ga, W * 2, NULL, 0, NULL, 0, NULL);
    decode_expect(&b, W, H, expect, "gray + alpha");
    free(b.p);

    /* 16-bit gray + alpha. */
    uint16_t ga16[W * H * 2];
    for (int i = 0; i < W * H * 2; i++) ga16[i] = (uint16_t)check_int(0, 65535);
    for (int i = 0; i < W * H; i++) expect[3 * i] = expect[3 * i + 1] = expect[3 * i + 2] = (uint8_t)(ga16[2 * i] >> 8);
    b = make_png(W, H, 16, PNG_COLOR_TYPE_GRAY_ALPHA, 0, (const uint8_t *)ga16, W * 4, NULL, 0, NULL, 0, NULL);
    decode_expect(&b, W, H, expect, "16-bit gray + alpha");
    free(b.p);

    /* 1, 2 and 4-bit gray: packed MSB first, scaled to 0..255 (v * 255 / max). */
    for (int depth = 1; depth <= 4; depth *= 2) {
        const int maxv = (1 << depth) - 1, per_byte = 8 / depth, row_bytes = (W + per_byte - 1) / per_byte;
        uint8_t packed[H * 8] = { 0 };
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = check_int(0, maxv);
                packed[y * row_bytes + x / per_byte] |= (uint8_t)(v << (8 - depth * (x % per_byte + 1)));
                uint8_t e = (uint8_t)(v * 255 / maxv);
                expect[(y * W + x) * 3] = expect[(y * W + x) * 3 + 1] = expect[(y * W + x) * 3 + 2] = e;
            }
        for (int il = 0; il <= 1; il++) {
            char what[64];
            snprintf(what, sizeof what, "%d-bit gray%s", depth, il ? ", interlaced" : "");
            b = make_png(W, H, depth, PNG_COLOR_TYPE_GRAY, il, packed, (size_t)row_bytes, NULL, 0, NULL, 0, NULL);
            decode_expect(&b, W, H, expect, what);
            free(b.p);
        }
    }

    /* Gray with a tRNS color: ignored. */
    uint8_t g8[W * H];
    for (int i = 0; i < W * H; i++) {
        g8[i] = (uint8_t)(i % 3 == 0 ? 77 : check_int(0, 255));
        expect[3 * i] = expect[3 * i + 1] = expect[3 * i + 2] = g8[i];
    }
    png_color_16 key = { 0, 0, 0, 0, 77 };
    b = make_png(W, H, 8, PNG_COLOR_TYPE_GRAY, 0, g8, W, NULL, 0, NULL, 0, &key);
    decode_expect(&b, W, H, expect, "gray with tRNS");
    free(b.p);

    /* Palette with tRNS, at 8 and 4 bits: the palette color, alpha ignored;
     * the palette is shorter than 2^depth and tRNS shorter than the palette. */
    png_color plte[12];
    uint8_t trns[5] = { 0, 10, 128, 255, 3 };
    for (int i = 0; i < 12; i++) plte[i] = (png_color){ (uint8_t)(i * 20 + 5), (uint8_t)(250 - i * 17), (uint8_t)(i * i) };
    for (int depth = 4; depth <= 8; depth += 4) {
        const int per_byte = 8 / depth, row_bytes = (W + per_byte - 1) / per_byte;
        uint8_t packed[H * W] = { 0 };
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = check_int(0, 11);
                packed[y * row_bytes + x / per_byte] |= (uint8_t)(v << (8 - depth * (x % per_byte + 1)));
                expect[(y * W + x) * 3] = plte[v].red;
                expect[(y * W + x) * 3 + 1] = plte[v].green;
                expect[(y * W + x) * 3 + 2] = plte[v].blue;
            }
        char what[64];
        snprintf(what, sizeof what, "%d-bit palette with tRNS", depth);
        b = make_png(W, H, depth, PNG_COLOR_TYPE_PALETTE, 0, packed, (size_t)row_bytes, plte, 12, trns, 5, NULL);
        decode_expect(&b, W, H, expect, what);
        free(b.p);
        snprintf(what, sizeof what, "%d-bit palette with tRNS, interlaced", depth);
        b = make_png(W, H, depth, PNG_COLOR_TYPE_PALETTE, 1, packed, (size_t)row_bytes, plte, 12, trns, 5, NULL);
        decode_expect(&b, W, H, expect, what);
        free(b.p);
    }

    /* Interlaced 8-bit RGB, and a 1 x 1 one (most Adam7 passes empty). */
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)check_int(0, 255);
    b = make_png(W, H, 8, PNG_COLOR_TYPE_RGB, 1, rgb, W * 3, NULL, 0, NULL, 0, NULL);
    decode_expect(&b, W, H, rgb, "interlaced RGB");
    free(b.p);
    b = make_png(1, 1, 8, PNG_COLOR_TYPE_RGB, 1, rgb, 3, NULL, 0, NULL, 0, NULL);
    decode_expect(&b, 1, 1, rgb, "1 x 1 interlaced RGB");
    free(b.p);

    /* 16-bit RGBA, interlaced: high bytes, alpha dropped. */
    uint16_t rgba16[W * H * 4];
    for (int i = 0; i < W * H * 4; i++) rgba16[i] = (uint16_t)check_int(0, 65535);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) expect[3 * i + c] = (uint8_t)(rgba16[4 * i + c] >> 8);
    b = make_png(W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, 1, (const uint8_t *)rgba16, W * 8, NULL, 0, NULL, 0, NULL);
    decode_expect(&b, W, H, expect, "16-bit RGBA, interlaced");
    free(b.p);
}

/* ---- JPEGs written here --------------------------------------------------- */

/* A JPEG of `w` x `h` samples of `in_space` (components interleaved),
 * stored as `jpeg_space`; 4:4:4 unless `subsample`. */
static membuf make_jpeg(int w, int h, const uint8_t *pixels, J_COLOR_SPACE in_space, int comps, J_COLOR_SPACE jpeg_space,
                        int quality, int subsample, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);   /* a failure here exits: this is the test's own writer */
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
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf b = { 0 };
    membuf_put(&b, out, out_size);
    free(out);
    return b;
}

static int max_diff_flat(const ck_image *img, const uint8_t rgb[3]) {
    int worst = 0;
    for (size_t i = 0; i < (size_t)img->width * img->height; i++)
        for (int c = 0; c < 3; c++) {
            int d = abs((int)img->pixels[3 * i + c] - rgb[c]);
            if (d > worst) worst = d;
        }
    return worst;
}

/* Pillow's CMYK;I + cmyk2rgb on libjpeg's samples, written out again. */
static uint8_t pil_cmyk(int x, int xk) {
    const int c = 255 - x, k = 255 - xk, nk = 255 - k, t = c * nk + 128;
    int v = nk - ((t >> 8) + t) / 256;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void test_jpeg_kinds(void) {
    enum { W = 24, H = 16 };
    char msg[256];
    ck_image img;

    /* Gray: one component, copied to R, G and B. */
    uint8_t gray[W * H];
    memset(gray, 100, sizeof gray);
    membuf b = make_jpeg(W, H, gray, JCS_GRAYSCALE, 1, JCS_GRAYSCALE, 90, 0, 0);
    ck_status s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    CHECK(s == CK_OK && img.width == W && img.height == H && max_diff_flat(&img, (const uint8_t[]){ 100, 100, 100 }) <= 2,
          "flat gray JPEG: status %d (%s)", s, msg);
    ck_image_free(&img);
    free(b.p);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) gray[y * W + x] = (uint8_t)(x * 10 + y);
    b = make_jpeg(W, H, gray, JCS_GRAYSCALE, 1, JCS_GRAYSCALE, 95, 0, 1);
    s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    int same = s == CK_OK, near = s == CK_OK;
    for (int i = 0; s == CK_OK && i < W * H; i++) {
        same &= img.pixels[3 * i] == img.pixels[3 * i + 1] && img.pixels[3 * i] == img.pixels[3 * i + 2];
        near &= abs(img.pixels[3 * i] - gray[i]) <= 3;
    }
    CHECK(same && near, "progressive gray ramp: R = G = B and within 3 of the source (%s)", msg);
    ck_image_free(&img);
    free(b.p);

    /* YCbCr from RGB, 4:2:0: a flat color survives. */
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) { rgb[3 * i] = 200; rgb[3 * i + 1] = 60; rgb[3 * i + 2] = 30; }
    b = make_jpeg(W, H, rgb, JCS_RGB, 3, JCS_YCbCr, 95, 1, 0);
    s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    CHECK(s == CK_OK && max_diff_flat(&img, (const uint8_t[]){ 200, 60, 30 }) <= 2, "flat YCbCr JPEG (%s)", msg);
    ck_image_free(&img);
    free(b.p);

    /* CMYK and YCCK (with libjpeg's Adobe marker): Pillow's inverted-CMYK
     * conversion of libjpeg's samples. */
    static const uint8_t cmyk_cases[][4] = { { 30, 60, 90, 200 }, { 255, 255, 255, 255 }, { 0, 0, 0, 0 }, { 255, 128, 0, 100 } };
    for (size_t k = 0; k < sizeof cmyk_cases / sizeof cmyk_cases[0]; k++) {
        uint8_t cmyk[W * H * 4];
        for (int i = 0; i < W * H; i++) memcpy(cmyk + 4 * i, cmyk_cases[k], 4);
        const uint8_t *q = cmyk_cases[k];
        const uint8_t want[3] = { pil_cmyk(q[0], q[3]), pil_cmyk(q[1], q[3]), pil_cmyk(q[2], q[3]) };
        for (int ycck = 0; ycck <= 1; ycck++) {
            b = make_jpeg(W, H, cmyk, JCS_CMYK, 4, ycck ? JCS_YCCK : JCS_CMYK, 95, 0, 0);
            s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
            const int d = s == CK_OK ? max_diff_flat(&img, want) : 999;
            CHECK(s == CK_OK && d <= 2, "%s JPEG %d %d %d %d -> RGB %d %d %d: status %d (%s), max diff %d",
                  ycck ? "YCCK" : "CMYK", q[0], q[1], q[2], q[3], want[0], want[1], want[2], s, msg, d);
            ck_image_free(&img);
            free(b.p);
        }
    }
    /* Pillow's formula at its ends: white ink-free paper is libjpeg (255, 255, 255, 255). */
    CHECK(pil_cmyk(255, 255) == 255 && pil_cmyk(0, 255) == 0 && pil_cmyk(255, 0) == 0 && pil_cmyk(128, 255) == 128,
          "Pillow CMYK;I conversion ends");
}

/* A progressive 16 x 16 JPEG of `comps` (1 or 3) components whose scan
 * script sends every coefficient in 11 successive-approximation scans
 * (Al 10, then refinements down to 0): 11 + comps * 63 * 11 scans. */
static membuf many_scan_jpeg(int comps) {
    enum { W = 16, H = 16 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * comps; i++) px[i] = (uint8_t)(i * 37);
    static jpeg_scan_info scans[11 + 3 * 63 * 11];
    int n = 0;
    for (int a = 10; a >= 0; a--) {   /* DC of every component: first, then refinements */
        jpeg_scan_info *sc = &scans[n++];
        memset(sc, 0, sizeof *sc);
        sc->comps_in_scan = comps;
        for (int c = 0; c < comps; c++) sc->component_index[c] = c;
        sc->Ah = a == 10 ? 0 : a + 1;
        sc->Al = a;
    }
    for (int c = 0; c < comps; c++)
        for (int k = 1; k < 64; k++)
            for (int a = 10; a >= 0; a--) {
                jpeg_scan_info *sc = &scans[n++];
                memset(sc, 0, sizeof *sc);
                sc->comps_in_scan = 1;
                sc->component_index[0] = c;
                sc->Ss = sc->Se = k;
                sc->Ah = a == 10 ? 0 : a + 1;
                sc->Al = a;
            }
    struct jpeg_compress_struct cc;
    struct jpeg_error_mgr err;
    cc.err = jpeg_std_error(&err);
    jpeg_create_compress(&cc);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&cc, &out, &out_size);
    cc.image_width = W;
    cc.image_height = H;
    cc.input_components = comps;
    cc.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cc);
    cc.scan_info = scans;
    cc.num_scans = n;
    jpeg_start_compress(&cc, TRUE);
    while (cc.next_scanline < cc.image_height) {
        JSAMPROW row = px + (size_t)cc.next_scanline * W * comps;
        jpeg_write_scanlines(&cc, &row, 1);
    }
    jpeg_finish_compress(&cc);
    jpeg_destroy_compress(&cc);
    membuf b = { 0 };
    membuf_put(&b, out, out_size);
    free(out);
    return b;
}

static void test_jpeg_scan_limit(void) {
    char msg[256];
    ck_image img;
    membuf b = many_scan_jpeg(1);   /* 704 scans: under the limit */
    ck_status s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    CHECK(s == CK_OK && img.width == 16, "a 704-scan progressive JPEG decodes: %d %s", s, msg);
    ck_image_free(&img);
    free(b.p);
    b = many_scan_jpeg(3);          /* 2090 scans: refused at scan 1001 */
    s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_LIMIT && strstr(msg, "more than 1000 progressive scans") && img.pixels == NULL,
          "a 2090-scan progressive JPEG is refused: %d %s", s, msg);
    free(b.p);
}

/* ---- EXIF orientation --------------------------------------------------- */

/* An APP1 Exif segment with IFD0 = { Make (ASCII, offset), Orientation },
 * in little- (II) or big-endian (MM) order, inserted after SOI. */
static membuf with_exif(const membuf *jpeg, int orientation, int big_endian) {
    uint8_t tiff[64];
    size_t n = 0;
#define P16(v) do { uint16_t v_ = (uint16_t)(v); if (big_endian) { tiff[n++] = (uint8_t)(v_ >> 8); tiff[n++] = (uint8_t)v_; } \
                    else { tiff[n++] = (uint8_t)v_; tiff[n++] = (uint8_t)(v_ >> 8); } } while (0)
#define P32(v) do { uint32_t w_ = (uint32_t)(v); if (big_endian) { P16(w_ >> 16); P16(w_); } else { P16(w_); P16(w_ >> 16); } } while (0)
    tiff[n++] = big_endian ? 'M' : 'I';
    tiff[n++] = big_endian ? 'M' : 'I';
    P16(42); P32(8);                                        /* IFD0 at 8 */
    P16(2);                                                 /* two entries */
    P16(0x010F); P16(2); P32(6); P32(38);                   /* Make, ASCII[6] at 38 */
    P16(0x0112); P16(3); P32(1); P16(orientation); P16(0);  /* Orientation, SHORT, left-justified */
    P32(0);                                                 /* no IFD1 */
    memcpy(tiff + n, "Camk!\0", 6);
    n += 6;
#undef P16
#undef P32
    membuf b = { 0 };
    const size_t seg = 2 + 6 + n;
    const uint8_t head[] = { 0xFF, 0xD8, 0xFF, 0xE1, (uint8_t)(seg >> 8), (uint8_t)seg };
    membuf_put(&b, head, sizeof head);
    membuf_put(&b, "Exif\0\0", 6);
    membuf_put(&b, tiff, n);
    membuf_put(&b, jpeg->p + 2, jpeg->n - 2);
    return b;
}

static void test_exif(void) {
    /* 32 x 16, four flat 16 x 8 quadrants, 4:4:4 at quality 100: the
     * colors come back within a level or two, so corners identify them. */
    enum { W = 32, H = 16 };
    static const uint8_t quad[4][3] = { { 220, 30, 30 }, { 30, 200, 40 }, { 40, 40, 210 }, { 240, 240, 240 } };
    uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) memcpy(rgb + (y * W + x) * 3, quad[(y >= H / 2) * 2 + (x >= W / 2)], 3);
    membuf plain = make_jpeg(W, H, rgb, JCS_RGB, 3, JCS_YCbCr, 100, 0, 0);
    char msg[256];
    ck_image base;
    CHECK(ck_image_decode(plain.p, plain.n, 0, &base, msg, sizeof msg) == CK_OK, "quadrant JPEG decodes (%s)", msg);
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be <= 1; be++) {
            membuf b = with_exif(&plain, o, be);
            ck_image img;
            ck_status s = ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
            const int swap = o >= 5;
            CHECK(s == CK_OK && img.width == (swap ? H : W) && img.height == (swap ? W : H),
                  "orientation %d (%s): status %d, %d x %d", o, be ? "MM" : "II", s, img.width, img.height);
            if (s != CK_OK) { free(b.p); continue; }
            /* Where each output pixel comes from, by the EXIF definitions
             * (the inverse of the decoder's mapping). */
            int ok = 1;
            for (int y = 0; y < img.height; y++)
                for (int x = 0; x < img.width; x++) {
                    int sx = x, sy = y;
                    switch (o) {
                    case 2: sx = W - 1 - x; break;
                    case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                    case 4: sy = H - 1 - y; break;
                    case 5: sx = y; sy = x; break;
                    case 6: sx = y; sy = H - 1 - x; break;
                    case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                    case 8: sx = W - 1 - y; sy = x; break;
                    }
                    ok &= memcmp(img.pixels + ((size_t)y * img.width + x) * 3, base.pixels + ((size_t)sy * W + sx) * 3, 3) == 0;
                }
            CHECK(ok, "orientation %d (%s): pixels moved as EXIF defines", o, be ? "MM" : "II");
            if (o == 6) {
                /* Turned 90 degrees clockwise: the bottom-left (blue) quadrant
                 * is now top-left, the top-left (red) one top-right. */
                const uint8_t *tl = img.pixels, *tr = img.pixels + (size_t)(img.width - 1) * 3;
                CHECK(tl[2] > 180 && tl[0] < 80 && tr[0] > 180 && tr[2] < 80, "orientation 6: blue top-left (%d %d %d), red top-right (%d %d %d)",
                      tl[0], tl[1], tl[2], tr[0], tr[1], tr[2]);
            }
            ck_image_free(&img);
            free(b.p);
        }
    }
    /* Broken or odd EXIF blocks leave the image as it is. */
    membuf b = with_exif(&plain, 9, 0);
    ck_image img;
    CHECK(ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg) == CK_OK && img.width == W, "orientation 9 is ignored");
    ck_image_free(&img);
    b.p[12 + 4] = 0xFF;   /* IFD0 offset past the block */
    CHECK(ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg) == CK_OK && img.width == W, "a bad IFD offset is ignored");
    ck_image_free(&img);
    free(b.p);
    static const uint8_t le6[] = { 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0 };
    static const uint8_t be8[] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0 };
    CHECK(ck_exif_orientation(le6, sizeof le6) == 6, "II orientation 6");
    CHECK(ck_exif_orientation(be8, sizeof be8) == 8, "MM orientation 8");
    CHECK(ck_exif_orientation(le6, sizeof le6 - 1) == 1, "an entry cut short is ignored");
    CHECK(ck_exif_orientation(le6, 9) == 1, "an IFD count cut short is ignored");
    CHECK(ck_exif_orientation(NULL, 0) == 1 && ck_exif_orientation(le6, 4) == 1, "no block");
    uint8_t odd[sizeof le6];
    memcpy(odd, le6, sizeof odd);
    odd[14] = 2;   /* count 2 */
    CHECK(ck_exif_orientation(odd, sizeof odd) == 1, "an orientation with count 2 is ignored");
    memcpy(odd, le6, sizeof odd);
    odd[2] = 43;
    CHECK(ck_exif_orientation(odd, sizeof odd) == 1, "a bad TIFF magic is ignored");
    memcpy(odd, le6, sizeof odd);
    odd[4] = 0xF0; odd[5] = 0xFF; odd[6] = 0xFF; odd[7] = 0xFF;
    CHECK(ck_exif_orientation(odd, sizeof odd) == 1, "an IFD offset near 2^32 is ignored");
    ck_image_free(&base);
    free(plain.p);
}

/* ---- bad input ------------------------------------------------------------- */

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c >> 1 ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* A PNG whose IHDR claims w x h (RGB8) with a valid CRC, then one tiny
 * IDAT and IEND: only the header is believable. */
static membuf forged_png(uint32_t w, uint32_t h) {
    membuf b = { 0 };
    membuf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[8 + 13 + 4] = { 0, 0, 0, 13, 'I', 'H', 'D', 'R' };
    put_be32(ihdr + 8, w);
    put_be32(ihdr + 12, h);
    ihdr[16] = 8; ihdr[17] = 2;
    put_be32(ihdr + 21, crc32_of(ihdr + 4, 17));
    membuf_put(&b, ihdr, sizeof ihdr);
    uint8_t idat[8 + 8 + 4] = { 0, 0, 0, 8, 'I', 'D', 'A', 'T', 0x78, 0x9C, 0x63, 0, 0, 0, 0, 1 };
    put_be32(idat + 16, crc32_of(idat + 4, 12));
    membuf_put(&b, idat, sizeof idat);
    uint8_t iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D' };
    put_be32(iend + 8, crc32_of(iend + 4, 4));
    membuf_put(&b, iend, sizeof iend);
    return b;
}

/* Offset of a JPEG's SOF segment (after its length), walking the markers. */
static size_t jpeg_sof(const uint8_t *p, size_t n) {
    for (size_t i = 2; i + 4 <= n && p[i] == 0xFF;) {
        const uint8_t m = p[i + 1];
        const size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) return i + 4;
        i += 2 + len;
    }
    return 0;
}

static int bad_total, bad_failed_cleanly, bad_decoded;

/* Any outcome but a crash is allowed; an error needs a message and an
 * empty image, a success a sane one. Returns the status. */
static ck_status try_decode(const uint8_t *p, size_t n, int64_t limit, const char *what) {
    ck_image img;
    char msg[256];
    memset(&img, 0xAB, sizeof img);
    memset(msg, 'x', sizeof msg);
    ck_status s = ck_image_decode(p, n, limit, &img, msg, sizeof msg);
    bad_total++;
    if (s == CK_OK) {
        bad_decoded++;
        CHECK(img.pixels && img.width > 0 && img.height > 0 && img.channels == 3 && msg[0] == '\0', "%s: a success is a sane image", what);
        /* Touch every byte, so ASan sees a short buffer. */
        unsigned sum = 0;
        for (size_t i = 0; img.pixels && i < (size_t)img.width * img.height * 3; i++) sum += img.pixels[i];
        (void)sum;
    } else {
        bad_failed_cleanly++;
        CHECK(msg[0] != '\0' && memchr(msg, '\0', sizeof msg) && !strchr(msg, '\n') && img.pixels == NULL && img.width == 0,
              "%s: error %d comes with a one-line message and an empty image", what, s);
    }
    ck_image_free(&img);
    return s;
}

static void test_bad_input(void) {
    char what[128], msg[256];
    ck_image img;
    check_seed(2024);
    for (int i = 0; i < N_FIXTURES; i++) {
        size_t size;
        uint8_t *data = read_fixture(fixture_images[i].file, &size);
        if (!data) { CHECK(0, "%s readable", fixture_images[i].file); continue; }
        const char *id = fixture_images[i].id;
        /* Truncation anywhere before the last quarter is inside the image
         * data: it must be refused, not padded. */
        const size_t cuts[] = { 1, 2, 3, 5, 8, 9, 16, 24, 33, 40, 64, 100, 200, 333, 1000, size / 8, size / 4,
                                size / 3, size / 2, size * 2 / 3, size * 3 / 4, size - 1000, size - 100, size - 13,
                                size - 12, size - 8, size - 2, size - 1 };
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            uint8_t *cut = malloc(cuts[c]);   /* exactly the short length, so ASan catches an overread */
            memcpy(cut, data, cuts[c]);
            snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", id, cuts[c], size);
            ck_status s = try_decode(cut, cuts[c], 0, what);
            if (cuts[c] <= size * 3 / 4) CHECK(s == CK_ERR_FORMAT, "%s is refused as CK_ERR_FORMAT (got %d)", what, s);
            free(cut);
        }
        /* Bytes flipped in the header (first 64 bytes) and anywhere. */
        uint8_t *mut = malloc(size);
        for (int k = 0; k < 24; k++) {
            memcpy(mut, data, size);
            const size_t at = k < 12 ? (size_t)check_int(0, 63) : (size_t)check_int(0, (int)size - 1);
            const int flips = k % 3 + 1;
            for (int f = 0; f < flips; f++) mut[(at + (size_t)f * 7) % size] ^= (uint8_t)check_int(1, 255);
            snprintf(what, sizeof what, "%s with %d bytes changed from offset %zu", id, flips, at);
            try_decode(mut, size, 0, what);
        }
        free(mut);
        free(data);
    }

    /* Not images at all. */
    static const char text[] = "just some text, not an image\n";
    CHECK(try_decode((const uint8_t *)text, sizeof text - 1, 0, "a text file") == CK_ERR_FORMAT, "text is CK_ERR_FORMAT");
    ck_image_decode((const uint8_t *)text, sizeof text - 1, 0, &img, msg, sizeof msg);
    CHECK(strcmp(msg, "not a PNG or JPEG file (first bytes 6A 75 73 74)") == 0, "text: %s", msg);
    CHECK(ck_image_decode((const uint8_t *)text, 0, 0, &img, msg, sizeof msg) == CK_ERR_FORMAT && strstr(msg, "empty"),
          "empty data: %s", msg);
    CHECK(ck_image_decode(NULL, 0, 0, &img, msg, sizeof msg) == CK_ERR_FORMAT, "NULL, 0 bytes");
    CHECK(ck_image_decode(NULL, 5, 0, &img, msg, sizeof msg) == CK_ERR_NULL, "NULL data");
    CHECK(ck_image_decode((const uint8_t *)text, 5, 0, NULL, msg, sizeof msg) == CK_ERR_NULL, "NULL out");
    CHECK(ck_image_decode((const uint8_t *)text, 5, 0, &img, NULL, 0) == CK_ERR_FORMAT, "no message buffer");
    CHECK(ck_image_decode((const uint8_t *)text, 5, 0, &img, msg, 1) == CK_ERR_FORMAT && msg[0] == '\0', "a 1-byte message buffer");
    CHECK(try_decode((const uint8_t *)"GIF89a\x01\x00\x01\x00", 10, 0, "a GIF header") == CK_ERR_UNSUPPORTED, "GIF is CK_ERR_UNSUPPORTED");
    CHECK(try_decode((const uint8_t *)"\x89PNG", 4, 0, "half a PNG signature") == CK_ERR_FORMAT, "half a signature");
    CHECK(try_decode((const uint8_t *)"\xFF\xD8", 2, 0, "a bare SOI") == CK_ERR_FORMAT, "a bare SOI");
    CHECK(try_decode((const uint8_t *)"\x89PNG\r\n\x1a\nnonsense chunk data", 27, 0, "PNG signature + junk") == CK_ERR_FORMAT, "PNG junk");
    CHECK(try_decode((const uint8_t *)"\xFF\xD8\xFF\xE0 junk after SOI", 21, 0, "SOI + junk") == CK_ERR_FORMAT, "JPEG junk");

    /* Decompression bombs: a believable header, refused before any pixel
     * buffer exists (10^10 RGB pixels could not be allocated anyway; ASan
     * would report the attempt). */
    membuf b = forged_png(100000, 100000);
    ck_status s = try_decode(b.p, b.n, 0, "PNG claiming 100000 x 100000");
    ck_image_decode(b.p, b.n, 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_LIMIT && strstr(msg, "100000 x 100000 = 10000000000 pixels, over the limit of 100000000"),
          "PNG bomb refused by the limit: %d %s", s, msg);
    s = ck_image_decode(b.p, b.n, INT64_MAX, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_LIMIT && strstr(msg, "maximum"), "no caller limit lifts camkit's own maximum: %d %s", s, msg);
    free(b.p);
    b = forged_png(PNG_UINT_31_MAX, 1);
    CHECK(try_decode(b.p, b.n, 0, "PNG claiming 2^31-1 x 1") == CK_ERR_LIMIT, "widest PNG refused by the limit");
    free(b.p);
    b = forged_png(0, 10);
    CHECK(try_decode(b.p, b.n, 0, "PNG claiming width 0") == CK_ERR_FORMAT, "zero width is CK_ERR_FORMAT");
    free(b.p);
    b = forged_png(64, 64);   /* small and believable: the IDAT is far too short */
    CHECK(try_decode(b.p, b.n, 0, "PNG with too little image data") == CK_ERR_FORMAT, "short IDAT is CK_ERR_FORMAT");
    free(b.p);

    size_t size;
    uint8_t *jpg = read_fixture("images/coffee_baseline.jpg", &size);
    const size_t sof = jpg ? jpeg_sof(jpg, size) : 0;
    CHECK(sof > 0, "coffee_baseline.jpg has a SOF");
    if (sof) {
        uint8_t *m = malloc(size);
        memcpy(m, jpg, size);
        m[sof + 1] = 0xEA; m[sof + 2] = 0x60; m[sof + 3] = 0xEA; m[sof + 4] = 0x60;   /* 60000 x 60000 */
        s = try_decode(m, size, 0, "JPEG claiming 60000 x 60000");
        ck_image_decode(m, size, 0, &img, msg, sizeof msg);
        CHECK(s == CK_ERR_LIMIT && strstr(msg, "JPEG: image is 60000 x 60000"), "JPEG bomb refused: %d %s", s, msg);
        memcpy(m, jpg, size);
        m[sof + 1] = 0; m[sof + 2] = 0;   /* height 0 */
        CHECK(try_decode(m, size, 0, "JPEG with height 0") == CK_ERR_FORMAT, "JPEG height 0 is CK_ERR_FORMAT");
        memcpy(m, jpg, size);
        m[sof] = 12;   /* 12-bit samples: not in an 8-bit libjpeg */
        s = try_decode(m, size, 0, "12-bit JPEG");
        ck_image_decode(m, size, 0, &img, msg, sizeof msg);
        CHECK(s == CK_ERR_UNSUPPORTED, "12-bit JPEG is CK_ERR_UNSUPPORTED: %d %s", s, msg);
        /* Missing only its EOI: libjpeg's entropy decoder reads ahead past
         * the last block and meets the end of the data instead of a marker;
         * Pillow, whose decoder then asks for more data, says "image file is
         * truncated" too. */
        CHECK(jpg[size - 2] == 0xFF && jpg[size - 1] == 0xD9, "coffee ends with EOI");
        CHECK(try_decode(jpg, size - 2, 0, "JPEG without EOI") == CK_ERR_FORMAT, "a JPEG without its EOI is refused");
        free(m);
    }
    free(jpg);
    printf("  bad input: %d variants, %d refused with a message, %d decoded\n", bad_total, bad_failed_cleanly, bad_decoded);
    CHECK(bad_total >= 20 && bad_failed_cleanly >= 20, "at least 20 corrupted variants refused");
}

/* ---- files: load and write -------------------------------------------------- */

static void test_files(void) {
    char dir[] = "/tmp/camkit_test_image_XXXXXX", path[256], msg[512];
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    ck_image img;

    ck_status s = ck_image_load("/nonexistent/camkit/x.png", 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_IO && strstr(msg, "/nonexistent/camkit/x.png: cannot open: "), "missing file: %d %s", s, msg);
    s = ck_image_load(dir, 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_IO && strstr(msg, "is a directory"), "directory: %d %s", s, msg);
    snprintf(path, sizeof path, "%s/empty.png", dir);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    s = ck_image_load(path, 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_FORMAT && strstr(msg, "empty file (0 bytes)") && strstr(msg, path), "empty file: %d %s", s, msg);
    snprintf(path, sizeof path, "%s/notes.jpg", dir);
    f = fopen(path, "wb");
    if (f) { fputs("hello\n", f); fclose(f); }
    s = ck_image_load(path, 0, &img, msg, sizeof msg);
    CHECK(s == CK_ERR_FORMAT && strstr(msg, "not a PNG or JPEG file") && strstr(msg, path), "text file: %d %s", s, msg);
    CHECK(ck_image_load(NULL, 0, &img, msg, sizeof msg) == CK_ERR_NULL, "NULL path");
    CHECK(ck_image_load(path, 0, NULL, msg, sizeof msg) == CK_ERR_NULL, "NULL out");
    ck_image_free(NULL);
    ck_image zero = { 0 };
    ck_image_free(&zero);
    ck_image_free(&zero);

    /* Write, read back, compare: a fixture photo, a 1 x 1 and an odd size. */
    ck_image photo;
    if (decode_fixture("images/chelsea_rgba.png", &photo)) {
        snprintf(path, sizeof path, "%s/out.png", dir);
        s = ck_png_write(path, photo.pixels, photo.width, photo.height, msg, sizeof msg);
        CHECK(s == CK_OK && msg[0] == '\0', "write %s: %d %s", path, s, msg);
        s = ck_image_load(path, 0, &img, msg, sizeof msg);
        CHECK(s == CK_OK && img.width == photo.width && img.height == photo.height &&
              memcmp(img.pixels, photo.pixels, (size_t)img.width * img.height * 3) == 0, "PNG round trip of chelsea: %s", msg);
        ck_image_free(&img);
        ck_image_free(&photo);
    } else {
        CHECK(0, "chelsea_rgba.png decodes");
    }
    static const int dims[][2] = { { 1, 1 }, { 7, 3 }, { 3, 7 }, { 300, 2 } };
    check_seed(99);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        const int w = dims[i][0], h = dims[i][1];
        uint8_t *px = malloc((size_t)w * h * 3);
        for (int k = 0; k < w * h * 3; k++) px[k] = (uint8_t)check_int(0, 255);
        snprintf(path, sizeof path, "%s/small_%d.png", dir, (int)i);
        s = ck_png_write(path, px, w, h, msg, sizeof msg);
        ck_status r = ck_image_load(path, 0, &img, msg, sizeof msg);
        CHECK(s == CK_OK && r == CK_OK && img.width == w && img.height == h && memcmp(img.pixels, px, (size_t)w * h * 3) == 0,
              "PNG round trip %d x %d: %s", w, h, msg);
        ck_image_free(&img);
        remove(path);
        free(px);
    }
    uint8_t px[3] = { 1, 2, 3 };
    s = ck_png_write("/nonexistent/camkit/out.png", px, 1, 1, msg, sizeof msg);
    CHECK(s == CK_ERR_IO && strstr(msg, "/nonexistent/camkit/out.png: cannot create: "), "write into a missing directory: %d %s", s, msg);
    CHECK(ck_png_write(NULL, px, 1, 1, msg, sizeof msg) == CK_ERR_NULL, "write: NULL path");
    CHECK(ck_png_write(path, NULL, 1, 1, msg, sizeof msg) == CK_ERR_NULL, "write: NULL pixels");
    CHECK(ck_png_write(path, px, 0, 1, msg, sizeof msg) == CK_ERR_SIZE, "write: zero width");
    CHECK(ck_png_write(path, px, 1, -3, msg, sizeof msg) == CK_ERR_SIZE, "write: negative height");
    CHECK(ck_png_write(path, px, 50000, 50000, msg, sizeof msg) == CK_ERR_SIZE, "write: 7.5 GB of pixels");
    CHECK(access(path, F_OK) != 0, "refused writes leave no file behind");
    s = ck_png_write("/dev/full", px, 1, 1, msg, sizeof msg);
    CHECK(s == CK_ERR_IO, "write to a full device: %d %s", s, msg);

    CHECK(strcmp(ck_status_string(CK_ERR_LIMIT), "image exceeds the pixel limit") == 0 &&
          strcmp(ck_status_string(CK_ERR_IO), "file input/output error") == 0, "status strings");
    snprintf(path, sizeof path, "%s/empty.png", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/notes.jpg", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/out.png", dir);
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_fixture_images();
    test_resize_fixtures();
    test_resize_unit();
    test_png_kinds();
    test_jpeg_kinds();
    test_jpeg_scan_limit();
    test_exif();
    test_bad_input();
    test_files();
    return check_report("test_image");
}
