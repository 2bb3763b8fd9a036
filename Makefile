# The hypervisor build. `make` builds build/hv.elf and build/hv.iso; `make test` runs every unit and integration test;
# `make run` boots the ISO in QEMU. See README.md for every target and variable.

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
OBJCOPY := $(CROSS_COMPILE)objcopy
HOSTCC  ?= gcc
PYTHON  ?= python3

BUILD   := build
ACCEL   ?= tcg
SMP     ?= 2
MEM     ?= 2G
FUZZ_SECONDS ?= 20
# make test builds everything (the hypervisor, guests, GRUB's platform, the Linux files, ~130 unit binaries) this wide.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMDLINE ?= loglevel=6
# GRUB modules baked into build/hv.iso: pairs of file and module command line (shell-quoted). The default is
# Debian's kernel with the project's busybox initramfs, ending at an interactive shell on the serial console.
ISO_MODULES ?= $(BUILD)/linux/vmlinuz 'vm=linux mem=512M cpus=$(SMP) console=raw cmdline="console=ttyS0 quiet panic=-1 hv.interactive hv.memmib=16 hv.cpus=$(SMP)"' \
	$(BUILD)/linux/initramfs.cpio.gz 'vm=linux role=initrd'
# `make run DISK=1` boots build/hv-disk.iso instead: the same kernel with the disk initramfs (tests/linux/disk), which
# mounts the project's ext4 image (build/linux/disk.img, a role=disk module: vda) as the root file system and ends at
# a shell on it. The disk lives in host RAM: what the guest writes is lost at power-off.
DISK ?= 0
DISK_ISO_MODULES ?= $(BUILD)/linux/vmlinuz 'vm=linux mem=512M cpus=$(SMP) console=raw cmdline="console=ttyS0 quiet panic=-1 root=/dev/vda hv.interactive"' \
	$(BUILD)/linux/initramfs-disk.cpio.gz 'vm=linux role=initrd' $(BUILD)/linux/disk.img 'vm=linux role=disk'
RUN_ISO := $(BUILD)/hv$(if $(filter 1,$(DISK)),-disk).iso

KERNEL_DIRS := boot kernel arch mm drivers vm
KSRCS := $(sort $(shell find $(KERNEL_DIRS) -name '*.c' -o -name '*.S'))
KOBJS := $(patsubst %,$(BUILD)/k/%.o,$(KSRCS))

KCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -fno-builtin -fno-stack-protector -fno-pic -fno-pie -fno-strict-aliasing \
	-mno-red-zone -mgeneral-regs-only -mcmodel=kernel -mno-mmx -mno-sse -mno-sse2 \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables -fcf-protection=none \
	-Iinclude -I. -MMD -MP
KASFLAGS := -Iinclude -I. -MMD -MP -D__ASSEMBLY__
KLDFLAGS := -nostdlib -static -T $(BUILD)/linker.ld -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments

HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -I. -Itests/unit \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -DHV_HOST_TEST

.PHONY: all iso deps unit test integration run run-bochs debug bench clean format
all: $(BUILD)/hv.elf $(BUILD)/hv.iso

$(BUILD)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(KASFLAGS) -c $< -o $@

$(BUILD)/linker.ld: linker.ld.S include/hv/layout.h
	@mkdir -p $(dir $@)
	$(CC) -E -P -x c -Iinclude -D__ASSEMBLY__ $< -o $@

$(BUILD)/hv.elf: $(KOBJS) $(BUILD)/linker.ld
	@echo "  LD      $@"
	@$(LD) $(KLDFLAGS) -o $@ $(KOBJS)
	@if command -v grub-file >/dev/null; then grub-file --is-x86-multiboot2 $@ || \
		{ echo "error: $@ is not a multiboot2 image"; rm -f $@; exit 1; }; fi

$(BUILD)/hv.iso: $(BUILD)/hv.elf scripts/mkiso.sh guests linux
	@echo "  ISO     $@"
	@scripts/mkiso.sh $@ $(BUILD)/hv.elf "$(CMDLINE)" $(ISO_MODULES)

$(BUILD)/hv-disk.iso: $(BUILD)/hv.elf scripts/mkiso.sh linux
	@echo "  ISO     $@"
	@scripts/mkiso.sh $@ $(BUILD)/hv.elf "$(CMDLINE)" $(DISK_ISO_MODULES)

iso: $(BUILD)/hv.iso

deps:
	@scripts/deps.sh

# ---- guest test programs (tests/guests/guests.mk defines `guests`) ----
include tests/guests/guests.mk
include tests/guests/grub.mk
include tests/linux/linux.mk
include bench/kvm/kvm.mk

# ---- host unit tests: tests/unit/test_X.c plus the sources named by UNIT_SRCS_test_X in tests/unit/test_X.mk ----
-include $(wildcard tests/unit/*.mk)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst %,$(BUILD)/unit/%,$(UNIT_TESTS))
UNIT_COMMON := tests/unit/harness.c tests/unit/fake_platform.c

# Each source is compiled once per sanitizer build into build/unit-obj/ (build/unit-tsan-obj/) and linked into every
# test that names it: the MMU sources alone are in ~60 tests. The flags are fixed here, before the per-test appends
# (-pthread) below, so an object is the same whichever test asked for it first.
UNIT_OBJ_CFLAGS := $(HOST_CFLAGS)
# Kept, not deleted as intermediates once the tests are linked: the next build reuses them.
.PRECIOUS: $(BUILD)/unit-obj/%.o $(BUILD)/unit-tsan-obj/%.o
unit_objs = $(patsubst %.c,$(BUILD)/unit-obj/%.o,$(1))

$(BUILD)/unit-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@"
	@$(HOSTCC) $(UNIT_OBJ_CFLAGS) -MMD -MP -c -o $@ $<

.SECONDEXPANSION:
$(BUILD)/unit/%: $$(call unit_objs,tests/unit/$$*.c $(UNIT_COMMON) $$(UNIT_SRCS_$$*))
	@mkdir -p $(dir $@)
	@echo "  HOSTLD  $@"
	@$(HOSTCC) $(HOST_CFLAGS) -o $@ $^

# ---- the lockless tests again under ThreadSanitizer, which cannot be combined with ASan, into build/unit-tsan/ ----
# clang, because gcc 12 refuses atomic_thread_fence under -fsanitize=thread (-Wtsan, an error with -Werror). Neither
# models standalone fences; the tests do not need it to, since every edge that orders a reader's loads before a
# free is a release/acquire pair (mm/grace.c), and a fence missing from the code would show as a real race.
TSAN_CC ?= clang
UNIT_TSAN_TESTS := test_rwlock test_tdp_parallel test_inbox_stress test_grace_stress test_rmap_stress test_tdp_mmu_age_stress test_sage_stress \
	test_grace_wait test_private_stress
UNIT_TSAN_BINS := $(patsubst %,$(BUILD)/unit-tsan/%,$(UNIT_TSAN_TESTS))
TSAN_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(HOST_CFLAGS)) -fsanitize=thread -pthread

tsan_objs = $(patsubst %.c,$(BUILD)/unit-tsan-obj/%.o,$(1))

$(BUILD)/unit-tsan-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  TSANCC  $@"
	@$(TSAN_CC) $(TSAN_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/unit-tsan/%: $$(call tsan_objs,tests/unit/$$*.c $(UNIT_COMMON) $$(UNIT_SRCS_$$*))
	@mkdir -p $(dir $@)
	@echo "  TSANLD  $@"
	@$(TSAN_CC) $(TSAN_CFLAGS) -o $@ $^

unit: $(UNIT_BINS) $(UNIT_TSAN_BINS)
	@$(PYTHON) tests/integration/runner.py --unit $(UNIT_BINS) $(UNIT_TSAN_BINS)

integration: all guests grub-guest linux
	@$(PYTHON) tests/integration/runner.py --integration

test: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all guests grub-guest linux $(UNIT_BINS) $(UNIT_TSAN_BINS)
	@$(PYTHON) tests/integration/runner.py --unit $(UNIT_BINS) $(UNIT_TSAN_BINS) --selftest --fuzz $(FUZZ_SECONDS) --integration

run: deps all $(RUN_ISO)
	@scripts/run-qemu.sh $(RUN_ISO) $(ACCEL) $(SMP) $(MEM)

run-efi: deps all
	@EFI=1 scripts/run-qemu.sh $(BUILD)/hv.iso $(ACCEL) $(SMP) $(MEM)

run-bochs: deps all
	scripts/run-bochs.sh $(BUILD)/hv.iso corei7_skylake_x

debug: deps all
	scripts/debug.sh $(BUILD)/hv.iso $(BUILD)/hv.elf

bench: deps all guests $(BUILD)/unit/test_track_sizes $(BUILD)/unit/test_rmap $(BUILD)/bench/bench_tdp_parallel
	@$(PYTHON) bench/run.py

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(KOBJS:.o=.d) $(shell find $(BUILD)/unit-obj $(BUILD)/unit-tsan-obj -name '*.d' 2>/dev/null)
