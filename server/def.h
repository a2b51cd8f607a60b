/*
 * Definitions: the broker's metadata (users, vhosts, permissions, topic
 * permissions, parameters, global parameters, policies, queues, exchanges,
 * bindings) as RabbitMQ's definitions JSON, both ways.  The management
 * API's /api/definitions serves them, and the same format is what the
 * broker keeps on disk.  Also the conversions between AMQP field tables
 * and JSON that RabbitMQ's HTTP API uses for arguments and headers.
 */
#ifndef SERVER_DEF_H
#define SERVER_DEF_H

#include <jansson.h>
#include <stdbool.h>

#include "amqp/bytes.h"

struct amqp_field;

/* JSON for an encoded table body / array body / field (new references). */
json_t *def_table_to_json(struct amqp_bytes table);
json_t *def_array_to_json(struct amqp_bytes array);
json_t *def_field_to_json(const struct amqp_field *f);

/*
 * Encode a JSON object as an AMQP table body (without the 4-byte length)
 * into a new buffer (*out owned by the caller, free with free()).
 * Integers become signed 64-bit ('l'), reals doubles, strings long
 * strings, objects tables, arrays arrays, null void.  Returns 0, or -1 if
 * obj is not an object (NULL and JSON null give an empty table).
 */
int def_json_to_table(json_t *obj, struct amqp_bytes *out);

/*
 * Export everything (vhost NULL) or one vhost's objects, as RabbitMQ does:
 * no exclusive queues, no "" or amq.* exchanges, no default-exchange
 * bindings; lists sorted, so two brokers with the same state export the
 * same bytes.  Returns a new reference, or NULL if the vhost is unknown.
 */
json_t *def_export(const char *vhost);

/* One queue, exchange or binding as the export lists it (new references). */
struct queue;
struct exchange;
struct binding;
json_t *def_queue_json(const struct queue *q, bool with_vhost);
json_t *def_exchange_json(const struct exchange *x, bool with_vhost);
json_t *def_binding_json(const struct binding *b, bool with_vhost);
/* "" and amq.*: exchanges every vhost has, never exported. */
bool    def_reserved_exchange(struct amqp_bytes name);

/* An import failure: an HTTP status and RabbitMQ's reason (a JSON value). */
struct def_err {
	int     status; /* 400, 404 */
	json_t *reason; /* owned by the caller after a failure */
};

/*
 * Import definitions (a JSON object) into the whole broker (vhost NULL)
 * or into one vhost (items carry no vhost key).  Merges: what exists and
 * is not in the file stays; queues, exchanges and bindings that conflict
 * are skipped silently; users, permissions, policies and vhost metadata
 * are overwritten.  Returns 0, or -1 with err filled in (an object in an
 * unknown vhost: 400 ["no_such_vhost", name]; parts may already be
 * applied, as in RabbitMQ).
 */
int def_import(json_t *defs, const char *vhost, struct def_err *err);

/* The internal_cluster_id global parameter, created on first use. */
const char *def_cluster_id(void);

#endif
