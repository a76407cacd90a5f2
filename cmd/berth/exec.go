package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/spf13/cobra"
)

// execFlags are `berth exec`'s flags.
type execFlags struct {
	tty     bool
	timeout time.Duration
	user    string
	env     []string
	cwd     string
}

func execCommand(g *globals) *cobra.Command {
	f := &execFlags{}
	c := &cobra.Command{
		Use:   "exec [-t] [--timeout D] [--user U[:G]] [--env K=V]... [--cwd DIR] ID -- CMD [ARG...]",
		Short: "run a command inside a running task",
		Long: "Run CMD inside running task ID, exactly as isolated as the task: its namespaces,\n" +
			"cgroup, user, capabilities, environment and working directory unless overridden.\n" +
			"berth exits with CMD's status (128+N when signal N killed it; 125 when berth\n" +
			"failed, the task is unknown, stopped or paused, or the timeout passed; 126 when\n" +
			"CMD is not executable, 127 when it is not found). Whatever CMD leaves running\n" +
			"when it exits is killed with it.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage("exec", "no task id given")
			}
			if dash := cmd.ArgsLenAtDash(); dash > 1 {
				return usage("exec", "unexpected argument %q before -- (berth exec [flags] ID -- CMD [ARG...])", args[1])
			}
			if len(args) < 2 || args[1] == "" {
				return usage("exec", "no command given (berth exec [flags] ID -- CMD [ARG...])")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return exit(cmdExec(g, f, args[0], args[1:])) },
	}
	fs := c.Flags()
	fs.BoolVarP(&f.tty, "tty", "t", false, "give the command a terminal of its own, relayed to this one")
	fs.DurationVar(&f.timeout, "timeout", 0, "kill the command and everything it started after D (0: no limit)")
	fs.StringVar(&f.user, "user", "", "USER[:GROUP] or uid[:gid] in the task (default: the task's user)")
	fs.StringArrayVar(&f.env, "env", nil, "K=V added to the task's environment, repeatable")
	fs.StringVar(&f.cwd, "cwd", "", "working directory inside the task (default: the task's)")
	return c
}

func cmdExec(g *globals, f *execFlags, id string, argv []string) int {
	if f.timeout < 0 {
		return failUsage("exec", errors.New("--timeout: must not be negative"))
	}
	// The library names its fields; the flags are checked here, so the
	// error names the flag.
	for _, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return failUsage("exec", fmt.Errorf("--env %q: want K=V", kv))
		}
	}
	if f.cwd != "" && !filepath.IsAbs(f.cwd) {
		return failUsage("exec", fmt.Errorf("--cwd %q: must be an absolute path", f.cwd))
	}
	if u, g, hasGroup := strings.Cut(f.user, ":"); f.user != "" && (u == "" || hasGroup && (g == "" || strings.Contains(g, ":"))) {
		return failUsage("exec", fmt.Errorf("--user %q: want USER[:GROUP]", f.user))
	}
	c := &executor.ExecCommand{
		Cmd: argv[0], Args: argv[1:], Env: f.env, Cwd: f.cwd, User: f.user,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Terminal: f.tty,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	// Without a terminal of its own, Ctrl-C (or a SIGTERM or SIGHUP) ends
	// the command and everything it started; with -t, Ctrl-C is a byte for
	// the command's own terminal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var got os.Signal
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case got = <-sigs:
			cancel()
		case <-stop:
		}
	}()

	var term *terminal
	if f.tty {
		var err error
		if term, err = openTerminal(); err != nil {
			return fail(exitBerth, fmt.Errorf("exec: -t: %w", err))
		}
		defer term.restore()
		c.Size, c.Resize = term.size, term.resize
	}
	store := g.store()
	store.KillWithParent = true
	ps, err := store.Exec(ctx, id, c)
	term.restore()
	switch {
	case err != nil && got != nil:
		return fail(128+int(got.(syscall.Signal)), fmt.Errorf("exec %q: interrupted by %v: the command and everything it started were killed", id, got))
	case errors.Is(err, executor.ErrExecTimeout):
		return fail(exitBerth, fmt.Errorf("exec %q: deadline passed (--timeout %s): the command and everything it started were killed", id, f.timeout))
	case err != nil && ps == nil:
		return fail(exitCodeFor(err), err)
	case err != nil:
		// The command ran; cleaning up after it failed.
		g.log.Error("clean up exec", "id", id, "error", err)
	}
	return ps.ExitCode
}
