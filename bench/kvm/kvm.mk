# The KVM peer of `make bench` (bench/kvm/): a static VMM, its guest benchkvm on the benchmarks' shared loops, and an
# initramfs for Debian's kernel (build/linux/vmlinuz) that holds both with Debian's KVM modules. Included from the top
# Makefile after tests/guests/guests.mk and tests/linux/linux.mk.
#   make bench-peer     build/bench-peer/{vmm,benchkvm.elf,initramfs.cpio.gz} and the kernel
# Not part of `make all`: the initramfs unpacks the kernel package's modules (a few seconds), and nothing but
# `make bench` runs it.

PEER_OUT       := $(if $(BUILD),$(BUILD),build)/bench-peer
PEER_VMM       := $(PEER_OUT)/vmm
PEER_GUEST     := $(PEER_OUT)/benchkvm.elf
PEER_INITRAMFS := $(PEER_OUT)/initramfs.cpio.gz
PEER_CFLAGS    := -std=gnu11 -O2 -Wall -Wextra -Werror -static

.PHONY: bench-peer
bench-peer: $(PEER_INITRAMFS) $(LINUX_KERNEL)

# The host's gcc and libc.a: the initramfs has no libc.
$(PEER_VMM): bench/kvm/vmm.c bench/kvm/peer.c bench/kvm/peer.h
	@mkdir -p $(dir $@)
	@echo "  HOSTCC  $@ (static)"
	@$(HOSTCC) $(PEER_CFLAGS) -o $@ bench/kvm/vmm.c bench/kvm/peer.c

$(PEER_OUT)/obj/guest.o: bench/kvm/guest.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(PEER_OUT)/benchkvm.elf64: $(PEER_OUT)/obj/guest.o $(GUEST_LIB_OBJS) $(GUEST_SRC)/lib/guest.ld
	@echo "  LD      $@"
	@$(GUEST_LD) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

$(PEER_GUEST): $(PEER_OUT)/benchkvm.elf64 $(GUEST_SRC)/mbcheck.py
	@echo "  ELF32   $@"
	@$(GUEST_OBJCOPY) -O elf32-i386 --strip-debug $< $@
	@$(GUEST_PYTHON) $(GUEST_SRC)/mbcheck.py $@ || { rm -f $@; exit 1; }

$(PEER_INITRAMFS): $(PEER_VMM) $(PEER_GUEST) $(LINUX_KERNEL) bench/kvm/init bench/kvm/mkinitramfs.sh \
		scripts/mkinitramfs.sh tests/linux/mkcpio.py
	@echo "  CPIO    $@"
	@PYTHON=$(LINUX_PYTHON) bench/kvm/mkinitramfs.sh $@ $(PEER_VMM) $(PEER_GUEST) $(LINUX_OUT)

-include $(PEER_OUT)/obj/guest.d
