#include "discover.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void volume_clear(struct volume *v)
{
	free(v->devnode);
	free(v->kname);
	free(v->uuid);
	free(v->label);
	free(v->partname);
	free(v->active_name);
	memset(v, 0, sizeof(*v));
}

void volume_list_free(struct volume_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		volume_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static char *probe_value(blkid_probe pr, const char *name)
{
	const char *val = NULL;

	if (blkid_probe_lookup_value(pr, name, &val, NULL) < 0 || !val || !*val)
		return NULL;
	return strdup(val);
}

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* dm-crypt sets the dm uuid to CRYPT-LUKS<v>-<uuid without dashes>-<name> */
static void find_active(struct volume *v, const char *sysfs)
{
	char want[80], path[512], line[256];
	size_t wl = 0;
	struct dirent *e;
	DIR *d;

	if (!v->uuid)
		return;
	wl = (size_t)snprintf(want, sizeof(want), "CRYPT-LUKS%d-", v->luks_version);
	for (const char *p = v->uuid; *p && wl + 1 < sizeof(want); p++)
		if (*p != '-')
			want[wl++] = *p;
	want[wl++] = '-';
	want[wl] = '\0';

	snprintf(path, sizeof(path), "%s/block", sysfs);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "dm-", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/block/%s/dm/uuid", sysfs, e->d_name);
		if (read_line(path, line, sizeof(line)) < 0 || strncasecmp(line, want, wl) != 0)
			continue;
		v->active = true;
		snprintf(path, sizeof(path), "%s/block/%s/dm/name", sysfs, e->d_name);
		if (read_line(path, line, sizeof(line)) == 0)
			v->active_name = strdup(line);
		break;
	}
	closedir(d);
}

int discover_probe(const char *path, const char *sysfs, struct volume *v)
{
	blkid_probe pr = NULL;
	char *type = NULL, *version = NULL, *tmp;
	struct stat st;
	int r;

	memset(v, 0, sizeof(*v));
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
						      BLKID_SUBLKS_TYPE | BLKID_SUBLKS_VERSION);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);

	r = blkid_do_safeprobe(pr);
	if (r == -2) {
		r = -EUCLEAN;
		goto out;
	}
	if (r < 0) {
		r = -EIO;
		goto out;
	}
	type = probe_value(pr, "TYPE");
	if (r == 1 || !type || strcmp(type, "crypto_LUKS") != 0) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	version = probe_value(pr, "VERSION");
	v->luks_version = version ? atoi(version) : 0;
	v->uuid = probe_value(pr, "UUID");
	v->label = probe_value(pr, "LABEL");
	v->partname = probe_value(pr, "PART_ENTRY_NAME");
	v->devnode = strdup(path);
	tmp = strdup(path);
	v->kname = tmp ? strdup(basename(tmp)) : NULL;
	free(tmp);
	if (!v->devnode || !v->kname) {
		r = -ENOMEM;
		goto out;
	}
	find_active(v, sysfs);
	r = 0;
out:
	free(type);
	free(version);
	blkid_free_probe(pr);
	if (r < 0)
		volume_clear(v);
	return r;
}

static int list_push(struct volume_list *l, const struct volume *v)
{
	struct volume *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->v[l->n++] = *v;
	return 0;
}

static int probe_into(const char *path, const char *sysfs, bool explicit,
		      const struct logger *log, struct volume_list *out)
{
	struct volume v;
	int r = discover_probe(path, sysfs, &v);

	if (r == 0) {
		r = list_push(out, &v);
		if (r < 0)
			volume_clear(&v);
		return r;
	}
	if (r == -EMEDIUMTYPE)
		log_debug(log, "%s: not a LUKS volume, skipped", path);
	else if (r == -EUCLEAN)
		log_warn(log, "%s: several signatures found (LUKS and another), skipped", path);
	else if (explicit)
		log_err(log, "%s: %s", path, r == -ENOENT ? "no such device" :
					      r == -EISDIR ? "is a directory, not a device" : strerror(-r));
	else
		log_debug(log, "%s: cannot probe: %s", path, strerror(-r));
	/* an explicit path that could not be probed at all is an error */
	return r == -EMEDIUMTYPE || r == -EUCLEAN || !explicit ? 0 : 1;
}

int discover_scan(const struct discover_opts *o, const struct logger *log,
		  struct volume_list *out)
{
	blkid_cache cache = NULL;
	blkid_dev_iterate it;
	blkid_dev dev;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (o->devices) {
		for (size_t i = 0; i < o->devices->n && r == 0; i++) {
			r = probe_into(o->devices->v[i], o->sysfs, true, log, out);
			if (r > 0 && o->errors)
				(*o->errors)++;
			r = r > 0 ? 0 : r;
		}
		return r;
	}
	/* "/dev/null" as cache file: scan fresh, never write blkid.tab */
	if (blkid_get_cache(&cache, "/dev/null") < 0)
		return -ENOMEM;
	blkid_probe_all(cache);
	it = blkid_dev_iterate_begin(cache);
	while (r == 0 && blkid_dev_next(it, &dev) == 0)
		if ((r = probe_into(blkid_dev_devname(dev), o->sysfs, false, log, out)) > 0)
			r = 0;
	blkid_dev_iterate_end(it);
	blkid_put_cache(cache);
	return r;
}

void fsinfo_clear(struct fsinfo *f)
{
	free(f->devnode);
	free(f->type);
	free(f->label);
	free(f->partname);
	memset(f, 0, sizeof(*f));
}

/* LUKS' own magic, primary ("LUKS\xba\xbe" at 0) or a LUKS2 secondary
 * ("SKUL\xba\xbe" at one of the offsets LUKS2 allows): libblkid may name
 * another type when a stray signature wins, and encrypt must not format
 * over a volume that still opens. */
static bool has_luks_magic(const char *path)
{
	static const unsigned char primary[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe },
				   secondary[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };
	unsigned char buf[6];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool found = false;

	if (fd < 0)
		return false;
	if (pread(fd, buf, 6, 0) == 6 && !memcmp(buf, primary, 6))
		found = true;
	for (off_t off = 0x4000; !found && off <= 0x400000; off *= 2)
		found = pread(fd, buf, 6, off) == 6 && !memcmp(buf, secondary, 6);
	close(fd);
	return found;
}

static int probe_fs(const char *path, struct fsinfo *f)
{
	blkid_probe pr;
	int r;

	memset(f, 0, sizeof(*f));
	f->devnode = strdup(path);
	if (!f->devnode)
		return -ENOMEM;
	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return 0;	/* unreadable: holds nothing we can match */
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	r = blkid_do_safeprobe(pr);
	if (r == 0) {
		f->type = probe_value(pr, "TYPE");
		f->label = probe_value(pr, "LABEL");
	}
	f->ambiguous = r == -2;
	f->luks_magic = has_luks_magic(path);
	f->partname = probe_value(pr, "PART_ENTRY_NAME");
	blkid_free_probe(pr);
	return 0;
}

int discover_filesystems(const struct strv *devices, struct fsinfo **out, size_t *n)
{
	struct strv paths = { 0 };
	blkid_cache cache = NULL;
	struct fsinfo *v = NULL;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (!devices) {
		blkid_dev_iterate it;
		blkid_dev dev;

		if (blkid_get_cache(&cache, "/dev/null") < 0)
			return -ENOMEM;
		blkid_probe_all(cache);
		it = blkid_dev_iterate_begin(cache);
		while (blkid_dev_next(it, &dev) == 0)
			if (strv_add(&paths, blkid_dev_devname(dev)) < 0)
				r = -ENOMEM;
		blkid_dev_iterate_end(it);
		blkid_put_cache(cache);
		devices = &paths;
	}
	if (r == 0 && devices->n) {
		v = calloc(devices->n, sizeof(*v));
		if (!v)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < devices->n; i++) {
		r = probe_fs(devices->v[i], &v[i]);
		if (r == 0)
			(*n)++;
	}
	if (r < 0) {
		for (size_t i = 0; v && i < devices->n; i++)
			fsinfo_clear(&v[i]);
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	strv_free(&paths);
	return r;
}
