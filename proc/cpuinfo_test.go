package proc

import (
	"errors"
	"io/fs"
	"testing"
)

func TestCoreMHz(t *testing.T) {
	tests := []struct {
		root string
		want float64
	}{
		// A 2-CPU VM: both lines say the host's 2100 MHz.
		{"testdata/cpuinfo/x86", 2100},
		// intel_pstate with two cores parked at 800 MHz and one in turbo at
		// 4600: the median is the middle core's 3412.558, not CPU 0's 800.
		{"testdata/cpuinfo/x86-scaling", 3412.558},
	}
	for _, tc := range tests {
		got, err := New(tc.root).CoreMHz()
		if err != nil || got != tc.want {
			t.Errorf("CoreMHz(%s) = %v, %v; want %v", tc.root, got, err, tc.want)
		}
	}
}

func TestCoreMHzMedian(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"cpu MHz\t\t: 1000.5\n", 1000.5},
		// Even count: the mean of the middle two.
		{"cpu MHz\t: 800\ncpu MHz\t: 2000\ncpu MHz\t: 3000\ncpu MHz\t: 4000\n", 2500},
		// A zero line is a CPU of unknown speed, skipped; no final newline.
		{"cpu MHz\t: 0.000\ncpu MHz\t: 1200.000", 1200},
		// s390x's lines are other figures, not "cpu MHz".
		{"cpu MHz dynamic : 5200\ncpu MHz static  : 5200\ncpu MHz : 4000\n", 4000},
	}
	for _, tc := range tests {
		got, err := cpuinfoMHz(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("cpuinfoMHz(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"cpu MHz : -5\n", "cpu MHz : NaN\n", "cpu MHz : +Inf\n", "cpu MHz :\n"} {
		if got, err := cpuinfoMHz(in); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cpuinfoMHz(%q) = %v, %v; want a parse error", in, got, err)
		}
	}
}

func TestCoreMHzErrors(t *testing.T) {
	tests := []struct {
		root, want string
		noMHz      bool
	}{
		{"testdata/cpuinfo/arm64", `core MHz: parse testdata/cpuinfo/arm64/cpuinfo: no "cpu MHz" line`, true},
		{"testdata/cpuinfo/zero", `core MHz: parse testdata/cpuinfo/zero/cpuinfo: no "cpu MHz" line`, true},
		{"testdata/cpuinfo/bad", `core MHz: parse testdata/cpuinfo/bad/cpuinfo: cpu MHz "fast": not a number of MHz`, false},
		{"testdata/cpuinfo/none", "core MHz: open testdata/cpuinfo/none/cpuinfo: no such file or directory", false},
	}
	for _, tc := range tests {
		got, err := New(tc.root).CoreMHz()
		if got != 0 || err == nil || err.Error() != tc.want {
			t.Errorf("CoreMHz(%s) = %v, %v; want 0, %q", tc.root, got, err, tc.want)
			continue
		}
		if errors.Is(err, ErrNoCoreMHz) != tc.noMHz {
			t.Errorf("CoreMHz(%s): errors.Is(%v, ErrNoCoreMHz) = %v; want %v", tc.root, err, !tc.noMHz, tc.noMHz)
		}
		// Both "no line" and "no file" say the speed is unknown.
		notExist := tc.noMHz || tc.root == "testdata/cpuinfo/none"
		if errors.Is(err, fs.ErrNotExist) != notExist {
			t.Errorf("CoreMHz(%s): errors.Is(%v, fs.ErrNotExist) = %v; want %v", tc.root, err, !notExist, notExist)
		}
	}
}

// TestCoreMHzHost reads this host's cpuinfo: a speed, or the sentinel on
// an architecture that prints none.
func TestCoreMHzHost(t *testing.T) {
	mhz, err := New("/proc").CoreMHz()
	if err != nil && !errors.Is(err, ErrNoCoreMHz) {
		t.Fatal(err)
	}
	if (err == nil) != (mhz > 0) {
		t.Errorf("CoreMHz() = %v, %v; want a positive speed or ErrNoCoreMHz", mhz, err)
	}
	t.Logf("core MHz %v, %v", mhz, err)
}
