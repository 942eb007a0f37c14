#include "controller/memory_allocator.h"

#include <mimalloc.h>

#include <cstdlib>

namespace topos::controller {

MemoryAllocator CurrentMemoryAllocator() {
  const int version = mi_version();  // e.g. 209 for 2.0.9
  MemoryAllocator allocator;
  allocator.name = "mimalloc " + std::to_string(version / 100) + "." +
                   std::to_string(version / 10 % 10) + "." + std::to_string(version % 10);
  // A block from plain malloc lies in mimalloc's heap only if malloc is its.
  void* probe = std::malloc(64);
  allocator.serves_malloc = probe != nullptr && mi_is_in_heap_region(probe);
  std::free(probe);
  return allocator;
}

}  // namespace topos::controller
