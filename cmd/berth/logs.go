package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/internal/logs"
	"github.com/spf13/cobra"
)

// logsFlags are `berth logs`'s flags.
type logsFlags struct {
	follow         bool
	tail           int
	stdout, stderr bool
}

func logsCommand(g *globals) *cobra.Command {
	f := &logsFlags{}
	c := &cobra.Command{
		Use:   "logs ID [-f] [--tail N] [--stdout|--stderr]",
		Short: "print what a detached task wrote",
		Long: "Print what a detached task wrote to its stdout (on stdout) and stderr (on\n" +
			"stderr), kept in its state dir unless run -d --stdout/--stderr sent it to a\n" +
			"file. Each stream keeps its last " + fmt.Sprint(logs.MaxSize>>20) + " MiB to " + fmt.Sprint(2*logs.MaxSize>>20) + " MiB: older output is dropped.\n" +
			"-f follows new output until the task ends or Ctrl-C. delete removes the\n" +
			"logs with the task.",
		Args: taskArgs("logs", 0),
		RunE: func(cmd *cobra.Command, args []string) error { return exit(cmdLogs(g, f, args[0])) },
	}
	fs := c.Flags()
	fs.BoolVarP(&f.follow, "follow", "f", false, "follow new output until the task ends")
	fs.IntVar(&f.tail, "tail", -1, "print only the last N lines of each stream")
	fs.BoolVar(&f.stdout, "stdout", false, "only the task's stdout")
	fs.BoolVar(&f.stderr, "stderr", false, "only the task's stderr")
	return c
}

func cmdLogs(g *globals, f *logsFlags, id string) int {
	if f.stdout && f.stderr {
		return failUsage("logs", errors.New("--stdout and --stderr: give one, or neither for both"))
	}
	store := g.store()
	if _, err := store.Get(id); err != nil {
		return fail(exitBerth, err)
	}
	dir := filepath.Join(g.stateDir, id, logs.Dir)
	type stream struct {
		name string
		out  io.Writer
	}
	var streams []stream
	if !f.stderr {
		streams = append(streams, stream{logs.Stdout, os.Stdout})
	}
	if !f.stdout {
		streams = append(streams, stream{logs.Stderr, os.Stderr})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, len(streams))
	for _, s := range streams {
		path := filepath.Join(dir, s.name)
		offset, err := printLog(s.out, path, f.tail)
		if err != nil {
			return fail(exitBerth, fmt.Errorf("logs %q: %w", id, err))
		}
		if f.follow {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- followLog(ctx, s.out, path, offset, func() bool {
					st, err := store.Get(id)
					return err != nil || st.Status == executor.StatusStopped
				})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fail(exitBerth, fmt.Errorf("logs %q: %w", id, err))
		}
	}
	return 0
}

// printLog prints a log, or only its last tail lines (tail < 0: all), and
// returns how far it read. A log that does not exist (the stream went to a
// file of the user's) prints nothing.
func printLog(w io.Writer, path string, tail int) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	// What the reaper keeps is at the end, after a hole: read at most
	// that much (a task can make its log's size anything).
	start := logs.DataStart(f, max(0, fi.Size()-2*logs.MaxSize))
	b, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	if err != nil {
		return 0, err
	}
	if start > 0 {
		// Cut mid-line by the trim: start at the next whole line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if tail >= 0 {
		b = lastLines(b, tail)
	}
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// lastLines is the end of b holding its last n lines.
func lastLines(b []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end-- // the last line's own newline
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// followLog prints what is appended to path from offset on, every 100ms,
// until ctx ends or ended reports the task gone (then what is left is
// printed). Trims keep offsets, so nothing is missed unless the follower
// falls 10 MiB behind.
func followLog(ctx context.Context, w io.Writer, path string, offset int64, ended func() bool) error {
	buf := make([]byte, 64<<10)
	last := time.Now()
	for {
		done := false
		if time.Since(last) >= 500*time.Millisecond {
			done, last = ended(), time.Now()
		}
		f, err := os.Open(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if f != nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < offset {
				offset = 0 // the task truncated its own output
			}
			// A trim freed what was not read yet: go on at the data.
			offset = logs.DataStart(f, offset)
			for {
				n, err := f.ReadAt(buf, offset)
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						f.Close()
						return werr
					}
					offset += int64(n)
				}
				if err != nil || n == 0 {
					break
				}
			}
			f.Close()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
