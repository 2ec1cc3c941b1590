package agg

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactly is the sum of xs rounded once, from big.Float's exact arithmetic.
func exactly(xs []float64) float64 {
	acc := new(big.Float).SetPrec(4096)
	for _, x := range xs {
		acc.Add(acc, new(big.Float).SetFloat64(x))
	}
	f, _ := acc.Float64()
	return f
}

func sumOf(xs []float64) float64 {
	var s exactSum
	for _, x := range xs {
		s.add(x)
	}
	return s.value()
}

// TestExactSumIgnoresOrder: any order of the same values sums to the same
// bits, the exact sum correctly rounded, where plain addition does not.
func TestExactSumIgnoresOrder(t *testing.T) {
	// Two symbols of one sector, interleaved as read and then one after
	// the other as a rebuild replays them.
	var read, bySymbol []float64
	for i := range 6 {
		a, b := (0.1+0.01*float64(i))*3, (0.7+0.01*float64(i))*3
		read = append(read, a, b)
	}
	for i := 0; i < len(read); i += 2 {
		bySymbol = append(bySymbol, read[i])
	}
	for i := 1; i < len(read); i += 2 {
		bySymbol = append(bySymbol, read[i])
	}
	var plainRead, plainBySymbol float64
	for i := range read {
		plainRead += read[i]
		plainBySymbol += bySymbol[i]
	}
	if plainRead == plainBySymbol {
		t.Fatalf("plain sums agree (%v): the case shows nothing", plainRead)
	}
	if a, b := sumOf(read), sumOf(bySymbol); a != b || a != exactly(read) {
		t.Errorf("exact sums %v and %v, want both %v", a, b, exactly(read))
	}

	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		xs := make([]float64, 1+r.IntN(300))
		for i := range xs {
			switch r.IntN(4) {
			case 0: // a price × volume of a trade
				xs[i] = math.Round(r.Float64()*100000) / 100 * float64(1+r.IntN(1000))
			case 1: // crypto-sized volumes
				xs[i] = r.Float64() * 1e-6
			case 2:
				xs[i] = r.Float64() * 1e12
			default:
				xs[i] = r.Float64()
			}
		}
		want := exactly(xs)
		if got := sumOf(xs); got != want {
			t.Fatalf("sum of %d values %v, want %v", len(xs), got, want)
		}
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		if got := sumOf(xs); got != want {
			t.Fatalf("shuffled, sum %v, want %v", got, want)
		}
	}
}

func BenchmarkExactSumAdd(b *testing.B) {
	var s exactSum
	b.ReportAllocs()
	x := 123.45 * 300
	for b.Loop() {
		s.add(x)
	}
	_ = s.value()
}
