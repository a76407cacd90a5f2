package seccomp

import (
	"encoding/binary"
	"fmt"

	"github.com/berthrun/berth/seccomp/filter"
)

// Classic BPF opcodes the compiler emits (linux/filter.h), all of which
// the kernel's seccomp checker accepts.
const (
	opLdAbs = 0x20 // BPF_LD|BPF_W|BPF_ABS: A = word at offset k of seccomp_data
	opAndK  = 0x54 // BPF_ALU|BPF_AND|BPF_K: A &= k
	opJa    = 0x05 // BPF_JMP|BPF_JA: pc += k
	opJeqK  = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	opJgtK  = 0x25 // BPF_JMP|BPF_JGT|BPF_K
	opJgeK  = 0x35 // BPF_JMP|BPF_JGE|BPF_K
	opJsetK = 0x45 // BPF_JMP|BPF_JSET|BPF_K
	opRetK  = 0x06 // BPF_RET|BPF_K
)

// label names a place in a program being assembled. next is the
// instruction that follows: a conditional jump's fall-through.
type label int

const next label = -1

// item is an instruction with symbolic jump targets, or (isLabel) the
// place of a label.
type item struct {
	code    uint16
	k       uint32
	jt, jf  label // conditional jumps
	target  label // opJa
	isLabel bool
	lbl     label
	// farT, farF: the conditional jump's target is more than 255
	// instructions away, so it jumps to an unconditional jump (32-bit
	// offset) placed right after it: a trampoline.
	farT, farF bool
}

// asm assembles a program forward only: every jump goes to a label
// placed after it, which is all classic BPF can express.
type asm struct {
	items  []item
	labels int
}

func (a *asm) newLabel() label { a.labels++; return label(a.labels - 1) }

func (a *asm) place(l label) { a.items = append(a.items, item{isLabel: true, lbl: l}) }

func (a *asm) ld(off uint32) { a.items = append(a.items, item{code: opLdAbs, k: off}) }
func (a *asm) and(k uint32)  { a.items = append(a.items, item{code: opAndK, k: k}) }
func (a *asm) ret(k uint32)  { a.items = append(a.items, item{code: opRetK, k: k}) }
func (a *asm) ja(to label)   { a.items = append(a.items, item{code: opJa, target: to}) }
func (a *asm) jmp(code uint16, k uint32, jt, jf label) {
	a.items = append(a.items, item{code: code, k: k, jt: jt, jf: jf})
}

// size is how many instructions it becomes, trampolines included.
func (it *item) size() int {
	switch {
	case it.isLabel:
		return 0
	case it.code == opJa || it.code == opRetK || it.code == opLdAbs || it.code == opAndK:
		return 1
	}
	n := 1
	if it.farT {
		n++
	}
	if it.farF {
		n++
	}
	return n
}

// layout places every item, turning conditional jumps that reach too far
// into short jumps to trampolines, until every conditional offset fits
// in 8 bits. Each pass only adds trampolines, so it ends.
func (a *asm) layout() (pos []int, where []int, err error) {
	pos = make([]int, len(a.items))
	where = make([]int, a.labels)
	for {
		n := 0
		for i := range where {
			where[i] = -1
		}
		for i := range a.items {
			pos[i] = n
			if a.items[i].isLabel {
				where[a.items[i].lbl] = n
			}
			n += a.items[i].size()
		}
		changed := false
		for i := range a.items {
			it := &a.items[i]
			if !isCond(it.code) || it.isLabel {
				continue
			}
			for _, t := range []struct {
				l   label
				far *bool
			}{{it.jt, &it.farT}, {it.jf, &it.farF}} {
				if t.l == next || *t.far {
					continue
				}
				if where[t.l] < 0 {
					return nil, nil, fmt.Errorf("internal error: label %d never placed", t.l)
				}
				if where[t.l]-(pos[i]+1) > 255 {
					*t.far, changed = true, true
				}
			}
		}
		if !changed {
			return pos, where, nil
		}
	}
}

func isCond(code uint16) bool {
	return code == opJeqK || code == opJgtK || code == opJgeK || code == opJsetK
}

// assemble lays out the program and encodes it in filter's wire form.
func (a *asm) assemble() ([]byte, error) {
	pos, where, err := a.layout()
	if err != nil {
		return nil, err
	}
	var out []byte
	emit := func(code uint16, jt, jf uint8, k uint32) {
		out = binary.LittleEndian.AppendUint16(out, code)
		out = append(out, jt, jf)
		out = binary.LittleEndian.AppendUint32(out, k)
	}
	// offset from the instruction after from to label l, which must lie
	// ahead: classic BPF jumps only forward.
	offset := func(from int, l label) (int, error) {
		if where[l] < 0 {
			return 0, fmt.Errorf("internal error: label %d never placed", l)
		}
		d := where[l] - (from + 1)
		if d < 0 {
			return 0, fmt.Errorf("internal error: jump backwards at %d", from)
		}
		return d, nil
	}
	for i := range a.items {
		it := &a.items[i]
		p := pos[i]
		switch {
		case it.isLabel:
		case it.code == opJa:
			d, err := offset(p, it.target)
			if err != nil {
				return nil, err
			}
			emit(opJa, 0, 0, uint32(d))
		case isCond(it.code):
			// The jump, then the trampoline for true, then the one for
			// false; a near branch skips the trampolines to reach next.
			end := p + it.size()
			var jt, jf, tramp int
			tramps := 0
			near := func(l label, far bool) (int, error) {
				if far {
					d := tramps
					tramps++
					return d, nil
				}
				if l == next {
					return end - (p + 1), nil
				}
				return offset(p, l)
			}
			if jt, err = near(it.jt, it.farT); err != nil {
				return nil, err
			}
			if jf, err = near(it.jf, it.farF); err != nil {
				return nil, err
			}
			if jt > 255 || jf > 255 {
				return nil, fmt.Errorf("internal error: jump at %d out of range", p)
			}
			emit(it.code, uint8(jt), uint8(jf), it.k)
			for _, t := range []struct {
				l   label
				far bool
			}{{it.jt, it.farT}, {it.jf, it.farF}} {
				if !t.far {
					continue
				}
				tramp++
				d, err := offset(p+tramp, t.l)
				if err != nil {
					return nil, err
				}
				emit(opJa, 0, 0, uint32(d))
			}
		default:
			emit(it.code, 0, 0, it.k)
		}
	}
	if n := len(out) / filter.InsnSize; n > filter.MaxInsns {
		return nil, fmt.Errorf("program of %d instructions: more than the kernel's %d", n, filter.MaxInsns)
	}
	return out, nil
}
