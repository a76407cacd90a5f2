package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBindNodevNotRaced is issue 9's hole 2 in its attack's shape: a bind's
// source swapped between a device node and a directory while berth binds it
// must never give the task a directory without nodev, where it could make
// device nodes of its own. Whether a bind is a device is decided from the
// cloned tree, not from a lookup of the path before it.
//
// The destination exists as a directory in the task root, so a bind that
// took the source for a device (a file destination) still lands when the
// directory is what gets cloned.
func TestBindNodevNotRaced(t *testing.T) {
	tk := newTask(t)
	rootfs := newRootfs(t)
	if err := os.Mkdir(filepath.Join(rootfs, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	swap := filepath.Join(src, "swap")
	other := filepath.Join(src, "other")
	if err := unix.Mknod(swap, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}

	// The attacker (any host user who owns the source's directory) swaps
	// the two names as fast as it can.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = unix.Renameat2(unix.AT_FDCWD, swap, unix.AT_FDCWD, other, unix.RENAME_EXCHANGE)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	dirs, devices := 0, 0
	for i := 0; i < 300 && dirs < 100; i++ {
		res := tk.run([]string{"--rootfs", rootfs, "--mount", swap + ":/x"}, "/probe", "bindinfo", "/x")
		if res.code != 0 {
			// A swap can make the bind itself fail (a directory onto a
			// file, say): refused is fine, only a landed bind is judged.
			continue
		}
		var got struct{ Type, Options, Error string }
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		switch got.Type {
		case "dir":
			dirs++
			if !strings.Contains(","+got.Options+",", ",nodev,") {
				t.Fatalf("launch %d: the directory bound at /x is not nodev (options %q): the task can make devices the host opens", i, got.Options)
			}
		case "char":
			devices++
		}
	}
	if dirs == 0 {
		t.Fatalf("no launch bound the directory (%d bound the device): the race was never run", devices)
	}
	t.Logf("%d directory binds, all nodev; %d device binds", dirs, devices)
}
