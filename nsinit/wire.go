package nsinit

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/berthrun/berth/mounts"
)

// The child's side of the wire, without reflection.
//
// The parent writes the plan and reads the child's messages with
// encoding/json. In the child, encoding/json's first use in a fresh process
// costs about 0.3 ms (its reflection builds a decoder for every type of the
// plan), a tenth of a whole launch: the child reads the plan and writes its
// messages with the small codec below instead. The wire stays the JSON the
// protocol describes; readPlan accepts exactly what encoding/json would
// decode into a Plan with unknown fields refused, except that keys must be
// spelled as the parent spells them (encoding/json also takes "Version").

// maxPlan bounds the plan the child reads.
const maxPlan = 16 << 20

// readLine reads one newline-terminated message (json.Encoder ends each
// value with "\n" and escapes every newline inside one). At end of file
// what came is returned whole, for the decoder to judge.
func readLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxPlan {
				return nil, fmt.Errorf("plan larger than %d bytes", maxPlan)
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := indexByte(buf[len(buf)-n:], '\n'); i >= 0 {
			return buf[:len(buf)-n+i], nil
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// decodePlan decodes one JSON plan.
func decodePlan(b []byte) (Plan, error) {
	var p Plan
	d := &jdec{b: b}
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "version":
			var v int64
			v, err = d.int(-1<<63, 1<<63-1)
			p.Version = int(v)
		case "mode":
			p.Mode, err = d.str()
		case "root":
			p.Root, err = d.str()
		case "root_tmpfs":
			p.RootTmpfs, err = d.boolean()
		case "mounts":
			p.Mounts, err = d.ops()
		case "hostname":
			p.Hostname, err = d.str()
		case "loopback_up":
			p.LoopbackUp, err = d.boolean()
		case "kill_with_parent":
			p.KillWithParent, err = d.boolean()
		case "user":
			p.User, err = d.str()
		case "ids":
			p.IDs, err = d.userIDs()
		case "terminal":
			p.Terminal, err = d.boolean()
		case "size":
			p.Size, err = d.windowSize()
		case "caps":
			p.Caps, err = d.strs()
		case "user_caps":
			p.UserCaps, err = d.strs()
		case "cap_sets":
			p.CapSets, err = d.capSets()
		case "new_privs":
			p.NewPrivs, err = d.boolean()
		case "ro_root":
			p.ReadOnlyRoot, err = d.boolean()
		case "root_propagation":
			var v uint64
			v, err = d.uint(1<<64 - 1)
			p.RootPropagation = uintptr(v)
		case "sysctl":
			p.Sysctl, err = d.sysctls()
		case "umask":
			var v int64
			v, err = d.int(0, 0o777)
			m := int(v)
			p.Umask = &m
		case "rlimits":
			p.Rlimits, err = d.rlimits()
		case "oom_score_adj":
			var v int64
			v, err = d.int(-1000, 1000)
			adj := int(v)
			p.OOMScoreAdj = &adj
		case "seccomp":
			var s string
			if s, err = d.str(); err == nil {
				p.Seccomp, err = base64.StdEncoding.DecodeString(s)
			}
		case "seccomp_flags":
			var v uint64
			v, err = d.uint(1<<32 - 1)
			p.SeccompFlags = uint(v)
		case "timings":
			p.Timings, err = d.boolean()
		case "start_gate":
			p.StartGate, err = d.boolean()
		case "join":
			p.Join, err = d.joins()
		case "host_mount_ns":
			p.HostMountNS, err = d.boolean()
		case "exec_chroot":
			p.ExecChroot, err = d.boolean()
		case "preserve_fds":
			if d.null() {
				break
			}
			p.PreserveFDs = []int{}
			err = d.array(func() error {
				fd, err := d.int(0, 1<<20)
				p.PreserveFDs = append(p.PreserveFDs, int(fd))
				return err
			})
		case "pause_for_hooks":
			p.PauseForHooks, err = d.boolean()
		case "create_hooks":
			p.CreateHooks, err = d.hooks()
		case "start_hooks":
			p.StartHooks, err = d.hooks()
		case "hook_state":
			p.HookState, err = d.str()
		case "start_hook_state":
			p.StartHookState, err = d.str()
		case "join_cgroups":
			p.JoinCgroups, err = d.cgroupJoins()
		case "args":
			p.Args, err = d.strs()
		case "env":
			p.Env, err = d.strs()
		case "cwd":
			p.Cwd, err = d.str()
		default:
			return fmt.Errorf("json: unknown field %q", key)
		}
		return err
	})
	if err != nil {
		return p, err
	}
	d.ws()
	if d.i != len(d.b) {
		return p, d.errorf("data after the plan")
	}
	return p, nil
}

func (d *jdec) ops() ([]mounts.Op, error) {
	if d.null() {
		return nil, nil
	}
	ops := []mounts.Op{}
	err := d.array(func() error {
		var op mounts.Op
		err := d.object(func(key string) error {
			var err error
			switch key {
			case "kind":
				var k string
				k, err = d.str()
				op.Kind = mounts.Kind(k)
			case "source":
				op.Source, err = d.str()
			case "dest":
				op.Dest, err = d.str()
			case "fstype":
				op.FSType, err = d.str()
			case "flags":
				var v uint64
				v, err = d.uint(1<<64 - 1)
				op.Flags = uintptr(v)
			case "data":
				op.Data, err = d.str()
			case "ro":
				op.ReadOnly, err = d.boolean()
			case "rec":
				op.Recursive, err = d.boolean()
			case "optional":
				op.Optional, err = d.boolean()
			case "others":
				op.OthersOnly, err = d.boolean()
			case "attr":
				op.Attr, err = d.uint(1<<64 - 1)
			case "propagation":
				var v uint64
				v, err = d.uint(1<<64 - 1)
				op.Propagation = uintptr(v)
			case "node":
				op.Node, err = d.node()
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		ops = append(ops, op)
		return err
	})
	return ops, err
}

func (d *jdec) userIDs() (*UserIDs, error) {
	if d.null() {
		return nil, nil
	}
	u := &UserIDs{}
	err := d.object(func(key string) error {
		var err error
		var v int64
		switch key {
		case "uid":
			v, err = d.int(-1<<63, 1<<63-1)
			u.UID = int(v)
		case "gid":
			v, err = d.int(-1<<63, 1<<63-1)
			u.GID = int(v)
		case "groups":
			if d.null() {
				u.Groups = nil
				return nil
			}
			u.Groups = []int{}
			err = d.array(func() error {
				g, err := d.int(-1<<63, 1<<63-1)
				u.Groups = append(u.Groups, int(g))
				return err
			})
		case "home":
			u.Home, err = d.str()
		default:
			return fmt.Errorf("json: unknown field %q", key)
		}
		return err
	})
	return u, err
}

func (d *jdec) node() (*mounts.Node, error) {
	if d.null() {
		return nil, nil
	}
	n := &mounts.Node{}
	err := d.object(func(key string) error {
		var err error
		var v int64
		var u uint64
		switch key {
		case "type":
			n.Type, err = d.str()
		case "major":
			v, err = d.int(-1<<63, 1<<63-1)
			n.Major = v
		case "minor":
			v, err = d.int(-1<<63, 1<<63-1)
			n.Minor = v
		case "mode":
			u, err = d.uint(1<<32 - 1)
			n.Mode = uint32(u)
		case "uid":
			u, err = d.uint(1<<32 - 1)
			n.UID = uint32(u)
		case "gid":
			u, err = d.uint(1<<32 - 1)
			n.GID = uint32(u)
		default:
			return fmt.Errorf("json: unknown field %q", key)
		}
		return err
	})
	return n, err
}

func (d *jdec) joins() ([]JoinNS, error) {
	if d.null() {
		return nil, nil
	}
	var out []JoinNS
	err := d.array(func() error {
		var j JoinNS
		err := d.object(func(key string) error {
			var err error
			var v int64
			switch key {
			case "fd":
				v, err = d.int(0, 1<<20)
				j.Fd = int(v)
			case "type":
				v, err = d.int(0, 1<<31-1)
				j.Type = int(v)
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		out = append(out, j)
		return err
	})
	return out, err
}

func (d *jdec) hooks() ([]Hook, error) {
	if d.null() {
		return nil, nil
	}
	var out []Hook
	err := d.array(func() error {
		var h Hook
		err := d.object(func(key string) error {
			var err error
			switch key {
			case "path":
				h.Path, err = d.str()
			case "args":
				h.Args, err = d.strs()
			case "env":
				h.Env, err = d.strs()
			case "timeout":
				var v int64
				v, err = d.int(0, 1<<31-1)
				h.Timeout = int(v)
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		out = append(out, h)
		return err
	})
	return out, err
}

func (d *jdec) sysctls() ([]Sysctl, error) {
	if d.null() {
		return nil, nil
	}
	var out []Sysctl
	err := d.array(func() error {
		var s Sysctl
		err := d.object(func(key string) error {
			var err error
			switch key {
			case "key":
				s.Key, err = d.str()
			case "value":
				s.Value, err = d.str()
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		out = append(out, s)
		return err
	})
	return out, err
}

func (d *jdec) capSets() (*CapSets, error) {
	if d.null() {
		return nil, nil
	}
	s := &CapSets{}
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "bounding":
			s.Bounding, err = d.strs()
		case "effective":
			s.Effective, err = d.strs()
		case "permitted":
			s.Permitted, err = d.strs()
		case "inheritable":
			s.Inheritable, err = d.strs()
		case "ambient":
			s.Ambient, err = d.strs()
		default:
			return fmt.Errorf("json: unknown field %q", key)
		}
		return err
	})
	return s, err
}

func (d *jdec) rlimits() ([]Rlimit, error) {
	if d.null() {
		return nil, nil
	}
	var rls []Rlimit
	err := d.array(func() error {
		var rl Rlimit
		err := d.object(func(key string) error {
			var err error
			switch key {
			case "resource":
				var v int64
				v, err = d.int(0, 63)
				rl.Resource = int(v)
			case "soft":
				rl.Soft, err = d.uint(1<<64 - 1)
			case "hard":
				rl.Hard, err = d.uint(1<<64 - 1)
			default:
				return fmt.Errorf("json: unknown field %q", key)
			}
			return err
		})
		rls = append(rls, rl)
		return err
	})
	return rls, err
}

func (d *jdec) windowSize() (*WindowSize, error) {
	if d.null() {
		return nil, nil
	}
	w := &WindowSize{}
	err := d.object(func(key string) error {
		var err error
		var v uint64
		switch key {
		case "rows":
			v, err = d.uint(1<<16 - 1)
			w.Rows = uint16(v)
		case "cols":
			v, err = d.uint(1<<16 - 1)
			w.Cols = uint16(v)
		default:
			return fmt.Errorf("json: unknown field %q", key)
		}
		return err
	})
	return w, err
}

// jdec reads JSON values from b.
type jdec struct {
	b []byte
	i int
}

var errEOF = io.ErrUnexpectedEOF

func (d *jdec) errorf(format string, a ...any) error {
	return fmt.Errorf("json: offset %d: %s", d.i, fmt.Sprintf(format, a...))
}

func (d *jdec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte.
func (d *jdec) peek() (byte, error) {
	d.ws()
	if d.i >= len(d.b) {
		return 0, errEOF
	}
	return d.b[d.i], nil
}

func (d *jdec) literal(word string) bool {
	if c, err := d.peek(); err != nil || c != word[0] {
		return false
	}
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

func (d *jdec) null() bool { return d.literal("null") }

func (d *jdec) boolean() (bool, error) {
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"), d.null():
		return false, nil
	}
	if _, err := d.peek(); err != nil {
		return false, err
	}
	return false, d.errorf("want a boolean")
}

// object reads {"key": value, ...}, calling field for each key with the
// reader at its value. null is an empty object.
func (d *jdec) object(field func(key string) error) error {
	if d.null() {
		return nil
	}
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return d.errorf("want an object")
	}
	d.i++
	if c, err := d.peek(); err != nil {
		return err
	} else if c == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.str()
		if err != nil {
			return err
		}
		if c, err := d.peek(); err != nil {
			return err
		} else if c != ':' {
			return d.errorf("want ':'")
		}
		d.i++
		if err := field(key); err != nil {
			return err
		}
		c, err := d.peek()
		if err != nil {
			return err
		}
		d.i++
		switch c {
		case ',':
		case '}':
			return nil
		default:
			d.i--
			return d.errorf("want ',' or '}'")
		}
	}
}

// array reads [value, ...], calling elem with the reader at each value.
func (d *jdec) array(elem func() error) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c != '[' {
		return d.errorf("want an array")
	}
	d.i++
	if c, err := d.peek(); err != nil {
		return err
	} else if c == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		c, err := d.peek()
		if err != nil {
			return err
		}
		d.i++
		switch c {
		case ',':
		case ']':
			return nil
		default:
			d.i--
			return d.errorf("want ',' or ']'")
		}
	}
}

// strs reads an array of strings; null is nil.
func (d *jdec) strs() ([]string, error) {
	if d.null() {
		return nil, nil
	}
	out := []string{}
	err := d.array(func() error {
		s, err := d.str()
		out = append(out, s)
		return err
	})
	return out, err
}

// str reads a string; null is "".
func (d *jdec) str() (string, error) {
	if d.null() {
		return "", nil
	}
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c != '"' {
		return "", d.errorf("want a string")
	}
	d.i++
	start := d.i
	// The common case: no escape, valid UTF-8, no control byte.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			if utf8.Valid(s) {
				d.i++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	d.i = start
	var out []byte
	for {
		if d.i >= len(d.b) {
			return "", errEOF
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("control character in a string")
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", errEOF
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, err := d.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					// A pair, or U+FFFD for a lone half, as
					// encoding/json decodes them.
					save := d.i
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						d.i += 2
						r2, err := d.hex4()
						if err != nil {
							return "", err
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
						} else {
							d.i = save
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", d.errorf("bad escape \\%c", e)
			}
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				// Invalid UTF-8 becomes U+FFFD, as in encoding/json.
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
}

func (d *jdec) hex4() (rune, error) {
	if d.i+4 > len(d.b) {
		return 0, errEOF
	}
	v, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
	if err != nil {
		return 0, d.errorf("bad \\u escape")
	}
	d.i += 4
	return rune(v), nil
}

// number returns the next number's text: integers only (no fraction, no
// exponent: the plan has none, and encoding/json refuses them for integer
// fields too).
func (d *jdec) number() (string, error) {
	if _, err := d.peek(); err != nil {
		return "", err
	}
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	switch {
	case d.i == digits:
		return "", d.errorf("want a number")
	case d.b[digits] == '0' && d.i-digits > 1:
		return "", d.errorf("number with a leading zero")
	case d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E'):
		return "", d.errorf("want an integer")
	}
	return string(d.b[start:d.i]), nil
}

func (d *jdec) int(lo, hi int64) (int64, error) {
	if d.null() {
		return 0, nil
	}
	s, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, d.errorf("number %s out of range", s)
	}
	return v, nil
}

func (d *jdec) uint(hi uint64) (uint64, error) {
	if d.null() {
		return 0, nil
	}
	s, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > hi {
		return 0, d.errorf("number %s out of range", s)
	}
	return v, nil
}

// appendMessage appends m as one line of JSON, as json.Encoder writes it
// (the fields' omitempty rules kept).
func appendMessage(b []byte, m *Message) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, m.Type)
	field := func(name string) { b = append(b, ',', '"'); b = append(b, name...); b = append(b, '"', ':') }
	if m.Step != "" {
		field("step")
		b = appendString(b, m.Step)
	}
	if m.Path != "" {
		field("path")
		b = appendString(b, m.Path)
	}
	if m.Errno != 0 {
		field("errno")
		b = strconv.AppendInt(b, int64(m.Errno), 10)
	}
	if m.Pid != 0 {
		field("pid")
		b = strconv.AppendInt(b, int64(m.Pid), 10)
	}
	if m.Text != "" {
		field("text")
		b = appendString(b, m.Text)
	}
	if u := m.User; u != nil {
		field("user")
		b = append(b, `{"uid":`...)
		b = strconv.AppendInt(b, int64(u.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendInt(b, int64(u.GID), 10)
		if len(u.Groups) > 0 {
			b = append(b, `,"groups":[`...)
			for i, g := range u.Groups {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(g), 10)
			}
			b = append(b, ']')
		}
		if u.Home != "" {
			b = append(b, `,"home":`...)
			b = appendString(b, u.Home)
		}
		b = append(b, '}')
	}
	if len(m.Steps) > 0 {
		field("steps")
		b = append(b, '[')
		for i, s := range m.Steps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, s.Name)
			b = append(b, `,"at":`...)
			b = strconv.AppendInt(b, s.At, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// writeMessage sends m to the parent.
func writeMessage(w io.Writer, m *Message) error {
	_, err := w.Write(appendMessage(nil, m))
	return err
}
