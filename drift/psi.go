package drift

import "math"

// epsilon replaces an empty bucket's share in PSI, which would otherwise
// be infinite.
const epsilon = 1e-4

// PSI returns the population stability index of actual against expected,
// two histograms over the same buckets: Σ (a−e)·ln(a/e) over the buckets'
// shares, an empty bucket's share counting as 1e-4. It is 0 for identical
// distributions and grows as they part. It returns NaN when either
// histogram is empty or they differ in length.
func PSI(expected, actual []uint64) float64 {
	if len(expected) != len(actual) || len(expected) == 0 {
		return math.NaN()
	}
	var te, ta uint64
	for i := range expected {
		te += expected[i]
		ta += actual[i]
	}
	if te == 0 || ta == 0 {
		return math.NaN()
	}
	var psi float64
	for i := range expected {
		e := max(float64(expected[i])/float64(te), epsilon)
		a := max(float64(actual[i])/float64(ta), epsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}
