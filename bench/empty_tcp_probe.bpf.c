/* The floor for bench_rtt.py: attached to the same hook as ks-rtt, does nothing.
 * Its cost is what any tp_btf/tcp_probe program adds per segment. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/tcp_probe")
int BPF_PROG(empty_tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	return 0;
}
