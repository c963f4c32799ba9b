package detect

import (
	"fmt"
	"sort"
)

// Kind names a detector.
type Kind string

// The detectors.
const (
	Card  Kind = "card"
	SSN   Kind = "ssn"
	Email Kind = "email"
	Phone Kind = "phone"
)

// All lists every detector, in the priority order used to resolve overlaps.
var all = []Kind{Card, SSN, Email, Phone}

// AllKinds returns every detector kind.
func AllKinds() []Kind { return append([]Kind(nil), all...) }

// ParseKinds validates detector names.
func ParseKinds(names []string) ([]Kind, error) {
	out := make([]Kind, 0, len(names))
	for _, n := range names {
		k := Kind(n)
		switch k {
		case Card, SSN, Email, Phone:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("detect: unknown detector %q", n)
		}
	}
	return out, nil
}

// Match is one detected value: s[Start:End].
type Match struct {
	Start, End int
	Kind       Kind
}

// Find returns the non-overlapping matches of the given detectors in s,
// ordered by Start. Where two detectors overlap, the one earlier in the
// order card, ssn, email, phone wins (a card number is also a digit run a
// phone detector might like).
func Find(s string, kinds ...Kind) []Match {
	var out []Match
	for _, k := range all {
		if !contains(kinds, k) {
			continue
		}
		var ms []Match
		switch k {
		case Card:
			ms = findCards(s)
		case SSN:
			ms = findSSNs(s)
		case Email:
			ms = findEmails(s)
		case Phone:
			ms = findPhones(s)
		}
		for _, m := range ms {
			if !overlaps(out, m) {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

func contains(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func overlaps(ms []Match, m Match) bool {
	for _, x := range ms {
		if m.Start < x.End && x.Start < m.End {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// boundary reports whether s[i] (i may be out of range) does not glue a
// match to a neighbouring word.
func boundary(s string, i int) bool { return i < 0 || i >= len(s) || !isAlnum(s[i]) }

// Luhn reports whether the digit string passes the Luhn checksum.
func Luhn(digits string) bool {
	if len(digits) == 0 {
		return false
	}
	sum, dbl := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if !isDigit(c) {
			return false
		}
		d := int(c - '0')
		if dbl {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		dbl = !dbl
	}
	return sum%10 == 0
}

// findCards reports runs of 13-19 digits, optionally grouped by single
// spaces or dashes, that pass Luhn and are not one repeated digit.
func findCards(s string) []Match {
	var out []Match
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || !boundary(s, i-1) {
			continue
		}
		digits := make([]byte, 0, 19)
		end := i
		j := i
		for j < len(s) {
			if isDigit(s[j]) {
				digits = append(digits, s[j])
				j++
				end = j
				continue
			}
			if (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		if n := len(digits); n >= 13 && n <= 19 && boundary(s, end) && !repeated(digits) && Luhn(string(digits)) {
			out = append(out, Match{Start: i, End: end, Kind: Card})
		}
		i = end
	}
	return out
}

func repeated(d []byte) bool {
	for _, c := range d {
		if c != d[0] {
			return false
		}
	}
	return true
}

// ValidSSN applies the SSA rules: area not 000, 666 or 900-999; group not
// 00; serial not 0000. Arguments are the digit strings of each part.
func ValidSSN(area, group, serial string) bool {
	if len(area) != 3 || len(group) != 2 || len(serial) != 4 {
		return false
	}
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

// findSSNs reports AAA-GG-SSSS (dashes or spaces, used consistently).
// Undelimited nine-digit runs are not reported: too many other numbers
// look like that.
func findSSNs(s string) []Match {
	var out []Match
	for i := 0; i+11 <= len(s); i++ {
		if !isDigit(s[i]) || !boundary(s, i-1) {
			continue
		}
		c := s[i : i+11]
		sep := c[3]
		if (sep != '-' && sep != ' ') || c[6] != sep || !boundary(s, i+11) {
			continue
		}
		if !allDigits(c[0:3]) || !allDigits(c[4:6]) || !allDigits(c[7:11]) {
			continue
		}
		if ValidSSN(c[0:3], c[4:6], c[7:11]) {
			out = append(out, Match{Start: i, End: i + 11, Kind: SSN})
			i += 10
		}
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func isLocalByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// findEmails reports local@domain with a dotted domain whose last label is
// at least two letters.
func findEmails(s string) []Match {
	var out []Match
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		a := i
		for a > last && isLocalByte(s[a-1]) {
			a--
		}
		for a < i && s[a] == '.' {
			a++
		}
		b := i + 1
		for b < len(s) && isDomainByte(s[b]) {
			b++
		}
		for b > i+1 && (s[b-1] == '.' || s[b-1] == '-') {
			b--
		}
		if a == i || !validDomain(s[i+1:b]) || s[i-1] == '.' {
			continue
		}
		out = append(out, Match{Start: a, End: b, Kind: Email})
		last, i = b, b-1
	}
	return out
}

func validDomain(d string) bool {
	labels, start, lastLabel := 0, 0, ""
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			l := d[start:i]
			if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
				return false
			}
			labels++
			lastLabel = l
			start = i + 1
		}
	}
	if labels < 2 || len(lastLabel) < 2 {
		return false
	}
	for i := 0; i < len(lastLabel); i++ {
		if !isAlpha(lastLabel[i]) {
			return false
		}
	}
	return true
}

// findPhones reports phone numbers: an optional leading '+', then 10-15
// digits grouped by single separators (space, '-', '.', or a parenthesised
// area code). A bare digit run counts only with a leading '+', so order
// numbers and timestamps are left alone.
func findPhones(s string) []Match {
	var out []Match
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == '+' || c == '(') || !boundary(s, i-1) {
			continue
		}
		if i > 0 && (s[i-1] == '+' || s[i-1] == '(') {
			continue
		}
		j, digits, seps, end := i, 0, 0, i
		plus := c == '+'
		if plus {
			j++
		}
		open := false
		for j < len(s) {
			switch ch := s[j]; {
			case isDigit(ch):
				digits++
				j++
				end = j
				continue
			case ch == '(' && !open && (j == i || j == i+1 && plus || isSep(s[j-1])):
				open = true
				seps++
				j++
				continue
			case ch == ')' && open && isDigit(s[j-1]):
				open = false
				j++
				end = j
				if j < len(s) && s[j] == ' ' {
					j++
				}
				continue
			case isSep(ch) && j > i && (isDigit(s[j-1]) || s[j-1] == '+') && j+1 < len(s) && (isDigit(s[j+1]) || s[j+1] == '('):
				seps++
				j++
				continue
			}
			break
		}
		if open || digits < 10 || digits > 15 || (!plus && seps == 0) || !boundary(s, end) {
			continue
		}
		if end < len(s) && (s[end] == '+' || s[end] == '(') {
			continue
		}
		out = append(out, Match{Start: i, End: end, Kind: Phone})
		i = end - 1
	}
	return out
}

func isSep(c byte) bool { return c == ' ' || c == '-' || c == '.' }
