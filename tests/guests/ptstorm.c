/* ptstorm: a page-table storm. The guest rewrites its own paging structures in every way an OS does and checks each
 * translation, fault and accessed/dirty update against the architecture, so that whatever virtualizes its paging
 * (EPT/NPT now, a shadow MMU later) must get every case right. Each check follows the Intel SDM Vol. 3A chapter 4
 * ("Paging") or the AMD APM Vol. 2 chapter 5, cited where it is made; nothing here is this hypervisor's own ABI, and
 * every phase passes on plain QEMU (tests/guests/qemu_check.py) as on real hardware.
 *
 * Phases, each a word of the command line (none: all of them), each ending with `TEST ptstorm_<phase> PASS` (or
 * FAIL <reason>, which ends the run), then `TEST ptstorm PASS`:
 *   remap     64 4 KiB windows (4-level paging) rewritten ~20000 times to other physical pages and permissions by MOV,
 *             XCHG, LOCK CMPXCHG, LOCK BTS/BTR and XCHG-with-0, each followed by INVLPG or a CR3 reload (or by
 *             nothing where SDM 4.10.4.3 allows it: P 0 -> 1); every read must name its physical page, a write must
 *             land there and set D, a read-only or absent page must fault with the right code and CR2. Then a PDE
 *             switched between two page tables, a 2 MiB page and nothing, with the tables edited while unused.
 *   cr3       16 address spaces (own PML4s sharing lower tables at the PDPT, PD and PT levels, 4 KiB and 2 MiB
 *             leaves) switched by MOV CR3 in a random order while the guest edits tables of spaces that are not
 *             loaded; every load must show the tables as they are (SDM 4.10.4.1). Global pages under CR4.PGE. With
 *             PCID (CPUID.1:ECX.PCID): PCIDs per space and no-flush loads (bit 63), where a stale translation may
 *             remain (SDM 4.10.2.4, 4.10.4.1): a read must give a translation the page had since its PCID was last
 *             flushed, and INVLPG / INVPCID / a flushing load must make it current.
 *   perm      every combination of U/S, R/W and XD in two levels (PDE+PTE for 4 KiB, PDPTE+PDE for 2 MiB,
 *             PML4E+PDPTE for 1 GiB pages) against CPL 0/3, read/write/fetch, CR0.WP, CR4.SMEP, CR4.SMAP with
 *             EFLAGS.AC (STAC/CLAC), EFER.NXE: fault or not, the exact error code and CR2 (SDM 4.6, 4.7), A set in
 *             every entry used and D in the leaf on a write, D untouched by a fault (SDM 4.8); reserved bits (address
 *             bits at MAXPHYADDR and 51, XD without NXE, 2M/1G page bits 13+, PS in a PML4E) give RSVD; an absent
 *             entry with reserved bits is only absent; CR0.WP and CR4.SMAP changes apply to cached translations.
 *   pkey      (CPUID.7.0:ECX.PKU, else a SKIP) protection keys on perm's 4 KiB, 2 MiB and 1 GiB paths under
 *             CR4.PKE = 1: the leaf's key (each of 0-15; decoy keys in the tables above, which must be ignored) under
 *             every AD/WD pair for it, every other key's AD and WD all clear or all set, U/S and R/W in both varied
 *             entries, CPL 0 (AC 0/1) and 3, read/write/fetch, CR0.WP 0/1, CR4.SMEP+SMAP off/on: fault or not and the
 *             exact error code with PK (SDM 4.6.2, 4.7); keys ignored under CR4.PKE = 0; WRPKRU applied to cached
 *             translations; CPUID.OSPKE following CR4.PKE; RDPKRU/WRPKRU #UD without CR4.PKE, #GP with ECX != 0;
 *             PKRU kept across VM exits.
 *   pae       the same in 32-bit protected mode with PAE paging (leaving long mode as SDM 9.8.5.4 says, lib/mode32.S):
 *             a smaller remap with Linux's PAE writes (high half first, CMPXCHG8B, XCHG-and-clear), the access-rights
 *             combinations of PDE and PTE and of 2 MiB pages, reserved bits, PDPTEs reloaded by MOV CR3 (SDM 4.4.1).
 *   legacy32  the same with 32-bit paging: 4 KiB and 4 MiB (PSE) pages, bit 21 of a 4 MiB PDE reserved, PS ignored
 *             without CR4.PSE, no XD (I/D only with SMEP).
 *   smp       (VM and command line `cpus=2`) the BSP remaps pages the AP keeps reading, with an INVLPG shootdown by
 *             IPI as Linux does it (change the PTE, IPI, the AP invalidates and acknowledges, then the old page is
 *             poisoned and reused); the AP must never read an old page once its shootdown has completed.
 *   la57      5-level paging (SDM 4.5): out of IA-32e mode and back in with CR4.LA57 and a PML5 whose entry 0 is the
 *             boot PML4; pages at PML5 entries 1 and 511 (57-bit addresses), a remap with INVLPG, #PF at PML5
 *             entries not present, #GP for addresses not canonical with 57 (then 48) bits; back to 4 levels. SKIP
 *             without CPUID's LA57.
 *
 * Command line: phase words; `cpus=N` (2 for smp); `seed=N`; `tcg_rsvd` accepts a reserved-bit #PF without P, as
 * QEMU TCG 7.2 delivers it (counted and printed; hardware and Bochs set P); `timeout=` TSC cycles for SMP waits.
 * Needs >= 96 MiB of RAM. */
#include "ptstorm/ptstorm.h"

const char test_name[] = "ptstorm";

static void read_features(void)
{
	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	feat.pcid = c & (1u << 17);
	feat.pge = d & (1u << 13);
	feat.pse = d & (1u << 3);
	feat.pae = d & (1u << 6);
	if (cpu.max_leaf >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		feat.smep = b & (1u << 7);
		feat.smap = b & (1u << 20);
		feat.invpcid = b & (1u << 10);
		feat.pku = c & (1u << 3);
	}
	feat.nx = cpu.has_nx;
	feat.g1 = cpu.has_1g;
	feat.phys_bits = cpu.phys_bits;
	feat.amd = cpu.is_amd;
	feat.tcg_rsvd = cmdline_has("tcg_rsvd");
	printf("ptstorm: NX %d SMEP %d SMAP %d PKU %d PCID %d INVPCID %d PGE %d PSE %d 1G %d MAXPHYADDR %u%s\n",
	       feat.nx, feat.smep, feat.smap, feat.pku, feat.pcid, feat.invpcid, feat.pge, feat.pse, feat.g1,
	       feat.phys_bits, feat.tcg_rsvd ? ", tcg_rsvd" : "");
}

int test_main(void)
{
	if (!boot.mbi)
		test_fail("no multiboot information");
	read_features();
	if (!feat.pae || !feat.pse)
		test_fail("the CPU has no PAE or PSE");
	u64 seed = 1;
	cmdline_u64("seed", &seed);
	rnd_seed(seed);
	cmdline_u64("timeout", &timeout);
	user_init();
	probes_init();

	static const char *const words[] = {"remap", "cr3", "perm", "pkey", "pae", "legacy32", "smp", "la57"};
	static void (*const phases[])(void) = {phase_remap, phase_cr3,	    phase_perm, phase_pkey,
					       phase_pae,   phase_legacy32, phase_smp,	phase_la57};
	bool any = false;
	for (unsigned i = 0; i < ARRAY_SIZE(words); i++)
		any |= cmdline_has(words[i]);
	for (unsigned i = 0; i < ARRAY_SIZE(words); i++) {
		if (any && !cmdline_has(words[i]))
			continue;
		phase = words[i];
		u64 t0 = rdtsc();
		phases[i]();
		printf("ptstorm: %s took %lu M TSC cycles\n", words[i], (rdtsc() - t0) / 1000000);
	}
	phase = "end";
	if (rsvd_without_p)
		printf("ptstorm: note: %u reserved-bit #PFs came without P (accepted: tcg_rsvd)\n", rsvd_without_p);
	test_pass();
}
