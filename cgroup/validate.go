package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Limits the kernel or a starting task puts on Resources.
const (
	// MinMemoryBytes is the smallest --memory a task can start with. The
	// task's cgroup is joined before berth's re-exec'd Go init stage runs,
	// so the init (Go runtime, heap, the pages of the berth binary it faults
	// in) and then the task's own exec are charged to the limit; below about
	// 6 MiB the kernel OOM-kills the init before the task's code runs, which
	// would read as a task failure instead of a bad flag. (Docker settled on
	// the same floor for runc's init.)
	MinMemoryBytes = 6 * mib
	// MinCPUShares and MaxCPUShares are the kernel's bounds for cpu.shares
	// (MIN_SHARES, MAX_SHARES); it silently clamps values outside them.
	MinCPUShares = 2
	MaxCPUShares = 262144
	// MinCPUs is the smallest --cpus: the kernel rejects a CFS quota below
	// 1ms, and the period is cpuPeriod (100ms).
	MinCPUs = 0.01
)

// Validate checks r before any cgroup file is written. It returns the first
// problem found; the message starts with the CLI flag of the field
// ("--cpu-shares: 1 is below the minimum of 2"). Zero fields are unset and
// always valid.
func (r Resources) Validate() error {
	switch {
	case r.MemoryBytes < 0:
		return errors.New("--memory: must be positive")
	case r.MemoryBytes > 0 && r.MemoryBytes < MinMemoryBytes:
		return fmt.Errorf("--memory: %s is below the minimum of %s", FormatSize(r.MemoryBytes), FormatSize(MinMemoryBytes))
	}
	switch {
	case r.MemorySwapBytes == 0 || r.MemorySwapBytes == -1 && r.MemoryBytes > 0:
	case r.MemoryBytes == 0:
		return errors.New("--memory-swap: requires --memory")
	case r.MemorySwapBytes < 0:
		return fmt.Errorf("--memory-swap: %d is invalid: use -1 for unlimited swap or a size of at least --memory", r.MemorySwapBytes)
	case r.MemorySwapBytes < r.MemoryBytes:
		return fmt.Errorf("--memory-swap: must be at least --memory (%s < %s)", FormatSize(r.MemorySwapBytes), FormatSize(r.MemoryBytes))
	}
	switch {
	case r.CPUShares != 0 && r.CPUShares < MinCPUShares:
		return fmt.Errorf("--cpu-shares: %d is below the minimum of %d", r.CPUShares, MinCPUShares)
	case r.CPUShares > MaxCPUShares:
		return fmt.Errorf("--cpu-shares: %d is above the maximum of %d", r.CPUShares, MaxCPUShares)
	}
	switch {
	case math.IsNaN(r.CPUs) || r.CPUs < 0:
		return errors.New("--cpus: must be greater than 0")
	case math.IsInf(r.CPUs, 0) || r.CPUs > math.MaxInt64/cpuPeriod:
		return fmt.Errorf("--cpus: %g is too large", r.CPUs)
	case r.CPUs > 0 && r.CPUs < MinCPUs:
		return fmt.Errorf("--cpus: %g is below the minimum of %g", r.CPUs, MinCPUs)
	}
	if r.Cpuset != "" {
		if _, err := parseCPUList(r.Cpuset); err != nil {
			return fmt.Errorf("--cpuset: %w", err)
		}
	}
	if r.PidsLimit < 0 {
		return errors.New("--pids-limit: must be positive")
	}
	return nil
}

// parseCPUList parses a kernel cpu list ("0-3,5", "1", "0,2") into the set
// of cpus it names, in the syntax cpuset.cpus accepts.
func parseCPUList(s string) (map[int]bool, error) {
	cpus := make(map[int]bool)
	for _, item := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseCPU(lo)
		if err != nil {
			return nil, fmt.Errorf("invalid cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCPU(hi); err != nil {
				return nil, fmt.Errorf("invalid cpu list %q: %w", s, err)
			}
			if last < first {
				return nil, fmt.Errorf("invalid cpu list %q: range %q runs backwards", s, item)
			}
		}
		for c := first; c <= last; c++ {
			cpus[c] = true
		}
	}
	return cpus, nil
}

// maxCPU bounds cpu numbers so that a typo like "0-999999999" cannot make
// parseCPUList allocate without end; the kernel's NR_CPUS limit is 8192.
const maxCPU = 8191

func parseCPU(s string) (int, error) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a cpu number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxCPU {
		return 0, fmt.Errorf("cpu %s is above the maximum of %d", s, maxCPU)
	}
	return n, nil
}

// checkCpusAvailable checks that every cpu of want is in the cpu list in
// availFile (the parent's cpuset), which is what the kernel requires of
// cpuset.cpus; the error names the flag instead of a bare EINVAL. A missing
// or empty availFile skips the check.
func checkCpusAvailable(want, availFile string) error {
	b, err := os.ReadFile(availFile)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return nil
	}
	availList := strings.TrimSpace(string(b))
	avail, err := parseCPUList(availList)
	if err != nil {
		return fmt.Errorf("--cpuset: read %s: %w", availFile, err)
	}
	cpus, err := parseCPUList(want)
	if err != nil {
		return fmt.Errorf("--cpuset: %w", err)
	}
	for _, c := range slices.Sorted(maps.Keys(cpus)) {
		if !avail[c] {
			return fmt.Errorf("--cpuset: cpu %d is not available (%s is %s)", c, availFile, availList)
		}
	}
	return nil
}
