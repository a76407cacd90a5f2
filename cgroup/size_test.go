package cgroup

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1024", 1024},
		{"0", 0},
		{"512K", 512 << 10},
		{"512k", 512 << 10},
		{"64M", 64 << 20},
		{"64m", 64 << 20},
		{"64MB", 64 << 20},
		{"64mb", 64 << 20},
		{"1G", 1 << 30},
		{"1g", 1 << 30},
		{"100B", 100},
		{"-1", -1},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"lots", `invalid size "lots"`},
		{"", `invalid size ""`},
		{"M", `invalid size "M"`},
		{"1.5G", `invalid size "1.5G"`},
		{"-5M", `invalid size "-5M"`},
		{"+5", `invalid size "+5"`},
		{"5T", `invalid size "5T"`},
		{"1 M", `invalid size "1 M"`},
		{"99999999999G", `invalid size "99999999999G": too large`},
	} {
		_, err := ParseSize(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseSize(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{
		0:          "0",
		1000:       "1000",
		1024:       "1K",
		1536 << 10: "1536K",
		6 << 20:    "6M",
		2 << 30:    "2G",
		-1:         "-1",
	} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}
