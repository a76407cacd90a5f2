package filter

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDecode(t *testing.T) {
	raw := []byte{0x15, 0, 3, 4, 0x3e, 0, 0, 0xc0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []unix.SockFilter{{Code: 0x15, Jt: 3, Jf: 4, K: unix.AUDIT_ARCH_X86_64}, {Code: 0x06, K: unix.SECCOMP_RET_ALLOW}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Decode = %+v, want %+v", got, want)
	}
	ret := binary.LittleEndian.AppendUint16(nil, 0x06)
	ret = append(ret, 0, 0, 0, 0, 0xff, 0x7f)
	for _, c := range []struct {
		raw  []byte
		want string
	}{
		{nil, "seccomp program: 0 instructions, want 1 to 4096"},
		{raw[:9], "seccomp program: 9 bytes is not a whole number of 8-byte instructions"},
		{bytes.Repeat(ret, MaxInsns+1), "seccomp program: 4097 instructions, want 1 to 4096"},
	} {
		if _, err := Decode(c.raw); err == nil || err.Error() != c.want {
			t.Errorf("Decode(%d bytes) = %v, want %s", len(c.raw), err, c.want)
		}
		// Install refuses it before asking the kernel.
		if err := Install(c.raw, 0); err == nil || !strings.HasPrefix(err.Error(), "seccomp program: ") {
			t.Errorf("Install(%d bytes) = %v", len(c.raw), err)
		}
	}
	if got, err := Decode(bytes.Repeat(ret, MaxInsns)); err != nil || len(got) != MaxInsns {
		t.Errorf("Decode(4096 instructions): %d, %v", len(got), err)
	}
}
