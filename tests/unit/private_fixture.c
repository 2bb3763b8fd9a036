/* The fake owner of a private VM (see private_fixture.h): its direct map is the fake physical memory's own page
 * protections, its hooks check what the mirror root and the hardware root hold while they run. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private_fixture.h"

struct priv_fixture pf;

void pf_fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&pf.nerr, 1, __ATOMIC_SEQ_CST))
		return;
	va_start(ap, fmt);
	vsnprintf(pf.err, sizeof(pf.err), fmt, ap);
	va_end(ap);
}

static struct pf_ev *pf_log(enum pf_ev_kind kind, gfn_t gfn, hpa_t hpa)
{
	static _Thread_local struct pf_ev scratch;
	struct pf_ev *e = &scratch;

	if (!pf.no_log) {
		u32 i = __atomic_fetch_add(&pf.nlog, 1, __ATOMIC_SEQ_CST);

		if (i < PF_LOG_MAX)
			e = &pf.log[i];
		else
			pf_fail("the event log is full");
	}
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->gfn = gfn;
	e->hpa = hpa;
	e->flushes = __atomic_load_n(&pf.flushes, __ATOMIC_SEQ_CST);
	return e;
}

/* ---- the direct map: page protections of the fake physical memory ---- */

static _Thread_local sigjmp_buf *probe_jb;

static void protect(hpa_t frame, bool present)
{
	if (mprotect(phys_to_virt(frame), PAGE_SIZE, present ? PROT_READ | PROT_WRITE : PROT_NONE))
		abort();
}

/* A read or write of a frame out of the direct map: recorded as the test's failure, and the frame made accessible so
 * that the access completes (the test then fails cleanly instead of dying). A probe ends instead. Anything else is a
 * real crash: the default action. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	const char *base = phys_to_virt(0), *a = si->si_addr;
	hpa_t frame = (hpa_t)(a - base) & ~(hpa_t)(PAGE_SIZE - 1);

	(void)uc;
	if (probe_jb)
		siglongjmp(*probe_jb, 1);
	if (a < base || frame >= (PF_FRAMES << PAGE_SHIFT) || !pf.absent[frame >> PAGE_SHIFT]) {
		signal(sig, SIG_DFL);
		return;
	}
	pf_fail("the hypervisor touched frame %#llx while it was out of the direct map", (unsigned long long)frame);
	protect(frame, true);
}

static void install_segv_handler(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sysconf(_SC_PAGESIZE) != PAGE_SIZE)
		abort();
	done = true;
}

bool frame_readable(hpa_t frame)
{
	sigjmp_buf jb;
	volatile bool ok = false;

	if (!sigsetjmp(jb, 1)) {
		probe_jb = &jb;
		(void)*(volatile u8 *)phys_to_virt(frame);
		ok = true;
	}
	probe_jb = NULL;
	return ok;
}

bool frame_is_zero(hpa_t frame)
{
	const u8 *p = phys_to_virt(frame);

	for (unsigned int i = 0; i < PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- walks ---- */

hpa_t ram_hpa(gfn_t gfn)
{
	const struct memslot *s = memslot_find(&fx.mmu.slots, gfn);

	return s ? memslot_gfn_to_hpa(s, gfn) : INVALID_HPA;
}

u64 *raw_walk(hpa_t top, gfn_t gfn, int *level)
{
	u64 *pt = phys_to_virt(top);

	for (int l = TDP_ROOT_LEVEL;; l--) {
		u64 *e = &pt[(gfn >> (9 * (l - 1))) & (PT_ENTRIES - 1)];
		u64 v = __atomic_load_n(e, __ATOMIC_ACQUIRE);

		if (l == 1 || !spte_is_present(v) || spte_is_leaf(v, l)) {
			*level = l;
			return e;
		}
		pt = phys_to_virt(v & PT_ADDR_MASK);
	}
}

u64 mirror_spte(gfn_t gfn)
{
	int level;
	u64 v = __atomic_load_n(raw_walk(fx.mmu.priv.mirror->hpa, gfn, &level), __ATOMIC_ACQUIRE);

	return level == 1 ? v : 0;
}

u64 leaf_of(hpa_t top, gfn_t gfn)
{
	int level;
	u64 v = __atomic_load_n(raw_walk(top, gfn, &level), __ATOMIC_ACQUIRE);

	return spte_is_present(v) && spte_is_leaf(v, level) ? v : 0;
}

u64 mirror_leaf(gfn_t gfn)
{
	return leaf_of(fx.mmu.priv.mirror->hpa, gfn);
}

u64 direct_leaf(gfn_t gfn)
{
	return leaf_of(fx.vcpu.current->hpa, gfn);
}

hpa_t hw_translate(gpa_t gpa)
{
	return pt_translate(fx.mmu.fmt, fx.mmu.priv.hw_top, gpa);
}

/* ---- the owner's hooks ---- */

static int pf_set_external(void *owner, gfn_t gfn, hpa_t frame)
{
	struct pf_ev *e = pf_log(PF_SET, gfn, frame);
	u64 f = frame >> PAGE_SHIFT;
	int r = 0;

	if (owner != &fx || frame != ram_hpa(gfn) || f >= PF_FRAMES) {
		pf_fail("set_external_spte(gfn %#llx, frame %#llx): not that gfn's frame", (unsigned long long)gfn,
			(unsigned long long)frame);
		return -EINVAL;
	}
	/* The leaf must not be visible yet, to software walkers nor to the hardware. */
	e->mirror_spte = mirror_spte(gfn);
	e->hw_hpa = hw_translate(priv_gpa(gfn));
	if (e->mirror_spte != SPTE_FROZEN)
		pf_fail("set_external_spte(gfn %#llx): the mirror entry is %#llx, not frozen", (unsigned long long)gfn,
			(unsigned long long)e->mirror_spte);
	if (e->hw_hpa != INVALID_HPA)
		pf_fail("set_external_spte(gfn %#llx): the hardware root already translates it", (unsigned long long)gfn);
	if (pf.fail_next > 0) {
		pf.fail_next--;
		r = pf.fail_err;
	} else if (pf.fail_every && __atomic_add_fetch(&pf.set_calls, 1, __ATOMIC_RELAXED) % pf.fail_every == 0) {
		r = -ENOMEM;
	}
	e->result = r;
	if (r) {
		__atomic_fetch_add(&pf.refused, 1, __ATOMIC_SEQ_CST);
		return r;
	}
	if (__atomic_exchange_n(&pf.absent[f], 1, __ATOMIC_SEQ_CST))
		pf_fail("frame %#llx taken out of the direct map twice", (unsigned long long)frame);
	pf.nset[f]++;
	pf.set_flushes[f] = __atomic_load_n(&pf.flushes, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&pf.sets, 1, __ATOMIC_SEQ_CST);
	protect(frame, false);
	if (pf.on_set)
		pf.on_set(gfn, frame);
	return 0;
}

static void pf_remove_external(void *owner, gfn_t gfn, hpa_t frame)
{
	u64 f = frame >> PAGE_SHIFT;
	u64 leaf;

	pf_log(PF_REMOVE, gfn, frame);
	if (owner != &fx || frame != ram_hpa(gfn) || f >= PF_FRAMES) {
		pf_fail("remove_external_spte(gfn %#llx, frame %#llx): not that gfn's frame", (unsigned long long)gfn,
			(unsigned long long)frame);
		return;
	}
	if (!__atomic_exchange_n(&pf.absent[f], 0, __ATOMIC_SEQ_CST))
		pf_fail("frame %#llx removed but it was in the direct map", (unsigned long long)frame);
	/* The leaf went (the caller holds the write lock: nothing can map it again meanwhile), and a remote flush
	 * came after it, which is after the set. */
	leaf = fx.mmu.priv.mirror ? mirror_leaf(gfn) : 0;
	if (leaf && spte_pfn(leaf) == f)
		pf_fail("frame %#llx removed while the mirror still maps it", (unsigned long long)frame);
	if (__atomic_load_n(&pf.flushes, __ATOMIC_SEQ_CST) <= pf.set_flushes[f])
		pf_fail("frame %#llx removed without a remote flush since it went private", (unsigned long long)frame);
	pf.nremove[f]++;
	__atomic_fetch_add(&pf.removes, 1, __ATOMIC_SEQ_CST);
	protect(frame, true);
	memset(phys_to_virt(frame), 0, PAGE_SIZE);
}

static void pf_free_external_spt(void *owner, hpa_t table, int level)
{
	struct pf_ev *e = pf_log(PF_FREE_SPT, 0, table);

	if (owner != &fx)
		pf_fail("free_external_spt: wrong owner");
	e->level = level;
	__atomic_fetch_add(&pf.spts_freed, 1, __ATOMIC_SEQ_CST);
}

const struct mmu_external_ops pf_ext_ops = {
	.set_external_spte = pf_set_external,
	.remove_external_spte = pf_remove_external,
	.free_external_spt = pf_free_external_spt,
};

/* The remote flush returns once every vCPU has left guest mode (mmu.h), as the real one does. */
static void pf_flush(void *owner)
{
	unsigned int spins = 0;

	if (owner != &fx)
		pf_fail("flush: wrong owner");
	for (int i = 0; i < pf.nvcpus; i++)
		while (__atomic_load_n(&pf.in_guest[i], __ATOMIC_SEQ_CST))
			host_spin_relax(&spins);
	pf_log(PF_FLUSH, 0, 0);
	__atomic_fetch_add(&pf.flushes, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&fx.flushes, 1, __ATOMIC_RELAXED);
}

static void pf_request_free_obsolete(void *owner)
{
	(void)owner;
	fx.root_requests++;
}

static void pf_spte_changed(void *owner, gfn_t gfn, u64 old, u64 new, int level)
{
	(void)owner;
	if (spte_is_present(old) && spte_is_leaf(old, level) && !(spte_is_present(new) && spte_is_leaf(new, level)))
		pf_log(PF_ZAP, gfn, pt_leaf_hpa(old, level))->level = level;
	if (fx.hook)
		fx.hook(gfn, old, new, level);
}

static const struct mmu_ops pf_ops = {
	.flush_remote_tlbs = pf_flush,
	.request_free_obsolete_roots = pf_request_free_obsolete,
	.spte_changed = pf_spte_changed,
};

/* ---- setup and teardown ---- */

/* A test that failed left frames out of the direct map: the next frame allocation must not fault on them. */
static void restore_absent(void)
{
	for (u64 f = 0; f < PF_FRAMES; f++)
		if (pf.absent[f])
			protect(f << PAGE_SHIFT, true);
}

void priv_setup_shared_only(const struct pt_format *f)
{
	restore_absent();
	memset(&pf, 0, sizeof(pf));
	install_segv_handler();
	setup(f);
	fx.mmu.ops = &pf_ops;
	real_ram(0, RAM_PAGES);
}

void priv_setup(const struct pt_format *f)
{
	priv_setup_shared_only(f);
	CHECK_EQ(mmu_private_enable(&fx.mmu, SHARED_BIT, &pf_ext_ops), 0);
	CHECK_EQ(mmu_load_root(&fx.mmu, &fx.vcpu, NULL), 0);
	CHECK(fx.mmu.priv.shared_root == fx.vcpu.current);
}

void priv_teardown(void)
{
	u64 leaked = 0, unmatched = 0;

	teardown();
	for (u64 f = 0; f < PF_FRAMES; f++) {
		if (pf.absent[f]) {
			leaked++;
			protect(f << PAGE_SHIFT, true);
			pf.absent[f] = 0;
		}
		unmatched += pf.nset[f] != pf.nremove[f];
	}
	if (pf.nerr)
		test_fail(__FILE__, __LINE__, "%s", pf.err);
	CHECK_EQ(leaked, 0);
	CHECK_EQ(unmatched, 0);
	CHECK_EQ(pf.sets, pf.removes);
}

int pfault(gpa_t gpa, u32 access)
{
	struct mmu_fault f;
	int r = mmu_page_fault(&fx.mmu, &fx.vcpu, gpa, access, &f);

	if (pf.nerr)
		test_fail(__FILE__, __LINE__, "%s", pf.err);
	CHECK_EQ(f.gfn, (gpa >> PAGE_SHIFT) & ~(fx.mmu.priv.enabled ? fx.mmu.priv.shared_gfn : 0));
	return r;
}

u32 pf_count(u32 from, enum pf_ev_kind kind, hpa_t hpa)
{
	u32 n = 0;

	for (u32 i = from; i < pf.nlog && i < PF_LOG_MAX; i++)
		n += pf.log[i].kind == kind && (hpa == INVALID_HPA || pf.log[i].hpa == hpa);
	return n;
}

u32 pf_find(u32 from, enum pf_ev_kind kind, hpa_t hpa)
{
	for (u32 i = from; i < pf.nlog && i < PF_LOG_MAX; i++)
		if (pf.log[i].kind == kind && (hpa == INVALID_HPA || pf.log[i].hpa == hpa))
			return i;
	return ~0u;
}
