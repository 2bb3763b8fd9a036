/* The #GP rules of CR0, CR3, CR4, EFER and XCR0 writes and of canonical addresses (see vm/crcheck.h). Each rule cites
 * where the manuals state it; where they leave room, what KVM does. */
#include "vm/crcheck.h"

#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "hv/errno.h"

#define CR4_TSD	     BIT(2)
#define CR4_DE	     BIT(3)
#define CR4_MCE	     BIT(6)
#define CR4_PCE	     BIT(8)
#define CR4_PVI	     BIT(1)
#define CR4_FSGSBASE BIT(16)
#define CR4_CET	     BIT(23)
#define CR4_LAM_SUP  BIT(28)

/* The CR4 bits any x86-64 CPU has (SDM Vol. 3A 2.5): the rest exist only as CPUID reports them. SMXE, KL, PKS,
 * UINTR, FRED and bits 15, 26, 27 and 29-63 are reserved for every guest: this hypervisor offers none of them. */
#define CR4_BASE                                                                                                       \
	(CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR |         \
	 CR4_OSXMMEXCPT)

u64 cr_cr4_reserved(const struct cr_cpuid *id)
{
	u64 ok = CR4_BASE;

	if (id->l1_ecx & BIT(5))
		ok |= CR4_VMXE;
	if (id->l1_ecx & BIT(17))
		ok |= CR4_PCIDE;
	if (id->l1_ecx & BIT(26))
		ok |= CR4_OSXSAVE;
	if (id->l7_ebx & BIT(0))
		ok |= CR4_FSGSBASE;
	if (id->l7_ebx & BIT(7))
		ok |= CR4_SMEP;
	if (id->l7_ebx & BIT(20))
		ok |= CR4_SMAP;
	if (id->l7_ecx & BIT(2))
		ok |= CR4_UMIP;
	if (id->l7_ecx & BIT(3))
		ok |= CR4_PKE;
	if (id->l7_ecx & BIT(16))
		ok |= CR4_LA57;
	if ((id->l7_ecx & BIT(7)) || (id->l7_edx & BIT(20))) /* CET shadow stacks or indirect-branch tracking */
		ok |= CR4_CET;
	if (id->l7_1_eax & BIT(26))
		ok |= CR4_LAM_SUP;
	return ~ok;
}

/* SCE always (Intel reports SYSCALL in CPUID only in 64-bit mode, yet a 32-bit kernel may set SCE: KVM allows it);
 * LME and LMA with long mode, NXE with NX, FFXSR with AMD's fast FXSAVE. SVME (nested virtualization), LMSLE, TCE
 * and the rest are reserved for guests here. */
u64 cr_efer_reserved(const struct cr_cpuid *id)
{
	u64 ok = EFER_SCE;

	if (id->x1_edx & BIT(29))
		ok |= EFER_LME | EFER_LMA;
	if (id->x1_edx & BIT(20))
		ok |= EFER_NXE;
	if (id->x1_edx & BIT(25))
		ok |= EFER_FFXSR;
	return ~ok;
}

static bool long_mode(const struct cr_state *s)
{
	return s->efer & EFER_LMA;
}

int cr_check_cr0(const struct cr_state *s, u64 val)
{
	/* Bits 63:32 are reserved (SDM 2.5); NW without CD and PG without PE are invalid combinations (MOV CR). */
	if (val >> 32)
		return -EINVAL;
	if ((val & CR0_NW) && !(val & CR0_CD))
		return -EINVAL;
	if ((val & CR0_PG) && !(val & CR0_PE))
		return -EINVAL;
	if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && (s->efer & EFER_LME)) {
		/* Activating IA-32e mode needs PAE, and a CS whose L bit is clear (SDM 10.8.5, MOV CR: #GP). */
		if (!(s->cr4 & CR4_PAE) || s->cs_l)
			return -EINVAL;
	}
	if (!(val & CR0_PG) && (s->cr0 & CR0_PG)) {
		/* Paging goes off only from compatibility mode (SDM 10.8.5.4: 64-bit mode #GP; APM 14.7), and never
		 * with PCIDE set (MOV CR: CR4.PCIDE = 1 makes clearing PG #GP). */
		if ((long_mode(s) && s->cs_l) || (s->cr4 & CR4_PCIDE))
			return -EINVAL;
	}
	return 0;
}

int cr_check_cr3(const struct cr_state *s, u64 val, u8 maxphyaddr)
{
	/* Outside long mode CR3 is the low 32 bits (the caller truncated), all of them allowed. In long mode bits 63:M
	 * are reserved (SDM 4.5: M = MAXPHYADDR), bit 63 aside with PCIDE set, where it asks the MOV not to flush. */
	if (!long_mode(s))
		return 0;
	if (s->cr4 & CR4_PCIDE)
		val &= ~BIT(63);
	if (maxphyaddr < 64 && (val >> maxphyaddr))
		return -EINVAL;
	return 0;
}

int cr_check_cr4(const struct cr_state *s, u64 val, u64 reserved)
{
	if (val & reserved)
		return -EINVAL;
	if (long_mode(s)) {
		/* IA-32e mode needs PAE (SDM 10.8.5.4: clearing it is #GP), and its paging depth changes only with
		 * paging off (SDM 4.1.1, MOV CR: LA57 changed in IA-32e mode is #GP). */
		if (!(val & CR4_PAE) || ((val ^ s->cr4) & CR4_LA57))
			return -EINVAL;
	}
	/* PCIDE goes from 0 to 1 only in IA-32e mode and with CR3[11:0] = 0 (SDM 4.10.1, MOV CR). */
	if ((val & CR4_PCIDE) && !(s->cr4 & CR4_PCIDE) && (!long_mode(s) || (s->cr3 & 0xfff)))
		return -EINVAL;
	return 0;
}

int cr_check_efer(const struct cr_state *s, u64 val, u64 reserved)
{
	/* LMA is the CPU's own: what is written there is ignored (KVM), so it is not checked beyond existing. */
	if (val & reserved)
		return -EINVAL;
	/* LME changes only with paging off (SDM 10.8.5, APM 14.6.1: #GP). */
	if ((s->cr0 & CR0_PG) && ((val ^ s->efer) & EFER_LME))
		return -EINVAL;
	return 0;
}

int cr_check_xcr0(u64 val, u64 supported)
{
	/* SDM Vol. 1 13.3: x87 always on; nothing the CPU lacks; AVX only with SSE; MPX's two components together;
	 * AVX-512's three together, and only with AVX; AMX's two together. */
	if (!(val & XCR0_X87) || (val & ~supported))
		return -EINVAL;
	if ((val & XCR0_AVX) && !(val & XCR0_SSE_BIT))
		return -EINVAL;
	if (!(val & XCR0_BNDREGS) != !(val & XCR0_BNDCSR))
		return -EINVAL;
	if ((val & XCR0_AVX512) && ((val & XCR0_AVX512) != XCR0_AVX512 || !(val & XCR0_AVX)))
		return -EINVAL;
	if (!(val & XCR0_TILECFG) != !(val & XCR0_TILEDATA))
		return -EINVAL;
	return 0;
}

u64 cr_canonicalize(u64 va, unsigned int vaddr_bits)
{
	unsigned int shift = 64 - vaddr_bits;

	return (u64)((s64)(va << shift) >> shift);
}

bool cr_is_canonical(u64 va, unsigned int vaddr_bits)
{
	return cr_canonicalize(va, vaddr_bits) == va;
}
