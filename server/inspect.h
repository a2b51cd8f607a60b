/*
 * Read-only snapshots of connections, channels and consumers for the
 * management API and metrics, so that mgmt/ needs neither conn.h nor
 * channel.h.  A snapshot copies what it shows (no pointers into the
 * engine survive it); the few actions go by connection id.
 */
#ifndef SERVER_INSPECT_H
#define SERVER_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/transport.h"

#include "amqp/bytes.h"

struct inspect_conn {
	uint64_t id;
	char     name[160];      /* "peer_host:port -> host:port", as RabbitMQ names it */
	char     peer_host[64], host[64];
	uint16_t peer_port, port;
	char     user[128];
	char     vhost[256];     /* "" before connection.open */
	const char *state;       /* "starting", "tuning", "opening", "running", "closing", "closed" */
	bool     open;           /* completed connection.open */
	uint16_t channel_max;
	uint32_t frame_max;
	uint16_t heartbeat;
	double   connected_at;   /* seconds since the epoch */
	uint8_t *client_props;   /* owned copy, encoded table body */
	size_t   client_props_len;
	uint32_t channels;
	uint64_t recv_oct, send_oct, recv_cnt, send_cnt, send_pend;
	char     auth_mechanism[16]; /* "PLAIN", "AMQPLAIN", "EXTERNAL"; "" before start-ok */
	bool     ssl;
	struct transport_tls_info tls; /* when ssl */
	const char *blocked_reason; /* "memory", "disk", "flow" or NULL (static) */
	double   blocked_since;  /* seconds since the epoch */
};

struct inspect_chan {
	uint64_t conn_id;
	char     conn_name[160];
	char     peer_host[64];
	uint16_t peer_port;
	uint16_t number;
	char     user[128];
	char     vhost[256];
	const char *state;       /* "running", "closing" */
	bool     confirm, transactional;
	uint32_t consumer_count;
	uint32_t prefetch_count, global_prefetch_count;
	uint64_t messages_unacknowledged, messages_unconfirmed, messages_uncommitted;
	uint64_t stat_publish, stat_deliver, stat_ack, stat_return, stat_drop;
};

struct inspect_consumer {
	char     queue[256];
	char     vhost[256];
	char     tag[256];
	bool     ack_required, exclusive;
	uint32_t prefetch_count;
	int32_t  priority;
	uint8_t *args;           /* owned copy, encoded table body */
	size_t   args_len;
	uint64_t conn_id;
	char     conn_name[160];
	char     peer_host[64];
	uint16_t peer_port;
	uint16_t chan_number;
	char     user[128];
	bool     active;         /* single active consumer: the active one; else true */
};

/* Snapshots (arrays owned by the caller; free with the matching _free). */
size_t inspect_conns(struct inspect_conn **out);
void   inspect_conns_free(struct inspect_conn *v, size_t n);
size_t inspect_chans(struct inspect_chan **out);
size_t inspect_consumers(struct inspect_consumer **out);
void   inspect_consumers_free(struct inspect_consumer *v, size_t n);

/* Counters for totals. */
/* Resource alarms in effect and their thresholds: nodes, status, health checks, the console. */
struct inspect_alarms {
	bool     mem_alarm, disk_alarm;
	uint64_t mem_limit;        /* bytes; 0 before the memory monitor started */
	uint64_t disk_free_limit;  /* bytes */
};
void     inspect_alarms(struct inspect_alarms *a);
size_t   inspect_conn_count(void);
size_t   inspect_chan_count(void);
uint64_t inspect_conns_opened(void);

struct queue;
struct msg;

/* The exclusive owner of a queue: its connection's name and peer; -1 if none. */
int inspect_queue_owner(const struct queue *q, char *name, size_t nlen, char *host, size_t hlen,
                        uint16_t *port);

/* A delivered, unacknowledged message of a queue (borrowed: valid until the loop turns). */
struct inspect_unacked {
	const struct msg *m;
	bool              redelivered;
	double            at; /* when it was delivered, seconds since the epoch */
};
/* Unacknowledged messages of q, oldest first (array owned by the caller). */
size_t inspect_queue_unacked(const struct queue *q, struct inspect_unacked **out);
/* Age in seconds of q's oldest unacknowledged message, -1 if there is none. */
double inspect_queue_oldest_unacked(const struct queue *q);

/* Close a connection with 320 CONNECTION_FORCED and reason; -1 if no such open connection. */
int inspect_conn_close(uint64_t id, const char *reason);

#endif
