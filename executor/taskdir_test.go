package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

func TestMakeDefaultTaskDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "root")
	if err := makeDefaultTaskDir(dir); err != nil {
		t.Fatalf("makeDefaultTaskDir: %v", err)
	}

	want := []string{"dev", "proc", "sys", "tmp"}
	var dirs, links int
	for _, d := range mounts.HostSystemDirs {
		name := strings.TrimPrefix(d, "/")
		host, herr := os.Lstat(d)
		got, gerr := os.Lstat(filepath.Join(dir, name))
		switch {
		case herr != nil:
			if !errors.Is(gerr, fs.ErrNotExist) {
				t.Errorf("%s is missing on the host but the task dir has it (%v)", d, gerr)
			}
		case host.Mode()&fs.ModeSymlink != 0:
			links++
			want = append(want, name)
			if gerr != nil || got.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s is a symlink on the host; in the task dir: %v, %v", d, got, gerr)
				continue
			}
			ht, _ := os.Readlink(d)
			tt, err := os.Readlink(filepath.Join(dir, name))
			if err != nil || tt != ht {
				t.Errorf("%s links to %q in the task dir (%v), to %q on the host", d, tt, err, ht)
			}
		case host.IsDir():
			dirs++
			want = append(want, name)
			if gerr != nil || !got.IsDir() {
				t.Errorf("%s is a directory on the host; in the task dir: %v, %v", d, got, gerr)
				continue
			}
			// A mount point only: nothing of the host's is copied.
			if ents, err := os.ReadDir(filepath.Join(dir, name)); err != nil || len(ents) != 0 {
				t.Errorf("mount point for %s: %d entries, %v; want empty", d, len(ents), err)
			}
		default:
			if !errors.Is(gerr, fs.ErrNotExist) {
				t.Errorf("%s is neither a directory nor a symlink on the host, but the task dir has it (%v)", d, gerr)
			}
		}
	}
	if dirs == 0 {
		t.Errorf("no host system directory (%v) is a directory on this host: /usr at least should be", mounts.HostSystemDirs)
	}
	t.Logf("host: %d system directories, %d symlinks", dirs, links)

	for _, d := range []string{"dev", "proc", "sys", "tmp"} {
		if fi, err := os.Lstat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("task dir has no /%s mount point: %v", d, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("task dir holds %q, want %q", got, want)
	}

	// The skeleton is what removeTree is for.
	if err := removeTree(dir); err != nil {
		t.Fatalf("removeTree of the skeleton: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("task dir still there after removeTree: %v", err)
	}
}

func TestMakeDefaultTaskDirExists(t *testing.T) {
	dir := t.TempDir()
	err := makeDefaultTaskDir(dir)
	if err == nil || !errors.Is(err, fs.ErrExist) || !strings.HasPrefix(err.Error(), "task dir: ") {
		t.Errorf("makeDefaultTaskDir on an existing dir: %v, want a task dir error wrapping EEXIST", err)
	}
}

// taskdirWrite creates p and its parents with content.
func taskdirWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// taskdirAssertFile fails t unless p holds content.
func taskdirAssertFile(t *testing.T, p, content string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%s did not survive: %v", p, err)
		return
	}
	if string(b) != content {
		t.Errorf("%s holds %q, want %q", p, b, content)
	}
}

func TestRemoveTree(t *testing.T) {
	outside := t.TempDir()
	taskdirWrite(t, filepath.Join(outside, "precious"), "keep me")
	taskdirWrite(t, filepath.Join(outside, "sub", "deep"), "keep me too")

	tree := filepath.Join(t.TempDir(), "task")
	taskdirWrite(t, filepath.Join(tree, "a", "b", "c", "file"), "x")
	taskdirWrite(t, filepath.Join(tree, "a", "b", "other"), "y")
	taskdirWrite(t, filepath.Join(tree, ".hidden"), "z")
	taskdirWrite(t, filepath.Join(tree, "name with\nnewline"), "z")
	for i := range 300 { // more than one getdents batch
		taskdirWrite(t, filepath.Join(tree, "many", fmt.Sprintf("f%03d", i)), "")
	}
	for _, d := range []string{"empty", "a/empty", "usr", "proc"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A relative link out of the tree, as a task could have left one.
	rel, err := filepath.Rel(filepath.Join(tree, "a"), outside)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"a/outside-dir":   outside,                               // absolute, to a directory
		"a/outside-rel":   rel,                                   // relative, to a directory
		"outside-file":    filepath.Join(outside, "precious"),    // to a file
		"outside-sub":     filepath.Join(outside, "sub") + "/",   // trailing slash
		"a/b/into-outdir": filepath.Join(outside, "sub", "deep"), // to a file in an outside subdir
		"dangling":        "/nonexistent/berth-test",             // to nothing
		"bin":             "usr/bin",                             // like the skeleton's
		"loop":            "loop",                                // to itself
		"a/b/c/up":        "..",                                  // to a parent in the tree
		"a/b/c/tree-root": tree,                                  // to the tree itself
	} {
		if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(tree, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Make sure the links really reach outside: a test whose links lead
	// nowhere could not catch a removal that follows them.
	taskdirAssertFile(t, filepath.Join(tree, "a", "outside-dir", "precious"), "keep me")
	taskdirAssertFile(t, filepath.Join(tree, "a", "outside-rel", "sub", "deep"), "keep me too")

	if err := removeTree(tree); err != nil {
		t.Fatalf("removeTree: %v", err)
	}
	if _, err := os.Lstat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree still there after removeTree: %v", err)
	}
	taskdirAssertFile(t, filepath.Join(outside, "precious"), "keep me")
	taskdirAssertFile(t, filepath.Join(outside, "sub", "deep"), "keep me too")
}

func TestRemoveTreeMissing(t *testing.T) {
	for _, p := range []string{
		filepath.Join(t.TempDir(), "missing"),
		filepath.Join(t.TempDir(), "missing", "deeper"),
	} {
		if err := removeTree(p); err != nil {
			t.Errorf("removeTree(%q) of nothing: %v, want nil", p, err)
		}
	}
}

func TestRemoveTreeOfSymlink(t *testing.T) {
	// A task dir that is itself a symlink is not followed: the directory
	// it points to keeps its files.
	outside := t.TempDir()
	taskdirWrite(t, filepath.Join(outside, "precious"), "keep me")
	link := filepath.Join(t.TempDir(), "task")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	err := removeTree(link)
	t.Logf("removeTree of a symlink: %v", err)
	taskdirAssertFile(t, filepath.Join(outside, "precious"), "keep me")
}

// taskdirMountNSEnv, when set, makes TestRemoveTreeStopsAtMountPoint run
// its privileged part: the test binary re-executed in a private mount
// namespace. The value is the parent's mount namespace, which the child
// must not be in.
const taskdirMountNSEnv = "BERTH_TEST_REMOVETREE_MOUNTNS"

// TestRemoveTreeStopsAtMountPoint bind-mounts directories and files into a
// tree and checks that removeTree does not delete through them. The mounts
// are made in a re-exec of the test binary in its own mount namespace with
// "/" private (exec.Cmd's Unshareflags does both), so the host mount table
// never sees them and they vanish with the child even if it crashes.
func TestRemoveTreeStopsAtMountPoint(t *testing.T) {
	if ns := os.Getenv(taskdirMountNSEnv); ns != "" {
		removeTreeMountChild(t, ns)
		return
	}
	testutil.RequireRoot(t)
	before := testutil.SnapshotMounts(t)
	hostNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatalf("read mount namespace: %v", err)
	}
	name := "TestRemoveTreeStopsAtMountPoint"
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), taskdirMountNSEnv+"="+hostNS)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a private mount namespace: %v\n%s", err, out)
	}
	// Guard against a child that ran nothing (a renamed test, a filter).
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("child did not run %s:\n%s", name, out)
	}
	t.Logf("child:\n%s", out)
	testutil.AssertMountsUnchanged(t, before)
}

// removeTreeMountChild is the part of TestRemoveTreeStopsAtMountPoint that
// runs in the re-executed test binary, in its private mount namespace.
func removeTreeMountChild(t *testing.T, hostNS string) {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatalf("read mount namespace: %v", err)
	}
	if self == hostNS {
		t.Fatalf("still in the parent's mount namespace %s: refusing to mount", self)
	}
	// Already done by exec.Cmd; repeated so that nothing here can ever
	// propagate to the parent's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}

	t.Run("directory", func(t *testing.T) {
		src := t.TempDir()
		taskdirWrite(t, filepath.Join(src, "precious"), "keep me")
		tree := filepath.Join(t.TempDir(), "task")
		taskdirWrite(t, filepath.Join(tree, "a", "file"), "x")
		dst := filepath.Join(tree, "a", "b", "mnt")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		// src and the tree are on the same filesystem (same st_dev): only
		// the mount id tells the bind mount apart.
		taskdirBind(t, src, dst)

		err := removeTree(tree)
		if err == nil {
			t.Fatal("removeTree descended into a mount point and returned nil")
		}
		if !strings.Contains(err.Error(), "still mounted") || !strings.Contains(err.Error(), dst) {
			t.Errorf("removeTree error %q, want it to say %q is still mounted", err, dst)
		}
		taskdirAssertFile(t, filepath.Join(src, "precious"), "keep me")
		taskdirAssertFile(t, filepath.Join(dst, "precious"), "keep me")
	})

	t.Run("file", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "precious")
		taskdirWrite(t, src, "keep me")
		tree := filepath.Join(t.TempDir(), "task")
		dst := filepath.Join(tree, "etc", "resolv.conf")
		taskdirWrite(t, dst, "")
		taskdirBind(t, src, dst)

		if err := removeTree(tree); err == nil {
			t.Error("removeTree removed a tree with a file still mounted in it")
		}
		taskdirAssertFile(t, src, "keep me")
		taskdirAssertFile(t, dst, "keep me")
	})
}

// taskdirBind bind-mounts src onto dst and unmounts it at cleanup (before
// the temp dirs are removed).
func taskdirBind(t *testing.T, src, dst string) {
	t.Helper()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %q on %q: %v", src, dst, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %q: %v", dst, err)
		}
	})
}
