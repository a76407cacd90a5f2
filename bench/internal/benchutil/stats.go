package benchutil

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is the latency distribution of a series of launches.
type Summary struct {
	N      int
	Median time.Duration
	P95    time.Duration
	Min    time.Duration
	Max    time.Duration
}

// Summarize computes a Summary with nearest-rank percentiles.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return Summary{N: len(s), Median: rank(s, 0.50), P95: rank(s, 0.95), Min: s[0], Max: s[len(s)-1]}
}

// rank is the nearest-rank percentile of sorted s.
func rank(s []time.Duration, p float64) time.Duration {
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Ms is d in milliseconds, rounded to 3 decimals.
func Ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// RSSKiB is the resident set size of pid (VmRSS in /proc/PID/status).
func RSSKiB(pid int) (int, error) {
	m, err := Status(pid)
	if err != nil {
		return 0, err
	}
	v, ok := m["VmRSS"]
	if !ok {
		return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return v, nil
}

// Status returns the kB figures of /proc/PID/status (VmRSS, RssAnon,
// RssFile, ...) by name.
func Status(pid int) (map[string]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.Atoi(fields[0]); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// RSSDetail describes pid's resident memory: "RSS (anon A, file F) KiB".
func RSSDetail(pid int) string {
	m, err := Status(pid)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d KiB: anon %d, file %d, shmem %d", m["VmRSS"], m["RssAnon"], m["RssFile"], m["RssShmem"])
}
