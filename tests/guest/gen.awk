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
# rebuild every file on its own.  One sprintf per line, not eight: under
# TCG this loop is most of the guest's time.
#
# SPDX-License-Identifier: GPL-2.0-or-later

BEGIN {
    M = 2147483647
    x = (seed % 1000003) * 7919 + id * 104729
    x = x % (M - 1) + 1
    left = bytes
    while (left > 0) {
        a = (x * 16807) % M; b = (a * 16807) % M
        c = (b * 16807) % M; d = (c * 16807) % M
        e = (d * 16807) % M; f = (e * 16807) % M
        g = (f * 16807) % M; x = (g * 16807) % M
        s = sprintf("%08x%08x%08x%08x%08x%08x%08x%07x", a, b, c, d, e, f, g,
                    x % 268435456)
        if (left >= 64) {
            print s
            left -= 64
        } else {
            printf "%s", substr(s, 1, left)
            left = 0
        }
    }
}
