/* The fixture shared by the vLAPIC unit tests (test_vlapic_*.c): up to NCPU vlapics, each owned by a fake vCPU that
 * counts kicks, IPIs and EOIs and, when `route` is set, delivers IPIs to the others the way a VM would; and register
 * and MSR accessors that check every access succeeds, all at the fixture's current time T. */
#ifndef VLAPIC_FIXTURE_H
#define VLAPIC_FIXTURE_H

#include "hv/compiler.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/dev/vlapic.h"

#define TSC_HZ	2000000000ULL /* two TSC ticks per bus cycle of the default 1 GHz timer clock */
#define NCPU	4
#define ALL_F	(VLAPIC_F_X2APIC | VLAPIC_F_TSC_DEADLINE | VLAPIC_F_CMCI | VLAPIC_F_EOI_SUPPRESS)
#define BASE	0xfee00000ULL
#define EN	APIC_BASE_ENABLE
#define EXTD	APIC_BASE_X2APIC
#define NONE	(~0ULL)
#define X2(reg) (VLAPIC_MSR_X2APIC_FIRST + ((reg) >> 4))
#define LVT_T	VLAPIC_REG_LVT_TIMER

struct fake_cpu {
	struct vlapic lapic;
	int kicks;
	int nipis;
	struct vlapic_ipi ipi; /* the last one sent */
	int neoi;
	u8 eoi_vector;
};

extern u32 pages[NCPU][1024];
extern struct fake_cpu cpus[NCPU];
extern int ncpus;
extern bool route; /* send_ipi delivers to what vlapic_match_dest selects, as a VM would */
extern u64 T;	   /* the time the access helpers pass */
extern const u32 all_lvts[7];

struct vlapic_config config(int i, u32 id, u32 features);
struct vlapic *setup(int n, u32 features); /* n vlapics with IDs 0..n-1; returns the first */
struct vlapic *setup_cfg(struct vlapic_config cfg);

u32 rd(struct vlapic *l, u32 off);
void wr(struct vlapic *l, u32 off, u32 val);
u64 mrd(struct vlapic *l, u32 msr);
void mwr(struct vlapic *l, u32 msr, u64 val);
u32 esr(struct vlapic *l); /* latch the ESR by a write, then read it */
void sw_enable(struct vlapic *l);
void to_x2apic(struct vlapic *l);
bool irr(struct vlapic *l, u8 v);
bool isr(struct vlapic *l, u8 v);

/* The power-up register values, checked after init, RESET and a disable/re-enable. */
void check_reset_regs(struct vlapic *l, u32 id_reg);

#endif
