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
//	probe ids               one JSON object: pid, ppid, session, process
//	                        group, controlling tty, ids, groups, capability
//	                        and no_new_privs status, namespaces, cgroup,
//	                        cwd, env, session keyring, exe, fds
//	probe winsize           what fd 0 is as a terminal: its path, whether
//	                        it is a tty of the task's own devpts, owner,
//	                        rows and cols, whether it is the controlling
//	                        terminal, the foreground process group
//	probe winch SECONDS [ROWS COLS]...
//	                        print the winsize object with "ready":true,
//	                        wait up to SECONDS for SIGWINCH (until the size
//	                        is each ROWS x COLS in turn, if given), print it
//	                        again with "winch":true and "step":N after each
//	                        ("winch":false on timeout)
//	probe tiocsti PATH...   try to push a line into the terminal's input
//	                        (TIOCSTI) through fds 0, 1, 2 and each PATH
//	                        opened read-write ("PPID" in a path stands for
//	                        the parent's pid): {"fds":{FD:RESULT},
//	                        "paths":{PATH:RESULT},"fd_targets":{...}},
//	                        RESULT "ok" or what failed
//	probe killpg            kill(0, SIGKILL): its whole process group;
//	                        then, if it survived, {"survived":true}
//	probe keyring KEYID DESC  {"session":ID,...}: the session keyring, and
//	                        whether key KEYID can be read and a "user" key
//	                        DESC found by searching the session keyring
//	probe exe-attack SECONDS TARGET...
//	                        CVE-2019-5736's shape: for up to SECONDS (or
//	                        until SIGTERM/SIGINT) scan /proc/*/exe for the
//	                        binaries TARGET (PATH or PATH@DEV:INO), open
//	                        each found O_PATH, keep it and keep trying to
//	                        reopen it through /proc/self/fd writable
//	                        (O_WRONLY; O_WRONLY|O_APPEND and write a byte),
//	                        and open the process's root, cwd and fds
//	                        through /proc/PID; print {"ready":true} once
//	                        started, then the counts per target
//	probe noproc            what the process can tell of itself without
//	                        /proc (which a task may have replaced): open
//	                        fds (fcntl up to 4096), cap_eff (capget),
//	                        no_new_privs (prctl), uid, gid
//	probe copy-self DST...  copy the probe's binary to each DST (creating
//	                        its directory), mode 0755: a decoy
//
// A copy of the probe whose executable is named berth or berth-init is a
// decoy planted by a task: if it ever runs it leaves a file decoy-ran-NAME
// beside itself, says so and exits 42.
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	// The fd list is taken before anything else: opening a file through
	// package os starts the runtime's poller, whose epoll and eventfd
	// descriptors would otherwise show up as fds of the task.
	fds, fdErr := openFDs()

	decoy()

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
	case "syscalls":
		emit(trySyscalls())
	case "bindinfo":
		bindInfo(need(rest, 1, "bindinfo PATH")[0])
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
	case "fallocate", "truncate":
		// Grow fd FD to SIZE at once (a task attacking the file behind
		// its stdout), and say how that went.
		a := need(rest, 2, cmd+" FD SIZE")
		n, err := parseSize(a[1])
		if err != nil {
			fail("%s: %v", cmd, err)
		}
		fd := atoi(a[0])
		if cmd == "fallocate" {
			err = unix.Fallocate(fd, 0, 0, n)
		} else {
			err = unix.Ftruncate(fd, n)
		}
		res := map[string]any{"op": cmd, "size": n}
		if err != nil {
			res["error"] = err.Error()
		}
		emit(res)
	case "memhold":
		// memhog, then hold the memory until killed.
		memhog(need(rest, 1, "memhold SIZE")[0])
		for {
			time.Sleep(time.Hour)
		}
	case "forkbomb":
		max := 200
		if len(rest) > 0 {
			max = atoi(rest[0])
		}
		forkbomb(max)
	case "ids":
		emit(ids(fds, fdErr))
	case "winsize":
		emit(winsize())
	case "winch":
		winch(need(rest, 1, "winch SECONDS [ROWS COLS]...")[0], rest[1:])
	case "tiocsti":
		tiocsti(fds, rest)
	case "killpg":
		killpg()
	case "keyring":
		a := need(rest, 2, "keyring KEYID DESC")
		keyring(atoi(a[0]), a[1])
	case "exe-attack":
		a := need(rest, 2, "exe-attack SECONDS TARGET...")
		exeAttack(seconds(a[0]), a[1:])
	case "noproc":
		emit(noproc())
	case "copy-self":
		copySelf(need(rest, 1, "copy-self DST...")...)
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

// trySyscalls makes system calls a seccomp filter decides on and prints
// each one's errno ("" when it worked), with arguments that harm nothing.
func trySyscalls() map[string]string {
	out := map[string]string{}
	errno := func(e unix.Errno) string {
		if e == 0 {
			return ""
		}
		return unix.ErrnoName(e)
	}
	// Root's user keyring: shared with the host without a filter.
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
	e, _ := err.(unix.Errno)
	out["keyctl"] = errno(e)
	// userfaultfd, user faults only: allowed to anyone without a filter.
	const uffdUserModeOnly = 1
	ufd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
	out["userfaultfd"] = errno(e)
	if e == 0 {
		unix.Close(int(ufd))
	}
	// clone3 with a NULL argument: EFAULT from the kernel, ENOSYS from
	// the default filter (so that glibc falls back to clone).
	_, _, e = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	out["clone3"] = errno(e)
	_, _, e = unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
	out["getpid"] = errno(e)
	// A number no kernel has yet.
	_, _, e = unix.Syscall(1000, 0, 0, 0)
	out["nr1000"] = errno(e)
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			out["mode"] = strings.TrimSpace(v)
		}
	}
	return out
}

// bindInfo prints what PATH is and the options of the topmost mount on it.
func bindInfo(path string) {
	out := map[string]any{"path": path, "type": "", "options": "", "error": ""}
	st := statPath(path)
	out["type"] = st.Type
	ms, err := mountinfo()
	if err != nil {
		out["error"] = errText(err)
	}
	for _, m := range ms {
		if m.MountPoint == path {
			out["options"] = m.Options
		}
	}
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
		held = append(held, b)
		total += sz
	}
	emit(map[string]any{"allocated": total})
}

// held keeps what memhog allocated reachable (memhold holds it).
var held [][]byte

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

// decoy turns a copy of the probe planted at the path of berth or
// berth-init into a tripwire: if it ever runs, berth executed a file that a
// task controls. It leaves decoy-ran-NAME beside itself (inside whatever
// root it was found in), says so on stdout and stderr and exits 42.
func decoy() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	name := filepath.Base(exe)
	if name != "berth" && name != "berth-init" {
		return
	}
	mark := filepath.Join(filepath.Dir(exe), "decoy-ran-"+name)
	_ = os.WriteFile(mark, []byte(strings.Join(os.Args, " ")+"\n"), 0o644)
	fmt.Fprintf(os.Stdout, "probe: decoy %s ran\n", exe)
	fmt.Fprintf(os.Stderr, "probe: decoy %s ran with args %q\n", exe, os.Args)
	os.Exit(42)
}

// IDs is what `probe ids` prints.
type IDs struct {
	Pid   int `json:"pid"`
	Ppid  int `json:"ppid"`
	Sid   int `json:"sid"`
	Pgid  int `json:"pgid"`
	TTYNr int `json:"tty_nr"`
	UID   int `json:"uid"`
	GID   int `json:"gid"`
	EUID  int `json:"euid"`
	EGID  int `json:"egid"`
	// Groups are the supplementary groups.
	Groups []int `json:"groups"`
	// Status holds the capability sets, NoNewPrivs, Seccomp, SigIgn and
	// SigBlk lines of /proc/self/status.
	Status     map[string]string `json:"status"`
	Namespaces map[string]string `json:"namespaces"`
	Cgroup     []string          `json:"cgroup"`
	Cwd        string            `json:"cwd"`
	// CwdLink is where /proc/self/cwd points; CwdInRoot whether walking
	// ".." up from the working directory reaches the process's root (a
	// working directory outside it tops out elsewhere).
	CwdLink   string   `json:"cwd_link"`
	CwdInRoot bool     `json:"cwd_in_root"`
	Env       []string `json:"env"`
	// SessionKeyring is KEYCTL_GET_KEYRING_ID of the session keyring.
	SessionKeyring int               `json:"session_keyring"`
	Exe            string            `json:"exe"`
	FDTargets      map[string]string `json:"fd_targets"`
	Errors         []string          `json:"errors,omitempty"`
}

func ids(fds []int, fdErr error) IDs {
	r := IDs{
		Pid:        os.Getpid(),
		Ppid:       os.Getppid(),
		UID:        os.Getuid(),
		GID:        os.Getgid(),
		EUID:       os.Geteuid(),
		EGID:       os.Getegid(),
		Namespaces: map[string]string{},
		FDTargets:  map[string]string{},
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
	r.Sid, err = unix.Getsid(0)
	addErr("getsid", err)
	r.Pgid, err = unix.Getpgid(0)
	addErr("getpgid", err)
	st, err := selfStat()
	addErr("stat", err)
	r.TTYNr = st.ttyNr
	r.Groups, err = os.Getgroups()
	if r.Groups == nil {
		r.Groups = []int{}
	}
	addErr("groups", err)
	r.Status, err = status()
	addErr("status", err)
	for _, ns := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup", "user"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		addErr("ns "+ns, err)
		r.Namespaces[ns] = l
	}
	r.Cgroup, err = lines("/proc/self/cgroup")
	addErr("cgroup", err)
	r.Cwd, err = os.Getwd()
	addErr("cwd", err)
	r.CwdLink, err = os.Readlink("/proc/self/cwd")
	addErr("cwd link", err)
	r.CwdInRoot, err = cwdInRoot()
	addErr("cwd in root", err)
	r.SessionKeyring, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != unix.EPERM { // the default seccomp filter refuses keyctl
		addErr("session keyring", err)
	}
	r.Exe, err = os.Readlink("/proc/self/exe")
	addErr("exe", err)
	return r
}

// cwdInRoot walks ".." up from the working directory until it reaches the
// process's root (true) or a directory that is its own parent, the top of
// some other tree (false).
func cwdInRoot() (bool, error) {
	var root, cur, up unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return false, err
	}
	path := "."
	for range 4096 {
		if err := unix.Stat(path, &cur); err != nil {
			return false, err
		}
		if cur.Dev == root.Dev && cur.Ino == root.Ino {
			return true, nil
		}
		if err := unix.Stat(path+"/..", &up); err != nil {
			return false, err
		}
		if up.Dev == cur.Dev && up.Ino == cur.Ino {
			return false, nil
		}
		path += "/.."
	}
	return false, fmt.Errorf("no top after 4096 levels")
}

// procStat is what the probe needs of /proc/self/stat.
type procStat struct {
	pgrp, session, ttyNr int
}

// selfStat reads /proc/self/stat, counting fields from the last ')' since
// the command name may hold spaces.
func selfStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("/proc/self/stat: no command name")
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 5 {
		return procStat{}, fmt.Errorf("/proc/self/stat: %d fields", len(f))
	}
	var st procStat
	st.pgrp, _ = strconv.Atoi(f[2])
	st.session, _ = strconv.Atoi(f[3])
	st.ttyNr, _ = strconv.Atoi(f[4])
	return st, nil
}

// TTYInfo is what `probe winsize` (and `probe winch`) print about fd 0 as
// a terminal.
type TTYInfo struct {
	// Path is where /proc/self/fd/0 points; Targets the same for 0, 1, 2.
	Path    string   `json:"path"`
	Targets []string `json:"targets"`
	// IsTTY: fd 0 answers TCGETS.
	IsTTY bool `json:"isatty"`
	Rows  int  `json:"rows"`
	Cols  int  `json:"cols"`
	// OwnDevpts: fd 0 is a pty slave (major 136-143) of the devpts
	// mounted at the task's /dev/pts.
	OwnDevpts bool `json:"own_devpts"`
	// SameTTY: fds 0, 1 and 2 are the same terminal.
	SameTTY bool `json:"same_tty"`
	// UID and GID own fd 0's terminal; Mode is its permission bits.
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Mode string `json:"mode"`
	// Ctty: fd 0 is the process's controlling terminal (tty_nr of
	// /proc/self/stat is its device).
	Ctty  bool `json:"ctty"`
	TTYNr int  `json:"tty_nr"`
	Pid   int  `json:"pid"`
	Sid   int  `json:"sid"`
	Pgid  int  `json:"pgid"`
	// FgPgrp is the terminal's foreground process group (TIOCGPGRP on fd
	// 0), -1 when it cannot be read.
	FgPgrp int `json:"fg_pgrp"`
	// Ready, Winch and Step are set by `probe winch`; Winches counts the
	// SIGWINCHes it got.
	Ready   *bool    `json:"ready,omitempty"`
	Winch   *bool    `json:"winch,omitempty"`
	Winches int      `json:"winches,omitempty"`
	Step    int      `json:"step,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

func winsize() TTYInfo {
	r := TTYInfo{Pid: os.Getpid(), FgPgrp: -1}
	addErr := func(what string, err error) {
		if err != nil {
			r.Errors = append(r.Errors, what+": "+err.Error())
		}
	}
	var sts [3]unix.Stat_t
	same := true
	for fd := 0; fd < 3; fd++ {
		t, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			t = "?" + errText(err)
		}
		r.Targets = append(r.Targets, t)
		if err := unix.Fstat(fd, &sts[fd]); err != nil {
			addErr(fmt.Sprintf("fstat %d", fd), err)
			same = false
			continue
		}
		if sts[fd].Dev != sts[0].Dev || sts[fd].Rdev != sts[0].Rdev || sts[fd].Mode&unix.S_IFMT != unix.S_IFCHR {
			same = false
		}
	}
	r.Path = r.Targets[0]
	r.SameTTY = same
	st0 := sts[0]
	r.UID, r.GID = int(st0.Uid), int(st0.Gid)
	r.Mode = fmt.Sprintf("%04o", st0.Mode&07777)
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		r.IsTTY = true
	}
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		r.Rows, r.Cols = int(ws.Row), int(ws.Col)
	} else {
		addErr("TIOCGWINSZ", err)
	}
	var pts unix.Stat_t
	if err := unix.Stat("/dev/pts", &pts); err != nil {
		addErr("stat /dev/pts", err)
	} else {
		major := unix.Major(st0.Rdev)
		r.OwnDevpts = st0.Mode&unix.S_IFMT == unix.S_IFCHR && major >= 136 && major <= 143 && st0.Dev == pts.Dev
	}
	ps, err := selfStat()
	addErr("stat", err)
	r.TTYNr = ps.ttyNr
	// The kernel's encoding of a device number in tty_nr (new_encode_dev).
	maj, min := uint64(unix.Major(st0.Rdev)), uint64(unix.Minor(st0.Rdev))
	enc := int(min&0xff | maj<<8 | (min&^0xff)<<12)
	r.Ctty = r.IsTTY && ps.ttyNr != 0 && ps.ttyNr == enc
	r.Sid, err = unix.Getsid(0)
	addErr("getsid", err)
	r.Pgid, err = unix.Getpgid(0)
	addErr("getpgid", err)
	if fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil {
		r.FgPgrp = fg
	}
	return r
}

// winch prints the terminal as it is, then waits up to secs for SIGWINCH
// and prints it again. Given sizes (ROWS COLS pairs) it waits for each in
// turn: a SIGWINCH that does not bring the next size does not end a wait,
// and each size reached is printed with its step (1, 2, ...).
func winch(secs string, sizes []string) {
	d := seconds(secs)
	if len(sizes)%2 != 0 {
		fail("usage: probe winch SECONDS [ROWS COLS]...")
	}
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGWINCH)
	ready := true
	info := winsize()
	info.Ready = &ready
	emit(info)
	timeout := time.After(d)
	n := 0
	steps := max(len(sizes)/2, 1)
	for step := 1; step <= steps; step++ {
		got := false
	wait:
		for {
			select {
			case <-ch:
				n++
				got = true
				info = winsize()
				if len(sizes) == 0 || (strconv.Itoa(info.Rows) == sizes[2*step-2] && strconv.Itoa(info.Cols) == sizes[2*step-1]) {
					break wait
				}
			case <-timeout:
				got = false
				break wait
			}
		}
		info = winsize()
		info.Winch = &got
		info.Winches = n
		info.Step = step
		emit(info)
		if !got {
			return
		}
	}
}

// tiocstiPayload is the line the probe tries to push into a terminal's
// input; the tests look for it on the caller's terminal.
const tiocstiPayload = "berth-tiocsti-injected\n"

// InjectResult is how one TIOCSTI attempt went.
type InjectResult struct {
	// Opened: the path could be opened (always true for fds 0-2).
	Opened bool `json:"opened"`
	// Injected counts the bytes TIOCSTI accepted.
	Injected int    `json:"injected"`
	Error    string `json:"error"`
}

func inject(fd int) InjectResult {
	r := InjectResult{Opened: true}
	for i := 0; i < len(tiocstiPayload); i++ {
		b := tiocstiPayload[i]
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&b)))
		if e != 0 {
			r.Error = "TIOCSTI: " + e.Error()
			return r
		}
		r.Injected++
	}
	return r
}

// tiocsti is bubblewrap's CVE-2017-5226 shape: a task that reaches its
// caller's terminal pushes a command line into the caller's shell input.
func tiocsti(fds []int, paths []string) {
	out := struct {
		FDs       map[string]InjectResult `json:"fds"`
		Paths     map[string]InjectResult `json:"paths"`
		FDTargets map[string]string       `json:"fd_targets"`
	}{map[string]InjectResult{}, map[string]InjectResult{}, map[string]string{}}
	for _, fd := range fds {
		t, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			t = "?" + errText(err)
		}
		out.FDTargets[strconv.Itoa(fd)] = t
	}
	for fd := 0; fd < 3; fd++ {
		out.FDs[strconv.Itoa(fd)] = inject(fd)
	}
	ppid := strconv.Itoa(os.Getppid())
	for _, p := range paths {
		path := strings.ReplaceAll(p, "PPID", ppid)
		// Without O_NOCTTY: a session leader with no terminal would
		// acquire it, which is what an attacker wants.
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			out.Paths[p] = InjectResult{Error: "open " + path + ": " + err.Error()}
			continue
		}
		out.Paths[p] = inject(fd)
		unix.Close(fd)
	}
	emit(out)
}

// killpg signals the probe's whole process group with SIGKILL, as a
// hostile task would to take its caller's shell down with it.
func killpg() {
	err := unix.Kill(0, unix.SIGKILL)
	// Delivery happens on return from the syscall; a pid namespace's init
	// does not die of a signal sent from inside.
	time.Sleep(2 * time.Second)
	out := map[string]any{"survived": true, "error": ""}
	if err != nil {
		out["error"] = errText(err)
	}
	emit(out)
}

// keyring reports the session keyring and whether key id (a "user" key
// described desc, in the caller's session keyring) can be read or found.
func keyring(id int, desc string) {
	out := map[string]any{}
	ses, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	out["session"] = ses
	out["session_error"] = errString(err)
	buf := make([]byte, 4096)
	_, err = unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	out["read_ok"] = err == nil
	out["read_error"] = errString(err)
	found, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", desc, 0)
	out["search_ok"] = err == nil
	out["search_id"] = found
	out["search_error"] = errString(err)
	emit(out)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return errText(err)
}

// attackTarget is a binary exe-attack looks for.
type attackTarget struct {
	path     string
	dev, ino uint64
	hasID    bool
}

// AttackCount is what exe-attack did to one target.
type AttackCount struct {
	// Opened counts O_PATH opens of /proc/PID/exe that were this binary.
	Opened int `json:"opened"`
	// Pids are the processes (up to 32) whose exe it opened; an O_PATH fd
	// of each of the first maxHeld is kept and retried every scan.
	Pids []int `json:"pids"`
	// Writable counts reopens through /proc/self/fd that gave a writable
	// fd; Appended the bytes then written.
	Writable int `json:"writable"`
	Appended int `json:"appended"`
	// OnWritableMount counts the O_PATH opens of this binary on a mount
	// that is not read-only: a fd the task can reopen for writing as soon
	// as no process runs the binary (ETXTBSY lasts only that long).
	OnWritableMount int `json:"on_writable_mount"`
	// Errors counts the failed reopens by error.
	Errors map[string]int `json:"errors"`
	// Reached counts what else of such a process the attacker could open:
	// its "root", "cwd" and open "fd"s through /proc/PID.
	Reached map[string]int `json:"reached"`
}

// maxHeld bounds the O_PATH fds kept per target to retry later, as the
// original exploit waits for the runtime to exit before writing.
const maxHeld = 16

// exeAttack is CVE-2019-5736's shape.
func exeAttack(d time.Duration, args []string) {
	var targets []attackTarget
	counts := map[string]*AttackCount{}
	for _, a := range args {
		tg := attackTarget{path: a}
		if p, id, ok := strings.Cut(a, "@"); ok {
			tg.path = p
			ds, is, _ := strings.Cut(id, ":")
			dev, err1 := strconv.ParseUint(ds, 10, 64)
			ino, err2 := strconv.ParseUint(is, 10, 64)
			if err1 != nil || err2 != nil {
				fail("exe-attack: bad target %q, want PATH or PATH@DEV:INO", a)
			}
			tg.dev, tg.ino, tg.hasID = dev, ino, true
		}
		targets = append(targets, tg)
		counts[tg.path] = &AttackCount{Pids: []int{}, Errors: map[string]int{}, Reached: map[string]int{}}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	emit(map[string]any{"ready": true})

	held := map[string][]int{}
	buf2 := make([]byte, 8<<10)
	// tryWrite reports whether it got a writable fd.
	tryWrite := func(c *AttackCount, fd int) bool {
		p := "/proc/self/fd/" + strconv.Itoa(fd)
		got := false
		if w, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			c.Writable++
			got = true
			unix.Close(w)
		} else {
			c.Errors["O_WRONLY: "+errText(err)]++
		}
		if w, err := unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0); err == nil {
			c.Writable++
			got = true
			if n, _ := unix.Write(w, []byte{0}); n == 1 {
				c.Appended++
			}
			unix.Close(w)
		} else {
			c.Errors["O_WRONLY|O_APPEND: "+errText(err)]++
		}
		return got
	}
	// reach tries what CVE-2016-9962 used: the runtime's process, caught
	// inside the task, opened through /proc: its root and cwd (the
	// host's, before it joins the task's mount namespace) and its fds.
	reach := func(c *AttackCount, pid string) {
		for _, l := range []string{"root", "cwd"} {
			if fd, err := unix.Open("/proc/"+pid+"/"+l, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
				c.Reached[l]++
				unix.Close(fd)
			}
		}
		dfd, err := unix.Open("/proc/"+pid+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(dfd)
		n, err := unix.ReadDirent(dfd, buf2)
		if err != nil || n <= 0 {
			return
		}
		_, _, fds := unix.ParseDirent(buf2[:n], -1, nil)
		for _, f := range fds {
			if fd, err := unix.Openat(dfd, f, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
				c.Reached["fd"]++
				unix.Close(fd)
			}
		}
	}
	self := os.Getpid()
	scans, maxPids, exeOpened := 0, 0, 0
	start := time.Now()
	deadline := start.Add(d)
	buf := make([]byte, 32<<10)
scan:
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			break scan
		default:
		}
		scans++
		dfd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fail("exe-attack: open /proc: %v", err)
		}
		var names []string
		for {
			n, err := unix.ReadDirent(dfd, buf)
			if err != nil || n <= 0 {
				break
			}
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
		}
		unix.Close(dfd)
		pids := 0
		for _, name := range names {
			pid, err := strconv.Atoi(name)
			if err != nil || pid == self {
				continue
			}
			pids++
			fd, err := unix.Open("/proc/"+name+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			exeOpened++
			var st unix.Stat_t
			if unix.Fstat(fd, &st) != nil {
				unix.Close(fd)
				continue
			}
			link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
			link = strings.TrimSuffix(link, " (deleted)")
			kept := false
			for _, tg := range targets {
				if !(tg.hasID && st.Dev == tg.dev && st.Ino == tg.ino) && link != tg.path {
					continue
				}
				c := counts[tg.path]
				c.Opened++
				var sfs unix.Statfs_t
				if unix.Fstatfs(fd, &sfs) == nil && sfs.Flags&unix.ST_RDONLY == 0 {
					c.OnWritableMount++
				}
				wrote := tryWrite(c, fd)
				reach(c, name)
				// One fd kept per process, the first time it is
				// seen, unless it already gave a writable fd.
				if !slices.Contains(c.Pids, pid) {
					if len(c.Pids) < 32 {
						c.Pids = append(c.Pids, pid)
					}
					if !wrote && len(held[tg.path]) < maxHeld {
						held[tg.path] = append(held[tg.path], fd)
						kept = true
					}
				}
				break
			}
			if !kept {
				unix.Close(fd)
			}
		}
		maxPids = max(maxPids, pids)
		// Retry what is held: the binary may no longer be running now.
		// An fd that was writable once has made its point: dropped.
		for path, fds := range held {
			held[path] = slices.DeleteFunc(fds, func(fd int) bool {
				if tryWrite(counts[path], fd) {
					unix.Close(fd)
					return true
				}
				return false
			})
		}
	}
	emit(map[string]any{
		"scans":      scans,
		"pids":       maxPids,
		"exe_opened": exeOpened,
		"seconds":    time.Since(start).Seconds(),
		"targets":    counts,
	})
}

// copySelf copies the probe's own binary to each dst, creating the
// directories on the way: {"copied":[...],"error":""}.
func copySelf(dsts ...string) {
	out := map[string]any{"copied": []string{}, "error": ""}
	b, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		out["error"] = errText(err)
		emit(out)
		return
	}
	var copied []string
	for _, dst := range dsts {
		err := os.MkdirAll(filepath.Dir(dst), 0o755)
		if err == nil {
			err = os.WriteFile(dst, b, 0o755)
		}
		if err == nil {
			err = os.Chmod(dst, 0o755)
		}
		if err != nil {
			out["error"] = dst + ": " + errText(err)
			break
		}
		copied = append(copied, dst)
	}
	if copied != nil {
		out["copied"] = copied
	}
	emit(out)
}

// noproc reports what the process can tell of itself by syscalls alone,
// for a task whose /proc is not procfs.
func noproc() map[string]any {
	out := map[string]any{"uid": os.Getuid(), "gid": os.Getgid(), "error": ""}
	fds := []int{}
	for fd := 0; fd < 4096; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	out["fds"] = fds
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		out["error"] = "capget: " + errText(err)
	}
	out["cap_eff"] = fmt.Sprintf("%016x", uint64(data[1].Effective)<<32|uint64(data[0].Effective))
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		out["error"] = "prctl: " + errText(err)
	}
	out["no_new_privs"] = nnp
	return out
}
