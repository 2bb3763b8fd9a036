/* ptstorm's shared helpers (ptstorm.h): reporting, randomness, free RAM, test-page content, the tables it links into
 * the boot PML4, its reference walk, and the probes that make one access and catch its page fault. */
#include "ptstorm.h"

const char *phase = "setup";
struct features feat;
u64 timeout = 2000000000ULL;

void fail(const char *fmt, ...)
{
	va_list ap;
	printf("TEST ptstorm_%s FAIL ", phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	guest_exit(EXIT_FAIL);
}

void pass(void)
{
	printf("TEST ptstorm_%s PASS\n", phase);
}

void skip(const char *fmt, ...)
{
	va_list ap;
	printf("TEST ptstorm_%s SKIP ", phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---- randomness ---- */

static u64 rnd_state = 0x9e3779b97f4a7c15ULL;

void rnd_seed(u64 s)
{
	rnd_state = s ? s : 1;
}

u64 rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

/* ---- memory ---- */

static u64 alloc_next = 2 * MiB; /* above the image's usual place; ram_find_free skips what is not free anyway */

u64 ps_alloc(u64 size, u64 align)
{
	u64 a = ram_find_free(size, align, alloc_next, PS_RAM_LIMIT);
	if (!a)
		fail("no free RAM for %lu KiB aligned to %lu KiB above 0x%lx (the VM needs 128 MiB)", size / KiB,
		     align / KiB, alloc_next);
	alloc_next = a + size;
	return a;
}

u64 *ps_table(void)
{
	u64 *t = table_at(ps_alloc(PAGE_SIZE, PAGE_SIZE));
	memset(t, 0, PAGE_SIZE);
	return t;
}

void fill_pat(u64 pa, u64 size)
{
	for (u64 a = pa; a < pa + size; a += 8)
		*(volatile u64 *)a = pat(a);
}

int pat_which(u64 v, const u64 *bases, int n, u64 off)
{
	for (int i = 0; i < n; i++)
		if (bases[i] != NOT_MAPPED && v == pat(bases[i] + off))
			return i;
	return -1;
}

u64 slot_link(unsigned slot)
{
	u64 *pml4 = table_at(read_cr3() & PTE_ADDR);
	u64 *pdpt = ps_table();
	pml4[slot] = (u64)pdpt | PTE_P | PTE_W | PTE_U;
	return (u64)pdpt;
}

u64 soft_walk(u64 pml4, u64 va)
{
	u64 table = pml4 & PTE_ADDR;
	for (int level = 4; level >= 1; level--) {
		u64 e = table_at(table)[pt_index(va, level)];
		if (!(e & PTE_P))
			return NOT_MAPPED;
		if (level == 1 || (level <= 3 && (e & PTE_PS))) {
			u64 size = level_size(level);
			return (e & PTE_ADDR & ~(size - 1)) | (va & (size - 1));
		}
		table = e & PTE_ADDR;
	}
	return NOT_MAPPED;
}

/* ---- PTE writes ---- */

const char *pte_op_name(enum pte_op how)
{
	static const char *const n[] = {"MOV", "XCHG", "LOCK CMPXCHG"};
	return how < NR_PTE_OPS ? n[how] : "?";
}

u64 pte_write(volatile u64 *p, u64 v, enum pte_op how)
{
	u64 old;
	switch (how) {
	case OP_XCHG:
		return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
	case OP_CMPXCHG:
		/* The loop of Linux's set_pte_atomic()/ptep_cmpxchg users: the CPU may set A or D in between. */
		old = *p;
		while (!__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
		return old;
	default:
		old = *p;
		*p = v;
		return old;
	}
}

/* ---- probes ---- */

volatile struct pf_record pf;
static volatile u64 kfetch_target;
static u64 user_code_va, user_stack_va;

static void on_pf(struct trap_frame *f)
{
	pf.error = f->error;
	pf.cr2 = read_cr2();
	pf.rip = f->rip;
	pf.taken = PF_VECTOR + 1;
	if ((f->cs & 3) == 3) {
		user_abort(f, 0);
		return;
	}
	if (kfetch_target && f->rip == kfetch_target) {
		/* The CALL pushed its return address before the fetch faulted: return there, as the RET would have. */
		f->rip = *(u64 *)f->rsp;
		f->rsp += 8;
		return;
	}
	if (trap_fixup(f))
		return;
	trap_fatal(f);
}

void probes_init(void)
{
	trap_set_handler(PF_VECTOR, on_pf);
}

int kread(u64 va, u64 *v, bool ac)
{
	u64 x = 0;
	pf.taken = 0;
	if (ac)
		asm volatile("stac\n\t" FIXUP("movq (%1), %0") "clac" : "+r"(x) : "r"(va) : "memory");
	else
		asm volatile(FIXUP("movq (%1), %0") : "+r"(x) : "r"(va) : "memory");
	*v = x;
	return (int)pf.taken;
}

int kwrite(u64 va, u64 v, bool ac)
{
	pf.taken = 0;
	if (ac)
		asm volatile("stac\n\t" FIXUP("movq %0, (%1)") "clac" : : "r"(v), "r"(va) : "memory");
	else
		asm volatile(FIXUP("movq %0, (%1)") : : "r"(v), "r"(va) : "memory");
	return (int)pf.taken;
}

int kfetch(u64 va)
{
	pf.taken = 0;
	kfetch_target = va;
	/* No red zone in the guest (-mno-red-zone): the pushed return address clobbers nothing. */
	asm volatile("call *%0" : : "r"(va) : "memory");
	kfetch_target = 0;
	return (int)pf.taken;
}

void probes_set_user(u64 user_code, u64 user_stack)
{
	user_code_va = user_code;
	user_stack_va = user_stack;
}

static u64 ucall(const char *stub, u64 a0, u64 a1)
{
	if (!user_code_va)
		fail("a CPL 3 probe before the user pages were mapped");
	pf.taken = 0;
	return user_call(user_code_va + user_page_offset(stub), user_stack_va, a0, a1, 0);
}

int uread(u64 va, u64 *v)
{
	*v = ucall(user_read8, va, 0);
	return (int)pf.taken;
}

int uwrite(u64 va, u64 v)
{
	ucall(user_write8, va, v);
	return (int)pf.taken;
}

int ufetch(u64 va)
{
	ucall(user_fetch, va, 0);
	return (int)pf.taken;
}
