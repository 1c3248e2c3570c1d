package tenant_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tenant/tenanttest"
)

func BenchmarkAuthenticate(b *testing.B) {
	ctx := b.Context()
	s := tenanttest.NewMemory()
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		b.Fatal(err)
	}
	var secret string
	// A realistic set: many keys, one of which is used.
	for i := range 10000 {
		sec, prefix, hash, _ := tenant.NewSecret()
		k := tenant.Key{ID: tenant.NewID("key"), TenantID: "a", Prefix: prefix, Hash: hash}
		if i%2 == 0 {
			k.Models = []string{"sim-chat"}
		}
		if err := s.CreateKey(ctx, k); err != nil {
			b.Fatal(err)
		}
		secret = sec
	}
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		b.Fatal(err)
	}
	unknown, _, _, _ := tenant.NewSecret()

	b.Run("known", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.Authenticate(secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.Authenticate(unknown); err == nil {
				b.Fatal("unknown key authenticated")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := kr.Authenticate(secret); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestKeyringRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := tenanttest.NewMemory()
		if err := s.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		kr := tenant.NewKeyring(s)
		done := make(chan struct{})
		go func() {
			kr.Run(ctx, time.Minute)
			close(done)
		}()

		secret, prefix, hash, _ := tenant.NewSecret()
		if err := s.CreateKey(ctx, tenant.Key{ID: "key_1", TenantID: "a", Prefix: prefix, Hash: hash}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if _, err := kr.Authenticate(secret); !errors.Is(err, tenant.ErrUnknownKey) {
			t.Errorf("before the first refresh: %v; want ErrUnknownKey", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, err := kr.Authenticate(secret); err != nil {
			t.Errorf("after a refresh: %v", err)
		}

		cancel()
		<-done // Run returns when its context is done.
	})
}

func FuzzAuthenticate(f *testing.F) {
	s := tenanttest.NewMemory()
	ctx := context.Background()
	if err := s.CreateTenant(ctx, tenant.Tenant{ID: "a"}); err != nil {
		f.Fatal(err)
	}
	secret, prefix, hash, _ := tenant.NewSecret()
	if err := s.CreateKey(ctx, tenant.Key{ID: "key_1", TenantID: "a", Prefix: prefix, Hash: hash}); err != nil {
		f.Fatal(err)
	}
	kr := tenant.NewKeyring(s)
	if err := kr.Reload(ctx); err != nil {
		f.Fatal(err)
	}
	f.Add(secret)
	f.Add("")
	f.Add("bk-")
	f.Add(hash)
	f.Add(secret + "\x00")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := kr.Authenticate(s)
		if (err == nil) != (s == secret) {
			t.Fatalf("Authenticate(%q) = %+v, %v", s, p, err)
		}
	})
}
