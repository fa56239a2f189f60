// The header compiles unchanged as C++ (extern "C" guards, fixed-width enums) and links.
// Built and run by `cargo test -p lowbit-capi` with -std=c++11 -Wall -Wextra -Werror.
#include "lowbit.h"

#include <cstdio>
#include <vector>

int main() {
    if (lowbit_version() != LOWBIT_VERSION) {
        std::fprintf(stderr, "header %lu, library %u\n", static_cast<unsigned long>(LOWBIT_VERSION),
                     static_cast<unsigned>(lowbit_version()));
        return 1;
    }
    const std::size_t n = 3, k = 64;
    std::vector<float> w(n * k), x(k, 1.0f), y(n, 0.0f);
    for (std::size_t i = 0; i < w.size(); i++) w[i] = static_cast<float>(i % 13) - 6.0f;

    lowbit_format fmt = lowbit_format_int(8, 32, false);
    lowbit_matrix *m = nullptr;
    lowbit_status s = lowbit_quantize(&fmt, w.data(), n, k, &m);
    if (s != LOWBIT_OK) {
        std::fprintf(stderr, "quantize: %s\n", lowbit_status_string(s));
        return 1;
    }
    s = lowbit_gemv(m, x.data(), x.size(), y.data(), y.size());
    lowbit_matrix_free(m);
    if (s != LOWBIT_OK) {
        std::fprintf(stderr, "gemv: %s\n", lowbit_last_error_message());
        return 1;
    }
    lowbit_isa isa = LOWBIT_ISA_SCALAR;
    if (lowbit_isa_active(&isa) != LOWBIT_OK) return 1;
    std::printf("C++: lowbit %s on %s, y[0] = %g\n", lowbit_version_string(), lowbit_isa_name(isa),
                static_cast<double>(y[0]));
    return lowbit_status_string(LOWBIT_ERR_NULL) != nullptr ? 0 : 1;
}
