package test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTaskCannotReadHostSecrets is the attack on the default task dir: the
// task is root with CAP_DAC_OVERRIDE, and the host's /etc is bound into
// it. Files the host keeps from others (a root 0600 file, a file inside a
// root 0700 directory, a service user's 0600 file) must stay unreadable,
// even to a task running as that service user; a world-readable file, the
// host's /etc/passwd, /bin/sh with its ld.so and libc keep working.
func TestTaskCannotReadHostSecrets(t *testing.T) {
	t.Parallel()
	flags := probeMount()
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join("/etc", "berth-test-secret-"+hex.EncodeToString(suffix))
	secret := base + "-root"
	dir := base + "-dir"
	inDir := dir + "/key"
	service := base + "-service"
	public := base + "-public"
	t.Cleanup(func() {
		for _, p := range []string{secret, dir, service, public} {
			if err := os.RemoveAll(p); err != nil {
				t.Errorf("remove %s: %v", p, err)
			}
		}
	})
	create := func(p string, mode os.FileMode, uid int) {
		t.Helper()
		if err := os.WriteFile(p, []byte("berth secret "+p), mode); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode passes the umask; the attack needs it exact.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	create(secret, 0o600, 0)
	create(service, 0o600, 4242)
	create(public, 0o644, 0)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	create(inDir, 0o644, 0)

	hidden := func(t *testing.T, rd IOResult) {
		t.Helper()
		if (rd.OK && rd.Len != 0) || strings.Contains(rd.Content, "berth secret") {
			t.Errorf("%s readable in the task: %+v", rd.Path, rd)
		}
	}

	t.Run("root task", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{secret, inDir, service} {
			hidden(t, newTask(t).probeIO(flags, hostProbe, "read", p))
		}
		if st := newTask(t).probeStat(flags, hostProbe, dir); st.Entries != nil {
			t.Errorf("%s lists %d entries in the task, want none readable", dir, *st.Entries)
		}
		rd := newTask(t).probeIO(flags, hostProbe, "read", public)
		if !rd.OK || rd.Content != "berth secret "+public {
			t.Errorf("world-readable %s in the task: %+v, want its content", public, rd)
		}
	})

	t.Run("owner task", func(t *testing.T) {
		t.Parallel()
		// The service user itself gets only what others get: a task is
		// never the owner of a host file.
		hidden(t, newTask(t).probeIO(append([]string{"--user", "4242"}, flags...), hostProbe, "read", service))
		// Host files show the overflow owner (65534) in the task; a task
		// running as that id does not own them either.
		hidden(t, newTask(t).probeIO(append([]string{"--user", "65534"}, flags...), hostProbe, "read", secret))
	})

	t.Run("system still works", func(t *testing.T) {
		t.Parallel()
		// /bin/sh is dynamic on every distribution berth runs on: its
		// running proves ld.so and libc load.
		res := newTask(t).run(nil, "/bin/sh", "-c", "read -r line </etc/passwd && echo \"$line\"")
		mustSucceed(t, res)
		want, err := os.ReadFile("/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(want), "\n")
		if strings.TrimSpace(res.stdout) != first {
			t.Errorf("first line of /etc/passwd in the task = %q, want the host's %q", res.stdout, first)
		}
	})
}
