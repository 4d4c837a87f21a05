#!/usr/bin/env bash
# The feedcorpus benchmark: one poll round against a loopback feed farm, next to the HTTP floor
# and, with --peers, newsboat and Python reader. See bench/README.md.
#
#   bash bench/run.sh [--feeds 200,1000] [--runs 3] [--peers] [--items 50] [--churn 5]
#                     [--concurrency 8] [--peer-workers 1] [--seed 1] [--gzip] [--syndicated P]
#                     [--large 1000,20000] [--before BINARY]
#                     [--database postgres [--instances 1,2,4]]
#                     [--out bench/results/latest.md] [--workdir DIR] [--keep] [--no-idle]
#
# --large: after the farms, one feed of that many small items, fetched once by a cold poll each.
# --before: another feedcorpus binary (an earlier build) measured beside this one, same phases.
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
SYNDICATED=0
OUT=bench/results/latest.md
WORK=
KEEP=0
IDLE=1
DATABASE=sqlite
INSTANCES=1,2,4
LARGE=1000,20000
BEFORE=
# Upper bounds of every wait, in seconds.
FARM_START_LIMIT=300
IDLE_LIMIT=900
COMMAND_LIMIT=1800

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
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
    --syndicated) need_value "$@"; SYNDICATED=$2; shift 2 ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    --workdir) need_value "$@"; WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-idle) IDLE=0; shift ;;
    --database) need_value "$@"; DATABASE=$2; shift 2 ;;
    --instances) need_value "$@"; INSTANCES=$2; shift 2 ;;
    --large) need_value "$@"; LARGE=$2; shift 2 ;;
    --before) need_value "$@"; BEFORE=$2; shift 2 ;;
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
case "$DATABASE" in sqlite|postgres) ;; *) die "--database is sqlite or postgres" ;; esac
LS=()
[ "$LARGE" = none ] || IFS=, read -r -a LS <<< "$LARGE"
for m in "${LS[@]}"; do is_count "$m" && [ "$m" -le 50000 ] || die "--large takes item counts up to 50000 like 1000,20000 (or none), got '$m'"; done
if [ -n "$BEFORE" ]; then
  [ -x "$BEFORE" ] || die "--before: $BEFORE is not an executable"
  BEFORE=$(cd "$(dirname "$BEFORE")" && pwd)/$(basename "$BEFORE")
fi
IFS=, read -r -a KS <<< "$INSTANCES"
for k in "${KS[@]}"; do
  is_count "$k" && [ "$k" -le 16 ] || die "--instances takes counts up to 16 like 1,2,4, got '$k'"
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- what the run needs ----
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
need_apt=()
[ -x /usr/bin/time ] || need_apt+=(time)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ "$DATABASE" = postgres ]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
  command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
fi
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
PG_PID=
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
  stop_pid "${PG_POSTMASTER:-}"
  stop_pid "$PG_PID"
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
start_farm() { # N [ITEMS [FARM ARGS...]]
  local n=$1 items=${2:-$ITEMS} addr=$WORK/farm-$1.addr
  shift $(($# < 2 ? $# : 2))
  rm -f "$addr"
  local gz=("$@")
  [ "$GZIP" = 1 ] && gz+=(--gzip)
  gz+=(--syndicated "$SYNDICATED")
  "$FARM" --feeds "$n" --items "$items" --seed "$SEED" --port 0 --addr-file "$addr" "${gz[@]}" \
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
    if [[ $tool == feedcorpus* ]]; then
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

write_fc_config() { # DIR URLS_FILE INTERVAL [MAX_BODY_BYTES]
  local dir=$1 urls=$2 interval=$3 body=${4:-}
  mkdir -p "$dir"
  {
    printf '[storage]\ndatabase = "data/feedcorpus.db"\ncorpus_dir = "data/corpus"\n\n'
    printf '[poll]\nconcurrency = %s\ninterval = "%s"\n\n' "$CONC" "$interval"
    # Every farm feed lives on one loopback host: per-host politeness would measure the gap,
    # not the ingest. The peers have no per-host limit either.
    printf '[http]\nper_host_connections = %s\nper_host_min_gap = "0s"\n' "$CONC"
    [ -z "$body" ] || printf 'max_body_size = %s\n' "$body"
    printf '\n[corpus]\nfull_text = "never"\n'
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

# Bytes a path takes on disk (allocated blocks, so a folder of small files counts as stored).
disk_bytes() { du -s -B1 "$@" 2>/dev/null | awk '{ t += $1 } END { print t + 0 }'; }
existing() { local f; for f in "$@"; do [ -e "$f" ] && printf '%s\n' "$f"; done; return 0; }

fc_phase() { # N RUN PHASE EXPECTED [TOOL BINARY]
  local n=$1 run=$2 phase=$3 expected=$4 tool=${5:-feedcorpus} bin=${6:-$FC}
  local dir=$WORK/n$1/r$2/$tool
  [ -f "$dir/feedcorpus.toml" ] || write_fc_config "$dir" "$WORK/n$n/r$run/urls.txt" "24h"
  measure "n$n-r$run-$tool-$phase" -- env RUST_LOG=info "$bin" --config "$dir/feedcorpus.toml" poll
  local db=$dir/data/feedcorpus.db
  record "$n" "$tool" "$phase" "$run" \
    "$(sql_count "$db" 'SELECT count(*) FROM entries')" \
    "$(sql_count "$db" 'SELECT count(*) FROM entries WHERE record_path IS NOT NULL')" \
    "$(count_files "$dir/data/corpus")" "$expected" \
    "$(tail -n1 "$WORK/n$n-r$run-$tool-$phase.out")"
  if [ "$phase" = cold ] && [ "$run" = 1 ]; then
    # mapfile keeps a missing WAL out of du's arguments.
    local files
    mapfile -t files < <(existing "$db" "$db-wal" "$db-shm")
    meta "disk_db_${n}_$tool" "$(disk_bytes "${files[@]}")"
    meta "disk_corpus_${n}_$tool" "$(disk_bytes "$dir/data/corpus")"
    meta "text_bytes_${n}_$tool" "$(sql_count "$db" 'SELECT sum(length(CAST(content_text AS BLOB))) FROM entries')"
    sqlite3 -cmd '.timeout 10000' "$db" \
      "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8" 2>/dev/null \
      | while IFS='|' read -r name bytes; do meta "dbstat_${n}_${tool}_$name" "$bytes"; done
  fi
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
  if [ "$phase" = cold ] && [ "$run" = 1 ]; then
    local files
    mapfile -t files < <(existing "$dir/cache.db" "$dir/cache.db-wal" "$dir/cache.db-journal")
    meta "disk_db_${n}_newsboat" "$(disk_bytes "${files[@]}")"
  fi
}

reader_phase() { # N RUN PHASE EXPECTED
  local n=$1 run=$2 phase=$3 expected=$4 dir=$WORK/n$1/r$2/reader
  mkdir -p "$dir"
  measure "n$n-r$run-reader-$phase" -- python3 "$ROOT/bench/reader_peer.py" --db "$dir/reader.sqlite" \
    --urls "$WORK/n$n/r$run/urls.txt" --workers "$PEER_WORKERS"
  record "$n" reader "$phase" "$run" \
    "$(sql_count "$dir/reader.sqlite" 'SELECT count(*) FROM entries')" - - "$expected" \
    "$(tail -n1 "$WORK/n$n-r$run-reader-$phase.out")"
  if [ "$phase" = cold ] && [ "$run" = 1 ]; then
    local files
    mapfile -t files < <(existing "$dir/reader.sqlite" "$dir/reader.sqlite-wal")
    meta "disk_db_${n}_reader" "$(disk_bytes "${files[@]}")"
  fi
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
  local rss hwm anon
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$DAEMON_PID/status")
  hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$DAEMON_PID/status")
  # The private part (heap, stacks); the rest is the program's own pages, mapped from its file.
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$DAEMON_PID/status")
  stop_pid "$DAEMON_PID"
  DAEMON_PID=
  meta "idle_rss_kb_$n" "$rss"
  meta "idle_hwm_kb_$n" "$hwm"
  meta "idle_anon_kb_$n" "$anon"
  log "  idle daemon with $n feeds: VmRSS $((rss / 1024)) MB (high-water $((hwm / 1024)) MB)"
}

# ---- PostgreSQL (--database postgres) ----
# A throwaway cluster in the work folder, listening only on a Unix socket there. Durability as
# the SQLite side has it: fsync on, commits do not wait for their WAL flush (a crash loses the
# last commits, never consistency; SQLite's WAL with synchronous=NORMAL is the same promise).
# pg_stat_statements profiles every statement the instances run.
PG_DIR=
PG_PORT=54329
PG_AS=()
start_pg() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  PG_DIR=$WORK/pg
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$WORK"
    chown postgres: "$PG_DIR"
    PG_AS=(runuser -u postgres --)
  fi
  "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" --auth=trust --username=feedcorpus \
    --encoding=UTF8 --locale=C > "$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  "${PG_AS[@]}" "$bin/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -p "$PG_PORT" \
    -c listen_addresses= -c synchronous_commit=off -c max_connections=200 \
    -c shared_buffers=128MB -c shared_preload_libraries=pg_stat_statements \
    -c pg_stat_statements.max=500 > "$WORK/postgres.log" 2>&1 &
  PG_PID=$!
  local waited=0
  until "$bin/pg_isready" -h "$PG_DIR" -p "$PG_PORT" -U feedcorpus -d postgres >/dev/null 2>&1; do
    kill -0 "$PG_PID" 2>/dev/null || { cat "$WORK/postgres.log" >&2; die "postgres exited"; }
    [ "$waited" -lt 600 ] || die "postgres did not start in 60s"
    sleep 0.1
    waited=$((waited + 1))
  done
  meta postgres "$("$bin/postgres" --version | awk '{print $3}')"
}
pg_url() { printf 'postgres://feedcorpus@localhost/%s?host=%s&port=%s' "$1" "$PG_DIR" "$PG_PORT"; }
pg_sql() { psql -X -q -At -h "$PG_DIR" -p "$PG_PORT" -U feedcorpus -d "$1" -c "$2" 2>/dev/null || echo "?"; }
# CPU seconds the server spent: the postmaster, its live children, and the reaped ones.
pg_cpu() {
  local tck total=0 pid f
  tck=$(getconf CLK_TCK)
  f=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$PG_POSTMASTER/stat")
  total=$f
  for pid in $(pgrep -P "$PG_POSTMASTER"); do
    f=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + f))
  done
  awk -v t="$total" -v h="$tck" 'BEGIN { printf "%.2f", t / h }'
}

write_pg_configs() { # DIR URLS_FILE K DB
  local dir=$1 urls=$2 k=$3 db=$4 i
  mkdir -p "$dir/corpus"
  for i in $(seq 1 "$k"); do
    mkdir -p "$dir/i$i"
    {
      printf '[storage]\ndatabase = "%s"\ncorpus_dir = "%s"\n\n' "$(pg_url "$db")" "$dir/corpus"
      printf '[poll]\nconcurrency = %s\ninterval = "24h"\n\n' "$CONC"
      printf '[http]\nper_host_connections = %s\nper_host_min_gap = "0s"\n\n' "$CONC"
      printf '[corpus]\nfull_text = "never"\n'
      awk '{ printf "\n[[feeds]]\nname = \"farm-%d\"\nurl = \"%s\"\n", NR - 1, $0 }' "$urls"
    } > "$dir/i$i/feedcorpus.toml"
  done
}

# K `poll`s started together on one database split the round between them.
pg_polls() { # DIR K
  local dir=$1 k=$2 i pids=() rc=0
  for i in $(seq 1 "$k"); do
    env RUST_LOG=info "$FC" --config "$dir/i$i/feedcorpus.toml" poll > "$dir/i$i/poll.out" 2> "$dir/i$i/poll.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return "$rc"
}

pg_phase() { # N RUN PHASE EXPECTED K
  local n=$1 run=$2 phase=$3 expected=$4 k=$5 dir=$WORK/n$1/r$2/pg$5 db=bench_n$1_r$2_k$5
  local tool=feedcorpus-pg$k cpu0 cpu1 label="n$n-r$run-pg$k-$phase"
  pg_sql "$db" "SELECT pg_stat_statements_reset()" > /dev/null
  cpu0=$(pg_cpu)
  measure "$label" -- bash -c "$(declare -f pg_polls); FC='$FC' pg_polls '$dir' '$k'"
  cpu1=$(pg_cpu)
  record "$n" "$tool" "$phase" "$run" \
    "$(pg_sql "$db" 'SELECT count(*) FROM entries')" \
    "$(pg_sql "$db" 'SELECT count(*) FROM entries WHERE record_path IS NOT NULL')" \
    "$(count_files "$dir/corpus")" "$expected" \
    "server CPU $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')s"
  meta "pg_cpu_${n}_${k}_${phase}_$run" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
  # The statements of this phase, costliest first: calls, rows, total and mean time.
  pg_sql "$db" "SELECT calls, rows, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3),
                       regexp_replace(left(query, 90), '\s+', ' ', 'g')
                FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY total_exec_time DESC LIMIT 8" > "$WORK/$label.statements"
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
meta syndicated "$SYNDICATED"
meta seed "$SEED"
meta peers "$PEERS"
meta database "$DATABASE"
meta instances "$INSTANCES"
meta large "$LARGE"
[ -z "$BEFORE" ] || meta before "$("$BEFORE" --version 2>/dev/null | head -n1)"
if [ "$DATABASE" = postgres ]; then
  start_pg
  PG_POSTMASTER=$PG_PID
  [ "$(id -u)" = 0 ] && PG_POSTMASTER=$(head -n1 "$PG_DIR/data/postmaster.pid")
fi
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
    if [ -n "$BEFORE" ]; then
      fc_phase "$n" "$run" cold "$cold" feedcorpus-before "$BEFORE"
      fc_phase "$n" "$run" warm "$cold" feedcorpus-before "$BEFORE"
    fi
    if [ "$DATABASE" = postgres ]; then
      for k in "${KS[@]}"; do
        pdb=bench_n${n}_r${run}_k$k
        pg_sql postgres "CREATE DATABASE $pdb" > /dev/null
        pg_sql "$pdb" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" > /dev/null
        write_pg_configs "$rdir/pg$k" "$rdir/urls.txt" "$k" "$pdb"
        farm_post /_reset
        pg_phase "$n" "$run" cold "$cold" "$k"
        pg_phase "$n" "$run" warm "$cold" "$k"
      done
      farm_post /_reset
    fi
    if [ "$PEERS" = 1 ]; then
      newsboat_phase "$n" "$run" cold "$cold"
      newsboat_phase "$n" "$run" warm "$cold"
      reader_phase "$n" "$run" cold "$cold"
      reader_phase "$n" "$run" warm "$cold"
    fi

    farm_post "/_churn?k=$CHURN"
    floor_phase "$n" "$run" churn
    fc_phase "$n" "$run" churn "$churned"
    [ -z "$BEFORE" ] || fc_phase "$n" "$run" churn "$churned" feedcorpus-before "$BEFORE"
    if [ "$DATABASE" = postgres ]; then
      for k in "${KS[@]}"; do
        pg_phase "$n" "$run" churn "$churned" "$k"
      done
    fi
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

# ---- one large feed: a single fetch of M small items ----
large_case() { # M TOOL BINARY
  local m=$1 tool=$2 bin=$3 dir=$WORK/large-$1/$2
  # 20,000 items are past the default 16 MiB body limit: the limit is raised, not the case cut.
  write_fc_config "$dir" "$WORK/large-$m/urls.txt" "24h" $((256 * 1024 * 1024))
  # Every item of the document, not the newest 1,000 (`max_entries_per_fetch`).
  sed -i 's/^\[poll\]$/[poll]\nmax_entries_per_fetch = 0/' "$dir/feedcorpus.toml"
  measure "large-$m-$tool" -- env RUST_LOG=info "$bin" --config "$dir/feedcorpus.toml" poll
  local db=$dir/data/feedcorpus.db entries records files ok=1
  entries=$(sql_count "$db" 'SELECT count(*) FROM entries')
  records=$(sql_count "$db" 'SELECT count(*) FROM entries WHERE record_path IS NOT NULL')
  files=$(count_files "$dir/data/corpus")
  [ "$M_FAILED" = 0 ] && [ "$entries" = "$m" ] && [ "$records" = "$m" ] && [ "$files" = "$m" ] || ok=0
  [ "$ok" = 1 ] || log "NOT VERIFIED: $tool large feed of $m items: entries=$entries records=$records files=$files"
  meta "large_${m}_$tool" "$(cut -f1-4 <<< "$M_TIME" | tr '\t' ' ') $entries $ok"
  log "  $tool, one feed of $m items: $(cut -f1 <<< "$M_TIME")s, entries=$entries"
  [ "$ok" = 1 ] || LARGE_BAD=1
}
LARGE_BAD=0
for m in "${LS[@]}"; do
  log "one feed × $m small items"
  start_farm 1 "$m" --small-items
  mkdir -p "$WORK/large-$m"
  curl -fsS --max-time 30 "$FARM_URL/_urls" > "$WORK/large-$m/urls.txt"
  meta "large_xml_bytes_$m" "$(farm_stat xml_bytes)"
  large_case "$m" feedcorpus "$FC"
  [ -z "$BEFORE" ] || large_case "$m" feedcorpus-before "$BEFORE"
  stop_pid "$FARM_PID"
  FARM_PID=
done

mkdir -p "$(dirname "$OUT")"
python3 "$ROOT/bench/report.py" --results "$RESULTS" --meta "$META" --out "$OUT"
if [ "$DATABASE" = postgres ]; then
  # The server's side of the largest N's first run: its CPU and its costliest statements.
  n=${NS[-1]}
  {
    printf '\n## PostgreSQL profile (N = %s, run 1)\n\n' "$n"
    for k in "${KS[@]}"; do
      for phase in cold warm churn; do
        f=$WORK/n$n-r1-pg$k-$phase.statements
        [ -f "$f" ] || continue
        printf '### %s instance(s), %s: server CPU %s s\n\n' "$k" "$phase" \
          "$(awk -F'\t' -v key="pg_cpu_${n}_${k}_${phase}_1" '$1 == key { print $2 }' "$META")"
        printf '| calls | rows | total ms | mean ms | statement |\n| ---: | ---: | ---: | ---: | --- |\n'
        awk -F'|' '{ printf "| %s | %s | %s | %s | `%s` |\n", $1, $2, $3, $4, $5 }' "$f"
        printf '\n'
      done
    done
  } | tee -a "$OUT"
fi
log "table written to $OUT"
if [ "$LARGE_BAD" = 1 ] || awk -F'\t' 'NR > 1 && $16 != 1 { bad = 1 } END { exit !bad }' "$RESULTS"; then
  log "some measurements were not verified (see the table)"
  exit 1
fi
