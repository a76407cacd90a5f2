package executor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// InitBinary is the name of the lean init binary berth looks for beside
// its own executable.
const InitBinary = "berth-init"

// FindInit is the init binary berth uses when Config.InitPath is
// configured (as given) or empty (see findInit).
func FindInit(configured string) string { return findInit(configured) }

// findInit picks the init binary: the configured path; else berth-init
// beside the running executable; else the running executable itself,
// which then must call nsinit.Init first thing in main (a program that
// embeds the executor). The init stage is started by this host path, never
// one resolved inside a task.
func findInit(configured string) string {
	if configured != "" {
		return configured
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), InitBinary)
		if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return beside
		}
	}
	return "/proc/self/exe"
}

// syncPair makes the sync socket: the parent's end as a file the runtime
// polls (so deadlines work), the child's as a file to hand over as fd 3.
func syncPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// setupResult is what the init stage reported on its way to execve.
type setupResult struct {
	// ready is the "ready" message: the user the command runs as, and
	// step timings when asked for.
	ready *nsinit.Message
	// console is the pty master, with Plan.Terminal.
	console *os.File
	// commandPid is an exec helper's command, forked off it as the
	// caller's child ("execd"; on a failed exec too, to be reaped).
	commandPid int
}

// awaitSetup reads the init stage's messages after the plan: a console when
// the plan asked for a terminal, "ready", then end of file at a successful
// execve. mark is called after ready ("init stage setup") and after the
// exec ("exec"). A failed step is a *SetupError; on any error the console
// is closed.
func awaitSetup(rcv *nsinit.Receiver, mark func(string), gated bool, pause func() error) (res *setupResult, err error) {
	res = &setupResult{}
	defer func() {
		if err != nil && res.console != nil {
			res.console.Close()
			res.console = nil
		}
	}()
	m, err := rcv.Expect(nsinit.MsgReady)
	if err == nil && m.Type == nsinit.MsgHooks {
		if pause == nil {
			return res, fmt.Errorf("init stage: paused for hooks it was not given")
		}
		mark("init stage mounts")
		if err := pause(); err != nil {
			return res, err
		}
		mark("hooks")
		m, err = rcv.Expect(nsinit.MsgReady)
	}
	if fd := rcv.TakeConsole(); fd >= 0 {
		var cerr error
		if res.console, cerr = consoleFile(fd); cerr != nil && err == nil {
			err = cerr
		}
	}
	switch {
	case err != nil:
		return res, err
	case m.Type == nsinit.MsgError:
		return res, setupError(m)
	}
	res.ready = m
	mark("init stage setup")
	if gated {
		// Held at the start gate: the exec comes with Store.Start, when
		// nobody here may be waiting for it.
		return res, nil
	}
	// After ready, end-of-file is the close-on-exec socket closing in a
	// successful execve, or an exec helper's exit after its "execd"; an
	// error message is a failed one.
	for {
		m, err = rcv.Next()
		if err == nil && m.Type == nsinit.MsgExecd && res.commandPid == 0 && m.Pid > 0 {
			res.commandPid = m.Pid
			continue
		}
		break
	}
	switch {
	case err == io.EOF:
	case err != nil:
		return res, fmt.Errorf("init stage: waiting for exec: %w", err)
	case m.Type == nsinit.MsgError:
		if m.Pid > 0 {
			res.commandPid = m.Pid
		}
		return res, setupError(m)
	default:
		return res, fmt.Errorf("init stage: expected end of file at exec, got %q", m.Type)
	}
	mark("exec")
	return res, nil
}
