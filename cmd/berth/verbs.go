package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthrun/berth/executor"
	"golang.org/x/sys/unix"
)

// parseAll parses flags that may come before, between or after the
// positional arguments ("berth kill ID SIGKILL --all") and returns the
// positional ones.
func parseAll(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" && len(args) > 0 && args[len(args)-len(rest)] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// taskVerb parses a verb's flags and its one ID (plus up to extra more
// positional arguments).
func taskVerb(verb string, fs *flag.FlagSet, args []string, extra int) ([]string, error) {
	pos, err := parseAll(fs, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	if len(pos) == 0 {
		return nil, fmt.Errorf("%s: no task id given", verb)
	}
	if len(pos) > 1+extra {
		return nil, fmt.Errorf("%s: unexpected argument %q", verb, pos[1+extra])
	}
	return pos, nil
}

func (g *globals) store() *executor.Store {
	return executor.NewStore(g.stateDir, g.cgroupParent, g.log)
}

func cmdState(g *globals, args []string) int {
	pos, err := taskVerb("state", newFlagSet("state"), args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	st, err := g.store().Get(pos[0])
	if err != nil {
		return fail(exitBerth, err)
	}
	return printJSON(st)
}

func cmdList(g *globals, args []string) int {
	fs := newFlagSet("list")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseAll(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", pos[0])
		}
		return fail(exitUsage, fmt.Errorf("list: %w", err))
	}
	tasks, err := g.store().List()
	if err != nil {
		return fail(exitBerth, err)
	}
	if *asJSON {
		if tasks == nil {
			tasks = []*executor.State{}
		}
		return printJSON(tasks)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPID\tSTATUS\tEXIT\tCREATED")
	for _, t := range tasks {
		exit := "-"
		if t.Status == executor.StatusStopped {
			exit = fmt.Sprint(t.ExitCode)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", t.ID, t.Pid, t.Status, exit, t.Created.Format(time.RFC3339))
	}
	w.Flush()
	return 0
}

func cmdKill(g *globals, args []string) int {
	fs := newFlagSet("kill")
	all := fs.Bool("all", false, "signal every process of the task")
	pos, err := taskVerb("kill", fs, args, 1)
	if err != nil {
		return fail(exitUsage, err)
	}
	sig := unix.SIGTERM
	if len(pos) == 2 {
		if sig, err = executor.ParseSignal(pos[1]); err != nil {
			return fail(exitUsage, fmt.Errorf("kill: %w", err))
		}
	}
	if err := g.store().Kill(pos[0], sig, *all); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}

func cmdStop(g *globals, args []string) int {
	fs := newFlagSet("stop")
	sig := fs.String("signal", "", "signal that asks the task to stop (default: the task's --stop-signal)")
	grace := fs.Duration("grace", -1, "time between the signal and the kill (default: the task's --grace)")
	pos, err := taskVerb("stop", fs, args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["signal"] {
		if _, err := executor.ParseSignal(*sig); err != nil {
			return fail(exitUsage, fmt.Errorf("--signal: %w", err))
		}
	}
	if set["grace"] && *grace < 0 {
		return fail(exitUsage, errors.New("--grace: must not be negative"))
	}
	if err := g.store().Stop(pos[0], *sig, *grace); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}

func cmdPause(g *globals, args []string, resume bool) int {
	verb := "pause"
	if resume {
		verb = "resume"
	}
	pos, err := taskVerb(verb, newFlagSet(verb), args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	s := g.store()
	if resume {
		err = s.Resume(pos[0])
	} else {
		err = s.Pause(pos[0])
	}
	if err != nil {
		return fail(exitBerth, err)
	}
	return 0
}

func cmdUpdate(g *globals, args []string) int {
	fs := newFlagSet("update")
	f := &runFlags{}
	f.resourceFlags(fs)
	pos, err := taskVerb("update", fs, args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if len(set) == 0 {
		return fail(exitUsage, errors.New("update: no limit given (--memory, --memory-swap, --cpu-shares, --cpus, --cpuset, --pids-limit)"))
	}
	r, err := f.resources(set)
	if err != nil {
		return fail(exitUsage, err)
	}
	if err := g.store().Update(pos[0], r); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}

func cmdDelete(g *globals, args []string) int {
	fs := newFlagSet("delete")
	force := fs.Bool("force", false, "kill a running task first")
	pos, err := taskVerb("delete", fs, args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	if err := g.store().Delete(pos[0], *force); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}

// psEntry is one process of `berth ps`.
type psEntry struct {
	Pid     int    `json:"pid"`
	Command string `json:"command"`
}

func cmdPs(g *globals, args []string) int {
	fs := newFlagSet("ps")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := taskVerb("ps", fs, args, 0)
	if err != nil {
		return fail(exitUsage, err)
	}
	pids, err := g.store().Pids(pos[0])
	if err != nil {
		return fail(exitBerth, err)
	}
	out := make([]psEntry, 0, len(pids))
	for _, pid := range pids {
		cmd := ""
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			cmd = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		}
		out = append(out, psEntry{Pid: pid, Command: cmd})
	}
	if *asJSON {
		return printJSON(out)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCOMMAND")
	for _, p := range out {
		fmt.Fprintf(w, "%d\t%s\n", p.Pid, p.Command)
	}
	w.Flush()
	return 0
}

func printJSON(v any) int {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}
