/* The one latency histogram scheme of kernelsight (decoded by ingest/histogram.py).
 *
 * log2 with linear sub-buckets: values below 2^HIST_MANTISSA_BITS us get a bucket
 * each; above, every power of two is split into HIST_SUB equal buckets, so a bucket
 * is at most 1/16 of its lower bound wide.  Bucket i holds [lower(i), upper(i)):
 * a value never lands in a bucket whose upper bound is below it.  Values of
 * 2^HIST_MAX_BITS us and more go to the overflow bucket (upper bound +Inf).
 */
#ifndef KS_HIST_BPF_H
#define KS_HIST_BPF_H

#define HIST_MANTISSA_BITS 5
#define HIST_SUB (1 << (HIST_MANTISSA_BITS - 1))
#define HIST_EXACT (1 << HIST_MANTISSA_BITS)
#define HIST_MAX_BITS 32
#define HIST_OVERFLOW ((HIST_MAX_BITS - HIST_MANTISSA_BITS + 1) * HIST_SUB + HIST_SUB)
#define HIST_NBUCKETS (HIST_OVERFLOW + 1)

struct hist {
	__u64 buckets[HIST_NBUCKETS];
};

/* Index of the highest set bit of a non-zero 32-bit value, without loops. */
static __always_inline __u32 ks_log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 hist_index(__u64 value_us)
{
	__u32 v, shift;

	if (value_us < HIST_EXACT)
		return (__u32)value_us;
	if (value_us >> HIST_MAX_BITS)
		return HIST_OVERFLOW;
	v = (__u32)value_us;
	shift = ks_log2_u32(v) + 1 - HIST_MANTISSA_BITS;
	return shift * HIST_SUB + (v >> shift);
}

/* hist_index(value_us), checked against the array so the verifier sees the bound. */
static __always_inline __u32 hist_bounded_index(__u64 value_us)
{
	__u32 i = hist_index(value_us);

	/* Hide i's origin from clang, which would otherwise prove the callers' check
	 * redundant on some paths and drop it, leaving the verifier without a bound. */
	asm volatile("" : "+r"(i));
	return i;
}

/* Count one value (in us) into a histogram that may be shared between CPUs. */
static __always_inline void hist_add(struct hist *h, __u64 value_us)
{
	__u32 i = hist_bounded_index(value_us);

	if (i < HIST_NBUCKETS)	/* always true; tells the verifier the bound */
		__sync_fetch_and_add(&h->buckets[i], 1);
}

/* The same into a histogram only this CPU writes, with nothing to interrupt it
 * (a per-CPU value under the run-queue lock, or in a program that cannot nest):
 * a plain increment, no atomic. */
static __always_inline void hist_add_nosync(struct hist *h, __u64 value_us)
{
	__u32 i = hist_bounded_index(value_us);

	if (i < HIST_NBUCKETS)	/* always true; tells the verifier the bound */
		h->buckets[i]++;
}

#endif /* KS_HIST_BPF_H */
