package executor

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// Ulimit is one resource limit of a task, by its name as ulimit(1) and
// Docker's --ulimit spell it ("nofile") or as OCI does ("RLIMIT_NOFILE").
// Unlimited is math.MaxUint64 (the kernel's RLIM_INFINITY).
type Ulimit struct {
	Name string
	Soft uint64
	Hard uint64
}

// Unlimited is a Ulimit value without limit.
const Unlimited = math.MaxUint64

// rlimNlimits bounds the kernel's RLIMIT_* numbers (RLIM_NLIMITS).
const rlimNlimits = 16

// rlimits are the limits a task can be given, by short name.
var rlimits = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"rttime":     unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// rlimitNumber resolves a limit's name, short or RLIMIT_*, any case.
func rlimitNumber(name string) (short string, resource int, ok bool) {
	short = strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "RLIMIT_"))
	resource, ok = rlimits[short]
	return short, resource, ok
}

// ParseUlimit reads NAME=SOFT[:HARD], as Docker's --ulimit: a missing HARD
// is SOFT; either may be "unlimited" or -1.
func ParseUlimit(s string) (Ulimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || name == "" || vals == "" {
		return Ulimit{}, fmt.Errorf("ulimit %q: want NAME=SOFT[:HARD]", s)
	}
	short, _, ok := rlimitNumber(name)
	if !ok {
		return Ulimit{}, fmt.Errorf("ulimit %q: unknown limit %q (one of %s)", s, name, strings.Join(rlimitNames(), ", "))
	}
	softS, hardS, hasHard := strings.Cut(vals, ":")
	soft, err := parseLimitValue(softS)
	if err != nil {
		return Ulimit{}, fmt.Errorf("ulimit %q: soft limit: %w", s, err)
	}
	hard := soft
	if hasHard {
		if hard, err = parseLimitValue(hardS); err != nil {
			return Ulimit{}, fmt.Errorf("ulimit %q: hard limit: %w", s, err)
		}
	}
	u := Ulimit{Name: short, Soft: soft, Hard: hard}
	if u.Soft > u.Hard {
		return Ulimit{}, fmt.Errorf("ulimit %q: soft limit %s is above the hard limit %s", s, limitString(soft), limitString(hard))
	}
	return u, nil
}

func parseLimitValue(s string) (uint64, error) {
	switch s {
	case "unlimited", "infinity", "-1":
		return Unlimited, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number, or unlimited", s)
	}
	return v, nil
}

func limitString(v uint64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

func rlimitNames() []string {
	names := make([]string, 0, len(rlimits))
	for n := range rlimits {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkUlimits turns ulimits into the plan's limits. A hard limit above
// berth's own needs CAP_SYS_RESOURCE, which the init stage inherits from
// berth: without it the launch is refused here, naming the limit, before
// anything is made.
func checkUlimits(us []Ulimit) ([]nsinit.Rlimit, error) {
	if len(us) == 0 {
		return nil, nil
	}
	seen := make(map[int]bool)
	var out []nsinit.Rlimit
	for _, u := range us {
		short, res, ok := rlimitNumber(u.Name)
		if !ok {
			return nil, fmt.Errorf("ulimit %q: unknown limit (one of %s)", u.Name, strings.Join(rlimitNames(), ", "))
		}
		if seen[res] {
			return nil, fmt.Errorf("ulimit %s: given twice", short)
		}
		seen[res] = true
		if u.Soft > u.Hard {
			return nil, fmt.Errorf("ulimit %s: soft limit %s is above the hard limit %s", short, limitString(u.Soft), limitString(u.Hard))
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return nil, fmt.Errorf("ulimit %s: %w", short, err)
		}
		if u.Hard > cur.Max && !holdsSysResource() {
			return nil, fmt.Errorf("ulimit %s: hard limit %s is above berth's own (%s), and raising it needs CAP_SYS_RESOURCE, which berth does not hold",
				short, limitString(u.Hard), limitString(cur.Max))
		}
		out = append(out, nsinit.Rlimit{Resource: res, Soft: u.Soft, Hard: u.Hard})
	}
	return out, nil
}

// holdsSysResource tells whether this process has CAP_SYS_RESOURCE in its
// effective set.
func holdsSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}
