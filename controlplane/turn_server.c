/*
 * turn_server: TURN allocation state machine and policy for spcp (see
 * turn_server.h for the contract, docs/turn.md for every answer).
 *
 * Shape: one request in, one response out, effects queued. The order of
 * checks follows RFC 8656 section 7 and RFC 8489 section 9.2.4: parse ->
 * method -> long-term auth (stateless nonce, user table or REST secret) ->
 * 420 for unknown comprehension-required attributes -> the method's own
 * checks -> state change + effects -> response signed with the request's
 * key. Nothing is stored before a request authenticates, and the answers
 * to unauthenticated requests (401, 438, 400) pass a per-IP token bucket,
 * so a spoofed flood neither commits state nor turns the server into an
 * amplifier.
 *
 * Memory: everything is allocated in turn_server_create(): allocations in
 * a pool indexed by a 5-tuple hash chain, per-allocation permission and
 * channel slots in two flat arrays (max_allocs * max_per_alloc), a port
 * bitmap, the user table, the rate-limit sets and the effect ring.
 */
#include "turn_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "stun.h"

#define NS 1000000000ull
#define NONE UINT32_MAX
#define USER_MAX 128       /* static user names */
#define SECRET_MAX 256     /* REST secrets */
#define NONCE_SKEW_S 60    /* nonce timestamps this far in the future pass */
#define COOLDOWN_S 300     /* RFC 8656 12: channel/peer not rebindable for 5 min */
#define RL_WAYS 4

struct perm {
	struct sp_addr ip; /* port 0 */
	uint64_t expiry;
	uint8_t used;
};

enum { CH_FREE = 0, CH_BOUND, CH_COOLING };

struct chan {
	struct sp_addr peer;
	uint64_t expiry; /* BOUND: binding end; COOLING: end of the cooldown */
	uint16_t num;
	uint8_t state;
};

/* One allocation. Owned by the server; slot index = position in allocs[]. */
struct alloc {
	uint8_t used;
	uint8_t v4, v6;        /* relayed families held */
	uint8_t dont_fragment;
	uint8_t v6_refused;    /* dual asked, no IPv6 relay: ADDRESS-ERROR-CODE */
	uint16_t port;         /* host order */
	uint32_t id;
	uint32_t next;         /* hash chain */
	uint32_t lifetime_s;   /* last granted by Allocate, for retransmits */
	uint64_t expiry;
	uint64_t user_hash;    /* quota identity */
	uint8_t key[STUN_LONG_TERM_KEY_LEN]; /* "same credentials" (441) */
	uint8_t key_set;       /* 0: restored, bound by the owner's next request */
	uint8_t tid[STUN_TID_LEN];
	uint16_t ulen;
	struct turn_5tuple ft;
	char user[TURN_OWNER_MAX]; /* the owner (USERNAME) */
};

struct user {
	uint16_t len;
	char name[USER_MAX];
	uint8_t key[STUN_LONG_TERM_KEY_LEN];
};

struct rl_entry {
	uint8_t family;
	uint8_t ip[16];
	uint32_t milli; /* tokens * 1000 */
	uint64_t last;
};

struct turn_server {
	struct turn_server_cfg cfg; /* pointers below replace cfg's */
	char realm[STUN_MAX_TEXT + 1];
	size_t realm_len;
	char software[STUN_MAX_TEXT + 1];
	size_t software_len;
	uint8_t secret[64];
	size_t secret_len;
	uint64_t seed;

	struct turn_policy *policy;

	struct alloc *allocs;
	uint32_t *buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t live_allocs, live_perms, live_chans;
	uint32_t next_id;
	uint32_t restore_last; /* slot of the allocation restored last */
	struct perm *perms; /* allocs[i] owns perms[i * max_perms ...] */
	struct chan *chans;

	uint8_t *ports; /* bitmap over port_min..port_max */
	uint32_t nports, port_cursor;

	struct user *users;
	uint32_t n_users;
	char rest[TURN_MAX_REST_SECRETS][SECRET_MAX];
	size_t rest_len[TURN_MAX_REST_SECRETS];

	struct rl_entry *rl;
	uint32_t rl_sets;

	struct turn_effect *q;
	uint32_t q_cap, q_head, q_count, q_need;

	struct turn_server_stats st;
};

/* One request being handled. */
struct req {
	struct turn_server *s;
	const struct turn_5tuple *ft;
	struct stun_msg m;
	uint64_t now;
	bool authed, sha256, fp;
	uint8_t key[STUN_LONG_TERM_KEY_LEN];
	uint64_t user_hash;
	const char *user;      /* USERNAME once authenticated (points into the request) */
	size_t ulen;
	uint8_t *resp;
	size_t cap;
	size_t *resp_len;
};

/* ---------------------------------------------------------------- utils */

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static size_t ip_len(const struct sp_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static bool ip_eq(const struct sp_addr *a, const struct sp_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, ip_len(a)) == 0;
}

static bool addr_eq(const struct sp_addr *a, const struct sp_addr *b)
{
	return ip_eq(a, b) && a->port == b->port;
}

static bool ft_eq(const struct turn_5tuple *a, const struct turn_5tuple *b)
{
	return a->transport == b->transport && addr_eq(&a->client, &b->client) &&
	       addr_eq(&a->server, &b->server);
}

static uint64_t addr_hash(uint64_t h, const struct sp_addr *a)
{
	h = fnv64(h, &a->family, 1);
	h = fnv64(h, a->ip, ip_len(a));
	return fnv64(h, &a->port, 2);
}

static uint32_t ft_bucket(const struct turn_server *s, const struct turn_5tuple *ft)
{
	uint64_t h = addr_hash(s->seed, &ft->client);
	h = addr_hash(h, &ft->server);
	h = fnv64(h, &ft->transport, 1);
	return (uint32_t)(h ^ (h >> 32)) & (s->nbuckets - 1);
}

static void to_stun(const struct sp_addr *a, struct stun_addr *o)
{
	memset(o, 0, sizeof(*o));
	o->family = a->family == AF_INET ? STUN_AF_IPV4 : STUN_AF_IPV6;
	o->port = ntohs(a->port);
	memcpy(o->ip, a->ip, ip_len(a));
}

static void from_stun(const struct stun_addr *sa, struct sp_addr *o)
{
	memset(o, 0, sizeof(*o));
	o->family = sa->family == STUN_AF_IPV4 ? AF_INET : AF_INET6;
	o->port = htons(sa->port);
	memcpy(o->ip, sa->ip, sa->family == STUN_AF_IPV4 ? 4 : 16);
}

static uint64_t wall_s(const struct turn_server *s, uint64_t now)
{
	int64_t w = (int64_t)now + s->cfg.wall_offset_ns;
	return w < 0 ? 0 : (uint64_t)w / NS;
}

/* -------------------------------------------------------------- effects */

static struct turn_effect *effect(struct turn_server *s, uint8_t type, const struct alloc *a)
{
	/* Room was checked by the caller (handle/expire); this is a backstop. */
	if (s->q_count >= s->q_cap)
		return NULL;
	struct turn_effect *e = &s->q[(s->q_head + s->q_count++) % s->q_cap];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->alloc_id = a->id;
	e->ft = a->ft;
	e->expiry_ns = a->expiry;
	if (a->v4) {
		e->relay = s->cfg.relay_v4;
		e->relay.port = htons(a->port);
		if (a->v6) {
			e->relay6 = s->cfg.relay_v6;
			e->relay6.port = htons(a->port);
		}
	} else {
		e->relay = s->cfg.relay_v6;
		e->relay.port = htons(a->port);
	}
	return e;
}

size_t turn_server_drain(struct turn_server *s, struct turn_effect *out, size_t cap)
{
	size_t n = 0;
	while (n < cap && s->q_count > 0) {
		out[n++] = s->q[s->q_head];
		s->q_head = (s->q_head + 1) % s->q_cap;
		s->q_count--;
	}
	return n;
}

/* ---------------------------------------------------------- allocations */

static struct perm *alloc_perms(const struct turn_server *s, const struct alloc *a)
{
	return &s->perms[(size_t)(a - s->allocs) * s->cfg.max_perms_per_alloc];
}

static struct chan *alloc_chans(const struct turn_server *s, const struct alloc *a)
{
	return &s->chans[(size_t)(a - s->allocs) * s->cfg.max_channels_per_alloc];
}

static struct alloc *find_alloc(struct turn_server *s, const struct turn_5tuple *ft)
{
	for (uint32_t i = s->buckets[ft_bucket(s, ft)]; i != NONE; i = s->allocs[i].next)
		if (ft_eq(&s->allocs[i].ft, ft))
			return &s->allocs[i];
	return NULL;
}

static void port_set(struct turn_server *s, uint16_t port, bool held)
{
	uint32_t i = (uint32_t)(port - s->cfg.port_min);
	if (held)
		s->ports[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		s->ports[i / 8] &= (uint8_t)~(1u << (i % 8));
}

/* Next free port after the cursor (next-fit: a released port is the last
 * to come back, so late peer packets do not reach a new allocation). */
static uint16_t port_take(struct turn_server *s, bool even)
{
	for (uint32_t k = 0; k < s->nports; k++) {
		uint32_t i = (s->port_cursor + k) % s->nports;
		uint16_t port = (uint16_t)(s->cfg.port_min + i);
		if (even && (port & 1))
			continue;
		if (s->ports[i / 8] & (1u << (i % 8)))
			continue;
		port_set(s, port, true);
		s->port_cursor = (i + 1) % s->nports;
		return port;
	}
	return 0;
}

static void remove_alloc(struct turn_server *s, struct alloc *a)
{
	uint32_t idx = (uint32_t)(a - s->allocs);
	uint32_t *pp = &s->buckets[ft_bucket(s, &a->ft)];

	effect(s, TURN_EFF_ALLOC_REMOVE, a);
	while (*pp != NONE && *pp != idx)
		pp = &s->allocs[*pp].next;
	if (*pp == idx)
		*pp = a->next;
	port_set(s, a->port, false);
	struct perm *p = alloc_perms(s, a);
	for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc; i++)
		if (p[i].used) {
			p[i].used = 0;
			s->live_perms--;
		}
	struct chan *c = alloc_chans(s, a);
	for (uint32_t i = 0; i < s->cfg.max_channels_per_alloc; i++) {
		if (c[i].state == CH_BOUND)
			s->live_chans--;
		c[i].state = CH_FREE;
	}
	memset(a, 0, sizeof(*a));
	s->live_allocs--;
}

/* Expire what is due in one allocation; false when the allocation went. */
static bool sweep_alloc(struct turn_server *s, struct alloc *a, uint64_t now)
{
	if (a->expiry <= now) {
		remove_alloc(s, a);
		return false;
	}
	struct perm *p = alloc_perms(s, a);
	for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc; i++) {
		if (p[i].used && p[i].expiry <= now) {
			struct turn_effect *e = effect(s, TURN_EFF_PERM_REMOVE, a);
			if (e) {
				e->peer = p[i].ip;
				e->expiry_ns = p[i].expiry;
			}
			p[i].used = 0;
			s->live_perms--;
		}
	}
	struct chan *c = alloc_chans(s, a);
	for (uint32_t i = 0; i < s->cfg.max_channels_per_alloc; i++) {
		if (c[i].state == CH_BOUND && c[i].expiry <= now) {
			struct turn_effect *e = effect(s, TURN_EFF_CHANNEL_REMOVE, a);
			if (e) {
				e->peer = c[i].peer;
				e->channel = c[i].num;
				e->expiry_ns = c[i].expiry;
			}
			c[i].state = CH_COOLING;
			c[i].expiry += (uint64_t)COOLDOWN_S * NS;
			s->live_chans--;
		}
		if (c[i].state == CH_COOLING && c[i].expiry <= now)
			c[i].state = CH_FREE;
	}
	return true;
}

int turn_server_expire(struct turn_server *s, uint64_t now_ns)
{
	uint32_t before = s->q_count;
	uint32_t per_alloc = 1 + s->cfg.max_perms_per_alloc + s->cfg.max_channels_per_alloc;

	for (uint32_t i = 0; i < s->cfg.max_allocs; i++) {
		if (!s->allocs[i].used)
			continue;
		if (s->q_cap - s->q_count < per_alloc)
			break;
		sweep_alloc(s, &s->allocs[i], now_ns);
	}
	return (int)(s->q_count - before);
}

int turn_server_remove_alloc(struct turn_server *s, uint32_t alloc_id)
{
	if (!s || alloc_id == 0)
		return -ENOENT;
	for (uint32_t i = 0; i < s->cfg.max_allocs; i++) {
		if (!s->allocs[i].used || s->allocs[i].id != alloc_id)
			continue;
		if (s->q_count >= s->q_cap)
			return -EAGAIN;
		remove_alloc(s, &s->allocs[i]);
		return 0;
	}
	return -ENOENT;
}

static uint32_t user_allocs(const struct turn_server *s, uint64_t user_hash)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->cfg.max_allocs; i++)
		if (s->allocs[i].used && s->allocs[i].user_hash == user_hash)
			n++;
	return n;
}

/* ------------------------------------------------------ credentials */

static int hexnib(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void nonce_at(const struct turn_server *s, const struct sp_addr *client, uint32_t ts,
		     char out[TURN_NONCE_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t in[4 + 4 + 1 + 2 + 16], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	size_t n = 0;

	memcpy(in, "spn1", 4);
	n = 4;
	in[n++] = (uint8_t)(ts >> 24);
	in[n++] = (uint8_t)(ts >> 16);
	in[n++] = (uint8_t)(ts >> 8);
	in[n++] = (uint8_t)ts;
	in[n++] = client->family;
	memcpy(in + n, &client->port, 2);
	n += 2;
	memcpy(in + n, client->ip, ip_len(client));
	n += ip_len(client);
	if (!HMAC(EVP_sha1(), s->secret, (int)s->secret_len, in, n, mac, &maclen))
		memset(mac, 0, sizeof(mac)); /* never matches a forged nonce's MAC by chance */
	for (int i = 0; i < 4; i++) {
		uint8_t b = (uint8_t)(ts >> (24 - 8 * i));
		out[2 * i] = hex[b >> 4];
		out[2 * i + 1] = hex[b & 15];
	}
	for (int i = 0; i < 12; i++) {
		out[8 + 2 * i] = hex[mac[i] >> 4];
		out[8 + 2 * i + 1] = hex[mac[i] & 15];
	}
}

void turn_server_make_nonce(const struct turn_server *s, const struct sp_addr *client,
			    uint64_t now_ns, char out[TURN_NONCE_LEN])
{
	nonce_at(s, client, (uint32_t)wall_s(s, now_ns), out);
}

/* 0 fresh, -ESTALE expired or not ours (both answered 438). */
static int nonce_check(const struct turn_server *s, const struct sp_addr *client, uint64_t now,
		       const char *n, size_t len)
{
	char want[TURN_NONCE_LEN];
	uint32_t ts = 0;

	if (len != TURN_NONCE_LEN)
		return -ESTALE;
	for (int i = 0; i < 8; i++) {
		int v = hexnib(n[i]);
		if (v < 0)
			return -ESTALE;
		ts = ts << 4 | (uint32_t)v;
	}
	nonce_at(s, client, ts, want);
	if (CRYPTO_memcmp(want, n, TURN_NONCE_LEN) != 0)
		return -ESTALE;
	uint64_t w = wall_s(s, now);
	if ((uint64_t)ts > w + NONCE_SKEW_S || (ts <= w && w - ts > s->cfg.nonce_lifetime_s))
		return -ESTALE;
	return 0;
}

static const struct user *find_user(const struct turn_server *s, const char *u, size_t len)
{
	for (uint32_t i = 0; i < s->n_users; i++)
		if (s->users[i].len == len && memcmp(s->users[i].name, u, len) == 0)
			return &s->users[i];
	return NULL;
}

int turn_server_add_user(struct turn_server *s, const char *user, const char *password)
{
	uint8_t key[STUN_LONG_TERM_KEY_LEN];
	size_t ulen = user ? strlen(user) : 0;

	if (!s || !password || ulen == 0 || ulen > USER_MAX)
		return -EINVAL;
	int rc = stun_key_long_term(user, ulen, s->realm, s->realm_len, password,
				    strlen(password), key);
	if (rc < 0)
		return rc;
	struct user *u = (struct user *)find_user(s, user, ulen);
	if (!u) {
		if (s->n_users >= s->cfg.max_users)
			return -ENOSPC;
		u = &s->users[s->n_users++];
	}
	u->len = (uint16_t)ulen;
	memcpy(u->name, user, ulen);
	memcpy(u->key, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int turn_server_add_rest_secret(struct turn_server *s, const char *secret)
{
	size_t len = secret ? strlen(secret) : 0;
	if (!s || len == 0 || len >= SECRET_MAX)
		return -EINVAL;
	for (int i = 0; i < TURN_MAX_REST_SECRETS; i++) {
		if (s->rest_len[i] == 0) {
			memcpy(s->rest[i], secret, len);
			s->rest_len[i] = len;
			return 0;
		}
	}
	return -ENOSPC;
}

int turn_server_remove_rest_secret(struct turn_server *s, const char *secret)
{
	size_t len = secret ? strlen(secret) : 0;
	for (int i = 0; s && i < TURN_MAX_REST_SECRETS; i++) {
		if (s->rest_len[i] == len && len && memcmp(s->rest[i], secret, len) == 0) {
			OPENSSL_cleanse(s->rest[i], SECRET_MAX);
			s->rest_len[i] = 0;
			return 0;
		}
	}
	return -ENOENT;
}

static bool have_rest(const struct turn_server *s)
{
	for (int i = 0; i < TURN_MAX_REST_SECRETS; i++)
		if (s->rest_len[i])
			return true;
	return false;
}

/* "expiry:user": returns the user part's offset, or 0 when not that shape. */
static size_t rest_split(const char *u, size_t len, uint64_t *expiry)
{
	uint64_t e = 0;
	size_t i = 0;
	while (i < len && i < 20 && u[i] >= '0' && u[i] <= '9')
		e = e * 10 + (uint64_t)(u[i++] - '0');
	if (i == 0 || i >= len || u[i] != ':' || i >= 20)
		return 0;
	*expiry = e;
	return i + 1;
}

/* The per-user quota counts the user part of a REST username, so minting
 * new expiries does not escape it; other usernames count whole. */
static uint64_t quota_id(const struct turn_server *s, const char *user, size_t ulen)
{
	uint64_t expiry;
	size_t upart = have_rest(s) ? rest_split(user, ulen, &expiry) : 0;
	return fnv64(s->seed ^ 1, user + upart, ulen - upart);
}

static int check_mi(struct req *r, const uint8_t *key)
{
	return r->sha256 ? stun_check_integrity_sha256(&r->m, key, STUN_LONG_TERM_KEY_LEN)
			 : stun_check_integrity(&r->m, key, STUN_LONG_TERM_KEY_LEN);
}

/* ------------------------------------------------------------ responses */

static void count_code(struct turn_server *s, uint16_t code)
{
	enum turn_stat st;
	switch (code) {
	case 401: st = TURN_STAT_ERR_401; break;
	case 403: st = TURN_STAT_ERR_403; break;
	case 420: st = TURN_STAT_ERR_420; break;
	case 437: st = TURN_STAT_ERR_437; break;
	case 438: st = TURN_STAT_ERR_438; break;
	case 440: st = TURN_STAT_ERR_440; break;
	case 441: st = TURN_STAT_ERR_441; break;
	case 442: st = TURN_STAT_ERR_442; break;
	case 443: st = TURN_STAT_ERR_443; break;
	case 486: st = TURN_STAT_ERR_486; break;
	case 500: st = TURN_STAT_ERR_500; break;
	case 508: st = TURN_STAT_ERR_508; break;
	default: st = TURN_STAT_ERR_400; break;
	}
	s->st.count[st]++;
}

/* Token bucket per source IP for answers to unauthenticated requests. The
 * table is set-associative; a full set evicts its least recently used
 * entry, so memory is fixed whatever the number of sources. */
static bool rl_allow(struct turn_server *s, const struct sp_addr *src, uint64_t now)
{
	if (s->cfg.rl_rate == 0)
		return true;
	uint64_t h = fnv64(s->seed ^ 0x5a5a, src->ip, ip_len(src));
	struct rl_entry *set = &s->rl[(size_t)(h % s->rl_sets) * RL_WAYS], *e = NULL, *old = set;
	uint32_t cap = s->cfg.rl_burst * 1000u;

	for (int i = 0; i < RL_WAYS; i++) {
		if (set[i].family == src->family && memcmp(set[i].ip, src->ip, ip_len(src)) == 0) {
			e = &set[i];
			break;
		}
		if (set[i].last < old->last)
			old = &set[i];
	}
	if (!e) {
		e = old;
		memset(e, 0, sizeof(*e));
		e->family = src->family;
		memcpy(e->ip, src->ip, ip_len(src));
		e->milli = cap;
	} else if (now > e->last) {
		uint64_t add = (now - e->last) / 1000000u * s->cfg.rl_rate;
		e->milli = add >= cap - e->milli ? cap : e->milli + (uint32_t)add;
	}
	e->last = now > e->last ? now : e->last;
	if (e->last == 0)
		e->last = 1; /* 0 marks a never-used slot for the LRU pick */
	if (e->milli < 1000)
		return false;
	e->milli -= 1000;
	return true;
}

static void begin(struct req *r, struct stun_builder *b, enum stun_class cls)
{
	stun_build_init(b, r->resp, r->cap, r->m.method, cls, stun_msg_tid(&r->m));
}

static void finish(struct req *r, struct stun_builder *b)
{
	struct turn_server *s = r->s;
	if (s->software_len)
		stun_build_add(b, STUN_ATTR_SOFTWARE, s->software, s->software_len);
	if (r->authed) {
		if (r->sha256)
			stun_build_add_integrity_sha256(b, r->key, sizeof(r->key));
		else
			stun_build_add_integrity(b, r->key, sizeof(r->key));
	}
	if (r->fp)
		stun_build_add_fingerprint(b);
	int n = stun_build_finish(b);
	if (n <= 0) {
		s->st.count[TURN_STAT_BUILD_ERROR]++;
		*r->resp_len = 0;
		return;
	}
	*r->resp_len = (size_t)n;
}

/* An error response; 401 and 438 carry REALM and a fresh NONCE. Answers to
 * unauthenticated requests are rate limited (silently dropped past it). */
static void error_resp(struct req *r, uint16_t code, const char *reason)
{
	struct turn_server *s = r->s;
	struct stun_builder b;

	if (!r->authed && !rl_allow(s, &r->ft->client, r->now)) {
		s->st.count[TURN_STAT_RATE_LIMITED]++;
		*r->resp_len = 0;
		return;
	}
	count_code(s, code);
	begin(r, &b, STUN_CLASS_ERROR);
	stun_build_add_error_code(&b, code, reason, strlen(reason));
	if (code == 420)
		stun_build_add_unknown_attrs(&b, r->m.unknown, r->m.n_unknown);
	if (code == 401 || code == 438) {
		char nonce[TURN_NONCE_LEN];
		turn_server_make_nonce(s, &r->ft->client, r->now, nonce);
		stun_build_add(&b, STUN_ATTR_REALM, s->realm, s->realm_len);
		stun_build_add(&b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	}
	finish(r, &b);
}

/* Long-term credential check (RFC 8489 9.2.4). true: authenticated, r->key
 * set. false: the error answer is already written. */
static bool authenticate(struct req *r)
{
	struct turn_server *s = r->s;
	const char *user, *realm, *nonce;
	size_t ulen, rlen, nlen;

	if (r->m.integrity < 0 && r->m.integrity_sha256 < 0) {
		error_resp(r, 401, "Unauthorized");
		return false;
	}
	if (stun_get_text(&r->m, STUN_ATTR_USERNAME, &user, &ulen) ||
	    stun_get_text(&r->m, STUN_ATTR_REALM, &realm, &rlen) ||
	    stun_get_text(&r->m, STUN_ATTR_NONCE, &nonce, &nlen)) {
		error_resp(r, 400, "Bad Request");
		return false;
	}
	if (nonce_check(s, &r->ft->client, r->now, nonce, nlen) < 0) {
		error_resp(r, 438, "Stale Nonce");
		return false;
	}
	if (rlen != s->realm_len || memcmp(realm, s->realm, rlen) != 0) {
		error_resp(r, 401, "Unauthorized");
		return false;
	}
	r->sha256 = r->m.integrity_sha256 >= 0;

	uint64_t expiry = 0;
	size_t upart = have_rest(s) ? rest_split(user, ulen, &expiry) : 0;
	int rc = -EACCES;
	if (upart) {
		if (expiry < wall_s(s, r->now)) {
			error_resp(r, 401, "Unauthorized");
			return false;
		}
		for (int i = 0; i < TURN_MAX_REST_SECRETS && rc == -EACCES; i++) {
			uint8_t mac[EVP_MAX_MD_SIZE];
			unsigned char pw[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
			unsigned maclen = 0;
			if (!s->rest_len[i])
				continue;
			if (!HMAC(EVP_sha1(), s->rest[i], (int)s->rest_len[i],
				  (const unsigned char *)user, ulen, mac, &maclen)) {
				rc = -EIO;
				break;
			}
			int pwlen = EVP_EncodeBlock(pw, mac, (int)maclen);
			if (stun_key_long_term(user, ulen, realm, rlen, (const char *)pw,
					       (size_t)pwlen, r->key) < 0) {
				rc = -EIO;
				break;
			}
			rc = check_mi(r, r->key);
		}
	} else {
		const struct user *u = find_user(s, user, ulen);
		if (u) {
			memcpy(r->key, u->key, sizeof(r->key));
			rc = check_mi(r, r->key);
		}
	}
	r->user_hash = quota_id(s, user, ulen);
	if (rc == 0) {
		r->authed = true;
		r->user = user;
		r->ulen = ulen;
		return true;
	}
	if (rc == -EACCES || rc == -ENOENT)
		error_resp(r, 401, "Unauthorized");
	else
		error_resp(r, 500, "Server Error");
	return false;
}

/* ------------------------------------------------------------- methods */

static uint32_t desired_lifetime(const struct turn_server *s, uint32_t req)
{
	uint32_t v = req < s->cfg.max_lifetime_s ? req : s->cfg.max_lifetime_s;
	return v > s->cfg.default_lifetime_s ? v : s->cfg.default_lifetime_s;
}

static void alloc_success(struct req *r, const struct alloc *a)
{
	struct turn_server *s = r->s;
	struct stun_builder b;
	struct stun_addr sa;

	begin(r, &b, STUN_CLASS_SUCCESS);
	if (a->v4) {
		struct sp_addr ra = s->cfg.relay_v4;
		ra.port = htons(a->port);
		to_stun(&ra, &sa);
		stun_build_add_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &sa);
	}
	if (a->v6) {
		struct sp_addr ra = s->cfg.relay_v6;
		ra.port = htons(a->port);
		to_stun(&ra, &sa);
		stun_build_add_addr(&b, STUN_ATTR_XOR_RELAYED_ADDRESS, &sa);
	}
	stun_build_add_u32(&b, STUN_ATTR_LIFETIME, a->lifetime_s);
	to_stun(&r->ft->client, &sa);
	stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
	if (a->v6_refused) {
		/* RFC 8656 18.11: family, reserved, class, number, reason. */
		static const uint8_t aec[] = { STUN_AF_IPV6, 0, 4, 40, 'A', 'd', 'd', 'r', 'e',
					       's', 's', ' ', 'F', 'a', 'm', 'i', 'l', 'y', ' ',
					       'n', 'o', 't', ' ', 'S', 'u', 'p', 'p', 'o', 'r',
					       't', 'e', 'd' };
		stun_build_add(&b, STUN_ATTR_ADDRESS_ERROR_CODE, aec, sizeof(aec));
	}
	finish(r, &b);
	s->st.count[TURN_STAT_ALLOCATE_OK]++;
}

static void do_allocate(struct req *r)
{
	struct turn_server *s = r->s;
	struct alloc *a = find_alloc(s, r->ft);
	uint8_t proto, fam = 0, addfam = 0;
	bool even = false, reserve = false;
	uint32_t req_life = 0;

	if (a && !sweep_alloc(s, a, r->now))
		a = NULL;
	if (a) {
		/* A retransmitted Allocate gets the same answer (RFC 8656 7.2). */
		if (a->key_set && memcmp(a->tid, stun_msg_tid(&r->m), STUN_TID_LEN) == 0 &&
		    CRYPTO_memcmp(a->key, r->key, sizeof(a->key)) == 0)
			alloc_success(r, a);
		else
			error_resp(r, 437, "Allocation Mismatch");
		return;
	}
	if (stun_get_requested_transport(&r->m, &proto) < 0) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	if (proto != STUN_TRANSPORT_UDP) {
		error_resp(r, 442, "Unsupported Transport Protocol");
		return;
	}
	if (r->ulen > TURN_OWNER_MAX) {
		/* The owner travels to the data plane and back (restore). */
		error_resp(r, 400, "Bad Request");
		return;
	}
	bool has_fam = stun_get_family(&r->m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &fam) == 0;
	bool has_add = stun_get_family(&r->m, STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &addfam) == 0;
	bool has_even = stun_get_even_port(&r->m, &reserve) == 0;
	even = has_even;
	if (stun_has_attr(&r->m, STUN_ATTR_RESERVATION_TOKEN)) {
		if (has_even || has_fam) {
			error_resp(r, 400, "Bad Request");
			return;
		}
		/* No token is ever issued, so none is valid (RFC 8656 7.2: 508). */
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	if (has_even && reserve) {
		/* Reserving the next port is not offered: a clear 508. */
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	if (has_fam && has_add) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	if (has_add && addfam != STUN_AF_IPV6) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	if (has_fam && fam != STUN_AF_IPV4 && fam != STUN_AF_IPV6) {
		error_resp(r, 440, "Address Family not Supported");
		return;
	}
	bool want_v6 = has_fam && fam == STUN_AF_IPV6;
	bool have_v4 = s->cfg.relay_v4.family != 0, have_v6 = s->cfg.relay_v6.family != 0;
	if ((want_v6 && !have_v6) || (!want_v6 && !have_v4)) {
		error_resp(r, 440, "Address Family not Supported");
		return;
	}
	if (s->cfg.max_allocs_per_user &&
	    user_allocs(s, r->user_hash) >= s->cfg.max_allocs_per_user) {
		error_resp(r, 486, "Allocation Quota Reached");
		return;
	}
	if (s->live_allocs >= s->cfg.max_allocs) {
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	uint16_t port = port_take(s, even);
	if (!port) {
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	uint32_t idx = 0;
	while (s->allocs[idx].used)
		idx++; /* live_allocs < max_allocs: a free slot exists */
	a = &s->allocs[idx];
	memset(a, 0, sizeof(*a));
	a->used = 1;
	a->port = port;
	a->v4 = !want_v6;
	a->v6 = want_v6 || (has_add && have_v6);
	a->v6_refused = has_add && !have_v6;
	a->dont_fragment = stun_has_attr(&r->m, STUN_ATTR_DONT_FRAGMENT);
	if (s->next_id == 0)
		s->next_id = 1;
	a->id = s->next_id++;
	if (stun_get_lifetime(&r->m, &req_life) < 0)
		req_life = s->cfg.default_lifetime_s;
	a->lifetime_s = desired_lifetime(s, req_life);
	a->expiry = r->now + (uint64_t)a->lifetime_s * NS;
	a->user_hash = r->user_hash;
	memcpy(a->key, r->key, sizeof(a->key));
	a->key_set = 1;
	a->ulen = (uint16_t)r->ulen;
	memcpy(a->user, r->user, r->ulen);
	memcpy(a->tid, stun_msg_tid(&r->m), STUN_TID_LEN);
	a->ft = *r->ft;
	uint32_t bkt = ft_bucket(s, &a->ft);
	a->next = s->buckets[bkt];
	s->buckets[bkt] = idx;
	s->live_allocs++;

	struct turn_effect *e = effect(s, TURN_EFF_ALLOC_INSTALL, a);
	if (e) {
		e->dont_fragment = a->dont_fragment;
		e->bandwidth_bps = s->cfg.bandwidth_bps;
		e->owner_len = a->ulen;
		memcpy(e->owner, a->user, a->ulen);
	}
	alloc_success(r, a);
}

/* Common prologue of Refresh/CreatePermission/ChannelBind: the 5-tuple's
 * live allocation made with the same credentials, or the answer (437/441). */
static struct alloc *own_alloc(struct req *r)
{
	struct alloc *a = find_alloc(r->s, r->ft);
	if (a && !sweep_alloc(r->s, a, r->now))
		a = NULL;
	if (!a) {
		error_resp(r, 437, "Allocation Mismatch");
		return NULL;
	}
	if (!a->key_set && a->ulen == r->ulen && memcmp(a->user, r->user, r->ulen) == 0) {
		/* Restored: the owner authenticated just now, so its key is the
		 * one its credentials give today. */
		memcpy(a->key, r->key, sizeof(a->key));
		a->key_set = 1;
	}
	if (!a->key_set || CRYPTO_memcmp(a->key, r->key, sizeof(a->key)) != 0) {
		error_resp(r, 441, "Wrong Credentials");
		return NULL;
	}
	return a;
}

static void do_refresh(struct req *r)
{
	struct turn_server *s = r->s;
	struct alloc *a = own_alloc(r);
	uint32_t life = s->cfg.default_lifetime_s, req_life;
	uint8_t fam;
	struct stun_builder b;

	if (!a)
		return;
	if (stun_get_family(&r->m, STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &fam) == 0 &&
	    !((fam == STUN_AF_IPV4 && a->v4) || (fam == STUN_AF_IPV6 && a->v6))) {
		error_resp(r, 443, "Peer Address Family Mismatch");
		return;
	}
	if (stun_get_lifetime(&r->m, &req_life) == 0)
		life = req_life == 0 ? 0 : desired_lifetime(s, req_life);
	if (life == 0) {
		remove_alloc(s, a);
	} else {
		a->expiry = r->now + (uint64_t)life * NS;
		effect(s, TURN_EFF_ALLOC_REFRESH, a);
	}
	begin(r, &b, STUN_CLASS_SUCCESS);
	stun_build_add_u32(&b, STUN_ATTR_LIFETIME, life);
	finish(r, &b);
	s->st.count[TURN_STAT_REFRESH_OK]++;
}

/* Decode, normalise and vet one XOR-PEER-ADDRESS: 0 or the error code. */
static uint16_t vet_peer(struct req *r, const struct alloc *a, const struct stun_attr *at,
			 struct sp_addr *peer)
{
	struct stun_addr sa;
	if (stun_attr_get_addr(&r->m, at, &sa) < 0)
		return 400;
	from_stun(&sa, peer);
	turn_policy_normalise(peer);
	if (!((peer->family == AF_INET && a->v4) || (peer->family == AF_INET6 && a->v6)))
		return 443;
	enum turn_peer_verdict v = turn_policy_check(r->s->policy, peer);
	if (v != TURN_PEER_ALLOWED) {
		r->s->st.peer_denied[v]++;
		return 403;
	}
	return 0;
}

static const char *reason_of(uint16_t code)
{
	switch (code) {
	case 403: return "Forbidden";
	case 443: return "Peer Address Family Mismatch";
	case 508: return "Insufficient Capacity";
	default: return "Bad Request";
	}
}

static struct perm *find_perm(struct turn_server *s, struct alloc *a, const struct sp_addr *ip)
{
	struct perm *p = alloc_perms(s, a);
	for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc; i++)
		if (p[i].used && ip_eq(&p[i].ip, ip))
			return &p[i];
	return NULL;
}

static uint32_t perms_used(const struct turn_server *s, const struct alloc *a)
{
	const struct perm *p = alloc_perms(s, a);
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc; i++)
		n += p[i].used;
	return n;
}

/* Install or refresh; the slot exists (checked by the caller). */
static void put_perm(struct turn_server *s, struct alloc *a, const struct sp_addr *peer,
		     uint64_t now)
{
	struct sp_addr ip = *peer;
	ip.port = 0;
	ip.scope = 0;
	struct perm *p = find_perm(s, a, &ip);
	if (!p) {
		struct perm *all = alloc_perms(s, a);
		for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc && !p; i++)
			if (!all[i].used)
				p = &all[i];
		if (!p)
			return;
		p->used = 1;
		p->ip = ip;
		s->live_perms++;
	}
	p->expiry = now + (uint64_t)s->cfg.perm_lifetime_s * NS;
	struct turn_effect *e = effect(s, TURN_EFF_PERM_INSTALL, a);
	if (e) {
		e->peer = ip;
		e->expiry_ns = p->expiry;
	}
}

static void do_create_permission(struct req *r)
{
	struct turn_server *s = r->s;
	struct alloc *a = own_alloc(r);
	struct sp_addr peers[STUN_MAX_ATTRS];
	uint32_t n = 0, fresh = 0;
	struct stun_builder b;

	if (!a)
		return;
	for (const struct stun_attr *at = stun_attr_find(&r->m, STUN_ATTR_XOR_PEER_ADDRESS); at;
	     at = stun_attr_next(&r->m, at)) {
		uint16_t code = vet_peer(r, a, at, &peers[n]);
		if (code) {
			error_resp(r, code, reason_of(code));
			return;
		}
		struct sp_addr ip = peers[n];
		ip.port = 0;
		bool dup = find_perm(s, a, &ip) != NULL;
		for (uint32_t k = 0; k < n && !dup; k++)
			dup = ip_eq(&peers[k], &peers[n]);
		fresh += !dup;
		n++;
	}
	if (n == 0) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	/* All or nothing: no permission is installed unless all fit. */
	if (perms_used(s, a) + fresh > s->cfg.max_perms_per_alloc) {
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		put_perm(s, a, &peers[i], r->now);
	begin(r, &b, STUN_CLASS_SUCCESS);
	finish(r, &b);
	s->st.count[TURN_STAT_PERMISSION_OK]++;
}

static void do_channel_bind(struct req *r)
{
	struct turn_server *s = r->s;
	struct alloc *a = own_alloc(r);
	struct sp_addr peer;
	uint16_t num;
	struct stun_builder b;

	if (!a)
		return;
	const struct stun_attr *at = stun_attr_find(&r->m, STUN_ATTR_XOR_PEER_ADDRESS);
	if (stun_get_channel_number(&r->m, &num) < 0 || num < STUN_CHANNEL_MIN ||
	    num > s->cfg.channel_max || !at) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	uint16_t code = vet_peer(r, a, at, &peer);
	if (code) {
		error_resp(r, code, reason_of(code));
		return;
	}
	peer.scope = 0;
	/* RFC 8656 11.2: a number is bound to one peer and a peer to one
	 * number, for the binding's life and its 5-minute cooldown. */
	struct chan *c = alloc_chans(s, a), *by_num = NULL, *by_peer = NULL, *free_c = NULL;
	for (uint32_t i = 0; i < s->cfg.max_channels_per_alloc; i++) {
		if (c[i].state == CH_FREE) {
			if (!free_c)
				free_c = &c[i];
			continue;
		}
		if (c[i].num == num)
			by_num = &c[i];
		if (addr_eq(&c[i].peer, &peer))
			by_peer = &c[i];
	}
	if (by_num != by_peer) {
		error_resp(r, 400, "Bad Request");
		return;
	}
	struct sp_addr ip = peer;
	ip.port = 0;
	bool need_perm = find_perm(s, a, &ip) == NULL;
	if ((!by_num && !free_c) ||
	    (need_perm && perms_used(s, a) >= s->cfg.max_perms_per_alloc)) {
		error_resp(r, 508, "Insufficient Capacity");
		return;
	}
	struct chan *ch = by_num ? by_num : free_c;
	if (ch->state != CH_BOUND)
		s->live_chans++;
	ch->state = CH_BOUND;
	ch->num = num;
	ch->peer = peer;
	ch->expiry = r->now + (uint64_t)s->cfg.channel_lifetime_s * NS;
	put_perm(s, a, &peer, r->now);
	struct turn_effect *e = effect(s, TURN_EFF_CHANNEL_INSTALL, a);
	if (e) {
		e->peer = peer;
		e->channel = num;
		e->expiry_ns = ch->expiry;
	}
	begin(r, &b, STUN_CLASS_SUCCESS);
	finish(r, &b);
	s->st.count[TURN_STAT_CHANNEL_OK]++;
}

static void do_binding(struct req *r)
{
	struct stun_builder b;
	struct stun_addr sa;

	if (r->m.n_unknown) {
		error_resp(r, 420, "Unknown Attribute");
		return;
	}
	begin(r, &b, STUN_CLASS_SUCCESS);
	to_stun(&r->ft->client, &sa);
	stun_build_add_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
	finish(r, &b);
	r->s->st.count[TURN_STAT_BINDING]++;
}

static void dispatch(struct req *r)
{
	struct turn_server *s = r->s;

	if (r->m.cls != STUN_CLASS_REQUEST) {
		/* Send indications are the data plane's; nothing else is ours. */
		s->st.count[TURN_STAT_NOT_REQUEST]++;
		return;
	}
	r->fp = r->m.fingerprint >= 0;
	switch (r->m.method) {
	case STUN_METHOD_BINDING:
		do_binding(r);
		return;
	case STUN_METHOD_ALLOCATE:
	case STUN_METHOD_REFRESH:
	case STUN_METHOD_CREATE_PERMISSION:
	case STUN_METHOD_CHANNEL_BIND:
		break;
	default:
		/* Unknown methods and RFC 6062 Connect/ConnectionBind (no TCP
		 * allocations exist). */
		error_resp(r, 400, "Bad Request");
		return;
	}
	if (!authenticate(r))
		return;
	/* RFC 8489 6.3.1: unknown attributes are checked after auth. */
	if (r->m.n_unknown) {
		error_resp(r, 420, "Unknown Attribute");
		return;
	}
	switch (r->m.method) {
	case STUN_METHOD_ALLOCATE: do_allocate(r); break;
	case STUN_METHOD_REFRESH: do_refresh(r); break;
	case STUN_METHOD_CREATE_PERMISSION: do_create_permission(r); break;
	default: do_channel_bind(r); break;
	}
}

int turn_server_handle(struct turn_server *s, const struct turn_5tuple *ft, const uint8_t *msg,
		       size_t len, uint64_t now_ns, uint8_t *resp, size_t cap, size_t *resp_len)
{
	struct req r;

	if (!s || !ft || (!msg && len) || !resp || !resp_len)
		return -EINVAL;
	*resp_len = 0;
	if (s->q_cap - s->q_count < s->q_need)
		return -EAGAIN;
	memset(&r, 0, offsetof(struct req, m));
	r.s = s;
	r.ft = ft;
	r.now = now_ns;
	r.resp = resp;
	r.cap = cap;
	r.resp_len = resp_len;
	r.authed = r.sha256 = r.fp = false;
	r.user_hash = 0;
	r.user = NULL;
	r.ulen = 0;
	memset(r.key, 0, sizeof(r.key));
	if (stun_parse(msg, len, &r.m) != STUN_OK) {
		s->st.count[TURN_STAT_PARSE_ERROR]++;
		return 0;
	}
	dispatch(&r);
	OPENSSL_cleanse(r.key, sizeof(r.key)); /* never leave a key on the stack */
	return 0;
}

/* -------------------------------------------------------------- restore */

static struct alloc *find_id(struct turn_server *s, uint32_t id)
{
	/* Dumps send an allocation's permissions and channels right behind it. */
	if (s->restore_last < s->cfg.max_allocs && s->allocs[s->restore_last].used &&
	    s->allocs[s->restore_last].id == id)
		return &s->allocs[s->restore_last];
	for (uint32_t i = 0; i < s->cfg.max_allocs; i++)
		if (s->allocs[i].used && s->allocs[i].id == id)
			return &s->allocs[i];
	return NULL;
}

/* The relay of family `family` the allocation would be given today. */
static bool relay_ok(const struct turn_server *s, const struct sp_addr *r, uint16_t *port)
{
	const struct sp_addr *cfg = r->family == AF_INET ? &s->cfg.relay_v4 :
				    r->family == AF_INET6 ? &s->cfg.relay_v6 : NULL;
	uint16_t p = ntohs(r->port);

	if (!cfg || cfg->family != r->family || !ip_eq(cfg, r) || p < s->cfg.port_min ||
	    p > s->cfg.port_max)
		return false;
	*port = p;
	return true;
}

int turn_server_restore_alloc(struct turn_server *s, const struct turn_effect *e, uint64_t now)
{
	uint16_t port, port6;
	struct alloc *a;

	if (!s || !e || e->type != TURN_EFF_ALLOC_INSTALL || !e->alloc_id || !e->owner_len ||
	    e->owner_len > TURN_OWNER_MAX || e->ft.transport > TURN_TP_TLS ||
	    (e->relay6.family && (e->relay.family != AF_INET || e->relay6.family != AF_INET6)))
		return -EINVAL;
	if (find_id(s, e->alloc_id))
		return -EEXIST;
	if (e->expiry_ns <= now)
		return -ETIME;
	if (!relay_ok(s, &e->relay, &port) ||
	    (e->relay6.family && (!relay_ok(s, &e->relay6, &port6) || port6 != port)))
		return -EADDRNOTAVAIL;
	uint32_t i = (uint32_t)(port - s->cfg.port_min);
	if (find_alloc(s, &e->ft) || (s->ports[i / 8] & (1u << (i % 8))))
		return -EADDRINUSE;
	if (s->live_allocs >= s->cfg.max_allocs)
		return -ENOSPC;
	uint32_t idx = 0;
	while (s->allocs[idx].used)
		idx++;
	a = &s->allocs[idx];
	memset(a, 0, sizeof(*a));
	a->used = 1;
	a->port = port;
	a->v4 = e->relay.family == AF_INET;
	a->v6 = e->relay.family == AF_INET6 || e->relay6.family == AF_INET6;
	a->dont_fragment = e->dont_fragment ? 1 : 0;
	a->id = e->alloc_id;
	a->expiry = e->expiry_ns;
	a->lifetime_s = (uint32_t)((e->expiry_ns - now) / NS);
	a->ulen = e->owner_len;
	memcpy(a->user, e->owner, e->owner_len);
	a->user_hash = quota_id(s, a->user, a->ulen);
	a->ft = e->ft;
	a->ft.client.scope = a->ft.server.scope = 0;
	uint32_t bkt = ft_bucket(s, &a->ft);
	a->next = s->buckets[bkt];
	s->buckets[bkt] = idx;
	port_set(s, port, true);
	s->live_allocs++;
	s->restore_last = idx;
	/* ids are never handed out twice, restored ones included */
	if (a->id >= s->next_id)
		s->next_id = a->id + 1;
	return 0;
}

/* The allocation, family and policy checks restored peers share. */
static int restore_peer(struct turn_server *s, const struct turn_effect *e, uint64_t now,
			struct alloc **ap, struct sp_addr *peer)
{
	struct alloc *a = find_id(s, e->alloc_id);

	if (!a)
		return -ENOENT;
	if (e->expiry_ns <= now || a->expiry <= now)
		return -ETIME;
	*peer = e->peer;
	peer->scope = 0;
	turn_policy_normalise(peer);
	if (!((peer->family == AF_INET && a->v4) || (peer->family == AF_INET6 && a->v6)))
		return -EAFNOSUPPORT;
	enum turn_peer_verdict v = turn_policy_check(s->policy, peer);
	if (v != TURN_PEER_ALLOWED) {
		s->st.peer_denied[v]++;
		return -EACCES;
	}
	*ap = a;
	return 0;
}

int turn_server_restore_perm(struct turn_server *s, const struct turn_effect *e, uint64_t now)
{
	struct alloc *a;
	struct sp_addr ip;
	int rc;

	if (!s || !e || e->type != TURN_EFF_PERM_INSTALL)
		return -EINVAL;
	if ((rc = restore_peer(s, e, now, &a, &ip)) < 0)
		return rc;
	ip.port = 0;
	if (find_perm(s, a, &ip))
		return -EEXIST;
	struct perm *p = alloc_perms(s, a);
	for (uint32_t i = 0; i < s->cfg.max_perms_per_alloc; i++) {
		if (p[i].used)
			continue;
		p[i] = (struct perm){ .ip = ip, .expiry = e->expiry_ns, .used = 1 };
		s->live_perms++;
		return 0;
	}
	return -ENOSPC;
}

int turn_server_restore_channel(struct turn_server *s, const struct turn_effect *e, uint64_t now)
{
	struct alloc *a;
	struct sp_addr peer;
	int rc;

	if (!s || !e || e->type != TURN_EFF_CHANNEL_INSTALL)
		return -EINVAL;
	if ((rc = restore_peer(s, e, now, &a, &peer)) < 0)
		return rc;
	if (e->channel < STUN_CHANNEL_MIN || e->channel > s->cfg.channel_max || !peer.port)
		return -ERANGE;
	struct chan *c = alloc_chans(s, a), *free_c = NULL;
	for (uint32_t i = 0; i < s->cfg.max_channels_per_alloc; i++) {
		if (c[i].state == CH_FREE) {
			if (!free_c)
				free_c = &c[i];
			continue;
		}
		bool num = c[i].num == e->channel, same = addr_eq(&c[i].peer, &peer);
		if (num && same && c[i].state == CH_BOUND)
			return -EEXIST;
		if (num && same) {
			/* cooling down here, bound there: the pair revives */
			c[i].state = CH_BOUND;
			c[i].expiry = e->expiry_ns;
			s->live_chans++;
			return 0;
		}
		if (num || same)
			return -EADDRINUSE;
	}
	if (!free_c)
		return -ENOSPC;
	*free_c = (struct chan){ .peer = peer, .expiry = e->expiry_ns, .num = e->channel,
				 .state = CH_BOUND };
	s->live_chans++;
	return 0;
}

bool turn_server_next_alloc(const struct turn_server *s, uint32_t *cursor,
			    struct turn_alloc_info *out)
{
	for (uint32_t i = *cursor; s && i < s->cfg.max_allocs; i++) {
		const struct alloc *a = &s->allocs[i];
		if (!a->used)
			continue;
		memset(out, 0, sizeof(*out));
		out->id = a->id;
		out->ft = a->ft;
		out->expiry_ns = a->expiry;
		out->dont_fragment = a->dont_fragment;
		out->key_pending = !a->key_set;
		out->owner_len = a->ulen;
		memcpy(out->owner, a->user, a->ulen);
		const struct sp_addr *first = a->v4 ? &s->cfg.relay_v4 : &s->cfg.relay_v6;
		out->relay = *first;
		out->relay.port = htons(a->port);
		if (a->v4 && a->v6) {
			out->relay6 = s->cfg.relay_v6;
			out->relay6.port = htons(a->port);
		}
		const struct perm *p = &s->perms[(size_t)i * s->cfg.max_perms_per_alloc];
		for (uint32_t k = 0; k < s->cfg.max_perms_per_alloc; k++)
			out->perms += p[k].used;
		const struct chan *c = &s->chans[(size_t)i * s->cfg.max_channels_per_alloc];
		for (uint32_t k = 0; k < s->cfg.max_channels_per_alloc; k++)
			out->channels += c[k].state == CH_BOUND;
		*cursor = i + 1;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------ lifecycle */

void turn_server_cfg_defaults(struct turn_server_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->realm = "streampoint";
	c->port_min = 49152;
	c->port_max = 65535;
	c->max_allocs = 4096;
	c->max_allocs_per_user = 64;
	c->max_perms_per_alloc = 16;
	c->max_channels_per_alloc = 16;
	c->max_users = 64;
	c->channel_max = STUN_CHANNEL_MAX;
	c->default_lifetime_s = 600;
	c->max_lifetime_s = 3600;
	c->perm_lifetime_s = 300;
	c->channel_lifetime_s = 600;
	c->nonce_lifetime_s = 600;
	c->rl_rate = 50;
	c->rl_burst = 100;
	c->rl_entries = 4096;
}

void turn_server_get_stats(const struct turn_server *s, struct turn_server_stats *st)
{
	*st = s->st;
	st->allocs = s->live_allocs;
	st->perms = s->live_perms;
	st->channels = s->live_chans;
	st->effects_pending = s->q_count;
}

static bool cfg_ok(const struct turn_server_cfg *c)
{
	return c->realm && strlen(c->realm) > 0 && strlen(c->realm) <= STUN_MAX_TEXT &&
	       (!c->software || strlen(c->software) <= STUN_MAX_TEXT) && c->nonce_secret &&
	       c->nonce_secret_len >= 16 && c->nonce_secret_len <= 64 &&
	       (c->relay_v4.family == AF_INET || c->relay_v4.family == 0) &&
	       (c->relay_v6.family == AF_INET6 || c->relay_v6.family == 0) &&
	       (c->relay_v4.family || c->relay_v6.family) && c->port_min > 0 &&
	       c->port_min <= c->port_max && c->max_allocs > 0 && c->max_allocs < NONE / 2 &&
	       c->max_perms_per_alloc > 0 && c->max_perms_per_alloc <= 4096 &&
	       c->max_channels_per_alloc > 0 && c->max_channels_per_alloc <= 4096 &&
	       c->channel_max >= STUN_CHANNEL_MAX && c->channel_max <= 0x7FFF &&
	       c->default_lifetime_s > 0 && c->max_lifetime_s >= c->default_lifetime_s &&
	       c->perm_lifetime_s > 0 && c->channel_lifetime_s > 0 && c->nonce_lifetime_s > 0 &&
	       (c->rl_rate == 0 || (c->rl_burst > 0 && c->rl_burst < 4000000 && c->rl_entries > 0));
}

struct turn_server *turn_server_create(const struct turn_server_cfg *cfg)
{
	struct turn_server *s;

	if (!cfg || !cfg_ok(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_nomem;
	s->cfg = *cfg;
	s->realm_len = strlen(cfg->realm);
	memcpy(s->realm, cfg->realm, s->realm_len);
	s->cfg.realm = s->realm;
	if (cfg->software) {
		s->software_len = strlen(cfg->software);
		memcpy(s->software, cfg->software, s->software_len);
	}
	s->cfg.software = s->software;
	s->secret_len = cfg->nonce_secret_len;
	memcpy(s->secret, cfg->nonce_secret, s->secret_len);
	s->cfg.nonce_secret = s->secret;
	s->cfg.peer_allow = NULL;
	s->cfg.n_peer_allow = 0;
	s->seed = fnv64(0xcbf29ce484222325ull, s->secret, s->secret_len);
	memset(s->cfg.relay_v4.ip + 4, 0, 12);
	s->cfg.relay_v4.port = 0;
	s->cfg.relay_v6.port = 0;

	s->policy = turn_policy_create();
	if (!s->policy)
		goto out_nomem;
	for (size_t i = 0; i < cfg->n_peer_allow; i++) {
		if (turn_policy_allow_cidr(s->policy, cfg->peer_allow[i]) < 0) {
			turn_server_destroy(s);
			errno = EINVAL;
			return NULL;
		}
	}
	if (s->cfg.relay_v4.family)
		turn_policy_add_relay_addr(s->policy, &s->cfg.relay_v4);
	if (s->cfg.relay_v6.family)
		turn_policy_add_relay_addr(s->policy, &s->cfg.relay_v6);

	uint32_t n = cfg->max_allocs;
	s->nbuckets = 1;
	while (s->nbuckets < 2 * n)
		s->nbuckets <<= 1;
	s->allocs = calloc(n, sizeof(*s->allocs));
	s->buckets = malloc(s->nbuckets * sizeof(*s->buckets));
	s->perms = calloc((size_t)n * cfg->max_perms_per_alloc, sizeof(*s->perms));
	s->chans = calloc((size_t)n * cfg->max_channels_per_alloc, sizeof(*s->chans));
	s->nports = (uint32_t)cfg->port_max - cfg->port_min + 1;
	s->ports = calloc((s->nports + 7) / 8, 1);
	s->users = calloc(cfg->max_users ? cfg->max_users : 1, sizeof(*s->users));
	s->rl_sets = cfg->rl_rate ? (cfg->rl_entries + RL_WAYS - 1) / RL_WAYS : 1;
	s->rl = calloc((size_t)s->rl_sets * RL_WAYS, sizeof(*s->rl));
	/* Worst call: lazy sweep of one allocation + 64 peers + 2. */
	s->q_need = 1 + cfg->max_perms_per_alloc + cfg->max_channels_per_alloc + STUN_MAX_ATTRS + 2;
	s->q_cap = 2 * s->q_need;
	s->q = calloc(s->q_cap, sizeof(*s->q));
	if (!s->allocs || !s->buckets || !s->perms || !s->chans || !s->ports || !s->users ||
	    !s->rl || !s->q)
		goto out_nomem;
	for (uint32_t i = 0; i < s->nbuckets; i++)
		s->buckets[i] = NONE;
	s->port_cursor = (uint32_t)(s->seed % s->nports);
	s->next_id = 1;
	return s;

out_nomem:
	turn_server_destroy(s);
	errno = ENOMEM;
	return NULL;
}

void turn_server_destroy(struct turn_server *s)
{
	if (!s)
		return;
	turn_policy_destroy(s->policy);
	free(s->allocs);
	free(s->buckets);
	free(s->perms);
	free(s->chans);
	free(s->ports);
	if (s->users)
		OPENSSL_cleanse(s->users, (s->cfg.max_users ? s->cfg.max_users : 1) * sizeof(*s->users));
	free(s->users);
	free(s->rl);
	free(s->q);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
