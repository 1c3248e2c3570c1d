package use

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestApply checks the blocked matrix product against the plain one for
// every remainder of rows and outputs the blocking leaves.
func TestApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 5} {
		for _, in := range []int{1, 3, 8, 33} {
			for _, out := range []int{1, 4, 6, 11} {
				d := dense{in: in, out: out, w: make([]float32, in*out), b: make([]float32, out)}
				x := make([]float32, n*in)
				for _, s := range [][]float32{d.w, d.b, x} {
					for i := range s {
						s[i] = rng.Float32()*2 - 1
					}
				}
				y := make([]float32, n*out)
				d.apply(y, x, n)
				for r := range n {
					for o := range out {
						want := float64(d.b[o])
						for k := range in {
							want += float64(x[r*in+k]) * float64(d.w[o*in+k])
						}
						if got := y[r*out+o]; math.Abs(float64(got)-want) > 1e-5 {
							t.Fatalf("n %d, in %d, out %d: y[%d][%d] = %v, want %v", n, in, out, r, o, got, want)
						}
					}
				}
			}
		}
	}
}
