# gen.awk: the content of test file number `id` for `seed`, `bytes` long
#
#   awk -v seed=N -v id=N -v bytes=N -f gen.awk > file
#
# Busybox has no PRNG for megabytes of data, so this is a Park-Miller LCG
# (x * 16807 mod 2^31-1: every product stays below 2^53, exact in awk's
# doubles), printed as lines of 63 hex digits and a newline.  The state
# never repeats within a file, so every 4 KiB block of the disk differs and
# a block written to or read from the wrong key shows.  The guest's busybox
# awk and the host's mawk or gawk give the same bytes, so the host can
# rebuild every file on its own.
#
# SPDX-License-Identifier: GPL-2.0-or-later

BEGIN {
    x = (seed % 1000003) * 7919 + id * 104729
    x = x % 2147483646 + 1
    left = bytes
    while (left > 0) {
        s = ""
        for (j = 0; j < 8; j++) {
            x = (x * 16807) % 2147483647
            s = s sprintf("%08x", x)
        }
        if (left >= 64) {
            print substr(s, 1, 63)
            left -= 64
        } else {
            printf "%s", substr(s, 1, left)
            left = 0
        }
    }
}
