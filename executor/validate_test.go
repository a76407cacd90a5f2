package executor

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// validateCommand is the smallest valid Command: default task dir,
// default isolation.
func validateCommand() *Command {
	return &Command{ID: "t1", Cmd: "/bin/true"}
}

func TestCheckErrorsNameField(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	rootLink := filepath.Join(tmp, "rootlink")
	if err := os.Symlink("/", rootLink); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 200)

	for _, tc := range []struct {
		name string
		edit func(c *Command)
		want []string // every one must be in the error
	}{
		{"empty command", func(c *Command) { c.Cmd = "" }, []string{"command: empty"}},
		{"blank command", func(c *Command) { c.Cmd = " \t" }, []string{"command: empty"}},

		{"id with slash and dots", func(c *Command) { c.ID = "../x" }, []string{`id "../x"`}},
		{"id with slash", func(c *Command) { c.ID = "a/b" }, []string{`id "a/b"`}},
		{"id of 200 chars", func(c *Command) { c.ID = long }, []string{`id "` + long + `"`}},
		{"id of 129 chars", func(c *Command) { c.ID = strings.Repeat("b", 129) }, []string{`id "bbb`}},
		{"id starting with a dot", func(c *Command) { c.ID = ".x" }, []string{`id ".x"`}},
		{"id starting with a dash", func(c *Command) { c.ID = "-x" }, []string{`id "-x"`}},
		{"id with a space", func(c *Command) { c.ID = "a b" }, []string{`id "a b"`}},
		{"id with a newline", func(c *Command) { c.ID = "a\n" }, []string{`id "a\n"`}},

		{"relative cwd", func(c *Command) { c.Cwd = "tmp" }, []string{`cwd "tmp"`, "absolute"}},
		{"dot cwd", func(c *Command) { c.Cwd = "./x" }, []string{`cwd "./x"`}},

		{"task dir missing", func(c *Command) { c.TaskDir = missing }, []string{`task dir "` + missing + `"`, "no such file or directory"}},
		{"task dir a file", func(c *Command) { c.TaskDir = file }, []string{`task dir "` + file + `"`, "not a directory"}},
		{"task dir host root", func(c *Command) { c.TaskDir = "/" }, []string{`task dir "/"`, "host root"}},
		{"task dir link to host root", func(c *Command) { c.TaskDir = rootLink }, []string{`task dir "` + rootLink + `"`, "host root"}},
		{"task dir root with dots", func(c *Command) { c.TaskDir = "/usr/.." }, []string{`task dir "/usr/.."`, "host root"}},

		{"user with two colons", func(c *Command) { c.User = "a:b:c" }, []string{`user "a:b:c"`}},
		{"user without name", func(c *Command) { c.User = ":x" }, []string{`user ":x"`}},
		{"user without group", func(c *Command) { c.User = "x:" }, []string{`user "x:"`}},
		{"user negative uid", func(c *Command) { c.User = "-1" }, []string{`user "-1"`}},
		{"user negative gid", func(c *Command) { c.User = "0:-1" }, []string{`user "0:-1"`}},
		{"user uid too large", func(c *Command) { c.User = "4294967296" }, []string{`user "4294967296"`}},
		{"user colon only", func(c *Command) { c.User = ":" }, []string{`user ":"`}},

		{"env without equals", func(c *Command) { c.Env = []string{"A=1", "FOO"} }, []string{`env "FOO"`}},
		{"env without key", func(c *Command) { c.Env = []string{"=x"} }, []string{`env "=x"`}},

		{"pid mode", func(c *Command) { c.Isolation.PID = "shared" }, []string{`pid mode "shared"`}},
		{"pid none", func(c *Command) { c.Isolation.PID = ModeNone }, []string{`pid mode "none"`}},
		{"ipc mode", func(c *Command) { c.Isolation.IPC = "Host" }, []string{`ipc mode "Host"`}},
		{"uts mode", func(c *Command) { c.Isolation.UTS = "x" }, []string{`uts mode "x"`}},
		{"net private", func(c *Command) { c.Isolation.Net = ModePrivate }, []string{`net mode "private"`}},
		{"net mode", func(c *Command) { c.Isolation.Net = "bridge" }, []string{`net mode "bridge"`}},

		{"hostname with host uts", func(c *Command) {
			c.Isolation.UTS = ModeHost
			c.Isolation.Hostname = "box"
		}, []string{"hostname", "uts"}},

		{"unknown cap_add", func(c *Command) { c.Isolation.CapAdd = []string{"NET_RAW", "FOO"} }, []string{"cap_add", "FOO"}},
		{"unknown cap_drop", func(c *Command) { c.Isolation.CapDrop = []string{"cap_bar"} }, []string{"cap_drop", `"cap_bar"`}},

		{"relative mount destination", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: tmp, Destination: "data"}}
		}, []string{`mount destination "data"`}},
		{"empty mount destination", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: tmp}}
		}, []string{`mount destination ""`}},
		{"mount destination with dots", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: tmp, Destination: "/a/../../etc"}}
		}, []string{`mount destination "/a/../../etc"`, ".."}},
		{"mount destination root", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: tmp, Destination: "//"}}
		}, []string{`mount destination "//"`}},
		{"relative mount source", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: "data", Destination: "/data"}}
		}, []string{`mount source "data"`}},
		{"missing mount source", func(c *Command) {
			c.Isolation.Mounts = []Mount{{Source: missing, Destination: "/data"}}
		}, []string{`mount source "` + missing + `"`, "no such file or directory"}},

		{"cpu shares 1", func(c *Command) { c.Resources.CPUShares = 1 }, []string{"cpu-shares", "1"}},
		{"negative memory", func(c *Command) { c.Resources.MemoryBytes = -1 }, []string{"memory"}},
		{"negative pids limit", func(c *Command) { c.Resources.PidsLimit = -1 }, []string{"pids-limit"}},
		{"bad cpuset", func(c *Command) { c.Resources.Cpuset = "x" }, []string{"cpuset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validateCommand()
			tc.edit(c)
			s, err := check(c)
			if err == nil {
				t.Fatalf("check = %+v, want an error", s)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("check error %q does not contain %q", err, w)
				}
			}
			if s != nil {
				t.Errorf("check returned a spec with its error: %+v", s)
			}
		})
	}
}

func TestCheckNil(t *testing.T) {
	if _, err := check(nil); err == nil || !strings.HasPrefix(err.Error(), "command") {
		t.Errorf("check(nil) error = %v, want one naming the command", err)
	}
}

func TestCheckDefaults(t *testing.T) {
	c := validateCommand()
	c.Args = []string{"-x", "y"}
	s, err := check(c)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if s.id != "t1" {
		t.Errorf("id = %q, want t1", s.id)
	}
	if want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); s.cloneFlags != want {
		t.Errorf("clone flags = %#x, want %#x (mount, pid, ipc, uts)", s.cloneFlags, want)
	}
	if !s.defaultRoot || s.root != "" {
		t.Errorf("defaultRoot, root = %v, %q; want true, \"\"", s.defaultRoot, s.root)
	}
	p := s.plan
	if p == nil {
		t.Fatal("no plan")
	}
	if !reflect.DeepEqual(p.Caps, caps.Default) {
		t.Errorf("caps = %v, want caps.Default %v", p.Caps, caps.Default)
	}
	if want := []string{"/bin/true", "-x", "y"}; !reflect.DeepEqual(p.Args, want) {
		t.Errorf("args = %q, want %q", p.Args, want)
	}
	if want := []string{defaultPath}; !reflect.DeepEqual(p.Env, want) {
		t.Errorf("env = %q, want %q", p.Env, want)
	}
	if p.LoopbackUp || p.Hostname != "" || p.User != "" {
		t.Errorf("loopback, hostname, user = %v, %q, %q; want unset", p.LoopbackUp, p.Hostname, p.User)
	}

	// The default task dir binds the host's /usr read-only, with only the
	// permission bits for others applying (mounts/secrets.go), and every
	// other host system directory that is a real directory.
	usr := mounts.Op{Kind: mounts.KindBind, Source: "/usr", Dest: "/usr", ReadOnly: true, Recursive: true, OthersOnly: true}
	if !slices.Contains(p.Mounts, usr) {
		t.Errorf("default task dir plan has no %+v:\n%+v", usr, p.Mounts)
	}
	for _, d := range mounts.HostSystemDirs {
		fi, err := os.Lstat(d)
		isDir := err == nil && fi.IsDir()
		bound := slices.ContainsFunc(p.Mounts, func(op mounts.Op) bool {
			return op.Kind == mounts.KindBind && op.Dest == d && op.Source == d && op.ReadOnly
		})
		if bound != isDir {
			t.Errorf("%s: bound read-only = %v, host directory = %v", d, bound, isDir)
		}
	}
	// And it still gets every standard mount.
	for _, dest := range []string{"/proc", "/dev", "/sys", "/tmp"} {
		if !slices.ContainsFunc(p.Mounts, func(op mounts.Op) bool { return op.Kind == mounts.KindMount && op.Dest == dest }) {
			t.Errorf("plan mounts nothing on %s", dest)
		}
	}
}

func TestCheckRandomID(t *testing.T) {
	c := validateCommand()
	c.ID = ""
	s1, err := check(c)
	if err != nil {
		t.Fatalf("check with empty id: %v", err)
	}
	s2, err := check(c)
	if err != nil {
		t.Fatalf("check with empty id: %v", err)
	}
	if len(s1.id) != 16 || strings.Trim(s1.id, "0123456789abcdef") != "" {
		t.Errorf("random id %q: want 16 hex digits", s1.id)
	}
	if s1.id == s2.id {
		t.Errorf("two random ids are both %q", s1.id)
	}
}

func TestCheckIDForms(t *testing.T) {
	for _, id := range []string{"a", "Z", "9", "A_b.c-1", "task-01", "0..", "x_", strings.Repeat("7", 128)} {
		c := validateCommand()
		c.ID = id
		if s, err := check(c); err != nil || s.id != id {
			t.Errorf("check with id %q: %v", id, err)
		}
	}
	for _, id := range []string{"_a", "a!", "a:b", "é", "a\x00", "a\tb", "..", "."} {
		c := validateCommand()
		c.ID = id
		if _, err := check(c); err == nil || !strings.HasPrefix(err.Error(), "id ") {
			t.Errorf("check with id %q: %v, want an id error", id, err)
		}
	}
}

func TestCheckIDLengthLimit(t *testing.T) {
	c := validateCommand()
	c.ID = "a" + strings.Repeat("_.-9", 31) + "xyz" // 128 chars
	if len(c.ID) != 128 {
		t.Fatalf("test id is %d chars", len(c.ID))
	}
	if s, err := check(c); err != nil || s.id != c.ID {
		t.Errorf("check with a 128-char id: %v", err)
	}
}

func TestCheckCloneFlags(t *testing.T) {
	base := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	for _, tc := range []struct {
		name     string
		iso      Isolation
		want     uintptr
		loopback bool
	}{
		{"explicit private", Isolation{PID: ModePrivate, IPC: ModePrivate, UTS: ModePrivate, Net: ModeHost}, base, false},
		{"net none", Isolation{Net: ModeNone}, base | unix.CLONE_NEWNET, true},
		{"pid host", Isolation{PID: ModeHost}, base &^ unix.CLONE_NEWPID, false},
		{"ipc host", Isolation{IPC: ModeHost}, base &^ unix.CLONE_NEWIPC, false},
		{"uts host", Isolation{UTS: ModeHost}, base &^ unix.CLONE_NEWUTS, false},
		{"all host", Isolation{PID: ModeHost, IPC: ModeHost, UTS: ModeHost, Net: ModeHost}, unix.CLONE_NEWNS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validateCommand()
			c.Isolation = tc.iso
			s, err := check(c)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if s.cloneFlags != tc.want {
				t.Errorf("clone flags = %#x, want %#x", s.cloneFlags, tc.want)
			}
			if s.plan.LoopbackUp != tc.loopback {
				t.Errorf("loopback up = %v, want %v", s.plan.LoopbackUp, tc.loopback)
			}
		})
	}
}

func TestCheckEnvPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"nil", nil, []string{defaultPath}},
		{"no path", []string{"A=1", "B="}, []string{"A=1", "B=", defaultPath}},
		{"path given", []string{"A=1", "PATH=/opt/bin", "B=2"}, []string{"A=1", "PATH=/opt/bin", "B=2"}},
		{"empty path given", []string{"PATH="}, []string{"PATH="}},
		{"only a look-alike", []string{"PATHX=/x", "MYPATH=/y"}, []string{"PATHX=/x", "MYPATH=/y", defaultPath}},
		{"value with equals", []string{"A=b=c"}, []string{"A=b=c", defaultPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validateCommand()
			c.Env = slices.Clone(tc.env)
			s, err := check(c)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if !reflect.DeepEqual(s.plan.Env, tc.want) {
				t.Errorf("env = %q, want %q", s.plan.Env, tc.want)
			}
			if !reflect.DeepEqual(c.Env, tc.env) {
				t.Errorf("check changed the caller's env to %q", c.Env)
			}
		})
	}
	if !strings.HasPrefix(defaultPath, "PATH=/") {
		t.Errorf("defaultPath %q is not a PATH entry", defaultPath)
	}
}

func TestCheckFields(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"dev", "proc", "sys"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()

	c := validateCommand()
	c.TaskDir = link
	c.Cwd = "/srv"
	c.User = "1000:1000"
	c.Isolation.Hostname = "box"
	c.Isolation.CapAdd = []string{"net_raw"}
	c.Isolation.CapDrop = []string{"CAP_CHOWN"}
	c.Isolation.Mounts = []Mount{{Source: data, Destination: "/data/", ReadOnly: true}, {Source: data, Destination: "/rw"}}
	c.Resources.CPUShares = 512
	s, err := check(c)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if s.defaultRoot || s.root != real {
		t.Errorf("defaultRoot, root = %v, %q; want false, %q (symlink resolved)", s.defaultRoot, s.root, real)
	}
	p := s.plan
	if p.Cwd != "/srv" || p.User != "1000:1000" || p.Hostname != "box" {
		t.Errorf("cwd, user, hostname = %q, %q, %q", p.Cwd, p.User, p.Hostname)
	}
	wantCaps := slices.DeleteFunc(append(slices.Clone(caps.Default), "CAP_NET_RAW"), func(n string) bool { return n == "CAP_CHOWN" })
	slices.Sort(wantCaps)
	if !reflect.DeepEqual(p.Caps, wantCaps) {
		t.Errorf("caps = %v, want %v", p.Caps, wantCaps)
	}
	// A task dir of its own gets none of the host's system directories.
	for _, op := range p.Mounts {
		if op.Kind == mounts.KindBind && slices.Contains(mounts.HostSystemDirs, op.Dest) {
			t.Errorf("own task dir plan binds a host system dir: %+v", op)
		}
		if op.Dest == "/tmp" {
			t.Errorf("own task dir plan mounts /tmp: %+v", op)
		}
	}
	// User binds come after the standard mounts, destination cleaned.
	var binds []mounts.Op
	dev := -1
	for i, op := range p.Mounts {
		if op.Kind == mounts.KindBind {
			if dev < 0 {
				t.Errorf("bind %+v comes before /dev is mounted", op)
			}
			binds = append(binds, op)
		}
		if op.Kind == mounts.KindMount && op.Dest == "/dev" {
			dev = i
		}
	}
	var wantBinds []mounts.Op
	for _, d := range mounts.Devices {
		wantBinds = append(wantBinds, mounts.Op{Kind: mounts.KindBind, Source: d, Dest: d})
	}
	wantBinds = append(wantBinds,
		mounts.Op{Kind: mounts.KindBind, Source: data, Dest: "/data", ReadOnly: true, Recursive: true},
		mounts.Op{Kind: mounts.KindBind, Source: data, Dest: "/rw", Recursive: true},
	)
	if !reflect.DeepEqual(binds, wantBinds) {
		t.Errorf("binds = %+v, want %+v", binds, wantBinds)
	}
}

func TestCheckUserForms(t *testing.T) {
	for _, u := range []string{"root", "0", "bob", "1000", "bob:staff", "1000:1000", "2147483646", "0:0"} {
		c := validateCommand()
		c.User = u
		s, err := check(c)
		if err != nil {
			t.Errorf("check user %q: %v", u, err)
			continue
		}
		if s.plan.User != u {
			t.Errorf("plan user = %q, want %q", s.plan.User, u)
		}
	}
}

func TestCheckCapsAll(t *testing.T) {
	c := validateCommand()
	c.Isolation.CapDrop = []string{"ALL"}
	c.Isolation.CapAdd = []string{"kill"}
	s, err := check(c)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if want := []string{"CAP_KILL"}; !reflect.DeepEqual(s.plan.Caps, want) {
		t.Errorf("caps with drop ALL, add kill = %v, want %v", s.plan.Caps, want)
	}
}

func TestCheckHostnameTooLong(t *testing.T) {
	c := validateCommand()
	c.Isolation.Hostname = strings.Repeat("h", 65)
	if _, err := check(c); err == nil || !strings.Contains(err.Error(), "hostname") || !strings.Contains(err.Error(), "64 bytes") {
		t.Errorf("check with a 65-byte hostname: %v, want an error naming hostname", err)
	}
}

func TestCheckNUL(t *testing.T) {
	for name, set := range map[string]func(c *Command){
		"command": func(c *Command) { c.Cmd = "/bin/\x00true" },
		"args":    func(c *Command) { c.Args = []string{"a\x00b"} },
		"env":     func(c *Command) { c.Env = []string{"A=b\x00c"} },
		"cwd":     func(c *Command) { c.Cwd = "/tmp\x00" },
	} {
		c := validateCommand()
		set(c)
		_, err := check(c)
		if err == nil || !strings.HasPrefix(err.Error(), name+" ") || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%s with a NUL: %v, want an error naming %s", name, err, name)
		}
	}
}

// TestCheckTaskDirIsARoot: a task dir without dev, proc or sys is refused
// before anything is made in it, naming what is missing.
func TestCheckTaskDirIsARoot(t *testing.T) {
	dir := t.TempDir()
	c := validateCommand()
	c.TaskDir = dir
	if _, err := check(c); err == nil || !strings.Contains(err.Error(), "no /dev") {
		t.Errorf("check of a task dir without dev: %v", err)
	}
	for _, d := range []string{"dev", "proc"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/sys", filepath.Join(dir, "sys")); err != nil {
		t.Fatal(err)
	}
	if _, err := check(c); err == nil || !strings.Contains(err.Error(), "/sys is a symlink") {
		t.Errorf("check of a task dir whose sys is a symlink: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("check made something in the task dir: %v", ents)
	}
}
