package mounts

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func openRoot(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestOpenDestRefusesSymlink(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	_, err := openDest(openRoot(t, root), "/evil", false)
	if !errors.Is(err, ErrSymlink) {
		t.Fatalf("openDest on a symlink: got %v, want ErrSymlink", err)
	}
}

// A symlinked parent resolves inside the root: creating /up/x where
// up -> /etc makes ROOT/etc/x, never the host's /etc/x.
func TestCreateThroughSymlinkStaysInRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../etc", filepath.Join(root, "dots")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	rfd := openRoot(t, root)
	for _, p := range []string{"/up/berth-test-x", "/dots/berth-test-y"} {
		fd, err := openDest(rfd, p, false)
		if err != nil {
			t.Fatalf("openDest %s: %v", p, err)
		}
		unix.Close(fd)
	}
	for _, name := range []string{"berth-test-x", "berth-test-y"} {
		if _, err := os.Stat(filepath.Join("/etc", name)); err == nil {
			os.Remove(filepath.Join("/etc", name))
			t.Fatalf("/etc/%s was created on the host", name)
		}
		if fi, err := os.Stat(filepath.Join(root, "etc", name)); err != nil || !fi.IsDir() {
			t.Fatalf("ROOT/etc/%s: %v", name, err)
		}
	}
}

func TestCreateFileMountPoint(t *testing.T) {
	root := t.TempDir()
	fd, err := openDest(openRoot(t, root), "/a/b/file", true)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	fi, err := os.Stat(filepath.Join(root, "a/b/file"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("file mount point: %v %v", fi, err)
	}
}

func TestOpenInRefusesMagicLinks(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/proc/self/root", filepath.Join(root, "magic")); err != nil {
		t.Fatal(err)
	}
	// /proc/self/root inside the root does not exist, and magic links are
	// refused either way: the lookup must fail, not land on the host "/".
	if fd, err := openIn(openRoot(t, root), "/magic/etc", unix.O_PATH); err == nil {
		unix.Close(fd)
		t.Fatal("resolved through /proc/self/root")
	}
}
