package cgroup

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
)

// freezeTimeout bounds how long Freeze waits for every task to stop. A
// task in uninterruptible sleep (say, on a hung NFS server) cannot be
// frozen until it wakes, and the kernel never gives up on its own.
var freezeTimeout = 10 * time.Second

// Freeze stops every process in the cgroup (v1 freezer.state FROZEN, v2
// cgroup.freeze) and returns once the kernel reports the cgroup frozen. If
// that does not happen within a bound, Freeze thaws the cgroup again,
// rather than leave it half frozen, and returns an error.
func (m *Manager) Freeze() error {
	err := m.waitFrozen(true, freezeTimeout)
	if err == nil {
		return nil
	}
	result := multierror.Append(nil, err)
	if thawErr := m.h.setFrozen(false); thawErr != nil {
		result = multierror.Append(result, fmt.Errorf("thaw cgroup %s: %w", m.h.dir(), thawErr))
	}
	return oneLine(result)
}

// Thaw lets the processes of a frozen cgroup run again and returns once
// the kernel reports it thawed.
func (m *Manager) Thaw() error {
	return m.waitFrozen(false, freezeTimeout)
}

// Paused reports whether the cgroup is frozen (v1 freezer.state FROZEN, v2
// "frozen 1" in cgroup.events). A cgroup still freezing is not paused.
func (m *Manager) Paused() (bool, error) {
	frozen, err := m.h.frozen()
	if err != nil {
		return false, fmt.Errorf("read freezer state of cgroup %s: %w", m.h.dir(), err)
	}
	return frozen, nil
}

// waitFrozen asks for the state and polls until the kernel reports it.
// The request is repeated on each round: on v1 that also catches tasks a
// slow freeze missed.
func (m *Manager) waitFrozen(frozen bool, timeout time.Duration) error {
	return waitFrozen(m.h, frozen, timeout)
}

// freezable is the part of a hierarchy that freezes.
type freezable interface {
	dir() string
	setFrozen(frozen bool) error
	frozen() (bool, error)
}

// freezeWait returns a function that freezes or thaws h and waits for it.
func freezeWait(h freezable) func(bool) error {
	return func(frozen bool) error { return waitFrozen(h, frozen, freezeTimeout) }
}

func waitFrozen(h freezable, frozen bool, timeout time.Duration) error {
	op := "thaw"
	if frozen {
		op = "freeze"
	}
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		if err := h.setFrozen(frozen); err != nil {
			return fmt.Errorf("%s cgroup %s: %w", op, h.dir(), err)
		}
		got, err := h.frozen()
		if err != nil {
			return fmt.Errorf("%s cgroup %s: %w", op, h.dir(), err)
		}
		if got == frozen {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s cgroup %s: kernel did not finish within %s", op, h.dir(), timeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, pollMax)
	}
}
