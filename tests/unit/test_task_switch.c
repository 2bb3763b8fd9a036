/* Unit tests of the task-switch engine (vm/emulate/task_switch.c) against fake linear memory holding a GDT, an LDT
 * and TSSs: what a CALL, JMP, IRET and task gate save, load, mark busy and link (SDM Vol. 3A 8.3 and Table 8-2),
 * the checks made before anything changes (8.3 steps 2-4: #GP/#TS/#NP, memory untouched) and the faults raised in
 * the new task after the commit point (step 13: #TS, #NP, #SS with the selector as error code), the error code
 * pushed for an exception through a task gate, 16-bit TSSs, and the DPL check of INT n through a task gate. */
#include <string.h>

#include "hv/errno.h"
#include "test.h"
#include "vm/emulate/task_switch.h"

#define MEM_SIZE 0x10000
#define GDT	 0x1000
#define IDT	 0x1800
#define TSS_A	 0x2000 /* the running task's */
#define TSS_B	 0x3000
#define TSS_C	 0x4000 /* 16-bit */
#define LDT	 0x5000
#define STACK_B	 0x9000

/* GDT selectors. */
#define SEL_CODE  0x08
#define SEL_DATA  0x10
#define SEL_A	  0x18
#define SEL_B	  0x20
#define SEL_C	  0x28
#define SEL_LDT	  0x30
#define SEL_UCODE 0x3b /* DPL 3 */
#define SEL_UDATA 0x43
#define SEL_BAD	  0x48 /* filled per test */
#define LDT_DATA  0x04 /* LDT entry 0, TI */

static u8 mem[MEM_SIZE];
static unsigned int writes, cmpxchgs;
static u32 cr3_loaded;
static bool cr3_set;

static int m_read(void *o, u32 a, void *buf, unsigned int n, bool user, struct emu_fault *f)
{
	if ((u64)a + n > MEM_SIZE) {
		*f = (struct emu_fault){.vector = 14, .has_error = true, .cr2 = a};
		return EMU_CB_FAULT;
	}
	memcpy(buf, mem + a, n);
	return 0;
}

static int m_write(void *o, u32 a, const void *buf, unsigned int n, bool user, struct emu_fault *f)
{
	if ((u64)a + n > MEM_SIZE) {
		*f = (struct emu_fault){.vector = 14, .has_error = true, .error_code = 2, .cr2 = a};
		return EMU_CB_FAULT;
	}
	writes++;
	memcpy(mem + a, buf, n);
	return 0;
}

static int m_cmpxchg8(void *o, u32 a, u64 old, u64 new, struct emu_fault *f)
{
	u64 cur;
	CHECK((a & 7) == 0);
	memcpy(&cur, mem + a, 8);
	cmpxchgs++;
	if (cur != old)
		return -EAGAIN;
	memcpy(mem + a, &new, 8);
	return 0;
}

static int m_set_cr3(void *o, u32 cr3, struct emu_fault *f)
{
	cr3_set = true;
	cr3_loaded = cr3;
	return 0;
}

static const struct ts_ops ops = {.read = m_read, .write = m_write, .cmpxchg8 = m_cmpxchg8, .set_cr3 = m_set_cr3};

static u64 desc(u32 base, u32 limit, u8 access, u8 flags)
{
	return (limit & 0xffff) | (u64)(base & 0xffffff) << 16 | (u64)access << 40 | (u64)((limit >> 16) & 0xf) << 48 |
	       (u64)(flags & 0xf) << 52 | (u64)(base >> 24) << 56;
}

static void put_desc(u32 table, u16 sel, u64 d)
{
	memcpy(mem + table + (sel & ~7), &d, 8);
}

static u64 get_desc(u16 sel)
{
	u64 d;
	memcpy(&d, mem + GDT + (sel & ~7), 8);
	return d;
}

static u32 rd32(u32 a)
{
	u32 v;
	memcpy(&v, mem + a, 4);
	return v;
}

static u16 rd16(u32 a)
{
	u16 v;
	memcpy(&v, mem + a, 2);
	return v;
}

static void wr32(u32 a, u32 v)
{
	memcpy(mem + a, &v, 4);
}

static void wr16(u32 a, u16 v)
{
	memcpy(mem + a, &v, 2);
}

#define BUSY	 BIT(41)
#define ACCESSED BIT(40)

/* A 32-bit TSS at base for a CPL-cpl task (flat code and data), with recognisable registers. */
static void fill_tss32(u32 base, u32 eip, u32 eflags, u32 esp, int cpl)
{
	memset(mem + base, 0, 0x68);
	wr32(base + 0x1c, 0x7000);
	wr32(base + 0x20, eip);
	wr32(base + 0x24, eflags);
	for (int i = 0; i < 8; i++)
		wr32(base + 0x28 + 4 * i, 0xb0000000 + i);
	wr32(base + 0x38, esp);
	u16 cs = cpl ? SEL_UCODE : SEL_CODE, ds = cpl ? SEL_UDATA : SEL_DATA;
	u16 segs[6] = {ds, cs, ds, ds, ds, ds};
	for (int i = 0; i < 6; i++)
		wr32(base + 0x48 + 4 * i, segs[i]);
	wr16(base + 0x60, SEL_LDT);
}

static void setup(struct ts_state *s)
{
	memset(mem, 0, sizeof(mem));
	writes = cmpxchgs = 0;
	cr3_set = false;
	put_desc(GDT, SEL_CODE, desc(0, 0xfffff, 0x9a, 0xc)); /* not accessed yet */
	put_desc(GDT, SEL_DATA, desc(0, 0xfffff, 0x93, 0xc));
	put_desc(GDT, SEL_A, desc(TSS_A, 0x67, 0x8b, 0)); /* busy: the running task */
	put_desc(GDT, SEL_B, desc(TSS_B, 0x67, 0x89, 0));
	put_desc(GDT, SEL_C, desc(TSS_C, 0x2b, 0x81, 0)); /* 16-bit, available */
	put_desc(GDT, SEL_LDT, desc(LDT, 0xf, 0x82, 0));
	put_desc(GDT, SEL_UCODE, desc(0, 0xfffff, 0xfb, 0xc));
	put_desc(GDT, SEL_UDATA, desc(0, 0xfffff, 0xf3, 0xc));
	put_desc(LDT, LDT_DATA, desc(0x100000, 0xffff, 0x93, 0x4));
	put_desc(IDT, 0x40 * 8, 0x0000e50000200000ULL); /* vector 0x40: task gate, DPL 3, TSS B */
	put_desc(IDT, 0x41 * 8, 0x0000850000200000ULL); /* vector 0x41: task gate, DPL 0 */
	fill_tss32(TSS_A, 0, 0, 0, 0);
	fill_tss32(TSS_B, 0x1234, 0x202, STACK_B, 0);
	*s = (struct ts_state){.eip = 0x5555,
			       .eflags = 0x246,
			       .cr0 = 0x11,
			       .gdt_base = GDT,
			       .gdt_limit = 0x7f,
			       .idt_base = IDT,
			       .idt_limit = 0x7ff};
	for (int i = 0; i < 8; i++)
		s->gpr[i] = 0xa0000000 + i;
	for (int i = 0; i < 6; i++)
		s->seg[i] = (struct ts_seg){
		    .sel = i == TS_CS ? SEL_CODE : SEL_DATA, .limit = 0xffffffff, .attr = i == TS_CS ? 0xc9b : 0xc93};
	s->seg[TS_LDTR] = (struct ts_seg){.attr = TS_ATTR_UNUSABLE};
	s->seg[TS_TR] = (struct ts_seg){.sel = SEL_A, .base = TSS_A, .limit = 0x67, .attr = 0x8b};
}

static int run(struct ts_state *s, u16 sel, u8 source, struct emu_fault *f)
{
	struct ts_request req = {.sel = sel, .source = source, .soft_vector = -1};
	return emu_task_switch(s, &req, &ops, NULL, f);
}

TEST(ts_call_saves_links_and_loads)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), 0);
	/* The old task's dynamic fields (SDM 8.3 step 8), the resume point past the CALL as the caller set it. */
	CHECK_EQ(rd32(TSS_A + 0x20), 0x5555);
	CHECK_EQ(rd32(TSS_A + 0x24), 0x246);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(rd32(TSS_A + 0x28 + 4 * i), 0xa0000000 + i);
	CHECK_EQ(rd16(TSS_A + 0x4c), SEL_CODE);
	CHECK_EQ(rd16(TSS_A + 0x54), SEL_DATA);
	CHECK_EQ(rd32(TSS_A + 0x1c), 0x7000); /* CR3 is static: not saved */
	/* Back-link, both busy, NT in the new task. */
	CHECK_EQ(rd16(TSS_B), SEL_A);
	CHECK(get_desc(SEL_A) & BUSY);
	CHECK(get_desc(SEL_B) & BUSY);
	CHECK_EQ(s.eflags, 0x202 | BIT(14));
	CHECK_EQ(s.eip, 0x1234);
	CHECK_EQ(s.gpr[0], 0xb0000000);
	CHECK_EQ(s.gpr[4], STACK_B);
	CHECK(s.committed);
	CHECK_EQ(s.loaded, 7);
	CHECK_EQ(s.seg[TS_TR].sel, SEL_B);
	CHECK_EQ(s.seg[TS_TR].attr & 0xf, 0xb);
	CHECK(s.cr0 & BIT(3));
	CHECK(cr3_set);
	CHECK_EQ(cr3_loaded, 0x7000);
	CHECK_EQ(s.seg[TS_LDTR].base, LDT);
	/* The code segment was loaded and marked accessed, in memory and in the cache. */
	CHECK_EQ(s.seg[TS_CS].attr, 0xc9b);
	CHECK(get_desc(SEL_CODE) & ACCESSED);
}

TEST(ts_iret_returns_and_clears_busy)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), 0);
	s.eip = 0x1300;
	CHECK_EQ(run(&s, SEL_A, TS_IRET, &f), 0);
	CHECK(!(get_desc(SEL_B) & BUSY));
	CHECK(get_desc(SEL_A) & BUSY);
	CHECK_EQ(rd32(TSS_B + 0x20), 0x1300);
	CHECK_EQ(rd32(TSS_B + 0x24), 0x202); /* NT cleared in the image saved (step 7) */
	CHECK_EQ(s.eip, 0x5555);
	CHECK_EQ(s.eflags, 0x246);
	CHECK_EQ(s.gpr[3], 0xa0000003);
	CHECK_EQ(s.seg[TS_TR].sel, SEL_A);
	CHECK_EQ(rd16(TSS_A), 0); /* IRET writes no back-link */
}

TEST(ts_jmp_moves_busy_without_nesting)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	CHECK_EQ(run(&s, SEL_B, TS_JMP, &f), 0);
	CHECK(!(get_desc(SEL_A) & BUSY));
	CHECK(get_desc(SEL_B) & BUSY);
	CHECK(!(s.eflags & BIT(14)));
	CHECK_EQ(rd16(TSS_B), 0);
}

/* Each refused before anything changes: memory untouched, state untouched. */
static void check_refused(u16 sel, u8 source, u8 vector, u32 error)
{
	static u8 before[MEM_SIZE];
	struct ts_state s, s0;
	struct emu_fault f;

	setup(&s);
	if (sel == SEL_BAD)
		put_desc(GDT, SEL_BAD, desc(TSS_B, 0x66, 0x89, 0));
	s0 = s;
	memcpy(before, mem, sizeof(mem));
	CHECK_EQ(run(&s, sel, source, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, vector);
	CHECK(f.has_error);
	CHECK_EQ(f.error_code, error);
	CHECK(!s.committed);
	CHECK(memcmp(before, mem, sizeof(mem)) == 0);
	CHECK(memcmp(&s0.seg, &s.seg, sizeof(s.seg)) == 0 && s0.eip == s.eip && s0.eflags == s.eflags);
}

TEST(ts_checks_before_commit)
{
	check_refused(SEL_A, TS_CALL, 13, SEL_A);	 /* CALL to a busy TSS: #GP(sel) */
	check_refused(SEL_B, TS_IRET, 10, SEL_B);	 /* IRET to an available one: #TS(sel) */
	check_refused(SEL_CODE, TS_JMP, 13, SEL_CODE);	 /* not a TSS */
	check_refused(SEL_B | 4, TS_JMP, 13, SEL_B | 4); /* TSS selectors are in the GDT */
	check_refused(0x80, TS_JMP, 13, 0x80);		 /* past the GDT limit */
	check_refused(SEL_BAD, TS_JMP, 10, SEL_BAD);	 /* 32-bit TSS limit below 0x67: #TS */
	struct ts_state s;
	struct emu_fault f;
	setup(&s);
	put_desc(GDT, SEL_B, desc(TSS_B, 0x67, 0x09, 0)); /* not present: #NP(sel) */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 11);
	CHECK_EQ(f.error_code, SEL_B);
	CHECK(!s.committed);
}

/* After the commit point a bad segment in the new TSS faults in the new task (SDM 8.3 step 13). */
TEST(ts_new_task_segment_faults)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	wr32(TSS_B + 0x4c, SEL_DATA); /* CS: a data segment */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 10);
	CHECK_EQ(f.error_code, SEL_DATA);
	CHECK(s.committed);
	CHECK_EQ(s.loaded, 1); /* LDTR only */
	CHECK_EQ(s.seg[TS_TR].sel, SEL_B);
	CHECK(get_desc(SEL_B) & BUSY);
	CHECK_EQ(s.eip, 0x1234);

	setup(&s);
	put_desc(GDT, SEL_UDATA, desc(0, 0xfffff, 0x73, 0xc)); /* DPL 3 data, not present */
	wr32(TSS_B + 0x54, SEL_UDATA);			       /* DS */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 11);
	CHECK_EQ(f.error_code, SEL_UDATA & 0xfffc);

	setup(&s);
	put_desc(GDT, SEL_DATA, desc(0, 0xfffff, 0x13, 0xc)); /* not present: SS faults #SS */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 12);
	CHECK_EQ(f.error_code, SEL_DATA);

	setup(&s);
	wr32(TSS_B + 0x50, SEL_UDATA | 3); /* SS at RPL 3 for a CPL-0 task */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 10);
	CHECK_EQ(f.error_code, SEL_UDATA & 0xfffc);

	setup(&s);
	wr32(TSS_B + 0x54, LDT_DATA); /* DS from the new task's LDT: fine */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), 0);
	CHECK_EQ(s.seg[TS_DS].base, 0x100000);
	CHECK_EQ(s.seg[TS_DS].limit, 0xffff);
	setup(&s); /* a null FS is fine, and unusable */
	wr32(TSS_B + 0x58, 0);
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), 0);
	CHECK(s.seg[TS_FS].attr & TS_ATTR_UNUSABLE);
}

/* Every selector of the new task is in place before any descriptor loads (SDM 8.3 steps 12-13; Vol. 3A 6.15, #NP,
 * Program State Change): a fault on DS leaves CS and SS loaded, DS and the rest with the new selectors over unusable
 * hidden parts; a fault on CS leaves CS and SS with the new selectors over the old hidden parts at the new CPL. */
TEST(ts_fault_leaves_every_new_selector)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	put_desc(GDT, SEL_BAD, desc(0, 0xfffff, 0x13, 0xc)); /* data, not present */
	wr32(TSS_B + 0x54, SEL_BAD);			     /* DS */
	wr32(TSS_B + 0x48, LDT_DATA);			     /* ES, from the new LDT: not loaded yet either */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 11);
	CHECK_EQ(f.error_code, SEL_BAD);
	CHECK(s.committed);
	CHECK_EQ(s.loaded, 3); /* LDTR, CS, SS */
	CHECK_EQ(s.seg[TS_CS].sel, SEL_CODE);
	CHECK_EQ(s.seg[TS_SS].attr & 0xff, 0x93);
	CHECK_EQ(s.seg[TS_DS].sel, SEL_BAD);
	CHECK(s.seg[TS_DS].attr & TS_ATTR_UNUSABLE);
	CHECK_EQ(s.seg[TS_ES].sel, LDT_DATA);
	CHECK(s.seg[TS_ES].attr & TS_ATTR_UNUSABLE);
	CHECK_EQ(s.seg[TS_FS].sel, SEL_DATA);
	CHECK(s.seg[TS_FS].attr & TS_ATTR_UNUSABLE);
	CHECK_EQ(s.seg[TS_LDTR].sel, SEL_LDT);
	CHECK_EQ(s.seg[TS_LDTR].base, LDT);

	/* A CPL-3 task whose CS is bad: CS and SS carry its selectors, the old descriptors at DPL 3 (the CPL). */
	setup(&s);
	fill_tss32(TSS_B, 0x1234, 0x202, STACK_B, 3);
	put_desc(GDT, SEL_UCODE, desc(0, 0xfffff, 0x7b, 0xc)); /* not present: #NP */
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 11);
	CHECK_EQ(f.error_code, SEL_UCODE & 0xfffc);
	CHECK_EQ(s.loaded, 1);
	CHECK_EQ(s.seg[TS_CS].sel, SEL_UCODE);
	CHECK_EQ(s.seg[TS_CS].attr, 0xc9b | 3 << 5);
	CHECK_EQ(s.seg[TS_CS].limit, 0xffffffff);
	CHECK_EQ(s.seg[TS_SS].sel, SEL_UDATA);
	CHECK_EQ(s.seg[TS_SS].attr, 0xc93 | 3 << 5);
	CHECK_EQ(s.seg[TS_GS].sel, SEL_UDATA);
	CHECK(s.seg[TS_GS].attr & TS_ATTR_UNUSABLE);

	/* A bad LDT: no descriptor loaded, every selector the new task's. */
	setup(&s);
	wr16(TSS_B + 0x60, SEL_DATA);
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 10);
	CHECK_EQ(s.loaded, 0);
	CHECK_EQ(s.seg[TS_LDTR].sel, SEL_DATA);
	CHECK(s.seg[TS_LDTR].attr & TS_ATTR_UNUSABLE);
	CHECK_EQ(s.seg[TS_CS].sel, SEL_CODE);
	CHECK_EQ(s.seg[TS_DS].sel, SEL_DATA);
	CHECK(s.seg[TS_DS].attr & TS_ATTR_UNUSABLE);
}

TEST(ts_gate_pushes_error_code)
{
	struct ts_state s;
	struct emu_fault f;
	struct ts_request req = {
	    .sel = SEL_B, .source = TS_GATE, .soft_vector = -1, .has_error = true, .error_code = 0};

	setup(&s);
	wr32(STACK_B - 4, 0xdeadbeef);
	CHECK_EQ(emu_task_switch(&s, &req, &ops, NULL, &f), 0);
	CHECK_EQ(s.gpr[4], STACK_B - 4);
	CHECK_EQ(rd32(STACK_B - 4), 0);
	CHECK(s.eflags & BIT(14));
	CHECK_EQ(rd16(TSS_B), SEL_A);
}

TEST(ts_soft_int_gate_dpl)
{
	struct ts_state s;
	struct emu_fault f;
	struct ts_request req = {.sel = SEL_B, .source = TS_GATE, .soft_vector = 0x41};

	setup(&s);
	s.seg[TS_SS].attr = 0xcf3; /* CPL 3 */
	CHECK_EQ(emu_task_switch(&s, &req, &ops, NULL, &f), EMU_CB_FAULT);
	CHECK_EQ(f.vector, 13);
	CHECK_EQ(f.error_code, 0x41 * 8 + 2);
	CHECK(!s.committed);
	req.soft_vector = 0x40; /* DPL 3: allowed */
	CHECK_EQ(emu_task_switch(&s, &req, &ops, NULL, &f), 0);
}

TEST(ts_16bit_task)
{
	struct ts_state s;
	struct emu_fault f;

	setup(&s);
	memset(mem + TSS_C, 0, 0x2c);
	wr16(TSS_C + 0x0e, 0x4321);
	wr16(TSS_C + 0x10, 0x0002);
	for (int i = 0; i < 8; i++)
		wr16(TSS_C + 0x12 + 2 * i, (u16)(0x100 + i));
	u16 segs[4] = {SEL_DATA, SEL_CODE, SEL_DATA, SEL_DATA};
	for (int i = 0; i < 4; i++)
		wr16(TSS_C + 0x22 + 2 * i, segs[i]);
	CHECK_EQ(run(&s, SEL_C, TS_JMP, &f), 0);
	CHECK_EQ(s.eip, 0x4321);
	CHECK_EQ(s.gpr[1], 0xa0000101); /* upper halves kept */
	CHECK_EQ(s.eflags, 0x2);
	CHECK(!cr3_set); /* a 16-bit TSS has no CR3 */
	CHECK(s.seg[TS_GS].attr & TS_ATTR_UNUSABLE);
	CHECK_EQ(s.seg[TS_TR].attr & 0xf, 3);
	CHECK(s.seg[TS_LDTR].attr & TS_ATTR_UNUSABLE);
	/* And back, saving in the 16-bit format. */
	s.eip = 0x4400;
	s.gpr[0] = 0x12345678;
	CHECK_EQ(run(&s, SEL_A, TS_JMP, &f), 0);
	CHECK_EQ(rd16(TSS_C + 0x0e), 0x4400);
	CHECK_EQ(rd16(TSS_C + 0x12), 0x5678);
	CHECK_EQ(rd16(TSS_C + 0x22 + 2), SEL_CODE);
	CHECK(!(get_desc(SEL_C) & BUSY));
}

TEST(ts_desc_to_seg_granularity)
{
	struct ts_seg seg;

	ts_desc_to_seg(desc(0x12345678, 0xabcde, 0x93, 0xc), 0x10, &seg);
	CHECK_EQ(seg.base, 0x12345678);
	CHECK_EQ(seg.limit, 0xabcdefff);
	CHECK_EQ(seg.attr, 0xc93);
	ts_desc_to_seg(desc(0, 0x67, 0x89, 0), 0x20, &seg);
	CHECK_EQ(seg.limit, 0x67);
}

TEST(ts_trap_bit_of_the_new_tss)
{
	struct ts_state s;
	struct emu_fault f;

	/* T (32-bit TSS offset 0x64, bit 0) asks for a #DB with DR6.BT once the switch is done (SDM Vol. 3A 8.2.1). */
	setup(&s);
	CHECK_EQ(run(&s, SEL_B, TS_JMP, &f), 0);
	CHECK(!s.trap);
	setup(&s);
	wr16(TSS_B + 0x64, 1);
	CHECK_EQ(run(&s, SEL_B, TS_JMP, &f), 0);
	CHECK(s.trap);
	/* The old TSS's T bit is not the new task's. */
	setup(&s);
	wr16(TSS_A + 0x64, 1);
	CHECK_EQ(run(&s, SEL_B, TS_CALL, &f), 0);
	CHECK(!s.trap);
}
