package executor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckIDMap(t *testing.T) {
	for _, c := range []struct {
		maps []IDMapping
		want string
	}{
		{[]IDMapping{{0, 100000, 65536}}, ""},
		{[]IDMapping{{0, 100000, 1}, {1, 200000, 10}, {11, 100001, 5}}, ""},
		{[]IDMapping{{0, 100000, 0}}, "[0]: size 0"},
		{[]IDMapping{{0, 100000, 10}, {5, 300000, 10}}, "[0] and [1]: container ids overlap"},
		{[]IDMapping{{20, 100000, 10}, {0, 100005, 10}}, "[0] and [1]: host ids overlap"},
		{[]IDMapping{{1<<32 - 10, 0, 10}}, "[0]: container ids 4294967286+10: past the last id"},
		{[]IDMapping{{0, 1<<32 - 10, 9}}, ""},
		{make([]IDMapping, 341), "341 ranges: the kernel takes at most 340"},
	} {
		err := checkIDMap(c.maps)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.maps, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: got %v, want %q", c.maps, err, c.want)
		}
	}
}

// TestCheckUserNS: the refusals a Command with mappings gets before
// anything is made.
func TestCheckUserNS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	closed := filepath.Join(t.TempDir(), "closed", "root")
	if err := os.MkdirAll(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	m := []IDMapping{{0, 100000, 65536}}
	for _, c := range []struct {
		name string
		cmd  Command
		want string
	}{
		{"fine", Command{TaskDir: dir, Isolation: Isolation{UIDMappings: m, GIDMappings: m}}, ""},
		{"uid only", Command{TaskDir: dir, Isolation: Isolation{UIDMappings: m}}, "uid mappings: given without gid mappings"},
		{"gid only", Command{TaskDir: dir, Isolation: Isolation{GIDMappings: m}}, "gid mappings: given without uid mappings"},
		{"default dir", Command{Isolation: Isolation{UIDMappings: m, GIDMappings: m}}, "need a task dir of the caller's"},
		{"join", Command{TaskDir: dir, Isolation: Isolation{UIDMappings: m, GIDMappings: m, UTSPath: "/proc/1/ns/uts"}}, "uts namespace path"},
		{"group", Command{TaskDir: dir, Credentials: &Credentials{Groups: []uint32{70000}}, Isolation: Isolation{UIDMappings: m, GIDMappings: m}},
			"credentials: group 70000: not in the gid mappings"},
		{"unreachable", Command{TaskDir: closed, Isolation: Isolation{UIDMappings: m, GIDMappings: m}},
			"cannot be searched by the user namespace's root (host uid 100000, gid 100000)"},
	} {
		err := checkUserNS(&c.cmd, c.cmd.TaskDir == "")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestValidateHostMountNamespace: what a task in the host's mount
// namespace cannot have is refused before anything is made.
func TestValidateHostMountNamespace(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"dev", "proc", "sys"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := []IDMapping{{0, 100000, 65536}}
	for _, c := range []struct {
		name string
		cmd  Command
		want string
	}{
		{"default dir", Command{Cmd: "/bin/true", Isolation: Isolation{Mount: ModeHost}}, "mount mode host: needs a task dir of the caller's"},
		{"mount path", Command{Cmd: "/bin/true", TaskDir: dir, Isolation: Isolation{Mount: ModeHost, MountPath: "/proc/1/ns/mnt"}}, "given with mount mode host"},
		{"propagation", Command{Cmd: "/bin/true", TaskDir: dir, Isolation: Isolation{Mount: ModeHost, RootPropagation: "rshared"}}, "root propagation \"rshared\": with mount mode host"},
		{"userns", Command{Cmd: "/bin/true", TaskDir: dir, Isolation: Isolation{Mount: ModeHost, UIDMappings: m, GIDMappings: m}}, "with mount mode host"},
		{"bad mode", Command{Cmd: "/bin/true", TaskDir: dir, Isolation: Isolation{Mount: "shared"}}, `mount mode "shared": want private or host`},
		{"hook in joined ns", Command{Cmd: "/bin/true", TaskDir: dir, Isolation: Isolation{MountPath: "/proc/1/ns/mnt"},
			Hooks: Hooks{CreateContainer: []Hook{{Path: "/bin/true"}}}}, "their paths would be looked up there"},
		{"relative hook", Command{Cmd: "/bin/true", TaskDir: dir, Hooks: Hooks{StartContainer: []Hook{{Path: "true"}}}}, "start container hook [0] \"true\": path must be absolute"},
		{"nil extra file", Command{Cmd: "/bin/true", TaskDir: dir, ExtraFiles: []*os.File{nil}}, "extra files [0]: nil"},
	} {
		err := Validate(&c.cmd)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want %q", c.name, err, c.want)
		}
	}
}
