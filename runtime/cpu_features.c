/* cpu_features.c — CPUID/XGETBV feature detection by LLVM feature name. The table maps each
 * name to its CPUID leaf, register and bit, and to the XCR0 state the OS must enable (AVX needs
 * the ymm state saved, AVX-512 the opmask and zmm state, AMX the tile state).
 */
#include "runtime/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KILN_X86 1
#endif

enum { EAX, EBX, ECX, EDX };
enum { OS_NONE = 0, OS_AVX = 1, OS_AVX512 = 2, OS_AMX = 3 };

typedef struct feature {
    const char *name;
    uint32_t leaf, subleaf;
    uint8_t reg, bit, os;
} feature;

static const feature features[] = {
    {"cmov", 1, 0, EDX, 15, 0},          {"cx8", 1, 0, EDX, 8, 0},
    {"mmx", 1, 0, EDX, 23, 0},           {"fxsr", 1, 0, EDX, 24, 0},
    {"sse", 1, 0, EDX, 25, 0},           {"sse2", 1, 0, EDX, 26, 0},
    {"sse3", 1, 0, ECX, 0, 0},           {"pclmul", 1, 0, ECX, 1, 0},
    {"ssse3", 1, 0, ECX, 9, 0},          {"fma", 1, 0, ECX, 12, OS_AVX},
    {"cx16", 1, 0, ECX, 13, 0},          {"sse4.1", 1, 0, ECX, 19, 0},
    {"sse4.2", 1, 0, ECX, 20, 0},        {"crc32", 1, 0, ECX, 20, 0},
    {"movbe", 1, 0, ECX, 22, 0},         {"popcnt", 1, 0, ECX, 23, 0},
    {"aes", 1, 0, ECX, 25, 0},           {"xsave", 1, 0, ECX, 26, 0},
    {"avx", 1, 0, ECX, 28, OS_AVX},      {"f16c", 1, 0, ECX, 29, OS_AVX},
    {"rdrnd", 1, 0, ECX, 30, 0},         {"fsgsbase", 7, 0, EBX, 0, 0},
    {"bmi", 7, 0, EBX, 3, 0},            {"avx2", 7, 0, EBX, 5, OS_AVX},
    {"bmi2", 7, 0, EBX, 8, 0},           {"invpcid", 7, 0, EBX, 10, 0},
    {"rtm", 7, 0, EBX, 11, 0},           {"avx512f", 7, 0, EBX, 16, OS_AVX512},
    {"avx512dq", 7, 0, EBX, 17, OS_AVX512}, {"rdseed", 7, 0, EBX, 18, 0},
    {"adx", 7, 0, EBX, 19, 0},           {"avx512ifma", 7, 0, EBX, 21, OS_AVX512},
    {"clflushopt", 7, 0, EBX, 23, 0},    {"clwb", 7, 0, EBX, 24, 0},
    {"avx512cd", 7, 0, EBX, 28, OS_AVX512}, {"sha", 7, 0, EBX, 29, 0},
    {"avx512bw", 7, 0, EBX, 30, OS_AVX512}, {"avx512vl", 7, 0, EBX, 31, OS_AVX512},
    {"avx512vbmi", 7, 0, ECX, 1, OS_AVX512}, {"pku", 7, 0, ECX, 3, 0},
    {"waitpkg", 7, 0, ECX, 5, 0},        {"avx512vbmi2", 7, 0, ECX, 6, OS_AVX512},
    {"shstk", 7, 0, ECX, 7, 0},          {"gfni", 7, 0, ECX, 8, 0},
    {"vaes", 7, 0, ECX, 9, OS_AVX},      {"vpclmulqdq", 7, 0, ECX, 10, OS_AVX},
    {"avx512vnni", 7, 0, ECX, 11, OS_AVX512}, {"avx512bitalg", 7, 0, ECX, 12, OS_AVX512},
    {"avx512vpopcntdq", 7, 0, ECX, 14, OS_AVX512}, {"rdpid", 7, 0, ECX, 22, 0},
    {"movdiri", 7, 0, ECX, 27, 0},       {"movdir64b", 7, 0, ECX, 28, 0},
    {"avx512vp2intersect", 7, 0, EDX, 8, OS_AVX512}, {"serialize", 7, 0, EDX, 14, 0},
    {"amx-bf16", 7, 0, EDX, 22, OS_AMX}, {"avx512fp16", 7, 0, EDX, 23, OS_AVX512},
    {"amx-tile", 7, 0, EDX, 24, OS_AMX}, {"amx-int8", 7, 0, EDX, 25, OS_AMX},
    {"avxvnni", 7, 1, EAX, 4, OS_AVX},   {"avx512bf16", 7, 1, EAX, 5, OS_AVX512},
    {"amx-fp16", 7, 1, EAX, 21, OS_AMX}, {"avxifma", 7, 1, EAX, 23, OS_AVX},
    {"avxvnniint8", 7, 1, EDX, 4, OS_AVX}, {"avxneconvert", 7, 1, EDX, 5, OS_AVX},
    {"avxvnniint16", 7, 1, EDX, 10, OS_AVX}, {"xsaveopt", 0xd, 1, EAX, 0, 0},
    {"xsavec", 0xd, 1, EAX, 1, 0},       {"xsaves", 0xd, 1, EAX, 3, 0},
    {"sahf", 0x80000001u, 0, ECX, 0, 0}, {"lzcnt", 0x80000001u, 0, ECX, 5, 0},
    {"sse4a", 0x80000001u, 0, ECX, 6, 0}, {"prfchw", 0x80000001u, 0, ECX, 8, 0},
    {"xop", 0x80000001u, 0, ECX, 11, OS_AVX}, {"fma4", 0x80000001u, 0, ECX, 16, OS_AVX},
    {"tbm", 0x80000001u, 0, ECX, 21, 0},
};

static const feature *find(const char *name, size_t len) {
    for (size_t i = 0; i < KILN_ARRAY_SIZE(features); i++)
        if (strlen(features[i].name) == len && strncmp(features[i].name, name, len) == 0) return &features[i];
    return NULL;
}

bool rt_cpu_feature_known(const char *name) { return name && find(name, strlen(name)) != NULL; }

const char *rt_cpu_feature_names(void) {
    static char names[1024];
    if (!names[0]) {
        size_t at = 0;
        for (size_t i = 0; i < KILN_ARRAY_SIZE(features) && at < sizeof(names) - 32; i++)
            at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s", i ? ", " : "", features[i].name);
    }
    return names;
}

#ifdef KILN_X86
static uint64_t xcr0(void) {
    uint32_t a = 0, b = 0, c = 0, d = 0;
    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 27))) return 0;   // no OSXSAVE: the OS saves no extended state
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static bool has(const feature *f) {
    uint32_t r[4] = {0};
    uint32_t max = __get_cpuid_max(f->leaf & 0x80000000u, NULL);
    if (max < f->leaf) return false;
    __cpuid_count(f->leaf, f->subleaf, r[EAX], r[EBX], r[ECX], r[EDX]);
    if (!(r[f->reg] & (1u << f->bit))) return false;
    uint64_t x = f->os ? xcr0() : 0;
    switch (f->os) {
    case OS_AVX: return (x & 0x6) == 0x6;
    case OS_AVX512: return (x & 0xe6) == 0xe6;
    case OS_AMX: return (x & 0x60000) == 0x60000;
    default: return true;
    }
}
#else
static bool has(const feature *f) {
    (void)f;
    return false;
}
#endif

bool rt_cpu_has_feature(const char *name) {
    const feature *f = name ? find(name, strlen(name)) : NULL;
    return f && has(f);
}

kiln_status rt_cpu_check_features(const char *required, char *missing, size_t missing_size) {
    char buf[512];
    size_t at = 0;
    buf[0] = 0;
    for (const char *p = required; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 1 && p[0] == '+') {
            const feature *f = find(p + 1, len - 1);
            if (f && !has(f) && at < sizeof(buf) - 40)
                at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", at ? ", " : "", f->name);
        }
        p = end ? end + 1 : p + len;
    }
    if (missing && missing_size) snprintf(missing, missing_size, "%s", buf);
    if (!at) return KILN_OK;
    return kiln_error(KILN_ERR_UNSUPPORTED, "this CPU lacks %s", buf);
}
