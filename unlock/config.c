#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamltree.h"

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout = CONFIG_DEFAULT_TIMEOUT;
	c->prompt = true;
	c->prompt_timeout = CONFIG_DEFAULT_PROMPT_TIMEOUT;
}

void config_free(struct config *c)
{
	strv_free(&c->encrypted);
	strv_free(&c->extra_labels);
	kv_free(&c->mapper_names);
	kv_free(&c->uuid_labels);
	strv_free(&c->allow_plaintext);
	free(c->tpm_device);
	c->tpm_device = NULL;
}

void diags_add(struct diags *d, const char *path, int line, const char *fmt, ...)
{
	struct diag *v;
	va_list ap;
	char *msg = NULL;

	if (d->n > CONFIG_MAX_DIAGS)
		return;
	va_start(ap, fmt);
	if (d->n == CONFIG_MAX_DIAGS) {
		path = "configuration";
		line = 0;
		if (asprintf(&msg, "more than %d problems: the rest is not reported",
			     CONFIG_MAX_DIAGS) < 0)
			msg = NULL;
	} else if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
	}
	va_end(ap);
	v = realloc(d->v, (d->n + 1) * sizeof(*v));
	if (!v || !msg) {
		free(msg);
		return;
	}
	d->v = v;
	v[d->n].path = strdup(path ? path : "");
	v[d->n].line = line;
	v[d->n].msg = msg;
	d->n++;
}

void diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].path);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

bool config_has_header(const char *buf, size_t len)
{
	static const char *const headers[] = { "#cloud-config", "#kairos-config", "#node-config" };

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		size_t hl = strlen(headers[i]);
		if (len >= hl && memcmp(buf, headers[i], hl) == 0 &&
		    (len == hl || buf[hl] == '\n' || buf[hl] == '\r' || buf[hl] == ' '))
			return true;
	}
	return false;
}

static bool is_null(const struct ynode *n)
{
	return !n || (n->type == Y_SCALAR && n->plain &&
		      (!*n->str || !strcmp(n->str, "~") || !strcmp(n->str, "null")));
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on", "y" };
	static const char *const no[] = { "0", "no", "false", "off", "n" };

	for (size_t i = 0; i < 5; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_seconds(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	/* systemd-style "30s" is accepted as well as a bare number */
	if (end != s && (!strcmp(end, "s") || !*end) && !errno && v >= 0 && v <= 86400) {
		*out = (int)v;
		return 0;
	}
	return -EINVAL;
}

/* Labels are LUKS2/ext4 labels: printable, no blanks, at most 47 bytes. */
static bool valid_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 47)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/* false (with a diag) once the list is full */
static bool add_capped(struct strv *out, const char *label, const char *path, int line,
		       const char *key, struct diags *d)
{
	if (out->n >= CONFIG_MAX_LABELS && !strv_contains(out, label)) {
		diags_add(d, path, line, "%s: more than %d labels: the rest is ignored", key,
			  CONFIG_MAX_LABELS);
		return false;
	}
	strv_add_unique(out, label);
	return true;
}

static void add_label_list(struct strv *out, const struct ynode *seq, const char *path,
			   const char *key, struct diags *d)
{
	if (is_null(seq))
		return;
	if (seq->type != Y_SEQ) {
		diags_add(d, path, seq->line, "%s: expected a list of labels, got %s", key,
			  ytree_kind(seq));
		return;
	}
	for (size_t i = 0; i < seq->n; i++) {
		const struct ynode *it = seq->items[i];
		if (it->type != Y_SCALAR || !valid_label(it->str)) {
			diags_add(d, path, it->line, "%s: item %zu is not a valid label", key, i + 1);
			continue;
		}
		if (!add_capped(out, it->str, path, it->line, key, d))
			break;
	}
}

/* True when n is a mapping to descend into; a present non-mapping is a diag. */
static bool mapping_or_diag(const struct ynode *n, const char *path, const char *key,
			    struct diags *d)
{
	if (is_null(n))
		return false;
	if (n->type != Y_MAP) {
		diags_add(d, path, n->line, "%s: expected a mapping, got %s", key, ytree_kind(n));
		return false;
	}
	return true;
}

static void parse_install(struct config *c, const struct ynode *inst, const char *path,
			  struct diags *d)
{
	const struct ynode *extra;

	if (!mapping_or_diag(inst, path, "install", d))
		return;
	add_label_list(&c->encrypted, ytree_get(inst, "encrypted_partitions"), path,
		       "install.encrypted_partitions", d);

	extra = ytree_get(inst, "extra-partitions");
	if (is_null(extra))
		return;
	if (extra->type != Y_SEQ) {
		diags_add(d, path, extra->line, "install.extra-partitions: expected a list, got %s",
			  ytree_kind(extra));
		return;
	}
	for (size_t i = 0; i < extra->n; i++) {
		const struct ynode *label = ytree_get(extra->items[i], "label");
		if (is_null(label))
			continue;
		if (label->type != Y_SCALAR || !valid_label(label->str)) {
			diags_add(d, path, extra->items[i]->line,
				  "install.extra-partitions: item %zu has no valid label", i + 1);
			continue;
		}
		if (!add_capped(&c->extra_labels, label->str, path, label->line,
				"install.extra-partitions", d))
			break;
	}
}

/* As dm-ioctl takes them (DM_NAME_LEN 128 with the NUL, no '/'). */
static bool valid_dm_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 127 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == '/')
			return false;
	return true;
}

static void parse_string_map(struct kv *out, const struct ynode *map, const char *path,
			     const char *key, bool names, struct diags *d)
{
	if (!mapping_or_diag(map, path, key, d))
		return;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->items[i], *v = map->items[i + 1];
		if (k->type != Y_SCALAR || !v || v->type != Y_SCALAR || !valid_label(k->str) ||
		    !*v->str) {
			diags_add(d, path, k->line, "%s: entry %zu is not 'LABEL: value'", key, i / 2 + 1);
			continue;
		}
		if (names && !valid_dm_name(v->str)) {
			diags_add(d, path, v->line, "%s: '%s' is not a valid device-mapper name", key,
				  v->str);
			continue;
		}
		kv_set(out, k->str, v->str);
	}
}

static const struct ynode *scalar_or_diag(const struct ynode *n, const char *path,
					  const char *key, struct diags *d)
{
	if (is_null(n))
		return NULL;
	if (n->type != Y_SCALAR) {
		diags_add(d, path, n->line, "%s: expected a scalar, got %s", key, ytree_kind(n));
		return NULL;
	}
	return n;
}

/* Settings a cloud-config must not change (config.h says why). */
static const char *const cmdline_only[] = { "allow_plaintext", "volume_set" };

static void parse_kcrypt(struct config *c, const struct ynode *k, const char *path,
			 struct diags *d)
{
	const struct ynode *n;

	if (!mapping_or_diag(k, path, "kcrypt", d))
		return;
	parse_string_map(&c->uuid_labels, ytree_get(k, "uuid_label_mappings"), path,
			 "kcrypt.uuid_label_mappings", false, d);
	parse_string_map(&c->mapper_names, ytree_get(k, "mapper_names"), path,
			 "kcrypt.mapper_names", true, d);

	/* a file on a volume must not pick the device we write TPM commands to */
	n = ytree_get(k, "tpm_device");
	if (n)
		diags_add(d, path, n->line,
			  "kcrypt.tpm_device is ignored here: set it on the kernel command line");
	for (size_t i = 0; i < sizeof(cmdline_only) / sizeof(cmdline_only[0]); i++)
		if ((n = ytree_get(k, cmdline_only[i])))
			diags_add(d, path, n->line,
				  "kcrypt.%s is ignored here: only the kernel command line sets it",
				  cmdline_only[i]);
	n = scalar_or_diag(ytree_get(k, "timeout"), path, "kcrypt.timeout", d);
	if (n && parse_seconds(n->str, &c->timeout) < 0)
		diags_add(d, path, n->line, "kcrypt.timeout: '%s' is not a number of seconds", n->str);
	n = scalar_or_diag(ytree_get(k, "debug"), path, "kcrypt.debug", d);
	if (n && parse_bool(n->str, &c->debug) < 0)
		diags_add(d, path, n->line, "kcrypt.debug: '%s' is not a boolean", n->str);
}

int config_parse_yaml(struct config *c, const char *buf, size_t len, const char *path,
		      struct diags *d)
{
	struct ynode **docs = NULL;
	size_t ndocs = 0;
	char err[160] = "";
	int line = 0, r;

	if (len > CONFIG_MAX_FILE_SIZE) {
		diags_add(d, path, 0, "file is larger than %d bytes, skipped", CONFIG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	if (memchr(buf, '\0', len)) {
		diags_add(d, path, 0, "file contains NUL bytes, skipped");
		return -EINVAL;
	}
	r = ytree_parse(buf, len, &docs, &ndocs, err, sizeof(err), &line);
	if (r < 0) {
		diags_add(d, path, line, "malformed YAML: %s, file skipped", err);
		return r;
	}
	for (size_t i = 0; i < ndocs; i++) {
		const struct ynode *root = docs[i];
		if (is_null(root))
			continue;
		if (root->type != Y_MAP) {
			diags_add(d, path, root->line, "top level is %s, not a mapping, ignored",
				  ytree_kind(root));
			continue;
		}
		parse_install(c, ytree_get(root, "install"), path, d);
		parse_kcrypt(c, ytree_get(root, "kcrypt"), path, d);
	}
	ytree_free_docs(docs, ndocs);
	return 0;
}

/* Split "a,b, c" into labels. */
static void add_label_words(struct strv *out, const char *val, const char *key, struct diags *d)
{
	char *copy = strdup(val), *save = NULL;

	if (!copy)
		return;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		while (*w == ' ')
			w++;
		if (valid_label(w)) {
			if (!add_capped(out, w, "kernel command line", 0, key, d))
				break;
		} else
			diags_add(d, "kernel command line", 0, "%s: '%s' is not a valid label", key, w);
	}
	free(copy);
}

static void parse_allow_plaintext(struct config *c, const char *val, struct diags *d)
{
	bool all = false;

	if (val && parse_bool(val, &all) == 0) {
		c->allow_plaintext_all = all;
		return;
	}
	if (val && (!strcmp(val, "all") || !*val)) {
		c->allow_plaintext_all = !strcmp(val, "all");
		return;
	}
	if (val)
		add_label_words(&c->allow_plaintext, val, "kcrypt.allow_plaintext", d);
}

/* One kcrypt.KEY[=VAL] word, KEY already stripped of its prefix. */
static void cmdline_key(struct config *c, const char *key, const char *val, struct diags *d)
{
	static const char src[] = "kernel command line";
	const char *sub;

	if (!strcmp(key, "debug")) {
		if (!val)
			c->debug = true;
		else if (parse_bool(val, &c->debug) < 0)
			diags_add(d, src, 0, "kcrypt.debug: '%s' is not a boolean", val);
	} else if (!strcmp(key, "timeout")) {
		if (!val || parse_seconds(val, &c->timeout) < 0)
			diags_add(d, src, 0, "kcrypt.timeout: '%s' is not a number of seconds",
				  val ? val : "");
	} else if (!strcmp(key, "prompt")) {
		if (parse_bool(val ? val : "1", &c->prompt) < 0)
			diags_add(d, src, 0, "kcrypt.prompt: '%s' is not a boolean", val);
	} else if (!strcmp(key, "prompt_timeout")) {
		if (!val || parse_seconds(val, &c->prompt_timeout) < 0)
			diags_add(d, src, 0, "kcrypt.prompt_timeout: '%s' is not a number of seconds",
				  val ? val : "");
	} else if (!strcmp(key, "tpm_device") || !strcmp(key, "tpm-device")) {
		if (val && *val) {
			free(c->tpm_device);
			c->tpm_device = strdup(val);
		}
	} else if (!strcmp(key, "allow_plaintext")) {
		parse_allow_plaintext(c, val ? val : "1", d);
	} else if (!strcmp(key, "volume_set")) {
		if (val && (!strcmp(val, "required") || !strcmp(val, "auto")))
			c->set_required = !strcmp(val, "required");
		else
			diags_add(d, src, 0, "kcrypt.volume_set: '%s' is not auto or required",
				  val ? val : "");
	} else if (!strcmp(key, "encrypted_partitions")) {
		if (val)
			add_label_words(&c->encrypted, val, "kcrypt.encrypted_partitions", d);
	} else if ((sub = strchr(key, '.')) && sub[1] && val && *val) {
		size_t plen = (size_t)(sub - key);
		if (plen == strlen("mapper_names") && !strncmp(key, "mapper_names", plen)) {
			if (valid_dm_name(val))
				kv_set(&c->mapper_names, sub + 1, val);
			else
				diags_add(d, src, 0, "kcrypt.mapper_names.%s: '%s' is not a valid "
						     "device-mapper name", sub + 1, val);
		}
		else if (plen == strlen("uuid_label_mappings") &&
			 !strncmp(key, "uuid_label_mappings", plen))
			kv_set(&c->uuid_labels, sub + 1, val);
	}
	/* anything else (kcrypt.challenger.*, kcrypt.nv_index ...) belongs to
	 * other Kairos components: ignored on purpose */
}

/* Next word of a command line; dracut/systemd allow key="va lue". */
static const char *next_word(const char *p, char *word, size_t size)
{
	size_t n = 0;
	bool quoted = false;

	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	for (; *p && (quoted || !isspace((unsigned char)*p)); p++) {
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (n + 1 < size)
			word[n++] = *p;
	}
	word[n] = '\0';
	return p;
}

void config_parse_cmdline(struct config *c, const char *cmdline, struct diags *d)
{
	char word[4096];
	const char *p = cmdline;

	while ((p = next_word(p, word, sizeof(word)))) {
		char *eq = strchr(word, '=');
		const char *key = word, *val = NULL;

		if (eq) {
			*eq = '\0';
			val = eq + 1;
		}
		if (!strcmp(key, "rd.kcrypt")) {
			bool on = true;
			if (val && parse_bool(val, &on) < 0)
				diags_add(d, "kernel command line", 0, "rd.kcrypt: '%s' is not a boolean",
					  val);
			else
				c->disabled = !on;
		} else if (!strncmp(key, "rd.kcrypt.", 10)) {
			cmdline_key(c, key + 10, val, d);
		} else if (!strncmp(key, "kcrypt.", 7)) {
			cmdline_key(c, key + 7, val, d);
		}
	}
}
