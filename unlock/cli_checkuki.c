/* check-uki FILE.efi: would this machine's volumes open after booting that
 * UKI? Reads the UKI's sections (pe, uki), predicts PCR 11 as systemd-stub
 * and systemd-pcrphase 252 make it, and judges every systemd-tpm2 token of
 * the volumes kcrypt status lists (ukicheck). Touches no volume and no PCR:
 * headers are loaded read-only; the TPM, when a policy needs a PCR the UKI
 * does not decide (7 besides a signed 11, say), is only read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "exitcode.h"
#include "luks.h"
#include "recovery.h"
#include "runall.h"
#include "tpm2.h"
#include "ukicheck.h"

#define UKI_MAX ((size_t)1 << 30)	/* UKIs are tens of MB; an ESP holds no more */
#define PCRSIG_MAX (1024 * 1024)	/* as for tpm2-pcr-signature.json files */
#define PCRPKEY_MAX (64 * 1024)

/* The UKI in memory and what was found in it. */
struct uki_file {
	const char *path;
	unsigned char *buf;
	size_t len;
	struct pe_image pe;
	struct uki uki;
	char *pcrsig, *pcrpkey;
};

struct tok_verdict {
	int id;
	struct ck_result r;
};

struct vol_verdict {
	const struct plan_step *step;
	enum ck_verdict verdict;
	char reason[1024];
	struct tok_verdict tok[LUKS_MAX_TOKENS];
	size_t ntok;
};

/* The TPM is opened only when a policy needs a PCR read, and once. */
struct tpm_reader {
	struct env *e;
	struct tpm2 *tpm;
	int error;		/* 0 untried, 1 open, -errno failed */
	char why[200];
};

static int read_all(int fd, unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	return 0;
}

/* read, not mmap: a file truncated under us must be an error, not SIGBUS */
static int read_file(struct uki_file *f, char *why, size_t whylen)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), r = 0;

	if (fd < 0) {
		snprintf(why, whylen, "cannot open: %s", strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > UKI_MAX) {
		snprintf(why, whylen, "not a regular file of 1 byte to 1 GiB");
		r = -EFBIG;
		goto out;
	}
	f->len = (size_t)st.st_size;
	f->buf = malloc(f->len);
	if (!f->buf) {
		r = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	r = read_all(fd, f->buf, f->len);
	if (r < 0)
		snprintf(why, whylen, "cannot read: %s", strerror(-r));
out:
	close(fd);
	return r;
}

static int load_uki(struct uki_file *f, char *why, size_t whylen)
{
	int r = read_file(f, why, whylen);

	if (r == 0)
		r = pe_parse(f->buf, f->len, &f->pe, why, whylen);
	if (r == 0)
		r = uki_find_sections(f->buf, &f->pe, &f->uki, why, whylen);
	if (r == 0 && uki_section_text(&f->uki, UKI_PCRSIG, PCRSIG_MAX, &f->pcrsig) < 0) {
		snprintf(why, whylen, ".pcrsig: larger than 1 MiB");
		r = -EFBIG;
	}
	if (r == 0 && uki_section_text(&f->uki, UKI_PCRPKEY, PCRPKEY_MAX, &f->pcrpkey) < 0) {
		snprintf(why, whylen, ".pcrpkey: larger than 64 KiB");
		r = -EFBIG;
	}
	return r;
}

static void free_uki(struct uki_file *f)
{
	free(f->buf);
	free(f->pcrsig);
	free(f->pcrpkey);
}

static int read_pcr(void *ctx, uint16_t bank, int pcr, unsigned char *out, size_t *len, char *why,
		    size_t whylen)
{
	struct tpm_reader *t = ctx;

	if (t->error == 0) {
		if (t->e->a->no_tpm) {
			t->error = -ENODEV;
			snprintf(t->why, sizeof(t->why), "--no-tpm");
		} else {
			t->error = tpm2_open(cli_tpm_device(t->e), &t->e->log, &t->tpm, t->why,
					     sizeof(t->why));
			if (t->error == 0)
				t->error = 1;
		}
	}
	if (t->error < 0) {
		snprintf(why, whylen, "PCR %d is read from the TPM: %s", pcr, t->why);
		return t->error;
	}
	return tpm2_pcr_read(t->tpm, bank, 1u << pcr, out, len, why, whylen);
}

static void judge_token(struct ck_uki *c, struct luks *l, int id, struct tok_verdict *tv)
{
	struct token_tpm2 t;
	const char *json = NULL;
	char w[200] = "cannot read it";

	tv->id = id;
	if (luks_token_json(l, id, &json) < 0 || token_parse(json, &t, w, sizeof(w)) < 0) {
		tv->r.verdict = CK_REFUSED;
		snprintf(tv->r.reason, sizeof(tv->r.reason), "token malformed: %s", w);
		return;
	}
	ck_token(c, &t, &tv->r);
	token_free(&t);
}

/* The volume opens when one of its tokens does; else the best try says why. */
static void sum_up(struct vol_verdict *v, size_t others)
{
	size_t off = 0;

	v->verdict = CK_REFUSED;
	for (size_t i = 0; i < v->ntok; i++)
		if (v->tok[i].r.verdict < v->verdict)
			v->verdict = v->tok[i].r.verdict;
	for (size_t i = 0; i < v->ntok && off < sizeof(v->reason); i++) {
		const struct tok_verdict *t = &v->tok[i];

		if (v->verdict == CK_OPENS && t->r.verdict != CK_OPENS)
			continue;
		off += (size_t)snprintf(v->reason + off, sizeof(v->reason) - off, "%stoken %d: %s",
					off ? "; " : "", t->id, t->r.reason);
		if (v->verdict == CK_OPENS)
			return;
	}
	if (others && v->verdict == CK_REFUSED && off < sizeof(v->reason)) {
		/* a clevis token, say, may still open it: kcrypt cannot tell */
		v->verdict = CK_UNKNOWN;
		snprintf(v->reason + off, sizeof(v->reason) - off,
			 "%s%zu other token(s), not judged", off ? "; " : "no systemd-tpm2 token; ",
			 others);
	} else if (!v->ntok) {
		snprintf(v->reason, sizeof(v->reason), "no systemd-tpm2 token: opens only with a key");
	}
}

static void judge_volume(struct ck_uki *c, const struct logger *log, struct vol_verdict *v)
{
	struct luks_info info;
	struct luks *l = NULL;
	size_t others = 0;
	char w[300];

	v->verdict = CK_REFUSED;
	if (!v->step->vol || v->step->action == STEP_REFUSE) {
		snprintf(v->reason, sizeof(v->reason), "%s", v->step->reason);
		return;
	}
	if (luks_load(v->step->vol->devnode, log, &l, w, sizeof(w)) < 0) {
		snprintf(v->reason, sizeof(v->reason), "cannot load the header: %s", w);
		return;
	}
	if (luks_info(l, &info) < 0) {
		snprintf(v->reason, sizeof(v->reason), "cannot list the header's tokens");
		luks_free(l);
		return;
	}
	for (size_t i = 0; i < info.ntokens; i++) {
		const char *type = info.tokens[i].type;

		/* the set binding opens nothing; a recovery key needs a person,
		 * not what an unattended boot can count on */
		if (!strcmp(type, "kcrypt-set") || !strcmp(type, RECOVERY_TOKEN_TYPE))
			continue;
		if (strcmp(type, TOKEN_TYPE_TPM2) != 0) {
			others++;
			continue;
		}
		judge_token(c, l, info.tokens[i].id, &v->tok[v->ntok++]);
	}
	luks_free(l);
	sum_up(v, others);
}

static const char *name_of(const struct plan_step *s)
{
	return s->label[0] ? s->label : s->mapper[0] ? s->mapper : "-";
}

static int width(int w, const char *s)
{
	int n = (int)strlen(s);
	return n > w ? n : w;
}

static void hex(const struct uki_pcr *p, char *out)
{
	for (size_t i = 0; i < p->len; i++)
		snprintf(out + 2 * i, 3, "%02x", p->value[i]);
}

/* enter-initrd and enter-initrd:leave-initrd in one bank */
static int phases_hex(struct ck_uki *c, const char *bank, char enter[129], char leave[129])
{
	struct uki_pcr p;
	int r = ck_pcr11(c, bank, UKICHECK_PHASE, &p);

	if (r == 0)
		hex(&p, enter);
	if (r == 0)
		r = ck_pcr11(c, bank, UKICHECK_PHASE ":leave-initrd", &p);
	if (r == 0)
		hex(&p, leave);
	return r;
}

static void report_text(struct ck_uki *c, const struct vol_verdict *v, size_t n)
{
	char enter[129], leave[129];
	int wn = 4, wd = 6;

	/* sha256 first (computed before any token asked), then the banks tokens used */
	for (size_t b = 0; b < c->nbase; b++)
		if (phases_hex(c, c->base[b].bank, enter, leave) == 0)
			printf("PCR 11 %s enter-initrd %s\nPCR 11 %s leave-initrd %s\n",
			       c->base[b].bank, enter, c->base[b].bank, leave);
	for (size_t i = 0; i < n; i++) {
		wn = width(wn, name_of(v[i].step));
		wd = width(wd, v[i].step->vol ? v[i].step->vol->devnode : "(missing)");
	}
	printf("%-*s %-*s %-8s %-8s %s\n", wn, "NAME", wd, "DEVICE", "EXPECTED", "VERDICT",
	       "REASON");
	for (size_t i = 0; i < n; i++)
		printf("%-*s %-*s %-8s %-8s %s\n", wn, name_of(v[i].step), wd,
		       v[i].step->vol ? v[i].step->vol->devnode : "(missing)",
		       v[i].step->expected ? "yes" : "no", ck_verdict_name(v[i].verdict),
		       v[i].reason);
}

static struct json_object *jstr(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *volume_json(const struct vol_verdict *v)
{
	struct json_object *o = json_object_new_object(), *toks = json_object_new_array();
	const struct plan_step *s = v->step;

	json_object_object_add(o, "device", jstr(s->vol ? s->vol->devnode : NULL));
	json_object_object_add(o, "uuid", jstr(s->vol ? s->vol->uuid : NULL));
	json_object_object_add(o, "label", jstr(s->label));
	json_object_object_add(o, "mapper", jstr(s->mapper));
	json_object_object_add(o, "role", json_object_new_string(identity_role_name(s->role)));
	json_object_object_add(o, "expected", json_object_new_boolean(s->expected));
	json_object_object_add(o, "opens", json_object_new_boolean(v->verdict == CK_OPENS));
	json_object_object_add(o, "verdict", json_object_new_string(ck_verdict_name(v->verdict)));
	json_object_object_add(o, "reason", jstr(v->reason));
	for (size_t t = 0; t < v->ntok; t++) {
		struct json_object *jt = json_object_new_object();
		const struct ck_result *r = &v->tok[t].r;

		json_object_object_add(jt, "id", json_object_new_int(v->tok[t].id));
		json_object_object_add(jt, "verdict", json_object_new_string(ck_verdict_name(r->verdict)));
		json_object_object_add(jt, "pin", json_object_new_boolean(r->pin));
		json_object_object_add(jt, "other_pcrpkey", json_object_new_boolean(r->other_pcrpkey));
		json_object_object_add(jt, "reason", jstr(r->reason));
		json_object_array_add(toks, jt);
	}
	json_object_object_add(o, "tokens", toks);
	return o;
}

static struct json_object *pcr11_json(struct ck_uki *c, const char *bank)
{
	struct json_object *o = json_object_new_object();
	char enter[129], leave[129];

	if (phases_hex(c, bank, enter, leave) == 0) {
		json_object_object_add(o, "enter-initrd", json_object_new_string(enter));
		json_object_object_add(o, "leave-initrd", json_object_new_string(leave));
	}
	return o;
}

static int report_json(struct ck_uki *c, const struct uki_file *f, const struct vol_verdict *v,
		       size_t n, bool ok)
{
	struct json_object *root = json_object_new_object(), *vols = json_object_new_array(),
			   *banks = json_object_new_object(), *sect = json_object_new_array();
	const char *txt;
	int r;

	for (int s = 0; s < UKI_NSECTIONS; s++)
		if (f->uki.part[s].size)
			json_object_array_add(sect, json_object_new_string(uki_section_name(s)));
	for (size_t b = 0; b < c->nbase; b++)
		json_object_object_add(banks, c->base[b].bank, pcr11_json(c, c->base[b].bank));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(vols, volume_json(&v[i]));
	json_object_object_add(root, "uki", json_object_new_string(f->path));
	json_object_object_add(root, "sections", sect);
	json_object_object_add(root, "pcr11", pcr11_json(c, "sha256"));
	json_object_object_add(root, "pcr11_banks", banks);
	json_object_object_add(root, "volumes", vols);
	json_object_object_add(root, "ok", json_object_new_boolean(ok));
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	r = txt && printf("%s\n", txt) > 0 ? 0 : -EIO;
	json_object_put(root);
	return r;
}

/* Expected volumes that will not open: one line each, and the exit code. */
static int verdict_code(struct env *e, const struct uki_file *f, const struct vol_verdict *v,
			size_t n)
{
	int code = EXIT_OK;
	char who[300];

	for (size_t i = 0; i < n; i++) {
		if (!v[i].step->expected || v[i].verdict == CK_OPENS)
			continue;
		log_err(&e->log, "%s: will not open after booting %s: %s",
			unlock_who(v[i].step, who, sizeof(who)), f->path, v[i].reason);
		code = EXIT_KEY;
	}
	return code;
}

static int judge_all(struct env *e, struct uki_file *f, struct ck_uki *c)
{
	struct runall_env re = { .cfg = &e->cfg, .diags = &e->diags, .log = &e->log,
				 .devices = e->a->devices.n ? &e->a->devices : NULL,
				 .sysfs = e->a->sysfs };
	struct volume_list vols = { 0 };
	struct vol_verdict *v = NULL;
	struct plan p = { 0 };
	struct uki_pcr first;
	size_t errors = 0;
	int code = EXIT_FAIL;

	/* sha256 is always shown: compute it before any token asks for a bank */
	if (ck_pcr11(c, "sha256", "", &first) < 0 || runall_discover(&re, &vols, &errors) < 0 ||
	    plan_build(&vols, &e->cfg, &p) < 0 || !(v = calloc(p.n + 1, sizeof(*v))))
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		v[i].step = &p.steps[i];
		judge_volume(c, &e->log, &v[i]);
	}
	code = verdict_code(e, f, v, p.n);
	if (e->a->json)
		report_json(c, f, v, p.n, code == EXIT_OK);
	else
		report_text(c, v, p.n);
	if (code == EXIT_OK && errors)
		code = EXIT_DEVICE;
out:
	free(v);
	plan_free(&p);
	volume_list_free(&vols);
	return code;
}

int cli_check_uki(struct env *e)
{
	struct uki_file f = { .path = e->a->pos[0] };
	struct tpm_reader tr = { .e = e };
	struct ck_uki c = { 0 };
	char why[300];
	int code;

	/* the signature is the UKI's own .pcrsig, and no key is unsealed */
	if (e->a->tpm2_signature || e->a->pin_file) {
		log_err(&e->log, "check-uki: --%s does not apply: the signature is the UKI's .pcrsig, "
				 "and nothing is unsealed", e->a->pin_file ? "tpm2-pin-file" : "tpm2-signature");
		return EXIT_USAGE;
	}
	cli_load_config(e);
	if (load_uki(&f, why, sizeof(why)) < 0) {
		log_err(&e->log, "%s: %s", f.path, why);
		free_uki(&f);
		return EXIT_USAGE;
	}
	c.uki = &f.uki;
	c.pcrsig = f.pcrsig;
	c.pcrpkey = f.pcrpkey;
	c.read_pcr = read_pcr;
	c.read_ctx = &tr;
	code = judge_all(e, &f, &c);
	tpm2_close(tr.tpm);
	free_uki(&f);
	return cli_finish(e, code);
}
