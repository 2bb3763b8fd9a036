/* The table arena in fake physical memory and the table writers behind the ACPI parser tests (acpi_fixture.h): every
 * table lands at an odd address with its checksum fixed. */
#include <string.h>

#include "acpi_fixture.h"

static hpa_t arena; /* 2 MiB of fake physical memory for tables, cleared by every test */
static u64 arena_next;

void setup(void)
{
	if (!arena) {
		arena = frame_alloc(9);
		CHECK(arena != INVALID_HPA);
	}
	memset(phys_to_virt(arena), 0, 2 << 20);
	arena_next = arena + 0x1000;
	acpi_reset();
	test_last_log[0] = '\0';
}

u8 *va(u64 pa)
{
	return phys_to_virt(pa);
}

/* Room for len bytes at an odd address. */
static u64 alloc_pa(size_t len)
{
	u64 pa = arena_next + 3;

	arena_next = (pa + len + 0x40) & ~0xfULL;
	CHECK(arena_next < arena + (2 << 20));
	return pa;
}

static u8 sum(const u8 *p, size_t len)
{
	u8 s = 0;
	while (len--)
		s += *p++;
	return s;
}

void fix_checksum(u64 pa)
{
	struct acpi_header *h = (struct acpi_header *)va(pa);
	h->checksum = 0;
	h->checksum = (u8)-sum(va(pa), h->length);
}

u64 put_table_at(u64 pa, const char *sig, u8 rev, const void *body, size_t body_len)
{
	struct acpi_header h = {.length = (u32)(sizeof(h) + body_len), .revision = rev};

	if (!pa)
		pa = alloc_pa(h.length);
	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, "HVTEST", 6);
	memcpy(va(pa), &h, sizeof(h));
	memcpy(va(pa) + sizeof(h), body, body_len);
	fix_checksum(pa);
	return pa;
}

u64 put_table(const char *sig, u8 rev, const void *body, size_t body_len)
{
	return put_table_at(0, sig, rev, body, body_len);
}

u64 put_xsdt(const u64 *entries, size_t n)
{
	return put_table(ACPI_SIG_XSDT, 1, entries, n * 8);
}

u64 put_rsdt(const u32 *entries, size_t n)
{
	return put_table(ACPI_SIG_RSDT, 1, entries, n * 4);
}

struct acpi_rsdp make_rsdp(u8 rev, u64 rsdt, u64 xsdt)
{
	struct acpi_rsdp r = {.revision = rev, .rsdt_address = (u32)rsdt, .length = 36, .xsdt_address = xsdt};

	memcpy(r.signature, ACPI_SIG_RSDP, 8);
	memcpy(r.oem_id, "HVTEST", 6);
	r.checksum = (u8)-sum((const u8 *)&r, 20);
	r.ext_checksum = (u8)-sum((const u8 *)&r, 36);
	return r;
}

void init_with(const u64 *tables, size_t n)
{
	struct acpi_rsdp r = make_rsdp(2, 0, put_xsdt(tables, n));
	CHECK_EQ(acpi_init((const u8 *)&r, sizeof(r)), 0);
}
