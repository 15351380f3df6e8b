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
echo "operator console: http://127.0.0.1:8900/"

# The S3 front plays CloudServer on :8000 for awscli and other S3 clients.
if [ -f "$run/s3.pid" ] && kill -0 "$(cat "$run/s3.pid")" 2>/dev/null; then
  kill "$(cat "$run/s3.pid")" || true
  for _ in $(seq 100); do kill -0 "$(cat "$run/s3.pid")" 2>/dev/null || break; sleep 0.1; done
fi
echo "starting backbeat s3 (log: $run/s3.log)"
setsid nohup bin/backbeat s3 --config configs/local.yaml >"$run/s3.log" 2>&1 &
echo $! >"$run/s3.pid"
for i in $(seq 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; then break; fi
  [ "$i" = 100 ] && { echo "backbeat s3 did not listen in 10 s"; tail -30 "$run/s3.log"; exit 1; }
  sleep 0.1
done
aws=$(bash e2e/stack/awscli.sh)

bin/backbeat simulate --config configs/local.yaml --objects 20 --buckets 2 --retag 5 --untag 2 --wait 2m

cat <<MSG

Everything is running. Open the operator console: http://127.0.0.1:8900/
(sites, backlog, lag, throughput, failed entries, jobs, health; pause, resume and retry from the page). Or try:
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

The seed's quickstart, with awscli against the S3 front (http://127.0.0.1:8000, log: $run/s3.log):
  export AWS_ACCESS_KEY_ID=backbeat AWS_SECRET_ACCESS_KEY=backbeat-secret-key AWS_DEFAULT_REGION=us-east-1
  s3="$aws --endpoint-url http://127.0.0.1:8000"
  for site in 17001 17002; do   # the destination bucket, versioned, at each site (site-a, site-b)
    $aws --endpoint-url http://127.0.0.1:\$site s3api create-bucket --bucket quickstart
    $aws --endpoint-url http://127.0.0.1:\$site s3api put-bucket-versioning --bucket quickstart --versioning-configuration Status=Enabled
  done
  \$s3 s3api create-bucket --bucket quickstart
  \$s3 s3api put-bucket-versioning --bucket quickstart --versioning-configuration Status=Enabled
  \$s3 s3api put-bucket-replication --bucket quickstart --replication-configuration file://configs/replication.json
  \$s3 s3api put-object --bucket quickstart --key hello --body README.md
  \$s3 s3api head-object --bucket quickstart --key hello          # ReplicationStatus: PENDING, then COMPLETED
  $aws --endpoint-url http://127.0.0.1:17001 s3api head-object --bucket quickstart --key hello   # the replica at site-a
Stop: kill \$(cat $run/pid) \$(cat $run/s3.pid); go tool task stack:down
MSG
