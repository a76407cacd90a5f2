package mounts

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestPlanHostDirsOthersOnly: every bind of a host system directory is
// OthersOnly, so what the host keeps from others is hidden by the rule and
// no list of secret paths is masked; a user's own bind is not idmapped.
func TestPlanHostDirsOthersOnly(t *testing.T) {
	host := t.TempDir()
	for _, d := range []string{"usr", "etc", "lib", "etc/sudoers.d"} {
		if err := os.Mkdir(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "etc/shadow"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	user := t.TempDir()
	ops, err := Plan(Config{HostDirs: true, HostRoot: host, Binds: []Bind{{Source: user, Dest: "/data"}}})
	if err != nil {
		t.Fatal(err)
	}
	var hostBinds []string
	for _, op := range ops {
		switch {
		case op.Kind == KindBind && strings.HasPrefix(op.Source, host):
			hostBinds = append(hostBinds, op.Dest)
			if !op.OthersOnly || !op.ReadOnly || !op.Recursive {
				t.Errorf("host bind %+v: want a read-only, recursive, OthersOnly bind", op)
			}
		case op.Kind == KindBind && op.OthersOnly:
			t.Errorf("bind %+v is OthersOnly: only the host system directories are", op)
		case op.Kind == KindMask && strings.HasPrefix(op.Dest, "/etc"):
			t.Errorf("mask %s: secrets are hidden by the rule, not by a list", op.Dest)
		}
	}
	if got := strings.Join(hostBinds, " "); got != "/lib /usr /etc" {
		t.Errorf("host binds = %q, want \"/lib /usr /etc\"", got)
	}
}

// TestOthersOnlyHidesWhatOthersCannotRead is the attack on a detached
// OthersOnly bind, as root with CAP_DAC_OVERRIDE (this test process):
// files and a directory that the host keeps from others, whoever owns
// them, cannot be opened through it; a world-readable file can, and shows
// the overflow owner. The tree is never attached, so nothing is mounted.
func TestOthersOnlyHidesWhatOthersCannotRead(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, uid int) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret "+name), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	write("root-0600", 0o600, 0)
	write("root-0640", 0o640, 0)
	write("service-0600", 0o600, 4242)
	write("public", 0o644, 0)
	// The one id the idmapping maps (to 0): the documented exception.
	write("ownerless-id", 0o600, ownerlessID)
	if err := os.Mkdir(filepath.Join(dir, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "private/key"), []byte("secret key"), 0o644); err != nil {
		t.Fatal(err)
	}

	tfd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tfd)
	// Before the idmapping, root reads everything: the attack works.
	if fd, err := unix.Openat(tfd, "root-0600", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatalf("open root-0600 before the idmapping: %v, want root to read it", err)
	} else {
		unix.Close(fd)
	}
	op := Op{Kind: KindBind, Recursive: true, OthersOnly: true}
	o := startOthersOnly([]Op{op})
	defer o.close()
	if err := o.idmap(tfd, op); err != nil {
		t.Fatalf("idmap: %v", err)
	}

	for _, name := range []string{"root-0600", "root-0640", "service-0600", "private/key", "private"} {
		fd, err := unix.Openat(tfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("open %s through the OthersOnly bind: opened, want permission denied", name)
		} else if !errors.Is(err, unix.EACCES) {
			t.Errorf("open %s through the OthersOnly bind: %v, want permission denied", name, err)
		}
	}
	fd, err := unix.Openat(tfd, "public", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open public through the OthersOnly bind: %v", err)
	}
	defer unix.Close(fd)
	b := make([]byte, 64)
	if n, err := unix.Read(fd, b); err != nil || string(b[:n]) != "secret public" {
		t.Errorf("read public: %q, %v", b[:n], err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("public owned by %d:%d through the bind, want the overflow ids 65534:65534", st.Uid, st.Gid)
	}
	if err := unix.Fstatat(tfd, "ownerless-id", &st, 0); err != nil || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("a file owned by ownerlessID shows %d:%d (%v) through the bind, want 0:0: the mapping is not ownerlessID to 0", st.Uid, st.Gid, err)
	}
}

// TestOthersOnlyLeavesNoHelper: the helper that made the namespace is
// reaped by close, and the namespace fd is close-on-exec while it lives;
// a plan without OthersOnly binds starts no helper.
func TestOthersOnlyLeavesNoHelper(t *testing.T) {
	testutil.RequireRoot(t)
	if o := startOthersOnly([]Op{{Kind: KindBind, Source: "/usr", Dest: "/usr"}}); o.helper != nil || o.err != nil {
		t.Errorf("a plan without OthersOnly binds started a helper (%v)", o.err)
	}
	op := Op{Kind: KindBind, OthersOnly: true}
	o := startOthersOnly([]Op{op})
	tfd, err := unix.OpenTree(unix.AT_FDCWD, t.TempDir(), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tfd)
	if err := o.idmap(tfd, op); err != nil {
		t.Fatal(err)
	}
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(o.userns))
	if err != nil || !strings.HasPrefix(link, "user:[") {
		t.Errorf("fd %d is %q (%v), want a user namespace", o.userns, link, err)
	}
	flags, err := unix.FcntlInt(uintptr(o.userns), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("namespace fd flags %#x (%v), want close-on-exec: the task must not inherit it", flags, err)
	}
	o.close()
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG|unix.WALL, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("wait4 after close: %v, want no child left (ECHILD)", err)
	}
}
