/* Small owned string containers shared by config, plan and report. */
#ifndef KCRYPT_STRV_H
#define KCRYPT_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct strv {
	char **v;
	size_t n;
};

/* key -> value pairs; a later set of the same key replaces the value */
struct kv {
	char **key;
	char **val;
	size_t n;
};

int strv_add(struct strv *s, const char *str);		/* 0 or -ENOMEM */
int strv_add_unique(struct strv *s, const char *str);	/* skips duplicates */
bool strv_contains(const struct strv *s, const char *str);
void strv_free(struct strv *s);

int kv_set(struct kv *m, const char *key, const char *val);
const char *kv_get(const struct kv *m, const char *key);
void kv_free(struct kv *m);

#endif
