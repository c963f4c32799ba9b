package events

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/store"
)

const (
	// deliveryBatch is how many queue records one pass claims at a time,
	// and deliveryWorkers how many of them are in flight at once.
	deliveryBatch   = 64
	deliveryWorkers = 8
	// rescanEvery bounds how long (Clock time) the loop trusts its idea of
	// the next due delivery: another server sharing the store may have
	// queued something.
	rescanEvery = 30 * time.Second
	userAgent   = "Amazon/EventBridge/ApiDestinations"
)

// Run delivers queued events until ctx ends: at once when events are
// published, and whenever the injected clock passes the next retry time
// (checked every PollInterval of Clock). The server starts it through
// API().Run.
func (s *Service) Run(ctx context.Context) {
	var lastScan time.Time
	clock.EveryOrWake(ctx, s.clock, s.cfg.PollInterval, s.wake, func(ctx context.Context) {
		if next := s.nextDue.Load(); next <= s.now().UnixNano() || s.clock.Now().Sub(lastScan) > rescanEvery {
			lastScan = s.clock.Now()
			if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("events: delivery pass failed", "err", err)
			}
		}
	})
}

// DeliverDue attempts every queued delivery that is due by the injected
// clock, waits for the attempts to finish, and returns how many it made.
// Failed attempts are rescheduled with backoff (in clock time), so a test
// moves the clock and calls DeliverDue again to drive retries.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	attempted := 0
	for {
		now := s.now()
		recs, err := s.store.List(ctx, kindDelivery, store.ListOptions{Limit: deliveryBatch})
		if err != nil {
			return attempted, err
		}
		var due []*store.Record
		next := int64(math.MaxInt64)
		for _, rec := range recs {
			t, ok := dueOf(rec.ID)
			if ok && t.After(now) {
				next = t.UnixNano()
				break
			}
			due = append(due, rec)
		}
		if len(due) == 0 {
			s.nextDue.Store(next)
			return attempted, nil
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, deliveryWorkers)
		for _, rec := range due {
			d, claimed, err := s.claim(ctx, rec, now)
			if err != nil {
				wg.Wait()
				return attempted, err
			}
			if d == nil {
				continue
			}
			attempted++
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.attempt(ctx, d, claimed)
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return attempted, err
		}
	}
}

// claim moves a due record to now+lease so that a crash mid-attempt leaves
// it to be retried after the lease (at least once), never lost. It returns
// nil if the record is gone (another server took it) or undecodable.
func (s *Service) claim(ctx context.Context, rec *store.Record, now time.Time) (*delivery, *store.Record, error) {
	var d delivery
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		s.log.Error("events: dropping an undecodable delivery", "id", rec.ID, "err", err)
		err := s.store.Tx(ctx, func(tx store.Tx) error { return tx.Delete(ctx, kindDelivery, rec.ID) })
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return nil, nil, err
	}
	leased, err := deliveryRecord(now.Add(s.lease), &d)
	if err != nil {
		return nil, nil, err
	}
	err = s.store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Delete(ctx, kindDelivery, rec.ID); err != nil {
			return err
		}
		return tx.Put(ctx, leased)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &d, leased, nil
}

// attempt makes one delivery attempt and settles the claimed record:
// deleted on success or permanent failure, rescheduled otherwise.
func (s *Service) attempt(ctx context.Context, d *delivery, claimed *store.Record) {
	now := s.now()
	maxRetries, maxAge := defaultMaxRetries, defaultMaxAgeSecs
	if d.Target.MaxRetryAttempts != nil {
		maxRetries = *d.Target.MaxRetryAttempts
	}
	if d.Target.MaxEventAgeSeconds != nil {
		maxAge = *d.Target.MaxEventAgeSeconds
	}
	var retry bool
	var err error
	if now.Sub(d.Enqueued) > time.Duration(maxAge)*time.Second {
		err = fmt.Errorf("event older than MaximumEventAgeInSeconds (%d)", maxAge)
	} else {
		d.Attempts++
		retry, err = s.send(ctx, d)
		if ctx.Err() != nil {
			// Shutting down: the attempt does not count, and the lease
			// brings the delivery back after a restart.
			return
		}
		err = redactURLError(err)
	}
	// Settle even if ctx ends now, so an acknowledged delivery is not sent
	// again: the bookkeeping is short and bounded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var next *store.Record
	outcome := OutcomeDelivered
	switch {
	case err == nil:
	case retry && d.Attempts <= maxRetries:
		outcome = OutcomeRetrying
		d.LastError = err.Error()
		var rerr error
		next, rerr = deliveryRecord(now.Add(s.backoff(d.Attempts)), d)
		if rerr != nil {
			s.log.Error("events: reschedule", "err", rerr)
			return
		}
	default:
		// No dead-letter queue: a dropped event is logged.
		outcome = OutcomeDropped
		s.log.Warn("events: delivery dropped", "event", d.EventID, "rule", d.Rule, "target", d.Target.ID, "attempts", d.Attempts, "err", err)
	}
	// The target's last outcome is written with the settlement, so
	// ListRuleDeliveries shows deliveries that left the queue too.
	status, serr := targetStatusRecord(now, d, outcome, err)
	if serr != nil {
		s.log.Error("events: delivery status", "err", serr)
		return
	}
	terr := s.store.Tx(sctx, func(tx store.Tx) error {
		if err := tx.Delete(sctx, kindDelivery, claimed.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if next != nil {
			if err := tx.Put(sctx, next); err != nil {
				return err
			}
		}
		return tx.Put(sctx, status)
	})
	if terr != nil {
		s.log.Error("events: settle delivery", "event", d.EventID, "err", terr)
	}
}

// backoff returns the delay before retry n (1-based): exponential from
// backoffBase, capped at backoffCap, with jitter in [50%, 100%] so that a
// recovering endpoint is not hit by every queued event at once.
func (s *Service) backoff(n int) time.Duration {
	d := s.backoffCap
	if n < 30 {
		if e := s.backoffBase << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	var b [2]byte
	if _, err := io.ReadFull(s.rand, b[:]); err == nil {
		d = d/2 + time.Duration(float64(d/2)*float64(binary.BigEndian.Uint16(b[:]))/65535)
	}
	return d
}

// send makes the HTTP request. retry reports whether a failure is worth
// retrying: network errors, 401, 407, 409, 429 and 5xx, as API
// destinations do; other answers are final.
func (s *Service) send(ctx context.Context, d *delivery) (retry bool, err error) {
	req, err := s.buildRequest(ctx, d)
	if err != nil {
		return false, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c == 401 || c == 407 || c == 409 || c == 429 || c >= 500:
		return true, fmt.Errorf("endpoint answered %s", resp.Status)
	default:
		return false, fmt.Errorf("endpoint answered %s", resp.Status)
	}
}

// buildRequest resolves the target to a request: a plain URL target is a
// POST; an API destination brings its method and its connection's
// credentials and parameters, read (and unsealed) at delivery time so
// that changes apply to queued events.
func (s *Service) buildRequest(ctx context.Context, d *delivery) (*http.Request, error) {
	t := d.Target
	endpoint, method := t.Arn, http.MethodPost
	var conn *Connection
	var sec *connSecret
	if !isURLTarget(t.Arn) {
		name, ok := s.destinationNameFromARN(t.Arn)
		if !ok {
			return nil, fmt.Errorf("unsupported target %s", t.Arn)
		}
		dest, err := s.DescribeAPIDestination(ctx, name)
		if err != nil {
			return nil, err
		}
		if dest.ARN != t.Arn {
			return nil, fmt.Errorf("api destination %s was replaced", t.Arn)
		}
		endpoint, method = dest.Endpoint, dest.Method
		connName, ok := s.connectionNameFromARN(dest.ConnectionARN)
		if !ok {
			return nil, fmt.Errorf("bad connection %s", dest.ConnectionARN)
		}
		if conn, sec, err = s.getConnection(ctx, connName); err != nil {
			return nil, err
		}
	}
	body, err := targetBody(d)
	if err != nil {
		return nil, err
	}
	if t.HTTP != nil {
		for _, v := range t.HTTP.PathParameterValues {
			endpoint = strings.Replace(endpoint, "*", url.PathEscape(v), 1)
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	hdr := http.Header{}
	if t.HTTP != nil {
		for k, v := range t.HTTP.Query {
			q.Set(k, v)
		}
		for k, v := range t.HTTP.Headers {
			hdr.Set(k, v)
		}
	}
	// Connection parameters and credentials are applied last: they win
	// over the target's, as in AWS.
	if sec != nil {
		for _, p := range sec.Params {
			if p.In == "query" {
				q.Set(p.Key, p.Value)
			} else {
				hdr.Set(p.Key, p.Value)
			}
		}
		switch conn.AuthorizationType {
		case AuthBasic:
			hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(conn.Username+":"+sec.Password)))
		case AuthAPIKey:
			hdr.Set(conn.APIKeyName, sec.APIKeyValue)
		}
	}
	u.RawQuery = q.Encode()
	var rd io.Reader
	if method != http.MethodGet && method != http.MethodHead {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// targetBody is the event, the target's constant Input, or the part of the
// event its InputPath selects.
func targetBody(d *delivery) ([]byte, error) {
	if d.Target.Input != "" {
		return []byte(d.Target.Input), nil
	}
	if d.Target.InputPath == "" {
		return d.Event, nil
	}
	parts, err := parseInputPath(d.Target.InputPath)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(d.Event, &v); err != nil {
		return nil, err
	}
	for _, p := range parts {
		obj, _ := v.(map[string]any)
		v = obj[p]
	}
	return json.Marshal(v)
}
