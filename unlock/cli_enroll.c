/* The enrolment verbs (enroll, encrypt) and pcrphase. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "encrypt.h"
#include "enroll.h"
#include "exitcode.h"
#include "measure.h"
#include "runall.h"
#include "tpm2.h"

/* "7", "0,7", "7+11", "" -> mask; -1 when malformed */
static int parse_pcr_list(const char *s, uint32_t *mask)
{
	*mask = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v < 0 || v > 23)
			return -1;
		*mask |= 1u << v;
		s = end;
		if (*s == ',' || *s == '+')
			s++;
		else if (*s)
			return -1;
	}
	return 0;
}

/* --tpm2-srk's word; -1 when it is none of them */
static int parse_srk(const char *s, enum enroll_srk *out)
{
	static const struct { const char *word; enum enroll_srk v; } words[] = {
		{ "auto", ENROLL_SRK_AUTO }, { "yes", ENROLL_SRK_YES }, { "no", ENROLL_SRK_NO },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(s, words[i].word)) {
			*out = words[i].v;
			return 0;
		}
	return -1;
}

/* The token policy options shared by enroll and encrypt. */
static int policy_args(struct env *e, struct enroll_opts *o)
{
	const struct args *a = e->a;

	if (!a->tpm) {
		log_err(&e->log, "%s: say what to enroll: --tpm%s", a->verb,
			strcmp(a->verb, "enroll") ? "" : " or --recovery-key(-file)");
		return EXIT_USAGE;
	}
	if (a->pin != (a->pin_file != NULL)) {
		log_err(&e->log, "%s: --pin and --tpm2-pin-file go together", a->verb);
		return EXIT_USAGE;
	}
	if (a->tpm_pcrs && parse_pcr_list(a->tpm_pcrs, &o->pcr_mask) < 0) {
		log_err(&e->log, "%s: --tpm-pcrs: '%s' is not a list of PCRs 0..23", a->verb,
			a->tpm_pcrs);
		return EXIT_USAGE;
	}
	if (a->public_key_pcrs && parse_pcr_list(a->public_key_pcrs, &o->pubkey_pcr_mask) < 0) {
		log_err(&e->log, "%s: --public-key-pcrs: '%s' is not a list of PCRs 0..23", a->verb,
			a->public_key_pcrs);
		return EXIT_USAGE;
	}
	if (a->tpm2_srk && parse_srk(a->tpm2_srk, &o->srk) < 0) {
		log_err(&e->log, "%s: --tpm2-srk: '%s' is not auto, yes or no", a->verb, a->tpm2_srk);
		return EXIT_USAGE;
	}
	o->pubkey_path = a->public_key;
	o->sig_path = a->tpm2_signature;
	/* PCR 15 at zero: nothing after the initrd (which measures every volume
	 * key into it) can unseal the token again; a literal --tpm-pcrs 15
	 * keeps its current value instead */
	o->zero_mask = a->no_pcr15 || (o->pcr_mask & (1u << 15)) ? 0 : 1u << 15;
	return -1;
}

static int enroll_args(struct env *e, struct enroll_opts *o)
{
	const struct args *a = e->a;
	int code;

	o->device = a->pos[0];
	if (!a->unlock_key_file) {
		log_err(&e->log, "enroll: --unlock-key-file is needed to add a keyslot");
		return EXIT_USAGE;
	}
	if (!a->tpm && (a->recovery_key || a->recovery_key_file))
		return -1;	/* only a recovery key */
	o->pcr_mask = a->public_key ? 0 : 1u << 7;
	o->pubkey_pcr_mask = 1u << 11;
	code = policy_args(e, o);
	if (code >= 0)
		return code;
	if (a->public_key && a->public_key_pcrs && !o->pubkey_pcr_mask) {
		log_err(&e->log, "enroll: --public-key-pcrs is empty: a signed policy over no PCR "
				 "signs nothing (drop --public-key for none)");
		return EXIT_USAGE;
	}
	if (!a->public_key && !o->pcr_mask) {
		log_err(&e->log, "enroll: no --public-key and no --tpm-pcrs: the token would be bound "
				 "to nothing");
		return EXIT_USAGE;
	}
	return -1;
}

static int enroll_code(int r)
{
	return r == -ENOENT || r == -EMEDIUMTYPE || r == -EPROTONOSUPPORT || r == -EBADMSG ||
			       r == -EROFS || r == -ENOSPC ? EXIT_DEVICE : EXIT_KEY;
}

/* After the TPM token, so a failure here leaves a volume the TPM opens. */
static int enroll_recovery_key(struct env *e, const struct enroll_opts *o,
			       const struct secret *rkey, bool is_new)
{
	char why[400] = "";
	int slot, r = enroll_recovery(o, rkey, &e->log, &slot, why, sizeof(why));

	if (r == -EEXIST) {
		log_info(&e->log, "%s: %s", o->device, why);
		return EXIT_OK;
	}
	if (r < 0) {
		log_err(&e->log, "%s: cannot enroll the recovery key: %s", o->device, why);
		return enroll_code(r);
	}
	log_info(&e->log, "%s: enrolled a recovery key (systemd-recovery token) in keyslot %d",
		 o->device, slot);
	return cli_recovery_done(e, rkey, is_new, o->device);
}

int cli_enroll(struct env *e)
{
	struct enroll_opts o = { 0 };
	struct secret *key = NULL, *pin = NULL, *rkey = NULL;
	char why[400] = "";
	bool rnew = false;
	int code, r, token = -1, slot = -1;

	code = enroll_args(e, &o);
	if (code >= 0)
		return code;
	code = cli_read_key_and_pin(e, e->a->unlock_key_file, &key, &pin);
	if (code == EXIT_OK)
		code = cli_recovery_key(e, &rkey, &rnew);
	if (code != EXIT_OK)
		goto out;
	o.unlock_key = key;
	o.pin = pin;
	o.tpm_device = cli_tpm_device(e);
	if (e->a->tpm) {
		r = enroll_tpm2(&o, &e->log, &token, &slot, why, sizeof(why));
		if (r < 0) {
			log_err(&e->log, "%s: cannot enroll: %s", o.device, why);
			code = enroll_code(r);
			goto out;
		}
		if (token >= 0)
			log_info(&e->log, "%s: enrolled systemd-tpm2 token %d for keyslot %d",
				 o.device, token, slot);
	}
	if (rkey)
		code = enroll_recovery_key(e, &o, rkey, rnew);
out:
	secret_free(key);
	secret_free(pin);
	secret_free(rkey);
	return code;
}

/* The booted UKI's PCR public key, where systemd-stub and systemd put it. */
static const char *default_pubkey(void)
{
	static const char *const paths[] = { "/run/systemd/tpm2-pcr-public-key.pem",
					     "/.extra/tpm2-pcr-public-key.pem" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

static int encrypt_code(int r)
{
	switch (r) {
	case -ENOENT:
	case -EEXIST:
	case -EBUSY:
	case -ENOSPC:
		return EXIT_DEVICE;
	case -ENOTUNIQ:
		return EXIT_AMBIGUOUS;
	case -EINVAL:
	case -ENODEV:
	case -EPERM:
	case -EACCES:
	case -ENOLCK:
		return EXIT_KEY;
	default:
		return EXIT_FAIL;
	}
}

int cli_encrypt(struct env *e)
{
	struct encrypt_opts o = { .label = e->a->pos[0], .mkfs = !e->a->no_mkfs };
	struct encrypt_result res;
	struct secret *none = NULL, *pin = NULL, *rkey = NULL;
	char why[400] = "";
	bool rnew = false;
	int code, r;

	o.tpm.pubkey_pcr_mask = 1u << 11;
	code = policy_args(e, &o.tpm);
	if (code >= 0)
		return code;
	if (!*o.label || strlen(o.label) > 47) {
		log_err(&e->log, "encrypt: LABEL must have 1 to 47 characters (a LUKS2 label)");
		return EXIT_USAGE;
	}
	if (!o.tpm.pubkey_pcr_mask)
		o.tpm.pubkey_path = NULL;	/* --public-key-pcrs "": no signed policy */
	else if (!o.tpm.pubkey_path)
		o.tpm.pubkey_path = default_pubkey();
	if (!o.tpm.pubkey_path && !o.tpm.pcr_mask) {
		log_err(&e->log, "encrypt: no PCR public key (none given, none at "
				 "/run/systemd/tpm2-pcr-public-key.pem or /.extra/tpm2-pcr-public-key.pem) "
				 "and no --tpm-pcrs: the token would be bound to nothing");
		return EXIT_USAGE;
	}
	o.devices = e->a->devices.n ? &e->a->devices : NULL;
	code = cli_read_key_and_pin(e, NULL, &none, &pin);
	if (code == EXIT_OK)
		code = cli_recovery_key(e, &rkey, &rnew);
	if (code != EXIT_OK)
		goto out;
	o.recovery = rkey;
	o.tpm.pin = pin;
	o.tpm.tpm_device = cli_tpm_device(e);
	r = encrypt_volume(&o, &e->log, &res, why, sizeof(why));
	if (r < 0) {
		log_err(&e->log, "encrypt %s: %s", o.label, why);
		code = encrypt_code(r);
	} else {
		const char *slash = strrchr(res.device, '/');

		/* Kairos' encrypt prints label:device:uuid for the installer */
		printf("%s:%s:%s\n", o.label, slash ? slash + 1 : res.device, res.uuid);
		fflush(stdout);
		code = cli_recovery_done(e, rkey, rnew, res.device);
	}
out:
	secret_free(pin);
	secret_free(rkey);
	return code;
}

/* Once per boot and word: a second extend would move PCR 11 off every
 * signed value for the rest of the boot. */
int cli_pcrphase(struct env *e)
{
	const char *word = e->a->pos[0];
	struct tpm2 *tpm = NULL;
	char why[300] = "", mark[128];
	int fd, r;

	if (!*word || strlen(word) > 64 || strpbrk(word, "/: \t\n")) {
		log_err(&e->log, "pcrphase: '%s' is not a phase word", word);
		return EXIT_USAGE;
	}
	if (!measure_is_measured_uki(NULL)) {
		log_info(&e->log, "not booted from a measured UKI (no StubPcrKernelImage): %s not measured",
			 word);
		return EXIT_OK;
	}
	(void)mkdir(KCRYPT_RUN_DIR, 0700);
	snprintf(mark, sizeof(mark), KCRYPT_RUN_DIR "/pcrphase-%s", word);
	fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			log_info(&e->log, "%s is measured already in this boot", word);
			return EXIT_OK;
		}
		log_err(&e->log, "pcrphase: %s: %s", mark, strerror(errno));
		return EXIT_FAIL;
	}
	close(fd);
	r = tpm2_open(cli_tpm_device(e), &e->log, &tpm, why, sizeof(why));
	if (r == 0)
		r = measure_phase(tpm, word, why, sizeof(why));
	tpm2_close(tpm);
	if (r < 0) {
		unlink(mark);
		log_err(&e->log, "pcrphase %s: %s", word, why);
		return EXIT_KEY;
	}
	log_info(&e->log, "measured %s into PCR 11", word);
	return EXIT_OK;
}

