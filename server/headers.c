/*
 * Headers exchange matching on encoded field tables, as RabbitMQ 3.10's
 * rabbit_exchange_type_headers.  The exchange keeps the bindings and asks
 * here, per binding, whether a message's headers match.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/table.h"
#include "server/headers.h"
#include "server/util.h"

/*
 * What RabbitMQ does, read from rabbit_exchange_type_headers.erl and
 * checked against RabbitMQ 3.10.8 with pika and hand-encoded tables:
 *
 * Matching.  Both tables are sorted by key (a stable sort, so duplicate
 * keys keep their order) and merged.  Binding keys "x-match" are skipped,
 * and so are other "x-" keys unless x-match is all-with-x or any-with-x.
 * A binding key missing from the message fails "all"; a void binding
 * value matches any value of that key; otherwise the values are compared.
 * "all" with no (non-skipped) keys matches everything, "any" with none
 * matches nothing.  x-match is the first x-match entry; if it is not a
 * longstr of the four values, matching falls back to "all".  With
 * duplicate keys the n-th occurrence in the binding meets the n-th in
 * the message: a message {k=1, k=2} matches a binding {k=1} but not {k=2}.
 *
 * Equality is Erlang's == on the values RabbitMQ 3.10 decodes, NOT on
 * the (type, value) pairs:
 *  - every integer type and timestamp compares by numeric value, and
 *    floats too: 'I' 1 == 'l' 1 == 'b' 1 == 'T' 1 == 'd' 1.0 == 'f' 1.0;
 *    'f' is widened to double first, so 'f' 0.1 != 'd' 0.1; 0.0 == -0.0;
 *  - 'L' is decoded as SIGNED 64-bit by RabbitMQ 3.10 (type name "long"),
 *    so 'L' 2^64-1 == 'l' -1; 'i' and 'T' are unsigned;
 *  - 'S' longstr and 'x' byte array are both binaries: equal bytes match;
 *  - 't' is a boolean (any non-zero octet is true): only equals 't';
 *  - 'D' is {scale, value}: equal only to a decimal with both equal
 *    (1.0 as {1,10} != {0,1}), never to a number;
 *  - 'V' is the atom undefined: a message void equals only a binding
 *    void, which matches on presence anyway;
 *  - 'A' is a list of {type, value} and 'F' a list of {key, type, value}
 *    in wire order, so inside them types must match ('I' 1 != 'l' 1,
 *    except 'L' and 'l', both "long"), values compare with == as above,
 *    nested table order matters, and an empty array == an empty table.
 *
 * Validation (headers_validate_args): the texts are RabbitMQ's, which the
 * channel sends as "PRECONDITION_FAILED - <text>" cut to 255 bytes, e.g.
 *   Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x
 *   Invalid x-match field type signedint (value 1); expected longstr
 * Values are printed as Erlang's ~tp prints them: binaries as <<"...">>
 * when every byte is printable Latin-1, else as <<1,2,3>>; floats in
 * Erlang's shortest form (1.0e-5, 0.1, 100.0).  Erlang breaks printed
 * lists longer than its 80-column line; a table or array used as x-match
 * is printed here on one line.
 */

enum x_match { X_ALL, X_ANY, X_ALL_WITH_X, X_ANY_WITH_X };

static const char *
type_atom(uint8_t kind)
{
	switch (kind) {
	case AMQP_FIELD_BOOL: return "bool";
	case AMQP_FIELD_I8: return "byte";
	case AMQP_FIELD_U8: return "unsignedbyte";
	case AMQP_FIELD_I16: return "short";
	case AMQP_FIELD_U16: return "unsignedshort";
	case AMQP_FIELD_I32: return "signedint";
	case AMQP_FIELD_U32: return "unsignedint";
	case AMQP_FIELD_I64: return "long";
	case AMQP_FIELD_U64: return "long"; /* RabbitMQ 3.10 reads 'L' as 'l' */
	case AMQP_FIELD_FLOAT: return "float";
	case AMQP_FIELD_DOUBLE: return "double";
	case AMQP_FIELD_DECIMAL: return "decimal";
	case AMQP_FIELD_LONGSTR: return "longstr";
	case AMQP_FIELD_ARRAY: return "array";
	case AMQP_FIELD_TIMESTAMP: return "timestamp";
	case AMQP_FIELD_TABLE: return "table";
	case AMQP_FIELD_VOID: return "void";
	case AMQP_FIELD_BYTES: return "binary";
	default: return "unknown";
	}
}

/* The Erlang term class a field decodes to. */
enum term { T_INT, T_FLOAT, T_BINARY, T_BOOL, T_VOID, T_DECIMAL, T_LIST };

static enum term
term_of(uint8_t kind)
{
	switch (kind) {
	case AMQP_FIELD_FLOAT:
	case AMQP_FIELD_DOUBLE:
		return T_FLOAT;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		return T_BINARY;
	case AMQP_FIELD_BOOL:
		return T_BOOL;
	case AMQP_FIELD_VOID:
		return T_VOID;
	case AMQP_FIELD_DECIMAL:
		return T_DECIMAL;
	case AMQP_FIELD_TABLE:
	case AMQP_FIELD_ARRAY:
		return T_LIST;
	default:
		return T_INT;
	}
}

/* An integer field's value: signed, or (for 'T') unsigned. */
struct eint {
	bool     is_unsigned;
	int64_t  i;
	uint64_t u;
};

static struct eint
int_of(const struct amqp_field *f)
{
	struct eint e = { false, 0, 0 };

	if (f->kind == AMQP_FIELD_TIMESTAMP) {
		e.is_unsigned = true;
		e.u = f->v.u;
	} else if (f->kind == AMQP_FIELD_U64) {
		e.i = (int64_t)f->v.u; /* two's complement, as RabbitMQ 3.10 */
	} else {
		e.i = f->v.i;
	}
	return e;
}

static double
float_of(const struct amqp_field *f)
{
	return f->kind == AMQP_FIELD_FLOAT ? (double)f->v.f : f->v.d;
}

static bool
int_eq(struct eint a, struct eint b)
{
	if (a.is_unsigned && b.is_unsigned)
		return a.u == b.u;
	if (!a.is_unsigned && !b.is_unsigned)
		return a.i == b.i;
	if (a.is_unsigned) {
		struct eint t = a;
		a = b;
		b = t;
	}
	return a.i >= 0 && (uint64_t)a.i == b.u;
}

/* Is d a whole number?  Doubles of 2^52 and above all are. */
static bool
is_integral(double d)
{
	if (!isfinite(d))
		return false;
	if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
		return true;
	return d == (double)(int64_t)d;
}

/* Exact integer == float, as Erlang compares them. */
static bool
int_float_eq(struct eint a, double d)
{
	if (!is_integral(d))
		return false;
	if (a.is_unsigned)
		return d >= 0 && d < 18446744073709551616.0 && (uint64_t)d == a.u;
	return d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
	       (int64_t)d == a.i;
}

static bool term_eq(const struct amqp_field *a, const struct amqp_field *b, int depth);

/* Type atoms equal, as in {Type, Value} tuples inside arrays and tables. */
static bool
same_type_atom(uint8_t a, uint8_t b)
{
	return a == b || strcmp(type_atom(a), type_atom(b)) == 0;
}

/* Two encoded lists (tables, arrays, or one of each) are ==. */
static bool
list_eq(const struct amqp_field *a, const struct amqp_field *b, int depth)
{
	struct amqp_table_iter ta, tb;
	struct amqp_array_iter aa, ab;
	struct amqp_bytes      ka, kb;
	struct amqp_field      va, vb;
	bool                   a_table = a->kind == AMQP_FIELD_TABLE;
	bool                   b_table = b->kind == AMQP_FIELD_TABLE;
	int                    ra, rb;

	if (depth > AMQP_TABLE_DEPTH_LIMIT)
		return false;
	if (a_table)
		amqp_table_iter_init(&ta, a->v.table);
	else
		amqp_array_iter_init(&aa, a->v.array);
	if (b_table)
		amqp_table_iter_init(&tb, b->v.table);
	else
		amqp_array_iter_init(&ab, b->v.array);

	for (;;) {
		ra = a_table ? amqp_table_next(&ta, &ka, &va) : amqp_array_next(&aa, &va);
		rb = b_table ? amqp_table_next(&tb, &kb, &vb) : amqp_array_next(&ab, &vb);
		if (ra < 0 || rb < 0)
			return false;
		if (ra == 0 || rb == 0)
			return ra == rb; /* both ended: same length */
		/* {K,T,V} never equals {T,V} */
		if (a_table != b_table)
			return false;
		if (a_table && !amqp_bytes_eq(ka, kb))
			return false;
		if (!same_type_atom(va.kind, vb.kind) || !term_eq(&va, &vb, depth + 1))
			return false;
	}
}

/* Erlang's == on the terms RabbitMQ 3.10 decodes a and b to. */
static bool
term_eq(const struct amqp_field *a, const struct amqp_field *b, int depth)
{
	enum term ta = term_of(a->kind), tb = term_of(b->kind);

	if (ta == T_INT && tb == T_INT)
		return int_eq(int_of(a), int_of(b));
	if (ta == T_INT && tb == T_FLOAT)
		return int_float_eq(int_of(a), float_of(b));
	if (ta == T_FLOAT && tb == T_INT)
		return int_float_eq(int_of(b), float_of(a));
	if (ta != tb)
		return false;
	switch (ta) {
	case T_FLOAT:
		return float_of(a) == float_of(b);
	case T_BINARY:
		return amqp_bytes_eq(a->v.str, b->v.str);
	case T_BOOL:
		return a->v.b == b->v.b;
	case T_VOID:
		return true;
	case T_DECIMAL:
		return a->v.decimal.scale == b->v.decimal.scale &&
		       a->v.decimal.value == b->v.decimal.value;
	case T_LIST:
		return list_eq(a, b, depth);
	default:
		return false;
	}
}

/* One table entry, with its position for a stable sort. */
struct entry {
	struct amqp_bytes key;
	struct amqp_field val;
	size_t            pos;
};

#define ENTRIES_ON_STACK 16

/* Erlang's order on binaries: bytewise, a prefix first; then position. */
static int
entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	size_t              n = a->key.len < b->key.len ? a->key.len : b->key.len;
	int                 c = n ? memcmp(a->key.ptr, b->key.ptr, n) : 0;

	if (c != 0)
		return c;
	if (a->key.len != b->key.len)
		return a->key.len < b->key.len ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int
key_cmp(struct amqp_bytes a, struct amqp_bytes b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int    c = n ? memcmp(a.ptr, b.ptr, n) : 0;

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/*
 * Decode table into a sorted entry array: into stack (ENTRIES_ON_STACK
 * entries) or, when larger, a heap array the caller frees (*heap).
 * Returns the count, or -1 if the table is malformed.
 */
static long
entries_sorted(struct amqp_bytes table, struct entry *stack, struct entry **out,
               struct entry **heap)
{
	struct amqp_table_iter it;
	struct entry          *e = stack;
	size_t                 n = 0, cap = ENTRIES_ON_STACK;
	int                    r;

	*heap = NULL;
	amqp_table_iter_init(&it, table);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			if (*heap == NULL) {
				*heap = xmalloc(cap * sizeof(**heap));
				memcpy(*heap, stack, n * sizeof(*stack));
			} else {
				*heap = xrealloc(*heap, cap * sizeof(**heap));
			}
			e = *heap;
		}
		r = amqp_table_next(&it, &e[n].key, &e[n].val);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		e[n].pos = n;
		n++;
	}
	if (n <= ENTRIES_ON_STACK) {
		/* insertion sort: small, stable */
		for (size_t i = 1; i < n; i++) {
			struct entry x = e[i];
			size_t       j = i;
			while (j > 0 && entry_cmp(&e[j - 1], &x) > 0) {
				e[j] = e[j - 1];
				j--;
			}
			e[j] = x;
		}
	} else {
		qsort(e, n, sizeof(*e), entry_cmp); /* stable by the pos tie-break */
	}
	*out = e;
	return (long)n;
}

static bool
key_is(struct amqp_bytes k, const char *s)
{
	return amqp_bytes_eq_cstr(k, s);
}

static bool
key_has_x_prefix(struct amqp_bytes k)
{
	return k.len >= 2 && k.ptr[0] == 'x' && k.ptr[1] == '-';
}

/* The first x-match entry of args: 1 and *v, or 0. */
static int
find_x_match(struct amqp_bytes args, struct amqp_field *v)
{
	struct amqp_table_iter it;
	struct amqp_bytes      k;

	amqp_table_iter_init(&it, args);
	while (amqp_table_next(&it, &k, v) == 1)
		if (key_is(k, "x-match"))
			return 1;
	return 0;
}

static enum x_match
x_match_of(struct amqp_bytes args)
{
	struct amqp_field v;

	if (find_x_match(args, &v) && v.kind == AMQP_FIELD_LONGSTR) {
		if (amqp_bytes_eq_cstr(v.v.str, "any"))
			return X_ANY;
		if (amqp_bytes_eq_cstr(v.v.str, "all-with-x"))
			return X_ALL_WITH_X;
		if (amqp_bytes_eq_cstr(v.v.str, "any-with-x"))
			return X_ANY_WITH_X;
	}
	return X_ALL; /* also RabbitMQ's fallback for unvalidated values */
}

bool
headers_match(struct amqp_bytes args, struct amqp_bytes msg)
{
	struct entry  pstack[ENTRIES_ON_STACK], dstack[ENTRIES_ON_STACK];
	struct entry *pat, *dat, *pheap, *dheap;
	long          np, nd;
	size_t        p = 0, d = 0;
	enum x_match  mode = x_match_of(args);
	bool          all_kind = mode == X_ALL || mode == X_ALL_WITH_X;
	bool          with_x = mode == X_ALL_WITH_X || mode == X_ANY_WITH_X;
	bool          all = true, any = false, result;

	np = entries_sorted(args, pstack, &pat, &pheap);
	nd = entries_sorted(msg, dstack, &dat, &dheap);
	if (np < 0 || nd < 0) {
		result = false;
		goto out;
	}

	/* the merge of rabbit_exchange_type_headers:headers_match/5, clause by clause */
	for (;;) {
		if (all_kind && !all) {
			result = false;
			break;
		}
		if (!all_kind && any) {
			result = true;
			break;
		}
		if (p == (size_t)np) {
			result = all_kind ? all : any;
			break;
		}
		const struct entry *pe = &pat[p];
		if (key_is(pe->key, "x-match") || (!with_x && key_has_x_prefix(pe->key))) {
			p++;
			continue;
		}
		if (d == (size_t)nd) {
			result = all_kind ? false : any;
			break;
		}
		const struct entry *de = &dat[d];
		int                 c = key_cmp(pe->key, de->key);
		if (c > 0) {
			d++; /* a message header the binding does not mention */
			continue;
		}
		if (c < 0) {
			all = false; /* a binding key the message lacks */
			p++;
			continue;
		}
		if (pe->val.kind == AMQP_FIELD_VOID || term_eq(&pe->val, &de->val, 0))
			any = true;
		else
			all = false;
		p++;
		d++;
	}
out:
	free(pheap);
	free(dheap);
	return result;
}

/* A bounded string builder; output past the end is dropped. */
struct sbuf {
	char  *p;
	size_t len, cap; /* cap > 0; p[len] is kept NUL */
};

static void
sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (n > b->cap - 1 - b->len)
		n = b->cap - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char    tmp[64];
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_putn(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* io_lib's printable Latin-1 characters. */
static bool
latin1_printable(uint8_t c)
{
	return (c >= 32 && c <= 126) || c >= 160 || (c >= 8 && c <= 13) || c == 27;
}

/* A binary as ~tp prints it. */
static void
print_binary(struct sbuf *b, struct amqp_bytes s)
{
	bool printable = true;

	for (size_t i = 0; i < s.len && printable; i++)
		printable = latin1_printable(s.ptr[i]);
	if (s.len == 0) {
		sb_puts(b, "<<>>");
		return;
	}
	if (!printable) {
		sb_puts(b, "<<");
		for (size_t i = 0; i < s.len; i++)
			sb_printf(b, i ? ",%u" : "%u", s.ptr[i]);
		sb_puts(b, ">>");
		return;
	}
	sb_puts(b, "<<\"");
	for (size_t i = 0; i < s.len; i++) {
		uint8_t     c = s.ptr[i];
		const char *esc = NULL;

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\v': esc = "\\v"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case 27: esc = "\\e"; break;
		}
		if (esc)
			sb_puts(b, esc);
		else
			sb_putn(b, (const char *)&c, 1);
	}
	sb_puts(b, "\">>");
}

/*
 * A float as Erlang/OTP 25 prints it (io_lib_format:fwrite_g/1): the
 * shortest digits that read back as the same double, placed in fixed or
 * scientific notation, whichever is shorter, and always scientific from
 * 2^53 up.
 */
static void
print_float(struct sbuf *b, double d)
{
	char   tmp[40], digits[20], exp_s[16];
	int    prec, e10, nd = 0, place, len_s;
	char  *q;

	if (!isfinite(d)) {
		sb_puts(b, isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
		return;
	}
	if (d == 0) {
		sb_puts(b, signbit(d) ? "-0.0" : "0.0");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* tmp is "-d.ddde+XX": gather the digits and the exponent */
	q = tmp;
	if (*q == '-')
		q++;
	for (; *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			digits[nd++] = *q;
	digits[nd] = '\0';
	e10 = atoi(q + 1);

	if (signbit(d))
		sb_puts(b, "-");
	place = e10 + 1; /* d = 0.DIGITS x 10^place */
	len_s = nd;
	if (place < 0 || place >= len_s) {
		int exp_cost;

		snprintf(exp_s, sizeof(exp_s), "%d", place - 1);
		exp_cost = (int)strlen(exp_s) + 1 + (len_s == 1 ? 2 : 1);
		if (place < 0 && 2 - place <= exp_cost) {
			sb_puts(b, "0.");
			for (int i = 0; i < -place; i++)
				sb_puts(b, "0");
			sb_puts(b, digits);
			return;
		}
		if (place >= len_s && place - len_s + 2 <= exp_cost &&
		    d < 9007199254740992.0 && d > -9007199254740992.0) {
			sb_puts(b, digits);
			for (int i = 0; i < place - len_s; i++)
				sb_puts(b, "0");
			sb_puts(b, ".0");
			return;
		}
		sb_putn(b, digits, 1);
		sb_puts(b, ".");
		sb_puts(b, len_s == 1 ? "0" : digits + 1);
		sb_puts(b, "e");
		sb_puts(b, exp_s);
		return;
	}
	if (place == 0) {
		sb_puts(b, "0.");
		sb_puts(b, digits);
		return;
	}
	sb_putn(b, digits, (size_t)place);
	sb_puts(b, ".");
	sb_puts(b, digits + place);
}

/* The value of a field as RabbitMQ's decoded term, printed as ~tp would. */
static void
print_term(struct sbuf *b, const struct amqp_field *f, int depth)
{
	struct eint e;

	switch (term_of(f->kind)) {
	case T_INT:
		e = int_of(f);
		if (e.is_unsigned)
			sb_printf(b, "%llu", (unsigned long long)e.u);
		else
			sb_printf(b, "%lld", (long long)e.i);
		return;
	case T_FLOAT:
		print_float(b, float_of(f));
		return;
	case T_BINARY:
		print_binary(b, f->v.str);
		return;
	case T_BOOL:
		sb_puts(b, f->v.b ? "true" : "false");
		return;
	case T_VOID:
		sb_puts(b, "undefined");
		return;
	case T_DECIMAL:
		sb_printf(b, "{%u,%u}", (unsigned)f->v.decimal.scale, (unsigned)f->v.decimal.value);
		return;
	case T_LIST:
		break;
	}

	struct amqp_table_iter ti;
	struct amqp_array_iter ai;
	struct amqp_bytes      k;
	struct amqp_field      v;
	bool                   table = f->kind == AMQP_FIELD_TABLE;
	int                    n = 0;

	if (depth > AMQP_TABLE_DEPTH_LIMIT) {
		sb_puts(b, "[...]");
		return;
	}
	if (table)
		amqp_table_iter_init(&ti, f->v.table);
	else
		amqp_array_iter_init(&ai, f->v.array);
	sb_puts(b, "[");
	while ((table ? amqp_table_next(&ti, &k, &v) : amqp_array_next(&ai, &v)) == 1) {
		if (n++)
			sb_puts(b, ",");
		sb_puts(b, "{");
		if (table) {
			print_binary(b, k);
			sb_puts(b, ",");
		}
		sb_puts(b, type_atom(v.kind));
		sb_puts(b, ",");
		print_term(b, &v, depth + 1);
		sb_puts(b, "}");
	}
	sb_puts(b, "]");
}

int
headers_validate_args(struct amqp_bytes args, char *err, size_t errlen)
{
	struct amqp_field v;
	struct sbuf       b;
	char              dummy[1];

	if (!find_x_match(args, &v))
		return 0;
	if (v.kind == AMQP_FIELD_LONGSTR &&
	    (amqp_bytes_eq_cstr(v.v.str, "all") || amqp_bytes_eq_cstr(v.v.str, "any") ||
	     amqp_bytes_eq_cstr(v.v.str, "all-with-x") ||
	     amqp_bytes_eq_cstr(v.v.str, "any-with-x")))
		return 0;

	b.p = errlen ? err : dummy;
	b.cap = errlen ? errlen : sizeof(dummy);
	b.len = 0;
	b.p[0] = '\0';
	if (v.kind == AMQP_FIELD_LONGSTR) {
		sb_puts(&b, "Invalid x-match field value ");
		print_binary(&b, v.v.str);
		sb_puts(&b, "; expected all, any, all-with-x, or any-with-x");
	} else {
		sb_puts(&b, "Invalid x-match field type ");
		sb_puts(&b, type_atom(v.kind));
		sb_puts(&b, " (value ");
		print_term(&b, &v, 0);
		sb_puts(&b, "); expected longstr");
	}
	return -1;
}
