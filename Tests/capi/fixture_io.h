/* fixture_io.h: what the C API tests need to read ../shared/fixtures
 * (header-only, static functions):
 *
 * - fx_read_file: a whole file into a NUL-terminated malloc'ed buffer.
 * - fx_npy_load: NumPy format 1.0 files, '<f4' (float32) or '|u1' (uint8),
 *   C order, up to 4 dimensions.
 * - fx_json_*: a tiny JSON scanner over the raw text. A "value" is a pointer
 *   to the first character of a JSON value; fx_json_get looks a key up among
 *   an object's direct members, fx_json_at indexes an array, and the
 *   readers convert a scalar. Nothing is allocated; every lookup returns NULL
 *   when the path does not exist, so callers can check optional fields.
 * - fx_sha256: SHA-256 (FIPS 180-4) of a buffer, as 64 lowercase hex digits.
 * - fx_path: snprintf into a caller's buffer, aborting on truncation.
 *
 * Fixture files are trusted (they come with the repository), so the readers
 * fail loudly (return NULL / 0) rather than validate every corner. */
#ifndef CAM_FIXTURE_IO_H
#define CAM_FIXTURE_IO_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the tests find the fixtures: relative to the repository root, which
 * is the working directory when the tests run. */
#define FX_ROOT "../shared/fixtures"

/* ---- files ---------------------------------------------------------------- */

/* All functions are static inline so that a test may use any subset of them.
 *
 * The whole file, NUL-terminated (so JSON text can be scanned as a string);
 * *size gets the byte count without the NUL. NULL if it cannot be read. */
static inline char *fx_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    char *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return NULL; }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return NULL; }
    fclose(f);
    buf[n] = 0;
    if (size) *size = (size_t)n;
    return buf;
}

static inline int fx_file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* snprintf that treats truncation as a bug in the test. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static inline char *fx_path(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) { fprintf(stderr, "fx_path: path too long: %s\n", fmt); abort(); }
    return buf;
}

/* ---- .npy ------------------------------------------------------------------ */

typedef struct fx_npy {
    int ndim;
    int64_t shape[4];
    int64_t count;       /* product of the shape */
    int is_float;        /* 1: '<f4', 0: '|u1' */
    void *data;          /* count floats or bytes, malloc'ed */
} fx_npy;

static inline void fx_npy_free(fx_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Loads a version 1.0 .npy of '<f4' or '|u1' in C order. Returns 1 on success;
 * on failure prints why and returns 0 with *a zeroed. */
static inline int fx_npy_load(const char *path, fx_npy *a) {
    memset(a, 0, sizeof *a);
    size_t size = 0;
    char *file = fx_read_file(path, &size);
    if (!file) { fprintf(stderr, "fx_npy_load: cannot read %s\n", path); return 0; }
    const unsigned char *u = (const unsigned char *)file;
    if (size < 10 || memcmp(file, "\x93NUMPY", 6) != 0 || u[6] != 1) {
        fprintf(stderr, "fx_npy_load: %s is not a NumPy 1.x file\n", path);
        free(file);
        return 0;
    }
    size_t hlen = (size_t)u[8] | (size_t)u[9] << 8;
    if (10 + hlen > size) { fprintf(stderr, "fx_npy_load: %s: header overruns the file\n", path); free(file); return 0; }
    /* The header is a Python dict literal; copy it so it can be searched as a string. */
    char header[1024];
    if (hlen >= sizeof header) { fprintf(stderr, "fx_npy_load: %s: header too long\n", path); free(file); return 0; }
    memcpy(header, file + 10, hlen);
    header[hlen] = 0;
    int ok = 1;
    if (strstr(header, "'descr': '<f4'")) a->is_float = 1;
    else if (strstr(header, "'descr': '|u1'")) a->is_float = 0;
    else ok = 0;
    if (!strstr(header, "'fortran_order': False")) ok = 0;
    const char *s = strstr(header, "'shape': (");
    if (!s) ok = 0;
    a->count = 1;
    if (ok) {
        s += strlen("'shape': (");
        while (*s && *s != ')') {
            while (*s == ' ' || *s == ',') s++;
            if (*s == ')') break;
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s || v < 0 || a->ndim == 4) { ok = 0; break; }
            a->shape[a->ndim++] = v;
            a->count *= v;
            s = end;
        }
    }
    size_t elem = a->is_float ? 4 : 1;
    if (!ok || 10 + hlen + (size_t)a->count * elem > size) {
        fprintf(stderr, "fx_npy_load: %s: unsupported header or short data: %s\n", path, header);
        free(file);
        memset(a, 0, sizeof *a);
        return 0;
    }
    a->data = malloc((size_t)a->count * elem + 1);
    if (!a->data) { free(file); memset(a, 0, sizeof *a); return 0; }
    memcpy(a->data, file + 10 + hlen, (size_t)a->count * elem); /* little-endian host assumed (x86-64, arm64) */
    free(file);
    return 1;
}

/* ---- JSON scanner ----------------------------------------------------------- */

static inline const char *fx_json_ws(const char *p) {
    while (p && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* The character after the JSON value at p (p at its first character). */
static inline const char *fx_json_skip(const char *p) {
    p = fx_json_ws(p);
    if (!p || !*p) return NULL;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') {                 /* strings may hold brackets */
                p = fx_json_skip(p);
                if (!p) return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p;
}

/* The value of key `key` among the direct members of the object at obj. */
static inline const char *fx_json_get(const char *obj, const char *key) {
    const char *p = fx_json_ws(obj);
    if (!p || *p != '{') return NULL;
    p = fx_json_ws(p + 1);
    size_t klen = strlen(key);
    while (p && *p == '"') {
        const char *name = p + 1;
        const char *after = fx_json_skip(p);
        if (!after) return NULL;
        int match = (size_t)(after - 1 - name) == klen && memcmp(name, key, klen) == 0;
        p = fx_json_ws(after);
        if (*p != ':') return NULL;
        p = fx_json_ws(p + 1);
        if (match) return p;
        p = fx_json_ws(fx_json_skip(p));
        if (!p || *p != ',') return NULL;
        p = fx_json_ws(p + 1);
    }
    return NULL;
}

/* Element i of the array at arr. */
static inline const char *fx_json_at(const char *arr, int i) {
    const char *p = fx_json_ws(arr);
    if (!p || *p != '[' || i < 0) return NULL;
    p = fx_json_ws(p + 1);
    if (*p == ']') return NULL;
    for (int k = 0; p; k++) {
        if (k == i) return p;
        p = fx_json_ws(fx_json_skip(p));
        if (!p || *p != ',') return NULL;
        p = fx_json_ws(p + 1);
    }
    return NULL;
}

static inline int fx_json_len(const char *arr) {
    int n = 0;
    while (fx_json_at(arr, n)) n++;
    return n;
}

/* Follows a path of keys ("a.b.c"; a numeric component indexes an array). */
static inline const char *fx_json_path(const char *root, const char *path) {
    const char *v = root;
    char part[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part) return NULL;
        memcpy(part, path, n);
        part[n] = 0;
        path += n + (path[n] == '.');
        char *end;
        long idx = strtol(part, &end, 10);
        v = (*end == 0 && end != part) ? fx_json_at(v, (int)idx) : fx_json_get(v, part);
    }
    return v;
}

static inline int fx_json_number(const char *v, double *out) {
    v = fx_json_ws(v);
    if (!v) return 0;
    char *end;
    double d = strtod(v, &end);
    if (end == v) return 0;
    *out = d;
    return 1;
}

static inline int fx_json_int(const char *v, int *out) {
    double d;
    if (!fx_json_number(v, &d) || d != (double)(int)d) return 0;
    *out = (int)d;
    return 1;
}

/* 1 for true, 0 for false, -1 for anything else (missing, null). */
static inline int fx_json_bool(const char *v) {
    v = fx_json_ws(v);
    if (v && strncmp(v, "true", 4) == 0) return 1;
    if (v && strncmp(v, "false", 5) == 0) return 0;
    return -1;
}

/* Copies a string value (escapes other than \" and \\ are kept as written,
 * which is all the fixtures use). 0 if v is not a string or it does not fit. */
static inline int fx_json_string(const char *v, char *buf, size_t size) {
    v = fx_json_ws(v);
    if (!v || *v != '"' || size == 0) return 0;
    size_t n = 0;
    for (v++; *v && *v != '"'; v++) {
        if (*v == '\\' && (v[1] == '"' || v[1] == '\\')) v++;
        if (n + 1 >= size) return 0;
        buf[n++] = *v;
    }
    buf[n] = 0;
    return *v == '"';
}

/* Reads an array of up to max integers; returns how many, or -1. */
static inline int fx_json_ints(const char *arr, int *out, int max) {
    int n = fx_json_len(arr);
    if (n > max) return -1;
    for (int i = 0; i < n; i++)
        if (!fx_json_int(fx_json_at(arr, i), &out[i])) return -1;
    return n;
}

static inline int fx_json_numbers(const char *arr, double *out, int max) {
    int n = fx_json_len(arr);
    if (n > max) return -1;
    for (int i = 0; i < n; i++)
        if (!fx_json_number(fx_json_at(arr, i), &out[i])) return -1;
    return n;
}

/* ---- SHA-256 ------------------------------------------------------------------ */

static inline uint32_t fx_ror32(uint32_t x, int n) { return x >> n | x << (32 - n); }

static inline void fx_sha256_block(uint32_t h[8], const uint8_t *p) {
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
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = fx_ror32(w[i - 15], 7) ^ fx_ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = fx_ror32(w[i - 2], 17) ^ fx_ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, h, sizeof a);
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = fx_ror32(a[4], 6) ^ fx_ror32(a[4], 11) ^ fx_ror32(a[4], 25);
        uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        uint32_t t1 = a[7] + S1 + ch + k[i] + w[i];
        uint32_t S0 = fx_ror32(a[0], 2) ^ fx_ror32(a[0], 13) ^ fx_ror32(a[0], 22);
        uint32_t maj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
        uint32_t t2 = S0 + maj;
        a[7] = a[6]; a[6] = a[5]; a[5] = a[4]; a[4] = a[3] + t1;
        a[3] = a[2]; a[2] = a[1]; a[1] = a[0]; a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) h[i] += a[i];
}

/* hex gets 64 lowercase hex digits and a NUL. */
static inline void fx_sha256(const void *data, size_t size, char hex[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t full = size / 64 * 64;
    for (size_t i = 0; i < full; i += 64) fx_sha256_block(h, p + i);
    uint8_t tail[128] = {0};
    size_t rest = size - full;
    if (rest) memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    size_t tlen = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)size * 8;
    for (int i = 0; i < 8; i++) tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < tlen; i += 64) fx_sha256_block(h, tail + i);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", h[i]);
}

/* ---- the fixtures' tiny models ---------------------------------------------- */

static const char *const fx_tiny_models[] = {
    "tiny_resnet", "tiny_vgg_gap", "tiny_vgg_fc", "tiny_mobilenet", "tiny_inception", "tiny_effnet",
};
#define FX_TINY_MODEL_COUNT ((int)(sizeof fx_tiny_models / sizeof fx_tiny_models[0]))

#endif
