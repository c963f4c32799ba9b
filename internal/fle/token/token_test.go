package token

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	xKey     hpke.PrivateKey
	pqKey    hpke.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, hpke.PrivateKey, hpke.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if xKey, err = hpke.DHKEM(ecdh.X25519()).GenerateKey(); err != nil {
			panic(err)
		}
		if pqKey, err = hpke.MLKEM768X25519().GenerateKey(); err != nil {
			panic(err)
		}
	})
	return rsaKey, xKey, pqKey
}

func TestMarkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, id       string
		f              Format
		prefix, suffix string
	}{
		{"seed rsa", "01", FormatRSA, "#01#", "#10#"},
		{"hpke", "01", FormatHPKE, "#01:h1#", "#1h:10#"},
		{"long id", "pii-2025", FormatRSA, "#pii-2025#", "#5202-iip#"},
	}
	for _, tc := range tests {
		if got := Prefix(tc.id, tc.f); got != tc.prefix {
			t.Errorf("%s: Prefix = %q, want %q", tc.name, got, tc.prefix)
		}
		if got := Suffix(tc.id, tc.f); got != tc.suffix {
			t.Errorf("%s: Suffix = %q, want %q", tc.name, got, tc.suffix)
		}
	}
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // token texts
	}{
		{"empty", "", nil},
		{"seed token in json", `{"a":"#01#QUJD#10#","b":1}`, []string{"#01#QUJD#10#"}},
		{"two formats", `x #01#QUJD#10# y #02:h1#QUJD#1h:20# z`, []string{"#01#QUJD#10#", "#02:h1#QUJD#1h:20#"}},
		{"padding", "#01#QQ==#10#", []string{"#01#QQ==#10#"}},
		{"lone prefix", "#01# and nothing", nil},
		{"newline inside", "#01#QU\nJD#10#", nil},
		{"wrong suffix", "#01#QUJD#01#", nil},
		{"empty body", "#01##10#", nil},
		{"prefix then real token", "#01# #01#QUJD#10#", []string{"#01#QUJD#10#"}},
		{"hash noise", "###01#QUJD#10####", []string{"#01#QUJD#10#"}},
		{"adjacent", "#01#QQ==#10##01#Qg==#10#", []string{"#01#QQ==#10#", "#01#Qg==#10#"}},
		{"unknown tag", "#01:h9#QUJD#9h:10#", nil},
		{"id too long", "#" + strings.Repeat("a", 17) + "#QUJD#" + strings.Repeat("a", 17) + "#", nil},
		{"truncated", "#01#QUJD#1", nil},
		{"lone hash at end", "abc#", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, sp := range Scan(tc.in) {
				got = append(got, tc.in[sp.Start:sp.End])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("Scan(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tok, err := Parse("#01#QUJD#10#")
	if err != nil || tok.KeyID != "01" || tok.Format != FormatRSA || string(tok.Payload) != "ABC" {
		t.Fatalf("Parse = %+v, %v", tok, err)
	}
	for _, bad := range []string{"", "#01#QUJD#10# ", "#01#QUJ#10#", "x#01#QUJD#10#"} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rk, xk, pk := testKeys(t)
	keys := LocalKeys{
		RSA:  map[string]*rsa.PrivateKey{"01": rk},
		HPKE: map[string]hpke.PrivateKey{"02": xk, "03": pk},
	}
	re, _ := NewRSAEncrypter("01", &rk.PublicKey, nil)
	xe, _ := NewHPKEEncrypter("02", xk.PublicKey(), nil)
	pe, _ := NewHPKEEncrypter("03", pk.PublicKey(), hpke.ChaCha20Poly1305())
	big := strings.Repeat("x", 10000)
	tests := []struct {
		name string
		enc  Encrypter
		pt   string
	}{
		{"rsa", re, "Alejandro"},
		{"rsa empty", re, ""},
		{"rsa max", re, strings.Repeat("y", 190)},
		{"hpke x25519", xe, "123-45-6789"},
		{"hpke hybrid", pe, "alejandro@example.com"},
		{"hpke large", xe, big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := tc.enc.Encrypt([]byte(tc.pt), "$[0].fname")
			if err != nil {
				t.Fatal(err)
			}
			sp := Scan("<" + s + ">")
			if len(sp) != 1 || sp[0].Start != 1 || sp[0].End != len(s)+1 {
				t.Fatalf("Scan did not find exactly the token: %+v", sp)
			}
			tok, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := keys.Decrypt(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Plaintext) != tc.pt {
				t.Fatalf("round trip = %q", got.Plaintext)
			}
			if tc.enc.Format() == FormatHPKE && got.Path != "$[0].fname" {
				t.Fatalf("bound path = %q", got.Path)
			}
		})
	}
}

func TestRSATooLarge(t *testing.T) {
	t.Parallel()
	rk, _, _ := testKeys(t)
	re, _ := NewRSAEncrypter("01", &rk.PublicKey, nil)
	if re.MaxPlaintext() != 190 {
		t.Fatalf("MaxPlaintext = %d, want 190 for RSA-2048", re.MaxPlaintext())
	}
	_, err := re.Encrypt(make([]byte, 191), "")
	var tl *PlaintextTooLargeError
	if !errors.As(err, &tl) || tl.Len != 191 || tl.Max != 190 {
		t.Fatalf("err = %v, want PlaintextTooLargeError", err)
	}
}

// TestHPKEBinding proves that the path and key id are authenticated: any
// change to the bound header, or opening under another marker id, fails.
func TestHPKEBinding(t *testing.T) {
	t.Parallel()
	_, xk, _ := testKeys(t)
	xe, _ := NewHPKEEncrypter("02", xk.PublicKey(), nil)
	s, _ := xe.Encrypt([]byte("123-45-6789"), "$[0].ssn")
	tok, _ := Parse(s)
	env, _ := ParseHPKEEnvelope(tok.Payload)

	moved := append([]byte(nil), tok.Payload...)
	copy(moved[9:], "$[0].dob") // same length as "$[0].ssn"
	if env.Path != "$[0].ssn" {
		t.Fatalf("env.Path = %q", env.Path)
	}
	tests := []struct {
		name    string
		keyID   string
		payload []byte
	}{
		{"path rewritten", "02", moved},
		{"other key id", "12", tok.Payload},
	}
	for _, tc := range tests {
		if _, err := OpenHPKE(xk, tc.keyID, tc.payload); err == nil {
			t.Errorf("%s: open succeeded", tc.name)
		}
	}
	if _, err := OpenHPKE(xk, "02", tok.Payload); err != nil {
		t.Fatalf("control open: %v", err)
	}
}

func TestFuncsAdapter(t *testing.T) {
	t.Parallel()
	_, xk, _ := testKeys(t)
	xe, _ := NewHPKEEncrypter("02", xk.PublicKey(), nil)
	s, _ := xe.Encrypt([]byte("v"), "p")
	tok, _ := Parse(s)
	f := Funcs{HPKE: func(_ context.Context, id string, env HPKEEnvelope, info []byte) ([]byte, error) {
		kdf, _ := hpke.NewKDF(env.KDF)
		aead, _ := hpke.NewAEAD(env.AEAD)
		return hpke.Open(xk, kdf, aead, info, env.Sealed)
	}}
	got, err := f.Decrypt(context.Background(), tok)
	if err != nil || string(got.Plaintext) != "v" || got.Path != "p" {
		t.Fatalf("Funcs.Decrypt = %+v, %v", got, err)
	}
	if _, err := (Funcs{}).Decrypt(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("nil func err = %v", err)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{"#01#QUJD#10#", "#01#", "#01:h1#QQ==#1h:10#", "##", "#01#QU\nJD#10#", "a#b#c#d#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, sp := range Scan(s) {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(s) {
				t.Fatalf("bad span %+v (last %d, len %d)", sp, last, len(s))
			}
			txt := s[sp.Start:sp.End]
			if !strings.HasPrefix(txt, Prefix(sp.KeyID, sp.Format)) || !strings.HasSuffix(txt, Suffix(sp.KeyID, sp.Format)) {
				t.Fatalf("span %q lacks its markers", txt)
			}
			if tok, err := sp.Token(s); err == nil && tok.String() != txt {
				// Non-canonical base64 may decode; it must not re-encode differently
				// unless it was non-canonical to begin with.
				if _, err2 := Parse(tok.String()); err2 != nil {
					t.Fatalf("re-encoded token does not parse: %v", err2)
				}
			}
			last = sp.End
		}
	})
}
