package fle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// fakeBatch is a token.BatchDecrypter over local keys that batches HPKE
// tokens and records every call.
type fakeBatch struct {
	inner token.LocalKeys
	// bad tokens fail in their own slot; calls for denyKey fail whole.
	bad     map[string]bool
	denyKey string
	// short makes DecryptBatch answer one result too few.
	short bool
	// barrier, when set, holds every call until that many are in flight,
	// proving batches run concurrently.
	barrier int

	mu            sync.Mutex
	batches       [][]token.Token
	singles       []token.Token
	flight, peak  int
	barrierPassed chan struct{}
	passed        bool
}

var (
	errBadItem = errors.New("fake: item does not open")
	errDenied  = errors.New("fake: access denied")
)

func (f *fakeBatch) Batches(fm token.Format) bool { return fm == token.FormatHPKE }

func (f *fakeBatch) Decrypt(ctx context.Context, t token.Token) (token.Opened, error) {
	f.mu.Lock()
	f.singles = append(f.singles, t)
	f.mu.Unlock()
	return f.inner.Decrypt(ctx, t)
}

func (f *fakeBatch) DecryptBatch(ctx context.Context, toks []token.Token) ([]token.Opened, []error) {
	f.mu.Lock()
	f.batches = append(f.batches, toks)
	f.flight++
	f.peak = max(f.peak, f.flight)
	if f.barrier > 0 && f.flight == f.barrier && !f.passed {
		f.passed = true
		close(f.barrierPassed)
	}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.flight--; f.mu.Unlock() }()
	if f.barrier > 0 {
		select {
		case <-f.barrierPassed:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			panic("fakeBatch: batches never ran concurrently")
		}
	}
	res := make([]token.Opened, len(toks))
	errs := make([]error, len(toks))
	for i, t := range toks {
		switch {
		case t.KeyID == f.denyKey:
			errs[i] = errDenied
		case f.bad[t.String()]:
			errs[i] = errBadItem
		default:
			res[i], errs[i] = f.inner.Decrypt(ctx, t)
		}
	}
	if f.short {
		return res[1:], errs[1:]
	}
	return res, errs
}

// tokenDoc protects n distinct values under each key id and returns one
// token per line (each token twice, so dedup is exercised) and the
// matching plaintext document.
func tokenDoc(t *testing.T, counts map[string]int) (doc, plain string, byKey map[string][]string) {
	t.Helper()
	k := testKeys(t)
	byKey = map[string][]string{}
	var d, p strings.Builder
	for _, id := range []string{"01", "02", "03", "04"} {
		for i := 0; i < counts[id]; i++ {
			v := fmt.Sprintf("value-%s-%d", id, i)
			tok, err := k.keys[id].Encrypt([]byte(v), "text")
			if err != nil {
				t.Fatal(err)
			}
			byKey[id] = append(byKey[id], tok)
			fmt.Fprintf(&d, "%s %s\n", tok, tok)
			fmt.Fprintf(&p, "%s %s\n", v, v)
		}
	}
	return d.String(), p.String(), byKey
}

// TestUnprotectBatchGrouping: HPKE tokens go through DecryptBatch grouped
// by key id and format, in chunks of at most BatchSize that run
// concurrently within Concurrency; RSA tokens keep going one per Decrypt.
func TestUnprotectBatchGrouping(t *testing.T) {
	t.Parallel()
	doc, plain, byKey := tokenDoc(t, map[string]int{"01": 5, "03": 70, "04": 40})
	f := &fakeBatch{inner: testKeys(t).local, barrier: 3, barrierPassed: make(chan struct{})}
	u := NewUnprotector(UnprotectOptions{Decrypter: f, Concurrency: 3, BatchSize: 16})
	out, rep, err := u.Text(context.Background(), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != plain {
		t.Fatalf("output differs from the plaintext document")
	}
	if rep.Tokens != 230 || rep.Distinct != 115 || rep.Failed != 0 {
		t.Errorf("report = %+v", rep)
	}
	if len(f.singles) != 5 {
		t.Errorf("%d Decrypt calls, want 5 (the RSA tokens)", len(f.singles))
	}
	for _, s := range f.singles {
		if s.Format != token.FormatRSA {
			t.Errorf("HPKE token %s opened with Decrypt", s.KeyID)
		}
	}
	seen := map[string]int{}
	for _, b := range f.batches {
		if len(b) > 16 {
			t.Errorf("batch of %d tokens > BatchSize 16", len(b))
		}
		for _, tok := range b {
			if tok.KeyID != b[0].KeyID || tok.Format != token.FormatHPKE {
				t.Errorf("batch mixes %s/%s with %s/%s", tok.KeyID, tok.Format, b[0].KeyID, b[0].Format)
			}
			seen[tok.String()]++
		}
	}
	for _, id := range []string{"03", "04"} {
		for _, tok := range byKey[id] {
			if seen[tok] != 1 {
				t.Errorf("token of %s sent %d times in batches, want 1", id, seen[tok])
			}
		}
	}
	// 70 tokens of 03 in 5 calls of 14, 40 of 04 in 3 calls (14, 14, 12).
	if len(f.batches) != 8 {
		t.Errorf("%d DecryptBatch calls, want 8", len(f.batches))
	}
	if f.peak > 3 {
		t.Errorf("peak %d calls in flight > Concurrency 3", f.peak)
	}

	// The HPKE path binding still holds: Path comes back through batches.
	e := newEngine(t, Rule{Fields: Fields(seedFields...), KeyID: "03"})
	people := seedPeople(20)
	prot := protect(t, e, "application/json", people).Body
	ju := NewUnprotector(UnprotectOptions{Decrypter: &fakeBatch{inner: testKeys(t).local}})
	if back, _, err := ju.JSON(context.Background(), prot); err != nil || string(back) != string(people) {
		t.Fatalf("JSON through batches: %v", err)
	}
}

// TestUnprotectBatchPlan: how a group is cut into calls.
func TestUnprotectBatchPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		n, batchSize, conc  int
		wantCalls, wantSize int
	}{
		{"bench document spread over Concurrency", 600, 0, 8, 8, 75},
		{"large group capped by BatchSize", 5000, 0, 8, 20, 250},
		{"small group stays one call", 20, 0, 8, 1, 20},
		{"medium group not cut below minBatch", 100, 0, 8, 4, 25},
		{"one call in flight", 600, 0, 1, 3, 200},
		{"tiny BatchSize", 10, 4, 8, 3, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			texts := make([]string, tc.n)
			for i := range texts {
				texts[i] = token.Token{Format: token.FormatHPKE, KeyID: "03", Payload: []byte{byte(i), byte(i >> 8), 1}}.String()
			}
			u := NewUnprotector(UnprotectOptions{Decrypter: &fakeBatch{}, Concurrency: tc.conc, BatchSize: tc.batchSize})
			jobs := u.plan(texts, map[string]*opened{}, func(*opened, error) { t.Fatal("parse error") })
			total := 0
			for _, j := range jobs {
				total += len(j.toks)
				if len(j.toks) > tc.wantSize || !j.batch {
					t.Errorf("job of %d tokens (batch %v), want at most %d", len(j.toks), j.batch, tc.wantSize)
				}
			}
			if len(jobs) != tc.wantCalls || total != tc.n || len(jobs[0].toks) != tc.wantSize {
				t.Errorf("%d calls of %d (total %d), want %d of %d", len(jobs), len(jobs[0].toks), total, tc.wantCalls, tc.wantSize)
			}
		})
	}
}

// TestUnprotectBatchErrors: a failed item and a failed call follow the
// OnError mode exactly as per-token decryption does, and in Fail mode the
// error is the root cause, never the cancellation it caused.
func TestUnprotectBatchErrors(t *testing.T) {
	t.Parallel()
	doc, plain, byKey := tokenDoc(t, map[string]int{"01": 3, "03": 50, "04": 40})
	badTok := byKey["03"][17]
	badLine := "value-03-17 value-03-17\n"
	tests := []struct {
		name       string
		on         OnError
		bad        bool
		deny       string
		short      bool
		wantErr    error // nil: success
		wantFailed int
		want       func(string) string // expected output from the plaintext document
	}{
		{name: "fail: bad item", on: Fail, bad: true, wantErr: errBadItem},
		{name: "keep: bad item", on: Keep, bad: true, wantFailed: 1,
			want: func(p string) string { return strings.ReplaceAll(p, badLine, badTok+" "+badTok+"\n") }},
		{name: "redact: bad item", on: Redact, bad: true, wantFailed: 1,
			want: func(p string) string {
				return strings.ReplaceAll(p, badLine, DefaultRedaction+" "+DefaultRedaction+"\n")
			}},
		{name: "fail: call denied", on: Fail, deny: "04", wantErr: errDenied},
		{name: "redact: call denied", on: Redact, deny: "04", wantFailed: 40, want: func(p string) string {
			for i := 0; i < 40; i++ {
				v := fmt.Sprintf("value-04-%d", i)
				p = strings.ReplaceAll(p, v+" "+v+"\n", DefaultRedaction+" "+DefaultRedaction+"\n")
			}
			return p
		}},
		{name: "fail: broken implementation", on: Fail, short: true, wantErr: errors.New("answered")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBatch{inner: testKeys(t).local, denyKey: tc.deny, short: tc.short}
			if tc.bad {
				f.bad = map[string]bool{badTok: true}
			}
			u := NewUnprotector(UnprotectOptions{Decrypter: f, OnError: tc.on, BatchSize: 8})
			out, rep, err := u.Text(context.Background(), []byte(doc))
			if tc.wantErr != nil {
				var fe *Error
				if err == nil || out != nil || !errors.As(err, &fe) || fe.Kind != KindDecrypt {
					t.Fatalf("err = %v, out %d bytes; want a decrypt_failed error and no output", err, len(out))
				}
				if errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v: a cancellation, not the root cause", err)
				}
				if !errors.Is(err, tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr.Error()) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want(plain) {
				t.Errorf("output differs from the expected document")
			}
			if rep.Failed != tc.wantFailed || len(rep.Errors) != tc.wantFailed {
				t.Errorf("report = %d failed, %d errors; want %d", rep.Failed, len(rep.Errors), tc.wantFailed)
			}
			for _, e := range rep.Errors {
				if !errors.Is(e, errBadItem) && !errors.Is(e, errDenied) {
					t.Errorf("report error %v is not the item's own", e)
				}
			}
		})
	}
}
