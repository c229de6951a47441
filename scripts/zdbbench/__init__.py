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
#   convert   qemu-img convert of a 1 GiB image in and out, RSS too
#   report    the results: ratios, the table and the CSV file
#
# SPDX-License-Identifier: GPL-2.0-or-later
