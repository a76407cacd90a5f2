// Command berth runs a command in an isolated task. It is a thin CLI over
// package executor; see DESIGN.md for the contract scripts rely on.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
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

func init() {
	// A detached task's supervisor execs itself into the reaper: from the
	// main thread, because an execve from another thread shows the process
	// as a zombie for a moment, and the verbs would take it for dead.
	if slices.Contains(os.Args, "--supervise") {
		runtime.LockOSThread()
	}
}

func main() {
	// The init stage can be this same binary (when no berth-init is found
	// beside it): it must take over before anything else runs.
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

// exitError carries a verb's exit status out of cobra.
type exitError struct {
	code int
	err  error // nil: exit quietly with code
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// usageError is a bad command line: printed with a hint to --help.
type usageError struct {
	verb string
	err  error
}

func (e *usageError) Error() string { return e.err.Error() }

// usage wraps a command-line error of verb.
func usage(verb string, format string, a ...any) error {
	return &usageError{verb: verb, err: fmt.Errorf(format, a...)}
}

// exit returns a verb's exit status: 0 is success.
func exit(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// failed is a verb's failure with its status and error.
func failed(code int, err error) error { return &exitError{code: code, err: err} }

func realMain(args []string) int {
	g := &globals{}
	root := newRoot(g)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			return fail(ee.code, ee.err)
		}
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return failUsage(ue.verb, ue.err)
	}
	// Everything else cobra returns is about the command line: an unknown
	// verb or flag, a missing flag value.
	verb := ""
	if c, _, ferr := root.Find(args); ferr == nil && c != root {
		verb = c.Name()
	}
	return failUsage(verb, err)
}

// newRoot builds the command tree.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth [--state-dir DIR] [--cgroup-parent NAME] [--log-level LEVEL] VERB ...",
		Short: "run a command in an isolated task",
		Long: "berth runs a command in an isolated task on Linux: private namespaces, a task dir,\n" +
			"reduced capabilities, its own cgroup. Tasks run in the foreground (run) or\n" +
			"detached (run -d); the other verbs work on detached tasks by id.",
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown verb %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usage("", "no verb given (run, exec, state, list, ...)")
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// An empty value given on purpose must not fall back to the
			// shared default: a script's empty variable would act on
			// every task of /run/berth.
			for _, name := range []string{"state-dir", "cgroup-parent", "log-level"} {
				if f := cmd.Flags().Lookup(name); f != nil && f.Changed && f.Value.String() == "" {
					return usage(cmd.Name(), "--%s: must not be empty", name)
				}
			}
			level := hclog.LevelFromString(g.logLevel)
			if level == hclog.NoLevel {
				return usage(cmd.Name(), "--log-level: unknown level %q", g.logLevel)
			}
			g.log = hclog.New(&hclog.LoggerOptions{Name: "berth", Level: level, Output: os.Stderr})
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.stateDir, "state-dir", executor.DefaultStateDir, "directory holding task state")
	pf.StringVar(&g.cgroupParent, "cgroup-parent", executor.DefaultCgroupParent, "parent cgroup of every task")
	pf.StringVar(&g.logLevel, "log-level", defaultLogLevel, "trace, debug, info, warn, error or off")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		verb := cmd.Name()
		if cmd == root {
			verb = ""
		}
		return &usageError{verb: verb, err: err}
	})
	root.AddCommand(
		runCommand(g),
		execCommand(g),
		stateCommand(g),
		listCommand(g),
		psCommand(g),
		statsCommand(g),
		logsCommand(g),
		killCommand(g),
		stopCommand(g),
		pauseCommand(g, false),
		pauseCommand(g, true),
		updateCommand(g),
		deleteCommand(g),
		versionCommand(),
	)
	return root
}

// fail prints err as the one "berth: " line and returns code.
func fail(code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(os.Stderr, "berth: %s\n", msg)
	return code
}

// failUsage prints a command-line error and a hint to the verb's help.
func failUsage(verb string, err error) int {
	msg := err.Error()
	if verb != "" && !strings.HasPrefix(msg, verb+":") && !strings.HasPrefix(msg, "--") {
		msg = verb + ": " + msg
	}
	fail(exitUsage, errors.New(msg))
	help := "berth --help"
	if verb != "" {
		help = "berth " + verb + " --help"
	}
	fmt.Fprintf(os.Stderr, "See '%s'.\n", help)
	return exitUsage
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

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print berth's version",
		Args:  noArgs("version"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Printf("berth version %s\n", executor.Version)
			return nil
		},
	}
}

// noArgs refuses positional arguments.
func noArgs(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usage(verb, "unexpected argument %q", args[0])
		}
		return nil
	}
}

// taskArgs takes one task id and up to extra more positional arguments.
func taskArgs(verb string, extra int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usage(verb, "no task id given")
		}
		if len(args) > 1+extra {
			return usage(verb, "unexpected argument %q", args[1+extra])
		}
		return nil
	}
}
