package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
)

// taskState is what `berth state ID` prints (and each entry of
// `berth list --json`).
type taskState struct {
	ID                  string            `json:"id"`
	Pid                 int               `json:"pid"`
	PidStartTime        uint64            `json:"pid_start_time"`
	Status              string            `json:"status"`
	ExitCode            int               `json:"exit_code"`
	Signal              int               `json:"signal"`
	OOMKilled           bool              `json:"oom_killed"`
	Cgroup              map[string]string `json:"cgroup"`
	CgroupParent        string            `json:"cgroup_parent"`
	CgroupVersion       int               `json:"cgroup_version"`
	Rootfs              string            `json:"rootfs"`
	DefaultRootfs       bool              `json:"default_rootfs"`
	Created             time.Time         `json:"created"`
	Finished            *time.Time        `json:"finished"`
	SupervisorPid       int               `json:"supervisor_pid"`
	SupervisorStartTime uint64            `json:"supervisor_start_time"`
}

func (st *taskState) String() string {
	b, _ := json.Marshal(st)
	return string(b)
}

// Cgroup layouts as `berth state` reports them (cgroup_version).
const (
	cgroupV1     = 1 // freezer plus a v1 cgroup per limit
	cgroupV2     = 2 // one unified cgroup
	cgroupHybrid = 3 // unified cgroup to track the task, v1 ones for limits
)

// cgroupDir is the task's cgroup directory holding controller's files: the
// controller's own v1 hierarchy, or the one directory on v2.
func (st *taskState) cgroupDir(t *testing.T, controller string) string {
	t.Helper()
	if st.CgroupVersion == cgroupV2 {
		controller = "unified"
	}
	d, ok := st.Cgroup[controller]
	if !ok {
		t.Fatalf("task state has no %s cgroup: %s", controller, st)
	}
	return d
}

// trackingDir is the cgroup berth lists, freezes and kills the task in:
// the freezer on v1, the unified cgroup otherwise.
func (st *taskState) trackingDir(t *testing.T) string {
	t.Helper()
	if st.CgroupVersion == cgroupV1 {
		return st.cgroupDir(t, "freezer")
	}
	return st.cgroupDir(t, "unified")
}

// freezerState is "FROZEN" or "THAWED" as the kernel reports it: v1
// freezer.state, or "frozen 1|0" in a unified cgroup's cgroup.events.
func (st *taskState) freezerState(t *testing.T) string {
	t.Helper()
	dir := st.trackingDir(t)
	if st.CgroupVersion != cgroupV1 {
		ev, err := testutil.ReadCgroupFile(dir, "cgroup.events")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(ev, "\n") {
			switch l {
			case "frozen 1":
				return "FROZEN"
			case "frozen 0":
				return "THAWED"
			}
		}
		t.Fatalf("%s/cgroup.events has no frozen line: %q", dir, ev)
	}
	s, err := testutil.ReadCgroupFile(dir, "freezer.state")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dtask is a task started with `run -d`. Creating it registers a cleanup
// that deletes the task (--force) and checks that its supervisor exits; the
// task's own leftover check runs after that.
type dtask struct {
	*task
	// out is the task's --stdout file, where the probe's lines appear.
	out string
	// The supervisor as last seen in the state, to check it exits.
	supPid   int
	supStart uint64
}

func newDetached(t *testing.T) *dtask {
	t.Helper()
	d := &dtask{task: newTask(t)}
	t.Cleanup(d.cleanup)
	return d
}

// another is a second detached task in the same state dir, with its own id
// and marker. Its checks run before the first task's, which then finds the
// state dir empty.
func (d *dtask) another() *dtask {
	t := d.t
	tk := *d.task
	tk.id = uniqueID(t)
	tk.marker = testutil.NewMarker(t)
	o := &dtask{task: &tk}
	t.Cleanup(func() {
		if killed := testutil.KillMarked(o.marker); len(killed) > 0 {
			t.Errorf("task %s left processes behind (killed now): %v", o.id, killed)
		}
		testutil.AssertNothingLeft(t, testutil.Leftovers{StateDir: o.stateDir, CgroupParent: o.cgParent, ID: o.id})
	})
	t.Cleanup(o.cleanup)
	return o
}

// cleanup deletes the task whatever state a failed test left it in, checks
// that its supervisor exits, and removes a cgroup that survived (after
// reporting it) so that the host is clean for the next test.
func (d *dtask) cleanup() {
	t := d.t
	t.Helper()
	// Read the supervisor from the file itself: the test may have failed
	// before it ever ran `berth state`, or `state` may be what is broken.
	if b, err := os.ReadFile(filepath.Join(d.stateDir, d.id, "state.json")); err == nil {
		var st taskState
		if json.Unmarshal(b, &st) == nil && st.SupervisorPid > 0 {
			d.supPid, d.supStart = st.SupervisorPid, st.SupervisorStartTime
		}
	}
	res := d.berth("delete", "--force", d.id)
	if res.code != 0 && !strings.Contains(res.stderr, "no such task") {
		t.Errorf("cleanup: delete --force failed:\n%s", res)
	}
	if d.supPid > 0 && !testutil.WaitExited(d.supPid, d.supStart, runTimeout) {
		testutil.KillVerified(d.supPid, d.supStart)
		t.Errorf("supervisor %d of task %s still runs after delete --force (killed now)", d.supPid, d.id)
	}
	if dirs, _ := testutil.CgroupDirs(d.cgParent, d.id); len(dirs) > 0 {
		t.Errorf("cgroup of task %s left after delete --force (removing it now): %s", d.id, strings.Join(dirs, ", "))
		if err := testutil.RemoveCgroupDirs(d.cgParent, d.id, d.marker); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// detach runs `berth run -d --stdout FILE FLAGS -- CMD` and checks that it
// printed the id and nothing else.
func (d *dtask) detach(flags []string, cmd ...string) {
	t := d.t
	t.Helper()
	d.out = filepath.Join(t.TempDir(), "stdout")
	res := d.run(append([]string{"-d", "--stdout", d.out}, flags...), cmd...)
	if res.code != 0 || res.stdout != d.id+"\n" || res.stderr != "" {
		t.Fatalf("run -d: want exit 0, the id on stdout and nothing on stderr:\n%s", res)
	}
}

// waitOut waits for the task's stdout file to hold s.
func (d *dtask) waitOut(s string) string {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		b, _ := os.ReadFile(d.out)
		if strings.Contains(string(b), s) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: no %q on its stdout within %v; got %q; state:\n%s", d.id, s, runTimeout, b, d.berth("state", d.id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// state runs `berth state ID`, which must succeed.
func (d *dtask) state() *taskState {
	t := d.t
	t.Helper()
	res := d.berth("state", d.id)
	mustSucceed(t, res)
	var st taskState
	decodeOne(t, res, &st)
	if st.SupervisorPid > 0 {
		d.supPid, d.supStart = st.SupervisorPid, st.SupervisorStartTime
	}
	return &st
}

// waitStatus polls `berth state` until the task has status want.
func (d *dtask) waitStatus(want string) *taskState {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		st := d.state()
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: status %q after %v, want %q: %s", d.id, st.Status, runTimeout, want, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verb runs `berth VERB ID ARGS...`.
func (d *dtask) verb(verb string, args ...string) result {
	d.t.Helper()
	return d.berth(append([]string{verb, d.id}, args...)...)
}

// assertStopped checks how a stopped task ended.
func assertStopped(t *testing.T, st *taskState, code, signal int) {
	t.Helper()
	if st.Status != "stopped" || st.ExitCode != code || st.Signal != signal || st.OOMKilled {
		t.Errorf("want stopped with exit_code %d, signal %d, oom_killed false: %s", code, signal, st)
	}
	if st.Finished == nil || st.Finished.Before(st.Created) {
		t.Errorf("want a finish time after the creation time: %s", st)
	}
}

// markedPids are the live processes of the task, sorted.
func (d *dtask) markedPids() []int {
	d.t.Helper()
	pids, err := testutil.ProcessesWithMarker(d.marker)
	if err != nil {
		d.t.Fatal(err)
	}
	slices.Sort(pids)
	return pids
}

// assertGone checks, right after a delete, that nothing of the task is
// left: processes, cgroup, state entry, mounts; and its supervisor exited.
func (d *dtask) assertGone() {
	t := d.t
	t.Helper()
	testutil.AssertNothingLeft(t, testutil.Leftovers{StateDir: d.stateDir, CgroupParent: d.cgParent,
		ID: d.id, Marker: d.marker, Mounts: d.mounts, Dirs: d.mountDirs()})
	if d.supPid > 0 && !testutil.WaitExited(d.supPid, d.supStart, runTimeout) {
		t.Errorf("supervisor %d still runs after the task was deleted", d.supPid)
	}
	res := d.verb("state")
	assertBerthError(t, res, 125, d.id, "no such task")
}

// TestDetachRun: `run -d` prints the id and returns while the task runs
// under a supervisor in its own session; state, list and ps describe it.
func TestDetachRun(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	// The default task dir, which lives in the state dir until delete.
	d.detach(probeMount(), append(hostProbe, "trap", "100")...)
	d.waitOut(`"ready":true`)

	res := d.verb("state")
	mustSucceed(t, res)
	var raw map[string]any
	decodeOne(t, res, &raw)
	for _, k := range []string{"id", "pid", "pid_start_time", "status", "exit_code", "signal", "oom_killed",
		"cgroup", "rootfs", "created", "supervisor_pid"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("state lacks %q:\n%s", k, res.stdout)
		}
	}
	st := d.state()
	if st.ID != d.id || st.Status != "running" || st.ExitCode != 0 || st.Signal != 0 || st.OOMKilled || st.Finished != nil {
		t.Errorf("want id %s running, no exit yet: %s", d.id, st)
	}
	if pids := d.markedPids(); len(pids) != 1 || pids[0] != st.Pid {
		t.Errorf("state pid %d; the task's processes are %v", st.Pid, pids)
	}
	if ps, err := testutil.ReadProcStat(st.Pid); err != nil || ps.StartTime != st.PidStartTime {
		t.Errorf("state pid_start_time %d; /proc/%d/stat says %+v (%v)", st.PidStartTime, st.Pid, ps, err)
	}
	// The supervisor: alive, recorded with its own start time, a session
	// leader without a controlling terminal.
	sup, err := testutil.ReadProcStat(st.SupervisorPid)
	switch {
	case err != nil || !testutil.Running(st.SupervisorPid, st.SupervisorStartTime):
		t.Errorf("supervisor %d (start %d) is not running: %+v %v", st.SupervisorPid, st.SupervisorStartTime, sup, err)
	case sup.Session != st.SupervisorPid || sup.TTY != 0:
		t.Errorf("supervisor %d: session %d, tty %d; want a session of its own and no terminal", st.SupervisorPid, sup.Session, sup.TTY)
	}
	if st.SupervisorPid == st.Pid {
		t.Errorf("supervisor pid is the task's pid %d", st.Pid)
	}
	// The supervisor execs itself into the lean reaper image, so that
	// nothing of the launch stays resident; but only after it reported the
	// launch, on which `run -d` returns: the task may be running before
	// the exec. Wait for the reaper to name itself (it does once it
	// handles SIGTERM). The name, not the binary: which image reaps may
	// change, its name stays.
	if err := testutil.WaitComm(st.SupervisorPid, st.SupervisorStartTime, "berth-reaper", runTimeout); err != nil {
		t.Errorf("supervisor never became the berth-reaper: %v", err)
	}
	// The default task dir exists only in the task's mount namespace.
	if !st.DefaultRootfs || st.Rootfs != "" {
		t.Errorf("want default_rootfs true and no rootfs path: %s", st)
	}
	// No limits: only the cgroup every task gets (the freezer on v1, the
	// unified one otherwise), and it holds the task.
	wantCgroup := map[int]map[string]string{
		cgroupV1:     {"freezer": filepath.Join("/sys/fs/cgroup/freezer", cgroupParent, d.id)},
		cgroupV2:     {"unified": filepath.Join("/sys/fs/cgroup", cgroupParent, d.id)},
		cgroupHybrid: {"unified": filepath.Join("/sys/fs/cgroup/unified", cgroupParent, d.id)},
	}[st.CgroupVersion]
	if wantCgroup == nil || !maps.Equal(st.Cgroup, wantCgroup) {
		t.Errorf("cgroup_version %d, cgroup %v; want %v", st.CgroupVersion, st.Cgroup, wantCgroup)
	}
	for _, dir := range st.Cgroup {
		procs, err := testutil.ReadCgroupFile(dir, "cgroup.procs")
		if err != nil || !slices.Contains(strings.Fields(procs), strconv.Itoa(st.Pid)) {
			t.Errorf("%s/cgroup.procs = %q (%v), want it to hold %d", dir, procs, err, st.Pid)
		}
	}

	// list
	res = d.berth("list")
	mustSucceed(t, res)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if f := strings.Fields(lines[0]); !slices.Equal(f, []string{"ID", "PID", "STATUS", "EXIT", "CREATED"}) {
		t.Errorf("list header %q", lines[0])
	}
	if len(lines) != 2 {
		t.Errorf("want the header and one task:\n%s", res)
	} else if f := strings.Fields(lines[1]); len(f) != 5 || f[0] != d.id || f[1] != strconv.Itoa(st.Pid) || f[2] != "running" || f[3] != "-" {
		t.Errorf("list line %q, want %s %d running -", lines[1], d.id, st.Pid)
	}
	res = d.berth("list", "--json")
	mustSucceed(t, res)
	var all []taskState
	decodeOne(t, res, &all)
	if len(all) != 1 || all[0].ID != d.id || all[0].Status != "running" || all[0].Pid != st.Pid {
		t.Errorf("list --json, want exactly %s running with pid %d:\n%s", d.id, st.Pid, res.stdout)
	}

	// ps
	res = d.verb("ps")
	mustSucceed(t, res)
	lines = strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"PID", "PPID", "USER", "%CPU", "RSS", "COMMAND"}) ||
		strings.Fields(lines[1])[0] != fmt.Sprint(st.Pid) || !strings.HasSuffix(lines[1], " /probe/probe trap 100") {
		t.Errorf("ps, want a header and the task's process %d:\n%s", st.Pid, res)
	}
	res = d.verb("ps", "--json")
	mustSucceed(t, res)
	var ps []struct {
		Pid     int    `json:"pid"`
		Command string `json:"command"`
	}
	decodeOne(t, res, &ps)
	if len(ps) != 1 || ps[0].Pid != st.Pid || ps[0].Command != "/probe/probe trap 100" {
		t.Errorf("ps --json, want [{%d /probe/probe trap 100}]:\n%s", st.Pid, res.stdout)
	}

	// An empty state dir lists nothing, as JSON too.
	empty := newTask(t)
	if res := empty.berth("list", "--json"); res.code != 0 || strings.TrimSpace(res.stdout) != "[]" {
		t.Errorf("list --json of an empty state dir, want []:\n%s", res)
	}
}

// TestDetachPs: ps lists every process of the task, also those it forked
// outside its pid namespace's view (host pid namespace).
func TestDetachPs(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(rootfsFlags(t, "--pid", "host"), append(rootfsProbe, "forkbomb", "3")...)
	d.waitOut(`"started":3`)
	res := d.verb("ps", "--json")
	mustSucceed(t, res)
	var ps []struct {
		Pid int `json:"pid"`
	}
	decodeOne(t, res, &ps)
	var got []int
	for _, p := range ps {
		got = append(got, p.Pid)
	}
	slices.Sort(got)
	if want := d.markedPids(); len(want) != 4 || !slices.Equal(got, want) {
		t.Errorf("ps --json pids %v, want the task's 4 processes %v", got, want)
	}
}

// TestDetachPauseResume: pause freezes the task's cgroup, resume thaws it,
// and the task then still acts on its stop signal.
func TestDetachPauseResume(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
	d.waitOut(`"ready":true`)

	mustSucceed(t, d.verb("pause"))
	st := d.state()
	if st.Status != "paused" {
		t.Errorf("after pause: %s", st)
	}
	if fs := st.freezerState(t); fs != "FROZEN" {
		t.Errorf("after pause the freezer is %s, want FROZEN", fs)
	}
	assertBerthError(t, d.verb("pause"), 125, fmt.Sprintf(`pause %q: already paused`, d.id))
	// A paused task's processes can still be listed.
	if res := d.verb("ps", "--json"); res.code != 0 || !strings.Contains(res.stdout, strconv.Itoa(st.Pid)) {
		t.Errorf("ps of a paused task, want its pid %d:\n%s", st.Pid, res)
	}
	res := d.berth("list")
	if res.code != 0 || !strings.Contains(res.stdout, " paused ") {
		t.Errorf("list, want the task paused:\n%s", res)
	}

	mustSucceed(t, d.verb("resume"))
	st = d.state()
	if st.Status != "running" {
		t.Errorf("after resume: %s", st)
	}
	if fs := st.freezerState(t); fs != "THAWED" {
		t.Errorf("after resume the freezer is %s, want THAWED", fs)
	}
	assertBerthError(t, d.verb("resume"), 125, fmt.Sprintf(`resume %q: not paused`, d.id))

	// Thawed for real: the task catches the stop signal and exits 0.
	mustSucceed(t, d.verb("stop", "--grace", "30s"))
	d.waitOut(`{"signal":"interrupt"}`)
	assertStopped(t, d.waitStatus("stopped"), 0, 0)
}

// TestDetachUpdate: update changes a live limit, adds one the task was
// started without, and refuses bad values naming the flag.
func TestDetachUpdate(t *testing.T) {
	t.Parallel()
	testutil.RequireCgroup(t, "memory")
	d := newDetached(t)
	d.detach(rootfsFlags(t, "--memory", "64M"), append(rootfsProbe, "trap", "100")...)
	d.waitOut(`"ready":true`)
	st := d.state()
	memDir := st.cgroupDir(t, "memory")
	limitFile := "memory.limit_in_bytes"
	if st.CgroupVersion == 2 {
		limitFile = "memory.max"
	}
	readLimit := func() string {
		t.Helper()
		v, err := testutil.ReadCgroupFile(memDir, limitFile)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := readLimit(); v != strconv.Itoa(64<<20) {
		t.Fatalf("%s/%s = %s at launch, want %d", memDir, limitFile, v, 64<<20)
	}

	mustSucceed(t, d.verb("update", "--memory", "128M"))
	if v := readLimit(); v != strconv.Itoa(128<<20) {
		t.Errorf("%s/%s = %s after update --memory 128M, want %d", memDir, limitFile, v, 128<<20)
	}
	// Still no swap: memory plus swap follows the new limit.
	if st.CgroupVersion == 1 {
		if v, err := testutil.ReadCgroupFile(memDir, "memory.memsw.limit_in_bytes"); err == nil && v != strconv.Itoa(128<<20) {
			t.Errorf("memory.memsw.limit_in_bytes = %s after update --memory 128M, want %d (no swap)", v, 128<<20)
		}
	}

	assertBerthError(t, d.verb("update", "--memory", "1K"), 125, "--memory: 1K is below the minimum of 6M")
	assertBerthError(t, d.verb("update", "--cpu-shares", "1"), 125, "--cpu-shares: 1 is below the minimum of 2")
	assertBerthError(t, d.verb("update", "--pids-limit", "0"), 125, "--pids-limit: must be positive")
	assertBerthError(t, d.verb("update"), 125, "update: no limit given")
	if v := readLimit(); v != strconv.Itoa(128<<20) {
		t.Errorf("%s/%s = %s after refused updates, want it unchanged at %d", memDir, limitFile, v, 128<<20)
	}

	// A limit the task was started without: on v1 hierarchies berth adds
	// the controller's cgroup and moves the task into it.
	testutil.RequireCgroup(t, "cpu")
	mustSucceed(t, d.verb("update", "--cpu-shares", "512"))
	cpuDir := filepath.Join("/sys/fs/cgroup/cpu", cgroupParent, d.id)
	file, want := "cpu.shares", "512"
	if st.CgroupVersion == cgroupV2 {
		cpuDir, file, want = memDir, "cpu.weight", "20"
	}
	if v, err := testutil.ReadCgroupFile(cpuDir, file); err != nil || v != want {
		t.Errorf("%s/%s = %q (%v) after update --cpu-shares 512, want %s", cpuDir, file, v, err, want)
	}
	if procs, err := testutil.ReadCgroupFile(cpuDir, "cgroup.procs"); err != nil || !slices.Contains(strings.Fields(procs), strconv.Itoa(st.Pid)) {
		t.Errorf("%s/cgroup.procs = %q (%v), want the task's pid %d", cpuDir, procs, err, st.Pid)
	}
	if st := d.state(); st.Status != "running" {
		t.Errorf("after the updates: %s", st)
	}
	// delete --force (the cleanup) must remove the added cgroup too: the
	// leftover check looks in every hierarchy.
}

// TestDetachKill: kill signals the main process; the supervisor records how
// it ended.
func TestDetachKill(t *testing.T) {
	t.Parallel()
	t.Run("sigkill", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		st := d.state()
		mustSucceed(t, d.verb("kill", "SIGKILL"))
		assertStopped(t, d.waitStatus("stopped"), 137, 9)
		if !testutil.WaitExited(st.SupervisorPid, st.SupervisorStartTime, runTimeout) {
			t.Errorf("supervisor %d still runs after its task ended", st.SupervisorPid)
		}
		testutil.AssertNoProcess(t, d.marker)
		// The supervisor removed the cgroup with the task; the state stays
		// until delete.
		testutil.AssertNoCgroup(t, cgroupParent, d.id)
		mustSucceed(t, d.verb("delete"))
		d.assertGone()
	})
	t.Run("default sigterm", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		mustSucceed(t, d.verb("kill"))
		d.waitOut(`{"signal":"terminated"}`)
		assertStopped(t, d.waitStatus("stopped"), 0, 0)
	})
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		// With the host's pid namespace the forked processes do not die
		// with the main one. SIGSTOP shows who got the signal: without
		// --all only the main process, with it every process.
		d := newDetached(t)
		d.detach(rootfsFlags(t, "--pid", "host"), append(rootfsProbe, "forkbomb", "3")...)
		d.waitOut(`"started":3`)
		st := d.state()
		pids := d.markedPids()
		if len(pids) != 4 {
			t.Fatalf("want the main process and 3 children, got %v", pids)
		}
		mustSucceed(t, d.verb("kill", "SIGSTOP"))
		waitProcState(t, []int{st.Pid}, true)
		waitProcState(t, slices.DeleteFunc(slices.Clone(pids), func(p int) bool { return p == st.Pid }), false)
		mustSucceed(t, d.verb("kill", "SIGSTOP", "--all"))
		waitProcState(t, pids, true)
		mustSucceed(t, d.verb("kill", "--all", "SIGCONT"))
		waitProcState(t, pids, false)
		mustSucceed(t, d.verb("kill", "SIGKILL", "--all"))
		assertStopped(t, d.waitStatus("stopped"), 137, 9)
		testutil.AssertNoProcess(t, d.marker)
	})
}

// waitProcState waits until each of pids is stopped (state T) or, with
// stopped false, running again (or never stopped).
func waitProcState(t *testing.T, pids []int, stopped bool) {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for _, pid := range pids {
		for {
			st, err := testutil.ReadProcStat(pid)
			if err != nil {
				t.Fatalf("process %d: %v", pid, err)
			}
			if (st.State == 'T') == stopped {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d in state %c, want stopped %v", pid, st.State, stopped)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestDetachStop: stop sends the stop signal, waits up to the grace for
// the task to exit, then kills it.
func TestDetachStop(t *testing.T) {
	t.Parallel()
	t.Run("ignored until grace", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "ignore-term", "100")...)
		d.waitOut(`"ready":true`)
		start := time.Now()
		mustSucceed(t, d.verb("stop", "--grace", "1s"))
		// A lower bound only: stop must not kill before the grace is up.
		if el := time.Since(start); el < time.Second {
			t.Errorf("stop returned after %v, before the 1s grace", el)
		}
		assertStopped(t, d.waitStatus("stopped"), 137, 9)
		testutil.AssertNoProcess(t, d.marker)
	})
	t.Run("trapped", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		mustSucceed(t, d.verb("stop", "--grace", "30s"))
		d.waitOut(`{"signal":"interrupt"}`)
		assertStopped(t, d.waitStatus("stopped"), 0, 0)
	})
	t.Run("signal flag", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		mustSucceed(t, d.verb("stop", "--signal", "SIGTERM", "--grace", "30s"))
		out := d.waitOut(`{"signal":`)
		if !strings.Contains(out, `{"signal":"terminated"}`) {
			t.Errorf("task stdout %q, want it to have caught SIGTERM", out)
		}
		assertStopped(t, d.waitStatus("stopped"), 0, 0)
	})
	t.Run("paused", func(t *testing.T) {
		t.Parallel()
		// A paused task is thawed so that it can act on the signal.
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		mustSucceed(t, d.verb("pause"))
		mustSucceed(t, d.verb("stop", "--grace", "30s"))
		d.waitOut(`{"signal":"interrupt"}`)
		assertStopped(t, d.waitStatus("stopped"), 0, 0)
	})
}

// TestDetachDelete: delete refuses a running or paused task without
// --force; with it, nothing of the task is left.
func TestDetachDelete(t *testing.T) {
	t.Parallel()
	for _, paused := range []bool{false, true} {
		name, status := "running", "running"
		if paused {
			name, status = "paused", "paused"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDetached(t)
			d.detach(probeMount(), append(hostProbe, "trap", "100")...)
			d.waitOut(`"ready":true`)
			if paused {
				mustSucceed(t, d.verb("pause"))
			}
			res := d.verb("delete")
			assertBerthError(t, res, 125, d.id, "task is "+status, "--force")
			// Refused means untouched.
			if st := d.state(); st.Status != status {
				t.Errorf("after a refused delete: %s", st)
			}
			if len(d.markedPids()) == 0 {
				t.Errorf("the task's processes are gone after a refused delete")
			}
			mustSucceed(t, d.verb("delete", "--force"))
			d.assertGone()
		})
	}
}

// TestDetachUnknownID: every verb names an unknown id.
func TestDetachUnknownID(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	for _, args := range [][]string{
		{"state"}, {"kill"}, {"kill", "SIGKILL", "--all"}, {"stop"}, {"pause"}, {"resume"},
		{"update", "--memory", "64M"}, {"delete"}, {"delete", "--force"}, {"ps"}, {"ps", "--json"},
	} {
		res := tk.berth(append([]string{args[0], tk.id}, args[1:]...)...)
		assertBerthError(t, res, 125, tk.id, "no such task")
	}
	// An id that could not be a task (a path) is unknown too, not a path
	// berth follows.
	res := tk.berth("delete", "--force", "../"+filepath.Base(tk.stateDir))
	assertBerthError(t, res, 125, "no such task")
}

// TestDetachStoppedTask: the verbs that need a live task refuse a stopped
// one; delete removes it without --force.
func TestDetachStoppedTask(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	flags := rootfsFlags(t)
	d.detach(flags, append(rootfsProbe, "exit", "3")...)
	st := d.waitStatus("stopped")
	assertStopped(t, st, 3, 0)
	if st.Rootfs != flags[1] || st.DefaultRootfs {
		t.Errorf("want rootfs %s, default_rootfs false: %s", flags[1], st)
	}
	for _, args := range [][]string{
		{"pause"}, {"resume"}, {"update", "--memory", "64M"}, {"kill", "SIGKILL"}, {"stop"}, {"ps"},
	} {
		res := d.verb(args[0], args[1:]...)
		assertBerthError(t, res, 125, fmt.Sprintf("%s %q: task is not running", args[0], d.id))
	}
	res := d.berth("list")
	if f := strings.Fields(res.stdout); res.code != 0 || len(f) != 10 || f[5] != d.id || f[7] != "stopped" || f[8] != "3" {
		t.Errorf("list, want %s stopped with exit 3:\n%s", d.id, res)
	}
	mustSucceed(t, d.verb("delete"))
	d.assertGone()
}

// TestDetachSupervisorKilled: with its supervisor dead the task keeps
// running and every verb still works; how it ended is then unknown (-1).
func TestDetachSupervisorKilled(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
	d.waitOut(`"ready":true`)
	st := d.state()
	if !testutil.KillVerified(st.SupervisorPid, st.SupervisorStartTime) {
		t.Fatalf("supervisor %d is not running: %s", st.SupervisorPid, st)
	}
	if !testutil.WaitExited(st.SupervisorPid, st.SupervisorStartTime, runTimeout) {
		t.Fatalf("supervisor %d survived SIGKILL", st.SupervisorPid)
	}
	after := d.state()
	if after.Status != "running" || after.Pid != st.Pid {
		t.Errorf("with the supervisor dead, want the task still running with pid %d: %s", st.Pid, after)
	}
	mustSucceed(t, d.verb("pause"))
	if st := d.state(); st.Status != "paused" {
		t.Errorf("after pause: %s", st)
	}
	mustSucceed(t, d.verb("resume"))
	if res := d.verb("ps", "--json"); res.code != 0 || !strings.Contains(res.stdout, strconv.Itoa(st.Pid)) {
		t.Errorf("ps, want pid %d:\n%s", st.Pid, res)
	}

	mustSucceed(t, d.verb("stop", "--grace", "30s"))
	d.waitOut(`{"signal":"interrupt"}`)
	stopped := d.state()
	if stopped.Status != "stopped" || stopped.ExitCode != -1 {
		t.Errorf("want stopped with exit_code -1 (nobody reaped it): %s", stopped)
	}
	testutil.AssertNoProcess(t, d.marker)
	mustSucceed(t, d.verb("delete"))
	d.assertGone()
}

// TestDetachDaemon: when the main process exits, a double-forked daemon
// it left in the cgroup is killed, with a private pid namespace and with
// the host's.
func TestDetachDaemon(t *testing.T) {
	t.Parallel()
	for _, pidMode := range []string{"private", "host"} {
		t.Run(pidMode, func(t *testing.T) {
			t.Parallel()
			d := newDetached(t)
			d.detach(rootfsFlags(t, "--pid", pidMode), append(rootfsProbe, "daemon", "100")...)
			d.waitOut(`"daemon_pid"`)
			assertStopped(t, d.waitStatus("stopped"), 0, 0)
			testutil.AssertNoProcess(t, d.marker)
			testutil.AssertNoCgroup(t, cgroupParent, d.id)
			mustSucceed(t, d.verb("delete"))
			d.assertGone()
		})
	}
}

// TestDetachCorruptState: a garbled or truncated state.json is reported as
// corrupt, naming the file; list still shows the other tasks; delete
// --force removes it.
func TestDetachCorruptState(t *testing.T) {
	t.Parallel()
	corrupt := map[string]func(file string) error{
		"garbage": func(file string) error { return os.WriteFile(file, []byte("\x00not json{{{"), 0o600) },
		"truncated": func(file string) error {
			fi, err := os.Stat(file)
			if err != nil {
				return err
			}
			return os.Truncate(file, fi.Size()/2)
		},
		"empty": func(file string) error { return os.Truncate(file, 0) },
	}
	for name, spoil := range corrupt {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bad := newDetached(t)
			good := bad.another()
			bad.detach(rootfsFlags(t), append(rootfsProbe, "exit", "0")...)
			good.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
			bad.waitStatus("stopped")
			file := filepath.Join(bad.stateDir, bad.id, "state.json")
			if err := spoil(file); err != nil {
				t.Fatal(err)
			}

			res := bad.verb("state")
			assertBerthError(t, res, 125, file, "corrupt")
			if strings.Contains(res.stderr, "panic") {
				t.Errorf("berth panicked:\n%s", res)
			}

			res = bad.berth("list")
			if res.code != 0 || !strings.Contains(res.stdout, good.id) || !strings.Contains(res.stdout, bad.id) {
				t.Errorf("list, want both tasks:\n%s", res)
			}
			res = bad.berth("list", "--json")
			var all []taskState
			if res.code == 0 {
				decodeOne(t, res, &all)
			}
			statuses := map[string]string{}
			for _, st := range all {
				statuses[st.ID] = st.Status
			}
			if len(all) != 2 || statuses[good.id] != "running" || statuses[bad.id] != "unknown" {
				t.Errorf("list --json, want %s running and %s unknown:\n%s", good.id, bad.id, res)
			}

			assertBerthError(t, bad.verb("delete"), 125, file, "corrupt", "--force")
			mustSucceed(t, bad.verb("delete", "--force"))
			testutil.AssertNothingLeft(t, testutil.Leftovers{StateDir: bad.stateDir, CgroupParent: bad.cgParent,
				ID: bad.id, Marker: bad.marker})
			if st := good.state(); st.Status != "running" {
				t.Errorf("the other task after delete --force of the corrupt one: %s", st)
			}
		})
	}
}

// TestDetachReuseID: the id of a recorded (stopped) task is taken until
// delete; that of a crashed one (supervisor and task killed) is reclaimed
// by the next run.
func TestDetachReuseID(t *testing.T) {
	t.Parallel()
	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "exit", "5")...)
		first := d.waitStatus("stopped")
		for _, detach := range []bool{true, false} {
			flags := rootfsFlags(t)
			if detach {
				flags = append([]string{"-d"}, flags...)
			}
			res := d.run(flags, append(rootfsProbe, "exit", "0")...)
			assertBerthError(t, res, 125, d.id, "already exists")
		}
		if st := d.state(); st.Status != "stopped" || st.ExitCode != 5 || st.Pid != first.Pid {
			t.Errorf("the recorded task changed after a refused run: %s, was %s", st, first)
		}
		mustSucceed(t, d.verb("delete"))
		d.detach(rootfsFlags(t), append(rootfsProbe, "exit", "6")...)
		assertStopped(t, d.waitStatus("stopped"), 6, 0)
	})
	t.Run("crashed", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		st := d.state()
		// The crash: supervisor first (so nobody records the task's end),
		// then the task.
		for _, p := range []struct {
			pid   int
			start uint64
		}{{st.SupervisorPid, st.SupervisorStartTime}, {st.Pid, st.PidStartTime}} {
			if !testutil.KillVerified(p.pid, p.start) {
				t.Fatalf("process %d is not running: %s", p.pid, st)
			}
			// Exited is crashed: whether its new parent (init) has reaped
			// it yet is no business of berth's.
			if !testutil.WaitExited(p.pid, p.start, runTimeout) {
				t.Fatalf("process %d survived SIGKILL", p.pid)
			}
		}
		d.detach(rootfsFlags(t), append(rootfsProbe, "trap", "100")...)
		d.waitOut(`"ready":true`)
		again := d.state()
		if again.Status != "running" || again.Pid == st.Pid || again.SupervisorPid == st.SupervisorPid {
			t.Errorf("want a new running task under a new supervisor: %s, was %s", again, st)
		}
		if !again.Created.After(st.Created) {
			t.Errorf("want a new creation time: %s, was %s", again, st)
		}
	})
}
