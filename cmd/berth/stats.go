package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/stats"
	"github.com/spf13/cobra"
)

func statsCommand(g *globals) *cobra.Command {
	var asJSON, watch bool
	c := &cobra.Command{
		Use:   "stats ID [--json] [--watch]",
		Short: "show a task's resource usage",
		Long: "Show a task's CPU, memory and processes, from its cgroup and its processes'\n" +
			"/proc entries. CPU percent is of one core (a task busy on two shows about\n" +
			"200) over " + executor.StatsInterval.String() + " between two readings; --watch redraws every second\n" +
			"until Ctrl-C. A figure this host does not measure for the task shows as -\n" +
			"(and is missing from \"measured\" in --json).",
		Args: taskArgs("stats", 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exit(cmdStats(g, args[0], asJSON, watch))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the usage as JSON (one object per reading)")
	c.Flags().BoolVar(&watch, "watch", false, "redraw every second until Ctrl-C")
	return c
}

func cmdStats(g *globals, id string, asJSON, watch bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	store := g.store()
	if !watch {
		u, err := store.Stats(ctx, id)
		if err != nil {
			return fail(exitBerth, err)
		}
		return showUsage(os.Stdout, id, u, asJSON, store)
	}
	watchingJSON = asJSON
	ch, err := store.StatsStream(ctx, id, time.Second)
	if err != nil {
		return fail(exitBerth, err)
	}
	for u := range ch {
		if !asJSON {
			fmt.Print("\033[H\033[2J") // home, clear: redraw in place
		}
		showUsage(os.Stdout, id, u, asJSON, store)
	}
	if ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "berth: stats %q: the task stopped\n", id)
	}
	return 0
}

// showUsage prints one reading: JSON, or a table like docker stats' with a
// row per process below.
func showUsage(w io.Writer, id string, u *stats.TaskResourceUsage, asJSON bool, store *executor.Store) int {
	if asJSON {
		return printJSONTo(w, u, !watchingJSON)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS")
	mem, pct := memoryColumn(&u.Memory)
	pids := "-"
	if has(u.Processes.Measured, "current") {
		pids = strconv.FormatUint(u.Processes.Current, 10)
		if has(u.Processes.Measured, "limit") && u.Processes.Limit > 0 {
			pids += " / " + strconv.FormatUint(u.Processes.Limit, 10)
		}
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, percent(&u.CPU), mem, pct, pids)
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tCPU %\tRSS\tCOMMAND")
	keys := make([]int, 0, len(u.Pids))
	for k := range u.Pids {
		if pid, err := strconv.Atoi(k); err == nil {
			keys = append(keys, pid)
		}
	}
	sort.Ints(keys)
	for _, pid := range keys {
		p := u.Pids[strconv.Itoa(pid)]
		cmd := ""
		if args, err := procCmdline(pid); err == nil {
			cmd = args
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", pid, percent(&p.CPU), bytesOr(&p.Memory, "rss", p.Memory.RSS), printable(cmd))
	}
	tw.Flush()
	return 0
}

// memoryColumn is "usage / limit" and the percent of the limit; the RSS
// (summed over processes) where the host measures no usage for the task.
func memoryColumn(m *stats.MemoryStats) (string, string) {
	used, usedOK := m.Usage, has(m.Measured, "usage")
	label := ""
	if !usedOK && has(m.Measured, "rss") {
		used, usedOK, label = m.RSS, true, " (rss)"
	}
	if !usedOK {
		return "-", "-"
	}
	limit, pct := "-", "-"
	if has(m.Measured, "limit") && m.Limit > 0 {
		limit = humanBytes(m.Limit)
		pct = fmt.Sprintf("%.1f%%", 100*float64(used)/float64(m.Limit))
	}
	return humanBytes(used) + label + " / " + limit, pct
}

func percent(c *stats.CPUStats) string {
	if !has(c.Measured, "percent") {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", c.Percent)
}

func bytesOr(m *stats.MemoryStats, field string, v uint64) string {
	if !has(m.Measured, field) {
		return "-"
	}
	return humanBytes(v)
}

func has(measured []string, field string) bool { return slices.Contains(measured, field) }

// printable replaces what a task could use to steer the caller's terminal
// (escape sequences, carriage returns, tabs that break the table) in its
// command lines and user names with '?': tables are for terminals. JSON
// keeps them as they are, escaped.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		// Controls, and format characters such as the bidirectional
		// overrides that reorder what the terminal shows.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, s)
}

// watchingJSON prints one compact JSON object per line (stats --watch
// --json), a stream a poller can read line by line.
var watchingJSON bool

// procCmdline is a process's command line, its arguments joined by spaces.
func procCmdline(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), nil
}

// humanBytes prints a size in binary units, as the limit flags take them.
func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func psCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ps ID [--json]",
		Short: "list a task's processes",
		Long: "List a task's processes, like ps: pid, parent pid, user (named from the task's\n" +
			"own /etc/passwd), CPU percent over the process's life, resident memory and\n" +
			"command line.",
		Args: taskArgs("ps", 0),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(cmdPs(g, args[0], asJSON)) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func cmdPs(g *globals, id string, asJSON bool) int {
	procs, err := g.store().Processes(id)
	if err != nil {
		return fail(exitBerth, err)
	}
	if asJSON {
		return printJSON(procs)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tPPID\tUSER\t%CPU\tRSS\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(w, "%d\t%d\t%s\t%.1f\t%s\t%s\n", p.Pid, p.PPid, printable(p.User), p.CPUPercent, humanBytes(p.RSS), printable(p.Command))
	}
	w.Flush()
	return 0
}

// listStats reads the usage of every running task at once, so that the
// whole list takes one stats interval.
func listStats(store *executor.Store, tasks []*executor.State) map[string]*stats.TaskResourceUsage {
	type result struct {
		id string
		u  *stats.TaskResourceUsage
	}
	ch := make(chan result, len(tasks))
	n := 0
	for _, t := range tasks {
		if t.Status == executor.StatusStopped {
			continue
		}
		n++
		go func(id string) {
			// A task that stopped meanwhile has no figures: its row
			// shows "-".
			u, _ := store.Stats(context.Background(), id)
			ch <- result{id, u}
		}(t.ID)
	}
	out := map[string]*stats.TaskResourceUsage{}
	for ; n > 0; n-- {
		r := <-ch
		if r.u != nil {
			out[r.id] = r.u
		}
	}
	return out
}
