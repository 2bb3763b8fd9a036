/* The guest walker tests' fake guest memory and table builders (gwalk_fixture.h). */
#include <string.h>

#include "gwalk_fixture.h"

u8 gmem[GMEM_SIZE];
static gpa_t next_table;
gpa_t fail_gpa = ~0ULL;
int fail_err;
int races;
int cmpxchg_err;
unsigned int nreads, ncmpxchg;
struct gwalk_result res;

static int read_gpa(void *opaque, gpa_t gpa, void *buf, unsigned int len)
{
	CHECK(len == 4 || len == 8);
	CHECK(opaque == gmem);
	nreads++;
	if (gpa == fail_gpa)
		return fail_err;
	if (gpa >= GMEM_SIZE || len > GMEM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, gmem + gpa, len);
	return 0;
}

static int cmpxchg_gpa(void *opaque, gpa_t gpa, u64 old, u64 new, unsigned int len)
{
	u64 cur = 0;

	CHECK(len == 4 || len == 8);
	ncmpxchg++;
	if (cmpxchg_err)
		return cmpxchg_err;
	if (gpa >= GMEM_SIZE || len > GMEM_SIZE - gpa)
		return -EFAULT;
	if (races) {
		/* Another vCPU sets the entry's A bit first (as the CPU of that vCPU would). */
		races--;
		memcpy(&cur, gmem + gpa, len);
		cur |= GPTE_A;
		memcpy(gmem + gpa, &cur, len);
		return -EAGAIN;
	}
	memcpy(&cur, gmem + gpa, len);
	if (cur != old)
		return -EAGAIN;
	memcpy(gmem + gpa, &new, len);
	return 0;
}

const struct gwalk_ops ops_ad = {.read_gpa = read_gpa, .cmpxchg_gpa = cmpxchg_gpa};
const struct gwalk_ops ops_ro = {.read_gpa = read_gpa};

void reset(void)
{
	memset(gmem, 0, sizeof(gmem));
	next_table = 0x10000;
	fail_gpa = ~0ULL;
	fail_err = 0;
	races = 0;
	cmpxchg_err = 0;
	nreads = ncmpxchg = 0;
}

gpa_t new_table(void)
{
	gpa_t t = next_table;

	next_table += PAGE_SIZE;
	CHECK(next_table < GMEM_SIZE);
	return t;
}

u64 r64(gpa_t a)
{
	u64 v;

	memcpy(&v, gmem + a, 8);
	return v;
}

void w64(gpa_t a, u64 v)
{
	memcpy(gmem + a, &v, 8);
}

u32 r32(gpa_t a)
{
	u32 v;

	memcpy(&v, gmem + a, 4);
	return v;
}

void w32(gpa_t a, u32 v)
{
	memcpy(gmem + a, &v, 4);
}

void map_ia32e_at(u64 root, unsigned int top, gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 *upper,
		  u64 leaf_flags)
{
	gpa_t table = root;

	CHECK(top == 4 || top == 5);
	CHECK(leaf >= 1 && leaf <= 3);
	for (unsigned int level = top; level > leaf; level--) {
		gpa_t slot = table + ((gva >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
		u64 e = r64(slot);
		if (!(e & P)) {
			e = new_table() | upper[level];
			w64(slot, e);
		}
		table = e & GENMASK_ULL(51, 12);
	}
	w64(table + ((gva >> (12 + 9 * (leaf - 1))) & 0x1ff) * 8, leaf_addr | leaf_flags | (leaf > 1 ? PS : 0));
}

u64 map_ia32e(unsigned int top, gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 *upper, u64 leaf_flags)
{
	gpa_t root = new_table();

	map_ia32e_at(root, top, gva, leaf_addr, leaf, upper, leaf_flags);
	return root;
}

u64 map4(gva_t gva, u64 leaf_addr, unsigned int leaf, const u64 upper[5], u64 leaf_flags)
{
	return map_ia32e(4, gva, leaf_addr, leaf, upper, leaf_flags);
}

const u64 up_all[GWALK_MAX_LEVELS + 1] = {0, ALL, ALL, ALL, ALL, ALL};

struct gwalk_mode lm_mode(void)
{
	return (struct gwalk_mode){
	    .pg = true, .wp = true, .pae = true, .lma = true, .nxe = true, .gbpages = true, .maxphyaddr = 46};
}

int walk(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access)
{
	return gwalk(m, cr3, gva, access, &ops_ad, gmem, &res);
}

void expect_ok(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access, gpa_t gpa)
{
	CHECK_EQ(walk(m, cr3, gva, access), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONE);
	CHECK_EQ(res.gpa, gpa);
}

void expect_pf(const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access, u32 ec, unsigned int level)
{
	CHECK_EQ(walk(m, cr3, gva, access), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_PF);
	CHECK_EQ(res.error_code, ec);
	CHECK_EQ(res.fault_level, level);
}
