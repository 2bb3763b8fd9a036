# The Linux virtio-console test (issue 16): an initramfs with virtio_pci and virtio_console (scripts/kmods.py, KMODS
# of scripts/mkinitramfs.sh) and tests/linux/hvc/init. Included from tests/linux/linux.mk.
#   make linux-hvc   build/linux/initramfs-hvc.cpio.gz

LINUX_HVC_INITRAMFS := $(LINUX_OUT)/initramfs-hvc.cpio.gz
LINUX_HVC_KMODS     := virtio_pci virtio_console

.PHONY: linux-hvc
linux-hvc: $(LINUX_HVC_INITRAMFS)

$(LINUX_HVC_INITRAMFS): scripts/mkinitramfs.sh scripts/kmods.py tests/linux/hvc/init tests/linux/mkcpio.py \
		$(LINUX_KERNEL) $(LINUX_INITRAMFS) tests/linux/hvc/hvc.mk
	@echo "  CPIO    $@"
	@PYTHON=$(LINUX_PYTHON) KMODS="$(LINUX_HVC_KMODS)" LINUX_DIR=$(LINUX_OUT) scripts/mkinitramfs.sh $@ \
		tests/linux/hvc/init
