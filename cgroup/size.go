package cgroup

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units accepted by ParseSize and printed by FormatSize.
const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// ParseSize parses a size as given to --memory and --memory-swap: a
// non-negative integer count of bytes, optionally followed by a binary unit
// K, M or G (either case, 1K = 1024) and an optional B ("64M", "64mb",
// "512K", "1G", "1024"). The single value "-1" is returned as -1, the
// "unlimited" of --memory-swap; Validate rejects it for every other field.
func ParseSize(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	num := s
	if n := len(num); n > 0 && (num[n-1] == 'b' || num[n-1] == 'B') {
		num = num[:n-1]
	}
	mult := int64(1)
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k', 'K':
			mult = kib
		case 'm', 'M':
			mult = mib
		case 'g', 'G':
			mult = gib
		}
		if mult != 1 {
			num = num[:n-1]
		}
	}
	// strconv would accept a sign; a size has none.
	if num == "" || strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return v * mult, nil
}

// FormatSize prints n bytes with the largest binary unit that divides it
// exactly ("6M", "1536K", "1000"), so that error messages read like the
// flags a user types.
func FormatSize(n int64) string {
	switch {
	case n != 0 && n%gib == 0:
		return strconv.FormatInt(n/gib, 10) + "G"
	case n != 0 && n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + "M"
	case n != 0 && n%kib == 0:
		return strconv.FormatInt(n/kib, 10) + "K"
	}
	return strconv.FormatInt(n, 10)
}
