// libFuzzer target for the topology loader and validator: any bytes must
// give a value or an error, never a crash, hang or leak.
// Built only with clang (-DTOPOS_FUZZ=ON); run: build/tests/fuzz/topology_loader_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/topology/role_catalog.h"
#include "controller/topology/validator.h"
#include "controller/topology/yaml_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto catalog = topos::topology::RoleCatalog::LoadText(
      "roles:\n  - name: frontend\n  - name: se\n    standard: true\n"
      "  - name: persistent-chat\n    rule_prefix: chat\n"
      "    requires_database_store: true\n    requires_file_store: true\n",
      "roles.yaml");
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto loaded = topos::topology::LoadYamlAs<topos::v1::Topology>(text, "fuzz.yaml");
  if (loaded.ok() && catalog.ok()) {
    // Reported problems are bounded, whatever aliases multiplied the input.
    auto errors = topos::topology::ValidateTopology(loaded->message, loaded->sources, *catalog);
    if (errors.size() > topos::topology::kMaxReportedProblems + 1) __builtin_trap();
    for (const auto& error : errors) (void)error.ToString();
  }
  return 0;
}
