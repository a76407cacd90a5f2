// Package stats turns readings of a task (its cgroup's counters and its
// processes' /proc figures) into the TaskResourceUsage schedulers poll:
// CPU percent from the difference between two readings, per process and in
// total, and a Measured list in every group naming exactly the fields this
// host measured for this task, never a silent zero.
package stats

// TaskResourceUsage is a task's usage at one moment, whole and per pid.
type TaskResourceUsage struct {
	Memory    MemoryStats  `json:"memory"`
	CPU       CPUStats     `json:"cpu"`
	Processes ProcessStats `json:"processes"`
	// Timestamp is when the reading was taken, Unix nanoseconds.
	Timestamp int64 `json:"timestamp"`
	// Pids maps each process of the task (its host pid, in decimal) to its
	// share.
	Pids map[string]*PidUsage `json:"pids"`
}

// PidUsage is one process's share.
type PidUsage struct {
	Memory MemoryStats `json:"memory"`
	CPU    CPUStats    `json:"cpu"`
}

// MemoryStats are in bytes; Measured names the fields that were filled.
// Every Measured list in this package uses the fields' JSON names and is
// sorted. In MemoryStats it may also hold "rss_from_procs": RSS is then
// the sum over the task's processes (it has no memory cgroup), which
// counts a page shared by several processes once for each, so it is not
// the task's usage.
type MemoryStats struct {
	RSS            uint64 `json:"rss"`
	Cache          uint64 `json:"cache"`
	Swap           uint64 `json:"swap"`
	Usage          uint64 `json:"usage"`
	MaxUsage       uint64 `json:"max_usage"`
	KernelUsage    uint64 `json:"kernel_usage"`
	KernelMaxUsage uint64 `json:"kernel_max_usage"`
	// Limit is the task's memory limit, 0 when it has none.
	Limit uint64 `json:"limit"`
	// OOMKills counts processes of the task the OOM killer ended.
	OOMKills uint64   `json:"oom_kills"`
	Measured []string `json:"measured"`
}

// CPUStats: times in nanoseconds of CPU; Percent of one core (a task busy
// on two cores shows about 200); TotalTicks the percent in MHz of the host
// (Percent/100 times one core's MHz), as schedulers account CPU. Percent,
// UserMode, SystemMode and TotalTicks are rates over the time since the
// previous reading, so the first reading of a task or of a process has
// none of them in Measured.
type CPUStats struct {
	SystemMode       float64  `json:"system_mode"`
	UserMode         float64  `json:"user_mode"`
	Percent          float64  `json:"percent"`
	ThrottledPeriods uint64   `json:"throttled_periods"`
	ThrottledTime    uint64   `json:"throttled_time"`
	TotalTicks       float64  `json:"total_ticks"`
	Measured         []string `json:"measured"`
}

// ProcessStats count the task's processes against its limit. Measured may
// hold "current_from_procs": Current then counts the processes read, the
// task's cgroup having no pids controller.
type ProcessStats struct {
	Current  uint64   `json:"current"`
	Limit    uint64   `json:"limit"`
	Measured []string `json:"measured"`
}
