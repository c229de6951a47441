#
# The parts of scripts/bench, the runner:
#
#   common    settings from the environment, running a command and
#             logging it, the counts and rates every section uses
#   servers   the zdb servers a run measures, each over unix and tcp
#   ceiling   what the server itself can do (redis-benchmark)
#   driver    qemu-img bench through the zdb driver; connections=
#   nbd       the same through qemu-storage-daemon and QEMU's nbd driver
#   layers    thin reads and backup writes beside plain ones
#   convert   qemu-img convert of a 1 GiB image in and out, RSS too;
#             convert512: 512 MiB half holes, against SET ceiling and nbd
#   rtt       at an emulated round trip (zdb-server --delay-us): depth 1
#             and 32 against 1/rtt, thin and backup against plain
#   fio       fio's nbd engine on qemu-storage-daemon: zdb vs a raw file
#   vms       32 qemu-img bench at once, thin and plain disks, against
#             redis-benchmark with 32 clients
#   report    the results: ratios, the table and the CSV file
#
# SPDX-License-Identifier: GPL-2.0-or-later
