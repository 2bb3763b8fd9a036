/* A hostile-guest fuzz of the vLAPIC (vm/dev/vlapic*.c): random register, MSR, APIC base, IPI and time traffic on
 * two routed vlapics, checking the model's invariants after every step. */
#include "vlapic_fixture.h"

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random register, MSR, APIC base, IPI and time traffic on two routed APICs. Nothing may crash (ASan/UBSan watch),
 * and after every step the model's invariants hold: PPR follows TPR and ISR, no IRR bit below 16, and a catch-up to
 * `now` leaves no expiry in the past. */
TEST(hostile_guest_fuzz)
{
	struct vlapic *l = setup(2, ALL_F);
	u64 now = 0;
	u64 v;

	route = true;
	for (int it = 0; it < 300000; it++) {
		struct vlapic *a = &cpus[rnd() & 1].lapic;
		u64 r = rnd(), val = rnd();

		switch (r % 9) {
		case 0:
		case 1:
			vlapic_mmio_write(a, (u32)(val >> 32) % 0x400 & ~0xfu, 4, (r & 8) ? val >> 40 : val, now);
			break;
		case 2:
			vlapic_mmio_read(a, (u32)(val % PAGE_SIZE), 1u << (r >> 8) % 4, &v, now);
			break;
		case 3:
			vlapic_msr_write(a, 0x800 + (u32)(r >> 8) % 0x40, (r & 0x10000) ? val : val & 0xffffffffu, now);
			break;
		case 4:
			vlapic_msr_read(a, 0x800 + (u32)(r >> 8) % 0x100, &v, now);
			vlapic_msr_write(a, MSR_IA32_TSC_DEADLINE, now + (val & 0xffffff), now);
			break;
		case 5: {
			const u64 bases[] = {BASE, BASE | EN, BASE | EN | EXTD, val};
			vlapic_set_apic_base(a, bases[(r >> 8) % 4], now);
			break;
		}
		case 6:
			vlapic_set_irq(a, (u8)val, val & 0x100);
			vlapic_deliver(a, (u32)val);
			break;
		case 7: {
			int p = vlapic_pending_vector(a);
			CHECK(p == -1 || (p >= 16 && p < 256));
			if (p >= 0)
				vlapic_accept(a, (u8)p);
			break;
		}
		default:
			now += (r & 0x100) ? val % (1ULL << 36) : val % 4096;
			vlapic_tick(a, now);
			u64 d = vlapic_next_deadline(a);
			CHECK(d == NONE || d > now);
			break;
		}
		u32 tpr = a->regs[VLAPIC_REG_TPR / 4], ppr = a->regs[VLAPIC_REG_PPR / 4], isrv = 0;
		for (int i = 7; i >= 0 && !isrv; i--)
			if (a->regs[(VLAPIC_REG_ISR + i * 0x10) / 4])
				isrv = (u32)i * 32 + 31 - (u32)__builtin_clz(a->regs[(VLAPIC_REG_ISR + i * 0x10) / 4]);
		CHECK_EQ(ppr, (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : (isrv & 0xf0));
		CHECK_EQ(a->regs[VLAPIC_REG_IRR / 4] & 0xffff, 0);
		CHECK_EQ(a->regs[VLAPIC_REG_ICR_LO / 4] & VLAPIC_ICR_STATUS, 0);
	}
	(void)l;
}
