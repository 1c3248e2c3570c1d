package resilience

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestCooldownRunsItsLengthAndIsNeverShortened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Cooldown
		if c.Active() || c.Left() != 0 {
			t.Fatalf("a new cooldown is active: %s left", c.Left())
		}
		if !c.Start(2 * time.Second) {
			t.Fatal("Start did not start a cooldown")
		}
		if c.Start(time.Second) {
			t.Error("a shorter cooldown shortened the one under way")
		}
		if got := c.Left(); got != 2*time.Second {
			t.Errorf("%s left, want 2s", got)
		}
		time.Sleep(time.Second)
		if !c.Start(3*time.Second) || c.Left() != 3*time.Second {
			t.Errorf("a longer cooldown did not extend it: %s left", c.Left())
		}
		time.Sleep(3 * time.Second)
		if c.Active() {
			t.Errorf("still active after its end: %s left", c.Left())
		}
		var nilC *Cooldown
		if nilC.Start(time.Second) || nilC.Active() {
			t.Error("a nil cooldown cooled down")
		}
	})
}

func TestCooldownNotifiesOnceWhenItStartsOrGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Cooldown
		calls := map[string]int{}
		c.Notify(func() { calls["kept"]++ })
		stop := c.Notify(func() { calls["stopped"]++ })
		stop()
		c.Start(time.Second)
		c.Start(time.Second / 2) // does not move the end: nobody to tell
		if calls["kept"] != 1 || calls["stopped"] != 0 {
			t.Errorf("calls %v; want kept once, stopped never", calls)
		}
		c.Notify(func() { calls["later"]++ })
		c.Start(time.Second / 2)
		if calls["later"] != 0 {
			t.Errorf("notified of a cooldown that did not move: %v", calls)
		}
		c.Start(2 * time.Second)
		if calls["later"] != 1 || calls["kept"] != 1 {
			t.Errorf("calls %v; want later once, kept still once", calls)
		}
	})
}
