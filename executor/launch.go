package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/internal/logs"
	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// task is a launched task's parent-side resources.
type task struct {
	id     string
	dir    string // <state-dir>/<id>
	root   string // where the child finds the task dir
	rootfs string // the caller's task dir; "" for the default one
	proc   *os.Process
	pid    int
	reaped bool // proc was waited for: cleanup must not wait again
	// forkThread, when not nil, holds the thread that started the task
	// (it joined a pid namespace) until cleanup closes it: with
	// KillWithParent, the task dies with that thread.
	forkThread chan struct{}
	// hostRoot, with a task sharing the host's mount namespace, is its
	// task dir, and hostBase the id of the mount on top of it before the
	// task's: cleanup takes off what is above.
	hostRoot string
	hostBase uint64
	created  time.Time
	// state is what state.json says; keep writes the final state there
	// when the task ends instead of removing it.
	state *State
	keep  bool

	// cgMu orders kills against the removal of the cgroup: a Shutdown
	// racing the task's own exit must not kill into a deleted cgroup.
	cgMu      sync.Mutex
	cg        *cgroup.Manager
	cgDeleted bool

	streams
	// exec is what an exec into the task takes on from it; execWritten is
	// closed once it is on disk.
	exec        *execSettings
	execWritten chan struct{}
	// logDir holds the task's logs (Command.Logs), "" when it has none.
	logDir string
}

// closeOnExecOnce marks every fd this process inherited close-on-exec, once:
// an fd the embedding program inherited without the flag would otherwise
// leak into every init stage (the child closes them again before execve).
var closeOnExecOnce sync.Once

// Launch starts the task and returns once it runs its command: the init
// stage reported every setup step done and its execve succeeded. On any
// failure it kills what it started and removes the cgroup, task dir and
// state before returning; a failed setup step is a *SetupError.
func (e *Executor) Launch(cmd *Command) (*ProcessState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attached != nil {
		return nil, fmt.Errorf("launch: this executor is attached to task %q", e.attached.id)
	}
	if e.task != nil {
		return nil, fmt.Errorf("launch: this executor already launched task %q", e.task.id)
	}
	s, err := check(cmd)
	if err != nil {
		return nil, err
	}
	closeOnExecOnce.Do(func() { _ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) })

	t := &task{id: s.id, dir: filepath.Join(e.cfg.StateDir, s.id), root: s.root, rootfs: s.root, created: time.Now()}
	if err := os.MkdirAll(e.cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := os.Mkdir(t.dir, 0o700); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		if err := e.reclaim(s.id); err != nil {
			return nil, err
		}
		if err := os.Mkdir(t.dir, 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	if err := e.start(t, s, cmd); err != nil {
		if cerr := t.cleanup(func(string) {}); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	e.task = t
	e.log.Debug("task started", "id", t.id, "pid", t.pid, "root", t.root)
	if e.cfg.ExternalReaper {
		// The caller execs itself next: nothing of this process's may be
		// left half done.
		t.settle()
		t.cg.Close()
		return &ProcessState{Pid: t.pid, Time: t.created}, nil
	}
	go e.reap(t)
	return &ProcessState{Pid: t.pid, Time: t.created}, nil
}

// start does the launch proper; the caller cleans up when it fails.
func (e *Executor) start(t *task, s *spec, cmd *Command) error {
	mark := stopwatch(e.log, t.id, "launch step")
	if s.defaultRoot {
		// The child mounts a tmpfs over the task's state dir, in its own
		// mount namespace, and builds the task dir there.
		t.root = t.dir
		s.plan.RootTmpfs = true
	}
	s.plan.Root = t.root
	s.plan.KillWithParent = e.cfg.KillWithParent
	if cmd.Isolation.Mount == ModeHost {
		base, err := mountID(t.root)
		if err != nil {
			return err
		}
		t.hostRoot, t.hostBase = t.root, base
		s.plan.HostMountNS = true
	}
	bindHostCgroup2(s.plan, s.cloneFlags)
	mark("task dir")

	cg, err := cgroup.New(cgroup.Config{
		Parent:    e.cfg.CgroupParent,
		ID:        t.id,
		Path:      e.cfg.CgroupPath,
		Resources: cmd.Resources,
		Devices:   s.devices,
		Version:   e.cfg.CgroupVersion,
		V2Mount:   e.cfg.CgroupV2Mount,

		V1Controllers: e.cfg.CgroupV1Controllers,
		SharedParent:  e.cfg.CgroupSharedParent,
	}, e.log)
	if err != nil {
		return err
	}
	t.cg = cg
	mark("cgroup")

	var stdio []*os.File
	if cmd.Terminal {
		stdio, err = t.devNullStdio()
	} else {
		stdout, stderr := cmd.Stdout, cmd.Stderr
		if cmd.Logs {
			if stdout == nil {
				if stdout, err = t.logFile(logs.Stdout); err != nil {
					return err
				}
			}
			if stderr == nil {
				if stderr, err = t.logFile(logs.Stderr); err != nil {
					return err
				}
			}
		}
		stdio, err = t.stdio(cmd.Stdin, stdout, stderr)
	}
	if err != nil {
		return err
	}
	conn, childSock, err := syncPair()
	if err != nil {
		return err
	}
	defer conn.Close()
	rcv := nsinit.NewReceiver(conn)
	defer rcv.Close()

	// A session of its own: the task has no controlling terminal (a -t
	// task's pty becomes one) and no signal sent to the caller's process
	// group or session reaches it, nor one it sends to its own reach the
	// caller's.
	sys := &syscall.SysProcAttr{Cloneflags: s.cloneFlags, Setsid: true}
	// Not with a pid namespace joined by path: the init stage arms it
	// itself (see nsinit's steps).
	if e.cfg.KillWithParent && cmd.Isolation.PIDPath == "" {
		sys.Pdeathsig = syscall.SIGKILL
	}
	userNSAttr(sys, cmd.Isolation)
	if fd, ok := cg.FD(); ok {
		// clone3(CLONE_INTO_CGROUP): the child is born in the task's
		// cgroup, so not one instruction of it runs outside.
		sys.UseCgroupFD = true
		sys.CgroupFD = fd
	}
	s.plan.Timings = e.log.IsTrace()
	s.plan.Terminal = cmd.Terminal
	s.plan.Size = cmd.TerminalSize
	files := append(stdio, childSock)
	joins, err := openNamespaces(cmd.Isolation)
	if err != nil {
		return err
	}
	defer func() {
		for _, j := range joins {
			j.file.Close()
		}
	}()
	if cmd.WaitForStart {
		gate, err := makeStartGate(t.dir)
		if err != nil {
			return err
		}
		defer gate.Close()
		files = append(files, gate) // nsinit.StartFD
		s.plan.StartGate = true
	}
	var pidNS *os.File
	for _, j := range joins {
		if j.typ == unix.CLONE_NEWPID {
			// Entered by the thread that starts the init stage: a pid
			// namespace is its children's.
			pidNS = j.file
			continue
		}
		s.plan.Join = append(s.plan.Join, nsinit.JoinNS{Fd: len(files), Type: j.typ})
		files = append(files, j.file)
	}
	files, selfJoined, closeJoins, err := handCgroupJoins(cg, s.plan, files)
	if err != nil {
		return err
	}
	defer closeJoins()
	for _, f := range cmd.ExtraFiles {
		s.plan.PreserveFDs = append(s.plan.PreserveFDs, len(files))
		files = append(files, f)
	}
	spawned := time.Now()
	attr := &os.ProcAttr{
		// One P is all the init stage needs: it runs its steps on one
		// locked thread, and fewer Ps mean fewer runtime threads to start.
		Env:   []string{"GOMAXPROCS=1"},
		Files: files,
		Sys:   sys,
	}
	initPath := e.cfg.InitPath
	bounding := s.plan.Caps
	if s.plan.CapSets != nil {
		bounding = s.plan.CapSets.Bounding
	}
	if needsSeal(bounding) {
		sealed, p, err := sealedInit(initPath)
		if err != nil {
			return err
		}
		defer sealed.Close()
		initPath = p
	}
	var proc *os.Process
	switch {
	case pidNS != nil:
		var release <-chan struct{}
		if e.cfg.KillWithParent {
			t.forkThread = make(chan struct{})
			release = t.forkThread
		}
		proc, err = startInPIDNS(initPath, attr, int(pidNS.Fd()), release)
	case e.cfg.KillWithParent:
		proc, err = startOnForkThread(initPath, attr)
	default:
		proc, err = os.StartProcess(initPath, []string{nsinit.InitArg0}, attr)
	}
	childSock.Close()
	t.closeChildFiles()
	if err != nil {
		return fmt.Errorf("start init stage %s: %w", e.cfg.InitPath, err)
	}
	t.proc, t.pid = proc, proc.Pid
	mark("spawn init stage")
	// Where clone3 could not place the child (cgroup v1 hierarchies), it
	// is moved in now, while it waits for its plan, before it runs any
	// task code; unless its exec thread joins them itself.
	if !selfJoined {
		if err := cg.Adopt(proc.Pid); err != nil {
			return err
		}
	}

	if err := conn.SetDeadline(time.Now().Add(e.cfg.SetupTimeout)); err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	if cmd.Hooks.State != nil {
		s.plan.HookState = string(cmd.Hooks.State(t.pid, StatusCreating))
		s.plan.StartHookState = string(cmd.Hooks.State(t.pid, StatusCreated))
	}
	if err := nsinit.SendPlan(conn, s.plan); err != nil {
		return err
	}
	mark("send plan")
	// Record the task while the init stage starts up (its Go runtime takes
	// milliseconds): on two or more CPUs this costs the launch nothing. If
	// the launch fails, cleanup removes it again.
	t.state = newState(t, &e.cfg, cmd)
	if err := writeState(t.dir, t.state); err != nil {
		return err
	}
	mark("state")
	var pause func() error
	if rt := cmd.Hooks.Runtime; rt != nil {
		pause = func() error {
			// The hooks take their time: the setup's deadline starts
			// again after them.
			err := rt(t.pid)
			if derr := conn.SetDeadline(time.Now().Add(e.cfg.SetupTimeout)); err == nil {
				err = derr
			}
			if err != nil {
				return err
			}
			_, err = conn.Write([]byte(nsinit.ResumeLine + "\n"))
			return err
		}
	}
	res, err := awaitSetup(rcv, mark, cmd.WaitForStart, pause)
	var se *SetupError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("init stage: setup did not finish within %s", e.cfg.SetupTimeout)
	case err != nil && !errors.As(err, &se) && res.ready == nil:
		if oom, _ := cg.OOMKilled(); oom {
			return fmt.Errorf("init stage: killed by the OOM killer during setup: the memory limit (%s) is too small to start the task",
				cgroup.FormatSize(cmd.Resources.MemoryBytes))
		}
		return fmt.Errorf("init stage: %w", err)
	case err != nil:
		return err
	}
	if e.log.IsTrace() && len(res.ready.Steps) > 0 {
		prev := spawned
		for _, st := range res.ready.Steps {
			at := time.Unix(0, st.At)
			e.log.Trace("init stage step", "id", t.id, "step", st.Name, "took", at.Sub(prev))
			prev = at
		}
	}
	if res.console != nil && cmd.ConsoleSocket != "" {
		err := sendConsole(cmd.ConsoleSocket, res.console)
		res.console.Close()
		if err != nil {
			return err
		}
	} else if res.console != nil {
		t.relayConsole(res.console, cmd.Stdin, cmd.Stdout, cmd.Resize)
	}
	// The exec settings go to disk while the task runs: the launch does
	// not wait for the write (this executor's own execs use them from
	// memory; Store.Exec waits for the file). cleanup waits for it before
	// it removes the state, and a supervisor before it execs.
	t.exec = newExecSettings(s, res.ready.User)
	t.execWritten = make(chan struct{})
	go func() {
		defer close(t.execWritten)
		if err := t.exec.write(t.dir); err != nil {
			e.log.Error("record exec settings: berth exec into this task will fail", "id", t.id, "error", err)
		}
	}()
	return nil
}

// logFile creates a log file in the task's state dir; the child gets it as
// it is (a file, not a pipe: nothing stands between the task and its
// output).
func (t *task) logFile(name string) (*os.File, error) {
	if t.logDir == "" {
		// A tmpfs of their own bounds them: the task holds a writable
		// fd of each (package logs).
		dir, err := logs.Mount(t.dir)
		if err != nil {
			return nil, err
		}
		t.logDir = dir
	}
	f, err := os.OpenFile(filepath.Join(t.logDir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	t.childFiles = append(t.childFiles, f)
	return f, nil
}

// settle waits for the exec settings' write started at launch.
func (t *task) settle() {
	if t.execWritten != nil {
		<-t.execWritten
	}
}

// reclaim frees the id of a task that crashed: its state says it runs, but
// neither it nor its supervisor is alive. Anything else holding the id is
// "already exists".
func (e *Executor) reclaim(id string) error {
	store := NewStore(e.cfg.StateDir, e.cfg.CgroupParent, e.log)
	dir := filepath.Join(e.cfg.StateDir, id)
	recorded, err := readState(dir)
	if err != nil {
		// Also what a launch racing this one for the id sees before the
		// winner wrote its state: advice to delete would kill the winner.
		return fmt.Errorf("task %q already exists (%s; its state is not readable: another launch may be under way, see berth list)", id, dir)
	}
	if recorded.Status == StatusStopped {
		return fmt.Errorf("task %q already exists (stopped; berth delete it first)", id)
	}
	if alive(recorded.SupervisorPid, recorded.SupervisorStartTime) {
		return fmt.Errorf("task %q already exists", id)
	}
	st, err := store.Get(id)
	if err != nil || st.Status != StatusStopped {
		return fmt.Errorf("task %q already exists", id)
	}
	e.log.Warn("reclaiming the id of a crashed task", "id", id)
	return store.purge(id, dir, st)
}

// stopwatch logs, at trace level, how long each launch step took: the
// breakdown the benchmarks report.
func stopwatch(log hclog.Logger, id, what string) func(step string) {
	if !log.IsTrace() {
		return func(string) {}
	}
	last := time.Now()
	return func(step string) {
		now := time.Now()
		log.Trace(what, "id", id, "step", step, "took", now.Sub(last))
		last = now
	}
}

// oneLine formats several errors on one line: callers print errors as a
// single "berth: " line.
func oneLine(errs []error) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func setupError(m *nsinit.Message) error {
	var errno error
	if m.Errno != 0 {
		errno = unix.Errno(m.Errno)
	}
	return &SetupError{Step: m.Step, Path: m.Path, Err: &childError{text: m.Text, errno: errno}}
}

// cloneFlags turns the isolation modes into clone(2) flags. A new mount
// namespace is always made: the task's mounts must never touch the host's.
func cloneFlags(iso Isolation) (uintptr, error) {
	flags := uintptr(unix.CLONE_NEWNS)
	switch iso.Mount {
	case "", ModePrivate:
	case ModeHost:
		flags = 0
	default:
		return 0, fmt.Errorf("mount mode %q: want %s or %s", iso.Mount, ModePrivate, ModeHost)
	}
	for _, ns := range []struct {
		name, mode string
		flag       uintptr
	}{
		{"pid", iso.PID, unix.CLONE_NEWPID},
		{"ipc", iso.IPC, unix.CLONE_NEWIPC},
		{"uts", iso.UTS, unix.CLONE_NEWUTS},
	} {
		switch ns.mode {
		case "", ModePrivate:
			flags |= ns.flag
		case ModeHost:
		default:
			return 0, fmt.Errorf("%s mode %q: want %s or %s", ns.name, ns.mode, ModePrivate, ModeHost)
		}
	}
	for _, j := range []struct{ name, path, mode string }{
		{"net", iso.NetPath, iso.Net}, {"ipc", iso.IPCPath, iso.IPC}, {"uts", iso.UTSPath, iso.UTS}, {"pid", iso.PIDPath, iso.PID},
	} {
		if j.path != "" && j.mode != "" {
			return 0, fmt.Errorf("%s path %q: given with %s mode %q: one or the other", j.name, j.path, j.name, j.mode)
		}
	}
	if iso.PIDPath != "" {
		flags &^= unix.CLONE_NEWPID
	}
	if iso.IPCPath != "" {
		flags &^= unix.CLONE_NEWIPC
	}
	if iso.UTSPath != "" {
		flags &^= unix.CLONE_NEWUTS
	}
	switch iso.Net {
	case "", ModeHost:
	case ModeNone:
		flags |= unix.CLONE_NEWNET
	default:
		return 0, fmt.Errorf("net mode %q: want %s or %s", iso.Net, ModeHost, ModeNone)
	}
	switch iso.Cgroup {
	case "", ModeHost:
	case ModePrivate:
		// Born into its cgroup (CLONE_INTO_CGROUP), the task's cgroup
		// namespace is rooted at its own cgroup.
		flags |= unix.CLONE_NEWCGROUP
	default:
		return 0, fmt.Errorf("cgroup mode %q: want %s or %s", iso.Cgroup, ModePrivate, ModeHost)
	}
	return flags, nil
}

// cleanup kills and removes everything of the task, in order: processes,
// cgroup, task dir, state. It keeps going past errors and returns them all.
func (t *task) cleanup(mark func(step string)) error {
	errs := &multierror.Error{ErrorFormat: oneLine}
	t.closeChildFiles()
	if t.proc != nil && !t.reaped {
		// Killing the init stage is enough before it execs; after, the
		// cgroup kill below gets the rest.
		_ = t.proc.Kill()
		_, _ = t.proc.Wait()
	}
	t.cgMu.Lock()
	if t.cg != nil && !t.cgDeleted {
		if err := t.cg.KillAll(); err != nil {
			errs = multierror.Append(errs, err)
		}
		mark("kill leftovers")
		if err := t.cg.Delete(); err != nil {
			errs = multierror.Append(errs, err)
		}
		mark("delete cgroup")
		t.cgDeleted = true
	}
	t.cgMu.Unlock()
	if t.forkThread != nil {
		close(t.forkThread)
		t.forkThread = nil
	}
	if t.hostRoot != "" {
		if err := unmountHostRoot(t.hostRoot, t.hostBase); err != nil {
			errs = multierror.Append(errs, err)
		}
		mark("host mounts")
	}
	t.copies.Wait()
	t.settle()
	if t.keep && t.state != nil {
		if err := writeState(t.dir, t.state); err != nil {
			errs = multierror.Append(errs, err)
		}
	} else if err := removeState(t.dir); err != nil {
		errs = multierror.Append(errs, err)
	}
	mark("state")
	return errs.ErrorOrNil()
}

// killAll kills every process in the task's cgroup unless the cgroup is
// already gone with the task.
func (t *task) killAll() error {
	t.cgMu.Lock()
	defer t.cgMu.Unlock()
	if t.cgDeleted {
		return nil
	}
	return t.cg.KillAll()
}

// withCgroup runs f on the task's cgroup unless it is already gone.
func (t *task) withCgroup(f func() error) error {
	t.cgMu.Lock()
	defer t.cgMu.Unlock()
	if t.cgDeleted {
		return ErrNotRunning
	}
	return f()
}

// reap waits for the main process, records how it ended, then kills what it
// left behind and removes the task.
func (e *Executor) reap(t *task) {
	ps, err := t.proc.Wait()
	st := &ProcessState{Pid: t.pid, Time: time.Now()}
	mark := stopwatch(e.log, t.id, "exit step")
	if err != nil {
		e.log.Error("wait for task", "id", t.id, "error", err)
		st.ExitCode = -1
	} else if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		st.setStatus(ws)
	}
	if oom, err := t.cg.OOMKilled(); err == nil {
		st.OOMKilled = oom
	}
	t.reaped = true
	if e.cfg.KeepState && t.state != nil {
		t.keep = true
		t.state.Status, t.state.ExitCode, t.state.Signal, t.state.OOMKilled = StatusStopped, st.ExitCode, st.Signal, st.OOMKilled
		t.state.Finished = &st.Time
	}
	mark("wait status")
	cerr := t.cleanup(mark)
	if cerr != nil {
		e.log.Error("clean up task", "id", t.id, "error", cerr)
	}
	e.exit, e.err = st, cerr
	e.log.Debug("task exited", "id", t.id, "exit_code", st.ExitCode, "signal", st.Signal)
	close(e.done)
}

// The parent-death signal fires when the thread that forked the child
// exits, not the process: a task forked on a thread that the runtime later
// ends (an exec ends its throwaway thread, onThrowawayThread) would be
// killed with it. With KillWithParent, tasks are forked on one thread that
// is locked for good and never ends.
var forkThread struct {
	once sync.Once
	reqs chan func()
}

// startOnForkThread starts the init stage from the fork thread.
func startOnForkThread(path string, attr *os.ProcAttr) (*os.Process, error) {
	forkThread.once.Do(func() {
		forkThread.reqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for f := range forkThread.reqs {
				f()
			}
		}()
	})
	type started struct {
		proc *os.Process
		err  error
	}
	done := make(chan started, 1)
	forkThread.reqs <- func() {
		p, err := os.StartProcess(path, []string{nsinit.InitArg0}, attr)
		done <- started{p, err}
	}
	r := <-done
	return r.proc, r.err
}

// startInPIDNS starts the init stage from a thread that joined the pid
// namespace at nsFD, so that the init stage is born in it. The thread is
// never handed back to the runtime; when release is not nil it lives until
// release is closed, as the parent-death signal fires when it ends.
func startInPIDNS(path string, attr *os.ProcAttr, nsFD int, release <-chan struct{}) (*os.Process, error) {
	started := make(chan spawned, 1)
	onThrowawayThread(func() {
		if err := unix.Setns(nsFD, unix.CLONE_NEWPID); err != nil {
			started <- spawned{err: fmt.Errorf("join pid namespace: %w", err)}
			return
		}
		p, err := os.StartProcess(path, []string{nsinit.InitArg0}, attr)
		started <- spawned{proc: p, err: err}
		if err == nil && release != nil {
			<-release
		}
	})
	sp := <-started
	return sp.proc, sp.err
}

// nsJoin is a namespace file opened to be joined.
type nsJoin struct {
	file *os.File
	typ  int
}

// nsGetNSType is NS_GET_NSTYPE: the CLONE_NEW* type of a namespace fd.
const nsGetNSType = 0xb703

// openNamespaces opens the namespaces Isolation joins by path and checks
// each is a namespace of its kind: a path to anything else is refused
// naming it.
func openNamespaces(iso Isolation) ([]nsJoin, error) {
	var out []nsJoin
	for _, j := range []struct {
		name, path string
		typ        int
	}{
		{"net", iso.NetPath, unix.CLONE_NEWNET}, {"ipc", iso.IPCPath, unix.CLONE_NEWIPC}, {"uts", iso.UTSPath, unix.CLONE_NEWUTS},
		{"pid", iso.PIDPath, unix.CLONE_NEWPID}, {"mount", iso.MountPath, unix.CLONE_NEWNS},
	} {
		if j.path == "" {
			continue
		}
		f, err := os.OpenFile(j.path, os.O_RDONLY, 0)
		if err == nil {
			var typ int
			typ, err = unix.IoctlRetInt(int(f.Fd()), nsGetNSType)
			if errors.Is(err, unix.ENOTTY) {
				err = fmt.Errorf("not a namespace (a /proc/PID/ns file or a bind mount of one)")
			}
			if err == nil && typ != j.typ {
				err = fmt.Errorf("not a %s namespace", j.name)
			}
			if err != nil {
				f.Close()
			}
		}
		if err != nil {
			for _, o := range out {
				o.file.Close()
			}
			return nil, fmt.Errorf("%s namespace path %q: %w", j.name, j.path, err)
		}
		out = append(out, nsJoin{file: f, typ: j.typ})
	}
	return out, nil
}
