#!/usr/bin/env bash
# The feedcorpus benchmark: one poll round against a loopback feed farm, next to the HTTP floor
# and, with --peers, newsboat and Python reader. See bench/README.md.
#
#   bash bench/run.sh [--feeds 200,1000] [--runs 3] [--peers] [--items 50] [--churn 5]
#                     [--concurrency 8] [--peer-workers 1] [--seed 1] [--gzip]
#                     [--out bench/results/latest.md] [--workdir DIR] [--keep] [--no-idle]
#
# Prints a table of medians and writes it to --out. Everything it starts listens on or talks to
# 127.0.0.1 only, and is stopped on exit.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
ROOT=$PWD

FEEDS=200,1000
RUNS=3
PEERS=0
ITEMS=50
CHURN=5
CONC=8
PEER_WORKERS=1
SEED=1
GZIP=0
OUT=bench/results/latest.md
WORK=
KEEP=0
IDLE=1
# Upper bounds of every wait, in seconds.
FARM_START_LIMIT=300
IDLE_LIMIT=900
COMMAND_LIMIT=1800

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "run.sh: $*" >&2; exit 1; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --feeds) need_value "$@"; FEEDS=$2; shift 2 ;;
    --runs) need_value "$@"; RUNS=$2; shift 2 ;;
    --peers) PEERS=1; shift ;;
    --items) need_value "$@"; ITEMS=$2; shift 2 ;;
    --churn) need_value "$@"; CHURN=$2; shift 2 ;;
    --concurrency) need_value "$@"; CONC=$2; shift 2 ;;
    --peer-workers) need_value "$@"; PEER_WORKERS=$2; shift 2 ;;
    --seed) need_value "$@"; SEED=$2; shift 2 ;;
    --gzip) GZIP=1; shift ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    --workdir) need_value "$@"; WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-idle) IDLE=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
for v in "$RUNS" "$ITEMS" "$CHURN" "$CONC" "$PEER_WORKERS"; do
  is_count "$v" || die "expected a positive whole number, got '$v'"
done
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a whole number"
IFS=, read -r -a NS <<< "$FEEDS"
[ "${#NS[@]}" -gt 0 ] || die "--feeds is empty"
for n in "${NS[@]}"; do is_count "$n" || die "--feeds takes numbers like 200,1000, got '$n'"; done
[ "$RUNS" -le 20 ] || die "--runs is at most 20"
[ "$CONC" -le 1024 ] || die "--concurrency is at most 1024"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- what the run needs ----
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
need_apt=()
[ -x /usr/bin/time ] || need_apt+=(time)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ "$PEERS" = 1 ]; then
  command -v newsboat >/dev/null 2>&1 || need_apt+=(newsboat)
  if ! python3 -c 'import reader, sgmllib' >/dev/null 2>&1; then
    python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
  fi
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# reader's bundled feedparser imports sgmllib (PyPI: sgmllib3k), which not every install pulls in.
if [ "$PEERS" = 1 ] && ! python3 -c 'import reader, sgmllib' >/dev/null 2>&1; then
  log "installing reader (pip)"
  python3 -m pip install -q reader sgmllib3k 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages reader sgmllib3k
fi

log "building (release)"
cargo build --release --locked --bin feedcorpus --example feedfarm --example floor >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
FC=$TARGET/release/feedcorpus
FARM=$TARGET/release/examples/feedfarm
FLOOR=$TARGET/release/examples/floor
for b in "$FC" "$FARM" "$FLOOR"; do [ -x "$b" ] || die "missing $b after the build"; done

# ---- work folder and clean-up ----
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/feedcorpus-bench.XXXXXX")
else
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
fi
FARM_PID=
DAEMON_PID=
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$DAEMON_PID"
  stop_pid "$FARM_PID"
  if [ "$KEEP" = 1 ]; then
    log "work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=$WORK/results.tsv
META=$WORK/meta.txt
printf 'n\ttool\tphase\trun\twall\tuser\tsys\trss_kb\thttp_ok\thttp_304\thttp_bytes\tentries\trecords\tfiles\texpected\tverified\tnote\n' > "$RESULTS"
: > "$META"
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; }

# ---- the farm ----
FARM_URL=
start_farm() {
  local n=$1 addr=$WORK/farm-$1.addr
  rm -f "$addr"
  local gz=()
  [ "$GZIP" = 1 ] && gz=(--gzip)
  "$FARM" --feeds "$n" --items "$ITEMS" --seed "$SEED" --port 0 --addr-file "$addr" "${gz[@]}" \
    > "$WORK/farm-$n.out" 2> "$WORK/farm-$n.err" &
  FARM_PID=$!
  local waited=0
  while [ ! -s "$addr" ]; do
    kill -0 "$FARM_PID" 2>/dev/null || { cat "$WORK/farm-$n.err" >&2; die "the farm exited"; }
    [ "$waited" -lt $((FARM_START_LIMIT * 10)) ] || die "the farm did not start in ${FARM_START_LIMIT}s"
    sleep 0.1
    waited=$((waited + 1))
  done
  FARM_URL=$(head -n1 "$addr")
  case "$FARM_URL" in http://127.0.0.1:*) ;; *) die "unexpected farm address '$FARM_URL'" ;; esac
}
farm_post() { curl -fsS --max-time 600 -X POST "$FARM_URL$1" > /dev/null; }
# Prints "ok not_modified body_bytes" of the farm's counters.
farm_counts() {
  curl -fsS --max-time 30 "$FARM_URL/_stats" \
    | awk '$1=="ok"{o=$2} $1=="not_modified"{m=$2} $1=="body_bytes"{b=$2} END{print o+0, m+0, b+0}'
}
farm_stat() { curl -fsS --max-time 30 "$FARM_URL/_stats" | awk -v k="$1" '$1==k{print $2}'; }

# ---- measuring ----
# CPU and memory from /usr/bin/time -v; wall comes from $EPOCHREALTIME (the "Elapsed" line has
# only hundredths of a second).
TIME_FIELDS='
  /User time \(seconds\)/ { u = $NF }
  /System time \(seconds\)/ { s = $NF }
  /Maximum resident set size/ { r = $NF }
  END { printf "%.4f\t%.2f\t%.2f\t%d\n", w, u, s, r }'

# measure LABEL -- COMMAND...: runs COMMAND under /usr/bin/time -v with stdout/stderr in
# $WORK/LABEL.{out,err}; sets M_TIME (wall, user, sys, rss; tab-separated) and M_HTTP (the
# farm's 200s, 304s and body bytes during the command).
measure() {
  local label=$1
  shift 2
  local before after
  before=$(farm_counts)
  local t0=$EPOCHREALTIME t1
  if ! /usr/bin/time -v -o "$WORK/$label.time" timeout -k 10 "$COMMAND_LIMIT" "$@" > "$WORK/$label.out" 2> "$WORK/$label.err"; then
    log "FAILED: $*"
    tail -n 5 "$WORK/$label.err" >&2 || true
    tail -n 3 "$WORK/$label.out" >&2 || true
    M_FAILED=1
  else
    M_FAILED=0
  fi
  t1=$EPOCHREALTIME
  after=$(farm_counts)
  M_TIME=$(awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" "$TIME_FIELDS" "$WORK/$label.time")
  M_HTTP=$(awk -v a="$before" -v b="$after" 'BEGIN{split(a,x," "); split(b,y," "); printf "%d\t%d\t%d", y[1]-x[1], y[2]-x[2], y[3]-x[3]}')
}

# record N TOOL PHASE RUN ENTRIES RECORDS FILES EXPECTED NOTE
record() {
  local n=$1 tool=$2 phase=$3 run=$4 entries=$5 records=$6 files=$7 expected=$8 note=$9
  local verified=1
  [ "$M_FAILED" = 0 ] || verified=0
  if [ "$tool" = floor ]; then
    local ok304 ok nm
    ok=$(cut -f1 <<< "$M_HTTP"); nm=$(cut -f2 <<< "$M_HTTP")
    ok304=$((ok + nm))
    [ "$ok304" = "$expected" ] || verified=0
  else
    [ "$entries" = "$expected" ] || verified=0
    if [ "$tool" = feedcorpus ]; then
      [ "$records" = "$expected" ] && [ "$files" = "$expected" ] || verified=0
    fi
  fi
  [ "$verified" = 1 ] || log "NOT VERIFIED: $tool $phase N=$n run $run: entries=$entries records=$records files=$files expected=$expected ($note)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$tool" "$phase" "$run" \
    "$M_TIME" "$M_HTTP" "$entries" "$records" "$files" "$expected" "$verified" "$note" >> "$RESULTS"
  local wall
  wall=$(cut -f1 <<< "$M_TIME")
  log "  $tool $phase: ${wall}s, entries=$entries (expected $expected)${note:+, $note}"
}

sql_count() { sqlite3 -cmd '.timeout 10000' "$1" "$2" 2>/dev/null || echo "?"; }
count_files() { find "$1" -maxdepth 1 -type f -name '*.txt' ! -name '.*' 2>/dev/null | wc -l | tr -d ' '; }

write_fc_config() { # DIR URLS_FILE INTERVAL
  local dir=$1 urls=$2 interval=$3
  mkdir -p "$dir"
  {
    printf '[storage]\ndatabase = "data/feedcorpus.db"\ncorpus_dir = "data/corpus"\n\n'
    printf '[poll]\nconcurrency = %s\ninterval = "%s"\n\n' "$CONC" "$interval"
    # Every farm feed lives on one loopback host: per-host politeness would measure the gap,
    # not the ingest. The peers have no per-host limit either.
    printf '[http]\nper_host_connections = %s\nper_host_min_gap = "0s"\n\n' "$CONC"
    printf '[corpus]\nfull_text = "never"\n'
    awk '{ printf "\n[[feeds]]\nname = \"farm-%d\"\nurl = \"%s\"\n", NR - 1, $0 }' "$urls"
  } > "$dir/feedcorpus.toml"
}

floor_phase() { # N RUN PHASE
  local n=$1 run=$2 phase=$3 dir=$WORK/n$1/r$2
  local args=(--urls "$dir/urls.txt" --concurrency "$CONC")
  case "$phase" in
    cold) args+=(--save-validators "$dir/validators.tsv") ;;
    *) args+=(--validators "$dir/validators.tsv") ;;
  esac
  measure "n$n-r$run-floor-$phase" -- "$FLOOR" "${args[@]}"
  record "$n" floor "$phase" "$run" - - - "$n" "$(tail -n1 "$WORK/n$n-r$run-floor-$phase.out")"
}

fc_phase() { # N RUN PHASE EXPECTED
  local n=$1 run=$2 phase=$3 expected=$4 dir=$WORK/n$1/r$2/feedcorpus
  measure "n$n-r$run-feedcorpus-$phase" -- env RUST_LOG=info "$FC" --config "$dir/feedcorpus.toml" poll
  local db=$dir/data/feedcorpus.db
  record "$n" feedcorpus "$phase" "$run" \
    "$(sql_count "$db" 'SELECT count(*) FROM entries')" \
    "$(sql_count "$db" 'SELECT count(*) FROM entries WHERE record_path IS NOT NULL')" \
    "$(count_files "$dir/data/corpus")" "$expected" \
    "$(tail -n1 "$WORK/n$n-r$run-feedcorpus-$phase.out")"
}

newsboat_phase() { # N RUN PHASE EXPECTED
  local n=$1 run=$2 phase=$3 expected=$4 dir=$WORK/n$1/r$2/newsboat
  mkdir -p "$dir/home"
  if [ ! -f "$dir/config" ]; then
    cp "$WORK/n$n/r$run/urls.txt" "$dir/urls"
    printf 'reload-threads %s\ndownload-timeout 60\nshow-read-feeds yes\n' "$PEER_WORKERS" > "$dir/config"
  fi
  measure "n$n-r$run-newsboat-$phase" -- env HOME="$dir/home" XDG_CONFIG_HOME="$dir/home/.config" \
    XDG_DATA_HOME="$dir/home/.local/share" newsboat -x reload -u "$dir/urls" -c "$dir/cache.db" -C "$dir/config"
  record "$n" newsboat "$phase" "$run" "$(sql_count "$dir/cache.db" 'SELECT count(*) FROM rss_item')" \
    - - "$expected" ""
}

reader_phase() { # N RUN PHASE EXPECTED
  local n=$1 run=$2 phase=$3 expected=$4 dir=$WORK/n$1/r$2/reader
  mkdir -p "$dir"
  measure "n$n-r$run-reader-$phase" -- python3 "$ROOT/bench/reader_peer.py" --db "$dir/reader.sqlite" \
    --urls "$WORK/n$n/r$run/urls.txt" --workers "$PEER_WORKERS"
  record "$n" reader "$phase" "$run" \
    "$(sql_count "$dir/reader.sqlite" 'SELECT count(*) FROM entries')" - - "$expected" \
    "$(tail -n1 "$WORK/n$n-r$run-reader-$phase.out")"
}

# The daemon's resident memory once its first round is done: `run` with a long interval.
idle_rss() { # N
  local n=$1 dir=$WORK/n$1/idle
  write_fc_config "$dir" "$WORK/n$n/urls.txt" "24h"
  env RUST_LOG=info "$FC" --config "$dir/feedcorpus.toml" run > "$dir/run.out" 2> "$dir/run.err" &
  DAEMON_PID=$!
  local db=$dir/data/feedcorpus.db expected=$((n * ITEMS)) waited=0 fetched=0 records=0
  while :; do
    kill -0 "$DAEMON_PID" 2>/dev/null || { tail -n 5 "$dir/run.err" >&2; die "the daemon exited"; }
    fetched=$(sql_count "$db" 'SELECT count(*) FROM feeds WHERE last_fetch_at IS NOT NULL')
    records=$(sql_count "$db" 'SELECT count(*) FROM entries WHERE record_path IS NOT NULL')
    [ "$fetched" = "$n" ] && [ "$records" = "$expected" ] && break
    [ "$waited" -lt "$IDLE_LIMIT" ] || die "the daemon's first round did not finish in ${IDLE_LIMIT}s"
    sleep 1
    waited=$((waited + 1))
  done
  sleep 5 # let the round settle: no request, timer or write in flight
  local rss hwm
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$DAEMON_PID/status")
  hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$DAEMON_PID/status")
  stop_pid "$DAEMON_PID"
  DAEMON_PID=
  meta "idle_rss_kb_$n" "$rss"
  meta "idle_hwm_kb_$n" "$hwm"
  log "  idle daemon with $n feeds: VmRSS $((rss / 1024)) MB (high-water $((hwm / 1024)) MB)"
}

# ---- the run ----
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta host "$(uname -srm)"
meta cpu "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo) × $(nproc)"
meta load "$(cut -d' ' -f1-3 /proc/loadavg)"
meta mem "$(awk '/^MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
meta rustc "$(rustc --version 2>/dev/null || echo '?')"
meta commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes')"
meta feeds "$FEEDS"
meta runs "$RUNS"
meta items "$ITEMS"
meta churn "$CHURN"
meta concurrency "$CONC"
meta gzip "$GZIP"
meta seed "$SEED"
meta peers "$PEERS"
if [ "$PEERS" = 1 ]; then
  meta newsboat "$(newsboat --version 2>/dev/null | head -n1 | awk '{print $2}')"
  meta reader "$(python3 -c 'import reader; print(reader.__version__)')"
  meta peer_workers "$PEER_WORKERS"
fi

for n in "${NS[@]}"; do
  log "N=$n feeds × $ITEMS items: starting the farm"
  start_farm "$n"
  mkdir -p "$WORK/n$n"
  curl -fsS --max-time 30 "$FARM_URL/_urls" > "$WORK/n$n/urls.txt"
  [ "$(wc -l < "$WORK/n$n/urls.txt")" = "$n" ] || die "the farm lists the wrong number of feeds"
  meta "xml_bytes_$n" "$(farm_stat xml_bytes)"
  cold=$((n * ITEMS))
  churned=$((n * (ITEMS + CHURN)))
  for run in $(seq 1 "$RUNS"); do
    log "N=$n run $run/$RUNS"
    farm_post /_reset
    rdir=$WORK/n$n/r$run
    mkdir -p "$rdir"
    cp "$WORK/n$n/urls.txt" "$rdir/urls.txt"
    write_fc_config "$rdir/feedcorpus" "$rdir/urls.txt" "24h"

    floor_phase "$n" "$run" cold
    floor_phase "$n" "$run" warm
    fc_phase "$n" "$run" cold "$cold"
    fc_phase "$n" "$run" warm "$cold"
    if [ "$PEERS" = 1 ]; then
      newsboat_phase "$n" "$run" cold "$cold"
      newsboat_phase "$n" "$run" warm "$cold"
      reader_phase "$n" "$run" cold "$cold"
      reader_phase "$n" "$run" warm "$cold"
    fi

    farm_post "/_churn?k=$CHURN"
    floor_phase "$n" "$run" churn
    fc_phase "$n" "$run" churn "$churned"
    if [ "$PEERS" = 1 ]; then
      newsboat_phase "$n" "$run" churn "$churned"
      reader_phase "$n" "$run" churn "$churned"
    fi
    # Runs stay on disk until the end: deleting tens of thousands of record files right before
    # the next cold poll makes ext4's inode allocator skip every "recently deleted" inode for
    # half a minute, which measured a third slower.
  done
  if [ "$IDLE" = 1 ]; then
    idle_rss "$n"
  fi
  stop_pid "$FARM_PID"
  FARM_PID=
done

mkdir -p "$(dirname "$OUT")"
python3 "$ROOT/bench/report.py" --results "$RESULTS" --meta "$META" --out "$OUT"
log "table written to $OUT"
if awk -F'\t' 'NR > 1 && $16 != 1 { bad = 1 } END { exit !bad }' "$RESULTS"; then
  log "some measurements were not verified (see the table)"
  exit 1
fi
