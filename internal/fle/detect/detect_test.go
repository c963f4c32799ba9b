package detect

import (
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		kinds []Kind
		want  []string // "kind:text"
	}{
		{"visa plain", "card 4111111111111111 ok", []Kind{Card}, []string{"card:4111111111111111"}},
		{"visa grouped", "pay 4111 1111 1111 1111.", []Kind{Card}, []string{"card:4111 1111 1111 1111"}},
		{"amex dashed", "x 3782-822463-10005 y", []Kind{Card}, []string{"card:3782-822463-10005"}},
		{"luhn failure left alone", "4111111111111112", []Kind{Card}, nil},
		{"too short", "411111111111", []Kind{Card}, nil},
		{"glued to letters", "id4111111111111111", []Kind{Card}, nil},
		{"repeated zeros", "0000000000000000", []Kind{Card}, nil},
		{"ssn", "ssn 123-45-6789.", []Kind{SSN}, []string{"ssn:123-45-6789"}},
		{"ssn spaces", "123 45 6789", []Kind{SSN}, []string{"ssn:123 45 6789"}},
		{"ssn mixed separators", "123-45 6789", []Kind{SSN}, nil},
		{"ssn area 000", "000-12-3456", []Kind{SSN}, nil},
		{"ssn area 666", "666-12-3456", []Kind{SSN}, nil},
		{"ssn area 9xx", "912-12-3456", []Kind{SSN}, nil},
		{"ssn group 00", "123-00-4567", []Kind{SSN}, nil},
		{"ssn serial 0000", "123-45-0000", []Kind{SSN}, nil},
		{"ssn undelimited ignored", "123456789", []Kind{SSN}, nil},
		{"ssn glued", "1123-45-6789", []Kind{SSN}, nil},
		{"email", "mail alejandro.rosalez@example.com now", []Kind{Email}, []string{"email:alejandro.rosalez@example.com"}},
		{"email trailing dot", "to a+b@mail.example.org.", []Kind{Email}, []string{"email:a+b@mail.example.org"}},
		{"email no tld", "root@localhost", []Kind{Email}, nil},
		{"email numeric tld", "a@b.12", []Kind{Email}, nil},
		{"email lone at", "@example.com and a@", []Kind{Email}, nil},
		{"phone us", "call (555) 123-4567 now", []Kind{Phone}, []string{"phone:(555) 123-4567"}},
		{"phone dashed", "555-123-4567", []Kind{Phone}, []string{"phone:555-123-4567"}},
		{"phone e164", "+14155552671", []Kind{Phone}, []string{"phone:+14155552671"}},
		{"phone intl spaced", "+44 20 7946 0958", []Kind{Phone}, []string{"phone:+44 20 7946 0958"}},
		{"phone bare digits ignored", "order 4155552671", []Kind{Phone}, nil},
		{"phone too short", "555-1234", []Kind{Phone}, nil},
		{"card beats phone", "4111-1111-1111-1111", AllKinds(), []string{"card:4111-1111-1111-1111"}},
		{"mixed", "a@b.io 123-45-6789 +15551234567", AllKinds(), []string{"email:a@b.io", "ssn:123-45-6789", "phone:+15551234567"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, m := range Find(tc.in, tc.kinds...) {
				got = append(got, string(m.Kind)+":"+tc.in[m.Start:m.End])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("Find(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseKinds(t *testing.T) {
	t.Parallel()
	if _, err := ParseKinds([]string{"card", "iban"}); err == nil {
		t.Fatal("unknown detector accepted")
	}
	ks, err := ParseKinds([]string{"ssn", "email"})
	if err != nil || len(ks) != 2 {
		t.Fatalf("ParseKinds = %v, %v", ks, err)
	}
}

func FuzzFind(f *testing.F) {
	f.Add("4111 1111 1111 1111 a@b.io (555) 123-4567 123-45-6789")
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, m := range Find(s, AllKinds()...) {
			if m.Start < last || m.End <= m.Start || m.End > len(s) {
				t.Fatalf("bad match %+v in %q", m, s)
			}
			last = m.End
		}
	})
}
