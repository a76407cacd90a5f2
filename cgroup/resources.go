package cgroup

// Resources are a task's limits. A zero field means "not set".
type Resources struct {
	// MemoryBytes is the hard memory limit.
	MemoryBytes int64
	// MemorySwapBytes is memory plus swap, as docker's --memory-swap: 0 means
	// no swap (equal to MemoryBytes), -1 means unlimited swap.
	MemorySwapBytes int64
	// CPUShares is the relative CPU weight (at least 2); cpu.weight on v2.
	CPUShares uint64
	// CPUs is a hard CPU limit in cores (0.5 = half a core): quota/period.
	CPUs float64
	// Cpuset lists the CPUs the task may run on ("0-1", "0,2").
	Cpuset string
	// PidsLimit is the most tasks (processes and threads) the cgroup may hold.
	PidsLimit int64
}
