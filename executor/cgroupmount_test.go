package executor

import (
	"reflect"
	"testing"

	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// TestBindHostCgroup2: a fresh cgroup2 mount of a task in the host's
// cgroup namespace becomes a bind of the host's cgroup2 mount with the
// same read-only, nosuid, noexec and propagation; in a cgroup namespace
// of its own, or with options of its own, it stays a mount.
func TestBindHostCgroup2(t *testing.T) {
	host := hostCgroup2Mount()
	cg := mounts.Op{Kind: mounts.KindMount, FSType: "cgroup2", Source: "cgroup", Dest: "/sys/fs/cgroup",
		Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME, Propagation: unix.MS_SLAVE}
	withData := cg
	withData.Data = "nsdelegate"
	proc := mounts.Op{Kind: mounts.KindMount, FSType: "proc", Source: "proc", Dest: "/proc"}

	plan := &nsinit.Plan{Mounts: []mounts.Op{proc, cg, withData}}
	bindHostCgroup2(plan, unix.CLONE_NEWNS|unix.CLONE_NEWPID)
	want := []mounts.Op{proc, {Kind: mounts.KindBind, Source: host, Dest: "/sys/fs/cgroup", ReadOnly: true,
		Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Propagation: unix.MS_SLAVE}, withData}
	if host == "" {
		// No cgroup2 hierarchy on this host: nothing to bind.
		want[1] = cg
	}
	if !reflect.DeepEqual(plan.Mounts, want) {
		t.Errorf("host cgroup namespace (cgroup2 at %q):\n got %+v\nwant %+v", host, plan.Mounts, want)
	}

	plan = &nsinit.Plan{Mounts: []mounts.Op{proc, cg}}
	bindHostCgroup2(plan, unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP)
	if want := []mounts.Op{proc, cg}; !reflect.DeepEqual(plan.Mounts, want) {
		t.Errorf("own cgroup namespace:\n got %+v\nwant %+v", plan.Mounts, want)
	}
}
