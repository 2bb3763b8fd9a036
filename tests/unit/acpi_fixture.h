/* The fixture shared by the ACPI parser tests (test_acpi.c, test_acpi_madt.c, test_acpi_fadt.c): tables laid out in
 * fake physical memory, deliberately at odd addresses so unaligned reads are exercised, by writers that fix the
 * checksums, and an acpi_init over an RSDP that lists them. */
#ifndef ACPI_FIXTURE_H
#define ACPI_FIXTURE_H

#include "drivers/acpi.h"
#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "test.h"

/* Clear the table arena and the parser's state, and forget the last log line. */
void setup(void);
u8 *va(u64 pa);
void fix_checksum(u64 pa);
/* A table with a standard header and the given body, at pa (or a fresh address if pa is 0). */
u64 put_table_at(u64 pa, const char *sig, u8 rev, const void *body, size_t body_len);
u64 put_table(const char *sig, u8 rev, const void *body, size_t body_len);
u64 put_xsdt(const u64 *entries, size_t n);
u64 put_rsdt(const u32 *entries, size_t n);
struct acpi_rsdp make_rsdp(u8 rev, u64 rsdt, u64 xsdt);
/* acpi_init over an RSDP v2 whose XSDT lists the given tables. */
void init_with(const u64 *tables, size_t n);

#endif
