package policy

import (
	"testing"
	"unicode/utf8"
)

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pat, s string
		fold, want   bool
	}{
		{"empty both", "", "", false, true},
		{"empty pattern", "", "a", false, false},
		{"star matches empty", "*", "", false, true},
		{"star matches anything", "*", "arn:aws:kms:x", false, true},
		{"literal", "abc", "abc", false, true},
		{"literal mismatch", "abc", "abd", false, false},
		{"prefix star", "kms:Get*", "kms:GetPublicKey", false, true},
		{"infix star", "a*c", "abbbc", false, true},
		{"infix star needs suffix", "a*c", "abbb", false, false},
		{"backtracking", "a*b*c", "aXbYbZc", false, true},
		{"trailing stars", "a**", "a", false, true},
		{"question mark", "a?c", "abc", false, true},
		{"question mark needs a char", "a?", "a", false, false},
		{"question mark is one rune", "a?c", "aéc", false, true},
		{"case-sensitive", "ABC", "abc", false, false},
		{"fold", "KMS:decrypt", "kms:Decrypt", true, true},
		{"pathological", "a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := matchGlob(tc.pat, nil, tc.s, tc.fold); got != tc.want {
				t.Errorf("matchGlob(%q, %q, fold=%v) = %v, want %v", tc.pat, tc.s, tc.fold, got, tc.want)
			}
		})
	}
}

func TestMatchGlobLiteralMask(t *testing.T) {
	t.Parallel()
	// "a*?" with the '*' literal: only "a*" followed by one character matches.
	lit := []bool{false, true, false}
	for s, want := range map[string]bool{"a*x": true, "abx": false, "a*": false, "a**": true} {
		if got := matchGlob("a*?", lit, s, false); got != want {
			t.Errorf("matchGlob(a*?, literal star, %q) = %v, want %v", s, got, want)
		}
	}
}

// refMatch is an obviously correct dynamic-programming glob matcher over runes.
func refMatch(pat, s string, fold bool) bool {
	p, r := []rune(pat), []rune(s)
	eq := func(a, b rune) bool {
		if fold && a < utf8.RuneSelf && b < utf8.RuneSelf {
			return lowerASCII(byte(a)) == lowerASCII(byte(b))
		}
		return a == b
	}
	// dp[i][j]: p[i:] matches r[j:].
	dp := make([][]bool, len(p)+1)
	for i := range dp {
		dp[i] = make([]bool, len(r)+1)
	}
	dp[len(p)][len(r)] = true
	for i := len(p) - 1; i >= 0; i-- {
		for j := len(r); j >= 0; j-- {
			switch p[i] {
			case '*':
				dp[i][j] = dp[i+1][j] || (j < len(r) && dp[i][j+1])
			case '?':
				dp[i][j] = j < len(r) && dp[i+1][j+1]
			default:
				dp[i][j] = j < len(r) && eq(p[i], r[j]) && dp[i+1][j+1]
			}
		}
	}
	return dp[0][0]
}

func FuzzMatch(f *testing.F) {
	seeds := []struct {
		pat, s string
		fold   bool
	}{
		{"kms:*", "kms:Decrypt", true},
		{"arn:aws:kms:*:111122223333:key/*", keyARN, false},
		{"a*b?c*", "aXXbYcZZ", false},
		{"*?*?*", "é", false},
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false},
		{"", "", false},
		{"?", "日本", false},
	}
	for _, s := range seeds {
		f.Add(s.pat, s.s, s.fold)
	}
	f.Fuzz(func(t *testing.T, pat, s string, fold bool) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) || len(pat) > 256 || len(s) > 256 {
			t.Skip()
		}
		got := matchGlob(pat, nil, s, fold)
		if want := refMatch(pat, s, fold); got != want {
			t.Fatalf("matchGlob(%q, %q, fold=%v) = %v, reference says %v", pat, s, fold, got, want)
		}
	})
}
