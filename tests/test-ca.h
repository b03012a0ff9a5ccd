#ifndef TESTS_TEST_CA_H
#define TESTS_TEST_CA_H

/*
 * A real CA certificate that is not the stand-in's (the test CA of an
 * earlier build): a ca_file that parses as PEM, and one that, trusted
 * alone, makes TLS to the stand-in fail.
 */
#define TEST_OTHER_CA_PEM \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBnTCCAUOgAwIBAgIUFdSNuZzLofDpvmSZXc7R6vdO4EQwCgYIKoZIzj0EAwIw\n" \
	"IzEhMB8GA1UEAwwYaW50ZXJjb20taGVhbHRoZCB0ZXN0IENBMCAXDTI2MTEyODEy\n" \
	"MTYzOFoYDzIxMjYxMTA0MTIxNjM4WjAjMSEwHwYDVQQDDBhpbnRlcmNvbS1oZWFs\n" \
	"dGhkIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARL1l9q+RtOou23\n" \
	"ZLnU8f4nGevqqEf4cRUwdw0K03YCQLucqkHO7PNoznb1fntJxorS3UAKtMRGAONd\n" \
	"RTLzfxYLo1MwUTAdBgNVHQ4EFgQU2Alv06puxG8uOOo2+VLQMmAlEDkwHwYDVR0j\n" \
	"BBgwFoAU2Alv06puxG8uOOo2+VLQMmAlEDkwDwYDVR0TAQH/BAUwAwEB/zAKBggq\n" \
	"hkjOPQQDAgNIADBFAiEAiileQgkm2IJe2lkbquW6arSdVgHls1CabgcdZf5Pa64C\n" \
	"IH1wE+4csxS0oyC25+RClqezy7kVC6jCgcLFBSRgRxVI\n" \
	"-----END CERTIFICATE-----\n"

#endif
