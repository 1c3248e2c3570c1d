package upstream

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestNewTransport(t *testing.T) {
	for _, c := range []struct {
		connect, want time.Duration
		h2c           bool
	}{
		{0, DefaultConnectTimeout, false},
		{-time.Second, DefaultConnectTimeout, false},
		{3 * time.Second, 3 * time.Second, true},
	} {
		tr := NewTransport(c.connect, c.h2c)
		if tr.TLSHandshakeTimeout != c.want || tr.ResponseHeaderTimeout != 0 || !tr.ForceAttemptHTTP2 ||
			tr.MaxIdleConnsPerHost != 256 || tr.MaxIdleConns != 1024 {
			t.Errorf("NewTransport(%s, %v): %+v", c.connect, c.h2c, tr)
		}
		if h2c := tr.Protocols != nil && tr.Protocols.UnencryptedHTTP2(); h2c != c.h2c {
			t.Errorf("NewTransport(%s, %v): unencrypted HTTP/2 %v", c.connect, c.h2c, h2c)
		}
	}
}

type wrapped struct{ http.RoundTripper }

func TestNewClient(t *testing.T) {
	hc := NewClient(0, false, nil)
	if _, ok := hc.Transport.(*http.Transport); !ok || hc.CheckRedirect == nil {
		t.Errorf("transport %T, redirect policy set %v", hc.Transport, hc.CheckRedirect != nil)
	}
	hc = NewClient(0, false, func(rt http.RoundTripper) http.RoundTripper { return wrapped{rt} })
	if w, ok := hc.Transport.(wrapped); !ok {
		t.Errorf("transport %T, not wrapped", hc.Transport)
	} else if _, ok := w.RoundTripper.(*http.Transport); !ok {
		t.Errorf("wrapped %T", w.RoundTripper)
	}
}

func TestSameHostRedirect(t *testing.T) {
	req := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	first := req("https://api.example/v1/a")
	for _, c := range []struct {
		name   string
		to     string
		via    int
		follow bool
	}{
		{"same host", "https://api.example/v1/b", 1, true},
		{"same host, third redirect", "https://api.example/v1/b", 2, true},
		{"same host, fourth redirect", "https://api.example/v1/b", 3, false},
		{"other host", "https://evil.example/v1/b", 1, false},
		{"other port", "https://api.example:8443/v1/b", 1, false},
	} {
		via := []*http.Request{first}
		for len(via) < c.via {
			via = append(via, req("https://api.example/v1/hop"))
		}
		err := SameHostRedirect(req(c.to), via)
		if follow := err == nil; follow != c.follow {
			t.Errorf("%s: follow %v, want %v (%v)", c.name, follow, c.follow, err)
		}
		if err != nil && err != http.ErrUseLastResponse {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestSetAccept(t *testing.T) {
	h := http.Header{}
	SetAccept(h, false)
	if h.Get("Accept") != "application/json" || h.Get("Accept-Encoding") != "" || h.Get("Cache-Control") != "" {
		t.Errorf("not stream: %v", h)
	}
	h = http.Header{}
	SetAccept(h, true)
	if h.Get("Accept") != "text/event-stream" || h.Get("Accept-Encoding") != "identity" || h.Get("Cache-Control") != "no-cache" {
		t.Errorf("stream: %v", h)
	}
}
