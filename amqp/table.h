/*
 * Field tables and arrays, kept in their encoded form and read with
 * allocation-free iterators.  Every type RabbitMQ sends and accepts:
 * t b B s u I i l L f d D S A T F V x.
 */
#ifndef AMQP_TABLE_H
#define AMQP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp/bytes.h"

#define AMQP_TABLE_DEPTH_LIMIT 100

enum amqp_field_kind {
	AMQP_FIELD_BOOL = 't',
	AMQP_FIELD_I8 = 'b',
	AMQP_FIELD_U8 = 'B',
	AMQP_FIELD_I16 = 's',
	AMQP_FIELD_U16 = 'u',
	AMQP_FIELD_I32 = 'I',
	AMQP_FIELD_U32 = 'i',
	AMQP_FIELD_I64 = 'l',
	AMQP_FIELD_U64 = 'L',
	AMQP_FIELD_FLOAT = 'f',
	AMQP_FIELD_DOUBLE = 'd',
	AMQP_FIELD_DECIMAL = 'D',
	AMQP_FIELD_LONGSTR = 'S',
	AMQP_FIELD_ARRAY = 'A',
	AMQP_FIELD_TIMESTAMP = 'T',
	AMQP_FIELD_TABLE = 'F',
	AMQP_FIELD_VOID = 'V',
	AMQP_FIELD_BYTES = 'x',
};

struct amqp_field {
	uint8_t kind; /* enum amqp_field_kind */
	union {
		bool     b;
		int64_t  i;   /* b s I l, and B u i as non-negative values */
		uint64_t u;   /* L T */
		float    f;
		double   d;
		struct {
			uint8_t  scale;
			uint32_t value;
		} decimal;
		struct amqp_bytes str;   /* S x: the bytes */
		struct amqp_bytes table; /* F: the encoded table body, without its length */
		struct amqp_bytes array; /* A: the encoded array body, without its length */
	} v;
};

/*
 * Iterate an encoded table body (the bytes after its 4-byte length).
 * amqp_table_next returns 1 with the next key and value, 0 at the end, or
 * -AMQP_SYNTAX_ERROR on malformed input.  key and value borrow from the
 * table's bytes.
 */
struct amqp_table_iter {
	const uint8_t *p, *end;
};
void amqp_table_iter_init(struct amqp_table_iter *it, struct amqp_bytes table);
int  amqp_table_next(struct amqp_table_iter *it, struct amqp_bytes *key,
                     struct amqp_field *value);

struct amqp_array_iter {
	const uint8_t *p, *end;
};
void amqp_array_iter_init(struct amqp_array_iter *it, struct amqp_bytes array);
int  amqp_array_next(struct amqp_array_iter *it, struct amqp_field *value);

/*
 * Check an encoded table body completely, nested tables and arrays included
 * up to AMQP_TABLE_DEPTH_LIMIT.  Returns 0 or -AMQP_SYNTAX_ERROR.  The
 * method decoder runs it on every table argument, so handlers may iterate
 * decoded tables without checking errors again.
 */
int amqp_table_validate(struct amqp_bytes table);

/* Find key in a table: 1 and *value if present, 0 if absent. */
int amqp_table_get(struct amqp_bytes table, const char *key, struct amqp_field *value);

/*
 * Read a field as an integer: true for the integer kinds (b B s u I i l L,
 * and T) with the value in *out; false for anything else.  L above INT64_MAX
 * is false.
 */
bool amqp_field_as_int(const struct amqp_field *value, int64_t *out);

/* Two fields are equal: same kind and same value (tables byte for byte). */
bool amqp_field_eq(const struct amqp_field *a, const struct amqp_field *b);

/*
 * Encoding.  A table is written as: amqp_table_begin (reserves the 4-byte
 * length), entries, amqp_table_end (fills the length in).  Arrays alike.
 */
size_t amqp_table_begin(struct amqp_wbuf *w);
void   amqp_table_end(struct amqp_wbuf *w, size_t mark);
void   amqp_table_put_key(struct amqp_wbuf *w, struct amqp_bytes key);
void   amqp_field_put(struct amqp_wbuf *w, const struct amqp_field *value);
/* convenience entries */
void   amqp_table_put_bool(struct amqp_wbuf *w, const char *key, bool v);
void   amqp_table_put_longstr(struct amqp_wbuf *w, const char *key, struct amqp_bytes v);
void   amqp_table_put_i64(struct amqp_wbuf *w, const char *key, int64_t v); /* 'l' */

#endif
