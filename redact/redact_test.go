package redact

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Nothing to mask.
		{"", ""},
		{"hello world", "hello world"},
		{"in 2024 we sold 1234567 units", "in 2024 we sold 1234567 units"},
		{"from 2019-2024, on 2024-01-15", "from 2019-2024, on 2024-01-15"},
		{"pi is 3.14159265358979", "pi is 3.14159265358979"},
		{"server 192.168.100.200 is up", "server 192.168.100.200 is up"},
		{"version 1.22.3", "version 1.22.3"},
		{"the task-abcdefghijklmnopqrstuvwxyz ran", "the task-abcdefghijklmnopqrstuvwxyz ran"},

		// E-mail.
		{"mail jane.doe+work@example.co.uk now", "mail [email] now"},
		{"a@b.io,c@d.org", "[email],[email]"},

		// Phone numbers.
		{"call +1 (555) 123-4567 today", "call [phone] today"},
		{"call (555) 123-4567", "call [phone]"},
		{"call 555-123-4567", "call [phone]"},
		{"appelez le 01.23.45.67.89", "appelez le [phone]"},
		{"ring +44 20 7946 0958", "ring [phone]"},
		{"ring 0612345678.", "ring [phone]."},

		// Cards: Luhn decides.
		{"card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27"},
		{"card 4111-1111-1111-1111", "card [card]"},
		{"amex 378282246310005", "amex [card]"},
		{"4111 1111 1111 1111 2024", "[card] 2024"},
		{"not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"},

		// IBANs: the checksum decides.
		{"IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please"},
		{"pay to GB82WEST12345698765432.", "pay to [iban]."},
		{"DE89 3704 0044 0532 0130 00 IBAN", "[iban] IBAN"},
		{"not an iban DE00 3704 0044 0532 0130 00", "not an iban DE00 3704 0044 0532 0130 00"},

		// Secrets.
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc_DEF-123", "Authorization: Bearer [secret]"},
		{"key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234 leaked", "key [secret] leaked"},
		{"OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx", "OPENAI_API_KEY=[secret]"},
		{"bulwark key bk-0123456789abcdefghijABCDEFGHIJ_-xyz", "bulwark key [secret]"},
		{"stripe sk_live_0123456789abcdefABCDEF", "stripe [secret]"},
		{"token ghp_0123456789abcdefghijABCDEFGHIJ", "token [secret]"},
		{"aws AKIAIOSFODNN7EXAMPLE and more", "aws [aws_key] and more"},

		// Several kinds at once.
		{"jo@x.io, +33 6 12 34 56 78, 4242424242424242", "[email], [phone], [card]"},
		// Non-ASCII text around findings is kept.
		{"écrivez à zoe@example.fr — merci", "écrivez à [email] — merci"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestFindReportsKindsAndSpans(t *testing.T) {
	s := "x a@b.io y 4111111111111111 z"
	ms := Find(s)
	if len(ms) != 2 {
		t.Fatalf("Find = %+v", ms)
	}
	if ms[0].Kind != Email || s[ms[0].Start:ms[0].End] != "a@b.io" {
		t.Errorf("first = %+v", ms[0])
	}
	if ms[1].Kind != Card || s[ms[1].Start:ms[1].End] != "4111111111111111" {
		t.Errorf("second = %+v", ms[1])
	}
}

func TestValidIBAN(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"DE89370400440532013000", true},
		{"GB82 WEST 1234 5698 7654 32", true},
		{"FR1420041010050500013M02606", true},
		{"DE89370400440532013001", false},
		{"DE8937040044", false}, // too short
	} {
		if got := validIBAN(tc.s); got != tc.ok {
			t.Errorf("validIBAN(%q) = %v", tc.s, got)
		}
	}
}

// FuzzString checks the invariants on any input: no panic, valid UTF-8
// stays valid, nothing detectable is left, and masking twice changes
// nothing more.
func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", "call +1 (555) 123-4567", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
		"Bearer abcdefghijkl", "sk-abcdefghijklmnopqrstuvwxyz", "AKIAIOSFODNN7EXAMPLE", "a@b.co",
		"+33 6 12 34 56 78 4242424242424242 x@y.z", "((((1234567890))))", "1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q is not valid UTF-8", s, out)
		}
		if ms := Find(out); len(ms) != 0 {
			t.Fatalf("String(%q) = %q still holds %+v", s, out, ms)
		}
		if again := String(out); again != out {
			t.Fatalf("String is not idempotent: %q → %q → %q", s, out, again)
		}
		for _, m := range Find(s) {
			if m.Start < 0 || m.End > len(s) || m.Start >= m.End {
				t.Fatalf("bad span %+v in %q", m, s)
			}
		}
		if len(out) > len(s)+len(s)*len("[aws_key]") {
			t.Fatalf("output grew without bound: %d → %d", len(s), len(out))
		}
	})
}
