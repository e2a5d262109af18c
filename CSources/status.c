/* status.c: names of the kernel status codes. */
#include "cam_kernels.h"

const char *ck_status_string(ck_status s) {
    switch (s) {
    case CK_OK: return "ok";
    case CK_ERR_NULL: return "required pointer is NULL";
    case CK_ERR_SIZE: return "size out of range";
    case CK_ERR_ARGUMENT: return "invalid argument";
    case CK_ERR_SCRATCH: return "scratch buffer too small";
    case CK_ERR_FORMAT: return "invalid or unrecognized image data";
    case CK_ERR_UNSUPPORTED: return "unsupported image feature";
    case CK_ERR_MEMORY: return "out of memory";
    case CK_ERR_LIMIT: return "image exceeds the pixel limit";
    case CK_ERR_IO: return "file input/output error";
    }
    return "unknown status";
}
