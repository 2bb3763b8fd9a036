/* The VMCB layout (AMD APM Vol. 2, Appendix B) as this backend uses it. Only arch/x86/svm includes this. */
#ifndef ARCH_X86_SVM_VMCB_H
#define ARCH_X86_SVM_VMCB_H

#include "hv/compiler.h"

struct vmcb_seg {
	u16 selector;
	u16 attrib;
	u32 limit;
	u64 base;
} __packed;

struct vmcb_control {
	u32 intercept_cr;   /* 0x000: reads in bits 15:0, writes in 31:16 */
	u32 intercept_dr;   /* 0x004 */
	u32 intercept_exc;  /* 0x008 */
	u32 intercept_misc1; /* 0x00c */
	u32 intercept_misc2; /* 0x010 */
	u32 intercept_misc3; /* 0x014 */
	u8 reserved1[0x3c - 0x18];
	u16 pause_filter_thresh; /* 0x03c */
	u16 pause_filter_count;  /* 0x03e */
	u64 iopm_base_pa;    /* 0x040 */
	u64 msrpm_base_pa;   /* 0x048 */
	u64 tsc_offset;      /* 0x050 */
	u32 asid;            /* 0x058 */
	u8 tlb_control;      /* 0x05c */
	u8 reserved2[3];
	u32 int_ctl;         /* 0x060 */
	u32 int_vector;      /* 0x064 */
	u32 int_state;       /* 0x068 */
	u8 reserved3[4];
	u64 exit_code;       /* 0x070 */
	u64 exit_info_1;     /* 0x078 */
	u64 exit_info_2;     /* 0x080 */
	u32 exit_int_info;   /* 0x088 */
	u32 exit_int_info_err; /* 0x08c */
	u64 nested_ctl;      /* 0x090 */
	u64 avic_vapic_bar;  /* 0x098 */
	u64 ghcb_gpa;        /* 0x0a0 */
	u32 event_inj;       /* 0x0a8 */
	u32 event_inj_err;   /* 0x0ac */
	u64 nested_cr3;      /* 0x0b0 */
	u64 virt_ext;        /* 0x0b8 */
	u32 clean;           /* 0x0c0 */
	u32 reserved5;
	u64 next_rip;        /* 0x0c8 */
	u8 insn_len;         /* 0x0d0 */
	u8 insn_bytes[15];   /* 0x0d1 */
	u8 reserved6[0x400 - 0xe0];
} __packed;

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x000 */
	u8 reserved1[0xca - 0xa0];
	u8 vmpl;             /* 0x0ca */
	u8 cpl;              /* 0x0cb */
	u8 reserved2[4];
	u64 efer;            /* 0x0d0 */
	u8 reserved3[0x148 - 0xd8];
	u64 cr4;             /* 0x148 */
	u64 cr3;             /* 0x150 */
	u64 cr0;             /* 0x158 */
	u64 dr7;             /* 0x160 */
	u64 dr6;             /* 0x168 */
	u64 rflags;          /* 0x170 */
	u64 rip;             /* 0x178 */
	u8 reserved4[0x1d8 - 0x180];
	u64 rsp;             /* 0x1d8 */
	u8 reserved5[0x1f8 - 0x1e0];
	u64 rax;             /* 0x1f8 */
	u64 star;            /* 0x200 */
	u64 lstar;           /* 0x208 */
	u64 cstar;           /* 0x210 */
	u64 sfmask;          /* 0x218 */
	u64 kernel_gs_base;  /* 0x220 */
	u64 sysenter_cs;     /* 0x228 */
	u64 sysenter_esp;    /* 0x230 */
	u64 sysenter_eip;    /* 0x238 */
	u64 cr2;             /* 0x240 */
	u8 reserved6[0x268 - 0x248];
	u64 g_pat;           /* 0x268 */
	u64 dbgctl;          /* 0x270 */
} __packed;

struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
} __packed;

static_assert(offsetof(struct vmcb_control, exit_code) == 0x70, "VMCB control layout");
static_assert(offsetof(struct vmcb_control, insn_bytes) == 0xd1, "VMCB control layout");
static_assert(sizeof(struct vmcb_control) == 0x400, "VMCB control size");
static_assert(offsetof(struct vmcb_save, efer) == 0xd0, "VMCB save layout");
static_assert(offsetof(struct vmcb_save, rip) == 0x178, "VMCB save layout");
static_assert(offsetof(struct vmcb_save, rax) == 0x1f8, "VMCB save layout");
static_assert(offsetof(struct vmcb_save, g_pat) == 0x268, "VMCB save layout");

/* intercept_misc1 */
#define SVM_INTERCEPT_INTR BIT(0)
#define SVM_INTERCEPT_NMI BIT(1)
#define SVM_INTERCEPT_INIT BIT(3)
#define SVM_INTERCEPT_VINTR BIT(4)
#define SVM_INTERCEPT_RDPMC BIT(15)
#define SVM_INTERCEPT_CPUID BIT(18)
#define SVM_INTERCEPT_IRET BIT(20)
#define SVM_INTERCEPT_INVD BIT(22)
#define SVM_INTERCEPT_HLT BIT(24)
#define SVM_INTERCEPT_INVLPG BIT(25)
#define SVM_INTERCEPT_INVLPGA BIT(26)
#define SVM_INTERCEPT_IOIO BIT(27)
#define SVM_INTERCEPT_MSR BIT(28)
#define SVM_INTERCEPT_TASK_SWITCH BIT(29)
#define SVM_INTERCEPT_SHUTDOWN BIT(31)
/* intercept_misc2 */
#define SVM_INTERCEPT_VMRUN BIT(0)
#define SVM_INTERCEPT_VMMCALL BIT(1)
#define SVM_INTERCEPT_VMLOAD BIT(2)
#define SVM_INTERCEPT_VMSAVE BIT(3)
#define SVM_INTERCEPT_STGI BIT(4)
#define SVM_INTERCEPT_CLGI BIT(5)
#define SVM_INTERCEPT_SKINIT BIT(6)
#define SVM_INTERCEPT_ICEBP BIT(8)
#define SVM_INTERCEPT_WBINVD BIT(9)
#define SVM_INTERCEPT_MONITOR BIT(10)
#define SVM_INTERCEPT_MWAIT BIT(11)
#define SVM_INTERCEPT_MWAIT_COND BIT(12)
#define SVM_INTERCEPT_XSETBV BIT(13)
#define SVM_INTERCEPT_RDPRU BIT(14)
/* intercept_misc3 */
#define SVM_INTERCEPT_INVLPGB BIT(0)
#define SVM_INTERCEPT_INVLPGB_ILLEGAL BIT(1)
#define SVM_INTERCEPT_INVPCID BIT(2)
#define SVM_INTERCEPT_MCOMMIT BIT(3)
#define SVM_INTERCEPT_TLBSYNC BIT(4)

/* int_ctl */
#define V_TPR_MASK 0xffu
#define V_IRQ BIT(8)
#define V_IGN_TPR BIT(20)
#define V_INTR_MASKING BIT(24)
/* int_state */
#define SVM_INTERRUPT_SHADOW BIT(0)

#define SVM_NESTED_CTL_NP_ENABLE BIT(0)

#define TLB_CONTROL_DO_NOTHING 0
#define TLB_CONTROL_FLUSH_ALL 1
#define TLB_CONTROL_FLUSH_ASID 3

/* event_inj / exit_int_info */
#define SVM_EVTINJ_VALID BIT(31)
#define SVM_EVTINJ_VALID_ERR BIT(11)
#define SVM_EVTINJ_TYPE_INTR (0u << 8)
#define SVM_EVTINJ_TYPE_NMI (2u << 8)
#define SVM_EVTINJ_TYPE_EXEPT (3u << 8)
#define SVM_EVTINJ_TYPE_SOFT (4u << 8)
#define SVM_EVTINJ_TYPE_MASK (7u << 8)

/* VMCB clean bits: set means "unchanged since the last VMRUN on this CPU". */
#define VMCB_CLEAN_INTERCEPTS BIT(0)
#define VMCB_CLEAN_PERM_MAP BIT(1)
#define VMCB_CLEAN_ASID BIT(2)
#define VMCB_CLEAN_INTR BIT(3)
#define VMCB_CLEAN_NPT BIT(4)
#define VMCB_CLEAN_CR BIT(5)
#define VMCB_CLEAN_DR BIT(6)
#define VMCB_CLEAN_DT BIT(7)
#define VMCB_CLEAN_SEG BIT(8)
#define VMCB_CLEAN_CR2 BIT(9)
#define VMCB_CLEAN_ALL 0x3ffu

/* Exit codes. */
#define SVM_EXIT_READ_CR0 0x000
#define SVM_EXIT_WRITE_CR0 0x010
#define SVM_EXIT_CR0_READ 0x000 /* CRn reads 0x00-0x0f, writes 0x10-0x1f */
#define SVM_EXIT_EXCP_BASE 0x040
#define SVM_EXIT_INTR 0x060
#define SVM_EXIT_NMI 0x061
#define SVM_EXIT_SMI 0x062
#define SVM_EXIT_INIT 0x063
#define SVM_EXIT_VINTR 0x064
#define SVM_EXIT_RDPMC 0x06f
#define SVM_EXIT_CPUID 0x072
#define SVM_EXIT_IRET 0x074
#define SVM_EXIT_INVD 0x076
#define SVM_EXIT_PAUSE 0x077
#define SVM_EXIT_HLT 0x078
#define SVM_EXIT_INVLPG 0x079
#define SVM_EXIT_INVLPGA 0x07a
#define SVM_EXIT_IOIO 0x07b
#define SVM_EXIT_MSR 0x07c
#define SVM_EXIT_TASK_SWITCH 0x07d
#define SVM_EXIT_SHUTDOWN 0x07f
#define SVM_EXIT_VMRUN 0x080
#define SVM_EXIT_VMMCALL 0x081
#define SVM_EXIT_VMLOAD 0x082
#define SVM_EXIT_VMSAVE 0x083
#define SVM_EXIT_STGI 0x084
#define SVM_EXIT_CLGI 0x085
#define SVM_EXIT_SKINIT 0x086
#define SVM_EXIT_RDTSCP 0x087
#define SVM_EXIT_ICEBP 0x088
#define SVM_EXIT_WBINVD 0x089
#define SVM_EXIT_MONITOR 0x08a
#define SVM_EXIT_MWAIT 0x08b
#define SVM_EXIT_MWAIT_COND 0x08c
#define SVM_EXIT_XSETBV 0x08d
#define SVM_EXIT_RDPRU 0x08e
#define SVM_EXIT_INVPCID 0x0a2
#define SVM_EXIT_NPF 0x400
#define SVM_EXIT_ERR (~0ULL)

/* IOIO exit_info_1 */
#define SVM_IOIO_TYPE_IN BIT(0)
#define SVM_IOIO_STR BIT(2)
#define SVM_IOIO_REP BIT(3)
#define SVM_IOIO_SIZE_SHIFT 4
#define SVM_IOIO_A16 BIT(7)
#define SVM_IOIO_A32 BIT(8)
#define SVM_IOIO_A64 BIT(9)
#define SVM_IOIO_SEG_SHIFT 10

#endif
