#!/usr/bin/env bash
# Installs every Debian package Topos needs to build, test and run its demo.
# Idempotent: apt-get skips what is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkgconf
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost1.81-dev libssl-dev libspdlog-dev libgtest-dev libgmock-dev
  libsqlite3-dev libcli11-dev libyaml-cpp-dev libcpp-httplib-dev libarchive-dev libmimalloc-dev
  openssl procps curl ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
