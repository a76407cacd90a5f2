package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	fake := t.TempDir()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Parent: "/berth", ID: "a"}, `cgroup parent "/berth": must be a clean relative path below the cgroup root`},
		{Config{Parent: "../berth", ID: "a"}, `cgroup parent "../berth": must be a clean relative path below the cgroup root`},
		{Config{Parent: "berth//x", ID: "a"}, `cgroup parent "berth//x": must be a clean relative path below the cgroup root`},
		{Config{ID: ""}, `cgroup of task "": the id must be a single path element`},
		{Config{ID: "a/b"}, `cgroup of task "a/b": the id must be a single path element`},
		{Config{ID: ".."}, `cgroup of task "..": the id must be a single path element`},
		{Config{ID: "a", Version: 4}, "cgroup version 4: must be 1, 2 or 3 (hybrid)"},
		// Resources are checked before anything is touched.
		{Config{ID: "a", Version: 2, V2Mount: fake, Resources: Resources{CPUShares: 1}}, "--cpu-shares: 1 is below the minimum of 2"},
	} {
		_, err := New(tc.cfg, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(fake); len(entries) != 0 {
		t.Errorf("New left %v in %s", entries, fake)
	}
}

func TestReadKeyed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cgroup.events")
	if err := os.WriteFile(file, []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"populated": "1", "frozen": "0"} {
		v, found, err := readKeyed(file, key)
		if err != nil || !found || v != want {
			t.Errorf("readKeyed(%s) = %q, %v, %v; want %q", key, v, found, err, want)
		}
	}
	if _, found, err := readKeyed(file, "oom"); found || err != nil {
		t.Errorf("readKeyed(oom) = found %v, %v; want not found", found, err)
	}
	if _, _, err := readKeyed(file+".none", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readKeyed(missing) = %v, want ErrNotExist", err)
	}
}

func TestNeeds(t *testing.T) {
	got := Resources{MemorySwapBytes: -1, MemoryBytes: 1, CPUs: 1, CPUShares: 2, PidsLimit: 3}.needs()
	want := []need{{"memory", "--memory"}, {"cpu", "--cpu-shares"}, {"pids", "--pids-limit"}}
	if len(got) != len(want) {
		t.Fatalf("needs() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("needs()[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
