# The two-VM network test (issue 16): an initramfs with virtio_pci and virtio_net (and what they need) and
# tests/linux/net/init, which pings the peer and moves 16 MiB with busybox nc. Included from tests/linux/linux.mk.
#   make linux-net          build/linux/initramfs-net.cpio.gz
#   make linux-net-qemu     two plain QEMUs joined by -netdev socket, QEMU's virtio-net-pci, no hypervisor

LINUX_NET_INITRAMFS := $(LINUX_OUT)/initramfs-net.cpio.gz
LINUX_NET_KMODS     := virtio_pci virtio_net

.PHONY: linux-net linux-net-qemu
linux-net: $(LINUX_NET_INITRAMFS)

$(LINUX_NET_INITRAMFS): scripts/mkinitramfs.sh scripts/kmods.py tests/linux/net/init tests/linux/mkcpio.py \
		$(LINUX_KERNEL) tests/linux/net/net.mk
	@echo "  CPIO    $@"
	@PYTHON=$(LINUX_PYTHON) KMODS="$(LINUX_NET_KMODS)" LINUX_DIR=$(LINUX_OUT) scripts/mkinitramfs.sh $@ \
		tests/linux/net/init

linux-net-qemu: $(LINUX_KERNEL) $(LINUX_NET_INITRAMFS)
	@$(LINUX_PYTHON) tests/linux/net/net_check.py --kernel $(LINUX_KERNEL) --initrd $(LINUX_NET_INITRAMFS)
