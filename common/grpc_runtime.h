// Process-wide settings for the gRPC runtime, applied once at the top of
// main() in every Topos binary, before the first channel or server.
#pragma once

namespace topos {

// Turns off Abseil's mutex deadlock detection. Debian builds Abseil with
// assertions on, so every absl::Mutex that gRPC locks records lock-order
// edges in a global graph: 5-6% of the controller's CPU during a reconnect
// storm of 2,000 agents (perf: GraphCycles::GetId/InsertEdge). Topos' own
// locks are std::mutex and not affected.
void TuneGrpcRuntime();

}  // namespace topos
