package nsinit

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// TestDecodeJoinCgroups: the child's decoder reads the v1 cgroups to join
// as encoding/json does, and refuses a field it does not know.
func TestDecodeJoinCgroups(t *testing.T) {
	p := Plan{Version: Version, JoinCgroups: []CgroupJoin{{Fd: 5, Path: "/sys/fs/cgroup/memory/b \"x\"/tasks"}, {Fd: 1 << 20}}}
	var buf bytes.Buffer
	if err := SendPlan(&buf, &p); err != nil {
		t.Fatal(err)
	}
	line, err := readLine(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePlan(line)
	if err != nil {
		t.Fatalf("%v\n%s", err, line)
	}
	want, err := decodeStd(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got.JoinCgroups, p.JoinCgroups) {
		t.Errorf("got %+v\nwant %+v", got.JoinCgroups, want.JoinCgroups)
	}
	bad := fmt.Appendf(nil, `{"version":%d,"join_cgroups":[{"fd":5,"path":"/t","mode":"thread"}]}`, Version)
	if _, err := decodePlan(bad); err == nil {
		t.Errorf("a join with an unknown field decoded")
	}
}
