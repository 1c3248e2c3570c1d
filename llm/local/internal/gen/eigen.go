package main

import (
	"math"
	"sort"
)

// principalAxes returns the eigenvectors of the symmetric n×n matrix m
// (row-major), in order of decreasing eigenvalue, each unit length with
// its largest component positive so that the result does not depend on
// the arithmetic's sign choices. It uses cyclic Jacobi rotations, which
// for a 100×100 matrix take a fraction of a second.
func principalAxes(m []float64, n int) [][]float64 {
	a := append([]float64(nil), m...)
	v := make([]float64, n*n)
	for i := range n {
		v[i*n+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off float64
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += a[p*n+q] * a[p*n+q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				apq := a[p*n+q]
				if apq == 0 {
					continue
				}
				theta := (a[q*n+q] - a[p*n+p]) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					akp, akq := a[k*n+p], a[k*n+q]
					a[k*n+p], a[k*n+q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := range n {
					apk, aqk := a[p*n+k], a[q*n+k]
					a[p*n+k], a[q*n+k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := range n {
					vkp, vkq := v[k*n+p], v[k*n+q]
					v[k*n+p], v[k*n+q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return a[order[i]*n+order[i]] > a[order[j]*n+order[j]] })
	axes := make([][]float64, n)
	for i, col := range order {
		axis := make([]float64, n)
		var peak float64
		for k := range n {
			axis[k] = v[k*n+col]
			if math.Abs(axis[k]) > math.Abs(peak) {
				peak = axis[k]
			}
		}
		if peak < 0 {
			for k := range axis {
				axis[k] = -axis[k]
			}
		}
		axes[i] = axis
	}
	return axes
}
