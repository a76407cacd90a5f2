package lcbench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/berthrun/berth/bench/internal/benchutil"
)

var rootfs string

func TestMain(m *testing.M) {
	Init() // first thing: this test binary is also libcontainer's init
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "lcbench: needs root (namespaces, mounts, cgroups); the benchmarks are skipped")
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "berth-bench-lc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lcbench:", err)
		return 1
	}
	rootfs = filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err == nil {
		err = benchutil.MakeRootfs(rootfs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lcbench:", err)
		os.RemoveAll(tmp)
		return 1
	}
	code := m.Run()
	if left := benchutil.LeftCgroups(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "lcbench: cgroups left behind by a container:", left)
		code = 1
	}
	if err := benchutil.RemoveCgroups(); err != nil {
		fmt.Fprintln(os.Stderr, "lcbench:", err)
		code = 1
	}
	if err := os.RemoveAll(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "lcbench:", err)
		code = 1
	}
	return code
}

var seq atomic.Int64

// BenchmarkLaunchWaitLibcontainer is libcontainer's launch-to-exit of
// /bin/true in the same prepared root, configured as Nomad's executor
// configures it (see Config): create, run, wait, destroy.
func BenchmarkLaunchWaitLibcontainer(b *testing.B) {
	if os.Geteuid() != 0 || rootfs == "" {
		b.Skip("needs root: namespaces, mounts and cgroups")
	}
	state := filepath.Join(b.TempDir(), "lc-state")
	for b.Loop() {
		id := fmt.Sprintf("lw-%d-%d", os.Getpid(), seq.Add(1))
		if err := Run(state, rootfs, id, []string{"/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConfigMatchesBerthDefaults guards the fairness of the comparison:
// the libcontainer side must get berth's default isolation work.
func TestConfigMatchesBerthDefaults(t *testing.T) {
	c := Config("/x", "id")
	if got := len(c.Namespaces); got != 4 {
		t.Errorf("namespaces: got %d, want mount, pid, ipc, uts", got)
	}
	if !c.NoNewPrivileges {
		t.Error("no_new_privs: off, berth's default is on")
	}
	if c.Cgroups.Path != "/berth-bench/libcontainer/id" {
		t.Errorf("cgroup path %q: want below berth-bench/libcontainer", c.Cgroups.Path)
	}
	if len(c.Mounts) != 6 {
		t.Errorf("mounts: got %d, want Nomad's six", len(c.Mounts))
	}
}
