package tokens

import "math"

// maxMerge is the longest piece merged at once: the merge is quadratic in
// a piece's length, and a longer piece (one enormous word, a long run of
// spaces) is merged in parts of at most maxMerge bytes, which can miscount
// by a token at each cut.
const maxMerge = 256

// bpeCount returns the number of tokens byte-pair encoding gives piece
// with ranks, as tiktoken's _byte_pair_merge does: merge the adjacent
// pair of lowest rank, leftmost first, until no pair has a rank.
func bpeCount(ranks map[string]int, piece string) int {
	if len(piece) <= 1 {
		return len(piece)
	}
	if _, ok := ranks[piece]; ok {
		return 1
	}
	if len(piece) > maxMerge {
		n := 0
		for len(piece) > 0 {
			cut := min(len(piece), maxMerge)
			for cut < len(piece) && cut > 1 && piece[cut]&0xC0 == 0x80 { // a rune boundary
				cut--
			}
			n += bpeCount(ranks, piece[:cut])
			piece = piece[cut:]
		}
		return n
	}
	type part struct{ start, rank int }
	var buf [maxMerge + 1]part
	parts := buf[:0]
	rank := func(a, b int) int {
		if r, ok := ranks[piece[a:b]]; ok {
			return r
		}
		return math.MaxInt
	}
	for i := range len(piece) - 1 {
		parts = append(parts, part{i, rank(i, i+2)})
	}
	parts = append(parts, part{len(piece) - 1, math.MaxInt}, part{len(piece), math.MaxInt})
	// rankAt is the rank of the merge of parts i and i+1 once i+1 and i+2
	// are one.
	rankAt := func(i int) int {
		if i+3 < len(parts) {
			return rank(parts[i].start, parts[i+3].start)
		}
		return math.MaxInt
	}
	for {
		best, at := math.MaxInt, -1
		for i, p := range parts[:len(parts)-1] {
			if p.rank < best {
				best, at = p.rank, i
			}
		}
		if at < 0 {
			break
		}
		if at > 0 {
			parts[at-1].rank = rankAt(at - 1)
		}
		parts[at].rank = rankAt(at)
		parts = append(parts[:at+1], parts[at+2:]...)
	}
	return len(parts) - 1
}
