package executor

import (
	"errors"
	"fmt"
)

// ErrNotImplemented is returned by a part of the API that is not built yet.
// Every method of Executor and Store is built now; it stays for callers
// that check for it.
var ErrNotImplemented = errors.New("not implemented")

// ErrNotRunning is returned when a task has already exited (or never started).
var ErrNotRunning = errors.New("task is not running")

// ErrNotCreated is Store.Start's error for a task that is not held at its
// start gate (it was not launched with Command.WaitForStart, or has
// started).
var ErrNotCreated = errors.New("task is not created (not waiting for its start)")

// SetupError is a failed step of the init stage, reported by the child.
// Err keeps the errno, so errors.Is(err, unix.EPERM) works.
type SetupError struct {
	Step string
	Path string
	Err  error
}

func (e *SetupError) Error() string { return fmt.Sprintf("setup step %q: %v", e.Step, e.Err) }

// Unwrap returns the child's error, which unwraps to its errno.
func (e *SetupError) Unwrap() error { return e.Err }

// childError is the child's error text with its errno behind it.
type childError struct {
	text  string
	errno error
}

func (e *childError) Error() string { return e.text }
func (e *childError) Unwrap() error { return e.errno }
