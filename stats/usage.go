// Package stats holds the shape of a task's resource usage. The collector
// that fills it lands with the stats issue; until then nothing produces it.
package stats

// TaskResourceUsage is a task's usage at one moment, whole and per pid.
type TaskResourceUsage struct {
	Memory    MemoryStats          `json:"memory"`
	CPU       CPUStats             `json:"cpu"`
	Timestamp int64                `json:"timestamp"`
	Pids      map[string]*PidUsage `json:"pids"`
}

// PidUsage is one process's share.
type PidUsage struct {
	Memory MemoryStats `json:"memory"`
	CPU    CPUStats    `json:"cpu"`
}

// MemoryStats are in bytes; Measured names the fields that were filled.
type MemoryStats struct {
	RSS            uint64   `json:"rss"`
	Cache          uint64   `json:"cache"`
	Swap           uint64   `json:"swap"`
	Usage          uint64   `json:"usage"`
	MaxUsage       uint64   `json:"max_usage"`
	KernelUsage    uint64   `json:"kernel_usage"`
	KernelMaxUsage uint64   `json:"kernel_max_usage"`
	Measured       []string `json:"measured"`
}

// CPUStats: modes and percent as Nomad reports them; ticks in MHz-seconds.
type CPUStats struct {
	SystemMode       float64  `json:"system_mode"`
	UserMode         float64  `json:"user_mode"`
	Percent          float64  `json:"percent"`
	ThrottledPeriods uint64   `json:"throttled_periods"`
	ThrottledTime    uint64   `json:"throttled_time"`
	TotalTicks       float64  `json:"total_ticks"`
	Measured         []string `json:"measured"`
}
