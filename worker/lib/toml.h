/*
 * A strict parser for the part of TOML 1.0 a configuration file needs:
 * tables, dotted and quoted keys, strings of all four kinds, integers,
 * booleans, arrays and inline tables. Floats, dates and arrays of tables
 * are refused with a message saying so. The result is a tree of values.
 */
#ifndef IB_TOML_H
#define IB_TOML_H

#include <stddef.h>
#include <stdint.h>

#define TOML_MAX_INPUT	(1024 * 1024)	/* bytes of a document */
#define TOML_MAX_DEPTH	32		/* nested arrays/inline tables, key parts */
#define TOML_MAX_ITEMS	4096		/* members of one table or array */

enum toml_kind { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INT, TOML_BOOL };

struct toml_value {
	enum toml_kind	 kind;
	int		 line;		/* where it is defined: the key (or */
	int		 col;		/* the header), or the array element */
	char		*key;		/* name in the parent; NULL in arrays */
	char		*str;		/* TOML_STRING, valid UTF-8, no NUL */
	int64_t		 num;		/* TOML_INT; TOML_BOOL is 0 or 1 */
	struct toml_value **items;	/* table members in file order, or */
	size_t		 nitems;	/* array elements */
	int		 how;		/* private: how a table came to be */
};

struct toml_error {
	int	 line;		/* 1-based; 0 when the error has no place */
	int	 col;		/* 1-based, in characters */
	char	 reason[200];	/* what is wrong */
	char	 msg[256];	/* "line L, column C: reason" */
};

/*
 * Parses len bytes of data (need not be NUL-terminated). Returns the root
 * table, which the caller frees with toml_free(), or NULL after filling
 * err (which may be NULL).
 */
struct toml_value	*toml_parse(const char *data, size_t len,
			    struct toml_error *err);
void			 toml_free(struct toml_value *);

/* The member key of a table, or NULL (also when t is not a table). */
const struct toml_value	*toml_get(const struct toml_value *t, const char *key);
/* "a table", "a string", ... for messages. */
const char		*toml_kind_name(enum toml_kind);

#endif
