# zdb: QEMU with a 0-db block driver.
#
#   make          fetch and configure QEMU if needed, build the binaries
#   make check    build, then run every test (ends with "N passed, N failed")
#   make demo     build, then run the main job against the bundled server
#   make bench    build, then measure the driver (see scripts/bench)
#   make check-sanitizers  the iotests on a build with ASan and UBSan
#   make check-valgrind    qemu-img convert into zdb and back under memcheck
#   make check-hiredis1    the zdb iotests on a build against hiredis 1.x
#   make check-qemu-latest the iotests on the newest QEMU Debian serves
#
# SPDX-License-Identifier: GPL-2.0-or-later

BUILD      := $(CURDIR)/build
QEMU_BUILD := $(BUILD)/qemu-build
BINARIES   := qemu-system-x86_64 qemu-img qemu-io qemu-nbd \
              storage-daemon/qemu-storage-daemon

SAN_BUILD  := $(BUILD)/qemu-sanitizers
H1_BUILD   := $(BUILD)/qemu-hiredis1
LATEST_SRC := $(BUILD)/qemu-latest-src
LATEST_BUILD := $(BUILD)/qemu-latest-build

.PHONY: all configure qemu server check demo bench clean distclean \
        check-sanitizers check-valgrind check-hiredis1 check-qemu-latest

all: qemu server

# configure is cheap when nothing changed: it reuses the fetched tree and
# QEMU's configuration, and refreshes the symlinks of our files.
configure:
	@./configure --build=$(BUILD)

qemu: configure
	ninja -C $(QEMU_BUILD) $(BINARIES)
	@for b in $(BINARIES); do ln -sfn $(QEMU_BUILD)/$$b $(BUILD)/$$(basename $$b); done

server:
	$(MAKE) -s -C tests/zdb-server

check: all
	tests/run-tests

demo: all
	scripts/demo

bench: all
	scripts/bench

# Not part of check (a second full QEMU build, and slow): run and reported
# on the reliability issue.  The sanitizers write their reports to files
# (ASan's one-line coroutine warning would otherwise change every test's
# output), and run-tests fails on any report there, also from a process
# whose failure a test expected.  Leaks are not checked: QEMU's helper
# threads and RCU leave memory behind at exit that is not the driver's.
check-sanitizers: server
	@./configure --build=$(BUILD) --sanitizers
	ninja -C $(SAN_BUILD) $(BINARIES)
	rm -rf $(SAN_BUILD)/logs && mkdir -p $(SAN_BUILD)/logs
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(SAN_BUILD)/logs/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_BUILD)/logs/ubsan \
	ZDB_SANITIZER_LOGS=$(SAN_BUILD)/logs ZDB_QEMU_BUILD=$(SAN_BUILD) \
	ZDB_LOG_SUFFIX=-sanitizers ZDB_SKIP_GUEST=1 tests/run-tests

check-valgrind: all
	tests/valgrind-convert

# Debian 12 has hiredis 0.14, Debian 13 1.x: the default build uses the
# host's; this one Debian 13's, built from source (configure --hiredis1).
check-hiredis1: server
	@./configure --build=$(BUILD) --hiredis1
	PKG_CONFIG_PATH=$(BUILD)/hiredis1/prefix/lib/pkgconfig \
	ninja -C $(H1_BUILD) $(BINARIES)
	ZDB_QEMU_BUILD=$(H1_BUILD) ZDB_LOG_SUFFIX=-hiredis1 ZDB_SKIP_GENERIC=1 \
	ZDB_SKIP_GUEST=1 tests/run-tests

# The default build stays on Debian 13's QEMU 10.0; this one is on the
# newest QEMU source Debian's archive serves (configure --qemu-latest says
# which, and build/qemu-latest-version records it), so that a change of
# QEMU's interfaces shows before the rebase.  Unit tests, zdb iotests, the
# soak and the generic iotests; no guest boots.
check-qemu-latest: server
	@./configure --build=$(BUILD) --qemu-latest
	ninja -C $(LATEST_BUILD) $(BINARIES)
	ZDB_QEMU_BUILD=$(LATEST_BUILD) ZDB_QEMU_SRC=$(LATEST_SRC) \
	ZDB_LOG_SUFFIX=-qemu-latest ZDB_SKIP_GUEST=1 tests/run-tests

clean:
	-ninja -C $(QEMU_BUILD) clean
	$(MAKE) -s -C tests/zdb-server clean

distclean:
	rm -rf $(BUILD)
	$(MAKE) -s -C tests/zdb-server clean
