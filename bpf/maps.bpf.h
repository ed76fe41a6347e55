/* Map helpers shared by every ks BPF program. */
#ifndef KS_MAPS_BPF_H
#define KS_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#ifndef EEXIST
#define EEXIST 17	/* vmlinux.h has the kernel's types, not its errno names */
#endif

/* Put a struct that only user space reads (a ring buffer record) into the object's
 * BTF, which keeps only types something refers to: tests/test_structs.py checks each
 * Python layout (collectors/decode.py CStruct) against the BTF. */
#define KS_BTF_TYPE(name) const struct name *__ks_btf_##name __attribute__((unused))

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
	if (err && err != -EEXIST /* another CPU created it first */)
		return 0;
	return bpf_map_lookup_elem(map, key);
}

/* Two generations of counts (Generations in collectors/bpf_collector.py): a map of
 * one u32 that user space flips every interval, so it can read and clear the other
 * generation while nothing writes it.  A map of its own, so writing it never races
 * with the .bss counters. */
#define KS_GEN_MAP(name)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_ARRAY);		\
		__uint(max_entries, 1);				\
		__type(key, __u32);				\
		__type(value, __u32);				\
	} name SEC(".maps")

/* The generation (0 or 1) programs count into now. */
static __always_inline __u32 ks_gen_of(void *gen_map)
{
	__u32 zero = 0, *gen = bpf_map_lookup_elem(gen_map, &zero);

	return gen ? *gen & 1 : 0;
}

/* Counters of what could not be recorded, in .bss so user space reads them by name
 * (BpfObject.read_u64) and reports them every interval. */
#define KS_LOST_COUNTERS \
	__u64 lost_ringbuf = 0;	/* ring buffer full: sampled events dropped */ \
	__u64 lost_map_full = 0;	/* a map had no room for a new key */

/* 1-in-N sampling: a per-CPU counter (no shared cache line), one map per program. */
#define KS_SAMPLE_MAP(name)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);	\
		__uint(max_entries, 1);				\
		__type(key, __u32);				\
		__type(value, __u32);				\
	} name SEC(".maps")

/* Whether this call is the every-th on this CPU (never, when every is 0). */
static __always_inline bool ks_sampled(void *sample_map, __u32 every)
{
	__u32 zero = 0, *n;

	if (!every)
		return false;
	n = bpf_map_lookup_elem(sample_map, &zero);
	if (!n || ++*n < every)
		return false;
	*n = 0;
	return true;
}

#define ks_count(counter) __sync_fetch_and_add(&(counter), 1)

#endif /* KS_MAPS_BPF_H */
