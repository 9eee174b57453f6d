/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/mapped_memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nlb {

void *map_memory(uint64_t bytes, std::string *error) {
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        *error = std::strerror(errno);
        return nullptr;
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE);  // best effort: THP may be off
    return p;
}

void unmap_memory(void *p, uint64_t bytes) {
    if (p && bytes) munmap(p, bytes);
}

}  // namespace nlb
