//go:build !amd64 || purego

package vector

func dotQC(q []float32, c []int8) float32 { return dotQCGo(q, c) }

func dotCC(a, b []int8) float32 { return dotCCGo(a, b) }
