/* Guest-side helpers for the tests that drive the hypervisor's PCI bus and virtio devices themselves
 * (virtiohostile.c, vconsole.c): PCI configuration mechanism 1 (PCI Local Bus 3.0, 3.2.2.3.2), MMIO accessors for
 * BARs, and the virtio 1.2 constants they use: device status (2.1), feature bits (6), descriptor flags (2.7.5) and the
 * common configuration layout (4.1.4.3). Header-only: each guest is one translation unit. */
#ifndef GUEST_VIRTIO_GUEST_H
#define GUEST_VIRTIO_GUEST_H

#include "guest.h"

#define ST_ACK	       1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 64
#define F_INDIRECT     28
#define F_EVENT_IDX    29
#define F_VERSION_1    32
#define D_NEXT	       1
#define D_WRITE	       2
#define D_INDIRECT     4

#define CC_DFSELECT 0x00
#define CC_DF	    0x04
#define CC_GFSELECT 0x08
#define CC_GF	    0x0c
#define CC_MSIX_CFG 0x10
#define CC_NUMQ	    0x12
#define CC_STATUS   0x14
#define CC_QSEL	    0x16
#define CC_QSIZE    0x18
#define CC_QMSIX    0x1a
#define CC_QENABLE  0x1c
#define CC_QNOFF    0x1e
#define CC_QDESC    0x20
#define CC_QDRIVER  0x28
#define CC_QDEVICE  0x30

struct desc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

/* Bus 0, function 0 of slot s. */
static inline u32 cfg_addr(u8 s, u8 off)
{
	return 0x80000000u | (u32)s << 11 | (off & 0xfc);
}
static inline u32 cfg_read32(u8 s, u8 off)
{
	outl(0xcf8, cfg_addr(s, off));
	return inl(0xcfc);
}
static inline u16 cfg_read16(u8 s, u8 off)
{
	outl(0xcf8, cfg_addr(s, off));
	return inw(0xcfc + (off & 2));
}
static inline u8 cfg_read8(u8 s, u8 off)
{
	outl(0xcf8, cfg_addr(s, off));
	return inb(0xcfc + (off & 3));
}
static inline void cfg_write32(u8 s, u8 off, u32 v)
{
	outl(0xcf8, cfg_addr(s, off));
	outl(0xcfc, v);
}
static inline void cfg_write16(u8 s, u8 off, u16 v)
{
	outl(0xcf8, cfg_addr(s, off));
	outw(0xcfc + (off & 2), v);
}

static inline u8 rd8(u64 a)
{
	return *(volatile u8 *)a;
}
static inline u16 rd16(u64 a)
{
	return *(volatile u16 *)a;
}
static inline u32 rd32(u64 a)
{
	return *(volatile u32 *)a;
}
static inline void wr8(u64 a, u8 v)
{
	*(volatile u8 *)a = v;
}
static inline void wr16(u64 a, u16 v)
{
	*(volatile u16 *)a = v;
}
static inline void wr32(u64 a, u32 v)
{
	*(volatile u32 *)a = v;
}
/* Two dwords, low first: the virtio common configuration's 64-bit fields may be written so (4.1.3.1). */
static inline void wr64(u64 a, u64 v)
{
	wr32(a, (u32)v);
	wr32(a + 4, (u32)(v >> 32));
}

#endif
