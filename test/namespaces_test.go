package test

import (
	"net"
	"os"
	"slices"
	"testing"
)

// TestNamespacesDefault: mount, pid, ipc and uts are private, the network
// is the host's, and the pid namespace holds only the task, as pid 1.
func TestNamespacesDefault(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := hostNS(t)
	r := tk.report(rootfsFlags(t), rootfsProbe...)

	for _, ns := range []string{"mnt", "pid", "ipc", "uts"} {
		if r.Namespaces[ns] == "" || r.Namespaces[ns] == host[ns] {
			t.Errorf("%s namespace = %q, want a private one (host has %q)", ns, r.Namespaces[ns], host[ns])
		}
	}
	for _, ns := range []string{"net", "user"} {
		if r.Namespaces[ns] != host[ns] {
			t.Errorf("%s namespace = %q, want the host's %q", ns, r.Namespaces[ns], host[ns])
		}
	}
	if r.Pid != 1 || r.Ppid != 0 {
		t.Errorf("pid %d ppid %d, want pid 1 ppid 0 in a private pid namespace", r.Pid, r.Ppid)
	}
	if !slices.Equal(r.Pids, []int{1}) {
		t.Errorf("/proc lists pids %v, want only [1]", r.Pids)
	}

	// The host network: the same interfaces as the test sees.
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var hostIfs, taskIfs []string
	for _, i := range ifs {
		hostIfs = append(hostIfs, i.Name)
	}
	for _, i := range r.Interfaces {
		taskIfs = append(taskIfs, i.Name)
	}
	slices.Sort(hostIfs)
	slices.Sort(taskIfs)
	if !slices.Equal(hostIfs, taskIfs) {
		t.Errorf("interfaces %v, want the host's %v (net is host by default)", taskIfs, hostIfs)
	}
}

// TestNamespacesHost: --pid host and --ipc host share the host's; the
// others stay private.
func TestNamespacesHost(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := hostNS(t)
	r := tk.report(rootfsFlags(t, "--pid", "host", "--ipc", "host"), rootfsProbe...)

	for _, ns := range []string{"pid", "ipc", "net"} {
		if r.Namespaces[ns] != host[ns] {
			t.Errorf("%s namespace = %q, want the host's %q", ns, r.Namespaces[ns], host[ns])
		}
	}
	for _, ns := range []string{"mnt", "uts"} {
		if r.Namespaces[ns] == host[ns] {
			t.Errorf("%s namespace is the host's %q, want a private one", ns, host[ns])
		}
	}
	if r.Pid == 1 {
		t.Errorf("pid 1 with --pid host")
	}
	// The task's /proc shows the host's processes, the test among them.
	if !slices.Contains(r.Pids, os.Getpid()) || !slices.Contains(r.Pids, r.Pid) {
		t.Errorf("/proc of a --pid host task lists %d pids without the test's %d or its own %d", len(r.Pids), os.Getpid(), r.Pid)
	}
}

// TestNetNone: --net none gives a network namespace of its own with only
// the loopback interface, up.
func TestNetNone(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := hostNS(t)
	r := tk.report(rootfsFlags(t, "--net", "none"), rootfsProbe...)

	if r.Namespaces["net"] == host["net"] {
		t.Errorf("net namespace is the host's %q with --net none", host["net"])
	}
	if !slices.Equal(r.Interfaces, []Interface{{Name: "lo", Up: true}}) {
		t.Errorf("interfaces %+v, want only lo, up", r.Interfaces)
	}
}

// TestHostname: --hostname sets the name in the task's own uts namespace
// and leaves the host's alone.
func TestHostname(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	before, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	r := tk.report(rootfsFlags(t, "--hostname", "berth-probe-host"), rootfsProbe...)
	if r.Hostname != "berth-probe-host" {
		t.Errorf("hostname %q, want %q", r.Hostname, "berth-probe-host")
	}
	after, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("host's hostname changed from %q to %q", before, after)
	}
}
