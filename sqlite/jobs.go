package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/webhook"
)

var _ job.Store = (*DB)(nil)

// finalJobStatuses is the SQL list of the statuses of jobs ended.
const finalJobStatuses = "('completed', 'incomplete', 'failed', 'cancelled')"

// CreateJob implements job.Store.
func (db *DB) CreateJob(ctx context.Context, j job.Job) error {
	data, err := job.Encode(j)
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	_, err = db.db.ExecContext(ctx, "INSERT INTO jobs (id, tenant_id, status, job, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?, ?)",
		j.ID, j.TenantID, string(j.Status), string(data), j.CreatedAt.UnixNano(), j.ExpiresAt.UnixNano())
	if isUnique(err) {
		return fmt.Errorf("job %s: %w", j.ID, job.ErrConflict)
	}
	if err != nil {
		return opError("create job", err)
	}
	return nil
}

// LoadJob implements job.Store.
func (db *DB) LoadJob(ctx context.Context, tenantID, id string) (job.Job, error) {
	var data string
	err := db.db.QueryRowContext(ctx, "SELECT job FROM jobs WHERE id = ? AND tenant_id = ?", id, tenantID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
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

// ClaimJobs implements job.Store.
func (db *DB) ClaimJobs(ctx context.Context, owner string, ttl time.Duration, limit int) ([]job.Job, error) {
	now := time.Now()
	rows, err := db.db.QueryContext(ctx, `UPDATE jobs SET status = 'in_progress', lease_owner = ?, lease_until_ns = ?,
		job = json_set(job, '$.status', 'in_progress', '$.attempts', coalesce(json_extract(job, '$.attempts'), 0) + 1,
			'$.started_at', coalesce(json_extract(job, '$.started_at'), ?))
		WHERE id IN (SELECT id FROM jobs WHERE status IN ('queued', 'in_progress') AND lease_until_ns < ?
			ORDER BY created_ns LIMIT ?)
		RETURNING job`, owner, now.Add(ttl).UnixNano(), now.UTC().Format(time.RFC3339Nano), now.UnixNano(), limit)
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
	res, err := db.db.ExecContext(ctx, `UPDATE jobs SET lease_until_ns = ?
		WHERE id = ? AND lease_owner = ? AND status NOT IN `+finalJobStatuses, time.Now().Add(ttl).UnixNano(), id, owner)
	if err != nil {
		return false, opError("renew job lease", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ReleaseJobs implements job.Store.
func (db *DB) ReleaseJobs(ctx context.Context, owner string) error {
	if _, err := db.db.ExecContext(ctx, "UPDATE jobs SET lease_owner = '', lease_until_ns = 0 WHERE lease_owner = ?", owner); err != nil {
		return opError("release job leases", err)
	}
	return nil
}

// FinishJob implements job.Store.
func (db *DB) FinishJob(ctx context.Context, j job.Job, ev webhook.Event) (bool, error) {
	data, err := job.Encode(j)
	if err != nil {
		return false, fmt.Errorf("end job: %w", err)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return false, opError("end job", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, job = ?, lease_owner = '', lease_until_ns = 0
		WHERE id = ? AND tenant_id = ? AND status NOT IN `+finalJobStatuses, string(j.Status), string(data), j.ID, j.TenantID)
	if err != nil {
		return false, opError("end job", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := putEvent(ctx, tx, ev); err != nil {
		return false, opError("record job event", err)
	}
	if err := tx.Commit(); err != nil {
		return false, opError("end job", err)
	}
	return true, nil
}

// DeleteJob implements job.Store.
func (db *DB) DeleteJob(ctx context.Context, tenantID, id string) error {
	res, err := db.db.ExecContext(ctx, "DELETE FROM jobs WHERE id = ? AND tenant_id = ?", id, tenantID)
	if err != nil {
		return opError("delete job", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete job %s: %w", id, job.ErrNotFound)
	}
	return nil
}

// PurgeJobs implements job.Store.
func (db *DB) PurgeJobs(ctx context.Context, now time.Time) (int, error) {
	res, err := db.db.ExecContext(ctx, "DELETE FROM jobs WHERE expires_ns < ?", now.UnixNano())
	if err != nil {
		return 0, opError("purge jobs", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
