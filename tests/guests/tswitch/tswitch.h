/* Shared between tswitch.c (64-bit: builds the tables, checks the results) and tswitch32.S (the 32-bit tasks). */
#ifndef GUEST_TSWITCH_H
#define GUEST_TSWITCH_H

/* The 32-bit GDT: entry.S's first four (null, 64-bit code, data, 32-bit code), then these. */
#define TS_CODE32   0x18
#define TS_DATA	    0x10
#define TS_UCODE    0x23 /* DPL 3 */
#define TS_UDATA    0x2b
#define TS_SEL_MAIN 0x30 /* the TSSs */
#define TS_SEL_A    0x38
#define TS_SEL_NMI  0x40
#define TS_SEL_DF   0x48
#define TS_SEL_GP   0x50
#define TS_SEL_USER 0x58
#define TS_SEL_GATE 0x60 /* a task gate in the GDT, to TSS A */
#define TS_SEL_PAE  0x68 /* the TSS of the task with its own PAE page tables */
#define TS_SEL_TRAP 0x70 /* a TSS with its T (debug trap) bit set */
#define TS_SEL_SMALL 0x78 /* a TSS descriptor with limit 0x2b, below the 0x67 a 32-bit TSS needs */
#define TS_CODE_B   0x80 /* aliases of the flat 32-bit code and data, for the segnp task's selectors */
#define TS_DATA_B   0x88
#define TS_DATA_NP  0x90 /* a data segment that is not present */
#define TS_SEL_NP   0x98 /* the TSS of the task whose DS is TS_DATA_NP */
#define TS_GDT_N     20
#define TS_BAD_SEL  0x1f8 /* past the GDT limit */

/* Task A's snapshot, one per way of entering it (phase): JMP, CALL, CALL through the gate. */
#define PH_JMP	 0
#define PH_CALL	 1
#define PH_GATE	 2
#define PH_N	 3
#define SN_TR	 0 /* STR */
#define SN_EFL	 1 /* EFLAGS */
#define SN_LINK	 2 /* TSS A's back-link */
#define SN_DMAIN 3 /* the high dword of the main TSS's descriptor (busy: bit 9) */
#define SN_DA	 4 /* the same for TSS A */
#define SN_MEIP	 5 /* the main TSS's saved EIP */
#define SN_MEBX	 6 /* the main TSS's saved EBX */
#define SN_CR0	 7
#define SN_N	 8
/* The main task after it came back from A. */
#define BK_EFL	 0
#define BK_DA	 1
#define BK_DMAIN 2
#define BK_EBX	 3 /* restored from the main TSS */
#define BK_AEFL	 4 /* TSS A's saved EFLAGS image */
#define BK_N	 5

/* ts_res[] indices. */
#define R_FATAL	     0 /* 0, or the vector + 1 of an unexpected exception */
#define R_FATAL_EIP  1
#define R_PHASE	     2 /* how far the 32-bit run got */
#define R_NMI_COUNT  3
#define R_NMI_DURING 4 /* the count after a second NMI was sent from inside the NMI task */
#define R_NMI_TR     5
#define R_NMI_EFL    6
#define R_NMI_LINK   7
#define R_NMI_TMO    8 /* the main task gave up waiting for the second NMI */
#define R_DF_COUNT   9
#define R_DF_ERR     10
#define R_DF_ESP     11 /* ESP after popping the error code */
#define R_DF_LINK    12
#define R_DF_MEIP    13 /* the main TSS's saved EIP: the faulting instruction */
#define R_DF_RESUMED 14
#define R_INVD0	     15 /* INVD at CPL 0 completed */
#define R_GP_COUNT   16
#define R_GP_ERR     17
#define R_GP_LINK    18
#define R_GP_UEIP    19 /* the user TSS's saved EIP: the INVD */
#define R_USER_CS    20
#define R_USER_DONE  21
#define R_PAE_CR3    22 /* CR3 in the PAE task */
#define R_PAE_VAL    23 /* what it read through the mapping only its tables have */
#define R_PAE_BACK   24 /* CR3 in the main task after it came back */
#define R_DB_COUNT   25 /* #DBs taken (the trap task's IDT gate 1) */
#define R_DB_EIP     26 /* the first one's EIP */
#define R_DB_DR6     27 /* DR6 in its handler */
#define R_DB_RAN     28 /* how often the trap task had run its first instruction at that #DB */
#define R_TRAP_RAN   29
#define R_TRAP_DR7   30 /* DR7 in the main task after the switches to and from the trap task */
#define R_DF2_MEIP    31 /* the main TSS's saved EIP at the second #DF: the DIV */
#define R_DF2_RESUMED 32
#define R_NP_COUNT    33 /* #NPs taken by the segnp task's handler (IDT vector 11, an interrupt gate) */
#define R_NP_ERR      34 /* its error code */
#define R_NP_EIP      35 /* the CS:EIP it interrupted */
#define R_NP_CS	      36
#define R_NP_SEGS     37 /* ES, SS, DS, FS, GS as the handler found them: 37..41 */
#define R_NP_TR	      42
#define R_NP_RAN      43 /* the segnp task ran its first instruction after the handler */
#define R_N	      44

#ifndef __ASSEMBLY__
#include "guest.h"
extern u32 ts_res[R_N];
extern u32 ts_snap[PH_N][SN_N];
extern u32 ts_back[PH_N][BK_N];
extern u64 ts_gdt[TS_GDT_N], ts_idt[32], ts_gate13[4];
extern u8 ts_tss_main[0x68], ts_tss_a[0x68], ts_tss_nmi[0x68], ts_tss_df[0x68], ts_tss_gp[0x68], ts_tss_user[0x68],
    ts_tss_pae[0x68], ts_tss_trap[0x68], ts_tss_np[0x68];
extern u32 ts_pae_cr3, ts_marker;
extern char ts_task_a[], ts_task_nmi[], ts_task_df[], ts_task_gp[], ts_task_user[], ts_task_pae[], ts_fatal_stubs[];
extern char ts_task_trap[], ts_db_handler[], ts_task_np[], ts_np_handler[], ts_np_call[];
extern char ts_jmp_ret[], ts_call_ret[], ts_gate_ret[], ts_df_fault[], ts_de_fault[], ts_user_invd[];
void ts_run32(void);
#endif

#endif
