// Which malloc the controller runs on. The controller links mimalloc because
// it holds one mutual-TLS connection per agent: gRPC and OpenSSL allocate
// tens of KiB of buffers per connection, and glibc's malloc placed them on
// pages already dirtied by the enrollment storm, where mimalloc leaves their
// untouched parts out of memory (docs/benchmarks.md: 1,297 against 1,103 MiB
// holding 10,000 agents).
#pragma once

#include <string>

namespace topos::controller {

struct MemoryAllocator {
  std::string name;  // e.g. "mimalloc 2.0.9"
  // False when the library is linked but malloc still resolves elsewhere
  // (a link order or LD_PRELOAD that puts another allocator first).
  bool serves_malloc = false;
};

MemoryAllocator CurrentMemoryAllocator();

}  // namespace topos::controller
