/* gemm.c — configuration and compile-time weight packing for kiln's generated GEMM (gemm.h).
 * The LLVM IR emission lives in gemm_emit.c; this file holds what needs no LLVM: choosing the
 * ISA and tile sizes from a target description, and laying weights out in panels.
 */
#include "codegen/llvm/gemm.h"

// Tile sizes, chosen by measurement with bench/gemm (see bench/README.md). A is read in place,
// so a tile needs mr broadcasts + nr/vec loads of B per k for mr*nr/vec FMAs, and mr*nr/vec
// accumulators must stay in registers (8 or more, to cover 4-cycle FMA latency on 2 ports).
// AVX-512 (32 zmm): 8 x 48 = 24 accumulators; N of 384, 768, 1536, 3072 are whole panels and
//   M of 128, 512, 1024 whole tiles. On one core (128 x 768 x 768) 8x48, 7x48 and 6x64 ran at
//   ~90 % of the FMA peak, 5x64, 4x64, 9x32 at 80-85 %; 12x32 spilled (47 %). Tiles of 16
//   columns with 28 rows need A packed (28 row pointers do not fit) and ran slower still.
//   Attention uses 8 x 32: head dims of 32 and 64 are whole panels (48 would waste a third),
//   and 6 x 64 where N is a multiple of 64 or no narrower tile fits it better: BERT-base's
//   attention products 128 x 128 x 64 and 128 x 64 x 128 (bench_gemm, 2 threads) went from
//   64 / 70 % to 72 / 78 % of the peak, its fused attention (kiln profile) 5-7 % faster at 1 x 128
//   and 1 x 512 (MiniLM's, head dim 32, unchanged); 8 x 48 and 6 x 48 ran slower, 4 x 64 and
//   7 x 64 no faster. A module compiles only the tile(s) its graph's products need
//   (cg_llvm_fit_dynamic_tiles): both cost BERT-base's compile about 0.15 s of machine code.
// AVX2 (16 ymm): 6 x 16 = 12 accumulators (95 % of the AVX2 peak; 4x24, 3x32 92-93 %).
// kc = 128 keeps a 24 KiB slice of B in L1 (128-256 measured alike).
static const cg_gemm_config config_avx512 = {
    .isa = CG_GEMM_ISA_AVX512, .vec = 16, .mr = 8, .nr = 48, .dyn_mr = 8, .dyn_nr = 32, .dyn_mr_wide = 6, .dyn_nr_wide = 64,
    .kc = 128, .mc = 384};
static const cg_gemm_config config_avx2 = {
    .isa = CG_GEMM_ISA_AVX2, .vec = 8, .mr = 6, .nr = 16, .dyn_mr = 6, .dyn_nr = 16, .kc = 256, .mc = 384};

// True when the comma-separated `features` holds exactly `flag` ("+avx512f", not "+avx512fp16").
static bool has_feature(const char *features, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = features; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, flag, n) == 0) return true;
        p = end ? end + 1 : p + len;
    }
    return false;
}

static bool name_in(const char *cpu, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(cpu, names[i]) == 0) return true;
    return false;
}

kiln_status cg_gemm_config_for(const char *cpu, const char *features, cg_gemm_config *out) {
    if (!cpu || !out) return kiln_error(KILN_ERR_INVALID_ARG, "gemm: config needs a cpu name and an output");
    static const char *const avx512_cpus[] = {
        "x86-64-v4",      "skylake-avx512", "cascadelake", "cooperlake",     "cannonlake",   "icelake-client",
        "icelake-server", "tigerlake",      "rocketlake",  "sapphirerapids", "emeraldrapids", "graniterapids",
        "graniterapids-d", "znver4",        "znver5",      "knl",            "knm",
    };
    static const char *const avx2_cpus[] = {
        "x86-64-v3", "haswell",    "broadwell", "skylake",   "alderlake", "raptorlake", "meteorlake",
        "arrowlake", "arrowlake-s", "lunarlake", "gracemont", "znver1",    "znver2",     "znver3",
        "bdver4",    "sierraforest", "grandridge", "pantherlake", "clearwaterforest",
    };
    bool no512 = has_feature(features, "-avx512f");
    bool no2 = has_feature(features, "-avx2") || has_feature(features, "-fma");
    bool avx512 = !no512 && (has_feature(features, "+avx512f") || name_in(cpu, avx512_cpus, KILN_ARRAY_SIZE(avx512_cpus)));
    bool avx2 = !no2 && ((has_feature(features, "+avx2") && has_feature(features, "+fma")) ||
                         name_in(cpu, avx2_cpus, KILN_ARRAY_SIZE(avx2_cpus)) || name_in(cpu, avx512_cpus, KILN_ARRAY_SIZE(avx512_cpus)));
    if (avx512 && !no2) {
        *out = config_avx512;
        return KILN_OK;
    }
    if (avx2) {
        *out = config_avx2;
        return KILN_OK;
    }
    return kiln_error(KILN_ERR_UNSUPPORTED, "gemm: target cpu '%s' (features '%s') has neither AVX-512F nor AVX2+FMA", cpu,
                      features ? features : "");
}

size_t cg_gemm_packed_bytes(const cg_gemm_config *cfg, int64_t N, int64_t K) {
    int64_t panels = (N + cfg->nr - 1) / cfg->nr;
    return (size_t)panels * (size_t)cfg->nr * (size_t)K * sizeof(float);
}

void cg_gemm_pack_weight(const cg_gemm_config *cfg, const float *w_nk, int64_t N, int64_t K, float *packed) {
    int64_t nr = cfg->nr, panels = (N + nr - 1) / nr;
    for (int64_t p = 0; p < panels; p++) {
        float *dst = packed + p * K * nr;
        int64_t n0 = p * nr, nv = KILN_MIN(nr, N - n0);
        // Row by row of W (contiguous reads); the writes stride by nr within one panel (in cache).
        for (int64_t j = 0; j < nv; j++) {
            const float *src = w_nk + (n0 + j) * K;
            for (int64_t k = 0; k < K; k++) dst[k * nr + j] = src[k];
        }
        for (int64_t j = nv; j < nr; j++)
            for (int64_t k = 0; k < K; k++) dst[k * nr + j] = 0.0f;
    }
}

bool cg_gemm_dynamic_wide(const cg_gemm_config *cfg, int64_t n) {
    int64_t w = cfg->dyn_nr_wide, s = cfg->dyn_nr;
    return w > 0 && n > 0 && (n + w - 1) / w * w <= (n + s - 1) / s * s;
}
