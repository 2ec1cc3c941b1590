package agg

import "math"

// exactSum is the exact sum of the float64 values added to it, kept as
// non-overlapping partials (Shewchuk's algorithm, as Python's math.fsum).
// Value rounds it once, correctly, so the sum of the same values is the
// same float64 whatever order they were added in: a sector window rebuilt
// symbol after symbol after a rebalance sums to the bits of one that saw
// the trades in the order they were read. The first partials live in the
// value itself; more than fit (rare: values of widely different
// magnitudes) spill to the heap.
type exactSum struct {
	p    [4]float64
	n    int
	more []float64
}

func (s *exactSum) at(i int) float64 {
	if i < len(s.p) {
		return s.p[i]
	}
	return s.more[i-len(s.p)]
}

func (s *exactSum) set(i int, v float64) {
	if i < len(s.p) {
		s.p[i] = v
		return
	}
	if j := i - len(s.p); j < len(s.more) {
		s.more[j] = v
	} else {
		s.more = append(s.more, v)
	}
}

// add adds x, a finite value.
func (s *exactSum) add(x float64) {
	i := 0
	for j := 0; j < s.n; j++ {
		y := s.at(j)
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			s.set(i, lo)
			i++
		}
		x = hi
	}
	s.set(i, x)
	s.n = i + 1
	if s.n <= len(s.p) {
		s.more = s.more[:0]
	} else {
		s.more = s.more[:s.n-len(s.p)]
	}
}

// value returns the sum, correctly rounded to a float64.
func (s *exactSum) value() float64 {
	n := s.n
	if n == 0 {
		return 0
	}
	n--
	hi := s.at(n)
	lo := 0.0
	for n > 0 {
		x := hi
		n--
		y := s.at(n)
		hi = x + y
		lo = y - (hi - x)
		if lo != 0 {
			break
		}
	}
	// Round half to even across the partials below: when lo is exactly
	// half an ulp and the next partial has its sign, round away.
	if n > 0 && (lo < 0 && s.at(n-1) < 0 || lo > 0 && s.at(n-1) > 0) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}
