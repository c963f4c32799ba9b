package secrets

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
)

// AWS's character classes for GetRandomPassword.
const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	punctChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// PasswordInput is GetRandomPassword's parameters; nil pointers take the
// AWS defaults (length 32, every class, no space, each class required).
type PasswordInput struct {
	Length                                                                 *int64
	ExcludeCharacters                                                      string
	ExcludeNumbers, ExcludePunctuation, ExcludeUppercase, ExcludeLowercase bool
	IncludeSpace                                                           bool
	RequireEachIncludedType                                                *bool
}

// GetRandomPassword authorizes the caller and generates a password.
func (s *Service) GetRandomPassword(ctx context.Context, c *api.Call, in PasswordInput) (string, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "secretsmanager:GetRandomPassword", Resource: "*"}); err != nil {
		return "", err
	}
	return s.RandomPassword(in)
}

// RandomPassword generates a password of exactly the requested length from
// the allowed classes minus ExcludeCharacters, drawing every character
// uniformly (rejection sampling, no modulo bias) from Config.Rand. With
// RequireEachIncludedType, every class left non-empty appears at least
// once: one character of each is drawn, the rest from the union, and the
// result is shuffled uniformly. Impossible requests are
// InvalidParameterException.
func (s *Service) RandomPassword(in PasswordInput) (string, error) {
	n := int64(32)
	if in.Length != nil {
		n = *in.Length
	}
	if n < 1 || n > 4096 {
		return "", fmt.Errorf("%w: PasswordLength must be between 1 and 4096.", ErrInvalidParameter)
	}
	if len(in.ExcludeCharacters) > 4096 {
		return "", fmt.Errorf("%w: ExcludeCharacters is longer than 4096 characters.", ErrInvalidParameter)
	}
	require := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	keep := func(set string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(in.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, set)
	}
	var classes []string
	for _, cl := range []struct {
		set      string
		excluded bool
	}{{lowerChars, in.ExcludeLowercase}, {upperChars, in.ExcludeUppercase}, {digitChars, in.ExcludeNumbers}, {punctChars, in.ExcludePunctuation}} {
		if cl.excluded {
			continue
		}
		if k := keep(cl.set); k != "" {
			classes = append(classes, k)
		}
	}
	space := ""
	if in.IncludeSpace {
		space = keep(" ")
	}
	all := strings.Join(classes, "") + space
	if all == "" {
		return "", fmt.Errorf("%w: The password can't be generated: every character type is excluded.", ErrInvalidParameter)
	}
	if !require {
		return s.draw(int(n), all)
	}
	if space != "" {
		classes = append(classes, space)
	}
	if int64(len(classes)) > n {
		return "", fmt.Errorf("%w: PasswordLength %d is too short to include one character of each of the %d required character types.", ErrInvalidParameter, n, len(classes))
	}
	out := make([]byte, 0, n)
	for _, cl := range classes {
		b, err := s.draw(1, cl)
		if err != nil {
			return "", err
		}
		out = append(out, b...)
	}
	rest, err := s.draw(int(n)-len(out), all)
	if err != nil {
		return "", err
	}
	out = append(out, rest...)
	for i := len(out) - 1; i > 0; i-- {
		j, err := s.uniform(uint32(i + 1))
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

// draw returns n characters chosen uniformly from the ASCII set.
func (s *Service) draw(n int, set string) (string, error) {
	out := make([]byte, n)
	for i := range out {
		j, err := s.uniform(uint32(len(set)))
		if err != nil {
			return "", err
		}
		out[i] = set[j]
	}
	return string(out), nil
}

// uniform returns an unbiased integer in [0, n) by rejecting the top
// partial range of 32-bit draws.
func (s *Service) uniform(n uint32) (uint32, error) {
	limit := ^uint32(0) - ^uint32(0)%n // multiple of n; values >= limit are rejected
	var b [4]byte
	for {
		if err := s.readRand(b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return v % n, nil
		}
	}
}
