/* heap.c: a malloc policy for processes camkit owns (the CLI). */
#include <malloc.h>

#include "cam_kernels.h"

/* Tensors of megabytes come and go once per layer. glibc serves blocks over
 * its mmap threshold with fresh pages that the kernel zeroes on first touch,
 * and hands freed memory back above its trim threshold: VGG-16's forward
 * spent a fifth of its time in the kernel's clear_page. Keeping blocks up to
 * 32 MB (glibc's largest threshold) in the heap, and the heap whole, removes
 * that. A library must not change its host's malloc, so only programs call
 * this. */
void ck_keep_heap(void) {
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
