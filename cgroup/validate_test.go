package cgroup

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestValidate(t *testing.T) {
	valid := []Resources{
		{},
		{MemoryBytes: 6 << 20},
		{MemoryBytes: 64 << 20, MemorySwapBytes: 64 << 20},
		{MemoryBytes: 64 << 20, MemorySwapBytes: 128 << 20},
		{MemoryBytes: 64 << 20, MemorySwapBytes: -1},
		{CPUShares: 2},
		{CPUShares: 262144},
		{CPUs: 0.01},
		{CPUs: 1.5},
		{Cpuset: "0"},
		{Cpuset: "0-3,5,7-8"},
		{PidsLimit: 1},
	}
	for _, r := range valid {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: Validate() = %v, want nil", r, err)
		}
	}
	for _, tc := range []struct {
		r    Resources
		want string
	}{
		{Resources{CPUShares: 1}, "--cpu-shares: 1 is below the minimum of 2"},
		{Resources{CPUShares: 262145}, "--cpu-shares: 262145 is above the maximum of 262144"},
		{Resources{CPUs: -1}, "--cpus: must be greater than 0"},
		{Resources{CPUs: math.NaN()}, "--cpus: must be greater than 0"},
		{Resources{CPUs: math.Inf(1)}, "--cpus: +Inf is too large"},
		{Resources{CPUs: 0.001}, "--cpus: 0.001 is below the minimum of 0.01"},
		{Resources{MemoryBytes: 1024}, "--memory: 1K is below the minimum of 6M"},
		{Resources{MemoryBytes: 5 << 20}, "--memory: 5M is below the minimum of 6M"},
		{Resources{MemoryBytes: -1}, "--memory: must be positive"},
		{Resources{MemoryBytes: 64 << 20, MemorySwapBytes: 32 << 20}, "--memory-swap: must be at least --memory (32M < 64M)"},
		{Resources{MemorySwapBytes: 64 << 20}, "--memory-swap: requires --memory"},
		{Resources{MemorySwapBytes: -1}, "--memory-swap: requires --memory"},
		{Resources{MemoryBytes: 64 << 20, MemorySwapBytes: -2}, "--memory-swap: -2 is invalid: use -1 for unlimited swap or a size of at least --memory"},
		{Resources{PidsLimit: -1}, "--pids-limit: must be positive"},
		{Resources{Cpuset: "a"}, `--cpuset: invalid cpu list "a": "a" is not a cpu number`},
		{Resources{Cpuset: "0-"}, `--cpuset: invalid cpu list "0-": "" is not a cpu number`},
		{Resources{Cpuset: "0,,1"}, `--cpuset: invalid cpu list "0,,1": "" is not a cpu number`},
		{Resources{Cpuset: "3-1"}, `--cpuset: invalid cpu list "3-1": range "3-1" runs backwards`},
		{Resources{Cpuset: "0-99999999"}, `--cpuset: invalid cpu list "0-99999999": cpu 99999999 is above the maximum of 8191`},
		{Resources{Cpuset: "-1"}, `--cpuset: invalid cpu list "-1": "" is not a cpu number`},
	} {
		err := tc.r.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: Validate() = %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int{0, 1, 2, 5} {
		if !got[c] {
			t.Errorf("cpu %d missing from %v", c, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("parseCPUList(\"0-2,5\") = %v, want 4 cpus", got)
	}
}

func TestCheckCpusAvailable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpuset.cpus")
	if err := os.WriteFile(file, []byte("0-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkCpusAvailable("1,0", file); err != nil {
		t.Errorf("cpus 0,1 of 0-1: %v", err)
	}
	wantErr(t, checkCpusAvailable("0-3", file), "--cpuset: cpu 2 is not available ("+file+" is 0-1)")
	// No file to check against: the kernel decides.
	if err := checkCpusAvailable("7", filepath.Join(t.TempDir(), "none")); err != nil {
		t.Errorf("missing file: %v", err)
	}
}
