# zdb: QEMU with a 0-db block driver.
#
#   make          fetch and configure QEMU if needed, build the binaries
#   make check    build, then run every test (ends with "N passed, N failed")
#   make demo     build, then run the main job against the bundled server
#   make bench    build, then measure the driver (see scripts/bench)
#
# SPDX-License-Identifier: GPL-2.0-or-later

BUILD      := $(CURDIR)/build
QEMU_BUILD := $(BUILD)/qemu-build
BINARIES   := qemu-system-x86_64 qemu-img qemu-io qemu-nbd \
              storage-daemon/qemu-storage-daemon

.PHONY: all configure qemu server check demo bench clean distclean

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

clean:
	-ninja -C $(QEMU_BUILD) clean
	$(MAKE) -s -C tests/zdb-server clean

distclean:
	rm -rf $(BUILD)
	$(MAKE) -s -C tests/zdb-server clean
