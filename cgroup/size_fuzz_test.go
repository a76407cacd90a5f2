package cgroup

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

// sizeModel is ParseSize written the slow way, with big integers: digits,
// then an optional K, M or G, then an optional B, either case, and a value
// that fits in an int64; "-1" alone is -1.
func sizeModel(s string) (int64, bool) {
	if s == "-1" {
		return -1, true
	}
	num := s
	if strings.HasSuffix(num, "b") || strings.HasSuffix(num, "B") {
		num = num[:len(num)-1]
	}
	mult := int64(1)
	if n := len(num); n > 0 {
		if i := strings.IndexByte("kKmMgG", num[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i/2 + 1))
			num = num[:n-1]
		}
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, false
	}
	v, _ := new(big.Int).SetString(num, 10)
	v.Mul(v, big.NewInt(mult))
	if !v.IsInt64() {
		return 0, false
	}
	return v.Int64(), true
}

// FuzzParseSize feeds --memory and --memory-swap values to ParseSize and
// byte counts to FormatSize.
//
// Properties: ParseSize agrees with sizeModel, so a size is never negative
// but for "-1" and never wraps around; FormatSize of any size ParseSize can
// return parses back to it.
func FuzzParseSize(f *testing.F) {
	f.Add("64M", int64(64<<20))
	f.Add("1536kb", int64(1536<<10))
	f.Add("-1", int64(-1))
	f.Add("8589934591G", int64(math.MaxInt64))
	f.Add("+1", int64(0))
	f.Add("0x10", int64(1000))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		got, err := ParseSize(s)
		want, ok := sizeModel(s)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d, accepted %v", s, got, err, want, ok)
		}
		for _, v := range []int64{got, n} {
			if v < -1 {
				continue // not a size: FormatSize prints it, nothing parses it
			}
			if back, err := ParseSize(FormatSize(v)); err != nil || back != v {
				t.Fatalf("ParseSize(FormatSize(%d) = %q) = %d, %v", v, FormatSize(v), back, err)
			}
		}
	})
}
