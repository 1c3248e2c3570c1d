package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// kbProgress reports an ingestion's progress on stderr: a progress bar
// when stderr is a terminal, else a line per step. It is safe for
// concurrent use.
type kbProgress struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar // nil when w is not a terminal
	tty bool
}

func newKBProgress(w io.Writer) *kbProgress {
	return &kbProgress{w: w, tty: isTerminal(w)}
}

// phase starts counting total steps under desc.
func (p *kbProgress) phase(desc string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d\n", desc, total)
		return
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
}

// step counts n steps; line says what happened, for a log that is not a
// terminal.
func (p *kbProgress) step(n int, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if !p.tty && line != "" {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the phase.
func (p *kbProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *kbProgress) finishLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
