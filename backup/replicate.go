package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/benbjohnson/litestream"
	lss3 "github.com/benbjohnson/litestream/s3"

	"github.com/bulwark-ai/bulwark/sqlite"
)

// DefaultSyncInterval is how often a Replicator ships the database's new
// transactions to object storage.
const DefaultSyncInterval = time.Second

// ReplicateOptions describe continuous replication of a data directory's
// database.
type ReplicateOptions struct {
	// DataDir holds the database (bulwark.db, in WAL mode) to replicate.
	DataDir string
	// To is the replica: an s3://bucket/prefix/ no other database
	// replicates to.
	To string
	// S3 says how to reach the object storage.
	S3 S3Config
	// SyncInterval is how often new transactions are shipped (default
	// 1s): with the usage log's flush, about the most a lost machine
	// loses.
	SyncInterval time.Duration
	// Log receives the replication's log (default slog.Default()).
	Log *slog.Logger
}

// Replicator streams every transaction of a SQLite database to object
// storage with Litestream, as it is committed: a snapshot, then the
// write-ahead log's pages, compacted in the background. It reads the
// database through its own connection and does its own checkpoints;
// the server's connections go on as before. Its methods are safe for
// concurrent use; Close stops its goroutines.
type Replicator struct {
	store *litestream.Store
	db    *litestream.DB
}

// Replicate starts replicating o.DataDir's database to o.To. It returns
// once replication has started; the first snapshot is uploaded in the
// background (LastSync tells when a sync last succeeded).
func Replicate(ctx context.Context, o ReplicateOptions) (*Replicator, error) {
	client, err := replicaClient(o.To, o.S3)
	if err != nil {
		return nil, fmt.Errorf("replicate: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	client.SetLogger(o.Log)
	db := litestream.NewDB(filepath.Join(o.DataDir, dbFile))
	db.Logger = o.Log
	db.MonitorInterval = o.SyncInterval
	r := litestream.NewReplicaWithClient(db, client)
	r.SyncInterval = o.SyncInterval
	db.Replica = r
	store := litestream.NewStore([]*litestream.DB{db}, litestream.DefaultCompactionLevels)
	store.Logger = o.Log
	store.CompactionMonitorEnabled = true
	if err := store.Open(ctx); err != nil {
		return nil, fmt.Errorf("replicate to %s: %w", o.To, err)
	}
	return &Replicator{store: store, db: db}, nil
}

// LastSync returns when a sync to the replica last succeeded; zero before
// the first. A sync ships what the database's monitor (every sync
// interval) has found in the write-ahead log: a write is in the replica
// once a sync that ended an interval after it succeeded.
func (r *Replicator) LastSync() time.Time { return r.db.LastSuccessfulSyncAt() }

// Sync ships every transaction committed so far and waits until the
// replica holds it.
func (r *Replicator) Sync(ctx context.Context) error {
	if err := r.db.SyncAndWait(ctx); err != nil {
		return fmt.Errorf("replicate: sync: %w", err)
	}
	return nil
}

// Close ships what is left, within ctx, and stops replicating. Call it
// before the database closes.
func (r *Replicator) Close(ctx context.Context) error {
	if err := r.store.Close(ctx); err != nil {
		return fmt.Errorf("replicate: close: %w", err)
	}
	return nil
}

// errCABundle explains why replication refuses AWS_CA_BUNDLE.
var errCABundle = errors.New("AWS_CA_BUNDLE is set, which Litestream's S3 client (v0.5.18) cannot use: " +
	"trust the CA through SSL_CERT_FILE or the system's store instead and unset AWS_CA_BUNDLE")

// replicaClient returns Litestream's S3 client for the prefix to.
func replicaClient(to string, c S3Config) (*lss3.ReplicaClient, error) {
	loc, err := ParseS3URL(to)
	if err != nil {
		return nil, err
	}
	if os.Getenv("AWS_CA_BUNDLE") != "" {
		return nil, errCABundle
	}
	client := lss3.NewReplicaClient()
	client.Bucket = loc.Bucket
	client.Path = strings.TrimSuffix(loc.Key, "/")
	client.Endpoint = c.Endpoint
	client.Region = c.Region
	client.ForcePathStyle = c.PathStyle
	client.AccessKeyID = c.AccessKeyID
	client.SecretAccessKey = c.SecretAccessKey
	return client, nil
}

// RestoreReplicaOptions describe a restore from a replica.
type RestoreReplicaOptions struct {
	// From is the replica, an s3://bucket/prefix/ a Replicator wrote.
	From string
	// S3 says how to reach the object storage.
	S3 S3Config
	// DataDir, Force and Now are as in RestoreOptions.
	DataDir string
	Force   bool
	Now     func() time.Time
	// At, when not zero, restores the database as it was at that time
	// rather than its latest state.
	At time.Time
	// Log receives the restore's log (default slog.Default()).
	Log *slog.Logger
}

// RestoreReplica rebuilds o.DataDir's database from a replica: restored
// into a staging directory beside it (Litestream checks every page it
// applies), integrity-checked, and renamed into place like Restore. The
// replica holds the database only: usage records not yet in the
// database, and admin.key, are not in it (the admin keys themselves are:
// their hashes are in the database, so their secrets still authenticate).
func RestoreReplica(ctx context.Context, o RestoreReplicaOptions) (*RestoredReplica, error) {
	if o.From == "" || o.DataDir == "" {
		return nil, errors.New("restore: a replica and a data directory are needed")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	client, err := replicaClient(o.From, o.S3)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if o.Log != nil {
		client.SetLogger(o.Log)
	}
	res := &RestoredReplica{}
	res.MovedAside, err = stageAndPlace(dataDir, o.Force, o.Now, func(stage string) error {
		if err := client.Init(ctx); err != nil {
			return fmt.Errorf("%s: %w", o.From, err)
		}
		opt := litestream.NewRestoreOptions()
		opt.OutputPath = filepath.Join(stage, dbFile)
		opt.Timestamp = o.At
		opt.IntegrityCheck = litestream.IntegrityCheckFull
		if err := litestream.NewReplicaWithClient(nil, client).Restore(ctx, opt); err != nil {
			return fmt.Errorf("from %s: %w", o.From, err)
		}
		// Litestream's bookkeeping beside the restored file is not part
		// of a data directory.
		_ = os.Remove(opt.OutputPath + "-txid")
		res.SchemaVersion, err = sqlite.Inspect(ctx, opt.OutputPath)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RestoredReplica is what RestoreReplica did.
type RestoredReplica struct {
	SchemaVersion int
	// MovedAside is where the data directory that was there went, when
	// Force moved one; "" otherwise.
	MovedAside string
}
