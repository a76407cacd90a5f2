package cgroup

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// SelfJoinFiles opens, for writing, the v1 "tasks" file of every
// hierarchy Adopt would join on a hybrid host (the v1 limit and monitor
// controllers): the launched process writes "0" to each from the thread
// that will execve the task, which moves that thread alone, and a caller
// that hands it these files does not call Adopt.
//
// Why: moving a whole process (cgroup.procs, or a pid written to tasks)
// takes the kernel's global cgroup_threadgroup_rwsem for writing, and
// when no writer came within about one RCU grace period that first waits
// for a grace period: 6-15 ms on an otherwise idle host, once per launch.
// A thread that moves itself needs no such lock: it cannot exit or exec
// while it writes, and the kernel skips the global lock for it (the
// "migrate current thread" case of cgroup_procs_write_start). execve
// keeps the calling thread and ends the others, so the task's command
// starts in every one of its cgroups, as it would after Adopt; only the
// init stage's other runtime threads, which never run task code, stay
// where the process was started until that execve ends them.
//
// None on V2 (clone3 placed the process) and none on V1, where the v1
// freezer tracks the task and must hold the whole process from the
// start: there Adopt does the work. The caller closes the files.
func (m *Manager) SelfJoinFiles() ([]*os.File, error) {
	g, ok := m.h.(*hybridGroup)
	if !ok || g.v1 == nil {
		return nil, nil
	}
	var out []*os.File
	for _, name := range slices.Sorted(maps.Keys(g.v1.dirs)) {
		f, err := os.OpenFile(filepath.Join(g.v1.dirs[name], "tasks"), os.O_WRONLY, 0)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("cgroup %s: %w", g.dir(), err)
		}
		out = append(out, f)
	}
	return out, nil
}

// SelfJoinFiles opens the v1 "tasks" file of each of the task's v1 limit
// cgroups an exec'd process joins (see Manager.SelfJoinFiles), for the
// exec helper's exec thread to move itself there instead of Adopt. None
// on v1, where the leaf is a freezer cgroup that must hold the whole
// process from the start.
func (l *Leaf) SelfJoinFiles() ([]*os.File, error) {
	if l.v1 {
		return nil, nil
	}
	var out []*os.File
	for _, dir := range l.joins {
		f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY, 0)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		out = append(out, f)
	}
	return out, nil
}
