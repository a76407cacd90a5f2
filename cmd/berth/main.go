// Command berth runs a command in an isolated task. It is a thin CLI over
// package executor; see DESIGN.md for the contract scripts rely on.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Exit statuses of run and exec besides the task's own.
const (
	exitBerth       = 125 // berth itself failed
	exitNotExec     = 126 // command found but not executable
	exitNotFound    = 127 // command not found
	exitUsage       = 125
	defaultLogLevel = "warn"
)

func main() {
	// The init stage is this same binary: it must take over before
	// anything else runs.
	nsinit.Init()
	if len(os.Args) > 0 && os.Args[0] == reaperArg0 {
		os.Exit(reaperMain(os.Args[1:]))
	}
	os.Exit(realMain(os.Args[1:]))
}

// globals are the flags before the verb.
type globals struct {
	stateDir     string
	cgroupParent string
	logLevel     string
	log          hclog.Logger
}

func realMain(args []string) int {
	g := &globals{}
	fs := newFlagSet("berth")
	fs.StringVar(&g.stateDir, "state-dir", executor.DefaultStateDir, "directory holding task state")
	fs.StringVar(&g.cgroupParent, "cgroup-parent", executor.DefaultCgroupParent, "parent cgroup of every task")
	fs.StringVar(&g.logLevel, "log-level", defaultLogLevel, "trace, debug, info, warn, error or off")
	if err := fs.Parse(args); err != nil {
		return fail(exitUsage, flagError(err))
	}
	level := hclog.LevelFromString(g.logLevel)
	if level == hclog.NoLevel {
		return fail(exitUsage, fmt.Errorf("--log-level: unknown level %q", g.logLevel))
	}
	g.log = hclog.New(&hclog.LoggerOptions{Name: "berth", Level: level, Output: os.Stderr})
	rest := fs.Args()
	if len(rest) == 0 {
		return fail(exitUsage, errors.New("no verb given (run, version, ...)"))
	}
	verb, vargs := rest[0], rest[1:]
	switch verb {
	case "run":
		return cmdRun(g, vargs)
	case "version":
		fmt.Printf("berth version %s\n", executor.Version)
		return 0
	case "state":
		return cmdState(g, vargs)
	case "list":
		return cmdList(g, vargs)
	case "kill":
		return cmdKill(g, vargs)
	case "stop":
		return cmdStop(g, vargs)
	case "pause":
		return cmdPause(g, vargs, false)
	case "resume":
		return cmdPause(g, vargs, true)
	case "update":
		return cmdUpdate(g, vargs)
	case "delete":
		return cmdDelete(g, vargs)
	case "ps":
		return cmdPs(g, vargs)
	case "exec", "stats":
		return fail(exitBerth, fmt.Errorf("%s: %w", verb, executor.ErrNotImplemented))
	default:
		return fail(exitUsage, fmt.Errorf("unknown verb %q", verb))
	}
}

// fail prints err as the one "berth: " line and returns code.
func fail(code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(os.Stderr, "berth: %s\n", msg)
	return code
}

// exitCodeFor maps a launch error to run's exit status: a command that is
// missing is 127, one that cannot be executed 126, anything else 125.
func exitCodeFor(err error) int {
	var se *executor.SetupError
	if errors.As(err, &se) && se.Step == "exec" {
		switch {
		case errors.Is(err, unix.ENOENT):
			return exitNotFound
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR):
			return exitNotExec
		}
	}
	return exitBerth
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// flagError rewrites the flag package's "-name" as the "--name" users type.
func flagError(err error) error {
	msg := strings.ReplaceAll(err.Error(), "flag -", "flag --")
	msg = strings.ReplaceAll(msg, "defined: -", "defined: --")
	return errors.New(msg)
}
