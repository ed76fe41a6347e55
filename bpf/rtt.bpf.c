/* ks-rtt: TCP smoothed RTT per remote address, with retransmits and drops.
 *
 * Hooks (tracepoints only: this kernel family may lack kprobes and fentry):
 *   tp_btf/tcp_probe           every segment an established socket receives: its srtt
 *                              goes into the peer's histogram
 *   tp_btf/tcp_retransmit_skb  a retransmitted skb: its segments counted per peer
 *   tp_btf/tcp_retransmit_synack  a retransmitted SYN-ACK (from a request sock): one
 *                              segment, as the kernel's RetransSegs counts it
 *   tp_btf/kfree_skb           a dropped TCP packet: counted per peer, reason kept
 *
 * The hot path (tcp_probe, every received segment) does no hash lookup: peer_cache is
 * a direct-mapped per-CPU array (slot = a hash of the address) of peer keys with their
 * node metrics and histogram, so a segment costs an array load, a key compare and a
 * few additions, with no atomics and no cache line bouncing between CPUs.  A peer
 * whose slot another peer holds on this CPU, and every retransmit and drop, go to
 * peer_stats, an LRU per-CPU hash of the same values keyed by peer and generation.
 * cache_gen says which generation programs count into: every interval user space
 * flips it, waits out programs still writing the old one, then reads and clears the
 * old generation's cache slots (cache_used marks the taken ones) and reads and
 * deletes its peer_stats keys, so nothing is lost or counted twice.  It sums the CPUs
 * and publishes the interval under the original agent's names (docs/design.md), rtt_hist_map (struct
 * hist) and node_metrics_map (rtt_sum, rtt_count, retrans_count, drop_count), for
 * `bpftool map dump name rtt_hist_map`.
 * Sampled segment events (1 in sample_every, at most sample_limit a second per CPU),
 * and every retransmit/drop when asked, go through the `events` ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "hist.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define TCP_LISTEN 10
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12

#define KIND_RTT 1
#define KIND_RETRANS 2
#define KIND_DROP 3

#define MAX_PEERS 1024
/* Wake the reader only when this much is queued: a wakeup per record would cost more
 * than the record; the reader also drains the ring every interval. */
#define RB_WAKEUP_BYTES (64 * 1024)

/* Options, set by user space before load (libbpf-tools style). */
const volatile __u32 targ_family = 0;	/* 0 = both, 4 or 6 */
const volatile __u16 targ_port = 0;	/* local or remote port, host order; 0 = any */
const volatile bool filter_peers = false;	/* only peers in peer_filter */
const volatile __u32 sample_every = 0;	/* 1 in N segments to the ring buffer; 0 = none */
const volatile __u32 sample_limit = 0;	/* at most N samples a second per CPU; 0 = no bound */
const volatile bool emit_events = false;	/* every retransmit and drop to the ring buffer */
const volatile __u32 cache_mask = 0;	/* peer_cache slots per generation - 1 (a power of 2) */

/* A kfunc the verifier turns into a plain move: read tcp_sock fields of a sock. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

KS_LOST_COUNTERS

/* The remote address: IPv6, or IPv4 as ::ffff:a.b.c.d (so one LPM trie filters both). */
struct peer_key {
	__u8 addr[16];
	__u32 family;	/* 4 or 6 */
};

/* peer_stats' key: the peer and the generation (cache_gen) it was counted in, so
 * user space drains a whole generation no program still writes (deleting a key a
 * program holds a pointer into would lose its increments). */
struct stats_key {
	struct peer_key peer;
	__u32 gen;
};

struct node_metrics {
	__u64 rtt_sum;	/* us */
	__u64 rtt_count;
	__u64 retrans_count;
	__u64 drop_count;
};

/* One record of the ring buffer; local side first, the peer is always daddr. */
struct tcp_event {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 value;	/* srtt in us (rtt) */
	__u32 reason;	/* skb_drop_reason (drop), TCP state (retrans) */
	__u16 sport;
	__u16 dport;
	__u8 kind;
	__u8 family;
	__u16 cpu;	/* where it was recorded (what --sample-limit bounds) */
};

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* What the kernel counts per peer and CPU; drained by user space every interval. */
struct peer_stats {
	struct node_metrics metrics;
	struct hist hist;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, MAX_PEERS);
	__type(key, struct stats_key);
	__type(value, struct peer_stats);
} peer_stats SEC(".maps");

/* The hot path's direct-mapped cache: generation g uses slots [g * (cache_mask + 1),
 * (g + 1) * (cache_mask + 1)); user space sizes it (and cache_used) before load. */
struct cache_slot {
	struct peer_key key;	/* family 0: a free slot */
	__u32 pad;
	struct peer_stats stats;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct cache_slot);
} peer_cache SEC(".maps");

/* One bit per slot and generation, set (by any CPU) when a slot is first taken in
 * the interval: user space reads only those slots and clears them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cache_used SEC(".maps");

/* Keys created in peer_stats per generation: once a generation is drained, created
 * minus drained is what the LRU evicted (user space then zeroes its entry). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} gen_created SEC(".maps");

/* The generation programs count into now (cache slots and peer_stats keys). */
KS_GEN_MAP(cache_gen);

/* The last interval, summed over CPUs, written by user space (the original agent's maps). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct peer_key);
	__type(value, struct hist);
} rtt_hist_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct peer_key);
	__type(value, struct node_metrics);
} node_metrics_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");
KS_BTF_TYPE(tcp_event);

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u8);
} peer_filter SEC(".maps");

/* A zero peer_stats to create keys from: too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct peer_stats);
} zero_stats SEC(".maps");

/* Per CPU: segments since the last sample (1 in N without a division), and the
 * one-second window of sample_limit: when it began and the samples taken in it. */
KS_SAMPLE_MAP(sample_state);

/* The local and remote ends of a connection, normalized. */
struct conn {
	struct peer_key peer;
	__u8 laddr[16];
	__u16 lport;
	__u16 rport;
};

static __always_inline void v4_mapped(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	return ((const __u64 *)a)[0] == 0 && ((const __u32 *)a)[2] == bpf_htonl(0xffff);
}

/* Family, port and peer filters; true when the connection is to be counted. */
static __always_inline bool wanted(const struct conn *c)
{
	if (targ_family && c->peer.family != targ_family)
		return false;
	if (targ_port && c->lport != targ_port && c->rport != targ_port)
		return false;
	if (filter_peers) {
		struct lpm_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, c->peer.addr, 16);
		if (!bpf_map_lookup_elem(&peer_filter, &k))
			return false;
	}
	return true;
}

/* The peer's key (the hot path needs no more; tp_btf hands us typed kernel pointers,
 * read with plain loads rather than probe_read calls). */
static __always_inline bool peer_of_sock(struct sock_common *skc, struct peer_key *key)
{
	if (skc->skc_family == AF_INET) {
		v4_mapped(key->addr, skc->skc_daddr);
		key->family = 4;
	} else if (skc->skc_family == AF_INET6) {
		__builtin_memcpy(key->addr, &skc->skc_v6_daddr, 16);
		key->family = is_v4_mapped(key->addr) ? 4 : 6;
	} else {
		return false;
	}
	return true;
}

/* Both ends from a socket (full, request or timewait: all share sock_common). */
static __always_inline bool conn_from_common(struct sock_common *skc, struct conn *c)
{
	if (!peer_of_sock(skc, &c->peer))
		return false;
	if (skc->skc_family == AF_INET)
		v4_mapped(c->laddr, skc->skc_rcv_saddr);
	else
		__builtin_memcpy(c->laddr, &skc->skc_v6_rcv_saddr, 16);
	c->lport = skc->skc_num;
	c->rport = bpf_ntohs(skc->skc_dport);
	return true;
}

static __always_inline bool conn_from_sock(struct sock *sk, struct conn *c)
{
	return conn_from_common(&sk->__sk_common, c);
}

static __always_inline struct peer_stats *stats_of(const struct peer_key *peer, __u32 gen)
{
	struct stats_key key = { .peer = *peer, .gen = gen };
	struct peer_stats *ps = bpf_map_lookup_elem(&peer_stats, &key), *zero;
	__u32 idx = 0;
	long err;

	if (ps)
		return ps;
	zero = bpf_map_lookup_elem(&zero_stats, &idx);
	if (!zero)
		return 0;
	/* Count only the keys this CPU created (not a lost race), so that user space's
	 * created - drained is the number of keys the LRU evicted. */
	err = bpf_map_update_elem(&peer_stats, &key, zero, BPF_NOEXIST);
	if (!err) {
		__u64 *created = bpf_map_lookup_elem(&gen_created, &gen);

		if (created)
			__sync_fetch_and_add(created, 1);
	} else if (err != -EEXIST /* another CPU created it first */) {
		ks_count(lost_map_full);
		return 0;
	}
	return bpf_map_lookup_elem(&peer_stats, &key);
}

static __always_inline bool same_peer(const struct peer_key *a, const struct peer_key *b)
{
	const __u64 *x = (const __u64 *)a->addr, *y = (const __u64 *)b->addr;

	return x[0] == y[0] && x[1] == y[1] && a->family == b->family;
}

/* The address's four words folded, then murmur3's finalizer, so that every output
 * bit (the slot takes the low ones) depends on every input bit. */
static __always_inline __u32 peer_hash(const struct peer_key *key)
{
	const __u32 *w = (const __u32 *)key->addr;
	__u32 h = w[0] ^ w[1] ^ w[2] ^ w[3];

	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* This CPU's cache slot for the peer, taking it when free; NULL when another peer
 * holds it (the caller falls back to peer_stats). */
static __always_inline struct peer_stats *cached_stats_of(const struct peer_key *key, __u32 gen)
{
	__u32 slot, word;
	struct cache_slot *s;
	__u64 *used;

	slot = gen * (cache_mask + 1) + (peer_hash(key) & cache_mask);
	s = bpf_map_lookup_elem(&peer_cache, &slot);
	if (!s)
		return 0;
	if (same_peer(&s->key, key))
		return &s->stats;
	if (s->key.family)
		return 0;
	word = slot / 64;
	used = bpf_map_lookup_elem(&cache_used, &word);
	if (!used)
		return 0;
	__sync_fetch_and_or(used, 1ULL << (slot % 64));
	s->key = *key;
	return &s->stats;
}

static __always_inline void submit(const struct conn *c, __u8 kind, __u32 value, __u32 reason,
				   __u64 ts)
{
	struct tcp_event *e;
	__u64 flags;

	e = ks_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->ts_ns = ts;
	__builtin_memcpy(e->saddr, c->laddr, 16);
	__builtin_memcpy(e->daddr, c->peer.addr, 16);
	e->value = value;
	e->reason = reason;
	e->sport = c->lport;
	e->dport = c->rport;
	e->kind = kind;
	e->family = c->peer.family;
	e->cpu = bpf_get_smp_processor_id();
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RB_WAKEUP_BYTES ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* The hot path: every segment an established socket receives.  Kept to one map
 * lookup and plain (per-CPU) additions; the tp_btf arguments are typed kernel
 * pointers, read with plain loads. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	struct peer_stats *ps;
	struct conn c;
	__u32 srtt, gen;
	__u64 ts;

	srtt = tp->srtt_us;
	if (!srtt)	/* no RTT sample yet on this socket */
		return 0;
	srtt >>= 3;	/* the kernel keeps it in 1/8 us */
	if (!peer_of_sock(&sk->__sk_common, &c.peer))
		return 0;
	if (targ_port) {
		c.lport = sk->__sk_common.skc_num;
		c.rport = bpf_ntohs(sk->__sk_common.skc_dport);
	}
	if (!wanted(&c))
		return 0;
	gen = ks_gen_of(&cache_gen);
	ps = cached_stats_of(&c.peer, gen);
	if (!ps)
		ps = stats_of(&c.peer, gen);
	if (!ps)
		return 0;
	hist_add_nosync(&ps->hist, srtt);	/* per-CPU, and tcp_probe does not nest */
	ps->metrics.rtt_sum += srtt;
	ps->metrics.rtt_count++;
	if (ks_sampled(&sample_state, sample_every, sample_limit, &ts) && conn_from_sock(sk, &c))
		submit(&c, KIND_RTT, srtt, 0, ts);
	return 0;
}

/* Segments retransmitted to the peer, as the kernel's RetransSegs counts them. */
static __always_inline void count_retrans(const struct conn *c, __u32 segs, __u32 state)
{
	struct peer_stats *ps;

	if (!wanted(c))
		return;
	ps = stats_of(&c->peer, ks_gen_of(&cache_gen));
	if (ps)
		ps->metrics.retrans_count += segs;
	if (emit_events)
		submit(c, KIND_RETRANS, 0, state, bpf_ktime_get_ns());
}

/* Did __tcp_retransmit_skb add this call to RetransSegs?  It adds tcp_skb_pcount(skb)
 * before handing the skb to IP, so a retransmit that fails there (a netfilter drop's
 * -EPERM, a full qdisc's NET_XMIT_DROP, -ENOBUFS) is counted, as in TcpExt
 * TCPRetransFail; the returns before that point are not: -EBUSY (the original still
 * in a host queue), -EAGAIN (zero window), -ENOMEM (no memory to split the skb) and
 * -EHOSTUNREACH (no route; one from IP after the count, a route gone in between,
 * is the one case this misses).  Since the tracepoint has err (2025; the kernels we
 * target, 6.18) it fires on every return, failed or not. */
static __always_inline bool in_retrans_segs(int err)
{
	return err != -EBUSY && err != -EAGAIN && err != -ENOMEM && err != -EHOSTUNREACH;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_tcp_retransmit, struct sock *sk, struct sk_buff *skb, int err)
{
	struct tcp_skb_cb *cb;
	struct conn c;

	if (!in_retrans_segs(err) || !conn_from_sock(sk, &c))
		return 0;
	/* A GSO skb is several segments: tcp_skb_pcount(), the count RetransSegs adds. */
	cb = bpf_rdonly_cast(skb->cb, bpf_core_type_id_kernel(struct tcp_skb_cb));
	count_retrans(&c, cb->tcp_gso_segs, sk->__sk_common.skc_state);
	return 0;
}

/* A SYN-ACK sent again (tcp_rtx_synack: RetransSegs and TcpExt TCPSynRetrans count
 * it, only when it was sent).  sk is the listener: the peer is the request's. */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(on_tcp_retransmit_synack, struct sock *sk, struct request_sock *req)
{
	struct conn c;

	if (conn_from_common(&req->__req_common, &c))
		count_retrans(&c, 1, req->__req_common.skc_state);
	return 0;
}

static __always_inline bool is_tcp_sock(struct sock *sk)
{
	__u8 state = sk->__sk_common.skc_state;

	/* request and timewait sockets are TCP-only and lack sk_protocol */
	if (state == TCP_NEW_SYN_RECV || state == TCP_TIME_WAIT)
		return true;
	return sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM && state != TCP_LISTEN;
}

/* A dropped packet with no socket: read its IP and TCP headers; the sender is the
 * peer (a packet without a socket was on its way in). */
static __always_inline bool conn_from_packet(struct sk_buff *skb, struct conn *c)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__be16 proto = BPF_CORE_READ(skb, protocol);
	__be16 ports[2];

	if (nh == (__u16)~0U || th == (__u16)~0U || th <= nh)
		return false;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.protocol != IPPROTO_TCP)
			return false;
		v4_mapped(c->peer.addr, ip.saddr);
		v4_mapped(c->laddr, ip.daddr);
		c->peer.family = 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) ||
		    ip6.nexthdr != IPPROTO_TCP)
			return false;
		__builtin_memcpy(c->peer.addr, &ip6.saddr, 16);
		__builtin_memcpy(c->laddr, &ip6.daddr, 16);
		c->peer.family = is_v4_mapped(c->peer.addr) ? 4 : 6;
	} else {
		return false;
	}
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + th))
		return false;
	c->rport = bpf_ntohs(ports[0]);
	c->lport = bpf_ntohs(ports[1]);
	return true;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_kfree_skb, struct sk_buff *skb, void *location,
	     enum skb_drop_reason reason, struct sock *rx_sk)
{
	struct sock *sk = rx_sk ? rx_sk : skb->sk;
	struct peer_stats *ps;
	struct conn c = {};

	if (sk && is_tcp_sock(sk)) {
		if (!conn_from_sock(sk, &c))
			return 0;
	} else if (!conn_from_packet(skb, &c)) {
		return 0;
	}
	if (!wanted(&c))
		return 0;
	ps = stats_of(&c.peer, ks_gen_of(&cache_gen));
	if (ps)
		ps->metrics.drop_count++;
	if (emit_events)
		submit(&c, KIND_DROP, 0, reason, bpf_ktime_get_ns());
	return 0;
}
