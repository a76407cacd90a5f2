package mounts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPlanStandardOrder(t *testing.T) {
	ops, err := Plan(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range ops {
		got = append(got, string(op.Kind)+" "+op.Dest)
	}
	want := []string{
		"mount /proc", "mount /dev",
		"bind /dev/null", "bind /dev/zero", "bind /dev/full", "bind /dev/random", "bind /dev/urandom", "bind /dev/tty",
		"symlink /dev/ptmx", "symlink /dev/fd", "symlink /dev/stdin", "symlink /dev/stdout", "symlink /dev/stderr",
		"mount /dev/pts", "mount /dev/shm", "mount /dev/mqueue", "mount /sys",
	}
	for _, p := range MaskedPaths {
		want = append(want, "mask "+p)
	}
	for _, p := range ReadOnlyPaths {
		want = append(want, "readonly "+p)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan order:\n got %q\nwant %q", got, want)
	}
}

func TestPlanMountOptions(t *testing.T) {
	ops, err := Plan(Config{ShmSize: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	byDest := map[string]Op{}
	for _, op := range ops {
		byDest[op.Dest] = op
	}
	cases := []struct {
		dest, fstype, data string
		flags              uintptr
	}{
		{"/proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/dev", "tmpfs", "mode=755,size=65536k", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_STRICTATIME},
		{"/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"/dev/shm", "tmpfs", "mode=1777,size=32768k", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/dev/mqueue", "mqueue", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/sys", "sysfs", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY},
	}
	for _, c := range cases {
		op := byDest[c.dest]
		if op.Kind != KindMount || op.FSType != c.fstype || op.Data != c.data || op.Flags != c.flags {
			t.Errorf("%s: got %+v, want fstype %s data %q flags %#x", c.dest, op, c.fstype, c.data, c.flags)
		}
	}
	if n := byDest["/dev/null"]; n.Kind != KindBind || n.Source != "/dev/null" {
		t.Errorf("/dev/null: %+v, want a bind of the host's node", n)
	}
	if l := byDest["/dev/ptmx"]; l.Source != "pts/ptmx" {
		t.Errorf("/dev/ptmx -> %q", l.Source)
	}
}

func TestPlanHostDirs(t *testing.T) {
	host := t.TempDir()
	for _, d := range []string{"usr", "etc", "lib"} {
		if err := os.Mkdir(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(host, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "etc/shadow"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(host, "etc/sudoers.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	ops, err := Plan(Config{HostDirs: true, HostRoot: host})
	if err != nil {
		t.Fatal(err)
	}
	var binds, masks, links []string
	var tmp bool
	for _, op := range ops {
		switch {
		case op.Kind == KindSymlink && !strings.HasPrefix(op.Dest, "/dev/"):
			links = append(links, op.Dest+" -> "+op.Source)
		case op.Kind == KindBind && !strings.HasPrefix(op.Dest, "/dev/"):
			if !op.ReadOnly || !op.Recursive || !op.OthersOnly || op.Source != filepath.Join(host, op.Dest) {
				t.Errorf("host bind %+v: want read-only recursive OthersOnly bind of the host dir", op)
			}
			binds = append(binds, op.Dest)
		case op.Kind == KindMask && strings.HasPrefix(op.Dest, "/etc"):
			masks = append(masks, op.Dest)
		case op.Kind == KindMount && op.Dest == "/tmp":
			tmp = op.FSType == "tmpfs" && op.Flags&unix.MS_RDONLY == 0
		}
	}
	// /bin is a symlink on the host: the task dir gets the link, no bind.
	if got := strings.Join(binds, " "); got != "/lib /usr /etc" {
		t.Errorf("host binds = %q, want \"/lib /usr /etc\"", got)
	}
	if got := strings.Join(links, " "); got != "/bin -> usr/bin" {
		t.Errorf("host links = %q, want \"/bin -> usr/bin\"", got)
	}
	// Secrets are hidden by OthersOnly (secrets.go), not by masks.
	if len(masks) != 0 {
		t.Errorf("masks in /etc = %q, want none", masks)
	}
	if !tmp {
		t.Error("no writable tmpfs /tmp in the default task dir")
	}
}

func TestPlanBinds(t *testing.T) {
	src := t.TempDir()
	ops, err := Plan(Config{Binds: []Bind{{Source: src, Dest: "/data//x/", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for i, op := range ops {
		if op.Kind == KindBind && !strings.HasPrefix(op.Dest, "/dev/") {
			found = true
			if op.Dest != "/data/x" || !op.ReadOnly || op.Source != src {
				t.Errorf("bind op = %+v", op)
			}
			// user binds come after the standard mounts, before masks
			if ops[i-1].Dest != "/sys" || ops[i+1].Kind != KindMask {
				t.Errorf("bind at %d is out of order", i)
			}
		}
	}
	if !found {
		t.Fatal("no bind op")
	}
}

func TestPlanBadBinds(t *testing.T) {
	src := t.TempDir()
	cases := []struct {
		bind Bind
		want string
	}{
		{Bind{Source: src, Dest: "/x/../../../etc"}, `mount destination "/x/../../../etc": must not contain ".."`},
		{Bind{Source: src, Dest: "relative"}, `mount destination "relative": must be an absolute path`},
		{Bind{Source: src, Dest: "/"}, `mount destination "/": cannot mount over the task root`},
		{Bind{Source: "rel", Dest: "/x"}, `mount source "rel": must be an absolute path`},
		{Bind{Source: "/nonexistent/berth", Dest: "/x"}, `mount source "/nonexistent/berth": no such file or directory`},
	}
	for _, c := range cases {
		_, err := Plan(Config{Binds: []Bind{c.bind}})
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: got %v, want %q", c.bind, err, c.want)
		}
	}
}
