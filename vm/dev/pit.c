/* The i8254 PIT (ports 0x40-0x43) and the PC's port 0x61 (channel 2 gate, speaker enable, channel 2 output). Nothing
 * ticks: a counter is a function of the host TSC since its count was loaded, at 1.193182 MHz. Channel 0 drives IRQ0
 * from one vtimer armed for the next rising edge of its output, on an exact grid of PIT clocks. */
#include "vm/dev/dev.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/spinlock.h"
#include "vm/vtimer.h"

#define PIT_HZ	      1193182ULL
#define PIT_BASE      0x40
#define PIT_PORTS     4
#define PIT_CONTROL   0x43
#define PORT_SYSCTL_B 0x61 /* "system control port B" */

/* IRQ0 never repeats faster than every 120 PIT clocks (100.6 us), whatever the guest programs: the floor KVM and our
 * vLAPIC put under periodic timers, so a count of 1 cannot make the host fire a timer every microsecond. The counter
 * itself still reads as programmed. */
#define PIT_MIN_IRQ_CLOCKS 120

/* Port 0x61: bits 3:0 are read/write, bit 4 toggles with the DRAM refresh (every 15.085 us), bit 5 is OUT2. */
#define SYSCTL_GATE2	0x01
#define SYSCTL_WMASK	0x0f
#define SYSCTL_REFRESH	0x10
#define SYSCTL_OUT2	0x20
#define REFRESH_TOGGLES 66291ULL /* per second: 1 / 15.085 us */

/* Byte sequencing of a 16-bit count, as QEMU's i8254 names it: the access field of the control word (1 LSB only,
 * 2 MSB only, 3 LSB then MSB) and, for the third, which byte comes next. */
enum pit_rw { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

struct pit_channel {
	u8 mode_bits; /* control word bits 3:1 as written (6 and 7 alias 2 and 3) */
	u8 mode;      /* the effective mode, 0-5 */
	u8 access;    /* RW_LSB, RW_MSB or RW_WORD0 */
	bool bcd;
	bool gate;
	u8 read_state, write_state; /* enum pit_rw */
	u8 write_lsb;		    /* the first byte of a two-byte count */
	u8 latch_state;		    /* 0, or the enum pit_rw of the latched count still to be read */
	u16 latched;
	bool status_latched;
	u8 status;
	/* Counting. The count runs from start_tsc, with elapsed_base PIT clocks already counted before it (a gate that
	 * paused mode 0 or 4); while !counting, elapsed_base is the whole count. */
	u32 count;	  /* initial count: 1..65536 binary, 1..10000 BCD (0 as written means the maximum) */
	bool loaded;	  /* a count was written since the last control word */
	bool triggered;	  /* modes 1 and 5: a gate rising edge started the count */
	bool counting;	  /* the clock advances the counter now */
	u64 elapsed_base; /* PIT clocks */
	u64 start_tsc;
	u16 idle_value; /* what the counter reads while it is not running a count */
};

struct pit {
	struct vm *vm;		 /* constant */
	u64 tsc_hz;		 /* constant */
	u64 created_tsc;	 /* constant: origin of the refresh toggle */
	struct vtimer irq_timer; /* armed while channel 0's output has a rising edge ahead; vm->timers_lock's */
	/*
	 * Everything below. Any vCPU programs the channels and reads port 0x61; vCPU 0 runs the IRQ0 timer. Taken
	 * before the interrupt controllers' locks (IRQ0 is pulsed with it held) and before vm->timers_lock (the timer
	 * is armed and disarmed with it held). The __ functions assert it.
	 */
	spinlock_t lock;
	struct pit_channel ch[3];
	u8 sysctl;	/* port 0x61 bits 3:0 */
	u64 irq_target; /* channel 0's elapsed PIT clocks at the edge irq_timer waits for */
	/* Ticks of a periodic channel 0 that passed while the guest could not take them (it ran with interrupts off,
	 * or the host was late). A guest that counts jiffies by IRQ0 would fall behind its TSC, and Linux then
	 * declares the TSC unstable; like KVM's PIT "reinject" mode, missed ticks are replayed one at a time, a
	 * quarter period apart, until caught up. Capped at one second's worth. */
	u64 missed;
	bool catching_up; /* irq_timer is a replay, not the next edge */
};

#define PIT_REPLAY_MAX_HZ 1 /* the cap on missed, in seconds of ticks */

static bool pit_waits_trigger(const struct pit_channel *c)
{
	return c->mode == 1 || c->mode == 5;
}

/* Running a count: loaded and, in the gate-triggered modes, triggered. */
static bool pit_active(const struct pit_channel *c)
{
	return c->loaded && (!pit_waits_trigger(c) || c->triggered);
}

static u64 pit_elapsed(const struct pit *p, const struct pit_channel *c, u64 now)
{
	if (!c->counting || now <= c->start_tsc)
		return c->elapsed_base;
	return c->elapsed_base + dev_mul_div(now - c->start_tsc, PIT_HZ, p->tsc_hz, false);
}

/* The TSC at which a channel that started counting at start_tsc has counted `clocks` more: rounded up, so that the
 * counter reads at least that many at the returned time. */
static u64 pit_clocks_to_tsc(const struct pit *p, u64 start_tsc, u64 clocks)
{
	u64 d = dev_mul_div(clocks, p->tsc_hz, PIT_HZ, true);

	return d > ~0ULL - start_tsc ? ~0ULL : start_tsc + d;
}

static u32 pit_modulus(const struct pit_channel *c)
{
	return c->bcd ? 10000 : 65536;
}

/* The counting element now, in binary (0..65535, or 0..9999 in BCD mode). */
static u16 pit_counter(const struct pit *p, const struct pit_channel *c, u64 now)
{
	u64 d = pit_elapsed(p, c, now), n = c->count, m = pit_modulus(c), v;

	if (!pit_active(c))
		return c->idle_value;
	switch (c->mode) {
	case 2: /* N down to 1, then reload */
		v = n - d % n;
		break;
	case 3: /* by twos, twice per period (exact for even counts, as in QEMU for odd ones) */
		v = n - (2 * (d % n)) % n;
		break;
	default: /* modes 0, 1, 4, 5: down through 0 and on, wrapping */
		v = (n % m + m - d % m) % m;
		break;
	}
	return (u16)(v % m);
}

static bool pit_out(const struct pit *p, const struct pit_channel *c, u64 now)
{
	u64 d = pit_elapsed(p, c, now), n = c->count;

	if (!c->loaded)
		return c->mode != 0; /* a control word sets OUT low in mode 0, high in the others */
	switch (c->mode) {
	case 0:
		return d >= n;
	case 1:
		return !c->triggered || d >= n;
	case 2: /* low for the one clock before the reload */
		return !c->gate || d % n != n - 1;
	case 3: /* high for the first half (the larger half of an odd count) */
		return !c->gate || d % n < (n + 1) / 2;
	case 4:
		return d != n;
	default:
		return !c->triggered || d != n;
	}
}

static u16 to_bcd16(u16 v)
{
	return (u16)((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

/* The counter as the guest reads it: BCD digits in BCD mode. */
static u16 pit_read_value(const struct pit *p, const struct pit_channel *c, u64 now)
{
	u16 v = pit_counter(p, c, now);

	return c->bcd ? to_bcd16(v) : v;
}

/* The elapsed-clock value of channel 0's next rising output edge after d, or ~0 if none is ahead. Periodic modes
 * stay on the grid of whole periods from the load, stepping several periods at once below the floor, so the rate
 * neither drifts nor exceeds 1 / PIT_MIN_IRQ_CLOCKS. */
static u64 pit_next_edge(const struct pit_channel *c, u64 d)
{
	u64 n = c->count, step;

	switch (c->mode) {
	case 0:
	case 1:
		return d < n ? n : ~0ULL;
	case 4:
	case 5: /* the strobe is low for one clock at terminal count: OUT rises one clock later */
		return d < n + 1 ? n + 1 : ~0ULL;
	default:
		step = n >= PIT_MIN_IRQ_CLOCKS ? n : n * ((PIT_MIN_IRQ_CLOCKS + n - 1) / n);
		return (d / step + 1) * step;
	}
}

/* Arm irq_timer for channel 0's next rising edge after now, or leave it disarmed; returns the deadline, or ~0. */
static u64 __pit_irq_rearm(struct pit *p, u64 now)
{
	struct pit_channel *c = &p->ch[0];
	u64 target, deadline;

	assert_spin_held(&p->lock);
	vtimer_disarm(p->vm, &p->irq_timer);
	p->catching_up = false;
	if (!pit_active(c) || !c->counting)
		return ~0ULL;
	target = pit_next_edge(c, pit_elapsed(p, c, now));
	if (target == ~0ULL)
		return ~0ULL;
	p->irq_target = target;
	deadline = pit_clocks_to_tsc(p, c->start_tsc, target - c->elapsed_base);
	vtimer_arm(p->vm, &p->irq_timer, deadline);
	return deadline;
}

/* Channel 0's output rose: pulse IRQ0, count the periods that went by unseen, and arm for the next edge after now,
 * or for a replayed tick a quarter period away while missed ones are owed (never a burst). */
static bool pit_periodic(const struct pit_channel *c)
{
	return c->mode == 2 || c->mode == 3 || c->mode == 6 || c->mode == 7;
}

/*
 * vCPU 0's run loop took the timer off the list and calls this without the lock, so another vCPU may have
 * reprogrammed channel 0 in between (and re-armed or disarmed the timer). Nothing here trusts the timer: the edge is
 * checked against the channel as it is now (a stale call finds elapsed < irq_target, or the channel stopped, and only
 * re-arms), and the replay is a flag that every __pit_irq_rearm clears. `now` was read before the lock was taken,
 * perhaps before another vCPU's access with a later TSC; the later of the two is used, so the channel's time never
 * runs backwards.
 */
static void pit_irq_fire(struct vtimer *t, u64 now)
{
	struct pit *p = container_of(t, struct pit, irq_timer);
	struct pit_channel *c = &p->ch[0];
	u64 next, tsc;
	bool edge;

	spin_lock(&p->lock);
	tsc = dev_tsc_now();
	now = MAX(now, tsc);
	if (p->catching_up) {
		/* A replayed tick; the schedule of real edges is unchanged. */
		p->catching_up = false;
		edge = pit_active(c) && c->counting && p->missed;
		if (edge)
			p->missed--;
	} else {
		u64 elapsed = pit_elapsed(p, c, now);
		edge = pit_active(c) && c->counting && elapsed >= p->irq_target;
		if (edge && pit_periodic(c) && c->count) {
			u64 step = c->count >= PIT_MIN_IRQ_CLOCKS
					   ? c->count
					   : c->count * ((PIT_MIN_IRQ_CLOCKS + c->count - 1) / c->count);
			u64 cap = PIT_HZ * PIT_REPLAY_MAX_HZ / step;
			p->missed = MIN(p->missed + (elapsed - p->irq_target) / step, cap);
		}
	}
	next = __pit_irq_rearm(p, now);
	if (p->missed && pit_active(c) && c->counting && pit_periodic(c)) {
		/* Replay before the next real edge when there is room for it. */
		u64 quarter = pit_clocks_to_tsc(p, 0, MAX(c->count, (u64)PIT_MIN_IRQ_CLOCKS) / 4);
		if (now + quarter < next) {
			p->catching_up = true;
			vtimer_arm(p->vm, &p->irq_timer, now + quarter);
		}
	}
	if (edge)
		vm_pulse_irq(p->vm, 0);
	spin_unlock(&p->lock);
}

/* Start the count afresh from now. */
static void pit_restart(struct pit_channel *c, u64 now)
{
	c->elapsed_base = 0;
	c->start_tsc = now;
}

static void pit_load_count(struct pit *p, struct pit_channel *c, u16 raw, u64 now)
{
	if (c == &p->ch[0])
		p->missed = 0; /* a new count starts a new schedule: nothing from the old one is owed */
	u32 n = raw;

	if (c->bcd) /* digits above 9 are undefined on the 8254; taken at face value, never trusted as an index */
		n = ((raw >> 12) & 0xf) * 1000 + ((raw >> 8) & 0xf) * 100 + ((raw >> 4) & 0xf) * 10 + (raw & 0xf);
	n %= pit_modulus(c);
	c->count = n ? n : pit_modulus(c);

	if (pit_waits_trigger(c)) {
		/* The new count waits for the next gate trigger. (The 8254 would let a running one-shot finish first;
		 * no guest depends on that, and the gate of channels 0 and 1 never rises at all.) */
		if (c->loaded)
			c->idle_value = pit_counter(p, c, now);
		c->triggered = false;
		c->counting = false;
	} else {
		/* Modes 0 and 4 restart at once. Modes 2 and 3 would switch at the end of the current period; they
		 * restart at once too, as QEMU does: guests write the count right after the control word. */
		pit_restart(c, now);
		c->counting = c->gate;
	}
	c->loaded = true;
	if (c == &p->ch[0])
		__pit_irq_rearm(p, now);
}

static void pit_latch_count(struct pit *p, struct pit_channel *c, u64 now)
{
	if (c->latch_state) /* a latched count is kept until read */
		return;
	c->latched = pit_read_value(p, c, now);
	c->latch_state = c->access;
}

static void pit_latch_status(struct pit *p, struct pit_channel *c, u64 now)
{
	bool null_count;

	if (c->status_latched)
		return;
	/* Null count: the count written has not reached the counting element yet (one clock after the write, or the
	 * trigger in modes 1 and 5). */
	null_count = !pit_active(c) || (c->counting && pit_elapsed(p, c, now) == 0);
	c->status = (u8)(pit_out(p, c, now) << 7 | null_count << 6 | c->access << 4 | c->mode_bits << 1 | c->bcd);
	c->status_latched = true;
}

static void pit_control(struct pit *p, u8 val, u64 now)
{
	unsigned int sel = val >> 6, access = (val >> 4) & 3;
	struct pit_channel *c;

	if (sel == 3) {
		/* Read-back: bit 5 clear latches the counts, bit 4 clear the status, of the channels in bits 3:1. */
		for (unsigned int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				pit_latch_count(p, &p->ch[i], now);
			if (!(val & 0x10))
				pit_latch_status(p, &p->ch[i], now);
		}
		return;
	}
	c = &p->ch[sel];
	if (!access) {
		pit_latch_count(p, c, now);
		return;
	}
	/* A control word resets the channel: it stops until a new count is written, its output goes to the mode's
	 * initial level, and the counter holds the value it had. */
	c->idle_value = pit_counter(p, c, now);
	c->mode_bits = (val >> 1) & 7;
	c->mode = c->mode_bits >= 6 ? c->mode_bits - 4 : c->mode_bits;
	c->bcd = val & 1;
	c->access = (u8)access;
	c->read_state = c->write_state = (u8)access;
	c->latch_state = 0;
	c->status_latched = false;
	c->loaded = c->triggered = c->counting = false;
	c->elapsed_base = 0;
	if (c == &p->ch[0])
		__pit_irq_rearm(p, now);
}

static void pit_write_channel(struct pit *p, struct pit_channel *c, u8 val, u64 now)
{
	switch (c->write_state) {
	case RW_LSB:
		pit_load_count(p, c, val, now);
		break;
	case RW_MSB:
		pit_load_count(p, c, (u16)(val << 8), now);
		break;
	case RW_WORD0:
		c->write_lsb = val;
		c->write_state = RW_WORD1;
		/* In mode 0 the first byte already stops the count, and OUT goes (stays) low until the second. */
		if (c->mode == 0 && c->loaded) {
			c->idle_value = pit_counter(p, c, now);
			c->loaded = c->counting = false;
			if (c == &p->ch[0])
				__pit_irq_rearm(p, now);
		}
		break;
	default:
		c->write_state = RW_WORD0;
		pit_load_count(p, c, (u16)(c->write_lsb | val << 8), now);
		break;
	}
}

static u8 pit_read_channel(struct pit *p, struct pit_channel *c, u64 now)
{
	u16 v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_state) {
		v = c->latched;
		switch (c->latch_state) {
		case RW_WORD0:
			c->latch_state = RW_MSB; /* the high byte is still to come */
			return (u8)v;
		case RW_MSB:
			c->latch_state = 0;
			return (u8)(v >> 8);
		default:
			c->latch_state = 0;
			return (u8)v;
		}
	}
	v = pit_read_value(p, c, now);
	switch (c->read_state) {
	case RW_MSB:
		return (u8)(v >> 8);
	case RW_WORD0:
		c->read_state = RW_WORD1;
		return (u8)v;
	case RW_WORD1:
		c->read_state = RW_WORD0;
		return (u8)(v >> 8);
	default:
		return (u8)v;
	}
}

/* The gate input (channel 2 only: 0 and 1 are tied high). Low pauses modes 0 and 4 and stops 2 and 3 (OUT high); a
 * rising edge resumes 0 and 4, reloads 2 and 3 and triggers 1 and 5. */
static void pit_set_gate(struct pit *p, struct pit_channel *c, bool gate, u64 now)
{
	if (gate == c->gate)
		return;
	c->gate = gate;
	if (!c->loaded)
		return;
	if (!gate) {
		if (!pit_waits_trigger(c) && c->counting) {
			c->elapsed_base = pit_elapsed(p, c, now);
			c->counting = false;
		}
		return;
	}
	switch (c->mode) {
	case 0:
	case 4:
		c->start_tsc = now;
		break;
	case 1:
	case 5:
		c->triggered = true;
		pit_restart(c, now);
		break;
	default:
		pit_restart(c, now);
		break;
	}
	c->counting = true;
}

static u8 __pit_read_byte(void *dev, u64 port)
{
	struct pit *p = dev;

	assert_spin_held(&p->lock);
	if (port == PIT_CONTROL)
		return 0xff; /* the control register is write-only: the 8254 leaves the bus floating */
	return pit_read_channel(p, &p->ch[port - PIT_BASE], dev_tsc_now());
}

static void __pit_write_byte(void *dev, u64 port, u8 val)
{
	struct pit *p = dev;

	assert_spin_held(&p->lock);
	if (port == PIT_CONTROL)
		pit_control(p, val, dev_tsc_now());
	else
		pit_write_channel(p, &p->ch[port - PIT_BASE], val, dev_tsc_now());
}

static int pit_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct pit *p = dev;

	spin_lock(&p->lock);
	*val = dev_split_read(dev, addr, size, PIT_BASE, PIT_BASE + PIT_PORTS, __pit_read_byte);
	spin_unlock(&p->lock);
	return 0;
}

static int pit_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct pit *p = dev;

	spin_lock(&p->lock);
	dev_split_write(dev, addr, size, val, PIT_BASE, PIT_BASE + PIT_PORTS, __pit_write_byte);
	spin_unlock(&p->lock);
	return 0;
}

static u8 __sysctl_read_byte(void *dev, u64 port)
{
	struct pit *p = dev;
	u64 now = dev_tsc_now();
	u64 toggles = dev_mul_div(now - p->created_tsc, REFRESH_TOGGLES, p->tsc_hz, false);

	assert_spin_held(&p->lock);
	return (u8)((p->sysctl & SYSCTL_WMASK) | ((toggles & 1) ? SYSCTL_REFRESH : 0) |
		    (pit_out(p, &p->ch[2], now) ? SYSCTL_OUT2 : 0));
}

static void __sysctl_write_byte(void *dev, u64 port, u8 val)
{
	struct pit *p = dev;

	assert_spin_held(&p->lock);
	p->sysctl = val & SYSCTL_WMASK;
	pit_set_gate(p, &p->ch[2], val & SYSCTL_GATE2, dev_tsc_now());
}

static int sysctl_read(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 *val)
{
	struct pit *p = dev;

	spin_lock(&p->lock);
	*val = dev_split_read(dev, addr, size, PORT_SYSCTL_B, PORT_SYSCTL_B + 1, __sysctl_read_byte);
	spin_unlock(&p->lock);
	return 0;
}

static int sysctl_write(struct vcpu *v, void *dev, u64 addr, unsigned int size, u64 val)
{
	struct pit *p = dev;

	spin_lock(&p->lock);
	dev_split_write(dev, addr, size, val, PORT_SYSCTL_B, PORT_SYSCTL_B + 1, __sysctl_write_byte);
	spin_unlock(&p->lock);
	return 0;
}

static const struct io_handler pit_ops = {.name = "i8254", .read = pit_read, .write = pit_write};
static const struct io_handler sysctl_ops = {.name = "port61", .read = sysctl_read, .write = sysctl_write};

/*
 * Power-on state. No BIOS runs, so nothing is counting: each channel has mode 3 and LSB-then-MSB selected, as after
 * QEMU's reset, but waits for its first count (OUT high), and channel 2 is gated off through port 0x61. A BIOS would
 * start channel 0 at 18.2 Hz; no guest here relies on that (Linux programs the PIT itself), and a channel ticking
 * from creation would keep a host timer armed for the VM's whole life, so the run loop could never tell that a
 * halted guest has nothing left to wake it.
 */
int pit_dev_init(struct vm *vm)
{
	struct pit *p;
	int ret;

	if (vm->devices[VM_DEV_PIT])
		return -EEXIST;
	if (!vm->tsc_hz)
		return -EINVAL;
	p = kzalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vm = vm;
	p->tsc_hz = vm->tsc_hz;
	p->created_tsc = dev_tsc_now();
	spin_lock_init(&p->lock);
	vtimer_init(&p->irq_timer, pit_irq_fire);
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];

		c->mode_bits = c->mode = 3;
		c->access = c->read_state = c->write_state = RW_WORD0;
		c->gate = i != 2;
		c->count = 65536;
	}
	vm->devices[VM_DEV_PIT] = p;

	ret = io_bus_register(&vm->pio, PIT_BASE, PIT_PORTS, &pit_ops, p);
	if (!ret)
		ret = io_bus_register(&vm->pio, PORT_SYSCTL_B, 1, &sysctl_ops, p);
	return ret;
}
