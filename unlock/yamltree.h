/* A bounded YAML reader: libyaml events -> a small tree. Iterative (no
 * recursion), with limits on depth and node count, aliases left unexpanded,
 * so a hostile file costs at most linear time and memory. */
#ifndef KCRYPT_YAMLTREE_H
#define KCRYPT_YAMLTREE_H

#include <stddef.h>

enum ynode_type { Y_SCALAR, Y_MAP, Y_SEQ, Y_ALIAS };

struct ynode {
	enum ynode_type type;
	int line;		/* 1-based line of the node's start */
	char *str;		/* Y_SCALAR: the value */
	int plain;		/* Y_SCALAR: unquoted (so "null"/"~" mean null) */
	struct ynode **items;	/* Y_MAP: key, value, key, value ...; Y_SEQ: items */
	size_t n;
};

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000

/* Parse every document of buf. On success *docs holds ndocs roots (an empty
 * document gives a NULL root). On failure returns -EINVAL (syntax) or
 * -E2BIG (limits) and fills err/errline. */
int ytree_parse(const char *buf, size_t len, struct ynode ***docs, size_t *ndocs,
		char *err, size_t errlen, int *errline);
void ytree_free_docs(struct ynode **docs, size_t ndocs);

/* Mapping lookup by scalar key; NULL when absent or not a mapping. */
const struct ynode *ytree_get(const struct ynode *map, const char *key);
/* The node's type as a word for messages: "a string", "a list", ... */
const char *ytree_kind(const struct ynode *n);

#endif
