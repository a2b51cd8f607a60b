/*
 * Message rates: a periodic ev_timer samples the engine's counters every
 * MGMT_STATS_INTERVAL seconds (never on the hot path) and keeps, per
 * queue, connection, channel and vhost, the last values and the rate over
 * the interval, plus lifetime totals that outlive deleted objects (for the
 * overview and vhosts).
 */
#ifndef MGMT_STATS_H
#define MGMT_STATS_H

#include <ev.h>
#include <stdint.h>

#include "amqp/bytes.h"

struct queue;

#define MGMT_STATS_INTERVAL 5.0

enum { MGMT_Q_PUBLISH, MGMT_Q_DELIVER, MGMT_Q_ACK, MGMT_Q_REDELIVER, MGMT_Q_MESSAGES,
       MGMT_Q_READY, MGMT_Q_UNACKED, MGMT_Q_GET, MGMT_Q_GET_NOACK, MGMT_Q_GET_EMPTY,
       MGMT_Q_NSTATS };
enum { MGMT_C_RECV_OCT, MGMT_C_SEND_OCT, MGMT_C_NSTATS };
enum { MGMT_CH_PUBLISH, MGMT_CH_DELIVER, MGMT_CH_ACK, MGMT_CH_RETURN, MGMT_CH_DROP,
       MGMT_CH_NSTATS };

/* Lifetime totals (overview, per vhost) and their rates. */
enum { MGMT_T_PUBLISH, MGMT_T_DELIVER, MGMT_T_ACK, MGMT_T_REDELIVER, MGMT_T_MESSAGES,
       MGMT_T_READY, MGMT_T_UNACKED, MGMT_T_RECV_OCT, MGMT_T_SEND_OCT, MGMT_T_CONN_CREATED,
       MGMT_T_CONN_CLOSED, MGMT_T_GET, MGMT_T_GET_NOACK, MGMT_T_GET_EMPTY,
       MGMT_T_RETURN_UNROUTABLE, MGMT_T_DROP_UNROUTABLE, MGMT_T_QUEUE_CREATED,
       MGMT_T_QUEUE_DECLARED, MGMT_T_QUEUE_DELETED, MGMT_T_CHAN_CREATED, MGMT_T_CHAN_CLOSED,
       MGMT_T_CONSUMERS, MGMT_T_NSTATS };

struct mgmt_totals {
	uint64_t v[MGMT_T_NSTATS];
	double   rate[MGMT_T_NSTATS];
};

void mgmt_stats_start(struct ev_loop *loop);
void mgmt_stats_stop(struct ev_loop *loop);
/* Take a sample now (also what the timer does). */
void mgmt_stats_sample(void);

/* Rates (per second, over the last interval) of one object; 0 when unknown. */
double mgmt_stats_queue_rate(const struct queue *q, int which);
/* All of a queue's rates at once: rates[MGMT_Q_NSTATS]. */
void   mgmt_stats_queue_rates(const struct queue *q, double *rates);
double mgmt_stats_conn_rate(uint64_t conn_id, int which);
double mgmt_stats_chan_rate(uint64_t conn_id, uint16_t chan, int which);
/* Totals for everything (vhost NULL) or one vhost. */
void   mgmt_stats_totals(const char *vhost, struct mgmt_totals *out);

#endif
