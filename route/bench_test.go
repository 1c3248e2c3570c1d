package route

import (
	"fmt"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// BenchmarkPick measures route selection on the hot path: the alias lookup
// and one pick among four targets, for each balance policy.
func BenchmarkPick(b *testing.B) {
	for _, balance := range []string{config.BalanceWeighted, config.BalanceLeastOutstanding, config.BalancePeakEWMA} {
		b.Run(balance, func(b *testing.B) {
			m := config.Model{Name: "chat", Balance: balance}
			provs := map[string]llm.Provider{}
			for i := range 4 {
				p := fmt.Sprintf("p%d", i)
				provs[p] = nil
				m.Targets = append(m.Targets, config.Target{Provider: p, Model: "m", Weight: i + 1})
			}
			tbl, err := New([]config.Model{m}, provs, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r, _ := tbl.Lookup("chat")
				if t := r.Pick(nil, nil); t == nil || t.Name() == "" {
					b.Fatal("no target")
				}
			}
		})
	}
}
