/* Helpers shared by the ACPI table parsers (drivers/acpi*.c) and nothing else. Table fields are read by offset
 * through these loads: firmware places tables at any byte alignment, and a packed-struct overlay would invite reads
 * past a short table. */
#ifndef HV_DRIVERS_ACPI_INTERNAL_H
#define HV_DRIVERS_ACPI_INTERNAL_H

#include "drivers/acpi.h"

static inline u16 acpi_rd16(const u8 *p)
{
	u16 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u32 acpi_rd32(const u8 *p)
{
	u32 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u64 acpi_rd64(const u8 *p)
{
	u64 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/* True if a table of len bytes holds the size bytes at offset off. */
static inline bool acpi_covers(u32 len, u32 off, u32 size)
{
	return (u64)off + size <= len;
}

/* Like acpi_map_table but silent: NULL with *why set to the reason. */
const struct acpi_header *acpi_check_table(u64 pa, const char *sig, const char **why);

#endif
