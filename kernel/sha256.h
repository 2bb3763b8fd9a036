/* SHA-256 (FIPS 180-4), for the launch digest of private VMs (vm/private.c). Pure: unit-tested on the host against
 * the standard's test vectors. */
#ifndef KERNEL_SHA256_H
#define KERNEL_SHA256_H

#include "hv/types.h"

#define SHA256_DIGEST_SIZE 32

struct sha256 {
	u32 h[8];
	u64 bytes;      /* hashed so far */
	u8 buf[64];     /* a partial block */
	u32 used;       /* bytes of buf in use */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, u64 len);
void sha256_final(struct sha256 *s, u8 out[SHA256_DIGEST_SIZE]);

#endif
