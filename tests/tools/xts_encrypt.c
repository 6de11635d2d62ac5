/* xts-encrypt KEYFILE < PLAIN > CIPHER
 *
 * Encrypts a filesystem image the way dm-crypt's aes-xts-plain64 with
 * 512-byte sectors does, so a LUKS2 data segment can be written without
 * device-mapper (the QEMU attack scenarios, qemu/attack.sh): AES-256-XTS
 * with the 64-byte KEYFILE, each 512-byte sector on its own, the tweak
 * ("IV") being the sector number counted from the start of the input as a
 * 64-bit little-endian integer, zero padded to 16 bytes (plain64).
 * The input must be a whole number of sectors.
 * Build: cc -O2 -o build/xts-encrypt tests/tools/xts_encrypt.c -lcrypto
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define SECTOR 512

static int die(const char *what)
{
	fprintf(stderr, "xts-encrypt: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	unsigned char key[65], in[SECTOR], out[SECTOR], iv[16];
	EVP_CIPHER_CTX *ctx;
	uint64_t sector = 0;
	size_t n, klen;
	FILE *kf;
	int outl;

	if (argc != 2)
		return die("usage: xts-encrypt KEYFILE < PLAIN > CIPHER");
	kf = fopen(argv[1], "rb");
	if (!kf)
		return die("cannot open the key file");
	klen = fread(key, 1, sizeof(key), kf);
	fclose(kf);
	if (klen != 64)
		return die("the key file must hold exactly 64 bytes (aes-xts-plain64, 512-bit key)");
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return die("out of memory");
	while ((n = fread(in, 1, SECTOR, stdin)) > 0) {
		if (n != SECTOR)
			return die("the input is not a whole number of 512-byte sectors");
		memset(iv, 0, sizeof(iv));
		for (int i = 0; i < 8; i++)
			iv[i] = (unsigned char)(sector >> (8 * i));
		if (EVP_EncryptInit_ex(ctx, EVP_aes_256_xts(), NULL, key, iv) != 1 ||
		    EVP_EncryptUpdate(ctx, out, &outl, in, SECTOR) != 1 || outl != SECTOR)
			return die("AES-XTS failed (are both key halves equal?)");
		if (fwrite(out, 1, SECTOR, stdout) != SECTOR)
			return die("write error");
		sector++;
	}
	EVP_CIPHER_CTX_free(ctx);
	memset(key, 0, sizeof(key));
	if (ferror(stdin))
		return die("read error");
	return fflush(stdout) == 0 ? 0 : die("write error");
}
