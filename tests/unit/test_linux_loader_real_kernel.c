/* The Linux boot protocol loader (vm/loader/linux.c) on a real kernel, when one can be found ($LINUX_BZIMAGE,
 * build/linux/, /boot): its header, read here independently of the loader, must be what the loader acted on. */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "linux_loader_fixture.h"

static char real_path[4096];

static bool find_real_kernel(void)
{
	static const char *const globs[] = {"build/linux/vmlinuz*", "build/linux/boot/vmlinuz-*",
					    "build/linux/*/boot/vmlinuz-*", "/boot/vmlinuz-*"};
	const char *env = getenv("LINUX_BZIMAGE");

	if (env && *env) {
		snprintf(real_path, sizeof(real_path), "%s",
			 env); /* asked for by name: a missing file fails the test */
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(globs); i++) {
		glob_t g;
		bool found = glob(globs[i], 0, NULL, &g) == 0 && g.gl_pathc > 0;

		if (found)
			snprintf(real_path, sizeof(real_path), "%s", g.gl_pathv[g.gl_pathc - 1]);
		globfree(&g);
		if (found)
			return true;
	}
	return false;
}

static u8 *read_file(const char *path, u64 *size)
{
	FILE *f = fopen(path, "rb");
	u8 *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (u64)n;
	}
	fclose(f);
	return buf;
}

static u64 rd(const u8 *p, u32 off, u32 width)
{
	u64 v = 0;

	memcpy(&v, p + off, width);
	return v;
}

/* The real kernel's header, read here independently of the loader, must be what the loader acted on. */
static void linux_real_kernel_header(void)
{
	static const struct e820 e820_real[] = {
	    {0, 0x9fc00, 1}, {0x9fc00, 0x40400, 2}, {0xe0000, 0x20000, 3}, {MiB, 256 * MiB - MiB, 1}};
	static u8 want[4096];
	u64 size = 0, load_gpa, run, init_size, align, initrd_gpa, isize = 0x10000;
	u8 *k = read_file(real_path, &size);
	u32 sects, setup_size, version, xlf;
	char release[65] = "", logline[160];

	printf("  real kernel: %s\n", real_path);
	if (!k)
		test_fail(__FILE__, __LINE__, "cannot read %s", real_path);
	CHECK(size > 0x1000);
	CHECK(linux_is_bzimage(k, size));
	sects = k[0x1f1] ? k[0x1f1] : 4;
	setup_size = (sects + 1) * 512;
	version = (u32)rd(k, 0x206, 2);
	xlf = (u32)rd(k, 0x236, 2);
	align = rd(k, 0x230, 4);
	init_size = rd(k, 0x260, 4);
	CHECK(version >= 0x020c);
	CHECK(k[0x211] & 1);
	CHECK(k[0x234]); /* every distribution kernel is relocatable */
	CHECK(rd(k, 0x258, 8) % align == 0);
	CHECK(rd(k, 0x20e, 2) && rd(k, 0x20e, 2) + 0x200 < setup_size);
	for (u32 i = 0; i < 64 && k[rd(k, 0x20e, 2) + 0x200 + i] > ' '; i++)
		release[i] = (char)k[rd(k, 0x20e, 2) + 0x200 + i];
	CHECK(strlen(release) > 0);
	/* Its sizes as boot.rst has them: syssize paragraphs of protected-mode kernel after the setup area (a signed
	 * kernel has its signature after that), the payload inside them, init_size holding them. */
	CHECK(rd(k, 0x1f4, 4) > 0 && setup_size + rd(k, 0x1f4, 4) * 16 <= size);
	CHECK(rd(k, 0x248, 4) + rd(k, 0x24c, 4) <= rd(k, 0x1f4, 4) * 16);
	CHECK(init_size >= rd(k, 0x1f4, 4) * 16);
	/* Cut to half, or short of its last paragraph, it is refused before any memory is touched. */
	CHECK_EQ(linux_check_image("real", k, size / 2), -ENOEXEC);
	CHECK_LAST_LOG("vm real: linux: truncated image");
	CHECK_EQ(linux_check_image("real", k, setup_size + rd(k, 0x1f4, 4) * 16 - 1), -ENOEXEC);
	CHECK_EQ(linux_check_image("real", k, size), 0);

	setup_ram(256 * MiB, 256 * MiB);
	in.initrd = initrd;
	in.initrd_size = isize;
	CHECK_EQ(load_image(k, size), 0);

	load_gpa = rd(k, 0x258, 8); /* pref_address fits 256 MiB for any sane kernel */
	run = load_gpa;
	CHECK(run + init_size <= 256 * MiB);
	CHECK_EQ(get(ZP + 0x214, 4), load_gpa);
	CHECK_EQ(st.rip, (xlf & 1) ? load_gpa + 0x200 : load_gpa);
	check_bytes(load_gpa, k + setup_size, size - setup_size);
	initrd_gpa = get(ZP + 0x218, 4);
	CHECK_EQ(initrd_gpa, (MIN(rd(k, 0x22c, 4) + 1, 256 * MiB) - isize) & ~0xfffULL);
	CHECK(initrd_gpa >= run + init_size || initrd_gpa + isize <= load_gpa);
	check_bytes(initrd_gpa, initrd, isize);
	expect_zero_page(want, k, load_gpa, initrd_gpa, isize, 256 * MiB, e820_real, ARRAY_SIZE(e820_real));
	check_zero_page(want);
	snprintf(logline, sizeof(logline), "kernel %s (protocol %u.%02u) at %#llx", release, version >> 8,
		 version & 0xff, (unsigned long long)load_gpa);
	CHECK_LAST_LOG(logline);
	printf("  %s", test_last_log);
	free(k);
	fake_vm_destroy(&vm);
}

/* Registered only when a kernel is there: a skipped test prints SKIP, never a PASS that checked nothing. */
__attribute__((constructor)) static void register_real_kernel_test(void)
{
	if (find_real_kernel())
		test_register("linux_real_kernel_header", linux_real_kernel_header);
	else
		printf("SKIP linux_real_kernel_header: no kernel in $LINUX_BZIMAGE, build/linux/ or /boot\n");
}
