/* The fixture shared by the multiboot2 parser tests (test_mb2*.c): a block builder that lays out tags one by one,
 * and a parse that runs on an exact-size heap copy of the block, so ASan reports any read past total_size or past
 * `avail`. */
#ifndef MB2_FIXTURE_H
#define MB2_FIXTURE_H

#include "boot/mb2.h"
#include "fake_platform.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "test.h"

#define BLK_CAP	 65536
#define MBI_PHYS 0x10000ULL

struct mbb {
	u8 buf[BLK_CAP] __aligned(8);
	u32 len;
};

struct ent {
	u64 base, len;
	u32 type;
};

struct efid {
	u32 type;
	u64 phys, pages;
};

extern struct mbb blk;
extern struct boot_info bi;

void put32(u8 *p, u32 v);
u32 get32(const u8 *p);

void mbb_init(struct mbb *b);
/* Start a tag of `size` bytes (header included) at the next 8-byte boundary and return it. */
u8 *mbb_tag(struct mbb *b, u32 type, u32 size);
void mbb_end(struct mbb *b);
/* The tag builders return the tag's offset in the block. */
u32 mbb_str(struct mbb *b, u32 type, const char *s);
u32 mbb_module(struct mbb *b, u32 start, u32 end, const char *s);
u32 mbb_mmap(struct mbb *b, const struct ent *e, u32 n, u32 esz);
u32 mbb_efi_mmap(struct mbb *b, const struct efid *d, u32 n, u32 dsz);
void mbb_u64(struct mbb *b, u32 type, u64 v);
/* A valid RSDP of revision 0 (20 bytes) or 2 (36 bytes) with recognisable table addresses. */
void make_rsdp(u8 *r, u8 rev, u32 rsdt);
u8 *mbb_rsdp(struct mbb *b, u8 rev, u32 rsdt); /* returns the RSDP inside the tag */

/* Parse `len` bytes of `src` from an exact-size heap copy, so the block's end is an ASan redzone. */
int parse_bytes(const u8 *src, u32 len, struct boot_info *out);
int parse(const struct mbb *b); /* into bi */

/* One block with every tag kind the parser knows, plus ignored and unknown ones (build_full), its memory map and the
 * RSDP v2 it carries. */
extern const struct ent full_map[9];
extern u8 full_rsdp_v2[36];
void build_full(struct mbb *b);

#endif
