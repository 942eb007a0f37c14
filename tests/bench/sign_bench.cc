// topos-sign-bench: how fast the controller's issuing code signs service
// certificates on one thread. Makes a CA and one CSR (ECDSA P-256, three
// DNS names, as a service certificate request carries), then calls
// CertificateIssuer::IssueServiceCertificate in a loop for --seconds and
// prints certificates signed per second, and the ratio to `openssl speed
// ecdsap256` sign/s (given with --openssl-sign-rate, or measured here by
// running openssl for 3 s). Used by scripts/bench-certs.sh; asserts nothing.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "certs/certificate_authority.h"
#include "certs/csr.h"
#include "certs/private_key.h"
#include "controller/ca/certificate_issuer.h"

namespace {

// `openssl speed -seconds 3 ecdsap256` sign/s on one core; 0 when openssl
// cannot be run or its output is not understood.
double OpensslSignRate() {
  FILE* pipe = popen("openssl speed -seconds 3 ecdsap256 2>/dev/null", "r");
  if (pipe == nullptr) return 0;
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  pclose(pipe);
  std::istringstream lines(output);
  std::string line;
  double rate = 0;
  while (std::getline(lines, line)) {
    if (line.find("nistp256") == std::string::npos) continue;
    // " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  36913.5  13026.8"
    std::istringstream fields(line);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(token);
    if (tokens.size() >= 2) rate = std::atof(tokens[tokens.size() - 2].c_str());
  }
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"topos-sign-bench: service certificates signed per second on one thread"};
  double seconds = 3;
  double openssl_rate = 0;
  app.add_option("--seconds", seconds, "How long to sign")->check(CLI::Range(0.1, 600.0));
  app.add_option("--openssl-sign-rate", openssl_rate,
                 "openssl speed ecdsap256 sign/s to compare with (default: measure it)");
  CLI11_PARSE(app, argc, argv);

  auto ca = topos::certs::CertificateAuthority::Create("Topos bench CA");
  auto key = topos::certs::PrivateKey::Generate();
  if (!ca.ok() || !key.ok()) {
    std::cerr << "cannot make a CA or key\n";
    return 1;
  }
  const std::string host = "sim-0.bench.test";
  const std::vector<std::string> names = {host, "sim-pool-0.bench.test", "svc.bench.test"};
  auto csr = topos::certs::Csr::Create(*key, host, names);
  if (!csr.ok()) {
    std::cerr << "cannot make a CSR: " << csr.status().message() << "\n";
    return 1;
  }
  topos::controller::CertificateIssuer issuer(std::move(*ca), std::chrono::hours(24 * 7));

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  long signed_count = 0;
  while (Clock::now() < end) {
    auto certificate = issuer.IssueServiceCertificate(*csr, host, names);
    if (!certificate.ok()) {
      std::cerr << "signing failed: " << certificate.status().message() << "\n";
      return 1;
    }
    ++signed_count;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double rate = signed_count / elapsed;
  std::printf("controller signing (IssueServiceCertificate, 1 thread): %ld certificates in %.2f s: "
              "%.0f certificates/s\n",
              signed_count, elapsed, rate);
  if (openssl_rate <= 0) openssl_rate = OpensslSignRate();
  if (openssl_rate > 0) {
    std::printf("openssl speed ecdsap256 (1 core): %.0f signs/s; controller signing is %.1f%% of it\n",
                openssl_rate, 100 * rate / openssl_rate);
  } else {
    std::printf("openssl speed ecdsap256: not measured (openssl not found)\n");
  }
  return 0;
}
