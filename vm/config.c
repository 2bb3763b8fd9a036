/* VM configuration from GRUB module command lines (syntax in vm/config.h). The lines are user input: every word is
 * checked, every problem is reported with the module index, the word and the check that failed, and a VM with any
 * problem is left out while the others go ahead. Parsing happens in out[] itself, so nothing big lives on the stack. */
#include "vm/config.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"
#include "kernel/cmdline.h"
#include "kernel/printf.h"

#define KEY_MAX 16
/* A whole word, dequoted: GRUB quotes an argument that holds a space as a whole ("cmdline=a b"), so the key, the '='
 * and the value can all sit inside the quotes. */
#define RAW_MAX	     (KEY_MAX + VM_CONFIG_CMDLINE_MAX)
#define MSG_WORD_MAX 60
#define UNKNOWN_KEY                                                                                                    \
	"unknown key (expected vm, role, mem, cpus, pages, console, tdp, entry, ws, reclaim, age_flush, private, "     \
	"platform, net, virtcon, cmdline, protect or ro)"

enum cfg_role { ROLE_KERNEL, ROLE_MODULE, ROLE_INITRD, ROLE_DISK };

/* One word, split into key and value however it was quoted. */
struct cfg_word {
	struct cmdline_word w; /* for messages */
	char key[KEY_MAX];
	char val[VM_CONFIG_CMDLINE_MAX];
	bool has_val;
	bool key_too_long, val_too_long, bad_quote;
};

/* What one module line says, before it is applied to its VM. */
struct cfg_line {
	u32 idx;
	u32 errors;
	bool has_vm, has_role, has_mem, has_cpus, has_cmdline, has_pages, has_console, has_tdp, has_entry;
	bool has_ws, has_reclaim, has_age_flush, has_platform, has_private, has_virtcon;
	bool has_net;
	bool has_ro; /* the bare word `ro`, for role=disk */
	bool has_protect; /* a protect= word with a value, good or bad */
	bool role_bad;
	int role;
	u64 mem;
	u32 cpus;
	u8 pages; /* largest TDP page level from pages=: 1 (4K), 2 (2M), 3 (1G) */
	bool console_raw;
	bool shadow; /* tdp=0 */
	bool entry32; /* entry=32 */
	u64 ws_us;    /* ws=: the scan interval in microseconds */
	bool reclaim; /* reclaim=on */
	bool private_mem; /* private=on */
	bool age_flush; /* age_flush=on */
	bool minimal; /* platform=minimal */
	bool virtcon; /* virtcon=on */
	char vm[VM_CONFIG_NAME_MAX];
	char cmdline[VM_CONFIG_CMDLINE_MAX];
	struct cmdline_word mem_w, cpus_w, pages_w, console_w, tdp_w, entry_w, ws_w, reclaim_w; /* kernel line only */
	struct cmdline_word platform_w, private_w, age_flush_w, virtcon_w; /* kernel line only */
	struct cmdline_word net_w;			    /* kernel line only */
	char net[VM_CONFIG_NAME_MAX];
	struct cmdline_word cmdline_w;		    /* for "not on a role=initrd line" */
	struct cmdline_word ro_w;		    /* for "only on a role=disk line" */
	/* protect_w is the first protect= word, for "only on the kernel module". protect[] holds the good ranges,
	 * pairwise disjoint; whether each lies in guest RAM is checked once the line is whole (mem= may come after
	 * it), and w names the word then. */
	struct cmdline_word protect_w;
	u32 nr_protect;
	struct {
		u64 start, end;
		u8 mode;
		bool late;
		struct cmdline_word w;
	} protect[VM_CONFIG_MAX_PROTECT];
};

/* Per tracked VM, beside its struct vm_config in out[]. Every VM has a module, so there are at most as many as
 * modules: the parse's state for them lives in st[] below, not on the stack. */
struct cfg_vm {
	bool bad;
	bool has_kernel;
	bool maybe_kernel; /* a module of this VM had an unreadable role: do not also claim there is no kernel */
	u32 kernel_idx;
	bool has_initrd;
	u32 initrd_idx;
};

static void word_err(struct cfg_line *l, const struct cmdline_word *w, const char *check)
{
	int n = w->len > MSG_WORD_MAX ? MSG_WORD_MAX : (int)w->len;

	pr_err("vm config: module %u: '%.*s%s': %s\n", l->idx, n, w->text, w->len > MSG_WORD_MAX ? "..." : "", check);
	l->errors++;
}

/* Reads the next word into cw. Returns 1, or 0 at the end of the line. Problems are flagged, not reported. */
static int cfg_next(const char **cur, struct cfg_word *cw)
{
	char raw[RAW_MAX];
	size_t klen;
	int ret;

	memset(cw, 0, sizeof(*cw));
	ret = cmdline_next(cur, raw, sizeof(raw), cw->val, sizeof(cw->val), &cw->w);
	if (ret == 0)
		return 0;
	cw->bad_quote = ret == -EINVAL;
	cw->has_val = cw->w.has_val;
	klen = cw->w.key_len;

	if (!cw->has_val) {
		/* No '=' outside quotes: maybe GRUB quoted the whole word. Split at the first '=' inside. */
		char *eq = strchr(raw, '=');

		if (eq) {
			klen = (size_t)(eq - raw);
			cw->has_val = true;
			/* With a known-length key, a value that fits in val also fitted in raw (RAW_MAX is sized so).
			 */
			if (klen < sizeof(cw->key)) {
				size_t vlen = cw->w.key_len - klen - 1;

				cw->val_too_long = vlen >= sizeof(cw->val);
				if (!cw->val_too_long)
					memcpy(cw->val, eq + 1, vlen + 1);
			}
		}
	} else {
		cw->val_too_long = cw->w.val_len >= sizeof(cw->val);
	}
	cw->key_too_long = klen >= sizeof(cw->key);
	if (!cw->key_too_long) {
		memcpy(cw->key, raw, klen);
		cw->key[klen] = '\0';
	}
	return 1;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static bool is_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= VM_CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* A vm= word anywhere on the line, even a malformed one, makes the module a VM module. */
static bool line_names_vm(const char *line)
{
	struct cfg_word cw;

	while (cfg_next(&line, &cw) > 0)
		if (!cw.key_too_long && strcmp(cw.key, "vm") == 0)
			return true;
	return false;
}

static void parse_mem(struct cfg_line *l, const struct cfg_word *cw)
{
	u64 v;
	int ret = cmdline_parse_u64(cw->val, &v);

	if (ret == -EINVAL) {
		word_err(l, &cw->w, "malformed size (expected a number with an optional K, M or G suffix)");
		return;
	}
	if (ret < 0 || v < VM_CONFIG_MEM_MIN || v > VM_CONFIG_MEM_MAX) {
		word_err(l, &cw->w, "size out of range [2M, 64G]");
		return;
	}
	l->mem = ALIGN_UP(v, HUGE_2M_SIZE);
}

static void parse_cpus(struct cfg_line *l, const struct cfg_word *cw)
{
	u64 v;
	int ret = cmdline_parse_u64(cw->val, &v);

	if (ret == -EINVAL)
		word_err(l, &cw->w, "malformed number");
	else if (ret < 0 || v < 1 || v > VM_CONFIG_MAX_VCPUS)
		word_err(l, &cw->w, "vCPU count out of range [1, 16]");
	else
		l->cpus = (u32)v;
}

/* ws=INTERVAL: a decimal number and a unit, us, ms or s, from 1 ms to 1 hour (vm/ws.h: one scan ages the whole
 * guest, so a shorter interval would be all the VM's vCPU 0 does). */
static void parse_ws(struct cfg_line *l, const struct cfg_word *cw)
{
	static const struct {
		const char *unit;
		u64 us;
	} units[] = { { "us", 1 }, { "ms", 1000 }, { "s", 1000000 } };
	const char *p = cw->val;
	u64 v = 0;

	if (*p < '0' || *p > '9') {
		word_err(l, &cw->w, "malformed interval (expected a number and a unit: ws=10ms, ws=500us, ws=1s)");
		return;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - 9) / 10) {
			word_err(l, &cw->w, "interval out of range [1ms, 3600s]");
			return;
		}
		v = v * 10 + (u64)(*p - '0');
	}
	for (unsigned int i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (v > WS_INTERVAL_MAX_US / units[i].us || v * units[i].us < WS_INTERVAL_MIN_US) {
			word_err(l, &cw->w, "interval out of range [1ms, 3600s]");
			return;
		}
		l->ws_us = v * units[i].us;
		return;
	}
	word_err(l, &cw->w, "interval needs a unit: us, ms or s (ws=10ms)");
}

/* protect=START-END[:MODE]: checks what the word alone can tell, and against the line's earlier ranges; a good range
 * is kept on the line. Only the first problem of a word is reported. */
static void parse_protect(struct cfg_line *l, const struct cfg_word *cw)
{
	char buf[VM_CONFIG_CMDLINE_MAX]; /* the value, cut at '-' and ':' */
	char msg[MSG_WORD_MAX + 80];
	char *dash, *colon;
	u64 start, end;
	u8 mode = VM_PROTECT_DENY, new_mode = 0;
	bool late = false, have_mode = false;
	int r_start, r_end;

	memcpy(buf, cw->val, strlen(cw->val) + 1);
	/* Neither a number nor an option holds '-' or ':', so the first of each is the separator. */
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	dash = strchr(buf, '-');
	if (!dash) {
		word_err(l, &cw->w, "malformed range (expected protect=START-END[:MODE][:late])");
		return;
	}
	*dash = '\0';
	r_start = cmdline_parse_u64(buf, &start);
	r_end = cmdline_parse_u64(dash + 1, &end);
	if (r_start == -EINVAL || r_end == -EINVAL) {
		word_err(l, &cw->w, "malformed address (expected a number with an optional K, M or G suffix)");
		return;
	}
	if (r_start < 0 || r_end < 0) {
		word_err(l, &cw->w, "address does not fit in 64 bits");
		return;
	}
	/* Options after the range, each once: a MODE, and `late`. */
	for (char *opt = colon ? colon + 1 : NULL, *next; opt; opt = next) {
		bool is_mode = true;

		next = strchr(opt, ':');
		if (next)
			*next++ = '\0';
		if (strcmp(opt, "log") == 0)
			new_mode = VM_PROTECT_LOG;
		else if (strcmp(opt, "deny") == 0)
			new_mode = VM_PROTECT_DENY;
		else if (strcmp(opt, "kill") == 0)
			new_mode = VM_PROTECT_KILL;
		else if (strcmp(opt, "late") == 0 && !late)
			late = true, is_mode = false;
		else {
			word_err(l, &cw->w, "protect option must be log, deny, kill or late, each at most once");
			return;
		}
		if (is_mode && have_mode) {
			word_err(l, &cw->w, "protect option must be log, deny, kill or late, each at most once");
			return;
		}
		if (is_mode)
			mode = new_mode, have_mode = true;
	}
	if (!IS_ALIGNED(start, PAGE_SIZE) || !IS_ALIGNED(end, PAGE_SIZE)) {
		word_err(l, &cw->w, "range not 4K-aligned (START and END must be multiples of 0x1000)");
		return;
	}
	if (start >= end) {
		word_err(l, &cw->w, "empty or reversed range (START must be below END)");
		return;
	}
	for (u32 i = 0; i < l->nr_protect; i++) {
		const struct cmdline_word *o = &l->protect[i].w;

		if (start < l->protect[i].end && l->protect[i].start < end) {
			hv_snprintf(msg, sizeof(msg), "range overlaps another protect= range of this VM ('%.*s')",
				    (int)MIN(o->len, (size_t)MSG_WORD_MAX), o->text);
			word_err(l, &cw->w, msg);
			return;
		}
	}
	if (l->nr_protect >= VM_CONFIG_MAX_PROTECT) {
		word_err(l, &cw->w, "more than 16 protect= ranges for this VM");
		return;
	}
	l->protect[l->nr_protect].start = start;
	l->protect[l->nr_protect].end = end;
	l->protect[l->nr_protect].mode = mode;
	l->protect[l->nr_protect].late = late;
	l->protect[l->nr_protect].w = cw->w;
	l->nr_protect++;
}

/* A key with two values: *set is whether it has the first. Anything else is reported (msg) and false returned. */
static bool parse_either(struct cfg_line *l, const struct cfg_word *cw, const char *yes, const char *no, bool *set,
			 const char *msg)
{
	if (strcmp(cw->val, yes) != 0 && strcmp(cw->val, no) != 0) {
		word_err(l, &cw->w, msg);
		return false;
	}
	*set = strcmp(cw->val, yes) == 0;
	return true;
}

/* Applies one word to the line; reports what is wrong with it. */
static void parse_word(struct cfg_line *l, const struct cfg_word *cw)
{
	bool *seen;

	if (cw->bad_quote) {
		word_err(l, &cw->w, "unterminated quote");
		return;
	}
	if (cw->key_too_long) {
		word_err(l, &cw->w, UNKNOWN_KEY);
		return;
	}
	if (strcmp(cw->key, "vm") == 0)
		seen = &l->has_vm;
	else if (strcmp(cw->key, "role") == 0)
		seen = &l->has_role;
	else if (strcmp(cw->key, "mem") == 0)
		seen = &l->has_mem;
	else if (strcmp(cw->key, "cpus") == 0)
		seen = &l->has_cpus;
	else if (strcmp(cw->key, "cmdline") == 0)
		seen = &l->has_cmdline;
	else if (strcmp(cw->key, "pages") == 0)
		seen = &l->has_pages;
	else if (strcmp(cw->key, "console") == 0)
		seen = &l->has_console;
	else if (strcmp(cw->key, "protect") == 0)
		seen = &l->has_protect;
	else if (strcmp(cw->key, "tdp") == 0)
		seen = &l->has_tdp;
	else if (strcmp(cw->key, "entry") == 0)
		seen = &l->has_entry;
	else if (strcmp(cw->key, "ws") == 0)
		seen = &l->has_ws;
	else if (strcmp(cw->key, "reclaim") == 0)
		seen = &l->has_reclaim;
	else if (strcmp(cw->key, "private") == 0)
		seen = &l->has_private;
	else if (strcmp(cw->key, "age_flush") == 0)
		seen = &l->has_age_flush;
	else if (strcmp(cw->key, "platform") == 0)
		seen = &l->has_platform;
	else if (strcmp(cw->key, "virtcon") == 0)
		seen = &l->has_virtcon;
	else if (strcmp(cw->key, "net") == 0)
		seen = &l->has_net;
	else if (strcmp(cw->key, "ro") == 0)
		seen = &l->has_ro;
	else {
		word_err(l, &cw->w, UNKNOWN_KEY);
		return;
	}
	if (*seen && seen != &l->has_protect) { /* a VM may protect several ranges */
		word_err(l, &cw->w, "key given twice in this module");
		return;
	}
	if (seen == &l->has_ro) { /* a flag: the one word with no value */
		if (cw->has_val) {
			word_err(l, &cw->w, "ro takes no value (write the word ro alone, on a role=disk line)");
			return;
		}
		l->ro_w = cw->w;
		*seen = true;
		return;
	}
	if (!cw->has_val) {
		word_err(l, &cw->w, "missing value (expected key=value)");
		return;
	}
	if (cw->val_too_long) {
		word_err(l, &cw->w, "value too long (at most 255 characters)");
		return;
	}

	if (seen == &l->has_vm) {
		if (!is_valid_name(cw->val)) {
			word_err(l, &cw->w, "VM name must be 1-31 characters of [A-Za-z0-9_.-]");
			return;
		}
		memcpy(l->vm, cw->val, strlen(cw->val) + 1);
	} else if (seen == &l->has_role) {
		if (strcmp(cw->val, "kernel") == 0) {
			l->role = ROLE_KERNEL;
		} else if (strcmp(cw->val, "module") == 0) {
			l->role = ROLE_MODULE;
		} else if (strcmp(cw->val, "initrd") == 0) {
			l->role = ROLE_INITRD;
		} else if (strcmp(cw->val, "disk") == 0) {
			l->role = ROLE_DISK;
		} else {
			l->role_bad = true;
			word_err(l, &cw->w, "role must be kernel, module, initrd or disk");
		}
	} else if (seen == &l->has_mem) {
		l->mem_w = cw->w;
		parse_mem(l, cw);
	} else if (seen == &l->has_cpus) {
		l->cpus_w = cw->w;
		parse_cpus(l, cw);
	} else if (seen == &l->has_console) {
		l->console_w = cw->w;
		if (!parse_either(l, cw, "raw", "lines", &l->console_raw, "console must be lines or raw"))
			return;
	} else if (seen == &l->has_tdp) {
		l->tdp_w = cw->w;
		if (!parse_either(l, cw, "0", "1", &l->shadow,
				  "tdp must be 0 (shadow paging) or 1 (EPT/NPT where the CPU has it)"))
			return;
	} else if (seen == &l->has_entry) {
		l->entry_w = cw->w;
		if (!parse_either(l, cw, "32", "64", &l->entry32,
				  "entry must be 64 (the kernel's 64-bit entry) or 32 (its 32-bit one)"))
			return;
	} else if (seen == &l->has_ws) {
		l->ws_w = cw->w;
		parse_ws(l, cw);
	} else if (seen == &l->has_private) {
		l->private_w = cw->w;
		if (!parse_either(l, cw, "on", "off", &l->private_mem, "private must be on or off"))
			return;
	} else if (seen == &l->has_reclaim) {
		l->reclaim_w = cw->w;
		if (!parse_either(l, cw, "on", "off", &l->reclaim, "reclaim must be on or off"))
			return;
	} else if (seen == &l->has_virtcon) {
		l->virtcon_w = cw->w;
		if (!parse_either(l, cw, "on", "off", &l->virtcon, "virtcon must be on or off"))
			return;
	} else if (seen == &l->has_age_flush) {
		l->age_flush_w = cw->w;
		if (!parse_either(l, cw, "on", "off", &l->age_flush, "age_flush must be on or off"))
			return;
	} else if (seen == &l->has_platform) {
		l->platform_w = cw->w;
		if (!parse_either(l, cw, "minimal", "pc", &l->minimal, "platform must be pc or minimal"))
			return;
	} else if (seen == &l->has_net) {
		l->net_w = cw->w;
		if (!is_valid_name(cw->val)) {
			word_err(l, &cw->w, "network name must be 1-31 characters of [A-Za-z0-9_.-]");
			return;
		}
		memcpy(l->net, cw->val, strlen(cw->val) + 1);
	} else if (seen == &l->has_pages) {
		l->pages_w = cw->w;
		if (strcmp(cw->val, "4k") == 0)
			l->pages = 1;
		else if (strcmp(cw->val, "2m") == 0)
			l->pages = 2;
		else if (strcmp(cw->val, "1g") == 0)
			l->pages = 3;
		else {
			word_err(l, &cw->w, "pages must be 4k, 2m or 1g");
			return;
		}
	} else if (seen == &l->has_protect) {
		if (!l->has_protect)
			l->protect_w = cw->w;
		parse_protect(l, cw);
	} else {
		l->cmdline_w = cw->w;
		memcpy(l->cmdline, cw->val, strlen(cw->val) + 1);
	}
	*seen = true;
}

/* The slot of VM `name` in out[], created at the end if new; -1 when every slot is taken. */
static int find_or_add_vm(struct vm_config *out, u32 *nvms, u32 cap, const char *name)
{
	for (u32 i = 0; i < *nvms; i++)
		if (strcmp(out[i].name, name) == 0)
			return (int)i;
	if (*nvms >= cap)
		return -1;
	memcpy(out[*nvms].name, name, strlen(name) + 1);
	out[*nvms].cpus = 1;
	return (int)(*nvms)++;
}

/* Every protect= range of the kernel line must lie wholly inside one piece of guest RAM (vm/config.h has the layout).
 * mem= lives on the same line, so the line is the whole VM as far as this check goes. */
static void check_protect_in_ram(struct cfg_line *l, u64 mem)
{
	u64 low_end = MIN(mem, VM_CONFIG_RAM_LOW_MAX);
	u64 high_end = VM_CONFIG_RAM_HIGH_BASE + (mem - low_end); /* == HIGH_BASE: no high piece */
	char msg[128];

	if (mem > low_end)
		hv_snprintf(msg, sizeof(msg),
			    "range outside guest RAM ([0, 0x%llx) and [0x%llx, 0x%llx); it must lie inside one)",
			    (unsigned long long)low_end, (unsigned long long)VM_CONFIG_RAM_HIGH_BASE,
			    (unsigned long long)high_end);
	else
		hv_snprintf(msg, sizeof(msg), "range outside guest RAM ([0, 0x%llx))", (unsigned long long)low_end);
	for (u32 i = 0; i < l->nr_protect; i++) {
		u64 start = l->protect[i].start, end = l->protect[i].end;
		bool in_low = end <= low_end;
		bool in_high = start >= VM_CONFIG_RAM_HIGH_BASE && end <= high_end;

		if (!in_low && !in_high)
			word_err(l, &l->protect[i].w, msg);
	}
}

static void apply_kernel(struct cfg_line *l, const struct boot_module *m, struct vm_config *c, struct cfg_vm *s)
{
	if (s->has_kernel) {
		pr_err("vm config: module %u: second kernel for vm %s (module %u is its kernel; add role=module?)\n",
		       l->idx, c->name, s->kernel_idx);
		l->errors++;
		return;
	}
	s->has_kernel = true;
	s->kernel_idx = l->idx;
	c->kernel_index = l->idx;
	if (m->end <= m->start) {
		pr_err("vm config: module %u: kernel image of vm %s is empty\n", l->idx, c->name);
		l->errors++;
	}
	c->kernel_start = m->start;
	c->kernel_end = m->end;
	c->mem_bytes = l->has_mem ? l->mem : VM_CONFIG_MEM_DEFAULT;
	c->cpus = l->has_cpus ? l->cpus : 1;
	c->max_page_level = l->has_pages ? l->pages : 0;
	c->console_raw = l->console_raw;
	c->shadow_paging = l->shadow;
	c->linux_entry32 = l->entry32;
	c->ws_interval_us = l->ws_us;
	c->ws_reclaim = l->reclaim;
	c->age_flush = !l->has_age_flush ? VM_AGE_FLUSH_DEFAULT : l->age_flush ? VM_AGE_FLUSH_ON : VM_AGE_FLUSH_OFF;
	c->platform = !l->has_platform ? VM_PLATFORM_DEFAULT : l->minimal ? VM_PLATFORM_MINIMAL : VM_PLATFORM_PC;
	c->virtcon = l->virtcon;
	if (l->virtcon && l->minimal)
		word_err(l, &l->virtcon_w, "virtcon=on needs a PCI bus, which platform=minimal has not");
	if (l->reclaim && !l->has_ws)
		word_err(l, &l->reclaim_w, "reclaim=on needs ws=INTERVAL: it gives back what the scans found cold");
	c->private_mem = l->private_mem;
	/* Private memory is mapped by the TDP MMU only, and the hypervisor reads none of it: reclaim's zero check
	 * would read it, and protect= write-protects and emulates. ws= works (the mirror is not aged: its memory
	 * reads as never touched). */
	if (l->private_mem && (l->shadow || l->reclaim || l->has_protect))
		word_err(l, &l->private_w, "private=on needs TDP and excludes tdp=0, reclaim=on and protect=");
	memcpy(c->net, l->net, sizeof(c->net));
	memcpy(c->cmdline, l->cmdline, sizeof(c->cmdline));
	if (c->mem_bytes) /* 0: mem= was bad, reported already, and there is no RAM to check against */
		check_protect_in_ram(l, c->mem_bytes);
	for (u32 i = 0; i < l->nr_protect; i++) {
		c->protect[i].start = l->protect[i].start;
		c->protect[i].end = l->protect[i].end;
		c->protect[i].mode = l->protect[i].mode;
		c->protect[i].late = l->protect[i].late;
	}
	c->nr_protect = l->nr_protect;
}

/* The words that describe the VM itself belong on its kernel line; on another one they are a mistake, never
 * ignored. */
static void reject_kernel_words(struct cfg_line *l, const char *role)
{
	const struct {
		bool given;
		const struct cmdline_word *w;
		const char *key;
	} words[] = {
		{ l->has_mem, &l->mem_w, "mem" },	  { l->has_cpus, &l->cpus_w, "cpus" },
		{ l->has_pages, &l->pages_w, "pages" }, { l->has_console, &l->console_w, "console" },
		{ l->has_tdp, &l->tdp_w, "tdp" },	  { l->has_entry, &l->entry_w, "entry" },
		{ l->has_protect, &l->protect_w, "protect" }, { l->has_ws, &l->ws_w, "ws" },
		{ l->has_reclaim, &l->reclaim_w, "reclaim" }, { l->has_platform, &l->platform_w, "platform" },
		{ l->has_private, &l->private_w, "private" },
		{ l->has_age_flush, &l->age_flush_w, "age_flush" },
		{ l->has_net, &l->net_w, "net" },
		{ l->has_virtcon, &l->virtcon_w, "virtcon" },
	};
	char msg[96];

	for (unsigned int i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!words[i].given)
			continue;
		hv_snprintf(msg, sizeof(msg), "%s= goes on the kernel module (role=kernel), not on a role=%s line",
			    words[i].key, role);
		word_err(l, words[i].w, msg);
	}
}

static void apply_module(struct cfg_line *l, const struct boot_module *m, struct vm_config *c)
{
	reject_kernel_words(l, "module");
	if (m->end < m->start) {
		pr_err("vm config: module %u: module range ends before it starts\n", l->idx);
		l->errors++;
	}
	if (c->nr_modules >= VM_CONFIG_MAX_MODULES) {
		pr_err("vm config: module %u: vm %s has more than %u modules\n", l->idx, c->name,
		       VM_CONFIG_MAX_MODULES);
		l->errors++;
		return;
	}
	c->modules[c->nr_modules].start = m->start;
	c->modules[c->nr_modules].end = m->end;
	c->modules[c->nr_modules].index = l->idx;
	memcpy(c->modules[c->nr_modules].cmdline, l->cmdline, sizeof(l->cmdline));
	c->nr_modules++;
}

/* The initrd is handed to a Linux kernel as one blob; it has no command line of its own, and sizes are the kernel
 * line's business, so any such word here is a mistake worth stopping for rather than something to ignore. */
static void apply_initrd(struct cfg_line *l, const struct boot_module *m, struct vm_config *c, struct cfg_vm *s)
{
	reject_kernel_words(l, "initrd");
	if (l->has_cmdline)
		word_err(l, &l->cmdline_w, "an initrd has no command line (cmdline= on the role=kernel line?)");
	if (s->has_initrd) {
		pr_err("vm config: module %u: second initrd for vm %s (module %u is its initrd)\n", l->idx, c->name,
		       s->initrd_idx);
		l->errors++;
		return;
	}
	s->has_initrd = true;
	s->initrd_idx = l->idx;
	if (m->end <= m->start) {
		pr_err("vm config: module %u: initrd of vm %s is empty\n", l->idx, c->name);
		l->errors++;
	}
	c->has_initrd = true;
	c->initrd_index = l->idx;
	c->initrd_start = m->start;
	c->initrd_end = m->end;
}

/* A disk is the module's bytes as they are; vm/launch.c makes it a virtio-blk device. Like an initrd it has no command
 * line, and the VM's sizes are the kernel line's. */
static void apply_disk(struct cfg_line *l, const struct boot_module *m, struct vm_config *c)
{
	u64 size = m->end > m->start ? m->end - m->start : 0;

	reject_kernel_words(l, "disk");
	if (l->has_cmdline)
		word_err(l, &l->cmdline_w, "a disk has no command line");
	if (size == 0 || size % VM_CONFIG_DISK_SECTOR) {
		pr_err("vm config: module %u: disk of vm %s is %llu bytes: a disk must be a non-zero multiple of 512 "
		       "bytes (pad the image: truncate -s %%512 FILE)\n",
		       l->idx, c->name, (unsigned long long)size);
		l->errors++;
	}
	if (c->nr_disks >= VM_CONFIG_MAX_DISKS) {
		pr_err("vm config: module %u: vm %s has more than %u disks\n", l->idx, c->name, VM_CONFIG_MAX_DISKS);
		l->errors++;
		return;
	}
	c->disks[c->nr_disks].start = m->start;
	c->disks[c->nr_disks].end = m->end;
	c->disks[c->nr_disks].index = l->idx;
	c->disks[c->nr_disks].ro = l->has_ro;
	c->nr_disks++;
}

/* Parses module idx and applies it to its VM; returns the number of errors reported. */
static u32 parse_module(const struct boot_module *m, u32 idx, struct vm_config *out, struct cfg_vm *st, u32 *nvms,
			u32 cap)
{
	struct cfg_line l = {.idx = idx, .role = ROLE_KERNEL};
	char line[sizeof(m->cmdline)];
	size_t len = MIN(strnlen(m->cmdline, sizeof(m->cmdline)), sizeof(line) - 1);
	const char *cur = line;
	struct cfg_word cw;
	int slot;

	memcpy(line, m->cmdline, len);
	line[len] = '\0';
	if (!line_names_vm(line)) {
		pr_notice("vm config: module %u has no vm=: not a VM module, skipped\n", idx);
		return 0;
	}
	/* A line that fills boot_info's buffer may have been cut short by the boot-information parser, which could
	 * silently drop or change a word: its VM is refused (the words that are there still get checked). */
	if (len == sizeof(line) - 1) {
		pr_err("vm config: module %u: command line of %zu characters or more may have been cut short; keep it "
		       "under %zu\n",
		       idx, len, len);
		l.errors++;
	}
	while (cfg_next(&cur, &cw) > 0)
		parse_word(&l, &cw);
	if (!l.has_vm)
		return l.errors; /* the vm= word itself was bad: reported, and there is no VM to mark */

	slot = find_or_add_vm(out, nvms, cap, l.vm);
	if (slot < 0) {
		pr_err("vm config: module %u: vm %s: more VMs than the %u the output array holds\n", idx, l.vm, cap);
		return l.errors + 1;
	}
	if (l.has_ro && (l.role_bad || l.role != ROLE_DISK))
		word_err(&l, &l.ro_w, "ro belongs on a role=disk line");
	if (l.role_bad)
		st[slot].maybe_kernel = true;
	else if (l.role == ROLE_KERNEL)
		apply_kernel(&l, m, &out[slot], &st[slot]);
	else if (l.role == ROLE_INITRD)
		apply_initrd(&l, m, &out[slot], &st[slot]);
	else if (l.role == ROLE_DISK)
		apply_disk(&l, m, &out[slot]);
	else
		apply_module(&l, m, &out[slot]);
	if (l.errors)
		st[slot].bad = true;
	return l.errors;
}

int vm_config_parse(const struct boot_info *bi, struct vm_config *out, u32 max, u32 *n)
{
	static struct cfg_vm st[BOOT_MAX_MODULES]; /* boot runs one parse; the host tests one at a time */
	u32 cap = MIN(max, (u32)BOOT_MAX_MODULES), nvms = 0, valid = 0, errors = 0;

	if (!bi || !out || !n || !max)
		return -EINVAL;
	*n = 0;
	memset(st, 0, sizeof(st));
	memset(out, 0, sizeof(*out) * cap);
	if (bi->modules_dropped) {
		pr_err("vm config: the boot loader passed %u modules, and the hypervisor keeps %u (BOOT_MAX_MODULES): "
		       "any VM may be missing one of the %u others, so none is started\n",
		       bi->nr_modules + bi->modules_dropped, BOOT_MAX_MODULES, bi->modules_dropped);
		return 1;
	}

	for (u32 i = 0; i < MIN(bi->nr_modules, (u32)BOOT_MAX_MODULES); i++)
		errors += parse_module(&bi->modules[i], i, out, st, &nvms, cap);

	for (u32 i = 0; i < nvms; i++) {
		if (!st[i].has_kernel && !st[i].maybe_kernel) {
			pr_err("vm config: vm %s has no kernel module (a module with vm=%s and role=kernel)\n",
			       out[i].name, out[i].name);
			st[i].bad = true;
			errors++;
		}
		if (st[i].bad) {
			pr_err("vm config: vm %s left out because of the errors above\n", out[i].name);
			continue;
		}
		if (valid != i)
			memcpy(&out[valid], &out[i], sizeof(*out));
		valid++;
	}
	if (valid < nvms)
		memset(&out[valid], 0, sizeof(*out) * (nvms - valid));
	*n = valid;
	return (int)errors;
}
