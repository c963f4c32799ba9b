// Package jsonrw rewrites selected values of a JSON document in a single
// streaming pass, copying every other byte of the input unchanged: key
// order, whitespace, number spelling and string escapes of untouched parts
// survive exactly. It also validates the whole document, so a caller never
// forwards a half-rewritten body: Rewrite either returns a complete output
// or an error.
//
// Values are chosen by Selectors: a bare field name matches that member at
// any depth; a JSONPath-style path ($.customer.card.number, $[*].ssn,
// $..ssn, $.items[0].*) matches by position. A selector that matches an
// object or array selects every scalar inside it.
package jsonrw
