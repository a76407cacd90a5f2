package test

import (
	"os"
	"strings"
	"testing"
)

// TestDefaultTaskDir: without --rootfs the task runs on read-only binds of
// the host's system directories, with secrets hidden and a writable /tmp,
// and the task dir is gone afterwards.
func TestDefaultTaskDir(t *testing.T) {
	t.Parallel()
	flags := probeMount()

	t.Run("mounts", func(t *testing.T) {
		t.Parallel()
		r := newTask(t).report(flags, hostProbe...)
		for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/etc"} {
			// A host symlink (/bin -> usr/bin) is no mount point; the
			// "bin" case checks it.
			if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
				continue
			}
			m := r.mount(d)
			if m == nil || !m.hasOpt("ro") {
				t.Errorf("%s: %+v, want a read-only bind of the host's", d, m)
			}
		}
		if r.mount("/usr") == nil {
			t.Errorf("no /usr in the default task dir")
		}
		if m := r.mount("/tmp"); m == nil || m.FSType != "tmpfs" || m.hasOpt("ro") {
			t.Errorf("/tmp: %+v, want a writable tmpfs", m)
		}
		if m := r.mount("/probe"); m == nil || !m.hasOpt("ro") {
			t.Errorf("/probe: %+v, want the read-only bind of the probe dir", m)
		}
		// The task dir is a tmpfs that exists only in the task's mount
		// namespace (nothing on the host's disk to leave behind), and is
		// read-only once set up.
		root := r.mount("/")
		if root == nil {
			t.Fatal("no root mount in the task")
		}
		if root.FSType != "tmpfs" || !root.hasOpt("ro") {
			t.Errorf("root mount %+v, want a read-only tmpfs", root)
		}
	})

	t.Run("root read-only", func(t *testing.T) {
		t.Parallel()
		w := newTask(t).probeIO(flags, hostProbe, "write", "/berth-root-write")
		if w.OK || !strings.Contains(w.Error, "read-only file system") {
			t.Errorf("write to the default task dir's /: %+v, want read-only file system", w)
		}
	})

	t.Run("bin", func(t *testing.T) {
		t.Parallel()
		fi, err := os.Lstat("/bin")
		if err != nil {
			t.Skipf("host has no /bin: %v", err)
		}
		st := newTask(t).probeStat(flags, hostProbe, "/bin")
		if fi.Mode()&os.ModeSymlink != 0 {
			// A merged-/usr host: the same link, or a bind of what it
			// points to.
			target, _ := os.Readlink("/bin")
			if !(st.Type == "symlink" && st.Target == target) && st.Type != "dir" {
				t.Errorf("/bin: %+v, want a symlink to %s as on the host, or a directory", st, target)
			}
		} else if st.Type != "dir" {
			t.Errorf("/bin: %+v, want a directory", st)
		}
		// Either way it leads to a directory.
		if st := newTask(t).probeStat(flags, hostProbe, "/bin/."); st.Type != "dir" {
			t.Errorf("/bin/.: %+v, want a directory", st)
		}
	})

	t.Run("etc is the host's", func(t *testing.T) {
		t.Parallel()
		want, err := os.ReadFile("/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		rd := newTask(t).probeIO(flags, hostProbe, "read", "/etc/passwd")
		if !rd.OK || rd.Len != len(want) || !strings.HasPrefix(string(want), rd.Content) {
			t.Errorf("/etc/passwd in the task: %+v, want the host's (%d bytes)", rd, len(want))
		}
	})

	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/usr/berth-test-x", "/etc/berth-test-x"} {
			w := newTask(t).probeIO(flags, hostProbe, "write", p)
			if w.OK || w.Error != "read-only file system" {
				t.Errorf("write %s: %+v, want error %q", p, w, "read-only file system")
			}
			if hostHas(p) {
				os.Remove(p)
				t.Errorf("a write to %s in the task reached the host", p)
			}
		}
	})

	t.Run("secrets hidden", func(t *testing.T) {
		t.Parallel()
		var secrets []string
		for _, p := range []string{"/etc/shadow", "/etc/gshadow", "/etc/sudoers"} {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
				secrets = append(secrets, p)
			}
		}
		if len(secrets) == 0 {
			t.Skip("host has none of /etc/shadow, /etc/gshadow, /etc/sudoers with content")
		}
		for _, p := range secrets {
			rd := newTask(t).probeIO(flags, hostProbe, "read", p)
			if rd.OK && rd.Len != 0 {
				t.Errorf("%s readable in the task: %d bytes", p, rd.Len)
			}
		}
		if hostHas("/etc/sudoers.d") {
			st := newTask(t).probeStat(flags, hostProbe, "/etc/sudoers.d")
			if st.Exists && st.Entries != nil && *st.Entries > 0 {
				t.Errorf("/etc/sudoers.d lists %d entries in the task", *st.Entries)
			}
		}
	})

	t.Run("tmp writable", func(t *testing.T) {
		t.Parallel()
		w := newTask(t).probeIO(flags, hostProbe, "write", "/tmp/berth-test-x")
		if !w.OK {
			t.Errorf("write /tmp/berth-test-x: %+v, want ok", w)
		}
		if hostHas("/tmp/berth-test-x") {
			os.Remove("/tmp/berth-test-x")
			t.Errorf("the task's /tmp is the host's")
		}
	})
}
