package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	verbs = []verb{
		{"create", "--bundle DIR --pid-file FILE [--console-socket SOCK] ID: set up a container, its process held before its command", create},
		{"start", "ID: run the created container's command", start},
		{"run", "--bundle DIR [--pid-file FILE] [--console-socket SOCK] [--detach] ID: create and start", runVerb},
		{"state", "ID: the container's state, as JSON", state},
		{"kill", "[--all] ID [SIGNAL]: signal the container's process (SIGTERM), or all its processes", kill},
		{"delete", "[--force] ID: remove a stopped or created container (--force: a running one too)", deleteVerb},
		{"ps", "[--format table|json] ID: the container's processes", ps},
		{"pause", "ID: freeze every process of the container", pause},
		{"resume", "ID: thaw it", resume},
		{"update", "--resources FILE|- ID: change its limits (linux.resources JSON)", update},
		{"exec", "--process FILE [--detach] [--pid-file FILE] [--console-socket SOCK] ID: run a process in it", execVerb},
		{"list", "[--format table|json]: the containers", list},
		{"features", ": what this runtime supports, as JSON", features},
	}
}

// ociFile records, beside the task's state, what only OCI's state has.
const ociFile = "oci.json"

type ociRecord struct {
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Hooks are the config's, as create read it: start and delete run
	// poststart and poststop from here, whatever the bundle says by then.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

// defaultCgroupParent is where a container's cgroup goes when its config
// gives no cgroupsPath.
const defaultCgroupParent = "berth-oci"

func (g *global) store() *executor.Store {
	return executor.NewStore(g.root, defaultCgroupParent, g.logger())
}

func create(g *global, args []string) error {
	_, err := createContainer(g, args, "create")
	return err
}

// createContainer is create's work, for run too.
func createContainer(g *global, args []string, name string) (string, error) {
	fs := verbFlags(name)
	bundle := fs.StringP("bundle", "b", ".", "the bundle directory")
	pidFile := fs.String("pid-file", "", "write the container process's pid to FILE")
	console := fs.String("console-socket", "", "send the pty master of a terminal container to this unix socket")
	fs.Bool("no-pivot", false, "accepted; berth always pivots")
	noKeyring := fs.Bool("no-new-keyring", false, "not supported")
	preserve := fs.Int("preserve-fds", 0, "hand the container's process this process's fds 3 to 3+N-1 as its own 3, 4, ...")
	fs.BoolP("detach", "d", false, "run only: do not wait")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return "", err
	}
	if *noKeyring {
		return "", errors.New("--no-new-keyring: not supported (every container gets its own session keyring)")
	}
	extra, err := preservedFiles(*preserve)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(*bundle)
	if err != nil {
		return "", err
	}
	spec, err := oci.Load(abs)
	if err != nil {
		return "", err
	}
	c, err := oci.Translate(spec, abs, id)
	if err != nil {
		return "", err
	}
	for _, w := range c.Warnings {
		logLine(g, "warning", w)
	}
	if c.Command.Terminal && *console == "" {
		return "", errors.New("process.terminal: needs --console-socket")
	}
	if !c.Command.Terminal && *console != "" {
		return "", errors.New("--console-socket: the container has no terminal (process.terminal)")
	}
	c.Command.ConsoleSocket = *console
	c.Command.WaitForStart = true
	c.Command.ExtraFiles = extra
	setHooks(c.Command, spec, id, abs)
	// The container's stdio is ours, handed over as is.
	c.Command.Stdin, c.Command.Stdout, c.Command.Stderr = os.Stdin, os.Stdout, os.Stderr
	// containerd's runc shim finds a container's cgroups through its pid
	// and reads its metrics and OOM events from the v1 controllers on a
	// v1 or hybrid host: the container joins them all, limits or not.
	// cpuset is left out (the shim reads nothing there): a cpuset limit
	// joins it, and its new cgroup gets the parent's cpus and mems where
	// the limit gives none, without which v1 admits no process. devices
	// holds the container's device rules in v1's devices.list too, where
	// tools read them (BPF enforces them on the unified hierarchy).
	e := executor.New(executor.Config{StateDir: g.root, CgroupParent: defaultCgroupParent, CgroupPath: c.CgroupPath,
		KeepState: true, ExternalReaper: true,
		CgroupV1Controllers: []string{"memory", "cpu", "cpuacct", "pids", "blkio", "devices"},
		// A bundle's cgroupsPath names a parent of the caller's (a pod's,
		// a slice), or none: device control goes on the container's own
		// cgroup.
		CgroupSharedParent: true, Logger: g.logger()})
	ps, err := e.Launch(c.Command)
	if err != nil {
		return "", err
	}
	undo := func(err error) (string, error) {
		_ = g.store().Delete(id, true)
		return "", err
	}
	rec, err := json.Marshal(ociRecord{Bundle: abs, Annotations: spec.Annotations, Hooks: spec.Hooks})
	if err != nil {
		return undo(err)
	}
	if err := writeFileAtomic(filepath.Join(g.root, id, ociFile), rec, 0o600); err != nil {
		return undo(err)
	}
	if *pidFile != "" {
		if err := writeFileAtomic(*pidFile, []byte(strconv.Itoa(ps.Pid)), 0o644); err != nil {
			return undo(fmt.Errorf("--pid-file: %w", err))
		}
	}
	return id, nil
}

func start(g *global, args []string) error {
	fs := verbFlags("start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	return startContainer(g, id)
}

// startContainer is start's work, for run too.
func startContainer(g *global, id string) error {
	// The state poststart hooks get is read before the start: a command
	// that exits at once would otherwise be reported to them as stopped,
	// without its pid. Without such hooks Start's own reading is enough.
	rec := record(g, id)
	var st *stateJSON
	if rec.Hooks != nil && len(rec.Hooks.Poststart) > 0 {
		var err error
		if st, err = stateOf(g, id); err != nil {
			return err
		}
	}
	if err := g.store().Start(id); err != nil {
		return ociErr(id, err)
	}
	// poststart: after the command was exec'd; a failing one is a
	// warning, and the container runs on (runtime-spec).
	if st != nil {
		st.Status = executor.StatusRunning
		warnHooks(g, "poststart", rec.Hooks.Poststart, st)
	}
	return nil
}

// record reads what create recorded beside the task's state.
func record(g *global, id string) ociRecord {
	var rec ociRecord
	if b, err := os.ReadFile(filepath.Join(g.root, id, ociFile)); err == nil {
		_ = json.Unmarshal(b, &rec)
	}
	return rec
}

// runVerb is create then start; without --detach it waits for the
// container's process, which is its child, and exits with its status.
func runVerb(g *global, args []string) error {
	detach := false
	for _, a := range args {
		if a == "-d" || a == "--detach" {
			detach = true
		}
	}
	id, err := createContainer(g, args, "run")
	if err != nil {
		return err
	}
	st, err := g.store().Get(id)
	if err != nil {
		return err
	}
	if err := startContainer(g, id); err != nil {
		_ = removeContainer(g, id, true)
		return err
	}
	if detach {
		return nil
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(st.Pid, &ws, 0, nil); err != nil {
		return err
	}
	_ = removeContainer(g, id, true)
	if ws.Signaled() {
		return exitError(128 + int(ws.Signal()))
	}
	return exitError(ws.ExitStatus())
}

// stateJSON is runc's state output, as go-runc reads it.
type stateJSON struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func stateOf(g *global, id string) (*stateJSON, error) {
	st, err := g.store().Get(id)
	if err != nil {
		return nil, ociErr(id, err)
	}
	out := &stateJSON{OCIVersion: specs.Version, ID: id, Pid: st.Pid, Status: st.Status, Rootfs: st.Rootfs, Created: st.Created}
	if st.Status == executor.StatusStopped {
		out.Pid = 0
	}
	rec := record(g, id)
	out.Bundle, out.Annotations = rec.Bundle, rec.Annotations
	return out, nil
}

func state(g *global, args []string) error {
	fs := verbFlags("state")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	st, err := stateOf(g, id)
	if err != nil {
		return err
	}
	return printJSON(st)
}

func kill(g *global, args []string) error {
	fs := verbFlags("kill")
	all := fs.BoolP("all", "a", false, "signal every process of the container")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, rest, err := oneID(fs, 2)
	if err != nil {
		return err
	}
	name := "SIGTERM"
	if len(rest) == 1 {
		name = rest[0]
	}
	sig, err := executor.ParseSignal(name)
	if err != nil {
		return err
	}
	err = g.store().Kill(id, sig, *all)
	if *all && errors.Is(err, executor.ErrNotRunning) {
		return nil // runc: kill --all of a stopped container succeeds
	}
	return ociErr(id, err)
}

func deleteVerb(g *global, args []string) error {
	fs := verbFlags("delete")
	force := fs.BoolP("force", "f", false, "kill a running container first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	return removeContainer(g, id, *force)
}

// removeContainer is delete's work, for run too.
func removeContainer(g *global, id string, force bool) error {
	// poststop hooks get the container's state as it was before the
	// delete; without them Delete's own reading is enough.
	rec := record(g, id)
	var st *stateJSON
	if rec.Hooks != nil && len(rec.Hooks.Poststop) > 0 {
		st, _ = stateOf(g, id)
	}
	err := g.store().Delete(id, force)
	if force && errors.Is(err, executor.ErrNotFound) {
		return nil
	}
	if err != nil {
		return ociErr(id, err)
	}
	// poststop: once the container is gone; a failing one is a warning.
	if rec.Hooks != nil && len(rec.Hooks.Poststop) > 0 && st != nil {
		st.Status = executor.StatusStopped
		warnHooks(g, "poststop", rec.Hooks.Poststop, st)
	}
	return nil
}

func ps(g *global, args []string) error {
	fs := verbFlags("ps")
	format := fs.StringP("format", "f", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		pids, err := g.store().Pids(id)
		if err != nil {
			return ociErr(id, err)
		}
		if pids == nil {
			pids = []int{}
		}
		return printJSON(pids)
	case "table":
		procs, err := g.store().Processes(id)
		if err != nil {
			return ociErr(id, err)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tUSER\tCOMMAND")
		for _, p := range procs {
			fmt.Fprintf(w, "%d\t%s\t%s\n", p.Pid, p.User, p.Command)
		}
		return w.Flush()
	default:
		return fmt.Errorf("--format %q: want table or json", *format)
	}
}

func pause(g *global, args []string) error  { return simple(g, args, "pause", g.store().Pause) }
func resume(g *global, args []string) error { return simple(g, args, "resume", g.store().Resume) }

func simple(g *global, args []string, name string, f func(string) error) error {
	fs := verbFlags(name)
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	return ociErr(id, f(id))
}

func update(g *global, args []string) error {
	fs := verbFlags("update")
	file := fs.StringP("resources", "r", "", "linux.resources JSON: a FILE, or - for stdin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, _, err := oneID(fs, 1)
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--resources: needed (the flags runc takes one by one are not supported)")
	}
	var body []byte
	if *file == "-" {
		body, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		body, err = oci.ReadFile(*file, 1<<20)
	}
	if err != nil {
		return fmt.Errorf("--resources: %w", err)
	}
	var lr specs.LinuxResources
	if err := json.Unmarshal(body, &lr); err != nil {
		return fmt.Errorf("--resources: %w", err)
	}
	res, devs, warnings, err := oci.Resources(&lr)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logLine(g, "warning", w)
	}
	if len(devs) > 0 {
		return errors.New("--resources: devices: a running container's devices cannot change yet")
	}
	return ociErr(id, g.store().Update(id, res))
}

func execVerb(g *global, args []string) error {
	fs := verbFlags("exec")
	process := fs.StringP("process", "p", "", "the process, as config.json's process JSON")
	detach := fs.BoolP("detach", "d", false, "do not wait for the process")
	pidFile := fs.String("pid-file", "", "write the process's pid to FILE")
	console := fs.String("console-socket", "", "send the pty master to this unix socket")
	preserve := fs.Int("preserve-fds", 0, "hand the process this process's fds 3 to 3+N-1 as its own 3, 4, ...")
	tty := fs.BoolP("tty", "t", false, "a terminal (with --process, process.terminal decides)")
	// ID -- CMD ARG...: the command's own flags are its own.
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, rest, err := oneID(fs, 1<<20)
	if err != nil {
		return err
	}
	extra, err := preservedFiles(*preserve)
	if err != nil {
		return err
	}
	var p specs.Process
	switch {
	case *process != "":
		b, err := oci.ReadFile(*process, 1<<20)
		if err != nil {
			return fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("--process: %w", err)
		}
	case len(rest) > 0:
		p.Args, p.Terminal = rest, *tty
	default:
		return errors.New("--process FILE or a command needed")
	}
	if len(p.Args) == 0 {
		return errors.New("process.args: empty")
	}
	if p.Terminal && *console == "" {
		return errors.New("process.terminal: needs --console-socket")
	}
	c := &executor.ExecCommand{Cmd: p.Args[0], Args: p.Args[1:], Env: p.Env, Cwd: p.Cwd,
		Terminal: p.Terminal, ConsoleSocket: *console, Detach: *detach, ExtraFiles: extra,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if *process != "" {
		c.Credentials = &executor.Credentials{UID: p.User.UID, GID: p.User.GID, Groups: p.User.AdditionalGids}
	}
	ps, err := g.store().Exec(context.Background(), id, c)
	if err != nil {
		return ociErr(id, err)
	}
	if *pidFile != "" {
		if err := writeFileAtomic(*pidFile, []byte(strconv.Itoa(ps.Pid)), 0o644); err != nil {
			return fmt.Errorf("--pid-file: %w", err)
		}
	}
	if *detach {
		return nil
	}
	if ps.ExitCode != 0 {
		return exitError(ps.ExitCode)
	}
	return nil
}

func list(g *global, args []string) error {
	fs := verbFlags("list")
	format := fs.StringP("format", "f", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sts, err := g.store().List()
	if err != nil {
		return err
	}
	var out []*stateJSON
	for _, s := range sts {
		if st, err := stateOf(g, s.ID); err == nil {
			out = append(out, st)
		}
	}
	if *format == "json" {
		if out == nil {
			out = []*stateJSON{}
		}
		return printJSON(out)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
	for _, s := range out {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339))
	}
	return w.Flush()
}

func features(g *global, args []string) error {
	fs := verbFlags("features")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	yes, no := true, false
	f := map[string]any{
		"ociVersionMin": "1.0.0",
		"ociVersionMax": specs.Version,
		"hooks":         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		"mountOptions":  mountOptions(),
		"linux": map[string]any{
			"namespaces": []string{"mount", "pid", "ipc", "uts", "network"},
			"cgroup":     map[string]any{"v1": yes, "v2": yes, "systemd": no, "systemdUser": no},
			"seccomp": map[string]any{"enabled": yes,
				"actions":   []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
				"operators": []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
				"archs":     []string{"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
			"apparmor": map[string]any{"enabled": no},
			"selinux":  map[string]any{"enabled": no},
		},
		"annotations": map[string]string{"io.github.berthrun.berth.version": executor.Version},
	}
	return printJSON(f)
}

func mountOptions() []string {
	return strings.Fields("ro rw nosuid suid nodev dev noexec exec sync async dirsync noatime atime nodiratime diratime " +
		"relatime norelatime strictatime nostrictatime mand nomand silent loud defaults bind rbind private rprivate slave rslave")
}

// ociErr words the library's errors with runc's phrases where callers
// match them.
func ociErr(id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, executor.ErrNotFound):
		return fmt.Errorf("container %q does not exist", id)
	case errors.Is(err, executor.ErrNotRunning):
		return fmt.Errorf("container %q: container not running", id)
	}
	return err
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(v)
}

// writeFileAtomic writes a file whole or not at all: a pid file that
// appears is complete.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// maxPreserveFDs bounds --preserve-fds.
const maxPreserveFDs = 1024

// preservedFiles is --preserve-fds N: this process's fds 3 to 3+N-1, as
// its caller opened them. Each must be open and inherited: an fd that came
// through the execve had no close-on-exec flag, and every fd this process
// opened itself has one (the runtime's poller takes the lowest free
// numbers, before main).
func preservedFiles(n int) ([]*os.File, error) {
	if n < 0 || n > maxPreserveFDs {
		return nil, fmt.Errorf("--preserve-fds %d: want 0 to %d", n, maxPreserveFDs)
	}
	var out []*os.File
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			return nil, fmt.Errorf("--preserve-fds %d: fd %d is not open (not one this process was given)", n, fd)
		}
		out = append(out, os.NewFile(uintptr(fd), "preserved-"+strconv.Itoa(fd)))
	}
	return out, nil
}
