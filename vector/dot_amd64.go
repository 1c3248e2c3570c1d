//go:build amd64 && !purego

package vector

import "golang.org/x/sys/cpu"

// The AVX2 kernels are about 5× faster than the Go loops on a 384-dim
// vector (BenchmarkDot), which is most of the time of a build and of a
// search. They are checked against the Go loops by TestDotKernels.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotQCAVX2(q []float32, c []int8) float32

//go:noescape
func dotCCAVX2(a, b []int8) int32

func dotQC(q []float32, c []int8) float32 {
	if !haveAVX2 {
		return dotQCGo(q, c)
	}
	n := len(q) &^ 15
	s := dotQCAVX2(q[:n], c[:n])
	if n < len(q) {
		s += dotQCGo(q[n:], c[n:])
	}
	return s
}

func dotCC(a, b []int8) float32 {
	if !haveAVX2 {
		return dotCCGo(a, b)
	}
	n := len(a) &^ 31
	s := float32(dotCCAVX2(a[:n], b[:n]))
	if n < len(a) {
		s += dotCCGo(a[n:], b[n:])
	}
	return s
}
