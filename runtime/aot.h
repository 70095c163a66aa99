/* aot.h — what an AOT artifact (executable or shared library made by kiln_program_save)
 * carries, and the runtime side of it: the image (program description, weights or the name of
 * their side file, the kernel table by name), loading it after a CPU feature check, the main()
 * of an executable, and the typed entry points of a shared library.
 *
 * The generated object defines one `kiln_aot_image` (an rt_aot_image) and, in an executable,
 * `main` calling rt_aot_main; in a shared library, NAME_open/_run/_close/_arena_bytes calling
 * rt_aot_open/_run/_close. Nothing else of kiln is in the artifact: it links libkiln_rt only.
 */
#ifndef KILN_RT_AOT_H
#define KILN_RT_AOT_H

#include "runtime/program.h"

#define RT_AOT_MAGIC 0x4e4c494bu   // "KILN"
#define RT_AOT_VERSION 1u
#define RT_AOT_IMAGE_SYMBOL "kiln_aot_image"

typedef struct rt_aot_image {
    uint32_t magic, version;
    const uint8_t *program;          // rt_program_serialize's blob
    uint64_t program_bytes;
    const uint8_t *weights;          // embedded weights (64-byte aligned), or NULL: a side file
    uint64_t weights_bytes;
    const char *weights_file;        // the side file's name, in the artifact's directory
    uint64_t n_kernels;
    const char *const *kernel_names; // (n_kernels)
    const rt_kernel_fn *kernel_fns;  // (n_kernels)
} rt_aot_image;

// Builds the program of `image`; `artifact` is the file it came from (side weights are looked
// up beside it, and messages name it). Refuses with KILN_ERR_UNSUPPORTED, naming what is
// missing, on a CPU without the features the kernels were compiled for. Statuses as
// kiln_program_load.
kiln_status rt_aot_load(const rt_aot_image *image, const char *artifact, kiln_program **out);
// dlopens a shared library artifact and loads its image; the program keeps the library open.
kiln_status rt_aot_load_library(const char *path, kiln_program **out);

// The executable's main: reads token ids or text, runs, prints every output. See aot.c.
int rt_aot_main(const rt_aot_image *image, int argc, char **argv);

// The typed entry points of a shared library.
typedef struct rt_aot_session rt_aot_session;
kiln_status rt_aot_open(const rt_aot_image *image, int n_threads, rt_aot_session **out);
void rt_aot_close(rt_aot_session *s);
// dims: one value per program symbol (program order); inputs/outputs: one pointer per program
// input/output (NULL: omitted input takes its default / output not wanted).
kiln_status rt_aot_run(rt_aot_session *s, const int64_t *dims, const void *const *inputs, void *const *outputs);
const kiln_program *rt_aot_program(const rt_aot_session *s);

#endif  // KILN_RT_AOT_H
