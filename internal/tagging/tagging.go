// Package tagging holds the rules AWS applies to resource tags, checked
// once for every service, and the add/remove/list arithmetic on tag lists.
//
// Every service used to carry its own copy of the rules and the copies had
// drifted (one refused "AWS:key", the others let it through). Services now
// call [Check] and map a *[Error] to their own wire error (KMS
// TagException, Secrets Manager InvalidParameterException, ACM and ACM PCA
// InvalidTagException / TooManyTagsException, EventBridge
// ValidationException, IAM InvalidInput / LimitExceeded).
package tagging

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AWS's limits for user-defined tags, the same in every service Bulwark
// implements (botocore: TagKey 1–128, TagValue 0–256, TagList max 50).
// Lengths are in Unicode characters, as AWS counts them, not bytes.
const (
	MaxKeyLen   = 128
	MaxValueLen = 256
	MaxTags     = 50
	// ReservedPrefix is the prefix AWS keeps for its own tag keys, in any
	// combination of upper and lower case ("aws:", "AWS:", "Aws:").
	ReservedPrefix = "aws:"
)

// Tag is one key/value pair. Service tag types with the fields Key and
// Value (whatever their struct tags) convert to it: tagging.Tag(t).
type Tag struct{ Key, Value string }

// Reason says which rule a tag list broke.
type Reason int

// The rules, in the order Check applies them.
const (
	// TooMany: more than MaxTags tags.
	TooMany Reason = iota + 1
	// KeyLength: a key is empty or longer than MaxKeyLen characters.
	KeyLength
	// ValueLength: a value is longer than MaxValueLen characters.
	ValueLength
	// Characters: a key or value holds invalid UTF-8 or a character
	// outside letters, numbers, spaces and + - = . _ : / @.
	Characters
	// Reserved: a key starts with "aws:" in any case.
	Reserved
	// Duplicate: the same key (exact bytes) appears twice.
	Duplicate
)

// Error is a tag list that breaks one of AWS's rules. Message is written
// for the user and names what to change; it includes the key only where
// the key is at fault (keys are not secret, but values may be, so no
// value is ever quoted).
type Error struct {
	Reason Reason
	// Index is the position of the offending tag (-1 for TooMany).
	Index int
	// Key is the offending tag's key, cut to MaxKeyLen characters.
	Key string
}

// Error implements error.
func (e *Error) Error() string { return e.Message() }

// Message is the user-facing description of the broken rule.
func (e *Error) Message() string {
	switch e.Reason {
	case TooMany:
		return fmt.Sprintf("A resource can have at most %d tags; remove some before adding more.", MaxTags)
	case KeyLength:
		return fmt.Sprintf("Tag keys must be 1 to %d characters long (tag %d).", MaxKeyLen, e.Index+1)
	case ValueLength:
		return fmt.Sprintf("The value of tag %q must be at most %d characters long.", e.Key, MaxValueLen)
	case Characters:
		return fmt.Sprintf("Tag %q may contain only letters, numbers, spaces and + - = . _ : / @ (key and value).", e.Key)
	case Reserved:
		return fmt.Sprintf("Tag key %q starts with aws:, which AWS reserves (in any case); choose another prefix.", e.Key)
	case Duplicate:
		return fmt.Sprintf("Tag key %q is given more than once; give each key once.", e.Key)
	}
	return "The tags are not valid."
}

// Check applies AWS's tag rules to tags, where kv gives each element's key
// and value. It returns nil or an *[Error] naming the first rule broken.
// An empty list is valid; services whose wire shape requires at least one
// tag check that with the shape's required members.
func Check[T any](tags []T, kv func(T) Tag) error {
	if len(tags) > MaxTags {
		return &Error{Reason: TooMany, Index: -1}
	}
	seen := make(map[string]struct{}, len(tags))
	for i, el := range tags {
		t := kv(el)
		if err := checkOne(i, t); err != nil {
			return err
		}
		if _, dup := seen[t.Key]; dup {
			return &Error{Reason: Duplicate, Index: i, Key: t.Key}
		}
		seen[t.Key] = struct{}{}
	}
	return nil
}

// Wrap turns a [Check] or [CheckKey] error into a service's own errors:
// one wrapping tooMany for [TooMany], one wrapping invalid for every other
// rule, each with the rule's message, so the service's error table gives
// the wire code. Services with one code for both pass it twice. nil stays
// nil; an error that is not an *[Error] is returned as is.
func Wrap(err error, invalid, tooMany error) error {
	var te *Error
	if !errors.As(err, &te) {
		return err
	}
	if te.Reason == TooMany {
		return fmt.Errorf("%w: %s", tooMany, te.Message())
	}
	return fmt.Errorf("%w: %s", invalid, te.Message())
}

// CheckKey applies the rules for a key alone (as UntagResource's TagKeys
// give them): length and characters. The reserved prefix is not refused
// here: removing a key that cannot exist is harmless.
func CheckKey(i int, key string) error {
	if n := utf8.RuneCountInString(key); n < 1 || n > MaxKeyLen {
		return &Error{Reason: KeyLength, Index: i, Key: cut(key)}
	}
	if !allowed(key) {
		return &Error{Reason: Characters, Index: i, Key: cut(key)}
	}
	return nil
}

func checkOne(i int, t Tag) error {
	if err := CheckKey(i, t.Key); err != nil {
		return err
	}
	if utf8.RuneCountInString(t.Value) > MaxValueLen {
		return &Error{Reason: ValueLength, Index: i, Key: t.Key}
	}
	if !allowed(t.Value) {
		return &Error{Reason: Characters, Index: i, Key: t.Key}
	}
	if IsReserved(t.Key) {
		return &Error{Reason: Reserved, Index: i, Key: t.Key}
	}
	return nil
}

// IsReserved reports whether key starts with "aws:" in any case, as AWS
// treats it.
func IsReserved(key string) bool {
	return len(key) >= len(ReservedPrefix) && strings.EqualFold(key[:len(ReservedPrefix)], ReservedPrefix)
}

// allowed reports whether s is valid UTF-8 of letters (\p{L}), numbers
// (\p{N}), separators (\p{Z}) and + - = . _ : / @, the pattern botocore
// gives for ACM, ACM PCA and IAM tags and the set the other services
// document.
func allowed(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			// Invalid UTF-8 (a literal U+FFFD is not a letter either).
			return false
		case unicode.IsLetter(r), unicode.IsNumber(r), unicode.In(r, unicode.Z):
		case strings.ContainsRune("+-=._:/@", r):
		default:
			return false
		}
	}
	return true
}

func cut(key string) string {
	if !utf8.ValidString(key) {
		key = strings.ToValidUTF8(key, "?")
	}
	if utf8.RuneCountInString(key) <= MaxKeyLen {
		return key
	}
	return string([]rune(key)[:MaxKeyLen]) + "…"
}

// Merge returns have with add applied: a tag whose key is already present
// replaces it in place, others are appended in order. have is not changed.
func Merge[T any](have, add []T, kv func(T) Tag) []T {
	out := append([]T(nil), have...)
	for _, a := range add {
		k := kv(a).Key
		replaced := false
		for i := range out {
			if kv(out[i]).Key == k {
				out[i], replaced = a, true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// Remove returns have without the tags rm names: by key, and by value too
// where the removal gives a non-empty one (ACM's and ACM PCA's rule). have
// is not changed.
func Remove[T any](have, rm []T, kv func(T) Tag) []T {
	var out []T
next:
	for _, h := range have {
		ht := kv(h)
		for _, r := range rm {
			rt := kv(r)
			if ht.Key == rt.Key && (rt.Value == "" || rt.Value == ht.Value) {
				continue next
			}
		}
		out = append(out, h)
	}
	return out
}

// RemoveKeys returns have without the tags whose keys are in keys.
func RemoveKeys[T any](have []T, keys []string, kv func(T) Tag) []T {
	var out []T
	for _, h := range have {
		k := kv(h).Key
		drop := false
		for _, r := range keys {
			if r == k {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, h)
		}
	}
	return out
}

// List returns tags for a List*Tags response: never nil, so the wire
// shows "Tags": [] rather than null for an untagged resource.
func List[T any](tags []T) []T {
	if tags == nil {
		return []T{}
	}
	return tags
}

// Map returns tags as the server's aws:ResourceTag/* condition keys want
// them; never nil, so an untagged resource is "no tags", not "look up".
func Map[T any](tags []T, kv func(T) Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, el := range tags {
		t := kv(el)
		m[t.Key] = t.Value
	}
	return m
}
