#!/usr/bin/env bash
# Local service stack for development and tests: Kafka (KRaft), a MongoDB
# wire server (mongo-java-server, oplog on), Redis and three versitygw S3
# servers, all on 127.0.0.1 with fixed ports. Everything it installs or
# writes lives under <repo>/.stack/ (ignored by git).
#
#   stack.sh up [component...]     install what is missing, start, wait until ready
#   stack.sh start <component...>  same as up, for the named components
#   stack.sh stop <component...>   stop the named components (data kept)
#   stack.sh down [--clean]        stop everything; --clean also wipes data
#   stack.sh clean                 stop everything and wipe data and logs
#   stack.sh status                one line per component (exit 1 if any is down)
#   stack.sh install               only install (binaries, jars, packages)
#   stack.sh logs <component...>   print the tail of the components' logs
#
# Components: kafka mongo oplog redis s3-source s3-site-a s3-site-b
#             (s3 = the three S3 servers; oplog = the trimmer that caps the
#             stand-in's oplog, e2e/stack/oplogtrim). Default: all of them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STACK="$ROOT/.stack"
# A clone may share another clone's stack through a symlinked .stack: the
# processes are recognised by the real path.
[[ -L "$STACK" ]] && STACK="$(readlink -f "$STACK")"

# ---- pinned versions (Maven versions live in kafka/pom.xml, mongo/pom.xml) --
VERSITYGW_VERSION="v1.8.0"
MVN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# ---- fixed addresses (other code depends on these) --------------------------
HOST=127.0.0.1
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
MONGO_PORT=27117
REDIS_PORT=16379
S3_SOURCE_PORT=17000
S3_SITE_A_PORT=17001
S3_SITE_B_PORT=17002
S3_ACCESS_KEY=backbeat
S3_SECRET_KEY=backbeat-secret-key
S3_REGION=us-east-1
KAFKA_TOPICS=(backbeat-replication backbeat-replication-status backbeat-replication-failed
    backbeat-replication-replay backbeat-dead-letter)
KAFKA_PARTITIONS=8

ALL_COMPONENTS=(kafka mongo oplog redis s3-source s3-site-a s3-site-b)

# The stand-in's oplog is capped as a real MongoDB caps its own: the newest
# OPLOG_MAX_ENTRIES entries, none older than OPLOG_MAX_AGE (see
# e2e/stack/oplogtrim). Override from the environment.
OPLOG_MAX_ENTRIES="${BACKBEAT_STACK_OPLOG_MAX_ENTRIES:-50000}"
OPLOG_MAX_AGE="${BACKBEAT_STACK_OPLOG_MAX_AGE:-30m}"
# The stand-in keeps every document and its oplog in its heap: see the
# sizing in e2e/stack/README.md (mongo-java-server's heap).
MONGO_HEAP="${BACKBEAT_STACK_MONGO_HEAP:-2g}"

# ---- small helpers -----------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# tcp_open PORT: true when something accepts connections on 127.0.0.1:PORT.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

dir_of() { printf '%s/%s' "$STACK" "$1"; }
log_of() { printf '%s/%s/%s.log' "$STACK" "$1" "$1"; }
pidfile_of() { printf '%s/%s/pid' "$STACK" "$1"; }

# alive PID: the process exists and is not a zombie (exited processes may
# stay zombies for a while when the container's init reaps them late).
alive() {
    local st
    st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$st" && "$st" != Z ]]
}

# our_pid NAME: prints the pid of NAME when the pid file points at a live
# process started from this clone (its command line mentions $STACK).
our_pid() {
    local pf pid
    pf="$(pidfile_of "$1")"
    [[ -f "$pf" ]] || return 1
    pid="$(<"$pf")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # spawn starts every process in its .stack dir; redis-server rewrites its
    # command line and moves to its data dir, both still under $STACK.
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STACK/" &&
        [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)/" != "$STACK/"* ]]; then
        return 1
    fi
    printf '%s' "$pid"
}

# spawn NAME CMD...: start CMD detached (own session, no stdin, output to the
# component's log, previous log kept as .log.prev), pid in .stack/NAME/pid.
# fd 9 (the stack lock) is closed for the child so it does not hold the lock.
spawn() {
    local name="$1"; shift
    local log dir; log="$(log_of "$name")"; dir="$(dir_of "$name")"
    mkdir -p "$dir"
    if [[ -f "$log" ]]; then mv -f "$log" "$log.prev"; fi
    (
        cd "$dir"
        setsid nohup "$@" >"$log" 2>&1 </dev/null 9>&- &
        echo $! >"$(pidfile_of "$name")"
    )
}

# wait_until NAME TIMEOUT PROBE...: poll PROBE every 0.2 s until it succeeds.
# Fails (log tail, non-zero) on timeout or when NAME's process dies.
wait_until() {
    local name="$1" timeout="$2"; shift 2
    local deadline=$((SECONDS + timeout)) pidf
    pidf="$(pidfile_of "$name")"
    until "$@"; do
        if [[ -f "$pidf" ]] && ! our_pid "$name" >/dev/null && ! "$@"; then
            fail_with_log "$name" "process exited before becoming ready"
        fi
        ((SECONDS < deadline)) || fail_with_log "$name" "not ready after ${timeout}s"
        sleep 0.2
    done
}

fail_with_log() {
    local name="$1" why="$2" log
    log="$(log_of "$name")"
    warn "$name: $why"
    local f
    for f in "$log" $([[ "$name" == kafka ]] && echo "$STACK/kafka/logs/server.log $STACK/kafka/topics.log"); do
        [[ -s "$f" ]] || continue
        warn "---- last 40 lines of $f ----"
        tail -n 40 "$f" >&2
    done
    exit 1
}

# stop_pid NAME: TERM, wait up to 30 s, then KILL. Only touches our own pids.
stop_pid() {
    local name="$1" pid i
    if ! pid="$(our_pid "$name")"; then
        rm -f "$(pidfile_of "$name")"
        if probe "$name"; then
            say "$(printf '%-10s not stopped: served by a process not started from %s' "$name" "$STACK")"
        else
            say "$(printf '%-10s already stopped' "$name")"
        fi
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        warn "$name: still running after 30s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$(pidfile_of "$name")"
    say "$(printf '%-10s stopped' "$name")"
}

# ---- installation --------------------------------------------------------------
APT_UPDATED=0
apt_install() {
    local sudo=""
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
        sudo="sudo"
    fi
    if ((APT_UPDATED == 0)); then
        say "installing Debian packages: $*"
        $sudo apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    # Without systemd, redis-server's postinst does not start the system
    # service; if it does elsewhere, that instance (port 6379) is unused.
    mkdir -p "$STACK"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
        >"$STACK/apt-install.log" 2>&1; then
        tail -n 40 "$STACK/apt-install.log" >&2
        die "apt-get install $* failed (full log: $STACK/apt-install.log)"
    fi
}

install_base() {
    local pkgs=()
    command -v java >/dev/null || pkgs+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null || pkgs+=(maven)
    command -v curl >/dev/null || pkgs+=(curl)
    command -v setsid >/dev/null || pkgs+=(util-linux)
    # rclone: e2e scenario 16 (real clients) and the bench's baseline.
    command -v rclone >/dev/null || pkgs+=(rclone)
    command -v go >/dev/null || die "go is not installed (needed for versitygw)"
    ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
}

# maven_libs POM DEST: copy POM's runtime dependencies into DEST, cached by the
# POM's hash (so a version bump in the POM refetches).
maven_libs() {
    local pom="$1" dest="$2" stamp
    stamp="$(sha256sum "$pom" | cut -d' ' -f1)"
    if [[ -f "$dest/.stamp" && "$(<"$dest/.stamp")" == "$stamp" ]]; then
        return 0
    fi
    say "fetching jars for $(basename "$(dirname "$pom")") (Maven Central)"
    rm -rf "$dest.tmp"
    mkdir -p "$(dirname "$dest")"
    local log; log="$(dirname "$dest")/install.log"
    if ! mvn -B -Dstyle.color=never -f "$pom" "$MVN_DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$dest.tmp" >"$log" 2>&1 9>&-; then
        tail -n 40 "$log" >&2
        die "Maven download failed (full log: $log)"
    fi
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    echo "$stamp" >"$dest/.stamp"
}

install_kafka() { maven_libs "$HERE/kafka/pom.xml" "$STACK/kafka/libs"; }
install_mongo() { maven_libs "$HERE/mongo/pom.xml" "$STACK/mongo/libs"; }

install_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    apt_install redis-server redis-tools
}

versitygw_installed() {
    [[ -x "$STACK/bin/versitygw" && -f "$STACK/bin/.versitygw.version" &&
        "$(<"$STACK/bin/.versitygw.version")" == "$VERSITYGW_VERSION" ]]
}

install_versitygw() {
    versitygw_installed && return 0
    say "building versitygw $VERSITYGW_VERSION (go install, about a minute)"
    mkdir -p "$STACK/bin"
    if ! GOBIN="$STACK/bin" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" \
        >"$STACK/bin/versitygw-install.log" 2>&1 9>&-; then
        tail -n 40 "$STACK/bin/versitygw-install.log" >&2
        die "versitygw install failed (full log: $STACK/bin/versitygw-install.log)"
    fi
    echo "$VERSITYGW_VERSION" >"$STACK/bin/.versitygw.version"
}

# install_for COMPONENTS...: install what the given components need. The slow
# versitygw build runs in the background while the rest installs.
install_for() {
    local want_kafka=0 want_mongo=0 want_oplog=0 want_redis=0 want_s3=0 c gw_pid=""
    for c in "$@"; do
        case "$c" in
        kafka) want_kafka=1 ;;
        mongo) want_mongo=1 ;;
        oplog) want_oplog=1 ;;
        redis) want_redis=1 ;;
        s3-*) want_s3=1 ;;
        esac
    done
    install_base
    if ((want_s3)) && ! versitygw_installed; then
        install_versitygw &
        gw_pid=$!
    fi
    ((want_redis == 0)) || install_redis
    ((want_kafka == 0)) || install_kafka
    ((want_mongo == 0)) || install_mongo
    ((want_oplog == 0)) || install_oplog
    if [[ -n "$gw_pid" ]]; then
        wait "$gw_pid" || die "versitygw install failed"
    fi
}

# ---- kafka -----------------------------------------------------------------------
kafka_java() {
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j.configuration="file:$HERE/kafka/tools-log4j.properties" \
        -cp "$STACK/kafka/libs/*" "$@" 9>&-
}

kafka_config() {
    local d="$STACK/kafka"
    mkdir -p "$d/data" "$d/logs"
    cat >"$d/server.properties" <<EOF
# generated by e2e/stack/stack.sh on each start; edit the script, not this file
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data
auto.create.topics.enable=true
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# Sessions down to 1 s, so that a test (e2e scenario 14) can bound how long
# a SIGKILLed consumer's partitions wait (Kafka's default floor is 6 s).
group.min.session.timeout.ms=1000
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=4
EOF
    if [[ ! -f "$d/data/meta.properties" ]]; then
        local id
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
        kafka_java kafka.tools.StorageTool format -t "$id" -c "$d/server.properties" \
            >"$d/format.log" 2>&1 || fail_with_log kafka "storage format failed: $(cat "$d/format.log")"
    fi
}

start_kafka() {
    kafka_config
    spawn kafka java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$HERE/kafka/log4j.properties" \
        -Dkafka.logs.dir="$STACK/kafka/logs" \
        -cp "$STACK/kafka/libs/*" kafka.Kafka "$STACK/kafka/server.properties"
}

probe_kafka() { tcp_open "$KAFKA_PORT"; }

# kafka_topics_ready: list topics; create the missing ones (in parallel).
kafka_topics_ready() {
    local existing t pids=() missing=()
    existing="$(kafka_java org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$HOST:$KAFKA_PORT" --list 2>>"$STACK/kafka/topics.log")" || return 1
    for t in "${KAFKA_TOPICS[@]}"; do
        grep -qx "$t" <<<"$existing" || missing+=("$t")
    done
    ((${#missing[@]} == 0)) && return 0
    for t in "${missing[@]}"; do
        kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
            --create --if-not-exists --topic "$t" --partitions "$KAFKA_PARTITIONS" \
            --replication-factor 1 >>"$STACK/kafka/topics.log" 2>&1 &
        pids+=($!)
    done
    local ok=0 p
    for p in "${pids[@]}"; do wait "$p" || ok=1; done
    return "$ok"
}

ready_kafka() {
    wait_until kafka 90 probe_kafka
    wait_until kafka 90 kafka_topics_ready
}

# ---- mongo -------------------------------------------------------------------------
start_mongo() {
    spawn mongo java -Xms64m "-Xmx$MONGO_HEAP" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        -cp "$STACK/mongo/libs/*" "$HERE/mongo/Launcher.java" "$MONGO_PORT" "$HOST"
}

probe_mongo() { tcp_open "$MONGO_PORT"; }
mongo_logged_ready() { grep -q 'mongo-java-server ready on' "$(log_of mongo)" 2>/dev/null && probe_mongo; }

ready_mongo() {
    if our_pid mongo >/dev/null; then
        wait_until mongo 60 mongo_logged_ready
    else
        wait_until mongo 60 probe_mongo
    fi
}

# ---- oplog trimmer -----------------------------------------------------------------
install_oplog() {
    mkdir -p "$STACK/bin"
    (cd "$ROOT" && go build -o "$STACK/bin/oplogtrim" ./e2e/stack/oplogtrim) || die "oplogtrim build failed"
}

start_oplog() {
    rm -f "$STACK/oplog/status.json"
    spawn oplog "$STACK/bin/oplogtrim" -uri "mongodb://$HOST:$MONGO_PORT" \
        -max-entries "$OPLOG_MAX_ENTRIES" -max-age "$OPLOG_MAX_AGE" -status "$STACK/oplog/status.json"
}

probe_oplog() { our_pid oplog >/dev/null; }
ready_oplog() { wait_until oplog 30 test -s "$STACK/oplog/status.json"; }

# oplog_note: the oplog's size and its oldest entry's age, from the trimmer.
oplog_note() {
    local f="$STACK/oplog/status.json"
    [[ -s "$f" ]] || return 0
    python3 - "$f" <<'PY' 2>/dev/null || true
import json, sys, datetime
s = json.load(open(sys.argv[1]))
age = "-"
if s.get("oldest"):
    o = datetime.datetime.fromisoformat(s["oldest"].replace("Z", "+00:00"))
    age = "%ds" % (datetime.datetime.now(datetime.timezone.utc) - o).total_seconds()
print("oplog %d entries, oldest %s old, %d trimmed so far" % (s["entries"], age, s.get("trimmedEver", 0)))
PY
}

# ---- redis ---------------------------------------------------------------------------
start_redis() {
    local d="$STACK/redis"
    mkdir -p "$d/data"
    cat >"$d/redis.conf" <<EOF
# generated by e2e/stack/stack.sh on each start
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
dir $d/data
pidfile $d/redis-server.pid
logfile ""
save ""
appendonly no
EOF
    spawn redis redis-server "$d/redis.conf"
}

probe_redis() { [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }
ready_redis() { wait_until redis 30 probe_redis; }

# ---- S3 (versitygw) ------------------------------------------------------------------
s3_port() {
    case "$1" in
    s3-source) echo "$S3_SOURCE_PORT" ;;
    s3-site-a) echo "$S3_SITE_A_PORT" ;;
    s3-site-b) echo "$S3_SITE_B_PORT" ;;
    *) die "unknown S3 component $1" ;;
    esac
}

start_s3() {
    local name="$1" d; d="$(dir_of "$1")"
    mkdir -p "$d/root" "$d/versions"
    ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
        spawn "$name" "$STACK/bin/versitygw" --port "$HOST:$(s3_port "$name")" \
        --region "$S3_REGION" --quiet --keep-alive \
        posix --versioning-dir "$d/versions" "$d/root"
}

probe_s3() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$(s3_port "$1")/" 2>/dev/null)" || true
    [[ -n "$code" && "$code" != 000 ]]
}
ready_s3() { wait_until "$1" 30 probe_s3 "$1"; }

# ---- dispatch per component ------------------------------------------------------------
addr_of() {
    case "$1" in
    kafka) echo "$HOST:$KAFKA_PORT" ;;
    mongo) echo "mongodb://$HOST:$MONGO_PORT" ;;
    oplog) echo "local.oplog.rs" ;;
    redis) echo "$HOST:$REDIS_PORT" ;;
    s3-*) echo "http://$HOST:$(s3_port "$1")" ;;
    esac
}

probe() {
    case "$1" in
    kafka) probe_kafka ;;
    mongo) probe_mongo ;;
    oplog) probe_oplog ;;
    redis) probe_redis ;;
    s3-*) probe_s3 "$1" ;;
    esac
}

start_component() {
    case "$1" in
    kafka) start_kafka ;;
    mongo) start_mongo ;;
    oplog) start_oplog ;;
    redis) start_redis ;;
    s3-*) start_s3 "$1" ;;
    esac
}

ready_component() {
    case "$1" in
    kafka) ready_kafka ;;
    mongo) ready_mongo ;;
    oplog) ready_oplog ;;
    redis) ready_redis ;;
    s3-*) ready_s3 "$1" ;;
    esac
}

version_of() {
    case "$1" in
    kafka) echo "kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml") (KRaft, controller $HOST:$KAFKA_CONTROLLER_PORT)" ;;
    mongo) echo "mongo-java-server $(sed -n 's:.*<mongo-java-server.version>\(.*\)</mongo-java-server.version>.*:\1:p' "$HERE/mongo/pom.xml") (in-memory, oplog on)" ;;
    oplog) echo "oplog trimmer (newest $OPLOG_MAX_ENTRIES entries, none older than $OPLOG_MAX_AGE)" ;;
    redis) redis-server --version 2>/dev/null | awk '{print "redis " $3}' | sed 's/v=//' ;;
    s3-*) echo "versitygw $VERSITYGW_VERSION (posix, versioning)" ;;
    esac
}

# expand ARGS...: sets COMPS to the named components in stack order
# (s3 = the three S3 servers; none or "all" = everything).
COMPS=()
expand() {
    local c want=" "
    (($# > 0)) || set -- all
    for c in "$@"; do
        case "$c" in
        all) want+="${ALL_COMPONENTS[*]} " ;;
        s3) want+="s3-source s3-site-a s3-site-b " ;;
        kafka | mongo | oplog | redis | s3-source | s3-site-a | s3-site-b) want+="$c " ;;
        *) die "unknown component '$c' (known: ${ALL_COMPONENTS[*]} s3)" ;;
        esac
    done
    COMPS=()
    for c in "${ALL_COMPONENTS[@]}"; do
        [[ "$want" != *" $c "* ]] || COMPS+=("$c")
    done
}

lock() {
    mkdir -p "$STACK"
    exec 9>"$STACK/.lock"
    flock 9
}

# ---- commands ----------------------------------------------------------------------------
cmd_up() {
    local t0 c started=()
    t0="$(now)"
    expand "$@"
    lock
    install_for "${COMPS[@]}"
    for c in "${COMPS[@]}"; do
        if our_pid "$c" >/dev/null; then
            continue # running (maybe still starting): readiness is checked below
        fi
        if probe "$c"; then
            warn "$c: $(addr_of "$c") is already served by a process not started from $STACK; using it"
            rm -f "$(pidfile_of "$c")"
            continue
        fi
        start_component "$c"
        started+=("$c")
    done
    for c in "${COMPS[@]}"; do
        local tc; tc="$(now)"
        ready_component "$c"
        local how="running"
        [[ " ${started[*]-} " == *" $c "* ]] && how="started"
        say "$(printf '%-10s ready  %-26s %s, %s in %s' "$c" "$(addr_of "$c")" "$(version_of "$c")" "$how" "$(elapsed "$tc")")"
    done
    say "stack up in $(elapsed "$t0") (logs: $STACK/<component>/<component>.log)"
}

cmd_stop() {
    (($# > 0)) || die "usage: stack.sh stop <component...>"
    local c
    expand "$@"
    lock
    for c in "${COMPS[@]}"; do stop_pid "$c"; done
}

wipe_data() {
    local c
    rm -rf "$STACK/kafka/data" "$STACK/kafka/logs" "$STACK/kafka/format.log" "$STACK/kafka/topics.log" \
        "$STACK/redis/data"
    for c in s3-source s3-site-a s3-site-b; do
        rm -rf "$(dir_of "$c")/root" "$(dir_of "$c")/versions"
    done
    for c in "${ALL_COMPONENTS[@]}"; do
        rm -f "$(log_of "$c")" "$(log_of "$c").prev"
    done
    say "data and logs wiped (installed jars and binaries kept)"
}

cmd_down() {
    local clean=0 a
    for a in "$@"; do
        case "$a" in
        --clean) clean=1 ;;
        *) die "usage: stack.sh down [--clean]" ;;
        esac
    done
    lock
    local i
    # reverse order: S3 and Redis first, Kafka last
    for ((i = ${#ALL_COMPONENTS[@]} - 1; i >= 0; i--)); do stop_pid "${ALL_COMPONENTS[i]}"; done
    ((clean == 0)) || wipe_data
}

cmd_status() {
    local c pid state rc=0 note
    for c in "${ALL_COMPONENTS[@]}"; do
        note=""
        if probe "$c"; then
            state=up
            if pid="$(our_pid "$c")"; then
                note="pid $pid"
                [[ "$c" != oplog ]] || note="$note, $(oplog_note)"
            else
                note="not started from this clone"
            fi
        else
            state=down
            rc=1
            if pid="$(our_pid "$c")"; then note="pid $pid alive but not answering"; fi
        fi
        say "$(printf '%-10s %-26s %-5s %s' "$c" "$(addr_of "$c")" "$state" "$note")"
    done
    return "$rc"
}

cmd_logs() {
    (($# > 0)) || die "usage: stack.sh logs <component...>"
    expand "$@"
    local c f
    for c in "${COMPS[@]}"; do
        for f in "$(log_of "$c")" $([[ "$c" == kafka ]] && echo "$STACK/kafka/logs/server.log"); do
            [[ -f "$f" ]] || { say "==> $f (none yet)"; continue; }
            say "==> $f"
            tail -n 50 "$f"
        done
    done
}

main() {
    local cmd="${1:-}"
    (($# == 0)) || shift
    case "$cmd" in
    up) cmd_up "$@" ;;
    start)
        (($# > 0)) || die "usage: stack.sh start <component...>"
        cmd_up "$@"
        ;;
    stop) cmd_stop "$@" ;;
    down) cmd_down "$@" ;;
    clean) cmd_down --clean ;;
    status) cmd_status ;;
    install)
        expand "$@"
        lock
        install_for "${COMPS[@]}"
        say "installed under $STACK"
        ;;
    logs) cmd_logs "$@" ;;
    *)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
        [[ -z "$cmd" || "$cmd" == help || "$cmd" == -h || "$cmd" == --help ]] || exit 2
        ;;
    esac
}

main "$@"
