#!/bin/bash
#
# scripts/bench-profile.sh: where does qemu-img's time go in the zdb driver?
#
#   scripts/bench-profile.sh [COUNT]      (default 200000 requests)
#
# Profiles `qemu-img bench` 4 KiB, depth 32, write then read, against a
# private redis-server over a unix socket (the fastest server there is, so
# what is left is the client), and prints the top symbols by self time and
# the inclusive view of the driver's functions.  Output and perf data in
# build/bench/profile-{write,read}.{data,txt}.
#
# perf needs a working cpu-clock event (hardware counters are often missing
# in VMs, so the software clock is used); without perf it falls back to
# valgrind --tool=callgrind on a shorter run.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${ZDB_BUILD:-$top/build}
out=${BENCH_OUT:-$build/bench}
count=${1:-200000}
step=$((257 * 4096))    # "random" offsets, as scripts/bench
mkdir -p "$out"
work=$(mktemp -d "$out/profile-work.XXXXXX")
redis_pid=
cleanup() {
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

sock=$work/redis.sock
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' \
    --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -s "$sock" ping >/dev/null 2>&1 && break
    sleep 0.1
done

disk="zdb+unix:///default?socket=$sock"
opts="driver=zdb,socket=$sock,namespace=default"
"$build/qemu-img" create -f raw "$disk" 1G >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

tool=perf
if ! perf record -q -e cpu-clock -o "$work/probe.data" true >/dev/null 2>&1; then
    tool=callgrind
    count=$((count / 20))   # callgrind is ~50x slower
    echo "perf does not work here: valgrind --tool=callgrind, $count requests"
fi

for mode in write read; do
    w=; [ $mode = write ] && w="-w --pattern=7"
    bench=("$build/qemu-img" bench --image-opts -t none -c "$count" -d 32
           -s 4096 -S "$step" $w "$opts")
    echo
    echo "== 4 KiB depth 32 $mode, $count requests, redis unix socket ($tool)"
    if [ $tool = perf ]; then
        # dwarf call graphs: QEMU is built without frame pointers
        perf record -q -F 2000 -e cpu-clock --call-graph dwarf,16384 \
            -o "$out/profile-$mode.data" -- "${bench[@]}" | tail -1
        perf report -i "$out/profile-$mode.data" --no-children --stdio \
            --sort symbol,dso -g none --percent-limit 0.7 2>/dev/null \
            | grep -v '^#' | grep -v '^$' > "$out/profile-$mode.txt"
        echo "-- self time (top 20)"
        head -20 "$out/profile-$mode.txt"
        echo "-- inclusive time of zdb/hiredis/block-layer functions"
        perf report -i "$out/profile-$mode.data" --children --stdio \
            --sort symbol -g none --percent-limit 3 2>/dev/null \
            | grep -v '^#' | grep -v '^$' \
            | grep -E 'zdb|redis|bdrv|blk_|coroutine|aio_|bench' | head -25 \
            | tee "$out/profile-$mode-inclusive.txt"
    else
        valgrind --tool=callgrind --callgrind-out-file="$out/profile-$mode.callgrind" \
            "${bench[@]}" 2>/dev/null | tail -1
        callgrind_annotate "$out/profile-$mode.callgrind" 2>/dev/null \
            | head -40 | tee "$out/profile-$mode.txt"
    fi
    redis-cli -s "$sock" info commandstats | grep -E 'cmdstat_(set|get|mget)' || true
    redis-cli -s "$sock" config resetstat >/dev/null
done
