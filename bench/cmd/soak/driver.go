package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/berthrun/berth/executor"
)

// driver does the soak's operations on tasks, through the executor library
// in this process (libDriver) or through the berth CLI (cliDriver). Each
// operation picks its own variant, checks the outcome it expects, and
// returns the variant's name (the recorder's key) and an error only for
// what it did not expect.
type driver interface {
	launch(k *kind) (task, string, error)
	exec(t task) (string, error)
	stats(t task) (string, error)
	// stop ends the task the way its kind is stopped and checks how it
	// ended.
	stop(t task) (string, error)
	// kill ends the task at once, whatever state it is in: the soak's own
	// cleanup.
	kill(t task) error
}

// errTaskGone wraps the error of an operation that found its task ended
// by itself: the soak then replaces the task (every operation on it would
// fail alike) and counts the error.
var errTaskGone = errors.New("the task ended by itself")

// task is a driver's handle on one launched task.
type task interface {
	ID() string
}

// kind is one shape of task. The soak gives slot i the kind i%len(kinds),
// so the mix, and with it what a full set of tasks holds, stays the same
// all run long.
type kind struct {
	name string
	argv []string
	// procs is how many processes the task keeps once started.
	procs int
	// logs keeps the task's output in its state dir: a tmpfs mounted on
	// the host for each task (package internal/logs).
	logs bool
	res  executor.Resources
	// stopSignal and grace: a stop sends stopSignal and waits up to grace
	// for the task to exit by itself; with no grace, it kills at once.
	stopSignal string
	grace      time.Duration
}

var kinds = []*kind{
	{name: "sleep", argv: []string{"sleep", "3600"}, procs: 1},
	// Exits by itself on SIGTERM (pid 1 of its namespace gets a signal
	// from outside only when it handles it, hence the trap) and leaves two
	// children behind for the cgroup kill.
	{name: "tree", argv: []string{"/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & sleep 3600 & wait"}, procs: 3,
		stopSignal: "SIGTERM", grace: 5 * time.Second},
	{name: "logs", argv: []string{"/bin/sh", "-c", "echo started; exec sleep 3600"}, procs: 1, logs: true},
	// Limits put the task in v1 memory and pids cgroups as well (a hybrid
	// host has those controllers only there).
	{name: "limited", argv: []string{"sleep", "3600"}, procs: 1,
		res: executor.Resources{MemoryBytes: 64 << 20, PidsLimit: 64}},
}

// checkEnd checks how a stopped task ended: a kind that exits on its stop
// signal exits 0, unless the signal came before it set its trap (it was
// launched a moment ago) and the kill after the grace ended it; any other
// is killed.
func checkEnd(k *kind, code, sig int) error {
	switch {
	case sig == 9:
		return nil
	case k.grace > 0 && code == 0 && sig == 0:
		return nil
	}
	return fmt.Errorf("%s task ended with exit code %d, signal %d", k.name, code, sig)
}
