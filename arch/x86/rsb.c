/* Turning the exit paths' return-stack-buffer refill off (hv.rsb_fill=0), only so that the bench can say what the
 * hardening costs: each FILL_RETURN_BUFFER site becomes a JMP rel32 over itself, written through the direct map
 * (the image's text is mapped read-only). With the default nothing is patched and the fill runs at every exit. */
#include "arch/x86/cpu.h"
#include "arch/x86/rsb.h"
#include "hv/compiler.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "hv/layout.h"

struct rsb_fill_site {
	u64 start, end;
};

extern const struct rsb_fill_site __rsb_fill_sites_start[], __rsb_fill_sites_end[];

void rsb_fill_disable(void)
{
	unsigned int n = 0;

	for (const struct rsb_fill_site *s = __rsb_fill_sites_start; s < __rsb_fill_sites_end; s++, n++) {
		s32 rel = (s32)(s->end - (s->start + 5));
		u8 jmp[5] = { 0xe9 };

		memcpy(&jmp[1], &rel, sizeof(rel));
		memcpy(phys_to_virt(s->start - KERNEL_VIRT_BASE), jmp, sizeof(jmp));
	}
	/* Serialize before the patched code runs, as self-modifying code through another mapping needs (SDM Vol. 3A
	 * 8.1.3). */
	cpuid(0);
	pr_warn("hv: RSB refill after VM exits turned off at %u sites (hv.rsb_fill=0): for measurement only\n", n);
}
