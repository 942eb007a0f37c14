// How a rollout's record (topos.v1.Rollout) is stored: its hosts apart from
// the rest, one row each (controller::RolloutHostRecord), so the runner's
// decision rounds write only the hosts they changed. The rest, the
// "header", holds the pools without their hosts. Pure: no I/O.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "controller/store/store.h"
#include "topos/v1/rollout.pb.h"

namespace topos::rollout {

// `rollout` serialized without its pools' hosts. Takes the record by
// reference to lend its hosts out for the call, not copy them, and leaves
// it as it was.
std::string SerializeHeader(v1::Rollout& rollout);

// The host at `position` of pool `pool`, ready for the store.
controller::RolloutHostRecord HostRecord(const v1::Rollout& rollout, int pool, int position);
// Every host of `rollout` (a new rollout's first write).
std::vector<controller::RolloutHostRecord> HostRecords(const v1::Rollout& rollout);

// The record from its stored header and hosts. A rollout stored before
// hosts were kept apart has them in its header and none apart: it reads as
// stored. InvalidArgument for bytes that do not parse, a host of a pool the
// header lacks, or a gap in a pool's positions (a damaged store);
// ReadStoredRollout's message names the rollout.
Result<v1::Rollout> AssembleRollout(const std::string& header,
                                    const std::vector<controller::RolloutHostRecord>& hosts);
Result<v1::Rollout> ReadStoredRollout(const controller::RolloutRecord& stored);

}  // namespace topos::rollout
