package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// activity shows on stderr what a command that may take long is doing,
// once it has taken a second: on a terminal one line rewritten in place
// (the step and the time so far), elsewhere a line per step. A command
// that ends within the second prints nothing. It is safe for concurrent
// use.
type activity struct {
	w     io.Writer
	tty   bool
	what  string
	start time.Time

	mu    sync.Mutex
	step  string
	shown bool      // a line was written
	last  time.Time // when, off a terminal
	stop  chan struct{}
	done  chan struct{}
}

// startActivity starts showing what (such as "backup") after a second.
func startActivity(w io.Writer, what string) *activity {
	a := &activity{w: w, tty: isTerminal(w), what: what, start: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *activity) run() {
	defer close(a.done)
	select {
	case <-a.stop:
		return
	case <-time.After(time.Second):
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		a.mu.Lock()
		a.showLocked()
		a.mu.Unlock()
		if !a.tty {
			<-a.stop // a log gets a line per step, from Step
			return
		}
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
	}
}

// showLocked writes the current step: in place on a terminal, else as a
// new line.
func (a *activity) showLocked() {
	line := a.what
	if a.step != "" {
		line += ": " + a.step
	}
	if a.tty {
		fmt.Fprintf(a.w, "\r\033[K%s… %.0fs", line, time.Since(a.start).Seconds())
	} else {
		fmt.Fprintf(a.w, "%s…\n", line)
		a.last = time.Now()
	}
	a.shown = true
}

// Step says what the command does now. Off a terminal, a step is
// written once the first second has passed, at most every five seconds.
func (a *activity) Step(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step = s
	if a.shown && !a.tty && time.Since(a.last) >= 5*time.Second {
		a.showLocked()
	}
}

// Done stops showing; on a terminal the line is cleared.
func (a *activity) Done() {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shown && a.tty {
		fmt.Fprint(a.w, "\r\033[K")
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
