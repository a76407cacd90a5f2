package nsinit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/seccomp/filter"
	"golang.org/x/sys/unix"
)

// child is the init stage's state while it runs the steps.
type child struct {
	sock  *os.File
	plan  Plan
	user  User
	times []StepTime
	// oldSock is the sync socket's first file once handOverFDs moved it:
	// kept from the collector, which would close its number.
	oldSock *os.File
	// forkReport is the pipe an exec helper's forked command reports a
	// failure before its execve on, made before any filter is loaded.
	forkReport [2]int
	// forkPreserved are the plan's preserved fds copied above the numbers
	// they take in an exec helper's command (preservedAbove).
	forkPreserved []int
}

// step is one named setup step; the name travels into the error.
type step struct {
	name string
	run  func(*child) error
}

// steps is the init stage of a new task, in order. Everything here runs in
// the child.
var steps = append([]step{
	// First: from here until execve the init stage's /proc entries (exe,
	// fds, memory) are closed to any process without CAP_SYS_PTRACE, even
	// one with the same uid and capabilities, such as a --pid host task
	// after this stage dropped its own. /proc/PID/exe names berth's binary
	// on the host (CVE-2019-5736). execve of the task's binary resets it.
	{"non-dumpable", nonDumpable},
	// Armed here too, not only at the fork: born in a pid namespace
	// joined by path, the init stage sees its parent as pid 0, which the
	// runtime's own check at the fork takes for a dead parent (the
	// parent leaves the signal to this step then).
	{"parent death signal", func(c *child) error {
		return when(c.plan.KillWithParent, func() error { return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0) })
	}},
	// Before anything of the task's: its v1 cgroups (a hybrid host's),
	// joined by the thread that execs.
	{"cgroup join", joinCgroups},
	// Namespaces shared with other tasks (a pod's network), entered before
	// anything is set up in them.
	{"join namespaces", joinNamespaces},
	// The task's score, not berth's: a launcher the OOM killer should
	// spare must not pass that on to the task.
	{"oom_score_adj", setOOMScoreAdj},
	// Before any mount: nothing mounted from here on may reach the host.
	// (Not with the host's mount namespace: its propagation is the host's.)
	{"propagation", func(c *child) error { return when(!c.plan.HostMountNS, mounts.Propagate) }},
	{"root tmpfs", func(c *child) error {
		return when(c.plan.RootTmpfs, func() error { return mounts.RootTmpfs(c.plan.Root) })
	}},
	{"bind root", func(c *child) error { return mounts.BindRoot(c.plan.Root) }},
	// Binds read host paths, so they come before pivot_root.
	{"mounts", func(c *child) error { return mounts.Apply(c.plan.Root, c.plan.Mounts) }},
	{"hooks", pauseForHooks},
	{"pivot_root", func(c *child) error {
		if c.plan.HostMountNS {
			return mounts.Chroot(c.plan.Root)
		}
		return mounts.Pivot(c.plan.Root)
	}},
	{"root propagation", func(c *child) error {
		return when(c.plan.RootPropagation != 0, func() error {
			return wrapPath("mount propagation", "/", unix.Mount("", "/", "", c.plan.RootPropagation, ""))
		})
	}},
	// After pivot_root: /proc and /sys are the task's own and /dev/null is
	// the node we made, so masks cannot be redirected by the task root.
	{"masks", func(c *child) error { return mounts.Mask(c.plan.Mounts) }},
	// Before the read-only paths: /proc/sys is one of them.
	{"sysctl", setSysctls},
	{"read-only paths", func(c *child) error { return mounts.ReadOnly(c.plan.Mounts) }},
	{"read-only root", func(c *child) error { return when(c.plan.RootTmpfs || c.plan.ReadOnlyRoot, mounts.ReadOnlyRoot) }},
	{"hostname", setHostname},
	{"loopback", loopbackUp},
	// The user is looked up after pivot_root: its /etc/passwd is the task's.
}, credentialSteps...)

// credentialSteps end both the init stage and the exec helper: from here
// every path resolves inside the task, and the process takes on the task's
// credentials, then execs.
var credentialSteps = []step{
	{"user lookup", lookupUser},
	// The terminal after pivot_root or the mount namespace join (the pty is
	// the task's devpts) and the lookup (it is handed to the task's user),
	// before the switch (which drops the CAP_CHOWN that takes).
	{"terminal", openTerminal},
	// Limits before the user switch: the task's user may not raise them.
	{"rlimits", setRlimits},
	{"user", switchUser},
	// After the user switch, so the keyring belongs to the task's user.
	{"session keyring", newSessionKeyring},
	// Before any filter: close_range is newer than many profiles. Nothing
	// after this opens an fd without close-on-exec.
	{"close fds", closeFds},
	// Before any filter too: a profile may refuse getcwd, which the check
	// that the directory lies inside the task's root takes.
	{"cwd", enterCwd},
	// Without no_new_privs (a bundle that asks for new privileges), loading
	// a filter needs CAP_SYS_ADMIN, which only holds until the capability
	// step: it is loaded here instead of last, and the steps after it run
	// under it (capset, prctl, chdir, close_range, sigaction: what a
	// profile that lets a container start allows).
	{"seccomp (new privileges)", func(c *child) error {
		return when(c.plan.NewPrivs && len(c.plan.Seccomp) > 0, func() error {
			if err := caps.RaiseEffective(); err != nil {
				return err
			}
			return filter.Install(c.plan.Seccomp, c.plan.SeccompFlags)
		})
	}},
	// no_new_privs before the capability sets: from here no execve can gain
	// privileges through setuid bits or file capabilities.
	{"no_new_privs", func(c *child) error {
		return when(!c.plan.NewPrivs, func() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
	}},
	// Capabilities after the user switch: the switch needed CAP_SETUID and
	// CAP_SETGID, which the task may not keep.
	// A task that runs as another uid holds only the capabilities the
	// caller added by name; the task's set still bounds what a setuid or
	// file-capability binary could gain, were no_new_privs off.
	{"capabilities", func(c *child) error {
		if s := c.plan.CapSets; s != nil {
			return caps.ApplySets(caps.Sets{Bounding: s.Bounding, Effective: s.Effective, Permitted: s.Permitted,
				Inheritable: s.Inheritable, Ambient: s.Ambient})
		}
		if c.user.UID == 0 {
			return caps.Apply(c.plan.Caps, c.plan.Caps, false)
		}
		return caps.Apply(c.plan.Caps, c.plan.UserCaps, true)
	}},
	{"signals", resetSignals},
	{"umask", func(c *child) error {
		if c.plan.Umask != nil {
			unix.Umask(*c.plan.Umask)
		} else {
			unix.Umask(0o022)
		}
		return nil
	}},
	// Last before execve: the filter applies to everything after it, so
	// only the command's lookup on PATH (stat and access calls), the
	// ready message and execve itself run under it.
	{"seccomp", loadSeccomp},
	{"exec", execTask},
}

// nonDumpable closes the process's /proc entries to processes without
// CAP_SYS_PTRACE until execve.
func nonDumpable(c *child) error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }

// newSessionKeyring joins a new anonymous session keyring: the caller's
// (berth's) session keyring and the secrets in it stay out of the task's
// reach.
func newSessionKeyring(c *child) error {
	if _, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); e != 0 {
		return fmt.Errorf("keyctl join session keyring: %w", e)
	}
	return nil
}

// when runs f if cond holds.
func when(cond bool, f func() error) error {
	if !cond {
		return nil
	}
	return f()
}

func setHostname(c *child) error {
	if c.plan.Hostname == "" {
		return nil
	}
	return unix.Sethostname([]byte(c.plan.Hostname))
}

// loopbackUp brings up lo in the task's new network namespace: a fresh
// namespace starts with lo down, and many programs expect 127.0.0.1.
func loopbackUp(c *child) error {
	if !c.plan.LoopbackUp {
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: set up: %w", err)
	}
	return nil
}

// lookupUser resolves the task user inside the root. An exec that keeps
// the task's user takes the ids resolved at launch instead (Plan.IDs).
func lookupUser(c *child) error {
	if c.plan.User == "" && c.plan.IDs != nil {
		id := c.plan.IDs
		c.user = User{UID: id.UID, GID: id.GID, Groups: id.Groups, Home: id.Home}
		if c.user.Home == "" {
			c.user.Home = "/"
		}
		return nil
	}
	u, err := LookupUser(c.plan.User, "/etc/passwd", "/etc/group")
	if err != nil {
		return err
	}
	c.user = u
	return nil
}

// switchUser takes on the task user's ids on this thread. KEEPCAPS keeps
// the permitted set across setuid so the capabilities step can still set
// the task's capabilities afterwards.
func switchUser(c *child) error {
	u := c.user
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	// Raw per-thread syscalls: Go's setuid wrappers change every thread of
	// the runtime, which is not needed here (only this thread calls execve)
	// and is not available in binaries that use cgo.
	gids := make([]uint32, len(u.Groups))
	for i, g := range u.Groups {
		gids[i] = uint32(g)
	}
	var p uintptr
	if len(gids) > 0 {
		p = uintptr(unsafe.Pointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	// Changing credentials clears PR_SET_PDEATHSIG; arm it again.
	if c.plan.KillWithParent {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("pdeathsig: %w", err)
		}
	}
	if !hasEnv(c.plan.Env, "HOME") {
		c.plan.Env = append(c.plan.Env, "HOME="+u.Home)
	}
	return nil
}

// enterCwd changes into the task's working directory and checks the kernel
// places it inside the new root: getcwd reports "(unreachable)" for a
// directory outside it.
func enterCwd(c *child) error {
	cwd := c.plan.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return &os.PathError{Op: "chdir", Path: cwd, Err: err}
	}
	wd, err := unix.Getwd()
	if err != nil {
		return &os.PathError{Op: "getcwd", Path: cwd, Err: err}
	}
	if !strings.HasPrefix(wd, "/") {
		return &os.PathError{Op: "chdir", Path: cwd, Err: errors.New("outside the task root")}
	}
	return nil
}

// closeFds marks every fd above stderr close-on-exec, whatever the runtime
// or an inherited descriptor left open: the task starts with 0, 1, 2 only.
func closeFds(c *child) error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}

// loadSeccomp loads the task's filter on this thread, the one that execs:
// execve keeps the filter of the thread that calls it. no_new_privs is set
// already, so no CAP_SYS_ADMIN is needed.
func loadSeccomp(c *child) error {
	if len(c.plan.Seccomp) == 0 || c.plan.NewPrivs {
		return nil
	}
	return filter.Install(c.plan.Seccomp, c.plan.SeccompFlags)
}

// execTask finds the command, tells the parent setup is done, and execs.
// An execve that fails is reported after "ready".
func execTask(c *child) error {
	argv0, err := lookPath(c.plan.Args[0], c.plan.Env)
	if err != nil {
		return err
	}
	if c.plan.Timings {
		c.times = append(c.times, StepTime{"lookup command", time.Now().UnixNano()})
	}
	ids := &UserIDs{UID: c.user.UID, GID: c.user.GID, Groups: c.user.Groups, Home: c.user.Home}
	if !c.plan.StartGate {
		// startContainer hooks before ready: a failure is a setup error.
		if err := runHooks("startContainer", c.plan.StartHooks, c.plan.StartHookState); err != nil {
			return err
		}
	}
	if err := writeMessage(c.sock, &Message{Type: MsgReady, User: ids, Steps: c.times}); err != nil {
		return fmt.Errorf("send ready: %w", err)
	}
	gate := -1
	if c.plan.StartGate {
		gate, err = awaitStart()
		if err != nil {
			return err
		}
		// Nobody reads the sync socket any more: a failure goes to the
		// start gate's reader (Store.Start) after the start byte.
		if err := runHooks("startContainer", c.plan.StartHooks, c.plan.StartHookState); err != nil {
			unix.Write(gate, []byte(err.Error()))
			return err
		}
	}
	if c.plan.Mode == ModeExec {
		pid, err := forkCommand(c, argv0)
		if err != nil {
			c.reportPid("exec", "", pid, err)
			os.Exit(1)
		}
		if err := writeMessage(c.sock, &Message{Type: MsgExecd, Pid: pid}); err != nil {
			return fmt.Errorf("send execd: %w", err)
		}
		os.Exit(0)
	}
	if err := c.handOverFDs(gate); err != nil {
		return err
	}
	err = unix.Exec(argv0, c.plan.Args, c.plan.Env)
	return &os.PathError{Op: "execve", Path: argv0, Err: err}
}

// setOOMScoreAdj writes the plan's score. Lowering it below what the
// process inherited needs CAP_SYS_RESOURCE once a process without it has
// raised it; then the inherited, higher score stays: the task is only
// likelier to be chosen by the OOM killer, never less.
func setOOMScoreAdj(c *child) error {
	if c.plan.OOMScoreAdj == nil {
		return nil
	}
	want := strconv.Itoa(*c.plan.OOMScoreAdj)
	err := os.WriteFile("/proc/self/oom_score_adj", []byte(want), 0)
	if errors.Is(err, unix.EACCES) {
		if b, rerr := os.ReadFile("/proc/self/oom_score_adj"); rerr == nil {
			if cur, aerr := strconv.Atoi(strings.TrimSpace(string(b))); aerr == nil && cur > *c.plan.OOMScoreAdj {
				return nil
			}
		}
	}
	return err
}

// setRlimits sets the task's resource limits. A hard limit above the
// current one needs CAP_SYS_RESOURCE; the parent checks that first, so an
// error here names the limit for what slipped through.
func setRlimits(c *child) error {
	for _, rl := range c.plan.Rlimits {
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(0, rl.Resource, &lim, nil); err != nil {
			return fmt.Errorf("rlimit %d (soft %d, hard %d): %w", rl.Resource, rl.Soft, rl.Hard, err)
		}
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// awaitStart waits at the start gate: the open for writing of the fifo at
// StartFD blocks until a reader opens it. The fifo is reopened through the
// task's /proc/self/fd (the task's root holds no path to it), so a task
// held at the gate needs /proc mounted, as OCI bundles have it. The
// written end stays open, close-on-exec: the reader sees end of file when
// execve has run the command (or the process died), as the parent does on
// the sync socket.
func awaitStart() (int, error) {
	p := "/proc/self/fd/" + strconv.Itoa(StartFD)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open start gate", Path: p, Err: err}
	}
	if _, err = unix.Write(fd, []byte{0}); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "write start gate", Path: p, Err: err}
	}
	return fd, nil
}

// setSysctls writes the plan's kernel parameters under the task's own
// /proc/sys.
func setSysctls(c *child) error {
	for _, s := range c.plan.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
		if err := os.WriteFile(p, []byte(s.Value), 0); err != nil {
			return fmt.Errorf("sysctl %s: %w", s.Key, err)
		}
	}
	return nil
}

// wrapPath names the path of a failed system call.
func wrapPath(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// joinNamespaces enters the plan's namespaces on this thread, the one that
// execs: a network, ipc or uts namespace belongs to the thread that
// enters it, and execve keeps the caller's.
func joinNamespaces(c *child) error {
	for _, j := range c.plan.Join {
		switch j.Type {
		case unix.CLONE_NEWNET, unix.CLONE_NEWIPC, unix.CLONE_NEWUTS:
		case unix.CLONE_NEWNS:
			// setns into a mount namespace refuses a thread sharing its
			// root and cwd with others, as Go's threads do.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("join mount namespace: unshare fs: %w", err)
			}
		default:
			return fmt.Errorf("join namespace: type %#x: only network, ipc, uts and mount", j.Type)
		}
		if err := unix.Setns(j.Fd, j.Type); err != nil {
			return fmt.Errorf("join namespace (fd %d): %w", j.Fd, err)
		}
		unix.Close(j.Fd)
	}
	return nil
}

// pauseForHooks stops until the parent ran its hooks (OCI's prestart and
// createRuntime, in the runtime's namespaces), then runs the plan's
// createContainer hooks: in the task's namespaces, before pivot_root.
func pauseForHooks(c *child) error {
	if c.plan.PauseForHooks {
		if err := writeMessage(c.sock, &Message{Type: MsgHooks}); err != nil {
			return fmt.Errorf("send hooks: %w", err)
		}
		line, err := readLine(c.sock)
		if err != nil {
			return fmt.Errorf("wait for the parent's hooks: %w", err)
		}
		if string(line) != ResumeLine {
			return fmt.Errorf("the parent's hooks failed")
		}
	}
	return runHooks("createContainer", c.plan.CreateHooks, c.plan.HookState)
}

// runHooks runs hooks in order, each with state on its stdin and killed at
// its timeout; the first failure is returned, naming it.
func runHooks(kind string, hooks []Hook, state string) error {
	if len(hooks) == 0 {
		return nil
	}
	// The sync socket, the start gate and any joined namespace fd stay
	// out of the hooks.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, h.Path, err)
		}
	}
	return nil
}

func runHook(h Hook, state string) error {
	ctx := context.Background()
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args, cmd.Env = args, h.Env
	cmd.Stdin = strings.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("timed out after %ds", h.Timeout)
	case err != nil && out.Len() > 0:
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return err
}
