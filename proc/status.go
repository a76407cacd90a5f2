package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status is the part of /proc/PID/status berth uses. Fields the kernel
// does not print for the process stay zero: kernel threads have no Vm*
// lines, and kernels before 4.3 have no CapAmb.
type Status struct {
	Name string
	// Uid and Gid are real, effective, saved and filesystem ids.
	Uid, Gid [4]int
	// VmRSS and VmSwap are in bytes (the file says kB).
	VmRSS, VmSwap                  uint64
	CapEff, CapPrm, CapBnd, CapInh uint64
	CapAmb                         uint64
	NoNewPrivs                     int
	Threads                        int
}

// Status reads /proc/PID/status.
func (p FS) Status(pid int) (Status, error) {
	path := p.path(pid, "status")
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, procErr("status", pid, err)
	}
	st, err := statusParse(string(data))
	if err != nil {
		return Status{}, procErr("status", pid, fmt.Errorf("parse %s: %w", path, err))
	}
	return st, nil
}

// statusParse parses the "Key:\tvalue" lines of a status file. Unknown
// keys are ignored; a known key with a malformed value is an error.
func statusParse(s string) (Status, error) {
	var (
		st      Status
		sawName bool
	)
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "Name":
			// The kernel prints exactly one tab, then the name with '\n' and
			// '\\' escaped; a name may begin with a space, so trim no more.
			st.Name, sawName = strings.TrimPrefix(value, "\t"), true
		case "Uid":
			st.Uid, err = statusIDs(value)
		case "Gid":
			st.Gid, err = statusIDs(value)
		case "VmRSS":
			st.VmRSS, err = statusKB(value)
		case "VmSwap":
			st.VmSwap, err = statusKB(value)
		case "CapEff":
			st.CapEff, err = statusHex(value)
		case "CapPrm":
			st.CapPrm, err = statusHex(value)
		case "CapBnd":
			st.CapBnd, err = statusHex(value)
		case "CapInh":
			st.CapInh, err = statusHex(value)
		case "CapAmb":
			st.CapAmb, err = statusHex(value)
		case "NoNewPrivs":
			st.NoNewPrivs, err = strconv.Atoi(strings.TrimSpace(value))
		case "Threads":
			st.Threads, err = strconv.Atoi(strings.TrimSpace(value))
		default:
			continue
		}
		if err != nil {
			return Status{}, fmt.Errorf("%s %q: %w", key, strings.TrimSpace(value), statusCause(err))
		}
	}
	if !sawName {
		return Status{}, errors.New("no Name line")
	}
	return st, nil
}

// statusCause strips strconv's "strconv.ParseUint: parsing ..." prefix,
// which repeats the value the caller already quotes.
func statusCause(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	return err
}

// statusIDs parses the four tab-separated ids of a Uid or Gid line.
func statusIDs(value string) ([4]int, error) {
	var ids [4]int
	f := strings.Fields(value)
	if len(f) != len(ids) {
		return ids, fmt.Errorf("%d ids, want %d", len(f), len(ids))
	}
	for i, s := range f {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return ids, err
		}
		ids[i] = int(id)
	}
	return ids, nil
}

// statusKB parses "  1234 kB" into bytes.
func statusKB(value string) (uint64, error) {
	f := strings.Fields(value)
	if len(f) != 2 || f[1] != "kB" {
		return 0, errors.New(`want "N kB"`)
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	if n > ^uint64(0)/1024 {
		return 0, strconv.ErrRange
	}
	return n * 1024, nil
}

// statusHex parses a capability mask, printed as 16 hex digits.
func statusHex(value string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(value), 16, 64)
}
