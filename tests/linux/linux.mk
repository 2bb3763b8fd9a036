# The Linux guest: Debian's linux-image-amd64 kernel exactly as packaged, and an initramfs of Debian's busybox-static
# with tests/linux/init, which runs the checks and powers off. Both packages are downloaded, not installed. Included
# from the top Makefile after BUILD is set.
#   make linux-kernel      build/linux/vmlinuz and build/linux/version (scripts/get-linux.sh)
#   make linux-initramfs   build/linux/initramfs.cpio.gz (scripts/mkinitramfs.sh, tests/linux/mkcpio.py)
#   make linux-qemu        boots both under plain QEMU, no hypervisor, with and without icount, and checks the lines
#   make linux-shell       the same guest under plain QEMU with a shell on this terminal (hv.interactive)

LINUX_OUT       := $(if $(BUILD),$(BUILD),build)/linux
LINUX_KERNEL    := $(LINUX_OUT)/vmlinuz
LINUX_INITRAMFS := $(LINUX_OUT)/initramfs.cpio.gz
LINUX_TEXT      := $(LINUX_OUT)/text-range
LINUX_PYTHON    := $(if $(PYTHON),$(PYTHON),python3)

.PHONY: linux linux-kernel linux-initramfs linux-qemu linux-shell
linux: linux-kernel linux-initramfs linux-disk linux-net linux-hvc
linux-kernel: $(LINUX_KERNEL) $(LINUX_TEXT)
linux-initramfs: $(LINUX_INITRAMFS)

# get-linux.sh leaves an up-to-date kernel alone; the touch keeps make from running it again after the script changed.
$(LINUX_KERNEL): scripts/get-linux.sh
	@echo "  LINUX   $@"
	@scripts/get-linux.sh $(LINUX_OUT)
	@touch $@

# The kernel text's guest-physical range under nokaslr, for the protect= demonstration (tests/integration/suite.py).
$(LINUX_TEXT): $(LINUX_KERNEL) scripts/linux-text-range.py
	@$(LINUX_PYTHON) scripts/linux-text-range.py $< > $@.tmp && mv $@.tmp $@

$(LINUX_INITRAMFS): scripts/mkinitramfs.sh tests/linux/init tests/linux/mkcpio.py
	@echo "  CPIO    $@"
	@PYTHON=$(LINUX_PYTHON) scripts/mkinitramfs.sh $@ tests/linux/init

linux-qemu: $(LINUX_KERNEL) $(LINUX_INITRAMFS)
	@$(LINUX_PYTHON) tests/linux/qemu_check.py --kernel $(LINUX_KERNEL) --initrd $(LINUX_INITRAMFS)

linux-shell: $(LINUX_KERNEL) $(LINUX_INITRAMFS)
	qemu-system-x86_64 -accel tcg -cpu max -m 512M -kernel $(LINUX_KERNEL) -initrd $(LINUX_INITRAMFS) \
		-append "console=ttyS0 quiet panic=-1 hv.interactive" -display none -serial mon:stdio -no-reboot

include tests/linux/disk/disk.mk
include tests/linux/net/net.mk
include tests/linux/hvc/hvc.mk
