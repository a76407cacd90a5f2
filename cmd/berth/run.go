package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/executor"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// choiceFlag accepts one of a few words.
type choiceFlag struct {
	value   string
	choices []string
}

func (c *choiceFlag) String() string { return c.value }
func (c *choiceFlag) Type() string   { return strings.Join(c.choices, "|") }
func (c *choiceFlag) Set(v string) error {
	for _, ch := range c.choices {
		if v == ch {
			c.value = v
			return nil
		}
	}
	return fmt.Errorf("want %s", strings.Join(c.choices, " or "))
}

// runFlags are `berth run`'s flags.
type runFlags struct {
	id, rootfs, cwd, user, hostname string
	env, mounts, capAdd, capDrop    []string
	pid, ipc, net                   choiceFlag
	memory, memorySwap              string
	cpuShares                       uint64
	cpus                            float64
	cpuset                          string
	pidsLimit                       int64
	stopSignal                      string
	grace                           time.Duration
	stdout, stderr                  string
	seccomp                         string
	ulimits                         []string
	json, detach, supervise, tty    bool
}

func runCommand(g *globals) *cobra.Command {
	f := &runFlags{
		pid: choiceFlag{value: "private", choices: []string{"private", "host"}},
		ipc: choiceFlag{value: "private", choices: []string{"private", "host"}},
		net: choiceFlag{value: "host", choices: []string{"host", "none"}},
	}
	c := &cobra.Command{
		Use:   "run [flags] -- CMD [ARG...]",
		Short: "run a command in a new task",
		Long: "Run CMD in a new task, in the foreground: berth exits with the task's status\n" +
			"(128+N when signal N killed it; 125 when berth failed, 126 when CMD is not\n" +
			"executable, 127 when it is not found). With -d the task is left to a\n" +
			"supervisor and berth prints its id. SIGINT, SIGTERM or SIGHUP stop a\n" +
			"foreground task with its stop signal and grace; a second one kills it.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "" {
				return usage("run", "no command given (berth run [flags] -- CMD [ARG...])")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return exit(cmdRun(g, f, cmd.Flags(), args)) },
	}
	fs := c.Flags()
	// Everything from the command on is the task's: `berth run /bin/ls -l`.
	fs.SetInterspersed(false)
	fs.StringVar(&f.id, "id", "", "task id (random when empty)")
	fs.StringVar(&f.rootfs, "rootfs", "", "task dir (default: the host's system dirs, read-only)")
	fs.StringVar(&f.cwd, "cwd", "", "working directory inside the task")
	fs.StringVar(&f.user, "user", "", "USER[:GROUP] from the task's /etc/passwd, or uid[:gid]")
	fs.StringVar(&f.hostname, "hostname", "", "hostname in the task's uts namespace")
	fs.StringArrayVar(&f.env, "env", nil, "K=V, repeatable")
	fs.StringArrayVar(&f.mounts, "mount", nil, "SRC:DST[:ro], repeatable")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "capability to add, repeatable")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "capability to drop, repeatable")
	fs.Var(&f.pid, "pid", "pid namespace: private or host")
	fs.Var(&f.ipc, "ipc", "ipc namespace: private or host")
	fs.Var(&f.net, "net", "network: host, or none (a namespace with lo only)")
	f.resourceFlags(fs)
	fs.StringVar(&f.seccomp, "seccomp", "", "system call filter: unconfined, or a JSON profile FILE (Docker's or OCI's form); default: Docker's default profile")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "resource limit NAME=SOFT[:HARD] (nofile=1024:4096, unlimited), repeatable")
	fs.StringVar(&f.stopSignal, "stop-signal", "SIGINT", "signal that asks the task to stop")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "time between the stop signal and the kill")
	fs.StringVar(&f.stdout, "stdout", "", "write the task's stdout to FILE")
	fs.StringVar(&f.stderr, "stderr", "", "write the task's stderr to FILE")
	fs.BoolVar(&f.json, "json", false, "print the final state as JSON on stderr")
	fs.BoolVarP(&f.detach, "detach", "d", false, "detach: print the id and leave the task to a supervisor")
	fs.BoolVarP(&f.tty, "tty", "t", false, "give the task a terminal of its own, relayed to this one")
	fs.BoolVar(&f.supervise, "supervise", false, "internal: be the supervisor of a detached task")
	_ = fs.MarkHidden("supervise")
	return c
}

func cmdRun(g *globals, f *runFlags, fs *pflag.FlagSet, argv []string) int {
	if _, err := executor.ParseSignal(f.stopSignal); err != nil {
		return failUsage("run", fmt.Errorf("--stop-signal: %w", err))
	}
	if f.grace < 0 {
		return failUsage("run", errors.New("--grace: must not be negative"))
	}
	if f.detach && f.json {
		return failUsage("run", errors.New("--json goes with a foreground run, not -d"))
	}
	if f.supervise {
		if err := checkReportPipe(); err != nil {
			return failUsage("run", err)
		}
	}
	if f.detach && f.tty {
		return failUsage("run", errors.New("-t goes with a foreground run, not -d: there is no way to attach to a detached task's terminal yet"))
	}
	cmd, closers, err := f.command(argv, fs)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if err != nil {
		return failUsage("run", err)
	}
	if f.detach {
		return runDetached(g, f, argv)
	}
	if f.supervise {
		return supervise(g, f, cmd)
	}

	// Catch stop requests before launching, so a Ctrl-C during setup is
	// not lost (and does not kill berth with the task half set up).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var term *terminal
	if f.tty {
		if term, err = openTerminal(); err != nil {
			return fail(exitBerth, fmt.Errorf("run: -t: %w", err))
		}
		defer term.restore()
		cmd.Terminal, cmd.TerminalSize, cmd.Resize = true, term.size, term.resize
	}
	e := executor.New(executor.Config{StateDir: g.stateDir, CgroupParent: g.cgroupParent, Logger: g.log, KillWithParent: true})
	if _, err := e.Launch(cmd); err != nil {
		term.restore()
		return fail(exitCodeFor(err), err)
	}
	go func() {
		// The first signal stops the task with its stop signal and grace;
		// a second one cuts the grace short.
		for n := 0; ; n++ {
			if _, ok := <-sigs; !ok {
				return
			}
			grace := f.grace
			if n > 0 {
				grace = 0
			}
			go func() {
				if err := e.Shutdown(f.stopSignal, grace); err != nil {
					g.log.Error("stop task", "error", err)
				}
			}()
		}
	}()
	st, werr := e.Wait(context.Background())
	term.restore()
	if st == nil {
		return fail(exitBerth, werr)
	}
	if werr != nil {
		g.log.Error("clean up task", "id", e.ID(), "error", werr)
	}
	if st.OOMKilled {
		fmt.Fprintf(os.Stderr, "berth: task %s was killed by the OOM killer (memory limit reached)\n", e.ID())
	}
	if f.json {
		printFinal(e.ID(), st)
	}
	return st.ExitCode
}

// command turns the flags into an executor.Command. It opens --stdout and
// --stderr files; the caller closes them.
func (f *runFlags) command(argv []string, fs *pflag.FlagSet) (*executor.Command, []*os.File, error) {
	cmd := &executor.Command{
		ID: f.id, TaskDir: f.rootfs, Cmd: argv[0], Args: argv[1:],
		Env: f.env, Cwd: f.cwd, User: f.user,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StopSignal: f.stopSignal, StopGrace: f.grace,
		Isolation: executor.Isolation{
			PID: f.pid.value, IPC: f.ipc.value, UTS: executor.ModePrivate, Net: f.net.value,
			Hostname: f.hostname, CapAdd: f.capAdd, CapDrop: f.capDrop,
		},
	}
	for _, m := range f.mounts {
		mt, err := parseMount(m)
		if err != nil {
			return nil, nil, err
		}
		cmd.Isolation.Mounts = append(cmd.Isolation.Mounts, mt)
	}
	for _, u := range f.ulimits {
		ul, err := executor.ParseUlimit(u)
		if err != nil {
			return nil, nil, fmt.Errorf("--ulimit: %w", err)
		}
		cmd.Isolation.Ulimits = append(cmd.Isolation.Ulimits, ul)
	}
	switch f.seccomp {
	case "":
	case "unconfined":
		cmd.Isolation.SeccompUnconfined = true
	default:
		p, err := executor.LoadSeccompProfile(f.seccomp, cmd.Isolation)
		if err != nil {
			return nil, nil, fmt.Errorf("--seccomp: %w", err)
		}
		cmd.Isolation.Seccomp = p
	}
	r, err := f.resources(fs)
	if err != nil {
		return nil, nil, err
	}
	cmd.Resources = r
	var files []*os.File
	// Every other field is checked before a file is made: a run refused
	// for a bad flag leaves nothing behind.
	if err := executor.Validate(cmd); err != nil {
		return nil, nil, err
	}
	if f.detach {
		return cmd, nil, nil // the supervisor opens them
	}
	if f.stdout != "" {
		out, err := os.OpenFile(f.stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, files, fmt.Errorf("--stdout: %w", err)
		}
		files = append(files, out)
		cmd.Stdout = out
	}
	if f.stderr != "" {
		out, err := os.OpenFile(f.stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, files, fmt.Errorf("--stderr: %w", err)
		}
		files = append(files, out)
		cmd.Stderr = out
	}
	return cmd, files, nil
}

// resourceFlags defines the limit flags, shared by run and update.
func (f *runFlags) resourceFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.memory, "memory", "", "memory limit (K, M, G)")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit; -1 unlimited")
	fs.Uint64Var(&f.cpuShares, "cpu-shares", 0, "relative CPU weight (at least 2)")
	fs.Float64Var(&f.cpus, "cpus", 0, "CPU limit in cores")
	fs.StringVar(&f.cpuset, "cpuset", "", "CPUs the task may use")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "most processes and threads")
}

func (f *runFlags) resources(fs *pflag.FlagSet) (executor.Resources, error) {
	var r executor.Resources
	var err error
	if f.memory != "" {
		if r.MemoryBytes, err = cgroup.ParseSize(f.memory); err != nil {
			return r, fmt.Errorf("--memory: %w", err)
		}
	}
	if f.memorySwap != "" {
		if r.MemorySwapBytes, err = cgroup.ParseSize(f.memorySwap); err != nil {
			return r, fmt.Errorf("--memory-swap: %w", err)
		}
	}
	if fs.Changed("cpus") && f.cpus <= 0 {
		return r, errors.New("--cpus: must be greater than 0")
	}
	if fs.Changed("cpu-shares") && f.cpuShares == 0 {
		return r, errors.New("--cpu-shares: 0 is below the minimum of 2")
	}
	if fs.Changed("pids-limit") && f.pidsLimit <= 0 {
		return r, errors.New("--pids-limit: must be positive")
	}
	r.CPUShares, r.CPUs, r.Cpuset, r.PidsLimit = f.cpuShares, f.cpus, f.cpuset, f.pidsLimit
	return r, nil
}

// parseMount reads SRC:DST[:ro].
func parseMount(s string) (executor.Mount, error) {
	parts := strings.Split(s, ":")
	m := executor.Mount{}
	switch {
	case len(parts) == 2:
	case len(parts) == 3 && parts[2] == "ro":
		m.ReadOnly = true
	case len(parts) == 3 && parts[2] == "rw":
	default:
		return m, fmt.Errorf("--mount %q: want SRC:DST[:ro]", s)
	}
	if parts[0] == "" || parts[1] == "" {
		return m, fmt.Errorf("--mount %q: want SRC:DST[:ro]", s)
	}
	m.Source, m.Destination = parts[0], parts[1]
	return m, nil
}

// finalState is what --json prints.
type finalState struct {
	ID        string `json:"id"`
	Pid       int    `json:"pid"`
	Status    string `json:"status"`
	ExitCode  int    `json:"exit_code"`
	Signal    int    `json:"signal"`
	OOMKilled bool   `json:"oom_killed"`
	Time      string `json:"time"`
}

func printFinal(id string, st *executor.ProcessState) {
	b, _ := json.Marshal(finalState{ID: id, Pid: st.Pid, Status: "stopped", ExitCode: st.ExitCode,
		Signal: st.Signal, OOMKilled: st.OOMKilled, Time: st.Time.UTC().Format(time.RFC3339Nano)})
	fmt.Fprintln(os.Stderr, string(b))
}
