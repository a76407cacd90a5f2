//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command probe is run inside berth tasks by the integration tests. It
// reports what the task sees as JSON on stdout and offers a few behaviours
// (exit codes, signals, daemons, load) for the tests to drive.
//
// It is built static (CGO_ENABLED=0) so it runs in a root that holds
// nothing but the probe itself.
//
//	probe [report]          one JSON object: ids, namespaces, pids, mounts,
//	                        capabilities, fds, /dev, cgroup, hostname, env,
//	                        cwd, network interfaces
//	probe exit N            exit with status N
//	probe sleep SECONDS     print {"ready":true}, sleep, exit 0
//	probe pause             print {"ready":true}, block forever (default
//	                        signal handling)
//	probe ignore-term SECS  ignore SIGTERM and SIGINT, print {"ready":true},
//	                        sleep, exit 0
//	probe trap SECONDS      on SIGTERM or SIGINT print {"signal":NAME} and
//	                        exit 0; print {"ready":true} once armed
//	probe kill-self SIGNAL  send SIGNAL (name or number) to itself
//	probe read PATH         {"path","ok","error","len","content"}
//	probe write PATH [DATA] {"path","ok","error"}; DATA defaults to "probe\n"
//	probe stat PATH         {"path","exists","type","mode","rdev","target",
//	                        "entries","error"} (lstat, does not follow)
//	probe mount-tmpfs PATH  create PATH and mount a small tmpfs there
//	                        (needs CAP_SYS_ADMIN): {"path","ok","error"}
//	probe daemon SECONDS    leave a setsid grandchild that sleeps SECONDS,
//	                        print {"daemon_pid":N}, exit 0 without waiting
//	probe spin              burn CPU forever
//	probe memhog SIZE       allocate and touch SIZE bytes (K, M, G suffixes),
//	                        print {"allocated":N}, exit 0
//	probe forkbomb [MAX]    start up to MAX (default 200) paused copies of
//	                        itself, print {"started":N,"error":...}, pause
//
// The runtime's cgroup-aware GOMAXPROCS is turned off (go:debug below): it
// keeps the cgroup CPU limit files open for its periodic update, and every
// fd the probe reports must come from outside it.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	// The fd list is taken before anything else: opening a file through
	// package os starts the runtime's poller, whose epoll and eventfd
	// descriptors would otherwise show up as fds of the task.
	fds, fdErr := openFDs()

	args := os.Args[1:]
	if len(args) == 0 || args[0] == "report" {
		report(fds, fdErr)
		return
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "exit":
		os.Exit(atoi(need(rest, 1, "exit N")[0]))
	case "sleep":
		d := seconds(need(rest, 1, "sleep SECONDS")[0])
		emit(map[string]any{"ready": true})
		time.Sleep(d)
	case "pause":
		emit(map[string]any{"ready": true})
		for {
			time.Sleep(time.Hour)
		}
	case "ignore-term":
		d := seconds(need(rest, 1, "ignore-term SECONDS")[0])
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		emit(map[string]any{"ready": true})
		time.Sleep(d)
	case "trap":
		d := seconds(need(rest, 1, "trap SECONDS")[0])
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		emit(map[string]any{"ready": true})
		select {
		case s := <-ch:
			emit(map[string]any{"signal": s.String()})
		case <-time.After(d):
			emit(map[string]any{"signal": nil})
		}
	case "kill-self":
		sig := parseSignal(need(rest, 1, "kill-self SIGNAL")[0])
		signal.Reset(sig)
		if err := unix.Kill(os.Getpid(), sig); err != nil {
			fail("kill-self: %v", err)
		}
		// The signal is delivered on return from the syscall; if it was
		// not fatal (or was ignored, as for pid 1 of a pid namespace),
		// say so instead of pretending.
		time.Sleep(2 * time.Second)
		emit(map[string]any{"survived": true})
		os.Exit(99)
	case "read":
		doRead(need(rest, 1, "read PATH")[0])
	case "write":
		if len(rest) < 1 {
			fail("usage: probe write PATH [DATA]")
		}
		data := "probe\n"
		if len(rest) > 1 {
			data = rest[1]
		}
		doWrite(rest[0], data)
	case "stat":
		emit(statPath(need(rest, 1, "stat PATH")[0]))
	case "mknod":
		doMknod(need(rest, 1, "mknod PATH")[0])
	case "mount-tmpfs":
		mountTmpfs(need(rest, 1, "mount-tmpfs PATH")[0])
	case "daemon":
		daemon(need(rest, 1, "daemon SECONDS")[0])
	case "daemon-mid":
		daemonMid(need(rest, 1, "daemon-mid SECONDS")[0])
	case "spin":
		for {
		}
	case "memhog":
		memhog(need(rest, 1, "memhog SIZE")[0])
	case "forkbomb":
		max := 200
		if len(rest) > 0 {
			max = atoi(rest[0])
		}
		forkbomb(max)
	default:
		fail("unknown command %q", cmd)
	}
}

// Report is what `probe report` prints.
type Report struct {
	Pid        int               `json:"pid"`
	Ppid       int               `json:"ppid"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	EUID       int               `json:"euid"`
	EGID       int               `json:"egid"`
	Groups     []int             `json:"groups"`
	Namespaces map[string]string `json:"namespaces"`
	Pids       []int             `json:"pids"`
	Mounts     []Mount           `json:"mounts"`
	Status     map[string]string `json:"status"`
	FDs        []int             `json:"fds"`
	// FDTargets maps each open fd to what /proc/self/fd says it is, so a
	// test can say what leaked.
	FDTargets  map[string]string `json:"fd_targets"`
	Dev        []DevEntry        `json:"dev"`
	Cgroup     []string          `json:"cgroup"`
	Hostname   string            `json:"hostname"`
	Env        []string          `json:"env"`
	Cwd        string            `json:"cwd"`
	Interfaces []Interface       `json:"interfaces"`
	// Errors lists what the probe could not read, so a test sees why a
	// field is empty.
	Errors []string `json:"errors,omitempty"`
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID           int    `json:"id"`
	Parent       int    `json:"parent"`
	MajorMinor   string `json:"major_minor"`
	Root         string `json:"root"`
	MountPoint   string `json:"mount_point"`
	Options      string `json:"options"`
	Optional     string `json:"optional"`
	FSType       string `json:"fstype"`
	Source       string `json:"source"`
	SuperOptions string `json:"super_options"`
}

// DevEntry is one entry of /dev (and of the stat command).
type DevEntry struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	Rdev   string `json:"rdev,omitempty"`
	Target string `json:"target,omitempty"`
}

// Interface is one network interface of the task's network namespace.
type Interface struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

func report(fds []int, fdErr error) {
	r := Report{
		Pid:        os.Getpid(),
		Ppid:       os.Getppid(),
		UID:        os.Getuid(),
		GID:        os.Getgid(),
		EUID:       os.Geteuid(),
		EGID:       os.Getegid(),
		FDs:        fds,
		FDTargets:  map[string]string{},
		Namespaces: map[string]string{},
		Status:     map[string]string{},
		Env:        os.Environ(),
	}
	addErr := func(what string, err error) {
		if err != nil {
			r.Errors = append(r.Errors, what+": "+err.Error())
		}
	}
	addErr("fds", fdErr)
	for _, fd := range fds {
		t, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			t = "?" + err.Error()
		}
		r.FDTargets[strconv.Itoa(fd)] = t
	}

	var err error
	r.Groups, err = os.Getgroups()
	if r.Groups == nil {
		r.Groups = []int{}
	}
	addErr("groups", err)
	for _, ns := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup", "user"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		addErr("ns "+ns, err)
		r.Namespaces[ns] = l
	}
	r.Pids, err = procPids()
	addErr("pids", err)
	r.Mounts, err = mountinfo()
	addErr("mountinfo", err)
	r.Status, err = status()
	addErr("status", err)
	r.Dev, err = devEntries()
	addErr("dev", err)
	r.Cgroup, err = lines("/proc/self/cgroup")
	addErr("cgroup", err)
	r.Hostname, err = os.Hostname()
	addErr("hostname", err)
	r.Cwd, err = os.Getwd()
	addErr("cwd", err)
	ifs, err := net.Interfaces()
	addErr("interfaces", err)
	for _, i := range ifs {
		r.Interfaces = append(r.Interfaces, Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0})
	}
	emit(r)
}

// openFDs lists /proc/self/fd with raw syscalls, leaving out the directory's
// own descriptor.
func openFDs() ([]int, error) {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/fd: %w", err)
	}
	defer unix.Close(dfd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dfd, buf)
		if err != nil {
			return nil, fmt.Errorf("read /proc/self/fd: %w", err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	fds := []int{}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd == dfd {
			continue
		}
		fds = append(fds, fd)
	}
	sort.Ints(fds)
	return fds, nil
}

func procPids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	pids := []int{}
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, p)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space and so on).
func unescape(s string) string {
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

func mountinfo() ([]Mount, error) {
	ls, err := lines("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []Mount
	for _, l := range ls {
		f := strings.Fields(l)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+3 > len(f) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", l)
		}
		m := Mount{
			MajorMinor: f[2],
			Root:       unescape(f[3]),
			MountPoint: unescape(f[4]),
			Options:    f[5],
			Optional:   strings.Join(f[6:sep], " "),
			FSType:     f[sep+1],
			Source:     unescape(f[sep+2]),
		}
		if sep+3 < len(f) {
			m.SuperOptions = f[sep+3]
		}
		m.ID, _ = strconv.Atoi(f[0])
		m.Parent, _ = strconv.Atoi(f[1])
		ms = append(ms, m)
	}
	return ms, nil
}

func status() (map[string]string, error) {
	ls, err := lines("/proc/self/status")
	if err != nil {
		return nil, err
	}
	st := map[string]string{}
	for _, l := range ls {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch k {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "SigIgn", "SigBlk":
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, nil
}

func devEntries() ([]DevEntry, error) {
	ents, err := os.ReadDir("/dev")
	if err != nil {
		return nil, err
	}
	var out []DevEntry
	for _, e := range ents {
		d, err := describe(filepath.Join("/dev", e.Name()))
		if err != nil {
			return nil, err
		}
		d.Name = e.Name()
		out = append(out, d)
	}
	return out, nil
}

// describe lstats path into a DevEntry (Name left empty).
func describe(path string) (DevEntry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return DevEntry{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	d := DevEntry{Mode: fmt.Sprintf("%04o", st.Mode&07777)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.Type = "char"
	case unix.S_IFBLK:
		d.Type = "block"
	case unix.S_IFDIR:
		d.Type = "dir"
	case unix.S_IFLNK:
		d.Type = "symlink"
	case unix.S_IFREG:
		d.Type = "file"
	case unix.S_IFSOCK:
		d.Type = "socket"
	case unix.S_IFIFO:
		d.Type = "fifo"
	}
	if d.Type == "char" || d.Type == "block" {
		d.Rdev = fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	if d.Type == "symlink" {
		t, err := os.Readlink(path)
		if err != nil {
			return DevEntry{}, err
		}
		d.Target = t
	}
	return d, nil
}

// StatResult is what `probe stat` prints.
type StatResult struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Type    string `json:"type,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Rdev    string `json:"rdev,omitempty"`
	Target  string `json:"target,omitempty"`
	Entries *int   `json:"entries,omitempty"`
	Error   string `json:"error,omitempty"`
}

func statPath(path string) StatResult {
	r := StatResult{Path: path}
	d, err := describe(path)
	if err != nil {
		r.Error = errText(err)
		return r
	}
	r.Exists, r.Type, r.Mode, r.Rdev, r.Target = true, d.Type, d.Mode, d.Rdev, d.Target
	if d.Type == "dir" {
		ents, err := os.ReadDir(path)
		if err != nil {
			r.Error = errText(err)
		} else {
			n := len(ents)
			r.Entries = &n
		}
	}
	return r
}

// readLimit bounds `probe read` so that a character device such as
// /dev/zero cannot make it run forever.
const readLimit = 1 << 20

func doRead(path string) {
	out := map[string]any{"path": path, "ok": false, "error": "", "len": 0, "content": ""}
	f, err := os.Open(path)
	if err != nil {
		out["error"] = errText(err)
		emit(out)
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, readLimit))
	out["len"] = len(b)
	if len(b) > 256 {
		b = b[:256]
	}
	out["content"] = string(b)
	if err != nil {
		out["error"] = errText(err)
	} else {
		out["ok"] = true
	}
	emit(out)
}

func doWrite(path, data string) {
	out := map[string]any{"path": path, "ok": false, "error": ""}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		out["error"] = errText(err)
		emit(out)
		return
	}
	_, werr := f.Write([]byte(data))
	cerr := f.Close()
	switch {
	case werr != nil:
		out["error"] = errText(werr)
	case cerr != nil:
		out["error"] = errText(cerr)
	default:
		out["ok"] = true
	}
	emit(out)
}

// doMknod makes a char node for the host's /dev/kmsg (1:11) at path and
// tries to open it for writing: {"path","made","opened","error"}.
func doMknod(path string) {
	out := map[string]any{"path": path, "made": false, "opened": false, "error": ""}
	if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
		out["error"] = errText(err)
		emit(out)
		return
	}
	out["made"] = true
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		out["error"] = errText(err)
	} else {
		out["opened"] = true
		unix.Close(fd)
	}
	_ = unix.Unlink(path)
	emit(out)
}

func mountTmpfs(path string) {
	out := map[string]any{"path": path, "ok": false, "error": ""}
	err := os.MkdirAll(path, 0o755)
	if err == nil {
		err = unix.Mount("tmpfs", path, "tmpfs", 0, "size=1m")
	}
	if err != nil {
		out["error"] = errText(err)
	} else {
		out["ok"] = true
	}
	emit(out)
}

// daemon leaves a grandchild in its own session, the way a classic daemon
// detaches: the intermediate child (daemon-mid) starts the sleeper and exits,
// so the sleeper is reparented away from the probe.
func daemon(secs string) {
	self, err := os.Executable()
	if err != nil {
		fail("daemon: %v", err)
	}
	c := exec.Command(self, "daemon-mid", secs)
	c.Stdout = os.Stdout
	c.Stderr = os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Run(); err != nil {
		fail("daemon: %v", err)
	}
}

func daemonMid(secs string) {
	self, err := os.Executable()
	if err != nil {
		fail("daemon-mid: %v", err)
	}
	// The sleeper gets /dev/null for its streams (nil in exec.Cmd), as a
	// daemon would, so nothing waits on the task's stdout for it.
	c := exec.Command(self, "sleep", secs)
	if err := c.Start(); err != nil {
		fail("daemon-mid: %v", err)
	}
	emit(map[string]any{"daemon_pid": c.Process.Pid})
	os.Exit(0)
}

func memhog(size string) {
	n, err := parseSize(size)
	if err != nil {
		fail("memhog: %v", err)
	}
	const chunk = 1 << 20
	var keep [][]byte
	var total int64
	for total < n {
		sz := int64(chunk)
		if n-total < sz {
			sz = n - total
		}
		b := make([]byte, sz)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		total += sz
	}
	emit(map[string]any{"allocated": total})
	_ = keep
}

func forkbomb(max int) {
	self, err := os.Executable()
	if err != nil {
		fail("forkbomb: %v", err)
	}
	started := 0
	var ferr error
	for started < max {
		c := exec.Command(self, "pause")
		if ferr = c.Start(); ferr != nil {
			break
		}
		started++
	}
	out := map[string]any{"started": started, "error": ""}
	if ferr != nil {
		out["error"] = errText(ferr)
	}
	emit(out)
	for {
		time.Sleep(time.Hour)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

func parseSignal(s string) syscall.Signal {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n)
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		fail("unknown signal %q", s)
	}
	return sig
}

// errText is the bare errno text of err ("read-only file system"), without
// the operation and path that package os adds.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func lines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		fail("bad seconds %q", s)
	}
	return time.Duration(f * float64(time.Second))
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail("bad number %q", s)
	}
	return n
}

func need(args []string, n int, usage string) []string {
	if len(args) < n {
		fail("usage: probe %s", usage)
	}
	return args
}

// emit prints v as one JSON line on stdout.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail("marshal: %v", err)
	}
	b = append(b, '\n')
	if _, err := os.Stdout.Write(b); err != nil {
		os.Exit(3)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "probe: "+format+"\n", args...)
	os.Exit(2)
}
