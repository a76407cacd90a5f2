package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// hugepagesDir lists the huge page sizes the kernel has, one
// "hugepages-<N>kB" directory each. A variable for tests.
var hugepagesDir = "/sys/kernel/mm/hugepages"

// validateHugepages checks the limits' page size names and that no size
// is given twice.
func validateHugepages(limits []HugepageLimit) error {
	seen := map[string]bool{}
	for i, l := range limits {
		field := fmt.Sprintf("Resources.HugepageLimits[%d]", i)
		if _, ok := parsePageSize(l.PageSize); !ok {
			return fmt.Errorf("%s: page size %q: want the kernel's spelling, a number and KB, MB or GB (\"2MB\", \"1GB\")", field, l.PageSize)
		}
		if seen[l.PageSize] {
			return fmt.Errorf("%s: page size %s given twice", field, l.PageSize)
		}
		seen[l.PageSize] = true
	}
	return nil
}

// parsePageSize reads a page size name as the kernel writes it in the
// hugetlb file names ("2MB") and returns it in kB.
func parsePageSize(name string) (kB uint64, ok bool) {
	for unit, mult := range map[string]uint64{"KB": 1, "MB": 1 << 10, "GB": 1 << 20} {
		if num, found := strings.CutSuffix(name, unit); found && num != "" && num[0] != '0' {
			n, err := strconv.ParseUint(num, 10, 32)
			return n * mult, err == nil
		}
	}
	return 0, false
}

// pageSizeName spells a page size of kB kilobytes as the kernel does in
// hugetlb file names (mm/hugetlb_cgroup.c): in the largest unit it
// reaches ("64KB", "2MB", "1GB"); huge page sizes are powers of two, so
// the division is exact.
func pageSizeName(kB uint64) string {
	switch {
	case kB >= 1<<20:
		return fmt.Sprintf("%dGB", kB>>20)
	case kB >= 1<<10:
		return fmt.Sprintf("%dMB", kB>>10)
	}
	return fmt.Sprintf("%dKB", kB)
}

// hostPageSizes lists the huge page sizes under dir (hugepagesDir), named
// as the kernel names them in hugetlb files, smallest first.
func hostPageSizes(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var kBs []uint64
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if num, ok = strings.CutSuffix(num, "kB"); !ok {
			continue
		}
		if n, err := strconv.ParseUint(num, 10, 64); err == nil {
			kBs = append(kBs, n)
		}
	}
	slices.Sort(kBs)
	names := make([]string, len(kBs))
	for i, n := range kBs {
		names[i] = pageSizeName(n)
	}
	return names, nil
}

// checkHugepages refuses a page size the host does not have, naming it
// and those it has.
func checkHugepages(limits []HugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	sizes, err := hostPageSizes(hugepagesDir)
	if err != nil {
		return fmt.Errorf("Resources.HugepageLimits: the kernel has no huge pages: %w", err)
	}
	for i, l := range limits {
		if !slices.Contains(sizes, l.PageSize) {
			return fmt.Errorf("Resources.HugepageLimits[%d]: page size %s: this host has %s", i, l.PageSize, strings.Join(sizes, ", "))
		}
	}
	return nil
}

// hugetlbSettings are the limit files of dir for limits:
// hugetlb.<size>.limit_in_bytes on v1, hugetlb.<size>.max on v2.
func hugetlbSettings(limits []HugepageLimit, dir string, v2 bool) []setting {
	var out []setting
	for i, l := range limits {
		file := "hugetlb." + l.PageSize + ".limit_in_bytes"
		if v2 {
			file = "hugetlb." + l.PageSize + ".max"
		}
		out = append(out, setting{fmt.Sprintf("Resources.HugepageLimits[%d]", i), filepath.Join(dir, file), strconv.FormatUint(l.Limit, 10)})
	}
	return out
}
