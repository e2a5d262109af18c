/* internal.h: helpers shared by the kernel files; not installed. */
#ifndef CAM_KERNELS_INTERNAL_H
#define CAM_KERNELS_INTERNAL_H

#include "cam_kernels.h"

/* Product of positive sizes, or -1 when any is < 1 or the product reaches
 * CK_MAX_ELEMENTS. Every entry point checks its tensors through this before
 * touching memory, so no index below can overflow. */
static inline int64_t ck_checked_elems(int count, const int32_t *dims) {
    int64_t total = 1;
    for (int i = 0; i < count; i++) {
        if (dims[i] < 1) return -1;
        total *= dims[i];
        if (total >= CK_MAX_ELEMENTS) return -1;
    }
    return total;
}

/* CK_OK for NULL (no activation) or a known kind with valid parameters,
 * else CK_ERR_ARGUMENT: the fused kernels refuse a bad activation before
 * they write their output. */
ck_status ck_act_valid(const ck_activation *act);

#define CK_ELEMS(...) ck_checked_elems((int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), (int32_t[]){__VA_ARGS__})

/* Plain -O2 targets baseline x86-64 (SSE2, no FMA). The few hot loops that
 * are not inside BLAS are therefore also built for x86-64-v3 (AVX2 +
 * FMA), on x86-64 ELF where the loader can pick a version by CPU (ifunc).
 * An x86-64-v4 clone measured no faster on Zen 4, and slower at stride 2.
 * Not under ThreadSanitizer: it instruments the ifunc resolvers, which the
 * loader runs before TSan's runtime is up (the binary crashed at load). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CK_MULTIVERSION
#endif
#endif
#if !defined(CK_MULTIVERSION) && defined(__x86_64__) && defined(__ELF__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CK_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef CK_MULTIVERSION
#define CK_MULTIVERSION
#endif

#endif
