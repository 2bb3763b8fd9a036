/* Unit tests of the vendor-neutral PDPTE registers (vm/pdptes.c), which both backends' CR-write paths call under
 * shadow paging: which MOV to CR0/CR3/CR4 loads the PDPTEs (SDM Vol. 3A 4.4.1: PAE paging in use after it, and a MOV
 * to CR3 or a change of CR0.PG/CD/NW or CR4.PAE/PGE/PSE/SMEP), and that a load with a reserved bit fails (#GP) and
 * leaves the vCPU's registers as they were. Over a shadow-paging MMU with real guest RAM. */
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "fake_platform.h"
#include "hv/errno.h"
#include "mm/mmu.h"
#include "test.h"
#include "vm/vcpu.h"

static struct vm vm;
static struct vcpu v;

/* The guest's MAXPHYADDR (vm/cpuid.c reads the host's CPUID). */
u8 vcpu_maxphyaddr(void)
{
	return 40;
}

static void nop(void *owner) {}

static const struct mmu_ops ops = {.flush_remote_tlbs = nop, .request_free_obsolete_roots = nop};

#define PDPT 0x10020ULL /* CR3 bits 31:5 */
#define PD   0x11000ULL

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(&v, 0, sizeof(v));
	v.vm = &vm;
	mmu_init(&vm.mmu, &pt_format_npt, 3, &ops, &vm, 64);
	CHECK_EQ(mmu_add_ram(&vm.mmu, 0, MEMSLOT_CHUNK_PAGES, 0), 0);
	for (unsigned int i = 0; i < 4; i++) {
		u64 e = i == 1 ? 0 : (PD + i * PAGE_SIZE) | 1;
		CHECK_EQ(mmu_write_gpa(&vm.mmu, NULL, PDPT + i * 8, &e, 8), 0);
	}
}

static void set_pdpte(unsigned int i, u64 e)
{
	CHECK_EQ(mmu_write_gpa(&vm.mmu, NULL, PDPT + i * 8, &e, 8), 0);
}

#define PAE_ON (CR0_PG | CR0_PE)

TEST(pdptes_which_cr_writes_load_them)
{
	const u64 cr0 = PAE_ON | CR0_WP, cr4 = CR4_PAE;

	/* MOV to CR3 with PAE paging; not in long mode, nor with 32-bit paging or paging off. */
	CHECK(vcpu_cr_write_loads_pdptes(3, 0, cr0, cr4, 0));
	CHECK(vcpu_cr_write_loads_pdptes(3, 0, cr0, cr4, EFER_LME | EFER_NXE)); /* LME without LMA: still PAE paging */
	CHECK(!vcpu_cr_write_loads_pdptes(3, 0, cr0, cr4, EFER_LME | EFER_LMA));
	CHECK(!vcpu_cr_write_loads_pdptes(3, 0, cr0, CR4_PSE, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(3, 0, CR0_PE, cr4, 0));
	/* MOV to CR0: turning paging on, CD, NW; not WP or TS. */
	CHECK(vcpu_cr_write_loads_pdptes(0, CR0_PE | CR0_WP, cr0, cr4, 0));
	CHECK(vcpu_cr_write_loads_pdptes(0, cr0 | CR0_CD, cr0, cr4, 0));
	CHECK(vcpu_cr_write_loads_pdptes(0, cr0 | CR0_NW | CR0_CD, cr0 | CR0_CD, cr4, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(0, PAE_ON, cr0, cr4, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(0, cr0 | CR0_TS, cr0, cr4, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(0, cr0, CR0_PE, cr4, 0)); /* paging off after it */
	/* Paging on with LME set enters long mode: the caller passes LMA as the write leaves it. */
	CHECK(!vcpu_cr_write_loads_pdptes(0, CR0_PE, cr0, cr4, EFER_LME | EFER_LMA));
	/* MOV to CR4: PAE (from 32-bit paging), PGE, PSE, SMEP; not SMAP, OSFXSR or PCIDE. */
	CHECK(vcpu_cr_write_loads_pdptes(4, CR4_PSE, cr0, cr4 | CR4_PSE, 0));
	CHECK(vcpu_cr_write_loads_pdptes(4, cr4, cr0, cr4 | CR4_PGE, 0));
	CHECK(vcpu_cr_write_loads_pdptes(4, cr4 | CR4_PSE, cr0, cr4, 0));
	CHECK(vcpu_cr_write_loads_pdptes(4, cr4, cr0, cr4 | CR4_SMEP, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(4, cr4, cr0, cr4 | CR4_SMAP, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(4, cr4, cr0, cr4 | BIT(9), 0));
	CHECK(!vcpu_cr_write_loads_pdptes(4, cr4, cr0, cr4, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(4, cr4 | CR4_PGE, cr0, CR4_PSE, 0)); /* to 32-bit paging */
	/* Other registers never. */
	CHECK(!vcpu_cr_write_loads_pdptes(2, 0, cr0, cr4, 0));
	CHECK(!vcpu_cr_write_loads_pdptes(8, 0, cr0, cr4, 0));
}

TEST(pdptes_load_and_gp_on_reserved_bits)
{
	const u64 cr0 = PAE_ON, cr4 = CR4_PAE;

	setup();
	CHECK_EQ(vcpu_cr_write_pdptes(&v, 3, 0, cr0, PDPT | 0x18, cr4, 0), 0);
	CHECK_EQ(v.pdptes[0], PD | 1);
	CHECK_EQ(v.pdptes[1], 0);
	CHECK_EQ(v.pdptes[3], (PD + 3 * PAGE_SIZE) | 1);
	/* A write that does not load them leaves the registers alone, whatever memory holds now. */
	set_pdpte(0, 0);
	CHECK_EQ(vcpu_cr_write_pdptes(&v, 4, cr4, cr0, PDPT, cr4 | CR4_SMAP, 0), 0);
	CHECK_EQ(v.pdptes[0], PD | 1);
	/* A reserved bit in a present PDPTE: -EINVAL (#GP), and nothing is loaded, the new PDPTE 0 neither. */
	set_pdpte(2, (PD + 2 * PAGE_SIZE) | 1 | BIT(5));
	CHECK_EQ(vcpu_cr_write_pdptes(&v, 0, CR0_PE, cr0, PDPT, cr4, 0), -EINVAL);
	CHECK_EQ(vcpu_load_pdptes(&v, PDPT), -EINVAL);
	CHECK_EQ(v.pdptes[0], PD | 1);
	CHECK_EQ(v.pdptes[2], (PD + 2 * PAGE_SIZE) | 1);
	/* Address bits at MAXPHYADDR (40) and up are reserved; below, not. */
	set_pdpte(2, (PD + 2 * PAGE_SIZE) | 1 | BIT(40));
	CHECK_EQ(vcpu_load_pdptes(&v, PDPT), -EINVAL);
	set_pdpte(2, (PD + 2 * PAGE_SIZE) | 1 | BIT(39));
	CHECK_EQ(vcpu_load_pdptes(&v, PDPT), 0);
	CHECK_EQ(v.pdptes[0], 0);
	CHECK_EQ(v.pdptes[2], (PD + 2 * PAGE_SIZE) | 1 | BIT(39));
	/* A PDPT outside RAM reads as all ones: #GP. */
	CHECK_EQ(vcpu_load_pdptes(&v, 0xfee00000), -EINVAL);
	CHECK_EQ(v.pdptes[2], (PD + 2 * PAGE_SIZE) | 1 | BIT(39));
	mmu_destroy(&vm.mmu);
}
