package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDiff(t *testing.T) {
	a := []string{"a", "b", "b", "d"}
	b := []string{"b", "c", "d", "e"}
	added, removed := diff(a, b)
	if !slices.Equal(added, []string{"c", "e"}) || !slices.Equal(removed, []string{"a", "b"}) {
		t.Errorf("diff = added %q removed %q, want added [c e] removed [a b]", added, removed)
	}
	if added, removed := diff(a, a); added != nil || removed != nil {
		t.Errorf("diff of equal tables = %q %q, want nothing", added, removed)
	}
}

// TestMountScopeOwns: which mountinfo lines (without their ids) are a
// task's.
func TestMountScopeOwns(t *testing.T) {
	s := MountScope{Dirs: []string{"/tmp/TestX1/001", "/var/tmp/run dir"}, ID: "task-0a1b"}
	for _, c := range []struct {
		line string
		want bool
	}{
		// Mount point on or below a dir of the task's.
		{"0:50 / /tmp/TestX1/001 rw - tmpfs tmpfs rw", true},
		{"0:50 / /tmp/TestX1/001/task/rootfs rw,relatime shared:5 - tmpfs tmpfs rw", true},
		// Escaped space in the mount point.
		{`0:50 / /var/tmp/run\040dir/x rw - tmpfs tmpfs rw`, true},
		// Source below a dir of the task's.
		{"0:51 / /mnt/x rw - ext4 /tmp/TestX1/001/disk.img rw", true},
		// Naming the id or berth, anywhere.
		{"0:52 / /srv/task-0a1b rw - tmpfs tmpfs rw", true},
		{"8:1 /tmp/berth-test-bin-1/probe /srv/probe ro - ext4 /dev/sda1 rw", true},
		{"0:53 / /run/berth/x rw - tmpfs tmpfs rw", true},
		// Another test's or the host's: a sibling with a common prefix, the
		// shared temp dir, an unrelated mount.
		{"0:54 / /tmp/TestX1/0012 rw - tmpfs tmpfs rw", false},
		{"0:55 / /tmp rw - tmpfs tmpfs rw", false},
		{"0:56 / /tmp/TestY2/001 rw - tmpfs tmpfs rw", false},
		{"0:57 / /snap/core/1 ro - squashfs /dev/loop3 ro", false},
		// Another test's task whose id holds the word berth.
		{"0:58 / /tmp/TestPlantDecoyBerthInit1/002/testplantdecoyberthinit-12a6/logs rw - tmpfs task-logs rw", false},
		// Unparsable lines stay in the comparison.
		{"garbage", true},
	} {
		if got := s.Owns(c.line); got != c.want {
			t.Errorf("Owns(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

func TestTempDirRoot(t *testing.T) {
	dir := t.TempDir()
	root := TempDirRoot(dir)
	if root != filepath.Dir(dir) || root == filepath.Clean(os.TempDir()) {
		t.Errorf("TempDirRoot(%s) = %s, want the test's own directory holding it", dir, root)
	}
	// Not a numbered t.TempDir, or directly in the shared temp dir: the
	// scope stays the dir itself.
	for _, d := range []string{root, filepath.Join(os.TempDir(), "001"), "/001"} {
		if got := TempDirRoot(d); got != filepath.Clean(d) {
			t.Errorf("TempDirRoot(%s) = %s, want it unchanged", d, got)
		}
	}
}

// TestMountLeakCheck: a mount left below a task's state dir is reported
// (appearing, and going away), while a mount elsewhere on the host, as
// another session would make, is not.
func TestMountLeakCheck(t *testing.T) {
	RequireRoot(t)
	const id = "leakcheck-0a1b"
	stateDir := t.TempDir()
	// Where berth would build a task dir (not stateDir/ID: the state
	// check would report that directory, and only the mount is wanted).
	leakAt := filepath.Join(stateDir, "taskdir")
	if err := os.MkdirAll(leakAt, 0o700); err != nil {
		t.Fatal(err)
	}
	// Outside the test's directories, naming neither the id nor berth.
	elsewhere, err := os.MkdirTemp("", "unrelated-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(elsewhere) })
	if strings.Contains(elsewhere, "berth") {
		t.Fatalf("the unrelated mount point %s names berth (TMPDIR?): it would be berth's", elsewhere)
	}
	mountTmpfs := func(dir string) {
		t.Helper()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				t.Errorf("unmount %s: %v", dir, err)
			}
		})
	}
	l := Leftovers{StateDir: stateDir, ID: id, Mounts: SnapshotMounts(t)}

	mountTmpfs(leakAt)
	mountTmpfs(elsewhere)
	ft := &fakeT{TB: t}
	AssertNothingLeft(ft, l)
	if ft.errors != 1 || !strings.Contains(ft.msgs[0], leakAt) || strings.Contains(ft.msgs[0], elsewhere) {
		t.Errorf("with a tmpfs left at %s and one at %s: reported %q, want the first only", leakAt, elsewhere, ft.msgs)
	}

	// Once the task's mount is gone, the unrelated one is no leftover.
	l.Mounts = SnapshotMounts(t)
	if err := unix.Unmount(leakAt, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	ft = &fakeT{TB: t}
	AssertNothingLeft(ft, Leftovers{StateDir: stateDir, ID: id, Mounts: SnapshotMounts(t)})
	if ft.errors != 0 {
		t.Errorf("with only a tmpfs at %s: reported %q, want nothing", elsewhere, ft.msgs)
	}
	// A mount of the task's that went away is reported too.
	ft = &fakeT{TB: t}
	AssertNothingLeft(ft, l)
	if ft.errors != 1 || !strings.Contains(after(ft.msgs[0], "removed: "), leakAt) {
		t.Errorf("after unmounting %s: reported %q, want it listed as removed", leakAt, ft.msgs)
	}
}

// after is what follows sep in s, or "".
func after(s, sep string) string {
	_, a, _ := strings.Cut(s, sep)
	return a
}
