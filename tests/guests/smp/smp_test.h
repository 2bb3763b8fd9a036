/* The smp guest's shared parts (tests/guests/smp.c: the APs, fixed IPIs, lock xadd, fresh pages, ghosts;
 * tests/guests/smp/nmi.c: NMI IPIs). */
#ifndef GUESTS_SMP_TEST_H
#define GUESTS_SMP_TEST_H

#include "guest.h"

#define MAX_CPUS       16
#define AP_STACK_SIZE  (16 * KiB)
#define VEC_KICK       0x40 /* wakes an AP to look at the command word */
#define VEC_SELF       0x41
#define VEC_PING       0x50
#define VEC_PONG       0x60 /* + the AP's ID: pongs of a broadcast arrive together, and one IRR bit holds only one */
#define PHYS_ROUNDS    1000
#define BCAST_ROUNDS   100
#define ALL_ROUNDS     100 /* all-including-self: the sender takes its own too */
#define LOGICAL_ROUNDS 100
#define XADD_COUNT     ((u64)100000)
#define LOGICAL_MAX    8	      /* flat logical mode has 8 LDR bits */
#define SETTLE_CYCLES  ((u64)1000000) /* after a phase: time for a late or duplicated IPI to show up */
#define NMI_ROUNDS     100
#define NMI_JUNK_VEC   0x9f	       /* in the vector field of odd NMIs: nothing handles it as an interrupt */
#define NMI_HOLD_TIME  ((u64)50000000) /* how long the BSP watches an AP held in its NMI handler */
#define NMI_HLT_ROUNDS 10

struct cpu_state {
	volatile u32 boots; /* times an AP entered ap_main() for this slot: exactly 1 */
	volatile u32 ready; /* LAPIC enabled, IDs recorded */
	volatile u32 lapic_id, cpuid_id;
	volatile u64 apic_base;
	volatile u64 pings;		  /* VEC_PING taken by this CPU */
	volatile u64 pongs;		  /* VEC_PONG + this AP's ID taken by the BSP */
	volatile u32 ready_seq, done_seq; /* command handshake, see post_command() */
	volatile u64 xadd_sum;		  /* sum of the old values its lock xadds returned */
	const char *volatile error;	  /* set by the AP: what went wrong */
	u64 want_pings, want_pongs;	  /* BSP bookkeeping */
	/* NMIs, written by on_nmi() on this CPU unless said otherwise */
	volatile u64 nmis;		       /* NMIs taken */
	volatile u32 nmi_depth, nmi_max_depth; /* NMI handlers running now, most ever at once: 1 */
	volatile u32 nmi_hold;		       /* HOLD_*: the BSP arms and releases, the handler waits */
	volatile u64 nmi_rip, nmi_rflags;      /* where the last NMI interrupted */
	volatile u64 hlt_entries, stray_wakes; /* CMD_NMI_HLT, by the AP: HLTs announced, IF=0 HLTs left without NMI */
	u64 want_nmis, seen_hlts, hlts_hit;    /* BSP bookkeeping */
} __attribute__((aligned(64)));		       /* whole cache lines each: no false sharing between CPUs */


extern struct cpu_state cpus[MAX_CPUS];
extern u32 ncpus;
extern u64 timeout; /* TSC cycles of each bounded wait (`timeout=`) */

enum { CMD_NONE, CMD_XADD, CMD_TOUCH, CMD_NMI_HLT };
/* The NMI blocking test: the BSP arms an AP's next handler (ARMED); the handler says it is in (IN) and waits until the
 * BSP releases it (RELEASED), then clears the state (NONE) and returns. */
enum { HOLD_NONE, HOLD_ARMED, HOLD_IN, HOLD_RELEASED };

/* smp.c */
const char *plural(u32 n);
void check_ap_errors(const char *phase);
/* Have every AP, then the BSP, run `what` at once. */
void post_command(u32 what, const char *name);
/* Send one fixed ping IPI; `mask` says which APs it reaches, `self` whether the BSP takes it too. */
void ping(const char *what, u32 dest, u32 lo, u32 mask, bool self);
void wait_answers(const char *what, u32 round, u32 mask);
void check_counts(const char *what);

/* nmi.c */
void do_nmi_hlt(u32 c);   /* AP side of CMD_NMI_HLT */
void drive_nmi_hlt(void); /* BSP side of CMD_NMI_HLT */
void test_nmis(void);

#endif
