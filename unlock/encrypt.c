#include "encrypt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "discover.h"
#include "identity.h"
#include "luks.h"
#include "recovery.h"
#include "setkey.h"
#include "token.h"
#include "vset.h"

extern char **environ;

/* Smallest partition worth encrypting: the header plus 16 MiB of data. */
#define MIN_BYTES ((uint64_t)LUKS_NEW_HDR_BYTES + (16u << 20))

static bool matches(const struct fsinfo *f, const char *label)
{
	const char *gpt = identity_gpt_name(label);

	if (f->label && !strcmp(f->label, label))
		return true;
	return f->partname && (!strcmp(f->partname, label) || (gpt && !strcmp(f->partname, gpt)));
}

/* The one partition with that filesystem label or GPT name. */
static int find(const struct encrypt_opts *o, char *dev, size_t size, char *why, size_t whylen)
{
	struct fsinfo *fs = NULL;
	size_t n = 0, hits = 0;
	int r = discover_filesystems(o->devices, &fs, &n);

	if (r < 0) {
		snprintf(why, whylen, "device scan failed: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		if (!matches(&fs[i], o->label))
			continue;
		if (hits++) {
			snprintf(why, whylen, "label %s is ambiguous: %s and %s", o->label, dev,
				 fs[i].devnode);
			r = -ENOTUNIQ;
			break;
		}
		snprintf(dev, size, "%s", fs[i].devnode);
		if ((fs[i].type && !strcmp(fs[i].type, "crypto_LUKS")) || fs[i].luks_magic) {
			snprintf(why, whylen, "%s (%s) is a LUKS volume already%s", dev, o->label,
				 fs[i].type && strcmp(fs[i].type, "crypto_LUKS") ?
				 " (whatever else libblkid sees on it)" : "");
			r = -EEXIST;
		} else if (fs[i].ambiguous) {
			snprintf(why, whylen, "%s (%s) holds several signatures (libblkid cannot tell "
					      "what it is): refusing to format it; wipe it first", dev,
				 o->label);
			r = -EEXIST;
		}
	}
	if (r == 0 && !hits) {
		snprintf(why, whylen, "no partition has the filesystem label or GPT name %s",
			 o->label);
		r = -ENOENT;
	}
	for (size_t i = 0; i < n; i++)
		fsinfo_clear(&fs[i]);
	free(fs);
	return r;
}

/* Not mounted (O_EXCL on a block device), and big enough. */
static int check_device(const char *dev, char *why, size_t whylen)
{
	uint64_t bytes = 0;
	struct stat st;
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC), r = 0;

	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", dev,
			 r == -EBUSY ? "is mounted or in use" : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		r = -errno;
	else if (S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	close(fd);
	if (r < 0) {
		snprintf(why, whylen, "%s: %s", dev, strerror(-r));
		return r;
	}
	if (bytes < MIN_BYTES) {
		snprintf(why, whylen, "%s is too small (%llu MiB; at least %llu MiB)", dev,
			 (unsigned long long)(bytes >> 20), (unsigned long long)(MIN_BYTES >> 20));
		return -ENOSPC;
	}
	return 0;
}

static int run_mkfs(const char *label, const char *dev, char *why, size_t whylen)
{
	char *const argv[] = { (char *)"mkfs.ext4", (char *)"-q", (char *)"-L", (char *)label,
			       (char *)dev, NULL };
	pid_t pid;
	int status, r = posix_spawnp(&pid, "mkfs.ext4", NULL, NULL, argv, environ);

	if (r != 0) {
		snprintf(why, whylen, "cannot run mkfs.ext4: %s", strerror(r));
		return -r;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, whylen, "mkfs.ext4 failed on %s", dev);
		return -EIO;
	}
	return 0;
}

/* ext4 with the original label inside the new volume. The header is read
 * back from the disk, so this also proves what was written opens with the
 * token's passphrase. */
static int make_filesystem(const struct encrypt_opts *o, const char *dev, const char *pass,
			   size_t passlen, const struct logger *log, char *why, size_t whylen)
{
	struct luks *l = NULL;
	char name[128], mapped[160];
	int r = luks_load(dev, log, &l, why, whylen);

	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "kcrypt-format-%s", o->label);
	r = luks_open_passphrase(l, (const unsigned char *)pass, passlen);
	if (r >= 0)
		r = luks_activate(l, name);
	if (r < 0) {
		snprintf(why, whylen, "cannot activate the new volume to make its filesystem: %s",
			 strerror(-r));
		goto out;
	}
	snprintf(mapped, sizeof(mapped), "/dev/mapper/%s", name);
	r = run_mkfs(o->label, mapped, why, whylen);
	if (luks_deactivate(l, name) < 0)
		log_warn(log, "cannot close /dev/mapper/%s", name);
out:
	luks_free(l);
	return r;
}

/* The volume set the new volume joins: this machine's, when a member
 * opens here (the installer encrypts one partition per call), else a new
 * one. tpm->set_id gets its id, for the sealed secret. */
static int set_key(const struct encrypt_opts *o, const struct logger *log, struct secret **key,
		   struct enroll_opts *tpm, char *why, size_t whylen)
{
	int r = setkey_find(o->devices, o->tpm.tpm_device, o->tpm.sig_path, log, key, why, whylen);

	/* --device names the partition to encrypt; the members may be anywhere */
	if (r == -ENOENT && o->devices)
		r = setkey_find(NULL, o->tpm.tpm_device, o->tpm.sig_path, log, key, why, whylen);

	if (r == -ENOENT) {
		*key = vset_key_new();
		if (!*key) {
			snprintf(why, whylen, "no random bytes for the set key");
			return -EIO;
		}
		r = 0;
	}
	if (r == 0 && vset_id(*key, (unsigned char *)tpm->set_id) < 0) {
		snprintf(why, whylen, "cannot derive the set id");
		r = -EIO;
	}
	return r;
}

/* The binding token, made with the new volume key: open the in-memory
 * header with the passphrase to get it. */
static int bind_new(struct luks *l, const char *label, const char *uuid,
		    const struct secret *setkey, const struct secret *pass, char *why,
		    size_t whylen)
{
	struct vset_token t;
	const struct secret *vk;
	char *json, canon[64];
	size_t n;
	int r = luks_open_passphrase(l, pass->buf, pass->len);

	if (r < 0 || !(vk = luks_key(l))) {
		snprintf(why, whylen, "cannot read back the new volume key");
		return r < 0 ? r : -EIO;
	}
	/* the label as unlock-all will know it (identity.c drops "_LUKS") */
	n = strlen(label);
	if (n > 5 && !strcmp(label + n - 5, "_LUKS"))
		n -= 5;
	snprintf(canon, sizeof(canon), "%.*s", (int)n, label);
	r = vset_wrap(setkey, vk->buf, vk->len, uuid, canon, &t);
	json = r == 0 ? vset_token_format(&t) : NULL;
	r = json ? luks_add_token(l, json) : -ENOMEM;
	free(json);
	if (r < 0)
		snprintf(why, whylen, "cannot store the kcrypt-set token: %s", strerror(-r));
	return r < 0 ? r : 0;
}

/* Order: everything that can fail without touching the disk first (find,
 * check, TPM seal and test unseal, the whole header built in memory); then
 * one header write, primary last; then the filesystem. A crash before the
 * write leaves the old data; after it, a volume the token opens. */
int encrypt_volume(const struct encrypt_opts *o, const struct logger *log,
		   struct encrypt_result *res, char *why, size_t whylen)
{
	struct token_tpm2 tok = { 0 };
	struct secret *secret = NULL, *pass = NULL, *setkey = NULL;
	struct enroll_opts tpm = o->tpm;
	unsigned char set_id[VSET_ID_LEN];
	struct luks *l = NULL;
	char *json = NULL, hex[2 * VSET_ID_LEN + 1];
	int r;

	tpm.set_id = set_id;
	memset(res, 0, sizeof(*res));
	res->keyslot = res->token = res->recovery_keyslot = -1;
	r = find(o, res->device, sizeof(res->device), why, whylen);
	if (r == 0)
		r = check_device(res->device, why, whylen);
	if (r == 0 && identity_uuid_v5(o->label, res->uuid) < 0) {
		snprintf(why, whylen, "cannot derive the UUID");
		r = -EIO;
	}
	if (r < 0)
		goto out;
	r = set_key(o, log, &setkey, &tpm, why, whylen);
	if (r < 0)
		goto out;
	tpm.device = res->device;	/* for its log lines */
	r = enroll_seal(&tpm, log, &tok, &secret, why, whylen);
	if (r < 0)
		goto out;
	pass = secret_new(4 * ((secret->len + 2) / 3) + 1);
	if (!pass) {
		r = -ENOMEM;
		goto out;
	}
	pass->len = codec_b64_encode(secret->buf, secret->len, (char *)pass->buf);
	r = luks_format_memory(res->device, o->label, res->uuid, pass->buf, pass->len, log, &l,
			       why, whylen);
	if (r < 0)
		goto out;
	res->keyslot = tok.keyslot = r;
	json = token_format(&tok);
	r = json ? luks_add_token(l, json) : -ENOMEM;
	if (r < 0) {
		snprintf(why, whylen, "cannot store the token: %s", strerror(-r));
		goto out;
	}
	res->token = r;
	if (o->recovery) {
		int slot;

		r = recovery_enroll(l, pass, o->recovery, &slot, why, whylen);
		if (r < 0)
			goto out;
		res->recovery_keyslot = slot;
	}
	r = bind_new(l, o->label, res->uuid, setkey, pass, why, whylen);
	if (r < 0)
		goto out;
	r = luks_commit(l, why, whylen);
	if (r < 0)
		goto out;
	vset_id_hex(set_id, hex);
	log_info(log, "%s: LUKS2 volume %s (UUID %s) with systemd-tpm2 token %d, keyslot %d, "
		      "member of volume set %.8s", res->device, o->label, res->uuid, res->token,
		 res->keyslot, hex);
	if (o->mkfs)
		r = make_filesystem(o, res->device, (const char *)pass->buf, pass->len, log, why,
				    whylen);
out:
	free(json);
	luks_free(l);
	token_free(&tok);
	secret_free(secret);
	secret_free(pass);
	secret_free(setkey);
	return r;
}
