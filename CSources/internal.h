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

#define CK_ELEMS(...) ck_checked_elems((int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), (int32_t[]){__VA_ARGS__})

#endif
