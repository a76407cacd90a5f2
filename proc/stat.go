package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// statParse parses the text of a stat file. comm is printed raw between
// parentheses and may itself contain ") ", so it runs from the first '('
// to the last ')'; the fields after it are space-separated numbers.
func statParse(s string) (Stat, error) {
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("no parenthesised command name")
	}
	var st Stat
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("field 1 (pid) %q: not a number", strings.TrimSpace(s[:open]))
	}
	st.Pid = pid
	st.Comm = s[open+1 : end]

	// rest[0] is field 3.
	rest := strings.Fields(s[end+1:])
	if len(rest)+2 < statMinFields {
		return Stat{}, fmt.Errorf("%d fields, want at least %d", len(rest)+2, statMinFields)
	}
	if len(rest[0]) != 1 {
		return Stat{}, fmt.Errorf("field 3 (state) %q: not one character", rest[0])
	}
	st.State = rest[0][0]

	var perr error
	field := func(n int) string { return rest[n-3] }
	signed := func(n int, name string) int64 {
		v, err := strconv.ParseInt(field(n), 10, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("field %d (%s) %q: not a number", n, name, field(n))
		}
		return v
	}
	unsigned := func(n int, name string) uint64 {
		v, err := strconv.ParseUint(field(n), 10, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("field %d (%s) %q: not a number", n, name, field(n))
		}
		return v
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
