package vector

import "slices"

// Keys returns the keys stored, in increasing order: after Load, the
// owner compares them with its own to drop the keys it deleted since the
// index was saved.
func (ix *Index) Keys() []uint64 {
	g := ix.g.Load()
	g.mu.RLock()
	keys := make([]uint64, 0, len(g.keys))
	for k := range g.keys {
		keys = append(keys, k)
	}
	g.mu.RUnlock()
	slices.Sort(keys)
	return keys
}
