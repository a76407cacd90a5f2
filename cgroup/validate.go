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
	// MinCPUPeriod and MaxCPUPeriod bound cpu.cfs_period_us (and a
	// quota from below): 1ms to 1s.
	MinCPUPeriod = 1000
	MaxCPUPeriod = 1000000
	// MaxSwappiness is the largest memory.swappiness the OCI runtime spec
	// allows (the kernel takes up to 200 since 5.8; runc refuses above 100).
	MaxSwappiness = 100
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
	case r.CPUPeriod != 0 && (r.CPUPeriod < MinCPUPeriod || r.CPUPeriod > MaxCPUPeriod):
		return fmt.Errorf("Resources.CPUPeriod: %dµs is outside the kernel's range of %d to %d", r.CPUPeriod, MinCPUPeriod, MaxCPUPeriod)
	case math.IsInf(r.CPUs, 0) || r.CPUs > math.MaxInt64/float64(r.period()):
		return fmt.Errorf("--cpus: %g is too large", r.CPUs)
	case r.CPUs > 0 && r.CPUPeriod == 0 && r.CPUs < MinCPUs:
		return fmt.Errorf("--cpus: %g is below the minimum of %g", r.CPUs, MinCPUs)
	case r.CPUs > 0 && r.quota() < MinCPUPeriod:
		return fmt.Errorf("--cpus: %g of a %dµs period is a quota below the kernel's minimum of %dµs", r.CPUs, r.period(), MinCPUPeriod)
	}
	if r.Cpuset != "" {
		if _, err := parseCPUList(r.Cpuset); err != nil {
			return fmt.Errorf("--cpuset: %w", err)
		}
	}
	if r.CpusetMems != "" {
		if _, err := parseList(r.CpusetMems, "memory node"); err != nil {
			return fmt.Errorf("Resources.CpusetMems: %w", err)
		}
	}
	if r.PidsLimit < 0 {
		return errors.New("--pids-limit: must be positive")
	}
	switch {
	case r.MemoryReservationBytes < 0:
		return errors.New("Resources.MemoryReservationBytes: must be positive")
	case r.MemoryBytes > 0 && r.MemoryReservationBytes > r.MemoryBytes:
		return fmt.Errorf("Resources.MemoryReservationBytes: %s is above --memory (%s)", FormatSize(r.MemoryReservationBytes), FormatSize(r.MemoryBytes))
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness > MaxSwappiness {
		return fmt.Errorf("Resources.MemorySwappiness: %d is above the maximum of %d", *r.MemorySwappiness, MaxSwappiness)
	}
	if r.BlockIO != nil {
		if err := r.BlockIO.validate(); err != nil {
			return err
		}
	}
	if err := validateHugepages(r.HugepageLimits); err != nil {
		return err
	}
	if err := r.validateNetwork(); err != nil {
		return err
	}
	return validateUnified(r.Unified)
}

// parseCPUList parses a kernel cpu list ("0-3,5", "1", "0,2") into the set
// of cpus it names, in the syntax cpuset.cpus accepts.
func parseCPUList(s string) (map[int]bool, error) { return parseList(s, "cpu") }

// parseList parses a kernel list of cpus or memory nodes (what names the
// items in messages) in the syntax cpuset.cpus and cpuset.mems accept.
func parseList(s, what string) (map[int]bool, error) {
	items := make(map[int]bool)
	for _, item := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseItem(lo, what)
		if err != nil {
			return nil, fmt.Errorf("invalid %s list %q: %w", what, s, err)
		}
		last := first
		if isRange {
			if last, err = parseItem(hi, what); err != nil {
				return nil, fmt.Errorf("invalid %s list %q: %w", what, s, err)
			}
			if last < first {
				return nil, fmt.Errorf("invalid %s list %q: range %q runs backwards", what, s, item)
			}
		}
		for c := first; c <= last; c++ {
			items[c] = true
		}
	}
	return items, nil
}

// maxCPU bounds cpu (and memory node) numbers so that a typo like
// "0-999999999" cannot make parseList allocate without end; the kernel's
// NR_CPUS limit is 8192 (MAX_NUMNODES is 1024).
const maxCPU = 8191

func parseItem(s, what string) (int, error) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a %s number", s, what)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxCPU {
		return 0, fmt.Errorf("%s %s is above the maximum of %d", what, s, maxCPU)
	}
	return n, nil
}

// checkCpusAvailable checks that every cpu of want is in the cpu list in
// availFile (the parent's cpuset), which is what the kernel requires of
// cpuset.cpus; the error names the flag instead of a bare EINVAL. A missing
// or empty availFile skips the check.
func checkCpusAvailable(want, availFile string) error {
	return checkAvailable("--cpuset", "cpu", want, availFile)
}

// checkMemsAvailable is checkCpusAvailable for cpuset.mems.
func checkMemsAvailable(want, availFile string) error {
	return checkAvailable("Resources.CpusetMems", "memory node", want, availFile)
}

func checkAvailable(field, what, want, availFile string) error {
	b, err := os.ReadFile(availFile)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return nil
	}
	availList := strings.TrimSpace(string(b))
	avail, err := parseList(availList, what)
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", field, availFile, err)
	}
	items, err := parseList(want, what)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	for _, c := range slices.Sorted(maps.Keys(items)) {
		if !avail[c] {
			return fmt.Errorf("%s: %s %d is not available (%s is %s)", field, what, c, availFile, availList)
		}
	}
	return nil
}
