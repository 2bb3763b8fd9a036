/*
 * Private VMs (see private.h and mm/private.h). The external table is the hypervisor's direct map: a frame mapped
 * private is absent from it, taken out before its leaf can be used and put back, zeroed, after the leaf went and every
 * vCPU flushed. So a hypervisor bug or a device model tricked by a guest cannot read a private page even if it got
 * past the refusals of mm/mmu_access.c: it would fault in the hypervisor instead of leaking.
 *
 * What a private VM gives up, as a TDX guest does, and how it gets it back: the hypervisor never decodes its
 * instructions (they are in private memory), so an access to MMIO, string I/O, or anything else that would need the
 * instruction emulator is reported to the guest as a #VE, the guest's handler asks why (HC_VE_INFO) and does the
 * access itself by hypercall (HC_MMIO; port I/O and MSRs exit with everything in registers). VMX reports every
 * intercepted instruction's length and operands. SVM without NRIPS does not: a private VM's intercepted instructions
 * are then taken in their plain, unprefixed encoding (svm_private_insn_len; the guest's side of the contract,
 * vm/private_abi.h); without DecodeAssists its CR writes are not intercepted at all (svm_vcpu.c), so CR4 bits its
 * CPUID hides are not refused there.
 */
#include "vm/private.h"
#include "arch/x86/virt.h"
#include "hv/errno.h"
#include "kernel/printf.h"
#include "kernel/sha256.h"
#include "hv/string.h"
#include "mm/mm.h"
#include "vm/io.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

static int ext_set(void *owner, gfn_t gfn, hpa_t frame)
{
	int r = direct_map_set_present(frame, false);

	/* Read back from the page tables themselves: a frame still reachable is refused, never mapped private. */
	if (!r && direct_map_is_present(frame)) {
		vm_log((struct vm *)owner, LOG_ERR, "private memory: frame 0x%llx of gfn 0x%llx is still in the direct map\n",
		       (unsigned long long)frame, (unsigned long long)gfn);
		r = -EIO;
	}
	return r;
}

/* The frame is no vCPU's any more: it comes back zeroed, so nothing the guest kept in it outlives its privacy. */
static void ext_remove(void *owner, gfn_t gfn, hpa_t frame)
{
	(void)gfn;
	if (direct_map_set_present(frame, true)) {
		vm_log((struct vm *)owner, LOG_ERR, "private memory: frame 0x%llx cannot be mapped back\n",
		       (unsigned long long)frame);
		return;
	}
	memset(phys_to_virt(frame), 0, PAGE_SIZE);
}

static const struct mmu_external_ops direct_map_ext = {
	.set_external_spte = ext_set,
	.remove_external_spte = ext_remove,
};

/*
 * The launch digest, as a TDX MRTD or an SEV launch measurement would be: SHA-256 over every page of RAM the loader
 * left non-zero, in GPA order, each as its 8-byte little-endian GPA followed by its 4096 bytes. Zero pages are left out
 * (they are what every VM starts with), so the digest names the image, its boot information and where they lie.
 */
static u64 measure(struct mmu *mmu, u8 out[SHA256_DIGEST_SIZE])
{
	struct sha256 s;
	u64 pages = 0;

	sha256_init(&s);
	for (u32 i = 0; i < mmu->slots.n; i++) {
		const struct memslot *sl = &mmu->slots.slots[i];

		for (u64 j = 0; j < sl->npages; j++) {
			gfn_t gfn = sl->base_gfn + j;
			const u64 *p;
			bool zero = true;

			if (!memslot_chunk_is_clean(sl, gfn))
				continue; /* never prepared: zero when it is */
			p = phys_to_virt(memslot_gfn_to_hpa(sl, gfn));
			for (unsigned int k = 0; k < PAGE_SIZE / 8 && zero; k++)
				zero = !p[k];
			if (zero)
				continue;
			u8 le[8];
			for (int b = 0; b < 8; b++)
				le[b] = (u8)((gfn << PAGE_SHIFT) >> (8 * b));
			sha256_update(&s, le, sizeof(le));
			sha256_update(&s, p, PAGE_SIZE);
			pages++;
		}
	}
	sha256_final(&s, out);
	return pages;
}

int vm_private_seal(struct vm *vm)
{
	unsigned int bit = MIN(vcpu_maxphyaddr(), 48) - 1;
	struct mmu *mmu = &vm->mmu;
	int r;

	if (mmu->shadow.enabled || bit < 39) {
		vm_log(vm, LOG_ERR, "private=on needs TDP (EPT or NPT) and a MAXPHYADDR of at least 40 (this CPU: %u)\n",
		       vcpu_maxphyaddr());
		return -EINVAL;
	}
	/* The direct map is made of 4K pages over the VM's RAM, so that frames can leave it one by one. */
	for (u32 i = 0; i < mmu->slots.n; i++) {
		const struct memslot *s = &mmu->slots.slots[i];

		for (u64 c = 0; c < s->npages / MEMSLOT_CHUNK_PAGES; c++) {
			r = direct_map_split(s->chunks[c], MEMSLOT_CHUNK_PAGES << PAGE_SHIFT);
			if (r) {
				vm_log(vm, LOG_ERR, "private memory: cannot split the direct map (%d)\n", r);
				return r;
			}
		}
	}
	u8 d[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];
	u64 pages = measure(mmu, d);

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		hv_snprintf(hex + 2 * i, 3, "%02x", d[i]);
	vm_log(vm, LOG_INFO, "private memory: launch digest %s (SHA-256 of the %llu non-zero pages as loaded)\n", hex,
	       (unsigned long long)pages);
	r = mmu_private_enable(mmu, bit, &direct_map_ext);
	if (r) {
		vm_log(vm, LOG_ERR, "private memory: cannot seal (%d)\n", r);
		return r;
	}
	vm_log(vm, LOG_INFO, "private memory: sealed, %llu MiB private; the shared bit is GPA bit %u\n",
	       (unsigned long long)(vm->mem_bytes >> 20), bit);
	return 0;
}

unsigned int vm_private_shared_bit(const struct vm *vm)
{
	return vm->mmu.priv.enabled ? vm->mmu.priv.shared_bit : 0;
}

int vcpu_private_ve(struct vcpu *v, u32 reason, u64 gpa, u32 access)
{
	static const char *const why[] = { "?", "private GPA of a shared page", "shared GPA of a private page",
					   "MMIO", "an instruction the hypervisor would have to emulate" };

	if (v->ve.pending) {
		/* The guest's #VE handler faulted before it read the last one: it cannot make progress. */
		vm_log(v->vm, LOG_ERR, "private memory: #VE (%s at gpa 0x%llx) before the last one was read\n",
		       why[reason < ARRAY_SIZE(why) ? reason : 0], (unsigned long long)gpa);
		vm_end(v->vm, VM_END_INTERNAL_ERROR, gpa);
		return 0;
	}
	v->ve.pending = true;
	v->ve.reason = reason;
	v->ve.gpa = gpa;
	v->ve.access = access;
	v->stats[VM_STAT_PRIVATE_VE]++;
	if (v->stats[VM_STAT_PRIVATE_VE] <= 8)
		vm_log(v->vm, LOG_INFO, "private memory: refused, #VE to the guest: %s at gpa 0x%llx\n",
		       why[reason < ARRAY_SIZE(why) ? reason : 0], (unsigned long long)gpa);
	vcpu_queue_exception(v, EXC_VE, false, 0);
	return 0;
}

u64 vcpu_hc_map_gpa(struct vcpu *v, u64 gpa, u64 len)
{
	struct mmu *mmu = &v->vm->mmu;
	u64 bit;
	int r;

	if (!mmu->priv.enabled)
		return (u64)-EPERM;
	bit = 1ULL << mmu->priv.shared_bit;
	if (!len || ((gpa | len) & (PAGE_SIZE - 1)) || (gpa & ~bit) + len < (gpa & ~bit) || ((gpa & ~bit) + len) > bit)
		return (u64)-EINVAL;
	r = mmu_private_convert(mmu, (gpa & ~bit) >> PAGE_SHIFT, len >> PAGE_SHIFT, gpa & bit);
	return (u64)(s64)r;
}

u64 vcpu_hc_ve_info(struct vcpu *v)
{
	if (!v->ve.pending)
		return (u64)-ENOENT;
	v->ve.pending = false;
	v->regs[VCPU_RBX] = v->ve.reason;
	v->regs[VCPU_RCX] = v->ve.gpa;
	v->regs[VCPU_RDX] = v->ve.access;
	return 0;
}

u64 vcpu_hc_mmio(struct vcpu *v, u64 gpa, u64 size_flags, u64 value)
{
	unsigned int size = size_flags & 0xff;
	bool write = size_flags & HC_MMIO_WRITE;
	u64 g = gpa, val = write ? value : 0;
	int r;

	if (v->vm->mmu.priv.enabled)
		g &= ~(1ULL << v->vm->mmu.priv.shared_bit);
	if ((size != 1 && size != 2 && size != 4 && size != 8) || (size_flags & ~(u64)(0xff | HC_MMIO_WRITE)) ||
	    (g & (size - 1)) || memslot_find(&v->vm->mmu.slots, g >> PAGE_SHIFT))
		return (u64)-EINVAL;
	r = vcpu_mmio_access(v, g, &val, size, write);
	if (r)
		return (u64)(s64)r;
	v->regs[VCPU_RBX] = write ? 0 : val;
	return 0;
}
