package executor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// defaultPath is the task's PATH when its environment has none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// validID keeps ids usable as file and cgroup names: 1 to 128 of
// [A-Za-z0-9_.-], starting with a letter or digit. (Checked by hand: a
// package-level regexp costs every process start, the init stage's too,
// its compile time.)
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// spec is a checked Command turned into what the launch needs.
type spec struct {
	id          string
	root        string // absolute task dir; "" for the default one
	defaultRoot bool
	cloneFlags  uintptr
	plan        *nsinit.Plan
	// devices are the host devices bound in, which the task's cgroup
	// lets it open.
	devices []cgroup.DeviceRule
}

// Validate checks every field of cmd as Launch does, without launching or
// making anything: a caller can refuse a bad Command before it creates
// what the Command refers to (the CLI's --stdout file).
func Validate(cmd *Command) error {
	_, err := check(cmd)
	return err
}

// check validates every field of cmd, naming the field in its error, and
// builds the init stage's plan. It runs in the parent, before anything is
// created, so a bad Command leaves nothing behind.
func check(cmd *Command) (*spec, error) {
	if cmd == nil {
		return nil, fmt.Errorf("command: nil")
	}
	s := &spec{id: cmd.ID}
	if s.id == "" {
		s.id = randomID()
	} else if !validID(s.id) {
		return nil, fmt.Errorf("id %q: want letters, digits, '_', '.', '-' (up to 128, not starting with a symbol)", s.id)
	}
	if strings.TrimSpace(cmd.Cmd) == "" {
		return nil, fmt.Errorf("command: empty")
	}
	if cmd.TaskDir == "" {
		s.defaultRoot = true
	} else {
		root, err := checkTaskDir(cmd.TaskDir)
		if err != nil {
			return nil, err
		}
		s.root = root
	}
	if cmd.Cwd != "" && !filepath.IsAbs(cmd.Cwd) {
		return nil, fmt.Errorf("cwd %q: must be an absolute path", cmd.Cwd)
	}
	if err := checkUser(cmd.User); err != nil {
		return nil, err
	}
	env, err := checkEnv(cmd.Env)
	if err != nil {
		return nil, err
	}
	flags, err := cloneFlags(cmd.Isolation)
	if err != nil {
		return nil, err
	}
	s.cloneFlags = flags
	iso := cmd.Isolation
	if iso.Mount == ModeHost {
		switch {
		case s.defaultRoot:
			return nil, fmt.Errorf("mount mode host: needs a task dir of the caller's (the default one exists only in a mount namespace of the task's)")
		case iso.MountPath != "":
			return nil, fmt.Errorf("mount path %q: given with mount mode host: one or the other", iso.MountPath)
		case iso.RootPropagation != "":
			return nil, fmt.Errorf("root propagation %q: with mount mode host the task's root propagation is the host's", iso.RootPropagation)
		case iso.userNS():
			return nil, fmt.Errorf("uid mappings: with mount mode host: the host's mount namespace is not the user namespace's")
		}
	}
	if err := checkUserNS(cmd, s.defaultRoot); err != nil {
		return nil, err
	}
	if iso.userNS() {
		s.cloneFlags |= unix.CLONE_NEWUSER
	}
	if iso.Hostname != "" && iso.UTS == ModeHost {
		return nil, fmt.Errorf("hostname: needs a private uts namespace (uts is host)")
	}
	if len(iso.Hostname) > 64 { // HOST_NAME_MAX
		return nil, fmt.Errorf("hostname %q: longer than 64 bytes", iso.Hostname)
	}
	if err := checkNUL(cmd); err != nil {
		return nil, err
	}
	set, err := caps.Compute(iso.CapAdd, iso.CapDrop)
	if err != nil {
		return nil, err
	}
	capSets, err := checkCapSets(iso)
	if err != nil {
		return nil, err
	}
	if capSets != nil {
		// The filter follows the capabilities the task can hold.
		set = capSets.Bounding
	}
	if cmd.Credentials != nil && cmd.User != "" {
		return nil, fmt.Errorf("credentials: given with user %q: one or the other", cmd.User)
	}
	if iso.Filesystem != nil && (s.defaultRoot || len(iso.Mounts) > 0) {
		return nil, fmt.Errorf("filesystem: replaces the standard mounts of a task dir of the caller's: it needs a task dir and takes no mounts besides")
	}
	// A writable bind of the filesystem's, recursive or not, is held to
	// the rule of Mounts' binds: no kernel filesystem in or below it.
	for _, m := range iso.Filesystem {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if bind && !slices.Contains(m.Options, "ro") {
			if err := checkBindSource(Mount{Source: m.Source, Destination: m.Destination}); err != nil {
				return nil, err
			}
		}
	}
	userCaps, err := addedCaps(iso.CapAdd, set)
	if err != nil {
		return nil, err
	}
	rls, err := checkUlimits(iso.Ulimits)
	if err != nil {
		return nil, err
	}
	if iso.OOMScoreAdj != nil && (*iso.OOMScoreAdj < -1000 || *iso.OOMScoreAdj > 1000) {
		return nil, fmt.Errorf("oom_score_adj %d: want -1000 to 1000", *iso.OOMScoreAdj)
	}
	oomAdj := 0
	if iso.OOMScoreAdj != nil {
		oomAdj = *iso.OOMScoreAdj
		// Asked for explicitly, a score the kernel will not give is an
		// error, not a quiet change (the default, 0, keeps berth's own
		// higher score: the task is only likelier to be chosen).
		if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
			if own, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && oomAdj < own && !holdsSysResource() {
				return nil, fmt.Errorf("oom_score_adj %d: below berth's own (%d), and lowering it needs CAP_SYS_RESOURCE, which berth does not hold", oomAdj, own)
			}
		}
	}
	if iso.TmpSize < 0 {
		return nil, fmt.Errorf("tmp size %d: must not be negative", iso.TmpSize)
	}
	tmpSize := iso.TmpSize
	if tmpSize == 0 {
		tmpSize = DefaultTmpSize
	}
	filter, err := seccompFilter(iso, set)
	if err != nil {
		return nil, err
	}
	binds := make([]mounts.Bind, len(iso.Mounts))
	for i, m := range iso.Mounts {
		if err := checkBindDest(m); err != nil {
			return nil, err
		}
		if err := checkBindSource(m); err != nil {
			return nil, err
		}
		binds[i] = mounts.Bind{Source: m.Source, Dest: m.Destination, ReadOnly: m.ReadOnly}
	}
	ops, err := mounts.Plan(mounts.Config{HostDirs: s.defaultRoot, Binds: binds, TmpSize: tmpSize,
		Filesystem: iso.Filesystem, Masked: iso.MaskedPaths, ReadOnly: iso.ReadOnlyPaths, Nodes: iso.DeviceNodes,
		BindNodes: iso.userNS()})
	if err != nil {
		return nil, err
	}
	if s.devices, err = boundDevices(iso.Mounts); err != nil {
		return nil, err
	}
	s.devices = append(s.devices, iso.Devices...)
	if len(iso.DeviceNodes) > 0 && iso.Filesystem == nil {
		return nil, fmt.Errorf("device nodes: go with a filesystem given whole")
	}
	for _, n := range iso.DeviceNodes {
		if n.Type == "c" || n.Type == "b" {
			s.devices = append(s.devices, cgroup.DeviceRule{Type: n.Type, Major: n.Major, Minor: n.Minor, Access: "rwm"})
		}
	}
	if err := cmd.Resources.Validate(); err != nil {
		return nil, err
	}
	if cmd.StopSignal != "" {
		if _, err := ParseSignal(cmd.StopSignal); err != nil {
			return nil, fmt.Errorf("stop signal: %w", err)
		}
	}
	if len(cmd.Hooks.CreateContainer) > 0 && iso.MountPath != "" {
		// They run before pivot_root by a host path, which the joined
		// namespace's owner decides: its binary would run with every
		// capability.
		return nil, fmt.Errorf("create container hooks: with the mount namespace at %q their paths would be looked up there, where that namespace's owner decides what runs", iso.MountPath)
	}
	for _, hs := range []struct {
		name  string
		hooks []Hook
	}{{"create container", cmd.Hooks.CreateContainer}, {"start container", cmd.Hooks.StartContainer}} {
		for i, h := range hs.hooks {
			if !filepath.IsAbs(h.Path) {
				return nil, fmt.Errorf("%s hook [%d] %q: path must be absolute", hs.name, i, h.Path)
			}
			if h.Timeout < 0 {
				return nil, fmt.Errorf("%s hook [%d] %s: timeout %d: must not be negative", hs.name, i, h.Path, h.Timeout)
			}
		}
	}
	for i, f := range cmd.ExtraFiles {
		if f == nil {
			return nil, fmt.Errorf("extra files [%d]: nil", i)
		}
	}
	if cmd.StopGrace < 0 {
		return nil, fmt.Errorf("stop grace %s: must not be negative", cmd.StopGrace)
	}
	s.plan = &nsinit.Plan{
		Version:     nsinit.Version,
		Mounts:      ops,
		Hostname:    iso.Hostname,
		LoopbackUp:  iso.Net == ModeNone,
		User:        cmd.User,
		Caps:        set,
		UserCaps:    userCaps,
		Rlimits:     rls,
		OOMScoreAdj: &oomAdj,
		Args:        append([]string{cmd.Cmd}, cmd.Args...),
		Env:         env,
		Cwd:         cmd.Cwd,
	}
	if capSets != nil {
		s.plan.CapSets = capSets
	}
	s.plan.PauseForHooks = cmd.Hooks.Runtime != nil
	s.plan.CreateHooks, s.plan.StartHooks = cmd.Hooks.CreateContainer, cmd.Hooks.StartContainer
	if s.plan.Sysctl, err = checkSysctls(iso.Sysctl, iso); err != nil {
		return nil, err
	}
	if iso.Umask != nil {
		if *iso.Umask > 0o777 {
			return nil, fmt.Errorf("umask %#o: want 0 to 0777", *iso.Umask)
		}
		m := int(*iso.Umask)
		s.plan.Umask = &m
	}
	s.plan.NewPrivs = iso.NewPrivileges
	s.plan.ReadOnlyRoot = iso.ReadOnlyRoot
	if p := iso.RootPropagation; p != "" && p != "rslave" {
		flags, ok := mounts.Propagation(p)
		if !ok {
			return nil, fmt.Errorf("root propagation %q: want rslave, rprivate, rshared, runbindable or one of them without r", p)
		}
		s.plan.RootPropagation = flags
	}
	if c := cmd.Credentials; c != nil {
		ids := &nsinit.UserIDs{UID: int(c.UID), GID: int(c.GID), Home: "/"}
		for _, g := range c.Groups {
			ids.Groups = append(ids.Groups, int(g))
		}
		for _, kv := range env {
			if h, ok := strings.CutPrefix(kv, "HOME="); ok {
				ids.Home = h
			}
		}
		s.plan.IDs = ids
	}
	if filter != nil {
		s.plan.Seccomp, s.plan.SeccompFlags = filter.Raw, filter.Flags
	}
	return s, nil
}

// checkCapSets checks Isolation.Capabilities: names known, no CapAdd or
// CapDrop beside it. The kernel's rules between the sets are checked by
// the init stage, naming the set.
func checkCapSets(iso Isolation) (*nsinit.CapSets, error) {
	c := iso.Capabilities
	if c == nil {
		return nil, nil
	}
	if len(iso.CapAdd) > 0 || len(iso.CapDrop) > 0 {
		return nil, fmt.Errorf("capabilities: given whole, with cap_add or cap_drop beside them")
	}
	out := &nsinit.CapSets{}
	for _, set := range []struct {
		name string
		in   []string
		out  *[]string
	}{
		{"bounding", c.Bounding, &out.Bounding}, {"effective", c.Effective, &out.Effective},
		{"permitted", c.Permitted, &out.Permitted}, {"inheritable", c.Inheritable, &out.Inheritable},
		{"ambient", c.Ambient, &out.Ambient},
	} {
		for _, n := range set.in {
			norm, err := caps.Normalize(n)
			if err != nil || norm == caps.All {
				return nil, fmt.Errorf("capabilities: %s: unknown capability %q", set.name, n)
			}
			*set.out = append(*set.out, norm)
		}
	}
	return out, nil
}

// checkBindDest refuses a bind onto the filesystems berth makes for the
// task itself: over /proc, /sys or /dev, or below /proc and /sys, a bind
// would replace or shadow what the masks and read-only paths protect (and
// the masks would fail on a path of their own, not the bind's). Device
// nodes go below /dev by their own name (--mount /dev/kvm:/dev/kvm), but
// not over /dev/pts, /dev/shm, /dev/mqueue or the masks' /dev/null.
func checkBindDest(m Mount) error {
	d := path.Clean("/" + m.Destination)
	if !strings.HasPrefix(m.Destination, "/") {
		return nil // mounts.Plan names it
	}
	switch d {
	case "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/null":
		return fmt.Errorf("mount %s:%s: %s is the task's own, made by berth; a bind cannot replace it", m.Source, m.Destination, d)
	}
	for _, fs := range []string{"/proc/", "/sys/", "/dev/pts/"} {
		if strings.HasPrefix(d, fs) {
			return fmt.Errorf("mount %s:%s: a bind cannot go below %s, the task's own, where masks and read-only paths apply", m.Source, m.Destination, strings.TrimSuffix(fs, "/"))
		}
	}
	return nil
}

// addedCaps are the capabilities a task that runs as another user than root
// holds: those CapAdd names ("ALL" is the whole set), within the set.
func addedCaps(add, set []string) ([]string, error) {
	if len(add) == 0 {
		return nil, nil
	}
	for _, a := range add {
		if strings.EqualFold(a, "ALL") {
			return set, nil
		}
	}
	added, err := caps.Compute(add, []string{"ALL"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range added {
		if slices.Contains(set, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkTaskDir resolves the task dir on the host: it must exist and be a
// directory. Symlinks in the host path itself are the caller's choice and
// are resolved here, once.
func checkTaskDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("task dir %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("task dir %q: %w", dir, unwrapPath(err))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("task dir %q: %w", dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("task dir %q: not a directory", dir)
	}
	if real == "/" {
		return "", fmt.Errorf("task dir %q: cannot be the host root", dir)
	}
	// A root file system has them: checked here, before anything is made
	// in it, so that a wrong directory (the host's /dev, say) does not
	// get proc, dev and sys created in it by a run that then fails.
	for _, d := range []string{"dev", "proc", "sys"} {
		fi, err := os.Lstat(filepath.Join(real, d))
		switch {
		case err != nil:
			return "", fmt.Errorf("task dir %q: no /%s: not a root file system (it needs dev, proc and sys directories)", dir, d)
		case fi.Mode()&os.ModeSymlink != 0:
			return "", fmt.Errorf("task dir %q: /%s is a symlink: it must be a directory of the task dir", dir, d)
		case !fi.IsDir():
			return "", fmt.Errorf("task dir %q: /%s is not a directory", dir, d)
		}
	}
	return real, nil
}

// checkUser checks the form of a user spec; names are resolved in the child
// against the task's own /etc/passwd.
func checkUser(u string) error {
	if u == "" {
		return nil
	}
	parts := strings.Split(u, ":")
	if len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return fmt.Errorf("user %q: want USER or USER:GROUP", u)
	}
	for _, p := range parts {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil && (n < 0 || n > 1<<31-2) {
			return fmt.Errorf("user %q: id %s out of range", u, p)
		}
	}
	return nil
}

func checkEnv(env []string) ([]string, error) {
	out := make([]string, 0, len(env)+1)
	hasPath := false
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("env %q: want KEY=VALUE", kv)
		}
		if k == "PATH" {
			hasPath = true
		}
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, defaultPath)
	}
	return out, nil
}

// checkNUL refuses strings the kernel cannot take: execve and chdir read
// C strings, so a NUL would cut them short or fail in the child.
func checkNUL(cmd *Command) error {
	fields := []struct {
		name string
		vals []string
	}{
		{"command", []string{cmd.Cmd}}, {"args", cmd.Args}, {"env", cmd.Env},
		{"cwd", []string{cmd.Cwd}}, {"user", []string{cmd.User}}, {"hostname", []string{cmd.Isolation.Hostname}},
	}
	for _, f := range fields {
		for _, v := range f.vals {
			if strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("%s %q: contains a NUL byte", f.name, v)
			}
		}
	}
	return nil
}

// NewID returns a random task id.
func NewID() string { return randomID() }

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unwrapPath drops *os.PathError's op and path so the caller names the path
// once.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
