package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// ExecCommand is a command to run inside a running task. It runs exactly
// as isolated as the task: in its mount, pid, ipc, uts and network
// namespaces and its cgroup, as its user with its capabilities and
// no_new_privs, in its environment and working directory, unless a field
// here overrides them.
type ExecCommand struct {
	// Cmd is resolved inside the task: an absolute path, or a name looked
	// up on the PATH of the exec's environment.
	Cmd  string
	Args []string
	// Env entries (KEY=VALUE) are added to the task's, replacing a key it
	// already has.
	Env []string
	// Cwd is the working directory inside the task; the task's when empty.
	Cwd string
	// User is "name", "uid", "name:group" or "uid:gid", resolved in the
	// task's /etc/passwd and /etc/group; empty runs as the task's user, as
	// resolved when the task was launched.
	User string
	// Credentials, when set, are the ids the command runs as, taken as
	// they are (User must be empty): OCI's exec --process user.
	Credentials *Credentials

	// Stdin, Stdout and Stderr are as for Command: files are handed over
	// (terminals never), anything else goes through a pipe; nil is
	// /dev/null.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Terminal gives the command a pty of the task's own devpts, relayed to
	// Stdin and Stdout; Size is its first size and Resize brings later ones.
	Terminal bool
	Size     *WindowSize
	Resize   <-chan WindowSize

	// ConsoleSocket, with Terminal, is a unix socket the pty's master is
	// sent to (SCM_RIGHTS) instead of being relayed: OCI's
	// --console-socket.
	ConsoleSocket string
	// ExtraFiles are handed to the command as its fds 3, 4, ... (OCI's
	// exec --preserve-fds).
	ExtraFiles []*os.File
	// Detach returns once the command runs, with its pid, leaving it to
	// the caller to reap (OCI's exec --detach: the caller is a
	// subreaper). Its stdio is passed as is, it is not killed at the
	// context's end nor with its caller (Store.KillWithParent), and what
	// it starts stays in the task until the task ends.
	Detach bool
}

// ErrExecTimeout is wrapped in the error of an exec whose deadline passed:
// the exec'd process and everything it started were killed.
var ErrExecTimeout = errors.New("exec deadline passed")

// ErrPaused is an exec into a paused task: its processes, and so an exec'd
// one, cannot run until it is resumed.
var ErrPaused = errors.New("task is paused")

// execOutputMax is how much of an exec's output Exec keeps: its end, as a
// health check's status does.
const execOutputMax = 4 << 10

// execNamespaces are the task's namespaces the parent joins on the thread
// that starts the exec helper: the helper is born in them. The mount
// namespace is not among them: joined there, the thread would look up the
// helper's path inside the task, where the task can plant anything. The
// helper joins it itself (nsinit's exec steps). Nor is the pid namespace:
// born in it, the helper would be in the task's sight, the host's root
// with every capability, for a task process holding CAP_SYS_PTRACE to
// attach to; the helper joins it for its children only and forks the
// command into it once it has the task's credentials. A namespace the task
// shares with the host is joined as the host's own, which changes nothing.
const execNamespaces = unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET

// execTarget is a running task to exec into.
type execTarget struct {
	id       string
	pid      int
	pidfd    int // the task's main process, verified; owned by the caller
	cg       *cgroup.Manager
	settings *execSettings
	initPath string
	timeout  time.Duration // setup
	pdeath   bool          // kill the exec'd process when the caller dies
	log      hclog.Logger
}

// execPlan checks c, naming the field in its error, and builds the helper's
// plan from it and the task's settings.
func execPlan(c *ExecCommand, x *execSettings) (*nsinit.Plan, error) {
	if c == nil || strings.TrimSpace(c.Cmd) == "" {
		return nil, fmt.Errorf("exec command: empty")
	}
	if c.Cwd != "" && !filepath.IsAbs(c.Cwd) {
		return nil, fmt.Errorf("exec cwd %q: must be an absolute path", c.Cwd)
	}
	for i, f := range c.ExtraFiles {
		if f == nil {
			return nil, fmt.Errorf("exec extra files [%d]: nil", i)
		}
	}
	if err := checkUser(c.User); err != nil {
		return nil, fmt.Errorf("exec %w", err)
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("exec env %q: want KEY=VALUE", kv)
		}
	}
	for _, v := range append(append([]string{c.Cmd, c.Cwd, c.User}, c.Args...), c.Env...) {
		if strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("exec argument %q: contains a NUL byte", v)
		}
	}
	p := &nsinit.Plan{
		Version:      nsinit.Version,
		Mode:         nsinit.ModeExec,
		User:         c.User,
		Caps:         x.Caps,
		UserCaps:     x.UserCaps,
		CapSets:      x.CapSets,
		Rlimits:      x.Rlimits,
		OOMScoreAdj:  x.OOMScoreAdj,
		Seccomp:      x.Seccomp,
		SeccompFlags: x.SeccompFlags,
		Umask:        x.Umask,
		Args:         append([]string{c.Cmd}, c.Args...),
		Env:          mergeEnv(x.Env, c.Env),
		Cwd:          x.Cwd,
		Terminal:     c.Terminal,
		Size:         c.Size,
	}
	switch {
	case c.Credentials != nil:
		if c.User != "" {
			return nil, fmt.Errorf("exec credentials: given with user %q: one or the other", c.User)
		}
		ids := &nsinit.UserIDs{UID: int(c.Credentials.UID), GID: int(c.Credentials.GID), Home: "/"}
		if x.User != nil && x.User.UID == ids.UID {
			ids.Home = x.User.Home
		}
		for _, g := range c.Credentials.Groups {
			ids.Groups = append(ids.Groups, int(g))
		}
		p.IDs = ids
	case c.User == "":
		p.IDs = x.User
	}
	if c.Cwd != "" {
		p.Cwd = c.Cwd
	}
	return p, nil
}

// mergeEnv is base with each KEY=VALUE of over replacing base's KEY or
// added after it.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if strings.HasPrefix(b, k+"=") {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// runExec runs c in the task and waits for it. When ctx ends first, the
// exec'd process and everything it started are killed. Whatever the exec'd
// process leaves running when it exits is killed too, the way a task's
// leftovers are: nothing of an exec outlives it, and its leaf cgroup goes.
func runExec(ctx context.Context, tg *execTarget, c *ExecCommand) (ps *ProcessState, err error) {
	plan, err := execPlan(c, tg.settings)
	if err != nil {
		return nil, err
	}
	// Not for a detached command: the parent-death signal fires when the
	// thread that started the helper ends, at this function's return,
	// not when the caller dies.
	plan.KillWithParent = tg.pdeath && !c.Detach
	if paused, err := tg.cg.Paused(); err == nil && paused {
		return nil, ErrPaused
	}
	sweepLeaves(tg.cg, tg.log)
	name := leafName()
	if c.Detach {
		// Not exec-PID-START-...: no sweep takes a detached exec's leaf
		// for a dead exec's.
		name = "detached-" + randomID()
	}
	leaf, err := tg.cg.NewLeaf(name)
	if err != nil {
		return nil, err
	}
	var st streams
	// Nothing of the exec outlives it, whatever way it ends (a panic
	// too): kill what is left in its leaf, let the output drain, remove
	// the leaf. A detached exec that started is left running.
	defer func() {
		if c.Detach && err == nil {
			st.closeChildFiles()
			leaf.Close()
			return
		}
		if kerr := leaf.KillAll(); kerr != nil {
			err = multierror.Append(err, kerr)
		} else {
			reapLeftChildren(leaf)
		}
		st.closeChildFiles()
		st.drain(execDrainGrace)
		if derr := leaf.Delete(); derr != nil {
			err = multierror.Append(err, derr)
		}
		if me, ok := err.(*multierror.Error); ok {
			me.ErrorFormat = oneLine
			err = me.ErrorOrNil()
		}
	}()
	return startExec(ctx, tg, plan, leaf, &st, c)
}

// execDrainGrace is how long an exec's output may take to drain after the
// command and everything in its leaf are gone.
const execDrainGrace = 200 * time.Millisecond

// leafName names an exec's leaf after the process that runs the exec, so
// that a leaf whose owner died without removing it (SIGKILL) can be told
// apart from one in use: exec-PID-STARTTIME-RANDOM.
func leafName() string {
	return fmt.Sprintf("exec-%d-%d-%s", os.Getpid(), ownStartTime(), randomID())
}

// sweepLeaves kills and removes the exec leaves of the task whose owner is
// dead: an exec whose berth was killed outright leaves its command's
// children running in one.
func sweepLeaves(cg *cgroup.Manager, log hclog.Logger) {
	for _, name := range cg.Leaves() {
		var pid int
		var start uint64
		if _, err := fmt.Sscanf(name, "exec-%d-%d-", &pid, &start); err != nil || alive(pid, start) {
			continue
		}
		leaf := cg.Leaf(name)
		err := leaf.KillAll()
		if err == nil {
			err = leaf.Delete()
		}
		if err != nil {
			log.Warn("remove the leaf of a dead exec", "leaf", name, "error", err)
		}
	}
}

// spawned is the exec helper as its starting thread reports it.
type spawned struct {
	proc *os.Process
	err  error
}

// startExec starts the helper in the task's namespaces and leaf cgroup,
// sees it through its setup and waits for the command.
func startExec(ctx context.Context, tg *execTarget, plan *nsinit.Plan, leaf *cgroup.Leaf, s *streams, c *ExecCommand) (*ProcessState, error) {
	var stdio []*os.File
	var err error
	if c.Terminal {
		stdio, err = s.devNullStdio()
	} else {
		stdio, err = s.stdio(c.Stdin, c.Stdout, c.Stderr)
	}
	if err != nil {
		return nil, err
	}
	conn, childSock, err := syncPair()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rcv := nsinit.NewReceiver(conn)
	defer rcv.Close()
	taskFD, err := unix.FcntlInt(uintptr(tg.pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		childSock.Close()
		return nil, fmt.Errorf("exec: dup pidfd: %w", err)
	}
	taskFile := os.NewFile(uintptr(taskFD), "task-pidfd")
	files := append(stdio, childSock, taskFile)
	if tg.settings.HostMountNS {
		root, err := openTaskRoot(tg.pid, tg.pidfd)
		if err != nil {
			childSock.Close()
			taskFile.Close()
			return nil, err
		}
		defer root.Close()
		files = append(files, root) // nsinit.ChrootFD
		plan.ExecChroot = true
	}

	// No Pdeathsig here: the helper arms it itself (Plan.KillWithParent).
	sys := &syscall.SysProcAttr{Setsid: true}
	if fd, ok := leaf.FD(); ok {
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	files, selfJoined, closeJoins, err := handCgroupJoins(leaf, plan, files)
	if err != nil {
		childSock.Close()
		taskFile.Close()
		return nil, err
	}
	defer closeJoins()
	for _, f := range c.ExtraFiles {
		plan.PreserveFDs = append(plan.PreserveFDs, len(files))
		files = append(files, f)
	}
	attr := &os.ProcAttr{
		Env:   []string{"GOMAXPROCS=1"},
		Files: files,
		Sys:   sys,
	}
	// The helper is started from a thread that joined the task's
	// namespaces, so it is born in them. That thread is never handed back
	// to the runtime (the goroutine ends locked, and the runtime ends the
	// thread), and it lives until the command is reaped: the parent-death
	// signal fires when the thread that started the child ends.
	initPath := tg.initPath
	bounding := tg.settings.Caps
	if tg.settings.CapSets != nil {
		bounding = tg.settings.CapSets.Bounding
	}
	if needsSeal(bounding) {
		sealed, p, err := sealedInit(initPath)
		if err != nil {
			childSock.Close()
			taskFile.Close()
			return nil, err
		}
		defer sealed.Close()
		initPath = p
	}
	started := make(chan spawned, 1)
	release := make(chan struct{})
	defer close(release)
	onThrowawayThread(func() {
		if err := unix.Setns(tg.pidfd, execNamespaces); err != nil {
			started <- spawned{err: fmt.Errorf("exec: join the task's namespaces: %w", err)}
			return
		}
		var p *os.Process
		var err error
		if tg.settings.UserNS {
			cgfd := -1
			if sys.UseCgroupFD {
				cgfd = sys.CgroupFD
			}
			p, err = startInUserNS(initPath, attr.Files, tg.pidfd, cgfd)
		} else {
			p, err = os.StartProcess(initPath, []string{nsinit.InitArg0}, attr)
		}
		started <- spawned{proc: p, err: err}
		if err == nil {
			<-release
		}
	})
	sp := <-started
	childSock.Close()
	taskFile.Close()
	s.closeChildFiles()
	if sp.err != nil {
		if errors.Is(sp.err, os.ErrNotExist) || errors.Is(sp.err, unix.EACCES) {
			return nil, fmt.Errorf("exec: start helper %s: %w", tg.initPath, sp.err)
		}
		return nil, sp.err
	}
	proc := sp.proc
	waited := make(chan *ProcessState, 1)
	reap := func() *ProcessState {
		st := &ProcessState{Pid: proc.Pid}
		ps, err := proc.Wait()
		st.Time = time.Now()
		if err != nil {
			st.ExitCode = -1
		} else if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			st.setStatus(ws)
		}
		return st
	}
	fail := func(err error) (*ProcessState, error) {
		_ = proc.Kill()
		reap()
		return nil, err
	}
	if !selfJoined {
		if err := leaf.Adopt(proc.Pid); err != nil {
			return fail(err)
		}
	}
	deadline := time.Now().Add(tg.timeout)
	// ctxFirst: the caller's deadline comes before the setup timeout, so
	// a socket deadline that passes is the caller's (ErrExecTimeout),
	// whether or not ctx has noticed yet.
	d, ctxFirst := ctx.Deadline()
	ctxFirst = ctxFirst && d.Before(deadline)
	if ctxFirst {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return fail(fmt.Errorf("sync socket: %w", err))
	}
	res, err := (*setupResult)(nil), nsinit.SendPlan(conn, plan)
	if err == nil {
		res, err = awaitSetup(rcv, func(string) {}, false, nil)
	}
	if res != nil && res.commandPid > 0 && !forkedCommand(leaf, res.commandPid) {
		// The pid came over the sync socket, which the forked command
		// holds until its execve: a task process with CAP_SYS_PTRACE can
		// take it (pidfd_getfd) and name any host process. Nothing is
		// done to a pid that is not this process's child in the leaf.
		if err == nil {
			err = fmt.Errorf("exec helper: reported pid %d, which is not its command", res.commandPid)
		}
		res.commandPid = 0
	}
	if res != nil && res.commandPid > 0 {
		// The command, forked off the helper, is this process's child
		// (CLONE_PARENT): from here on, it is the exec'd process.
		if err != nil {
			unix.Kill(res.commandPid, unix.SIGKILL)
			unix.Wait4(res.commandPid, nil, 0, nil)
		} else {
			helper := proc
			cmdProc, ferr := os.FindProcess(res.commandPid)
			_, _ = helper.Wait()
			if ferr != nil {
				unix.Kill(res.commandPid, unix.SIGKILL)
				unix.Wait4(res.commandPid, nil, 0, nil)
				return nil, fmt.Errorf("exec: the command: %w", ferr)
			}
			proc = cmdProc
		}
	}
	if err != nil {
		var se *SetupError
		switch {
		case errors.As(err, &se):
		case ctx.Err() != nil:
			err = execEnded(ctx.Err())
		case ctxFirst && errors.Is(err, os.ErrDeadlineExceeded):
			err = execEnded(context.DeadlineExceeded)
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("exec: setup did not finish within %s", tg.timeout)
		default:
			err = fmt.Errorf("exec helper: %w", err)
		}
		return fail(err)
	}
	if res.console != nil && c.ConsoleSocket != "" {
		err := sendConsole(c.ConsoleSocket, res.console)
		res.console.Close()
		if err != nil {
			return fail(err)
		}
	} else if res.console != nil {
		s.relayConsole(res.console, c.Stdin, c.Stdout, c.Resize)
	}
	if c.Detach {
		pid := proc.Pid
		_ = proc.Release()
		return &ProcessState{Pid: pid, Time: time.Now()}, nil
	}
	go func() { waited <- reap() }()
	select {
	case st := <-waited:
		return st, nil
	case <-ctx.Done():
		// The leaf holds the command and everything it started.
		if err := leaf.KillAll(); err != nil {
			tg.log.Warn("exec: kill at deadline", "id", tg.id, "error", err)
		}
		return <-waited, execEnded(ctx.Err())
	}
}

// forkedCommand reports whether pid is the helper's forked command as far
// as the host can tell: a child of this process (CLONE_PARENT) in the
// exec's leaf. Unreaped, a child's pid cannot be taken by another process
// meanwhile; a zombie still names its cgroups in /proc/PID/cgroup (it is
// gone from the leaf's cgroup.procs, which a command that exits at once
// would fail).
func forkedCommand(leaf *cgroup.Leaf, pid int) bool {
	if st, err := procfs.Stat(pid); err != nil || st.PPid != os.Getpid() {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	// The leaf's name is unique (it ends in a random id): its path in
	// one of the process's hierarchies is the end of its directory.
	name := "/" + filepath.Base(leaf.Dir())
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && strings.HasSuffix(parts[2], name) && strings.HasSuffix(leaf.Dir(), parts[2]) {
			return true
		}
	}
	return false
}

// reapLeftChildren waits for this process's children in the leaf once the
// leaf is killed (empty): a command forked off the helper (CLONE_PARENT)
// whose pid never came (the helper died or stalled before "execd"), or a
// child the command made with CLONE_PARENT, would stay a zombie of the
// caller.
func reapLeftChildren(leaf *cgroup.Leaf) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, th := range tasks {
		b, _ := os.ReadFile(filepath.Join("/proc/self/task", th.Name(), "children"))
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err == nil && forkedCommand(leaf, pid) {
				var ws unix.WaitStatus
				_, _ = unix.Wait4(pid, &ws, 0, nil)
			}
		}
	}
}

// onThrowawayThread runs f in a new goroutine locked to a thread that is
// not the process's main thread, and lets the runtime end that thread when
// f returns: f may change the thread's namespaces for good. The main thread
// is kept out because the runtime never ends it (a goroutine that exits
// locked to it leaves it parked), and it is the thread /proc/PID/ns shows:
// the whole process would appear to live in the task's namespaces.
func onThrowawayThread(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f() // exits locked: the runtime ends the thread
			return
		}
		// On the main thread: hold it, so that the goroutine below runs on
		// another, and give it back untouched.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			f()
		}()
		<-done
		runtime.UnlockOSThread()
	}()
}

// execEnded is the error of an exec its context ended.
func execEnded(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: the command and everything it started were killed", ErrExecTimeout)
	}
	return fmt.Errorf("exec %w: the command and everything it started were killed", err)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}
