package containerd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunExitCode: a foreground `ctr run --rm` relays the task's stdout and
// stderr through the shim's fifos and exits with its exit code.
func TestRunExitCode(t *testing.T) {
	id := "exit-code"
	h.scenario(t, id)
	r := h.ctr(t, h.runArgs(id, []string{"--rm"}, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")...)
	if r.code != 3 {
		t.Errorf("ctr run: exit %d, want 3 (%s)", r.code, r)
	}
	if r.stdout != "to-stdout\n" {
		t.Errorf("stdout %q, want %q", r.stdout, "to-stdout\n")
	}
	if !strings.Contains(r.stderr, "to-stderr") {
		t.Errorf("stderr %q does not hold to-stderr", r.stderr)
	}
}

// TestRunKilledBySignal: a foreground task killed from outside (ctr task
// kill) is reported by ctr run as 128+9. (A task cannot SIGKILL itself: it
// is pid 1 of its namespace, which ignores signals it has no handler for.)
func TestRunKilledBySignal(t *testing.T) {
	id := "killed"
	h.scenario(t, id)
	run := h.command(h.runArgs(id, []string{"--rm"}, "sleep", "1000")...)
	var out strings.Builder
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = run.Wait(); close(exited) }()
	if !eventually(30*time.Second, func() bool { _, s := h.task(t, id); return s == "RUNNING" }) {
		t.Errorf("task never RUNNING")
	}
	h.ctrOK(t, "task", "kill", "--signal", "SIGKILL", id)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = run.Process.Kill()
		<-exited
		t.Errorf("ctr run still running 30s after its task was killed")
	}
	if code := run.ProcessState.ExitCode(); code != 137 {
		t.Errorf("ctr run: exit %d, want 137; output %q", code, dropDeprecation(out.String()))
	}
}

// TestRunNotFound: a command missing from the rootfs fails the create, and
// nothing of the container is left.
func TestRunNotFound(t *testing.T) {
	id := "not-found"
	h.scenario(t, id)
	r := h.ctr(t, h.runArgs(id, []string{"--rm"}, "/bin/no-such-command")...)
	if r.code == 0 {
		t.Errorf("ctr run of a missing command exited 0 (%s)", r)
	}
	// ctr run --rm does not remove a container whose task never started.
	h.ctr(t, "container", "rm", id)
}

// TestDetached: `ctr run -d`, then ps, exec, pause and resume, metrics,
// kill --all and delete, each checked against what the host sees.
func TestDetached(t *testing.T) {
	id := "detached"
	h.scenario(t, id)
	h.ctrOK(t, h.runArgs(id, []string{"-d"}, "sh", "-c", "sleep 1000 & wait")...)

	pid, status := h.task(t, id)
	if status != "RUNNING" || pid <= 0 {
		t.Fatalf("task ls after run -d: pid %d status %s, want a pid and RUNNING", pid, status)
	}

	// The runc shim reads metrics (and OOM events) from the cgroups of the
	// task's pid: on a v1 or hybrid host, the v1 controllers'.
	cg := procCgroups(t, pid)
	want := h.cgroupPath(id)
	controllers := []string{"memory", "cpuacct", "pids"}
	if h.hybrid() {
		controllers = append(controllers, "")
	}
	if h.cgroupV2Only {
		controllers = []string{""}
	}
	for _, c := range controllers {
		if cg[c] != want {
			t.Errorf("task pid %d: cgroup of controller %q is %q, want %q (the shim finds the task's cgroups through its pid)", pid, c, cg[c], want)
		}
	}

	var pids []int
	ok := eventually(10*time.Second, func() bool {
		pids = h.psPids(t, id)
		return len(pids) >= 2
	})
	if !ok || !containsInt(pids, pid) {
		t.Errorf("task ps: pids %v, want the init pid %d and its sleep child", pids, pid)
	}

	t.Run("exec", func(t *testing.T) {
		r := h.ctr(t, "task", "exec", "--exec-id", "echo-hi", "--fifo-dir", h.fifoDir, id, "echo", "hi")
		if r.code != 0 || r.stdout != "hi\n" {
			t.Errorf("task exec echo hi: %s, want exit 0 and stdout \"hi\\n\"", r)
		}
		r = h.ctr(t, "task", "exec", "--exec-id", "exit-5", "--fifo-dir", h.fifoDir, id, "sh", "-c", "exit 5")
		if r.code != 5 {
			t.Errorf("task exec exit 5: %s, want exit 5", r)
		}
		// An exec lands in the task's namespaces: it sees the init as pid 1.
		r = h.ctr(t, "task", "exec", "--exec-id", "pid-ns", "--fifo-dir", h.fifoDir, id, "cat", "/proc/1/cmdline")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "sh\x00-c\x00sleep 1000 & wait") {
			t.Errorf("task exec cat /proc/1/cmdline: %s, want the task's init", r)
		}
	})

	t.Run("pause-resume", func(t *testing.T) {
		h.ctrOK(t, "task", "pause", id)
		if _, s := h.task(t, id); s != "PAUSED" {
			t.Errorf("task ls after pause: %s, want PAUSED", s)
		}
		if !frozen(t, pid) {
			t.Errorf("after pause, neither the v1 freezer nor cgroup2 of pid %d says frozen", pid)
		}
		h.ctrOK(t, "task", "resume", id)
		if _, s := h.task(t, id); s != "RUNNING" {
			t.Errorf("task ls after resume: %s, want RUNNING", s)
		}
		if frozen(t, pid) {
			t.Errorf("after resume, pid %d's cgroup is still frozen", pid)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		out := h.ctrOK(t, "task", "metrics", "--format", "json", id)
		m, err := parseMetrics(out)
		if err != nil {
			t.Fatalf("task metrics: %v\n%s", err, out)
		}
		if m.memoryUsage == 0 {
			t.Errorf("task metrics: memory usage 0\n%s", out)
		}
		if m.cpuUsage == 0 {
			t.Errorf("task metrics: cpu usage 0\n%s", out)
		}
		// Figures from the task's own cgroup, not its parent's: the pids
		// it counts are the ones ps lists.
		if n := len(h.psPids(t, id)); m.pids != uint64(n) {
			t.Errorf("task metrics: pids.current %d, task ps lists %d\n%s", m.pids, n, out)
		}
	})

	// ctr has no update verb: taskupdate is the client call CRI makes.
	t.Run("update", func(t *testing.T) {
		const limit, shares = 64 << 20, 512
		cmd := exec.Command(filepath.Join(filepath.Dir(h.wrapper), "taskupdate"), "-address", h.sock, "-namespace", namespace,
			"-id", id, "-memory", strconv.Itoa(limit), "-cpu-shares", strconv.Itoa(shares))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("taskupdate: %v: %s", err, out)
		}
		cg := procCgroups(t, pid)
		if h.cgroupV2Only {
			if got := readCgroupFile(t, filepath.Join("/sys/fs/cgroup", cg[""], "memory.max")); got != strconv.Itoa(limit) {
				t.Errorf("memory.max %s, want %d", got, limit)
			}
		} else {
			if got := readCgroupFile(t, filepath.Join("/sys/fs/cgroup/memory", cg["memory"], "memory.limit_in_bytes")); got != strconv.Itoa(limit) {
				t.Errorf("memory.limit_in_bytes of pid %d's memory cgroup %s: %s, want %d", pid, cg["memory"], got, limit)
			}
			if got := readCgroupFile(t, filepath.Join("/sys/fs/cgroup/cpu", cg["cpu"], "cpu.shares")); got != strconv.Itoa(shares) {
				t.Errorf("cpu.shares of pid %d's cpu cgroup %s: %s, want %d", pid, cg["cpu"], got, shares)
			}
		}
		out := h.ctrOK(t, "task", "metrics", "--format", "json", id)
		if m, err := parseMetrics(out); err != nil || m.memoryLimit != limit {
			t.Errorf("task metrics after update: memory limit %d (%v), want %d", m.memoryLimit, err, limit)
		}
	})

	t.Run("kill-all", func(t *testing.T) {
		h.ctrOK(t, "task", "kill", "--all", "--signal", "SIGKILL", id)
		if !eventually(10*time.Second, func() bool { _, s := h.task(t, id); return s == "STOPPED" }) {
			_, s := h.task(t, id)
			t.Fatalf("task ls after kill --all: %s, want STOPPED", s)
		}
		for _, p := range pids {
			if c, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p)); err == nil && strings.Contains(string(c), want) {
				t.Errorf("pid %d still alive in %s after kill --all", p, want)
			}
		}
	})

	r := h.ctr(t, "task", "delete", id)
	if r.code != 0 || !strings.Contains(r.stderr, "exit code 137") {
		t.Errorf("task delete: %s, want exit 0 and a warning of exit code 137", r)
	}
	h.ctrOK(t, "container", "rm", id)
}

// TestOOM: a task over its memory limit is killed by the kernel, ctr sees
// 137, and the shim publishes a /tasks/oom event for it. On a v1 or hybrid
// host the shim watches memory.oom_control of the v1 memory cgroup it finds
// through the task's pid, registered when start returns.
func TestOOM(t *testing.T) {
	id := "oom"
	h.scenario(t, id)
	events := h.command("events")
	var buf lockedBuffer
	events.Stdout, events.Stderr = &buf, &buf
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = events.Process.Kill(); _ = events.Wait() }()

	// The task allocates only once told to (a file appears), so the shim
	// is watching before the kernel kills it.
	trigger := filepath.Join(h.rootfs, "tmp", id)
	defer os.Remove(trigger)
	h.ctrOK(t, h.runArgs(id, []string{"-d", "--memory-limit", "33554432"},
		"sh", "-c", "while [ ! -e /tmp/"+id+" ]; do sleep 0.1; done; x=0123456789abcdef; while :; do x=$x$x; done")...)
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !eventually(30*time.Second, func() bool { _, s := h.task(t, id); return s == "STOPPED" }) {
		_, s := h.task(t, id)
		t.Errorf("task ls: %s, want STOPPED once over its 32 MiB limit", s)
	}
	if !eventually(10*time.Second, func() bool { return hasOOMEvent(buf.String(), id) }) {
		t.Errorf("no /tasks/oom event for %s; events:\n%s", id, buf.String())
	}
	r := h.ctr(t, "task", "delete", id)
	if !strings.Contains(r.stderr, "exit code 137") {
		t.Errorf("task delete: %s, want a warning of exit code 137 (OOM kill)", r)
	}
	h.ctrOK(t, "container", "rm", id)
}

func hasOOMEvent(events, id string) bool {
	for _, l := range strings.Split(events, "\n") {
		if strings.Contains(l, "/tasks/oom") && strings.Contains(l, id) {
			return true
		}
	}
	return false
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRunTerminal: `ctr run -t` on a pty: the task's stdio is a terminal of
// its own (the first of its devpts), sized as ours, and our keystrokes
// reach it.
func TestRunTerminal(t *testing.T) {
	id := "terminal"
	h.scenario(t, id)
	term, err := h.startOnTerminal(30, 90, h.runArgs(id, []string{"--rm", "-t"},
		"sh", "-c", waitForSize+`; tty; stty size; read line; echo "got:$line"; exit 4`)...)
	if err != nil {
		t.Fatal(err)
	}
	if term.waitFor("30 90", 30*time.Second) {
		if err := term.write("ping\r"); err != nil {
			t.Error(err)
		}
	}
	code, out, err := term.wait(30 * time.Second)
	if err != nil {
		t.Error(err)
	}
	if code != 4 {
		t.Errorf("ctr run -t: exit %d, want 4; screen %q", code, out)
	}
	for _, want := range []string{"/dev/pts/0", "30 90", "got:ping"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctr run -t: screen %q lacks %q", out, want)
		}
	}
}

// waitForSize waits until the task's terminal has a size: ctr sizes it
// only after the task has started, so an early `stty size` sees 0x0 (which
// busybox's stty reports on stderr, exiting 0).
const waitForSize = `while :; do s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "$s" != "0 0" ] && break; sleep 0.1; done`

// TestExecTerminal: `ctr task exec -t` into a running task gets a terminal
// of its own from the task's devpts.
func TestExecTerminal(t *testing.T) {
	id := "exec-terminal"
	h.scenario(t, id)
	h.ctrOK(t, h.runArgs(id, []string{"-d"}, "sleep", "1000")...)
	term, err := h.startOnTerminal(25, 70, "task", "exec", "-t", "--exec-id", "tty", "--fifo-dir", h.fifoDir, id,
		"sh", "-c", waitForSize+"; tty; stty size; exit 6")
	if err != nil {
		t.Fatal(err)
	}
	code, out, err := term.wait(30 * time.Second)
	if err != nil {
		t.Error(err)
	}
	if code != 6 {
		t.Errorf("ctr task exec -t: exit %d, want 6; screen %q", code, out)
	}
	if !regexp.MustCompile(`/dev/pts/\d+`).MatchString(out) || !strings.Contains(out, "25 70") {
		t.Errorf("ctr task exec -t: screen %q, want /dev/pts/N and 25 70", out)
	}
	h.ctrOK(t, "task", "kill", "--signal", "SIGKILL", id)
	if !eventually(10*time.Second, func() bool { _, s := h.task(t, id); return s == "STOPPED" }) {
		t.Errorf("task not STOPPED after kill")
	}
	h.ctr(t, "task", "delete", id)
	h.ctrOK(t, "container", "rm", id)
}

// task is the pid and status `ctr task ls` gives id ("" when not listed).
func (x *harness) task(t *testing.T, id string) (int, string) {
	t.Helper()
	for _, l := range strings.Split(x.ctrOK(t, "task", "ls"), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid, f[2]
		}
	}
	return 0, ""
}

func (x *harness) psPids(t *testing.T, id string) []int {
	t.Helper()
	var pids []int
	for _, l := range strings.Split(x.ctrOK(t, "task", "ps", id), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

func containsInt(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

// procCgroups maps each controller of /proc/PID/cgroup (and "" for the
// cgroup2 line) to its path.
func procCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// frozen reports whether pid's cgroup is frozen by either freezer: the v1
// freezer controller or cgroup2's cgroup.freeze.
func frozen(t *testing.T, pid int) bool {
	t.Helper()
	cg := procCgroups(t, pid)
	for _, m := range h.cgroupMounts {
		base := filepath.Base(m)
		switch {
		case h.cgroupV2Only || base == "unified":
			b, _ := os.ReadFile(filepath.Join(m, cg[""], "cgroup.events"))
			if strings.Contains(string(b), "frozen 1") {
				return true
			}
		case base == "freezer":
			b, _ := os.ReadFile(filepath.Join(m, cg["freezer"], "freezer.state"))
			if strings.TrimSpace(string(b)) == "FROZEN" {
				return true
			}
		}
	}
	return false
}

type metrics struct{ memoryUsage, memoryLimit, cpuUsage, pids uint64 }

func readCgroupFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
	}
	return strings.TrimSpace(string(b))
}

// parseMetrics reads `ctr task metrics --format json`: the cgroup v1
// Metrics shape on a v1 or hybrid host, the v2 shape on a cgroup2 host.
func parseMetrics(s string) (metrics, error) {
	var raw struct {
		Pids struct {
			Current uint64 `json:"current"`
		} `json:"pids"`
		CPU struct {
			Usage     json.RawMessage `json:"usage"`
			UsageUsec uint64          `json:"usage_usec"`
		} `json:"cpu"`
		Memory struct {
			Usage      json.RawMessage `json:"usage"`
			UsageLimit uint64          `json:"usage_limit"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return metrics{}, err
	}
	m := metrics{pids: raw.Pids.Current, cpuUsage: raw.CPU.UsageUsec}
	var v1cpu struct {
		Total uint64 `json:"total"`
	}
	if len(raw.CPU.Usage) > 0 && json.Unmarshal(raw.CPU.Usage, &v1cpu) == nil {
		m.cpuUsage = v1cpu.Total
	}
	var v1mem struct {
		Usage uint64 `json:"usage"`
		Limit uint64 `json:"limit"`
	}
	m.memoryLimit = raw.Memory.UsageLimit
	if len(raw.Memory.Usage) > 0 {
		if json.Unmarshal(raw.Memory.Usage, &v1mem) == nil {
			m.memoryUsage, m.memoryLimit = v1mem.Usage, v1mem.Limit
		} else if err := json.Unmarshal(raw.Memory.Usage, &m.memoryUsage); err != nil {
			return m, fmt.Errorf("memory.usage: %w", err)
		}
	}
	return m, nil
}

// TestUserNamespace: `ctr run --uidmap/--gidmap` gives the container a
// user namespace of its own: its root, and a process `ctr task exec` runs
// in it, are the mapped id on the host.
func TestUserNamespace(t *testing.T) {
	id := "userns"
	h.scenario(t, id)
	// The mapped root sets the container up: it must reach the rootfs.
	if err := os.Chmod(h.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(h.dir, 0o700)
	// ctr's --uidmap applies to image snapshots only: the mappings go in
	// through a spec of ctr's own making (ctr oci spec), given whole.
	r := h.ctr(t, "oci", "spec")
	var spec map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &spec); err != nil {
		t.Fatalf("ctr oci spec: %v (%s)", err, r)
	}
	linux := spec["linux"].(map[string]any)
	linux["namespaces"] = append(linux["namespaces"].([]any), map[string]any{"type": "user"})
	m := []map[string]any{{"containerID": 0, "hostID": 100000, "size": 65536}}
	linux["uidMappings"], linux["gidMappings"] = m, m
	spec["process"].(map[string]any)["args"] = []string{"sleep", "1000"}
	spec["process"].(map[string]any)["env"] = []string{"PATH=/bin"}
	spec["root"] = map[string]any{"path": h.rootfs}
	linux["cgroupsPath"] = h.cgroupPath(id)
	body, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(h.dir, "tmp", "userns-config.json")
	if err := os.WriteFile(cfg, body, 0o644); err != nil {
		t.Fatal(err)
	}
	h.ctrOK(t, "run", "--config", cfg, "--runc-binary", h.wrapper, "--runc-root", h.runcRoot, "--fifo-dir", h.fifoDir, "-d", id)
	defer func() {
		h.ctr(t, "task", "kill", "--signal", "SIGKILL", id)
		eventually(30*time.Second, func() bool { _, s := h.task(t, id); return s == "STOPPED" || s == "" })
		h.ctr(t, "task", "delete", id)
		h.ctr(t, "container", "rm", id)
	}()
	if !eventually(30*time.Second, func() bool { _, s := h.task(t, id); return s == "RUNNING" }) {
		t.Fatal("task never RUNNING")
	}
	pid, _ := h.task(t, id)
	want := "0 100000 65536"
	for who, r := range map[string]result{
		"container": {stdout: readFile(t, fmt.Sprintf("/proc/%d/uid_map", pid))},
		"exec":      h.ctr(t, "task", "exec", "--exec-id", "uidmap", id, "cat", "/proc/self/uid_map"),
	} {
		if got := strings.Join(strings.Fields(r.stdout), " "); got != want {
			t.Errorf("%s: uid_map %q, want %q (%s)", who, got, want, r)
		}
	}
	if uid := statusUID(t, pid); uid != "100000" {
		t.Errorf("the container's process is uid %s on the host, want 100000", uid)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// statusUID is the real uid of pid on the host.
func statusUID(t *testing.T, pid int) string {
	t.Helper()
	for _, l := range strings.Split(readFile(t, fmt.Sprintf("/proc/%d/status", pid)), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}
