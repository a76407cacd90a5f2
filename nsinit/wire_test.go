package nsinit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthrun/berth/mounts"
)

// samplePlans are plans as the parent writes them, with the strings a task
// can bring: quotes, backslashes, control characters, HTML characters
// (escaped as \u003c by encoding/json), non-ASCII, invalid UTF-8.
func samplePlans(t testing.TB) []Plan {
	src := filepath.Join(t.TempDir(), "src \"dir\"")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	ops, err := mounts.Plan(mounts.Config{HostDirs: true, Binds: []mounts.Bind{{Source: src, Dest: "/a\"b\\c", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return []Plan{
		{Version: Version},
		{Version: Version, Root: "/r", Mounts: ops, Caps: []string{"CAP_KILL"}, Args: []string{"/bin/true"}, Env: []string{"PATH=/bin"}},
		{Version: Version, Mode: ModeExec, User: "app:grp", IDs: &UserIDs{UID: 1000, GID: 1000, Groups: []int{4, 27}, Home: "/home/ä"},
			Terminal: true, Size: &WindowSize{Rows: 65535, Cols: 1}, KillWithParent: true, Timings: true,
			Args: []string{"sh", "-c", "echo \"<&>\" \t\n\r\x01 \u2028 😀 \xff\xfe"}, Env: []string{"A=\\u0041", "B="}, Cwd: "/ü"},
		{Version: Version, RootTmpfs: true, LoopbackUp: true, Hostname: "h", IDs: &UserIDs{}, Size: &WindowSize{},
			Mounts: []mounts.Op{{Kind: mounts.KindMount, Flags: ^uintptr(0), Optional: true, Recursive: true},
				{Kind: mounts.KindDevice, Dest: "/dev/fuse", Node: &mounts.Node{Type: "c", Major: 10, Minor: -1, Mode: 0o666, UID: 1, GID: 1<<32 - 1}},
				{Kind: mounts.KindBind, Attr: 1 << 63, Propagation: ^uintptr(0)}}},
		{Version: Version, Caps: []string{"CAP_KILL", "CAP_CHOWN"}, UserCaps: []string{"CAP_KILL"},
			Rlimits:     []Rlimit{{Resource: 7, Soft: 1024, Hard: 4096}, {Resource: 4, Soft: ^uint64(0), Hard: ^uint64(0)}},
			OOMScoreAdj: new(-1000), Seccomp: []byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f, 0xfe}, SeccompFlags: 1<<32 - 1},
		{Version: Version, OOMScoreAdj: new(0), Rlimits: []Rlimit{}, Seccomp: []byte{}, StartGate: true, NewPrivs: true, ReadOnlyRoot: true,
			CapSets: &CapSets{Bounding: []string{"CAP_KILL"}, Effective: []string{}, Inheritable: nil, Ambient: []string{"CAP_KILL"}}},
		{Version: Version, HostMountNS: true, ExecChroot: true, PreserveFDs: []int{7, 9}, PauseForHooks: true, HookState: `{"pid":1}`, StartHookState: `{"pid":2}`, StartHooks: []Hook{},
			CreateHooks: []Hook{{Path: "/bin/h", Args: []string{"h", "-x"}, Env: []string{"A=b"}, Timeout: 5}, {Path: "/h2"}}},
	}
}

// decodeStd is the oracle: what encoding/json makes of b, unknown fields
// refused.
func decodeStd(b []byte) (Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	return p, err
}

// TestDecodePlanMatchesEncodingJSON: the child's decoder reads every plan
// the parent writes exactly as encoding/json would.
func TestDecodePlanMatchesEncodingJSON(t *testing.T) {
	for i, p := range samplePlans(t) {
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
			t.Fatalf("plan %d: %v\n%s", i, err, line)
		}
		want, err := decodeStd(line)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plan %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// TestDecodePlanRefuses: what encoding/json refuses, the child refuses too.
func TestDecodePlanRefuses(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{"version":2`, `{"version":"2"}`, `{"version":2.0}`, `{"version":1e3}`, `{"version":01}`,
		`{"version":99999999999999999999}`, `{"args":"x"}`, `{"args":[1]}`, `{"mounts":[{"kind":1}]}`,
		`{"mounts":[{"flags":-1}]}`, `{"size":{"rows":65536}}`, `{"ids":{"uid":"0"}}`, `{"seccomp":{}}`,
		`{"mounts":[{"extra":1}]}`, `{"root":"a\x01b"}`, `{"root":"\q"}`, `{"root":"\u12"}`, `[]`,
		`{"terminal":1}`, `{"version":2,}`, `{,}`,
	} {
		if _, err := decodeStd([]byte(in)); err == nil {
			t.Errorf("oracle accepts %q: fix the test", in)
			continue
		}
		if p, err := decodePlan([]byte(in)); err == nil {
			t.Errorf("decodePlan(%q) = %+v, want an error", in, p)
		}
	}
	// Stricter than a json.Decoder, which stops after one value: the line
	// is the plan and nothing else.
	if _, err := decodePlan([]byte(`{"version":2} x`)); err == nil {
		t.Error("decodePlan accepts data after the plan")
	}
}

// FuzzDecodePlan: whatever the child's decoder accepts, encoding/json
// accepts too and decodes to the same plan; it never panics.
func FuzzDecodePlan(f *testing.F) {
	for _, p := range samplePlans(f) {
		b, _ := json.Marshal(&p)
		f.Add(b)
	}
	f.Add([]byte(`{"root":"\ud83d\ude00 \ud800 \udc00x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodePlan(b)
		if err != nil {
			return
		}
		want, serr := decodeStd(b)
		if serr != nil {
			t.Fatalf("decodePlan accepts %q, encoding/json refuses it: %v", b, serr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}

// TestAppendMessage: what the child writes, encoding/json reads back as
// the same message.
func TestAppendMessage(t *testing.T) {
	for _, m := range []Message{
		{Type: MsgReady},
		{Type: MsgConsole},
		{Type: MsgReady, User: &UserIDs{UID: 0, GID: 0}, Steps: []StepTime{{"start", 1}, {"a \"b\"", -2}}},
		{Type: MsgReady, User: &UserIDs{UID: 1000, GID: 100, Groups: []int{1, 2}, Home: "/home/\u00e4\x7f"}},
		{Type: MsgError, Step: "mounts", Path: "/a\"\\\n\x00\xff<>&\u2028", Errno: 13, Text: "permission denied 😀"},
	} {
		b := appendMessage(nil, &m)
		if !bytes.HasSuffix(b, []byte("\n")) || bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("%q: want one line", b)
		}
		var got Message
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		want := m
		want.Path = strings.ToValidUTF8(want.Path, "\ufffd")
		if want.User != nil {
			u := *want.User
			u.Home = strings.ToValidUTF8(u.Home, "\ufffd")
			want.User = &u
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	}
}
