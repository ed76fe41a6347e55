/* Map helpers shared by every ks BPF program. */
#ifndef KS_MAPS_BPF_H
#define KS_MAPS_BPF_H

#include <bpf/bpf_helpers.h>
#include "errno.bpf.h"

#define NSEC_PER_SEC 1000000000ULL

/* A map of one value (key 0) of the given type: for state a program keeps outside .bss. */
#define KS_ONE_VALUE_MAP(name, map_type, value_type)		\
	struct {						\
		__uint(type, map_type);				\
		__uint(max_entries, 1);				\
		__type(key, __u32);				\
		__type(value, value_type);			\
	} name SEC(".maps")

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
#define KS_GEN_MAP(name) KS_ONE_VALUE_MAP(name, BPF_MAP_TYPE_ARRAY, __u32)

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

/* Sampling, per CPU (no shared cache line): 1 call in every, and at most limit of
 * those a second (a window that starts at the first sample after the last one
 * ended; 0: no limit).  User space reads capped to say how many the limit cut. */
struct ks_sample_state {
	__u32 since;		/* calls since the last sample */
	__u32 taken;		/* samples in this window */
	__u64 window_start;
	__u64 capped;		/* samples not taken: the window's limit was reached */
};

#define KS_SAMPLE_MAP(name) \
	KS_ONE_VALUE_MAP(name, BPF_MAP_TYPE_PERCPU_ARRAY, struct ks_sample_state)

/* Whether this call is sampled (never, when every is 0).  The clock is read only
 * for a sample: *ts is then its time, so a window's first record carries its start. */
static __always_inline bool ks_sampled(void *sample_map, __u32 every, __u32 limit, __u64 *ts)
{
	__u32 zero = 0;
	struct ks_sample_state *s;

	if (!every)
		return false;
	s = bpf_map_lookup_elem(sample_map, &zero);
	if (!s || ++s->since < every)
		return false;
	s->since = 0;
	*ts = bpf_ktime_get_ns();
	if (!limit)
		return true;
	if (*ts - s->window_start >= NSEC_PER_SEC) {
		s->window_start = *ts;
		s->taken = 0;
	}
	if (s->taken >= limit) {
		s->capped++;
		return false;
	}
	s->taken++;
	return true;
}

#define ks_count(counter) __sync_fetch_and_add(&(counter), 1)

/* A record of ``size`` bytes in the ring buffer map ``ring``, or NULL when it is
 * full, counted in lost_ringbuf (KS_LOST_COUNTERS) so user space says so. */
#define ks_reserve(ring, size) ({					\
	void *__rec = bpf_ringbuf_reserve(ring, size, 0);		\
	if (!__rec)							\
		ks_count(lost_ringbuf);					\
	__rec;								\
})

#endif /* KS_MAPS_BPF_H */
