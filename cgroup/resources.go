package cgroup

// Resources are a task's limits. A zero field means "not set".
type Resources struct {
	// MemoryBytes is the hard memory limit.
	MemoryBytes int64
	// MemorySwapBytes is memory plus swap, as docker's --memory-swap: 0 means
	// no swap (equal to MemoryBytes), -1 means unlimited swap.
	MemorySwapBytes int64
	// MemoryReservationBytes is a soft limit: memory the kernel reclaims
	// from the task last under pressure (v1 memory.soft_limit_in_bytes,
	// v2 memory.low).
	MemoryReservationBytes int64
	// MemorySwappiness (0-100) tunes how eagerly the kernel swaps the
	// task's pages (v1 memory.swappiness; cgroup v2 has no such file and
	// refuses it). nil is unset.
	MemorySwappiness *uint64
	// DisableOOMKiller has a task over its memory limit wait for memory
	// instead of being killed (v1 memory.oom_control; v2 refuses it).
	DisableOOMKiller bool
	// CPUShares is the relative CPU weight (at least 2); cpu.weight on v2.
	CPUShares uint64
	// CPUs is a hard CPU limit in cores (0.5 = half a core): quota/period.
	CPUs float64
	// CPUPeriod is the CFS period in µs that CPUs is measured against
	// (cpu.cfs_period_us; the second field of v2 cpu.max), 1000 to
	// 1000000; 100000 (the kernel's default) when 0.
	CPUPeriod uint64
	// Cpuset lists the CPUs the task may run on ("0-1", "0,2").
	Cpuset string
	// CpusetMems lists the memory nodes the task may allocate from ("0",
	// "0-1"): cpuset.mems.
	CpusetMems string
	// PidsLimit is the most tasks (processes and threads) the cgroup may hold.
	PidsLimit int64
}
