/* The KVM peer of `make bench`: a small VMM against /dev/kvm that boots one guest of tests/guests' kind (a Multiboot 1
 * ELF32, bench/kvm/guest.c) on one vCPU and prints, for each of the guest's timed loops, the most frequent cycle total
 * over its repeats as our guests do (`bench: NAME: C cycles for N operations`), with KVM's own counters over that
 * loop. It runs as /init's child in Debian's kernel, booted in the same emulators as the hypervisor
 * (bench/kvm/peer.py).
 *
 *   vmm [-m MIB] [-c CMDLINE] [-q] [-t SECONDS] GUEST.elf
 *   vmm -w          copy stdin to COM1, polling the UART (see uart_copy)
 *
 * -q leaves out the guest's "guest ..." lines; -t ends a guest that runs longer, with its registers.
 *
 * The platform is what QEMU gives a KVM guest by default: the in-kernel irqchip (LAPIC, IOAPIC, PIC), RAM from
 * 0 (the guest's memory map leaves out 640K-1M), and userspace for the rest: COM1 (output only), the isa-debug-exit
 * port 0xf4 (ends the run), the guest's mark ports (peer.h), and unbacked MMIO, which reads all ones as it does
 * under our hypervisor. Port 0x5fc, the test device's unused port that bench.c's OUT loop writes, is an ioeventfd,
 * so that OUT is handled in the kernel as it is in our hypervisor. Static (no libc in the initramfs). */
#include "peer.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB_LOADER_MAGIC 0x2badb002
#define MBI_ADDR	0x9000 /* boot information, memory map, command line: below 640K, above the real-mode IVT */
#define OUT_PORT	0x5fc  /* TESTDEV_RESERVED of tests/guests/lib/guest.h */
#define COM1		0x3f8
#define DEBUG_EXIT	0xf4

static struct peer peer;
static int vcpu_stats_fd = -1;
static bool quiet;
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stdout, "vmm: ");
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n");
	fflush(stdout);
	exit(2);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int r = ioctl(fd, req, arg);
	if (r < 0)
		die("%s: %s", what, strerror(errno));
	return r;
}

static void load_elf32(uint8_t *mem, uint64_t mem_size, const char *path, uint32_t *entry)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	uint8_t *f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die("%s: mmap: %s", path, strerror(errno));
	const Elf32_Ehdr *eh = (const void *)f;
	if ((size_t)st.st_size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS32 || eh->e_machine != EM_386)
		die("%s: not an ELF32 i386 image (tests/guests make NAME.elf)", path);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *ph = (const void *)(f + eh->e_phoff + i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD)
			continue;
		if ((uint64_t)ph->p_paddr + ph->p_memsz > mem_size ||
		    ph->p_offset + ph->p_filesz > (uint64_t)st.st_size)
			die("%s: segment 0x%x+0x%x outside RAM or file", path, ph->p_paddr, ph->p_memsz);
		memcpy(mem + ph->p_paddr, f + ph->p_offset, ph->p_filesz);
		memset(mem + ph->p_paddr + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	}
	*entry = eh->e_entry;
	munmap(f, st.st_size);
	close(fd);
}

/* Multiboot 1 information at MBI_ADDR: memory sizes, a two-region map (0-640K, 1M-end), the command line, our name. */
static void build_mbi(uint8_t *mem, uint64_t mem_size, const char *cmdline)
{
	uint32_t *mbi = (uint32_t *)(mem + MBI_ADDR);
	uint32_t mmap_addr = MBI_ADDR + 0x100, cmd_addr = MBI_ADDR + 0x800, name_addr = MBI_ADDR + 0xc00;
	memset(mbi, 0, 0x1000);
	mbi[0] = (1u << 0) | (1u << 2) | (1u << 6) | (1u << 9); /* mem, cmdline, mmap, loader name */
	mbi[1] = 640;
	mbi[2] = (uint32_t)((mem_size - 0x100000) / 1024);
	mbi[4] = cmd_addr;
	mbi[11] = 2 * 24; /* mmap_length */
	mbi[12] = mmap_addr;
	mbi[16] = name_addr;
	struct __attribute__((packed)) {
		uint32_t size;
		uint64_t base, len;
		uint32_t type;
	} map[2] = {{20, 0, 0xa0000, 1}, {20, 0x100000, mem_size - 0x100000, 1}};
	memcpy(mem + mmap_addr, map, sizeof(map));
	snprintf((char *)mem + cmd_addr, 0x400, "%s", cmdline);
	strcpy((char *)mem + name_addr, "bench/kvm/vmm");
}

static void setup_cpuid(int kvm, int vcpu)
{
	int n = 128;
	struct kvm_cpuid2 *c;
	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		c->nent = n;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		if (errno != E2BIG)
			die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		n *= 2;
	}
	xioctl(vcpu, KVM_SET_CPUID2, c, "KVM_SET_CPUID2");
	free(c);
}

/* 32-bit protected mode, paging off, flat segments: how a Multiboot 1 loader starts the kernel. */
static void setup_regs(int vcpu, uint32_t entry)
{
	struct kvm_sregs sr;
	xioctl(vcpu, KVM_GET_SREGS, &sr, "KVM_GET_SREGS");
	struct kvm_segment code = {.base = 0,
				   .limit = 0xffffffff,
				   .selector = 0x8,
				   .type = 11,
				   .present = 1,
				   .dpl = 0,
				   .db = 1,
				   .s = 1,
				   .l = 0,
				   .g = 1};
	struct kvm_segment data = code;
	data.type = 3;
	data.selector = 0x10;
	sr.cs = code;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
	/* A busy 32-bit TSS and an LDT that VM entry accepts: without unrestricted guest, VMX refuses the reset
	 * values, and KVM would then emulate the guest instruction by instruction. */
	sr.tr = (struct kvm_segment){.base = 0, .limit = 0x67, .selector = 0x18, .type = 11, .present = 1};
	sr.ldt = (struct kvm_segment){.base = 0, .limit = 0xffff, .selector = 0, .type = 2, .present = 1};
	sr.cr0 = 0x11; /* PE, ET */
	sr.cr4 = 0;
	sr.efer = 0;
	xioctl(vcpu, KVM_SET_SREGS, &sr, "KVM_SET_SREGS");
	struct kvm_regs r = {0};
	r.rip = entry;
	r.rax = MB_LOADER_MAGIC;
	r.rbx = MBI_ADDR;
	r.rsp = 0x8000;
	r.rflags = 2;
	xioctl(vcpu, KVM_SET_REGS, &r, "KVM_SET_REGS");
}

static void open_stats(int vcpu)
{
	vcpu_stats_fd = ioctl(vcpu, KVM_GET_STATS_FD, NULL);
	if (vcpu_stats_fd < 0) {
		printf("vmm: KVM_GET_STATS_FD: %s: no exit counters\n", strerror(errno));
		return;
	}
	static char buf[1 << 16];
	ssize_t n = pread(vcpu_stats_fd, buf, sizeof(buf), 0);
	if (n < 0 || peer_stats_parse(&peer.stats, buf, (size_t)n) < 0) {
		printf("vmm: cannot parse KVM's statistics: no exit counters\n");
		close(vcpu_stats_fd);
		vcpu_stats_fd = -1;
		peer.stats.n = 0;
	}
}

static void snapshot(uint64_t *now)
{
	static uint8_t data[1 << 14];
	if (vcpu_stats_fd < 0 || peer.stats.data_size > sizeof(data))
		return;
	if (pread(vcpu_stats_fd, data, peer.stats.data_size, peer.stats.data_offset) != (ssize_t)peer.stats.data_size)
		die("reading KVM's statistics: %s", strerror(errno));
	for (unsigned i = 0; i < peer.stats.n; i++)
		memcpy(&now[i], data + peer.stats.offset[i], 8);
}

static char line[256];
static unsigned line_len;

static void serial_out(uint8_t c)
{
	if (c != '\n' && line_len + 1 < sizeof(line)) {
		line[line_len++] = (char)c;
		return;
	}
	line[line_len] = '\0';
	if (!quiet || strncmp(line, "guest ", 6))
		printf("%s\n", line);
	line_len = 0;
}

static uint32_t io_in(uint16_t port)
{
	if (port == COM1 + 5)
		return 0x60; /* LSR: transmitter empty */
	return 0xffffffff;   /* nothing here: the test device reads all ones, as without a hypervisor */
}

/* Returns true when the guest asked to end (the debug-exit port), with its status. */
static bool io_out(uint16_t port, uint32_t v, uint32_t *status)
{
	uint64_t now[PEER_MAX_STATS];
	switch (port) {
	case COM1:
		serial_out((uint8_t)v);
		break;
	case DEBUG_EXIT:
		*status = v;
		return true;
	case PEER_PORT_NAME:
		peer_name_byte(&peer, (uint8_t)v);
		break;
	case PEER_PORT_BEGIN:
		snapshot(now);
		peer_begin(&peer, v, now);
		break;
	case PEER_PORT_END:
		snapshot(now);
		peer_end(&peer, v, now);
		break;
	}
	return false;
}

static void report(void)
{
	for (unsigned i = 0; i < peer.nphase; i++) {
		struct peer_phase *ph = &peer.phase[i];
		uint64_t totals[PEER_MAX_REPEATS], min = ~0ull, max = 0, sum = 0;
		for (unsigned j = 0; j < ph->nrep; j++) {
			totals[j] = ph->rep[j].total;
			min = totals[j] < min ? totals[j] : min;
			max = totals[j] > max ? totals[j] : max;
			sum += totals[j];
		}
		if (!ph->nrep)
			continue;
		unsigned count;
		uint64_t mode = peer_mode(totals, ph->nrep, &count);
		printf("bench: %s: %llu cycles for %llu operations\n", ph->name, (unsigned long long)mode,
		       (unsigned long long)ph->ops);
		printf("bench: %s: the most frequent total of %u repeats (%u times); min %llu, max %llu, mean %.1f\n",
		       ph->name, ph->nrep, count, (unsigned long long)min, (unsigned long long)max,
		       (double)sum / ph->nrep);
		if (count < 2)
			printf("bench: FAIL %s: no total occurs twice: nothing exact to report\n", ph->name);
		if (!peer.stats.n)
			continue;
		/* KVM's counters over the first repeat with the reported total, and the check of every such repeat. */
		const struct peer_repeat *shown = NULL;
		unsigned bad = 0;
		char msg[512] = "";
		for (unsigned j = 0; j < ph->nrep; j++) {
			if (ph->rep[j].total != mode)
				continue;
			if (!shown)
				shown = &ph->rep[j];
			if (peer_check(&peer.stats, ph, &ph->rep[j], bad ? NULL : msg, sizeof(msg)))
				bad++;
		}
		printf("bench: %s: kvm", ph->name);
		for (unsigned s = 0; s < peer.stats.n; s++)
			if (shown->delta[s])
				printf(" %s +%llu", peer.stats.name[s], (unsigned long long)shown->delta[s]);
		printf("\n");
		if (bad)
			printf("bench: FAIL %s: %u of %u repeats: %s\n", ph->name, bad, count, msg);
	}
	if (peer.errors)
		printf("bench: FAIL the guest's marks broke the protocol %u times\n", peer.errors);
}

/* vmm -w: copy stdin to COM1 by polling the UART from userspace, as the kernel's console does, instead of through
 * the tty. Under Bochs the tty's output stalls (its transmitter waits for an interrupt that does not come in time), and
 * what it still held at the power-off was lost; /init pipes everything it prints through this. */
static int uart_copy(void)
{
	if (ioperm(COM1, 8, 1) < 0)
		die("ioperm COM1: %s", strerror(errno));
	char buf[4096];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		for (ssize_t i = 0; i < n; i++) {
			for (unsigned spin = 0; spin < 1000000 && !(inb(COM1 + 5) & 0x20); spin++)
				;
			outb((uint8_t)buf[i], COM1);
		}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "-w"))
		return uart_copy();
	uint64_t mem_size = 128ull << 20;
	const char *cmdline = "";
	int opt;
	unsigned timeout = 0;
	while ((opt = getopt(argc, argv, "m:c:qt:")) != -1) {
		switch (opt) {
		case 'm':
			mem_size = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 0);
			break;
		default:
			die("usage: vmm [-m MIB] [-c CMDLINE] [-q] [-t SECONDS] GUEST.elf");
		}
	}
	if (optind + 1 != argc)
		die("usage: vmm [-m MIB] [-c CMDLINE] [-q] [-t SECONDS] GUEST.elf");
	if (mem_size < (4u << 20) || mem_size > (3ull << 30))
		die("-m: want 4 to 3072 MiB");
	setvbuf(stdout, NULL, _IOLBF, 0);
	peer_init(&peer);

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm: %s", strerror(errno));
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		die("KVM API version is not %d", KVM_API_VERSION);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM: %s", strerror(errno));
	/* As QEMU does on Intel: the TSS and identity map pages KVM needs for real mode without unrestricted guest. */
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		die("KVM_SET_TSS_ADDR: %s", strerror(errno));
	xioctl(vm, KVM_CREATE_IRQCHIP, NULL, "KVM_CREATE_IRQCHIP");

	uint8_t *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap %llu MiB: %s", (unsigned long long)(mem_size >> 20), strerror(errno));
	struct kvm_userspace_memory_region slot = {
	    .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uintptr_t)mem};
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot, "KVM_SET_USER_MEMORY_REGION");

	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_ioeventfd ioev = {.addr = OUT_PORT, .len = 4, .fd = efd, .flags = KVM_IOEVENTFD_FLAG_PIO};
	xioctl(vm, KVM_IOEVENTFD, &ioev, "KVM_IOEVENTFD");

	uint32_t entry;
	load_elf32(mem, mem_size, argv[optind], &entry);
	build_mbi(mem, mem_size, cmdline);

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU: %s", strerror(errno));
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run: %s", strerror(errno));
	setup_cpuid(kvm, vcpu);
	setup_regs(vcpu, entry);
	open_stats(vcpu);
	printf("vmm: %s: %llu MiB, entry 0x%x, %u KVM vCPU statistics\n", argv[optind],
	       (unsigned long long)(mem_size >> 20), entry, peer.stats.n);

	if (timeout) {
		struct sigaction sa = {.sa_handler = on_alarm};
		sigaction(SIGALRM, &sa, NULL);
		alarm(timeout);
	}
	uint32_t status = ~0u;
	for (bool done = false; !done;) {
		if (ioctl(vcpu, KVM_RUN, NULL) < 0) {
			if (timed_out) {
				struct kvm_regs r;
				xioctl(vcpu, KVM_GET_REGS, &r, "KVM_GET_REGS");
				uint64_t now[PEER_MAX_STATS];
				snapshot(now);
				for (unsigned s = 0; s < peer.stats.n; s++)
					if (now[s])
						printf("vmm: %s %llu\n", peer.stats.name[s],
						       (unsigned long long)now[s]);
				die("timed out after %u s: rip 0x%llx rax 0x%llx rsp 0x%llx", timeout,
				    (unsigned long long)r.rip, (unsigned long long)r.rax, (unsigned long long)r.rsp);
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)run + run->io.data_offset;
			for (uint32_t k = 0; k < run->io.count && !done; k++, d += run->io.size) {
				if (run->io.direction == KVM_EXIT_IO_OUT) {
					uint32_t v = 0;
					memcpy(&v, d, run->io.size);
					done = io_out(run->io.port, v, &status);
				} else {
					uint32_t v = io_in(run->io.port);
					memcpy(d, &v, run->io.size);
				}
			}
			break;
		}
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			printf("vmm: the guest halted\n");
			done = true;
			break;
		case KVM_EXIT_SHUTDOWN:
			die("the guest shut down (triple fault)");
		case KVM_EXIT_FAIL_ENTRY:
			die("VM entry failed: hardware reason 0x%llx",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			die("KVM internal error, suberror %u", run->internal.suberror);
		default:
			die("unexpected exit reason %u", run->exit_reason);
		}
	}
	if (line_len)
		serial_out('\n');
	report();
	printf("vmm: the guest ended with status %u\n", status);
	return status == 0 && !peer.errors ? 0 : 1;
}
