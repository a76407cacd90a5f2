package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const (
	stateRunning = "running"
	stateFile    = "state.json"
)

// State is what <state-dir>/<id>/state.json records of a task.
type State struct {
	ID      string            `json:"id"`
	Pid     int               `json:"pid"`
	Status  string            `json:"status"`
	Cgroup  map[string]string `json:"cgroup"`
	Rootfs  string            `json:"rootfs"`
	Created time.Time         `json:"created"`
}

// writeState records the task atomically: a reader sees the old file or
// the new one, never half of one.
func writeState(t *task, status string) error {
	st := State{ID: t.id, Pid: t.pid, Status: status, Cgroup: t.cg.Paths(), Rootfs: t.root, Created: t.created}
	b, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp, err := os.CreateTemp(t.dir, ".state-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(t.dir, stateFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// removeState removes the task's state directory (the task dir inside it
// is removed first by the caller).
func removeState(t *task) error {
	err := os.Remove(filepath.Join(t.dir, stateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Remove(t.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
