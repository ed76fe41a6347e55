/* --pid / --comm / --cgroup filters shared by the per-thread tracers (syscalls, pagefaults, sched).
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
const volatile __u64 targ_cgid = 0;		/* 0: every cgroup; else a cgroup v2 id */
const volatile __u32 self_tgid = 0;	/* the collector itself: its own polling is noise */

/* Reads go through the task pointer (direct BTF loads), not helper calls: on the
 * hottest hooks (every syscall, every fault) a helper call is a measurable cost. */
static __always_inline bool comm_matches(struct task_struct *task)
{
	int i;

	if (!targ_comm[0])
		return true;
#pragma unroll
	for (i = 0; i < KS_COMM_LEN; i++) {
		if (task->comm[i] != targ_comm[i])
			return false;
		if (!targ_comm[i])
			break;
	}
	return true;
}

/* A thread's cgroup on the default hierarchy (the unified one, v2): its id is the
 * inode number of the cgroup's directory (collectors/cgroups.py turns it into a path). */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/* Whether the thread is in the cgroup v2 of --cgroup.  Only that cgroup, not its
 * children: where a container's processes live. */
static __always_inline bool cgroup_matches(struct task_struct *task)
{
	if (!targ_cgid)
		return true;
	return task_cgroup_id(task) == targ_cgid;
}

/* Whether --pid, --comm or --cgroup was given: when not, callers skip even finding the task. */
static __always_inline bool task_filtering(void)
{
	return targ_tgid || targ_comm[0] || targ_cgid;
}

/* Whether a thread is one the user asked about (--pid, --comm, --cgroup). */
static __always_inline bool task_wanted(struct task_struct *task)
{
	if (targ_tgid && task->tgid != targ_tgid)
		return false;
	return comm_matches(task) && cgroup_matches(task);
}

/* Whether a thread belongs to the collector itself. */
static __always_inline bool task_is_self(struct task_struct *task)
{
	return self_tgid && task->tgid == self_tgid;
}

#endif /* KS_TASK_FILTER_BPF_H */
