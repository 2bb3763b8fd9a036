/*
 * Run one x86-64 instruction on the host CPU with any register state, as the reference the emulator's results are
 * compared against (test_emulate_native.c, tests/fuzz/fuzz_emulate.c). The instruction's bytes are copied to an
 * executable page; an int3 enters a SIGTRAP handler that swaps the whole register file (all 16 GPRs, RFLAGS with TF
 * set, RIP at the page, XMM0-15) in through the signal frame; sigreturn runs exactly that one instruction, and the
 * single-step trap (or the fault it raised: #DE, #UD, #GP, #PF) comes back to the handler, which takes the state
 * out and puts the test's own registers back. The handler runs on an alternate stack, so the instruction's RSP may
 * be any value. Only instructions that touch no memory other than what the caller provides make sense here.
 *
 * Needs _GNU_SOURCE before the first include (for REG_RIP and friends).
 */
#ifndef TESTS_UNIT_NATIVE_STEP_H
#define TESTS_UNIT_NATIVE_STEP_H

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#ifndef REG_RIP
#error "native_step.h needs _GNU_SOURCE defined before any include"
#endif

struct native_state {
	uint64_t regs[16]; /* RAX RCX RDX RBX RSP RBP RSI RDI R8-R15 */
	uint64_t rflags;
	uint8_t xmm[16][16];
	uint64_t rip; /* out: the offset from the instruction's start where the CPU stopped */
};

/* What stopped the instruction: it completed (NATIVE_STEPPED), or the signal of the exception it raised. */
#define NATIVE_STEPPED 0

static const int native_greg[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
				    REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static struct {
	uint8_t *page;
	uint8_t altstack[256 * 1024] __attribute__((aligned(64)));
	volatile int phase; /* 1: swap the state in; 2: take it out */
	volatile int signo;
	struct native_state *st;
	greg_t saved[NGREG];
	uint8_t saved_xmm[16][16];
	sigset_t saved_mask;
} native_ctl;

static const int native_sync_sigs[] = {SIGTRAP, SIGILL, SIGFPE, SIGSEGV, SIGBUS};

static void native_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
	struct native_state *st = native_ctl.st;

	(void)si;
	if (native_ctl.phase == 1) {
		memcpy(native_ctl.saved, g, sizeof(native_ctl.saved));
		memcpy(native_ctl.saved_xmm, fp->_xmm, sizeof(native_ctl.saved_xmm));
		for (int i = 0; i < 16; i++)
			g[native_greg[i]] = (greg_t)st->regs[i];
		g[REG_RIP] = (greg_t)(uintptr_t)native_ctl.page;
		g[REG_EFL] = (greg_t)((st->rflags & 0xcd5) | 0x102); /* arithmetic flags and DF, with IF... and TF */
		memcpy(fp->_xmm, st->xmm, sizeof(st->xmm));
		/*
		 * The instruction runs on the test's RSP, which is no stack: an asynchronous signal taken there
		 * (libFuzzer's SIGALRM, say) could not push its frame, and the kernel's forced SIGSEGV would come
		 * back here as the instruction's own fault. Only the instruction's synchronous signals stay open;
		 * sigreturn applies this mask for the one step and phase 2 puts the old one back.
		 */
		native_ctl.saved_mask = uc->uc_sigmask;
		sigfillset(&uc->uc_sigmask);
		for (unsigned int i = 0; i < sizeof(native_sync_sigs) / sizeof(native_sync_sigs[0]); i++)
			sigdelset(&uc->uc_sigmask, native_sync_sigs[i]);
		native_ctl.phase = 2;
		return;
	}
	native_ctl.signo = sig == SIGTRAP ? NATIVE_STEPPED : sig;
	for (int i = 0; i < 16; i++)
		st->regs[i] = (uint64_t)g[native_greg[i]];
	st->rflags = (uint64_t)g[REG_EFL] & ~0x100ULL;
	st->rip = (uint64_t)g[REG_RIP] - (uint64_t)(uintptr_t)native_ctl.page;
	memcpy(st->xmm, fp->_xmm, sizeof(st->xmm));
	memcpy(g, native_ctl.saved, sizeof(native_ctl.saved));
	memcpy(fp->_xmm, native_ctl.saved_xmm, sizeof(native_ctl.saved_xmm));
	uc->uc_sigmask = native_ctl.saved_mask;
	native_ctl.phase = 0;
}

/*
 * Execute code[0..len) with *st, and leave the state after it in *st: NATIVE_STEPPED when one instruction completed
 * (st->rip is then its length as the CPU saw it), else the signal of its exception (SIGFPE for #DE, SIGILL for
 * #UD, SIGSEGV or SIGBUS for #GP/#SS/#PF) with the state at the instruction. -1 when it cannot run: RSP inside the
 * alternate stack, a non-canonical RSP (AMD CPUs fault the kernel's IRET back to user mode on one, so the
 * instruction would never run: Intel's do not), or no executable page.
 */
static int native_step(const uint8_t *code, unsigned int len, struct native_state *st)
{
	const int *sigs = native_sync_sigs;
	struct sigaction sa, old[5];
	stack_t ss = {.ss_sp = native_ctl.altstack, .ss_size = sizeof(native_ctl.altstack)}, old_ss;
	uintptr_t lo = (uintptr_t)native_ctl.altstack, hi = lo + sizeof(native_ctl.altstack);

	if (st->regs[4] >= lo - 65536 && st->regs[4] <= hi + 65536)
		return -1;
	if ((uint64_t)((int64_t)(st->regs[4] << 16) >> 16) != st->regs[4])
		return -1;
	if (!native_ctl.page) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		native_ctl.page = p;
	}
	memset(native_ctl.page, 0xcc, 4096);
	memcpy(native_ctl.page, code, len > 15 ? 15 : len);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = native_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaltstack(&ss, &old_ss);
	for (int i = 0; i < 5; i++)
		sigaction(sigs[i], &sa, &old[i]);
	native_ctl.st = st;
	native_ctl.phase = 1;
	__asm__ __volatile__("int3" ::: "memory");
	for (int i = 0; i < 5; i++)
		sigaction(sigs[i], &old[i], NULL);
	sigaltstack(&old_ss, NULL);
	return native_ctl.phase == 0 ? native_ctl.signo : -1;
}

#endif
