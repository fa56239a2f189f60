/*
 * A minimal lowbit example: quantize a weight matrix to INT4 (group 32), multiply it
 * by a vector, print the result next to the float product, and clean up.
 *
 * Installed with scripts/install.sh (PKG_CONFIG_PATH pointing at PREFIX/lib/pkgconfig):
 *   cc csrc/example.c $(pkg-config --cflags --libs lowbit) -o example
 * From the build tree:
 *   cc -std=c99 -Iinclude csrc/example.c target/release/liblowbit.a \
 *      -lpthread -ldl -lm -o example
 *
 * It needs nothing but lowbit and the C library (no libm), so the pkg-config flags
 * alone link it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lowbit.h"

#define N 4
#define K 64

static int check(lowbit_status s, const char *what) {
    if (s != LOWBIT_OK) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, lowbit_status_string(s),
                lowbit_last_error_message());
        return 1;
    }
    return 0;
}

int main(void) {
    float w[N * K], x[K], y[N];
    lowbit_format fmt = lowbit_format_int(4, 32, false);
    lowbit_matrix *m = NULL;
    lowbit_isa isa = LOWBIT_ISA_SCALAR;
    size_t i, j;

    /* weights and activations in [-1, 1), from a fixed modular sequence */
    for (i = 0; i < N * K; i++) w[i] = (float)((i * 37 + 11) % 101) / 50.5f - 1.0f;
    for (j = 0; j < K; j++) x[j] = (float)((j * 53 + 7) % 89) / 44.5f - 1.0f;

    printf("lowbit %s (best ISA: %s)\n", lowbit_version_string(),
           lowbit_isa_name(lowbit_isa_best()));
    if (check(lowbit_isa_active(&isa), "lowbit_isa_active")) return 1;
    printf("running on: %s\n", lowbit_isa_name(isa));

    if (check(lowbit_quantize(&fmt, w, N, K, &m), "lowbit_quantize")) return 1;
    if (check(lowbit_gemv(m, x, K, y, N), "lowbit_gemv")) {
        lowbit_matrix_free(m);
        return 1;
    }
    for (i = 0; i < N; i++) {
        double exact = 0.0;
        for (j = 0; j < K; j++) exact += (double)w[i * K + j] * (double)x[j];
        printf("y[%u] = %9.4f   (float weights: %9.4f)\n", (unsigned)i, (double)y[i], exact);
    }
    lowbit_matrix_free(m);
    return 0;
}
