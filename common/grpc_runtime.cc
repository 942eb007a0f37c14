#include "common/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

namespace topos {

void TuneGrpcRuntime() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace topos
