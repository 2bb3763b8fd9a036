/* The ACPI fixed hardware the FADT describes: the PM1 event and control registers (always in ACPI mode; SLP_EN with
 * the \_S5 type powers the VM off), the 3.579545 MHz PM timer derived from the TSC, and the PIIX/ICH reset control
 * register. The SCI is a level-triggered ISA line: high while an enabled fixed event's status bit is set. */
#include "vm/dev/acpi_tables.h"
#include "arch/x86/cpu.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "vm/dev/dev.h"
#include "vm/vcpu.h"
#include "vm/vtimer.h"

/* Fixed events that raise the SCI when both their status and enable bits are set. Only TMR and PWRBTN can ever
 * become set here; the others are kept so that GBL_EN, SLPBTN_EN and RTC_EN stick when an OS enables them (ACPICA
 * reads an enable bit back and reports hardware that drops it). */
#define PM1_EVENTS   (ACPI_PM1_TMR_STS | ACPI_PM1_GBL_STS | ACPI_PM1_PWRBTN_STS | ACPI_PM1_SLPBTN_STS | ACPI_PM1_RTC_STS)
#define PM1_STS_BITS (PM1_EVENTS | ACPI_PM1_PCIEXP_STS | ACPI_PM1_WAK_STS | BIT(4) /* BM_STS */)
#define PM1_EN_BITS  (PM1_EVENTS | ACPI_PM1_PCIEXP_WAKE_DIS)
/* What PM1_CNT keeps: SLP_EN and GBL_RLS are write-only, SCI_EN is fixed at 1. */
#define PM1_CNT_BITS (ACPI_PM1_BM_RLD | ACPI_PM1_SLP_TYP_MASK)

#define TMR_STS_SHIFT 31   /* TMR_VAL_EXT: TMR_STS is set whenever bit 31 of the counter toggles */
#define RESET_KEEP    0x0a /* RCR bits that read back: SYS_RST (1) and FULL_RST (3); RST_CPU (2) self-clears */

struct acpi_pm {
	struct vm *vm;		 /* constant */
	u16 pm_port, reset_port; /* constant */
	u8 sci_irq;		 /* constant */
	u64 tsc_hz;		 /* constant, <= U64_MAX / ACPI_PM_TMR_HZ */
	u64 tsc_base;		 /* constant: the TSC at which the counter read 0 */
	u64 (*now)(void);	 /* constant */
	struct vtimer tmr_timer; /* constant hook; the list is vm->timers_lock's (vm/vtimer.h) */
	/*
	 * The lock covers everything below. Any vCPU reaches the registers through the ports, vCPU 0 runs the timer
	 * callback, and acpi_pm_power_button may come from anywhere. It is taken before the interrupt controllers'
	 * locks (the SCI is driven with it held) and before vm->timers_lock (vtimer_arm). vm_end and the log messages
	 * of the power-off and reset paths are issued after it is dropped.
	 */
	spinlock_t lock;
	u16 sts; /* PM1_STS except TMR_STS, which is derived from the counter */
	u16 en;
	u16 cnt;
	u64 tmr_epoch; /* counter >> TMR_STS_SHIFT when TMR_STS was last cleared; TMR_STS = it differs now */
	u8 rcr;
	bool sci; /* the level last driven on sci_irq */
	/* The deadline tmr_timer is armed for, ~0 when it is not. The timer's own armed and deadline fields belong to
	 * vm->timers_lock, and vm_timers_run takes an expired timer off the list without this lock, so the device
	 * keeps its own copy. It is exact except between that and the callback, which starts by making it so. */
	u64 tmr_deadline;
};

static u64 pm_rdtsc(void)
{
	return rdtsc();
}

/*
 * The free-running 64-bit count at TSC value tsc (the guest reads its low 32 bits). Split as whole seconds plus a
 * remainder, every product fits in 64 bits: rem * ACPI_PM_TMR_HZ < tsc_hz * ACPI_PM_TMR_HZ, bounded at init. The
 * result is exactly floor((tsc - base) * 3579545 / tsc_hz), modulo 2^64. A TSC behind the base reads as 0.
 */
static u64 pm_count(const struct acpi_pm *pm, u64 tsc)
{
	u64 d = tsc > pm->tsc_base ? tsc - pm->tsc_base : 0;

	return d / pm->tsc_hz * ACPI_PM_TMR_HZ + d % pm->tsc_hz * ACPI_PM_TMR_HZ / pm->tsc_hz;
}

/* The first TSC value at which the count reaches c (its inverse, rounded up), saturating at ~0. */
static u64 pm_count_tsc(const struct acpi_pm *pm, u64 c)
{
	u64 secs = c / ACPI_PM_TMR_HZ, part = c % ACPI_PM_TMR_HZ * pm->tsc_hz, d, t;
	u64 frac = part / ACPI_PM_TMR_HZ + (part % ACPI_PM_TMR_HZ != 0);

	if (__builtin_mul_overflow(secs, pm->tsc_hz, &d) || __builtin_add_overflow(d, frac, &d) ||
	    __builtin_add_overflow(pm->tsc_base, d, &t))
		return ~0ULL;
	return t;
}

static u16 pm_status(const struct acpi_pm *pm, u64 count)
{
	return pm->sts | ((count >> TMR_STS_SHIFT) != pm->tmr_epoch ? ACPI_PM1_TMR_STS : 0);
}

/* The counter now. Read under the lock, so the counts successive holders see never go backwards (the TSCs of the
 * host's CPUs are synchronised). */
static u64 __pm_count_now(const struct acpi_pm *pm)
{
	assert_spin_held(&pm->lock);
	return pm_count(pm, pm->now());
}

/* Bring the SCI line and the TMR_STS timer in line with the registers, as of counter value count. */
static void __pm_update(struct acpi_pm *pm, u64 count)
{
	u16 sts = pm_status(pm, count);
	bool sci = sts & pm->en & PM1_EVENTS; /* SCI_EN is always set */

	assert_spin_held(&pm->lock);
	if (sci != pm->sci) {
		pm->sci = sci;
		vm_set_irq(pm->vm, pm->sci_irq, sci);
	}
	if ((pm->en & ACPI_PM1_TMR_EN) && !(sts & ACPI_PM1_TMR_STS)) {
		u64 deadline = pm_count_tsc(pm, (pm->tmr_epoch + 1) << TMR_STS_SHIFT);

		/* Re-arming only on a change keeps PM_TMR reads (a clocksource) off vm->timers_lock. */
		if (pm->tmr_deadline != deadline) {
			pm->tmr_deadline = deadline;
			vtimer_arm(pm->vm, &pm->tmr_timer, deadline);
		}
	} else if (pm->tmr_deadline != ~0ULL) {
		pm->tmr_deadline = ~0ULL;
		vtimer_disarm(pm->vm, &pm->tmr_timer);
	}
}

/*
 * vCPU 0's run loop took the timer off the list and calls this without the lock, so another vCPU may have changed
 * the registers in between (cleared TMR_STS, disarmed, re-armed): everything is recomputed from the registers, and a
 * callback that finds nothing due changes nothing. `now` was read before the lock was taken, perhaps before another
 * vCPU's access that saw a later count; the later of the two is used, so TMR_STS never flickers back.
 */
static void pm_tmr_fire(struct vtimer *t, u64 now)
{
	struct acpi_pm *pm = container_of(t, struct acpi_pm, tmr_timer);
	u64 count;

	spin_lock(&pm->lock);
	count = MAX(pm_count(pm, now), __pm_count_now(pm));
	/* Off the list, unless another vCPU re-armed it in the window: either way, start from "not armed". */
	vtimer_disarm(pm->vm, &pm->tmr_timer);
	pm->tmr_deadline = ~0ULL;
	__pm_update(pm, count);
	spin_unlock(&pm->lock);
}

/* The register block as the guest sees it at count: PM1_STS, PM1_EN, PM1_CNT, a gap, PM_TMR; little-endian. */
static void __pm_image(const struct acpi_pm *pm, u64 count, u8 img[ACPI_PM_PORTS])
{
	u16 sts = pm_status(pm, count), cnt = pm->cnt | ACPI_PM1_SCI_EN;
	u32 tmr = (u32)count;

	assert_spin_held(&pm->lock);
	img[ACPI_PM1_STS] = (u8)sts;
	img[ACPI_PM1_STS + 1] = (u8)(sts >> 8);
	img[ACPI_PM1_EN] = (u8)pm->en;
	img[ACPI_PM1_EN + 1] = (u8)(pm->en >> 8);
	img[ACPI_PM1_CNT] = (u8)cnt;
	img[ACPI_PM1_CNT + 1] = (u8)(cnt >> 8);
	img[6] = img[7] = 0xff;
	for (int i = 0; i < 4; i++)
		img[ACPI_PM_TMR + i] = (u8)(tmr >> (8 * i));
}

/* Byte-wise, from one snapshot: a 32-bit read of PM_TMR is never torn, and any size or offset gets what a chipset
 * would return. Bytes beyond the block (a straddling access) read as all ones. */
static int pm_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct acpi_pm *pm = dev;
	u8 img[ACPI_PM_PORTS];
	u64 count;

	spin_lock(&pm->lock);
	count = __pm_count_now(pm);
	__pm_update(pm, count);
	__pm_image(pm, count, img);
	spin_unlock(&pm->lock);
	*val = 0;
	for (unsigned int i = 0; i < size; i++) {
		u64 off = addr + i - pm->pm_port;

		*val |= (u64)(off < ACPI_PM_PORTS ? img[off] : 0xff) << (8 * i);
	}
	return 0;
}

/* SLP_EN was written with sleep type typ: S5 powers off, every other type wakes up at once. The device's part, under
 * the lock; pm_sleep_report does the rest once it is dropped. */
static void __pm_sleep(struct acpi_pm *pm, u32 typ)
{
	assert_spin_held(&pm->lock);
	/* The DSDT declares no state but S5. Waking up at once is what the OS's wait loop (WAK_STS) needs to go on. */
	if (typ != ACPI_SLP_TYP_S5)
		pm->sts |= ACPI_PM1_WAK_STS;
}

/* vm_end may run concurrently with another vCPU's (the first reason wins) and kicks every vCPU out of the guest. */
static void pm_sleep_report(struct acpi_pm *pm, struct vcpu *v, u32 typ)
{
	if (typ == ACPI_SLP_TYP_S5) {
		vm_log(pm->vm, LOG_INFO, "ACPI soft-off (S5) requested by the guest\n");
		vm_end(pm->vm, VM_END_POWEROFF, 0);
	} else if (v && vcpu_may_log(v)) {
		vm_log(pm->vm, LOG_NOTICE, "ACPI sleep type %u requested, not supported: ignored\n", typ);
	}
}

static int pm_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct acpi_pm *pm = dev;
	u16 sts = 0, en = 0, en_mask = 0, cnt = 0, cnt_mask = 0;
	bool sleep = false;
	u32 typ = 0;
	u64 count;

	/* Gather the bytes per register first, so a 32-bit write of PM1_STS + PM1_EN acts as one access. */
	for (unsigned int i = 0; i < size; i++) {
		u64 off = addr + i - pm->pm_port;
		u16 b = (u8)(val >> (8 * i)), shift = (off & 1) * 8;

		if (off == ACPI_PM1_STS || off == ACPI_PM1_STS + 1) {
			sts |= b << shift;
		} else if (off == ACPI_PM1_EN || off == ACPI_PM1_EN + 1) {
			en |= b << shift;
			en_mask |= 0xff << shift;
		} else if (off == ACPI_PM1_CNT || off == ACPI_PM1_CNT + 1) {
			cnt |= b << shift;
			cnt_mask |= 0xff << shift;
		}
		/* PM_TMR is read-only; the gap and bytes past the block are not decoded. */
	}

	sts &= PM1_STS_BITS;
	/* SLP_EN and SLP_TYP share the high byte, so a write that sets SLP_EN always carries the type it means. */
	if (cnt & ACPI_PM1_SLP_EN) {
		sleep = true;
		typ = (cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
	}

	spin_lock(&pm->lock);
	count = __pm_count_now(pm);
	if (sts & ACPI_PM1_TMR_STS)
		pm->tmr_epoch = count >> TMR_STS_SHIFT;
	pm->sts &= ~sts;
	pm->en = (pm->en & ~en_mask) | (en & en_mask & PM1_EN_BITS);
	pm->cnt = (pm->cnt & ~cnt_mask) | (cnt & cnt_mask & PM1_CNT_BITS);
	if (sleep)
		__pm_sleep(pm, typ);
	__pm_update(pm, count);
	spin_unlock(&pm->lock);

	if (sleep)
		pm_sleep_report(pm, v, typ);
	return 0;
}

static u8 __reset_read_byte(void *dev, u64 port)
{
	struct acpi_pm *pm = dev;

	assert_spin_held(&pm->lock);
	return pm->rcr;
}

/* The RCR is a byte register: wider accesses reach it through their first byte only, as QEMU splits them. */
static int reset_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct acpi_pm *pm = dev;

	spin_lock(&pm->lock);
	*val = dev_split_read(dev, addr, size, pm->reset_port, pm->reset_port + 1, __reset_read_byte);
	spin_unlock(&pm->lock);
	return 0;
}

/* The range is the one port, so addr is the RCR and the access's first byte is the one it decodes. RST_CPU ends the
 * VM once the lock is dropped; vm_end is safe against another vCPU ending the VM at the same time. */
static int reset_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct acpi_pm *pm = dev;
	u8 b = (u8)val;

	spin_lock(&pm->lock);
	pm->rcr = b & RESET_KEEP;
	spin_unlock(&pm->lock);
	if (b & ACPI_RESET_RST_CPU) {
		vm_log(pm->vm, LOG_INFO, "reset requested by the guest (%#x to port %#x)\n", b, pm->reset_port);
		vm_end(pm->vm, VM_END_RESET, b);
	}
	return 0;
}

static const struct io_handler pm_ops = {.name = "acpi-pm", .read = pm_read, .write = pm_write};
static const struct io_handler reset_ops = {.name = "acpi-reset", .read = reset_read, .write = reset_write};

bool acpi_pm_power_button(void *state)
{
	struct acpi_pm *pm = state;
	bool enabled;

	spin_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN_STS;
	__pm_update(pm, __pm_count_now(pm));
	enabled = pm->en & ACPI_PM1_PWRBTN_EN;
	spin_unlock(&pm->lock);
	return enabled;
}

int acpi_pm_dev_init(struct vm *vm, const struct acpi_build_cfg *cfg, void **state_out)
{
	struct acpi_pm *pm;
	int r;

	if (!vm || !state_out || acpi_build_cfg_check(cfg) || !vm->tsc_hz || vm->tsc_hz > ~0ULL / ACPI_PM_TMR_HZ)
		return -EINVAL;
	pm = kzalloc(sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	*state_out = pm;
	pm->vm = vm;
	pm->pm_port = cfg->pm_port;
	pm->reset_port = cfg->reset_port;
	pm->sci_irq = cfg->sci_irq;
	pm->tsc_hz = vm->tsc_hz;
	pm->now = cfg->now ? cfg->now : pm_rdtsc;
	pm->tsc_base = pm->now();
	spin_lock_init(&pm->lock);
	pm->tmr_deadline = ~0ULL;
	vtimer_init(&pm->tmr_timer, pm_tmr_fire);

	r = io_bus_register(&vm->pio, cfg->pm_port, ACPI_PM_PORTS, &pm_ops, pm);
	if (!r)
		r = io_bus_register(&vm->pio, cfg->reset_port, 1, &reset_ops, pm);
	return r;
}
