/* HMAC-SHA1 and X-Hub-Signature against RFC 2202's test vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "signature.h"

static void
hex(const unsigned char *mac, char out[2 * SIGNATURE_SHA1_LEN + 1])
{
	for (size_t i = 0; i < SIGNATURE_SHA1_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* RFC 2202, section 3: test_case 1..7 for HMAC-SHA-1. */
START_TEST(rfc2202_vectors)
{
	unsigned char k1[20], k3[20], k4[25], k5[20], k6[80], d3[50], d4[50];
	memset(k1, 0x0b, sizeof(k1));
	memset(k3, 0xaa, sizeof(k3));
	for (size_t i = 0; i < sizeof(k4); i++)
		k4[i] = (unsigned char)(i + 1);
	memset(k5, 0x0c, sizeof(k5));
	memset(k6, 0xaa, sizeof(k6));
	memset(d3, 0xdd, sizeof(d3));
	memset(d4, 0xcd, sizeof(d4));
	const char *l6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	const char *l7 = "Test Using Larger Than Block-Size Key and Larger Than One "
			 "Block-Size Data";
	struct {
		const void *key;
		size_t key_len;
		const void *data;
		size_t len;
		const char *digest;
	} v[] = {
		{ k1, 20, "Hi There", 8, "b617318655057264e28bc0b6fb378c8ef146be00" },
		{ "Jefe", 4, "what do ya want for nothing?", 28,
		  "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
		{ k3, 20, d3, 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
		{ k4, 25, d4, 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
		{ k5, 20, "Test With Truncation", 20,
		  "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
		{ k6, 80, l6, strlen(l6), "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
		{ k6, 80, l7, strlen(l7), "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned char mac[SIGNATURE_SHA1_LEN];
		char got[2 * SIGNATURE_SHA1_LEN + 1];
		ck_assert_int_eq(signature_hmac_sha1(v[i].key, v[i].key_len, v[i].data,
						     v[i].len, mac), 0);
		hex(mac, got);
		ck_assert_msg(strcmp(got, v[i].digest) == 0, "test_case %zu: %s", i + 1, got);
	}
}
END_TEST

START_TEST(hub_signature_format)
{
	char sig[SIGNATURE_HUB_SIZE];
	/* RFC 2202 test_case 2 in Intercom's header format. */
	ck_assert_int_eq(signature_hub("Jefe", "what do ya want for nothing?", 28, sig), 0);
	ck_assert_str_eq(sig, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	ck_assert_uint_eq(strlen(sig), SIGNATURE_HUB_SIZE - 1);
	/* A body differing in one byte, or a key, signs differently. */
	char other[SIGNATURE_HUB_SIZE];
	ck_assert_int_eq(signature_hub("Jefe", "what do ya want for nothing!", 28, other), 0);
	ck_assert_str_ne(sig, other);
	ck_assert_int_eq(signature_hub("Jeff", "what do ya want for nothing?", 28, other), 0);
	ck_assert_str_ne(sig, other);
	/* An empty body still signs. */
	ck_assert_int_eq(signature_hub("key", "", 0, other), 0);
	ck_assert_str_eq(other, "sha1=f42bb0eeb018ebbd4597ae7213711ec60760843f");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("signature");
	TCase *tc = tcase_create("hmac-sha1");
	tcase_add_test(tc, rfc2202_vectors);
	tcase_add_test(tc, hub_signature_format);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
