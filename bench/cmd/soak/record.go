package main

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// hist is a latency histogram of fixed size: buckets 2 % wide from 10 µs
// to about two minutes. A soak must not measure its own bookkeeping as
// growth: a slice of every sample would grow its heap by 8 bytes an
// operation, a histogram not at all.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.02
	histBuckets = 830 // 10 µs × 1.02^830 ≈ 140 s
)

var logGrowth = math.Log(histGrowth)

func (h *hist) add(d time.Duration) {
	i := 0
	if d > histMin {
		i = min(int(math.Log(float64(d)/float64(histMin))/logGrowth)+1, histBuckets-1)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

// quantile is the nearest-rank q-quantile, as the upper bound of its
// bucket (at most 2 % above the true value) and never above the largest
// sample.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(float64(histMin)*math.Pow(histGrowth, float64(i))), h.max)
		}
	}
	return h.max
}

// opStats is one kind of operation's count, errors and latency, over the
// whole run and over the current report window.
type opStats struct {
	count, errs uint64
	all, win    hist
}

// recorder counts every operation the soak does. The set of names is fixed
// by the drivers, so it holds a bounded number of entries.
type recorder struct {
	mu  sync.Mutex
	ops map[string]*opStats
	// errs keeps the first maxErrs error messages; later ones are counted.
	errs    []string
	nErrs   uint64
	maxErrs int
	// abort is called once the errors reach abortAt: a soak that only
	// fails is stopped early rather than failing for the whole duration.
	abort   func()
	abortAt uint64
}

func newRecorder(abortAt uint64, abort func()) *recorder {
	return &recorder{ops: map[string]*opStats{}, maxErrs: 30, abortAt: abortAt, abort: abort}
}

// done records one operation named name that took d; a non-nil err is an
// unexpected error (every expected outcome is checked by the driver and
// comes back as nil).
func (r *recorder) done(name string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.ops[name]
	if s == nil {
		s = &opStats{}
		r.ops[name] = s
	}
	s.count++
	s.all.add(d)
	s.win.add(d)
	if err != nil {
		s.errs++
		r.failed(fmt.Sprintf("%s: %v", name, err))
	}
}

// fail records an unexpected error that belongs to no operation (a
// warning the executor logged, a cleanup step).
func (r *recorder) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed(msg)
}

func (r *recorder) failed(msg string) {
	r.nErrs++
	if len(r.errs) < r.maxErrs {
		r.errs = append(r.errs, msg)
	}
	if r.nErrs == r.abortAt && r.abort != nil {
		r.abort()
	}
}

func (r *recorder) errors() (uint64, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nErrs, slices.Clone(r.errs)
}

// opSummary is what a report prints of one kind of operation.
type opSummary struct {
	Name  string  `json:"name"`
	Count uint64  `json:"count"`
	Errs  uint64  `json:"errors"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// summary lists every operation, sorted by name, over the whole run or
// (window) since the previous windowed summary, which it resets.
func (r *recorder) summary(window bool) []opSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]opSummary, 0, len(r.ops))
	for name, s := range r.ops {
		h := &s.all
		if window {
			h = &s.win
		}
		out = append(out, opSummary{Name: name, Count: h.n, Errs: s.errs,
			P50Ms: ms(h.quantile(0.50)), P99Ms: ms(h.quantile(0.99)), MaxMs: ms(h.max)})
		if window {
			s.win = hist{}
		}
	}
	slices.SortFunc(out, func(a, b opSummary) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// total is how many operations whose name starts with prefix ran.
func (r *recorder) total(prefix string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uint64
	for name, s := range r.ops {
		if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
			n += s.count
		}
	}
	return n
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
