package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// OOMKilled reports whether the kernel OOM-killed a process of this cgroup:
// the "oom_kill" count of memory.oom_control on v1 or memory.events on v2
// is above zero. The kernel counts there every process it kills in the
// cgroup, so this does not guess from an exit status of 137 (a task may
// die of a SIGKILL that was no OOM kill, or an OOM kill may hit a child
// while the main process exits normally). False when the cgroup has no
// memory controller.
func (m *Manager) OOMKilled() (bool, error) {
	n, err := m.h.oomKills()
	if err != nil {
		return false, fmt.Errorf("read oom kills of cgroup %s: %w", m.h.dir(), err)
	}
	return n > 0, nil
}

// readOOMKills reads the "oom_kill" count from a flat-keyed memory cgroup
// file: memory.oom_control (v1) or memory.events (v2). A missing file or
// key counts as zero: the controller is absent, or the kernel predates the
// counter (4.13).
func readOOMKills(file string) (uint64, error) {
	v, found, err := readKeyed(file, "oom_kill")
	if errors.Is(err, fs.ErrNotExist) || err == nil && !found {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse oom_kill in %s: %w", file, err)
	}
	return n, nil
}
