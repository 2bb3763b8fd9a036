/* The second look at a VM's configuration, once its kernel image has said which boot protocol it speaks
 * (vm/config.h: vm_config_check_kernel): what the module lines asked for that this kind of kernel cannot take. */
#include "vm/config.h"
#include "hv/log.h"

u32 vm_config_check_kernel(const struct vm_config *c, enum vm_kernel_kind kind)
{
	u32 errors = 0;

	if (kind == VM_KERNEL_LINUX) {
		for (u32 i = 0; i < c->nr_modules; i++, errors++)
			pr_err(
			    "vm config: module %u: role=module of vm %s, whose kernel (module %u) is a Linux bzImage: "
			    "the Linux boot protocol takes one initrd (role=initrd) and no modules\n",
			    c->modules[i].index, c->name, c->kernel_index);
		/* Without ACPI a Linux guest cannot power off (the VM would never end) and finds no IOAPIC: a
		 * configuration that cannot work is refused, not run. */
		if (c->private_mem) {
			pr_err("vm config: module %u: private=on on vm %s, whose kernel is a Linux bzImage: Linux does not "
			       "speak this hypervisor's private-memory protocol (vm/private_abi.h)\n",
			       c->kernel_index, c->name);
			errors++;
		}
		if (c->platform == VM_PLATFORM_MINIMAL) {
			pr_err("vm config: module %u: platform=minimal on vm %s, whose kernel is a Linux bzImage: Linux "
			       "needs the PC platform (ACPI to power off, the IOAPIC, the PIT)\n",
			       c->kernel_index, c->name);
			errors++;
		}
		return errors;
	}
	if (c->virtcon && c->platform != VM_PLATFORM_PC) {
		pr_err("vm config: module %u: virtcon=on on vm %s, a Multiboot kernel without platform=pc: the "
		       "virtio-console sits on the PC platform's PCI bus\n",
		       c->kernel_index, c->name);
		errors++;
	}
	if (c->has_initrd) {
		pr_err(
		    "vm config: module %u: role=initrd of vm %s, whose kernel (module %u) is a Multiboot image, not a "
		    "Linux bzImage: Multiboot has no initrd (role=module hands it over as a Multiboot module)\n",
		    c->initrd_index, c->name, c->kernel_index);
		errors++;
	}
	/* Disks hang off the PCI bus, which only the PC platform has. */
	if (c->nr_disks && c->platform != VM_PLATFORM_PC) {
		pr_err("vm config: module %u: role=disk on vm %s, whose Multiboot kernel gets the minimal platform: a "
		       "disk is a PCI device, add platform=pc to the kernel line\n",
		       c->disks[0].index, c->name);
		errors++;
	}
	if (c->net[0] && c->platform != VM_PLATFORM_PC) {
		pr_err("vm config: module %u: net=%s on vm %s, whose kernel is a Multiboot image without platform=pc: the "
		       "network device is on PCI, which only the PC platform has\n",
		       c->kernel_index, c->net, c->name);
		errors++;
	}
	if (c->linux_entry32) {
		pr_err("vm config: module %u: entry=32 on vm %s, whose kernel is a Multiboot image: entry= chooses a "
		       "Linux kernel's entry, and a Multiboot kernel names its own\n",
		       c->kernel_index, c->name);
		errors++;
	}
	return errors;
}
