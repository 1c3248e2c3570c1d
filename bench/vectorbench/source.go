package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/bulwark-ai/bulwark/vector/vectortest"
)

// source is a base set and its queries.
type source interface {
	describe() string
	dim() int
	len() int
	base(i int, buf []float32) []float32 // vector i, possibly in buf
	queries() [][]float32
}

// synthetic regenerates its vectors on demand, so the benchmark's own
// memory stays small next to the index's.
type synthetic struct {
	mix                 *vectortest.Mixture
	n, nq, clusters, rk int
}

func (s *synthetic) describe() string {
	return fmt.Sprintf("synthetic Gaussian mixture (vectortest.Mixture, %d components × rank %d), %d × %d, %d queries",
		s.clusters, s.rk, s.n, s.mix.Dim(), s.nq)
}
func (s *synthetic) dim() int { return s.mix.Dim() }
func (s *synthetic) len() int { return s.n }
func (s *synthetic) base(i int, buf []float32) []float32 {
	return s.mix.Vector(uint64(i), buf)
}
func (s *synthetic) queries() [][]float32 {
	out := make([][]float32, s.nq)
	for i := range out {
		out[i] = s.mix.Vector(1<<40+uint64(i), make([]float32, s.mix.Dim()))
	}
	return out
}

// fashionMNIST is Fashion-MNIST: 60,000 training images as the base set,
// the first nq of the 10,000 test images as queries, 784 pixels each,
// compared by cosine.
type fashionMNIST struct {
	train, test [][]float32
}

func loadFashionMNIST(dir string, nq int) (*fashionMNIST, error) {
	train, err := readIDX(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	test, err := readIDX(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		return nil, err
	}
	return &fashionMNIST{train: train, test: test[:min(nq, len(test))]}, nil
}

// readIDX reads a gzipped IDX file of unsigned bytes (magic 0x00000803:
// count × rows × cols) into one float vector per image.
func readIDX(path string) ([][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := bufio.NewReader(zr)
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if hdr[0] != 0x803 || hdr[1] > 1<<20 || hdr[2]*hdr[3] > 1<<16 {
		return nil, fmt.Errorf("%s: not an IDX file of images", path)
	}
	n, d := int(hdr[1]), int(hdr[2]*hdr[3])
	buf := make([]byte, d)
	out := make([][]float32, n)
	for i := range out {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", path, i, err)
		}
		v := make([]float32, d)
		for j, b := range buf {
			v[j] = float32(b)
		}
		out[i] = v
	}
	return out, nil
}

func (f *fashionMNIST) describe() string {
	return fmt.Sprintf("Fashion-MNIST, %d train images as base, %d test images as queries, %d dims, cosine", len(f.train), len(f.test), f.dim())
}
func (f *fashionMNIST) dim() int                          { return len(f.train[0]) }
func (f *fashionMNIST) len() int                          { return len(f.train) }
func (f *fashionMNIST) base(i int, _ []float32) []float32 { return f.train[i] }
func (f *fashionMNIST) queries() [][]float32              { return f.test }

func unit(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(ss))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}
