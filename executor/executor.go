// Package executor launches and controls one isolated task: the public API
// of berth. A program that uses it must call nsinit.Init first thing in its
// main (see package nsinit): the executor re-executes the program's own
// binary as the task's init stage.
package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berthrun/berth/stats"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Version is berth's version.
const Version = "0.1.0"

// DefaultStateDir holds a directory per task.
const DefaultStateDir = "/run/berth"

// DefaultCgroupParent is the cgroup every task's cgroup is created under.
const DefaultCgroupParent = "berth"

// Config is shared by every task an Executor runs.
type Config struct {
	// StateDir holds <id>/ for each task (and the default task dir inside
	// it); DefaultStateDir when empty.
	StateDir string
	// CgroupParent is the parent of every task cgroup; "berth" when empty.
	CgroupParent string
	// CgroupPath, when set, is the task's cgroup itself, in place of
	// <CgroupParent>/<id> (cgroup.Config.Path; OCI's linux.cgroupsPath):
	// "/a/b" below the root of every hierarchy, "a/b" below the launching
	// process's own cgroup. Missing parents are created and removed with
	// the task once empty. The state records where it went, so every
	// later verb finds it.
	CgroupPath string
	// CgroupVersion forces 1 or 2; 0 detects.
	CgroupVersion int
	// CgroupV2Mount overrides where cgroup2 is mounted.
	CgroupV2Mount string
	// CgroupV1Controllers are v1 controllers every task joins on v1 and
	// hybrid hosts, limits or not (cgroup.Config.V1Controllers): for a
	// monitor that reads them, as containerd's runc shim reads metrics and
	// OOM events. Each join costs a launch several ms.
	CgroupV1Controllers []string
	// CgroupSharedParent says CgroupParent holds cgroups other than
	// berth's (cgroup.Config.SharedParent): each task gets its own device
	// program instead of one on the parent.
	CgroupSharedParent bool
	// InitPath is the init binary, started as the init stage of every task
	// and as the helper of every exec. When empty: berth-init beside the
	// running executable, else the running executable itself
	// (/proc/self/exe), which must then call nsinit.Init first thing in
	// main. Either way it must come from the same berth build: the two
	// refuse each other's protocol otherwise.
	InitPath string
	// KillWithParent has the kernel SIGKILL the task's main process when the
	// process that launched it dies (PR_SET_PDEATHSIG), so a foreground CLI
	// killed outright does not leave its task running.
	KillWithParent bool
	// KeepState keeps <state-dir>/<id>/state.json after the task exits,
	// recording how it ended, until Store.Delete removes it (detached
	// tasks). Without it the state goes with the task.
	KeepState bool
	// ExternalReaper leaves the reaping of the task to the caller: Launch
	// returns without starting to wait for it, and Wait, Signal and
	// Shutdown are not available. A supervisor uses it to exec itself into
	// a lean image that calls Store.Reap (its children stay its children
	// across execve), so that nothing of the launch stays resident while
	// the task runs.
	ExternalReaper bool
	// SetupTimeout bounds the init stage's setup; 30s when zero.
	SetupTimeout time.Duration
	Logger       hclog.Logger
}

// Executor runs one task, like a Nomad executor: Launch it once, then Wait,
// Signal or Shutdown it.
type Executor struct {
	cfg Config
	log hclog.Logger

	mu   sync.Mutex
	task *task // nil before Launch

	// attached is a task another process launched (Reattach).
	attached *attachment
	// tracker keeps the previous stats reading of the task.
	tracker *stats.Tracker

	done chan struct{} // closed when the task has exited and is cleaned up
	exit *ProcessState
	err  error // cleanup error after exit
}

// New returns an Executor for one task.
func New(cfg Config) *Executor {
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if abs, err := filepath.Abs(cfg.StateDir); err == nil {
		cfg.StateDir = abs
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	cfg.InitPath = findInit(cfg.InitPath)
	if cfg.SetupTimeout == 0 {
		cfg.SetupTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Executor{cfg: cfg, log: log, done: make(chan struct{})}
}

// VersionInfo is what Version reports.
type VersionInfo struct {
	Version string `json:"version"`
}

// Version reports berth's version.
func (e *Executor) Version() (*VersionInfo, error) {
	return &VersionInfo{Version: Version}, nil
}

// ID is the task's id, empty before Launch.
func (e *Executor) ID() string {
	if e.attached != nil {
		return e.attached.id
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.task == nil {
		return ""
	}
	return e.task.id
}

// Pid is the task's main process id on the host, 0 before Launch.
func (e *Executor) Pid() int {
	if e.attached != nil {
		return e.attached.state.Pid
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.task == nil {
		return 0
	}
	return e.task.pid
}

// Wait blocks until the task has exited and berth has cleaned up after it
// (leftover processes killed, cgroup and task dir removed), or ctx ends.
func (e *Executor) Wait(ctx context.Context) (*ProcessState, error) {
	if e.attached != nil {
		return e.attached.wait(ctx)
	}
	e.mu.Lock()
	started := e.task != nil
	e.mu.Unlock()
	if !started {
		return nil, ErrNotRunning
	}
	if e.cfg.ExternalReaper {
		return nil, errExternalReaper
	}
	select {
	case <-e.done:
		return e.exit, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errExternalReaper = errors.New("the task is reaped outside this executor (Config.ExternalReaper): use Store")

// Signal sends sig to the task's main process. It goes through the pidfd
// Go holds for the process, so a recycled pid is never signalled.
func (e *Executor) Signal(sig os.Signal) error {
	if e.attached != nil {
		s, ok := sig.(syscall.Signal)
		if !ok {
			return fmt.Errorf("signal %v: not a system signal", sig)
		}
		return e.attached.store.Kill(e.attached.id, s, false)
	}
	e.mu.Lock()
	t := e.task
	e.mu.Unlock()
	if t == nil || e.exited() {
		return ErrNotRunning
	}
	if e.cfg.ExternalReaper {
		return errExternalReaper
	}
	return t.proc.Signal(sig)
}

func (e *Executor) exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// Shutdown stops the task: it sends signal (SIGINT when empty and grace is
// positive) to the main process, waits up to grace for it to exit, then
// kills every process left in the task's cgroup. With a zero grace it kills
// at once. It returns once the task has exited and been cleaned up.
func (e *Executor) Shutdown(signal string, grace time.Duration) error {
	if e.attached != nil {
		if signal == "" && grace > 0 {
			signal = "SIGINT"
		}
		if err := e.attached.store.Stop(e.attached.id, signal, grace); err != nil {
			return err
		}
		_, err := e.attached.wait(context.Background())
		return err
	}
	e.mu.Lock()
	t := e.task
	e.mu.Unlock()
	if t == nil {
		return ErrNotRunning
	}
	if e.cfg.ExternalReaper {
		return errExternalReaper
	}
	if signal == "" && grace > 0 {
		signal = "SIGINT"
	}
	if signal != "" {
		sig, err := ParseSignal(signal)
		if err != nil {
			return err
		}
		if grace > 0 && !e.exited() {
			if err := t.proc.Signal(sig); err != nil && !e.exited() {
				e.log.Debug("stop signal not delivered", "id", t.id, "error", err)
			}
			timer := time.NewTimer(grace)
			select {
			case <-e.done:
			case <-timer.C:
			}
			timer.Stop()
		}
	}
	if !e.exited() {
		if err := t.killAll(); err != nil {
			return err
		}
	}
	<-e.done
	return e.err
}

// Exec runs a command inside the running task and returns its combined
// output (the last 4 KiB, as a health check keeps it) and exit code. Past
// the deadline the command and everything it started are killed and the
// error wraps ErrExecTimeout. A zero deadline means none.
func (e *Executor) Exec(deadline time.Time, name string, args []string) ([]byte, int, error) {
	out := &tailBuffer{max: execOutputMax}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	ps, err := e.ExecStream(ctx, &ExecCommand{Cmd: name, Args: args, Stdout: out, Stderr: out})
	code := -1
	if ps != nil {
		code = ps.ExitCode
	}
	return out.Bytes(), code, err
}

// ExecStream runs c inside the running task with its streams connected and
// returns how it ended. When ctx ends first, the command and everything it
// started are killed (ErrExecTimeout past a deadline). Whatever the command
// leaves running when it exits is killed too.
func (e *Executor) ExecStream(ctx context.Context, c *ExecCommand) (*ProcessState, error) {
	if e.attached != nil {
		return e.attached.store.Exec(ctx, e.attached.id, c)
	}
	t, err := e.running()
	if err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(t.pid, 0)
	if err != nil {
		return nil, ErrNotRunning
	}
	defer unix.Close(fd)
	// Opened before the task was reaped, the pidfd is the task's; after,
	// the pid may be another process's: check it is still the task.
	if e.exited() || !alive(t.pid, t.state.PidStartTime) {
		return nil, ErrNotRunning
	}
	return runExec(ctx, &execTarget{id: t.id, pid: t.pid, pidfd: fd, cg: t.cg, settings: t.exec, initPath: e.cfg.InitPath,
		timeout: e.cfg.SetupTimeout, pdeath: e.cfg.KillWithParent, log: e.log}, c)
}

// UpdateResources changes the running task's limits; zero fields are left
// as they are.
func (e *Executor) UpdateResources(r *Resources) error {
	if e.attached != nil {
		return e.attached.store.Update(e.attached.id, *r)
	}
	t, err := e.running()
	if err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	return t.withCgroup(func() error { return t.cg.Update(*r) })
}

// Pause freezes every process of the task.
func (e *Executor) Pause() error {
	if e.attached != nil {
		return e.attached.store.Pause(e.attached.id)
	}
	t, err := e.running()
	if err != nil {
		return err
	}
	return t.withCgroup(t.cg.Freeze)
}

// Resume thaws the task.
func (e *Executor) Resume() error {
	if e.attached != nil {
		return e.attached.store.Resume(e.attached.id)
	}
	t, err := e.running()
	if err != nil {
		return err
	}
	return t.withCgroup(t.cg.Thaw)
}

func (e *Executor) running() (*task, error) {
	e.mu.Lock()
	t := e.task
	e.mu.Unlock()
	if t == nil || e.exited() {
		return nil, ErrNotRunning
	}
	if e.cfg.ExternalReaper {
		return nil, errExternalReaper
	}
	return t, nil
}

// CgroupPaths maps each hierarchy to the task's cgroup directory.
func (e *Executor) CgroupPaths() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.task == nil {
		return nil
	}
	return e.task.cg.Paths()
}
