package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// v2Group is a task's cgroup on cgroup v2: one directory.
type v2Group struct {
	log    hclog.Logger
	mount  string
	parent string // relative to mount
	path   string
	mgr    *cgroup2.Manager
	// hybrid is set for the unified half of a hybrid cgroup, whose
	// hierarchy root belongs to the host (enableControllers).
	hybrid bool
}

// checkV2 checks that mount is a cgroup2 hierarchy that offers every
// controller cfg needs.
func checkV2(cfg Config) error {
	mount := cfg.V2Mount
	if _, err := os.Stat(filepath.Join(mount, "cgroup.controllers")); err != nil {
		return fmt.Errorf("cgroup2 mount %s: %w", mount, err)
	}
	if err := checkV2Resources(cfg.Resources); err != nil {
		return err
	}
	return checkControllers(mount, cfg.Resources.v2Needs(mount))
}

// checkV2Resources refuses what cgroup v2 has no file for.
func checkV2Resources(r Resources) error {
	switch {
	case r.MemorySwappiness != nil:
		return errors.New("Resources.MemorySwappiness: cgroup v2 has no memory.swappiness")
	case r.DisableOOMKiller:
		return errors.New("Resources.DisableOOMKiller: cgroup v2 cannot turn off the OOM killer (no memory.oom_control)")
	case r.NetClassID != nil:
		return errors.New("Resources.NetClassID: cgroup v2 has no net_cls controller (it classifies traffic by BPF programs on the cgroup)")
	case len(r.NetPriorities) > 0:
		return errors.New("Resources.NetPriorities: cgroup v2 has no net_prio controller (it sets priorities by BPF programs on the cgroup)")
	}
	return nil
}

// g0 is a v2Group for the checks made before the task's cgroup exists.
func g0(mount, parent string) *v2Group { return &v2Group{mount: mount, parent: parent} }

// checkCpuset checks r's cpus and memory nodes against what the parent
// may hand out.
func (g *v2Group) checkCpuset(r Resources) error {
	if r.Cpuset != "" {
		if err := checkCpusAvailable(r.Cpuset, filepath.Join(g.mount, g.parent, "cpuset.cpus.effective")); err != nil {
			return err
		}
	}
	if r.CpusetMems != "" {
		if err := checkMemsAvailable(r.CpusetMems, filepath.Join(g.mount, g.parent, "cpuset.mems.effective")); err != nil {
			return err
		}
	}
	return nil
}

func newV2(cfg Config, log hclog.Logger) (*v2Group, error) {
	r, mount := cfg.Resources, cfg.V2Mount
	if err := checkV2(cfg); err != nil {
		return nil, err
	}
	// Controllers are enabled by hand rather than by cgroup2.NewManager:
	// its ToggleControllers reports only the last level's error, and a
	// missing controller has to become an error that names the flag.
	if err := enableControllers(mount, cfg.Parent, r.v2Needs(mount), cfg.Path != "", cfg.Version == Hybrid); err != nil {
		return nil, err
	}
	if err := g0(mount, cfg.Parent).checkCpuset(r); err != nil {
		return nil, err
	}
	// Device control goes on before the task's cgroup exists: the
	// parent's program covers it from its mkdir on. A tree that is not
	// cgroup2 (a test's fake one) can hold no process and takes no program.
	onCgroup2 := isCgroup2(mount)
	shared := cfg.SharedParent || !strings.HasPrefix(filepath.Base(cfg.Parent), "berth")
	if onCgroup2 && !shared {
		if err := ensureParentFilter(filepath.Join(mount, cfg.Parent)); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(mount, cfg.group())
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	var err error
	if onCgroup2 && (len(cfg.Devices) > 0 || shared) {
		err = attachTaskFilter(dir, cfg.Devices)
	}
	var mgr *cgroup2.Manager
	if err == nil {
		mgr, err = cgroup2.Load("/"+cfg.group(), cgroup2.WithMountpoint(mount))
	}
	if err == nil {
		g := &v2Group{log: log, mount: mount, parent: cfg.Parent, path: dir, mgr: mgr, hybrid: cfg.Version == Hybrid}
		if err = g.apply(r); err == nil {
			return g, nil
		}
	}
	result := multierror.Append(nil, err)
	if err := removeDir(dir); err != nil {
		result = multierror.Append(result, err)
	}
	return nil, oneLine(result)
}

func loadV2(cfg Config, log hclog.Logger) (*v2Group, error) {
	dir := filepath.Join(cfg.V2Mount, cfg.group())
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, notExistError{cfg.group()}
	} else if err != nil {
		return nil, fmt.Errorf("load cgroup: %w", err)
	}
	mgr, err := cgroup2.Load("/"+cfg.group(), cgroup2.WithMountpoint(cfg.V2Mount))
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", dir, err)
	}
	return &v2Group{log: log, mount: cfg.V2Mount, parent: cfg.Parent, path: dir, mgr: mgr, hybrid: cfg.Version == Hybrid}, nil
}

// enableControllers creates the parent cgroup below mount and enables each
// needed controller in the cgroup.subtree_control of the mount and of every
// level of the parent: a v2 cgroup has a controller's files only if its
// parent delegates the controller to its children. All needs are checked
// against the root first, so that a missing controller leaves nothing
// behind. mark marks the levels it creates for removal with the task
// (Config.Path).
//
// hostRoot leaves the root's cgroup.subtree_control as it is and requires
// each need enabled there already: on a hybrid host the unified hierarchy
// is the init system's, and a controller enabled at its root reaches every
// cgroup of the host (on this kind of host, hugetlb: offered there, enabled
// by no one). Below the root, the levels of berth's parent are enabled as
// on v2.
func enableControllers(mount, parent string, needs []need, mark, hostRoot bool) error {
	if err := checkControllers(mount, needs); err != nil {
		return err
	}
	if mark {
		if err := mkdirMarked(mount, filepath.Join(mount, parent)); err != nil {
			return err
		}
	}
	level := mount
	for _, elem := range append([]string{""}, strings.Split(parent, "/")...) {
		if elem != "" {
			level = filepath.Join(level, elem)
			if err := os.Mkdir(level, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create cgroup parent: %w", err)
			}
		}
		if len(needs) == 0 {
			continue
		}
		if err := checkControllers(level, needs); err != nil {
			return err
		}
		if hostRoot && level == mount {
			if err := checkEnabled(level, needs); err != nil {
				return err
			}
			continue
		}
		if err := enableIn(level, needs); err != nil {
			return err
		}
	}
	return nil
}

// enableIn enables in dir's cgroup.subtree_control each needed controller
// not already enabled there.
func enableIn(dir string, needs []need) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	enabled, err := readFields(file)
	if err != nil {
		return err
	}
	var missing []need
	var words []string
	for _, n := range needs {
		if !enabled[n.controller] {
			missing = append(missing, n)
			words = append(words, "+"+n.controller)
		}
	}
	if len(missing) == 0 || writeFile(file, strings.Join(words, " ")) == nil {
		return nil
	}
	// The kernel applies a write all or nothing; redo it one controller at
	// a time to name the flag whose controller fails. EBUSY means dir holds
	// processes itself (the "no internal processes" rule).
	for _, n := range missing {
		if err := writeFile(file, "+"+n.controller); err != nil {
			return fmt.Errorf("%s: enable cgroup2 controller %s: %w", n.flag, n.controller, err)
		}
	}
	return nil
}

// checkEnabled checks that dir's cgroup.subtree_control enables every
// need, for a level berth does not enable controllers in.
func checkEnabled(dir string, needs []need) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	enabled, err := readFields(file)
	if err != nil {
		return err
	}
	for _, n := range needs {
		if !enabled[n.controller] {
			return fmt.Errorf("%s: cgroup2 controller %s is not enabled in %s, which belongs to the host (berth enables controllers only below it; enable it there with \"+%s\")", n.flag, n.controller, file, n.controller)
		}
	}
	return nil
}

// checkControllers checks that dir's cgroup.controllers offers every need.
func checkControllers(dir string, needs []need) error {
	if len(needs) == 0 {
		return nil
	}
	file := filepath.Join(dir, "cgroup.controllers")
	avail, err := readFields(file)
	if err != nil {
		return err
	}
	for _, n := range needs {
		if !avail[n.controller] {
			b, _ := os.ReadFile(file)
			return fmt.Errorf("%s: cgroup2 controller %s is not available in %s (cgroup.controllers: %q)", n.flag, n.controller, dir, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// readFields reads a space-separated cgroup list file (cgroup.controllers,
// cgroup.subtree_control) as a set. A leading "+" is ignored: a fake tree
// in a test holds what was written, the kernel shows the bare names.
func readFields(file string) (map[string]bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool)
	for _, f := range strings.Fields(string(b)) {
		set[strings.TrimPrefix(f, "+")] = true
	}
	return set, nil
}

// sharesToWeight maps v1 cpu.shares [2, 262144] linearly onto v2
// cpu.weight [1, 10000], the conversion runc and crun use (cgroup2's
// ConvertCPUSharesToCgroupV2Value uses a newer curve that does not match
// what other tools write). Zero stays zero: unset.
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, MinCPUShares), MaxCPUShares)
	return 1 + ((shares-2)*9999)/262142
}

// v2Resources maps the set fields of r, except swap (see swapMax), to the
// files cgroup2 writes: memory.max, memory.low, cpu.weight, cpu.max "quota
// period", cpuset.cpus, cpuset.mems, pids.max.
func v2Resources(r Resources) *cgroup2.Resources {
	res := &cgroup2.Resources{}
	if r.MemoryBytes > 0 || r.MemoryReservationBytes > 0 {
		res.Memory = &cgroup2.Memory{}
		if r.MemoryBytes > 0 {
			res.Memory.Max = ptr(r.MemoryBytes)
		}
		if r.MemoryReservationBytes > 0 {
			res.Memory.Low = ptr(r.MemoryReservationBytes)
		}
	}
	if r.CPUShares > 0 || r.CPUs > 0 || r.CPUPeriod > 0 || r.Cpuset != "" || r.CpusetMems != "" {
		cpu := &cgroup2.CPU{Cpus: r.Cpuset, Mems: r.CpusetMems}
		if r.CPUShares > 0 {
			cpu.Weight = ptr(sharesToWeight(r.CPUShares))
		}
		switch {
		case r.CPUs > 0:
			cpu.Max = cgroup2.NewCPUMax(ptr(r.quota()), ptr(r.period()))
		case r.CPUPeriod > 0:
			cpu.Max = cgroup2.NewCPUMax(nil, ptr(r.period()))
		}
		res.CPU = cpu
	}
	if r.PidsLimit > 0 {
		res.Pids = &cgroup2.Pids{Max: r.PidsLimit}
	}
	return res
}

// swapMax is the value for memory.swap.max, which on v2 limits swap alone
// (v1's memsw limits memory plus swap): MemorySwapBytes-MemoryBytes, "0"
// for no swap, "max" for unlimited. ok is false when r sets no memory.
func swapMax(r Resources) (value string, ok bool) {
	switch {
	case r.MemoryBytes <= 0:
		return "", false
	case r.MemorySwapBytes == 0:
		return "0", true
	case r.MemorySwapBytes == -1:
		return "max", true
	}
	return strconv.FormatInt(r.MemorySwapBytes-r.MemoryBytes, 10), true
}

func (g *v2Group) apply(r Resources) error {
	if err := g.mgr.Update(v2Resources(r)); err != nil {
		return fmt.Errorf("set limits of cgroup %s: %w", g.path, err)
	}
	// Swap is written here, not through cgroup2.Memory.Swap: that field is
	// an int64 and the kernel takes only the word "max" for unlimited.
	if v, ok := swapMax(r); ok {
		file := filepath.Join(g.path, "memory.swap.max")
		if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
			if _, statErr := os.Stat(file); errors.Is(statErr, fs.ErrNotExist) {
				// The kernel has no swap accounting (CONFIG_MEMCG_SWAP,
				// swapaccount=0); opening with O_CREAT failed instead.
				if v != "max" {
					g.log.Warn("kernel has no swap accounting (no memory.swap.max): swap is not limited")
				}
				return nil
			}
			return fmt.Errorf("--memory-swap: %w", err)
		}
	}
	settings, err := v2Settings(r, g.path, g.mount)
	if err != nil {
		return err
	}
	return applySettings(settings)
}

// v2Settings are the files berth writes itself for r in the v2 cgroup
// dir: block I/O, huge pages, RDMA, then Unified, last so that its keys
// win over a field's value for the same file.
func v2Settings(r Resources, dir, mount string) ([]setting, error) {
	var out []setting
	if r.BlockIO != nil {
		s, err := r.BlockIO.v2Settings(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	out = append(out, hugetlbSettings(r.HugepageLimits, dir, true)...)
	out = append(out, rdmaSettings(r, dir)...)
	s, err := unifiedSettings(r.Unified, dir, mount)
	if err != nil {
		return nil, err
	}
	return append(out, s...), nil
}

func (g *v2Group) version() int { return 2 }

func (g *v2Group) dir() string { return g.path }

func (g *v2Group) paths() map[string]string {
	return map[string]string{"unified": g.path}
}

func (g *v2Group) allPaths() []string { return []string{g.path} }

// adopt has nothing to do: clone3 placed the process.
func (g *v2Group) adopt(pid int) error { return nil }

func (g *v2Group) join(pid int) error {
	// cgroup.procs moves the whole thread group.
	return g.mgr.AddProc(uint64(pid))
}

func (g *v2Group) pids() ([]int, error) {
	pids, err := procsTree(g.path)
	return sortedPids(pids), err
}

func (g *v2Group) update(r Resources) error {
	// Unlike v1, a v2 cgroup can gain a controller while it runs: enable
	// whatever the new limits need.
	if err := checkV2Resources(r); err != nil {
		return err
	}
	if err := enableControllers(g.mount, g.parent, r.v2Needs(g.mount), false, g.hybrid); err != nil {
		return err
	}
	if err := g.checkCpuset(r); err != nil {
		return err
	}
	return g.apply(r)
}

// setFrozen writes cgroup.freeze through cgroup2. The library waits only
// for the file to echo the request back; whether the kernel has stopped
// every task shows in cgroup.events, which frozen reads.
func (g *v2Group) setFrozen(frozen bool) error {
	if frozen {
		return g.mgr.Freeze()
	}
	return g.mgr.Thaw()
}

// deleted reports an error that means the cgroup is gone: ENOENT, or
// ENODEV when it was removed between the open of one of its files and the
// read (another process, the task's supervisor, may delete it any time).
func deleted(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

func (g *v2Group) frozen() (bool, error) {
	v, _, err := readKeyed(filepath.Join(g.path, "cgroup.events"), "frozen")
	return v == "1", err
}

func (g *v2Group) empty() (bool, error) {
	// "populated 0": no task in the cgroup or below it. An exiting task
	// leaves the cgroup when it dies, before it is reaped.
	v, found, err := readKeyed(filepath.Join(g.path, "cgroup.events"), "populated")
	if deleted(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !found {
		return false, fmt.Errorf("read %s: no populated key", filepath.Join(g.path, "cgroup.events"))
	}
	return v == "0", nil
}

func (g *v2Group) killFile() string {
	file := filepath.Join(g.path, "cgroup.kill")
	if _, err := os.Stat(file); err != nil {
		return "" // kernels before 5.14
	}
	return file
}

func (g *v2Group) oomKills() (uint64, error) {
	// memory.events exists only when the memory controller is enabled for
	// the cgroup; without it nothing can have been killed for its limit.
	return readOOMKills(filepath.Join(g.path, "memory.events"))
}
