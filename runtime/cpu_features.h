/* cpu_features.h — which instruction-set extensions this CPU has, by LLVM's feature names
 * ("avx2", "avx512f", "avx512fp16", ...), read from CPUID and XGETBV. An artifact records the
 * features its kernels were compiled for; the loader checks them here and refuses with a message
 * on a CPU that lacks one, so that a kernel never dies of SIGILL.
 */
#ifndef KILN_RT_CPU_FEATURES_H
#define KILN_RT_CPU_FEATURES_H

#include "common/common.h"

// true when `name` is a feature this file can check (LLVM's spelling, without + or -).
bool rt_cpu_feature_known(const char *name);
// true when the CPU (and the OS, for AVX / AVX-512 / AMX state) supports `name`; false if unknown.
bool rt_cpu_has_feature(const char *name);
// A comma-separated list of every known feature, for messages. Static storage.
const char *rt_cpu_feature_names(void);
// Checks a comma-separated feature list ("+avx2,+fma,-avx512f"): every "+name" must be present;
// "-name" entries and names this file cannot check are skipped. Returns KILN_OK, or
// KILN_ERR_UNSUPPORTED with "this CPU lacks: avx512fp16, ..." (also written into `missing`,
// which may be NULL).
kiln_status rt_cpu_check_features(const char *required, char *missing, size_t missing_size);

#endif  // KILN_RT_CPU_FEATURES_H
