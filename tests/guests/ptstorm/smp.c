/* Phase smp: a TLB shootdown as Linux does it (flush_tlb_mm_range -> native_flush_tlb_multi). The BSP owns 16 windows
 * (PML4[29]) that the AP reads without pause, and for each round:
 *   1. fills a free page with (slot, generation), changes the slot's PTE to it and INVLPGs locally;
 *   2. sends the AP an IPI naming the pages (several pages: a full flush, MOV CR3);
 *   3. the AP's handler invalidates them and acknowledges; the BSP waits for that;
 *   4. publishes the slot's new generation, then poisons the old page and puts it at the end of the free queue, to be
 *      reused ~40 rounds later for any slot.
 * The AP reads the published generation, then the window: the value must be the slot's page (its slot number and
 * qword index) of that generation or a newer one. Once the acknowledgement is in, no translation to the old page may
 * remain in the AP's TLB (SDM Vol. 3A 4.10.4.1 INVLPG, 4.10.5 "Propagation of Paging-Structure Changes to Multiple
 * Processors": software must invalidate on every processor itself), so an old generation, poison or another slot's
 * data there is a failure. */
#include "ptstorm.h"
#include "smp.h"

#define WIN	    16
#define POOL	    64
#define VEC_FLUSH   0x50
#define MAGIC	    0x5054ULL
#define POISON	    0xdeadULL
#define ROUNDS	    400 /* `smp_rounds=` */
#define MULTI_EVERY 8	/* every 8th round changes 4 slots and asks for a full flush */

static volatile u64 *pt;
static u64 page_of[WIN], queue[POOL], q_head, q_tail;
static volatile u32 published[WIN];
static u32 gen[WIN];
static volatile u32 req_seq, ack_seq, req_full, req_n;
static volatile u64 req_va[4];
static volatile u32 stop, ap_ready, ap_done;
static volatile u64 ap_reads, ap_flushes, ap_newer;
static volatile u32 ap_error;
static volatile u64 err_va, err_val, err_want_gen;
static u8 ap_stack[16 * KiB] __attribute__((aligned(16)));

static u64 window(int s)
{
	return slot_va(SLOT_SMP) + (u64)s * PAGE_SIZE;
}

static void fill(u64 pa, int s, u32 g)
{
	for (u64 j = 0; j < 512; j++)
		((volatile u64 *)pa)[j] = MAGIC << 48 | (u64)s << 40 | (u64)(g & 0xffffff) << 16 | j;
}

static void poison(u64 pa)
{
	for (u64 j = 0; j < 512; j++)
		((volatile u64 *)pa)[j] = POISON << 48 | pa | j;
}

static void on_flush(struct trap_frame *f)
{
	if (req_full) {
		write_cr3(read_cr3());
	} else {
		for (u32 i = 0; i < req_n; i++)
			invlpg(req_va[i]);
	}
	ap_flushes++;
	ack_seq = req_seq;
	lapic_eoi();
}

static void ap_main(u64 arg)
{
	u64 x = 0x2545f4914f6cdd1dULL ^ arg;
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
	sti();
	ap_ready = 1;
	while (!stop && !ap_error) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int s = (int)(x % WIN);
		u64 j = (x >> 8) % 512, va = window(s) + j * 8;
		u32 g0 = published[s]; /* x86 keeps loads in order: this one is older than the window read */
		u64 v = *(volatile u64 *)va;
		u32 g = (u32)(v >> 16) & 0xffffff;
		if (v >> 48 != MAGIC || ((v >> 40) & 0xff) != (u64)s || (v & 0xffff) != j || g < g0) {
			err_va = va;
			err_val = v;
			err_want_gen = g0;
			ap_error = 1;
			break;
		}
		ap_newer += g > g0;
		/* cpu_relax() now and then. Hardware takes a pending interrupt at the next instruction boundary anyway;
		 * QEMU TCG 7.2 may not notice the first IPI in a loop that never leaves its translated code, and its
		 * PAUSE does leave it. */
		if ((++ap_reads & 255) == 0)
			pause();
	}
	cli();
	ap_done = 1;
	for (;;)
		asm volatile("cli; hlt");
}

static void check_ap(const char *when)
{
	if (!ap_error)
		return;
	u64 v = err_val, s = (err_va - slot_va(SLOT_SMP)) / PAGE_SIZE;
	if (v >> 48 == POISON)
		fail("%s: the AP read poison at 0x%lx: page 0x%lx, freed after its shootdown (slot %lu, generation >= "
		     "%lu)",
		     when, err_va, (u64)(v & PTE_ADDR), s, err_want_gen);
	if (v >> 48 != MAGIC)
		fail("%s: the AP read 0x%lx at 0x%lx: no window page's", when, v, err_va);
	fail("%s: the AP read slot %lu generation %lu qword %lu at 0x%lx, want slot %lu generation >= %lu qword %lu",
	     when, (v >> 40) & 0xff, (v >> 16) & 0xffffff, v & 0xffff, err_va, s, err_want_gen, (err_va & 0xfff) / 8);
}

static u64 take_page(void)
{
	if (q_head == q_tail)
		fail("free page queue empty");
	return queue[q_head++ % POOL];
}

static void give_page(u64 pa)
{
	queue[q_tail++ % POOL] = pa;
}

static void round_once(u32 r)
{
	int n = r % MULTI_EVERY == MULTI_EVERY - 1 ? 4 : 1, slots[4];
	u64 old[4];
	for (int i = 0; i < n; i++) {
		int s;
		bool dup;
		do {
			s = (int)rnd_below(WIN);
			dup = false;
			for (int k = 0; k < i; k++)
				dup |= slots[k] == s;
		} while (dup);
		slots[i] = s;
		u64 q = take_page();
		fill(q, s, gen[s] + 1);
		old[i] = page_of[s];
		page_of[s] = q;
		pte_write(&pt[s], q | PTE_P | PTE_W, (enum pte_op)rnd_below(NR_PTE_OPS));
		invlpg(window(s));
		req_va[i] = window(s);
	}
	req_n = (u32)n;
	req_full = n > 1;
	u32 seq = req_seq + 1;
	req_seq = seq;
	if (!lapic_send_ipi(1, ICR_FIXED | VEC_FLUSH, timeout))
		fail("round %u: the flush IPI stayed busy", r);
	u64 t0 = rdtsc();
	while (ack_seq != seq) {
		check_ap("waiting for an acknowledgement");
		if (rdtsc() - t0 > timeout)
			fail("round %u: the AP did not acknowledge the flush within %lu cycles (it made %lu reads, "
			     "took %lu "
			     "flush IPIs)",
			     r, timeout, (u64)ap_reads, (u64)ap_flushes);
		pause();
	}
	for (int i = 0; i < n; i++) {
		int s = slots[i];
		u64 v = *(volatile u64 *)(window(s) + 8);
		if (v != (MAGIC << 48 | (u64)s << 40 | (u64)((gen[s] + 1) & 0xffffff) << 16 | 1))
			fail("round %u: the BSP reads 0x%lx in slot %d after its own INVLPG", r, v, s);
		gen[s]++;
		published[s] = gen[s];
	}
	for (int i = 0; i < n; i++) {
		poison(old[i]);
		give_page(old[i]);
	}
	check_ap("after a round");
}

void phase_smp(void)
{
	u64 ncpus = 1;
	cmdline_u64("cpus", &ncpus);
	if (ncpus < 2) {
		skip("one vCPU (the VM and the command line need cpus=2)");
		return;
	}
	u64 pdpt = slot_link(SLOT_SMP);
	u64 *pd = ps_table();
	table_at(pdpt)[0] = (u64)pd | PTE_P | PTE_W;
	pt = ps_table();
	pd[0] = (u64)pt | PTE_P | PTE_W;
	u64 pages = ps_alloc(POOL * PAGE_SIZE, PAGE_SIZE);
	for (int i = 0; i < POOL; i++) {
		u64 pa = pages + (u64)i * PAGE_SIZE;
		if (i < WIN) {
			fill(pa, i, 1);
			gen[i] = 1;
			published[i] = 1;
			page_of[i] = pa;
			pt[i] = pa | PTE_P | PTE_W;
		} else {
			poison(pa);
			give_page(pa);
		}
	}
	lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
	trap_set_handler(VEC_FLUSH, on_flush);
	int ret = smp_start_ap(1, ap_main, 1, (u64)&ap_stack[sizeof(ap_stack)], timeout);
	if (ret)
		fail("AP 1 did not start (error %d)", ret);
	u64 t0 = rdtsc();
	while (!ap_ready)
		if (rdtsc() - t0 > timeout)
			fail("AP 1 started but never got ready");
	u64 rounds = ROUNDS;
	cmdline_u64("smp_rounds", &rounds);
	for (u32 r = 0; r < rounds; r++)
		round_once(r);
	u64 reads = ap_reads;
	stop = 1;
	t0 = rdtsc();
	while (!ap_done)
		if (rdtsc() - t0 > timeout)
			fail("the AP did not stop");
	check_ap("at the end");
	if (ap_flushes != rounds || reads < rounds)
		fail("the AP took %lu flush IPIs (want %lu) and made %lu reads (want >= %lu)", ap_flushes, rounds,
		     reads, rounds);
	printf("ptstorm: smp: %lu shootdowns (%lu of 4 pages, full flush); the AP read %lu times, never an old page "
	       "(%lu times one not yet published)\n",
	       rounds, rounds / MULTI_EVERY, (u64)ap_reads, (u64)ap_newer);
	pass();
}
