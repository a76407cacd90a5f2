package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Stat is the part of /proc/PID/stat berth uses. Field numbers are those
// of proc_pid_stat(5).
type Stat struct {
	Pid, PPid, PGrp, Session int
	// Comm is the command name (at most 15 bytes). It may contain spaces
	// and parentheses.
	Comm       string
	State      byte   // R, S, D, Z, T, t, X, I, ...
	UTime      uint64 // user-mode time in clock ticks (field 14)
	STime      uint64 // kernel-mode time in clock ticks (field 15)
	StartTime  uint64 // start time in clock ticks since boot (field 22)
	NumThreads int
	VSize      uint64 // virtual memory size in bytes
	RSSPages   int64  // resident set size in pages
}

// statMinFields is the number of fields up to rss (field 24), the last one
// Stat reads.
const statMinFields = 24

// Stat reads /proc/PID/stat.
func (p FS) Stat(pid int) (Stat, error) {
	path := p.path(pid, "stat")
	data, err := os.ReadFile(path)
	if err != nil {
		return Stat{}, procErr("stat", pid, err)
	}
	st, err := statParse(string(data))
	if err != nil {
		return Stat{}, procErr("stat", pid, fmt.Errorf("parse %s: %w", path, err))
	}
	return st, nil
}

// StartTime returns when pid started, in clock ticks since boot. A pid is
// reused once its process is reaped, but the new process has a later start
// time, so a recorded (pid, start time) pair still names one process.
func (p FS) StartTime(pid int) (uint64, error) {
	st, err := p.Stat(pid)
	if err != nil {
		return 0, err
	}
	return st.StartTime, nil
}

// statParse parses the text of a stat file.
func statParse(s string) (Stat, error) { return statParseBytes([]byte(s)) }

// statParseBytes parses the text of a stat file. comm is printed raw
// between parentheses and may itself contain ") ", so it runs from the
// first '(' to the last ')'; the fields after it are space-separated
// numbers. It allocates nothing but Comm: a poller parses thousands.
func statParseBytes(s []byte) (Stat, error) {
	open := bytes.IndexByte(s, '(')
	end := bytes.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("no parenthesised command name")
	}
	var st Stat
	pid, ok := parseDec(bytes.TrimSpace(s[:open]))
	if !ok || pid > 1<<31 {
		return Stat{}, fmt.Errorf("field 1 (pid) %q: not a number", bytes.TrimSpace(s[:open]))
	}
	st.Pid = int(pid)
	st.Comm = string(s[open+1 : end])

	// fields[n] is field n (3 to statMinFields), split on white space.
	var fields [statMinFields + 1][]byte
	n := 3
	for rest := s[end+1:]; n <= statMinFields; n++ {
		i := 0
		for i < len(rest) && isSpace(rest[i]) {
			i++
		}
		j := i
		for j < len(rest) && !isSpace(rest[j]) {
			j++
		}
		if i == j {
			break
		}
		fields[n], rest = rest[i:j], rest[j:]
	}
	if n <= statMinFields {
		return Stat{}, fmt.Errorf("%d fields, want at least %d", n-1, statMinFields)
	}
	if len(fields[3]) != 1 {
		return Stat{}, fmt.Errorf("field 3 (state) %q: not one character", fields[3])
	}
	st.State = fields[3][0]

	var perr error
	unsigned := func(n int, name string) uint64 {
		v, ok := parseDec(fields[n])
		if !ok && perr == nil {
			perr = fmt.Errorf("field %d (%s) %q: not a number", n, name, fields[n])
		}
		return v
	}
	signed := func(n int, name string) int64 {
		f := fields[n]
		neg := len(f) > 0 && f[0] == '-'
		if neg {
			f = f[1:]
		}
		v, ok := parseDec(f)
		if (!ok || v > 1<<63-1) && perr == nil {
			perr = fmt.Errorf("field %d (%s) %q: not a number", n, name, fields[n])
		}
		if neg {
			return -int64(v)
		}
		return int64(v)
	}
	st.PPid = int(signed(4, "ppid"))
	st.PGrp = int(signed(5, "pgrp"))
	st.Session = int(signed(6, "session"))
	st.UTime = unsigned(14, "utime")
	st.STime = unsigned(15, "stime")
	st.NumThreads = int(signed(20, "num_threads"))
	st.StartTime = unsigned(22, "starttime")
	st.VSize = unsigned(23, "vsize")
	st.RSSPages = signed(24, "rss")
	if perr != nil {
		return Stat{}, perr
	}
	return st, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// parseDec parses an unsigned decimal number without allocating.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// StatReader reads /proc/PID/stat files through one buffer, for pollers
// that read every process of a task at every tick. Not safe for
// concurrent use.
type StatReader struct {
	root string
	buf  []byte
}

// NewStatReader returns a reader of p's stat files.
func (p FS) NewStatReader() *StatReader { return &StatReader{root: p.root, buf: make([]byte, 1024)} }

// Stat reads /proc/PID/stat, as FS.Stat does.
func (r *StatReader) Stat(pid int) (Stat, error) {
	path := r.root + "/" + strconv.Itoa(pid) + "/stat"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stat{}, procErr("stat", pid, &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	n := 0
	for {
		m, err := unix.Read(fd, r.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Stat{}, procErr("stat", pid, &os.PathError{Op: "read", Path: path, Err: err})
		}
		if m == 0 {
			break
		}
		n += m
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
	}
	st, err := statParseBytes(r.buf[:n])
	if err != nil {
		return Stat{}, procErr("stat", pid, fmt.Errorf("parse %s: %w", path, err))
	}
	return st, nil
}
