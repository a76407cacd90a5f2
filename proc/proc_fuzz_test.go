package proc

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzCmdline feeds /proc/PID/cmdline bytes, which a task writes itself
// (its argv, or anything over it with setproctitle), to Cmdline.
//
// Properties: it never fails on content; empty is nil; otherwise the
// arguments joined by NULs give back the file less one trailing NUL.
func FuzzCmdline(f *testing.F) {
	root := f.TempDir()
	if err := os.Mkdir(filepath.Join(root, "1"), 0o755); err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(root, "1", "cmdline")
	fs := New(root)
	f.Add([]byte("/bin/sh\x00-c\x00echo hi\x00"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("nginx: worker process"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args, err := fs.Cmdline(1)
		if err != nil {
			t.Fatalf("Cmdline(%q): %v", data, err)
		}
		if len(data) == 0 {
			if args != nil {
				t.Fatalf("empty cmdline gave %q, want nil", args)
			}
			return
		}
		if got, want := strings.Join(args, "\x00"), string(bytes.TrimSuffix(data, []byte{0})); got != want {
			t.Fatalf("Cmdline(%q) = %q: joined %q, want %q", data, args, got, want)
		}
	})
}

// FuzzChildren feeds two threads' task/TID/children files to Children.
//
// Properties: the result is sorted without duplicates and is exactly the
// numbers the files list; a word that is not a number is an error.
func FuzzChildren(f *testing.F) {
	root := f.TempDir()
	var files [2]string
	for i, tid := range []string{"7", "8"} {
		dir := filepath.Join(root, "7", "task", tid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		files[i] = filepath.Join(dir, "children")
	}
	fs := New(root)
	f.Add("12 13 ", "13 9 ")
	f.Add("", "")
	f.Add("1\n2\t3", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		for i, s := range []string{a, b} {
			if err := os.WriteFile(files[i], []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := fs.Children(7)
		var want []int
		bad := false
		for _, w := range strings.Fields(a + " " + b) {
			n, err := strconv.Atoi(w)
			if err != nil {
				bad = true
				break
			}
			want = append(want, n)
		}
		if bad {
			if err == nil {
				t.Fatalf("Children(%q, %q) = %v, want an error", a, b, got)
			}
			return
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Children(%q, %q) = %v, %v; want %v", a, b, got, err, want)
		}
	})
}
