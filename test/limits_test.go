package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
)

// unlimitedV1 is the smallest value a v1 memory file reads back after -1
// ("no limit") was written: the kernel stores PAGE_COUNTER_MAX pages.
const unlimitedV1 = int64(1) << 62

// limitCheck is one cgroup file of a running task and what it must hold.
type limitCheck struct {
	controller string // v1 hierarchy holding the file
	file       string
	want       string
	// atLeast compares as integers: the file must be >= want.
	atLeast bool
}

// lastCPU is the highest cpu the task cgroups' parent may use, so that a
// --cpuset of it is valid on any host.
func lastCPU(t *testing.T) string {
	t.Helper()
	for _, f := range []string{"/sys/fs/cgroup/cpuset/cpuset.effective_cpus", "/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset.cpus.effective"} {
		b, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			continue
		}
		items := strings.Split(strings.TrimSpace(string(b)), ",")
		last := items[len(items)-1]
		if _, hi, ok := strings.Cut(last, "-"); ok {
			return hi
		}
		return last
	}
	t.Fatalf("no cpuset.cpus to pick a cpu from")
	return ""
}

// foregroundState is `berth state` of a task run in the foreground. Its
// output can reach the test a moment before berth has recorded the state
// (berth writes it once it has seen the exec succeed, while the task
// already runs), so "no such task" is retried for a bounded time.
func (tk *task) foregroundState() *taskState {
	t := tk.t
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		res := tk.berth("state", tk.id)
		if res.code != 0 && strings.Contains(res.stderr, "no such task") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		mustSucceed(t, res)
		var st taskState
		decodeOne(t, res, &st)
		return &st
	}
}

// TestLimits: each limit flag shows in the running task's cgroup files,
// and the task is only in the hierarchies its limits need (plus the
// freezer every task gets).
func TestLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		flags []string
		// need are the controllers the host must have; on v1 the task's
		// cgroup is in exactly these and the freezer.
		need []string
		v1   []limitCheck
		v2   []limitCheck
	}{
		{name: "no limits"},
		{name: "memory", flags: []string{"--memory", "64M"}, need: []string{"memory"},
			v1: []limitCheck{{"memory", "memory.limit_in_bytes", "67108864", false},
				// No swap: memory plus swap equals the limit (checked
				// against swappiness 0 where the kernel has no memsw).
				{"memory", "memory.memsw.limit_in_bytes", "67108864", false}},
			v2: []limitCheck{{"", "memory.max", "67108864", false}, {"", "memory.swap.max", "0", false}}},
		{name: "memory swap", flags: []string{"--memory", "64M", "--memory-swap", "128M"}, need: []string{"memory"},
			v1: []limitCheck{{"memory", "memory.limit_in_bytes", "67108864", false},
				{"memory", "memory.memsw.limit_in_bytes", "134217728", false}},
			v2: []limitCheck{{"", "memory.max", "67108864", false}, {"", "memory.swap.max", "67108864", false}}},
		{name: "memory swap unlimited", flags: []string{"--memory", "64M", "--memory-swap", "-1"}, need: []string{"memory"},
			v1: []limitCheck{{"memory", "memory.limit_in_bytes", "67108864", false},
				{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(unlimitedV1, 10), true}},
			v2: []limitCheck{{"", "memory.max", "67108864", false}, {"", "memory.swap.max", "max", false}}},
		{name: "cpu shares", flags: []string{"--cpu-shares", "512"}, need: []string{"cpu"},
			v1: []limitCheck{{"cpu", "cpu.shares", "512", false}},
			// 1 + (512-2)*9999/262142
			v2: []limitCheck{{"", "cpu.weight", "20", false}}},
		{name: "cpus", flags: []string{"--cpus", "0.5"}, need: []string{"cpu"},
			v1: []limitCheck{{"cpu", "cpu.cfs_quota_us", "50000", false}, {"cpu", "cpu.cfs_period_us", "100000", false}},
			v2: []limitCheck{{"", "cpu.max", "50000 100000", false}}},
		{name: "cpuset", need: []string{"cpuset"}},
		{name: "pids", flags: []string{"--pids-limit", "20"}, need: []string{"pids"},
			v1: []limitCheck{{"pids", "pids.max", "20", false}},
			v2: []limitCheck{{"", "pids.max", "20", false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range c.need {
				testutil.RequireCgroup(t, n)
			}
			if c.name == "cpuset" {
				cpu := lastCPU(t)
				c.flags = []string{"--cpuset", cpu}
				c.v1 = []limitCheck{{"cpuset", "cpuset.cpus", cpu, false}}
				c.v2 = []limitCheck{{"", "cpuset.cpus", cpu, false}}
			}
			tk := newTask(t)
			p := tk.start(nil, tk.runArgs(rootfsFlags(t, c.flags...), append(rootfsProbe, "trap", "100")...)...)
			p.waitLine(`"ready":true`)
			st := tk.foregroundState()

			// The hierarchies: the tracking one, plus on v1 one per
			// controller the limits need, and no other.
			checks, want := c.v1, append([]string{"freezer"}, c.need...)
			switch st.CgroupVersion {
			case cgroupV2:
				checks, want = c.v2, []string{"unified"}
			case cgroupHybrid:
				want[0] = "unified"
			}
			got := slices.Sorted(maps.Keys(st.Cgroup))
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("cgroup_version %d: task cgroup hierarchies %v, want %v", st.CgroupVersion, got, want)
			}
			for _, ck := range checks {
				dir := st.cgroupDir(t, ck.controller)
				if ck.file == "memory.memsw.limit_in_bytes" && !hostHas(dir+"/"+ck.file) {
					// No swap accounting in this kernel: "no swap" can
					// only be had with swappiness 0; a swap limit is not
					// enforced at all (berth warns).
					if ck.want == "67108864" {
						ck.file, ck.want = "memory.swappiness", "0"
					} else {
						continue
					}
				}
				got, err := testutil.ReadCgroupFile(dir, ck.file)
				if err != nil {
					t.Errorf("read %s/%s: %v", dir, ck.file, err)
					continue
				}
				if ck.atLeast {
					g, _ := strconv.ParseInt(got, 10, 64)
					w, _ := strconv.ParseInt(ck.want, 10, 64)
					if g < w {
						t.Errorf("%s/%s = %s, want at least %s", dir, ck.file, got, ck.want)
					}
				} else if got != ck.want {
					t.Errorf("%s/%s = %q, want %q", dir, ck.file, got, ck.want)
				}
			}
			if c.name == "cpuset" {
				// The kernel applied it: the task may run on that cpu only.
				s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
				want := "Cpus_allowed_list:\t" + c.v1[0].want + "\n"
				if !strings.Contains(string(s), want) {
					t.Errorf("task %d's status has no %q:\n%s", st.Pid, want, s)
				}
			}

			p.signal(syscall.SIGTERM)
			if res := p.wait(); res.code != 0 || !strings.Contains(res.stdout, `"signal":"interrupt"`) {
				t.Errorf("want exit 0 after the task trapped its stop signal:\n%s", res)
			}
		})
	}
}

// oomLine is what a foreground run prints when the task was OOM-killed.
func oomLine(id string) string {
	return "berth: task " + id + " was killed by the OOM killer (memory limit reached)"
}

// TestOOMKill: a memory hog over its limit is OOM-killed, and berth says so
// from the cgroup's own count, not from the exit status.
func TestOOMKill(t *testing.T) {
	t.Parallel()
	testutil.RequireCgroup(t, "memory")
	t.Run("foreground", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		res := tk.run(rootfsFlags(t, "--memory", "32M", "--json"), append(rootfsProbe, "memhog", "256M")...)
		if res.code != 137 {
			t.Fatalf("want exit 137 (SIGKILL from the OOM killer):\n%s", res)
		}
		if strings.Contains(res.stdout, "allocated") {
			t.Errorf("the hog allocated all it wanted under the limit:\n%s", res)
		}
		lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
		if len(lines) != 2 || lines[0] != oomLine(tk.id) {
			t.Fatalf("stderr, want the OOM line %q then the final state:\n%s", oomLine(tk.id), res)
		}
		var st finalState
		if err := json.Unmarshal([]byte(lines[1]), &st); err != nil || st.OOMKilled == nil || st.ExitCode == nil || st.Signal == nil {
			t.Fatalf("final state %q: %v", lines[1], err)
		}
		if !*st.OOMKilled || *st.ExitCode != 137 || *st.Signal != 9 {
			t.Errorf("final state %s, want oom_killed true, exit_code 137, signal 9", lines[1])
		}
	})
	t.Run("detached", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t, "--memory", "32M"), append(rootfsProbe, "memhog", "256M")...)
		st := d.waitStatus("stopped")
		if !st.OOMKilled || st.ExitCode != 137 || st.Signal != 9 {
			t.Errorf("want oom_killed true, exit_code 137, signal 9: %s", st)
		}
		mustSucceed(t, d.verb("delete"))
		d.assertGone()
	})
	t.Run("sigkill is no oom", func(t *testing.T) {
		t.Parallel()
		// Exit 137 under a memory limit, but no OOM kill: not reported as one.
		tk := newTask(t)
		res := tk.run(rootfsFlags(t, "--memory", "64M", "--pid", "host", "--json"), append(rootfsProbe, "kill-self", "KILL")...)
		var st finalState
		if res.code != 137 || json.Unmarshal([]byte(res.stderr), &st) != nil || st.OOMKilled == nil || *st.OOMKilled {
			t.Errorf("want exit 137 and only the final state, with oom_killed false, on stderr:\n%s", res)
		}
	})
}

// TestPidsLimit: a fork loop under --pids-limit hits the limit; the kernel
// counts the refusals, and nothing of the task is left afterwards.
func TestPidsLimit(t *testing.T) {
	t.Parallel()
	testutil.RequireCgroup(t, "pids")
	tk := newTask(t)
	// The host's pid namespace: the forked copies do not die with the
	// main process, berth has to kill them.
	p := tk.start(nil, tk.runArgs(rootfsFlags(t, "--pids-limit", "20", "--pid", "host"), append(rootfsProbe, "forkbomb")...)...)
	p.waitLine(`"started"`)
	st := tk.foregroundState()
	dir := st.cgroupDir(t, "pids")
	if ev, err := testutil.ReadCgroupFile(dir, "pids.events"); err != nil {
		t.Errorf("read %s/pids.events: %v", dir, err)
	} else if n, _ := strconv.Atoi(strings.TrimPrefix(ev, "max ")); !strings.HasPrefix(ev, "max ") || n == 0 {
		t.Errorf("%s/pids.events = %q, want a count of refused forks above 0", dir, ev)
	}
	if cur, err := testutil.ReadCgroupFile(dir, "pids.current"); err != nil {
		t.Errorf("read %s/pids.current: %v", dir, err)
	} else if n, _ := strconv.Atoi(cur); n > 20 || n == 0 {
		t.Errorf("%s/pids.current = %s, want 1..20", dir, cur)
	}
	marked, _ := testutil.ProcessesWithMarker(tk.marker)
	if len(marked) < 2 || len(marked) > 20 {
		t.Errorf("task has %d processes, want the main one plus forks, at most 20", len(marked))
	}

	p.signal(syscall.SIGTERM)
	res := p.wait()
	var fb struct {
		Started *int   `json:"started"`
		Error   string `json:"error"`
	}
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.Contains(l, `"started"`) {
			if err := json.Unmarshal([]byte(l), &fb); err != nil {
				t.Errorf("probe line %q: %v", l, err)
			}
		}
	}
	if fb.Started == nil || *fb.Started >= 20 || fb.Error == "" {
		t.Errorf("want the probe to report fewer than 20 forks and the fork error:\n%s", res)
	}
	// The unhandled stop signal (SIGINT) ends the Go probe.
	if res.code != 128+int(syscall.SIGINT) {
		t.Errorf("want exit %d:\n%s", 128+int(syscall.SIGINT), res)
	}
	testutil.AssertNoProcess(t, tk.marker)
	testutil.AssertNoCgroup(t, cgroupParent, tk.id)
}

// TestLimitsBadInput: a bad limit is refused before anything is created,
// with the exact error, in the foreground and with -d.
func TestLimitsBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		flags []string
		want  string
	}{
		{[]string{"--cpu-shares", "1"}, "--cpu-shares: 1 is below the minimum of 2"},
		{[]string{"--memory", "lots"}, `--memory: invalid size "lots"`},
		{[]string{"--memory", "1K"}, "--memory: 1K is below the minimum of 6M"},
		{[]string{"--cpus", "0"}, "--cpus: must be greater than 0"},
		{[]string{"--cpus", "-1"}, "--cpus: must be greater than 0"},
		{[]string{"--pids-limit", "0"}, "--pids-limit: must be positive"},
		{[]string{"--memory-swap", "1M", "--memory", "64M"}, "--memory-swap: must be at least --memory (1M < 64M)"},
	}
	for _, c := range cases {
		for _, detach := range []bool{false, true} {
			name := strings.Join(c.flags, " ")
			flags := c.flags
			if detach {
				name += " -d"
				flags = append([]string{"-d"}, flags...)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tk := newTask(t)
				res := tk.run(rootfsFlags(t, flags...), append(rootfsProbe, "exit", "0")...)
				// A flag's bad value may add the hint to --help.
				stderr := strings.TrimSuffix(res.stderr, "See 'berth run --help'.\n")
				if res.code != 125 || res.stdout != "" || stderr != "berth: "+c.want+"\n" {
					t.Errorf("want exit 125 and exactly %q on stderr:\n%s", "berth: "+c.want, res)
				}
				testutil.AssertNothingLeft(t, testutil.Leftovers{StateDir: tk.stateDir, CgroupParent: cgroupParent,
					ID: tk.id, Marker: tk.marker, Mounts: tk.mounts})
			})
		}
	}
}
