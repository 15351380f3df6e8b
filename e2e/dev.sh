#!/usr/bin/env bash
# go tool task dev: start the local stack and the service, seed demo objects,
# show them replicate, and leave everything running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run=$root/.stack/backbeat
mkdir -p "$run" bin

bash e2e/stack/stack.sh up
echo "building bin/backbeat"
go build -o bin/backbeat ./cmd/backbeat

if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
  echo "stopping the previous backbeat (pid $(cat "$run/pid"))"
  kill "$(cat "$run/pid")" || true
  for _ in $(seq 100); do kill -0 "$(cat "$run/pid")" 2>/dev/null || break; sleep 0.1; done
fi
echo "starting backbeat all (log: $run/backbeat.log)"
# Traces of every object version, as JSON lines, in $run/traces.json.
BACKBEAT_TELEMETRY_TRACES=stdout BACKBEAT_TELEMETRY_TRACESFILE="$run/traces.json" \
  setsid nohup bin/backbeat all --config configs/local.yaml >"$run/backbeat.log" 2>&1 &
echo $! >"$run/pid"

for i in $(seq 300); do
  if curl -fsS http://127.0.0.1:8900/_/healthcheck >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    echo "backbeat exited; the end of its log:"; tail -30 "$run/backbeat.log"; exit 1
  fi
  [ "$i" = 300 ] && { echo "backbeat API did not answer in 30 s"; tail -30 "$run/backbeat.log"; exit 1; }
  sleep 0.1
done
echo "backbeat API is up at http://127.0.0.1:8900"

bin/backbeat simulate --config configs/local.yaml --objects 20 --buckets 2 --retag 5 --untag 2 --wait 2m

cat <<MSG

Everything is running. Try:
  bin/backbeat ctl status                 # sites and whether they are paused
  bin/backbeat ctl metrics                # backlog, completions, failures, throughput
  bin/backbeat ctl failed list            # failed entries
  bin/backbeat ctl pause site-a           # and: bin/backbeat ctl resume site-a
  bin/backbeat simulate --config configs/local.yaml --objects 100 --wait 1m
  bin/backbeat simulate --config configs/local.yaml --objects 10 --retag 10 --wait 1m   # then tag changes, carried in place
  curl -s http://127.0.0.1:8900/_/metrics/crr/all
  curl -s http://127.0.0.1:8900/metrics   # Prometheus
Logs: $run/backbeat.log (JSON, with trace ids); stack logs under .stack/<service>/
Traces: $run/traces.json (flushed every 5 s; one span a line: populate, replicate with its read and write, apply-status,
  linked by trace id), e.g. grep -c '"Name":"replicate"' $run/traces.json
Metrics: curl -s http://127.0.0.1:8900/metrics | grep ^backbeat_
Stop: kill \$(cat $run/pid); go tool task stack:down
MSG
