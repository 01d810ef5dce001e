#!/usr/bin/env bash
# Check a built image from inside it: the `rllib` command, two iterations of the quickstart and,
# where the engine is installed, two iterations of MAAAL on football.
#
#   docker run --rm --shm-size=2g --entrypoint bash rllib-maaal docker/smoke-test.sh
#
# Training joins a Ray head started here on loopback (NUM_CPUS CPUs, default 2), stopped through
# its own process: `ray stop` would also stop Ray instances this script did not start.
set -euo pipefail

port="${RAY_PORT:-6390}"
results="$(mktemp -d)"
log() { printf '[smoke-test] %s\n' "$*"; }

rllib --help >/dev/null
log "rllib --help: ok"

ray start --head --block --node-ip-address=127.0.0.1 --port="${port}" \
  --num-cpus="${NUM_CPUS:-2}" --include-dashboard=false --disable-usage-stats \
  >"${results}/ray-head.log" 2>&1 &
head=$!
trap 'kill "${head}"; wait "${head}" 2>/dev/null || true' EXIT
until grep -q "Ray runtime started" "${results}/ray-head.log"; do
  kill -0 "${head}" 2>/dev/null || { cat "${results}/ray-head.log"; exit 1; }
  sleep 1
done

train() {
  local name=$1
  shift
  local start=${SECONDS}
  rllib train --address "127.0.0.1:${port}" --storage-path "${results}" \
    --stop '{"training_iteration": 2}' "$@"
  log "${name}: 2 iterations in $((SECONDS - start)) s"
}

train quickstart --file tuned_configs/city_quickstart.yaml
if python -c "import gfootball" 2>/dev/null; then
  # One search point, one EnvRunner with one env: what a 2-core machine holds.
  train football --file tuned_configs/grf_10subtasks.yaml --experiment grf-10subtasks-front \
    --set config.lr=0.0005 --set config.num_envs_per_env_runner=1
fi
log "ok"
