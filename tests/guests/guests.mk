# Guest test kernels: tests/guests/NAME.c plus tests/guests/lib/ -> build/guests/NAME.elf, a Multiboot 1 image in
# ELF32 form (what QEMU -kernel and multiboot loaders accept) holding 64-bit code. Included from the top Makefile,
# after BUILD is set; `make guests` builds them all, `make guests-qemu` runs each under plain QEMU as a cross-check.
# Own flags on purpose: guests are not the kernel (no -mcmodel=kernel; linked at 1 MiB).

GUEST_CC      := $(CROSS_COMPILE)gcc
GUEST_LD      := $(CROSS_COMPILE)ld
GUEST_OBJCOPY := $(CROSS_COMPILE)objcopy
GUEST_PYTHON  := $(if $(PYTHON),$(PYTHON),python3)
GUEST_SRC     := tests/guests
GUEST_OUT     := $(if $(BUILD),$(BUILD),build)/guests

GUEST_NAMES    := $(sort $(basename $(notdir $(wildcard $(GUEST_SRC)/*.c))))
GUEST_LIB_SRCS := $(sort $(wildcard $(GUEST_SRC)/lib/*.c $(GUEST_SRC)/lib/*.S))
GUEST_LIB_OBJS := $(patsubst $(GUEST_SRC)/%,$(GUEST_OUT)/obj/%.o,$(GUEST_LIB_SRCS))
# A guest too big for one file keeps the rest in tests/guests/NAME/ (.c and .S), linked into NAME.elf only.
guest_part_objs = $(patsubst $(GUEST_SRC)/%,$(GUEST_OUT)/obj/%.o,$(sort $(wildcard $(GUEST_SRC)/$(1)/*.c $(GUEST_SRC)/$(1)/*.S)))
GUEST_PART_OBJS := $(foreach n,$(GUEST_NAMES),$(call guest_part_objs,$(n)))
GUEST_OBJS     := $(GUEST_NAMES:%=$(GUEST_OUT)/obj/%.c.o) $(GUEST_PART_OBJS) $(GUEST_LIB_OBJS)
GUEST_ELFS     := $(GUEST_NAMES:%=$(GUEST_OUT)/%.elf)

GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -fno-stack-protector -fno-pic -fno-pie \
	-fno-strict-aliasing -m64 -mcmodel=small -mno-red-zone -mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2 \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables -fcf-protection=none \
	-I$(GUEST_SRC)/lib -MMD -MP
GUEST_ASFLAGS := -m64 -I$(GUEST_SRC)/lib -MMD -MP -D__ASSEMBLY__
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib -static -T $(GUEST_SRC)/lib/guest.ld -z max-page-size=0x1000 \
	-z noexecstack --no-warn-rwx-segments

.PHONY: guests guests-qemu
guests: $(GUEST_ELFS)

$(GUEST_OUT)/obj/%.c.o: $(GUEST_SRC)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/obj/%.S.o: $(GUEST_SRC)/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(GUEST_CC) $(GUEST_ASFLAGS) -c $< -o $@

# NAME.elf64 keeps the debug information (gdb, addr2line); NAME.elf is what a loader gets.
.SECONDEXPANSION:
$(GUEST_OUT)/%.elf64: $(GUEST_OUT)/obj/%.c.o $$(call guest_part_objs,$$*) $(GUEST_LIB_OBJS) $(GUEST_SRC)/lib/guest.ld
	@echo "  LD      $@"
	@$(GUEST_LD) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

$(GUEST_OUT)/%.elf: $(GUEST_OUT)/%.elf64 $(GUEST_SRC)/mbcheck.py
	@echo "  ELF32   $@"
	@$(GUEST_OBJCOPY) -O elf32-i386 --strip-debug $< $@
	@$(GUEST_PYTHON) $(GUEST_SRC)/mbcheck.py $@ || { rm -f $@; exit 1; }

.SECONDARY: $(GUEST_OBJS) $(GUEST_ELFS:.elf=.elf64)

guests-qemu: $(GUEST_ELFS)
	@$(GUEST_PYTHON) $(GUEST_SRC)/qemu_check.py --out $(GUEST_OUT)

-include $(GUEST_OBJS:.o=.d)
