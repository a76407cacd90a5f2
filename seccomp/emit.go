package seccomp

import (
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// emit writes the whole program: the architecture dispatch, then one
// section per architecture (see the package doc).
func (c *compiler) emit(perNr [][]uint64) {
	a := &c.a
	a.items = make([]item, 0, 1024)
	var x86_64, i386 []uint64 // per architecture's rules by number; nil when not listed
	for i, ar := range c.arches {
		switch ar {
		case archX86_64:
			x86_64 = perNr[i]
		case archI386:
			i386 = perNr[i]
		}
	}
	l64, l32 := a.newLabel(), a.newLabel()
	a.ld(offArch)
	// An x86_64 section exists whenever x32 calls need their answer,
	// even for a profile that lists only i386.
	a.jmp(opJeqK, unix.AUDIT_ARCH_X86_64, l64, next)
	if i386 != nil {
		a.jmp(opJeqK, unix.AUDIT_ARCH_I386, l32, next)
	}
	// An architecture the profile did not list: its numbers mean other
	// calls, so no rule and no default written for these applies, and a
	// permissive default would let through what the rules deny. The
	// whole process dies, not just a thread that left the rest running.
	a.ret(unix.SECCOMP_RET_KILL_PROCESS)

	a.place(l64)
	a.ld(offNr)
	lx32 := a.newLabel()
	a.jmp(opJsetK, x32Bit, lx32, next)
	if x86_64 != nil {
		c.emitTree(archX86_64, c.segments(archX86_64, x86_64))
	} else {
		a.ret(unix.SECCOMP_RET_KILL_PROCESS)
	}
	a.place(lx32)
	a.ret(c.x32)

	if i386 != nil {
		a.place(l32)
		a.ld(offNr)
		c.emitTree(archI386, c.segments(archI386, i386))
	}
}

// decision is what one call number gets: the conditional rules in
// profile order (first match wins), then final when none matched.
type decision struct {
	rules []rule
	final uint32
}

func (d *decision) simple() bool { return len(d.rules) == 0 }

// segment is a run of numbers lo..hi: with one action (dec.simple), or a
// single number whose rules check arguments.
type segment struct {
	lo, hi uint32
	dec    decision
}

// segments covers, from perNr (the rules naming each number), every number 0..2^32-1 for ar: the table's numbers,
// then the ones above it. Neighbours with the same action merge, so the
// search runs over runs of numbers, not over calls.
func (c *compiler) segments(ar *arch, perNr []uint64) []segment {
	segs := make([]segment, 0, 128)
	add := func(lo, hi uint32, d decision) {
		if n := len(segs); n > 0 && d.simple() && segs[n-1].dec.simple() && segs[n-1].dec.final == d.final {
			segs[n-1].hi = hi
			return
		}
		segs = append(segs, segment{lo: lo, hi: hi, dec: d})
	}
	for nr := uint32(0); nr <= ar.table.max; nr++ {
		n := 0
		for n < len(perNr) && uint32(perNr[n]>>32) == nr {
			n++
		}
		add(nr, nr, c.decide(perNr[:n]))
		perNr = perNr[n:]
	}
	add(ar.table.max+1, 1<<32-1, decision{final: c.enosys})
	return segs
}

// decide builds one number's decision from its rules, in order: a rule
// without arguments always matches, so it ends the list; conditional
// rules at the end that give what the end gives anyway are dropped.
func (c *compiler) decide(idx []uint64) decision {
	d := decision{final: c.def}
	for _, i := range idx {
		r := c.rules[uint32(i)]
		if len(r.args) == 0 {
			d.final = r.action
			break
		}
		d.rules = append(d.rules, r)
	}
	for len(d.rules) > 0 && d.rules[len(d.rules)-1].action == d.final {
		d.rules = d.rules[:len(d.rules)-1]
	}
	return d
}

// emitTree is a binary search on the number (in A) over segs: one JGE
// per level, so a call costs about log2(len(segs)) jumps to its leaf.
func (c *compiler) emitTree(ar *arch, segs []segment) {
	if len(segs) == 1 {
		c.emitLeaf(ar, &segs[0].dec)
		return
	}
	mid := len(segs) / 2
	right := c.a.newLabel()
	c.a.jmp(opJgeK, segs[mid].lo, right, next)
	c.emitTree(ar, segs[:mid])
	c.a.place(right)
	c.emitTree(ar, segs[mid:])
}

// emitLeaf returns a simple decision's action, or checks its rules in
// order and returns the first match's action, else final.
func (c *compiler) emitLeaf(ar *arch, d *decision) {
	a := &c.a
	for i := 0; i < len(d.rules); {
		fail := a.newLabel()
		if n := eqRun(d.rules[i:]); n > 1 {
			c.emitEqSet(ar, d.rules[i:i+n], fail)
			i += n
		} else {
			for _, arg := range d.rules[i].args {
				c.emitArg(ar, arg, fail)
			}
			a.ret(d.rules[i].action)
			i++
		}
		a.place(fail)
	}
	a.ret(d.final)
}

// eqRun counts the rules at the head of rules that each test one
// argument, the same one, for equality, with the same action: a set of
// allowed values (Docker's socket families, personalities).
func eqRun(rules []rule) int {
	first := rules[0]
	if len(first.args) != 1 || first.args[0].Op != specs.OpEqualTo {
		return 0
	}
	n := 1
	for _, r := range rules[1:] {
		if len(r.args) != 1 || r.args[0].Op != specs.OpEqualTo ||
			r.args[0].Index != first.args[0].Index || r.action != first.action {
			break
		}
		n++
	}
	return n
}

func argLo(idx uint) uint32 { return offArgs + 8*uint32(idx) }
func argHi(idx uint) uint32 { return offArgs + 8*uint32(idx) + 4 }

// emitEqSet returns the run's action when the argument equals any of its
// values, else goes to fail: per distinct high word, one load and test
// of it, one load of the low word, then a search of the low words.
func (c *compiler) emitEqSet(ar *arch, rules []rule, fail label) {
	a := &c.a
	idx := rules[0].args[0].Index
	match := a.newLabel()
	var his []uint32
	byHi := map[uint32][]uint32{}
	for _, r := range rules {
		v := r.args[0].Value
		hi, lo := uint32(v>>32), uint32(v)
		if !ar.wide {
			hi = 0
		}
		if _, ok := byHi[hi]; !ok {
			his = append(his, hi)
		}
		byHi[hi] = append(byHi[hi], lo)
	}
	for i, hi := range his {
		miss := fail
		if i < len(his)-1 {
			miss = a.newLabel()
		}
		if ar.wide {
			a.ld(argHi(idx))
			a.jmp(opJeqK, hi, next, miss)
		}
		a.ld(argLo(idx))
		los := byHi[hi]
		slices.Sort(los)
		c.emitValueSet(slices.Compact(los), match, miss)
		if miss != fail {
			a.place(miss)
		}
	}
	a.place(match)
	a.ret(rules[0].action)
}

// emitValueSet goes to match when A is one of vals (sorted), else to
// miss: a binary search (JGE) down to runs of three or fewer JEQs, so
// Docker's 30-odd socket families cost about 7 jumps, not 30.
func (c *compiler) emitValueSet(vals []uint32, match, miss label) {
	a := &c.a
	if len(vals) <= 3 {
		for i, v := range vals {
			f := next
			if i == len(vals)-1 {
				f = miss
			}
			a.jmp(opJeqK, v, match, f)
		}
		return
	}
	mid := len(vals) / 2
	right := a.newLabel()
	a.jmp(opJgeK, vals[mid], right, next)
	c.emitValueSet(vals[:mid], match, miss)
	a.place(right)
	c.emitValueSet(vals[mid:], match, miss)
}

// emitArg falls through when arg holds and goes to fail when not.
// Comparisons are unsigned. A 64-bit comparison decides on the high
// words unless they are equal, then on the low words.
func (c *compiler) emitArg(ar *arch, arg specs.LinuxSeccompArg, fail label) {
	a := &c.a
	lo, hi := argLo(arg.Index), argHi(arg.Index)
	vlo, vhi := uint32(arg.Value), uint32(arg.Value>>32)
	if !ar.wide {
		c.emitNarrow(arg.Op, lo, vlo, uint32(arg.ValueTwo), fail)
		return
	}
	pass := a.newLabel()
	switch arg.Op {
	case specs.OpEqualTo:
		a.ld(hi)
		a.jmp(opJeqK, vhi, next, fail)
		a.ld(lo)
		a.jmp(opJeqK, vlo, next, fail)
	case specs.OpNotEqual:
		a.ld(hi)
		a.jmp(opJeqK, vhi, next, pass)
		a.ld(lo)
		a.jmp(opJeqK, vlo, fail, next)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.ld(hi)
		a.jmp(opJgtK, vhi, pass, next)
		a.jmp(opJeqK, vhi, next, fail)
		a.ld(lo)
		if arg.Op == specs.OpGreaterThan {
			a.jmp(opJgtK, vlo, next, fail)
		} else {
			a.jmp(opJgeK, vlo, next, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		a.ld(hi)
		a.jmp(opJgtK, vhi, fail, next)
		a.jmp(opJeqK, vhi, next, pass)
		a.ld(lo)
		if arg.Op == specs.OpLessThan {
			a.jmp(opJgeK, vlo, fail, next)
		} else {
			a.jmp(opJgtK, vlo, fail, next)
		}
	case specs.OpMaskedEqual:
		c.emitMasked(hi, vhi, uint32(arg.ValueTwo>>32), fail)
		c.emitMasked(lo, vlo, uint32(arg.ValueTwo), fail)
	}
	a.place(pass)
}

// emitMasked checks (word at off) & mask == want, folding the masks that
// make it constant: a zero mask (Docker's clone flags have no high word)
// needs no load.
func (c *compiler) emitMasked(off, mask, want uint32, fail label) {
	a := &c.a
	switch {
	case want&^mask != 0:
		a.ja(fail) // want has bits the mask clears: never equal
		return
	case mask == 0:
		return // 0 == want, checked above
	}
	a.ld(off)
	if mask != 1<<32-1 {
		a.and(mask)
	}
	a.jmp(opJeqK, want, next, fail)
}

// emitNarrow is emitArg for 32-bit arguments: the low words only.
func (c *compiler) emitNarrow(op specs.LinuxSeccompOperator, lo, v, v2 uint32, fail label) {
	a := &c.a
	if op == specs.OpMaskedEqual {
		c.emitMasked(lo, v, v2, fail)
		return
	}
	a.ld(lo)
	switch op {
	case specs.OpEqualTo:
		a.jmp(opJeqK, v, next, fail)
	case specs.OpNotEqual:
		a.jmp(opJeqK, v, fail, next)
	case specs.OpGreaterThan:
		a.jmp(opJgtK, v, next, fail)
	case specs.OpGreaterEqual:
		a.jmp(opJgeK, v, next, fail)
	case specs.OpLessThan:
		a.jmp(opJgeK, v, fail, next)
	case specs.OpLessEqual:
		a.jmp(opJgtK, v, fail, next)
	}
}
