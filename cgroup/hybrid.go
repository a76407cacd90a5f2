package cgroup

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-multierror"
)

// hybridGroup is a task's cgroup on a hybrid host: a cgroup on the unified
// hierarchy (which has no controllers there, but tracks, freezes and kills
// processes and takes clone3's CLONE_INTO_CGROUP) plus, only when the task
// has limits, v1 cgroups in the controllers those limits need.
type hybridGroup struct {
	cfg Config
	log hclog.Logger
	v2  *v2Group
	v1  *v1Group // nil until a limit needs one
}

// splitHybrid divides r between the halves of a hybrid cgroup. The
// unified half takes Unified, and the hugetlb and rdma limits when the
// host has no v1 hierarchy for them but may offer the controller on the
// unified one (this kind of host offers hugetlb there); the v1 half takes
// the rest.
func splitHybrid(r Resources, v1Root string) (v1, unified Resources) {
	v1 = r
	unified.Unified, v1.Unified = r.Unified, nil
	if len(r.HugepageLimits) > 0 && !v1Mounted(v1Root, "hugetlb") {
		unified.HugepageLimits, v1.HugepageLimits = r.HugepageLimits, nil
	}
	if len(r.RDMA) > 0 && !v1Mounted(v1Root, "rdma") {
		unified.RDMA, v1.RDMA = r.RDMA, nil
	}
	return v1, unified
}

// checkHybrid checks both halves: the unified mount and the controllers
// of its share of the limits, and the v1 controllers of the rest.
func checkHybrid(cfg Config) error {
	v1, unified := splitHybrid(cfg.Resources, cfg.V1Root)
	if err := checkV2(Config{V2Mount: cfg.V2Mount, Resources: unified}); err != nil {
		return err
	}
	cfg.Resources = v1
	_, err := planV1(cfg, false)
	return err
}

func newHybrid(cfg Config, log hclog.Logger) (*hybridGroup, error) {
	// The unified half gets only what the unified hierarchy has the
	// controller for; the others are on v1.
	v1Res, unifiedRes := splitHybrid(cfg.Resources, cfg.V1Root)
	unified := cfg
	unified.Resources = unifiedRes
	v2, err := newV2(unified, log)
	if err != nil {
		return nil, err
	}
	g := &hybridGroup{cfg: cfg, log: log, v2: v2}
	cfg.Resources = v1Res
	if len(v1Res.needs()) == 0 && len(cfg.V1Controllers) == 0 {
		return g, nil
	}
	if g.v1, err = newV1(cfg, log, false); err != nil {
		result := multierror.Append(nil, err)
		if err := removeDir(v2.path); err != nil {
			result = multierror.Append(result, err)
		}
		return nil, oneLine(result)
	}
	return g, nil
}

func loadHybrid(cfg Config, log hclog.Logger) (*hybridGroup, error) {
	v2, err := loadV2(cfg, log)
	if err != nil {
		return nil, err
	}
	g := &hybridGroup{cfg: cfg, log: log, v2: v2}
	v1, err := loadV1(cfg, log)
	switch {
	case err == nil:
		g.v1 = v1
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return g, nil
}

func (g *hybridGroup) version() int { return Hybrid }
func (g *hybridGroup) dir() string  { return g.v2.dir() }

func (g *hybridGroup) paths() map[string]string {
	out := g.v2.paths()
	if g.v1 != nil {
		for k, v := range g.v1.paths() {
			out[k] = v
		}
	}
	return out
}

// allPaths names every v1 hierarchy too: another process may have added
// limits (and so v1 cgroups) since this Manager was made.
func (g *hybridGroup) allPaths() []string {
	v1 := g.v1
	if v1 == nil {
		v1 = &v1Group{root: g.cfg.V1Root, group: g.cfg.group()}
	}
	return append(g.v2.allPaths(), v1.allPaths()...)
}

func (g *hybridGroup) join(pid int) error {
	if err := g.v2.join(pid); err != nil {
		return err
	}
	return g.adopt(pid)
}

// adopt joins the v1 limit cgroups; clone3 placed the process on the
// unified hierarchy.
func (g *hybridGroup) adopt(pid int) error {
	if g.v1 == nil {
		return nil
	}
	return g.v1.join(pid)
}

func (g *hybridGroup) pids() ([]int, error) { return g.v2.pids() }

// update writes the limits on v1, first creating the v1 cgroups a new limit
// needs and moving the task's processes into them while it is frozen on
// the unified hierarchy, and the unified half's share (splitHybrid) on
// the unified hierarchy.
func (g *hybridGroup) update(r Resources) error {
	r, unified := splitHybrid(r, g.cfg.V1Root)
	if err := g.updateV1(r); err != nil {
		return err
	}
	if len(unified.HugepageLimits)+len(unified.RDMA)+len(unified.Unified) == 0 {
		return nil
	}
	return g.v2.update(unified)
}

func (g *hybridGroup) updateV1(r Resources) error {
	if g.v1 == nil {
		var names []string
		for _, n := range r.needs() {
			if !v1Mounted(g.cfg.V1Root, n.controller) {
				return fmt.Errorf("%s: cgroup v1 controller %s is not mounted", n.flag, n.controller)
			}
			names = append(names, n.controller)
		}
		if len(names) == 0 {
			return nil
		}
		v1 := &v1Group{log: g.log, root: g.cfg.V1Root, group: g.cfg.group(), dirs: map[string]string{},
			swapAccounting: v1SwapAccounting(g.cfg.V1Root), mark: g.cfg.Path != ""}
		if err := v1.addControllersOf(names, g.v2, g.v2.pids); err != nil {
			return err
		}
		g.v1 = v1
	} else {
		var missing []string
		for _, n := range r.needs() {
			if _, ok := g.v1.dirs[n.controller]; !ok {
				missing = append(missing, n.controller)
			}
		}
		if len(missing) > 0 {
			if err := g.v1.addControllersOf(missing, g.v2, g.v2.pids); err != nil {
				return err
			}
		}
	}
	return g.v1.update(r)
}

func (g *hybridGroup) setFrozen(frozen bool) error { return g.v2.setFrozen(frozen) }
func (g *hybridGroup) frozen() (bool, error)       { return g.v2.frozen() }
func (g *hybridGroup) empty() (bool, error)        { return g.v2.empty() }
func (g *hybridGroup) killFile() string            { return g.v2.killFile() }

func (g *hybridGroup) oomKills() (uint64, error) {
	if g.v1 == nil {
		return 0, nil
	}
	return g.v1.oomKills()
}
