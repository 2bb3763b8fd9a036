/* A QEMU TCG plugin that counts the guest instructions each vCPU executes and writes their sum to a file when QEMU
 * exits: the instruction count of an SMP run that cannot use -icount (the hypervisor with two busy CPUs does not get
 * going under -icount's round-robin; bench/net.py). Each translated block adds its length when it runs, into its
 * vCPU's own counter (one TCG thread per vCPU: no two threads write one counter).
 *
 *   qemu-system-x86_64 ... -plugin build/bench/insn.so,out=FILE
 *
 * Built against QEMU's plugin ABI version 1 (QEMU 7.x, Debian 12), whose few calls are declared here: Debian ships no
 * qemu-plugin.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_VCPUS 64
static uint64_t counts[MAX_VCPUS];
static char out[512];

static void tb_exec(unsigned int vcpu, void *n)
{
	counts[vcpu % MAX_VCPUS] += (uintptr_t)n;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS,
					     (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	uint64_t total = 0;
	FILE *f = fopen(out, "w");

	for (int i = 0; i < MAX_VCPUS; i++)
		total += counts[i];
	if (f) {
		fprintf(f, "%llu\n", (unsigned long long)total);
		fclose(f);
	}
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info,
							      int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "out=", 4) == 0)
			snprintf(out, sizeof(out), "%s", argv[i] + 4);
	if (!out[0])
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
