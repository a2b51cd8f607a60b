/*
 * Large listings (queues, exchanges) without a JSON tree per row and
 * without blocking the loop: a cheap pass snapshots each object's vhost,
 * name and sort key; the snapshot is sorted, filtered and paginated as
 * mgmt_reply_list() would; rows are then written as text by the kind's
 * writer, looking each object up again by name (skipping ones deleted in
 * the meantime), a slice per loop turn through a streamed response.  A
 * large listing is also collected and sorted in slices, before its reply
 * starts (a deferred response).
 */
#ifndef MGMT_LIST_H
#define MGMT_LIST_H

#include "mgmt/api.h"

/* What a listing needs to know about one kind of object. */
struct mgmt_list_ops {
	/* The object (vh, name), or NULL if it is gone. */
	void   *(*find)(struct vhost *vh, struct amqp_bytes name);
	/*
	 * Append the object's row as JSON: every field (ncols == 0), or only
	 * the listed top-level fields in that order, each at most once.
	 */
	void    (*write)(struct mgmt_buf *b, void *obj, char *const *cols, size_t ncols);
	/* The row as a new JSON object (for nested columns, unusual sort fields). */
	json_t *(*json)(void *obj);
	/*
	 * A sort key read straight from the object: 0 with *rank (1 number,
	 * 2 boolean) and *num, or -1 if field is not one of these.  NULL: every
	 * sort field goes through the row's JSON.
	 */
	int     (*key)(void *obj, const char *field, int *rank, double *num);
	/* The vhost's map of these objects (name -> object), for mgmt_list_add_vhost. */
	struct hmap *(*map)(struct vhost *vh);
};

struct mgmt_list;

/* Start a listing for this request (reads sort, columns and pagination). */
struct mgmt_list *mgmt_list_new(struct mgmt_ctx *ctx, const struct mgmt_list_ops *ops);
/* Snapshot one object; obj is only used during this call. */
void mgmt_list_add(struct mgmt_list *l, const char *vhost, struct amqp_bytes name, void *obj);
/*
 * Snapshot every object of a vhost (ops->map): at once when the listing is
 * small, else a slice per loop turn after mgmt_list_reply().
 */
void mgmt_list_add_vhost(struct mgmt_list *l, struct vhost *vh);
/*
 * Sort, paginate (when pageable and ?page=) and reply; takes l.  A large
 * listing is collected and sorted a slice per loop turn (a deferred
 * response), so 100,000 queues never hold the loop for long.
 */
void mgmt_list_reply(struct mgmt_list *l, bool pageable);

#endif
