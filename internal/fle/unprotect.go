package fle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bulwarkd/bulwark/internal/fle/jsonrw"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// OnError says what Unprotect does with a token it cannot decrypt.
type OnError int

const (
	// Fail (the zero value) returns an error and no output at all.
	Fail OnError = iota
	// Keep leaves the token in place.
	Keep
	// Redact replaces the token by UnprotectOptions.Redaction.
	Redact
)

// DefaultRedaction replaces undecryptable tokens in Redact mode.
const DefaultRedaction = "[REDACTED]"

// UnprotectOptions configures an Unprotector.
type UnprotectOptions struct {
	// Decrypter opens tokens (KMS in production). Required.
	Decrypter token.Decrypter
	// OnError is the policy for tokens that fail; zero is Fail.
	OnError OnError
	// Redaction replaces failed tokens in Redact mode; "" means
	// DefaultRedaction.
	Redaction string
	// Concurrency bounds the Decrypter calls in flight per document (a
	// DecryptBatch call counts as one); 0 means 8.
	Concurrency int
	// BatchSize caps the tokens per DecryptBatch call when Decrypter is a
	// token.BatchDecrypter; 0 means DefaultBatchSize.
	BatchSize int
}

// DefaultBatchSize is the most tokens sent in one DecryptBatch call when
// UnprotectOptions.BatchSize is 0.
const DefaultBatchSize = 256

// minBatch is the smallest batch made to spread a group over Concurrency
// calls: below it, the per-call cost a batch exists to share comes back.
const minBatch = 32

// Unprotector replaces tokens in documents by their plaintexts. It is safe
// for concurrent use.
type Unprotector struct {
	opt UnprotectOptions
}

// NewUnprotector returns an Unprotector; it panics on a nil Decrypter,
// which is a programming error.
func NewUnprotector(opt UnprotectOptions) *Unprotector {
	if opt.Decrypter == nil {
		panic("fle: NewUnprotector with nil Decrypter")
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Redaction == "" {
		opt.Redaction = DefaultRedaction
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	return &Unprotector{opt: opt}
}

// Report summarises one Unprotect call.
type Report struct {
	// Tokens found, Distinct among them (each decrypted once).
	Tokens, Distinct int
	// Failed distinct tokens (kept or redacted, per OnError).
	Failed int
	// Errors holds one error per failed distinct token (no plaintext).
	Errors []error
}

type opened struct {
	res token.Opened
	err error
}

// decryptJob is one Decrypter call: Decrypt of one token, or DecryptBatch
// of tokens sharing a key id and a batched format.
type decryptJob struct {
	texts []string
	toks  []token.Token
	batch bool
}

// decryptAll decrypts each distinct token text once, with at most
// Concurrency calls in flight. In Fail mode the first failure cancels the
// rest.
func (u *Unprotector) decryptAll(ctx context.Context, texts []string) map[string]*opened {
	out := make(map[string]*opened, len(texts))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	setErr := func(o *opened, err error) {
		o.err = err
		if u.opt.OnError == Fail {
			cancel()
		}
	}
	jobs := u.plan(texts, out, setErr)
	sem := make(chan struct{}, u.opt.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for _, t := range j.texts {
				out[t].err = ctx.Err()
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			u.run(ctx, j, out, setErr)
		}()
	}
	wg.Wait()
	return out
}

// plan parses every text into out and groups the tokens into calls: one
// per token, except that a token.BatchDecrypter gets the tokens of each
// key id and batched format in chunks of at most BatchSize, spread over up
// to Concurrency calls (never below minBatch tokens) so a single large
// group still runs in parallel. Batches come first: they are the longest
// calls.
func (u *Unprotector) plan(texts []string, out map[string]*opened, setErr func(*opened, error)) []decryptJob {
	bd, _ := u.opt.Decrypter.(token.BatchDecrypter)
	type groupKey struct {
		id string
		f  token.Format
	}
	groups := map[groupKey]*decryptJob{}
	var order []groupKey
	var singles []decryptJob
	for _, t := range texts {
		o := &opened{}
		out[t] = o
		tok, err := token.Parse(t)
		if err != nil {
			setErr(o, err)
			continue
		}
		if bd == nil || !bd.Batches(tok.Format) {
			singles = append(singles, decryptJob{texts: []string{t}, toks: []token.Token{tok}})
			continue
		}
		k := groupKey{tok.KeyID, tok.Format}
		g := groups[k]
		if g == nil {
			g = &decryptJob{batch: true}
			groups[k] = g
			order = append(order, k)
		}
		g.texts = append(g.texts, t)
		g.toks = append(g.toks, tok)
	}
	var jobs []decryptJob
	for _, k := range order {
		g := groups[k]
		n := len(g.toks)
		calls := max(ceilDiv(n, u.opt.BatchSize), min(u.opt.Concurrency, ceilDiv(n, minBatch)))
		size := ceilDiv(n, calls)
		for lo := 0; lo < n; lo += size {
			hi := min(lo+size, n)
			jobs = append(jobs, decryptJob{texts: g.texts[lo:hi], toks: g.toks[lo:hi], batch: true})
		}
	}
	return append(jobs, singles...)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// run makes one job's call and records each token's outcome.
func (u *Unprotector) run(ctx context.Context, j decryptJob, out map[string]*opened, setErr func(*opened, error)) {
	if !j.batch {
		o := out[j.texts[0]]
		res, err := u.opt.Decrypter.Decrypt(ctx, j.toks[0])
		if err != nil {
			setErr(o, err)
			return
		}
		o.res = res
		return
	}
	res, errs := u.opt.Decrypter.(token.BatchDecrypter).DecryptBatch(ctx, j.toks)
	if len(res) != len(j.toks) || len(errs) != len(j.toks) {
		// A broken implementation must not pass for success.
		err := fmt.Errorf("fle: DecryptBatch answered %d results and %d errors for %d tokens", len(res), len(errs), len(j.toks))
		for _, t := range j.texts {
			setErr(out[t], err)
		}
		return
	}
	for i, t := range j.texts {
		if errs[i] != nil {
			setErr(out[t], errs[i])
		} else {
			out[t].res = res[i]
		}
	}
}

// failure applies the OnError policy to a failed token; ok false means the
// whole call fails.
func (u *Unprotector) failure(text string) (string, bool) {
	switch u.opt.OnError {
	case Keep:
		return text, true
	case Redact:
		return u.opt.Redaction, true
	}
	return "", false
}

func (u *Unprotector) report(found []string, res map[string]*opened) (Report, error) {
	r := Report{Tokens: len(found), Distinct: len(res)}
	var first error
	for _, text := range found {
		o := res[text]
		if o.err == nil || o.err == errCounted {
			continue
		}
		r.Failed++
		// Key id and format are not secret; the token itself is kept out of
		// the message so logs do not collect ciphertexts.
		sp := token.Scan(text)
		e := fmt.Errorf("token %s/%s: %w", sp[0].KeyID, sp[0].Format, o.err)
		r.Errors = append(r.Errors, e)
		// In Fail mode the first failure cancels the rest: report a root
		// cause (access denied, say), not one of the cancellations.
		if first == nil || (errors.Is(first, context.Canceled) && !errors.Is(e, context.Canceled)) {
			first = e
		}
		o.err = errCounted
	}
	if first != nil && u.opt.OnError == Fail {
		return r, &Error{Kind: KindDecrypt, Err: first}
	}
	return r, nil
}

var errCounted = errors.New("counted")

// Text replaces every token found anywhere in doc. It needs no knowledge
// of the format, which is its strength and its limit: it cannot check
// where an HPKE token was found against the path it is bound to (JSON does),
// and plaintexts are inserted as they are, unescaped.
func (u *Unprotector) Text(ctx context.Context, doc []byte) ([]byte, Report, error) {
	s := string(doc)
	spans := token.Scan(s)
	if len(spans) == 0 {
		return doc, Report{}, nil
	}
	found := make([]string, len(spans))
	var distinct []string
	seen := map[string]bool{}
	for i, sp := range spans {
		found[i] = s[sp.Start:sp.End]
		if !seen[found[i]] {
			seen[found[i]] = true
			distinct = append(distinct, found[i])
		}
	}
	res := u.decryptAll(ctx, distinct)
	rep, err := u.report(found, res)
	if err != nil {
		return nil, rep, err
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for i, sp := range spans {
		b.WriteString(s[last:sp.Start])
		o := res[found[i]]
		if o.err != nil {
			repl, _ := u.failure(found[i])
			b.WriteString(repl)
		} else {
			b.Write(o.res.Plaintext)
		}
		last = sp.End
	}
	b.WriteString(s[last:])
	return []byte(b.String()), rep, nil
}

// ErrPathMismatch is wrapped by the error for an HPKE token found at a
// JSON path other than the one it was bound to.
var ErrPathMismatch = errors.New("token bound to another field")

// JSON replaces tokens inside the string values of a JSON document,
// re-escaping plaintexts so the output stays valid JSON, and refuses HPKE
// tokens found anywhere but the path they were bound to (array indices
// aside). Object keys are not searched. Untouched bytes are kept.
func (u *Unprotector) JSON(ctx context.Context, doc []byte) ([]byte, Report, error) {
	var found []string
	seen := map[string]bool{}
	var distinct []string
	_, _, err := jsonrw.Rewrite(doc, jsonrw.Options{Strings: func(v jsonrw.Value) (string, bool, error) {
		for _, sp := range token.Scan(v.Text) {
			t := v.Text[sp.Start:sp.End]
			found = append(found, t)
			if !seen[t] {
				seen[t] = true
				distinct = append(distinct, t)
			}
		}
		return "", false, nil
	}})
	if err != nil {
		return nil, Report{}, &Error{Kind: KindUnparseable, Err: err}
	}
	if len(found) == 0 {
		return doc, Report{}, nil
	}
	res := u.decryptAll(ctx, distinct)
	// Path checks happen per occurrence: the same token text may sit at its
	// own path once and at a foreign one elsewhere.
	var pathErrs []error
	out, _, err := jsonrw.Rewrite(doc, jsonrw.Options{Strings: func(v jsonrw.Value) (string, bool, error) {
		spans := token.Scan(v.Text)
		if len(spans) == 0 {
			return "", false, nil
		}
		var b strings.Builder
		last := 0
		for _, sp := range spans {
			t := v.Text[sp.Start:sp.End]
			b.WriteString(v.Text[last:sp.Start])
			o := res[t]
			bad := o.err != nil
			if !bad && sp.Format == token.FormatHPKE && o.res.Path != v.Path.Binding() {
				bad = true
				pathErrs = append(pathErrs, fmt.Errorf("token %s/%s at %s: %w", sp.KeyID, sp.Format, v.Path.Binding(), ErrPathMismatch))
			}
			if bad {
				repl, ok := u.failure(t)
				if !ok {
					repl = t // the call fails below; output is discarded
				}
				b.WriteString(repl)
			} else {
				b.Write(o.res.Plaintext)
			}
			last = sp.End
		}
		b.WriteString(v.Text[last:])
		return b.String(), true, nil
	}})
	if err != nil {
		return nil, Report{}, &Error{Kind: KindUnparseable, Err: err}
	}
	rep, ferr := u.report(found, res)
	rep.Failed += len(pathErrs)
	rep.Errors = append(rep.Errors, pathErrs...)
	if ferr != nil {
		return nil, rep, ferr
	}
	if len(pathErrs) > 0 && u.opt.OnError == Fail {
		return nil, rep, &Error{Kind: KindDecrypt, Err: pathErrs[0]}
	}
	return out, rep, nil
}
