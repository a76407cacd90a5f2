package executor

import (
	"os"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/nsinit"
)

// handCgroupJoins gives the init stage the v1 cgroups its exec thread
// joins itself (a hybrid host's: cgroup.Manager.SelfJoinFiles), appended
// to files at the fd numbers the plan names. joined reports whether any
// were handed over; then Adopt must not be called, and close must be once
// the child has started.
func handCgroupJoins(cg *cgroup.Manager, plan *nsinit.Plan, files []*os.File) (out []*os.File, joined bool, close func(), err error) {
	joins, err := cg.SelfJoinFiles()
	if err != nil {
		return files, false, func() {}, err
	}
	for _, f := range joins {
		plan.JoinCgroups = append(plan.JoinCgroups, nsinit.CgroupJoin{Fd: len(files), Path: f.Name()})
		files = append(files, f)
	}
	return files, len(joins) > 0, func() {
		for _, f := range joins {
			f.Close()
		}
	}, nil
}
