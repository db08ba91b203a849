package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two, so any reported percentile is within
// about 0.8% of the true value (the midpoint of a bucket at most 1/128 of
// its value away from any member). It is fixed-size, so a worker can
// record millions of requests without allocating, and histograms of
// several workers merge by adding counts.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

const (
	histSubBits = 7                      // mantissa bits kept
	histHalf    = 1 << (histSubBits - 1) // buckets per power of two above the exact range
	// Values up to 2^63 ns need (63-histSubBits+1) octaves above the
	// exact range.
	histBuckets = (64-histSubBits+1)*histHalf + histHalf
)

// bucketOf maps a non-negative value to its bucket index; the mapping is
// monotonic and contiguous.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < 1<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	return shift*histHalf + int(v>>shift)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < 1<<histSubBits {
		return int64(i), int64(i)
	}
	shift := i/histHalf - 1
	mant := int64(i%histHalf + histHalf)
	return mant << shift, (mant+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value below which a fraction q of the recorded
// values lie (nearest rank), as the midpoint of its bucket clamped to the
// observed minimum and maximum. It is 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
