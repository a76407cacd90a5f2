package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/stats"
)

// StatsInterval is the gap between the two readings of a one-shot
// Store.Stats: CPU percent is the difference between them.
const StatsInterval = 250 * time.Millisecond

// pageSize converts /proc's RSS pages to bytes.
var pageSize = uint64(os.Getpagesize())

// coreMHz is one core's speed, read once; 0 when the host does not say.
var coreMHz = sync.OnceValue(func() float64 {
	mhz, err := procfs.CoreMHz()
	if err != nil {
		return 0
	}
	return mhz
})

// readTask takes one reading of a task: its cgroup's counters and, for
// each process its cgroup lists (never a walk of every host process), its
// /proc/PID/stat. A process that exits while it is read is left out.
func readTask(cg *cgroup.Manager) (*stats.Reading, error) {
	r := &stats.Reading{Time: time.Now(), CoreMHz: coreMHz()}
	c, err := cg.Counters()
	if err != nil {
		return nil, err
	}
	r.Cgroup = stats.Totals{
		MemoryUsage: c.MemoryUsage, MemoryMaxUsage: c.MemoryMaxUsage, MemoryLimit: c.MemoryLimit,
		RSS: c.RSS, Cache: c.Cache, Swap: c.Swap, KernelUsage: c.KernelUsage, KernelMaxUsage: c.KernelMaxUsage,
		OOMKills: c.OOMKills, CPUUsage: c.CPUUsage, CPUUser: c.CPUUser, CPUSystem: c.CPUSystem,
		ThrottledPeriods: c.ThrottledPeriods, ThrottledTime: c.ThrottledTime,
		PidsCurrent: c.PidsCurrent, PidsLimit: c.PidsLimit, Measured: c.Measured,
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, err
	}
	r.Procs = make([]stats.Proc, 0, len(pids))
	sr := procfs.NewStatReader()
	for _, pid := range pids {
		st, err := sr.Stat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		r.Procs = append(r.Procs, stats.Proc{Pid: pid, StartTime: st.StartTime, UTime: st.UTime, STime: st.STime,
			RSS: uint64(max(st.RSSPages, 0)) * pageSize})
	}
	return r, nil
}

// Usage takes one reading of the task's resource usage: CPU percent is
// over the time since the previous Usage or Stats reading of this
// executor (absent from Measured on the first). This is the call a poller
// makes every interval; Stats wraps it in a channel.
func (e *Executor) Usage() (*stats.TaskResourceUsage, error) {
	if e.attached != nil {
		return nil, fmt.Errorf("usage of an attached task: use Stats")
	}
	t, err := e.running()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.tracker == nil {
		e.tracker = stats.NewTracker()
	}
	tracker := e.tracker
	e.mu.Unlock()
	var r *stats.Reading
	err = t.withCgroup(func() error {
		var err error
		r, err = readTask(t.cg)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tracker.Usage(r), nil
}

// Stats streams the task's resource usage: one right away (without CPU
// percent: that needs a previous reading), then one every interval, until
// ctx ends or the task exits; the channel is closed then. The executor
// keeps the previous reading, so percentages cover the time since the last
// one sent.
func (e *Executor) Stats(ctx context.Context, interval time.Duration) (<-chan *stats.TaskResourceUsage, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("stats interval %s: must be positive", interval)
	}
	if e.attached != nil {
		return e.attached.store.StatsStream(ctx, e.attached.id, interval)
	}
	if _, err := e.running(); err != nil {
		return nil, err
	}
	return streamStats(ctx, interval, e.Usage, e.done), nil
}

// streamStats sends read's usage every interval until ctx ends, done is
// closed or a reading fails (the task is gone), then closes the channel.
func streamStats(ctx context.Context, interval time.Duration, read func() (*stats.TaskResourceUsage, error), done <-chan struct{}) <-chan *stats.TaskResourceUsage {
	ch := make(chan *stats.TaskResourceUsage, 1)
	go func() {
		defer close(ch)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			u, err := read()
			if err != nil {
				return
			}
			select {
			case ch <- u:
			case <-ctx.Done():
				return
			case <-done:
				return
			}
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return ch
}

// Stats reads a running or paused task's usage twice, StatsInterval apart,
// and returns the second reading: CPU percent is over that interval. A
// stopped task is an error, never stale numbers.
func (s *Store) Stats(ctx context.Context, id string) (*stats.TaskResourceUsage, error) {
	_, cg, err := s.live(id, "stats")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	tracker := stats.NewTracker()
	first, err := readTask(cg)
	if err != nil {
		return nil, wrapErr("stats", id, goneIsStopped(err))
	}
	tracker.Usage(first)
	select {
	case <-time.After(StatsInterval):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	second, err := readTask(cg)
	if err != nil {
		return nil, wrapErr("stats", id, goneIsStopped(err))
	}
	return tracker.Usage(second), nil
}

// goneIsStopped reports a cgroup removed under a reading (the task ended
// and was cleaned up meanwhile) as the task not running.
func goneIsStopped(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotRunning
	}
	return err
}

// StatsStream streams a running or paused task's usage every interval
// (the first one without CPU percent) until ctx ends or the task stops.
func (s *Store) StatsStream(ctx context.Context, id string, interval time.Duration) (<-chan *stats.TaskResourceUsage, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("stats interval %s: must be positive", interval)
	}
	st, cg, err := s.live(id, "stats")
	if err != nil {
		return nil, err
	}
	tracker := stats.NewTracker()
	read := func() (*stats.TaskResourceUsage, error) {
		// The task ends when its main process does: then stop, rather
		// than report the leftovers its reaper is about to kill.
		if !s.isTask(st, cg) {
			return nil, ErrNotRunning
		}
		r, err := readTask(cg)
		if err != nil {
			return nil, err
		}
		return tracker.Usage(r), nil
	}
	ch := streamStats(ctx, interval, read, nil)
	out := make(chan *stats.TaskResourceUsage)
	go func() {
		defer cg.Close()
		defer close(out)
		for u := range ch {
			select {
			case out <- u:
			case <-ctx.Done():
				for range ch {
				}
				return
			}
		}
	}()
	return out, nil
}
