package vectortest

import (
	"math"
	"math/rand/v2"
)

// Mixture generates clustered synthetic vectors that behave like text
// embeddings for an index: a Gaussian mixture whose components each vary
// along a few directions of their own (a mixture of probabilistic PCA),
// plus a little isotropic noise. Uniform random vectors, by contrast, have
// no near neighbours worth the name and make every index look bad;
// embeddings have a low intrinsic dimension and clusters of topics, and so
// does this.
//
// Vector(i) depends only on the seed and i, so a benchmark regenerates
// vectors instead of holding a million of them. Safe for concurrent use.
type Mixture struct {
	dim, rank int
	centres   [][]float32 // per component, norm ≈ 1
	bases     [][]float32 // per component, rank×dim, each direction norm ≈ spread
	noise     float32
	seed      uint64
}

// NewMixture returns a mixture of clusters components in dim dimensions,
// each varying along rank directions.
func NewMixture(dim, clusters, rank int, seed uint64) *Mixture {
	r := rand.New(rand.NewPCG(seed, 1))
	m := &Mixture{dim: dim, rank: rank, seed: seed, noise: 0.25 / float32(math.Sqrt(float64(dim)))}
	inv := 1 / math.Sqrt(float64(dim))
	const spread = 0.35
	for range clusters {
		c := make([]float32, dim)
		for i := range c {
			c[i] = float32(r.NormFloat64() * inv)
		}
		b := make([]float32, rank*dim)
		for i := range b {
			b[i] = float32(r.NormFloat64() * inv * spread)
		}
		m.centres = append(m.centres, c)
		m.bases = append(m.bases, b)
	}
	return m
}

// Dim is the dimension of the vectors.
func (m *Mixture) Dim() int { return m.dim }

// Vector writes vector i into out (len Dim) and returns out. Use one range
// of i for the base set and a disjoint one for queries.
func (m *Mixture) Vector(i uint64, out []float32) []float32 {
	r := rand.New(rand.NewPCG(m.seed^0x5bd1e995, i))
	k := r.IntN(len(m.centres))
	copy(out, m.centres[k])
	b := m.bases[k]
	for j := range m.rank {
		z := float32(r.NormFloat64())
		row := b[j*m.dim : (j+1)*m.dim]
		for d := range out {
			out[d] += z * row[d]
		}
	}
	for d := range out {
		out[d] += m.noise * float32(r.NormFloat64())
	}
	return out
}
