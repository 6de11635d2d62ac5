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

#include "config.h"
#include "discover.h"
#include "encrypt.h"
#include "enroll.h"
#include "exitcode.h"
#include "keysource.h"
#include "measure.h"
#include "plan.h"
#include "report.h"
#include "secret.h"
#include "tpm2.h"
#include "unlock.h"

#ifndef KCRYPT_VERSION
#define KCRYPT_VERSION "0.1.0"
#endif

/* kcrypt's own runtime directory: phase markers, the OEM's private mount */
#define RUN_DIR "/run/kcrypt"

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

struct args {
	const char *verb;
	char **pos;
	int npos;
	int verbose;
	bool quiet, json, test, dry_run, no_tokens, no_tpm;
	const char *key_file;
	const char *tpm_device;
	const char *tpm2_signature;
	const char *pin_file;
	bool tpm, pin, no_mkfs;
	const char *tpm_pcrs, *public_key, *public_key_pcrs, *unlock_key_file;
	const char *cmdline;
	const char *sysfs;
	struct strv devices;
	struct strv config_dirs;
	bool config_dirs_set;
	struct strv extra_dirs;
};

struct env {
	struct args *a;
	struct logger log;
	struct config cfg;
	struct diags diags;
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

static int do_status(struct env *e);
static int do_unlock_all(struct env *e);
static int do_unlock(struct env *e);
static int do_enroll(struct env *e);
static int do_encrypt(struct env *e);
static int do_pcrphase(struct env *e);

static const struct verb verbs[] = {
	{ "unlock-all", do_unlock_all, 0, 0,
	  O_JSON | O_DEVICE | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM,
	  "unlock-all [--key-file FILE] [--test] [--dry-run] [--json] [--device PATH]...",
	  "open every LUKS2 volume that is not open yet" },
	{ "unlock", do_unlock, 1, 2,
	  O_JSON | O_KEYFILE | O_TEST | O_DRYRUN | O_NOTOKENS | O_CONFIG | O_TPM,
	  "unlock DEVICE [NAME] [--key-file FILE] [--test] [--dry-run] [--json]",
	  "open one LUKS2 volume as /dev/mapper/NAME" },
	{ "enroll", do_enroll, 1, 1, O_ENROLL | O_UNLOCKKEY | O_TPM,
	  "enroll DEVICE --tpm --unlock-key-file FILE [--tpm-pcrs LIST] [--public-key PEM "
	  "[--public-key-pcrs LIST]] [--pin --tpm2-pin-file FILE]",
	  "add a systemd-tpm2 token (readable by systemd 252 and later) to a LUKS2 volume" },
	{ "encrypt", do_encrypt, 1, 1, O_ENROLL | O_TPM | O_DEVICE | O_MKFS,
	  "encrypt LABEL --tpm [--tpm-pcrs LIST] [--public-key PEM] [--public-key-pcrs LIST] "
	  "[--device PATH]",
	  "format the partition labelled LABEL as LUKS2 (DESTROYS its data) that opens with a TPM token" },
	{ "pcrphase", do_pcrphase, 1, 1, O_TPM,
	  "pcrphase WORD [--tpm-device DEV]",
	  "measure a boot phase (enter-initrd, leave-initrd) into PCR 11, as systemd-pcrphase" },
	{ "status", do_status, 0, 0, O_JSON | O_DEVICE | O_CONFIG,
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
			   "  --pin                 also require a PIN (read from --tpm2-pin-file)\n");
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
       OPT_PIN, OPT_UNLOCKKEY, OPT_NOMKFS };

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

static void load_config(struct env *e)
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

static int discover(struct env *e, struct volume_list *vols, size_t *errors)
{
	struct discover_opts o = {
		.devices = e->a->devices.n ? &e->a->devices : NULL,
		.sysfs = e->a->sysfs ? e->a->sysfs : "/sys",
		.errors = errors,
	};
	int r = discover_scan(&o, &e->log, vols);

	if (r < 0)
		log_err(&e->log, "device scan failed: %s", strerror(-r));
	return r;
}

static int finish(struct env *e, int code)
{
	return code == EXIT_OK && e->diags.n ? EXIT_CONFIG : code;
}

static int do_status(struct env *e)
{
	struct volume_list vols = { 0 };
	struct plan p = { 0 };
	struct status_entry *ent = NULL;
	size_t errors = 0;
	int code = EXIT_FAIL;

	load_config(e);
	if (discover(e, &vols, &errors) < 0 || plan_build(&vols, &e->cfg, &p) < 0)
		goto out;
	ent = calloc(p.n ? p.n : 1, sizeof(*ent));
	if (!ent)
		goto out;
	status_gather(&p, &e->log, ent);
	if (e->a->json)
		report_status_json(stdout, ent, p.n);
	else
		report_status_text(stdout, ent, p.n);
	code = errors ? EXIT_DEVICE : EXIT_OK;
out:
	free(ent);
	plan_free(&p);
	volume_list_free(&vols);
	return finish(e, code);
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
static const char *tpm_device_of(const struct env *e)
{
	const char *env = getenv("KCRYPT_TPM2_DEVICE");

	if (e->a->tpm_device)
		return e->a->tpm_device;
	if (env && *env)
		return env;
	return e->cfg.tpm_device;
}

/* A key file (key_path may be NULL) and --tpm2-pin-file, into locked memory. */
static int read_key_and_pin(struct env *e, const char *key_path, struct secret **key,
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

static int fail_code(enum fail_class f)
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
	default:
		return EXIT_FAIL;
	}
}

/* What one unlock or unlock-all run shares: key file, PIN, the TPM. */
struct run {
	struct unlock_opts uo;
	struct keysource_ctx ks;
	struct tpm_state tpm;
	struct secret *key, *pin;
};

static int run_begin(struct env *e, struct run *r)
{
	int code;

	memset(r, 0, sizeof(*r));
	r->uo.test = e->a->test;
	r->uo.dry_run = e->a->dry_run;
	r->ks.keyfile_path = e->a->key_file;
	r->ks.tokens = !e->a->no_tokens;
	r->ks.log = &e->log;
	code = read_key_and_pin(e, e->a->key_file, &r->key, &r->pin);
	if (code != EXIT_OK)
		return code;
	r->ks.keyfile = r->key;
	/* the TPM also takes the PCR 15 measurements, even with --no-tpm */
	r->tpm.device = tpm_device_of(e);
	r->tpm.sig_path = e->a->tpm2_signature;
	r->tpm.pin = r->pin;
	if (!e->a->no_tpm)
		r->ks.tpm = &r->tpm;
	return EXIT_OK;
}

static void run_end(struct run *r)
{
	keysource_tpm2_release(&r->tpm);
	secret_free(r->key);
	secret_free(r->pin);
}

struct measure_ctx {
	struct run *run;
	const struct logger *log;
};

static int measure_one(void *ctx, const char *name, const char *uuid, const struct secret *vk,
		       char *why, size_t whylen)
{
	struct measure_ctx *m = ctx;
	struct tpm2 *tpm;
	int r = keysource_tpm2_get(&m->run->tpm, m->log, &tpm, why, whylen);

	if (r == 0)
		r = measure_volume_key(tpm, name, uuid, vk->buf, vk->len, why, whylen);
	if (r == 0)
		log_info(m->log, "measured the volume key of /dev/mapper/%s into PCR 15", name);
	return r;
}

/* Only a measured UKI boot has a PCR 11 worth protecting (as systemd). */
static void measure_all(struct env *e, struct run *r, const struct plan *p,
			const struct step_result *res)
{
	struct measure_ctx m = { .run = r, .log = &e->log };

	if (r->uo.test || r->uo.dry_run || !measure_is_measured_uki(NULL))
		return;
	unlock_measure(p, res, measure_one, &m, &e->log);
}

static void report_run(struct env *e, const struct plan *p, const struct step_result *res)
{
	if (e->a->dry_run && !e->a->json)
		report_plan_text(stdout, p);
	if (e->a->json)
		report_unlock_json(stdout, p, res,
				   e->a->dry_run ? "dry-run" : e->a->test ? "test" : "activate");
}

static int code_all(const struct plan *p, const struct step_result *res)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].expected && res[i].state == RES_FAILED)
			return EXIT_FAIL;
	return EXIT_OK;
}

static bool mounted(const char *dev)
{
	struct stat st;
	char line[4096], want[32];
	bool found = false;
	FILE *f;

	if (stat(dev, &st) < 0)
		return false;
	snprintf(want, sizeof(want), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mm[32];

		/* "36 35 98:0 / /mnt ..." : the third field is major:minor */
		found = sscanf(line, "%*s %*s %31s", mm) == 1 && !strcmp(mm, want);
	}
	fclose(f);
	return found;
}

/* The encrypted OEM holds the cloud-config that lists the extra volumes:
 * mount it read-only in a private directory, read it, unmount. Returns true
 * when it listed labels not known before. */
static bool read_oem_config(struct env *e, const struct plan *p, const struct step_result *res)
{
	char dev[160], dir[] = RUN_DIR "/oem.XXXXXX";
	struct strv dirs = { 0 };
	size_t before = e->cfg.encrypted.n;
	const char *name = NULL;

	for (size_t i = 0; i < p->n && !name; i++) {
		const struct plan_step *s = &p->steps[i];

		if (s->role != ROLE_OEM)
			continue;
		if (res[i].state == RES_OPENED)
			name = s->mapper;
		else if (res[i].state == RES_SKIPPED && s->vol)
			name = s->vol->active_name;
	}
	if (!name)
		return false;
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	if (mounted(dev))
		return false;	/* mounted: its config was read where it is mounted */
	(void)mkdir(RUN_DIR, 0700);
	if (!mkdtemp(dir)) {
		log_warn(&e->log, "cannot read the OEM config: %s: %s", dir, strerror(errno));
		return false;
	}
	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		log_warn(&e->log, "cannot mount %s to read its config: %s", dev, strerror(errno));
		rmdir(dir);
		return false;
	}
	strv_add(&dirs, dir);
	config_load_dirs(&e->cfg, &dirs, &e->diags);
	strv_free(&dirs);
	if (umount2(dir, 0) < 0 && umount2(dir, MNT_DETACH) < 0)
		log_warn(&e->log, "cannot unmount %s: %s", dir, strerror(errno));
	rmdir(dir);
	log_info(&e->log, "read the cloud-config of the OEM volume (%zu more labels)",
		 e->cfg.encrypted.n - before);
	return e->cfg.encrypted.n > before;
}

static bool in_plan(const struct plan *p, const struct plan_step *s)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *o = &p->steps[i];

		if (s->vol && o->vol && !strcmp(s->vol->devnode, o->vol->devnode))
			return true;
		if (!s->vol && !o->vol && !strcmp(s->label, o->label))
			return true;
	}
	return false;
}

/* p += the steps of more that p does not have; res grows alike. */
static int plan_append(struct plan *p, struct step_result **res, const struct plan *more,
		       struct plan *added)
{
	struct plan_step *steps = realloc(p->steps, (p->n + more->n) * sizeof(*steps));
	struct step_result *r;

	if (!steps)
		return -ENOMEM;
	p->steps = steps;
	r = realloc(*res, (p->n + more->n + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	*res = r;
	added->steps = p->steps + p->n;
	added->n = 0;
	for (size_t i = 0; i < more->n; i++)
		if (!in_plan(p, &more->steps[i]))
			p->steps[p->n + added->n++] = more->steps[i];
	return 0;
}

static bool missing_expected(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].expected && !p->steps[i].vol)
			return true;
	return false;
}

/* In the initrd, a disk may show up after we start: scan again until every
 * expected volume is there or the timeout (rd.kcrypt.timeout) runs out. */
static int wait_for_devices(struct env *e, struct volume_list *vols, struct plan *p,
			    size_t *errors)
{
	struct timespec t0, now, nap = { 0, 250 * 1000 * 1000 };

	if (e->a->devices.n || access("/etc/initrd-release", F_OK) != 0 || !missing_expected(p))
		return 0;
	log_info(&e->log, "waiting up to %d s for the expected volumes to appear", e->cfg.timeout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		nanosleep(&nap, NULL);
		plan_free(p);
		volume_list_free(vols);
		*errors = 0;
		if (discover(e, vols, errors) < 0 || plan_build(vols, &e->cfg, p) < 0)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (missing_expected(p) && now.tv_sec - t0.tv_sec < e->cfg.timeout);
	return 0;
}

static int do_unlock_all(struct env *e)
{
	struct volume_list vols = { 0 }, vols2 = { 0 };
	struct plan p = { 0 }, p2 = { 0 }, added = { 0 };
	struct step_result *res = NULL;
	struct run run;
	size_t errors = 0;
	int code = EXIT_FAIL;

	load_config(e);
	if (e->cfg.disabled) {
		log_info(&e->log, "disabled by rd.kcrypt=0 on the kernel command line");
		return EXIT_OK;
	}
	code = run_begin(e, &run);
	if (code != EXIT_OK)
		goto out;
	code = EXIT_FAIL;
	if (discover(e, &vols, &errors) < 0 || plan_build(&vols, &e->cfg, &p) < 0 ||
	    wait_for_devices(e, &vols, &p, &errors) < 0)
		goto out;
	if (p.n == 0)
		log_info(&e->log, "no LUKS volumes found");
	res = calloc(p.n + 1, sizeof(*res));
	if (!res)
		goto out;
	unlock_run(&p, &run.uo, &run.ks, &e->log, res);
	/* second pass: the volumes the (now open) OEM volume lists */
	if (!run.uo.test && !run.uo.dry_run && read_oem_config(e, &p, res)) {
		if (discover(e, &vols2, &errors) < 0 || plan_build(&vols2, &e->cfg, &p2) < 0 ||
		    plan_append(&p, &res, &p2, &added) < 0)
			goto out;
		unlock_run(&added, &run.uo, &run.ks, &e->log, res + (p.n));
		p.n += added.n;
	}
	measure_all(e, &run, &p, res);
	report_run(e, &p, res);
	code = code_all(&p, res);
	if (code == EXIT_OK && errors)
		code = EXIT_DEVICE;
out:
	if (res)
		unlock_release(res, p.n);
	run_end(&run);
	free(res);
	plan_free(&p);
	plan_free(&p2);
	volume_list_free(&vols);
	volume_list_free(&vols2);
	return finish(e, code);
}

static int do_unlock(struct env *e)
{
	const char *dev = e->a->pos[0], *name = e->a->npos > 1 ? e->a->pos[1] : NULL;
	struct step_result res[1];
	struct volume v;
	struct plan p = { 0 };
	struct run run;
	int r, code = EXIT_FAIL;

	load_config(e);
	r = discover_probe(dev, e->a->sysfs ? e->a->sysfs : "/sys", &v);
	if (r < 0) {
		if (r == -ENOENT)
			log_err(&e->log, "%s: no such device", dev);
		else if (r == -EMEDIUMTYPE)
			log_err(&e->log, "%s: not a LUKS volume", dev);
		else if (r == -EISDIR)
			log_err(&e->log, "%s: is a directory, not a device", dev);
		else
			log_err(&e->log, "%s: cannot probe: %s", dev, strerror(-r));
		return r == -ENOMEM ? EXIT_FAIL : EXIT_DEVICE;
	}
	code = run_begin(e, &run);
	if (code == EXIT_OK && plan_build_one(&v, &e->cfg, name, &p) == 0 && p.n == 1) {
		unlock_run(&p, &run.uo, &run.ks, &e->log, res);
		measure_all(e, &run, &p, res);
		report_run(e, &p, res);
		code = res[0].state == RES_FAILED ? fail_code(res[0].fail) : EXIT_OK;
		unlock_release(res, 1);
	} else if (code == EXIT_OK) {
		code = EXIT_FAIL;
	}
	run_end(&run);
	plan_free(&p);
	volume_clear(&v);
	return finish(e, code);
}

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

/* The token policy options shared by enroll and encrypt. */
static int policy_args(struct env *e, struct enroll_opts *o)
{
	const struct args *a = e->a;

	if (!a->tpm) {
		log_err(&e->log, "%s: say what to enroll: --tpm", a->verb);
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
	o->pubkey_path = a->public_key;
	o->sig_path = a->tpm2_signature;
	return -1;
}

static int enroll_args(struct env *e, struct enroll_opts *o)
{
	const struct args *a = e->a;
	int code;

	o->pcr_mask = a->public_key ? 0 : 1u << 7;
	o->pubkey_pcr_mask = 1u << 11;
	code = policy_args(e, o);
	if (code >= 0)
		return code;
	if (!a->unlock_key_file) {
		log_err(&e->log, "enroll: --unlock-key-file is needed to add a keyslot");
		return EXIT_USAGE;
	}
	if (a->public_key_pcrs && !o->pubkey_pcr_mask) {
		log_err(&e->log, "enroll: --public-key-pcrs: '%s' is not a list of PCRs 0..23",
			a->public_key_pcrs);
		return EXIT_USAGE;
	}
	o->device = a->pos[0];
	return -1;
}

static int do_enroll(struct env *e)
{
	struct enroll_opts o = { 0 };
	struct secret *key = NULL, *pin = NULL;
	char why[400] = "";
	int code, r, token = -1, slot = -1;

	code = enroll_args(e, &o);
	if (code >= 0)
		return code;
	code = read_key_and_pin(e, e->a->unlock_key_file, &key, &pin);
	if (code != EXIT_OK)
		goto out;
	o.unlock_key = key;
	o.pin = pin;
	o.tpm_device = tpm_device_of(e);
	r = enroll_tpm2(&o, &e->log, &token, &slot, why, sizeof(why));
	if (r < 0) {
		log_err(&e->log, "%s: cannot enroll: %s", o.device, why);
		code = r == -ENOENT || r == -EMEDIUMTYPE || r == -EPROTONOSUPPORT || r == -EBADMSG ||
			       r == -EROFS ? EXIT_DEVICE : EXIT_KEY;
	} else if (token >= 0) {
		log_info(&e->log, "%s: enrolled systemd-tpm2 token %d for keyslot %d", o.device, token,
			 slot);
	}
out:
	secret_free(key);
	secret_free(pin);
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

static int do_encrypt(struct env *e)
{
	struct encrypt_opts o = { .label = e->a->pos[0], .mkfs = !e->a->no_mkfs };
	struct encrypt_result res;
	struct secret *none = NULL, *pin = NULL;
	char why[400] = "";
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
	code = read_key_and_pin(e, NULL, &none, &pin);
	if (code != EXIT_OK)
		return code;
	o.tpm.pin = pin;
	o.tpm.tpm_device = tpm_device_of(e);
	r = encrypt_volume(&o, &e->log, &res, why, sizeof(why));
	if (r < 0) {
		log_err(&e->log, "encrypt %s: %s", o.label, why);
		code = encrypt_code(r);
	} else {
		const char *slash = strrchr(res.device, '/');

		/* Kairos' encrypt prints label:device:uuid for the installer */
		printf("%s:%s:%s\n", o.label, slash ? slash + 1 : res.device, res.uuid);
	}
	secret_free(pin);
	return code;
}

/* Once per boot and word: a second extend would move PCR 11 off every
 * signed value for the rest of the boot. */
static int do_pcrphase(struct env *e)
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
	(void)mkdir(RUN_DIR, 0700);
	snprintf(mark, sizeof(mark), RUN_DIR "/pcrphase-%s", word);
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
	r = tpm2_open(tpm_device_of(e), &e->log, &tpm, why, sizeof(why));
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
