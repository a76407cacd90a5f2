// Package cgroup places a berth task in its own cgroup, on cgroup v1 or v2,
// and controls it from the parent side: limits, freeze and thaw, listing
// and killing every process, OOM reporting, live updates and removal.
//
// The hierarchy work goes through github.com/containerd/cgroups/v3 where
// the library fits; the few places that write cgroup files directly say
// why next to the code.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// The ways a task's cgroup can be laid out (Config.Version).
const (
	// V1: a freezer cgroup to track, freeze and kill the task, and one
	// cgroup per v1 controller its limits need.
	V1 = 1
	// V2: one cgroup on the unified hierarchy.
	V2 = 2
	// Hybrid: on a host with both, the task is tracked, frozen and killed
	// on the unified hierarchy, which it is cloned straight into
	// (CLONE_INTO_CGROUP), and limited by v1 controller cgroups only when
	// it has limits. Moving a process into a v1 cgroup waits for an RCU
	// grace period (the kernel's cgroup_threadgroup_rwsem), several
	// milliseconds per launch; a task without limits never pays it.
	Hybrid = 3
)

const (
	// hybridMount is where hybrid hosts mount the unified hierarchy.
	hybridMount = "/sys/fs/cgroup/unified"
	// DefaultParent is the cgroup every task lives under unless
	// Config.Parent says otherwise.
	DefaultParent = "berth"
	// defaultRoot is where the kernel's cgroup filesystems are mounted: the
	// v1 controller hierarchies below it, or the v2 hierarchy itself.
	defaultRoot = "/sys/fs/cgroup"
	// cpuPeriod is the CFS period (µs) a --cpus quota is measured against:
	// the kernel default, so quota = cpus × 100ms.
	cpuPeriod = 100000
)

// ErrInUse is a cgroup New will not reclaim: processes run in it.
var ErrInUse = errors.New("already in use")

// Config says where a task's cgroup lives.
type Config struct {
	// Parent is the cgroup parent name, DefaultParent when empty: a relative
	// path like "berth" or "berth-test/x" below the hierarchy root.
	Parent string
	// ID is the task id; the cgroup is <Parent>/<ID> unless Path is set.
	ID string
	// Path, when set, is the task's cgroup itself, in place of
	// <Parent>/<ID> (OCI's linux.cgroupsPath): "/a/b" is a/b below the root
	// of every hierarchy; a relative "a/b" is below the calling process's
	// own cgroup, as runc takes it (resolvePath). It must not climb with
	// ".." nor name the root. Parents it lacks are created, marked, and
	// removed again by Delete once empty; parents that existed stay.
	// Manager.Path reports the result, for Load in another process.
	Path string
	// Resources are the limits New applies.
	Resources Resources
	// Devices are the devices the task may use beyond DefaultDevices, for
	// the host devices bound into it on purpose. Every task gets device
	// control (see devices.go); there is no way to turn it off.
	Devices []DeviceRule
	// Version forces V1, V2 or Hybrid; 0 detects: unified -> V2 at
	// /sys/fs/cgroup; hybrid -> Hybrid (unified at /sys/fs/cgroup/unified);
	// legacy -> V1.
	Version int
	// V2Mount overrides the cgroup2 mount point (tests:
	// "/sys/fs/cgroup/unified" or a fake tree in t.TempDir()).
	V2Mount string
	// V1Root overrides /sys/fs/cgroup, the directory holding one mount per
	// v1 controller (optional; tests).
	V1Root string
	// SharedParent says the parent holds cgroups other than berth's (an
	// OCI bundle's cgroupsPath, a --cgroup-parent of the host's): device
	// control then goes on the task's own cgroup, never on the parent,
	// where it would take devices from everything else below it. A
	// parent whose name does not start with "berth" is taken as shared
	// whatever this says.
	SharedParent bool
	// V1Controllers are v1 controllers the task joins on v1 and hybrid
	// hosts even without a limit there, those of them that are mounted:
	// for a monitor that reads a task's v1 files, as containerd's runc
	// shim does (its metrics and OOM events). The first v1 join costs a
	// launch an RCU grace period, several ms. "devices" on a hybrid host
	// gives the task a v1 devices cgroup holding its device rules, beside
	// the BPF program that enforces them on the unified hierarchy.
	V1Controllers []string
}

// Manager controls one task's cgroup. Its methods are safe for concurrent
// use: the executor's Wait and Shutdown may both reach it.
type Manager struct {
	log   hclog.Logger
	h     hierarchy
	group string // "/"-rooted, below each hierarchy's root

	mu sync.Mutex
	fd int // v2 directory fd for CLONE_INTO_CGROUP; -1 when none
}

// hierarchy is the version-specific half of a Manager, implemented by
// v1Group (v1.go) and v2Group (v2.go).
type hierarchy interface {
	version() int
	// dir is the directory that names the cgroup in messages: the freezer
	// directory on v1, the only one on v2.
	dir() string
	paths() map[string]string
	// allPaths is every directory the cgroup may have, including ones
	// another process added since this Manager was made (a v1 update
	// adds hierarchies): Delete must remove them all.
	allPaths() []string
	join(pid int) error
	// adopt joins pid to what clone3's CLONE_INTO_CGROUP did not place it
	// in.
	adopt(pid int) error
	// pids lists the processes (thread group ids) in the cgroup and every
	// cgroup below it.
	pids() ([]int, error)
	update(r Resources) error
	// setFrozen asks the kernel to freeze or thaw; frozen reports whether
	// the cgroup has reached the frozen state.
	setFrozen(frozen bool) error
	frozen() (bool, error)
	// empty reports whether no process is left in the cgroup.
	empty() (bool, error)
	// killFile is the cgroup.kill file, "" when the kernel has none.
	killFile() string
	// oomKills counts processes the kernel OOM-killed in the cgroup.
	oomKills() (uint64, error)
}

// New creates the task's cgroup, applies cfg.Resources and returns its
// Manager. A leftover cgroup with the same id from a crashed run is
// removed first when it is empty; one with processes is refused
// (ErrInUse): they may be a live task launched from another state dir.
//
// On v1 the task always gets a freezer cgroup, so that its pids can be
// listed and frozen, and a devices cgroup, plus a cgroup in each
// controller a set limit needs (memory; cpu for shares and quota; cpuset;
// pids; blkio; hugetlb; net_cls, net_prio; rdma). On v2 it gets one
// directory, with the controllers its limits need enabled in every
// ancestor's cgroup.subtree_control. On hybrid hosts the hugetlb and rdma
// limits and Unified go to the unified hierarchy unless v1 has the
// controller (splitHybrid). A controller a set limit needs that the host
// lacks, or a file the kernel does not have, is an error naming the
// field, and leaves no cgroup behind.
//
// Every task may use only DefaultDevices and cfg.Devices: on v2 and
// hybrid hosts through a BPF device program on the parent cgroup (or on
// the task's own when cfg.Devices is set), on v1 through its devices
// cgroup (see devices.go); on hybrid hosts through a v1 devices cgroup as
// well when cfg.V1Controllers names it.
func New(cfg Config, log hclog.Logger) (*Manager, error) {
	cfg, log, err := prepare(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := cfg.Resources.Validate(); err != nil {
		return nil, err
	}
	if err := checkHugepages(cfg.Resources.HugepageLimits); err != nil {
		return nil, err
	}
	if err := validateDevices(cfg.Devices); err != nil {
		return nil, err
	}
	// Refuse limits the host cannot enforce before touching any cgroup,
	// a leftover one included.
	switch cfg.Version {
	case V1:
		_, err = planV1(cfg, true)
	case V2:
		err = checkV2(cfg)
	case Hybrid:
		err = checkHybrid(cfg)
	}
	if err != nil {
		return nil, err
	}
	old, err := load(cfg, log)
	switch {
	case err == nil:
		// Only an empty leftover is reclaimed: one with processes may be
		// a live task with the same id under the same parent, launched
		// from another state dir, that nothing here can prove dead.
		if pids, perr := old.Pids(); perr != nil || len(pids) > 0 {
			if perr != nil {
				return nil, perr
			}
			return nil, fmt.Errorf("cgroup %s: %w: %d processes run in it (a task with this id, perhaps of another state dir)", old.h.dir(), ErrInUse, len(pids))
		}
		log.Warn("removing leftover cgroup of an earlier run", "paths", old.Paths())
		if err := old.Delete(); err != nil {
			return nil, fmt.Errorf("remove leftover cgroup %s: %w", old.h.dir(), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}

	var h hierarchy
	switch cfg.Version {
	case V1:
		h, err = newV1(cfg, log, true)
	case V2:
		h, err = newV2(cfg, log)
	case Hybrid:
		h, err = newHybrid(cfg, log)
	}
	if err != nil {
		if cfg.Path != "" {
			removeAllParents(cfg)
		}
		return nil, err
	}
	m := &Manager{log: log, h: h, fd: -1, group: "/" + cfg.group()}
	if err := m.openFD(); err != nil {
		return nil, oneLine(multierror.Append(err, m.Delete()))
	}
	log.Debug("created cgroup", "version", cfg.Version, "paths", m.Paths())
	return m, nil
}

// Load opens the existing cgroup of task cfg.ID, for the verbs that act on
// a task from another process (pause, kill, update). cfg.Resources are
// ignored. A cgroup that does not exist is an error matching
// fs.ErrNotExist.
func Load(cfg Config, log hclog.Logger) (*Manager, error) {
	cfg, log, err := prepare(cfg, log)
	if err != nil {
		return nil, err
	}
	return load(cfg, log)
}

func load(cfg Config, log hclog.Logger) (*Manager, error) {
	var (
		h   hierarchy
		err error
	)
	switch cfg.Version {
	case V1:
		h, err = loadV1(cfg, log)
	case V2:
		h, err = loadV2(cfg, log)
	case Hybrid:
		h, err = loadHybrid(cfg, log)
	}
	if err != nil {
		return nil, err
	}
	m := &Manager{log: log, h: h, fd: -1, group: "/" + cfg.group()}
	if err := m.openFD(); err != nil {
		return nil, err
	}
	return m, nil
}

// prepare fills in Config defaults, checks the names and picks the cgroup
// version.
func prepare(cfg Config, log hclog.Logger) (Config, hclog.Logger, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if cfg.Parent == "" {
		cfg.Parent = DefaultParent
	}
	if cfg.V1Root == "" {
		cfg.V1Root = defaultRoot
	}
	v2MountSet := cfg.V2Mount != ""
	if !v2MountSet {
		cfg.V2Mount = defaultRoot
	}
	if cfg.Path != "" {
		if err := checkPath(cfg.Path); err != nil {
			return cfg, nil, err
		}
	}
	p := cfg.Parent
	if path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return cfg, nil, fmt.Errorf("cgroup parent %q: must be a clean relative path below the cgroup root", p)
	}
	if cfg.ID == "" || cfg.ID == "." || cfg.ID == ".." || strings.ContainsAny(cfg.ID, "/\x00") {
		return cfg, nil, fmt.Errorf("cgroup of task %q: the id must be a single path element", cfg.ID)
	}
	switch cfg.Version {
	case 0:
		switch mode := cgroups.Mode(); mode {
		case cgroups.Unified:
			cfg.Version = 2
		case cgroups.Hybrid:
			cfg.Version = Hybrid
		case cgroups.Legacy:
			cfg.Version = V1
		default:
			return cfg, nil, fmt.Errorf("detect cgroup version: no cgroup filesystem mounted at %s", defaultRoot)
		}
	case V1, V2, Hybrid:
	default:
		return cfg, nil, fmt.Errorf("cgroup version %d: must be 1, 2 or 3 (hybrid)", cfg.Version)
	}
	if cfg.Version == Hybrid && !v2MountSet {
		cfg.V2Mount = hybridMount
	}
	if cfg.Path != "" {
		p, err := resolvePath(cfg.Path, cfg.Version, "/proc/self/cgroup")
		if err != nil {
			return cfg, nil, err
		}
		// From here on Path is below the hierarchy roots, and Parent is
		// its parent ("" for a cgroup directly under the root): what
		// decides where device control goes and which levels enable v2
		// controllers.
		cfg.Path, cfg.Parent = p, path.Dir(p)
		if cfg.Parent == "." {
			cfg.Parent = ""
		}
	}
	return cfg, log.With("cgroup", cfg.group()), nil
}

// group is the cgroup's path relative to a hierarchy root.
func (c Config) group() string {
	if c.Path != "" {
		return c.Path
	}
	return path.Join(c.Parent, c.ID)
}

// Path is the task's cgroup below each hierarchy's root, "/"-rooted: what
// Config.Path resolved to (or <Parent>/<ID>). Passed as Config.Path to
// Load, it finds the cgroup from any process.
func (m *Manager) Path() string {
	return m.group
}

// Version returns how the task's cgroup is laid out: V1, V2 or Hybrid.
func (m *Manager) Version() int {
	return m.h.version()
}

// openFD opens the v2 cgroup directory for CLONE_INTO_CGROUP. O_PATH is
// enough: clone3 resolves the fd with fdget_raw, which accepts it.
func (m *Manager) openFD() error {
	if m.h.version() == V1 {
		return nil
	}
	fd, err := unix.Open(m.h.dir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open cgroup", Path: m.h.dir(), Err: err}
	}
	m.mu.Lock()
	m.fd = fd
	m.mu.Unlock()
	return nil
}

// FD returns an O_PATH|O_DIRECTORY fd of the v2 cgroup directory, for
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}: clone3 with
// CLONE_INTO_CGROUP starts the child inside the cgroup, so not one
// instruction of it runs outside its limits. ok is false on v1 and after
// Close or Delete. The Manager owns the fd and closes it in Delete/Close.
func (m *Manager) FD() (fd int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fd, m.fd >= 0
}

// Close releases the Manager's fd and leaves the cgroup in place (a
// detached task keeps running in it). Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	if err != nil {
		return &os.PathError{Op: "close cgroup", Path: m.h.dir(), Err: err}
	}
	return nil
}

// Adopt completes the placement of a process started into FD() with
// clone3: it joins the hierarchies clone3 could not place it in (every one
// on V1, where there is no FD; the v1 limit controllers on Hybrid; none on
// V2). The executor calls it before it releases the child.
func (m *Manager) Adopt(pid int) error {
	if err := m.h.adopt(pid); err != nil {
		return fmt.Errorf("join pid %d to cgroup %s: %w", pid, m.h.dir(), err)
	}
	return nil
}

// Join moves pid, with all its threads, into the cgroup in every
// hierarchy. On v1 the executor calls it before it releases the child, so
// the task's own code never runs outside the cgroup.
func (m *Manager) Join(pid int) error {
	if err := m.h.join(pid); err != nil {
		return fmt.Errorf("join pid %d to cgroup %s: %w", pid, m.h.dir(), err)
	}
	return nil
}

// Pids lists the processes (thread group ids) in the cgroup, including
// those in cgroups the task created below it, sorted.
func (m *Manager) Pids() ([]int, error) {
	pids, err := m.h.pids()
	if err != nil {
		return nil, fmt.Errorf("list pids of cgroup %s: %w", m.h.dir(), err)
	}
	return pids, nil
}

// Update changes the limits of the running task. Fields of r that are zero
// are left as they are; the others replace the current value. On v1 a
// limit can only be changed in a controller the cgroup was created with.
func (m *Manager) Update(r Resources) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := checkHugepages(r.HugepageLimits); err != nil {
		return err
	}
	if err := m.h.update(r); err != nil {
		return err
	}
	m.log.Debug("updated cgroup limits", "resources", fmt.Sprintf("%+v", r))
	return nil
}

// Paths maps each hierarchy the cgroup is in ("freezer", "memory", ... on
// v1; "unified" on v2) to the cgroup's directory there.
func (m *Manager) Paths() map[string]string {
	return m.h.paths()
}

// Delete removes every directory of the cgroup and closes the fd. The
// cgroup must be empty (see KillAll); rmdir is retried briefly on EBUSY
// because a process that was just killed may still be leaving. Delete is
// idempotent: directories already gone are not an error.
func (m *Manager) Delete() error {
	var result *multierror.Error
	if err := m.Close(); err != nil {
		result = multierror.Append(result, err)
	}
	for _, dir := range m.h.allPaths() {
		if err := removeDir(dir); err != nil {
			result = multierror.Append(result, err)
			continue
		}
		// Parents made for a Config.Path go too once empty; a task under
		// a Parent never has marked ones.
		removeParents(dir)
	}
	return oneLine(result).ErrorOrNil()
}

// removeRetry bounds how long removeDir waits for a cgroup to become
// removable.
const removeRetry = 2 * time.Second

// removeDir removes one cgroup directory. rmdir on a cgroup fails with
// EBUSY while it still has tasks: a killed process leaves the cgroup only
// when it has finished exiting, a short time after SIGKILL.
//
// Cgroups below it (an exec's leaf) go first: rmdir of a cgroup with
// children fails with EBUSY too.
func removeDir(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				if err := removeDir(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	deadline := time.Now().Add(removeRetry)
	delay := 5 * time.Millisecond
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(delay)
			delay = min(2*delay, 100*time.Millisecond)
		default:
			return &os.PathError{Op: "remove cgroup", Path: dir, Err: err}
		}
	}
}

// oneLine makes a multierror print on one line: berth reports errors as a
// single "berth: ..." line on stderr.
func oneLine(e *multierror.Error) *multierror.Error {
	if e != nil {
		e.ErrorFormat = func(errs []error) string {
			msgs := make([]string, len(errs))
			for i, err := range errs {
				msgs[i] = err.Error()
			}
			return strings.Join(msgs, "; ")
		}
	}
	return e
}

// need is a controller a set limit needs, with the flag that sets it.
type need struct {
	controller string
	flag       string
}

// addNeed adds controller to needs unless it is there, named by flag.
func addNeed(needs []need, controller, flag string) []need {
	for _, n := range needs {
		if n.controller == controller {
			return needs
		}
	}
	return append(needs, need{controller, flag})
}

// needs lists the controllers r's set limits need, each once, named by the
// first flag that needs it, as v1 names them (v2 calls blkio io: v2Needs).
// Unified's keys are v2's alone (v2Needs).
func (r Resources) needs() []need {
	var out []need
	add := func(controller, flag string) { out = addNeed(out, controller, flag) }
	if r.MemoryBytes != 0 {
		add("memory", "--memory")
	}
	if r.MemorySwapBytes != 0 {
		add("memory", "--memory-swap")
	}
	if r.CPUShares != 0 {
		add("cpu", "--cpu-shares")
	}
	if r.CPUs != 0 {
		add("cpu", "--cpus")
	}
	if r.CPUPeriod != 0 {
		add("cpu", "Resources.CPUPeriod")
	}
	if r.Cpuset != "" {
		add("cpuset", "--cpuset")
	}
	if r.CpusetMems != "" {
		add("cpuset", "Resources.CpusetMems")
	}
	if r.MemoryReservationBytes != 0 {
		add("memory", "Resources.MemoryReservationBytes")
	}
	if r.MemorySwappiness != nil {
		add("memory", "Resources.MemorySwappiness")
	}
	if r.DisableOOMKiller {
		add("memory", "Resources.DisableOOMKiller")
	}
	if r.PidsLimit != 0 {
		add("pids", "--pids-limit")
	}
	if r.BlockIO != nil {
		add("blkio", "Resources.BlockIO")
	}
	if len(r.HugepageLimits) > 0 {
		add("hugetlb", "Resources.HugepageLimits")
	}
	if r.NetClassID != nil {
		add("net_cls", "Resources.NetClassID")
	}
	if len(r.NetPriorities) > 0 {
		add("net_prio", "Resources.NetPriorities")
	}
	if len(r.RDMA) > 0 {
		add("rdma", "Resources.RDMA")
	}
	return out
}

// v2Needs is needs in v2's names, with the controllers of Unified's keys
// that the hierarchy at mount offers.
func (r Resources) v2Needs(mount string) []need {
	var out []need
	for _, n := range r.needs() {
		if n.controller == "blkio" {
			n.controller = "io"
		}
		out = addNeed(out, n.controller, n.flag)
	}
	for _, n := range unifiedNeeds(r.Unified, mount) {
		out = addNeed(out, n.controller, n.flag)
	}
	return out
}

// notExistError says a task's cgroup is in no hierarchy. It matches
// fs.ErrNotExist so that callers can tell an unknown task from a failure.
type notExistError struct{ group string }

func (e notExistError) Error() string { return "cgroup " + e.group + " does not exist" }

func (e notExistError) Is(target error) bool { return target == fs.ErrNotExist }

// readKeyed reads the value of key from a flat-keyed cgroup file
// ("key value" per line: memory.events, cgroup.events, memory.oom_control).
// found is false when the file has no such key.
func readKeyed(file, key string) (value string, found bool, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			return strings.TrimSpace(v), true, nil
		}
	}
	return "", false, nil
}

// writeFile writes one value to an existing cgroup file. Unlike
// os.WriteFile it never creates the file: on cgroupfs a missing file means
// a missing kernel feature, and O_CREAT would turn that into EACCES.
func writeFile(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sortedPids returns pids sorted and without duplicates.
func sortedPids(in []int) []int {
	seen := make(map[int]bool, len(in))
	out := make([]int, 0, len(in))
	for _, p := range in {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
