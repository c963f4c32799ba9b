package secrets

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRandomPasswordProperties draws many random parameter sets and checks
// the promises: exact length, only allowed characters, nothing excluded,
// and every required class present.
func TestRandomPasswordProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := rand.New(rand.NewPCG(1, 2))
	classes := []string{lowerChars, upperChars, digitChars, punctChars}
	allChars := lowerChars + upperChars + digitChars + punctChars + " "
	generated := 0
	for i := 0; i < 3000; i++ {
		n := int64(1 + r.IntN(80))
		if r.IntN(20) == 0 {
			n = int64(1 + r.IntN(4096))
		}
		in := PasswordInput{
			Length:             &n,
			ExcludeNumbers:     r.IntN(4) == 0,
			ExcludePunctuation: r.IntN(4) == 0,
			ExcludeUppercase:   r.IntN(4) == 0,
			ExcludeLowercase:   r.IntN(4) == 0,
			IncludeSpace:       r.IntN(3) == 0,
		}
		req := r.IntN(3) != 0
		in.RequireEachIncludedType = &req
		for j := r.IntN(30); j > 0; j-- {
			in.ExcludeCharacters += string(allChars[r.IntN(len(allChars))])
		}
		excluded := []bool{in.ExcludeLowercase, in.ExcludeUppercase, in.ExcludeNumbers, in.ExcludePunctuation}
		var want []string // classes that must appear
		allowed := ""
		for k, cl := range classes {
			if excluded[k] {
				continue
			}
			left := strings.Map(func(r rune) rune {
				if strings.ContainsRune(in.ExcludeCharacters, r) {
					return -1
				}
				return r
			}, cl)
			if left != "" {
				want = append(want, left)
				allowed += left
			}
		}
		if in.IncludeSpace && !strings.Contains(in.ExcludeCharacters, " ") {
			allowed += " "
			want = append(want, " ")
		}
		pw, err := e.svc.RandomPassword(in)
		impossible := allowed == "" || (req && int64(len(want)) > n)
		if impossible {
			if codeOf(err) != "InvalidParameterException" {
				t.Fatalf("case %d %+v: got %q, %v; want InvalidParameterException", i, in, pw, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d %+v: %v", i, in, err)
		}
		generated++
		if int64(len(pw)) != n {
			t.Fatalf("case %d: length %d, want %d", i, len(pw), n)
		}
		for _, ch := range pw {
			if !strings.ContainsRune(allowed, ch) {
				t.Fatalf("case %d: %q has %q, not allowed (excluded %q)", i, pw, ch, in.ExcludeCharacters)
			}
		}
		if req {
			for _, cl := range want {
				if !strings.ContainsAny(pw, cl) {
					t.Fatalf("case %d: %q lacks a character of %q", i, pw, cl)
				}
			}
		}
	}
	if generated < 1000 {
		t.Fatalf("only %d of the random cases produced a password; the generator of cases is off", generated)
	}
}

func TestRandomPasswordDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	i64 := func(n int64) *int64 { return &n }
	f := false
	cases := []struct {
		name    string
		in      PasswordInput
		wantLen int
		code    string
	}{
		{name: "default length 32", in: PasswordInput{}, wantLen: 32},
		{name: "max length", in: PasswordInput{Length: i64(4096)}, wantLen: 4096},
		{name: "zero length", in: PasswordInput{Length: i64(0)}, code: "InvalidParameterException"},
		{name: "too long", in: PasswordInput{Length: i64(4097)}, code: "InvalidParameterException"},
		{name: "everything excluded", in: PasswordInput{ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true}, code: "InvalidParameterException"},
		{name: "only space", in: PasswordInput{ExcludeLowercase: true, ExcludeUppercase: true, ExcludeNumbers: true, ExcludePunctuation: true, IncludeSpace: true}, wantLen: 32},
		{name: "too short for four classes", in: PasswordInput{Length: i64(3)}, code: "InvalidParameterException"},
		{name: "short without requirement", in: PasswordInput{Length: i64(1), RequireEachIncludedType: &f}, wantLen: 1},
		{name: "exclusions empty every class", in: PasswordInput{ExcludeCharacters: lowerChars + upperChars + digitChars + punctChars}, code: "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pw, err := e.svc.RandomPassword(tc.in)
			if got := codeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
			if tc.code == "" && len(pw) != tc.wantLen {
				t.Fatalf("length %d, want %d", len(pw), tc.wantLen)
			}
		})
	}
}

// TestUniformIsUnbiased checks the draw with a chi-square test over a set
// whose size does not divide 2^32 (a modulo draw would still pass at this
// size, but a broken rejection bound or off-by-one fails).
func TestUniformIsUnbiased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const k, draws = 94, 94 * 500
	counts := make([]int, k)
	for i := 0; i < draws; i++ {
		v, err := e.svc.uniform(k)
		if err != nil {
			t.Fatal(err)
		}
		counts[v]++
	}
	exp := float64(draws) / k
	chi := 0.0
	for _, c := range counts {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	// 93 degrees of freedom: p = 0.0001 at about 150.
	if chi > 150 || math.IsNaN(chi) {
		t.Fatalf("chi-square %.1f: draws are not uniform: %v", chi, counts)
	}
}
