#!/usr/bin/env bash
# `make run`'s demo: the demo SQLite database with DEMO_MAILBOXES mailboxes (the first time only),
# then the daemon, with short intervals and cooldowns so scaling shows within a minute.
#
# Precedence, as everywhere: the environment wins over .env (or $AUTO_SCALER_ENV_FILE), and .env
# over the demo's own values, which apply only to the settings neither of them sets. The banner
# names the address the daemon will really listen on.
#
#   BIN=.venv/bin DEMO_MAILBOXES=2500 bash scripts/demo-run.sh
set -euo pipefail

BIN=${BIN:-.venv/bin}
cli="$BIN/warmup-autoscaler"
env_file=${AUTO_SCALER_ENV_FILE:-.env}

demo() {  # NAME VALUE: use VALUE unless the environment or the env file sets NAME
  local name=$1 value=$2
  [ -n "${!name+x}" ] && return 0
  if [ -f "$env_file" ] && grep -Eq "^[[:space:]]*(export[[:space:]]+)?${name}[[:space:]]*=" "$env_file"; then
    return 0
  fi
  export "$name=$value"
}

demo AUTO_SCALER_CHECK_INTERVAL_MS 5000
demo AUTO_SCALER_SCALE_UP_COOLDOWN_MS 10000
demo AUTO_SCALER_SCALE_DOWN_COOLDOWN_MS 20000
demo AUTO_SCALER_WORKER_HEARTBEAT_MS 1000
demo AUTO_SCALER_WORKER_LEASE_TTL_MS 5000
demo AUTO_SCALER_WORKER_CYCLE_INTERVAL_MS 30000

"$cli" db init --demo
"$cli" db seed --mailboxes "${DEMO_MAILBOXES:-2500}" --if-empty
# The effective address (a bad setting stops here with its config error, as `run` would).
settings=$("$cli" config --json 2>/dev/null) || exec "$cli" config >/dev/null
url=$("$BIN/python" -c '
import json, sys
s = json.load(sys.stdin)["settings"]
host = s["AUTO_SCALER_API_HOST"]
host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
host = "[" + host + "]" if ":" in host else host
print("http://%s:%s" % (host, s["AUTO_SCALER_API_PORT"]))
' <<<"$settings")
echo "Dashboard: $url/  API: $url/api/auto-scaler/status  (Ctrl-C stops the daemon and its workers)"
exec "$cli" run
