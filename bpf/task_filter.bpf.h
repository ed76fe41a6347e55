/* --pid / --comm filters shared by the per-thread tracers (syscalls, pagefaults).
 *
 * The including file declares nothing: the rodata knobs live here, so every tracer
 * spells them the same way for its collector (targ_tgid, targ_comm).  With the knobs
 * at their defaults the verifier sees constant-false branches and prunes them, so an
 * unfiltered tracer pays nothing for this.
 */
#ifndef KS_TASK_FILTER_BPF_H
#define KS_TASK_FILTER_BPF_H

#include <bpf/bpf_helpers.h>

#define KS_COMM_LEN 16

const volatile __u32 targ_tgid = 0;			/* 0: every process */
const volatile char targ_comm[KS_COMM_LEN] = {};	/* "": every command */
const volatile __u32 self_tgid = 0;	/* the collector itself: its own polling is noise */

static __always_inline bool comm_matches(void)
{
	char comm[KS_COMM_LEN];
	int i;

	if (!targ_comm[0])
		return true;
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (i = 0; i < KS_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* Whether the current thread is one the user asked about (pid_tgid: the helper's). */
static __always_inline bool task_wanted(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (self_tgid && tgid == self_tgid)
		return false;
	return comm_matches();
}

#endif /* KS_TASK_FILTER_BPF_H */
