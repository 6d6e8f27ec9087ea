/*
 * turn_relay: the TURN relay fast path of one worker (see turn_relay.h).
 *
 * Tables, all sized at create:
 *   allocs[]      slots; found by client 5-tuple (hash of the client
 *                 address, chained, with the listener port), by id (hash,
 *                 chained) and by relay port (owner map)
 *   perms[]       a pool; each allocation chains its own (a handful: spcp
 *                 caps them per allocation), free slots on a free list
 *   chans[]       the same for channel bindings
 *   conns[]       TCP/TLS client connections (a pool; each knows its
 *                 listener, client address, allocation, TLS state and a
 *                 partly received message)
 *   owner[]       backend port index -> listener, connection or
 *                 allocation, so the worker routes a packet with one load
 *
 * Packets are never copied on the relay path except to build a Data
 * indication (its header does not fit the backend's per-destination
 * header, and the payload must be padded): ChannelData and Send
 * indications leave as [optional header][the received buffer from an
 * offset], referencing the receive buffer.
 */
#include "turn_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stun.h"
#include "turn_policy.h"

#define NO_IDX UINT32_MAX
#define NS 1000000000ull
#define SWEEP_NS (250 * 1000000ull)
/* Owner map values: kind in the top bits, index below. */
#define OWN_LISTENER (1u << 30)
#define OWN_RELAY (2u << 30)
#define OWN_CONN (3u << 30)
#define OWN_KIND(v) ((v) & (3u << 30))
#define OWN_IDX(v) ((v) & ((1u << 30) - 1))
/* A bucket holds this long at the capped rate (and at least 2 packets). */
#define BURST_NS (250 * 1000000ull)
#define BURST_MIN_BYTES 3000ull
/* TLS: the largest message assembled for one encryption (a ChannelData
 * header, a datagram and padding) and the ciphertext moved per step. */
#define SCRATCH (65536 + 8)
/* A dump's work per loop turn: records sent, allocation slots looked at. */
#define DUMP_RECORDS 64
#define DUMP_SLOTS 1024

struct bucket {
	uint64_t nb;   /* tokens in nanobytes (bytes * 1e9): exact integer refill */
	uint64_t last; /* ns */
};

struct talloc {
	bool used;
	uint8_t dont_fragment; /* relay ports set not to fragment */
	uint16_t owner_len;
	uint32_t id;
	uint32_t listener;     /* listener index */
	struct sp_addr client;
	uint32_t relay_port[2]; /* backend ports: [0] relay, [1] relay6 (NO_IDX) */
	struct sp_addr relay[2];
	uint64_t expiry;
	uint64_t rate;         /* bytes per second, 0: no cap */
	uint64_t bandwidth_bps; /* as spcp sent it (dumps) */
	uint64_t burst_nb;
	struct bucket up, down; /* client -> peer, peer -> client */
	uint32_t conn;          /* TCP/TLS: its connection; NO_IDX over UDP */
	uint32_t perms, chans;  /* list heads */
	uint32_t next_cli, next_id, next_free;
	char owner[MSG_TURN_OWNER_MAX]; /* spcp's, handed back in dumps */
};

struct tperm {
	struct sp_addr ip;     /* port 0 */
	uint64_t expiry;
	uint32_t next;
};

struct tchan {
	struct sp_addr peer;
	uint64_t expiry;
	uint16_t num;
	uint32_t next;
};

struct listener {
	uint32_t port;
	uint8_t transport;     /* enum msg_turn_transport */
	struct sp_addr addr;   /* bound address (local side of every 5-tuple) */
};

struct tconn {
	bool used;
	uint32_t port;         /* backend port index of the connection */
	uint32_t listener;
	uint32_t alloc;        /* NO_IDX: none (yet) */
	struct sp_addr client;
	uint64_t deadline;     /* closed then unless it holds an allocation; 0: set at the next sweep */
	tls_stream *tls;       /* TLS listeners only */
	bool established;      /* TLS: handshake done (the deadline became the idle one) */
	struct dp_pkt part;    /* a message split across reads, in a transmit buffer */
	uint32_t part_len, part_cap;
	uint32_t next_free;
};

/* Where a dump stands: the allocation slot, what of it was sent, and the
 * next permission/channel (pool index) when it stopped for room. */
enum { DUMP_ALLOC, DUMP_PERMS, DUMP_CHANS };

struct dump {
	bool active;
	uint8_t phase;
	uint64_t seq;
	uint32_t slot;
	uint32_t id;      /* the allocation being sent (its slot may be reused meanwhile) */
	uint32_t sub;     /* next permission/channel, NO_IDX: the list's head */
	uint32_t allocs, perms, chans;
};

struct turn_relay {
	struct turn_relay_cfg cfg;
	const struct dp_backend_ops *ops;
	struct dp_backend *be;
	struct stats_block *st;
	struct turn_relay_hooks hooks;
	struct listener listeners[TURN_RELAY_MAX_LISTENERS];
	uint32_t n_listeners;
	uint32_t *owner;
	struct talloc *allocs;
	uint32_t *cli_buckets, *id_buckets, mask;
	uint32_t free_alloc, n_allocs;
	struct tperm *perms;
	uint32_t free_perm, n_perms;
	struct tchan *chans;
	uint32_t free_chan, n_chans;
	struct tconn *conns;
	uint32_t free_conn, n_conns;
	uint8_t *scratch;      /* TLS: a message assembled for one encryption */
	uint8_t *cipher;       /* TLS: ciphertext on its way to the backend */
	uint64_t next_sweep;
	uint64_t rng;
	struct dump dump;
	struct stun_msg msg; /* scratch for the parser (large for a stack) */
};

static inline void cnt(turn_relay *tr, enum stat_counter c)
{
	stats_add(tr->st, c, 1);
}

static inline void drop(turn_relay *tr, enum stat_drop d)
{
	stats_drop(tr->st, d);
}

static bool same_ip(const struct sp_addr *a, const struct sp_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

static uint32_t id_hash(uint32_t id)
{
	return (id * 2654435761u) ^ (id >> 16);
}

static uint32_t cli_hash(const struct sp_addr *a, uint32_t listener)
{
	return sp_addr_hash(a) ^ (listener * 0x9e3779b9u);
}

/* ------------------------------------------------------------ lifecycle */

turn_relay *turn_relay_create(const struct turn_relay_cfg *cfg, const struct dp_backend_ops *ops,
			      struct dp_backend *be, struct stats_block *stats,
			      const struct turn_relay_hooks *hooks)
{
	turn_relay *tr;
	uint32_t nb = 1;

	if (!cfg || !ops || !stats || !hooks || !cfg->max_allocs || !cfg->max_perms ||
	    !cfg->max_channels || !cfg->max_ports || cfg->max_allocs >= (1u << 30) ||
	    cfg->max_conns >= (1u << 30) ||
	    cfg->max_ports >= (1u << 30) || cfg->max_perms >= NO_IDX ||
	    cfg->max_channels >= NO_IDX) {
		errno = EINVAL;
		return NULL;
	}
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return NULL;
	tr->cfg = *cfg;
	tr->ops = ops;
	tr->be = be;
	tr->st = stats;
	tr->hooks = *hooks;
	while (nb < 2 * cfg->max_allocs)
		nb <<= 1;
	tr->mask = nb - 1;
	tr->owner = calloc(cfg->max_ports, sizeof(*tr->owner));
	tr->allocs = calloc(cfg->max_allocs, sizeof(*tr->allocs));
	tr->cli_buckets = malloc(nb * sizeof(uint32_t));
	tr->id_buckets = malloc(nb * sizeof(uint32_t));
	tr->perms = calloc(cfg->max_perms, sizeof(*tr->perms));
	tr->chans = calloc(cfg->max_channels, sizeof(*tr->chans));
	tr->conns = calloc(cfg->max_conns ? cfg->max_conns : 1, sizeof(*tr->conns));
	tr->scratch = cfg->tls ? malloc(SCRATCH) : NULL;
	tr->cipher = cfg->tls ? malloc(SCRATCH) : NULL;
	if (!tr->owner || !tr->allocs || !tr->cli_buckets || !tr->id_buckets || !tr->perms ||
	    !tr->chans || !tr->conns || (cfg->tls && (!tr->scratch || !tr->cipher))) {
		turn_relay_destroy(tr);
		errno = ENOMEM;
		return NULL;
	}
	memset(tr->cli_buckets, 0xff, nb * sizeof(uint32_t));
	memset(tr->id_buckets, 0xff, nb * sizeof(uint32_t));
	for (uint32_t i = 0; i < cfg->max_allocs; i++)
		tr->allocs[i].next_free = i + 1 < cfg->max_allocs ? i + 1 : NO_IDX;
	for (uint32_t i = 0; i < cfg->max_perms; i++)
		tr->perms[i].next = i + 1 < cfg->max_perms ? i + 1 : NO_IDX;
	for (uint32_t i = 0; i < cfg->max_channels; i++)
		tr->chans[i].next = i + 1 < cfg->max_channels ? i + 1 : NO_IDX;
	for (uint32_t i = 0; i < cfg->max_conns; i++)
		tr->conns[i].next_free = i + 1 < cfg->max_conns ? i + 1 : NO_IDX;
	tr->free_alloc = tr->free_perm = tr->free_chan = 0;
	tr->free_conn = cfg->max_conns ? 0 : NO_IDX;
	tr->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)cfg->worker << 32) ^ (uint64_t)(uintptr_t)tr;
	return tr;
}

static void close_relay_ports(turn_relay *tr, struct talloc *a)
{
	for (int k = 0; k < 2; k++) {
		uint32_t p = a->relay_port[k];
		if (p == NO_IDX)
			continue;
		tr->ops->port_close(tr->be, p);
		if (p < tr->cfg.max_ports)
			tr->owner[p] = 0;
		a->relay_port[k] = NO_IDX;
	}
}

void turn_relay_destroy(turn_relay *tr)
{
	if (!tr)
		return;
	for (uint32_t i = 0; tr->allocs && i < tr->cfg.max_allocs; i++)
		if (tr->allocs[i].used)
			close_relay_ports(tr, &tr->allocs[i]);
	for (uint32_t i = 0; tr->conns && i < tr->cfg.max_conns; i++) {
		struct tconn *c = &tr->conns[i];
		if (!c->used)
			continue;
		if (c->part_cap)
			tr->ops->release(tr->be, &c->part);
		tls_stream_free(c->tls);
		tr->ops->port_close(tr->be, c->port);
	}
	free(tr->conns);
	free(tr->scratch);
	free(tr->cipher);
	free(tr->owner);
	free(tr->allocs);
	free(tr->cli_buckets);
	free(tr->id_buckets);
	free(tr->perms);
	free(tr->chans);
	free(tr);
}

static int add_listener(turn_relay *tr, uint32_t port, uint8_t transport)
{
	struct listener *l;
	int rc;

	if (port >= tr->cfg.max_ports || tr->owner[port])
		return -EINVAL;
	if (tr->n_listeners == TURN_RELAY_MAX_LISTENERS)
		return -ENOSPC;
	l = &tr->listeners[tr->n_listeners];
	if ((rc = tr->ops->port_addr(tr->be, port, &l->addr)) < 0)
		return rc;
	l->port = port;
	l->transport = transport;
	tr->owner[port] = OWN_LISTENER | tr->n_listeners;
	tr->n_listeners++;
	return 0;
}

int turn_relay_add_listener(turn_relay *tr, uint32_t port)
{
	return add_listener(tr, port, MSG_TURN_TP_UDP);
}

int turn_relay_add_stream_listener(turn_relay *tr, uint32_t port, bool tls)
{
	if (!tr->cfg.max_conns || (tls && !tr->cfg.tls))
		return -EINVAL;
	return add_listener(tr, port, tls ? MSG_TURN_TP_TLS : MSG_TURN_TP_TCP);
}

bool turn_relay_owns(const turn_relay *tr, uint32_t port)
{
	return port < tr->cfg.max_ports && tr->owner[port] != 0;
}

void turn_relay_get_counts(const turn_relay *tr, struct turn_relay_counts *out)
{
	*out = (struct turn_relay_counts){ tr->n_allocs, tr->n_perms, tr->n_chans, tr->n_listeners,
					   tr->n_conns };
}

/* ------------------------------------------------------------ tables */

static struct talloc *find_id(turn_relay *tr, uint32_t id)
{
	for (uint32_t i = tr->id_buckets[id_hash(id) & tr->mask]; i != NO_IDX;
	     i = tr->allocs[i].next_id)
		if (tr->allocs[i].id == id)
			return &tr->allocs[i];
	return NULL;
}

static struct talloc *find_client(turn_relay *tr, const struct sp_addr *client, uint32_t listener)
{
	for (uint32_t i = tr->cli_buckets[cli_hash(client, listener) & tr->mask]; i != NO_IDX;
	     i = tr->allocs[i].next_cli) {
		struct talloc *a = &tr->allocs[i];
		if (a->listener == listener && sp_addr_equal(&a->client, client))
			return a;
	}
	return NULL;
}

static void unchain(uint32_t *head, struct talloc *allocs, uint32_t idx, bool by_id)
{
	uint32_t *pp = head;
	while (*pp != NO_IDX && *pp != idx)
		pp = by_id ? &allocs[*pp].next_id : &allocs[*pp].next_cli;
	if (*pp == idx)
		*pp = by_id ? allocs[idx].next_id : allocs[idx].next_cli;
}

static struct tperm *find_perm(turn_relay *tr, const struct talloc *a, const struct sp_addr *ip)
{
	for (uint32_t i = a->perms; i != NO_IDX; i = tr->perms[i].next)
		if (same_ip(&tr->perms[i].ip, ip))
			return &tr->perms[i];
	return NULL;
}

static bool perm_valid(turn_relay *tr, const struct talloc *a, const struct sp_addr *ip,
		       uint64_t now)
{
	const struct tperm *p = find_perm(tr, a, ip);
	return p && now < p->expiry;
}

static struct tchan *find_chan_num(turn_relay *tr, const struct talloc *a, uint16_t num)
{
	for (uint32_t i = a->chans; i != NO_IDX; i = tr->chans[i].next)
		if (tr->chans[i].num == num)
			return &tr->chans[i];
	return NULL;
}

static struct tchan *find_chan_peer(turn_relay *tr, const struct talloc *a,
				    const struct sp_addr *peer)
{
	for (uint32_t i = a->chans; i != NO_IDX; i = tr->chans[i].next)
		if (sp_addr_equal(&tr->chans[i].peer, peer))
			return &tr->chans[i];
	return NULL;
}

/* Unlink entry `idx` from a list starting at *head, put it on the free list. */
static void perm_free(turn_relay *tr, uint32_t *head, uint32_t idx)
{
	uint32_t *pp = head;
	while (*pp != NO_IDX && *pp != idx)
		pp = &tr->perms[*pp].next;
	if (*pp != idx)
		return;
	*pp = tr->perms[idx].next;
	tr->perms[idx].next = tr->free_perm;
	tr->free_perm = idx;
	tr->n_perms--;
}

static void chan_free(turn_relay *tr, uint32_t *head, uint32_t idx)
{
	uint32_t *pp = head;
	while (*pp != NO_IDX && *pp != idx)
		pp = &tr->chans[*pp].next;
	if (*pp != idx)
		return;
	*pp = tr->chans[idx].next;
	tr->chans[idx].next = tr->free_chan;
	tr->free_chan = idx;
	tr->n_chans--;
}

static void alloc_remove(turn_relay *tr, struct talloc *a)
{
	uint32_t idx = (uint32_t)(a - tr->allocs);

	close_relay_ports(tr, a);
	if (a->conn != NO_IDX) {
		/* The connection stays (the client may allocate again) until idle. */
		tr->conns[a->conn].alloc = NO_IDX;
		tr->conns[a->conn].deadline = 0;
	}
	while (a->perms != NO_IDX)
		perm_free(tr, &a->perms, a->perms);
	while (a->chans != NO_IDX)
		chan_free(tr, &a->chans, a->chans);
	unchain(&tr->cli_buckets[cli_hash(&a->client, a->listener) & tr->mask], tr->allocs, idx, false);
	unchain(&tr->id_buckets[id_hash(a->id) & tr->mask], tr->allocs, idx, true);
	memset(a, 0, sizeof(*a));
	a->next_free = tr->free_alloc;
	tr->free_alloc = idx;
	tr->n_allocs--;
}

/* The relay port of an allocation for a peer of this family. */
static uint32_t relay_for(const struct talloc *a, uint8_t family)
{
	for (int k = 0; k < 2; k++)
		if (a->relay_port[k] != NO_IDX && a->relay[k].family == family)
			return a->relay_port[k];
	return NO_IDX;
}

/* ------------------------------------------------------------ bandwidth */

static bool bucket_take(const struct talloc *a, struct bucket *b, uint32_t bytes, uint64_t now)
{
	if (!a->rate)
		return true;
	if (now > b->last) {
		uint64_t dt = now - b->last;
		/* dt * rate can only overflow when it would fill the bucket anyway */
		if (dt >= a->burst_nb / a->rate || b->nb + dt * a->rate >= a->burst_nb)
			b->nb = a->burst_nb;
		else
			b->nb += dt * a->rate;
		b->last = now;
	}
	uint64_t cost = (uint64_t)bytes * NS;
	if (b->nb < cost)
		return false;
	b->nb -= cost;
	return true;
}

/* ------------------------------------------------------------ effects */

static void emit(turn_relay *tr, struct msg_turn_event *ev)
{
	ev->worker = tr->cfg.worker;
	if (tr->hooks.event)
		tr->hooks.event(tr->hooks.ctx, ev);
}

static void fail(turn_relay *tr, const struct msg_turn_effect *m, int err)
{
	struct msg_turn_event ev = { .seq = m->seq, .kind = TURN_EV_FAILED, .alloc_id = m->alloc_id,
				     .error = err, .effect_type = m->type, .channel = m->channel,
				     .peer = m->peer };
	emit(tr, &ev);
}

static int find_listener(const turn_relay *tr, const struct sp_addr *a, uint8_t transport)
{
	for (uint32_t i = 0; i < tr->n_listeners; i++)
		if (tr->listeners[i].transport == transport && sp_addr_equal(&tr->listeners[i].addr, a))
			return (int)i;
	return -1;
}

/* The open connection of a client on a stream listener. */
static uint32_t find_conn(const turn_relay *tr, const struct sp_addr *client, uint32_t li)
{
	for (uint32_t i = 0; i < tr->cfg.max_conns; i++) {
		const struct tconn *c = &tr->conns[i];
		if (c->used && c->listener == li && sp_addr_equal(&c->client, client))
			return i;
	}
	return NO_IDX;
}

static int open_relay(turn_relay *tr, struct talloc *a, int k, const struct sp_addr *addr)
{
	uint32_t port;
	int rc = tr->ops->port_open(tr->be, addr, false, &port);

	if (rc < 0)
		return rc;
	if (port >= tr->cfg.max_ports || tr->owner[port]) {
		tr->ops->port_close(tr->be, port);
		return -ENOSPC;
	}
	/* RFC 8656 7.2: DONT-FRAGMENT asks for DF on what the relay sends; a
	 * backend that cannot do it must not pretend (the install fails). */
	if (a->dont_fragment &&
	    (rc = tr->ops->port_set_df ? tr->ops->port_set_df(tr->be, port, true) : -EOPNOTSUPP) < 0) {
		tr->ops->port_close(tr->be, port);
		return rc;
	}
	a->relay_port[k] = port;
	a->relay[k] = *addr;
	tr->owner[port] = OWN_RELAY | (uint32_t)(a - tr->allocs);
	return 0;
}

static void do_alloc_install(turn_relay *tr, const struct msg_turn_effect *m, uint64_t now)
{
	struct talloc *a;
	int li = find_listener(tr, &m->server, m->transport), rc;
	uint32_t ci = NO_IDX;

	if (li < 0) {
		fail(tr, m, -EADDRNOTAVAIL);
		return;
	}
	if (m->transport != MSG_TURN_TP_UDP) {
		/* Over TCP/TLS the allocation lives exactly as long as its
		 * connection: gone already means no allocation. */
		ci = find_conn(tr, &m->client, (uint32_t)li);
		if (ci == NO_IDX) {
			fail(tr, m, -ENOTCONN);
			return;
		}
	}
	/* spcp's view wins: an id or a 5-tuple it reuses replaces what a
	 * previous spcp left here. */
	if ((a = find_id(tr, m->alloc_id)))
		alloc_remove(tr, a);
	if ((a = find_client(tr, &m->client, (uint32_t)li)))
		alloc_remove(tr, a);
	if (tr->free_alloc == NO_IDX) {
		drop(tr, DROP_TURN_TABLE_FULL);
		fail(tr, m, -ENOSPC);
		return;
	}
	uint32_t idx = tr->free_alloc;
	a = &tr->allocs[idx];
	tr->free_alloc = a->next_free;
	memset(a, 0, sizeof(*a));
	a->used = true;
	a->id = m->alloc_id;
	a->listener = (uint32_t)li;
	a->client = m->client;
	a->dont_fragment = m->dont_fragment;
	a->owner_len = m->owner_len <= MSG_TURN_OWNER_MAX ? m->owner_len : 0;
	memcpy(a->owner, m->owner, a->owner_len);
	a->bandwidth_bps = m->bandwidth_bps;
	a->relay_port[0] = a->relay_port[1] = NO_IDX;
	a->perms = a->chans = NO_IDX;
	a->conn = NO_IDX;
	a->expiry = m->expiry_ns;
	a->rate = m->bandwidth_bps / 8;
	if (a->rate) {
		uint64_t burst = a->rate * BURST_NS / NS;
		if (burst < BURST_MIN_BYTES)
			burst = BURST_MIN_BYTES;
		a->burst_nb = burst * NS;
		a->up = a->down = (struct bucket){ a->burst_nb, now };
	}
	tr->n_allocs++;
	uint32_t *cb = &tr->cli_buckets[cli_hash(&a->client, a->listener) & tr->mask];
	uint32_t *ib = &tr->id_buckets[id_hash(a->id) & tr->mask];
	a->next_cli = *cb;
	*cb = idx;
	a->next_id = *ib;
	*ib = idx;
	for (int k = 0; k < 2; k++) {
		const struct sp_addr *ra = k ? &m->relay6 : &m->relay;
		if (!ra->family || (rc = open_relay(tr, a, k, ra)) == 0)
			continue;
		char s[SP_ADDR_STRLEN];
		log_rl(LOG_LVL_WARNING, -rc, "worker %u: TURN allocation %u: cannot bind relay %s",
		       tr->cfg.worker, m->alloc_id, sp_addr_str(ra, s));
		alloc_remove(tr, a);
		fail(tr, m, rc);
		return;
	}
	if (ci != NO_IDX) {
		struct tconn *c = &tr->conns[ci];
		if (c->alloc != NO_IDX && c->alloc != idx)
			alloc_remove(tr, &tr->allocs[c->alloc]); /* one allocation per 5-tuple */
		a->conn = ci;
		c->alloc = idx;
	}
	struct msg_turn_event ev = { .seq = m->seq, .kind = TURN_EV_INSTALLED, .alloc_id = a->id,
				     .effect_type = m->type, .relay = a->relay[0],
				     .relay6 = a->relay[1] };
	emit(tr, &ev);
}

static void do_perm_install(turn_relay *tr, struct talloc *a, const struct msg_turn_effect *m)
{
	struct sp_addr ip = m->peer;
	ip.port = 0;
	ip.scope = 0;
	struct tperm *p = find_perm(tr, a, &ip);
	if (!p) {
		if (tr->free_perm == NO_IDX) {
			drop(tr, DROP_TURN_TABLE_FULL);
			fail(tr, m, -ENOSPC);
			return;
		}
		uint32_t i = tr->free_perm;
		p = &tr->perms[i];
		tr->free_perm = p->next;
		p->ip = ip;
		p->next = a->perms;
		a->perms = i;
		tr->n_perms++;
	}
	p->expiry = m->expiry_ns;
}

static void do_chan_install(turn_relay *tr, struct talloc *a, const struct msg_turn_effect *m)
{
	struct tchan *c = find_chan_num(tr, a, m->channel);
	if (!c) {
		if (tr->free_chan == NO_IDX) {
			drop(tr, DROP_TURN_TABLE_FULL);
			fail(tr, m, -ENOSPC);
			return;
		}
		uint32_t i = tr->free_chan;
		c = &tr->chans[i];
		tr->free_chan = c->next;
		c->num = m->channel;
		c->next = a->chans;
		a->chans = i;
		tr->n_chans++;
	}
	c->peer = m->peer;
	c->peer.scope = 0;
	c->expiry = m->expiry_ns;
}

void turn_relay_effect(turn_relay *tr, const struct msg_turn_effect *m, uint64_t now)
{
	struct talloc *a;

	cnt(tr, STAT_TURN_EFFECTS);
	if (m->type == MSG_TURN_ALLOC_INSTALL) {
		do_alloc_install(tr, m, now);
		return;
	}
	a = find_id(tr, m->alloc_id);
	switch (m->type) {
	case MSG_TURN_ALLOC_REFRESH:
		if (a)
			a->expiry = m->expiry_ns;
		else
			fail(tr, m, -ENOENT);
		break;
	case MSG_TURN_ALLOC_REMOVE:
		if (a)
			alloc_remove(tr, a);
		break;
	case MSG_TURN_PERM_INSTALL:
		if (a)
			do_perm_install(tr, a, m);
		else
			fail(tr, m, -ENOENT);
		break;
	case MSG_TURN_PERM_REMOVE:
		if (a) {
			struct sp_addr ip = m->peer;
			ip.port = 0;
			struct tperm *p = find_perm(tr, a, &ip);
			if (p)
				perm_free(tr, &a->perms, (uint32_t)(p - tr->perms));
		}
		break;
	case MSG_TURN_CHANNEL_INSTALL:
		if (a)
			do_chan_install(tr, a, m);
		else
			fail(tr, m, -ENOENT);
		break;
	case MSG_TURN_CHANNEL_REMOVE:
		if (a) {
			struct tchan *c = find_chan_num(tr, a, m->channel);
			if (c)
				chan_free(tr, &a->chans, (uint32_t)(c - tr->chans));
		}
		break;
	default:
		fail(tr, m, -EINVAL);
		break;
	}
}

/* ------------------------------------------------------------ to the client */

static bool send_ref(turn_relay *tr, const struct dp_pkt *p, uint32_t skip, uint32_t len,
		     uint32_t port, const struct sp_addr *dst, const uint8_t *hdr, uint16_t hdr_len);

static void conn_close(turn_relay *tr, struct tconn *c, int why);

/* Ciphertext OpenSSL produced, onto the connection. False: closed. */
static bool tls_flush(turn_relay *tr, struct tconn *c)
{
	size_t n;

	while ((n = tls_stream_pending(c->tls)) > 0) {
		if (n > SCRATCH)
			n = SCRATCH;
		n = tls_stream_take(c->tls, tr->cipher, n);
		if (tr->ops->stream_send_copy(tr->be, c->port, tr->cipher, (uint32_t)n) < 0) {
			/* Part of a record cannot be taken back: the stream is lost. */
			conn_close(tr, c, DROP_CONN_BACKLOG);
			return false;
		}
	}
	return true;
}

/* Plaintext to a TLS client, encrypted whole or not at all. */
static bool tls_send(turn_relay *tr, struct tconn *c, const uint8_t *plain, uint32_t len)
{
	if (tr->ops->stream_room(tr->be, c->port) < len + TLS_STREAM_OVERHEAD * (len / 16384 + 1)) {
		drop(tr, DROP_CONN_BACKLOG);
		return false;
	}
	if (tls_stream_write(c->tls, plain, len) < 0) {
		conn_close(tr, c, DROP_CONN_TLS);
		return false;
	}
	return tls_flush(tr, c);
}

/* A message built here (a response, a Binding answer) to a client: from
 * its listener over UDP, on its connection over TCP/TLS. */
static bool client_copy(turn_relay *tr, uint32_t li, uint32_t ci, const struct sp_addr *dst,
			const uint8_t *buf, uint32_t len)
{
	if (ci == NO_IDX)
		return tr->ops->tx_copy(tr->be, tr->listeners[li].port, dst, buf, len, 0) == 0;
	struct tconn *c = &tr->conns[ci];
	if (c->tls)
		return tls_send(tr, c, buf, len);
	int rc = tr->ops->stream_send_copy(tr->be, c->port, buf, len);
	if (rc == -ENOBUFS)
		drop(tr, DROP_CONN_BACKLOG);
	return rc == 0;
}

/* [hdr][p from skip, len bytes] to a client, the payload by reference
 * where the transport allows it; on a stream padded to 4 bytes when pad
 * (ChannelData, RFC 8656 12.5). */
static bool client_ref(turn_relay *tr, uint32_t li, uint32_t ci, const struct sp_addr *dst,
		       const uint8_t *hdr, uint16_t hdr_len, const struct dp_pkt *p, uint32_t skip,
		       uint32_t len, bool pad)
{
	if (ci == NO_IDX)
		return send_ref(tr, p, skip, len, tr->listeners[li].port, dst, hdr, hdr_len);
	struct tconn *c = &tr->conns[ci];
	uint8_t np = pad ? (uint8_t)stun_chdata_padding(len, true) : 0;
	if (c->tls) {
		uint32_t n = hdr_len + len + np;
		if (n > SCRATCH)
			return false;
		if (hdr_len)
			memcpy(tr->scratch, hdr, hdr_len);
		memcpy(tr->scratch + hdr_len, p->data + skip, len);
		memset(tr->scratch + hdr_len + len, 0, np);
		return tls_send(tr, c, tr->scratch, n);
	}
	int rc = tr->ops->stream_send(tr->be, c->port, hdr, hdr_len, p, skip, len, np);
	if (rc == -ENOBUFS)
		drop(tr, DROP_CONN_BACKLOG);
	return rc == 0;
}

/* ------------------------------------------------------------ to spcp and back */

static void addr_to_exc(const struct sp_addr *a, uint8_t ip[16], uint16_t *port)
{
	memcpy(ip, a->ip, 16);
	*port = a->port;
}

static void pass_up(turn_relay *tr, const struct dp_pkt *p, const struct listener *l, uint32_t ci)
{
	struct msg_exc_packet h = { .worker = tr->cfg.worker, .socket_id = p->port,
				    .family = p->src.family, .proto = IPPROTO_UDP,
				    .payload_len = p->len };
	struct sp_addr local = l->addr;

	if (ci != NO_IDX) {
		h.proto = IPPROTO_TCP;
		h.flags = tr->conns[ci].tls ? MSG_EXC_F_TLS : 0;
	}
	/* A wildcard listener of the other family cannot say which address the
	 * client used; report the client's family with the listener's port. */
	if (local.family != p->src.family) {
		memset(&local, 0, sizeof(local));
		local.family = p->src.family;
		local.port = l->addr.port;
	}
	addr_to_exc(&local, h.local_addr, &h.local_port);
	addr_to_exc(&p->src, h.remote_addr, &h.remote_port);
	if (tr->hooks.exc_up && tr->hooks.exc_up(tr->hooks.ctx, &h, p->data) == 0) {
		cnt(tr, STAT_TURN_REQ_UP);
		cnt(tr, STAT_EXC_UP);
	}
}

static void exc_addr(struct sp_addr *a, uint8_t family, const uint8_t ip[16], uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = family;
	a->port = port;
	memcpy(a->ip, ip, family == AF_INET ? 4 : 16);
}

/* The listener a response must leave from: the socket it came in on, if
 * the hint still names a listener of that address; else the one bound to
 * it. -1: none. */
static int response_listener(const turn_relay *tr, uint32_t hint, const struct sp_addr *local,
			     uint8_t transport)
{
	if (hint < tr->cfg.max_ports && OWN_KIND(tr->owner[hint]) == OWN_LISTENER) {
		const struct listener *l = &tr->listeners[OWN_IDX(tr->owner[hint])];
		if (l->transport == transport && l->addr.port == local->port &&
		    (l->addr.family != local->family || sp_addr_equal(&l->addr, local)))
			return (int)OWN_IDX(tr->owner[hint]);
	}
	return find_listener(tr, local, transport);
}

void turn_relay_send(turn_relay *tr, const struct msg_exc_packet *h, const uint8_t *payload,
		     uint64_t now)
{
	struct sp_addr local, dst;
	uint32_t ci = NO_IDX;
	int li = -1;

	(void)now;
	cnt(tr, STAT_EXC_DOWN);
	if ((h->proto != IPPROTO_UDP && h->proto != IPPROTO_TCP) ||
	    (h->alloc_id && !find_id(tr, h->alloc_id))) {
		drop(tr, DROP_TURN_RESP_DROPPED);
		return;
	}
	exc_addr(&local, h->family, h->local_addr, h->local_port);
	exc_addr(&dst, h->family, h->remote_addr, h->remote_port);
	if (h->proto == IPPROTO_UDP) {
		li = response_listener(tr, h->socket_id, &local, MSG_TURN_TP_UDP);
	} else {
		/* The connection it came on (the hint), if still that client's. */
		uint32_t o = h->socket_id < tr->cfg.max_ports ? tr->owner[h->socket_id] : 0;
		if (OWN_KIND(o) == OWN_CONN && sp_addr_equal(&tr->conns[OWN_IDX(o)].client, &dst))
			ci = OWN_IDX(o);
		else {
			int sl = find_listener(tr, &local, h->flags & MSG_EXC_F_TLS ? MSG_TURN_TP_TLS
										: MSG_TURN_TP_TCP);
			ci = sl < 0 ? NO_IDX : find_conn(tr, &dst, (uint32_t)sl);
		}
		if (ci != NO_IDX)
			li = (int)tr->conns[ci].listener;
	}
	if (li < 0 || !dst.port) {
		/* Over TCP, a client that closed right after its last request
		 * (a Refresh to 0) is normal, not an error. */
		drop(tr, h->proto == IPPROTO_TCP ? DROP_CONN_GONE : DROP_TURN_RESP_DROPPED);
		return;
	}
	if (!client_copy(tr, (uint32_t)li, ci, &dst, payload, h->payload_len)) {
		drop(tr, DROP_TURN_RESP_DROPPED);
		return;
	}
	cnt(tr, STAT_TURN_RESP);
}

/* ------------------------------------------------------------ packet path */

/* Send [hdr][pkt from skip to skip + len] from `port` to `dst`. */
static bool send_ref(turn_relay *tr, const struct dp_pkt *p, uint32_t skip, uint32_t len,
		     uint32_t port, const struct sp_addr *dst, const uint8_t *hdr, uint16_t hdr_len)
{
	struct dp_pkt view = *p;
	struct dp_tx t = { .dst = *dst, .port = port, .hdr_len = hdr_len, .skip = (uint16_t)skip };
	uint8_t hdrs[DP_TX_HDR_MAX];

	view.len = skip + len;
	if (hdr_len)
		memcpy(hdrs, hdr, hdr_len);
	return tr->ops->tx_fanout(tr->be, &view, &t, hdrs, 1) == 1;
}

/*
 * ChannelData over UDP: 2-byte channel, 2-byte length, data; bytes after
 * the data (padding) are ignored, a datagram shorter than the length is
 * dropped. Parsed here rather than with stun_chdata_parse() because spcp
 * may admit RFC 5766's channels (0x4000-0x7FFF, first byte 0x40-0x7F;
 * RFC 8656 reserves 0x5000 and up): only a channel spcp installed relays.
 */
static void chdata_from_client(turn_relay *tr, const struct dp_pkt *p, uint32_t li, uint64_t now)
{
	if (p->len < STUN_CHDATA_HEADER_LEN) {
		drop(tr, DROP_TURN_MALFORMED);
		return;
	}
	struct stun_chdata cd = { .channel = (uint16_t)(p->data[0] << 8 | p->data[1]),
				  .len = (uint16_t)(p->data[2] << 8 | p->data[3]),
				  .data = p->data + STUN_CHDATA_HEADER_LEN };
	if ((uint32_t)cd.len + STUN_CHDATA_HEADER_LEN > p->len) {
		drop(tr, DROP_TURN_CHDATA_SHORT);
		return;
	}
	struct talloc *a = find_client(tr, &p->src, li);
	if (!a || now >= a->expiry) {
		drop(tr, DROP_TURN_NO_ALLOC);
		return;
	}
	struct tchan *c = find_chan_num(tr, a, cd.channel);
	if (!c || now >= c->expiry) {
		drop(tr, DROP_TURN_NO_CHANNEL);
		return;
	}
	uint32_t rp = relay_for(a, c->peer.family);
	if (rp == NO_IDX || !perm_valid(tr, a, &c->peer, now)) {
		drop(tr, DROP_TURN_NO_PERM);
		return;
	}
	if (!bucket_take(a, &a->up, cd.len, now)) {
		drop(tr, DROP_TURN_BANDWIDTH);
		return;
	}
	if (send_ref(tr, p, STUN_CHDATA_HEADER_LEN, cd.len, rp, &c->peer, NULL, 0))
		cnt(tr, STAT_TURN_TO_PEER);
}

static void answer_binding(turn_relay *tr, const struct dp_pkt *p, const struct stun_msg *m,
			   uint32_t li, uint32_t ci)
{
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_addr sa = { .family = p->src.family == AF_INET ? STUN_AF_IPV4 : STUN_AF_IPV6,
				.port = ntohs(p->src.port) };

	memcpy(sa.ip, p->src.ip, p->src.family == AF_INET ? 4 : 16);
	stun_build_init(&b, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_CLASS_SUCCESS,
			stun_msg_tid(m));
	stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
	if (m->fingerprint >= 0)
		stun_build_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	if (n > 0 && client_copy(tr, li, ci, &p->src, buf, (uint32_t)n))
		cnt(tr, STAT_TURN_BINDING);
}

static void send_indication(turn_relay *tr, const struct dp_pkt *p, const struct stun_msg *m,
			    uint32_t li, uint64_t now)
{
	struct stun_addr sa;
	struct sp_addr peer;
	const uint8_t *data;
	size_t dlen;

	if (stun_get_addr(m, STUN_ATTR_XOR_PEER_ADDRESS, &sa) < 0 ||
	    stun_get_data(m, &data, &dlen) < 0) {
		drop(tr, DROP_TURN_MALFORMED);
		return;
	}
	memset(&peer, 0, sizeof(peer));
	peer.family = sa.family == STUN_AF_IPV4 ? AF_INET : AF_INET6;
	peer.port = htons(sa.port);
	memcpy(peer.ip, sa.ip, sa.family == STUN_AF_IPV4 ? 4 : 16);
	turn_policy_normalise(&peer); /* permissions hold the IPv4 form */
	struct talloc *a = find_client(tr, &p->src, li);
	if (!a || now >= a->expiry) {
		drop(tr, DROP_TURN_NO_ALLOC);
		return;
	}
	uint32_t rp = relay_for(a, peer.family);
	if (rp == NO_IDX || !peer.port || !perm_valid(tr, a, &peer, now)) {
		drop(tr, DROP_TURN_NO_PERM);
		return;
	}
	if (!bucket_take(a, &a->up, (uint32_t)dlen, now)) {
		drop(tr, DROP_TURN_BANDWIDTH);
		return;
	}
	if (send_ref(tr, p, (uint32_t)(data - p->data), (uint32_t)dlen, rp, &peer, NULL, 0))
		cnt(tr, STAT_TURN_TO_PEER);
}

/* One message from a client: a datagram on a UDP listener (ci NO_IDX), or
 * a whole frame cut from a connection's stream. */
static void on_client_msg(turn_relay *tr, const struct dp_pkt *p, uint32_t li, uint32_t ci,
			  uint64_t now)
{
	const struct listener *l = &tr->listeners[li];
	struct stun_msg *m = &tr->msg;

	/* RFC 7983 first byte: 0-3 STUN, 64-79 ChannelData (to 127 for RFC
	 * 5766 channels); nothing else belongs on a TURN port. */
	if (p->len == 0 || (p->data[0] > 3 && (p->data[0] < 0x40 || p->data[0] > 0x7F))) {
		drop(tr, DROP_TURN_NOT_STUN);
		return;
	}
	if (p->data[0] >= 0x40) {
		chdata_from_client(tr, p, li, now);
		return;
	}
	if (stun_parse(p->data, p->len, m) != STUN_OK) {
		drop(tr, DROP_TURN_MALFORMED);
		return;
	}
	if (m->cls == STUN_CLASS_INDICATION && m->method == STUN_METHOD_SEND) {
		send_indication(tr, p, m, li, now);
	} else if (m->cls != STUN_CLASS_REQUEST) {
		drop(tr, DROP_TURN_NOT_REQUEST);
	} else if (m->method == STUN_METHOD_BINDING && m->integrity < 0 &&
		   m->integrity_sha256 < 0 && !m->n_unknown &&
		   !stun_has_attr(m, STUN_ATTR_USERNAME)) {
		answer_binding(tr, p, m, li, ci);
	} else {
		pass_up(tr, p, l, ci);
	}
}

static void rand_tid(turn_relay *tr, uint8_t tid[STUN_TID_LEN])
{
	for (int i = 0; i < STUN_TID_LEN; i += 4) {
		tr->rng ^= tr->rng << 13;
		tr->rng ^= tr->rng >> 7;
		tr->rng ^= tr->rng << 17;
		memcpy(tid + i, &tr->rng, 4);
	}
}

/* A Data indication carrying the peer's datagram, built in a transmit buffer. */
static bool data_indication(turn_relay *tr, const struct talloc *a, const struct dp_pkt *p)
{
	struct stun_addr sa = { .family = p->src.family == AF_INET ? STUN_AF_IPV4 : STUN_AF_IPV6,
				.port = ntohs(p->src.port) };
	struct stun_builder b;
	struct dp_pkt out;
	uint8_t tid[STUN_TID_LEN];
	uint32_t cap;
	int n;

	memcpy(sa.ip, p->src.ip, p->src.family == AF_INET ? 4 : 16);
	if (tr->ops->tx_alloc(tr->be, &out, &cap) < 0) {
		drop(tr, DROP_TX_NO_BUFFER);
		return false;
	}
	rand_tid(tr, tid);
	stun_build_init(&b, out.data, cap, STUN_METHOD_DATA, STUN_CLASS_INDICATION, tid);
	stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &sa);
	stun_build_add(&b, STUN_ATTR_DATA, p->data, p->len);
	n = stun_build_finish(&b);
	bool ok = false;
	if (n <= 0) {
		drop(tr, DROP_TX_NO_BUFFER);
	} else {
		out.len = (uint32_t)n;
		ok = client_ref(tr, a->listener, a->conn, &a->client, NULL, 0, &out, 0, out.len, false);
	}
	tr->ops->release(tr->be, &out);
	return ok;
}

static void on_relay(turn_relay *tr, const struct dp_pkt *p, uint32_t ai, uint64_t now)
{
	struct talloc *a = &tr->allocs[ai];

	if (!a->used || now >= a->expiry) {
		drop(tr, DROP_TURN_NO_ALLOC);
		return;
	}
	if (!perm_valid(tr, a, &p->src, now)) {
		drop(tr, DROP_TURN_NO_PERM);
		return;
	}
	if (!bucket_take(a, &a->down, p->len, now)) {
		drop(tr, DROP_TURN_BANDWIDTH);
		return;
	}
	struct tchan *c = find_chan_peer(tr, a, &p->src);
	bool ok;
	if (c && now < c->expiry && p->len <= 0xFFFF) {
		uint8_t hdr[STUN_CHDATA_HEADER_LEN];
		stun_chdata_header(hdr, c->num, (uint16_t)p->len);
		ok = client_ref(tr, a->listener, a->conn, &a->client, hdr, sizeof(hdr), p, 0, p->len,
				true);
	} else {
		ok = data_indication(tr, a, p);
	}
	if (ok)
		cnt(tr, STAT_TURN_TO_CLIENT);
}

/* ------------------------------------------------------------ connections */

static void conn_close(turn_relay *tr, struct tconn *c, int why)
{
	uint32_t ci = (uint32_t)(c - tr->conns);

	if (c->alloc != NO_IDX) {
		/* RFC 8656 3.1: a TCP/TLS allocation ends with its connection. */
		struct talloc *a = &tr->allocs[c->alloc];
		struct msg_turn_event ev = { .kind = TURN_EV_CLOSED, .alloc_id = a->id };
		alloc_remove(tr, a);
		emit(tr, &ev);
	}
	if (c->part_cap)
		tr->ops->release(tr->be, &c->part);
	tls_stream_free(c->tls);
	tr->ops->port_close(tr->be, c->port);
	if (c->port < tr->cfg.max_ports)
		tr->owner[c->port] = 0;
	memset(c, 0, sizeof(*c));
	c->next_free = tr->free_conn;
	tr->free_conn = ci;
	tr->n_conns--;
	if (why >= 0)
		drop(tr, (enum stat_drop)why);
}

static void on_open(turn_relay *tr, const struct dp_pkt *p, uint32_t li, uint64_t now)
{
	const struct listener *l = &tr->listeners[li];
	struct tconn *c;

	if (l->transport == MSG_TURN_TP_UDP || tr->free_conn == NO_IDX ||
	    p->port >= tr->cfg.max_ports || tr->owner[p->port]) {
		if (p->port < tr->cfg.max_ports && !tr->owner[p->port])
			tr->ops->port_close(tr->be, p->port);
		drop(tr, DROP_CONN_REFUSED);
		return;
	}
	uint32_t ci = tr->free_conn;
	c = &tr->conns[ci];
	tr->free_conn = c->next_free;
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->port = p->port;
	c->listener = li;
	c->alloc = NO_IDX;
	c->client = p->src;
	tr->owner[p->port] = OWN_CONN | ci;
	tr->n_conns++;
	if (l->transport == MSG_TURN_TP_TLS) {
		c->deadline = now + tr->cfg.tls_handshake_ns;
		if (!(c->tls = tls_stream_new(tr->cfg.tls)))
			conn_close(tr, c, DROP_CONN_REFUSED);
	} else {
		c->deadline = now + tr->cfg.conn_idle_ns;
	}
}

/* Length of the frame at d (0 with fewer than 4 bytes), -1 if none can
 * start there. RFC 5766 channels (0x5000-0x7FFF) frame like ChannelData:
 * whether they relay is the channel table's business. */
static int frame_len(const uint8_t *d, uint32_t avail, uint32_t *need)
{
	size_t fl;

	if (avail < 4) {
		*need = 4;
		return 0;
	}
	enum stun_err e = stun_stream_frame(d, avail, &fl);
	if (e == STUN_ERR_CHANNEL_RANGE && d[0] <= 0x7F)
		fl = STUN_CHDATA_HEADER_LEN + (((size_t)(d[2] << 8 | d[3]) + 3) & ~(size_t)3);
	else if (e != STUN_OK)
		return -1;
	*need = (uint32_t)fl;
	return 0;
}

static void deliver(turn_relay *tr, struct tconn *c, const struct dp_pkt *in, const uint8_t *d,
		    uint32_t len, uint64_t now)
{
	struct dp_pkt view = *in;

	view.data = (uint8_t *)d;
	view.len = len;
	view.port = c->port;
	view.src = c->client;
	on_client_msg(tr, &view, c->listener, (uint32_t)(c - tr->conns), now);
}

/*
 * Cut a connection's bytes into frames. A frame wholly inside `in` is
 * handled where it lies (relayed by reference); one split across reads is
 * assembled in a transmit buffer held by the connection. False when the
 * connection was closed (garbage, a frame larger than a buffer).
 */
static bool frame_stream(turn_relay *tr, struct tconn *c, const struct dp_pkt *in, uint64_t now)
{
	uint32_t off = 0, need;

	while (off < in->len) {
		if (c->part_len) {
			uint32_t take;
			if (frame_len(c->part.data, c->part_len, &need) < 0)
				goto garbage;
			if (c->part_len < 4) {
				take = 4 - c->part_len;
				if (take > in->len - off)
					take = in->len - off;
				memcpy(c->part.data + c->part_len, in->data + off, take);
				c->part_len += take;
				off += take;
				if (c->part_len < 4)
					return true;
				if (frame_len(c->part.data, c->part_len, &need) < 0)
					goto garbage;
			}
			if (need > c->part_cap)
				goto oversize;
			take = need - c->part_len;
			if (take > in->len - off)
				take = in->len - off;
			memcpy(c->part.data + c->part_len, in->data + off, take);
			c->part_len += take;
			off += take;
			if (c->part_len == need) {
				c->part.len = need;
				deliver(tr, c, &c->part, c->part.data, need, now);
				/* Sends still referencing it keep the buffer alive. */
				tr->ops->release(tr->be, &c->part);
				c->part_len = c->part_cap = 0;
			}
			continue;
		}
		const uint8_t *d = in->data + off;
		uint32_t avail = in->len - off;
		if (frame_len(d, avail, &need) < 0)
			goto garbage;
		if (avail >= 4 && need <= avail) {
			deliver(tr, c, in, d, need, now);
			off += need;
			continue;
		}
		if (tr->ops->tx_alloc(tr->be, &c->part, &c->part_cap) < 0) {
			c->part_cap = 0;
			conn_close(tr, c, DROP_TX_NO_BUFFER);
			return false;
		}
		if (need > c->part_cap)
			goto oversize;
		memcpy(c->part.data, d, avail);
		c->part_len = avail;
		off = in->len;
	}
	return true;
garbage:
	conn_close(tr, c, DROP_TURN_NOT_STUN);
	return false;
oversize:
	conn_close(tr, c, DROP_CONN_OVERSIZE);
	return false;
}

static void on_stream(turn_relay *tr, struct tconn *c, const struct dp_pkt *p, uint64_t now)
{
	if (!c->tls) {
		frame_stream(tr, c, p, now);
		return;
	}
	if (tls_stream_feed(c->tls, p->data, p->len) < 0) {
		conn_close(tr, c, DROP_CONN_TLS);
		return;
	}
	for (;;) {
		struct dp_pkt out;
		uint32_t cap;
		if (tr->ops->tx_alloc(tr->be, &out, &cap) < 0) {
			/* Plaintext would wait in OpenSSL with nothing to wake it. */
			conn_close(tr, c, DROP_TX_NO_BUFFER);
			return;
		}
		int n = tls_stream_read(c->tls, out.data, cap);
		if (n > 0) {
			out.len = (uint32_t)n;
			out.kind = DP_PKT_STREAM;
			bool alive = frame_stream(tr, c, &out, now);
			tr->ops->release(tr->be, &out);
			if (!alive)
				return;
			continue;
		}
		tr->ops->release(tr->be, &out);
		if (n < 0) {
			/* An alert may be pending; it goes if the queue takes it. */
			tls_flush(tr, c);
			if (c->used)
				conn_close(tr, c, strcmp(tls_stream_why(c->tls), "closed by the peer") ? DROP_CONN_TLS : -1);
			return;
		}
		break;
	}
	if (!c->established && tls_stream_established(c->tls)) {
		/* From the handshake deadline to the idle one. */
		c->established = true;
		if (c->alloc == NO_IDX)
			c->deadline = now + tr->cfg.conn_idle_ns;
	}
	tls_flush(tr, c);
}

void turn_relay_input(turn_relay *tr, struct dp_pkt *pkts, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		struct dp_pkt *p = &pkts[i];
		uint32_t at = p->kind == DP_PKT_OPEN ? p->parent : p->port;
		uint32_t o = at < tr->cfg.max_ports ? tr->owner[at] : 0;

		switch (p->kind) {
		case DP_PKT_DGRAM:
			if (OWN_KIND(o) == OWN_LISTENER &&
			    tr->listeners[OWN_IDX(o)].transport == MSG_TURN_TP_UDP)
				on_client_msg(tr, p, OWN_IDX(o), NO_IDX, now);
			else if (OWN_KIND(o) == OWN_RELAY)
				on_relay(tr, p, OWN_IDX(o), now);
			else
				drop(tr, DROP_NO_PORT);
			break;
		case DP_PKT_OPEN:
			if (OWN_KIND(o) == OWN_LISTENER) {
				on_open(tr, p, OWN_IDX(o), now);
			} else {
				if (p->port < tr->cfg.max_ports && !tr->owner[p->port])
					tr->ops->port_close(tr->be, p->port);
				drop(tr, DROP_CONN_REFUSED);
			}
			break;
		case DP_PKT_STREAM:
			if (OWN_KIND(o) == OWN_CONN)
				on_stream(tr, &tr->conns[OWN_IDX(o)], p, now);
			else
				drop(tr, DROP_NO_PORT);
			break;
		case DP_PKT_CLOSED:
			if (OWN_KIND(o) == OWN_CONN)
				conn_close(tr, &tr->conns[OWN_IDX(o)], -1);
			else if (!o && at < tr->cfg.max_ports)
				tr->ops->port_close(tr->be, p->port); /* not ours to keep */
			break;
		default:
			break;
		}
		tr->ops->release(tr->be, p);
	}
}


/* ------------------------------------------------------------ timers */

void turn_relay_timers(turn_relay *tr, uint64_t now)
{
	if (now < tr->next_sweep)
		return;
	tr->next_sweep = now + SWEEP_NS;
	for (uint32_t i = 0; i < tr->cfg.max_conns && tr->n_conns; i++) {
		struct tconn *c = &tr->conns[i];
		if (!c->used || c->alloc != NO_IDX)
			continue;
		if (!c->deadline)
			c->deadline = now + tr->cfg.conn_idle_ns; /* its allocation just went */
		else if (now >= c->deadline)
			conn_close(tr, c, DROP_CONN_IDLE); /* slowloris, or a client that left */
	}
	if (now < TURN_RELAY_GRACE_NS)
		return;
	uint64_t due = now - TURN_RELAY_GRACE_NS; /* expiries at or before this go */
	for (uint32_t i = 0; i < tr->cfg.max_allocs && tr->n_allocs; i++) {
		struct talloc *a = &tr->allocs[i];
		if (!a->used)
			continue;
		if (a->expiry <= due) {
			struct msg_turn_event ev = { .kind = TURN_EV_EXPIRED, .alloc_id = a->id };
			log_rl(LOG_LVL_INFO, 0, "worker %u: TURN allocation %u expired without a removal from spcp",
			       tr->cfg.worker, a->id);
			alloc_remove(tr, a);
			emit(tr, &ev);
			continue;
		}
		for (uint32_t k = a->perms; k != NO_IDX;) {
			uint32_t next = tr->perms[k].next;
			if (tr->perms[k].expiry <= due)
				perm_free(tr, &a->perms, k);
			k = next;
		}
		for (uint32_t k = a->chans; k != NO_IDX;) {
			uint32_t next = tr->chans[k].next;
			if (tr->chans[k].expiry <= due)
				chan_free(tr, &a->chans, k);
			k = next;
		}
	}
}

/* ------------------------------------------------------------ dump */

void turn_relay_dump(turn_relay *tr, const struct msg_turn_dump *m)
{
	tr->dump = (struct dump){ .active = true, .seq = m->seq, .phase = DUMP_ALLOC };
}

static int dump_send(turn_relay *tr, uint16_t type, const void *msg, uint32_t len)
{
	if (!tr->hooks.dump)
		return 0; /* nobody listens: nothing to wait for */
	int rc = tr->hooks.dump(tr->hooks.ctx, type, msg, len);
	if (rc == 0 && type == MSG_TURN_STATE)
		cnt(tr, STAT_TURN_DUMP_RECORDS);
	return rc;
}

static int dump_alloc(turn_relay *tr, const struct talloc *a)
{
	struct msg_turn_effect m = { .seq = tr->dump.seq, .type = MSG_TURN_ALLOC_INSTALL,
				     .dont_fragment = a->dont_fragment, .alloc_id = a->id,
				     .expiry_ns = a->expiry, .bandwidth_bps = a->bandwidth_bps,
				     .client = a->client, .server = tr->listeners[a->listener].addr,
				     .transport = MSG_TURN_TP_UDP, .relay = a->relay[0],
				     .owner_len = a->owner_len };
	if (a->relay_port[1] != NO_IDX)
		m.relay6 = a->relay[1];
	memcpy(m.owner, a->owner, a->owner_len);
	return dump_send(tr, MSG_TURN_STATE, &m, MSG_TURN_EFFECT_LEN(a->owner_len));
}

static int dump_perm(turn_relay *tr, const struct talloc *a, const struct tperm *p)
{
	struct msg_turn_effect m = { .seq = tr->dump.seq, .type = MSG_TURN_PERM_INSTALL,
				     .alloc_id = a->id, .expiry_ns = p->expiry, .peer = p->ip };
	return dump_send(tr, MSG_TURN_STATE, &m, MSG_TURN_EFFECT_LEN(0));
}

static int dump_chan(turn_relay *tr, const struct talloc *a, const struct tchan *c)
{
	struct msg_turn_effect m = { .seq = tr->dump.seq, .type = MSG_TURN_CHANNEL_INSTALL,
				     .channel = c->num, .alloc_id = a->id, .expiry_ns = c->expiry,
				     .peer = c->peer };
	return dump_send(tr, MSG_TURN_STATE, &m, MSG_TURN_EFFECT_LEN(0));
}

/* Where to go on in a list after a pause: the remembered entry if it is
 * still in the allocation's list, else the head again (it went: sending
 * some entries a second time is harmless, skipping one is not). */
static uint32_t resume_perm(const turn_relay *tr, const struct talloc *a, uint32_t sub)
{
	for (uint32_t i = a->perms; sub != NO_IDX && i != NO_IDX; i = tr->perms[i].next)
		if (i == sub)
			return sub;
	return a->perms;
}

static uint32_t resume_chan(const turn_relay *tr, const struct talloc *a, uint32_t sub)
{
	for (uint32_t i = a->chans; sub != NO_IDX && i != NO_IDX; i = tr->chans[i].next)
		if (i == sub)
			return sub;
	return a->chans;
}

unsigned turn_relay_dump_continue(turn_relay *tr)
{
	struct dump *d = &tr->dump;
	unsigned sent = 0, slots = 0;

	while (d->active && sent < DUMP_RECORDS && slots < DUMP_SLOTS) {
		if (d->slot >= tr->cfg.max_allocs) {
			struct msg_turn_event ev = { .seq = d->seq, .kind = TURN_EV_DUMP_DONE,
						     .worker = tr->cfg.worker, .allocs = d->allocs,
						     .perms = d->perms, .channels = d->chans };
			if (dump_send(tr, MSG_TURN_EVENT, &ev, sizeof(ev)) < 0)
				goto wait;
			d->active = false;
			return sent + 1;
		}
		struct talloc *a = &tr->allocs[d->slot];
		if (!a->used || (d->phase != DUMP_ALLOC && a->id != d->id)) {
			/* empty, or the allocation went while the dump waited */
			d->slot++;
			d->phase = DUMP_ALLOC;
			slots++;
			continue;
		}
		switch (d->phase) {
		case DUMP_ALLOC:
			if (dump_alloc(tr, a) < 0)
				goto wait;
			sent++;
			d->allocs++;
			d->id = a->id;
			d->phase = DUMP_PERMS;
			d->sub = NO_IDX;
			break;
		case DUMP_PERMS: {
			uint32_t i = resume_perm(tr, a, d->sub);
			for (; i != NO_IDX && sent < DUMP_RECORDS; i = tr->perms[i].next) {
				if (dump_perm(tr, a, &tr->perms[i]) < 0) {
					d->sub = i;
					goto wait;
				}
				sent++;
				d->perms++;
			}
			d->sub = i;
			if (i == NO_IDX)
				d->phase = DUMP_CHANS;
			break;
		}
		case DUMP_CHANS: {
			uint32_t i = resume_chan(tr, a, d->sub);
			for (; i != NO_IDX && sent < DUMP_RECORDS; i = tr->chans[i].next) {
				if (dump_chan(tr, a, &tr->chans[i]) < 0) {
					d->sub = i;
					goto wait;
				}
				sent++;
				d->chans++;
			}
			d->sub = i;
			if (i == NO_IDX) {
				d->slot++;
				d->phase = DUMP_ALLOC;
				slots++;
			}
			break;
		}
		}
	}
	return sent;
wait:
	cnt(tr, STAT_TURN_DUMP_WAITS);
	return sent;
}
