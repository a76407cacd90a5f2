package executor

import (
	"os"

	"github.com/berthrun/berth/nsinit"
)

// selfJoiner is a task's cgroup or an exec's leaf: the v1 cgroups a
// process started into it joins by itself.
type selfJoiner interface {
	SelfJoinFiles() ([]*os.File, error)
}

// handCgroupJoins gives the init stage or exec helper the v1 cgroups its
// exec thread joins itself (a hybrid host's: cgroup.Manager and
// cgroup.Leaf SelfJoinFiles), appended to files at the fd numbers the
// plan names. joined reports whether any were handed over; then Adopt
// must not be called. close must be called once the child has started.
func handCgroupJoins(cg selfJoiner, plan *nsinit.Plan, files []*os.File) (out []*os.File, joined bool, close func(), err error) {
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
