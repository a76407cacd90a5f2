package executor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthrun/berth/nsinit"
)

// TestExecPlan: an exec takes the task's recorded settings (the ids, not a
// user name to look up again), an override replaces exactly its field, and
// every bad field is named in the error.
func TestExecPlan(t *testing.T) {
	x := &execSettings{
		User: &nsinit.UserIDs{UID: 1000, GID: 1000, Groups: []int{27}, Home: "/home/u"},
		Caps: []string{"CAP_KILL"},
		Env:  []string{"PATH=/bin", "FOO=task", "HOME=/home/u"},
		Cwd:  "/srv",
	}
	p, err := execPlan(&ExecCommand{Cmd: "ls", Args: []string{"-l"}}, x)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != nsinit.ModeExec || p.Version != nsinit.Version || p.User != "" || p.IDs != x.User ||
		!slices.Equal(p.Caps, x.Caps) || !slices.Equal(p.Env, x.Env) || p.Cwd != "/srv" || !slices.Equal(p.Args, []string{"ls", "-l"}) {
		t.Errorf("default exec plan %+v, want the task's settings", p)
	}
	p, err = execPlan(&ExecCommand{Cmd: "/bin/id", User: "nobody:nogroup", Cwd: "/tmp", Env: []string{"FOO=exec", "BAR=1"}, Terminal: true}, x)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "nobody:nogroup" || p.IDs != nil || p.Cwd != "/tmp" || !p.Terminal ||
		!slices.Equal(p.Env, []string{"PATH=/bin", "FOO=exec", "HOME=/home/u", "BAR=1"}) {
		t.Errorf("overridden exec plan %+v", p)
	}
	bad := []struct {
		c    *ExecCommand
		want string
	}{
		{&ExecCommand{Cmd: " "}, "exec command: empty"},
		{&ExecCommand{Cmd: "ls", Cwd: "rel"}, `exec cwd "rel": must be an absolute path`},
		{&ExecCommand{Cmd: "ls", User: "a:b:c"}, `exec user "a:b:c"`},
		{&ExecCommand{Cmd: "ls", Env: []string{"NOEQUALS"}}, `exec env "NOEQUALS": want KEY=VALUE`},
		{&ExecCommand{Cmd: "ls", Env: []string{"=v"}}, `exec env "=v"`},
		{&ExecCommand{Cmd: "ls", Args: []string{"a\x00b"}}, "contains a NUL byte"},
	}
	for _, b := range bad {
		if _, err := execPlan(b.c, x); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("execPlan(%+v) = %v, want %q", b.c, err, b.want)
		}
	}
}

// TestExecSettingsDistrust: the recorded settings are read back only from
// a private file of root's that parses into sane values; a forged or
// loosened file is refused, naming it.
func TestExecSettingsDistrust(t *testing.T) {
	good := &execSettings{User: &nsinit.UserIDs{UID: 1, GID: 2, Home: "/"}, Caps: []string{"CAP_KILL"}, Env: []string{"A=b"}, Cwd: "/"}
	dir := t.TempDir()
	if err := good.write(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, execFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exec settings mode %v, %v: want 0600", fi.Mode(), err)
	}
	got, err := readExecSettings(dir)
	if err != nil || got.User.UID != 1 || got.User.GID != 2 || got.Cwd != "/" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	forged := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"world readable", `{"user":{"uid":0,"gid":0},"caps":[],"env":[],"cwd":"/"}`, 0o644, "not a private file"},
		{"garbage", "\x00{{", 0o600, "corrupt"},
		{"unknown field", `{"user":{"uid":0,"gid":0},"caps":[],"env":[],"cwd":"/","privileged":true}`, 0o600, "corrupt"},
		{"no user", `{"caps":[],"env":[],"cwd":"/"}`, 0o600, "corrupt: user"},
		{"negative uid", `{"user":{"uid":-1,"gid":0},"caps":[],"env":[],"cwd":"/"}`, 0o600, "corrupt: user"},
		{"uid -1 as unsigned", `{"user":{"uid":4294967295,"gid":0},"caps":[],"env":[],"cwd":"/"}`, 0o600, "corrupt: user"},
		{"bad group", `{"user":{"uid":0,"gid":0,"groups":[-5]},"caps":[],"env":[],"cwd":"/"}`, 0o600, "corrupt: group"},
		{"relative cwd", `{"user":{"uid":0,"gid":0},"caps":[],"env":[],"cwd":"x"}`, 0o600, "corrupt: cwd"},
		{"env without =", `{"user":{"uid":0,"gid":0},"caps":[],"env":["X"],"cwd":"/"}`, 0o600, "corrupt: env"},
	}
	for _, f := range forged {
		d := t.TempDir()
		file := filepath.Join(d, execFile)
		if err := os.WriteFile(file, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, f.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := readExecSettings(d); err == nil || !strings.Contains(err.Error(), f.want) {
			t.Errorf("%s: %v, want %q", f.name, err, f.want)
		}
	}
	// A symlink planted in place of the file leads to a file that fails
	// the checks (world-readable, not the settings' shape).
	d := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(d, execFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := readExecSettings(d); err == nil {
		t.Error("exec settings through a symlink to /etc/passwd were accepted")
	}
	if _, err := readExecSettings(t.TempDir()); err == nil || !os.IsNotExist(errUnwrapAll(err)) {
		t.Errorf("missing exec settings: %v, want not-exist", err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func errUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestFindInit: a configured init binary wins; without one and with no
// berth-init beside the running executable (this test binary), the
// executable itself is the init stage.
func TestFindInit(t *testing.T) {
	if got := findInit("/opt/x/berth-init"); got != "/opt/x/berth-init" {
		t.Errorf("findInit(configured) = %q", got)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := "/proc/self/exe"
	if beside := filepath.Join(filepath.Dir(self), InitBinary); fileExists(beside) {
		want = beside
	}
	if got := findInit(""); got != want {
		t.Errorf("findInit(\"\") = %q, want %q", got, want)
	}
}

// TestTailBuffer: Exec keeps the end of the output.
func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("0123"))
	b.Write([]byte("456789ab"))
	if got := string(b.Bytes()); got != "456789ab" {
		t.Errorf("tail %q, want %q", got, "456789ab")
	}
	b.Write([]byte("c"))
	if got := string(b.Bytes()); got != "56789abc" {
		t.Errorf("tail %q, want %q", got, "56789abc")
	}
}
