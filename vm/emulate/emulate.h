/* The x86 instruction emulator: decodes one guest instruction and executes it. It covers the integer instructions a
 * guest can aim at device memory or at write-tracked RAM (MOV forms, ALU read-modify-writes, shifts, multiplies and
 * divides, bit operations, conditional moves and sets, the string instructions with REP (INS and OUTS when the caller
 * gives port callbacks), the atomics, MOVBE, pushes,
 * pops and near branches through memory, XLAT), the common SSE/AVX moves (when the caller gives vector-register
 * callbacks) and the system instructions a real-mode or privileged-instruction caller needs (when it gives a
 * struct emu_sys_ops). Guest state comes in through struct emu_ctxt and every access goes out through callbacks, so
 * it runs on the host and under a fuzzer.
 *
 * Use: fill regs/rip/rflags/mode/seg_base/ops/opaque (and prefetch when the exit supplied the instruction bytes), call
 * emu_run(), then act on the result. Nothing a guest does can make it panic, loop or read past the 15 fetched bytes.
 * Data accesses are checked against segment limits and types when the caller gives them (seg_checks); instruction
 * fetches are not (the CPU fetched the instruction that exited).
 * Read-modify-writes are a read callback followed by a write callback; a LOCKed one (and XCHG with memory, locked
 * implicitly) ends with the cmpxchg callback instead when the caller gives one, so that it is atomic against other
 * vCPUs where the caller can make it so (vm/mmio.c: naturally aligned RAM up to 8 bytes). Without it, or where the
 * caller cannot, the caller serialises them (device models do) and a LOCKed access to RAM another vCPU shares is
 * not atomic. */
#ifndef VM_EMULATE_EMULATE_H
#define VM_EMULATE_EMULATE_H

#include "hv/compiler.h"

#define EMU_MAX_INSN_LEN 15
#define EMU_REP_BATCH	 256 /* default REP iterations per emu_run call */

/* How the CPU decodes: from CR0.PE, RFLAGS.VM, EFER.LMA, CS.L and CS.D (see emu_mode_of). */
enum emu_mode {
	EMU_MODE_REAL,	 /* real and virtual-8086 mode: 16-bit defaults */
	EMU_MODE_PROT16, /* protected or compatibility mode, CS.D = 0 */
	EMU_MODE_PROT32, /* protected or compatibility mode, CS.D = 1 */
	EMU_MODE_64,	 /* 64-bit mode: EFER.LMA and CS.L */
};

/* Segment registers, in the order of their encoding in instructions. */
enum emu_seg { EMU_SEG_ES, EMU_SEG_CS, EMU_SEG_SS, EMU_SEG_DS, EMU_SEG_FS, EMU_SEG_GS, EMU_NR_SEGS };

/* GPR numbers, as encoded in ModRM/SIB/REX; the same order as enum vcpu_reg. */
/* clang-format off */
enum emu_reg {
	EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
	EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15,
	EMU_NR_REGS
};
/* clang-format on */
#define EMU_REG_NONE 0xff

/* RFLAGS bits the emulator reads or writes. */
#define EMU_FL_CF    BIT(0)
#define EMU_FL_PF    BIT(2)
#define EMU_FL_AF    BIT(4)
#define EMU_FL_ZF    BIT(6)
#define EMU_FL_SF    BIT(7)
#define EMU_FL_DF    BIT(10)
#define EMU_FL_OF    BIT(11)
#define EMU_FL_ARITH (EMU_FL_CF | EMU_FL_PF | EMU_FL_AF | EMU_FL_ZF | EMU_FL_SF | EMU_FL_OF)

/* Exception vectors the emulator raises itself. */
#define EMU_VEC_DE 0 /* DIV, IDIV */
#define EMU_VEC_DB 1 /* never by the emulator: a get_dr/set_dr callback reports DR7.GD this way */
#define EMU_VEC_UD 6
#define EMU_VEC_NM 7 /* vector moves with CR0.TS */
#define EMU_VEC_SS 12
#define EMU_VEC_GP 13
#define EMU_VEC_PF 14

/* A guest exception: raised by the emulator or reported by a callback. */
struct emu_fault {
	u8 vector;
	bool has_error;
	u32 error_code;
	gva_t cr2; /* #PF: the faulting linear address */
};

/*
 * The caller's side. Each callback returns 0 on success; EMU_CB_FAULT after filling *fault with the exception the
 * guest gets (a #PF from the page walk, say); -EAGAIN when the instruction should be re-executed by the guest
 * (EMU_RETRY); any other negative errno for a failure that is not the guest's (EMU_ERROR). The caller translates
 * the linear address (gwalk) and decides whether it is RAM or MMIO. Multi-byte values are little-endian.
 * - fetch: len is 1..15 and the range never crosses a page.
 * - read, write: size is 1, 2, 4 or 8, and 16 or 32 for CMPXCHG16B and the vector moves; the range may cross a
 *   page (a misaligned access): the callback then translates both pages; a #PF on the second page reports that
 *   page's first byte in cr2 (as KVM does). A 16- or 32-byte access may reach a device as several 8-byte ones
 *   (hardware splits SSE accesses to uncached memory too); CMPXCHG16B's 16 bytes are aligned.
 * - cmpxchg (optional): the write of a LOCKed read-modify-write: store *new (size bytes, as write) if memory still
 *   holds *old, the value the emulator read; -EAGAIN when it does not (nothing is written, and the guest re-executes
 *   the instruction: EMU_RETRY). Where the caller cannot compare atomically (a device, a misaligned or 16-byte
 *   operand) it writes as write does.
 * - get_vreg, set_vreg (optional; without them the SSE/AVX moves are EMU_UNHANDLED): the guest's XMM/YMM register
 *   reg (0..15). size 16 is bits 127:0 (set_vreg keeps bits 255:128, as a legacy SSE write does); size 32 is the
 *   whole YMM register (a VEX.128 write passes 32 bytes with the upper 16 zero). Called only after the emulator's
 *   own checks of cr0/cr4/xcr0 (below) passed. Return 0, or a negative errno.
 * - check_write (optional): the translation a write of size bytes at linear would make, without writing: 0, or
 *   EMU_CB_FAULT with the fault the write would raise. INS calls it before it reads the port, so that a fault on the
 *   destination leaves the device untouched, as on the CPU (which probes the destination first).
 * - pio_in, pio_out (optional; without them INS and OUTS are EMU_UNHANDLED): one port access of size 1, 2 or 4;
 *   pio_in fills *val zero-extended. The I/O permission check (CPL > IOPL, the TSS bitmap) is not theirs: the CPU
 *   makes it before the instruction can exit, so every INS/OUTS that reaches the emulator has passed it.
 * Linear addresses never wrap: canonical at both ends in 64-bit mode, below 4 GiB otherwise.
 */
#define EMU_CB_FAULT 1
struct emu_ops {
	int (*fetch)(void *opaque, gva_t linear, void *buf, unsigned int len, struct emu_fault *fault);
	int (*read)(void *opaque, gva_t linear, void *buf, unsigned int size, struct emu_fault *fault);
	int (*write)(void *opaque, gva_t linear, const void *buf, unsigned int size, struct emu_fault *fault);
	int (*check_write)(void *opaque, gva_t linear, unsigned int size, struct emu_fault *fault);
	int (*pio_in)(void *opaque, u16 port, unsigned int size, u32 *val);
	int (*pio_out)(void *opaque, u16 port, unsigned int size, u32 val);
	int (*cmpxchg)(void *opaque, gva_t linear, const void *old, const void *new, unsigned int size,
		       struct emu_fault *fault);
	int (*get_vreg)(void *opaque, unsigned int reg, void *buf, unsigned int size);
	int (*set_vreg)(void *opaque, unsigned int reg, const void *buf, unsigned int size);
	/* Optional: after a REP iteration, whether it must be the batch's last (a data or I/O breakpoint it hit traps
	 * after that iteration, SDM Vol. 3B 18.3.1.2); the REP then returns EMU_CONTINUE with RIP at it. */
	bool (*rep_stop)(void *opaque);
};

/*
 * System state, for the system instructions (optional: ctxt->sys NULL, or a NULL member, leaves the instructions
 * that need it EMU_UNHANDLED). Each int-returning callback returns 0, EMU_CB_FAULT with *fault filled (the #GP a CR
 * or MSR write's checks raise, the #DB of DR7.GD), -EAGAIN (EMU_RETRY) or a negative errno (EMU_ERROR).
 * The emulator has already done the checks the instruction itself makes: LOCK and invalid registers (#UD), CPL > 0
 * (#GP(0)), CR4.UMIP, LMSW's "PE is never cleared", CLTS's "only TS changes"; the callback does the checks of the
 * value written, and what a write implies (paging-mode changes, TLB flushes, the vCPU's mode for the next run).
 * - get_cr, set_cr: cr is 0, 2, 3, 4 or 8. A 32-bit-mode MOV to CR passes the zero-extended 32-bit value.
 * - get_dr, set_dr: dr is 0-3, 6 or 7 (the emulator turns DR4/DR5 into DR6/DR7 when CR4.DE is clear, #UD when set);
 *   the callback raises DR7.GD's #DB and the #GP of a set upper half of DR6/DR7.
 * - get_dt, set_dt: the GDTR (idt false) or the IDTR. set_dt gets the base as the instruction loaded it (24 or 32
 *   bits outside 64-bit mode).
 * - get_seg_sel: the LDTR (0) or TR (1) selector, for SLDT and STR.
 * - rdmsr, wrmsr: the index from ECX; #GP for an unknown MSR or a refused value goes in *fault.
 * - halt: HLT; rip has not advanced yet, and advances when halt returns 0; the caller then parks the vCPU.
 * - invlpg: INVLPG's linear address (segment base applied; a non-canonical one is a no-op and never gets here).
 * - wbinvd: WBINVD and INVD.
 */
struct emu_sys_ops {
	int (*get_cr)(void *opaque, unsigned int cr, u64 *val);
	int (*set_cr)(void *opaque, unsigned int cr, u64 val, struct emu_fault *fault);
	int (*get_dr)(void *opaque, unsigned int dr, u64 *val, struct emu_fault *fault);
	int (*set_dr)(void *opaque, unsigned int dr, u64 val, struct emu_fault *fault);
	void (*get_dt)(void *opaque, bool idt, u16 *limit, u64 *base);
	void (*set_dt)(void *opaque, bool idt, u16 limit, u64 base);
	u16 (*get_seg_sel)(void *opaque, unsigned int which); /* 0: LDTR, 1: TR (SLDT/STR) */
	int (*rdmsr)(void *opaque, u32 msr, u64 *val, struct emu_fault *fault);
	int (*wrmsr)(void *opaque, u32 msr, u64 val, struct emu_fault *fault);
	int (*halt)(void *opaque);
	int (*invlpg)(void *opaque, gva_t linear);
	int (*wbinvd)(void *opaque);
};

enum emu_result {
	EMU_OK,	       /* executed: rip, registers, flags and memory updated */
	EMU_CONTINUE,  /* a REP string instruction did a batch of iterations and has more: rip unchanged, registers
			* updated; call again (or re-enter the guest, which re-executes it) */
	EMU_RETRY,     /* a callback asked for it, or a LOCKed operand changed under the emulator: nothing changed but
			* completed REP iterations; re-enter the guest */
	EMU_UNHANDLED, /* not an instruction this emulator does: inject #UD and log emu_format_bytes() */
	EMU_EXCEPTION, /* deliver ctxt->exc; rip unchanged, state as the CPU leaves it for a faulting instruction */
	EMU_ERROR,     /* a callback failed with ctxt->error (a negative errno) */
};

/* One decoded instruction. */
struct emu_insn {
	u8 bytes[EMU_MAX_INSN_LEN];
	u8 nbytes; /* bytes fetched or supplied so far (at least len) */
	u8 len;	   /* instruction length, once decoded; 0 if decoding stopped early */
	u8 map;	   /* 0: one-byte opcode map, 1: 0F, 2: 0F 38, 3: 0F 3A */
	u8 opcode;
	u8 op_size;   /* operand size in bytes: 1, 2, 4, 8 */
	u8 addr_size; /* address size in bytes: 2, 4, 8 */
	u8 rex;	      /* the REX prefix in effect (0x40..0x4f), or 0 */
	u8 rep;	      /* 0, 0xf2 (REPNE) or 0xf3 (REP), the last one given */
	u8 simd;      /* the SIMD prefix of a vector instruction: 0, 0x66, 0xf3 or 0xf2 (VEX.pp, or the legacy prefixes:
		       * the last F2/F3, else 66) */
	bool vex;     /* VEX-encoded (C4/C5) */
	bool vex_l;   /* VEX.L: 256-bit */
	bool vex_w;   /* VEX.W (REX.W in rex too, in 64-bit mode) */
	u8 vex_v;     /* VEX.vvvv, un-inverted: 0 when the field holds 1111b (unused) */
	bool lock;
	bool opsize_prefix;   /* 66 */
	bool addrsize_prefix; /* 67 */
	bool seg_override;
	u8 seg; /* enum emu_seg of the memory operand (the string source for MOVS/LODS) */
	bool has_modrm;
	u8 modrm;
	u8 mod;
	u8 reg; /* ModRM.reg with REX.R */
	u8 rm;	/* ModRM.rm with REX.B */
	bool has_sib;
	u8 sib;
	/* The memory operand: base + index * scale + disp (+ the next rip when rip_rel), truncated to addr_size.
	 * 16-bit forms use base and index too ([BP+SI] is base RBP, index RSI). MOV moffs puts the offset in disp. */
	bool mem;
	u8 base;  /* enum emu_reg or EMU_REG_NONE */
	u8 index; /* enum emu_reg or EMU_REG_NONE */
	u8 scale; /* 1, 2, 4, 8 */
	bool rip_rel;
	u8 disp_size; /* bytes of displacement (or moffs) in the encoding */
	s64 disp;
	u8 imm_size; /* bytes of immediate in the encoding */
	u64 imm;     /* sign-extended to 64 bits */
};

struct emu_ctxt {
	/* In, set by the caller before emu_run. */
	u64 *regs;  /* the vCPU's GPRs, enum emu_reg order: read and written in place */
	u64 rip;    /* in and out */
	u64 rflags; /* in and out */
	enum emu_mode mode;
	u8 cpl;			   /* the callbacks' page walks, and #GP(0) for privileged instructions when > 0 (the
				    * caller of virtual-8086 code passes EMU_MODE_REAL with cpl 3) */
	u64 seg_base[EMU_NR_SEGS]; /* in 64-bit mode only the FS and GS bases count */
	/* Segment limits and types, checked outside 64-bit mode when seg_checks is set (SDM Vol. 3A 5.3 and 5.4.1): a
	 * data access outside [base, base + limit] (or, expand-down, not above the limit and within 64K or 4G by D/B)
	 * raises #GP(0), #SS(0) on SS; in protected mode so do an unusable (null) segment, a write to a code or read-only
	 * segment and a read of an execute-only one. Without seg_checks only the 4 GiB boundary counts. seg_limit is
	 * the byte-granular limit (G already applied); seg_flags holds EMU_SEGF_*. An instruction fetch is checked
	 * against CS's limit too: #GP(0) for a byte beyond it that the decode needs, never for one it does not. */
	bool seg_checks;
	u32 seg_limit[EMU_NR_SEGS];
	u8 seg_flags[EMU_NR_SEGS];
	u8 stack_size;		   /* SS.B outside 64-bit mode: 4 for a 32-bit stack, 2 for a 16-bit one; 0 takes the
				    * mode's default (2 in real and 16-bit modes, 4 in 32-bit) */
	bool umip;		   /* CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR #GP(0) when cpl > 0 */
	u64 cr0, cr4, xcr0;	   /* CR0.EM/TS, CR4.OSFXSR/OSXSAVE and XCR0's SSE and AVX bits decide #UD and #NM
				    * of the vector moves (zeros: every SSE move is #UD); CR4.LA57 makes canonical
				    * 57-bit in 64-bit mode */
	const struct emu_ops *ops;
	const struct emu_sys_ops *sys; /* NULL: the system instructions are EMU_UNHANDLED */
	void *opaque;		       /* first argument of every callback */
	u8 prefetch[EMU_MAX_INSN_LEN]; /* instruction bytes at rip the exit supplied (SVM decode assists) */
	u8 prefetch_len;	       /* how many are valid; 0: fetch them all through ops->fetch */
	u32 rep_batch;		       /* REP iterations per emu_run; 0: EMU_REP_BATCH */
	bool length_only;	       /* emu_decode for an instruction the CPU already executed and an intercept
					* stopped (CPUID, RDMSR, VMMCALL...): also decode the opcodes the emulator does not
					* execute but whose shape it knows, for insn.len (SVM without NRIPS) */

	/* Out. */
	struct emu_insn insn; /* the last instruction decoded */
	struct emu_fault exc; /* EMU_EXCEPTION */
	int error;	      /* EMU_ERROR */
};

#define EMU_SEGF_UNUSABLE BIT(0) /* a null selector in protected mode */
#define EMU_SEGF_EXPDOWN  BIT(1) /* an expand-down data segment */
#define EMU_SEGF_BIG	  BIT(2) /* D/B: an expand-down segment ends at 4G - 1 rather than 64K - 1 */
#define EMU_SEGF_NOREAD	  BIT(3) /* execute-only code */
#define EMU_SEGF_NOWRITE  BIT(4) /* code, or read-only data */

/* Operations of emu_alu: the first eight in the order of their ModRM.reg encoding in opcodes 80-83. */
/* clang-format off */
enum emu_alu_op {
	EMU_ALU_ADD, EMU_ALU_OR, EMU_ALU_ADC, EMU_ALU_SBB, EMU_ALU_AND, EMU_ALU_SUB, EMU_ALU_XOR, EMU_ALU_CMP,
	EMU_ALU_TEST, EMU_ALU_INC, EMU_ALU_DEC, EMU_ALU_NEG, EMU_ALU_NOT,
};
/* clang-format on */

enum emu_mode emu_mode_of(bool cr0_pe, bool rflags_vm, bool efer_lma, bool cs_l, bool cs_d);

/* Decode and execute the instruction at rip (one batch of iterations for REP string instructions). */
enum emu_result emu_run(struct emu_ctxt *ctxt);
/* The two halves of emu_run: decode into ctxt->insn (EMU_OK, EMU_UNHANDLED, EMU_EXCEPTION, EMU_RETRY, EMU_ERROR),
 * then execute ctxt->insn. */
enum emu_result emu_decode(struct emu_ctxt *ctxt);
enum emu_result emu_execute(struct emu_ctxt *ctxt);

/* The fast path for the plain moves with a memory operand (MOV 88-8B, A0-A3, C6/C7; MOVZX, MOVSX): whether
 * ctxt->insn is one, and its execution, the same as emu_execute's (EMU_UNHANDLED, nothing done, for any other). LOCK
 * is #UD on all of them, which emu_execute raises. */
static inline bool emu_insn_is_fast_mov(const struct emu_insn *insn)
{
	u8 op = insn->opcode;

	if (!insn->len || !insn->mem || insn->lock || insn->vex)
		return false;
	if (insn->map == 1)
		return op == 0xb6 || op == 0xb7 || op == 0xbe || op == 0xbf;
	return insn->map == 0 && ((op >= 0x88 && op <= 0x8b) || (op >= 0xa0 && op <= 0xa3) || op == 0xc6 || op == 0xc7);
}
enum emu_result emu_fast_mov(struct emu_ctxt *ctxt);

/*
 * String port I/O from a VM exit that decoded it already (SVM's IOIO exit information, VMX's exit qualification and
 * instruction information): INS (in) or OUTS, with or without REP. Instead of decoding the bytes at rip, it runs the
 * emulator's string engine on this description: one batch of at most rep_batch elements, EMU_CONTINUE while the
 * count is not done (rip unchanged, RCX/RSI/RDI updated), EMU_OK with rip past the instruction (len bytes) when it
 * is. seg is the OUTS source segment (the prefix's, or DS); INS always writes ES:rDI.
 */
struct emu_pio_string {
	u16 port;
	u8 size;      /* 1, 2, 4 */
	u8 addr_size; /* 2, 4, 8 */
	u8 seg;	      /* enum emu_seg */
	u8 len;	      /* instruction length */
	bool in, rep;
};
enum emu_result emu_run_pio_string(struct emu_ctxt *ctxt, const struct emu_pio_string *io);
/* Whether ctxt->insn (decoded) is INS or OUTS. */
bool emu_insn_is_pio_string(const struct emu_insn *insn);

/* The effective address (before segmentation) of ctxt->insn's memory operand, with the current registers. */
u64 emu_insn_ea(const struct emu_ctxt *ctxt);

/* "0f 0b 90", the bytes of insn (all fetched ones when it did not decode), NUL-terminated and truncated to size;
 * returns the length of the string. */
size_t emu_format_bytes(const struct emu_insn *insn, char *buf, size_t size);
const char *emu_result_name(enum emu_result r);

/* dst op src on size-byte operands, with the CPU's flags: returns what the destination holds afterwards (truncated
 * to size; dst itself for CMP and TEST) and updates the arithmetic flags in *rflags (CF in for ADC and SBB; INC and
 * DEC keep CF; NOT changes none). Logical operations clear AF, which the SDM leaves undefined. */
u64 emu_alu(enum emu_alu_op op, u64 dst, u64 src, unsigned int size, u64 *rflags);

static inline u64 emu_size_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

#endif
