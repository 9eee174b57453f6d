/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/mapped_memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nlb {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

void *map_memory(uint64_t bytes, bool prefault, std::string *error) {
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        *error = std::strerror(errno);
        return nullptr;
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE);  // best effort: THP may be off
    if (prefault && madvise(p, bytes, MADV_POPULATE_WRITE) != 0) {
        if (errno != EINVAL) {  // EINVAL: an older kernel; touch every page instead
            *error = std::string("cannot populate the mapping: ") + std::strerror(errno);
            munmap(p, bytes);
            return nullptr;
        }
        auto *bytes_p = static_cast<volatile uint8_t *>(p);
        for (uint64_t off = 0; off < bytes; off += 4096) bytes_p[off] = 0;
    }
    return p;
}

void unmap_memory(void *p, uint64_t bytes) {
    if (p && bytes) munmap(p, bytes);
}

}  // namespace nlb
