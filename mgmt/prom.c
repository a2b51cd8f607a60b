/*
 * Prometheus text exposition (format 0.0.4) with rabbitmq_prometheus's
 * metric names and labels: /metrics sums over objects, /metrics/per-object
 * gives one series per queue, channel and connection.  No auth, as in
 * RabbitMQ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/api.h"
#include "mgmt/mgmt.h"
#include "mgmt/stats.h"
#include "server/def.h"
#include "server/inspect.h"
#include "server/policy.h"

uint64_t mgmt_mem_limit(void);
uint64_t mgmt_disk_free(void);
uint64_t mgmt_mem_used(void);
unsigned mgmt_fds_used(void);
uint64_t mgmt_fds_total(void);

static void
family(struct mgmt_buf *b, const char *name, const char *type, const char *help)
{
	mgmt_buf_printf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* A label value, escaped as the exposition format wants. */
static void
label(struct mgmt_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' || c == '"')
			mgmt_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			mgmt_buf_add(b, "\\n", 2);
		else
			mgmt_buf_add(b, &c, 1);
	}
}

static void
qseries(struct mgmt_buf *b, const char *name, const struct queue *q, uint64_t v)
{
	mgmt_buf_printf(b, "%s{vhost=\"", name);
	label(b, q->vh->name, strlen(q->vh->name));
	mgmt_buf_add(b, "\",queue=\"", 9);
	label(b, (const char *)q->name.ptr, q->name.len);
	mgmt_buf_printf(b, "\"} %llu\n", (unsigned long long)v);
}

static void
chan_label(char *out, size_t len, uint64_t conn_id, uint16_t number)
{
	snprintf(out, len, "<0.%llu.%u>", (unsigned long long)conn_id, number);
}

enum qmetric { QM_READY, QM_UNACKED, QM_MESSAGES, QM_CONSUMERS, QM_PUBLISHED };

static uint64_t
qvalue(const struct queue *q, enum qmetric m)
{
	switch (m) {
	case QM_READY: return q->count;
	case QM_UNACKED: return q->unacked;
	case QM_MESSAGES: return q->count + q->unacked;
	case QM_CONSUMERS: return q->nconsumers;
	default: return q->stat_published;
	}
}

void
mgmt_prom_handle(const struct mgmt_req *req, struct mgmt_resp *resp)
{
	struct mgmt_target t;
	struct mgmt_buf   *b = &resp->body;
	struct mgmt_totals tot;
	size_t             i, j;
	struct hmap_entry *e, *qe;

	mgmt_target_parse(req->url.p ? req->url.p : "/", &t);
	bool per_object = t.nsegs == 2 && strcmp(t.segs[0], "metrics") == 0 &&
	                  strcmp(t.segs[1], "per-object") == 0;
	bool detailed = t.nsegs == 2 && strcmp(t.segs[0], "metrics") == 0 &&
	                strcmp(t.segs[1], "detailed") == 0;
	if (!(t.nsegs == 1 && strcmp(t.segs[0], "metrics") == 0) && !per_object && !detailed) {
		mgmt_target_free(&t);
		resp->status = 404;
		resp->content_type = "text/plain";
		mgmt_buf_printf(b, "Not Found\n");
		return;
	}
	mgmt_target_free(&t);
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		resp->status = 405;
		mgmt_buf_printf(&resp->headers, "allow: GET, HEAD\r\n");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	mgmt_stats_totals(NULL, &tot);

	struct inspect_alarms alarms;
	inspect_alarms(&alarms);
	bool mem_alarm = alarms.mem_alarm, disk_alarm = alarms.disk_alarm;
	family(b, "rabbitmq_alarms_free_disk_space_watermark", "untyped",
	       "is 1 if free disk space watermark alarm is in effect");
	mgmt_buf_printf(b, "rabbitmq_alarms_free_disk_space_watermark %d\n", disk_alarm);
	family(b, "rabbitmq_alarms_memory_used_watermark", "untyped",
	       "is 1 if VM memory watermark alarm is in effect");
	mgmt_buf_printf(b, "rabbitmq_alarms_memory_used_watermark %d\n", mem_alarm);
	family(b, "rabbitmq_connections_opened_total", "counter", "Total number of connections opened");
	mgmt_buf_printf(b, "rabbitmq_connections_opened_total %llu\n",
	                (unsigned long long)inspect_conns_opened());
	family(b, "rabbitmq_connections_closed_total", "counter",
	       "Total number of connections closed or terminated");
	mgmt_buf_printf(b, "rabbitmq_connections_closed_total %llu\n",
	                (unsigned long long)(inspect_conns_opened() - inspect_conn_count()));
	family(b, "rabbitmq_channels_opened_total", "counter", "Total number of channels opened");
	mgmt_buf_printf(b, "rabbitmq_channels_opened_total %zu\n", inspect_chan_count());
	family(b, "rabbitmq_channels_closed_total", "counter", "Total number of channels closed");
	mgmt_buf_printf(b, "rabbitmq_channels_closed_total 0\n");
	family(b, "rabbitmq_process_open_fds", "gauge", "Open file descriptors");
	mgmt_buf_printf(b, "rabbitmq_process_open_fds %u\n", mgmt_fds_used());
	family(b, "rabbitmq_process_resident_memory_bytes", "gauge", "Memory used in bytes");
	mgmt_buf_printf(b, "rabbitmq_process_resident_memory_bytes %llu\n",
	                (unsigned long long)mgmt_mem_used());
	family(b, "rabbitmq_disk_space_available_bytes", "gauge", "Disk space available in bytes");
	mgmt_buf_printf(b, "rabbitmq_disk_space_available_bytes %llu\n",
	                (unsigned long long)mgmt_disk_free());
	family(b, "rabbitmq_process_max_fds", "gauge", "Open file descriptors limit");
	mgmt_buf_printf(b, "rabbitmq_process_max_fds %llu\n", (unsigned long long)mgmt_fds_total());
	family(b, "rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes");
	mgmt_buf_printf(b, "rabbitmq_resident_memory_limit_bytes %llu\n",
	                (unsigned long long)mgmt_mem_limit());
	family(b, "rabbitmq_disk_space_available_limit_bytes", "gauge",
	       "Free disk space low watermark in bytes");
	mgmt_buf_printf(b, "rabbitmq_disk_space_available_limit_bytes 50000000\n");

	static const struct {
		const char  *name, *type, *help;
		enum qmetric m;
	} qfam[] = {
		{ "rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers",
		  QM_READY },
		{ "rabbitmq_queue_messages_unacked", "gauge",
		  "Messages delivered to consumers but not yet acknowledged", QM_UNACKED },
		{ "rabbitmq_queue_messages", "gauge",
		  "Sum of ready and unacknowledged messages - total queue depth", QM_MESSAGES },
		{ "rabbitmq_queue_consumers", "gauge", "Consumers on a queue", QM_CONSUMERS },
		{ "rabbitmq_queue_messages_published_total", "counter",
		  "Total number of messages published to queues", QM_PUBLISHED },
	};
	size_t nqueues = 0, nconsumers = 0;
	for (size_t f = 0; f < sizeof(qfam) / sizeof(qfam[0]); f++) {
		uint64_t sum = 0;
		family(b, qfam[f].name, qfam[f].type, qfam[f].help);
		for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e)) {
			struct vhost *vh = e->val;
			for (qe = hmap_first(&vh->queues, &j); qe; qe = hmap_next(&vh->queues, &j, qe)) {
				uint64_t v = qvalue(qe->val, qfam[f].m);
				if (per_object)
					qseries(b, qfam[f].name, qe->val, v);
				sum += v;
				if (f == 0)
					nqueues++;
				if (qfam[f].m == QM_CONSUMERS)
					nconsumers += v;
			}
		}
		if (!per_object)
			mgmt_buf_printf(b, "%s %llu\n", qfam[f].name, (unsigned long long)sum);
	}

	struct inspect_chan *ch;
	size_t               nch = inspect_chans(&ch);
	static const struct {
		const char *name, *type, *help;
		int         which; /* 0 consumers 1 unacked 2 published 3 delivered_ack 4 acked */
	} cfam[] = {
		{ "rabbitmq_channel_consumers", "gauge", "Consumers on a channel", 0 },
		{ "rabbitmq_channel_messages_unacked", "gauge",
		  "Delivered but not yet acknowledged messages", 1 },
		{ "rabbitmq_channel_messages_published_total", "counter",
		  "Total number of messages published into an exchange on a channel", 2 },
		{ "rabbitmq_channel_messages_delivered_ack_total", "counter",
		  "Total number of messages delivered to consumers in manual acknowledgement mode", 3 },
		{ "rabbitmq_channel_messages_acked_total", "counter",
		  "Total number of messages acknowledged by consumers", 4 },
	};
	for (size_t f = 0; f < sizeof(cfam) / sizeof(cfam[0]); f++) {
		uint64_t sum = 0;
		family(b, cfam[f].name, cfam[f].type, cfam[f].help);
		for (i = 0; i < nch; i++) {
			uint64_t v = cfam[f].which == 0 ? ch[i].consumer_count :
			             cfam[f].which == 1 ? ch[i].messages_unacknowledged :
			             cfam[f].which == 2 ? ch[i].stat_publish :
			             cfam[f].which == 3 ? ch[i].stat_deliver : ch[i].stat_ack;
			sum += v;
			if (per_object) {
				char cl[64];
				chan_label(cl, sizeof(cl), ch[i].conn_id, ch[i].number);
				mgmt_buf_printf(b, "%s{channel=\"%s\"} %llu\n", cfam[f].name, cl,
				                (unsigned long long)v);
			}
		}
		if (!per_object)
			mgmt_buf_printf(b, "%s %llu\n", cfam[f].name, (unsigned long long)sum);
	}
	free(ch);

	struct inspect_conn *cn;
	size_t               ncn = inspect_conns(&cn);
	static const struct {
		const char *name, *type, *help;
		int         which;
	} nfam[] = {
		{ "rabbitmq_connection_incoming_bytes_total", "counter",
		  "Total number of bytes received on a connection", 0 },
		{ "rabbitmq_connection_outgoing_bytes_total", "counter",
		  "Total number of bytes sent on a connection", 1 },
		{ "rabbitmq_connection_incoming_packets_total", "counter",
		  "Total number of packets received on a connection", 2 },
		{ "rabbitmq_connection_outgoing_packets_total", "counter",
		  "Total number of packets sent on a connection", 3 },
		{ "rabbitmq_connection_channels", "gauge", "Channels on a connection", 4 },
	};
	for (size_t f = 0; f < sizeof(nfam) / sizeof(nfam[0]); f++) {
		uint64_t sum = 0;
		family(b, nfam[f].name, nfam[f].type, nfam[f].help);
		for (i = 0; i < ncn; i++) {
			uint64_t v = nfam[f].which == 0 ? cn[i].recv_oct : nfam[f].which == 1 ? cn[i].send_oct :
			             nfam[f].which == 2 ? cn[i].recv_cnt : nfam[f].which == 3 ? cn[i].send_cnt :
			                                  cn[i].channels;
			sum += v;
			if (per_object) {
				char cl[64];
				chan_label(cl, sizeof(cl), cn[i].id, 0);
				mgmt_buf_printf(b, "%s{channel=\"%s\"} %llu\n", nfam[f].name, cl,
				                (unsigned long long)v);
			}
		}
		if (!per_object)
			mgmt_buf_printf(b, "%s %llu\n", nfam[f].name, (unsigned long long)sum);
	}
	inspect_conns_free(cn, ncn);

	family(b, "rabbitmq_connections", "gauge", "Connections currently open");
	mgmt_buf_printf(b, "rabbitmq_connections %zu\n", inspect_conn_count());
	family(b, "rabbitmq_channels", "gauge", "Channels currently open");
	mgmt_buf_printf(b, "rabbitmq_channels %zu\n", inspect_chan_count());
	family(b, "rabbitmq_consumers", "gauge", "Consumers currently connected");
	mgmt_buf_printf(b, "rabbitmq_consumers %zu\n", nconsumers);
	family(b, "rabbitmq_queues", "gauge", "Queues available");
	mgmt_buf_printf(b, "rabbitmq_queues %zu\n", nqueues);
	family(b, "rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
	mgmt_buf_printf(b, "rabbitmq_build_info{rabbitmq_version=\"3.10.8\",prometheus_plugin_version="
	                   "\"3.10.8\",prometheus_client_version=\"4.9.1\",erlang_version=\"25.2.3\"} 1\n");
	family(b, "rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
	const struct policy_param *cnp = policy_param_get(NULL, NULL, "cluster_name");
	const char *cluster = cnp && json_is_string(cnp->value) ? json_string_value(cnp->value) :
	                                                         mgmt_node_name();
	mgmt_buf_add(b, "rabbitmq_identity_info{rabbitmq_node=\"", 38);
	label(b, mgmt_node_name(), strlen(mgmt_node_name()));
	mgmt_buf_add(b, "\",rabbitmq_cluster=\"", 20);
	label(b, cluster, strlen(cluster));
	mgmt_buf_add(b, "\",rabbitmq_cluster_permanent_id=\"", 33);
	label(b, def_cluster_id(), strlen(def_cluster_id()));
	mgmt_buf_add(b, "\"} 1\n", 5);
	family(b, "rabbitmq_global_consumers", "gauge", "Current number of consumers");
	mgmt_buf_printf(b, "rabbitmq_global_consumers{protocol=\"amqp091\"} %zu\n", nconsumers);
	family(b, "rabbitmq_global_messages_acknowledged_total", "counter",
	       "Total number of messages acknowledged by consumers");
	mgmt_buf_printf(b, "rabbitmq_global_messages_acknowledged_total{protocol=\"amqp091\",queue_type="
	                   "\"rabbit_classic_queue\"} %llu\n",
	                (unsigned long long)tot.v[MGMT_T_ACK]);
	family(b, "rabbitmq_global_messages_confirmed_total", "counter",
	       "Total number of messages confirmed to publishers");
	mgmt_buf_printf(b, "rabbitmq_global_messages_confirmed_total{protocol=\"amqp091\"} 0\n");
	family(b, "rabbitmq_global_messages_delivered_total", "counter",
	       "Total number of messages delivered to consumers");
	mgmt_buf_printf(b, "rabbitmq_global_messages_delivered_total{protocol=\"amqp091\",queue_type="
	                   "\"rabbit_classic_queue\"} %llu\n",
	                (unsigned long long)tot.v[MGMT_T_DELIVER]);
	family(b, "rabbitmq_global_messages_redelivered_total", "counter",
	       "Total number of messages redelivered to consumers");
	mgmt_buf_printf(b, "rabbitmq_global_messages_redelivered_total{protocol=\"amqp091\",queue_type="
	                   "\"rabbit_classic_queue\"} %llu\n",
	                (unsigned long long)tot.v[MGMT_T_REDELIVER]);
	family(b, "rabbitmq_global_messages_received_total", "counter",
	       "Total number of messages received from publishers");
	mgmt_buf_printf(b, "rabbitmq_global_messages_received_total{protocol=\"amqp091\"} %llu\n",
	                (unsigned long long)tot.v[MGMT_T_PUBLISH]);
	family(b, "rabbitmq_global_messages_routed_total", "counter",
	       "Total number of messages routed to queues or streams");
	uint64_t routed = 0;
	for (e = hmap_first(&broker.vhosts, &i); e; e = hmap_next(&broker.vhosts, &i, e))
		for (qe = hmap_first(&((struct vhost *)e->val)->queues, &j); qe;
		     qe = hmap_next(&((struct vhost *)e->val)->queues, &j, qe))
			routed += ((struct queue *)qe->val)->stat_published;
	mgmt_buf_printf(b, "rabbitmq_global_messages_routed_total{protocol=\"amqp091\"} %llu\n",
	                (unsigned long long)routed);
	family(b, "rabbitmq_global_messages_unroutable_dropped_total", "counter",
	       "Total number of messages published as non-mandatory into an exchange and dropped as "
	       "unroutable");
	mgmt_buf_printf(b, "rabbitmq_global_messages_unroutable_dropped_total{protocol=\"amqp091\"} 0\n");
	family(b, "rabbitmq_global_publishers", "gauge", "Current number of publishers");
	mgmt_buf_printf(b, "rabbitmq_global_publishers{protocol=\"amqp091\"} 0\n");
}
