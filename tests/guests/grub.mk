# A guest this project did not write: a GRUB 2 core image (grub-mkimage -O i386-multiboot) with
# tests/guests/grub/embedded.cfg built in; it prints over COM1 and ends the run through isa-debug-exit.
# Included from the top Makefile after BUILD is set; `make grub-guest` builds build/guests/grub-core.elf.
# The first build may compile GRUB's i386-multiboot platform into build/grub/ (about a minute, see
# tests/guests/grub/build.sh); later builds reuse it.

GRUB_GUEST_SRC := tests/guests/grub
GRUB_GUEST_BUILD := $(if $(BUILD),$(BUILD),build)
GRUB_GUEST_ELF := $(GRUB_GUEST_BUILD)/guests/grub-core.elf

.PHONY: grub-guest
grub-guest: $(GRUB_GUEST_ELF)

$(GRUB_GUEST_ELF): $(GRUB_GUEST_SRC)/build.sh $(GRUB_GUEST_SRC)/embedded.cfg
	@echo "  GRUB    $@"
	@sh $(GRUB_GUEST_SRC)/build.sh $@ $(GRUB_GUEST_BUILD)/grub
