/* test_fuzz_regressions.c: every input the C fuzzers found a bug with
 * (fuzz/regressions/png_decoder/ and jpeg_decoder/), fed to the entry point
 * of its fuzzer, ck_image_decode, with the fuzzers' 4-megapixel limit, and
 * checked as the fuzzers check: a decoded image is whole RGB8, a failure
 * names itself and leaves the image zeroed. make test-c-asan runs this under
 * ASan + UBSan + LSan; there, through ASan's allocation hooks, no single
 * allocation of a decode may exceed the fuzzers' 256 MB (a file that makes
 * libpng or libjpeg allocate what some length field claims). No libFuzzer.
 *
 * The inputs are read from fuzz/regressions (the repository root is the
 * working directory under make), or from $CAMKIT_FUZZ_REGRESSIONS. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam_image.h"
#include "check.h"

#define FUZZ_MAX_PIXELS ((int64_t)4 << 20)
#define FUZZ_MALLOC_LIMIT ((size_t)256 << 20)

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#endif

#ifdef HAVE_ASAN
/* The largest single allocation since the last reset, from ASan's hooks
 * (libFuzzer's -malloc_limit_mb watches the same). */
static size_t largest_malloc;
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void on_malloc(const volatile void *p, size_t size) {
    (void)p;
    if (size > largest_malloc) largest_malloc = size;
}
static void on_free(const volatile void *p) { (void)p; }
#endif

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) { free(buf); fclose(f); return NULL; }
            buf = grown;
        }
        const size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *size = n;
    return buf;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file of root/target, in name order; the count. */
static int replay(const char *root, const char *target) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, target);
    DIR *d = opendir(dir);
    if (!d) return 0;   /* no bug found by that fuzzer */
    char *names[1024];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 1024;)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t size = 0;
        uint8_t *data = read_file(path, &size);
        CHECK(data != NULL, "%s: cannot read", path);
        if (data) {
            ck_image img;
            char msg[256];
#ifdef HAVE_ASAN
            largest_malloc = 0;
#endif
            const ck_status s = ck_image_decode(data, size, FUZZ_MAX_PIXELS, &img, msg, sizeof msg);
            if (s == CK_OK) {
                int whole = img.pixels && img.channels == 3 && img.width >= 1 && img.height >= 1 &&
                            (int64_t)img.width * img.height <= FUZZ_MAX_PIXELS;
                volatile unsigned sum = 0;   /* every byte read: ASan sees a short buffer */
                for (size_t k = 0; whole && k < (size_t)img.width * img.height * 3; k++) sum += img.pixels[k];
                CHECK(whole, "%s: decoded to %d x %d x %d", path, img.width, img.height, img.channels);
            } else {
                CHECK(msg[0] != '\0' && img.pixels == NULL && img.width == 0 && img.height == 0,
                      "%s: status %d without a message or with a non-empty image (%s)", path, s, msg);
            }
#ifdef HAVE_ASAN
            CHECK(largest_malloc <= FUZZ_MALLOC_LIMIT, "%s: an allocation of %zu bytes while decoding", path,
                  largest_malloc);
#endif
            printf("  %s/%s: %s%s%s\n", target, names[i], s == CK_OK ? "decoded" : ck_status_string(s),
                   s == CK_OK ? "" : ": ", s == CK_OK ? "" : msg);
            ck_image_free(&img);
            free(data);
        }
        free(names[i]);
    }
    return n;
}

int main(void) {
#ifdef HAVE_ASAN
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
    const char *root = getenv("CAMKIT_FUZZ_REGRESSIONS");
    if (!root || !*root) root = "fuzz/regressions";
    int files = replay(root, "png_decoder");
    files += replay(root, "jpeg_decoder");
    CHECK(files >= 1, "no regression inputs under %s", root);
    return check_report("test_fuzz_regressions");
}
