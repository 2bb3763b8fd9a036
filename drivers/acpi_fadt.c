/* FADT parsing (PM1 and PM timer ports, SMI command, reset register, boot architecture flags, DSDT address) and the
 * \_S5_ soft-off sleep type from the DSDT. The FADT has grown across ACPI revisions and firmware ships every size,
 * so each field is read only if the table's length covers it. The _S5_ lookup is a pattern scan of the AML, not an
 * interpreter: enough for the fixed shape every compiler emits for Name(_S5_, Package(){...}). */
#include "drivers/acpi_internal.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

/* FADT field offsets, per the ACPI specification. */
#define FADT_DSDT	    40
#define FADT_SMI_CMD	    48
#define FADT_ACPI_ENABLE    52
#define FADT_ACPI_DISABLE   53
#define FADT_PM1A_EVT_BLK   56
#define FADT_PM1B_EVT_BLK   60
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM1B_CNT_BLK   68
#define FADT_PM_TMR_BLK	    76
#define FADT_PM1_CNT_LEN    89
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS	    112
#define FADT_RESET_REG	    116
#define FADT_RESET_VALUE    128
#define FADT_X_DSDT	    140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1B_EVT_BLK 160
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM1B_CNT_BLK 184
#define FADT_X_PM_TMR_BLK   208

#define NO_X_FIELD 0

/*
 * An I/O port from the 32-bit legacy field, replaced by the X_ generic address when the table holds one that is a
 * nonzero system-I/O address. Anything that does not fit a port is reported and treated as absent.
 */
static u16 fadt_port(const u8 *t, u32 len, u32 legacy_off, u32 x_off, const char *name)
{
	u64 port = 0;

	if (acpi_covers(len, legacy_off, 4))
		port = acpi_rd32(t + legacy_off);
	if (x_off != NO_X_FIELD && acpi_covers(len, x_off, sizeof(struct acpi_gas))) {
		u64 addr = acpi_rd64(t + x_off + offsetof(struct acpi_gas, address));

		if (addr && t[x_off + offsetof(struct acpi_gas, space_id)] == ACPI_GAS_SYSTEM_IO)
			port = addr;
	}
	if (port > 0xffff) {
		pr_warn("ACPI: FADT %s %#llx is not an I/O port, ignored\n", name, (unsigned long long)port);
		return 0;
	}
	return (u16)port;
}

static u8 fadt_u8(const u8 *t, u32 len, u32 off)
{
	return acpi_covers(len, off, 1) ? t[off] : 0;
}

int acpi_parse_fadt(struct acpi_fadt_info *out)
{
	const struct acpi_header *h;
	const u8 *t;
	u32 len;

	memset(out, 0, sizeof(*out));
	h = acpi_find_table(ACPI_SIG_FADT, 0);
	if (!h)
		return -ENOENT;
	t = (const u8 *)h;
	len = h->length;
	out->revision = h->revision;

	if (acpi_covers(len, FADT_FLAGS, 4))
		out->flags = acpi_rd32(t + FADT_FLAGS);
	if (acpi_covers(len, FADT_DSDT, 4))
		out->dsdt = acpi_rd32(t + FADT_DSDT);
	if (acpi_covers(len, FADT_X_DSDT, 8) && acpi_rd64(t + FADT_X_DSDT))
		out->dsdt = acpi_rd64(t + FADT_X_DSDT);

	out->smi_cmd = fadt_port(t, len, FADT_SMI_CMD, NO_X_FIELD, "SMI_CMD");
	out->acpi_enable = fadt_u8(t, len, FADT_ACPI_ENABLE);
	out->acpi_disable = fadt_u8(t, len, FADT_ACPI_DISABLE);
	out->pm1a_evt = fadt_port(t, len, FADT_PM1A_EVT_BLK, FADT_X_PM1A_EVT_BLK, "PM1a_EVT_BLK");
	out->pm1b_evt = fadt_port(t, len, FADT_PM1B_EVT_BLK, FADT_X_PM1B_EVT_BLK, "PM1b_EVT_BLK");
	out->pm1a_cnt = fadt_port(t, len, FADT_PM1A_CNT_BLK, FADT_X_PM1A_CNT_BLK, "PM1a_CNT_BLK");
	out->pm1b_cnt = fadt_port(t, len, FADT_PM1B_CNT_BLK, FADT_X_PM1B_CNT_BLK, "PM1b_CNT_BLK");
	out->pm1_cnt_len = fadt_u8(t, len, FADT_PM1_CNT_LEN);
	out->pm_tmr = fadt_port(t, len, FADT_PM_TMR_BLK, FADT_X_PM_TMR_BLK, "PM_TMR_BLK");
	out->pm_tmr_32bit = out->flags & ACPI_FADT_TMR_VAL_EXT;

	/* Reserved (zero) in revision 1, where zero would wrongly mean "no 8042, no legacy devices". */
	if (h->revision >= 2 && acpi_covers(len, FADT_IAPC_BOOT_ARCH, 2)) {
		out->has_boot_arch = true;
		out->boot_arch = acpi_rd16(t + FADT_IAPC_BOOT_ARCH);
	}

	if ((out->flags & ACPI_FADT_RESET_REG_SUP) && acpi_covers(len, FADT_RESET_VALUE, 1)) {
		out->reset_supported = true;
		memcpy(&out->reset_reg, t + FADT_RESET_REG, sizeof(out->reset_reg));
		out->reset_value = t[FADT_RESET_VALUE];
	}
	return 0;
}

/* AML opcodes and prefixes met around Name(_S5_, Package(){...}). */
#define AML_ZERO_OP	  0x00
#define AML_ONE_OP	  0x01
#define AML_NAME_OP	  0x08
#define AML_BYTE_PREFIX	  0x0a
#define AML_WORD_PREFIX	  0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_QWORD_PREFIX  0x0e
#define AML_PACKAGE_OP	  0x12
#define AML_ROOT_CHAR	  '\\'
#define AML_PARENT_PREFIX '^'

/* A little-endian integer of n bytes at aml[*pos], within end. */
static int aml_fixed(const u8 *aml, u32 end, u32 *pos, unsigned int n, u64 *val)
{
	if (!acpi_covers(end, *pos, n))
		return -EINVAL;
	*val = 0;
	for (unsigned int i = 0; i < n; i++)
		*val |= (u64)aml[*pos + i] << (8 * i);
	*pos += n;
	return 0;
}

/* One ComputationalData integer at aml[*pos]; anything else (a method call, a string...) is malformed here. */
static int aml_integer(const u8 *aml, u32 end, u32 *pos, u64 *val)
{
	u8 op;

	if (*pos >= end)
		return -EINVAL;
	op = aml[(*pos)++];
	switch (op) {
	case AML_ZERO_OP:
		*val = 0;
		return 0;
	case AML_ONE_OP:
		*val = 1;
		return 0;
	case AML_BYTE_PREFIX:
		return aml_fixed(aml, end, pos, 1, val);
	case AML_WORD_PREFIX:
		return aml_fixed(aml, end, pos, 2, val);
	case AML_DWORD_PREFIX:
		return aml_fixed(aml, end, pos, 4, val);
	case AML_QWORD_PREFIX:
		return aml_fixed(aml, end, pos, 8, val);
	default:
		return -EINVAL;
	}
}

/*
 * The package after the PackageOp at aml[pos - 1]:
 *   PkgLength   lead byte; bits 7:6 = count of extra bytes (0-3). With none, bits 5:0 are the length; with some,
 *               bits 3:0 are the low nibble, bits 5:4 must be zero, and each extra byte adds 8 more bits. The
 *               length counts itself and everything after it in the package.
 *   NumElements one byte
 *   elements    SLP_TYPa, SLP_TYPb, then reserved ones we do not read
 */
static int parse_s5_package(const u8 *aml, u32 n, u32 pos, u8 *slp_typa, u8 *slp_typb)
{
	u32 start = pos, extra, pkglen, end;
	u64 typ[2];
	u8 lead;

	if (pos >= n)
		return -EINVAL;
	lead = aml[pos++];
	extra = lead >> 6;
	if (extra && (lead & 0x30))
		return -EINVAL;
	if (!acpi_covers(n, pos, extra))
		return -EINVAL;
	pkglen = extra ? lead & 0x0f : lead & 0x3f;
	for (u32 i = 0; i < extra; i++)
		pkglen |= (u32)aml[pos++] << (4 + 8 * i);
	if (!acpi_covers(n, start, pkglen) || pkglen < extra + 2)
		return -EINVAL;
	end = start + pkglen;

	if (aml[pos++] < 2) /* NumElements */
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		if (aml_integer(aml, end, &pos, &typ[i]) < 0 || typ[i] > 0xff)
			return -EINVAL;
	}
	*slp_typa = (u8)typ[0];
	*slp_typb = (u8)typ[1];
	return 0;
}

int acpi_find_s5(u8 *slp_typa, u8 *slp_typb)
{
	const struct acpi_header *dsdt;
	struct acpi_fadt_info fadt;
	const char *why;
	const u8 *aml;
	u32 n;
	int ret;

	ret = acpi_parse_fadt(&fadt);
	if (ret < 0)
		return ret;
	if (!fadt.dsdt)
		return -ENOENT;
	dsdt = acpi_check_table(fadt.dsdt, ACPI_SIG_DSDT, &why);
	if (!dsdt) {
		pr_warn("ACPI: DSDT at %#llx: %s\n", (unsigned long long)fadt.dsdt, why);
		return -EINVAL;
	}
	aml = (const u8 *)dsdt + sizeof(*dsdt);
	n = dsdt->length - (u32)sizeof(*dsdt);

	for (u32 i = 0; acpi_covers(n, i, 4); i++) {
		bool named;

		if (memcmp(aml + i, "_S5_", 4) != 0)
			continue;
		named = (i >= 1 && aml[i - 1] == AML_NAME_OP) ||
			(i >= 2 && aml[i - 2] == AML_NAME_OP &&
			 (aml[i - 1] == AML_ROOT_CHAR || aml[i - 1] == AML_PARENT_PREFIX));
		if (i + 4 >= n) {
			pr_warn("ACPI: DSDT ends inside _S5_\n");
			return -EINVAL;
		}
		/* Not a definition: some other use of the name, such as a reference inside a method. */
		if (aml[i + 4] != AML_PACKAGE_OP && !named)
			continue;
		if (aml[i + 4] != AML_PACKAGE_OP || parse_s5_package(aml, n, i + 5, slp_typa, slp_typb) < 0) {
			pr_warn("ACPI: DSDT _S5_ at offset %u is malformed\n", i + (u32)sizeof(*dsdt));
			return -EINVAL;
		}
		return 0;
	}
	return -ENOENT;
}
