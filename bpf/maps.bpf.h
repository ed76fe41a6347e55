/* Map helpers shared by every ks BPF program. */
#ifndef KS_MAPS_BPF_H
#define KS_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

/* Look a key up, creating it from *init when absent.  Returns NULL only when the map
 * is full (the caller counts that: a full map is reported, never silent). */
static __always_inline void *map_lookup_or_try_init(void *map, const void *key, const void *init)
{
	void *val;
	long err;

	val = bpf_map_lookup_elem(map, key);
	if (val)
		return val;
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -17 /* -EEXIST: another CPU created it first */)
		return 0;
	return bpf_map_lookup_elem(map, key);
}

/* Counters of what could not be recorded, in .bss so user space reads them by name
 * (BpfObject.read_u64) and reports them every interval. */
#define KS_LOST_COUNTERS \
	__u64 lost_ringbuf = 0;	/* ring buffer full: sampled events dropped */ \
	__u64 lost_map_full = 0;	/* a map had no room for a new key */

#define ks_count(counter) __sync_fetch_and_add(&(counter), 1)

#endif /* KS_MAPS_BPF_H */
