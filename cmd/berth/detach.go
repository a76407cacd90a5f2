package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/internal/logs"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// A detached task runs under a supervisor: this same binary, re-executed as
// `berth run --supervise ...` in a new session with no terminal. It launches
// the task, reports on fd 3 (reportFD), reaps the task and records its exit
// in the state file. The CLI that started it prints the id and exits.
const reportFD = 3

// launchReport is the supervisor's one message to the CLI.
type launchReport struct {
	ID    string `json:"id"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// runDetached starts the supervisor and waits for its launch report.
func runDetached(g *globals, f *runFlags, argv []string) int {
	id := f.id
	if id == "" {
		id = executor.NewID()
	}
	// A Ctrl-C while the supervisor launches must not leave a task running
	// whose id was never printed: wait for the report, then undo the
	// launch.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	r, w, err := os.Pipe()
	if err != nil {
		return fail(exitBerth, fmt.Errorf("run -d: %w", err))
	}
	// The supervisor runs from "/": hand it absolute paths.
	paths := []*string{&g.stateDir, &f.rootfs, &f.stdout, &f.stderr}
	if f.seccomp != "unconfined" {
		paths = append(paths, &f.seccomp)
	}
	for _, p := range paths {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return fail(exitUsage, fmt.Errorf("run -d: %w", err))
			}
			*p = abs
		}
	}
	args := []string{"--state-dir", g.stateDir, "--cgroup-parent", g.cgroupParent, "--log-level", g.logLevel,
		"run", "--supervise", "--id", id}
	args = append(append(append(args, f.argv()...), "--"), argv...)
	sup := exec.Command("/proc/self/exe", args...)
	sup.Args[0] = "berth"
	sup.ExtraFiles = []*os.File{w}
	// A session of its own: no controlling terminal, and the shell's
	// job-control signals (Ctrl-C, hangup) do not reach it.
	sup.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = sup.Start()
	w.Close()
	if err != nil {
		r.Close()
		return fail(exitBerth, fmt.Errorf("run -d: start supervisor: %w", err))
	}
	var rep launchReport
	derr := json.NewDecoder(r).Decode(&rep)
	r.Close()
	select {
	case sig := <-sigs:
		if derr == nil && rep.Error == "" {
			if err := g.store().Delete(rep.ID, true); err != nil {
				return fail(exitBerth, fmt.Errorf("run -d: interrupted, and removing task %s: %w", rep.ID, err))
			}
		}
		_, _ = sup.Process.Wait()
		return fail(128+int(sig.(syscall.Signal)), fmt.Errorf("run -d: interrupted by %v; the task was not left running", sig))
	default:
	}
	if derr != nil {
		// No report: the supervisor died before it could tell. Reap it
		// so it is not left a zombie, and say how it ended.
		state, _ := sup.Process.Wait()
		return fail(exitBerth, fmt.Errorf("run -d: supervisor exited without a report (%v)", state))
	}
	_ = sup.Process.Release()
	if rep.Error != "" {
		return fail(rep.Code, errors.New(rep.Error))
	}
	fmt.Println(rep.ID)
	return 0
}

// supervise is the supervisor's side: launch, report, wait.
func supervise(g *globals, f *runFlags, cmd *executor.Command) int {
	rep := os.NewFile(reportFD, "report")
	send := func(r launchReport) {
		_ = json.NewEncoder(rep).Encode(&r)
		rep.Close()
	}
	// The supervisor's own stdio is /dev/null; the task's is too unless
	// --stdout/--stderr named files.
	cmd.Stdin = nil
	if f.stdout == "" {
		cmd.Stdout = nil
	}
	if f.stderr == "" {
		cmd.Stderr = nil
	}
	// What goes to neither file is kept in the task's state dir, for
	// `berth logs`; the reaper keeps it bounded.
	cmd.Logs = true
	// SIGINT and SIGHUP are caught, not ignored: an ignored signal stays
	// ignored across execve, into the task.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)

	// The supervisor lives as long as the task: it must not hold the
	// directory it was started from (and its mount) busy. Relative paths
	// were resolved by the CLI already.
	if err := os.Chdir("/"); err != nil {
		g.log.Warn("chdir /", "error", err)
	}
	e := executor.New(executor.Config{StateDir: g.stateDir, CgroupParent: g.cgroupParent, Logger: g.log,
		KeepState: true, ExternalReaper: true})
	ps, err := e.Launch(cmd)
	if err != nil {
		code := exitCodeFor(err)
		send(launchReport{ID: cmd.ID, Error: err.Error(), Code: code})
		return code
	}
	// The supervisor idles for the task's whole life: it execs itself into
	// a reaper, a fresh image that waits for the task with only its pid in
	// hand, so none of the launch stays resident. The task stays its child
	// across the exec. The lean reaper is berth-init (beside berth), which
	// hands over to this binary, through an fd of it, once there is more
	// to do than wait: when the task has exited, or on SIGTERM.
	//
	// The reaper sends the launch report (on fd 3, kept open across the
	// exec) once it handles SIGTERM: from the moment `run -d` prints the
	// id, a SIGTERM to the supervisor stops the task, never ends the
	// supervisor between two images and leaves the task unreaped.
	rargs := []string{g.stateDir, g.cgroupParent, g.logLevel, cmd.ID, strconv.Itoa(ps.Pid), f.stopSignal, f.grace.String()}
	// The launch marked every inherited fd close-on-exec: keep the report
	// pipe open for the reaper.
	if _, err := unix.FcntlInt(uintptr(reportFD), unix.F_SETFD, 0); err != nil {
		g.log.Warn("keep the report pipe open", "error", err)
	}
	if init := executor.FindInit(""); init != "/proc/self/exe" {
		if self, err := os.Open("/proc/self/exe"); err == nil {
			if _, err := unix.FcntlInt(self.Fd(), unix.F_SETFD, 0); err == nil {
				err = syscall.Exec(init, append([]string{reaperArg0, strconv.Itoa(int(self.Fd())), strconv.Itoa(reportFD)}, rargs...), os.Environ())
				g.log.Warn("exec lean reaper", "path", init, "error", err)
			}
			self.Close()
		}
	}
	err = syscall.Exec("/proc/self/exe", append(append([]string{reaperArg0}, rargs...), "report:"+strconv.Itoa(reportFD)), os.Environ())
	// Only a failed exec gets here: reap in this image instead.
	g.log.Warn("exec reaper", "error", err)
	send(launchReport{ID: cmd.ID, Pid: ps.Pid})
	return reap(executor.NewStore(g.stateDir, g.cgroupParent, g.log), cmd.ID, ps.Pid, f.stopSignal, f.grace, sigs, false)
}

// reaperArg0 is argv[0] of a supervisor that exec'd itself to reap.
const reaperArg0 = "berth-reaper"

// reaperMain is the reaper image: argv is state dir, cgroup parent, log
// level, id, pid, stop signal, grace, and a mode: "report:FD" (exec'd by
// the supervisor: send the launch report on FD once SIGTERM is handled,
// then reap), or from the lean reaper (berth-init) "stop" (it got SIGTERM:
// stop the task, then reap it) or "exited:STATUS" (it reaped the task with
// that wait status: finish it).
func reaperMain(args []string) int {
	if len(args) != 7 && len(args) != 8 {
		return fail(exitBerth, fmt.Errorf("reaper: want 7 or 8 arguments, got %d", len(args)))
	}
	pid, err := strconv.Atoi(args[4])
	if err != nil {
		return fail(exitBerth, fmt.Errorf("reaper: pid %q: %w", args[4], err))
	}
	grace, err := time.ParseDuration(args[6])
	if err != nil {
		return fail(exitBerth, fmt.Errorf("reaper: grace %q: %w", args[6], err))
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "berth", Level: hclog.LevelFromString(args[2]), Output: os.Stderr})
	store := executor.NewStore(args[0], args[1], log)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	// The reaper names itself once it handles SIGTERM: until then (the
	// milliseconds of its own start) a SIGTERM ends it, leaving the task to
	// the verbs. /proc/PID/comm tells the two apart.
	// The main thread's name is the process's (the comm a ps shows).
	_ = os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", os.Getpid()), []byte(reaperArg0), 0)
	stopNow := false
	if len(args) == 8 {
		mode := args[7]
		switch {
		case mode == "stop":
			stopNow = true
		case strings.HasPrefix(mode, "report:"):
			fd, err := strconv.Atoi(strings.TrimPrefix(mode, "report:"))
			if err != nil || fd < 3 {
				return fail(exitBerth, fmt.Errorf("reaper: report fd %q", mode))
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
				rep := os.NewFile(uintptr(fd), "report")
				_ = json.NewEncoder(rep).Encode(&launchReport{ID: args[3], Pid: pid})
				rep.Close()
			}
		case strings.HasPrefix(mode, "exited:"):
			ws, err := strconv.Atoi(strings.TrimPrefix(mode, "exited:"))
			if err != nil {
				return fail(exitBerth, fmt.Errorf("reaper: status %q: %w", mode, err))
			}
			st, err := store.Finish(args[3], pid, syscall.WaitStatus(ws))
			if st == nil {
				return fail(exitBerth, err)
			}
			return st.ExitCode
		default:
			return fail(exitBerth, fmt.Errorf("reaper: mode %q: want stop or exited:STATUS", mode))
		}
	}
	go func() {
		if err := logs.Watch(filepath.Join(args[0], args[3]), make(chan struct{})); err != nil {
			log.Warn("keep the task's logs bounded", "error", err)
		}
	}()
	return reap(store, args[3], pid, args[5], grace, sigs, stopNow)
}

// reap waits for the task and records its end; SIGTERM to the supervisor
// (or stopNow: the lean reaper got it) stops the task with its stop signal
// and grace.
func reap(store *executor.Store, id string, pid int, stopSignal string, grace time.Duration, sigs <-chan os.Signal, stopNow bool) int {
	go func() {
		if !stopNow {
			<-sigs
		}
		_ = store.Stop(id, stopSignal, grace)
	}()
	st, err := store.Reap(id, pid)
	if st == nil {
		return fail(exitBerth, err)
	}
	return st.ExitCode
}

// argv rebuilds run's flags for the supervisor (without -d).
func (f *runFlags) argv() []string {
	var a []string
	str := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name, v)
		}
	}
	list := func(name string, vs []string) {
		for _, v := range vs {
			a = append(a, "--"+name, v)
		}
	}
	str("rootfs", f.rootfs)
	str("cwd", f.cwd)
	str("user", f.user)
	str("hostname", f.hostname)
	list("env", f.env)
	list("mount", f.mounts)
	list("cap-add", f.capAdd)
	list("cap-drop", f.capDrop)
	str("pid", f.pid.value)
	str("ipc", f.ipc.value)
	str("net", f.net.value)
	str("memory", f.memory)
	str("memory-swap", f.memorySwap)
	if f.cpuShares != 0 {
		str("cpu-shares", strconv.FormatUint(f.cpuShares, 10))
	}
	if f.cpus != 0 {
		str("cpus", strconv.FormatFloat(f.cpus, 'g', -1, 64))
	}
	str("cpuset", f.cpuset)
	if f.pidsLimit != 0 {
		str("pids-limit", strconv.FormatInt(f.pidsLimit, 10))
	}
	str("stop-signal", f.stopSignal)
	str("grace", f.grace.String())
	str("stdout", f.stdout)
	str("stderr", f.stderr)
	str("seccomp", f.seccomp)
	list("ulimit", f.ulimits)
	return a
}

// checkReportPipe refuses --supervise run by hand: the supervisor reports
// to `run -d` on the write end of a pipe at fd 3, and without one there is
// nobody to tell the task's id to.
func checkReportPipe() error {
	var st unix.Stat_t
	err := unix.Fstat(reportFD, &st)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
		fl, ferr := unix.FcntlInt(reportFD, unix.F_GETFL, 0)
		if ferr == nil && fl&unix.O_ACCMODE == unix.O_WRONLY {
			return nil
		}
	}
	return errors.New("--supervise is internal to run -d: it needs run -d's report pipe on fd 3")
}
