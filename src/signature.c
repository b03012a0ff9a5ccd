#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mem.h"
#include "signature.h"

int
signature_hmac_sha1(const void *key, size_t key_len, const void *data,
		    size_t len, unsigned char mac[SIGNATURE_SHA1_LEN])
{
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int out_len = 0;

	/* HMAC() takes the key length as an int; no secret comes near. */
	if (key_len > 1024 * 1024)
		return -EIO;
	/* libcrypto reads a NULL data pointer as "no data" only sometimes:
	 * an empty message gets a real (empty) buffer. */
	if (!HMAC(EVP_sha1(), key, (int)key_len,
		  len ? data : (const void *)"", len, out, &out_len) ||
	    out_len != SIGNATURE_SHA1_LEN) {
		mem_wipe(out, sizeof(out));
		return -EIO;
	}
	memcpy(mac, out, SIGNATURE_SHA1_LEN);
	mem_wipe(out, sizeof(out));
	return 0;
}

int
signature_hub(const char *secret, const void *body, size_t len,
	      char out[SIGNATURE_HUB_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[SIGNATURE_SHA1_LEN];

	int r = signature_hmac_sha1(secret, strlen(secret), body, len, mac);
	if (r < 0)
		return r;
	memcpy(out, "sha1=", 5);
	for (size_t i = 0; i < SIGNATURE_SHA1_LEN; i++) {
		out[5 + 2 * i] = hex[mac[i] >> 4];
		out[5 + 2 * i + 1] = hex[mac[i] & 0xf];
	}
	out[SIGNATURE_HUB_SIZE - 1] = '\0';
	mem_wipe(mac, sizeof(mac));
	return 0;
}
