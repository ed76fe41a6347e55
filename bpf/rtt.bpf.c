/* ks-rtt: TCP smoothed RTT per remote address, with retransmits and drops.
 *
 * Hooks (tracepoints only: this kernel family may lack kprobes and fentry):
 *   tp_btf/tcp_probe                 every segment received by an established socket:
 *                                    its srtt goes into the peer's histogram
 *   tp_btf/tcp_retransmit_skb        a retransmitted segment: counted per peer
 *   tp_btf/kfree_skb                 a dropped TCP packet: counted per peer, reason kept
 *
 * Per remote address (struct peer_key) two LRU maps, named as in the design seed:
 *   rtt_hist_map      struct hist (hist.bpf.h, whole us)
 *   node_metrics_map  rtt_sum, rtt_count, retrans_count, drop_count
 * User space drains both every interval (lookup-and-delete), so a value is "this
 * interval".  Sampled segment events, and every retransmit/drop when asked, go through
 * the `events` ring buffer.
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
const volatile bool emit_events = false;	/* every retransmit and drop to the ring buffer */

KS_LOST_COUNTERS
__u64 new_peers_hist = 0;	/* keys created, to tell evictions from drains */
__u64 new_peers_metrics = 0;

/* The remote address: IPv6, or IPv4 as ::ffff:a.b.c.d (so one LPM trie filters both). */
struct peer_key {
	__u8 addr[16];
	__u32 family;	/* 4 or 6 */
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
	__u8 pad[2];
};

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PEERS);
	__type(key, struct peer_key);
	__type(value, struct hist);
} rtt_hist_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PEERS);
	__type(key, struct peer_key);
	__type(value, struct node_metrics);
} node_metrics_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u8);
} peer_filter SEC(".maps");

/* Zero-filled initial values live in .bss-like per-CPU scratch: a struct hist is too
 * big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} zero_hist SEC(".maps");

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

/* Both ends from a socket (full, request or timewait: all share sock_common). */
static __always_inline bool conn_from_sock(struct sock *sk, struct conn *c)
{
	/* tp_btf hands us typed kernel pointers: plain loads, no probe_read calls */
	struct sock_common *skc = &sk->__sk_common;
	__u16 family = skc->skc_family;

	if (family == AF_INET) {
		v4_mapped(c->peer.addr, skc->skc_daddr);
		v4_mapped(c->laddr, skc->skc_rcv_saddr);
		c->peer.family = 4;
	} else if (family == AF_INET6) {
		__builtin_memcpy(c->peer.addr, &skc->skc_v6_daddr, 16);
		__builtin_memcpy(c->laddr, &skc->skc_v6_rcv_saddr, 16);
		c->peer.family = is_v4_mapped(c->peer.addr) ? 4 : 6;
	} else {
		return false;
	}
	c->lport = skc->skc_num;
	c->rport = bpf_ntohs(skc->skc_dport);
	return true;
}

static __always_inline struct node_metrics *metrics_of(const struct peer_key *key)
{
	static const struct node_metrics zero;
	struct node_metrics *m = bpf_map_lookup_elem(&node_metrics_map, key);

	if (m)
		return m;
	ks_count(new_peers_metrics);
	m = map_lookup_or_try_init(&node_metrics_map, key, &zero);
	if (!m)
		ks_count(lost_map_full);
	return m;
}

static __always_inline struct hist *hist_of(const struct peer_key *key)
{
	__u32 idx = 0;
	struct hist *h = bpf_map_lookup_elem(&rtt_hist_map, key), *zero;

	if (h)
		return h;
	zero = bpf_map_lookup_elem(&zero_hist, &idx);
	if (!zero)
		return 0;
	ks_count(new_peers_hist);
	h = map_lookup_or_try_init(&rtt_hist_map, key, zero);
	if (!h)
		ks_count(lost_map_full);
	return h;
}

static __always_inline void submit(const struct conn *c, __u8 kind, __u32 value, __u32 reason)
{
	struct tcp_event *e;
	__u64 flags;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ks_count(lost_ringbuf);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->saddr, c->laddr, 16);
	__builtin_memcpy(e->daddr, c->peer.addr, 16);
	e->value = value;
	e->reason = reason;
	e->sport = c->lport;
	e->dport = c->rport;
	e->kind = kind;
	e->family = c->peer.family;
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RB_WAKEUP_BYTES ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* The hot path: every segment an established socket receives. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct node_metrics *m;
	struct conn c;
	struct hist *h;
	__u32 srtt;

	if (!tp)
		return 0;
	srtt = tp->srtt_us;
	if (!srtt)	/* no RTT sample yet on this socket */
		return 0;
	srtt >>= 3;	/* the kernel keeps it in 1/8 us */
	if (!conn_from_sock(sk, &c) || !wanted(&c))
		return 0;
	h = hist_of(&c.peer);
	if (h)
		hist_add(h, srtt);
	m = metrics_of(&c.peer);
	if (m) {
		__sync_fetch_and_add(&m->rtt_sum, srtt);
		__sync_fetch_and_add(&m->rtt_count, 1);
	}
	if (sample_every && bpf_get_prandom_u32() % sample_every == 0)
		submit(&c, KIND_RTT, srtt, 0);
	return 0;
}

/* err is this tracepoint's third argument since 6.12 (the kernel we target). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_tcp_retransmit, struct sock *sk, struct sk_buff *skb, int err)
{
	struct node_metrics *m;
	struct conn c;

	/* A failed retransmit (e.g. -EBUSY from the qdisc) is not in the kernel's
	 * RetransSegs either. */
	if (err || !conn_from_sock(sk, &c) || !wanted(&c))
		return 0;
	m = metrics_of(&c.peer);
	if (m)
		__sync_fetch_and_add(&m->retrans_count, 1);
	if (emit_events)
		submit(&c, KIND_RETRANS, 0, sk->__sk_common.skc_state);
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
	struct node_metrics *m;
	struct conn c = {};

	if (sk && is_tcp_sock(sk)) {
		if (!conn_from_sock(sk, &c))
			return 0;
	} else if (!conn_from_packet(skb, &c)) {
		return 0;
	}
	if (!wanted(&c))
		return 0;
	m = metrics_of(&c.peer);
	if (m)
		__sync_fetch_and_add(&m->drop_count, 1);
	if (emit_events)
		submit(&c, KIND_DROP, 0, reason);
	return 0;
}
