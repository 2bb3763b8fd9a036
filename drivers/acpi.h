/* ACPI static tables: find them from the RSDP and extract what the hypervisor needs at boot (CPUs and IOAPICs from
 * the MADT, PM ports and the reset register from the FADT, the S5 sleep type from the DSDT). Firmware tables are
 * treated as hostile input: every table is checked for signature, length and checksum before use, and no read goes
 * past a table's length. */
#ifndef HV_DRIVERS_ACPI_H
#define HV_DRIVERS_ACPI_H

#include "hv/compiler.h"
#include "hv/types.h"

#define ACPI_SIG_RSDP "RSD PTR "
#define ACPI_SIG_RSDT "RSDT"
#define ACPI_SIG_XSDT "XSDT"
#define ACPI_SIG_MADT "APIC"
#define ACPI_SIG_FADT "FACP"
#define ACPI_SIG_DSDT "DSDT"

/* Sanity caps: anything beyond these is firmware garbage, not a real machine. */
#define ACPI_MAX_TABLE_LEN    (16u << 20)
#define ACPI_MAX_ROOT_ENTRIES 256
#define ACPI_MAX_MADT_ENTRIES 65536

struct acpi_rsdp {
	char signature[8];
	u8 checksum; /* over the first 20 bytes */
	char oem_id[6];
	u8 revision; /* 0: ACPI 1.0, 20 bytes; >= 2: the fields below are valid */
	u32 rsdt_address;
	u32 length;
	u64 xsdt_address;
	u8 ext_checksum; /* over `length` bytes */
	u8 reserved[3];
} __packed;
static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

struct acpi_header {
	char signature[4];
	u32 length; /* of the whole table, header included */
	u8 revision;
	u8 checksum; /* all `length` bytes sum to zero */
	char oem_id[6];
	char oem_table_id[8];
	u32 oem_revision;
	u32 creator_id;
	u32 creator_revision;
} __packed;
static_assert(sizeof(struct acpi_header) == 36, "ACPI table header layout");

/* Generic Address Structure. */
struct acpi_gas {
	u8 space_id;
	u8 bit_width;
	u8 bit_offset;
	u8 access_size;
	u64 address;
} __packed;
static_assert(sizeof(struct acpi_gas) == 12, "GAS layout");

#define ACPI_GAS_SYSTEM_MEMORY 0
#define ACPI_GAS_SYSTEM_IO     1

/* ---- MADT ---- */

#define ACPI_MAX_CPUS	 64
#define ACPI_MAX_IOAPICS 8
#define ACPI_MAX_ISOS	 16

#define ACPI_MADT_PCAT_COMPAT BIT(0) /* dual 8259s present: mask them */

struct acpi_madt_cpu {
	u32 apic_id;
	u32 acpi_uid;
	bool enabled;
	bool online_capable; /* disabled now, but the OS may enable it */
	bool x2apic;	     /* from a type-9 (x2APIC) entry */
};

struct acpi_madt_ioapic {
	u8 id;
	u32 address;
	u32 gsi_base;
};

/* Interrupt source override: ISA IRQ source_irq is wired to gsi; flags are MPS INTI polarity/trigger bits. */
struct acpi_madt_iso {
	u8 bus;
	u8 source_irq;
	u32 gsi;
	u16 flags;
};

struct acpi_madt_info {
	u64 lapic_base; /* MADT header's, or the type-5 override's */
	u32 flags;	/* ACPI_MADT_PCAT_COMPAT */
	/* CPUs in table order (the boot CPU comes first by spec). Entries neither enabled nor online-capable can never
	 * run and are only counted, so placeholder entries do not use up slots or look like duplicate IDs. */
	struct acpi_madt_cpu cpus[ACPI_MAX_CPUS];
	u32 nr_cpus;
	u32 nr_cpus_unusable; /* neither enabled nor online-capable */
	u32 nr_cpus_dropped;  /* usable, but beyond ACPI_MAX_CPUS */
	struct acpi_madt_ioapic ioapics[ACPI_MAX_IOAPICS];
	u32 nr_ioapics;
	struct acpi_madt_iso isos[ACPI_MAX_ISOS];
	u32 nr_isos;
	u32 nr_lapic_nmis; /* types 4 and 0xA */
};

/* ---- FADT ---- */

#define ACPI_FADT_TMR_VAL_EXT	BIT(8) /* PM timer is 32 bits wide, not 24 */
#define ACPI_FADT_RESET_REG_SUP BIT(10)

#define ACPI_BOOT_ARCH_LEGACY_DEVICES BIT(0)
#define ACPI_BOOT_ARCH_8042	      BIT(1)

/* I/O ports are 0 when absent (or when the table gave something that is not an I/O port). */
struct acpi_fadt_info {
	u8 revision;
	u32 flags; /* ACPI_FADT_*; 0 if the table is too short to hold them */
	u64 dsdt;  /* physical address: X_DSDT if present and nonzero, else DSDT */
	u16 smi_cmd;
	u8 acpi_enable;
	u8 acpi_disable;
	u16 pm1a_evt, pm1b_evt;
	u16 pm1a_cnt, pm1b_cnt;
	u8 pm1_cnt_len;
	u16 pm_tmr;
	bool pm_tmr_32bit;
	/* IAPC_BOOT_ARCH is only meaningful from FADT revision 2 on; before that, assume legacy devices and an 8042. */
	bool has_boot_arch;
	u16 boot_arch;	      /* ACPI_BOOT_ARCH_* */
	bool reset_supported; /* RESET_REG_SUP set and the table long enough to hold the register and value */
	struct acpi_gas reset_reg;
	u8 reset_value;
};

/*
 * Validates the RSDP (a copy, e.g. from the multiboot2 ACPI tag, of len bytes) and remembers its root table: the
 * XSDT for revision >= 2 with a valid extended checksum, else the RSDT. A bad XSDT falls back to the RSDT.
 * Returns 0, -EINVAL for a bad RSDP, or -ENOENT if no valid root table is reachable.
 */
int acpi_init(const u8 *rsdp_copy, size_t len);
/* Forgets everything acpi_init learnt. */
void acpi_reset(void);

/* The instance'th valid table with this signature in the root table, or NULL. Invalid candidates (bad length or
 * checksum) are skipped and warned about once each. */
const struct acpi_header *acpi_find_table(const char sig[4], unsigned int instance);

/* The table at physical address pa if its signature (when sig is non-NULL), length and checksum are good; for tables
 * reached other than through the root table, such as the DSDT. Warns and returns NULL otherwise. */
const struct acpi_header *acpi_map_table(u64 pa, const char *sig);

/* Fill *out from the MADT. 0, -ENOENT if there is no valid MADT, -EINVAL if it is too short to hold its header.
 * A malformed entry stops the walk (with a warning); what came before it is kept. */
int acpi_parse_madt(struct acpi_madt_info *out);

/* Fill *out from the FADT, reading only the fields its length covers. 0, or -ENOENT if there is no valid FADT. */
int acpi_parse_fadt(struct acpi_fadt_info *out);

/* SLP_TYPa/SLP_TYPb for soft-off, from the \_S5_ package in the DSDT. 0, -ENOENT if there is no FADT, DSDT or _S5_,
 * -EINVAL if the DSDT is invalid or the package is malformed or truncated. */
int acpi_find_s5(u8 *slp_typa, u8 *slp_typb);

#endif
