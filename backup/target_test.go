package backup_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/backup/s3test"
)

// targetCase is one kind of target for the same checks: its location,
// the client it needs, and how to list and add names in it directly.
type targetCase struct {
	to    string
	s3    *backup.S3
	names func(t *testing.T) []string
	put   func(t *testing.T, name string)
}

func targets(t *testing.T) map[string]func(t *testing.T) targetCase {
	return map[string]func(t *testing.T) targetCase{
		"dir": func(t *testing.T) targetCase {
			dir := filepath.Join(t.TempDir(), "backups")
			return targetCase{to: dir,
				names: func(t *testing.T) []string {
					ents, err := os.ReadDir(dir)
					if err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, e := range ents {
						out = append(out, e.Name())
					}
					return out
				},
				put: func(t *testing.T, name string) {
					if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
						t.Fatal(err)
					}
				}}
		},
		"s3": func(t *testing.T) targetCase {
			srv := s3test.Start(t)
			return targetCase{to: srv.URL("bulwark/prod"), s3: newS3(t, srv),
				names: func(t *testing.T) []string {
					var out []string
					for _, k := range srv.Keys(t, "bulwark/prod/") {
						out = append(out, k[len("bulwark/prod/"):])
					}
					return out
				},
				put: func(t *testing.T, name string) {
					if _, err := srv.Client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket),
						Key: aws.String("bulwark/prod/" + name), Body: nil}); err != nil {
						t.Fatal(err)
					}
				}}
		},
	}
}

// TestTargetBackupListPrune runs one scenario against a directory and an
// S3 prefix: four backups at known times, files of other names beside
// them, then Prune keeps the newest two and touches nothing else.
func TestTargetBackupListPrune(t *testing.T) {
	for name, mk := range targets(t) {
		t.Run(name, func(t *testing.T) {
			tc := mk(t)
			target, err := backup.NewTarget(tc.to, tc.s3)
			if err != nil {
				t.Fatal(err)
			}
			if all, err := target.List(t.Context()); err != nil || len(all) != 0 {
				t.Fatalf("List of a new target: %v, %v", all, err)
			}
			data := s3DataDir(t, false)
			base := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
			var made []backup.Archive
			for i := range 4 {
				now := base.Add(time.Duration(i) * 6 * time.Hour)
				a, m, err := target.Backup(t.Context(), backup.Options{DataDir: data, TempDir: t.TempDir(), Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				if !a.Created.Equal(now) || !m.Created.Equal(now) || a.Name != backup.ArchiveName(now) {
					t.Fatalf("backup %d: %+v, manifest made %v", i, a, m.Created)
				}
				made = append(made, a)
			}
			tc.put(t, "notes.txt")
			tc.put(t, "bulwark-not-a-time.tar.gz")
			all, err := target.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(all, made) {
				t.Fatalf("List = %v, want %v", all, made)
			}

			removed, err := target.Prune(t.Context(), 2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(removed, made[:2]) {
				t.Errorf("Prune removed %v, want %v", removed, made[:2])
			}
			want := []string{"bulwark-not-a-time.tar.gz", made[2].Name, made[3].Name, "notes.txt"}
			got := tc.names(t)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("left %v, want %v", got, want)
			}
			if removed, err := target.Prune(t.Context(), 2); err != nil || len(removed) != 0 {
				t.Errorf("a second Prune: %v, %v", removed, err)
			}
			// The newest archive is whole and restorable from the target.
			restored := filepath.Join(t.TempDir(), "data")
			if _, err := backup.Restore(t.Context(), backup.RestoreOptions{Archive: made[3].Location, S3: tc.s3, DataDir: restored}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewTargetRefuses(t *testing.T) {
	for _, c := range []struct {
		to string
		s3 *backup.S3
	}{{"", nil}, {"s3://bucket/p/", nil}, {"s3:///p/", nil}} {
		if _, err := backup.NewTarget(c.to, c.s3); err == nil {
			t.Errorf("NewTarget(%q) succeeded", c.to)
		}
	}
}

func TestArchiveNamesSortByTime(t *testing.T) {
	a := backup.ArchiveName(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	if a != "bulwark-20260102T030405.006Z.tar.gz" {
		t.Errorf("ArchiveName = %q", a)
	}
	b := backup.ArchiveName(time.Date(2026, 1, 2, 3, 4, 5, 7e6, time.FixedZone("x", 3600)))
	if b >= a {
		t.Errorf("%q sorts after %q but was made an hour before", b, a)
	}
}
