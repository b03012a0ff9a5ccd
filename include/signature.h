#ifndef INCLUDE_SIGNATURE_H
#define INCLUDE_SIGNATURE_H

#include <stddef.h>

/*
 * Intercom's webhook signature: X-Hub-Signature: sha1=<40 lowercase hex>,
 * the HMAC-SHA1 of the raw body keyed with the app's client secret. Built
 * on libcrypto's HMAC(); the preflight signs a notification with it.
 */

#define SIGNATURE_SHA1_LEN 20
/* "sha1=" + 40 hex digits + NUL. */
#define SIGNATURE_HUB_SIZE (5 + 2 * SIGNATURE_SHA1_LEN + 1)

/*
 * HMAC-SHA1 of data[0..len) under key[0..key_len) into mac. Returns 0, or
 * -EIO when libcrypto fails (it does not for SHA-1 with any key length).
 */
int signature_hmac_sha1(const void *key, size_t key_len, const void *data,
			size_t len, unsigned char mac[SIGNATURE_SHA1_LEN]);

/*
 * The X-Hub-Signature value for body[0..len) under secret (the bytes of a
 * NUL-terminated string): "sha1=" and 40 lowercase hex digits, into out.
 * Returns 0 or -EIO. The intermediate MAC is wiped.
 */
int signature_hub(const char *secret, const void *body, size_t len,
		  char out[SIGNATURE_HUB_SIZE]);

#endif
