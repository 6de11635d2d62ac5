#include "yamltree.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
	struct ynode *stack[YAML_MAX_DEPTH + 1];
	size_t depth;
	size_t nodes;
	struct ynode *root;
};

static void node_free(struct ynode *n)
{
	/* iterative: a deep tree must not overflow the stack when freed */
	struct ynode **todo = NULL;
	size_t ntodo = 0, cap = 0;

	if (!n)
		return;
	for (;;) {
		for (size_t i = 0; i < n->n; i++) {
			if (!n->items[i])
				continue;
			if (ntodo == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct ynode **t = realloc(todo, ncap * sizeof(*t));
				if (!t)
					abort();
				todo = t;
				cap = ncap;
			}
			todo[ntodo++] = n->items[i];
		}
		free(n->items);
		free(n->str);
		free(n);
		if (!ntodo)
			break;
		n = todo[--ntodo];
	}
	free(todo);
}

void ytree_free_docs(struct ynode **docs, size_t ndocs)
{
	for (size_t i = 0; i < ndocs; i++)
		node_free(docs[i]);
	free(docs);
}

static int attach(struct builder *b, struct ynode *n)
{
	struct ynode *parent;
	struct ynode **items;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	parent = b->stack[b->depth - 1];
	items = realloc(parent->items, (parent->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	parent->items = items;
	parent->items[parent->n++] = n;
	return 0;
}

static struct ynode *node_new(struct builder *b, enum ynode_type t, const yaml_event_t *ev)
{
	struct ynode *n;

	if (++b->nodes > YAML_MAX_NODES)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->type = t;
	n->line = (int)ev->start_mark.line + 1;
	return n;
}

/* One event into the tree. Returns 1 at document end, 0 to go on, <0 error. */
static int feed(struct builder *b, const yaml_event_t *ev, char *err, size_t errlen)
{
	struct ynode *n = NULL;
	enum ynode_type t;

	switch (ev->type) {
	case YAML_DOCUMENT_END_EVENT:
		return 1;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth)
			b->depth--;
		return 0;
	case YAML_SCALAR_EVENT:
		t = Y_SCALAR;
		break;
	case YAML_ALIAS_EVENT:
		t = Y_ALIAS;
		break;
	case YAML_SEQUENCE_START_EVENT:
		t = Y_SEQ;
		break;
	case YAML_MAPPING_START_EVENT:
		t = Y_MAP;
		break;
	default:
		return 0;
	}
	n = node_new(b, t, ev);
	if (!n) {
		snprintf(err, errlen, "too many YAML nodes (limit %d)", YAML_MAX_NODES);
		return -E2BIG;
	}
	if (t == Y_SCALAR) {
		n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->plain = ev->data.scalar.plain_implicit;
		if (!n->str) {
			node_free(n);
			return -ENOMEM;
		}
	}
	if (attach(b, n) < 0) {
		node_free(n);
		return -ENOMEM;
	}
	if (t == Y_SEQ || t == Y_MAP) {
		if (b->depth == YAML_MAX_DEPTH) {
			snprintf(err, errlen, "YAML nested deeper than %d levels", YAML_MAX_DEPTH);
			return -E2BIG;
		}
		b->stack[b->depth++] = n;
	}
	return 0;
}

static int push_doc(struct ynode ***docs, size_t *ndocs, struct ynode *root)
{
	struct ynode **d = realloc(*docs, (*ndocs + 1) * sizeof(*d));

	if (!d)
		return -ENOMEM;
	*docs = d;
	d[(*ndocs)++] = root;
	return 0;
}

int ytree_parse(const char *buf, size_t len, struct ynode ***docs, size_t *ndocs,
		char *err, size_t errlen, int *errline)
{
	yaml_parser_t parser;
	struct builder b;
	int r = 0;
	bool done = false;

	*docs = NULL;
	*ndocs = 0;
	*errline = 0;
	memset(&b, 0, sizeof(b));
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	while (!done && r == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "%s%s%s", parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			*errline = (int)parser.problem_mark.line + 1;
			r = -EINVAL;
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT)
			done = true;
		r = feed(&b, &ev, err, errlen);
		if (r < 0)
			*errline = (int)ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		if (r == 1) {
			r = push_doc(docs, ndocs, b.root);
			if (r < 0)
				node_free(b.root);
			b.root = NULL;
			b.depth = 0;
		}
	}
	yaml_parser_delete(&parser);
	if (r < 0) {
		node_free(b.root);
		ytree_free_docs(*docs, *ndocs);
		*docs = NULL;
		*ndocs = 0;
	}
	return r;
}

const struct ynode *ytree_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != Y_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->items[i];
		if (k && k->type == Y_SCALAR && strcmp(k->str, key) == 0)
			return map->items[i + 1];
	}
	return NULL;
}

const char *ytree_kind(const struct ynode *n)
{
	if (!n)
		return "empty";
	switch (n->type) {
	case Y_SCALAR:
		return "a scalar";
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	default:
		return "an alias";
	}
}
