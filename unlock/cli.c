/* kcrypt: argv, the verb table, exit codes, early process hardening. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "discover.h"
#include "encrypt.h"
#include "enroll.h"
#include "exitcode.h"
#include "keysource.h"
#include "measure.h"
#include "plan.h"
#include "report.h"
#include "runall.h"
#include "secret.h"
#include "tpm2.h"
#include "trust.h"
#include "unlock.h"

#ifndef KCRYPT_VERSION
#define KCRYPT_VERSION "0.1.0"
#endif

/* kcrypt's own runtime directory: phase markers, the OEM's private mount */

#define KEYFILE_MAX (8u * 1024 * 1024)	/* cryptsetup's default key file limit */

enum opt_bit {
	O_JSON = 1 << 0,
	O_DEVICE = 1 << 1,
	O_KEYFILE = 1 << 2,
	O_TEST = 1 << 3,
	O_DRYRUN = 1 << 4,
	O_NOTOKENS = 1 << 5,
	O_CONFIG = 1 << 6,	/* --config-dir, --extra-config-dir, --cmdline */
	O_TPM = 1 << 7,		/* --tpm-device, --tpm2-signature, --tpm2-pin-file, --no-tpm */
	O_ENROLL = 1 << 8,	/* --tpm, --tpm-pcrs, --public-key(-pcrs), --pin */
	O_UNLOCKKEY = 1 << 9,	/* --unlock-key-file */
	O_MKFS = 1 << 10,	/* --no-mkfs */
};

typedef int (*verb_fn)(struct env *e);

struct verb {
	const char *name;
	verb_fn run;
	int min_pos, max_pos;
	unsigned opts;
	const char *usage;
	const char *summary;
};

static const struct verb verbs[] = {
	{ "unlock-all", cli_unlock_all, 0, 0,
	  O_JSON | O_DEVICE | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM,
	  "unlock-all [--key-file FILE] [--test] [--dry-run] [--json] [--device PATH]...",
	  "open every LUKS2 volume that is not open yet" },
	{ "unlock", cli_unlock, 1, 2,
	  O_JSON | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM,
	  "unlock DEVICE [NAME] [--key-file FILE] [--test] [--dry-run] [--json]",
	  "open one LUKS2 volume as /dev/mapper/NAME" },
	{ "bind", cli_bind, 0, 0, O_DEVICE | O_KEYFILE | O_NOTOKENS | O_CONFIG | O_TPM,
	  "bind [--key-file FILE] [--device PATH]...",
	  "make this machine's volumes members of one volume set (older installs, "
	  "systemd-enrolled volumes)" },
	{ "enroll", cli_enroll, 1, 1, O_ENROLL | O_UNLOCKKEY | O_TPM,
	  "enroll DEVICE --tpm --unlock-key-file FILE [--tpm-pcrs LIST] [--public-key PEM "
	  "[--public-key-pcrs LIST]] [--pin --tpm2-pin-file FILE]",
	  "add a systemd-tpm2 token (readable by systemd 252 and later) to a LUKS2 volume" },
	{ "encrypt", cli_encrypt, 1, 1, O_ENROLL | O_TPM | O_DEVICE | O_MKFS,
	  "encrypt LABEL --tpm [--tpm-pcrs LIST] [--public-key PEM] [--public-key-pcrs LIST] "
	  "[--device PATH]",
	  "format the partition labelled LABEL as LUKS2 (DESTROYS its data) that opens with a TPM token" },
	{ "pcrphase", cli_pcrphase, 1, 1, O_TPM,
	  "pcrphase WORD [--tpm-device DEV]",
	  "measure a boot phase (enter-initrd, leave-initrd) into PCR 11, as systemd-pcrphase" },
	{ "status", cli_status, 0, 0, O_JSON | O_DEVICE | O_CONFIG,
	  "status [--json] [--device PATH]...",
	  "list LUKS volumes: identity, tokens, keyslots, state" },
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static void usage_all(FILE *f)
{
	fprintf(f, "Usage: kcrypt COMMAND [OPTIONS]\n\n"
		   "Finds the LUKS2 volumes of a Kairos-style disk and opens them.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\nRun 'kcrypt COMMAND --help' for a command's options; see kcrypt(8).\n"
		   "Global: -h, --help; --version; -v, --verbose; -q, --quiet\n");
}

static void usage_verb(FILE *f, const struct verb *v)
{
	fprintf(f, "Usage: kcrypt %s\n\n%s.\n\nOptions:\n", v->usage, v->summary);
	if (v->opts & O_KEYFILE)
		fprintf(f, "  --key-file FILE       passphrase or key file (\"-\" for stdin), as cryptsetup\n");
	if (v->opts & O_UNLOCKKEY)
		fprintf(f, "  --unlock-key-file FILE  a passphrase or key that opens the volume (\"-\": stdin)\n");
	if (v->opts & O_MKFS)
		fprintf(f, "  --no-mkfs             leave the new volume without a filesystem\n"
			   "                        (default: ext4 labelled LABEL inside)\n");
	if (v->opts & O_ENROLL)
		fprintf(f, "  --tpm                 enroll the TPM (required)\n"
			   "  --tpm-pcrs LIST       PCRs bound by value, e.g. 7 or 0,7 (default: 7, none\n"
			   "                        with --public-key; \"\" for none)\n"
			   "  --public-key PEM      RSA key that signs PCR policies (systemd-measure)\n"
			   "  --public-key-pcrs LIST  PCRs under the signed policy (default 11)\n"
			   "  --pin                 also require a PIN (read from --tpm2-pin-file)\n"
			   "  --no-pcr15            do not bind PCR 15 to zero (default: bound, so only\n"
			   "                        the initrd, before it measures volume keys, unseals)\n");
	if (v->opts & O_TPM)
		fprintf(f, "  --tpm-device DEV      TPM: auto, a path, or a TCTI (swtpm:path=SOCK, device:PATH)\n"
			   "  --tpm2-signature FILE signed PCR policy (default: systemd's search path)\n"
			   "  --tpm2-pin-file FILE  PIN for tokens that need one (\"-\" for stdin)\n"
			   "  --no-tpm              do not use the TPM\n");
	if (v->opts & O_NOTOKENS)
		fprintf(f, "  --no-tokens           do not try the volume's LUKS2 tokens\n");
	if (v->opts & O_TEST)
		fprintf(f, "  --test                verify the key, activate nothing (no device-mapper needed)\n");
	if (v->opts & O_DRYRUN)
		fprintf(f, "  --dry-run             print the plan, touch nothing\n");
	if (v->opts & O_DEVICE)
		fprintf(f, "  --device PATH         probe only PATH (block device or image); repeatable\n");
	if (v->opts & O_JSON)
		fprintf(f, "  --json                print the result as JSON on stdout\n");
	if (v->opts & O_CONFIG)
		fprintf(f, "  --config-dir DIR      read cloud-configs from DIR instead of /oem, /sysroot/oem,\n"
			   "                        /run/cos/oem; repeatable\n"
			   "  --extra-config-dir DIR  read DIR as well as the defaults; repeatable\n"
			   "  --cmdline FILE        kernel command line to read (default /proc/cmdline; \"\" for none)\n");
	fprintf(f, "  -v, --verbose         debug messages\n"
		   "  -q, --quiet           errors only\n"
		   "  -h, --help            this help\n");
}

enum { OPT_JSON = 256, OPT_DEVICE, OPT_KEYFILE, OPT_TEST, OPT_DRYRUN, OPT_NOTOKENS,
       OPT_CONFIGDIR, OPT_EXTRADIR, OPT_CMDLINE, OPT_SYSFS, OPT_VERSION, OPT_TPMDEV,
       OPT_TPMSIG, OPT_PINFILE, OPT_NOTPM, OPT_TPM, OPT_TPMPCRS, OPT_PUBKEY, OPT_PUBKEYPCRS,
       OPT_PIN, OPT_UNLOCKKEY, OPT_NOMKFS, OPT_NOPCR15 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "key-file", required_argument, NULL, OPT_KEYFILE },
	{ "test", no_argument, NULL, OPT_TEST },
	{ "dry-run", no_argument, NULL, OPT_DRYRUN },
	{ "no-tokens", no_argument, NULL, OPT_NOTOKENS },
	{ "config-dir", required_argument, NULL, OPT_CONFIGDIR },
	{ "extra-config-dir", required_argument, NULL, OPT_EXTRADIR },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "sysfs", required_argument, NULL, OPT_SYSFS },
	{ "tpm-device", required_argument, NULL, OPT_TPMDEV },
	{ "tpm2-signature", required_argument, NULL, OPT_TPMSIG },
	{ "tpm2-pin-file", required_argument, NULL, OPT_PINFILE },
	{ "no-tpm", no_argument, NULL, OPT_NOTPM },
	{ "tpm", no_argument, NULL, OPT_TPM },
	{ "tpm-pcrs", required_argument, NULL, OPT_TPMPCRS },
	{ "public-key", required_argument, NULL, OPT_PUBKEY },
	{ "public-key-pcrs", required_argument, NULL, OPT_PUBKEYPCRS },
	{ "pin", no_argument, NULL, OPT_PIN },
	{ "unlock-key-file", required_argument, NULL, OPT_UNLOCKKEY },
	{ "no-mkfs", no_argument, NULL, OPT_NOMKFS },
	{ "no-pcr15", no_argument, NULL, OPT_NOPCR15 },
	{ 0 },
};

static unsigned opt_class(int c)
{
	switch (c) {
	case OPT_JSON:
		return O_JSON;
	case OPT_DEVICE:
		return O_DEVICE;
	case OPT_KEYFILE:
		return O_KEYFILE;
	case OPT_TEST:
		return O_TEST;
	case OPT_DRYRUN:
		return O_DRYRUN;
	case OPT_NOTOKENS:
		return O_NOTOKENS;
	case OPT_CONFIGDIR:
	case OPT_EXTRADIR:
	case OPT_CMDLINE:
		return O_CONFIG;
	case OPT_TPMDEV:
	case OPT_TPMSIG:
	case OPT_PINFILE:
	case OPT_NOTPM:
		return O_TPM;
	case OPT_TPM:
	case OPT_TPMPCRS:
	case OPT_PUBKEY:
	case OPT_PUBKEYPCRS:
	case OPT_PIN:
	case OPT_NOPCR15:
		return O_ENROLL;
	case OPT_UNLOCKKEY:
		return O_UNLOCKKEY;
	case OPT_NOMKFS:
		return O_MKFS;
	default:
		return 0;
	}
}

static const char *opt_name(int c)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, struct args *a, const struct verb **vp)
{
	const struct verb *v;
	int c;

	if (argc < 2) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && find_verb(argv[2]))
			usage_verb(stdout, find_verb(argv[2]));
		else
			usage_all(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kcrypt %s\n", KCRYPT_VERSION);
		return EXIT_OK;
	}
	v = find_verb(argv[1]);
	if (!v) {
		fprintf(stderr, "kcrypt: unknown command '%s' (try 'kcrypt --help')\n", argv[1]);
		return EXIT_USAGE;
	}
	a->verb = v->name;
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "hvq", long_opts, NULL)) != -1) {
		unsigned cls = opt_class(c);

		if (cls && !(v->opts & cls)) {
			fprintf(stderr, "kcrypt: %s: option --%s does not apply (try 'kcrypt %s --help')\n",
				v->name, opt_name(c), v->name);
			return EXIT_USAGE;
		}
		switch (c) {
		case 'h':
			usage_verb(stdout, v);
			return EXIT_OK;
		case 'v':
			a->verbose++;
			break;
		case 'q':
			a->quiet = true;
			break;
		case OPT_VERSION:
			printf("kcrypt %s\n", KCRYPT_VERSION);
			return EXIT_OK;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_DEVICE:
			strv_add(&a->devices, optarg);
			break;
		case OPT_KEYFILE:
			a->key_file = optarg;
			break;
		case OPT_TEST:
			a->test = true;
			break;
		case OPT_DRYRUN:
			a->dry_run = true;
			break;
		case OPT_NOTOKENS:
			a->no_tokens = true;
			break;
		case OPT_CONFIGDIR:
			strv_add(&a->config_dirs, optarg);
			a->config_dirs_set = true;
			break;
		case OPT_EXTRADIR:
			strv_add(&a->extra_dirs, optarg);
			break;
		case OPT_CMDLINE:
			a->cmdline = optarg;
			break;
		case OPT_SYSFS:
			a->sysfs = optarg;
			break;
		case OPT_TPMDEV:
			a->tpm_device = optarg;
			break;
		case OPT_TPMSIG:
			a->tpm2_signature = optarg;
			break;
		case OPT_PINFILE:
			a->pin_file = optarg;
			break;
		case OPT_NOTPM:
			a->no_tpm = true;
			break;
		case OPT_TPM:
			a->tpm = true;
			break;
		case OPT_TPMPCRS:
			a->tpm_pcrs = optarg;
			break;
		case OPT_PUBKEY:
			a->public_key = optarg;
			break;
		case OPT_PUBKEYPCRS:
			a->public_key_pcrs = optarg;
			break;
		case OPT_PIN:
			a->pin = true;
			break;
		case OPT_UNLOCKKEY:
			a->unlock_key_file = optarg;
			break;
		case OPT_NOMKFS:
			a->no_mkfs = true;
			break;
		case OPT_NOPCR15:
			a->no_pcr15 = true;
			break;
		case ':':
			fprintf(stderr, "kcrypt: %s: option %s needs an argument\n", v->name,
				argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "kcrypt: %s: unknown option '%s' (try 'kcrypt %s --help')\n",
				v->name, argv[optind - 1], v->name);
			return EXIT_USAGE;
		}
	}
	a->pos = argv + optind;
	a->npos = argc - optind;
	if (a->npos < v->min_pos || a->npos > v->max_pos) {
		fprintf(stderr, "kcrypt: %s: wrong number of arguments (usage: kcrypt %s)\n", v->name,
			v->usage);
		return EXIT_USAGE;
	}
	if (a->test && a->dry_run) {
		fprintf(stderr, "kcrypt: %s: --test and --dry-run exclude each other\n", v->name);
		return EXIT_USAGE;
	}
	*vp = v;
	return -1;
}

void cli_load_config(struct env *e)
{
	static const char *const defaults[] = { "/oem", "/sysroot/oem", "/run/cos/oem" };
	struct strv dirs = { 0 };
	const char *cmdline = e->a->cmdline ? e->a->cmdline : "/proc/cmdline";

	if (e->a->config_dirs_set)
		for (size_t i = 0; i < e->a->config_dirs.n; i++)
			strv_add(&dirs, e->a->config_dirs.v[i]);
	else
		for (size_t i = 0; i < 3; i++)
			strv_add(&dirs, defaults[i]);
	for (size_t i = 0; i < e->a->extra_dirs.n; i++)
		strv_add(&dirs, e->a->extra_dirs.v[i]);

	config_load_dirs(&e->cfg, &dirs, &e->diags);
	if (*cmdline)
		config_load_cmdline_file(&e->cfg, cmdline, &e->diags);
	strv_free(&dirs);

	if (e->cfg.debug)
		e->log.max = LOG_DEBUG;
	for (size_t i = 0; i < e->diags.n; i++) {
		const struct diag *d = &e->diags.v[i];
		if (d->line)
			log_warn(&e->log, "%s:%d: %s", d->path, d->line, d->msg);
		else
			log_warn(&e->log, "%s: %s", d->path, d->msg);
	}
}

int cli_finish(struct env *e, int code)
{
	return code == EXIT_OK && e->diags.n ? EXIT_CONFIG : code;
}

/* what: "key file" or "PIN file" */
static int read_secret(struct env *e, const char *path, const char *what, size_t max,
		       struct secret **key)
{
	int r;

	*key = NULL;
	if (!path)
		return EXIT_OK;
	r = secret_read_file(path, max, key);
	if (r == 0)
		return EXIT_OK;
	switch (r) {
	case -ENODATA:
		log_err(&e->log, "%s: %s is empty", path, what);
		break;
	case -EISDIR:
		log_err(&e->log, "%s: %s is a directory", path, what);
		break;
	case -EFBIG:
		log_err(&e->log, "%s: %s is larger than %zu bytes", path, what, max);
		break;
	case -EPERM:
	case -ENOMEM:
	case -EAGAIN:
		log_err(&e->log, "cannot lock memory for the key: %s", strerror(-r));
		return EXIT_FAIL;
	default:
		log_err(&e->log, "%s: cannot read %s: %s", path, what, strerror(-r));
	}
	return EXIT_KEY;
}

/* A PIN typed into a file or a pipe ends with a newline that is not part of it. */
static void chomp(struct secret *s)
{
	while (s && s->len && (s->buf[s->len - 1] == '\n' || s->buf[s->len - 1] == '\r'))
		s->buf[--s->len] = 0;
}

/* --tpm-device, else KCRYPT_TPM2_DEVICE, else kcrypt.tpm_device; NULL: auto */
const char *cli_tpm_device(const struct env *e)
{
	const char *env = getenv("KCRYPT_TPM2_DEVICE");

	if (e->a->tpm_device)
		return e->a->tpm_device;
	if (env && *env)
		return env;
	return e->cfg.tpm_device;
}

/* A key file (key_path may be NULL) and --tpm2-pin-file, into locked memory. */
int cli_read_key_and_pin(struct env *e, const char *key_path, struct secret **key,
			 struct secret **pin)
{
	int code = read_secret(e, key_path, "key file", KEYFILE_MAX, key);

	*pin = NULL;
	if (code == EXIT_OK)
		code = read_secret(e, e->a->pin_file, "PIN file", 1024, pin);
	if (code == EXIT_OK)
		chomp(*pin);
	return code;
}

int cli_fail_code(enum fail_class f)
{
	switch (f) {
	case FAIL_NONE:
		return EXIT_OK;
	case FAIL_DEVICE:
		return EXIT_DEVICE;
	case FAIL_KEY:
		return EXIT_KEY;
	case FAIL_AMBIGUOUS:
		return EXIT_AMBIGUOUS;
	case FAIL_TRUST:
		return EXIT_TRUST;
	default:
		return EXIT_FAIL;
	}
}

/* No core dumps, nothing world-readable: keys pass through this process. */
static void harden(void)
{
	struct rlimit no_core = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &no_core);
	umask(077);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const struct verb *v = NULL;
	struct env e = { .a = &a };
	int code;

	harden();
	code = parse_args(argc, argv, &a, &v);
	if (code < 0) {
		/* tpm2-tss logs to stderr by itself; our messages say what failed */
		if (!a.verbose)
			setenv("TSS2_LOG", "all+NONE", 0);
		log_init(&e.log, a.verbose > 0, a.quiet);
		config_init(&e.cfg);
		code = v->run(&e);
		config_free(&e.cfg);
		diags_free(&e.diags);
		log_close(&e.log);
	}
	strv_free(&a.devices);
	strv_free(&a.config_dirs);
	strv_free(&a.extra_dirs);
	return code;
}
