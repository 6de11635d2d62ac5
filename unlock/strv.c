#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strv_add(struct strv *s, const char *str)
{
	char **v = realloc(s->v, (s->n + 1) * sizeof(*v));
	char *dup;

	if (!v)
		return -ENOMEM;
	s->v = v;
	dup = strdup(str);
	if (!dup)
		return -ENOMEM;
	s->v[s->n++] = dup;
	return 0;
}

int strv_add_unique(struct strv *s, const char *str)
{
	return strv_contains(s, str) ? 0 : strv_add(s, str);
}

bool strv_contains(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int kv_set(struct kv *m, const char *key, const char *val)
{
	char *nv = strdup(val), *nk, **k, **v;

	if (!nv)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->key[i], key) == 0) {
			free(m->val[i]);
			m->val[i] = nv;
			return 0;
		}
	}
	nk = strdup(key);
	k = realloc(m->key, (m->n + 1) * sizeof(*k));
	if (k)
		m->key = k;
	v = realloc(m->val, (m->n + 1) * sizeof(*v));
	if (v)
		m->val = v;
	if (!nk || !k || !v) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	m->key[m->n] = nk;
	m->val[m->n] = nv;
	m->n++;
	return 0;
}

const char *kv_get(const struct kv *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->key[i], key) == 0)
			return m->val[i];
	return NULL;
}

void kv_free(struct kv *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->val[i]);
	}
	free(m->key);
	free(m->val);
	m->key = m->val = NULL;
	m->n = 0;
}
