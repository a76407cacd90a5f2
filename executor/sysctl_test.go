package executor

import (
	"strings"
	"testing"
)

// TestCheckSysctls: only the task's own namespaces' parameters pass.
func TestCheckSysctls(t *testing.T) {
	private := Isolation{Net: ModeNone}
	ok := map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192", "fs.mqueue.msg_max": "10", "kernel.hostname": "h"}
	got, err := checkSysctls(ok, private)
	if err != nil || len(got) != 4 || got[0].Key != "fs.mqueue.msg_max" {
		t.Errorf("checkSysctls(own namespaces) = %+v, %v", got, err)
	}
	for _, c := range []struct {
		key  string
		iso  Isolation
		want string
	}{
		{"kernel.core_pattern", private, "not a parameter of the task's own namespaces"},
		{"vm.overcommit_memory", private, "not a parameter of the task's own namespaces"},
		{"net.ipv4.ip_forward", Isolation{}, "needs a private network namespace"},
		{"kernel.shmmax", Isolation{IPC: ModeHost}, "needs a private ipc namespace"},
		{"kernel.hostname", Isolation{UTS: ModeHost}, "needs a private uts namespace"},
		{"net.ipv4.ip_forward", Isolation{NetPath: "/proc/self/ns/net"}, "is the host's"},
		{"net/../../kernel/core_pattern", private, "not a kernel parameter's name"},
		{"net.ipv4..x", private, "not a kernel parameter's name"},
		{"net", private, "not a kernel parameter's name"},
	} {
		_, err := checkSysctls(map[string]string{c.key: "1"}, c.iso)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkSysctls(%s, %+v) = %v, want %q", c.key, c.iso, err, c.want)
		}
	}
	if _, err := checkSysctls(map[string]string{"net.core.somaxconn": "1\x00"}, private); err == nil {
		t.Error("a value with a NUL byte passed")
	}
}
