package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot holds one mount per v1 hierarchy and, on a hybrid host, the
// cgroup2 mount at unified/.
const cgroupRoot = "/sys/fs/cgroup"

// host is what the soak owns on the machine and how it counts it: a state
// dir, a cgroup parent on every hierarchy, and (CLI mode) the directory of
// the berth binaries whose processes are its supervisors.
type host struct {
	stateDir    string
	ownStateDir bool // made by the soak: removed at the end
	parent      string
	hier        []string // mounted cgroup hierarchies
	binDir      string   // "" in library mode
	self        int
}

// newHost checks that nothing of an earlier run is left under the state
// dir and the cgroup parent (it would be counted as this run's) and makes
// the state dir: a new temp dir when stateDir is empty.
func newHost(stateDir, parent string) (*host, error) {
	h := &host{parent: parent, hier: hierarchies(), self: os.Getpid()}
	if len(h.hier) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy mounted under %s", cgroupRoot)
	}
	if n := h.cgroupTotal(); n > 0 {
		return nil, fmt.Errorf("cgroup parent %q already holds %d cgroups (an earlier run?): remove them or pick another -cgroup-parent", parent, n)
	}
	if stateDir == "" {
		dir, err := os.MkdirTemp("", "berth-soak-")
		if err != nil {
			return nil, err
		}
		h.stateDir, h.ownStateDir = dir, true
		return h, nil
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	h.stateDir = abs
	ents, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o711); err != nil {
			return nil, err
		}
		h.ownStateDir = true
	case err != nil:
		return nil, err
	case len(ents) > 0:
		return nil, fmt.Errorf("state dir %s is not empty (%d entries): the soak counts every entry as its own", abs, len(ents))
	}
	if n := h.mounts(); n > 0 {
		return nil, fmt.Errorf("%d mounts below the state dir %s", n, abs)
	}
	return h, nil
}

// hierarchies lists the mounted cgroup hierarchies below /sys/fs/cgroup,
// or /sys/fs/cgroup itself on a pure cgroup2 host.
func hierarchies() []string {
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{cgroupRoot}
	}
	ents, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(cgroupRoot, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() { // cpu,cpuacct style symlinks name a hierarchy twice
			continue
		}
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out
}

// cgroupDirs lists the cgroups below the parent in hierarchy h, the parent
// itself excluded, deepest first.
func (h *host) cgroupDirs(hier string) []string {
	top := filepath.Join(hier, h.parent)
	var dirs []string
	_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != top {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs
}

// cgroups counts the cgroups below the parent on every hierarchy, by the
// hierarchy's name (unified, memory, pids, ...).
func (h *host) cgroups() map[string]int {
	m := make(map[string]int, len(h.hier))
	for _, hier := range h.hier {
		m[filepath.Base(hier)] = len(h.cgroupDirs(hier))
	}
	return m
}

func (h *host) cgroupTotal() int {
	n := 0
	for _, c := range h.cgroups() {
		n += c
	}
	return n
}

// parentsLeft lists the hierarchies where the parent itself still exists.
func (h *host) parentsLeft() []string {
	var left []string
	for _, hier := range h.hier {
		p := filepath.Join(hier, h.parent)
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	return left
}

// mounts counts the host's mounts at or below the state dir: the tmpfs of
// each task's logs (package internal/logs) lives there, and a task dir
// mounted on the host by mistake would.
func (h *host) mounts() int {
	n := 0
	for _, mp := range h.mountPoints() {
		if mp == h.stateDir || strings.HasPrefix(mp, h.stateDir+"/") {
			n++
		}
	}
	return n
}

// mountPoints reads the mount points of this process's mount table, the
// host's.
func (h *host) mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// procs is what a walk of /proc finds of the soak's on the host.
type procs struct {
	// InCgroups are processes in a cgroup below the parent on any
	// hierarchy: the tasks, their children, exec'd commands. Whoever
	// started them, they are the soak's: nothing else uses the parent.
	InCgroups int `json:"procs_in_cgroups"`
	// TaskZombies are zombies in those cgroups: an exec'd command's
	// leftover that berth killed after the command itself had exited was
	// reparented to the task's pid 1, which reaps it only if it is an
	// init (sleep and most programs are not). They hold a pid each (and
	// count against pids.max) until the task ends.
	TaskZombies int `json:"zombies_in_tasks"`
	// Children are the soak's own children (zombies included); Zombies
	// those not yet reaped.
	Children int `json:"children"`
	Zombies  int `json:"zombies"`
	// Supervisors are processes running a binary of binDir (CLI mode:
	// the detached tasks' supervisors and reapers), SupervisorRSSKiB
	// their summed VmRSS.
	Supervisors      int `json:"supervisors"`
	SupervisorRSSKiB int `json:"supervisors_rss_kib"`
}

// walkProcs reads every process's cgroup, stat and (CLI mode) executable.
// A process that exits meanwhile is skipped.
func (h *host) walkProcs() (procs, map[string]int) {
	var p procs
	kinds := map[string]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return p, kinds
	}
	marker := "/" + h.parent
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == h.self {
			continue
		}
		dir := "/proc/" + e.Name()
		if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
			for line := range bytes.SplitSeq(cg, []byte("\n")) {
				// hierarchy-id:controllers:path
				parts := bytes.SplitN(line, []byte(":"), 3)
				if len(parts) == 3 {
					path := string(parts[2])
					if path == marker || strings.HasPrefix(path, marker+"/") {
						kind, zombie := procKind(dir, path, marker)
						kinds[kind]++
						if zombie {
							p.TaskZombies++
						} else {
							p.InCgroups++
						}
						break
					}
				}
			}
		}
		if st, err := os.ReadFile(dir + "/stat"); err == nil {
			// pid (comm) state ppid ...: comm may hold anything, so parse
			// from its closing parenthesis.
			if i := bytes.LastIndexByte(st, ')'); i > 0 {
				f := strings.Fields(string(st[i+1:]))
				if len(f) > 1 {
					if ppid, _ := strconv.Atoi(f[1]); ppid == h.self {
						p.Children++
						if f[0] == "Z" {
							p.Zombies++
						}
					}
				}
			}
		}
		if h.binDir != "" {
			if exe, err := os.Readlink(dir + "/exe"); err == nil && filepath.Dir(exe) == h.binDir {
				p.Supervisors++
				if kib, err := statusKiB(pid, "VmRSS"); err == nil {
					p.SupervisorRSSKiB += kib
				}
			}
		}
	}
	return p, kinds
}

// procKind names a process of the soak's cgroups by its command name, its
// state when it is not sleeping or running (Z: a zombie nobody reaps), and
// where it is: in a task's cgroup, in an exec's leaf below it, or in the
// parent itself.
func procKind(dir, path, marker string) (kind string, zombie bool) {
	comm, _ := os.ReadFile(dir + "/comm")
	name := strings.TrimSpace(string(comm))
	if st, err := os.ReadFile(dir + "/stat"); err == nil {
		if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) {
			if state := st[i+2]; state != 'S' && state != 'R' {
				name += " (" + string(state) + ")"
				zombie = state == 'Z'
			}
		}
	}
	where := "task"
	switch depth := strings.Count(strings.TrimPrefix(path, marker), "/"); {
	case depth == 0:
		where = "parent"
	case depth > 1:
		where = "exec leaf"
	}
	return name + " in " + where, zombie
}

// statusKiB reads one kB figure of /proc/PID/status (0 for self).
func statusKiB(pid int, key string) (int, error) {
	name := "/proc/self/status"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("%s: no %s", name, key)
}

// snapshot is one reading of everything that must not grow.
type snapshot struct {
	Label string  `json:"label"`
	AtS   float64 `json:"at_s"`
	Tasks int     `json:"tasks"`
	// The soak process itself: open fds, goroutines, VmRSS and the Go
	// heap in use after a collection.
	FDs        int `json:"fds"`
	Goroutines int `json:"goroutines"`
	RSSKiB     int `json:"rss_kib"`
	// RssAnon is the part of VmRSS no file backs (heap, stacks, runtime
	// metadata); the rest are pages of the binary and libraries, which
	// grow as code paths run for the first time.
	RSSAnonKiB int `json:"rss_anon_kib"`
	HeapKiB    int `json:"heap_kib"`
	// Cgroups below the parent, by hierarchy.
	Cgroups map[string]int `json:"cgroups"`
	// Mounts at or below the state dir in the host's mount table.
	Mounts int `json:"mounts"`
	// Entries in the state dir.
	StateEntries int `json:"state_entries"`
	procs
	Load [3]float64 `json:"load"`
	// FDKinds and ProcKinds break the fds and the processes in its cgroups
	// down (fdKind, procKind): on growth, the difference says what leaked.
	FDKinds   map[string]int `json:"fd_kinds"`
	ProcKinds map[string]int `json:"proc_kinds,omitempty"`
	// Unsettled is set when the counts still moved after settleMax.
	Unsettled bool `json:"unsettled,omitempty"`
}

// counts is the part of a snapshot that settles: the figures compared
// exactly.
func (s *snapshot) counts() []int {
	c := []int{s.FDs, s.Goroutines, s.Mounts, s.StateEntries, s.InCgroups, s.TaskZombies, s.Children, s.Zombies, s.Supervisors}
	for _, name := range slices.Sorted(maps.Keys(s.Cgroups)) {
		c = append(c, s.Cgroups[name])
	}
	return c
}

// measure takes a snapshot once the counts have settled: the caller has
// stopped every operation, but a task relaunched a moment ago may still be
// forking, an exec's leaf cgroup may still be on its way out, and a
// goroutine that delivered its result may still be returning. It waits
// until two readings 100 ms apart agree, at most settleMax.
func (h *host) measure(label string) *snapshot {
	const settleMax = 5 * time.Second
	deadline := time.Now().Add(settleMax)
	prev := h.read()
	prev.Unsettled = true
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		cur := h.read()
		cur.Unsettled = !slices.Equal(prev.counts(), cur.counts())
		prev = cur
		if !cur.Unsettled {
			break
		}
	}
	// The figures of memory last: after a collection, with the free pages
	// returned, so what is left is what the soak holds.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	prev.HeapKiB = int(ms.HeapInuse >> 10)
	prev.RSSKiB, _ = statusKiB(0, "VmRSS")
	prev.RSSAnonKiB, _ = statusKiB(0, "RssAnon")
	prev.Label = label
	prev.Load = loadavg()
	return prev
}

// read takes the counts, without settling or collecting.
func (h *host) read() *snapshot {
	s := &snapshot{Goroutines: runtime.NumGoroutine(), Cgroups: h.cgroups(), Mounts: h.mounts()}
	s.FDs, s.FDKinds = h.fds()
	if ents, err := os.ReadDir(h.stateDir); err == nil {
		s.StateEntries = len(ents)
	}
	s.procs, s.ProcKinds = h.walkProcs()
	return s
}

// fds counts the soak's open fds, by kind.
func (h *host) fds() (int, map[string]int) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, nil
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, nil
	}
	own := strconv.Itoa(int(d.Fd()))
	kinds := map[string]int{}
	n := 0
	for _, name := range names {
		if name == own { // the one that lists them
			continue
		}
		n++
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			continue // closed meanwhile
		}
		kinds[h.fdKind(target)]++
	}
	return n, kinds
}

// fdKind names what an fd's link points to without its number or the
// task's id: "pipe", "socket", "anon_inode:[pidfd]", "cgroup unified",
// "state dir", a path otherwise.
func (h *host) fdKind(target string) string {
	switch {
	case strings.HasPrefix(target, "pipe:"):
		return "pipe"
	case strings.HasPrefix(target, "socket:"):
		return "socket"
	case strings.HasPrefix(target, "anon_inode:"):
		return target
	case strings.HasPrefix(target, h.stateDir+"/"):
		return "state dir"
	case strings.HasPrefix(target, cgroupRoot+"/"):
		rel := strings.TrimPrefix(target, cgroupRoot+"/")
		hier, _, _ := strings.Cut(rel, "/")
		return "cgroup " + hier
	}
	return target
}

func loadavg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// cleanup removes what the soak made on the host once every task is
// stopped, and returns what it had to remove by force: each is a leak.
// Cgroups are only ever rmdir'ed, deepest first; one that still holds a
// process is emptied through cgroup.kill first (the processes in it are
// the soak's: nothing else uses the parent). A mount left below the state
// dir is detached; the state dir is removed when the soak made it.
func (h *host) cleanup() []string {
	var leaks []string
	if p, _ := h.walkProcs(); p.InCgroups+p.TaskZombies > 0 {
		leaks = append(leaks, fmt.Sprintf("%d processes left in cgroups below %s (killed)", p.InCgroups+p.TaskZombies, h.parent))
		for _, hier := range h.hier {
			if k := filepath.Join(hier, h.parent, "cgroup.kill"); fileExists(k) {
				_ = os.WriteFile(k, []byte("1"), 0)
			}
		}
	}
	for _, hier := range h.hier {
		dirs := h.cgroupDirs(hier)
		if len(dirs) > 0 {
			leaks = append(leaks, fmt.Sprintf("%d cgroups left below %s", len(dirs), filepath.Join(hier, h.parent)))
		}
		for _, d := range append(dirs, filepath.Join(hier, h.parent)) {
			if err := rmdirRetry(d); err != nil {
				leaks = append(leaks, err.Error())
			}
		}
	}
	mps := h.mountPoints()
	slices.Reverse(mps) // the latest mounts first: a mount on a mount
	for _, mp := range mps {
		if mp == h.stateDir || strings.HasPrefix(mp, h.stateDir+"/") {
			leaks = append(leaks, "mount left at "+mp+" (detached)")
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				leaks = append(leaks, fmt.Sprintf("unmount %s: %v", mp, err))
			}
		}
	}
	if ents, err := os.ReadDir(h.stateDir); err == nil && len(ents) > 0 {
		names := make([]string, 0, 3)
		for _, e := range ents[:min(3, len(ents))] {
			names = append(names, e.Name())
		}
		leaks = append(leaks, fmt.Sprintf("%d entries left in the state dir %s (%s...)", len(ents), h.stateDir, strings.Join(names, ", ")))
	}
	if h.ownStateDir {
		if err := os.RemoveAll(h.stateDir); err != nil {
			leaks = append(leaks, fmt.Sprintf("remove state dir: %v", err))
		}
	}
	return leaks
}

// leftovers looks once more, after cleanup, for anything of the soak's.
func (h *host) leftovers() []string {
	var left []string
	for _, p := range h.parentsLeft() {
		left = append(left, "cgroup "+p)
	}
	if n := h.mounts(); n > 0 {
		left = append(left, fmt.Sprintf("%d mounts below %s", n, h.stateDir))
	}
	if p, _ := h.walkProcs(); p.InCgroups+p.TaskZombies+p.Children+p.Supervisors > 0 {
		left = append(left, fmt.Sprintf("processes: %d in its cgroups, %d children, %d supervisors", p.InCgroups+p.TaskZombies, p.Children, p.Supervisors))
	}
	if h.ownStateDir && fileExists(h.stateDir) {
		left = append(left, "state dir "+h.stateDir)
	}
	return left
}

// rmdirRetry removes a cgroup directory, waiting briefly while a process
// that was just killed is still leaving it (EBUSY).
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
		default:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
