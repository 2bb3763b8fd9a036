/* Unit tests of the emulator's decoder (vm/emulate/decode.c): a table of encodings across the CPU modes with the
 * decode each must give (length, sizes, the memory operand, immediates), then the decoder's limits: 15 bytes, lazy
 * page-by-page fetching, pre-supplied bytes, and the opcodes it must refuse. */
#include "test_emulate_env.h"

#define R(x) ((x) + 1) /* a register in the table; 0 means none */

struct dcase {
	int line;
	enum emu_mode mode;
	u8 n;
	u8 bytes[EMU_MAX_INSN_LEN];
	enum emu_result res;
	u8 len, op_size, addr_size;
	bool mem, rip_rel;
	u8 base, index, scale; /* R(reg) or 0 */
	s64 disp;
	u8 seg;
	u64 imm;
	u8 reg; /* R(ModRM.reg) or 0 to skip */
	u8 map; /* R(map) or 0 to skip */
	bool vex, vex_l;
	u8 simd;
	u8 vec; /* res == EMU_EXCEPTION: the vector */
};

#define M64		EMU_MODE_64
#define M32		EMU_MODE_PROT32
#define M16		EMU_MODE_REAL
#define B(...)		.n = sizeof((u8[]){__VA_ARGS__}), .bytes = {__VA_ARGS__}
#define C(m, ...)	.line = __LINE__, .mode = m, B(__VA_ARGS__)
#define MEM(b, i, s, d) .mem = true, .base = b, .index = i, .scale = s, .disp = d

/* clang-format off */
static const struct dcase cases[] = {
	/* 64-bit mode: sizes from REX.W and 66, REX.R/X/B, SIB corners, RIP-relative, 67, moffs, immediates. */
	{ C(M64, 0x89, 0x18), .len = 2, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0), .seg = EMU_SEG_DS,
	  .reg = R(EMU_RBX) },
	{ C(M64, 0x48, 0x89, 0x18), .len = 3, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0), .reg = R(EMU_RBX) },
	{ C(M64, 0x66, 0x89, 0x18), .len = 3, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x66, 0x48, 0x89, 0x18), .len = 4, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	/* A REX followed by a legacy prefix is dropped. */
	{ C(M64, 0x48, 0x66, 0x89, 0x18), .len = 4, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x44, 0x89, 0x18), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0), .reg = R(EMU_R11) },
	{ C(M64, 0x41, 0x89, 0x18), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_R8), 0, 1, 0), .reg = R(EMU_RBX) },
	{ C(M64, 0x89, 0x04, 0x24), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RSP), 0, 1, 0), .seg = EMU_SEG_SS },
	{ C(M64, 0x41, 0x89, 0x04, 0x24), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_R12), 0, 1, 0),
	  .seg = EMU_SEG_DS },
	/* SIB with no base (mod 00, base 101) and no index (100): an absolute disp32, also with REX.B. */
	{ C(M64, 0x89, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), .len = 7, .op_size = 4, .addr_size = 8,
	  MEM(0, 0, 1, 0x12345678) },
	{ C(M64, 0x41, 0x89, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), .len = 8, .op_size = 4, .addr_size = 8,
	  MEM(0, 0, 1, 0x12345678) },
	/* SIB no base with an index: [rcx*8 + disp32]. */
	{ C(M64, 0x89, 0x04, 0xcd, 0x00, 0x10, 0x00, 0x00), .len = 7, .op_size = 4, .addr_size = 8,
	  MEM(0, R(EMU_RCX), 8, 0x1000) },
	/* REX.X turns index 100 into R12; REX.B base 101 with mod 01 is R13, which defaults to DS. */
	{ C(M64, 0x42, 0x89, 0x04, 0x20), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), R(EMU_R12), 1, 0) },
	{ C(M64, 0x41, 0x89, 0x45, 0x00), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_R13), 0, 1, 0),
	  .seg = EMU_SEG_DS },
	{ C(M64, 0x89, 0x44, 0x8d, 0xf0), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_RBP), R(EMU_RCX), 4, -16),
	  .seg = EMU_SEG_SS },
	{ C(M64, 0x4b, 0x89, 0x84, 0xc8, 0x00, 0x01, 0x00, 0x00), .len = 8, .op_size = 8, .addr_size = 8,
	  MEM(R(EMU_R8), R(EMU_R9), 8, 0x100) },
	{ C(M64, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00), .len = 6, .op_size = 4, .addr_size = 8, MEM(0, 0, 1, 0x10),
	  .rip_rel = true },
	{ C(M64, 0x41, 0x89, 0x05, 0xf0, 0xff, 0xff, 0xff), .len = 7, .op_size = 4, .addr_size = 8, MEM(0, 0, 1, -16),
	  .rip_rel = true },
	{ C(M64, 0x67, 0x89, 0x18), .len = 3, .op_size = 4, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x67, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00), .len = 7, .op_size = 4, .addr_size = 4, MEM(0, 0, 1, 0x10),
	  .rip_rel = true },
	{ C(M64, 0x65, 0x89, 0x18), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .seg = EMU_SEG_GS },
	/* The last segment override wins; an override beats the SS default of rBP. */
	{ C(M64, 0x2e, 0x64, 0x89, 0x45, 0x08), .len = 5, .op_size = 4, .addr_size = 8, MEM(R(EMU_RBP), 0, 1, 8),
	  .seg = EMU_SEG_FS },
	{ C(M64, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11), .len = 9, .op_size = 4, .addr_size = 8,
	  MEM(0, 0, 1, 0x1122334455667788) },
	{ C(M64, 0x67, 0x48, 0xa3, 0x44, 0x33, 0x22, 0xf1), .len = 7, .op_size = 8, .addr_size = 4,
	  MEM(0, 0, 1, 0xf1223344) },
	{ C(M64, 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff), .len = 7, .op_size = 8, .addr_size = 8,
	  MEM(R(EMU_RAX), 0, 1, 0), .imm = ~0ULL },
	{ C(M64, 0x66, 0xc7, 0x00, 0x34, 0x12), .len = 5, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .imm = 0x1234 },
	{ C(M64, 0x80, 0x08, 0x80), .len = 3, .op_size = 1, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .imm = 0xffffffffffffff80 },
	{ C(M64, 0x48, 0x83, 0x40, 0x08, 0xff), .len = 5, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 8),
	  .imm = ~0ULL },
	{ C(M64, 0x48, 0x81, 0x00, 0x00, 0x00, 0x00, 0x80), .len = 7, .op_size = 8, .addr_size = 8,
	  MEM(R(EMU_RAX), 0, 1, 0), .imm = 0xffffffff80000000 },
	{ C(M64, 0xf6, 0x00, 0x55), .len = 3, .op_size = 1, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0), .imm = 0x55 },
	{ C(M64, 0xf6, 0x18), .len = 2, .op_size = 1, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0xf7, 0x00, 0x01, 0x02, 0x03, 0x04), .len = 6, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .imm = 0x04030201 },
	{ C(M64, 0x0f, 0xba, 0x20, 0x05), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0), .imm = 5 },
	{ C(M64, 0x0f, 0xb6, 0x00), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x48, 0x0f, 0xbf, 0x00), .len = 4, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x48, 0x63, 0x00), .len = 3, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0xf0, 0x48, 0x0f, 0xb1, 0x0a), .len = 5, .op_size = 8, .addr_size = 8, MEM(R(EMU_RDX), 0, 1, 0),
	  .reg = R(EMU_RCX) },
	{ C(M64, 0xf3, 0x48, 0xa5), .len = 3, .op_size = 8, .addr_size = 8 },
	{ C(M64, 0x89, 0xd8), .len = 2, .op_size = 4, .addr_size = 8, .reg = R(EMU_RBX) }, /* register form */
	{ C(M64, 0x82, 0x00, 0x01), .res = EMU_UNHANDLED },  /* invalid in 64-bit mode */

	/* 32-bit protected mode. */
	{ C(M32, 0x89, 0x18), .len = 2, .op_size = 4, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M32, 0x66, 0x89, 0x18), .len = 3, .op_size = 2, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M32, 0x67, 0x89, 0x18), .len = 3, .op_size = 4, .addr_size = 2, MEM(R(EMU_RBX), R(EMU_RSI), 1, 0) },
	{ C(M32, 0x89, 0x05, 0x78, 0x56, 0x34, 0x12), .len = 6, .op_size = 4, .addr_size = 4, MEM(0, 0, 1, 0x12345678) },
	{ C(M32, 0xa1, 0x44, 0x33, 0x22, 0x11), .len = 5, .op_size = 4, .addr_size = 4, MEM(0, 0, 1, 0x11223344) },
	{ C(M32, 0x82, 0x00, 0x01), .len = 3, .op_size = 1, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0), .imm = 1 },
	{ C(M32, 0x48, 0x89, 0x18), .res = EMU_UNHANDLED }, /* DEC EAX, not a REX */
	{ C(M32, 0x63, 0x00), .res = EMU_UNHANDLED },       /* ARPL */

	/* 16-bit addressing in real mode. */
	{ C(M16, 0x89, 0x18), .len = 2, .op_size = 2, .addr_size = 2, MEM(R(EMU_RBX), R(EMU_RSI), 1, 0),
	  .seg = EMU_SEG_DS },
	{ C(M16, 0x89, 0x46, 0xfe), .len = 3, .op_size = 2, .addr_size = 2, MEM(R(EMU_RBP), 0, 1, -2),
	  .seg = EMU_SEG_SS },
	{ C(M16, 0x89, 0x43, 0x10), .len = 3, .op_size = 2, .addr_size = 2, MEM(R(EMU_RBP), R(EMU_RDI), 1, 0x10),
	  .seg = EMU_SEG_SS },
	{ C(M16, 0x89, 0x06, 0x34, 0x12), .len = 4, .op_size = 2, .addr_size = 2, MEM(0, 0, 1, 0x1234),
	  .seg = EMU_SEG_DS },
	{ C(M16, 0x89, 0x87, 0x00, 0x80), .len = 4, .op_size = 2, .addr_size = 2, MEM(R(EMU_RBX), 0, 1, -0x8000) },
	{ C(M16, 0x66, 0x89, 0x1c), .len = 3, .op_size = 4, .addr_size = 2, MEM(R(EMU_RSI), 0, 1, 0) },
	{ C(M16, 0x67, 0x89, 0x18), .len = 3, .op_size = 2, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M16, 0x67, 0x89, 0x04, 0x24), .len = 4, .op_size = 2, .addr_size = 4, MEM(R(EMU_RSP), 0, 1, 0),
	  .seg = EMU_SEG_SS },
	{ C(M16, 0xa1, 0x34, 0x12), .len = 3, .op_size = 2, .addr_size = 2, MEM(0, 0, 1, 0x1234) },
	{ C(M16, 0xc7, 0x06, 0x34, 0x12, 0x78, 0x56), .len = 6, .op_size = 2, .addr_size = 2, MEM(0, 0, 1, 0x1234),
	  .imm = 0x5678 },
	{ C(M16, 0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), .len = 7, .op_size = 4, .addr_size = 2,
	  MEM(R(EMU_RBX), 0, 1, 0), .imm = 0x12345678 },

	/* VEX: two- and three-byte forms, REX bits inverted, L, pp as the SIMD prefix, the map from mmmmm. */
	{ C(M64, 0xc5, 0xf9, 0x6f, 0x00), .len = 4, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .map = R(1), .vex = true, .simd = 0x66, .reg = R(0) },
	{ C(M64, 0xc4, 0xe1, 0x7d, 0x6f, 0x00), .len = 5, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .map = R(1), .vex = true, .vex_l = true, .simd = 0x66 },
	{ C(M64, 0xc4, 0x41, 0x7e, 0x6f, 0x00), .len = 5, .op_size = 4, .addr_size = 8, MEM(R(EMU_R8), 0, 1, 0),
	  .reg = R(EMU_R8), .vex = true, .vex_l = true, .simd = 0xf3 },
	{ C(M64, 0xc4, 0xe1, 0xf9, 0x7e, 0xc0), .len = 5, .op_size = 8, .addr_size = 8, .vex = true, .simd = 0x66 },
	{ C(M64, 0xc4, 0xe2, 0x78, 0xf2, 0xc3), .len = 5, .op_size = 4, .addr_size = 8, .map = R(2), .vex = true },
	{ C(M64, 0xc4, 0xe3, 0x7b, 0xf0, 0xc3, 0x05), .len = 6, .op_size = 4, .addr_size = 8, .map = R(3), .vex = true,
	  .simd = 0xf2, .imm = 5 },
	{ C(M64, 0x66, 0xc5, 0xf9, 0x6f, 0x00), .res = EMU_EXCEPTION, .vec = EMU_VEC_UD }, /* 66 before VEX */
	{ C(M64, 0x48, 0xc5, 0xf9, 0x6f, 0x00), .res = EMU_EXCEPTION, .vec = EMU_VEC_UD }, /* REX before VEX */
	{ C(M64, 0xc4, 0xe4, 0x79, 0x6f, 0x00), .res = EMU_EXCEPTION, .vec = EMU_VEC_UD }, /* mmmmm = 4 */
	{ C(M64, 0xc5, 0xf9, 0x77), .res = EMU_UNHANDLED },				   /* VZEROUPPER */
	{ C(M32, 0xc5, 0xf9, 0x6f, 0xc1), .len = 4, .op_size = 4, .addr_size = 4, .vex = true, .simd = 0x66 },
	{ C(M32, 0xc4, 0xe1, 0xf9, 0x7e, 0xc0), .len = 5, .op_size = 4, .addr_size = 4, .vex = true }, /* W ignored */
	{ C(M32, 0xc5, 0x39, 0x6f), .res = EMU_UNHANDLED },  /* LDS: mod != 11 outside 64-bit mode */
	{ C(M16, 0xc5, 0xf9, 0x6f), .res = EMU_UNHANDLED },  /* LDS: never VEX in real mode */
	/* SIMD prefixes: 66 does not make MOVD 16-bit; the last F2/F3 wins over it. */
	{ C(M64, 0x66, 0x0f, 0x6e, 0xc0), .len = 4, .op_size = 4, .addr_size = 8, .simd = 0x66 },
	{ C(M64, 0x66, 0x48, 0x0f, 0x6e, 0xc0), .len = 5, .op_size = 8, .addr_size = 8, .simd = 0x66 },
	{ C(M64, 0x66, 0xf3, 0x0f, 0x7e, 0x00), .len = 5, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .simd = 0xf3 },
	{ C(M64, 0x66, 0x0f, 0x38, 0xf6, 0xc0), .len = 5, .op_size = 4, .addr_size = 8, .map = R(2), .simd = 0x66 },
	{ C(M64, 0x66, 0x0f, 0x38, 0xf0, 0x00), .len = 5, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0),
	  .map = R(2) }, /* MOVBE: 66 is the operand size */
	/* MOV CR/DR ignore mod: no displacement follows, the operand size is fixed. */
	{ C(M64, 0x0f, 0x20, 0x05), .len = 3, .op_size = 8, .addr_size = 8, .reg = R(0) },
	{ C(M64, 0x44, 0x0f, 0x22, 0xc0), .len = 4, .op_size = 8, .addr_size = 8, .reg = R(8) },
	{ C(M32, 0x0f, 0x22, 0x18), .len = 3, .op_size = 4, .addr_size = 4, .reg = R(3) },
	{ C(M16, 0x66, 0x0f, 0x22, 0xc0), .len = 4, .op_size = 4, .addr_size = 2 },
	{ C(M16, 0x0f, 0x21, 0xf8), .len = 3, .op_size = 4, .addr_size = 2, .reg = R(7) },
	/* Stack and branch operand sizes. */
	{ C(M64, 0x66, 0xff, 0x10), .len = 3, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) }, /* call */
	{ C(M64, 0xff, 0x20), .len = 2, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },	   /* jmp */
	{ C(M64, 0xff, 0x30), .len = 2, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },	   /* push */
	{ C(M64, 0x66, 0xff, 0x30), .len = 3, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x8f, 0x00), .len = 2, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },	   /* pop */
	{ C(M32, 0xff, 0x30), .len = 2, .op_size = 4, .addr_size = 4, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M16, 0x66, 0xff, 0x37), .len = 3, .op_size = 4, .addr_size = 2, MEM(R(EMU_RBX), 0, 1, 0) },
	{ C(M64, 0x8f, 0x08), .res = EMU_UNHANDLED }, /* XOP */
	/* Shifts, multiplies and divides: immediates only where the encoding has them. */
	{ C(M64, 0xc1, 0xe0, 0x05), .len = 3, .op_size = 4, .addr_size = 8, .imm = 5 },
	{ C(M64, 0xd3, 0xe0), .len = 2, .op_size = 4, .addr_size = 8 },
	{ C(M64, 0xd0, 0x20), .len = 2, .op_size = 1, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0xf7, 0xe0), .len = 2, .op_size = 4, .addr_size = 8 },
	{ C(M64, 0xf6, 0x30), .len = 2, .op_size = 1, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x69, 0xc0, 0x78, 0x56, 0x34, 0x12), .len = 6, .op_size = 4, .addr_size = 8, .imm = 0x12345678 },
	{ C(M64, 0x66, 0x69, 0xc0, 0x34, 0x12), .len = 5, .op_size = 2, .addr_size = 8, .imm = 0x1234 },
	{ C(M64, 0x6b, 0xc0, 0xff), .len = 3, .op_size = 4, .addr_size = 8, .imm = ~0ULL },
	{ C(M64, 0x0f, 0xa4, 0xd0, 0x03), .len = 4, .op_size = 4, .addr_size = 8, .imm = 3 },
	{ C(M64, 0x0f, 0xad, 0xd0), .len = 3, .op_size = 4, .addr_size = 8 },
	/* Group 9, 6, 7. */
	{ C(M64, 0x0f, 0xc7, 0x08), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x48, 0x0f, 0xc7, 0x08), .len = 4, .op_size = 8, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) },
	{ C(M64, 0x0f, 0xc7, 0xc8), .res = EMU_EXCEPTION, .vec = EMU_VEC_UD }, /* CMPXCHG8B needs memory */
	{ C(M64, 0x0f, 0x38, 0xf0, 0xc0), .len = 4, .op_size = 4, .addr_size = 8 }, /* MOVBE reg: #UD at execution */
	{ C(M16, 0x66, 0x0f, 0x01, 0x16, 0x34, 0x12), .len = 6, .op_size = 4, .addr_size = 2, MEM(0, 0, 1, 0x1234) },
	{ C(M16, 0x0f, 0x01, 0x1e, 0x34, 0x12), .len = 5, .op_size = 2, .addr_size = 2, MEM(0, 0, 1, 0x1234) },
	{ C(M64, 0x0f, 0x01, 0xe0), .len = 3, .op_size = 4, .addr_size = 8 },				/* smsw eax */
	{ C(M64, 0x0f, 0x01, 0x20), .len = 3, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) }, /* smsw m */
	{ C(M64, 0x48, 0x0f, 0x01, 0xf0), .len = 4, .op_size = 2, .addr_size = 8 },			/* lmsw ax */
	{ C(M64, 0x0f, 0x01, 0x38), .len = 3, .op_size = 4, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) }, /* invlpg */
	{ C(M64, 0x0f, 0x01, 0xf8), .res = EMU_UNHANDLED },						/* SWAPGS */
	{ C(M64, 0x0f, 0x01, 0x28), .res = EMU_UNHANDLED },						/* RSTORSSP */
	{ C(M64, 0x0f, 0x00, 0x00), .len = 3, .op_size = 2, .addr_size = 8, MEM(R(EMU_RAX), 0, 1, 0) }, /* sldt m */
	{ C(M64, 0x48, 0x0f, 0x00, 0xc8), .len = 4, .op_size = 8, .addr_size = 8 },			/* str rax */
	{ C(M64, 0x0f, 0x00, 0x10), .res = EMU_UNHANDLED },						/* LLDT */
	/* String compares, XLAT, POPCNT, HLT. */
	{ C(M64, 0xf3, 0x48, 0xa7), .len = 3, .op_size = 8, .addr_size = 8 },
	{ C(M16, 0xf2, 0xae), .len = 2, .op_size = 1, .addr_size = 2 },
	{ C(M64, 0xd7), .len = 1, .op_size = 1, .addr_size = 8 },
	{ C(M64, 0xf3, 0x0f, 0xb8, 0xc0), .len = 4, .op_size = 4, .addr_size = 8 },
	{ C(M64, 0xf4), .len = 1, .op_size = 4, .addr_size = 8 },
};
/* clang-format on */

static void check_case(const struct dcase *c)
{
	struct emu_ctxt *ctxt = env_reset(c->mode, c->bytes, c->n);
	const struct emu_insn *insn = &ctxt->insn;
	enum emu_result r = emu_decode(ctxt);

	if (r != c->res)
		test_fail(__FILE__, c->line, "decode gave %s, want %s", emu_result_name(r), emu_result_name(c->res));
	if (r == EMU_EXCEPTION && ctxt->exc.vector != c->vec)
		test_fail(__FILE__, c->line, "vector %u, want %u", ctxt->exc.vector, c->vec);
	if (r != EMU_OK)
		return;
#define F(field, want)                                                                                                 \
	if ((u64)(insn->field) != (u64)(want))                                                                         \
		test_fail(__FILE__, c->line, #field " = 0x%llx, want 0x%llx", (unsigned long long)(insn->field),       \
			  (unsigned long long)(want));
	F(len, c->len);
	F(op_size, c->op_size);
	F(addr_size, c->addr_size);
	F(mem, c->mem);
	if (c->mem) {
		F(base, c->base ? c->base - 1 : EMU_REG_NONE);
		F(index, c->index ? c->index - 1 : EMU_REG_NONE);
		F(scale, c->scale ? c->scale : 1);
		F(disp, c->disp);
		F(rip_rel, c->rip_rel);
		F(seg, c->seg ? c->seg : EMU_SEG_DS);
	}
	F(imm, c->imm);
	if (c->reg)
		F(reg, c->reg - 1);
	if (c->map)
		F(map, c->map - 1);
	F(vex, c->vex);
	F(vex_l, c->vex_l);
	if (c->simd)
		F(simd, c->simd);
#undef F
}

TEST(decode_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_case(&cases[i]);
}

/* The effective address: RIP-relative counts from the next instruction, 32-bit addressing truncates. */
TEST(decode_effective_address)
{
	struct emu_ctxt *c = ENV(M64, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00);

	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(emu_insn_ea(c), ENV_CODE + 6 + 0x10);

	c = ENV(M64, 0x67, 0x8b, 0x44, 0x88, 0x10); /* mov eax, [eax + ecx*4 + 0x10] */
	env.regs[EMU_RAX] = 0x1fffffff0;
	env.regs[EMU_RCX] = 4;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(emu_insn_ea(c), (0x1fffffff0 + 16 + 0x10) & 0xffffffff);

	c = ENV(M16, 0x8b, 0x40, 0xff); /* mov ax, [bx+si-1]: wraps within 64K */
	env.regs[EMU_RBX] = 0;
	env.regs[EMU_RSI] = 0;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(emu_insn_ea(c), 0xffff);
}

TEST(decode_mode_of)
{
	CHECK_EQ(emu_mode_of(false, false, false, false, true), EMU_MODE_REAL);
	CHECK_EQ(emu_mode_of(true, true, false, false, true), EMU_MODE_REAL); /* virtual-8086 */
	CHECK_EQ(emu_mode_of(true, false, false, false, false), EMU_MODE_PROT16);
	CHECK_EQ(emu_mode_of(true, false, false, false, true), EMU_MODE_PROT32);
	CHECK_EQ(emu_mode_of(true, false, true, true, false), EMU_MODE_64);
	CHECK_EQ(emu_mode_of(true, false, true, false, true), EMU_MODE_PROT32); /* compatibility mode */
}

/* 15 bytes is legal; the CPU's #GP(0) comes as soon as a 16th byte would be needed, which is never fetched. */
TEST(decode_length_limit)
{
	/* ds ds ds rex.w mov qword [rax + rax*4 + disp32], imm32: exactly 15 bytes */
	struct emu_ctxt *c =
	    ENV(M64, 0x3e, 0x3e, 0x3e, 0x48, 0xc7, 0x84, 0x80, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00);
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 15);

	c = ENV(M64, 0x3e, 0x3e, 0x3e, 0x3e, 0x48, 0xc7, 0x84, 0x80, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00);
	CHECK_EQ(emu_decode(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK(c->exc.has_error);
	CHECK_EQ(c->exc.error_code, 0);
	CHECK(env.fetched <= EMU_MAX_INSN_LEN);

	/* Nothing but prefixes. */
	u8 pfx[EMU_MAX_INSN_LEN + 4];
	memset(pfx, 0x66, sizeof(pfx));
	c = env_reset(M32, pfx, sizeof(pfx));
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_GP);
	CHECK_EQ(c->rip, ENV_CODE);
	CHECK_EQ(c->insn.nbytes, EMU_MAX_INSN_LEN);
}

/* An instruction that runs into an unmapped page faults with the address of that page; one that ends at the
 * page's last byte does not touch the next page at all. */
TEST(decode_truncated_fetch)
{
	static const u8 insn[] = {0x48, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00}; /* mov qword [rax], 1 */
	struct emu_ctxt *c = env_reset(M64, NULL, 0);

	memcpy(env.code + PAGE_SIZE - 3, insn, 3);
	c->rip = ENV_CODE + PAGE_SIZE - 3;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION);
	CHECK_EQ(c->exc.vector, EMU_VEC_PF);
	CHECK_EQ(c->exc.cr2, ENV_CODE + PAGE_SIZE);
	CHECK_EQ(c->exc.error_code, ENV_PF_FETCH);
	CHECK_EQ(c->rip, ENV_CODE + PAGE_SIZE - 3);
	CHECK_EQ(env.nlog, 0);

	c = env_reset(M64, NULL, 0);
	memcpy(env.code + PAGE_SIZE - sizeof(insn), insn, sizeof(insn));
	c->rip = ENV_CODE + PAGE_SIZE - sizeof(insn);
	env.regs[EMU_RAX] = ENV_MMIO;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(env.nfetch, 1);
	CHECK_EQ(env.fetched, sizeof(insn));
	CHECK_EQ(c->rip, ENV_CODE + PAGE_SIZE);
	CHECK_EQ(env_mmio64(ENV_MMIO), 1);
}

/* Bytes the exit supplied are used first; only the rest is fetched, from where they end. */
TEST(decode_prefetched_bytes)
{
	static const u8 insn[] = {0x89, 0x05, 0x10, 0x00, 0x00, 0x00};
	struct emu_ctxt *c = env_reset(M64, insn, sizeof(insn));

	memcpy(c->prefetch, insn, sizeof(insn));
	c->prefetch_len = sizeof(insn);
	memset(env.code, 0xcc, sizeof(insn)); /* what fetch would return: must not be used */
	env.ops.fetch = NULL;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.len, 6);
	CHECK_EQ(c->insn.disp, 0x10);

	c = env_reset(M64, insn, sizeof(insn));
	memcpy(c->prefetch, insn, 2);
	c->prefetch_len = 2;
	CHECK_EQ(emu_decode(c), EMU_OK);
	CHECK_EQ(c->insn.disp, 0x10);
	CHECK_EQ(env.nfetch, 1);
	CHECK_EQ(env.fetched, EMU_MAX_INSN_LEN - 2);

	/* Too few bytes supplied and no way to fetch the rest: an error, not a guess. */
	c = env_reset(M64, insn, sizeof(insn));
	memcpy(c->prefetch, insn, 2);
	c->prefetch_len = 2;
	env.ops.fetch = NULL;
	CHECK_EQ(emu_decode(c), EMU_ERROR);
	CHECK_EQ(c->error, -EFAULT);
}

/* Instructions the emulator does not do stop with EMU_UNHANDLED and leave everything alone; the log line shows
 * the bytes. */
TEST(decode_unhandled_opcodes)
{
	static const struct {
		enum emu_mode mode;
		u8 n, b[4];
	} un[] = {
	    {M64, 2, {0x0f, 0x0b}},		/* UD2 */
	    {M64, 1, {0xf4}},			/* HLT */
	    {M64, 2, {0xff, 0x18}},		/* CALL far [rax] */
	    {M64, 2, {0xff, 0x28}},		/* JMP far [rax] */
	    {M64, 3, {0x0f, 0xc7, 0xf0}},	/* RDRAND eax */
	    {M64, 3, {0x0f, 0x6f, 0x00}},	/* MMX MOVQ mm0, [rax] */
	    {M64, 3, {0x66, 0x0f, 0x6f}},	/* MOVDQA without vector-register callbacks */
	    {M64, 3, {0x0f, 0x01, 0xc1}},	/* VMCALL */
	    {M64, 3, {0x0f, 0x22, 0xc0}},	/* MOV CR0, rax without system callbacks */
	    {M16, 2, {0xc4, 0x00}},		/* LES in real mode (never VEX there) */
	    {M32, 2, {0xc5, 0x00}},		/* LDS in 32-bit mode (mod != 11: not VEX) */
	    {M64, 2, {0x0f, 0xa2}},		/* CPUID */
	    {M64, 3, {0xfe, 0x10, 0x00}},	/* FE /2 is invalid */
	    {M64, 4, {0xc7, 0xf8, 0x00, 0x00}}, /* XBEGIN */
	    {M64, 3, {0xc5, 0xf8, 0x77}},	/* VZEROUPPER */
	    {M64, 2, {0x8d, 0x00}},		/* LEA */
	    {M64, 3, {0x0f, 0xba, 0x00}},	/* 0F BA /0 is invalid */
	    {M32, 1, {0x40}},			/* INC EAX */
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(un); i++) {
		struct emu_ctxt *c = env_reset(un[i].mode, un[i].b, un[i].n);
		u64 rip = c->rip;
		CHECK_EQ(emu_run(c), EMU_UNHANDLED);
		CHECK_EQ(c->rip, rip);
		CHECK_EQ(env.nlog, 0);
		CHECK(c->insn.nbytes >= un[i].n);
	}

	struct emu_ctxt *c = ENV(M64, 0x0f, 0x0b);
	CHECK_EQ(emu_run(c), EMU_UNHANDLED);
	emu_format_bytes(&c->insn, buf, sizeof(buf));
	CHECK(strncmp(buf, "0f 0b 00 00", 11) == 0); /* everything fetched: the rest of the code page is zeros */
	CHECK_EQ(emu_format_bytes(&c->insn, buf, 6), 5);
	CHECK_STR(buf, "0f 0b");
	CHECK_EQ(emu_format_bytes(&c->insn, buf, 1), 0);
	CHECK_STR(buf, "");

	c = ENV(M64, 0x89, 0x18);
	env.regs[EMU_RAX] = ENV_RAM;
	CHECK_EQ(emu_run(c), EMU_OK);
	emu_format_bytes(&c->insn, buf, sizeof(buf));
	CHECK_STR(buf, "89 18");
	CHECK_STR(emu_result_name(EMU_UNHANDLED), "unhandled");
}

/* IP wraps at 64K in 16-bit code: the fetch splits there and continues at CS:0. */
TEST(decode_ip_wrap_16bit)
{
	struct emu_ctxt *c = env_reset(M16, NULL, 0);

	env.code[0xffe] = 0xc7; /* mov word [0x1234], 0x5678 split over IP ffff / 0000 */
	env.code[0xfff] = 0x06;
	env.code[0] = 0x34;
	env.code[1] = 0x12;
	env.code[2] = 0x78;
	env.code[3] = 0x56;
	c->seg_base[EMU_SEG_CS] = ENV_CODE - 0xf000; /* IP 0xfffe is the code page's offset 0xffe */
	c->rip = 0xfffe;
	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	CHECK_EQ(emu_run(c), EMU_EXCEPTION); /* IP 0x0000 maps below the code page, which is unmapped */
	CHECK_EQ(c->exc.cr2, ENV_CODE - 0xf000);

	c = env_reset(M16, NULL, 0);
	env.code[0xffe] = 0xc7;
	env.code[0xfff] = 0x06;
	c->seg_base[EMU_SEG_CS] = ENV_CODE - 0xf000;
	c->rip = 0xfffe;
	c->prefetch_len = 0;
	/* Give the wrapped part through the prefetch instead: all six bytes. */
	static const u8 all[] = {0xc7, 0x06, 0x34, 0x12, 0x78, 0x56};
	memcpy(c->prefetch, all, sizeof(all));
	c->prefetch_len = sizeof(all);
	c->seg_base[EMU_SEG_DS] = ENV_RAM;
	CHECK_EQ(emu_run(c), EMU_OK);
	CHECK_EQ(c->rip, 4); /* 0xfffe + 6 wrapped to 16 bits */
	CHECK_EQ(env.ram[0x1234] | env.ram[0x1235] << 8, 0x5678);
}
