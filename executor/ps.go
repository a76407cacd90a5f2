package executor

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berthrun/berth/nsinit"
	"github.com/berthrun/berth/proc"
	"golang.org/x/sys/unix"
)

// Process is one process of a task as `berth ps` shows it.
type Process struct {
	Pid  int `json:"pid"`
	PPid int `json:"ppid"`
	UID  int `json:"uid"`
	// User is the uid's name in the task's own /etc/passwd, or the uid in
	// decimal where it has none.
	User string `json:"user"`
	// CPUPercent is the CPU time the process used over its life, as a
	// percent of its wall time (ps(1)'s %CPU).
	CPUPercent float64 `json:"cpu_percent"`
	// RSS is its resident memory in bytes.
	RSS uint64 `json:"rss"`
	// Command is its command line, or its name in brackets when it has
	// none (a kernel thread, a zombie).
	Command string `json:"command"`
}

// Processes lists every process of a running or paused task, from its
// cgroup (never a walk of every host process). A process that exits while
// it is read is left out.
func (s *Store) Processes(id string) ([]Process, error) {
	st, cg, err := s.live(id, "ps")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	pids, err := cg.Pids()
	if err != nil {
		return nil, wrapErr("ps", id, err)
	}
	names := s.userNames(st)
	uptime := readUptime()
	out := make([]Process, 0, len(pids))
	for _, pid := range pids {
		stat, err := procfs.Stat(pid)
		if err != nil {
			continue
		}
		status, err := procfs.Status(pid)
		if err != nil {
			continue
		}
		p := Process{Pid: pid, PPid: stat.PPid, UID: status.Uid[0], RSS: uint64(max(stat.RSSPages, 0)) * pageSize}
		p.User = names[p.UID]
		if p.User == "" {
			p.User = strconv.Itoa(p.UID)
		}
		if life := uptime - float64(stat.StartTime)/float64(proc.ClockTicks()); life > 0 {
			p.CPUPercent = 100 * float64(stat.UTime+stat.STime) / float64(proc.ClockTicks()) / life
		}
		if args, err := procfs.Cmdline(pid); err == nil && len(args) > 0 {
			p.Command = strings.Join(args, " ")
		} else {
			p.Command = "[" + stat.Comm + "]"
		}
		// Read in three files: still the process whose stat came first?
		// A pid reused meanwhile would show a stranger's command line.
		if again, err := procfs.StartTime(pid); err != nil || again != stat.StartTime {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// userNames reads the names of the task's users from its own passwd,
// through the root of its main process (verified to still be the task
// after the directory is open); none when that cannot be read.
func (s *Store) userNames(st *State) map[int]string {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", st.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(root)
	if !alive(st.Pid, st.PidStartTime) {
		return nil
	}
	names, err := nsinit.UserNames(root)
	if err != nil {
		s.log.Debug("task's user names", "id", st.ID, "error", err)
		return nil
	}
	return names
}

// readUptime is the host's uptime in seconds, 0 when unknown.
func readUptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
