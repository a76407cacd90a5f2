package cgroup

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// killTimeout bounds KillAll. SIGKILL cannot be caught, so only a process
// stuck in the kernel (uninterruptible sleep) can outlast it.
var killTimeout = 10 * time.Second

// pollMax caps the backoff of the loops that wait for the kernel (a cgroup
// to empty or freeze): a stop waits on them, and a coarse poll would add up
// to the whole cap to every Shutdown. Reading cgroup.events is cheap.
const pollMax = 5 * time.Millisecond

// KillAll sends SIGKILL to every process in the cgroup, including those
// that left the task's process group or session or double-forked, and
// returns once the cgroup is empty, or an error after a bound.
//
// Where the kernel has cgroup.kill (v2, Linux 5.14) one write kills the
// whole subtree atomically, frozen tasks too. Elsewhere (v1, older v2)
// KillAll repeats: freeze, SIGKILL each pid, thaw, until no process is
// left. Freezing first means no process can fork a child the list misses,
// and no pid on the list can exit and be reused by a stranger before the
// signal. On v1 a frozen task receives SIGKILL only when thawed, hence
// the thaw in each round.
//
// The processes are not reaped here: the executor's Wait reaps the task's
// main process, and the kernel reparents the others to a reaper when they
// die.
func (m *Manager) KillAll() error {
	deadline := time.Now().Add(killTimeout)
	// Most tasks leave nothing behind: skip the kill when the cgroup is
	// already empty.
	if empty, err := m.h.empty(); err == nil && empty {
		return nil
	}
	if file := m.h.killFile(); file != "" {
		// Not cgroup2.Manager.Kill: on failure it falls back to a kill
		// loop without a bound that also waits for (and so reaps) the
		// task's processes, stealing the exit status from the executor.
		err := writeFile(file, "1")
		if err == nil {
			return m.waitEmpty(deadline)
		}
		m.log.Debug("cgroup.kill failed, killing pid by pid", "file", file, "error", err)
	}
	return m.killLoop(deadline)
}

// waitEmpty polls until the cgroup has no process left.
func (m *Manager) waitEmpty(deadline time.Time) error {
	delay := time.Millisecond
	for {
		empty, err := m.h.empty()
		if err != nil {
			return fmt.Errorf("kill all in cgroup %s: %w", m.h.dir(), err)
		}
		if empty {
			return nil
		}
		if time.Now().After(deadline) {
			return m.leftError()
		}
		time.Sleep(delay)
		delay = min(2*delay, pollMax)
	}
}

// killLoop is KillAll without cgroup.kill: freeze, SIGKILL each pid, thaw,
// until the cgroup is empty.
func (m *Manager) killLoop(deadline time.Time) error {
	delay := time.Millisecond
	for {
		pids, err := m.h.pids()
		if err != nil {
			return fmt.Errorf("kill all in cgroup %s: %w", m.h.dir(), err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return m.leftError()
		}
		// A freeze that does not finish still stops most tasks; kill
		// anyway and try again next round.
		if err := m.waitFrozen(true, time.Second); err != nil {
			m.log.Debug("freeze before kill", "error", err)
		}
		if pids, err = m.h.pids(); err != nil {
			_ = m.h.setFrozen(false) // best effort: the listing error is the one to report
			return fmt.Errorf("kill all in cgroup %s: %w", m.h.dir(), err)
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				m.log.Debug("kill", "pid", pid, "error", err)
			}
		}
		if err := m.h.setFrozen(false); err != nil && !errors.Is(err, errNoFreezer) {
			return fmt.Errorf("kill all in cgroup %s: thaw: %w", m.h.dir(), err)
		}
		time.Sleep(delay)
		delay = min(2*delay, pollMax)
	}
}

// leftError reports the processes KillAll could not kill.
func (m *Manager) leftError() error {
	pids, _ := m.h.pids()
	return fmt.Errorf("kill all in cgroup %s: %d processes still there after %s: %v", m.h.dir(), len(pids), killTimeout, pids)
}
