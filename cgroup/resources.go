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
	// BlockIO weighs and throttles the task's block I/O (blkio.go); nil
	// is unset.
	BlockIO *BlockIO
	// HugepageLimits cap the task's huge pages, one per page size
	// (hugetlb.go).
	HugepageLimits []HugepageLimit
	// NetClassID tags the task's network packets with a traffic-control
	// class (v1 net_cls.classid; cgroup v2 has no such controller). nil is
	// unset.
	NetClassID *uint32
	// NetPriorities set the priority of the task's traffic per network
	// interface (v1 net_prio.ifpriomap; not on cgroup v2).
	NetPriorities []NetPriority
	// RDMA limits the task's RDMA resources per device, by device name
	// (rdma.max).
	RDMA map[string]RDMALimit
	// Unified are cgroup v2 files to write in the task's cgroup, by file
	// name ("memory.high": "64M"), after every other field: on a hybrid
	// host into its cgroup on the unified hierarchy. Keys that would take
	// a task's cgroup away from berth are refused (unified.go).
	Unified map[string]string
}

// BlockIO is a task's share of block I/O and its caps. Weights run from
// 10 to 1000 (OCI's and cgroup v1's range); 0 is unset.
type BlockIO struct {
	// Weight is the task's default proportional weight (v1 blkio.weight,
	// or blkio.bfq.weight under BFQ; v2 io.bfq.weight, or io.weight
	// scaled to its 1-10000).
	Weight uint16
	// LeafWeight is the weight of the task's own I/O against that of
	// cgroups below it (v1 blkio.leaf_weight, which only CFQ had, gone
	// since Linux 5.0; cgroup v2 has none).
	LeafWeight uint16
	// WeightDevice sets weights for single devices.
	WeightDevice []WeightDevice
	// ThrottleReadBps, ThrottleWriteBps, ThrottleReadIOPS and
	// ThrottleWriteIOPS cap bytes and operations per second on single
	// devices (v1 blkio.throttle.*; v2 io.max). A Rate of 0 removes a cap.
	ThrottleReadBps   []ThrottleDevice
	ThrottleWriteBps  []ThrottleDevice
	ThrottleReadIOPS  []ThrottleDevice
	ThrottleWriteIOPS []ThrottleDevice
}

// WeightDevice is a weight for one block device; a zero weight is unset.
type WeightDevice struct {
	Major, Minor       int64
	Weight, LeafWeight uint16
}

// ThrottleDevice is a cap on one block device.
type ThrottleDevice struct {
	Major, Minor int64
	Rate         uint64
}

// HugepageLimit caps the task's huge pages of one size.
type HugepageLimit struct {
	// PageSize is the size as the kernel spells it in the file names:
	// "2MB", "1GB", "64KB".
	PageSize string
	// Limit is in bytes; the kernel rounds it down to whole pages.
	Limit uint64
}

// NetPriority is the priority of the task's traffic on one interface.
type NetPriority struct {
	Interface string
	Priority  uint32
}

// RDMALimit caps a task's use of one RDMA device; nil fields are not
// capped.
type RDMALimit struct {
	HcaHandles *uint32
	HcaObjects *uint32
}
