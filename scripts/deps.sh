#!/usr/bin/env bash
# Installs the Debian packages nlb needs to build, test and run its lab, if any is missing.
# Idempotent: does nothing when everything is present. Needs root to install.
set -euo pipefail

packages=(
    build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
    dpdk dpdk-dev libconfig++-dev
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
    libsqlite3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
    iproute2 ethtool tcpdump curl python3 python3-scapy openssl
    nginx wrk nftables
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
