/* png_decoder.c: libFuzzer target for the PNG path of ck_image_decode
 * (image.c, image_png.c: libpng behind camkit's transforms to RGB8, its
 * pixel limit and its error handling).
 *
 * The input is a whole file. Inputs without the PNG signature still go
 * through ck_image_decode (the format sniffing) but are kept out of the
 * corpus, so the corpus stays PNG. A 4-megapixel limit keeps the fuzzer
 * clear of huge headers' allocations; a successful decode is read whole,
 * so ASan sees any short buffer. */
#include <stdint.h>
#include <string.h>

#include "cam_image.h"

#define FUZZ_MAX_PIXELS ((int64_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
    ck_image img;
    char message[256];
    const ck_status s = ck_image_decode(data, size, FUZZ_MAX_PIXELS, &img, message, sizeof message);
    if (s == CK_OK) {
        const size_t n = (size_t)img.width * (size_t)img.height * 3;
        if (img.channels != 3 || img.width < 1 || img.height < 1 || !img.pixels) __builtin_trap();
        unsigned sum = 0;
        for (size_t i = 0; i < n; i += 61) sum += img.pixels[i];
        sum += img.pixels[n - 1];
        __asm__ volatile("" : : "r"(sum));
    } else if (message[0] == '\0' || img.pixels) {
        __builtin_trap();   /* every failure names itself and leaves *out zeroed */
    }
    ck_image_free(&img);
    return size >= sizeof signature && memcmp(data, signature, sizeof signature) == 0 ? 0 : -1;
}
