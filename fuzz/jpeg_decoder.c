/* jpeg_decoder.c: libFuzzer target for the JPEG path of ck_image_decode
 * (image.c, image_jpeg.c, image_exif.c: libjpeg-turbo, the CMYK conversion,
 * EXIF orientation, the scan and pixel limits and the error handling).
 *
 * The input is a whole file. Inputs without the JPEG signature (FF D8 FF) still go
 * through ck_image_decode (the format sniffing) but are kept out of the
 * corpus, so the corpus stays JPEG. A 4-megapixel limit keeps the fuzzer
 * clear of huge headers' allocations; a successful decode is read whole,
 * so ASan sees any short buffer. */
#include <stdint.h>
#include <string.h>

#include "cam_image.h"

#define FUZZ_MAX_PIXELS ((int64_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t signature[3] = { 0xFF, 0xD8, 0xFF };
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
