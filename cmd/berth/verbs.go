package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/stats"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func (g *globals) store() *executor.Store {
	return executor.NewStore(g.stateDir, g.cgroupParent, g.log)
}

func stateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "print a task's state as JSON",
		Args:  taskArgs("state", 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store().Get(args[0])
			if err != nil {
				return failed(exitBerth, err)
			}
			return exit(printJSON(st))
		},
	}
}

func listCommand(g *globals) *cobra.Command {
	var asJSON, withStats bool
	c := &cobra.Command{
		Use:   "list [--json] [--stats]",
		Short: "list the tasks in the state dir",
		Args:  noArgs("list"),
		RunE:  func(cmd *cobra.Command, args []string) error { return exit(cmdList(g, asJSON, withStats)) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&withStats, "stats", false, "add each running task's CPU percent and memory (one stats interval for all)")
	return c
}

// listEntry is a task of `list --json --stats`: its state and its usage.
type listEntry struct {
	*executor.State
	Stats *stats.TaskResourceUsage `json:"stats,omitempty"`
}

func cmdList(g *globals, asJSON, withStats bool) int {
	store := g.store()
	tasks, err := store.List()
	if err != nil {
		return fail(exitBerth, err)
	}
	var usage map[string]*stats.TaskResourceUsage
	if withStats {
		usage = listStats(store, tasks)
	}
	if asJSON {
		if !withStats {
			if tasks == nil {
				tasks = []*executor.State{}
			}
			return printJSON(tasks)
		}
		entries := make([]listEntry, len(tasks))
		for i, t := range tasks {
			entries[i] = listEntry{State: t, Stats: usage[t.ID]}
		}
		return printJSON(entries)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	header := "ID\tPID\tSTATUS\tEXIT\tCREATED"
	if withStats {
		header += "\tCPU %\tMEM"
	}
	fmt.Fprintln(w, header)
	for _, t := range tasks {
		exit := "-"
		if t.Status == executor.StatusStopped {
			exit = fmt.Sprint(t.ExitCode)
		}
		row := fmt.Sprintf("%s\t%d\t%s\t%s\t%s", t.ID, t.Pid, t.Status, exit, t.Created.Format(time.RFC3339))
		if withStats {
			cpu, mem := "-", "-"
			if u := usage[t.ID]; u != nil {
				cpu = percent(&u.CPU)
				mem, _ = memoryColumn(&u.Memory)
			}
			row += "\t" + cpu + "\t" + mem
		}
		fmt.Fprintln(w, row)
	}
	w.Flush()
	return 0
}

func killCommand(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "kill ID [SIGNAL] [--all]",
		Short: "send a signal (SIGTERM by default) to a task",
		Args:  taskArgs("kill", 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = executor.ParseSignal(args[1]); err != nil {
					return usage("kill", "%w", err)
				}
			}
			if err := g.store().Kill(args[0], sig, all); err != nil {
				return failed(exitBerth, err)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "signal every process of the task, not only its main one")
	return c
}

func stopCommand(g *globals) *cobra.Command {
	var sig string
	var grace time.Duration
	c := &cobra.Command{
		Use:   "stop ID [--signal SIG] [--grace D]",
		Short: "stop a task: its stop signal, a grace period, then kill",
		Args:  taskArgs("stop", 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if fs.Changed("signal") {
				if _, err := executor.ParseSignal(sig); err != nil {
					return usage("stop", "--signal: %w", err)
				}
			}
			if fs.Changed("grace") && grace < 0 {
				return usage("stop", "--grace: must not be negative")
			}
			if err := g.store().Stop(args[0], sig, grace); err != nil {
				return failed(exitBerth, err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&sig, "signal", "", "signal that asks the task to stop (default: the task's --stop-signal)")
	c.Flags().DurationVar(&grace, "grace", -1, "time between the signal and the kill (default: the task's --grace)")
	return c
}

func pauseCommand(g *globals, resume bool) *cobra.Command {
	verb, short := "pause", "freeze every process of a task"
	if resume {
		verb, short = "resume", "thaw a paused task"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  taskArgs(verb, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := g.store()
			var err error
			if resume {
				err = s.Resume(args[0])
			} else {
				err = s.Pause(args[0])
			}
			if err != nil {
				return failed(exitBerth, err)
			}
			return nil
		},
	}
}

func updateCommand(g *globals) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "update ID [--memory SIZE] [--memory-swap SIZE] [--cpu-shares N] [--cpus X] [--cpuset CPUS] [--pids-limit N]",
		Short: "change a running task's limits",
		Args:  taskArgs("update", 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			changed := false
			for _, name := range []string{"memory", "memory-swap", "cpu-shares", "cpus", "cpuset", "pids-limit"} {
				changed = changed || fs.Changed(name)
			}
			if !changed {
				return usage("update", "no limit given (--memory, --memory-swap, --cpu-shares, --cpus, --cpuset, --pids-limit)")
			}
			r, err := f.resources(fs)
			if err != nil {
				return usage("update", "%w", err)
			}
			if err := g.store().Update(args[0], r); err != nil {
				return failed(exitBerth, err)
			}
			return nil
		},
	}
	f.resourceFlags(c.Flags())
	return c
}

func deleteCommand(g *globals) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "delete ID [--force]",
		Short: "remove a stopped task's state and cgroup",
		Args:  taskArgs("delete", 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.store().Delete(args[0], force); err != nil {
				return failed(exitBerth, err)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "kill a running task first")
	return c
}

func printJSON(v any) int { return printJSONTo(os.Stdout, v, true) }

// printJSONTo prints v as JSON on w, indented or as one line.
func printJSONTo(w io.Writer, v any, indent bool) int {
	enc := json.NewEncoder(w)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return fail(exitBerth, err)
	}
	return 0
}
