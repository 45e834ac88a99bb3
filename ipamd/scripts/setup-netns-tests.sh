#!/usr/bin/env bash
# Installs what the network-namespace tests of cloudnet-ipamd need on a fresh machine:
# iproute2 (`ip netns add` in the test setup) and Debian's containernetworking-plugins
# (the `portmap` plugin the chaining test runs after cloudnet-cni). Idempotent; needs root.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
[ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)

if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

[ -x /usr/lib/cni/portmap ] || { echo "portmap not found at /usr/lib/cni/portmap" >&2; exit 1; }
echo "netns test prerequisites present: $(command -v ip), /usr/lib/cni/portmap"
