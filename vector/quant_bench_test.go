package vector

import (
	"math/rand/v2"
	"testing"
)

func TestDotKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 384, 784, 1536} {
		q := make([]float32, n)
		a := make([]int8, n)
		b := make([]int8, n)
		for i := range n {
			q[i] = float32(r.NormFloat64())
			a[i] = int8(r.IntN(255) - 127)
			b[i] = int8(r.IntN(255) - 127)
		}
		if got, want := dotQC(q, a), dotQCGo(q, a); abs(got-want) > 1e-3*(1+abs(want)) {
			t.Errorf("dotQC n=%d: %v, want %v", n, got, want)
		}
		if got, want := dotCC(a, b), dotCCGo(a, b); got != want {
			t.Errorf("dotCC n=%d: %v, want %v", n, got, want)
		}
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkDot(b *testing.B) {
	q := make([]float32, 384)
	c := make([]int8, 384)
	c2 := make([]int8, 384)
	for i := range q {
		q[i] = float32(i) / 384
		c[i] = int8(i)
		c2[i] = int8(i * 3)
	}
	var s float32
	b.Run("QC", func(b *testing.B) {
		for b.Loop() {
			s += dotQC(q, c)
		}
	})
	b.Run("QCGo", func(b *testing.B) {
		for b.Loop() {
			s += dotQCGo(q, c)
		}
	})
	b.Run("CC", func(b *testing.B) {
		for b.Loop() {
			s += dotCC(c2, c)
		}
	})
	b.Run("CCGo", func(b *testing.B) {
		for b.Loop() {
			s += dotCCGo(c2, c)
		}
	})
	_ = s
}
