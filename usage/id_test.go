package usage

import (
	"strings"
	"testing"
	"time"
)

// IDs keep their form and sort in the order they were made, across
// milliseconds; within one they are distinct.
func TestTimeOrderedID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		if i%500 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		id := NewID()
		if !strings.HasPrefix(id, "usg_") || len(id) != 4+24 {
			t.Fatalf("NewID() = %q; want usg_ and 24 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if i > 0 && i%500 == 0 {
			if id <= prev {
				t.Errorf("%q made after %q sorts before it", id, prev)
			}
		}
		prev = id
	}
}
