package main

import (
	"strings"
	"testing"
)

func parse(tap string) result {
	var r result
	parseTAP([]byte(tap), &r)
	return r
}

func TestParseTAPCountsTopLevelResults(t *testing.T) {
	r := parse(`TAP version 13
ok 1 - create MUST succeed
not ok 2 - kill MUST fail on a stopped container
  ---
  {
    "error": "exit status 0",
    "reference": "https://example/runtime.md#kill",
    "stdout": "not ok 1 - nested\nok 2 - nested"
  }
  ...
ok 3 # SKIP linux.sysctl not set
not ok 5 - pids limit is set correctly
# expect: 1000, actual: max
not ok 4 - this one is known # TODO not implemented
1..5
`)
	if r.OK != 2 || r.NotOK != 2 || r.Skip != 1 || r.Todo != 1 || r.Plan != 5 || r.Errors != 0 {
		t.Fatalf("counts: %+v", r)
	}
	if len(r.Failures) != 2 || !strings.Contains(r.Failures[0].Line, "kill MUST fail") {
		t.Fatalf("failures: %+v", r.Failures)
	}
	if !strings.Contains(r.Failures[0].Diagnostic, `"error": "exit status 0"`) {
		t.Errorf("diagnostic not kept: %q", r.Failures[0].Diagnostic)
	}
	if r.Failures[1].Diagnostic != "# expect: 1000, actual: max\n" {
		t.Errorf("comment diagnostic: %q", r.Failures[1].Diagnostic)
	}
	if r.pass() {
		t.Error("a stream with a not ok passes")
	}
}

func TestParseTAPErrorWithoutResultFails(t *testing.T) {
	// How hooks reports a runtime's error: a diagnostic, then nothing planned.
	r := parse(`TAP version 13
  ---
  {
    "error": "Hooks MUST be called in the listed order\nRefer to: https://example"
  }
  ...
1..0
`)
	if r.Errors != 1 || r.pass() {
		t.Fatalf("an orphan error passes: %+v", r)
	}
	if got := r.reason(); got != "error: Hooks MUST be called in the listed order" {
		t.Errorf("reason %q", got)
	}
}

func TestParseTAPDiagnosticOfPassIsNoError(t *testing.T) {
	r := parse(`TAP version 13
ok 1 - has expected process argument 1
# a comment
Refer to: https://example/runtime.md#query-state
  ---
  {
    "actual": "--path=/",
    "error": "not really"
  }
  ...
1..1
`)
	if !r.pass() || r.Errors != 0 {
		t.Fatalf("a diagnostic after a pass counted as an error: %+v", r)
	}
}

func TestParseTAPSeveralStreams(t *testing.T) {
	// linux_cgroups_cpus prints one stream per sub-test.
	two := "TAP version 13\nok 1 - a\nok 2 - b\n1..2\nTAP version 13\n1..0\n"
	if r := parse(two); !r.pass() || r.Plan != 2 || r.Streams != 2 {
		t.Fatalf("two complete streams: %+v", r)
	}
	short := "TAP version 13\nok 1 - a\n1..2\nTAP version 13\nok 1 - c\n1..1\n"
	if r := parse(short); r.pass() || !r.Mismatch {
		t.Fatalf("a stream that ran fewer than planned passes: %+v", r)
	}
	unplanned := "TAP version 13\nok 1 - a\n1..1\nTAP version 13\nok 1 - b\n"
	if r := parse(unplanned); r.pass() || !r.Unplanned {
		t.Fatalf("a stream without a plan passes: %+v", r)
	}
	// The *_fail programs print nothing and speak by exit status.
	silent := parse("")
	if !silent.pass() {
		t.Fatal("a silent exit 0 fails")
	}
	silent.Exit = 1
	if silent.pass() {
		t.Fatal("a silent exit 1 passes")
	}
}

func TestDiffMounts(t *testing.T) {
	a := mount{point: "/tmp/x/rootfs", root: "/", fstype: "ext4", source: "/dev/vda1"}
	b := mount{point: "/proc", root: "/", fstype: "proc", source: "proc"}
	left, gone := diffMounts(map[mount]int{b: 1, a: 1}, map[mount]int{a: 3})
	if len(left) != 2 || len(gone) != 1 || !strings.HasPrefix(left[0], "/tmp/x/rootfs ") || !strings.HasPrefix(gone[0], "/proc ") {
		t.Fatalf("left %q gone %q", left, gone)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescape(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("got %q", got)
	}
	if got := unescape(`/tmp/trailing\04`); got != `/tmp/trailing\04` {
		t.Fatalf("got %q", got)
	}
}
