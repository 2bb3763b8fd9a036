/* The emulator's INS and OUTS (vm/emulate/string.c), decoded from bytes and from an I/O exit's description
 * (emu_run_pio_string): element order, DF, the address sizes and how the registers wrap, REP batches, the segment
 * override (OUTS only), and the faults: a fault on the destination of INS leaves the port unread (the CPU probes
 * the destination first), one on the source of OUTS leaves it unwritten, and the registers then describe the
 * elements completed (SDM Vol. 2B INS/INSB/INSW/INSD, OUTS/OUTSB/OUTSW/OUTSD; Vol. 3A 5.3 for the limits). */
#include "test_emulate_env.h"

/* The port: reads give the bytes 0x10, 0x11, ... in order; writes are logged. */
static struct {
	unsigned int nin, nout;
	u8 next;
	u16 port[64];
	u32 out[64];
	unsigned int out_size[64];
	unsigned int nprobe;
} pio;

static int pio_in(void *opaque, u16 port, unsigned int size, u32 *val)
{
	CHECK(opaque == &env);
	CHECK(size == 1 || size == 2 || size == 4);
	*val = 0;
	for (unsigned int i = 0; i < size; i++)
		*val |= (u32)(u8)(0x10 + pio.next++) << (8 * i);
	pio.nin++;
	return 0;
}

static int pio_out(void *opaque, u16 port, unsigned int size, u32 val)
{
	CHECK(opaque == &env);
	CHECK(size == 1 || size == 2 || size == 4);
	CHECK(pio.nout < 64);
	pio.port[pio.nout] = port;
	pio.out_size[pio.nout] = size;
	pio.out[pio.nout++] = val;
	return 0;
}

/* The destination probe: the same translation as a write, nothing written. */
static int check_write(void *opaque, gva_t lin, unsigned int size, struct emu_fault *f)
{
	pio.nprobe++;
	if (!env_in(lin, size, ENV_RAM, ENV_RAM_SIZE) && !env_in(lin, size, ENV_MMIO, ENV_MMIO_SIZE))
		return env_pf(f, lin, ENV_PF_W);
	return 0;
}

static struct emu_ctxt *pio_setup(struct emu_ctxt *c)
{
	memset(&pio, 0, sizeof(pio));
	env.ops.pio_in = pio_in;
	env.ops.pio_out = pio_out;
	env.ops.check_write = check_write;
	env.regs[EMU_RDX] = 0x5fe;
	return c;
}

#define PIO_ENV(mode, ...) pio_setup(ENV(mode, __VA_ARGS__))

TEST(pio_rep_insb_forward)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0xf3, 0x6c);

	env.regs[EMU_RDI] = ENV_RAM + 0x20;
	env.regs[EMU_RCX] = 5;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nin, 5);
	CHECK_EQ(pio.nprobe, 5);
	for (unsigned int i = 0; i < 5; i++)
		CHECK_EQ(env.ram[0x20 + i], 0x10 + i);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 0x25);
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* DF=1: rDI walks down by the element size, each element little-endian at its own address. */
TEST(pio_rep_insw_backwards)
{
	struct emu_ctxt *c = PIO_ENV(M32, 0x66, 0xf3, 0x6d);

	c->rflags |= EMU_FL_DF;
	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	env.regs[EMU_RDI] = 0x40;
	env.regs[EMU_RCX] = 3;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nin, 3);
	CHECK_EQ(env.ram[0x40], 0x10);
	CHECK_EQ(env.ram[0x41], 0x11);
	CHECK_EQ(env.ram[0x3e], 0x12);
	CHECK_EQ(env.ram[0x3f], 0x13);
	CHECK_EQ(env.ram[0x3c], 0x14);
	CHECK_EQ(env.regs[EMU_RDI], 0x3a);
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK_EQ(c->rip, ENV_CODE + 3);
}

/* OUTS reads seg:rSI, and the segment can be overridden (here FS in 64-bit mode, whose base counts); REX.W leaves
 * the element a doubleword. */
TEST(pio_rep_outsd_segment_override)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0x64, 0xf3, 0x48, 0x6f);

	c->seg_base[EMU_SEG_FS] = ENV_RAM;
	env_set_ram64(ENV_RAM + 0x100, 0x4444444433333333ULL);
	env_set_ram64(ENV_RAM + 0x108, 0x6666666655555555ULL);
	env.regs[EMU_RSI] = 0x100;
	env.regs[EMU_RCX] = 4;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nout, 4);
	CHECK_EQ(pio.out[0], 0x33333333);
	CHECK_EQ(pio.out[1], 0x44444444);
	CHECK_EQ(pio.out[3], 0x66666666);
	CHECK_EQ(pio.out_size[0], 4);
	CHECK_EQ(pio.port[3], 0x5fe);
	CHECK_EQ(env.regs[EMU_RSI], 0x110);
	CHECK_EQ(c->rip, ENV_CODE + 4);
}

/* A segment override on INS changes nothing: the destination is always ES. */
TEST(pio_ins_ignores_segment_override)
{
	struct emu_ctxt *c = PIO_ENV(M32, 0x64, 0x6c);

	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	c->seg_base[EMU_SEG_FS] = ENV_MMIO;
	env.regs[EMU_RDI] = 8;
	env.regs[EMU_RCX] = 99; /* no REP: untouched */
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(env.ram[8], 0x10);
	CHECK_EQ(env.regs[EMU_RDI], 9);
	CHECK_EQ(env.regs[EMU_RCX], 99);
}

/* A 16-bit address size (67 in 32-bit code) uses DI and CX: DI wraps at 64K, and the upper bits of EDI and ECX
 * are kept. */
TEST(pio_addr16_wraps_di)
{
	struct emu_ctxt *c = PIO_ENV(M32, 0x67, 0xf3, 0x6c);

	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	env.regs[EMU_RDI] = 0xabcdfffe;
	env.regs[EMU_RCX] = 0x12340004;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(env.ram[0xfffe], 0x10);
	CHECK_EQ(env.ram[0xffff], 0x11);
	CHECK_EQ(env.ram[0x0000], 0x12);
	CHECK_EQ(env.ram[0x0001], 0x13);
	CHECK_EQ(env.regs[EMU_RDI], 0xabcd0002);
	CHECK_EQ(env.regs[EMU_RCX], 0x12340000);
}

/* A 32-bit address size in 64-bit mode uses ESI and ECX, and their writes zero-extend. */
TEST(pio_addr32_in_64bit_mode)
{
	PIO_ENV(M64, 0x67, 0xf3, 0x6e);

	env.regs[EMU_RSI] = 0xffffffff00000000ULL | ENV_RAM;
	env.regs[EMU_RCX] = 0xffffffff00000002ULL;
	env.ram[0] = 0xaa;
	env.ram[1] = 0xbb;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nout, 2);
	CHECK_EQ(pio.out[0], 0xaa);
	CHECK_EQ(pio.out[1], 0xbb);
	CHECK_EQ(env.regs[EMU_RSI], ENV_RAM + 2);
	CHECK_EQ(env.regs[EMU_RCX], 0);
}

/* A count of zero moves nothing and goes on to the next instruction. */
TEST(pio_rep_count_zero)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0xf3, 0x6d);

	env.regs[EMU_RDI] = ENV_RAM;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nin, 0);
	CHECK_EQ(pio.nprobe, 0);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM);
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* A REP runs rep_batch elements per call, leaves rip at the instruction with the registers of the elements done
 * (EMU_CONTINUE), and finishes on a later call. */
TEST(pio_rep_batches)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0xf3, 0x6c);
	unsigned int calls = 0;
	enum emu_result r;

	c->rep_batch = 200;
	env.regs[EMU_RDI] = ENV_RAM;
	env.regs[EMU_RCX] = 500;
	r = env_run();
	CHECK_EQ(r, EMU_CONTINUE);
	CHECK_EQ(env.regs[EMU_RCX], 300);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 200);
	CHECK_EQ(c->rip, ENV_CODE);
	for (calls = 1; r == EMU_CONTINUE && calls < 10; calls++) {
		env.nlog = 0;
		r = env_run();
	}
	CHECK_EQ(r, EMU_OK);
	CHECK_EQ(calls, 3);
	CHECK_EQ(pio.nin, 500);
	CHECK_EQ(env.regs[EMU_RCX], 0);
	CHECK_EQ(env.ram[499], (u8)(0x10 + 499));
	CHECK_EQ(c->rip, ENV_CODE + 2);
}

/* INS into an unmapped page: #PF with the write error code and the page's address; the elements before it are done
 * and counted, and the port is not read for the faulting one. */
TEST(pio_ins_fault_leaves_port_unread)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0xf3, 0x6c);
	u64 end = ENV_RAM + ENV_RAM_SIZE;

	env.regs[EMU_RDI] = end - 2;
	env.regs[EMU_RCX] = 5;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.error_code, ENV_PF_W);
	CHECK_EQ(c->exc.cr2, end);
	CHECK_EQ(pio.nin, 2);
	CHECK_EQ(env.regs[EMU_RCX], 3);
	CHECK_EQ(env.regs[EMU_RDI], end);
	CHECK_EQ(c->rip, ENV_CODE);
}

/* OUTS from an unmapped page: #PF (a read), nothing written to the port. */
TEST(pio_outs_fault_leaves_port_unwritten)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0x66, 0x6f);

	env.regs[EMU_RSI] = 0x7000;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(c->exc.cr2, 0x7000);
	CHECK_EQ(pio.nout, 0);
	CHECK_EQ(env.regs[EMU_RSI], 0x7000);
}

/* A non-canonical rDI in 64-bit mode is #GP(0) before the port is read. */
TEST(pio_ins_noncanonical)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0x6c);

	env.regs[EMU_RDI] = 0x0000800000000000ULL;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(pio.nin, 0);
}

/* With segment checks: ES's limit bounds INS (#GP(0), port unread), SS's bounds an SS-override OUTS (#SS(0)), a
 * read-only ES cannot take INS, and an expand-down segment accepts only offsets above its limit. */
TEST(pio_segment_limits)
{
	struct emu_ctxt *c = PIO_ENV(M32, 0x66, 0x6d);

	c->seg_checks = true;
	for (int i = 0; i < EMU_NR_SEGS; i++)
		c->seg_limit[i] = 0xffffffff;
	c->seg_base[EMU_SEG_ES] = ENV_RAM;
	c->seg_limit[EMU_SEG_ES] = 0xff;
	env.regs[EMU_RDI] = 0xff; /* the word's second byte is past the limit */
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(pio.nin, 0);
	env.regs[EMU_RDI] = 0xfe;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nin, 1);

	c->rip = ENV_CODE;
	c->seg_flags[EMU_SEG_ES] = EMU_SEGF_NOWRITE;
	env.regs[EMU_RDI] = 0;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(pio.nin, 1);

	c = PIO_ENV(M32, 0x36, 0x6e); /* outsb ss:[esi] */
	c->seg_checks = true;
	for (int i = 0; i < EMU_NR_SEGS; i++)
		c->seg_limit[i] = 0xffffffff;
	c->seg_base[EMU_SEG_SS] = ENV_RAM;
	c->seg_limit[EMU_SEG_SS] = 0x1000;
	env.regs[EMU_RSI] = 0x1001;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_SS);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK_EQ(pio.nout, 0);

	c->seg_flags[EMU_SEG_SS] = EMU_SEGF_EXPDOWN | EMU_SEGF_BIG; /* valid: 0x1001 .. 0xffffffff */
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nout, 1);
	c->rip = ENV_CODE;
	env.regs[EMU_RSI] = 0x1000;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_SS);

	/* A null (unusable) DS faults in protected mode, and its limit alone counts in real mode. */
	c = PIO_ENV(M32, 0x6e);
	c->seg_checks = true;
	c->seg_limit[EMU_SEG_CS] = 0xffffffff; /* the fetch is checked against CS's limit too */
	c->seg_flags[EMU_SEG_DS] = EMU_SEGF_UNUSABLE;
	c->seg_limit[EMU_SEG_DS] = 0xffffffff;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	c = PIO_ENV(M16, 0x6e);
	c->seg_checks = true;
	c->seg_flags[EMU_SEG_DS] = EMU_SEGF_UNUSABLE;
	c->seg_limit[EMU_SEG_DS] = 0xffff;
	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	env.regs[EMU_RSI] = 0x10;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nout, 1);
}

/* From an exit's description: no instruction bytes are fetched, OUTS takes the segment given, INS ES whatever the
 * description says, and rip moves by the length given once the count is done. */
TEST(pio_from_exit_description)
{
	struct emu_ctxt *c = PIO_ENV(M64);
	struct emu_pio_string out = {.port = 0x5fe, .size = 2, .addr_size = 8, .seg = EMU_SEG_GS, .len = 3,
				     .rep = true};
	struct emu_pio_string in = {.port = 0x5fe, .size = 4, .addr_size = 4, .seg = EMU_SEG_FS, .len = 4,
				    .in = true, .rep = false};

	c->seg_base[EMU_SEG_GS] = ENV_RAM;
	c->seg_base[EMU_SEG_FS] = ENV_MMIO;
	env.ram[0] = 1;
	env.ram[1] = 2;
	env.ram[2] = 3;
	env.ram[3] = 4;
	env.regs[EMU_RSI] = 0;
	env.regs[EMU_RCX] = 2;
	CHECK_EQ(emu_run_pio_string(c, &out), EMU_OK);
	CHECK_EQ(env.nfetch, 0);
	CHECK_EQ(pio.nout, 2);
	CHECK_EQ(pio.out[0], 0x0201);
	CHECK_EQ(pio.out[1], 0x0403);
	CHECK_EQ(c->rip, ENV_CODE + 3);

	env.regs[EMU_RDI] = 0xffffffff00000000ULL | ENV_RAM; /* 32-bit address size: EDI */
	CHECK_EQ(emu_run_pio_string(c, &in), EMU_OK);
	CHECK_EQ(env.ram[0], 0x10);
	CHECK_EQ(env.ram[3], 0x13);
	CHECK_EQ(env.regs[EMU_RDI], ENV_RAM + 4);
	CHECK_EQ(c->rip, ENV_CODE + 7);

	in.size = 8; /* a backend that decoded nonsense: the hypervisor's error, not the guest's */
	CHECK_EQ(emu_run_pio_string(c, &in), EMU_ERROR);
}

/* Without port callbacks INS and OUTS are not emulated; LOCK before them is #UD. */
TEST(pio_without_callbacks_and_lock)
{
	struct emu_ctxt *c = ENV(M64, 0x6c);

	env.regs[EMU_RDI] = ENV_RAM;
	CHECK_EQ(env_run(), EMU_UNHANDLED);
	c = PIO_ENV(M64, 0xf0, 0x6e);
	env.regs[EMU_RSI] = ENV_RAM;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_UD);
	CHECK_EQ(pio.nout, 0);
}

/* In 64-bit mode an SS (or ES, CS, DS) override is a null prefix: OUTS reads DS:RSI, so a non-canonical RSI is
 * #GP(0), and it does not undo an earlier FS override. */
TEST(pio_64bit_null_segment_prefixes)
{
	struct emu_ctxt *c = PIO_ENV(M64, 0x36, 0x6e);

	env.regs[EMU_RSI] = 0x0000800000000000ULL;
	CHECK_EQ(env_run(), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK(!c->insn.seg_override);

	c = PIO_ENV(M64, 0x64, 0x36, 0x6e); /* fs ss outsb: FS */
	c->seg_base[EMU_SEG_FS] = ENV_RAM;
	env.regs[EMU_RSI] = 4;
	env.ram[4] = 0x77;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.nout, 1);
	CHECK_EQ(pio.out[0], 0x77);

	c = PIO_ENV(M32, 0x36, 0x6e); /* outside 64-bit mode SS is an override */
	c->seg_base[EMU_SEG_SS] = ENV_RAM;
	env.regs[EMU_RSI] = 5;
	env.ram[5] = 0x66;
	CHECK_EQ(env_run(), EMU_OK);
	CHECK_EQ(pio.out[0], 0x66);
}
