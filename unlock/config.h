/* Configuration: Kairos cloud-config YAML + kernel command line -> one
 * struct config. Parsing is pure (bytes in, struct out); problems become
 * diagnostics naming file and line, never a reason to stop unlocking. */
#ifndef KCRYPT_CONFIG_H
#define KCRYPT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "strv.h"

/* A config file larger than this is refused unread (Kairos configs are KBs) */
#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_DEFAULT_TIMEOUT 30
#define CONFIG_DEFAULT_PROMPT_TIMEOUT 90
/* Kairos machines list a handful of labels; a file listing thousands is
 * hostile, and each label costs a scan of the list */
#define CONFIG_MAX_LABELS 256
#define CONFIG_MAX_DIAGS 64

struct config {
	struct strv encrypted;	  /* install.encrypted_partitions: labels */
	struct strv extra_labels; /* install.extra-partitions[].label */
	struct kv mapper_names;	  /* kcrypt.mapper_names: label -> dm name */
	struct kv uuid_labels;	  /* kcrypt.uuid_label_mappings: label -> uuid */
	char *tpm_device;	  /* kcrypt.tpm_device (kernel command line only) */
	/* The trust settings come from the kernel command line (on a measured
	 * boot: the signed one) or the built-in default, never from a file on a
	 * volume an attacker can rewrite. */
	struct strv allow_plaintext; /* kcrypt.allow_plaintext: labels that may be plaintext */
	bool allow_plaintext_all;    /* kcrypt.allow_plaintext=1 */
	bool set_required;	     /* kcrypt.volume_set=required */
	int timeout;		  /* seconds; kcrypt.timeout / rd.kcrypt.timeout */
	bool prompt;		  /* kcrypt.prompt: ask a person when the TPM cannot */
	int prompt_timeout;	  /* seconds; kcrypt.prompt_timeout */
	bool debug;		  /* kcrypt.debug / rd.kcrypt.debug */
	bool disabled;		  /* rd.kcrypt=0 */
};

struct diag {
	char *path;	/* file, or "kernel command line" */
	int line;	/* 0 when no line applies */
	char *msg;
};

struct diags {
	struct diag *v;
	size_t n;
};

void config_init(struct config *c);
void config_free(struct config *c);

/* Merge one YAML file's content into c. Returns 0 when the file was used,
 * <0 when it was skipped as a whole (diag added). Keys of the wrong type are
 * ignored one by one with a diag. */
int config_parse_yaml(struct config *c, const char *buf, size_t len, const char *path,
		      struct diags *d);

/* Merge kcrypt.* / rd.kcrypt.* words of a kernel command line into c. */
void config_parse_cmdline(struct config *c, const char *cmdline, struct diags *d);

/* True when buf starts with a header Kairos accepts (#cloud-config, ...) */
bool config_has_header(const char *buf, size_t len);

/* I/O: read every *.yaml / *.yml cloud-config file of each directory, in
 * name order. A missing directory is silently fine; an unreadable one is a
 * diag. */
void config_load_dirs(struct config *c, const struct strv *dirs, struct diags *d);
/* I/O: read a command line file (normally /proc/cmdline); a missing file is fine */
void config_load_cmdline_file(struct config *c, const char *path, struct diags *d);

void diags_add(struct diags *d, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void diags_free(struct diags *d);

#endif
