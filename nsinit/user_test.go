package nsinit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const userTestPasswd = `# the first line is a comment

root:x:0:0:root:/root:/bin/bash
+nisuser:x:999:999::/home/nis:/bin/sh
+
-excluded:x:998:998::/:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bob:x:1000:1000:Bob,,,:/home/bob:/bin/bash
short:x:1001
nohome:x:1002:1003:::
bad:x:notanumber:0::/:/bin/sh
neg:x:-5:0::/:/bin/sh
huge:x:4294967296:0::/:/bin/sh
badgid:x:1009:x::/:/bin/sh
:x:1004:1004::/home/noname:/bin/sh
garbage line without colons
dup:x:1005:1005::/first:/bin/sh
dup:x:1006:1006::/second:/bin/sh
alice:x:1000:2000::/home/alice:/bin/sh
  spaced:x:1007:1007::/home/spaced:/bin/sh
crlf:x:1008:1008::/home/crlf:/bin/sh` + "\r\n" +
	`max:x:2147483646:2147483646::/home/max:/bin/sh
noeol:x:1010:1010::/home/noeol:/bin/sh`

// userTestGroup builds the group fixture. Its "long" line is longer than
// bufio's 64 KiB default buffer and lists bob last.
func userTestGroup() string {
	var members []string
	for i := range 20000 {
		members = append(members, fmt.Sprintf("m%d", i))
	}
	members = append(members, "bob")
	return strings.Join([]string{
		"# groups",
		"root:x:0:",
		"wheel:x:10:bob,alice",
		"staff:x:50: bob , carol,,",
		"users:x:100",
		"+nisgroup:x:200:bob",
		"bad:x:abc:bob",
		"neg:x:-3:bob",
		"dupname:x:300:",
		"dupname:x:301:bob",
		"bobgrp:x:1000:",
		"bobby:x:400:bobby,bo",
		"long:x:5000:" + strings.Join(members, ","),
		"",
		"last:x:6000:carol",
	}, "\n") + "\n"
}

// userWrite writes content to dir/name and returns the path.
func userWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// userExpand replaces {passwd} and {group} in a wanted error with the paths.
func userExpand(s, passwd, group string) string {
	return strings.NewReplacer("{passwd}", passwd, "{group}", group).Replace(s)
}

func TestLookupUser(t *testing.T) {
	dir := t.TempDir()
	passwd := userWrite(t, dir, "passwd", userTestPasswd)
	group := userWrite(t, dir, "group", userTestGroup())
	bobGroups := []int{10, 50, 301, 5000}

	tests := []struct {
		spec    string
		want    User
		wantErr string
	}{
		{spec: "", want: User{UID: 0, GID: 0, Home: "/root", Name: "root"}},
		{spec: "root", want: User{UID: 0, GID: 0, Home: "/root", Name: "root"}},
		{spec: "0:0", want: User{UID: 0, GID: 0, Groups: []int{0}, Home: "/root", Name: "root"}},
		{spec: "bob", want: User{UID: 1000, GID: 1000, Groups: bobGroups, Home: "/home/bob", Name: "bob"}},
		// The first passwd entry with the uid wins (bob, not alice).
		{spec: "1000", want: User{UID: 1000, GID: 1000, Groups: bobGroups, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:wheel", want: User{UID: 1000, GID: 10, Groups: bobGroups, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:users", want: User{UID: 1000, GID: 100, Groups: []int{10, 50, 100, 301, 5000}, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:4242", want: User{UID: 1000, GID: 4242, Groups: []int{10, 50, 301, 4242, 5000}, Home: "/home/bob", Name: "bob"}},
		{spec: "1000:0", want: User{UID: 1000, GID: 0, Groups: []int{0, 10, 50, 301, 5000}, Home: "/home/bob", Name: "bob"}},
		{spec: "alice", want: User{UID: 1000, GID: 2000, Groups: []int{10}, Home: "/home/alice", Name: "alice"}},
		{spec: "1234", want: User{UID: 1234, GID: 0, Home: "/"}},
		{spec: "1234:wheel", want: User{UID: 1234, GID: 10, Groups: []int{10}, Home: "/"}},
		{spec: "1234:777", want: User{UID: 1234, GID: 777, Groups: []int{777}, Home: "/"}},
		{spec: "daemon:dupname", want: User{UID: 1, GID: 300, Groups: []int{300}, Home: "/usr/sbin", Name: "daemon"}},
		{spec: "short", want: User{UID: 1001, GID: 0, Home: "/", Name: "short"}},
		{spec: "nohome", want: User{UID: 1002, GID: 1003, Home: "/", Name: "nohome"}},
		{spec: "dup", want: User{UID: 1005, GID: 1005, Home: "/first", Name: "dup"}},
		{spec: "spaced", want: User{UID: 1007, GID: 1007, Home: "/home/spaced", Name: "spaced"}},
		{spec: "crlf", want: User{UID: 1008, GID: 1008, Home: "/home/crlf", Name: "crlf"}},
		{spec: "noeol", want: User{UID: 1010, GID: 1010, Home: "/home/noeol", Name: "noeol"}},
		{spec: "max", want: User{UID: 2147483646, GID: 2147483646, Home: "/home/max", Name: "max"}},
		{spec: "2147483646:2147483646", want: User{UID: 2147483646, GID: 2147483646, Groups: []int{2147483646}, Home: "/home/max", Name: "max"}},
		// NIS lines are skipped, so uid 999 has no entry.
		{spec: "999", want: User{UID: 999, GID: 0, Home: "/"}},
		// "bo" is a member of bobby, but not a passwd user; "bob" is not "bobby".
		{spec: "bobby", wantErr: `user "bobby": no such user in {passwd}`},

		{spec: "nobody", wantErr: `user "nobody": no such user in {passwd}`},
		{spec: "+nisuser", wantErr: `user "+nisuser": no such user in {passwd}`},
		{spec: "+", wantErr: `user "+": no such user in {passwd}`},
		{spec: "bad", wantErr: `user "bad": no such user in {passwd}`},
		{spec: "neg", wantErr: `user "neg": no such user in {passwd}`},
		{spec: "huge", wantErr: `user "huge": no such user in {passwd}`},
		{spec: "badgid", wantErr: `user "badgid": no such user in {passwd}`},
		{spec: "-1", wantErr: `user "-1": invalid id`},
		{spec: "-1:0", wantErr: `user "-1": invalid id`},
		{spec: "2147483647", wantErr: `user "2147483647": invalid id`},
		{spec: "4294967295", wantErr: `user "4294967295": invalid id`},
		{spec: "99999999999999999999999", wantErr: `user "99999999999999999999999": invalid id`},
		{spec: "bob:-1", wantErr: `group "-1": invalid id`},
		{spec: "bob:2147483647", wantErr: `group "2147483647": invalid id`},
		{spec: "bob:wheelx", wantErr: `group "wheelx": no such group in {group}`},
		{spec: "bob:bad", wantErr: `group "bad": no such group in {group}`},
		{spec: "bob:+nisgroup", wantErr: `group "+nisgroup": no such group in {group}`},
		{spec: "nobody:wheel", wantErr: `user "nobody": no such user in {passwd}`},
		{spec: ":wheel", wantErr: `user ":wheel": want USER[:GROUP]`},
		{spec: "bob:", wantErr: `user "bob:": want USER[:GROUP]`},
		{spec: "bob:wheel:x", wantErr: `user "bob:wheel:x": want USER[:GROUP]`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := LookupUser(tc.spec, passwd, group)
			if tc.wantErr != "" {
				want := userExpand(tc.wantErr, passwd, group)
				if err == nil || err.Error() != want {
					t.Fatalf("LookupUser(%q) = %+v, %v; want error %q", tc.spec, got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupUser(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("LookupUser(%q) = %+v; want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

// TestLookupUserFiles covers missing and unreadable passwd and group files.
func TestLookupUserFiles(t *testing.T) {
	dir := t.TempDir()
	passwd := userWrite(t, dir, "passwd", userTestPasswd)
	group := userWrite(t, dir, "group", userTestGroup())
	missing := filepath.Join(dir, "missing")
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A FIFO would block a plain open(2) until a writer appears.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, spec, passwd, group string
		want                      User
		wantErr                   string
		notExist                  bool
	}{
		{name: "root without passwd", spec: "", passwd: missing, group: missing, want: User{Home: "/"}},
		{name: "uid without passwd", spec: "0", passwd: missing, group: missing, want: User{Home: "/"}},
		{name: "uid gid without files", spec: "1234:5", passwd: missing, group: missing, want: User{UID: 1234, GID: 5, Groups: []int{5}, Home: "/"}},
		{name: "uid group name without passwd", spec: "1234:wheel", passwd: missing, group: group, want: User{UID: 1234, GID: 10, Groups: []int{10}, Home: "/"}},
		{name: "name without passwd", spec: "bob", passwd: missing, group: group,
			wantErr: `user "bob": open {passwd}: no such file or directory`, notExist: true},
		{name: "name without group", spec: "bob", passwd: passwd, group: missing,
			want: User{UID: 1000, GID: 1000, Home: "/home/bob", Name: "bob"}},
		{name: "name and gid without group", spec: "bob:10", passwd: passwd, group: missing,
			want: User{UID: 1000, GID: 10, Groups: []int{10}, Home: "/home/bob", Name: "bob"}},
		{name: "group name without group", spec: "bob:wheel", passwd: passwd, group: missing,
			wantErr: `group "wheel": open {group}: no such file or directory`, notExist: true},
		{name: "uid group name without group", spec: "0:wheel", passwd: missing, group: missing,
			wantErr: `group "wheel": open {group}: no such file or directory`, notExist: true},
		{name: "passwd is a directory", spec: "0", passwd: subdir, group: group,
			wantErr: `user "0": open {passwd}: not a regular file`},
		{name: "root passwd is a directory", spec: "", passwd: subdir, group: group,
			wantErr: `user "": open {passwd}: not a regular file`},
		{name: "passwd is a fifo", spec: "bob", passwd: fifo, group: group,
			wantErr: `user "bob": open {passwd}: not a regular file`},
		{name: "group is a fifo", spec: "bob", passwd: passwd, group: fifo,
			wantErr: `user "bob": open {group}: not a regular file`},
		{name: "group is a directory", spec: "bob:wheel", passwd: passwd, group: subdir,
			wantErr: `group "wheel": open {group}: not a regular file`},
		{name: "device as passwd", spec: "1", passwd: "/dev/zero", group: group,
			wantErr: `user "1": open {passwd}: not a regular file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LookupUser(tc.spec, tc.passwd, tc.group)
			if tc.wantErr != "" {
				want := userExpand(tc.wantErr, tc.passwd, tc.group)
				if err == nil || err.Error() != want {
					t.Fatalf("LookupUser(%q) = %+v, %v; want error %q", tc.spec, got, err, want)
				}
				if errors.Is(err, fs.ErrNotExist) != tc.notExist {
					t.Fatalf("errors.Is(%v, fs.ErrNotExist) = %v; want %v", err, !tc.notExist, tc.notExist)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupUser(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("LookupUser(%q) = %+v; want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

// TestLookupUserLineLimit checks that a line past userMaxLine is skipped
// whole and that the lines after it are still read.
func TestLookupUserLineLimit(t *testing.T) {
	dir := t.TempDir()
	passwd := userWrite(t, dir, "passwd", "bob:x:1000:1000::/home/bob:/bin/sh\n")
	var b strings.Builder
	b.WriteString("toolong:x:7000:")
	for b.Len() <= userMaxLine {
		b.WriteString("bob,")
	}
	b.WriteString("bob\n")
	b.WriteString("tail:x:7001:bob\n")
	b.WriteString("after:x:7002:bob\n")
	group := userWrite(t, dir, "group", b.String())

	got, err := LookupUser("bob", passwd, group)
	if err != nil {
		t.Fatal(err)
	}
	want := User{UID: 1000, GID: 1000, Groups: []int{7001, 7002}, Home: "/home/bob", Name: "bob"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LookupUser(bob) = %+v; want %+v", got, want)
	}
	if _, err := LookupUser("bob:toolong", passwd, group); err == nil {
		t.Fatal("LookupUser(bob:toolong): group on an over-long line was found")
	}
}

// TestLookupUserHostileFiles: a task root's passwd or group cannot lead the
// init stage (which runs as full root) to host files through /proc magic
// links, to kernel files on procfs, or into reading a huge file.
func TestLookupUserHostileFiles(t *testing.T) {
	dir := t.TempDir()
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	magic := link("magic", fmt.Sprintf("/proc/%d/root/etc/passwd", os.Getpid()))
	status := link("status", "/proc/self/status")
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(userMaxFile + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct {
		path, want string
	}{
		{magic, "too many levels of symbolic links"},
		{status, "a procfs or sysfs file"},
		{big, "larger than 64 MiB"},
	} {
		_, err := LookupUser("0", c.path, filepath.Join(dir, "nogroup"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LookupUser with passwd %s: %v, want an error containing %q", c.path, err, c.want)
		}
	}
}

// TestUserNames: berth ps names a task's users from the task's own passwd,
// opened inside its root: a passwd that links out of the root, through a
// magic link, or is a FIFO gives an error, never the host's names.
func TestUserNames(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(root, "etc", "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\n# c\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	names, err := UserNames(dir)
	if err != nil || names[0] != "root" || names[1000] != "alice" || len(names) != 2 {
		t.Fatalf("UserNames = %v, %v; want root and alice (first entry wins)", names, err)
	}
	for name, plant := range map[string]func() error{
		"absolute symlink out": func() error { return os.Symlink("/etc/passwd", passwd) },
		"magic link":           func() error { return os.Symlink("/proc/self/root/etc/passwd", passwd) },
		"fifo":                 func() error { return unix.Mkfifo(passwd, 0o644) },
	} {
		os.Remove(passwd)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		got, err := UserNames(dir)
		if name == "absolute symlink out" {
			// Resolved inside the root: the link names the root's own
			// (now missing) /etc/passwd, never the host's.
			if err == nil && len(got) > 0 {
				t.Errorf("%s: read %v", name, got)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: read %v, want an error", name, got)
		}
	}
}

// endless never ends: a passwd a task grows after berth opened it.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestUserReadLinesBounded: a user database that grows after its open (the
// size was checked then) is read no further than the bound, and that is an
// error, not a hang.
func TestUserReadLinesBounded(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- userReadLines(io.MultiReader(strings.NewReader("root:x:0:0::/:/bin/sh\n"), endless{}), func(string) bool { return true })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errUserTooLarge) {
			t.Errorf("userReadLines of an endless file: %v, want %v", err, errUserTooLarge)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("userReadLines of an endless file did not end")
	}
}
