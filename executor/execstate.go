package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// execFile holds, in a task's state dir, what an exec into the task takes
// on from it. Only root can read it (it holds the task's environment,
// which often holds secrets); `state` and `list` never print it.
const execFile = "exec.json"

// execSettings are the task's launch-time settings an exec'd process gets
// unless the exec overrides them.
type execSettings struct {
	// User is who the task's command runs as, resolved at launch inside
	// the task: an exec takes the ids, not the name again, so a task that
	// rewrites its own /etc/passwd cannot change who later execs run as.
	User     *nsinit.UserIDs `json:"user"`
	Caps     []string        `json:"caps"`
	UserCaps []string        `json:"user_caps,omitempty"`
	// CapSets are the task's five sets when it was given them whole.
	CapSets *nsinit.CapSets `json:"cap_sets,omitempty"`
	Env     []string        `json:"env"`
	Cwd     string          `json:"cwd"`
	// An exec'd process gets the task's limits, score and filter.
	Rlimits      []nsinit.Rlimit `json:"rlimits,omitempty"`
	OOMScoreAdj  *int            `json:"oom_score_adj,omitempty"`
	Seccomp      []byte          `json:"seccomp,omitempty"`
	SeccompFlags uint            `json:"seccomp_flags,omitempty"`
	// Umask is the task's; nil is 022 (and settings written before it
	// was recorded).
	Umask *int `json:"umask,omitempty"`
	// UserNS says the task has a user namespace of its own, which an
	// exec joins before anything else.
	UserNS bool `json:"userns,omitempty"`
	// HostMountNS says the task shares the host's mount namespace: an
	// exec chroots into the task's root after joining it.
	HostMountNS bool `json:"host_mount_ns,omitempty"`
}

func newExecSettings(s *spec, user *nsinit.UserIDs) *execSettings {
	if user == nil {
		user = &nsinit.UserIDs{Home: "/"}
	}
	env := s.plan.Env
	if !hasEnv(env, "HOME") {
		env = append(append([]string(nil), env...), "HOME="+user.Home)
	}
	cwd := s.plan.Cwd
	if cwd == "" {
		cwd = "/"
	}
	return &execSettings{User: user, Caps: s.plan.Caps, UserCaps: s.plan.UserCaps, CapSets: s.plan.CapSets, Env: env, Cwd: cwd,
		Rlimits: s.plan.Rlimits, OOMScoreAdj: s.plan.OOMScoreAdj, Seccomp: s.plan.Seccomp, SeccompFlags: s.plan.SeccompFlags,
		Umask: s.plan.Umask, UserNS: s.cloneFlags&unix.CLONE_NEWUSER != 0, HostMountNS: s.plan.HostMountNS}
}

// write records the settings, readable by root only.
func (x *execSettings) write(dir string) error {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("exec settings: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".exec-*")
	if err != nil {
		return fmt.Errorf("exec settings: %w", err)
	}
	// CreateTemp makes the file 0600: nobody but root reads the env.
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, execFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("exec settings: %w", err)
	}
	return nil
}

// readExecSettings reads and checks a task's exec settings with the same
// distrust as its state: a file that is not root's own and private, or
// that does not parse into sane values, is refused.
func readExecSettings(dir string) (*execSettings, error) {
	file := filepath.Join(dir, execFile)
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		// The launch writes them while the task starts running: a task
		// launched a moment ago may not have them yet.
		deadline := time.Now().Add(execSettingsWait)
		for errors.Is(err, os.ErrNotExist) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
			f, err = os.Open(file)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("exec settings: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("exec settings: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || st.Uid != uint32(os.Geteuid()) {
		return nil, fmt.Errorf("exec settings %s: not a private file of this user", file)
	}
	if fi.Size() > 1<<20 {
		return nil, fmt.Errorf("exec settings %s: larger than 1 MiB", file)
	}
	var x execSettings
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("exec settings %s: corrupt: %w", file, err)
	}
	switch {
	case x.User == nil || x.User.UID < 0 || x.User.GID < 0 || x.User.UID > userMaxID || x.User.GID > userMaxID:
		return nil, fmt.Errorf("exec settings %s: corrupt: user", file)
	case !filepath.IsAbs(x.Cwd):
		return nil, fmt.Errorf("exec settings %s: corrupt: cwd %q", file, x.Cwd)
	case len(x.Seccomp)%8 != 0 || len(x.Seccomp) > 4096*8:
		return nil, fmt.Errorf("exec settings %s: corrupt: seccomp", file)
	case x.OOMScoreAdj != nil && (*x.OOMScoreAdj < -1000 || *x.OOMScoreAdj > 1000):
		return nil, fmt.Errorf("exec settings %s: corrupt: oom_score_adj", file)
	}
	for _, rl := range x.Rlimits {
		if rl.Resource < 0 || rl.Resource >= rlimNlimits || rl.Soft > rl.Hard {
			return nil, fmt.Errorf("exec settings %s: corrupt: rlimits", file)
		}
	}
	for _, g := range x.User.Groups {
		if g < 0 || g > userMaxID {
			return nil, fmt.Errorf("exec settings %s: corrupt: group %d", file, g)
		}
	}
	for _, kv := range x.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("exec settings %s: corrupt: env", file)
		}
	}
	return &x, nil
}

// execSettingsWait bounds how long an exec waits for a task's settings to
// appear right after its launch.
const execSettingsWait = time.Second

// userMaxID is the largest uid or gid berth takes: (uid_t)-1 means
// "unchanged" to the kernel.
const userMaxID = 1<<32 - 2

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
