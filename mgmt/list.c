/*
 * Listings in slices.  The snapshot holds no engine pointers: vhost and
 * object names (and string sort keys) are copied into one arena, so it
 * stays valid however the broker changes between the slices.
 *
 * Order and pagination follow mgmt_sort() and mgmt_paginate() exactly:
 * default order vhost then name, "sort=" keeps the snapshot's order, a
 * field sorts missing/null < numbers < booleans < strings < others, ties
 * in snapshot order, and sort_reverse reverses the sorted list.  A page
 * (at most 500 rows) is written at once; a whole list goes out streamed.
 */
#include "mgmt/list.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgmt/jsonw.h"
#include "server/util.h"

#define LIST_SYNC_MAX    64          /* rows written at once, without streaming */
#define LIST_SLICE_BYTES (64 * 1024) /* a slice ends after this much output */
#define LIST_SLICE_NS    500000L     /* or after this long */
#define LIST_DEFER_MIN   2000        /* objects from which collecting is sliced */
#define SORT_RUN         1024        /* items per run the merge sort starts from */

enum sort_mode { SORT_DEFAULT, SORT_NONE, SORT_FIELD };
enum { RANK_NULL, RANK_NUM, RANK_BOOL, RANK_STR, RANK_OTHER };

struct item {
	size_t vhost, name, name_len; /* offsets into the arena */
	size_t str;                   /* string key: arena offset */
	double num;                   /* number or boolean key */
	int    rank;
	size_t idx;                   /* snapshot order */
};

struct mgmt_list {
	struct mgmt_ctx            *ctx; /* borrowed: until mgmt_list_reply() returns */
	const struct mgmt_list_ops *ops;
	struct item                *v;   /* owned */
	size_t                      n, cap;
	struct mgmt_buf             arena;
	const char                 *last_vhost; /* borrowed: the vhost of the last add */
	size_t                      last_vhost_off;
	enum sort_mode              mode;
	char                       *field;   /* owned: sort field */
	bool                        reverse;
	char                       *columns; /* owned, NULL = every field */
	char                      **cols;    /* owned: top-level columns, deduplicated */
	size_t                      ncols;
	bool                        nested;  /* a dotted column: rows go through jansson */
	/* collecting from vhosts' maps, a slice per turn (mgmt_list_add_vhost) */
	char                      **vhosts;  /* owned names */
	size_t                      nvh, vi, bucket;
	size_t                      vh_buckets, vh_first; /* the map's size, the first item, */
	                                                  /* when this vhost began */
	/* deferred: the query parameters (the request is gone) and the sort's state */
	bool                        pageable;
	bool                        filtering; /* a page: pg filters names as they are added */
	struct mgmt_page            pg;
	size_t                      total;     /* objects seen, filtered or not */
	char                       *p_page, *p_size, *p_name, *p_regex; /* owned */
	int                         phase;
	struct item                *tmp;     /* owned: the merge sort's other half */
	size_t                      sw, si, sa, sb, so;
	bool                        merging;
	/* writing */
	size_t                      pos;
	bool                        first;
	const char                 *vh_name; /* the vhost looked up for this slice */
	struct vhost               *vh;
};

static size_t
arena_add(struct mgmt_list *l, const void *p, size_t n)
{
	size_t off = l->arena.len;

	mgmt_buf_add(&l->arena, p, n);
	mgmt_buf_add(&l->arena, "", 1); /* keep the NUL */
	return off;
}

static void
parse_columns(struct mgmt_list *l, const char *columns)
{
	char *copy, *save = NULL;

	if (columns == NULL || *columns == '\0')
		return;
	l->columns = xstrndup(columns, strlen(columns));
	copy = xstrndup(columns, strlen(columns));
	l->cols = xcalloc(strlen(columns) / 2 + 2, sizeof(*l->cols));
	for (char *col = strtok_r(copy, ",", &save); col; col = strtok_r(NULL, ",", &save)) {
		size_t i;
		if (*col == '\0')
			continue;
		if (strchr(col, '.'))
			l->nested = true;
		for (i = 0; i < l->ncols; i++)
			if (strcmp(l->cols[i], col) == 0)
				break;
		if (i == l->ncols)
			l->cols[l->ncols++] = xstrndup(col, strlen(col));
	}
	free(copy);
}

struct mgmt_list *
mgmt_list_new(struct mgmt_ctx *ctx, const struct mgmt_list_ops *ops)
{
	struct mgmt_list *l = xcalloc(1, sizeof(*l));
	const char       *sort = mgmt_target_param(&ctx->t, "sort");
	const char       *rev = mgmt_target_param(&ctx->t, "sort_reverse");

	l->ctx = ctx;
	l->ops = ops;
	l->reverse = rev && strcmp(rev, "true") == 0;
	if (sort == NULL) {
		l->mode = SORT_DEFAULT;
	} else if (*sort == '\0') {
		l->mode = SORT_NONE;
	} else {
		l->mode = SORT_FIELD;
		l->field = xstrndup(sort, strlen(sort));
	}
	parse_columns(l, mgmt_target_param(&ctx->t, "columns"));
	l->first = true;
	return l;
}

static void
list_free(void *st)
{
	struct mgmt_list *l = st;

	for (size_t i = 0; i < l->nvh; i++)
		free(l->vhosts[i]);
	free(l->vhosts);
	if (l->filtering)
		mgmt_page_free(&l->pg);
	free(l->tmp);
	free(l->p_page);
	free(l->p_size);
	free(l->p_name);
	free(l->p_regex);
	for (size_t i = 0; i < l->ncols; i++)
		free(l->cols[i]);
	free(l->cols);
	free(l->columns);
	free(l->field);
	free(l->v);
	mgmt_buf_free(&l->arena);
	free(l);
}

/* The sort key of a row built by jansson: the slow path, for unusual fields. */
static void
json_key(struct mgmt_list *l, struct item *it, void *obj)
{
	json_t *o = l->ops->json(obj);
	json_t *v = mgmt_json_path(o, l->field);

	if (v == NULL || json_is_null(v)) {
		it->rank = RANK_NULL;
	} else if (json_is_number(v)) {
		it->rank = RANK_NUM;
		it->num = json_number_value(v);
	} else if (json_is_boolean(v)) {
		it->rank = RANK_BOOL;
		it->num = json_is_true(v);
	} else if (json_is_string(v)) {
		it->rank = RANK_STR;
		it->str = arena_add(l, json_string_value(v), strlen(json_string_value(v)));
	} else {
		it->rank = RANK_OTHER;
	}
	json_decref(o);
}

void
mgmt_list_add(struct mgmt_list *l, const char *vhost, struct amqp_bytes name, void *obj)
{
	struct item *it;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	it = &l->v[l->n];
	memset(it, 0, sizeof(*it));
	it->idx = l->n++;
	if (vhost != l->last_vhost) {
		l->last_vhost = vhost;
		l->last_vhost_off = arena_add(l, vhost, strlen(vhost));
	}
	it->vhost = l->last_vhost_off;
	it->name = arena_add(l, name.ptr, name.len);
	it->name_len = name.len;
	l->total++;
	if (l->filtering && !mgmt_page_match(&l->pg, l->arena.p + it->name)) {
		/* filtered out before sorting: the sort and the page see less */
		l->arena.len = it->name;
		l->n--;
		return;
	}
	if (l->mode != SORT_FIELD)
		return;
	if (strcmp(l->field, "name") == 0) {
		it->rank = RANK_STR;
		it->str = it->name;
	} else if (strcmp(l->field, "vhost") == 0) {
		it->rank = RANK_STR;
		it->str = it->vhost;
	} else if (l->ops->key == NULL || l->ops->key(obj, l->field, &it->rank, &it->num) != 0) {
		json_key(l, it, obj);
	}
}

void
mgmt_list_add_vhost(struct mgmt_list *l, struct vhost *vh)
{
	l->vhosts = xrealloc(l->vhosts, (l->nvh + 1) * sizeof(*l->vhosts));
	l->vhosts[l->nvh++] = xstrndup(vh->name, strlen(vh->name));
}

/*
 * Snapshot up to budget objects from the registered vhosts' maps, bucket
 * by bucket; true when every vhost is done.  A map that grew meanwhile
 * (its buckets moved) is collected again from its start.
 */
static bool
collect(struct mgmt_list *l, size_t budget)
{
	while (l->vi < l->nvh) {
		struct vhost *vh = broker_vhost(amqp_cstr(l->vhosts[l->vi]));
		struct hmap  *m = vh ? l->ops->map(vh) : NULL;
		if (m && l->bucket == 0 && l->vh_buckets == 0) {
			l->vh_buckets = m->nbuckets;
			l->vh_first = l->n;
		}
		if (m && m->nbuckets != l->vh_buckets) {
			l->n = l->vh_first; /* rehashed: start this vhost again */
			l->bucket = 0;
			l->vh_buckets = m->nbuckets;
		}
		if (m == NULL || l->bucket >= m->nbuckets) {
			l->vi++;
			l->bucket = l->vh_buckets = 0;
			continue;
		}
		if (budget == 0)
			return false;
		for (struct hmap_entry *e = m->buckets[l->bucket]; e; e = e->next) {
			mgmt_list_add(l, l->vhosts[l->vi], (struct amqp_bytes){ e->klen, e->key }, e->val);
			budget -= budget > 0;
		}
		l->bucket++;
	}
	return true;
}

/* qsort has no context argument; the loop is single-threaded. */
static const char    *cmp_arena;
static enum sort_mode cmp_mode;

static int
cmp_items(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int                c = 0;

	if (cmp_mode == SORT_DEFAULT) {
		if (a->vhost != b->vhost) /* each vhost's name is stored once */
			c = strcmp(cmp_arena + a->vhost, cmp_arena + b->vhost);
		if (c == 0)
			c = strcmp(cmp_arena + a->name, cmp_arena + b->name);
	} else if (a->rank != b->rank) {
		c = a->rank < b->rank ? -1 : 1;
	} else if (a->rank == RANK_NUM || a->rank == RANK_BOOL) {
		c = a->num < b->num ? -1 : a->num > b->num;
	} else if (a->rank == RANK_STR) {
		c = strcmp(cmp_arena + a->str, cmp_arena + b->str);
	}
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static long elapsed_ns(const struct timespec *t0);

/* Has this turn's slice (begun at t0) run out?  Never without a t0. */
static bool
out_of_time(const struct timespec *t0)
{
	return t0 && elapsed_ns(t0) >= LIST_SLICE_NS;
}

/*
 * Sort (and reverse if asked) a slice at a time: runs of SORT_RUN sorted
 * with qsort, then bottom-up merges that can stop anywhere; true when
 * done.  With t0 NULL it runs to the end at once.
 */
static bool
sort_step(struct mgmt_list *l, const struct timespec *t0)
{
	cmp_arena = l->arena.p;
	cmp_mode = l->mode;
	if (l->mode == SORT_NONE || l->n < 2)
		goto sorted;
	if (l->sw == 0) {
		while (l->si < l->n) {
			size_t len = l->n - l->si < SORT_RUN ? l->n - l->si : SORT_RUN;
			qsort(l->v + l->si, len, sizeof(*l->v), cmp_items);
			l->si += len;
			if (out_of_time(t0))
				return false;
		}
		l->sw = SORT_RUN;
		l->si = 0;
		l->tmp = xmalloc(l->n * sizeof(*l->tmp));
	}
	while (l->sw < l->n) {
		while (l->si < l->n) {
			size_t mid = l->si + l->sw < l->n ? l->si + l->sw : l->n;
			size_t end = mid + l->sw < l->n ? mid + l->sw : l->n;
			if (!l->merging) {
				l->sa = l->si;
				l->sb = mid;
				l->so = l->si;
				l->merging = true;
			}
			while (l->sa < mid && l->sb < end) {
				l->tmp[l->so++] = cmp_items(&l->v[l->sa], &l->v[l->sb]) <= 0 ? l->v[l->sa++] :
				                                                               l->v[l->sb++];
				if ((l->so & 1023) == 0 && out_of_time(t0))
					return false;
			}
			while (l->sa < mid)
				l->tmp[l->so++] = l->v[l->sa++];
			while (l->sb < end)
				l->tmp[l->so++] = l->v[l->sb++];
			l->merging = false;
			l->si = end;
		}
		struct item *t = l->v;
		l->v = l->tmp;
		l->tmp = t;
		l->sw *= 2;
		l->si = 0;
	}
sorted:
	free(l->tmp);
	l->tmp = NULL;
	if (l->reverse)
		for (size_t i = 0; i < l->n / 2; i++) {
			struct item t = l->v[i];
			l->v[i] = l->v[l->n - 1 - i];
			l->v[l->n - 1 - i] = t;
		}
	return true;
}

/* Write one row (with its separator); false if its object is gone. */
static bool
write_item(struct mgmt_list *l, const struct item *it, struct mgmt_buf *b)
{
	const char *vn = l->arena.p + it->vhost;
	void       *obj;

	if (vn != l->vh_name) {
		l->vh_name = vn;
		l->vh = broker_vhost(amqp_cstr(vn));
	}
	if (l->vh == NULL)
		return false;
	obj = l->ops->find(l->vh, (struct amqp_bytes){ it->name_len,
	                                               (const uint8_t *)l->arena.p + it->name });
	if (obj == NULL)
		return false;
	if (!l->first)
		mgmt_buf_add(b, ",", 1);
	l->first = false;
	if (l->nested) {
		json_t *o = l->ops->json(obj);
		mgmt_jw_json(b, mgmt_columns(o, l->columns, true));
		json_decref(o);
	} else {
		l->ops->write(b, obj, l->cols, l->ncols);
	}
	return true;
}

static long
elapsed_ns(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* The stream: one slice of rows per call. */
static bool
list_more(void *st, struct mgmt_buf *out)
{
	struct mgmt_list *l = st;
	size_t            start = out->len;
	struct timespec   t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	l->vh_name = NULL; /* vhosts may have gone since the last turn */
	for (unsigned k = 1; l->pos < l->n; k++) {
		write_item(l, &l->v[l->pos++], out);
		if (out->len - start >= LIST_SLICE_BYTES)
			break;
		if ((k & 15) == 0 && elapsed_ns(&t0) >= LIST_SLICE_NS)
			break;
	}
	if (l->pos < l->n)
		return false;
	mgmt_buf_add(out, "]", 1);
	return true;
}

static void
reply_head(struct mgmt_ctx *ctx)
{
	ctx->resp->status = 200;
	ctx->resp->content_type = "application/json";
	ctx->resp->no_cache = true;
	ctx->resp->body.len = 0;
	ctx->handled = true;
}

static void
reply_page(struct mgmt_list *l, struct mgmt_ctx *ctx)
{
	const struct mgmt_page *pg = &l->pg; /* the items were filtered as they came */
	char                    reason[256];
	struct mgmt_buf         items = { 0 };
	size_t                  nf = l->n, start, nitems = 0;

	start = (size_t)(pg->page - 1) * (size_t)pg->size;
	mgmt_buf_add(&items, "", 0);
	for (size_t i = start; i < nf && i < start + (size_t)pg->size; i++)
		if (write_item(l, &l->v[i], &items))
			nitems++;
	if (start >= nf && pg->page > 1) {
		snprintf(reason, sizeof(reason), "Page out of range, page: %ld page size: %ld, len: %zu",
		         pg->page, pg->size, nf);
		mgmt_buf_free(&items);
		mgmt_reply_error(ctx, 400, "page_out_of_range", reason);
		return;
	}
	reply_head(ctx);
	struct mgmt_buf *b = &ctx->resp->body;
	mgmt_jw_lit(b, "{\"filtered_count\":");
	mgmt_jw_int(b, (int64_t)nf);
	mgmt_jw_lit(b, ",\"item_count\":");
	mgmt_jw_int(b, (int64_t)nitems);
	mgmt_jw_lit(b, ",\"items\":[");
	mgmt_buf_add(b, items.p, items.len);
	mgmt_jw_lit(b, "],\"page\":");
	mgmt_jw_int(b, pg->page);
	mgmt_jw_lit(b, ",\"page_count\":");
	mgmt_jw_int(b, (int64_t)((nf + (size_t)pg->size - 1) / (size_t)pg->size));
	mgmt_jw_lit(b, ",\"page_size\":");
	mgmt_jw_int(b, pg->size);
	mgmt_jw_lit(b, ",\"total_count\":");
	mgmt_jw_int(b, (int64_t)l->total);
	mgmt_buf_add(b, "}", 1);
	mgmt_buf_free(&items);
}

static char *
dup_param(const struct mgmt_ctx *ctx, const char *name)
{
	const char *v = mgmt_target_param(&ctx->t, name);

	return v ? xstrndup(v, strlen(v)) : NULL;
}

/* The reply, once the snapshot is complete and sorted; takes l. */
static void
reply(struct mgmt_list *l, struct mgmt_ctx *ctx)
{
	if (l->pageable && l->p_page) {
		reply_page(l, ctx);
		list_free(l);
		return;
	}
	reply_head(ctx);
	mgmt_buf_add(&ctx->resp->body, "[", 1);
	if (l->n <= LIST_SYNC_MAX) {
		while (!list_more(l, &ctx->resp->body))
			;
		list_free(l);
		return;
	}
	l->ctx = NULL; /* the request context ends with this call */
	ctx->resp->stream.more = list_more;
	ctx->resp->stream.release = list_free;
	ctx->resp->stream.st = l;
}

enum { PHASE_COLLECT, PHASE_SORT };

/* A deferred listing's work for this loop turn. */
static bool
list_step(void *st, struct mgmt_resp *resp)
{
	struct mgmt_list *l = st;
	struct mgmt_ctx   ctx;
	struct timespec   t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (l->phase == PHASE_COLLECT) {
		for (;;) {
			if (collect(l, 256)) {
				l->phase = PHASE_SORT;
				break;
			}
			if (elapsed_ns(&t0) >= LIST_SLICE_NS)
				return false;
		}
	}
	if (!sort_step(l, &t0))
		return false;
	memset(&ctx, 0, sizeof(ctx));
	ctx.resp = resp;
	reply(l, &ctx);
	return true;
}

/* The client went before the listing was ready. */
static void
list_step_release(void *st)
{
	list_free(st);
}

void
mgmt_list_reply(struct mgmt_list *l, bool pageable)
{
	struct mgmt_ctx *ctx = l->ctx;
	size_t           total = l->n;

	l->pageable = pageable;
	l->p_page = dup_param(ctx, "page");
	l->p_size = dup_param(ctx, "page_size");
	l->p_name = dup_param(ctx, "name");
	l->p_regex = dup_param(ctx, "use_regex");
	if (pageable && l->p_page) {
		const char *error;
		char        reason[256];
		if (mgmt_page_parse(&l->pg, l->p_page, l->p_size, l->p_name,
		                    l->p_regex && strcmp(l->p_regex, "true") == 0, &error, reason,
		                    sizeof(reason)) != 0) {
			mgmt_reply_error(ctx, 400, error, reason);
			list_free(l);
			return;
		}
		/* items added before this call were not filtered: filter them now */
		size_t keep = 0;
		l->filtering = true;
		for (size_t i = 0; i < l->n; i++)
			if (mgmt_page_match(&l->pg, l->arena.p + l->v[i].name))
				l->v[keep++] = l->v[i];
		l->n = keep;
	}
	for (size_t i = 0; i < l->nvh; i++) {
		struct vhost *vh = broker_vhost(amqp_cstr(l->vhosts[i]));
		if (vh)
			total += l->ops->map(vh)->count;
	}
	if (total < LIST_DEFER_MIN || ctx->req == NULL) {
		collect(l, SIZE_MAX);
		sort_step(l, NULL);
		reply(l, ctx);
		return;
	}
	/* a big listing: collected and sorted over several turns, then the reply */
	l->ctx = NULL;
	l->phase = PHASE_COLLECT;
	ctx->resp->defer.step = list_step;
	ctx->resp->defer.release = list_step_release;
	ctx->resp->defer.st = l;
	ctx->handled = true;
}
