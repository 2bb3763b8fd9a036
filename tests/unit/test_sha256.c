/* SHA-256 against FIPS 180-4's examples and a million 'a's (the standard's long message), and split updates. */
#include <stdio.h>
#include <string.h>

#include "kernel/sha256.h"
#include "test.h"

static void hex(const u8 *d, char *out)
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void digest_of(const void *p, size_t n, char *out)
{
	struct sha256 s;
	u8 d[SHA256_DIGEST_SIZE];

	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_final(&s, d);
	hex(d, out);
}

TEST(sha256_fips_examples)
{
	char out[65];

	digest_of("abc", 3, out);
	CHECK_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_of("", 0, out);
	CHECK_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
	CHECK_STR(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_million_a_in_odd_pieces)
{
	static char a[1000000];
	struct sha256 s;
	u8 d[SHA256_DIGEST_SIZE];
	char out[65];
	size_t off = 0, step = 1;

	memset(a, 'a', sizeof(a));
	sha256_init(&s);
	/* Pieces of 1, 2, 3, ... bytes cross every block boundary position. */
	while (off < sizeof(a)) {
		size_t n = step < sizeof(a) - off ? step : sizeof(a) - off;

		sha256_update(&s, a + off, n);
		off += n;
		step = step % 131 + 1;
	}
	sha256_final(&s, d);
	hex(d, out);
	CHECK_STR(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
