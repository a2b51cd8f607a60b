/*
 * Byte strings and big-endian wire helpers shared by the codec.
 * A struct amqp_bytes never owns its memory: it borrows from a frame buffer
 * or from the caller, and the comment at each use says for how long.
 */
#ifndef AMQP_BYTES_H
#define AMQP_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct amqp_bytes {
	size_t         len;
	const uint8_t *ptr; /* borrowed */
};

#define AMQP_BYTES_C(s) ((struct amqp_bytes){ sizeof(s) - 1, (const uint8_t *)(s) })

static inline struct amqp_bytes
amqp_cstr(const char *s)
{
	struct amqp_bytes b = { strlen(s), (const uint8_t *)s };
	return b;
}

static inline int
amqp_bytes_eq(struct amqp_bytes a, struct amqp_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline int
amqp_bytes_eq_cstr(struct amqp_bytes a, const char *s)
{
	return amqp_bytes_eq(a, amqp_cstr(s));
}

static inline uint16_t
amqp_get_u16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
amqp_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
amqp_get_u64(const uint8_t *p)
{
	return (uint64_t)amqp_get_u32(p) << 32 | amqp_get_u32(p + 4);
}

static inline void
amqp_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
amqp_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
amqp_put_u64(uint8_t *p, uint64_t v)
{
	amqp_put_u32(p, (uint32_t)(v >> 32));
	amqp_put_u32(p + 4, (uint32_t)v);
}

/*
 * An append-only writer over caller memory.  Writes past cap set
 * overflow and are dropped; check overflow once at the end.
 */
struct amqp_wbuf {
	uint8_t *p;   /* borrowed */
	size_t   len;
	size_t   cap;
	int      overflow;
};

static inline void
amqp_wbuf_init(struct amqp_wbuf *w, uint8_t *p, size_t cap)
{
	w->p = p;
	w->len = 0;
	w->cap = cap;
	w->overflow = 0;
}

static inline void
amqp_wbuf_put(struct amqp_wbuf *w, const void *src, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	if (n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static inline void
amqp_wbuf_u8(struct amqp_wbuf *w, uint8_t v)
{
	amqp_wbuf_put(w, &v, 1);
}

static inline void
amqp_wbuf_u16(struct amqp_wbuf *w, uint16_t v)
{
	uint8_t b[2];
	amqp_put_u16(b, v);
	amqp_wbuf_put(w, b, 2);
}

static inline void
amqp_wbuf_u32(struct amqp_wbuf *w, uint32_t v)
{
	uint8_t b[4];
	amqp_put_u32(b, v);
	amqp_wbuf_put(w, b, 4);
}

static inline void
amqp_wbuf_u64(struct amqp_wbuf *w, uint64_t v)
{
	uint8_t b[8];
	amqp_put_u64(b, v);
	amqp_wbuf_put(w, b, 8);
}

/* shortstr: length octet then bytes; a string over 255 bytes sets overflow */
static inline void
amqp_wbuf_shortstr(struct amqp_wbuf *w, struct amqp_bytes s)
{
	if (s.len > 255) {
		w->overflow = 1;
		return;
	}
	amqp_wbuf_u8(w, (uint8_t)s.len);
	amqp_wbuf_put(w, s.ptr, s.len);
}

static inline void
amqp_wbuf_longstr(struct amqp_wbuf *w, struct amqp_bytes s)
{
	if (s.len > UINT32_MAX) {
		w->overflow = 1;
		return;
	}
	amqp_wbuf_u32(w, (uint32_t)s.len);
	amqp_wbuf_put(w, s.ptr, s.len);
}

#endif
