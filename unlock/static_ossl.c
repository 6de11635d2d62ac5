/* Linked into the static binary only (make static): it must never load a
 * shared object at run time. A static libcrypto still knows how to dlopen
 * provider modules and reads openssl.cnf, which may name one; either would
 * pull a second libcrypto and libc from the host's /usr/lib into an
 * initrd binary that was built to need none.
 *
 * libcryptsetup's OpenSSL backend asks for the "legacy" provider (for
 * ciphers LUKS2 never uses) and carries on without it; the link wraps that
 * call (-Wl,--wrap=OSSL_PROVIDER_try_load) so the module is never looked
 * for. The built-in providers (default, base) need no module. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

OSSL_PROVIDER *__real_OSSL_PROVIDER_try_load(OSSL_LIB_CTX *ctx, const char *name, int retain);
OSSL_PROVIDER *__wrap_OSSL_PROVIDER_try_load(OSSL_LIB_CTX *ctx, const char *name, int retain);

OSSL_PROVIDER *__wrap_OSSL_PROVIDER_try_load(OSSL_LIB_CTX *ctx, const char *name, int retain)
{
	if (name && (!strcmp(name, "default") || !strcmp(name, "base")))
		return __real_OSSL_PROVIDER_try_load(ctx, name, retain);
	return NULL;
}

/* Before anything touches libcrypto: no openssl.cnf, so no module, engine
 * or provider it might name. kcrypt's crypto needs no configuration. */
__attribute__((constructor)) static void static_ossl_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}
