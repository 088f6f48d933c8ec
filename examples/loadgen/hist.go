package main

import (
	"math"
	"time"
)

// hist is a latency histogram with logarithmic buckets 1.5 % wide, from
// 1 µs to about 20 minutes: fixed memory whatever the run's length, and
// quantiles within 1.5 % of the exact ones. The zero value is empty; it is
// not safe for concurrent use.
type hist struct {
	counts [histBuckets]uint32
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histGrowth  = 1.015
	histBuckets = 1500 // histGrowth^1499 µs ≈ 4.8e9 µs
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Ceil(math.Log(us)/logGrowth)), histBuckets-1)
}

// bucketValue is the upper bound of bucket i.
func bucketValue(i int) time.Duration {
	return time.Duration(math.Pow(histGrowth, float64(i)) * float64(time.Microsecond))
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q ≤ 1), at most the largest value
// seen, or 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return min(bucketValue(i), h.max)
		}
	}
	return h.max
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantiles summarizes a histogram in milliseconds.
type Quantiles struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

func (h *hist) quantiles() Quantiles {
	return Quantiles{
		Count: h.n, MeanMs: ms(h.mean()),
		P50Ms: ms(h.quantile(0.50)), P95Ms: ms(h.quantile(0.95)), P99Ms: ms(h.quantile(0.99)),
		MaxMs: ms(h.max),
	}
}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
