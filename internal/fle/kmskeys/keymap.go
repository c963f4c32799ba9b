package kmskeys

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// KeyMap maps token marker ids ("01") to KMS key ids (key id, key ARN,
// alias name or alias ARN).
type KeyMap map[string]string

// DefaultAliasPrefix names the KMS alias used for a marker id that a
// KeyMap does not list when decrypting: marker "07" → "alias/fle-07". It
// lets `bulwark unprotect` work without --key flags when keys follow the
// convention; the edge never uses it (its keys are always explicit).
const DefaultAliasPrefix = "alias/fle-"

// KeyID returns the KMS key for a marker id, DefaultAliasPrefix+id when
// none is listed.
func (m KeyMap) KeyID(marker string) string {
	if k, ok := m[marker]; ok {
		return k
	}
	return DefaultAliasPrefix + marker
}

// Markers returns the listed marker ids, sorted.
func (m KeyMap) Markers() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseKeyMap parses "MARKER=KEYID" flag values ("01=alias/pii").
func ParseKeyMap(specs []string) (KeyMap, error) {
	m := KeyMap{}
	for _, s := range specs {
		id, key, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("key %q: want MARKER=KEYID, e.g. 01=alias/pii", s)
		}
		if !token.ValidKeyID(id) {
			return nil, fmt.Errorf("key %q: marker id must be 1-%d characters from [A-Za-z0-9_-]", s, token.MaxKeyIDLen)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("key %q: marker id %s given twice", s, id)
		}
		m[id] = key
	}
	return m, nil
}
