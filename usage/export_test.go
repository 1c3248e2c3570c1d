package usage

// Crash leaves w's log as a process killed with SIGKILL would: its open
// segment as the last write left it, unsealed and unsynced beyond what
// Add synced. The test then stops w's goroutine with Close against a
// ledger that refuses everything, which writes nothing more to the log.
func Crash(w *Writer) {
	w.log.mu.Lock()
	defer w.log.mu.Unlock()
	if w.log.f != nil {
		_ = w.log.f.Close() // a killed process's descriptors are closed by the kernel
		w.log.f = nil
	}
}

// BuiltinPrices are the built-in list prices, for tests.
var BuiltinPrices = builtinPrices
