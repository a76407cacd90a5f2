package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// ErrNotFound is an id with no task in the state dir.
var ErrNotFound = errors.New("no such task")

// Store works on tasks through their state on disk, from any process:
// the one that launched them, their supervisor, or another shell long after
// (the "reattach" side of the executor). Every pid it signals is verified
// first to still be the task: same start time, and in the task's cgroup.
type Store struct {
	dir          string
	cgroupParent string
	log          hclog.Logger

	// initPath is the exec helper (berth-init), found as Config.InitPath
	// is; setupTimeout bounds its setup.
	initPath     string
	setupTimeout time.Duration
	// KillWithParent kills an exec'd process when the process that runs
	// Exec dies (a foreground `berth exec`).
	KillWithParent bool
}

// NewStore opens the state dir (DefaultStateDir when empty). cgroupParent
// is used only where a corrupt state file no longer says where the task's
// cgroup is.
func NewStore(dir, cgroupParent string, log hclog.Logger) *Store {
	if dir == "" {
		dir = DefaultStateDir
	}
	if cgroupParent == "" {
		cgroupParent = DefaultCgroupParent
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Store{dir: dir, cgroupParent: cgroupParent, log: log}
	storeDefaults(s)
	return s
}

func (s *Store) taskDir(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	return filepath.Join(s.dir, id), nil
}

// Get reads a task's state and brings its status up to date: a task whose
// pid is gone (or now belongs to another process) is stopped, a frozen one
// is paused.
func (s *Store) Get(id string) (*State, error) {
	dir, err := s.taskDir(id)
	if err != nil {
		return nil, err
	}
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return s.refresh(dir, st), nil
}

// refresh derives the live status of a recorded running or paused task.
func (s *Store) refresh(dir string, st *State) *State {
	if st.Status == StatusStopped {
		return st
	}
	cg, err := s.cgroup(st)
	if err == nil {
		defer cg.Close()
	}
	if err != nil || !s.isTask(st, cg) {
		// The task is gone. A live supervisor is about to record how it
		// ended: give it a moment rather than guess.
		deadline := time.Now().Add(2 * time.Second)
		for {
			supervised := alive(st.SupervisorPid, st.SupervisorStartTime)
			// Read after checking the supervisor: one that has just
			// exited wrote the final state before it did.
			if cur, err := readState(dir); err == nil && cur.Status == StatusStopped {
				return cur
			}
			if !supervised || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The main process is gone and nobody recorded how it ended. Its
		// cgroup tells whether the task is: a process it started (with
		// --pid host, after a foreground berth was killed) may live on,
		// and the verbs must still reach it.
		if err == nil {
			if pids, perr := cg.Pids(); perr == nil && len(pids) > 0 {
				st.Cgroup = cg.Paths()
				st.Status = StatusRunning
				if paused, err := cg.Paused(); err == nil && paused {
					st.Status = StatusPaused
				}
				return st
			}
		}
		// Nobody reaped it who could tell how it ended.
		st.Status, st.ExitCode = StatusStopped, -1
		return st
	}
	// The live paths: an update may have added hierarchies since launch.
	st.Cgroup = cg.Paths()
	switch paused, err := cg.Paused(); {
	case err == nil && paused:
		st.Status = StatusPaused
	case gated(dir):
		st.Status = StatusCreated
	default:
		st.Status = StatusRunning
	}
	return st
}

// isTask verifies the recorded pid is still the task: it started when the
// task did and it is in the task's cgroup.
func (s *Store) isTask(st *State, cg *cgroup.Manager) bool {
	if !alive(st.Pid, st.PidStartTime) {
		return false
	}
	pids, err := cg.Pids()
	return err == nil && slices.Contains(pids, st.Pid)
}

func (s *Store) cgroup(st *State) (*cgroup.Manager, error) {
	return cgroup.Load(cgroup.Config{Parent: st.CgroupParent, ID: st.ID, Path: st.CgroupPath,
		Version: st.CgroupVersion, V2Mount: st.CgroupV2Mount}, s.log)
}

// List returns every task in the state dir, sorted by id. A task whose
// state cannot be read is returned with Status "unknown" and the error
// logged, so one corrupt file does not hide the others.
func (s *Store) List() ([]*State, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var out []*State
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		st, err := s.Get(e.Name())
		if errors.Is(err, ErrNotFound) {
			// A launch under way has made the directory and not yet
			// written the state.
			st, err = &State{ID: e.Name(), Status: StatusCreating}, nil
		}
		if err != nil {
			s.log.Warn("unreadable task state", "id", e.Name(), "error", err)
			st = &State{ID: e.Name(), Status: "unknown"}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// live loads a task that must be running or paused, with its cgroup.
func (s *Store) live(id, verb string) (*State, *cgroup.Manager, error) {
	st, err := s.Get(id)
	if err != nil {
		return nil, nil, err
	}
	if st.Status == StatusStopped {
		return nil, nil, fmt.Errorf("%s %q: %w", verb, id, ErrNotRunning)
	}
	cg, err := s.cgroup(st)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", verb, id, err)
	}
	return st, cg, nil
}

// Pids lists every process of a running or paused task.
func (s *Store) Pids(id string) ([]int, error) {
	_, cg, err := s.live(id, "ps")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	pids, err := cg.Pids()
	return pids, wrapErr("ps", id, err)
}

// Kill sends sig to the task's main process, or with all to every process
// in its cgroup.
func (s *Store) Kill(id string, sig unix.Signal, all bool) error {
	st, cg, err := s.live(id, "kill")
	if err != nil {
		return err
	}
	defer cg.Close()
	if !all {
		err := s.signalTask(st, cg, sig)
		if errors.Is(err, ErrNotRunning) {
			// Get found processes in the cgroup, or the task would be
			// stopped: only the main one is gone.
			return fmt.Errorf("kill %q: the task's main process has exited but other processes of the task run: signal them with --all, or stop the task", id)
		}
		return wrapErr("kill", id, err)
	}
	if sig == unix.SIGKILL {
		return wrapErr("kill", id, cg.KillAll())
	}
	// Frozen, no process of the task can exit (and free its pid for a
	// stranger) or fork one the list misses; the signals are delivered on
	// thaw. A task already paused stays paused.
	paused, err := cg.Paused()
	if err != nil {
		return wrapErr("kill", id, err)
	}
	if !paused {
		if err := cg.Freeze(); err != nil {
			return wrapErr("kill", id, err)
		}
		defer cg.Thaw()
	}
	pids, err := cg.Pids()
	if err != nil {
		return wrapErr("kill", id, err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return wrapErr("kill", id, err)
		}
	}
	return nil
}

// signalTask signals the task's main process through a pidfd, verified
// after it is opened: a pidfd names one process, so a pid recycled after
// the check can never receive the signal.
func (s *Store) signalTask(st *State, cg *cgroup.Manager, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err == unix.ESRCH {
		return ErrNotRunning
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", st.Pid, err)
	}
	defer unix.Close(fd)
	if !s.isTask(st, cg) {
		return ErrNotRunning
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal pid %d: %w", st.Pid, err)
	}
	return nil
}

// DefaultStopGrace is the grace of a stop when neither the caller nor the
// task's state gives one.
const DefaultStopGrace = 10 * time.Second

// Stop asks the task to stop with sig, waits up to grace for its main
// process to exit, then kills everything left in its cgroup. An empty sig
// or a negative grace mean the task's own (its state's stop_signal and
// stop_grace), else SIGINT and DefaultStopGrace. A paused task is thawed
// first so it can act on the signal.
func (s *Store) Stop(id, sig string, grace time.Duration) error {
	st, cg, err := s.live(id, "stop")
	if err != nil {
		return err
	}
	defer cg.Close()
	if sig == "" {
		sig = st.StopSignal
	}
	if sig == "" {
		sig = "SIGINT"
	}
	if grace < 0 {
		grace = DefaultStopGrace
		if d, err := time.ParseDuration(st.StopGrace); err == nil {
			grace = d
		}
	}
	signal, err := ParseSignal(sig)
	if err != nil {
		return err
	}
	if paused, _ := cg.Paused(); paused {
		if err := cg.Thaw(); err != nil {
			return wrapErr("stop", id, err)
		}
	}
	if grace > 0 {
		if err := s.signalTask(st, cg, signal); err == nil {
			deadline := time.Now().Add(grace)
			for time.Now().Before(deadline) && s.isTask(st, cg) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	if err := cg.KillAll(); err != nil {
		return wrapErr("stop", id, err)
	}
	s.settle(st)
	return nil
}

// settle waits briefly for a live supervisor to record the task's exit; with
// no supervisor, it records the stop itself (how the task ended is unknown).
func (s *Store) settle(st *State) {
	dir := filepath.Join(s.dir, st.ID)
	deadline := time.Now().Add(5 * time.Second)
	for alive(st.SupervisorPid, st.SupervisorStartTime) && time.Now().Before(deadline) {
		if cur, err := readState(dir); err != nil || cur.Status == StatusStopped {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	if alive(st.SupervisorPid, st.SupervisorStartTime) {
		return
	}
	cur, err := readState(dir)
	if err != nil || cur.Status == StatusStopped {
		return
	}
	now := time.Now()
	cur.Status, cur.ExitCode, cur.Finished = StatusStopped, -1, &now
	if err := writeState(dir, cur); err != nil {
		s.log.Warn("record stop", "id", st.ID, "error", err)
	}
}

// Pause freezes every process of the task.
func (s *Store) Pause(id string) error {
	st, cg, err := s.live(id, "pause")
	if err != nil {
		return err
	}
	defer cg.Close()
	if st.Status == StatusPaused {
		return fmt.Errorf("pause %q: already paused", id)
	}
	return wrapErr("pause", id, cg.Freeze())
}

// Resume thaws a paused task.
func (s *Store) Resume(id string) error {
	st, cg, err := s.live(id, "resume")
	if err != nil {
		return err
	}
	defer cg.Close()
	if st.Status != StatusPaused {
		return fmt.Errorf("resume %q: not paused", id)
	}
	return wrapErr("resume", id, cg.Thaw())
}

// Update changes the limits of a running task; zero fields stay as they are.
func (s *Store) Update(id string, r Resources) error {
	_, cg, err := s.live(id, "update")
	if err != nil {
		return err
	}
	defer cg.Close()
	if err := r.Validate(); err != nil {
		return err
	}
	return wrapErr("update", id, cg.Update(r))
}

// Delete removes a stopped task's state, cgroup and task dir. A running or
// paused task is refused unless force, which kills it first.
func (s *Store) Delete(id string, force bool) error {
	dir, err := s.taskDir(id)
	if err != nil {
		return err
	}
	st, err := s.Get(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// A launch that died before it wrote its state leaves the
			// directory (and maybe the cgroup) and nothing to read.
			if _, serr := os.Stat(dir); serr != nil || !force {
				return err
			}
			return s.purge(id, dir, &State{ID: id, CgroupParent: s.cgroupParent})
		}
		if !force {
			return fmt.Errorf("delete %q: %w (use --force to remove it anyway)", id, err)
		}
		// A corrupt state file: remove what can be found by the id alone.
		return s.purge(id, dir, &State{ID: id, CgroupParent: s.cgroupParent})
	}
	// A task held before its start is deleted as OCI's delete does: it
	// never ran its command.
	if st.Status != StatusStopped {
		if !force && st.Status != StatusCreated {
			return fmt.Errorf("delete %q: task is %s (stop it first, or use --force)", id, st.Status)
		}
		if cg, err := s.cgroup(st); err == nil {
			err := cg.KillAll()
			cg.Close()
			if err != nil {
				return wrapErr("delete", id, err)
			}
		}
		s.settle(st)
	}
	return s.purge(id, dir, st)
}

// purge removes what a task left: cgroup, default task dir, state.
func (s *Store) purge(id, dir string, st *State) error {
	cgCfg := cgroup.Config{Parent: st.CgroupParent, ID: id, Path: st.CgroupPath, Version: st.CgroupVersion, V2Mount: st.CgroupV2Mount}
	if cg, err := cgroup.Load(cgCfg, s.log); err == nil {
		if err := cg.KillAll(); err != nil {
			return wrapErr("delete", id, err)
		}
		if err := cg.Delete(); err != nil {
			return wrapErr("delete", id, err)
		}
	}
	if st.HostMountRoot != "" {
		if err := unmountHostRoot(st.HostMountRoot, st.HostMountBase); err != nil {
			return wrapErr("delete", id, err)
		}
	}
	return wrapErr("delete", id, removeState(dir))
}

func wrapErr(verb, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", verb, id, err)
}
