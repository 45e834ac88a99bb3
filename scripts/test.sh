#!/usr/bin/env bash
# The project's test command: format check, clippy with warnings as errors, every test of the
# workspace. Prints how long each step took. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# A stable target directory outside the clone, so re-runs (and CI on this machine) are
# incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudnet/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0
# The tests that drive moto, the aws CLI and kubectl fail when the tool is missing; the one
# opt-out (for a developer without them) is never in effect here, locally as in CI.
unset CLOUDNET_SKIP_EXTERNAL

timings=()
step() {
  local name="$1"; shift
  local start=$SECONDS
  echo "==> $name: $*"
  "$@"
  local took=$((SECONDS - start))
  timings+=("$(printf '%-8s %5ds' "$name" "$took")")
  echo "==> $name took ${took}s"
}

# No crate's top-level modules may import each other in a cycle.
check_modules() {
  local failed=0 src
  for src in */src providers/*/src; do
    if ! python3 scripts/module-edges.py "$src" >/dev/null; then
      echo "import cycle in $src:"; python3 scripts/module-edges.py "$src" | grep cycle; failed=1
    fi
  done
  return $failed
}

total_start=$SECONDS
step setup bash scripts/setup.sh
step fmt cargo fmt --all --check
step modules check_modules
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
step test cargo test --workspace --locked

echo
echo "Step timings (target dir $CARGO_TARGET_DIR):"
printf '  %s\n' "${timings[@]}"
echo "  total    $((SECONDS - total_start))s"
