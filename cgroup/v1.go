package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Names are the v1 hierarchies a task's cgroup may span, freezer first:
// it is the one every task gets. On a pure v1 host every task gets a
// devices cgroup too; a hybrid host controls devices on the unified
// hierarchy instead (devices.go), unless the caller asks for the v1
// devices cgroup too (Config.V1Controllers).
var v1Names = []string{"freezer", "devices", "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "hugetlb", "net_cls", "net_prio", "rdma"}

// v1Group is a task's cgroup on cgroup v1: one directory per hierarchy.
type v1Group struct {
	log   hclog.Logger
	root  string
	group string // relative to each hierarchy's root
	// freezer is false for the limits-only part of a hybrid cgroup, whose
	// processes are tracked and frozen on the unified hierarchy instead.
	freezer bool
	cg      cgroup1.Cgroup
	// dirs maps each hierarchy the cgroup is in to its directory there.
	dirs map[string]string
	// swapAccounting is whether the kernel has memory.memsw.* files
	// (CONFIG_MEMCG_SWAP and not swapaccount=0).
	swapAccounting bool
	// mark is set for a cgroup placed by Config.Path: the parents it
	// creates are marked for removal with it.
	mark bool
}

// planV1 checks that every hierarchy cfg needs is mounted, and the
// cpuset, and returns the hierarchies' names. freezer is true on a pure v1
// host, where the task is tracked in a freezer cgroup and kept from
// devices in a devices cgroup; false for the limits-only part of a hybrid
// cgroup.
func planV1(cfg Config, freezer bool) ([]string, error) {
	r, root := cfg.Resources, cfg.V1Root
	if len(r.Unified) > 0 {
		return nil, errors.New("Resources.Unified: cgroup v2 files, and this host has cgroup v1 only")
	}
	var names []string
	if freezer {
		names = append(names, "freezer", "devices")
	}
	for _, n := range r.needs() {
		if !v1Mounted(root, n.controller) {
			return nil, fmt.Errorf("%s: cgroup v1 controller %s is not mounted at %s", n.flag, n.controller, filepath.Join(root, n.controller))
		}
		names = append(names, n.controller)
	}
	for _, c := range cfg.V1Controllers {
		if v1Mounted(root, c) && !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	if freezer && !v1Mounted(root, "freezer") {
		return nil, fmt.Errorf("cgroup v1 freezer is not mounted at %s: berth needs it to list, freeze and kill a task's processes", filepath.Join(root, "freezer"))
	}
	if freezer {
		if err := checkV1Devices(root); err != nil {
			return nil, err
		}
	}
	if err := checkV1Cpuset(r, root); err != nil {
		return nil, err
	}
	return names, nil
}

// checkV1Cpuset checks r's cpus and memory nodes against the cpuset root's.
func checkV1Cpuset(r Resources, root string) error {
	if r.Cpuset != "" {
		if err := checkCpusAvailable(r.Cpuset, filepath.Join(root, "cpuset", "cpuset.cpus")); err != nil {
			return err
		}
	}
	if r.CpusetMems != "" {
		if err := checkMemsAvailable(r.CpusetMems, filepath.Join(root, "cpuset", "cpuset.mems")); err != nil {
			return err
		}
	}
	return nil
}

// mkdirParents creates, marked, the parents a cgroup placed by Config.Path
// lacks in each of the hierarchies names.
func (g *v1Group) mkdirParents(names []string) error {
	if !g.mark {
		return nil
	}
	for _, name := range names {
		hier := filepath.Join(g.root, name)
		if err := mkdirMarked(hier, filepath.Dir(filepath.Join(hier, g.group))); err != nil {
			return err
		}
	}
	return nil
}

func newV1(cfg Config, log hclog.Logger, freezer bool) (*v1Group, error) {
	r, root, group := cfg.Resources, cfg.V1Root, cfg.group()
	names, err := planV1(cfg, freezer)
	if err != nil {
		return nil, err
	}
	g := &v1Group{log: log, root: root, group: group, freezer: freezer, dirs: v1Dirs(root, group, names),
		swapAccounting: v1SwapAccounting(root), mark: cfg.Path != ""}
	g.warnSwap(r)
	if err := g.mkdirParents(names); err != nil {
		return nil, err
	}
	// cgroup1.New makes each directory and writes the limits, and for
	// cpuset first copies cpuset.cpus and cpuset.mems down from the parent:
	// a v1 cpuset cgroup starts with both empty and refuses tasks until
	// they are set. The device rules are written here only, never by an
	// update: rewriting them would deny everything for a moment. A hybrid
	// cgroup has a devices cgroup only when asked for (V1Controllers),
	// and gets the same rules there as on the unified hierarchy.
	spec := v1Spec(r, g.swapAccounting)
	if slices.Contains(names, "devices") {
		spec.Devices = v1DeviceSpec(cfg.Devices)
	}
	cg, err := cgroup1.New(cgroup1.StaticPath("/"+group), spec, cgroup1.WithHierarchy(v1Hierarchy(root, names)))
	if err != nil {
		err = fmt.Errorf("create cgroup %s: %w", group, err)
	} else {
		g.cg = cg
		err = g.applySettings(r)
	}
	if err != nil {
		// The library leaves behind the directories it made before the
		// write that failed.
		result := multierror.Append(nil, err)
		for _, dir := range g.dirs {
			if err := removeDir(dir); err != nil {
				result = multierror.Append(result, err)
			}
		}
		return nil, oneLine(result)
	}
	return g, nil
}

// applySettings writes the files berth writes itself for r (settings.go)
// in the cgroup's v1 hierarchies.
func (g *v1Group) applySettings(r Resources) error {
	var settings []setting
	if r.BlockIO != nil {
		s, err := r.BlockIO.v1Settings(g.dirs["blkio"])
		if err != nil {
			return err
		}
		settings = s
	}
	settings = append(settings, hugetlbSettings(r.HugepageLimits, g.dirs["hugetlb"], false)...)
	settings = append(settings, networkSettings(r, g.dirs)...)
	settings = append(settings, rdmaSettings(r, g.dirs["rdma"])...)
	return applySettings(settings)
}

func loadV1(cfg Config, log hclog.Logger) (*v1Group, error) {
	root, group := cfg.V1Root, cfg.group()
	var mounted []string
	for _, name := range v1Names {
		if v1Mounted(root, name) {
			mounted = append(mounted, name)
		}
	}
	if len(mounted) == 0 {
		return nil, fmt.Errorf("load cgroup %s: no cgroup v1 hierarchy is mounted at %s", group, root)
	}
	// cgroup1.Load keeps the hierarchies in which the directory exists.
	cg, err := cgroup1.Load(cgroup1.StaticPath("/"+group), cgroup1.WithHierarchy(v1Hierarchy(root, mounted)))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return nil, notExistError{group}
	}
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", group, err)
	}
	var names []string
	for _, s := range cg.Subsystems() {
		names = append(names, string(s.Name()))
	}
	_, hasFreezer := v1Dirs(root, group, names)["freezer"]
	return &v1Group{
		log:            log,
		root:           root,
		group:          group,
		freezer:        hasFreezer,
		cg:             cg,
		dirs:           v1Dirs(root, group, names),
		swapAccounting: v1SwapAccounting(root),
		mark:           cfg.Path != "",
	}, nil
}

// v1Mounted reports whether root/name is a mounted v1 hierarchy. The
// directories below /sys/fs/cgroup are plain tmpfs directories until a
// controller is mounted on them, so existence proves nothing.
func v1Mounted(root, name string) bool {
	var st unix.Statfs_t
	return unix.Statfs(filepath.Join(root, name), &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC
}

// v1SwapAccounting reports whether the memory controller has the
// memory.memsw.* files that limit memory plus swap.
func v1SwapAccounting(root string) bool {
	_, err := os.Stat(filepath.Join(root, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// v1Hierarchy hands cgroup1 exactly the controllers the task uses,
// mounted below root, instead of every hierarchy the host has.
func v1Hierarchy(root string, names []string) cgroup1.Hierarchy {
	return func() ([]cgroup1.Subsystem, error) {
		var out []cgroup1.Subsystem
		for _, name := range names {
			switch name {
			case "freezer":
				out = append(out, cgroup1.NewFreezer(root))
			case "devices":
				out = append(out, cgroup1.NewDevices(root))
			case "memory":
				out = append(out, cgroup1.NewMemory(root))
			case "cpu":
				out = append(out, cgroup1.NewCpu(root))
			case "cpuset":
				out = append(out, cgroup1.NewCpuset(root))
			case "pids":
				out = append(out, cgroup1.NewPids(root))
			case "cpuacct":
				out = append(out, cgroup1.NewCpuacct(root))
			case "blkio":
				out = append(out, cgroup1.NewBlkio(root))
			case "hugetlb":
				h, err := cgroup1.NewHugetlb(root)
				if err != nil {
					return nil, err
				}
				out = append(out, h)
			case "net_cls":
				out = append(out, cgroup1.NewNetCls(root))
			case "net_prio":
				out = append(out, cgroup1.NewNetPrio(root))
			case "rdma":
				out = append(out, cgroup1.NewRdma(root))
			default:
				return nil, fmt.Errorf("cgroup v1 controller %s: not used by berth", name)
			}
		}
		return out, nil
	}
}

func v1Dirs(root, group string, names []string) map[string]string {
	dirs := make(map[string]string, len(names))
	for _, name := range names {
		dirs[name] = filepath.Join(root, name, group)
	}
	return dirs
}

// v1Spec maps the set fields of r to the OCI resources cgroup1 writes:
// memory.limit_in_bytes; memory.memsw.limit_in_bytes (memory plus swap:
// equal to the limit for "no swap", -1 for unlimited) when the kernel
// accounts swap, else memory.swappiness 0 for "no swap" unless r sets a
// swappiness; memory.soft_limit_in_bytes; memory.swappiness;
// memory.oom_control; cpu.shares; cpu.cfs_period_us and cpu.cfs_quota_us;
// cpuset.cpus and cpuset.mems; pids.max.
func v1Spec(r Resources, swapAccounting bool) *specs.LinuxResources {
	spec := &specs.LinuxResources{}
	if r.MemoryReservationBytes > 0 || r.MemorySwappiness != nil || r.DisableOOMKiller {
		spec.Memory = &specs.LinuxMemory{}
		if r.MemoryReservationBytes > 0 {
			spec.Memory.Reservation = ptr(r.MemoryReservationBytes)
		}
		spec.Memory.Swappiness = r.MemorySwappiness
		if r.DisableOOMKiller {
			spec.Memory.DisableOOMKiller = ptr(true)
		}
	}
	if r.MemoryBytes > 0 {
		mem := spec.Memory
		if mem == nil {
			mem = &specs.LinuxMemory{}
		}
		mem.Limit = ptr(r.MemoryBytes)
		swap := r.MemorySwapBytes
		if swap == 0 {
			swap = r.MemoryBytes
		}
		switch {
		case swapAccounting:
			mem.Swap = ptr(swap)
		case swap == r.MemoryBytes && mem.Swappiness == nil:
			// Without memsw the only way to keep the task out of swap
			// is to stop the kernel from swapping its pages at all.
			mem.Swappiness = ptr(uint64(0))
		}
		spec.Memory = mem
	}
	if r.CPUShares > 0 || r.CPUs > 0 || r.CPUPeriod > 0 || r.Cpuset != "" || r.CpusetMems != "" {
		cpu := &specs.LinuxCPU{Cpus: r.Cpuset, Mems: r.CpusetMems}
		if r.CPUShares > 0 {
			cpu.Shares = ptr(r.CPUShares)
		}
		if r.CPUs > 0 || r.CPUPeriod > 0 {
			cpu.Period = ptr(r.period())
		}
		if r.CPUs > 0 {
			cpu.Quota = ptr(r.quota())
		}
		spec.CPU = cpu
	}
	if r.PidsLimit > 0 {
		spec.Pids = &specs.LinuxPids{Limit: ptr(r.PidsLimit)}
	}
	return spec
}

// period is the CFS period (µs) r's CPUs are measured against.
func (r Resources) period() uint64 {
	if r.CPUPeriod > 0 {
		return r.CPUPeriod
	}
	return cpuPeriod
}

// quota is the CFS quota (µs per period) for r's limit in cores.
func (r Resources) quota() int64 {
	return int64(math.Round(r.CPUs * float64(r.period())))
}

func ptr[T any](v T) *T { return &v }

// warnSwap logs when the kernel cannot enforce the swap part of r.
func (g *v1Group) warnSwap(r Resources) {
	if r.MemoryBytes > 0 && !g.swapAccounting && r.MemorySwapBytes != 0 && r.MemorySwapBytes != r.MemoryBytes {
		g.log.Warn("kernel has no swap accounting (no memory.memsw.limit_in_bytes): --memory-swap is not enforced, swap is unlimited")
	}
}

func (g *v1Group) version() int { return 1 }

func (g *v1Group) dir() string {
	for _, name := range v1Names {
		if d, ok := g.dirs[name]; ok {
			return d
		}
	}
	return ""
}

func (g *v1Group) paths() map[string]string {
	out := make(map[string]string, len(g.dirs))
	for k, v := range g.dirs {
		out[k] = v
	}
	return out
}

func (g *v1Group) allPaths() []string {
	var out []string
	for _, n := range v1Names {
		dir := filepath.Join(g.root, n, g.group)
		if _, ok := g.dirs[n]; ok || v1Mounted(g.root, n) {
			out = append(out, dir)
		}
	}
	return out
}

func (g *v1Group) adopt(pid int) error { return g.join(pid) }

func (g *v1Group) join(pid int) error {
	// AddProc writes cgroup.procs, which moves the whole thread group, in
	// every hierarchy of the cgroup.
	return g.cg.AddProc(uint64(pid))
}

func (g *v1Group) pids() ([]int, error) {
	// Every hierarchy holds the same processes; the freezer is the one
	// every task has.
	name := "freezer"
	if _, ok := g.dirs[name]; !ok {
		name = string(g.cg.Subsystems()[0].Name())
	}
	if _, ok := g.dirs[name]; !ok {
		return nil, fmt.Errorf("no directory for hierarchy %s", name)
	}
	pids, err := procsTree(g.dirs[name])
	return sortedPids(pids), err
}

func (g *v1Group) update(r Resources) error {
	if len(r.Unified) > 0 {
		return errors.New("Resources.Unified: cgroup v2 files, and this host has cgroup v1 only")
	}
	var missing []string
	for _, n := range r.needs() {
		if _, ok := g.dirs[n.controller]; !ok {
			if !v1Mounted(g.root, n.controller) {
				return fmt.Errorf("%s: cgroup v1 controller %s is not mounted at %s", n.flag, n.controller, filepath.Join(g.root, n.controller))
			}
			missing = append(missing, n.controller)
		}
	}
	if err := checkV1Cpuset(r, g.root); err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := g.addControllers(missing, g); err != nil {
			return err
		}
	}
	g.warnSwap(r)
	spec := v1Spec(r, g.swapAccounting)
	if mem := spec.Memory; mem != nil && mem.Swap != nil {
		// The kernel keeps memsw.limit_in_bytes >= limit_in_bytes after
		// every write, so the two go in an order that holds it: the limit
		// first if it fits under the current memsw, else memsw first (then
		// the new memsw is at least the new limit, which is above the
		// current one). cgroup1's own ordering swaps the wrong entries.
		memsw, err := readInt(filepath.Join(g.dirs["memory"], "memory.memsw.limit_in_bytes"))
		if err != nil {
			return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
		}
		first := &specs.LinuxMemory{Limit: mem.Limit}
		if *mem.Limit > memsw {
			first = &specs.LinuxMemory{Swap: mem.Swap}
		}
		if err := g.cg.Update(&specs.LinuxResources{Memory: first}); err != nil {
			return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
		}
	}
	if err := g.cg.Update(spec); err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
	}
	return g.applySettings(r)
}

// addControllers puts a running task into hierarchies it was started
// without, so that a limit can be set on it later: on v1 each controller is
// its own tree, and a task only gets the ones its first limits needed
// (every extra hierarchy costs the launch a mkdir and an rmdir). The task
// is frozen while its processes move, so none can fork into the old cgroup
// in between; the new cgroups start without limits.
func (g *v1Group) addControllers(names []string, h freezable) (err error) {
	return g.addControllersOf(names, h, g.pids)
}

// addControllersOf is addControllers with the task's pids listed by the
// caller (a hybrid cgroup lists them on the unified hierarchy).
func (g *v1Group) addControllersOf(names []string, h freezable, list func() ([]int, error)) (err error) {
	// A paused task stays paused: freeze and thaw only one that runs.
	paused, err := h.frozen()
	if err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
	}
	if !paused {
		freeze := freezeWait(h)
		if err := freeze(true); err != nil {
			return fmt.Errorf("update cgroup %s: freeze: %w", g.dir(), err)
		}
		defer func() {
			if terr := freeze(false); terr != nil && err == nil {
				err = fmt.Errorf("update cgroup %s: thaw: %w", g.dir(), terr)
			}
		}()
	}
	group := "/" + g.group
	if err := g.mkdirParents(names); err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
	}
	added, err := cgroup1.New(cgroup1.StaticPath(group), &specs.LinuxResources{}, cgroup1.WithHierarchy(v1Hierarchy(g.root, names)))
	if err != nil {
		return fmt.Errorf("update cgroup %s: add %s: %w", g.dir(), strings.Join(names, ", "), err)
	}
	for name, dir := range v1Dirs(g.root, g.group, names) {
		g.dirs[name] = dir
	}
	pids, err := list()
	if err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
	}
	for _, pid := range pids {
		if err := added.AddProc(uint64(pid)); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("update cgroup %s: move pid %d: %w", g.dir(), pid, err)
		}
	}
	all := make([]string, 0, len(g.dirs))
	for _, n := range v1Names {
		if _, ok := g.dirs[n]; ok {
			all = append(all, n)
		}
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(group), cgroup1.WithHierarchy(v1Hierarchy(g.root, all)))
	if err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.dir(), err)
	}
	g.cg = cg
	return nil
}

// readInt reads a cgroup file holding one integer.
func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

var errNoFreezer = errors.New("the cgroup has no freezer hierarchy")

// setFrozen writes freezer.state directly: cgroup1's Freeze loops until
// the state reads FROZEN with no bound, and a task stuck in uninterruptible
// sleep would hang it (and KillAll with it) for good.
func (g *v1Group) setFrozen(frozen bool) error {
	dir, ok := g.dirs["freezer"]
	if !ok {
		return errNoFreezer
	}
	state := "THAWED"
	if frozen {
		state = "FROZEN"
	}
	return writeFile(filepath.Join(dir, "freezer.state"), state)
}

func (g *v1Group) frozen() (bool, error) {
	dir, ok := g.dirs["freezer"]
	if !ok {
		return false, errNoFreezer
	}
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	if err != nil {
		return false, err
	}
	// FREEZING means the kernel is still stopping tasks.
	return strings.TrimSpace(string(b)) == "FROZEN", nil
}

func (g *v1Group) empty() (bool, error) {
	pids, err := g.pids()
	return len(pids) == 0, err
}

// killFile is empty: cgroup.kill exists only on cgroup v2.
func (g *v1Group) killFile() string { return "" }

func (g *v1Group) oomKills() (uint64, error) {
	dir, ok := g.dirs["memory"]
	if !ok {
		return 0, nil
	}
	return readOOMKills(filepath.Join(dir, "memory.oom_control"))
}
