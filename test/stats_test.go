package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/stats"
)

// statsOf runs `berth stats ID --json` and decodes it.
func (d *dtask) statsOf() *stats.TaskResourceUsage {
	t := d.t
	t.Helper()
	res := d.verb("stats", "--json")
	mustSucceed(t, res)
	var u stats.TaskResourceUsage
	decodeOne(t, res, &u)
	return &u
}

// cgroupProcs lists the pids in a cgroup directory and every one below it.
func cgroupProcs(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(pids)
	return pids
}

func pidKeys(u *stats.TaskResourceUsage) []int {
	var pids []int
	for k := range u.Pids {
		n, _ := strconv.Atoi(k)
		pids = append(pids, n)
	}
	sort.Ints(pids)
	return pids
}

// TestStatsBusyLoop: a task with one busy loop shows CPU percent near 100
// (of one core) and more user than system time; its pid set is its
// cgroup's. Not parallel: the other tests would share the two cores.
func TestStatsBusyLoop(t *testing.T) {
	d := newDetached(t)
	d.detach(probeMount(), append(hostProbe, "spin")...)
	st := d.waitStatus("running")
	time.Sleep(300 * time.Millisecond) // let the loop be running
	u := d.statsOf()
	if !slices.Contains(u.CPU.Measured, "percent") {
		t.Fatalf("percent not measured: %+v", u.CPU)
	}
	// Near 100 on a shared machine: well above idle, not above two cores.
	if u.CPU.Percent < 50 || u.CPU.Percent > 210 {
		t.Errorf("a busy loop shows %.1f%% CPU, want about 100", u.CPU.Percent)
	}
	if u.CPU.UserMode <= u.CPU.SystemMode {
		t.Errorf("a busy loop shows user %.1f <= system %.1f", u.CPU.UserMode, u.CPU.SystemMode)
	}
	p := u.Pids[strconv.Itoa(st.Pid)]
	if p == nil || !slices.Contains(p.CPU.Measured, "percent") || p.CPU.Percent < 50 {
		t.Errorf("the loop's own entry: %+v, want its percent near 100", p)
	}
	if got, want := pidKeys(u), cgroupProcs(t, st.Cgroup["unified"]); !slices.Equal(got, want) {
		t.Errorf("stats pids %v, cgroup.procs %v", got, want)
	}
	mustSucceed(t, d.verb("delete", "--force"))
}

// TestStatsMemory: a task that touches 64 MiB shows at least that much: as
// usage where the task has a memory cgroup (with its limit), as RSS summed
// over its processes where it has none (a hybrid host, no limit), which
// is then not called usage.
func TestStatsMemory(t *testing.T) {
	t.Parallel()
	const n = 64 << 20
	for _, c := range []struct {
		name  string
		flags []string
	}{{"no limit", nil}, {"limit", []string{"--memory", "256M"}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := newDetached(t)
			d.detach(append(probeMount(), c.flags...), append(hostProbe, "memhold", "64M")...)
			d.waitOut(`"allocated"`)
			u := d.statsOf()
			m := u.Memory
			if c.flags == nil {
				if !slices.Contains(m.Measured, "rss") || m.RSS < n {
					t.Errorf("rss %d (measured %v), want at least %d", m.RSS, m.Measured, n)
				}
				if slices.Contains(m.Measured, "usage") {
					t.Errorf("usage measured without a memory cgroup: %v", m.Measured)
				}
			} else {
				if !slices.Contains(m.Measured, "usage") || m.Usage < n {
					t.Errorf("usage %d (measured %v), want at least %d", m.Usage, m.Measured, n)
				}
				if !slices.Contains(m.Measured, "limit") || m.Limit != 256<<20 {
					t.Errorf("limit %d (measured %v), want 256M", m.Limit, m.Measured)
				}
			}
			for pid, p := range u.Pids {
				if !slices.Contains(p.Memory.Measured, "rss") {
					t.Errorf("pid %s: rss not measured", pid)
				}
			}
			mustSucceed(t, d.verb("delete", "--force"))
		})
	}
}

// TestStatsStreamFollowsProcesses: the library's stream shows a process
// when it appears and drops it when it exits; it ends when the task does.
func TestStatsStreamFollowsProcesses(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(probeMount(), "/bin/sh", "-c", "/probe/probe sleep 1.5; /probe/probe sleep 1.5")
	st := d.waitStatus("running")
	e, err := executor.Reattach(executor.Config{StateDir: d.stateDir, CgroupParent: cgroupParent}, d.id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	ch, err := e.Stats(ctx, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	seen, gone, n := false, false, 0
	var prev map[string]*stats.PidUsage
	for u := range ch {
		n++
		if n > 1 && !slices.Contains(u.CPU.Measured, "percent") {
			t.Errorf("reading %d has no percent", n)
		}
		if u.Pids[strconv.Itoa(st.Pid)] == nil {
			t.Errorf("reading %d lacks the main process", n)
		}
		seen = seen || len(u.Pids) >= 2
		for pid := range prev {
			if u.Pids[pid] == nil {
				gone = true
			}
		}
		prev = u.Pids
	}
	if ctx.Err() != nil {
		t.Fatalf("the stream did not end with the task")
	}
	if !seen || !gone {
		t.Errorf("over %d readings the probe child appeared %v, then went %v", n, seen, gone)
	}
}

// TestStatsRefused: stats of an unknown or stopped task is an error (never
// stale numbers); of a paused task it still works.
func TestStatsRefused(t *testing.T) {
	t.Parallel()
	d, _ := startPause(t)
	mustSucceed(t, d.verb("pause"))
	if u := d.statsOf(); len(u.Pids) != 1 {
		t.Errorf("a paused task's stats: %+v", u)
	}
	mustSucceed(t, d.verb("resume"))
	assertBerthError(t, d.berth("stats", "nosuch-task"), 125, "nosuch-task")
	mustSucceed(t, d.verb("kill", "KILL"))
	d.waitStatus("stopped")
	assertBerthError(t, d.verb("stats"), 125, d.id, "not running")
}

// TestStatsTable: the default output is a table with the task's row and a
// row per process.
func TestStatsTable(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	res := d.verb("stats")
	mustSucceed(t, res)
	for _, w := range []string{"CPU %", "MEM USAGE / LIMIT", "PIDS", d.id, strconv.Itoa(st.Pid), "/probe/probe pause"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("stats table lacks %q:\n%s", w, res.stdout)
		}
	}
}

// TestPs: ps lists pid, ppid, the user named from the task's own passwd,
// CPU, RSS and the command, for every process of the task's cgroup.
func TestPs(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	d, st := startPauseRootfs(t, root, "--user", "alice")
	res := d.verb("ps", "--json")
	mustSucceed(t, res)
	var procs []executor.Process
	if err := json.Unmarshal([]byte(res.stdout), &procs); err != nil {
		t.Fatalf("ps --json: %v\n%s", err, res)
	}
	if len(procs) != 1 || procs[0].Pid != st.Pid || procs[0].User != "alice" || procs[0].RSS == 0 ||
		!strings.Contains(procs[0].Command, "pause") || procs[0].PPid == 0 {
		t.Errorf("ps: %+v, want the main process run by alice", procs)
	}
	// A passwd that leads out of the task is never read: names fall back
	// to uids.
	passwd := filepath.Join(root, "etc", "passwd")
	if err := os.Remove(passwd); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/1/root/etc/passwd", passwd); err != nil {
		t.Fatal(err)
	}
	res = d.verb("ps", "--json")
	mustSucceed(t, res)
	procs = nil
	if err := json.Unmarshal([]byte(res.stdout), &procs); err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].User != strconv.Itoa(procs[0].UID) {
		t.Errorf("ps with a hostile passwd: %+v, want the uid as the user", procs)
	}
	res = d.verb("ps")
	mustSucceed(t, res)
	if !strings.Contains(res.stdout, "PPID") || !strings.Contains(res.stdout, "%CPU") {
		t.Errorf("ps table:\n%s", res.stdout)
	}
}

// TestListStats: list --stats adds CPU and memory columns for running
// tasks, and the stats in --json.
func TestListStats(t *testing.T) {
	t.Parallel()
	d, _ := startPause(t)
	res := d.berth("list", "--stats")
	mustSucceed(t, res)
	if !strings.Contains(res.stdout, "CPU %") || !strings.Contains(res.stdout, d.id) {
		t.Errorf("list --stats:\n%s", res.stdout)
	}
	res = d.berth("list", "--stats", "--json")
	mustSucceed(t, res)
	var entries []struct {
		ID    string                   `json:"id"`
		Stats *stats.TaskResourceUsage `json:"stats"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Stats == nil || len(entries[0].Stats.Pids) != 1 {
		t.Errorf("list --stats --json: %s", res.stdout)
	}
}

// TestStatsOddNames: processes named with spaces, parentheses and a
// newline (and longer than comm's 15 bytes) are read like any other by
// stats and ps.
func TestStatsOddNames(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	odd := "/tmp/a) (b c\nd-with-a-long-name"
	res := d.run([]string{"-d"}, "/bin/sh", "-c", `cp /bin/sleep "$0" && exec "$0" 1000`, odd)
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	st := d.waitStatus("running")
	deadline := time.Now().Add(runTimeout)
	var procs []executor.Process
	for {
		res = d.verb("ps", "--json")
		mustSucceed(t, res)
		procs = nil
		if err := json.Unmarshal([]byte(res.stdout), &procs); err != nil {
			t.Fatal(err)
		}
		if len(procs) == 1 && strings.HasPrefix(procs[0].Command, odd) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(procs) != 1 || procs[0].Pid != st.Pid || procs[0].Command != odd+" 1000" {
		t.Errorf("ps of an oddly named process: %+v", procs)
	}
	u := d.statsOf()
	if p := u.Pids[strconv.Itoa(st.Pid)]; p == nil || !slices.Contains(p.Memory.Measured, "rss") {
		t.Errorf("stats of an oddly named process: %+v", u.Pids)
	}
	// In a table, what could steer the terminal is shown as '?'.
	res = d.verb("ps")
	mustSucceed(t, res)
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], "/tmp/a) (b c?d-with-a-long-name 1000") {
		t.Errorf("ps table of an oddly named process:\n%s", res.stdout)
	}
	mustSucceed(t, d.verb("delete", "--force"))
}
