/*
 * Field tables and arrays in their encoded form: iterators, a validator
 * that walks nested values up to a depth limit, and writers.  The value
 * types and their tags are RabbitMQ's (rabbit_binary_parser).
 */
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"

/* Bytes left between p and end; p <= end always holds. */
static size_t
left(const uint8_t *p, const uint8_t *end)
{
	return (size_t)(end - p);
}

static void
bytes_iter_init(const uint8_t **p, const uint8_t **end, struct amqp_bytes b)
{
	/* no arithmetic on a NULL pointer, not even + 0 */
	*p = b.ptr;
	*end = b.len != 0 ? b.ptr + b.len : b.ptr;
}

/*
 * Read one tagged value at *pp.  Nested tables and arrays are only
 * delimited here (their length must fit in what is left); validate walks
 * into them.  Returns 0 or -AMQP_SYNTAX_ERROR, and advances *pp on success.
 */
static int
field_read(const uint8_t **pp, const uint8_t *end, struct amqp_field *v)
{
	const uint8_t *p = *pp;
	size_t         n = left(p, end);
	uint32_t       u32;
	uint64_t       u64;
	size_t         need;

	if (n < 1)
		return -AMQP_SYNTAX_ERROR;
	v->kind = *p++;
	n--;

	switch (v->kind) {
	case AMQP_FIELD_BOOL:
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
		need = 1;
		break;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
		need = 2;
		break;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_FLOAT:
		need = 4;
		break;
	case AMQP_FIELD_I64:
	case AMQP_FIELD_U64:
	case AMQP_FIELD_DOUBLE:
	case AMQP_FIELD_TIMESTAMP:
		need = 8;
		break;
	case AMQP_FIELD_DECIMAL:
		need = 5;
		break;
	case AMQP_FIELD_VOID:
		need = 0;
		break;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
	case AMQP_FIELD_TABLE:
	case AMQP_FIELD_ARRAY:
		if (n < 4)
			return -AMQP_SYNTAX_ERROR;
		u32 = amqp_get_u32(p);
		if (u32 > n - 4)
			return -AMQP_SYNTAX_ERROR;
		need = 4 + (size_t)u32;
		break;
	default:
		return -AMQP_SYNTAX_ERROR;
	}
	if (need > n)
		return -AMQP_SYNTAX_ERROR;

	switch (v->kind) {
	case AMQP_FIELD_BOOL:
		v->v.b = p[0] != 0;
		break;
	case AMQP_FIELD_I8:
		v->v.i = (int8_t)p[0];
		break;
	case AMQP_FIELD_U8:
		v->v.i = p[0];
		break;
	case AMQP_FIELD_I16:
		v->v.i = (int16_t)amqp_get_u16(p);
		break;
	case AMQP_FIELD_U16:
		v->v.i = amqp_get_u16(p);
		break;
	case AMQP_FIELD_I32:
		v->v.i = (int32_t)amqp_get_u32(p);
		break;
	case AMQP_FIELD_U32:
		v->v.i = amqp_get_u32(p);
		break;
	case AMQP_FIELD_I64:
		v->v.i = (int64_t)amqp_get_u64(p);
		break;
	case AMQP_FIELD_U64:
	case AMQP_FIELD_TIMESTAMP:
		v->v.u = amqp_get_u64(p);
		break;
	case AMQP_FIELD_FLOAT:
		u32 = amqp_get_u32(p);
		memcpy(&v->v.f, &u32, sizeof(v->v.f));
		break;
	case AMQP_FIELD_DOUBLE:
		u64 = amqp_get_u64(p);
		memcpy(&v->v.d, &u64, sizeof(v->v.d));
		break;
	case AMQP_FIELD_DECIMAL:
		v->v.decimal.scale = p[0];
		v->v.decimal.value = amqp_get_u32(p + 1);
		break;
	case AMQP_FIELD_VOID:
		break;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		v->v.str.len = need - 4;
		v->v.str.ptr = p + 4;
		break;
	case AMQP_FIELD_TABLE:
		v->v.table.len = need - 4;
		v->v.table.ptr = p + 4;
		break;
	case AMQP_FIELD_ARRAY:
		v->v.array.len = need - 4;
		v->v.array.ptr = p + 4;
		break;
	}
	*pp = p + need;
	return 0;
}

void
amqp_table_iter_init(struct amqp_table_iter *it, struct amqp_bytes table)
{
	bytes_iter_init(&it->p, &it->end, table);
}

int
amqp_table_next(struct amqp_table_iter *it, struct amqp_bytes *key,
                struct amqp_field *value)
{
	const uint8_t *p = it->p;
	size_t         klen;
	int            rc;

	if (p == it->end)
		return 0;
	klen = p[0];
	if (klen > left(p, it->end) - 1)
		return -AMQP_SYNTAX_ERROR;
	key->len = klen;
	key->ptr = p + 1;
	p += 1 + klen;
	if ((rc = field_read(&p, it->end, value)) != 0)
		return rc;
	it->p = p;
	return 1;
}

void
amqp_array_iter_init(struct amqp_array_iter *it, struct amqp_bytes array)
{
	bytes_iter_init(&it->p, &it->end, array);
}

int
amqp_array_next(struct amqp_array_iter *it, struct amqp_field *value)
{
	const uint8_t *p = it->p;
	int            rc;

	if (p == it->end)
		return 0;
	if ((rc = field_read(&p, it->end, value)) != 0)
		return rc;
	it->p = p;
	return 1;
}

static int validate_table(struct amqp_bytes table, int depth);
static int validate_array(struct amqp_bytes array, int depth);

/* A value nested depth levels below the outermost table. */
static int
validate_value(const struct amqp_field *v, int depth)
{
	if (v->kind != AMQP_FIELD_TABLE && v->kind != AMQP_FIELD_ARRAY)
		return 0;
	if (depth + 1 > AMQP_TABLE_DEPTH_LIMIT)
		return -AMQP_SYNTAX_ERROR;
	if (v->kind == AMQP_FIELD_TABLE)
		return validate_table(v->v.table, depth + 1);
	return validate_array(v->v.array, depth + 1);
}

static int
validate_table(struct amqp_bytes table, int depth)
{
	struct amqp_table_iter it;
	struct amqp_bytes      key;
	struct amqp_field      v;
	int                    rc;

	amqp_table_iter_init(&it, table);
	while ((rc = amqp_table_next(&it, &key, &v)) == 1)
		if ((rc = validate_value(&v, depth)) != 0)
			return rc;
	return rc;
}

static int
validate_array(struct amqp_bytes array, int depth)
{
	struct amqp_array_iter it;
	struct amqp_field      v;
	int                    rc;

	amqp_array_iter_init(&it, array);
	while ((rc = amqp_array_next(&it, &v)) == 1)
		if ((rc = validate_value(&v, depth)) != 0)
			return rc;
	return rc;
}

int
amqp_table_validate(struct amqp_bytes table)
{
	return validate_table(table, 0);
}

int
amqp_table_get(struct amqp_bytes table, const char *key,
               struct amqp_field *value)
{
	struct amqp_table_iter it;
	struct amqp_bytes      k;
	struct amqp_field      v;

	amqp_table_iter_init(&it, table);
	while (amqp_table_next(&it, &k, &v) == 1) {
		if (amqp_bytes_eq_cstr(k, key)) {
			*value = v;
			return 1;
		}
	}
	return 0;
}

bool
amqp_field_as_int(const struct amqp_field *value, int64_t *out)
{
	switch (value->kind) {
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_I64:
		*out = value->v.i;
		return true;
	case AMQP_FIELD_U64:
	case AMQP_FIELD_TIMESTAMP:
		if (value->v.u > INT64_MAX)
			return false;
		*out = (int64_t)value->v.u;
		return true;
	default:
		return false;
	}
}

bool
amqp_field_eq(const struct amqp_field *a, const struct amqp_field *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case AMQP_FIELD_BOOL:
		return a->v.b == b->v.b;
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_I64:
		return a->v.i == b->v.i;
	case AMQP_FIELD_U64:
	case AMQP_FIELD_TIMESTAMP:
		return a->v.u == b->v.u;
	case AMQP_FIELD_FLOAT:
		return a->v.f == b->v.f;
	case AMQP_FIELD_DOUBLE:
		return a->v.d == b->v.d;
	case AMQP_FIELD_DECIMAL:
		return a->v.decimal.scale == b->v.decimal.scale &&
		    a->v.decimal.value == b->v.decimal.value;
	case AMQP_FIELD_VOID:
		return true;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		return amqp_bytes_eq(a->v.str, b->v.str);
	case AMQP_FIELD_TABLE:
		return amqp_bytes_eq(a->v.table, b->v.table);
	case AMQP_FIELD_ARRAY:
		return amqp_bytes_eq(a->v.array, b->v.array);
	default:
		return false;
	}
}

size_t
amqp_table_begin(struct amqp_wbuf *w)
{
	size_t mark = w->len;

	amqp_wbuf_u32(w, 0);
	return mark;
}

void
amqp_table_end(struct amqp_wbuf *w, size_t mark)
{
	size_t body;

	if (w->overflow)
		return;
	body = w->len - mark - 4;
	if (body > UINT32_MAX) {
		w->overflow = 1;
		return;
	}
	amqp_put_u32(w->p + mark, (uint32_t)body);
}

void
amqp_table_put_key(struct amqp_wbuf *w, struct amqp_bytes key)
{
	amqp_wbuf_shortstr(w, key);
}

void
amqp_field_put(struct amqp_wbuf *w, const struct amqp_field *value)
{
	uint32_t u32;
	uint64_t u64;

	amqp_wbuf_u8(w, value->kind);
	switch (value->kind) {
	case AMQP_FIELD_BOOL:
		amqp_wbuf_u8(w, value->v.b ? 1 : 0);
		break;
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
		amqp_wbuf_u8(w, (uint8_t)value->v.i);
		break;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
		amqp_wbuf_u16(w, (uint16_t)value->v.i);
		break;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
		amqp_wbuf_u32(w, (uint32_t)value->v.i);
		break;
	case AMQP_FIELD_I64:
		amqp_wbuf_u64(w, (uint64_t)value->v.i);
		break;
	case AMQP_FIELD_U64:
	case AMQP_FIELD_TIMESTAMP:
		amqp_wbuf_u64(w, value->v.u);
		break;
	case AMQP_FIELD_FLOAT:
		memcpy(&u32, &value->v.f, sizeof(u32));
		amqp_wbuf_u32(w, u32);
		break;
	case AMQP_FIELD_DOUBLE:
		memcpy(&u64, &value->v.d, sizeof(u64));
		amqp_wbuf_u64(w, u64);
		break;
	case AMQP_FIELD_DECIMAL:
		amqp_wbuf_u8(w, value->v.decimal.scale);
		amqp_wbuf_u32(w, value->v.decimal.value);
		break;
	case AMQP_FIELD_VOID:
		break;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		amqp_wbuf_longstr(w, value->v.str);
		break;
	case AMQP_FIELD_TABLE:
		amqp_wbuf_longstr(w, value->v.table);
		break;
	case AMQP_FIELD_ARRAY:
		amqp_wbuf_longstr(w, value->v.array);
		break;
	default:
		/* an unknown kind cannot be written; fail the whole buffer */
		w->overflow = 1;
		break;
	}
}

void
amqp_table_put_bool(struct amqp_wbuf *w, const char *key, bool v)
{
	struct amqp_field f;

	f.kind = AMQP_FIELD_BOOL;
	f.v.b = v;
	amqp_table_put_key(w, amqp_cstr(key));
	amqp_field_put(w, &f);
}

void
amqp_table_put_longstr(struct amqp_wbuf *w, const char *key,
                       struct amqp_bytes v)
{
	struct amqp_field f;

	f.kind = AMQP_FIELD_LONGSTR;
	f.v.str = v;
	amqp_table_put_key(w, amqp_cstr(key));
	amqp_field_put(w, &f);
}

void
amqp_table_put_i64(struct amqp_wbuf *w, const char *key, int64_t v)
{
	struct amqp_field f;

	f.kind = AMQP_FIELD_I64;
	f.v.i = v;
	amqp_table_put_key(w, amqp_cstr(key));
	amqp_field_put(w, &f);
}
