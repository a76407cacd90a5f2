// Command steps times berth's launch path step by step, without a tracer
// in the way: it drives berth's own packages (mounts, caps, cgroup, nsinit)
// through the same sequence the executor and its init stage run, and reads
// CLOCK_MONOTONIC at every boundary, in the parent and in the re-executed
// child alike (the clock is system-wide, so the two sides line up).
//
// Parent: plan, cgroup create, clone+exec of the init stage (this binary,
// argv[0] "steps-child", in new mount, pid, ipc and uts namespaces), cgroup
// join, plan sent. Child: from main's first line: plan read, propagation,
// bind root, mounts, pivot_root, masks, read-only paths, user lookup,
// no_new_privs, capabilities, close fds, then execve of the task. Parent
// again: exec seen (end-of-file on the report pipe), exit reaped, cgroup
// kill-all and delete.
//
// The init stage here is this binary, which links the same packages as
// berth's init stage (executor's dependencies, cgroup's included), so its
// runtime and package-init costs are close to berth's.
//
//	steps -n 30 -rootfs DIR [-- CMD ARG...]    (CMD defaults to /bin/true)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

const childArg0 = "steps-child"

// mono is CLOCK_MONOTONIC in ns: comparable across processes.
func mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// mainStart is read first thing in main: the runtime start and every
// package's init come before it.
var mainStart int64

func init() {
	if len(os.Args) > 0 && os.Args[0] == childArg0 {
		// Capabilities are per thread: the setup and the execve stay on
		// the main thread, as in nsinit.
		runtime.LockOSThread()
	}
}

// plan is what the parent sends the child, like nsinit.Plan.
type plan struct {
	Root   string      `json:"root"`
	Mounts []mounts.Op `json:"mounts"`
	Caps   []string    `json:"caps"`
	Args   []string    `json:"args"`
}

// mark is one boundary the child passed.
type mark struct {
	Step string `json:"step"`
	T    int64  `json:"t"`
}

func main() {
	mainStart = mono()
	if len(os.Args) > 0 && os.Args[0] == childArg0 {
		os.Exit(child())
	}
	n := flag.Int("n", 30, "launches")
	rootfs := flag.String("rootfs", "", "task root (see cmd/mkrootfs)")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"/bin/true"}
	}
	if *rootfs == "" || os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "steps: run as root with -rootfs DIR")
		os.Exit(2)
	}
	root, err := filepath.Abs(*rootfs)
	if err == nil {
		err = measure(*n, root, args)
	}
	if cerr := benchutil.RemoveCgroups(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "steps:", err)
		os.Exit(1)
	}
}

// order is the order steps are printed in.
var order = []string{
	"parent: plan (mounts.Plan, caps.Compute)",
	"parent: cgroup create (cgroup.New)",
	"parent: clone+exec init stage (os.StartProcess returns)",
	"child:  Go runtime + package init (clone to main)",
	"parent: cgroup join (v1 cgroup.procs)",
	"parent: send plan",
	"child:  read plan",
	"child:  propagation rslave",
	"child:  bind root",
	"child:  mounts (/proc /dev devices /dev/pts /dev/shm mqueue /sys)",
	"child:  pivot_root + detach old root",
	"child:  masks",
	"child:  read-only paths",
	"child:  user lookup",
	"child:  no_new_privs",
	"child:  capabilities",
	"child:  close fds",
	"child:  report ready -> parent sees exec (EOF)",
	"task:   execve + run + exit -> parent reaps",
	"parent: cgroup kill-all (empty check)",
	"parent: cgroup delete",
}

func measure(n int, root string, args []string) error {
	all := map[string][]time.Duration{}
	var totals []time.Duration
	for i := 0; i < n; i++ {
		d, total, err := once(i, root, args)
		if err != nil {
			return err
		}
		for k, v := range d {
			all[k] = append(all[k], v)
		}
		totals = append(totals, total)
	}
	fmt.Printf("%-66s %9s %9s\n", fmt.Sprintf("step (%d launches of %v in %s)", n, args, root), "median", "p95")
	var sum time.Duration
	for _, k := range order {
		s := benchutil.Summarize(all[k])
		sum += s.Median
		fmt.Printf("%-66s %7.3fms %7.3fms\n", k, benchutil.Ms(s.Median), benchutil.Ms(s.P95))
	}
	t := benchutil.Summarize(totals)
	fmt.Printf("%-66s %7.3fms\n", "sum of step medians", benchutil.Ms(sum))
	fmt.Printf("%-66s %7.3fms %7.3fms\n", "launch-to-exit, measured whole", benchutil.Ms(t.Median), benchutil.Ms(t.P95))
	return nil
}

// once runs one launch and returns the duration of each step.
func once(i int, root string, args []string) (map[string]time.Duration, time.Duration, error) {
	d := map[string]time.Duration{}
	since := func(t int64) time.Duration { return time.Duration(mono() - t) }

	t0 := mono()
	t := t0
	ops, err := mounts.Plan(mounts.Config{})
	if err != nil {
		return nil, 0, err
	}
	set, err := caps.Compute(nil, nil)
	if err != nil {
		return nil, 0, err
	}
	d[order[0]] = since(t)

	t = mono()
	cg, err := cgroup.New(cgroup.Config{Parent: filepath.Join(benchutil.CgroupParent, "steps"), ID: fmt.Sprintf("s%d-%d", os.Getpid(), i)}, nil)
	if err != nil {
		return nil, 0, err
	}
	d[order[1]] = since(t)

	planR, planW, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	sys := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS}
	if fd, ok := cg.FD(); ok {
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	tStart := mono()
	proc, err := os.StartProcess(self, []string{childArg0}, &os.ProcAttr{
		Env:   []string{},
		Files: []*os.File{nil, nil, os.Stderr, repW, planR},
		Sys:   sys,
	})
	planR.Close()
	repW.Close()
	if err != nil {
		return nil, 0, err
	}
	d[order[2]] = since(tStart)

	t = mono()
	if _, ok := cg.FD(); !ok {
		if err := cg.Join(proc.Pid); err != nil {
			return nil, 0, err
		}
	}
	d[order[4]] = since(t)

	t = mono()
	if err := json.NewEncoder(planW).Encode(&plan{Root: root, Mounts: ops, Caps: set, Args: args}); err != nil {
		return nil, 0, err
	}
	planW.Close()
	d[order[5]] = since(t)

	// The child's marks, then end-of-file at its execve.
	var marks []mark
	dec := json.NewDecoder(bufio.NewReader(repR))
	for {
		var m mark
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, 0, fmt.Errorf("child report: %w", err)
		}
		marks = append(marks, m)
	}
	tEOF := mono()
	repR.Close()
	ps, err := proc.Wait()
	tExit := mono()
	if err != nil {
		return nil, 0, err
	}
	if !ps.Success() {
		return nil, 0, fmt.Errorf("child: %v (marks %v)", ps, marks)
	}
	if len(marks) == 0 || marks[len(marks)-1].Step != "exec" {
		return nil, 0, fmt.Errorf("child stopped after %v", marks)
	}
	// Each mark ends the step named after the previous one; "main" ends
	// the runtime start, which began before the parent's clone.
	names := map[string]string{
		"main":     order[3],
		"plan":     order[6],
		"rslave":   order[7],
		"bindroot": order[8],
		"mounts":   order[9],
		"pivot":    order[10],
		"masks":    order[11],
		"readonly": order[12],
		"user":     order[13],
		"nnp":      order[14],
		"caps":     order[15],
		"closefds": order[16],
	}
	prev := tStart
	for _, m := range marks {
		if m.Step == "exec" {
			d[order[17]] = time.Duration(tEOF - m.T)
			continue
		}
		d[names[m.Step]] = time.Duration(m.T - prev)
		prev = m.T
	}
	// The report pipe closes inside the task's execve (close-on-exec);
	// what follows is the rest of the execve, the task and its reaping.
	d[order[18]] = time.Duration(tExit - tEOF)

	t = mono()
	if err := cg.KillAll(); err != nil {
		return nil, 0, err
	}
	d[order[19]] = since(t)
	t = mono()
	if err := cg.Delete(); err != nil {
		return nil, 0, err
	}
	d[order[20]] = since(t)
	return d, time.Duration(mono() - t0), nil
}

// child is the init stage: berth's steps in nsinit's order, with a mark
// after each. It runs in the re-executed child.
func child() int {
	rep := os.NewFile(3, "report")
	enc := json.NewEncoder(rep)
	marks := []mark{{"main", mainStart}}
	markStep := func(s string) { marks = append(marks, mark{s, mono()}) }
	fail := func(step string, err error) int {
		fmt.Fprintf(os.Stderr, "steps child: %s: %v\n", step, err)
		return 1
	}
	var p plan
	if err := json.NewDecoder(os.NewFile(4, "plan")).Decode(&p); err != nil {
		return fail("plan", err)
	}
	markStep("plan")
	steps := []struct {
		name string
		run  func() error
	}{
		{"rslave", mounts.Propagate},
		{"bindroot", func() error { return mounts.BindRoot(p.Root) }},
		{"mounts", func() error { return mounts.Apply(p.Root, p.Mounts) }},
		{"pivot", func() error { return mounts.Pivot(p.Root) }},
		{"masks", func() error { return mounts.Mask(p.Mounts) }},
		{"readonly", func() error { return mounts.ReadOnly(p.Mounts) }},
		{"user", func() error { _, err := nsinit.LookupUser("", "/etc/passwd", "/etc/group"); return err }},
		{"nnp", func() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }},
		{"caps", func() error { return caps.Apply(p.Caps, p.Caps, false) }},
		{"closefds", func() error { return unix.CloseRange(5, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return fail(s.name, err)
		}
		markStep(s.name)
	}
	markStep("exec")
	for _, m := range marks {
		if err := enc.Encode(&m); err != nil {
			return fail("report", err)
		}
	}
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	err := unix.Exec(p.Args[0], p.Args, []string{"PATH=/usr/bin:/bin"})
	return fail("exec", err)
}
