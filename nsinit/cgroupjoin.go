package nsinit

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CgroupJoin is a cgroup v1 "tasks" file the parent opened for writing,
// inherited as Fd; Path names it in errors only.
type CgroupJoin struct {
	Fd   int    `json:"fd"`
	Path string `json:"path"`
}

// joinCgroups moves this thread, the one that execs the task, into the
// plan's v1 cgroups: "0" written to a tasks file moves the writing thread
// alone, which the kernel does without the global lock (and the RCU grace
// period it may wait for) that moving a whole process takes. execve keeps
// this thread and ends the others, so the command starts in every cgroup.
// It runs in the child.
func joinCgroups(c *child) error {
	for _, j := range c.plan.JoinCgroups {
		_, err := unix.Write(j.Fd, []byte("0"))
		unix.Close(j.Fd)
		if err != nil {
			return &os.PathError{Op: "join cgroup", Path: j.Path, Err: err}
		}
	}
	return nil
}

func (d *jdec) cgroupJoins() ([]CgroupJoin, error) {
	if d.null() {
		return nil, nil
	}
	var out []CgroupJoin
	err := d.array(func() error {
		var j CgroupJoin
		err := d.object(func(key string) error {
			var err error
			switch key {
			case "fd":
				var v int64
				v, err = d.int(0, 1<<20)
				j.Fd = int(v)
			case "path":
				j.Path, err = d.str()
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		out = append(out, j)
		return err
	})
	return out, err
}
