/*
 * C test of the lowbit C ABI through the real header and library. Built and run by
 * `cargo test -p lowbit-capi` (crates/lowbit-capi/tests/c.rs) with
 * -std=c99 -Wall -Wextra -Werror -pedantic. Exits 0 when every check passes.
 *
 * The reference it checks against is written here, independently, from the documented
 * canonical layout: unpack the codes, decode the f16 scales, w = s * (q - z), then a
 * double-precision dot product.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit.h"

#if LOWBIT_VERSION != (LOWBIT_VERSION_MAJOR * 10000 + LOWBIT_VERSION_MINOR * 100 + LOWBIT_VERSION_PATCH)
#error "LOWBIT_VERSION is not MAJOR * 10000 + MINOR * 100 + PATCH"
#endif
#if LOWBIT_VERSION_MINOR > 99 || LOWBIT_VERSION_PATCH > 99
#error "LOWBIT_VERSION needs MINOR and PATCH below 100"
#endif

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STATUS(call, expected)                                                     \
    do {                                                                                 \
        lowbit_status got_ = (call);                                                     \
        checks++;                                                                        \
        if (got_ != (expected)) {                                                        \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s; %s), expected %d (%s)\n",        \
                    __FILE__, __LINE__, #call, (int)got_, lowbit_status_string(got_),    \
                    lowbit_last_error_message(), (int)(expected),                        \
                    lowbit_status_string(expected));                                     \
        }                                                                                \
    } while (0)

#define OK(call) CHECK_STATUS(call, LOWBIT_OK)

/* ---- an independent reference, from the documented layout ---- */

static float f16_to_f32(uint16_t h) {
    unsigned sign = h >> 15, e = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    float v;
    if (e == 0) {
        v = ldexpf((float)man, -24);
    } else if (e == 31) {
        v = man ? NAN : INFINITY;
    } else {
        v = ldexpf((float)(man | 0x400u), (int)e - 25);
    }
    return sign ? -v : v;
}

static unsigned code_at(const lowbit_int_view *v, const lowbit_int_layout *l, size_t r,
                        size_t i) {
    const uint8_t *row0 = v->codes + r * l->codes_row_bytes;
    unsigned b = v->format.bits;
    if (b == 3) {
        const uint8_t *row1 = v->plane1 + r * l->plane1_row_bytes;
        unsigned lo = (row0[i / 4] >> ((i % 4) * 2)) & 3u;
        unsigned hi = (row1[i / 8] >> (i % 8)) & 1u;
        return lo | (hi << 2);
    }
    return (row0[i * b / 8] >> ((i * b) % 8)) & ((1u << b) - 1u);
}

static float scale_at(const lowbit_int_view *v, const lowbit_int_layout *l, size_t r,
                      size_t i) {
    return f16_to_f32(v->scales[r * l->groups_per_row + i / l->group_len]);
}

static unsigned zero_at(const lowbit_int_view *v, const lowbit_int_layout *l, size_t r,
                        size_t i) {
    if (v->format.zero_point) return v->zeros[r * l->groups_per_row + i / l->group_len];
    return 1u << (v->format.bits - 1);
}

static void naive_dequantize(const lowbit_int_view *v, const lowbit_int_layout *l, float *out) {
    size_t r, i;
    for (r = 0; r < v->n; r++)
        for (i = 0; i < v->k; i++)
            out[r * v->k + i] =
                scale_at(v, l, r, i) * ((float)code_at(v, l, r, i) - (float)zero_at(v, l, r, i));
}

/* ---- helpers ---- */

static uint32_t rng_state = 12345u;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static float *alloc_floats(size_t n) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void fill(float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = v;
}

static int all_equal(const float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void *copy_bytes(const void *src, size_t bytes) {
    void *p;
    if (bytes == 0) return NULL;
    p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memcpy(p, src, bytes);
    return p;
}

#define SENTINEL 12345.0f

/* ---- tests ---- */

static void test_version(void) {
    char buf[64];
    CHECK(lowbit_version() == LOWBIT_VERSION);
    CHECK(LOWBIT_VERSION / 10000 == LOWBIT_VERSION_MAJOR);
    CHECK(LOWBIT_VERSION / 100 % 100 == LOWBIT_VERSION_MINOR);
    CHECK(LOWBIT_VERSION % 100 == LOWBIT_VERSION_PATCH);
    CHECK(strcmp(lowbit_version_string(), LOWBIT_VERSION_STRING) == 0);
    sprintf(buf, "%d.%d.%d", LOWBIT_VERSION_MAJOR, LOWBIT_VERSION_MINOR, LOWBIT_VERSION_PATCH);
    CHECK(strncmp(lowbit_version_string(), buf, strlen(buf)) == 0);
}

static void test_status_strings(void) {
    static const int32_t all[] = {
        LOWBIT_OK,
        LOWBIT_ERR_NULL,
        LOWBIT_ERR_MISALIGNED,
        LOWBIT_ERR_INVALID_SHAPE,
        LOWBIT_ERR_BAD_GROUP_SIZE,
        LOWBIT_ERR_BUFFER_LENGTH,
        LOWBIT_ERR_NON_FINITE,
        LOWBIT_ERR_INVALID_PARAMETER,
        LOWBIT_ERR_ISA_UNAVAILABLE,
        LOWBIT_ERR_UNKNOWN_ISA,
        LOWBIT_ERR_UNSUPPORTED,
        LOWBIT_ERR_OTHER,
        LOWBIT_ERR_PANIC,
    };
    static const int32_t bogus[] = {-1, 13, 100, 9999, INT32_MIN, INT32_MAX};
    const size_t count = sizeof all / sizeof all[0];
    const char *unknown = lowbit_status_string(-1);
    size_t i, j;
    CHECK(LOWBIT_OK == 0);
    CHECK(unknown != NULL && strlen(unknown) > 0);
    for (i = 0; i < count; i++) {
        const char *s = lowbit_status_string(all[i]);
        CHECK(all[i] == (int32_t)i); /* codes are dense and stable */
        CHECK(s != NULL && strlen(s) > 0);
        CHECK(strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++) CHECK(strcmp(s, lowbit_status_string(all[j])) != 0);
    }
    for (i = 0; i < sizeof bogus / sizeof bogus[0]; i++)
        CHECK(strcmp(lowbit_status_string(bogus[i]), unknown) == 0);
}

/* Whether a cap at `base` lets calls run `isa` (same family and not above; scalar always). */
static int isa_allows(int32_t base, int32_t isa) {
    if (isa == LOWBIT_ISA_SCALAR) return 1;
    if (base == LOWBIT_ISA_NEON) return isa == LOWBIT_ISA_NEON;
    if (base == LOWBIT_ISA_AVX2 || base == LOWBIT_ISA_AVX512)
        return (isa == LOWBIT_ISA_AVX2 || isa == LOWBIT_ISA_AVX512) && isa <= base;
    return 0;
}

static void test_isa(void) {
    lowbit_isa best = lowbit_isa_best(), active = LOWBIT_ISA_SCALAR, base, before, after;
    const char *env = getenv("LOWBIT_ISA");
    int32_t code;
    CHECK(LOWBIT_ISA_AUTO == 0);
    CHECK(lowbit_isa_is_available(best));
    CHECK(lowbit_isa_is_available(LOWBIT_ISA_SCALAR));
    CHECK(!lowbit_isa_is_available(LOWBIT_ISA_AUTO));
    CHECK(strcmp(lowbit_isa_name(best), "unknown") != 0);
    CHECK(strcmp(lowbit_isa_name(LOWBIT_ISA_AUTO), "auto") == 0);
    CHECK(strcmp(lowbit_isa_name(LOWBIT_ISA_SCALAR), "scalar") == 0);
    CHECK(strcmp(lowbit_isa_name(LOWBIT_ISA_AVX2), "avx2") == 0);
    CHECK(strcmp(lowbit_isa_name(LOWBIT_ISA_AVX512), "avx512") == 0);
    CHECK(strcmp(lowbit_isa_name(LOWBIT_ISA_NEON), "neon") == 0);
    CHECK_STATUS(lowbit_isa_active(NULL), LOWBIT_ERR_NULL);
    OK(lowbit_isa_active(&active));
    CHECK(lowbit_isa_is_available(active));
    /* The ISA calls run on with no cap: the best, lowered by LOWBIT_ISA. */
    OK(lowbit_set_isa_cap(LOWBIT_ISA_AUTO));
    OK(lowbit_isa_active(&base));
    if (env == NULL || env[0] == '\0') CHECK(base == best);

    for (code = -5; code <= 8; code++) {
        int known = code >= 1 && code <= 4;
        CHECK(known || !lowbit_isa_is_available(code));
        CHECK((known || code == LOWBIT_ISA_AUTO) == (strcmp(lowbit_isa_name(code), "unknown") != 0));
        OK(lowbit_isa_active(&before));
        if (code == LOWBIT_ISA_AUTO) {
            OK(lowbit_set_isa_cap(code));
            OK(lowbit_isa_active(&after));
            CHECK(after == base);
        } else if (!known) {
            CHECK_STATUS(lowbit_set_isa_cap(code), LOWBIT_ERR_UNKNOWN_ISA);
            OK(lowbit_isa_active(&after));
            CHECK(after == before);
        } else if (lowbit_isa_is_available(code)) {
            /* A cap only lowers: above LOWBIT_ISA it leaves the ISA where it was. */
            OK(lowbit_set_isa_cap(code));
            OK(lowbit_isa_active(&after));
            CHECK(after == (isa_allows(base, code) ? code : base));
        } else {
            CHECK_STATUS(lowbit_set_isa_cap(code), LOWBIT_ERR_ISA_UNAVAILABLE);
            CHECK(strstr(lowbit_last_error_message(), "lowbit_set_isa_cap") != NULL);
            OK(lowbit_isa_active(&after));
            CHECK(after == before);
        }
    }
    CHECK_STATUS(lowbit_set_isa_cap(INT32_MIN), LOWBIT_ERR_UNKNOWN_ISA);
    CHECK_STATUS(lowbit_set_isa_cap(INT32_MAX), LOWBIT_ERR_UNKNOWN_ISA);
    OK(lowbit_set_isa_cap(LOWBIT_ISA_SCALAR));
    OK(lowbit_isa_active(&after));
    CHECK(after == LOWBIT_ISA_SCALAR);
    OK(lowbit_set_isa_cap(LOWBIT_ISA_AUTO));
    OK(lowbit_isa_active(&after));
    CHECK(after == base);
}

/* Quantizes, then checks every query, dequantize and GEMV path against the reference. */
static void check_format(uint32_t bits, uint32_t group, int zp, size_t n, size_t k) {
    lowbit_format fmt = lowbit_format_int(bits, group, zp != 0), got_fmt;
    lowbit_int_layout l;
    lowbit_int_view v, cv;
    lowbit_matrix *m = NULL, *m2 = NULL;
    float *w = alloc_floats(n * k), *deq = alloc_floats(n * k), *ref = alloc_floats(n * k);
    float *x = alloc_floats(k), *y = alloc_floats(n), *y2 = alloc_floats(n);
    float *ypart = alloc_floats(n);
    size_t i, j, r;
    int32_t code;

    for (i = 0; i < n * k; i++) w[i] = rnd() * (1.0f + (float)(i % 7));
    for (j = 0; j < k; j++) x[j] = rnd();

    OK(lowbit_quantize(&fmt, w, n, k, &m));
    if (m == NULL) {
        failures++;
        fprintf(stderr, "quantize failed for bits %u group %u zp %d\n", bits, group, zp);
        goto done;
    }
    CHECK(lowbit_matrix_n(m) == n);
    CHECK(lowbit_matrix_k(m) == k);
    OK(lowbit_matrix_format(m, &got_fmt));
    CHECK(memcmp(&got_fmt, &fmt, sizeof fmt) == 0);

    OK(lowbit_int_sizes(&fmt, n, k, &l));
    OK(lowbit_matrix_int_view(m, &v));
    CHECK(v.n == n && v.k == k);
    CHECK(v.codes_len == l.codes_len && v.codes != NULL);
    CHECK(v.plane1_len == l.plane1_len && (v.plane1 == NULL) == (l.plane1_len == 0));
    CHECK(v.scales_len == l.scales_len && v.scales != NULL);
    CHECK(v.zeros_len == l.zeros_len && (v.zeros == NULL) == (l.zeros_len == 0));
    CHECK(l.codes_len == n * l.codes_row_bytes && l.codes_row_bytes == (k * (bits == 3 ? 2 : bits) + 7) / 8);
    CHECK(l.plane1_len == (bits == 3 ? n * ((k + 7) / 8) : 0));
    CHECK(l.group_len == (group ? group : k) && l.groups_per_row == k / l.group_len);
    CHECK(l.scales_len == n * l.groups_per_row);
    CHECK(l.zeros_len == (zp ? l.scales_len : 0));

    /* dequantize equals the independent reference exactly, and is close to w */
    fill(deq, n * k, SENTINEL);
    OK(lowbit_dequantize(m, deq, n * k));
    naive_dequantize(&v, &l, ref);
    CHECK(memcmp(deq, ref, n * k * sizeof(float)) == 0);
    for (r = 0; r < n; r++)
        for (i = 0; i < k; i++) {
            float s = fabsf(scale_at(&v, &l, r, i));
            float err = fabsf(w[r * k + i] - deq[r * k + i]);
            if (!(err <= 1.01f * s + 1e-6f)) {
                CHECK(err <= 1.01f * s + 1e-6f);
                r = n;
                break;
            }
        }

    /* GEMV on every available ISA against the reference dot product */
    for (code = 0; code <= 3; code++) {
        size_t cut1 = n / 3, cut2 = n / 3 + n / 2;
        if (!lowbit_isa_is_available(code)) continue;
        OK(lowbit_set_isa_cap(code));
        fill(y, n, SENTINEL);
        OK(lowbit_gemv(m, x, k, y, n));
        for (r = 0; r < n; r++) {
            double exact = 0.0, mag = 0.0;
            for (j = 0; j < k; j++) {
                exact += (double)ref[r * k + j] * (double)x[j];
                mag += fabs((double)ref[r * k + j] * (double)x[j]);
            }
            if (!(fabs((double)y[r] - exact) <= 1e-4 * mag + 1e-6)) {
                fprintf(stderr, "isa %s bits %u group %u zp %d row %u: %g vs %g\n",
                        lowbit_isa_name(code), bits, group, zp, (unsigned)r, (double)y[r],
                        exact);
                CHECK(fabs((double)y[r] - exact) <= 1e-4 * mag + 1e-6);
            }
        }
        /* row pieces (the caller's own threads) are bitwise the full GEMV */
        fill(ypart, n, SENTINEL);
        OK(lowbit_gemv_rows(m, x, k, 0, cut1, ypart, cut1));
        OK(lowbit_gemv_rows(m, x, k, cut1, cut2, ypart + cut1, cut2 - cut1));
        OK(lowbit_gemv_rows(m, x, k, cut2, n, ypart + cut2, n - cut2));
        CHECK(memcmp(ypart, y, n * sizeof(float)) == 0);
        OK(lowbit_gemv_rows(m, x, k, cut1, cut1, NULL, 0)); /* empty range, NULL y */

        /* a view over caller-owned copies of the buffers is bitwise the owned matrix */
        cv = v;
        cv.codes = (const uint8_t *)copy_bytes(v.codes, v.codes_len);
        cv.plane1 = (const uint8_t *)copy_bytes(v.plane1, v.plane1_len);
        cv.scales = (const uint16_t *)copy_bytes(v.scales, v.scales_len * sizeof(uint16_t));
        cv.zeros = (const uint8_t *)copy_bytes(v.zeros, v.zeros_len);
        fill(y2, n, SENTINEL);
        OK(lowbit_view_gemv(&cv, x, k, y2, n));
        CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
        fill(ypart, n, SENTINEL);
        OK(lowbit_view_gemv_rows(&cv, x, k, cut1, n, ypart + cut1, n - cut1));
        CHECK(memcmp(ypart + cut1, y + cut1, (n - cut1) * sizeof(float)) == 0);
        fill(ref, n * k, SENTINEL);
        OK(lowbit_view_dequantize(&cv, ref, n * k));
        CHECK(memcmp(ref, deq, n * k * sizeof(float)) == 0);
        OK(lowbit_matrix_from_int_view(&cv, &m2));
        free((void *)cv.codes);
        free((void *)cv.plane1);
        free((void *)cv.scales);
        free((void *)cv.zeros);
        fill(y2, n, SENTINEL);
        OK(lowbit_gemv(m2, x, k, y2, n)); /* the copy owns its memory */
        CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
        lowbit_matrix_free(m2);
        m2 = NULL;
        naive_dequantize(&v, &l, ref);
    }
    OK(lowbit_set_isa_cap(LOWBIT_ISA_AUTO));

done:
    lowbit_matrix_free(m);
    free(w);
    free(deq);
    free(ref);
    free(x);
    free(y);
    free(y2);
    free(ypart);
}

static void test_formats(void) {
    static const uint32_t bits[] = {2, 3, 4, 8};
    size_t b;
    int zp;
    for (b = 0; b < 4; b++)
        for (zp = 0; zp <= 1; zp++) {
            check_format(bits[b], 32, zp, 9, 256);
            check_format(bits[b], 128, zp, 5, 256);
            check_format(bits[b], 0, zp, 7, 100);  /* per-row, K not a multiple of 8 */
            check_format(bits[b], 64, zp, 1, 64);  /* one row, one group */
            check_format(bits[b], 37, zp, 3, 37);  /* group = K */
        }
}

/* ---- FP4 / FP6: an independent reference from FORMATS.md ---- */

/* The value of a minifloat code: sign in the top bit, then `ebits` exponent bits and
 * `mbits` mantissa bits, exponent bias `bias`, subnormals when the exponent field is 0. */
static float minifloat(unsigned c, unsigned ebits, unsigned mbits, int bias) {
    unsigned sign = (c >> (ebits + mbits)) & 1u;
    unsigned e = (c >> mbits) & ((1u << ebits) - 1u), m = c & ((1u << mbits) - 1u);
    float v = e == 0 ? ldexpf((float)m, 1 - bias - (int)mbits)
                     : ldexpf((float)((1u << mbits) | m), (int)e - bias - (int)mbits);
    return sign ? -v : v;
}

/* OVP (FORMATS.md): the identifier is the code with only the top bit set; a code whose
 * partner is the identifier is a sign-magnitude outlier (2^mbits + m) << (e + 2). */
static int ovp_outlier(unsigned c, unsigned bits) {
    unsigned mbits = bits == 4 ? 1u : 5u, id = 1u << (bits - 1);
    unsigned m = c & ((1u << mbits) - 1u), e = (c >> mbits) & 3u;
    int mag = (int)(((1u << mbits) + m) << (e + 2));
    if (c == id) return 0;
    return (c & id) ? -mag : mag;
}

static int ovp_normal(unsigned c, unsigned bits) {
    unsigned id = 1u << (bits - 1);
    if (c == id) return 0;
    return (c & id) ? (int)c - (1 << bits) : (int)c;
}

static int ovp_decode(unsigned own, unsigned partner, unsigned bits) {
    unsigned id = 1u << (bits - 1);
    if (partner == id) return ovp_outlier(own, bits);
    if (own == id) return 0;
    return ovp_normal(own, bits);
}

static float fp_elem_value(uint32_t element, unsigned c) {
    switch (element) {
    case LOWBIT_FP_E2M1: return minifloat(c, 2, 1, 1);
    case LOWBIT_FP_E3M2: return minifloat(c, 3, 2, 3);
    case LOWBIT_FP_E4M3: return minifloat(c, 4, 3, 7); /* the quantizer writes no NaN */
    case LOWBIT_FP_E5M2: return minifloat(c, 5, 2, 15);
    default: return minifloat(c, 2, 3, 1); /* E2M3 */
    }
}

static unsigned fp_code_at(const lowbit_fp_view *v, const lowbit_fp_layout *l, size_t r,
                           size_t i) {
    unsigned lo;
    if (v->format.bits == 8) return v->codes[r * l->codes_row_bytes + i]; /* FP8 */
    lo = (v->codes[r * l->codes_row_bytes + i / 2] >> ((i % 2) * 4)) & 0xFu;
    unsigned hi = 0;
    if (l->high_row_bytes)
        hi = (v->high[r * l->high_row_bytes + i / 4] >> ((i % 4) * 2)) & 3u;
    return lo | (hi << 4);
}

static float fp_scale_at(const lowbit_fp_view *v, const lowbit_fp_layout *l, size_t r,
                         size_t i) {
    size_t idx = r * l->groups_per_row + i / l->group_len;
    if ((v->format.variant & LOWBIT_FP_SCALE_MASK) == LOWBIT_FP_SCALE_E4M3) {
        /* E4M3 (bias 7, sign in bit 7) times the tensor scale, one f32 rounding */
        uint8_t b = ((const uint8_t *)v->scales)[idx];
        return minifloat(b, 4, 3, 7) * v->tensor_scale;
    }
    if (l->scale_bytes == 1) {
        uint8_t e = ((const uint8_t *)v->scales)[idx];
        return ldexpf(1.0f, (int)e - 127);
    }
    return f16_to_f32(((const uint16_t *)v->scales)[idx]);
}

static void check_fp_format(uint32_t element, uint32_t group, uint32_t scale, size_t n,
                            size_t k) {
    lowbit_format fmt = lowbit_format_fp(element, group, scale), got_fmt;
    lowbit_fp_layout l;
    lowbit_fp_view v, cv, bv;
    lowbit_int_view iv;
    lowbit_matrix *m = NULL, *m2 = NULL;
    lowbit_activations *a = NULL;
    lowbit_status st;
    float *w = alloc_floats(n * k), *deq = alloc_floats(n * k), *ref = alloc_floats(n * k);
    float *x = alloc_floats(k), *y = alloc_floats(n), *y2 = alloc_floats(n);
    size_t i, j, r, scale_size;
    int32_t code;
    int ovp = element == LOWBIT_FP_OVP4 || element == LOWBIT_FP_OVP8;
    unsigned bits = (element == LOWBIT_FP_E2M1 || element == LOWBIT_FP_OVP4) ? 4u
                    : (element == LOWBIT_FP_E4M3 || element == LOWBIT_FP_E5M2 ||
                       element == LOWBIT_FP_OVP8) ? 8u
                                                  : 6u;
    uint8_t *bad_scales;

    for (i = 0; i < n * k; i++) w[i] = rnd() * (1.0f + (float)(i % 7)) * (i % 5 ? 1.0f : 0.01f);
    for (j = 0; j < k; j++) x[j] = rnd();

    OK(lowbit_quantize(&fmt, w, n, k, &m));
    if (m == NULL) {
        failures++;
        fprintf(stderr, "quantize failed for FP element %u group %u scale %#x\n", element,
                group, scale);
        goto done;
    }
    OK(lowbit_matrix_format(m, &got_fmt));
    CHECK(memcmp(&got_fmt, &fmt, sizeof fmt) == 0);
    CHECK(fmt.kind == LOWBIT_FORMAT_FP && fmt.bits == bits);
    CHECK((fmt.variant & LOWBIT_FP_ELEMENT_MASK) == element);
    CHECK((fmt.variant & LOWBIT_FP_SCALE_MASK) == scale);

    OK(lowbit_fp_sizes(&fmt, n, k, &l));
    OK(lowbit_matrix_fp_view(m, &v));
    CHECK(v.n == n && v.k == k);
    CHECK(l.codes_row_bytes == (bits == 8 ? k : (k + 1) / 2) &&
          l.codes_len == n * l.codes_row_bytes);
    CHECK(l.high_row_bytes == (bits == 6 ? (k + 3) / 4 : 0) && l.high_len == n * l.high_row_bytes);
    CHECK(l.group_len == (group ? group : k) && l.groups_per_row == k / l.group_len);
    CHECK(l.scales_len == n * l.groups_per_row);
    CHECK(l.scale_bytes == (scale == LOWBIT_FP_SCALE_E8M0 || scale == LOWBIT_FP_SCALE_E4M3 ? 1u : 2u));
    CHECK((v.tensor_scale != 0.0f) == (scale == LOWBIT_FP_SCALE_E4M3));
    CHECK(v.codes_len == l.codes_len && v.codes != NULL);
    CHECK(v.high_len == l.high_len && (v.high == NULL) == (bits != 6));
    CHECK(v.scales_len == l.scales_len && v.scales != NULL);
    scale_size = l.scale_bytes;

    /* dequantize is exact: scale * element, decoded here */
    for (r = 0; r < n; r++)
        for (i = 0; i < k; i++)
            ref[r * k + i] =
                fp_scale_at(&v, &l, r, i) *
                (ovp ? (float)ovp_decode(fp_code_at(&v, &l, r, i), fp_code_at(&v, &l, r, i ^ 1u), bits)
                     : fp_elem_value(element, fp_code_at(&v, &l, r, i)));
    fill(deq, n * k, SENTINEL);
    OK(lowbit_dequantize(m, deq, n * k));
    CHECK(memcmp(deq, ref, n * k * sizeof(float)) == 0);

    /* a view over caller-owned copies of the exported planes */
    cv = v;
    cv.codes = (const uint8_t *)copy_bytes(v.codes, v.codes_len);
    cv.high = (const uint8_t *)copy_bytes(v.high, v.high_len);
    cv.scales = copy_bytes(v.scales, v.scales_len * scale_size);

    for (code = 0; code <= 3; code++) {
        if (!lowbit_isa_is_available(code)) continue;
        OK(lowbit_set_isa_cap(code));
        fill(y, n, SENTINEL);
        OK(lowbit_gemv(m, x, k, y, n));
        for (r = 0; r < n; r++) {
            double exact = 0.0, mag = 0.0;
            for (j = 0; j < k; j++) {
                exact += (double)ref[r * k + j] * (double)x[j];
                mag += fabs((double)ref[r * k + j] * (double)x[j]);
            }
            if (!(fabs((double)y[r] - exact) <= 1e-4 * mag + 1e-6)) {
                fprintf(stderr, "isa %s FP element %u group %u scale %#x row %u: %g vs %g\n",
                        lowbit_isa_name(code), element, group, scale, (unsigned)r,
                        (double)y[r], exact);
                CHECK(fabs((double)y[r] - exact) <= 1e-4 * mag + 1e-6);
            }
        }
        fill(y2, n, SENTINEL);
        OK(lowbit_fp_view_gemv(&cv, x, k, y2, n));
        CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
        fill(y2, n, SENTINEL);
        OK(lowbit_fp_view_gemv_rows(&cv, x, k, 1, n, y2 + 1, n - 1));
        CHECK(memcmp(y2 + 1, y + 1, (n - 1) * sizeof(float)) == 0 && y2[0] == SENTINEL);

        /* A8 with prepared activations: the view and the matrix agree bitwise (or both
         * refuse a format that has no A8 kernel, writing nothing) */
        OK(lowbit_activations_quantize(x, k, &a));
        fill(y, n, SENTINEL);
        fill(y2, n, SENTINEL);
        st = lowbit_gemv_rows_a8(m, a, 0, n, y, n);
        CHECK(st == LOWBIT_OK || (st == LOWBIT_ERR_UNSUPPORTED &&
                                  (element == LOWBIT_FP_E3M2 || bits == 8)));
        CHECK_STATUS(lowbit_fp_view_gemv_rows_a8(&cv, a, 0, n, y2, n), st);
        if (st == LOWBIT_OK) {
            CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
        } else {
            CHECK(all_equal(y, n, SENTINEL) && all_equal(y2, n, SENTINEL));
        }
        lowbit_activations_free(a);
        a = NULL;

        /* W4A4: OVP-4 activations on the same A8 kernels; requantizing keeps the codec,
         * and the precision option runs the same kernel on the same codec */
        if (st == LOWBIT_OK) {
            lowbit_gemv_options o = lowbit_gemv_options_default();
            OK(lowbit_activations_quantize_ovp4(x, k, &a));
            fill(y, n, SENTINEL);
            OK(lowbit_gemv_rows_a8(m, a, 0, n, y, n));
            OK(lowbit_activations_requantize(a, x, k));
            fill(y2, n, SENTINEL);
            OK(lowbit_fp_view_gemv_rows_a8(&cv, a, 0, n, y2, n));
            CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
            o.precision = LOWBIT_PRECISION_ALLOW_A4_OVP;
            o.isa = code;
            fill(y2, n, SENTINEL);
            OK(lowbit_gemv_ex(m, x, k, LOWBIT_ACT_F32, y2, n, &o));
            for (r = 0; r < n; r++) CHECK(isfinite(y2[r]));
            lowbit_activations_free(a);
            a = NULL;
        }
    }
    OK(lowbit_set_isa_cap(LOWBIT_ISA_AUTO));

    fill(ref, n * k, SENTINEL);
    OK(lowbit_fp_view_dequantize(&cv, ref, n * k));
    CHECK(memcmp(ref, deq, n * k * sizeof(float)) == 0);

    /* bad views: nothing is written */
    fill(y, n, SENTINEL);
    bv = cv;
    bv.codes_len--;
    CHECK_STATUS(lowbit_fp_view_gemv(&bv, x, k, y, n), LOWBIT_ERR_BUFFER_LENGTH);
    bv = cv;
    if (bits != 6) {
        bv.high = cv.codes; /* FP4 and FP8 have no high plane */
        bv.high_len = 1;
    } else {
        bv.high = NULL;
    }
    CHECK_STATUS(lowbit_fp_view_gemv(&bv, x, k, y, n),
                 bits != 6 ? LOWBIT_ERR_BUFFER_LENGTH : LOWBIT_ERR_NULL);
    bad_scales = (uint8_t *)copy_bytes(cv.scales, cv.scales_len * scale_size);
    if (scale == LOWBIT_FP_SCALE_E4M3) {
        bad_scales[cv.scales_len - 1] = 0x7F; /* an E4M3 NaN */
    } else if (scale_size == 1) {
        bad_scales[cv.scales_len - 1] = 0xFF; /* the E8M0 NaN */
    } else {
        bad_scales[2] = bad_scales[3] = 0x7E; /* scale 1 = 0x7E7E, a NaN in either byte order */
    }
    bv = cv;
    bv.scales = bad_scales;
    CHECK_STATUS(lowbit_fp_view_gemv(&bv, x, k, y, n), LOWBIT_ERR_INVALID_PARAMETER);
    CHECK_STATUS(lowbit_matrix_from_fp_view(&bv, &m2), LOWBIT_ERR_INVALID_PARAMETER);
    CHECK(m2 == NULL);
    free(bad_scales);
    bv = cv; /* the tensor scale: finite for E4M3, 0 for every other kind */
    bv.tensor_scale = scale == LOWBIT_FP_SCALE_E4M3 ? NAN : 1.0f;
    CHECK_STATUS(lowbit_fp_view_gemv(&bv, x, k, y, n), LOWBIT_ERR_INVALID_PARAMETER);
    bv = cv;
    bv.format.variant = element | 0x400u; /* a scale kind this version does not know */
    CHECK_STATUS(lowbit_fp_view_gemv(&bv, x, k, y, n), LOWBIT_ERR_UNSUPPORTED);
    bv = cv;
    bv.format.reserved = 1;
    CHECK_STATUS(lowbit_fp_view_dequantize(&bv, ref, n * k), LOWBIT_ERR_INVALID_PARAMETER);
    CHECK(all_equal(y, n, SENTINEL));
    CHECK(memcmp(ref, deq, n * k * sizeof(float)) == 0);
    CHECK_STATUS(lowbit_matrix_int_view(m, &iv), LOWBIT_ERR_UNSUPPORTED); /* an FP matrix */

    /* the owned copy outlives the caller's buffers */
    OK(lowbit_matrix_from_fp_view(&cv, &m2));
    free((void *)cv.codes);
    free((void *)cv.high);
    free((void *)cv.scales);
    fill(y2, n, SENTINEL);
    OK(lowbit_gemv(m2, x, k, y2, n));
    OK(lowbit_gemv(m, x, k, y, n));
    CHECK(memcmp(y2, y, n * sizeof(float)) == 0);
    lowbit_matrix_free(m2);

done:
    lowbit_matrix_free(m);
    free(w);
    free(deq);
    free(ref);
    free(x);
    free(y);
    free(y2);
}

static void test_fp_formats(void) {
    lowbit_fp_layout l;
    lowbit_format f;
    /* FP4 */
    check_fp_format(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_F16, 9, 256);
    check_fp_format(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E8M0, 5, 128); /* mxfp4 */
    check_fp_format(LOWBIT_FP_E2M1, 0, LOWBIT_FP_SCALE_F16_POW2, 3, 99); /* per row, odd K */
    check_fp_format(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_E4M3, 6, 176); /* nvfp4 */
    check_fp_format(LOWBIT_FP_E2M3, 16, LOWBIT_FP_SCALE_E4M3, 3, 48);
    /* FP8 */
    check_fp_format(LOWBIT_FP_E4M3, 32, LOWBIT_FP_SCALE_F16, 5, 160);
    check_fp_format(LOWBIT_FP_E5M2, 0, LOWBIT_FP_SCALE_F16_POW2, 4, 77); /* per row, odd K */
    check_fp_format(LOWBIT_FP_E4M3, 32, LOWBIT_FP_SCALE_E8M0, 3, 64); /* mxfp8_e4m3 */
    /* FP6 */
    check_fp_format(LOWBIT_FP_E3M2, 64, LOWBIT_FP_SCALE_F16, 7, 192);
    check_fp_format(LOWBIT_FP_E2M3, 32, LOWBIT_FP_SCALE_E8M0, 4, 96); /* mxfp6_e2m3 */
    check_fp_format(LOWBIT_FP_E2M3, 0, LOWBIT_FP_SCALE_F16, 3, 70); /* per row */
    /* OVP */
    check_fp_format(LOWBIT_FP_OVP4, 0, LOWBIT_FP_SCALE_F16, 5, 70); /* per row */
    check_fp_format(LOWBIT_FP_OVP4, 32, LOWBIT_FP_SCALE_F16_POW2, 3, 96);
    check_fp_format(LOWBIT_FP_OVP8, 0, LOWBIT_FP_SCALE_F16, 4, 134);
    check_fp_format(LOWBIT_FP_OVP8, 64, LOWBIT_FP_SCALE_F16, 2, 128);
    f = lowbit_format_fp(LOWBIT_FP_OVP4, 0, LOWBIT_FP_SCALE_F16); /* pairs need an even K */
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 33, &l), LOWBIT_ERR_INVALID_SHAPE);
    f = lowbit_format_fp(LOWBIT_FP_OVP4, 32, LOWBIT_FP_SCALE_E8M0); /* f16 scales only */
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 64, &l), LOWBIT_ERR_INVALID_PARAMETER);
    /* format errors */
    f = lowbit_format_fp(LOWBIT_FP_E2M1, 64, LOWBIT_FP_SCALE_E8M0); /* MX needs group 32 */
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_INVALID_PARAMETER);
    f = lowbit_format_fp(LOWBIT_FP_E2M1, 32, LOWBIT_FP_SCALE_E4M3); /* NVFP4 needs group 16 */
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_INVALID_PARAMETER);
    f = lowbit_format_fp(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_F16); /* and only it takes 16 */
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_BAD_GROUP_SIZE);
    f = lowbit_format_fp(LOWBIT_FP_E2M1, 16, LOWBIT_FP_SCALE_E4M3);
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 40, &l), LOWBIT_ERR_BAD_GROUP_SIZE);
    OK(lowbit_fp_sizes(&f, 2, 48, &l));
    CHECK(l.group_len == 16 && l.scales_len == 6 && l.scale_bytes == 1);
    f = lowbit_format_fp(0x40, 32, LOWBIT_FP_SCALE_F16); /* unknown element */
    CHECK(f.bits == 0);
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_UNSUPPORTED);
    f = lowbit_format_fp(LOWBIT_FP_E3M2, 32, LOWBIT_FP_SCALE_F16);
    f.bits = 4;
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_INVALID_PARAMETER);
    f = lowbit_format_fp(LOWBIT_FP_E3M2, 48, LOWBIT_FP_SCALE_F16);
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 96, &l), LOWBIT_ERR_BAD_GROUP_SIZE);
    f = lowbit_format_int(4, 32, false);
    CHECK_STATUS(lowbit_fp_sizes(&f, 2, 128, &l), LOWBIT_ERR_UNSUPPORTED);
}

/* Every failure returns the right code, leaves outputs untouched and sets a message. */
static void test_errors(void) {
    enum { N = 6, K = 64 };
    float w[N * K], x[K], y[N], deq[N * K], buf[K];
    lowbit_format fmt = lowbit_format_int(4, 32, true), bad;
    lowbit_format sym = lowbit_format_int(4, 32, false);
    lowbit_matrix *m = NULL, *sentinel_m = (lowbit_matrix *)(void *)&fmt, *out_m;
    lowbit_int_view v, bv;
    lowbit_int_layout l, l_before;
    lowbit_isa isa;
    size_t i;
    uint8_t *zeros_copy;

    for (i = 0; i < N * K; i++) w[i] = rnd();
    for (i = 0; i < K; i++) x[i] = rnd();
    OK(lowbit_quantize(&fmt, w, N, K, &m));
    if (m == NULL) return;
    OK(lowbit_matrix_int_view(m, &v));

    /* NULL pointers */
    out_m = sentinel_m;
    CHECK_STATUS(lowbit_quantize(NULL, w, N, K, &out_m), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_quantize(&fmt, NULL, N, K, &out_m), LOWBIT_ERR_NULL);
    CHECK(out_m == sentinel_m);
    CHECK(strstr(lowbit_last_error_message(), "lowbit_quantize") != NULL);
    CHECK_STATUS(lowbit_quantize(&fmt, w, N, K, NULL), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_quantize(&fmt, NULL, 0, K, &out_m), LOWBIT_ERR_INVALID_SHAPE);
    CHECK(out_m == sentinel_m);

    fill(y, N, SENTINEL);
    CHECK_STATUS(lowbit_gemv(NULL, x, K, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_gemv(m, NULL, K, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_gemv(m, x, K, NULL, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_gemv_rows(NULL, x, K, 0, N, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_gemv_rows(m, NULL, K, 0, N, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_gemv_rows(m, x, K, 0, N, NULL, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_gemv(NULL, x, K, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_gemv(&v, NULL, K, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_gemv(&v, x, K, NULL, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_gemv_rows(NULL, x, K, 0, N, y, N), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_gemv_rows(&v, x, K, 0, N, NULL, N), LOWBIT_ERR_NULL);
    bv = v;
    bv.codes = NULL;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_NULL);
    bv = v;
    bv.scales = NULL;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_NULL);
    bv = v;
    bv.zeros = NULL;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_NULL);
    bv = v;
    bv.plane1 = NULL;
    bv.plane1_len = 5;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_NULL);
    CHECK(all_equal(y, N, SENTINEL));

    fill(deq, N * K, SENTINEL);
    CHECK_STATUS(lowbit_dequantize(NULL, deq, N * K), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_dequantize(m, NULL, N * K), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_dequantize(NULL, deq, N * K), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_view_dequantize(&v, NULL, N * K), LOWBIT_ERR_NULL);
    CHECK(all_equal(deq, N * K, SENTINEL));

    CHECK_STATUS(lowbit_int_sizes(NULL, N, K, &l), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_int_sizes(&fmt, N, K, NULL), LOWBIT_ERR_NULL);
    if (sizeof(size_t) == 8) { /* sizes near the top of size_t are exact or refused */
        lowbit_format f8 = lowbit_format_int(8, 0, false);
        lowbit_int_layout big;
        size_t k61 = (size_t)1 << 61;
        OK(lowbit_int_sizes(&f8, 1, k61, &big));
        CHECK(big.codes_len == k61 && big.codes_row_bytes == k61 && big.scales_len == 1);
        CHECK_STATUS(lowbit_int_sizes(&f8, 8, k61, &big), LOWBIT_ERR_INVALID_SHAPE);
        CHECK_STATUS(lowbit_int_sizes(&f8, 2, SIZE_MAX, &big), LOWBIT_ERR_INVALID_SHAPE);
    }
    CHECK_STATUS(lowbit_matrix_int_view(NULL, &bv), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_matrix_int_view(m, NULL), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_matrix_format(NULL, &bad), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_matrix_format(m, NULL), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_matrix_from_int_view(NULL, &out_m), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_matrix_from_int_view(&v, NULL), LOWBIT_ERR_NULL);
    CHECK(out_m == sentinel_m);
    CHECK_STATUS(lowbit_isa_active(NULL), LOWBIT_ERR_NULL);
    CHECK(lowbit_matrix_n(NULL) == 0 && lowbit_matrix_k(NULL) == 0);
    lowbit_matrix_free(NULL);

    /* NULL with length 0 is an empty buffer: accepted, then its length is checked */
    CHECK_STATUS(lowbit_gemv(m, NULL, 0, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_gemv(m, x, K, NULL, 0), LOWBIT_ERR_BUFFER_LENGTH);
    OK(lowbit_gemv_rows(m, x, K, N, N, NULL, 0));
    OK(lowbit_view_gemv_rows(&v, x, K, 0, 0, NULL, 0));

    /* wrong lengths and ranges */
    CHECK_STATUS(lowbit_gemv(m, x, K - 1, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_gemv(m, x, K + 1, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_gemv(m, x, K, y, N - 1), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK(strstr(lowbit_last_error_message(), "lowbit_gemv") != NULL);
    CHECK_STATUS(lowbit_gemv_rows(m, x, K, 1, N, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_gemv_rows(m, x, K, 0, N + 1, y, N + 1), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_gemv_rows(m, x, K, 3, 2, y, 0), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_view_gemv_rows(&v, x, K, 2, N + 2, y, N), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_dequantize(m, deq, N * K - 1), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_view_dequantize(&v, deq, N * K + 1), LOWBIT_ERR_BUFFER_LENGTH);
    bv = v;
    bv.codes_len--;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    bv = v;
    bv.scales_len++;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_matrix_from_int_view(&bv, &out_m), LOWBIT_ERR_BUFFER_LENGTH);
    bv = v;
    bv.plane1 = v.codes; /* a 1-bit plane for a 4-bit format */
    bv.plane1_len = 1;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    bv = v;
    bv.k = K + 32;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK(all_equal(y, N, SENTINEL));
    CHECK(all_equal(deq, N * K, SENTINEL));
    CHECK(out_m == sentinel_m);

    /* bad group sizes, bit widths, format fields and shapes */
    out_m = sentinel_m;
    bad = lowbit_format_int(4, 48, false);
    CHECK_STATUS(lowbit_quantize(&bad, w, 2, 96, &out_m), LOWBIT_ERR_BAD_GROUP_SIZE);
    memset(&l_before, 0xAB, sizeof l_before);
    l = l_before;
    CHECK_STATUS(lowbit_int_sizes(&bad, 2, 96, &l), LOWBIT_ERR_BAD_GROUP_SIZE);
    CHECK(memcmp(&l, &l_before, sizeof l) == 0);
    bad = lowbit_format_int(4, 32, false);
    CHECK_STATUS(lowbit_quantize(&bad, w, 2, 48, &out_m), LOWBIT_ERR_BAD_GROUP_SIZE);
    bad = lowbit_format_int(5, 32, false);
    CHECK_STATUS(lowbit_quantize(&bad, w, N, K, &out_m), LOWBIT_ERR_INVALID_PARAMETER);
    bad = lowbit_format_int(300, 32, false);
    CHECK_STATUS(lowbit_quantize(&bad, w, N, K, &out_m), LOWBIT_ERR_INVALID_PARAMETER);
    bad = fmt;
    bad.zero_point = 2;
    CHECK_STATUS(lowbit_quantize(&bad, w, N, K, &out_m), LOWBIT_ERR_INVALID_PARAMETER);
    bad = fmt;
    bad.variant = 1;
    CHECK_STATUS(lowbit_quantize(&bad, w, N, K, &out_m), LOWBIT_ERR_INVALID_PARAMETER);
    bad = fmt;
    bad.reserved = 7;
    CHECK_STATUS(lowbit_int_sizes(&bad, N, K, &l), LOWBIT_ERR_INVALID_PARAMETER);
    bad = fmt;
    bad.kind = 0;
    CHECK_STATUS(lowbit_quantize(&bad, w, N, K, &out_m), LOWBIT_ERR_UNSUPPORTED);
    bad.kind = 99;
    CHECK_STATUS(lowbit_int_sizes(&bad, N, K, &l), LOWBIT_ERR_UNSUPPORTED);
    bv = v;
    bv.format.kind = 99;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_UNSUPPORTED);
    CHECK_STATUS(lowbit_quantize(&fmt, w, 0, K, &out_m), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_quantize(&fmt, w, N, 0, &out_m), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_quantize(&fmt, w, SIZE_MAX, 2, &out_m), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_int_sizes(&fmt, SIZE_MAX / 2, 64, &l), LOWBIT_ERR_INVALID_SHAPE);
    CHECK(out_m == sentinel_m);

    /* non-finite weights */
    w[77] = NAN;
    CHECK_STATUS(lowbit_quantize(&fmt, w, N, K, &out_m), LOWBIT_ERR_NON_FINITE);
    CHECK(strstr(lowbit_last_error_message(), "77") != NULL);
    w[77] = -INFINITY;
    CHECK_STATUS(lowbit_quantize(&sym, w, N, K, &out_m), LOWBIT_ERR_NON_FINITE);
    w[77] = 0.5f;
    CHECK(out_m == sentinel_m);

    /* zero-points: missing, given for a symmetric format, out of range */
    bv = v;
    bv.zeros = NULL;
    bv.zeros_len = 0;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_BUFFER_LENGTH);
    bv = v;
    bv.format.zero_point = 0;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_INVALID_PARAMETER);
    zeros_copy = (uint8_t *)copy_bytes(v.zeros, v.zeros_len);
    zeros_copy[3] = 17; /* 4-bit zero-points are at most 16 */
    bv = v;
    bv.zeros = zeros_copy;
    CHECK_STATUS(lowbit_view_gemv(&bv, x, K, y, N), LOWBIT_ERR_INVALID_PARAMETER);
    zeros_copy[3] = 16;
    OK(lowbit_view_dequantize(&bv, deq, N * K));
    free(zeros_copy);
    fill(deq, N * K, SENTINEL);

    /* an output overlapping an input (in-place GEMV) is refused, not undefined */
    memcpy(buf, x, sizeof buf);
    CHECK_STATUS(lowbit_gemv(m, buf, K, buf, N), LOWBIT_ERR_INVALID_PARAMETER);
    CHECK_STATUS(lowbit_gemv_rows(m, buf, K, 0, N, buf + K - N, N), LOWBIT_ERR_INVALID_PARAMETER);
    CHECK(memcmp(buf, x, sizeof buf) == 0);
    CHECK(all_equal(y, N, SENTINEL));
    CHECK(all_equal(deq, N * K, SENTINEL));

    /* ISA errors do not change the state */
    OK(lowbit_isa_active(&isa));
    CHECK_STATUS(lowbit_set_isa_cap(42), LOWBIT_ERR_UNKNOWN_ISA);
    OK(lowbit_gemv(m, x, K, y, N));

    lowbit_matrix_free(m);
}

/* ---- gemv_ex (16-bit activations, options), gemm, importers ---- */

static uint32_t rnd_bits(unsigned n) { /* n random bits */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (rng_state >> 8) & ((1u << n) - 1u);
}

static float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static lowbit_matrix *random_matrix(uint32_t bits, size_t n, size_t k) {
    lowbit_format f = lowbit_format_int(bits, 32, true);
    float *w = alloc_floats(n * k);
    lowbit_matrix *m = NULL;
    size_t i;
    for (i = 0; i < n * k; i++) w[i] = rnd();
    OK(lowbit_quantize(&f, w, n, k, &m));
    free(w);
    return m;
}

static void test_gemv_ex(void) {
    enum { N = 8, K = 128 };
    static const uint32_t widths[2] = {4, 8};
    uint16_t h[K], b[K];
    float xh[K], xb[K], w[N * K], y_ref[N], y[N];
    lowbit_gemv_options single = lowbit_gemv_options_default(), a8 = lowbit_gemv_options_default();
    lowbit_gemv_options bad;
    lowbit_int_view v;
    size_t i, r, t;

    {
        lowbit_gemv_options zero;
        memset(&zero, 0, sizeof zero);
        CHECK(memcmp(&single, &zero, sizeof zero) == 0); /* the defaults are all zero */
    }
    single.single_thread = 1;
    a8.precision = LOWBIT_PRECISION_ALLOW_A8;

    /* random f16 / bf16 values of magnitude about 2^-5 .. 2^2, widened independently */
    for (i = 0; i < K; i++) {
        h[i] = (uint16_t)((rnd_bits(1) << 15) | ((10u + rnd_bits(3)) << 10) | rnd_bits(10));
        b[i] = (uint16_t)((rnd_bits(1) << 15) | ((122u + rnd_bits(3)) << 7) | rnd_bits(7));
        xh[i] = f16_to_f32(h[i]);
        xb[i] = bf16_to_f32(b[i]);
    }

    for (t = 0; t < 2; t++) {
        lowbit_matrix *m = random_matrix(widths[t], N, K);
        OK(lowbit_matrix_int_view(m, &v));

        /* f16 and bf16 activations: exactly the f32 GEMV of the widened values */
        OK(lowbit_gemv(m, xh, K, y_ref, N));
        fill(y, N, SENTINEL);
        OK(lowbit_gemv_ex(m, h, K, LOWBIT_ACT_F16, y, N, NULL));
        CHECK(memcmp(y, y_ref, sizeof y) == 0);
        fill(y, N, SENTINEL);
        OK(lowbit_view_gemv_ex(&v, h, K, LOWBIT_ACT_F16, y, N, &single));
        CHECK(memcmp(y, y_ref, sizeof y) == 0);

        OK(lowbit_gemv(m, xb, K, y_ref, N));
        fill(y, N, SENTINEL);
        OK(lowbit_gemv_ex(m, b, K, LOWBIT_ACT_BF16, y, N, &single));
        CHECK(memcmp(y, y_ref, sizeof y) == 0);
        fill(y, N, SENTINEL);
        OK(lowbit_view_gemv_ex(&v, b, K, LOWBIT_ACT_BF16, y, N, NULL));
        CHECK(memcmp(y, y_ref, sizeof y) == 0);

        fill(y, N, SENTINEL);
        OK(lowbit_gemv_ex(m, xb, K, LOWBIT_ACT_F32, y, N, NULL));
        CHECK(memcmp(y, y_ref, sizeof y) == 0);

        /* ALLOW_A8: each activation moves by at most amax(block) / 254 (half of the
         * block's scale amax / 127), so |y_a8 - y_f32| <= sum_k |w_k| * amax_block / 254,
         * plus float rounding slack. */
        OK(lowbit_dequantize(m, w, N * K));
        fill(y, N, SENTINEL);
        OK(lowbit_gemv_ex(m, xb, K, LOWBIT_ACT_F32, y, N, &a8));
        for (r = 0; r < N; r++) {
            double bound = 0.0, mag = 0.0;
            size_t blk, j;
            for (blk = 0; blk < K; blk += 32) {
                double amax = 0.0, wsum = 0.0;
                for (j = blk; j < blk + 32; j++) {
                    if (fabs(xb[j]) > amax) amax = fabs(xb[j]);
                    wsum += fabs(w[r * K + j]);
                    mag += fabs(w[r * K + j] * xb[j]);
                }
                bound += wsum * amax / 254.0;
            }
            CHECK(fabs((double)y[r] - (double)y_ref[r]) <= bound + 1e-5 * mag + 1e-6);
        }
        OK(lowbit_view_gemv_ex(&v, b, K, LOWBIT_ACT_BF16, y, N, &a8));

        /* error cases leave y untouched */
        fill(y, N, SENTINEL);
        CHECK_STATUS(lowbit_gemv_ex(m, xb, K, 3, y, N, NULL), LOWBIT_ERR_INVALID_PARAMETER);
        CHECK_STATUS(lowbit_gemv_ex(m, xb, K, -1, y, N, NULL), LOWBIT_ERR_INVALID_PARAMETER);
        bad = single;
        bad.accumulate = 2;
        CHECK_STATUS(lowbit_gemv_ex(m, xb, K, LOWBIT_ACT_F32, y, N, &bad),
                     LOWBIT_ERR_INVALID_PARAMETER);
        bad = single;
        bad.precision = 3;
        CHECK_STATUS(lowbit_view_gemv_ex(&v, xb, K, LOWBIT_ACT_F32, y, N, &bad),
                     LOWBIT_ERR_INVALID_PARAMETER);
        bad = single;
        bad.single_thread = 2;
        CHECK_STATUS(lowbit_gemv_ex(m, xb, K, LOWBIT_ACT_F32, y, N, &bad),
                     LOWBIT_ERR_INVALID_PARAMETER);
        bad = single;
        bad.isa = 42;
        CHECK_STATUS(lowbit_gemv_ex(m, xb, K, LOWBIT_ACT_F32, y, N, &bad),
                     LOWBIT_ERR_UNKNOWN_ISA);
        CHECK_STATUS(lowbit_gemv_ex(m, NULL, K, LOWBIT_ACT_F16, y, N, NULL), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_gemv_ex(m, h, K - 1, LOWBIT_ACT_F16, y, N, NULL),
                     LOWBIT_ERR_BUFFER_LENGTH);
        CHECK_STATUS(lowbit_gemv_ex(m, b, K, LOWBIT_ACT_BF16, y, N - 1, NULL),
                     LOWBIT_ERR_BUFFER_LENGTH);
        CHECK_STATUS(lowbit_gemv_ex(NULL, b, K, LOWBIT_ACT_BF16, y, N, NULL), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_gemv_ex(m, y, N, LOWBIT_ACT_F32, y, N, NULL),
                     LOWBIT_ERR_INVALID_PARAMETER); /* y overlaps x */
        CHECK(all_equal(y, N, SENTINEL));

        lowbit_matrix_free(m);
    }
}

static void test_gemm(void) {
    enum { N = 24, K = 96, M = 5 };
    float x[M * K], y[M * N], y1[N];
    lowbit_gemv_options single = lowbit_gemv_options_default();
    lowbit_matrix *m = random_matrix(4, N, K);
    lowbit_int_view v;
    size_t i, r;
    int pass;

    single.single_thread = 1;
    OK(lowbit_matrix_int_view(m, &v));
    for (i = 0; i < M * K; i++) x[i] = rnd();
    for (pass = 0; pass < 2; pass++) {
        fill(y, M * N, SENTINEL);
        if (pass == 0) {
            OK(lowbit_gemm(m, x, M, M * K, y, M * N, NULL));
        } else {
            OK(lowbit_view_gemm(&v, x, M, M * K, y, M * N, &single));
        }
        for (i = 0; i < M; i++) {
            OK(lowbit_gemv(m, x + i * K, K, y1, N));
            for (r = 0; r < N; r++) {
                double want = y1[r], got = y[i * N + r];
                CHECK(fabs(got - want) <= 1e-5 * (fabs(want) > 1.0 ? fabs(want) : 1.0));
            }
        }
    }
    /* m = 1 is the GEMV exactly */
    OK(lowbit_gemm(m, x, 1, K, y, N, NULL));
    OK(lowbit_gemv(m, x, K, y1, N));
    CHECK(memcmp(y, y1, sizeof y1) == 0);
    /* m = 0 with empty buffers is a no-op */
    OK(lowbit_gemm(m, NULL, 0, 0, NULL, 0, NULL));

    fill(y, M * N, SENTINEL);
    CHECK_STATUS(lowbit_gemm(m, x, M, M * K - 1, y, M * N, NULL), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_gemm(m, x, M, M * K, y, M * N - 1, NULL), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_view_gemm(&v, NULL, M, M * K, y, M * N, NULL), LOWBIT_ERR_NULL);
    CHECK(all_equal(y, M * N, SENTINEL));
    lowbit_matrix_free(m);
}

static void test_importers(void) {
    uint8_t q4[18], q8[34];
    float w[32], y[1], x[32];
    lowbit_matrix *m = NULL;
    lowbit_format f;
    int j;

    /* one Q4_0 block: d = 0.5 (f16 0x3800, little-endian), element j = j and element
     * j + 16 = 15 - j (low and high nibbles of qs[j]); llama.cpp: d * (q - 8) */
    q4[0] = 0x00;
    q4[1] = 0x38;
    for (j = 0; j < 16; j++) q4[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    OK(lowbit_import_q4_0(q4, sizeof q4, 1, 32, &m));
    CHECK(m != NULL);
    CHECK(lowbit_matrix_n(m) == 1 && lowbit_matrix_k(m) == 32);
    OK(lowbit_matrix_format(m, &f));
    CHECK(f.kind == LOWBIT_FORMAT_INT && f.bits == 4 && f.group == 32 && f.zero_point == 0);
    OK(lowbit_dequantize(m, w, 32));
    for (j = 0; j < 32; j++) {
        int q = j < 16 ? j : 31 - j;
        CHECK(w[j] == 0.5f * (float)(q - 8));
    }
    for (j = 0; j < 32; j++) x[j] = 1.0f;
    OK(lowbit_gemv(m, x, 32, y, 1));
    CHECK(y[0] == -8.0f); /* sum of 0.5 * (q - 8) over q = 0..15 twice */
    lowbit_matrix_free(m);

    /* one Q8_0 block: d = 1, q = j - 16 */
    m = NULL;
    q8[0] = 0x00;
    q8[1] = 0x3C;
    for (j = 0; j < 32; j++) q8[2 + j] = (uint8_t)(int8_t)(j - 16);
    OK(lowbit_import_q8_0(q8, sizeof q8, 1, 32, &m));
    OK(lowbit_dequantize(m, w, 32));
    for (j = 0; j < 32; j++) CHECK(w[j] == (float)(j - 16));
    lowbit_matrix_free(m);

    /* errors create nothing */
    m = NULL;
    CHECK_STATUS(lowbit_import_q4_0(q4, sizeof q4 - 1, 1, 32, &m), LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_import_q8_0(q8, sizeof q8, 1, 16, &m), LOWBIT_ERR_INVALID_SHAPE);
    CHECK_STATUS(lowbit_import_q8_0(NULL, sizeof q8, 1, 32, &m), LOWBIT_ERR_NULL);
    CHECK_STATUS(lowbit_import_q4_0(q4, sizeof q4, 1, 32, NULL), LOWBIT_ERR_NULL);
    CHECK(m == NULL);
}

static void test_import_awq_gptq(void) {
    enum { N = 8, K = 64 };
    int32_t qweight[K * N / 8], qzeros[2 * N / 8];
    uint16_t scales[2 * N];
    int32_t gq[K * 4 / 32 * N], gz[2], g_idx[K];
    uint32_t perm[K], has = 7u;
    float w[N * K];
    lowbit_matrix *m = NULL;
    size_t i;

    /* AWQ, g = 32: qweight [K][N/8] with nibble order 0 2 4 6 1 3 5 7; zero-points 0
     * except channel 2 (nibble 1) = 1; scales 1.0 */
    memset(qweight, 0, sizeof qweight);
    memset(qzeros, 0, sizeof qzeros);
    qweight[0] = 0x73; /* feature 0: channel 0 = 3, channel 2 = 7 */
    qzeros[0] = 0x10;  /* group 0: channel 2 has z = 1 */
    for (i = 0; i < 2 * N; i++) scales[i] = 0x3C00;
    OK(lowbit_import_awq(N, K, 32, qweight, K * N / 8, qzeros, 2 * N / 8, scales, 2 * N, &m));
    OK(lowbit_dequantize(m, w, N * K));
    CHECK(w[0] == 3.0f && w[1] == 0.0f && w[2 * K] == 6.0f && w[2 * K + 1] == -1.0f &&
          w[2 * K + 32] == 0.0f && w[K] == 0.0f);
    lowbit_matrix_free(m);
    m = NULL;
    CHECK_STATUS(
        lowbit_import_awq(N, K, 32, qweight, K * N / 8, qzeros, 2 * N / 8, scales, 2 * N - 1, &m),
        LOWBIT_ERR_BUFFER_LENGTH);
    CHECK(m == NULL);

    /* GPTQ v1, 4 bits, g = 32: all zero fields (z = 1), scales 1.0, feature 1 of
     * channel 0 holds code 5: W[0][1] = 4, every other weight -1 */
    memset(gq, 0, sizeof gq);
    memset(gz, 0, sizeof gz);
    gq[0] = 5 << 4;
    for (i = 0; i < K; i++) g_idx[i] = (int32_t)(i % 2); /* act-order: odd features last */
    OK(lowbit_import_gptq(N, K, 4, 32, 0, gq, K * 4 / 32 * N, gz, 2, scales, 2 * N, NULL, 0,
                          &m, NULL, 0, &has));
    CHECK(has == 0);
    OK(lowbit_dequantize(m, w, N * K));
    CHECK(w[1] == 4.0f && w[0] == -1.0f && w[32] == -1.0f && w[N * K - 1] == -1.0f);
    lowbit_matrix_free(m);

    m = NULL;
    has = 7u;
    CHECK_STATUS(lowbit_import_gptq(N, K, 4, 32, 0, gq, K * 4 / 32 * N, gz, 2, scales, 2 * N,
                                    g_idx, K, &m, NULL, 0, &has),
                 LOWBIT_ERR_BUFFER_LENGTH);
    CHECK_STATUS(lowbit_import_gptq(N, K, 4, 32, 0, gq, K * 4 / 32 * N, gz, 2, scales, 2 * N,
                                    g_idx, K, &m, perm, K - 1, &has),
                 LOWBIT_ERR_BUFFER_LENGTH);
    CHECK(m == NULL && has == 7u);
    OK(lowbit_import_gptq(N, K, 4, 32, 0, gq, K * 4 / 32 * N, gz, 2, scales, 2 * N, g_idx, K,
                          &m, perm, K, &has));
    CHECK(has == 1);
    for (i = 0; i < K; i++) CHECK(perm[i] == (i < K / 2 ? 2 * i : 2 * (i - K / 2) + 1));
    OK(lowbit_dequantize(m, w, N * K));
    CHECK(w[32] == 4.0f && w[1] == -1.0f);
    lowbit_matrix_free(m);
}

/* ---- activations quantized once (A8), row ranges on the caller's threads ---- */

static void test_activations(void) {
    enum { N = 13, K = 320 };
    static const uint32_t widths[2] = {4, 8};
    float x[K], y_ref[N], y[N];
    lowbit_gemv_options a8 = lowbit_gemv_options_default();
    lowbit_activations *act = NULL, *none = NULL;
    lowbit_int_view v;
    lowbit_isa isa = LOWBIT_ISA_SCALAR;
    size_t i, t, cut;

    a8.precision = LOWBIT_PRECISION_ALLOW_A8;
    a8.single_thread = 1;
    for (i = 0; i < K; i++) x[i] = (float)((int)rnd_bits(8) - 128) / 37.0f;
    OK(lowbit_activations_quantize(x, K, &act));
    CHECK(act != NULL && lowbit_activations_k(act) == K);
    CHECK(lowbit_activations_k(NULL) == 0);

    for (t = 0; t < 2; t++) {
        lowbit_matrix *m = random_matrix(widths[t], N, K);
        OK(lowbit_matrix_int_view(m, &v));
        OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y_ref, N, &a8));
        /* ALLOW_A8 permits the integer path; on the scalar ISA (LOWBIT_ISA=scalar, or a
         * CPU without SIMD) lowbit_gemv_ex keeps the f32 kernel, so there the reference
         * is lowbit_gemv_rows_a8 over all rows in one call. */
        OK(lowbit_isa_active(&isa));
        if (isa == LOWBIT_ISA_SCALAR) OK(lowbit_gemv_rows_a8(m, act, 0, N, y_ref, N));
        /* any split of the rows gives the bits of the A8 GEMV */
        for (cut = 0; cut <= N; cut += 4) {
            fill(y, N, SENTINEL);
            OK(lowbit_gemv_rows_a8(m, act, 0, cut, cut ? y : NULL, cut));
            OK(lowbit_view_gemv_rows_a8(&v, act, cut, N, y + cut, N - cut));
            CHECK(memcmp(y, y_ref, sizeof y) == 0);
        }
        /* errors leave y untouched */
        fill(y, N, SENTINEL);
        CHECK_STATUS(lowbit_gemv_rows_a8(m, NULL, 0, N, y, N), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_gemv_rows_a8(NULL, act, 0, N, y, N), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_gemv_rows_a8(m, act, 0, N + 1, y, N + 1), LOWBIT_ERR_INVALID_SHAPE);
        CHECK_STATUS(lowbit_gemv_rows_a8(m, act, 0, N, y, N - 1), LOWBIT_ERR_BUFFER_LENGTH);
        CHECK_STATUS(lowbit_view_gemv_rows_a8(&v, act, 0, N, y, 0), LOWBIT_ERR_BUFFER_LENGTH);
        CHECK(y[0] == SENTINEL && y[N - 1] == SENTINEL);
        lowbit_matrix_free(m);
    }

    /* a K that does not match the matrix, then NaN: the handle is emptied, not stale */
    {
        lowbit_matrix *m = random_matrix(4, N, K);
        OK(lowbit_activations_requantize(act, x, K - 32));
        CHECK(lowbit_activations_k(act) == K - 32);
        CHECK_STATUS(lowbit_gemv_rows_a8(m, act, 0, N, y, N), LOWBIT_ERR_BUFFER_LENGTH);
        x[7] = NAN;
        CHECK_STATUS(lowbit_activations_requantize(act, x, K), LOWBIT_ERR_NON_FINITE);
        CHECK(lowbit_activations_k(act) == 0);
        CHECK_STATUS(lowbit_gemv_rows_a8(m, act, 0, N, y, N), LOWBIT_ERR_BUFFER_LENGTH);
        CHECK_STATUS(lowbit_activations_quantize(x, K, &none), LOWBIT_ERR_NON_FINITE);
        CHECK(none == NULL);
        CHECK_STATUS(lowbit_activations_requantize(NULL, x, K), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_activations_quantize(NULL, K, &none), LOWBIT_ERR_NULL);
        CHECK_STATUS(lowbit_activations_quantize(x, K, NULL), LOWBIT_ERR_NULL);
        lowbit_matrix_free(m);
    }
    lowbit_activations_free(act);
    lowbit_activations_free(NULL);
}

/* ---- the engine API: kernel names, workspaces, accumulate + bias, row splits ---- */

static void test_engine_api(void) {
    enum { N = 40, K = 256, M = 3 };
    static float x[M * K], y[M * N], y_ref[M * N], y0[N], bias[N];
    lowbit_gemv_options o, dflt = lowbit_gemv_options_default();
    lowbit_workspace *ws = NULL;
    lowbit_activations *act = NULL;
    lowbit_matrix *m = random_matrix(4, N, K);
    lowbit_int_view v;
    lowbit_isa isa = LOWBIT_ISA_SCALAR;
    const char *name;
    size_t i, r, bytes = 0;
    unsigned p, round;
    static const size_t cuts[4] = {0, 16, 17, N};

    OK(lowbit_matrix_int_view(m, &v));
    OK(lowbit_isa_active(&isa));
    for (i = 0; i < M * K; i++) x[i] = rnd();
    for (r = 0; r < N; r++) bias[r] = rnd();

    /* the kernel a call runs, by name: f32 by default, A8 when allowed on a SIMD ISA */
    name = lowbit_gemv_kernel_name(m, NULL);
    CHECK(strncmp(name, "gemv_int", 8) == 0 && strstr(name, "_f32_") != NULL);
    CHECK(strcmp(name, lowbit_view_gemv_kernel_name(&v, &dflt)) == 0);
    o = dflt;
    o.precision = LOWBIT_PRECISION_ALLOW_A8;
    name = lowbit_gemv_kernel_name(m, &o);
    CHECK((strstr(name, "_a8_") != NULL) == (isa != LOWBIT_ISA_SCALAR));
    o.isa = LOWBIT_ISA_SCALAR;
    CHECK(strcmp(lowbit_gemv_kernel_name(m, &o), "gemv_int_f32_scalar") == 0);
    o.precision = 9;
    CHECK(strcmp(lowbit_gemv_kernel_name(m, &o), "") == 0);
    CHECK(strstr(lowbit_last_error_message(), "lowbit_gemv_kernel_name") != NULL);
    CHECK(strcmp(lowbit_gemv_kernel_name(NULL, NULL), "") == 0);
    CHECK(strcmp(lowbit_view_gemv_kernel_name(NULL, NULL), "") == 0);

    /* ALLOW_A8 on a SIMD ISA is the A8 GEMV of the activations quantized once */
    o = dflt;
    o.precision = LOWBIT_PRECISION_ALLOW_A8;
    OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y_ref, N, &o));
    OK(lowbit_activations_quantize(x, K, &act));
    if (isa != LOWBIT_ISA_SCALAR) {
        fill(y, N, SENTINEL);
        OK(lowbit_gemv_rows_a8(m, act, 0, N, y, N));
        CHECK(memcmp(y, y_ref, N * sizeof(float)) == 0);
    }

    /* a workspace gives the same bits, and stops growing after the first round */
    OK(lowbit_workspace_new(&ws));
    CHECK(ws != NULL && lowbit_workspace_bytes(ws) == 0 && lowbit_workspace_bytes(NULL) == 0);
    for (p = 0; p < 2; p++) {
        for (round = 0; round < 3; round++) {
            o = dflt;
            o.precision = p ? LOWBIT_PRECISION_ALLOW_A8 : LOWBIT_PRECISION_F32;
            OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y0, N, &o));
            OK(lowbit_gemm(m, x, M, M * K, y_ref, M * N, &o));
            o.workspace = ws;
            fill(y, M * N, SENTINEL);
            OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y, N, &o));
            CHECK(memcmp(y, y0, sizeof y0) == 0);
            OK(lowbit_gemm(m, x, M, M * K, y, M * N, &o));
            CHECK(memcmp(y, y_ref, sizeof y) == 0);
            OK(lowbit_gemv_rows_ex(m, x, K, LOWBIT_ACT_F32, 0, 0, NULL, 0, &o));
            if (round == 0) bytes = lowbit_workspace_bytes(ws);
            CHECK(bytes > 0 && lowbit_workspace_bytes(ws) == bytes);
        }
    }

    /* accumulate and bias: y = y_old + (W x + bias), the same bits on every path */
    for (p = 0; p < 2; p++) {
        o = dflt;
        o.precision = p ? LOWBIT_PRECISION_ALLOW_A8 : LOWBIT_PRECISION_F32;
        o.workspace = p ? ws : NULL;
        OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y0, N, &o));
        o.bias = bias;
        o.bias_len = N;
        o.accumulate = 1;
        fill(y, N, 1.0f);
        OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y, N, &o));
        for (r = 0; r < N; r++) CHECK(y[r] == 1.0f + (y0[r] + bias[r]));
        /* a row range indexes the bias by row; the rows on the caller's thread */
        o.single_thread = 1;
        fill(y, N, 1.0f);
        OK(lowbit_gemv_rows_ex(m, x, K, LOWBIT_ACT_F32, 17, N, y, N - 17, &o));
        for (r = 17; r < N; r++) CHECK(y[r - 17] == 1.0f + (y0[r] + bias[r]));
        CHECK(y[N - 17] == 1.0f);
        o.accumulate = 0;
        OK(lowbit_view_gemv_rows_ex(&v, x, K, LOWBIT_ACT_F32, 0, 5, y, 5, &o));
        for (r = 0; r < 5; r++) CHECK(y[r] == y0[r] + bias[r]);
    }
    if (isa != LOWBIT_ISA_SCALAR) {
        o = dflt;
        o.precision = LOWBIT_PRECISION_ALLOW_A8;
        OK(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y0, N, &o));
        o.bias = bias;
        o.bias_len = N;
        o.accumulate = 1;
        fill(y, N, -2.0f);
        OK(lowbit_gemv_rows_a8_ex(m, act, 3, N, y, N - 3, &o));
        for (r = 3; r < N; r++) CHECK(y[r - 3] == -2.0f + (y0[r] + bias[r]));
        OK(lowbit_view_gemv_rows_a8_ex(&v, act, 0, 3, y, 3, &o));
    }

    /* GEMM rows split anywhere, with a stride, give the bits of lowbit_gemm */
    for (p = 0; p < 2; p++) {
        size_t c;
        o = dflt;
        o.precision = p ? LOWBIT_PRECISION_ALLOW_A8 : LOWBIT_PRECISION_F32;
        o.bias = bias;
        o.bias_len = N;
        OK(lowbit_gemm(m, x, M, M * K, y_ref, M * N, &o));
        for (c = 0; c < 4; c++) {
            size_t cut = cuts[c];
            fill(y, M * N, SENTINEL);
            o.workspace = ws;
            OK(lowbit_gemm_rows(m, x, M, M * K, 0, cut, y, (M - 1) * N + cut, N, &o));
            o.workspace = NULL;
            OK(lowbit_view_gemm_rows(&v, x, M, M * K, cut, N, y + cut, M * N - cut, N, &o));
            CHECK(memcmp(y, y_ref, sizeof y) == 0);
        }
        /* a stride wider than the range leaves the gaps alone */
        fill(y, M * N, SENTINEL);
        OK(lowbit_gemm_rows(m, x, M, M * K, 2, 6, y, (M - 1) * N + 4, N, &o));
        for (i = 0; i < M; i++) {
            CHECK(memcmp(y + i * N, y_ref + i * N + 2, 4 * sizeof(float)) == 0);
            CHECK(all_equal(y + i * N + 4, i + 1 < M ? N - 4 : 0, SENTINEL));
        }
    }

    /* non-finite activations: LOWBIT_ERR_NON_FINITE on every path, nothing written */
    fill(y, M * N, SENTINEL);
    for (p = 0; p < 2; p++) {
        x[K + 5] = p ? INFINITY : NAN;
        o = dflt;
        o.precision = p ? LOWBIT_PRECISION_ALLOW_A8 : LOWBIT_PRECISION_F32;
        CHECK_STATUS(lowbit_gemv_ex(m, x + K, K, LOWBIT_ACT_F32, y, N, &o), LOWBIT_ERR_NON_FINITE);
        CHECK_STATUS(lowbit_gemv_rows_ex(m, x + K, K, LOWBIT_ACT_F32, 0, N, y, N, &o),
                     LOWBIT_ERR_NON_FINITE);
        CHECK_STATUS(lowbit_gemm(m, x, M, M * K, y, M * N, &o), LOWBIT_ERR_NON_FINITE);
        CHECK_STATUS(lowbit_gemm_rows(m, x, M, M * K, 0, N, y, M * N, N, &o),
                     LOWBIT_ERR_NON_FINITE);
        CHECK(all_equal(y, M * N, SENTINEL));
    }
    x[K + 5] = 0.25f;

    /* bad options: nothing written */
    o = dflt;
    o.bias = bias;
    o.bias_len = N - 1;
    CHECK_STATUS(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y, N, &o), LOWBIT_ERR_BUFFER_LENGTH);
    o.bias = NULL;
    o.bias_len = N;
    CHECK_STATUS(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y, N, &o), LOWBIT_ERR_NULL);
    o.bias = y + 1; /* overlaps the output */
    CHECK_STATUS(lowbit_gemv_ex(m, x, K, LOWBIT_ACT_F32, y + 2, N, &o),
                 LOWBIT_ERR_INVALID_PARAMETER);
    CHECK_STATUS(lowbit_gemm_rows(m, x, M, M * K, 0, N, y, M * N, N - 1, &dflt),
                 LOWBIT_ERR_INVALID_SHAPE); /* ldy < rows */
    CHECK_STATUS(lowbit_gemm_rows(m, x, M, M * K, 0, N + 1, y, M * N, N + 1, &dflt),
                 LOWBIT_ERR_INVALID_SHAPE);
    CHECK(all_equal(y, M * N, SENTINEL));
    CHECK_STATUS(lowbit_workspace_new(NULL), LOWBIT_ERR_NULL);

    lowbit_workspace_free(ws);
    lowbit_workspace_free(NULL);
    lowbit_activations_free(act);
    lowbit_matrix_free(m);
}

int main(void) {
    test_version();
    test_status_strings();
    test_isa();
    test_formats();
    test_fp_formats();
    test_errors();
    test_gemv_ex();
    test_activations();
    test_gemm();
    test_engine_api();
    test_importers();
    test_import_awq_gptq();
    printf("test_capi: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
