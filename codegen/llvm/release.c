/* release.c — after a JIT compile, the compiler's memory goes back to the system, so that a process
 * that compiled a model holds the model and its kernels, not LLVM.
 *
 * Two parts. Heap: LLVM frees its modules, but glibc keeps freed pages inside its arenas (the GEMM
 * compiles on a thread of its own, in an arena of its own); malloc_trim hands them back. Code:
 * compiling runs through a good part of libLLVM's 100+ MB of machine code, and those pages stay in
 * the resident set after the last compile (about 60 MB here, a seventh of BERT-base's whole
 * footprint). They are pages of a private file mapping that nothing ever wrote, so MADV_DONTNEED
 * drops them from this process and a later compile faults them back in from the page cache,
 * unchanged. Only segments that are mapped without write permission are dropped (relocated data,
 * RELRO included, sits in writable segments), and never in a library with text relocations.
 *
 * Written by hand because no library does this: it is a few calls to dl_iterate_phdr and madvise.
 */
#define _GNU_SOURCE   // dladdr, dl_iterate_phdr, MADV_DONTNEED
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>   // malloc_trim
#endif

#include "codegen/llvm/llvm.h"

typedef struct drop_ctx {
    const char *name;   // the shared object that holds LLVM, as the dynamic linker names it
    size_t dropped;
} drop_ctx;

static bool has_text_relocations(const struct dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr); d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) return true;
    }
    return false;
}

static int drop_object(struct dl_phdr_info *info, size_t size, void *ud) {
    (void)size;
    drop_ctx *c = ud;
    if (!info->dlpi_name || strcmp(info->dlpi_name, c->name) != 0) return 0;
    if (has_text_relocations(info)) return 1;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) continue;
        // Whole pages inside the segment only: a page shared with a neighbour stays.
        uintptr_t lo = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
        uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) c->dropped += hi - lo;
    }
    return 1;
}

size_t cg_llvm_release_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    Dl_info where;
    if (!dladdr((void *)(uintptr_t)LLVMContextCreate, &where) || !where.dli_fname) return 0;
    // LLVM linked into the executable itself, or into libkiln: its pages are kiln's too; keep them.
    Dl_info self;
    if (dladdr((void *)(uintptr_t)cg_llvm_release_memory, &self) && self.dli_fname && strcmp(self.dli_fname, where.dli_fname) == 0) return 0;
    drop_ctx c = {.name = where.dli_fname};
    dl_iterate_phdr(drop_object, &c);
    return c.dropped;
}
