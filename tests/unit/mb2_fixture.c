/* The multiboot2 block builder and the exact-size parse behind the mb2 tests (mb2_fixture.h), and the full block
 * that carries every tag kind. */
#include <stdlib.h>
#include <string.h>

#include "mb2_fixture.h"

struct mbb blk;
struct boot_info bi;

void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

void mbb_init(struct mbb *b)
{
	memset(b->buf, 0, sizeof(b->buf));
	b->len = 8;
}

u8 *mbb_tag(struct mbb *b, u32 type, u32 size)
{
	u8 *t;

	b->len = ALIGN_UP(b->len, 8);
	CHECK(b->len + size <= BLK_CAP);
	t = b->buf + b->len;
	put32(t, type);
	put32(t + 4, size);
	b->len += size;
	return t;
}

void mbb_end(struct mbb *b)
{
	mbb_tag(b, 0, 8);
	put32(b->buf, b->len);
}

u32 mbb_str(struct mbb *b, u32 type, const char *s)
{
	u32 n = (u32)strlen(s) + 1;
	u8 *t = mbb_tag(b, type, 8 + n);

	memcpy(t + 8, s, n);
	return (u32)(t - b->buf);
}

u32 mbb_module(struct mbb *b, u32 start, u32 end, const char *s)
{
	u32 n = (u32)strlen(s) + 1;
	u8 *t = mbb_tag(b, 3, 16 + n);

	put32(t + 8, start);
	put32(t + 12, end);
	memcpy(t + 16, s, n);
	return (u32)(t - b->buf);
}

u32 mbb_mmap(struct mbb *b, const struct ent *e, u32 n, u32 esz)
{
	u8 *t = mbb_tag(b, 6, 16 + n * esz);

	put32(t + 8, esz);
	for (u32 i = 0; i < n; i++) {
		u8 *p = t + 16 + i * esz;

		put64(p, e[i].base);
		put64(p + 8, e[i].len);
		put32(p + 16, e[i].type);
		memset(p + 24, 0xee, esz - 24); /* a future entry version's extra fields must be skipped, not read */
	}
	return (u32)(t - b->buf);
}

u32 mbb_efi_mmap(struct mbb *b, const struct efid *d, u32 n, u32 dsz)
{
	u8 *t = mbb_tag(b, 17, 16 + n * dsz);

	put32(t + 8, dsz);
	put32(t + 12, 1);
	for (u32 i = 0; i < n; i++) {
		u8 *p = t + 16 + i * dsz;

		put32(p, d[i].type);
		put64(p + 8, d[i].phys);
		put64(p + 16, 0xffff800000000000ULL + d[i].phys);
		put64(p + 24, d[i].pages);
		put64(p + 32, 0xf);
		memset(p + 40, 0xee, dsz - 40);
	}
	return (u32)(t - b->buf);
}

void mbb_u64(struct mbb *b, u32 type, u64 v)
{
	put64(mbb_tag(b, type, 16) + 8, v);
}

static void mbb_u32(struct mbb *b, u32 type, u32 v)
{
	put32(mbb_tag(b, type, 12) + 8, v);
}

static u8 sum8(const u8 *p, u32 n)
{
	u8 s = 0;

	while (n--)
		s += *p++;
	return s;
}

void make_rsdp(u8 *r, u8 rev, u32 rsdt)
{
	u32 len = rev ? 36 : 20;

	memset(r, 0, len);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "HVTEST", 6);
	r[15] = rev;
	put32(r + 16, rsdt);
	r[8] = (u8)-sum8(r, 20);
	if (rev) {
		put32(r + 20, 36);
		put64(r + 24, 0x7fe1000ULL + rsdt);
		r[32] = (u8)-sum8(r, 36);
	}
}

u8 *mbb_rsdp(struct mbb *b, u8 rev, u32 rsdt)
{
	u8 *t = mbb_tag(b, rev ? 15 : 14, 8 + (rev ? 36 : 20));

	make_rsdp(t + 8, rev, rsdt);
	return t + 8;
}

int parse_bytes(const u8 *src, u32 len, struct boot_info *out)
{
	u8 *p = malloc(len ? len : 1);
	int ret;

	CHECK(p);
	memcpy(p, src, len);
	ret = mb2_parse(p, len, MBI_PHYS, out);
	free(p);
	return ret;
}

int parse(const struct mbb *b)
{
	return parse_bytes(b->buf, b->len, &bi);
}

const struct ent full_map[] = {
    {0x0, 0x9fc00, 1},	       {0x9fc00, 0x400, 2},	 {0xf0000, 0x10000, 2},
    {0x100000, 0x7fde0000, 1}, {0x7fee0000, 0x10000, 3}, {0x7fef0000, 0x10000, 4},
    {0x80000000, 0x1000, 5},   {0xfec00000, 0x1000, 12}, {0x100000000, 0x80000000, 1},
};

u8 full_rsdp_v2[36];

/* One block with every tag kind the parser knows, plus ignored and unknown ones, in a GRUB-like order except that
 * the old RSDP comes first so that "v2 wins" is not an accident of order. */
void build_full(struct mbb *b)
{
	mbb_init(b);
	mbb_str(b, 1, "loglevel=7 console=com1");
	mbb_str(b, 2, "GRUB 2.06-13+deb12u1");
	mbb_module(b, 0x200000, 0x280000, "guest.bin root=/dev/vda");
	mbb_module(b, 0x300000, 0x301000, "initrd");
	put64(mbb_tag(b, 4, 16) + 8, 0x27f0000000280ULL); /* basic meminfo: ignored */
	mbb_tag(b, 5, 20);				  /* bootdev: ignored */
	mbb_mmap(b, full_map, ARRAY_SIZE(full_map), 24);
	mbb_tag(b, 8, 38);  /* framebuffer: ignored */
	mbb_tag(b, 9, 20);  /* ELF sections: ignored */
	mbb_tag(b, 10, 28); /* APM: ignored */
	mbb_rsdp(b, 0, 0x7fe0000);
	memcpy(full_rsdp_v2, mbb_rsdp(b, 2, 0x7fe0100), 36);
	mbb_u64(b, 12, 0x7f9e0018ULL);
	mbb_tag(b, 16, 64);	       /* network: ignored */
	mbb_u64(b, 20, 0x7e1c1198ULL); /* EFI64 image handle */
	mbb_u32(b, 21, 0x1000000);
	mbb_tag(b, 99, 13); /* unknown: skipped */
	mbb_end(b);
}
