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

enum opt_bit {
	O_JSON = 1 << 0,
	O_DEVICE = 1 << 1,
	O_KEYFILE = 1 << 2,
	O_TEST = 1 << 3,
	O_DRYRUN = 1 << 4,
	O_NOTOKENS = 1 << 5,
	O_CONFIG = 1 << 6,	/* --config-dir, --extra-config-dir, --cmdline */
	O_TPM = 1 << 7,		/* --tpm-device, --tpm2-signature, --tpm2-pin-file, --no-tpm */
	O_ENROLL = 1 << 8,	/* --tpm, --tpm-pcrs, --public-key(-pcrs), --pin, --tpm2-srk */
	O_UNLOCKKEY = 1 << 9,	/* --unlock-key-file */
	O_MKFS = 1 << 10,	/* --no-mkfs */
	O_RECOVERY = 1 << 11,	/* --recovery-key, --recovery-key-file */
	O_PROMPT = 1 << 12,	/* --prompt */
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
	  O_JSON | O_DEVICE | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM | O_PROMPT,
	  "unlock-all [--key-file FILE] [--prompt] [--test] [--dry-run] [--json] [--device PATH]...",
	  "open every LUKS2 volume that is not open yet" },
	{ "unlock", cli_unlock, 1, 2,
	  O_JSON | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM,
	  "unlock DEVICE [NAME] [--key-file FILE] [--test] [--dry-run] [--json]",
	  "open one LUKS2 volume as /dev/mapper/NAME" },
	{ "bind", cli_bind, 0, 0, O_DEVICE | O_KEYFILE | O_NOTOKENS | O_CONFIG | O_TPM,
	  "bind [--key-file FILE] [--device PATH]...",
	  "make this machine's volumes members of one volume set (older installs, "
	  "systemd-enrolled volumes)" },
	{ "enroll", cli_enroll, 1, 1, O_ENROLL | O_UNLOCKKEY | O_TPM | O_RECOVERY,
	  "enroll DEVICE --unlock-key-file FILE [--tpm [--tpm-pcrs LIST] [--public-key PEM "
	  "[--public-key-pcrs LIST]] [--pin --tpm2-pin-file FILE] [--tpm2-srk[=auto|yes|no]]] "
	  "[--recovery-key-file FILE]",
	  "add a systemd-tpm2 token (readable by systemd 252 and later) or a recovery key to a "
	  "LUKS2 volume" },
	{ "encrypt", cli_encrypt, 1, 1, O_ENROLL | O_TPM | O_DEVICE | O_MKFS | O_RECOVERY,
	  "encrypt LABEL --tpm [--tpm-pcrs LIST] [--public-key PEM] [--public-key-pcrs LIST] "
	  "[--tpm2-srk[=auto|yes|no]] [--recovery-key-file FILE] [--device PATH]",
	  "format the partition labelled LABEL as LUKS2 (DESTROYS its data) that opens with a TPM token" },
	{ "reseal", cli_reseal, 0, 0, O_DEVICE | O_CONFIG | O_TPM | O_UNLOCKKEY,
	  "reseal [--unlock-key-file FILE] [--tpm2-pin-file FILE] [--device PATH]...",
	  "replace TPM tokens that no longer unseal (PCR 7 moved, TPM cleared) with tokens for "
	  "this TPM and state, from the open volume or a recovery key" },
	{ "pcrphase", cli_pcrphase, 1, 1, O_TPM,
	  "pcrphase WORD [--tpm-device DEV]",
	  "measure a boot phase (enter-initrd, leave-initrd) into PCR 11, as systemd-pcrphase" },
	{ "status", cli_status, 0, 0, O_JSON | O_DEVICE | O_CONFIG,
	  "status [--json] [--device PATH]...",
	  "list LUKS volumes: identity, tokens, keyslots, state" },
	{ "check-uki", cli_check_uki, 1, 1, O_JSON | O_DEVICE | O_CONFIG | O_TPM,
	  "check-uki FILE.efi [--json] [--device PATH]... [--tpm-device DEV | --no-tpm]",
	  "say whether every volume will open after booting the UKI FILE.efi (PCR 11, signatures)" },
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
			   "                        the initrd, before it measures volume keys, unseals)\n"
			   "  --tpm2-srk[=auto|yes|no]  seal under the persistent SRK at 0x81000001\n"
			   "                        (created if missing; systemd 254+ opens the token),\n"
			   "                        or not (a transient primary: systemd 252 opens it);\n"
			   "                        auto (default): yes unless systemd < 254 is installed\n");
	if (v->opts & O_RECOVERY)
		fprintf(f, "  --recovery-key-file FILE  also add a recovery key (systemd's format): the\n"
			   "                        one in FILE, or a new one written to FILE (0600) when\n"
			   "                        FILE does not exist; one file for all of a machine's\n"
			   "                        volumes gives them one key\n"
			   "  --recovery-key        also add a new recovery key, shown once on the terminal\n");
	if (v->opts & O_TPM)
		fprintf(f, "  --tpm-device DEV      TPM: auto, a path, or a TCTI (swtpm:path=SOCK, device:PATH)\n"
			   "  --tpm2-signature FILE signed PCR policy (default: systemd's search path)\n"
			   "  --tpm2-pin-file FILE  PIN for tokens that need one (\"-\" for stdin)\n"
			   "  --no-tpm              do not use the TPM\n");
	if (v->opts & O_PROMPT)
		fprintf(f, "  --prompt              ask on the terminal for the recovery key (or the PIN)\n"
			   "                        of volumes the TPM cannot open (the initrd always asks)\n");
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
       OPT_PIN, OPT_UNLOCKKEY, OPT_NOMKFS, OPT_NOPCR15,
       OPT_RECOVERY, OPT_RECOVERYFILE, OPT_PROMPT, OPT_TPM2SRK };

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
	{ "tpm2-srk", optional_argument, NULL, OPT_TPM2SRK },
	{ "recovery-key", no_argument, NULL, OPT_RECOVERY },
	{ "recovery-key-file", required_argument, NULL, OPT_RECOVERYFILE },
	{ "prompt", no_argument, NULL, OPT_PROMPT },
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
	case OPT_TPM2SRK:
		return O_ENROLL;
	case OPT_UNLOCKKEY:
		return O_UNLOCKKEY;
	case OPT_NOMKFS:
		return O_MKFS;
	case OPT_RECOVERY:
	case OPT_RECOVERYFILE:
		return O_RECOVERY;
	case OPT_PROMPT:
		return O_PROMPT;
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
		int verbose = argc > 2 && (!strcmp(argv[2], "-v") || !strcmp(argv[2], "--verbose"));

		if (argc > 2 + verbose) {
			fprintf(stderr, "kcrypt: --version takes only -v\n");
			return EXIT_USAGE;
		}
		cli_version(stdout, verbose);
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
		case OPT_TPM2SRK:
			a->tpm2_srk = optarg ? optarg : "yes";	/* bare --tpm2-srk: yes */
			break;
		case OPT_RECOVERY:
			a->recovery_key = true;
			break;
		case OPT_RECOVERYFILE:
			a->recovery_key_file = optarg;
			break;
		case OPT_PROMPT:
			a->prompt = true;
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
