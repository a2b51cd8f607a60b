/*
 * Content headers and basic properties, walked with the generated
 * property table (amqp_basic_prop_descs: flag bit, wire type, member).
 * What the properties mean is left to server/.
 */
#include <string.h>

#include "amqp/props.h"
#include "amqp/spec_gen.h"
#include "amqp/table.h"

/* class id, weight, body size and the property flag word */
#define CONTENT_HEADER_MIN 14

/* Bit 0 of a flag word says another flag word follows. */
#define PROP_FLAG_CONTINUATION 0x0001

int
amqp_content_header_decode(const uint8_t *p, size_t n, uint16_t *class_id,
                           uint64_t *body_size, struct amqp_bytes *props_raw,
                           struct amqp_basic_props *props)
{
	struct amqp_basic_props scratch;
	struct amqp_bytes       raw;
	int                     rc;

	if (n < CONTENT_HEADER_MIN)
		return -AMQP_FRAME_ERROR;
	if (class_id != NULL)
		*class_id = amqp_get_u16(p);
	if (body_size != NULL)
		*body_size = amqp_get_u64(p + 4);
	raw.ptr = p + 12;
	raw.len = n - 12;
	if ((rc = amqp_props_decode(raw, props != NULL ? props : &scratch)) != 0)
		return rc;
	if (props_raw != NULL)
		*props_raw = raw;
	return 0;
}

int
amqp_props_decode(struct amqp_bytes raw, struct amqp_basic_props *props)
{
	const uint8_t *p = raw.ptr;
	size_t         n = raw.len;
	uint16_t       flags;
	size_t         i;

	memset(props, 0, sizeof(*props));
	if (n < 2)
		return -AMQP_SYNTAX_ERROR;
	flags = amqp_get_u16(p);
	p += 2;
	n -= 2;
	/*
	 * basic has 14 properties, so a second flag word can only announce
	 * properties that do not exist.  Bit 1 belongs to no property;
	 * RabbitMQ ignores it, and so do we.
	 */
	if (flags & PROP_FLAG_CONTINUATION)
		return -AMQP_SYNTAX_ERROR;
	props->flags = flags;

	for (i = 0; i < AMQP_BASIC_PROP_COUNT; i++) {
		const struct amqp_prop_desc *d = &amqp_basic_prop_descs[i];
		unsigned char               *dst = (unsigned char *)props + d->offset;
		struct amqp_bytes            s;
		uint16_t                     u16;
		uint32_t                     u32;
		uint64_t                     u64;

		if ((flags & d->flag) == 0)
			continue;
		switch (d->type) {
		case AMQP_ARG_OCTET:
			if (n < 1)
				return -AMQP_SYNTAX_ERROR;
			memcpy(dst, p, 1);
			p++;
			n--;
			break;
		case AMQP_ARG_SHORT:
			if (n < 2)
				return -AMQP_SYNTAX_ERROR;
			u16 = amqp_get_u16(p);
			memcpy(dst, &u16, sizeof(u16));
			p += 2;
			n -= 2;
			break;
		case AMQP_ARG_LONG:
			if (n < 4)
				return -AMQP_SYNTAX_ERROR;
			u32 = amqp_get_u32(p);
			memcpy(dst, &u32, sizeof(u32));
			p += 4;
			n -= 4;
			break;
		case AMQP_ARG_LONGLONG:
		case AMQP_ARG_TIMESTAMP:
			if (n < 8)
				return -AMQP_SYNTAX_ERROR;
			u64 = amqp_get_u64(p);
			memcpy(dst, &u64, sizeof(u64));
			p += 8;
			n -= 8;
			break;
		case AMQP_ARG_SHORTSTR:
			if (n < 1 || (size_t)p[0] > n - 1)
				return -AMQP_SYNTAX_ERROR;
			s.len = p[0];
			s.ptr = p + 1;
			memcpy(dst, &s, sizeof(s));
			p += 1 + s.len;
			n -= 1 + s.len;
			break;
		case AMQP_ARG_LONGSTR:
		case AMQP_ARG_TABLE:
			if (n < 4)
				return -AMQP_SYNTAX_ERROR;
			u32 = amqp_get_u32(p);
			if (u32 > n - 4)
				return -AMQP_SYNTAX_ERROR;
			s.len = u32;
			s.ptr = p + 4;
			if (d->type == AMQP_ARG_TABLE &&
			    amqp_table_validate(s) != 0)
				return -AMQP_SYNTAX_ERROR;
			memcpy(dst, &s, sizeof(s));
			p += 4 + s.len;
			n -= 4 + s.len;
			break;
		default:
			return -AMQP_SYNTAX_ERROR;
		}
	}
	/* RabbitMQ refuses bytes after the last property, too */
	if (n != 0)
		return -AMQP_SYNTAX_ERROR;
	return 0;
}

void
amqp_props_encode(struct amqp_wbuf *w, const struct amqp_basic_props *props)
{
	uint16_t known = 0, flags;
	size_t   i;

	for (i = 0; i < AMQP_BASIC_PROP_COUNT; i++)
		known |= amqp_basic_prop_descs[i].flag;
	flags = props->flags & known;
	amqp_wbuf_u16(w, flags);

	for (i = 0; i < AMQP_BASIC_PROP_COUNT; i++) {
		const struct amqp_prop_desc *d = &amqp_basic_prop_descs[i];
		const unsigned char         *src =
		    (const unsigned char *)props + d->offset;
		struct amqp_bytes            s;
		uint16_t                     u16;
		uint32_t                     u32;
		uint64_t                     u64;
		uint8_t                      u8;

		if ((flags & d->flag) == 0)
			continue;
		switch (d->type) {
		case AMQP_ARG_OCTET:
			memcpy(&u8, src, sizeof(u8));
			amqp_wbuf_u8(w, u8);
			break;
		case AMQP_ARG_SHORT:
			memcpy(&u16, src, sizeof(u16));
			amqp_wbuf_u16(w, u16);
			break;
		case AMQP_ARG_LONG:
			memcpy(&u32, src, sizeof(u32));
			amqp_wbuf_u32(w, u32);
			break;
		case AMQP_ARG_LONGLONG:
		case AMQP_ARG_TIMESTAMP:
			memcpy(&u64, src, sizeof(u64));
			amqp_wbuf_u64(w, u64);
			break;
		case AMQP_ARG_SHORTSTR:
			memcpy(&s, src, sizeof(s));
			amqp_wbuf_shortstr(w, s);
			break;
		case AMQP_ARG_LONGSTR:
		case AMQP_ARG_TABLE:
			memcpy(&s, src, sizeof(s));
			amqp_wbuf_longstr(w, s);
			break;
		default:
			w->overflow = 1;
			break;
		}
	}
}
