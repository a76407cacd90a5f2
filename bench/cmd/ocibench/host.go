package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupParent holds every container cgroup of the benchmark, in every
// hierarchy; nothing else uses it, so cleanup may remove it whole.
const cgroupParent = "berth-bench-oci"

// hierarchies lists the mounted cgroup hierarchies below /sys/fs/cgroup,
// or /sys/fs/cgroup itself on a pure cgroup2 host.
func hierarchies() []string {
	const root = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{root}
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(root, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() { // cpu,cpuacct style links name a hierarchy twice
			continue
		}
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out
}

// cgroupDirs lists cgroupParent and every cgroup below it, deepest first.
func cgroupDirs() []string {
	var dirs []string
	for _, h := range hierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, cgroupParent), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs
}

// killCgroupProcs SIGKILLs every process in a cgroup below cgroupParent
// (only the benchmark's containers live there) until none is left, for at
// most 5 s, and returns how many it found.
func killCgroupProcs() int {
	total := 0
	for range 50 {
		n := 0
		for _, d := range cgroupDirs() {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					n++
					_ = unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		if n == 0 {
			break
		}
		total += n
		time.Sleep(100 * time.Millisecond)
	}
	return total
}

// removeCgroups removes cgroupParent from every hierarchy with rmdir alone,
// deepest first, retrying while killed processes still leave (EBUSY).
func removeCgroups() error {
	var errs []error
	for _, d := range cgroupDirs() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			break
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points at or below dir in our mount
// namespace, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescape.Replace(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// procsMatching lists the pids whose command line satisfies match.
func procsMatching(match func(argv []string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// listeningSockets is the unix socket paths under prefix that pid holds.
func listeningSockets(pid int, prefix string) []string {
	inodes := map[string]bool{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if n, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(n, "]")] = true
		}
	}
	b, _ := os.ReadFile("/proc/net/unix")
	var paths []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l) // Num RefCount Protocol Flags Type St Inode Path
		if len(f) == 8 && inodes[f[6]] && strings.HasPrefix(f[7], prefix) {
			paths = append(paths, f[7])
		}
	}
	return paths
}

// makeRootfs fills root with Debian's static busybox as /bin/busybox,
// /bin/true and /bin/sh links to it, mount points and /etc/passwd.
func makeRootfs(root string) error {
	const busybox = "/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		return fmt.Errorf("%s: %w (apt-get install -y busybox-static)", busybox, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			f.Close()
			return fmt.Errorf("%s is dynamically linked: apt-get install -y busybox-static", busybox)
		}
	}
	f.Close()
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "root", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, a := range []string{"true", "sh"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l [3]float64
	if _, err := fmt.Sscan(string(b), &l[0], &l[1], &l[2]); err != nil {
		return nil
	}
	return l[:]
}

// uptime is uptime(1)'s line, or /proc/loadavg's when it is missing.
func uptime() string {
	if out, err := exec.Command("uptime").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	b, _ := os.ReadFile("/proc/loadavg")
	return "loadavg " + strings.TrimSpace(string(b))
}

// timed runs argv to its exit with stdin and stdout /dev/null and stderr
// to errFile (emptied first) and returns its wall time, fork to wait4;
// the exit status must be want.
func timed(argv, env []string, errFile *os.File, want int) (time.Duration, error) {
	if err := errFile.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := errFile.Seek(0, 0); err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = errFile
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		return 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if code != want {
		msg, _ := os.ReadFile(errFile.Name())
		return 0, fmt.Errorf("%s: exit %d, want %d: %s", strings.Join(argv, " "), code, want, strings.TrimSpace(string(msg)))
	}
	return d, nil
}

// killPid sends SIGKILL to pid.
func killPid(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// attachCost times the move of a fresh process into a v1 memory cgroup
// (a write of its pid to cgroup.procs), n times: after idle (idle apart)
// and back to back. Every migration takes the kernel's global
// cgroup_threadgroup_rwsem for writing, which, when no writer came within
// about one RCU grace period, waits for a grace period first: the floor
// under every runtime's create that joins v1 cgroups.
func attachCost(n int, idle time.Duration) (afterIdle, backToBack []time.Duration, err error) {
	dir := filepath.Join("/sys/fs/cgroup/memory", cgroupParent, "attach-probe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	procs := filepath.Join(dir, "cgroup.procs")
	one := func() (time.Duration, error) {
		cmd := exec.Command("/bin/sleep", "60")
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		t0 := time.Now()
		err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		return time.Since(t0), err
	}
	for range n {
		time.Sleep(idle)
		d, err := one()
		if err != nil {
			return nil, nil, fmt.Errorf("attach probe: %w", err)
		}
		afterIdle = append(afterIdle, d)
		d, err = one() // right after the first: within the grace period
		if err != nil {
			return nil, nil, fmt.Errorf("attach probe: %w", err)
		}
		backToBack = append(backToBack, d)
	}
	return afterIdle, backToBack, nil
}
