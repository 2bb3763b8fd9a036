# The Linux disk boot (issue 16): an ext4 root file system image and the initramfs that mounts it. Included from
# tests/linux/linux.mk.
#   make linux-disk        build/linux/disk.img and disk-vdb.img (scripts/mkdiskimg.sh), build/linux/initramfs-disk.cpio.gz
#   make linux-disk-qemu   boots them under plain QEMU with QEMU's virtio-blk-pci, no hypervisor, and checks the lines
# The initramfs carries the kernel modules of LINUX_DISK_KMODS and what they need (scripts/kmods.py): virtio over PCI,
# virtio-blk, ext4 (crc32c_generic, which ext4's metadata checksums ask the crypto API for, is loaded first: busybox
# insmod cannot follow its alias) and virtio-net with net_failover, for the two-VM network test.

LINUX_DISK_IMG       := $(LINUX_OUT)/disk.img
LINUX_DISK_INITRAMFS := $(LINUX_OUT)/initramfs-disk.cpio.gz
LINUX_DISK_KMODS     := virtio_pci virtio_blk crc32c_generic ext4 virtio_net

.PHONY: linux-disk linux-disk-qemu
linux-disk: $(LINUX_DISK_IMG) $(LINUX_OUT)/disk-vdb.img $(LINUX_DISK_INITRAMFS)

# Written with the image (mkdiskimg.sh); a deleted one is made again with it.
$(LINUX_OUT)/disk-vdb.img: $(LINUX_DISK_IMG)
	@test -f $@ || { rm -f $<; $(MAKE) --no-print-directory $<; }

# The busybox .deb comes with the main initramfs.
$(LINUX_DISK_IMG): scripts/mkdiskimg.sh tests/linux/disk/rootinit $(LINUX_INITRAMFS)
	@echo "  EXT4    $@"
	@PYTHON=$(LINUX_PYTHON) scripts/mkdiskimg.sh $@ tests/linux/disk/rootinit

$(LINUX_DISK_INITRAMFS): scripts/mkinitramfs.sh scripts/kmods.py tests/linux/disk/init tests/linux/mkcpio.py \
		$(LINUX_KERNEL) tests/linux/disk/disk.mk
	@echo "  CPIO    $@"
	@PYTHON=$(LINUX_PYTHON) KMODS="$(LINUX_DISK_KMODS)" LINUX_DIR=$(LINUX_OUT) scripts/mkinitramfs.sh $@ \
		tests/linux/disk/init

linux-disk-qemu: $(LINUX_KERNEL) $(LINUX_DISK_IMG) $(LINUX_OUT)/disk-vdb.img $(LINUX_DISK_INITRAMFS)
	@$(LINUX_PYTHON) tests/linux/disk/disk_check.py --kernel $(LINUX_KERNEL) --initrd $(LINUX_DISK_INITRAMFS) \
		--disk $(LINUX_DISK_IMG)
