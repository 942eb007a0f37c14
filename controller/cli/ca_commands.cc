// `toposctl ca rotate [--batch-size N] [--wait]`, `ca status [--output
// json]`, `ca pause`, `ca resume`: rotating the controller's CA without an
// outage.
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "common/text.h"
#include "controller/cli/commands.h"

namespace topos::cli {
namespace {

constexpr char kPhasesHelp[] =
    "A rotation runs in three phases:\n"
    "  1 trust    a new CA is created and every host is sent a bundle of both CAs;\n"
    "             waits until every online host confirms (N of M)\n"
    "  2 reissue  the new CA signs from now on: the controller's certificates, every\n"
    "             agent identity (in batches) and every service certificate (one\n"
    "             certificate rollout) are reissued\n"
    "  3 retire   the old CA leaves every bundle; waits for the online hosts again\n"
    "Connections keep working throughout. The rotation survives a controller\n"
    "restart; `ca pause` holds it, `ca resume` continues it. Offline hosts do not\n"
    "hold phase 1 back, but they must be online to get their identity reissued.";

int PhaseNumber(const std::string& phase) {
  if (phase == "trust") return 1;
  if (phase == "reissue") return 2;
  if (phase == "retire") return 3;
  return 4;
}

std::string Expiry(std::int64_t not_after_unix) {
  if (not_after_unix == 0) return "-";
  auto at = std::chrono::system_clock::time_point(std::chrono::seconds(not_after_unix));
  return FormatUnixTime(not_after_unix) + " (" +
         FormatExpiry(at, std::chrono::system_clock::now()) + ")";
}

void PrintRotation(const v1::CaRotation& rotation) {
  std::cout << "CA rotation " << rotation.id() << ": phase " << rotation.phase();
  if (rotation.phase() != "done") std::cout << " (" << PhaseNumber(rotation.phase()) << " of 3)";
  std::cout << ", " << rotation.state() << "\n";
  std::cout << "  started   " << FormatUnixTime(rotation.started_at_unix()) << " by "
            << rotation.started_by() << "\n";
  if (rotation.finished_at_unix() != 0) {
    std::cout << "  finished  " << FormatUnixTime(rotation.finished_at_unix()) << "\n";
  }
  std::cout << "  old CA    " << rotation.old_ca_fingerprint() << "\n";
  std::cout << "  new CA    "
            << (rotation.new_ca_fingerprint().empty() ? "-" : rotation.new_ca_fingerprint())
            << "\n";
  if (rotation.phase() == "trust" || rotation.phase() == "retire") {
    std::cout << "  trust     " << rotation.hosts_confirmed() << " of " << rotation.hosts_online()
              << " online hosts confirmed\n";
  }
  if (rotation.phase() != "trust") {
    std::cout << "  identities reissued " << rotation.identities_reissued() << " of "
              << rotation.identities_total() << " (batches of " << rotation.batch_size() << ")\n";
    std::cout << "  certificate rollout "
              << (rotation.certificate_rollout_id().empty() ? "-"
                                                            : rotation.certificate_rollout_id())
              << "\n";
  }
  if (!rotation.waiting_for().empty()) {
    std::cout << "  waiting for";
    for (const auto& host : rotation.waiting_for()) std::cout << " " << host;
    std::cout << "\n";
  }
  if (!rotation.message().empty()) std::cout << "  " << rotation.message() << "\n";
}

int ShowStatus(const ConnectionOptions& connection, const std::string& output) {
  v1::GetCaStatusResponse response;
  if (!CallAdmin(connection, &v1::AdminService::Stub::GetCaStatus, v1::GetCaStatusRequest(),
                 &response)) {
    return 1;
  }
  if (output == "json") {
    std::cout << ToJson(response) << "\n";
    return 0;
  }
  std::cout << "Signing CA   " << response.ca_fingerprint() << ", expires "
            << Expiry(response.ca_not_after_unix()) << "\n";
  std::cout << "Trusted CAs ";
  for (const auto& fingerprint : response.trusted_fingerprints()) {
    std::cout << " " << fingerprint;
  }
  std::cout << "\n";
  if (response.has_rotation()) {
    PrintRotation(response.rotation());
  } else {
    std::cout << "No CA rotation has run (toposctl ca rotate starts one).\n";
  }
  return 0;
}

// Polls until the rotation is done (0) or failed or paused (1), printing
// each change of phase or state.
int Wait(const ConnectionOptions& connection, const std::string& id) {
  std::string last;
  for (;;) {
    v1::GetCaStatusResponse response;
    if (!CallAdmin(connection, &v1::AdminService::Stub::GetCaStatus, v1::GetCaStatusRequest(),
                   &response)) {
      return 1;
    }
    const v1::CaRotation& rotation = response.rotation();
    if (rotation.id() != id) return Fail(Status::NotFound("CA rotation " + id + " is gone"));
    const std::string now = rotation.phase() + " " + rotation.state();
    if (now != last) {
      std::cout << FormatUnixTime(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count())
                << "  phase " << rotation.phase() << ", " << rotation.state() << ": "
                << rotation.message() << "\n"
                << std::flush;
      last = now;
    }
    if (rotation.state() == "succeeded") return 0;
    if (rotation.state() == "failed" || rotation.state() == "paused") {
      std::cerr << "toposctl: CA rotation " << id << " is " << rotation.state() << ": "
                << rotation.message() << "\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int Rotate(const ConnectionOptions& connection, std::uint32_t batch_size, bool wait) {
  v1::RotateCaRequest request;
  request.set_batch_size(batch_size);
  v1::CaRotation rotation;
  if (!CallAdmin(connection, &v1::AdminService::Stub::RotateCa, request, &rotation)) return 1;
  std::cout << "Started CA rotation " << rotation.id() << " (new CA "
            << (rotation.new_ca_fingerprint().empty() ? "being created"
                                                      : rotation.new_ca_fingerprint())
            << "); follow it with `toposctl ca status`.\n";
  return wait ? Wait(connection, rotation.id()) : 0;
}

int Control(const ConnectionOptions& connection, v1::CaRotationAction action) {
  v1::ControlCaRotationRequest request;
  request.set_action(action);
  v1::CaRotation rotation;
  if (!CallAdmin(connection, &v1::AdminService::Stub::ControlCaRotation, request, &rotation)) {
    return 1;
  }
  PrintRotation(rotation);
  return 0;
}

}  // namespace

void RegisterCaCommands(CLI::App& app, ConnectionOptions& connection, Action& action) {
  auto* ca = app.add_subcommand("ca", "Rotate the controller's CA without an outage");
  ca->footer(kPhasesHelp);
  ca->require_subcommand(1);

  auto batch = std::make_shared<std::uint32_t>(0);
  auto wait = std::make_shared<bool>(false);
  auto* rotate = ca->add_subcommand("rotate", "Start a CA rotation (needs ca-admin)");
  rotate->footer(kPhasesHelp);
  rotate->add_option("--batch-size", *batch,
                     "Agent identities asked to renew at once (default 50)")
      ->check(CLI::Range(1, 100000));
  rotate->add_flag("--wait", *wait,
                   "Print each phase change; exit 0 when done, 1 if it fails or pauses");
  rotate->callback([&, batch, wait] {
    action = [&, batch, wait] { return Rotate(connection, *batch, *wait); };
  });

  auto output = std::make_shared<std::string>("table");
  auto* status = ca->add_subcommand(
      "status",
      "The signing and trusted CAs, and the newest rotation: phase, hosts confirmed (N of M), "
      "identities reissued, the certificate rollout, what it waits for");
  status->add_option("--output", *output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  status->callback([&, output] { action = [&, output] { return ShowStatus(connection, *output); }; });

  auto* pause = ca->add_subcommand("pause", "Hold the rotation under way (needs ca-admin)");
  pause->callback([&] { action = [&] { return Control(connection, v1::CA_ROTATION_PAUSE); }; });
  auto* resume = ca->add_subcommand(
      "resume",
      "Continue a paused rotation; after a failed certificate rollout a new one starts "
      "(needs ca-admin)");
  resume->callback([&] { action = [&] { return Control(connection, v1::CA_ROTATION_RESUME); }; });
}

}  // namespace topos::cli
