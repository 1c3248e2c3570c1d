package drift

import "context"

// BaselineStore keeps each alias's baseline across restarts: at start the
// app loads every stored baseline into the Detector (SetBaseline), and it
// saves each baseline the Detector takes (Options.OnBaseline).
// Implementations are safe for concurrent use; drifttest.Run is their
// conformance suite.
type BaselineStore interface {
	// LoadBaselines returns every stored baseline by alias, with the
	// bucket counts exactly as saved and the times equal to those saved,
	// in UTC. It returns an empty map when there are none.
	LoadBaselines(ctx context.Context) (map[string]Snapshot, error)
	// SaveBaseline stores b as the alias's baseline, replacing the one
	// stored before. An empty alias is an error.
	SaveBaseline(ctx context.Context, alias string, b Snapshot) error
}
