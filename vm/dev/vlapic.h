/* The virtual local APIC of one vCPU (SDM Vol. 3 ch. 11, modelled on KVM's lapic.c): the register page, xAPIC (MMIO)
 * and x2APIC (MSR) access, IA32_APIC_BASE transitions, IRR/ISR/PPR priority, EOI, the timer and IPI decode. It knows
 * nothing of struct vm: time comes in as a TSC value, and whatever touches other vCPUs goes out through vlapic_ops. */
#ifndef VM_DEV_VLAPIC_H
#define VM_DEV_VLAPIC_H

#include "arch/x86/msr_index.h"
#include "hv/types.h"

/* Register offsets in the 4 KiB APIC page (SDM Table 11-1). In x2APIC mode register `off` is MSR 0x800 + off / 16. */
#define VLAPIC_REG_ID	       0x020
#define VLAPIC_REG_VER	       0x030
#define VLAPIC_REG_TPR	       0x080
#define VLAPIC_REG_APR	       0x090 /* P6 arbitration priority: reads 0, writes ignored; absent in x2APIC */
#define VLAPIC_REG_PPR	       0x0a0
#define VLAPIC_REG_EOI	       0x0b0
#define VLAPIC_REG_RRD	       0x0c0 /* P6 remote read: reads 0, writes ignored; absent in x2APIC */
#define VLAPIC_REG_LDR	       0x0d0
#define VLAPIC_REG_DFR	       0x0e0 /* xAPIC only */
#define VLAPIC_REG_SVR	       0x0f0
#define VLAPIC_REG_ISR	       0x100 /* 8 registers, 0x10 apart, 32 vectors each */
#define VLAPIC_REG_TMR	       0x180
#define VLAPIC_REG_IRR	       0x200
#define VLAPIC_REG_ESR	       0x280
#define VLAPIC_REG_LVT_CMCI    0x2f0 /* present only with VLAPIC_F_CMCI */
#define VLAPIC_REG_ICR_LO      0x300
#define VLAPIC_REG_ICR_HI      0x310 /* xAPIC only; x2APIC has one 64-bit ICR MSR */
#define VLAPIC_REG_LVT_TIMER   0x320
#define VLAPIC_REG_LVT_THERMAL 0x330
#define VLAPIC_REG_LVT_PERF    0x340
#define VLAPIC_REG_LVT_LINT0   0x350
#define VLAPIC_REG_LVT_LINT1   0x360
#define VLAPIC_REG_LVT_ERROR   0x370
#define VLAPIC_REG_TMICT       0x380
#define VLAPIC_REG_TMCCT       0x390
#define VLAPIC_REG_TDCR	       0x3e0
#define VLAPIC_REG_SELF_IPI    0x3f0 /* x2APIC only (MSR 0x83f), write-only */

#define VLAPIC_MSR_X2APIC_FIRST 0x800
#define VLAPIC_MSR_X2APIC_LAST	0x8ff
#define VLAPIC_MSR_ICR		0x830
#define VLAPIC_MSR_SELF_IPI	0x83f

/* Version register: version 0x14 (an integrated xAPIC), bits 23:16 = number of LVT entries - 1, bit 24 = directed
 * EOI (EOI-broadcast suppression) supported. */
#define VLAPIC_VERSION		0x14
#define VLAPIC_VER_EOI_SUPPRESS (1u << 24)

#define VLAPIC_SVR_VECTOR	 0xffu
#define VLAPIC_SVR_ENABLE	 (1u << 8)
#define VLAPIC_SVR_FOCUS_DISABLE (1u << 9)  /* stored, no effect: lowest priority is the owner's arbitration */
#define VLAPIC_SVR_EOI_SUPPRESS	 (1u << 12) /* writable only with VLAPIC_F_EOI_SUPPRESS */

/* LVT entry fields. Not every LVT has every field: see the write masks in vlapic.c. */
#define VLAPIC_LVT_VECTOR	      0xffu
#define VLAPIC_LVT_DM_SHIFT	      8
#define VLAPIC_LVT_DM		      (7u << 8)
#define VLAPIC_LVT_STATUS	      (1u << 12) /* delivery status: always reads idle */
#define VLAPIC_LVT_POLARITY	      (1u << 13)
#define VLAPIC_LVT_REMOTE_IRR	      (1u << 14)
#define VLAPIC_LVT_LEVEL	      (1u << 15)
#define VLAPIC_LVT_MASKED	      (1u << 16)
#define VLAPIC_LVT_TIMER_SHIFT	      17
#define VLAPIC_LVT_TIMER_ONESHOT      (0u << 17)
#define VLAPIC_LVT_TIMER_PERIODIC     (1u << 17)
#define VLAPIC_LVT_TIMER_TSC_DEADLINE (2u << 17)
#define VLAPIC_LVT_TIMER_MODE	      (3u << 17)

/* ESR bits (SDM 11.5.3). */
#define VLAPIC_ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define VLAPIC_ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define VLAPIC_ESR_ILLEGAL_REGISTER    (1u << 7)

/* ICR low word (SDM 11.6.1). */
#define VLAPIC_ICR_VECTOR   0xffu
#define VLAPIC_ICR_DM_SHIFT 8
#define VLAPIC_ICR_DM	    (7u << 8)
#define VLAPIC_ICR_LOGICAL  (1u << 11)
#define VLAPIC_ICR_STATUS   (1u << 12) /* delivery status: reads idle, reserved in x2APIC */
#define VLAPIC_ICR_ASSERT   (1u << 14)
#define VLAPIC_ICR_LEVEL    (1u << 15)
#define VLAPIC_ICR_SH_SHIFT 18
#define VLAPIC_ICR_SH	    (3u << 18)

/* Delivery modes (ICR and LVT bits 10:8). 3 is reserved; 7 (ExtINT) is reserved in the ICR. */
#define VLAPIC_DM_FIXED	 0
#define VLAPIC_DM_LOWPRI 1
#define VLAPIC_DM_SMI	 2
#define VLAPIC_DM_NMI	 4
#define VLAPIC_DM_INIT	 5
#define VLAPIC_DM_SIPI	 6
#define VLAPIC_DM_EXTINT 7

/* Destination shorthands (ICR bits 19:18). */
#define VLAPIC_SH_NONE	 0
#define VLAPIC_SH_SELF	 1
#define VLAPIC_SH_ALL	 2 /* all including self */
#define VLAPIC_SH_OTHERS 3 /* all excluding self */

/* NMIs a receiver keeps before its CPU takes them: one is delivered while the other is held behind it (SDM Vol. 3
 * 6.7.1); the CPU's own blocking state decides whether both survive (vm/vcpu.c). More are lost, as on hardware. */
#define VLAPIC_NMI_MAX 2

#define VLAPIC_XAPIC_BROADCAST	0xffu
#define VLAPIC_X2APIC_BROADCAST 0xffffffffu

/* What the owner's CPUID advertises; the model follows it. */
#define VLAPIC_F_X2APIC	      (1u << 0) /* CPUID.01H:ECX[21]: IA32_APIC_BASE bit 10 may be set */
#define VLAPIC_F_TSC_DEADLINE (1u << 1) /* CPUID.01H:ECX[24]: LVT timer mode 2 and MSR 0x6e0 exist */
#define VLAPIC_F_CMCI	      (1u << 2) /* MCG_CAP.MCG_CMCI_P: the CMCI LVT exists (7 LVT entries, not 6) */
#define VLAPIC_F_EOI_SUPPRESS (1u << 3) /* version bit 24: SVR bit 12 is writable */

/* The timer's input clock when the owner does not choose one: 1 GHz, so one count at divide 1 is 1 ns and the timer
 * period is initial-count * divide nanoseconds, as in KVM (APIC_BUS_CYCLE_NS = 1). Advertise it to the guest as the
 * core crystal clock (CPUID.15H:ECX) so a Linux guest takes lapic_timer_period from it instead of calibrating. */
#define VLAPIC_TIMER_HZ_DEFAULT 1000000000ULL

/* A periodic timer never fires more often than this, whatever the guest programs (KVM's min_timer_period_us does the
 * same): a hostile count of 1 would otherwise make the owner arm a host timer every nanosecond. */
#define VLAPIC_MIN_PERIOD_NS 100000ULL

/* Returned by the MMIO accessors when the APIC page is not decoded (x2APIC mode or globally disabled): the caller
 * must treat the access as plain unclaimed MMIO (reads all ones, writes dropped), never as an APIC register. */
#define VLAPIC_MMIO_UNCLAIMED 1

enum vlapic_mode { VLAPIC_MODE_DISABLED, VLAPIC_MODE_XAPIC, VLAPIC_MODE_X2APIC };

/* An IPI the vlapic cannot complete by itself, decoded from the ICR. */
struct vlapic_ipi {
	u32 dest;   /* destination field: 8 bits in xAPIC mode (ICR bits 63:56), 32 bits in x2APIC */
	u32 icr_lo; /* the ICR low word as written (delivery status clear): pass it to vlapic_deliver() */
	u8 vector;
	u8 delivery;  /* VLAPIC_DM_*: never the reserved modes, never INIT de-assert (both are dropped) */
	u8 shorthand; /* VLAPIC_SH_*: never SELF (handled locally) */
	bool logical; /* logical destination mode */
	bool level;   /* trigger mode level (meaningful for fixed and lowest priority) */
	bool x2apic;  /* the sender was in x2APIC mode: how dest and broadcast are to be read */
};

/* Callbacks into the owner (the vCPU). They run synchronously inside the vlapic call that caused them, with the
 * model in a consistent state, so the owner may call back into this vlapic (vlapic_deliver to the sender itself). */
struct vlapic_ops {
	/* Deliver ipi to every APIC vlapic_match_dest() selects; for lowest priority, to one of them. Destinations the
	 * VM does not have are simply not matched: the ID comes from the guest and is never trusted. Required. */
	void (*send_ipi)(void *owner, const struct vlapic_ipi *ipi);
	/* Something became pending (IRR bit, NMI, INIT, SIPI): wake the vCPU or make it leave the guest. Required. */
	void (*kick)(void *owner);
	/* EOI of a level-triggered vector (TMR set) without EOI-broadcast suppression: tell the IOAPIC. Optional. */
	void (*eoi)(void *owner, u8 vector);
};

struct vlapic_config {
	u32 apic_id;   /* the initial (x2)APIC ID; the xAPIC ID is its low 8 bits */
	bool bsp;      /* IA32_APIC_BASE bit 8 at reset */
	u32 features;  /* VLAPIC_F_* */
	u8 maxphyaddr; /* guest MAXPHYADDR (32..52): higher APIC base bits are reserved */
	u64 tsc_hz;    /* the guest's TSC frequency; not 0 */
	u64 timer_hz;  /* the timer's input clock; 0 means VLAPIC_TIMER_HZ_DEFAULT */
	void *page;    /* the register page: 4 KiB, page-aligned, owned by the caller (a later APICv maps it) */
	const struct vlapic_ops *ops;
	void *owner; /* passed to every op */
};

/* Timer state. In one-shot and periodic mode `deadline` is the TSC at which the count reaches 0; in TSC-deadline mode
 * it is IA32_TSC_DEADLINE. Every entry point first catches the timer up to `now`, so the state always describes the
 * APIC at the latest time it was told, and the current count is derived from deadline - now. */
struct vlapic_timer {
	bool armed;
	u64 deadline;
	u64 period;	/* TSC ticks of initial-count * divide bus cycles, rounded up, before the periodic minimum */
	u64 min_period; /* init: VLAPIC_MIN_PERIOD_NS in TSC ticks */
	/* The timer registers as last committed (vlapic_timer_commit). Under APIC-register virtualization the CPU
	 * stores a guest's write in the page before the APIC-write exit, and what a write to these does depends on the
	 * value it replaces (a mode change, the remaining count at the old divider): the exit puts them back first. */
	u32 lvt, tdcr, tmict;
};

/* Not internally locked: the owner serializes every call on one vlapic (its vCPU's thread, or a lock it takes for
 * cross-vCPU delivery). Fields are private to vm/dev/vlapic*.c; the tags say when each is set. */
struct vlapic {
	u32 *regs;		      /* init: the register page, indexed by offset / 4 */
	const struct vlapic_ops *ops; /* init */
	void *owner;		      /* init */
	u32 x2apic_id;		      /* init */
	u32 features;		      /* init */
	bool bsp_at_reset;	      /* init */
	u64 tsc_hz, timer_hz;	      /* init */
	u64 base_rsvd;		      /* init: reserved bits of IA32_APIC_BASE */
	u64 apic_base;		      /* IA32_APIC_BASE */
	u32 esr_pending;	      /* errors seen since the last ESR write */
	u8 nmi_pending; /* NMIs received and not yet taken: at most VLAPIC_NMI_MAX */
	bool init_pending, sipi_pending;
	u8 sipi_vector;
	struct vlapic_timer timer;
	/* Something vlapic_apicv_state() reads changed (IRR, ISR, TMR, SVR, the mode or base) since it last ran: the
	 * model's own changes set it. The CPU's changes under APIC virtualization do not need to: it keeps RVI and SVI
	 * in step with the page itself. */
	bool apicv_dirty;
};

/* Set up in the power-up state: xAPIC mode at 0xfee00000, software-disabled (SVR 0xff), every LVT masked.
 * Returns -EINVAL for an unusable configuration. */
int vlapic_init(struct vlapic *lapic, const struct vlapic_config *cfg);
/* RESET: back to the power-up state, including IA32_APIC_BASE and the ID. */
void vlapic_reset(struct vlapic *lapic);

/* xAPIC MMIO: `offset` within the 4 KiB page (< 4096), size 1, 2, 4 or 8. Only 4-byte accesses at a 16-byte
 * aligned offset are architectural. Other reads return the bytes of the containing register's first dword they
 * cover, shifted down (as KVM does), and 0 if they reach past that dword; other writes are ignored. Returns 0,
 * VLAPIC_MMIO_UNCLAIMED (see above), or -EINVAL for an offset outside the page (a caller bug). */
int vlapic_mmio_read(struct vlapic *lapic, u32 offset, unsigned int size, u64 *val, u64 now);
int vlapic_mmio_write(struct vlapic *lapic, u32 offset, unsigned int size, u64 val, u64 now);

/* MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range 0x800-0x8ff. Returns 0, -EINVAL where the guest
 * gets #GP (x2APIC register outside x2APIC mode, reserved MSR, reserved bits, read of a write-only or write of a
 * read-only register, TSC deadline not advertised), or -ENOENT for an MSR that is not the APIC's. */
bool vlapic_is_msr(u32 msr);
int vlapic_msr_read(struct vlapic *lapic, u32 msr, u64 *val, u64 now);
int vlapic_msr_write(struct vlapic *lapic, u32 msr, u64 val, u64 now);

/* A WRMSR to IA32_APIC_BASE. Valid: xAPIC <-> disabled, xAPIC -> x2APIC, x2APIC -> disabled, and base or BSP
 * changes within a mode. Disabling resets the APIC to its power-up state except the ID and the base address, and
 * re-enabling starts from there. -EINVAL (#GP) for reserved bits, EXTD without EN, disabled -> x2APIC and
 * x2APIC -> xAPIC; the APIC is then unchanged. After success the owner re-reads vlapic_mmio_base(). */
int vlapic_set_apic_base(struct vlapic *lapic, u64 value, u64 now);
u64 vlapic_get_apic_base(const struct vlapic *lapic);
enum vlapic_mode vlapic_mode(const struct vlapic *lapic);
/* Guest-physical address of the xAPIC page (meaningful in xAPIC mode only). */
u64 vlapic_mmio_base(const struct vlapic *lapic);
/* The ID physical destinations are compared with: the xAPIC ID register's top byte, or the x2APIC ID. */
u32 vlapic_id(const struct vlapic *lapic);

/* TPR for CR8 accesses (CR8 = TPR[7:4]). */
u8 vlapic_get_tpr(const struct vlapic *lapic);
void vlapic_set_tpr(struct vlapic *lapic, u8 tpr);

/* Accept a fixed interrupt (IOAPIC, MSI, IPI, LVT). Vectors 0-15 are never set: they record "receive illegal
 * vector" in the ESR. Dropped while globally or software-disabled (KVM does the same; IRR bits already pending are
 * kept and still delivered, SDM 11.4.7.2). Returns true if the IRR bit was newly set (false: coalesced or dropped). */
bool vlapic_set_irq(struct vlapic *lapic, u8 vector, bool level);
/* Whether a fixed interrupt would be accepted now (globally and software-enabled). */
bool vlapic_accepts_fixed(const struct vlapic *lapic);
/* The vector to inject next: the highest IRR vector whose priority class is above PPR's, or -1. The spurious
 * vector is never delivered: the model has no window in which an accepted interrupt vanishes before the INTA, so
 * the guest sees that vector only in the SVR. */
int vlapic_pending_vector(struct vlapic *lapic);
/* Whether any IRR bit is set, whatever the priorities say: the run loop's fast re-entry (vm/vcpu.c). */
bool vlapic_irr_any(const struct vlapic *lapic);
/* At injection of vlapic_pending_vector()'s result: move it from IRR to ISR and raise PPR. */
void vlapic_accept(struct vlapic *lapic, u8 vector);
/* Whether the i8259's INTR reaches the CPU: APIC globally disabled, or LINT0 unmasked in ExtINT mode. */
bool vlapic_accepts_pic_intr(const struct vlapic *lapic);

/* Timer: the TSC value of the next expiry that raises an interrupt, or ~0ULL (disarmed or masked: the state is
 * derived from time, so a masked timer needs no wake-up). vlapic_tick() processes expiries up to `now`. */
u64 vlapic_next_deadline(struct vlapic *lapic);
void vlapic_tick(struct vlapic *lapic, u64 now);

/* Whether target is a destination of ipi sent by source (shorthand, physical ID or broadcast, logical flat or
 * cluster from the target's LDR/DFR). False for a globally disabled target. */
bool vlapic_match_dest(const struct vlapic *target, const struct vlapic *source, const struct vlapic_ipi *ipi);
/* Apply an IPI (its ICR low word) to a target: fixed and lowest priority set IRR, NMI sets a pending NMI, INIT
 * resets the APIC to the INIT state and sets a pending INIT, SIPI records its vector. SMI (no SMM), INIT de-assert
 * and reserved modes are ignored, as is everything while globally disabled. Returns whether it had an effect. */
bool vlapic_deliver(struct vlapic *target, u32 icr_lo);
/* Consume the pending NMIs (how many, 0 to VLAPIC_NMI_MAX), INIT, SIPI (the SIPI's vector: the start page). The
 * last two return true once per event. */
unsigned int vlapic_take_nmi(struct vlapic *lapic);
/* Whether any of the three is waiting: the run loop asks this before every entry. */
static inline bool vlapic_core_events(const struct vlapic *lapic)
{
	return lapic->nmi_pending || lapic->init_pending || lapic->sipi_pending;
}
bool vlapic_take_init(struct vlapic *lapic);
bool vlapic_take_sipi(struct vlapic *lapic, u8 *vector);

/*
 * APIC virtualization (vlapic_apicv.c). The register page is the CPU's virtual-APIC page: the CPU reads it, sets
 * and clears IRR, ISR and PPR bits in it as it delivers and EOIs virtual interrupts, and stores the guest's register
 * writes in it, so it stays the one copy of the APIC's state. What the CPU keeps outside the page is loaded before
 * each entry from vlapic_apicv_state(); the exits that finish what the CPU started come back through the two calls.
 */
struct vlapic_apicv_state {
	u8 rvi;		  /* requesting virtual interrupt: the highest IRR vector, 0 if none */
	u8 svi;		  /* servicing virtual interrupt: the highest ISR vector, 0 if none */
	u64 eoi_exit[4];  /* vectors whose EOI must exit: the level-triggered ones (TMR), for the IOAPIC, and every
			   * outstanding one while two or more are (vlapic_apicv_state says why) */
	u64 xapic_base;	  /* the gpa where the APIC decodes MMIO (xAPIC mode), else ~0 */
	bool x2apic;	  /* x2APIC mode: the MSR interface */
};
void vlapic_apicv_state(struct vlapic *lapic, struct vlapic_apicv_state *st);
/* A trap-like APIC-write exit at page offset `offset`: the CPU has stored the guest's dword there. Completes the
 * write as an xAPIC MMIO write of that value would have. */
void vlapic_apicv_write(struct vlapic *lapic, u32 offset, u64 now);
/* An EOI-induced exit for `vector`: the CPU has retired it from ISR and updated PPR; what is left is the IOAPIC's
 * EOI for a level-triggered vector (the same rule as an emulated EOI). */
void vlapic_apicv_eoi(struct vlapic *lapic, u8 vector);

/* Internal to vm/dev/vlapic*.c: the timer (vlapic_timer.c) as the register code calls it. */
void vlapic_timer_init(struct vlapic *lapic);
/* Record the timer registers as the page holds them now (struct vlapic_timer.lvt...), after any change the timer
 * code did not make itself (a reset, SVR masking the LVT); vlapic_timer_restore puts one back into the page. */
void vlapic_timer_commit(struct vlapic *lapic);
void vlapic_timer_restore(struct vlapic *lapic, u32 offset);
void vlapic_timer_reset(struct vlapic *lapic);
u32 vlapic_timer_read_tmcct(struct vlapic *lapic, u64 now);
void vlapic_timer_write_tmict(struct vlapic *lapic, u32 val, u64 now);
void vlapic_timer_write_tdcr(struct vlapic *lapic, u32 val, u64 now);
void vlapic_timer_write_lvt(struct vlapic *lapic, u32 val);
u64 vlapic_timer_read_deadline_msr(struct vlapic *lapic, u64 now);
void vlapic_timer_write_deadline_msr(struct vlapic *lapic, u64 val, u64 now);

#endif
