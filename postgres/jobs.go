package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/webhook"
)

var _ job.Store = (*DB)(nil)

// finalJobStatuses is the SQL list of the statuses of jobs ended.
const finalJobStatuses = "('completed', 'incomplete', 'failed', 'cancelled')"

// CreateJob implements job.Store.
func (db *DB) CreateJob(ctx context.Context, j job.Job) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	data, err := job.Encode(j)
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	_, err = db.pool.Exec(ctx, "INSERT INTO jobs (id, tenant_id, status, job, expires_at) VALUES ($1, $2, $3, $4, $5)",
		j.ID, j.TenantID, string(j.Status), string(data), j.ExpiresAt)
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("job %s: %w", j.ID, job.ErrConflict)
	}
	if err != nil {
		return opError("create job", err)
	}
	return nil
}

// LoadJob implements job.Store.
func (db *DB) LoadJob(ctx context.Context, tenantID, id string) (job.Job, error) {
	if err := db.open(ctx); err != nil {
		return job.Job{}, err
	}
	var data string
	err := db.pool.QueryRow(ctx, "SELECT job::text FROM jobs WHERE id = $1 AND tenant_id = $2", id, tenantID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Job{}, fmt.Errorf("read job %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return job.Job{}, opError("read job", err)
	}
	j, err := job.Decode([]byte(data))
	if err != nil {
		return j, fmt.Errorf("decode job %s: %w", id, err)
	}
	return j, nil
}

// ClaimJobs implements job.Store. Leases run by the database's clock;
// replicas claiming at once take different jobs (SKIP LOCKED).
func (db *DB) ClaimJobs(ctx context.Context, owner string, ttl time.Duration, limit int) ([]job.Job, error) {
	if err := db.open(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `UPDATE jobs SET status = 'in_progress', lease_owner = $1,
		lease_until = clock_timestamp() + $2 * interval '1 microsecond',
		job = job || jsonb_build_object('status', 'in_progress', 'attempts', coalesce((job->>'attempts')::int, 0) + 1,
			'started_at', coalesce(job->'started_at', to_jsonb($3::text)))
		WHERE id IN (SELECT id FROM jobs WHERE status IN ('queued', 'in_progress') AND lease_until < clock_timestamp()
			ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING job::text`, owner, ttl.Microseconds(), time.Now().UTC().Format(time.RFC3339Nano), limit)
	if err != nil {
		return nil, opError("claim jobs", err)
	}
	defer rows.Close()
	var out []job.Job
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, opError("claim jobs", err)
		}
		j, err := job.Decode([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("claim jobs", err)
	}
	return out, nil
}

// RenewJob implements job.Store.
func (db *DB) RenewJob(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE jobs SET lease_until = clock_timestamp() + $3 * interval '1 microsecond'
		WHERE id = $1 AND lease_owner = $2 AND status NOT IN `+finalJobStatuses, id, owner, ttl.Microseconds())
	if err != nil {
		return false, opError("renew job lease", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ReleaseJobs implements job.Store.
func (db *DB) ReleaseJobs(ctx context.Context, owner string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, "UPDATE jobs SET lease_owner = '', lease_until = '-infinity' WHERE lease_owner = $1", owner); err != nil {
		return opError("release job leases", err)
	}
	return nil
}

// FinishJob implements job.Store.
func (db *DB) FinishJob(ctx context.Context, j job.Job, ev webhook.Event) (bool, error) {
	if err := db.open(ctx); err != nil {
		return false, err
	}
	data, err := job.Encode(j)
	if err != nil {
		return false, fmt.Errorf("end job: %w", err)
	}
	var n int64
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE jobs SET status = $1, job = $2, lease_owner = '', lease_until = '-infinity'
			WHERE id = $3 AND tenant_id = $4 AND status NOT IN `+finalJobStatuses, string(j.Status), string(data), j.ID, j.TenantID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return putEvent(ctx, tx, ev)
	})
	if err != nil {
		return false, opError("end job", err)
	}
	return n > 0, nil
}

// DeleteJob implements job.Store.
func (db *DB) DeleteJob(ctx context.Context, tenantID, id string) error {
	if err := db.open(ctx); err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM jobs WHERE id = $1 AND tenant_id = $2", id, tenantID)
	if err != nil {
		return opError("delete job", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete job %s: %w", id, job.ErrNotFound)
	}
	return nil
}

// PurgeJobs implements job.Store.
func (db *DB) PurgeJobs(ctx context.Context, now time.Time) (int, error) {
	if err := db.open(ctx); err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM jobs WHERE expires_at < $1", now)
	if err != nil {
		return 0, opError("purge jobs", err)
	}
	return int(tag.RowsAffected()), nil
}
